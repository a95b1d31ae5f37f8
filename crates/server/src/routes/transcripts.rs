//! A replay's transcript (issue 33 §1): the caption lines said while it recorded, for its page to play
//! along with, and the words that find it in search. Both follow the replay's own rule: whoever may hear
//! the replay may read and find it, and to anyone else it does not exist.

use crate::AppState;
use crate::auth::Session;
use crate::error::ApiError;
use crate::recordings::may_hear;
use crate::routes::egress::{audible, to_api};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use stoa_proto::{ErrorBody, Transcript, TranscriptMatch};

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/recordings/{id}/transcript", get(transcript))
}

fn to_line(l: &stoa_store::TranscriptLine) -> stoa_proto::TranscriptLine {
    stoa_proto::TranscriptLine { at_ms: l.at_ms, end_ms: l.end_ms, speaker: l.speaker.clone(), text: l.text.clone() }
}

#[utoipa::path(get, path = "/api/v1/recordings/{id}/transcript", tag = "recordings", params(("id" = String, Path)),
    responses((status = 200, body = Transcript), (status = 404, body = ErrorBody)))]
/// A replay's transcript, earliest line first; the same 404 as the replay itself for one the caller may
/// not hear.
pub async fn transcript(
    State(state): State<AppState>,
    session: Result<Session, ApiError>,
    Path(id): Path<String>,
) -> Result<Json<Transcript>, ApiError> {
    let r = audible(&state, &session, &id).await?;
    let lines = state.store.transcript(&r.id).await?;
    Ok(Json(Transcript { lines: lines.iter().map(to_line).collect() }))
}

/// Replays whose transcript has `words`, that `session`'s person may hear: the search's part. Candidates
/// are read a few times over what is shown, since some may be hidden from the caller.
pub async fn search(
    state: &AppState,
    session: &Session,
    words: &str,
    limit: u32,
) -> Result<Vec<TranscriptMatch>, ApiError> {
    let mut found = Vec::new();
    for (r, line) in state.store.search_transcripts(words, limit * 4).await? {
        if found.len() == limit as usize {
            break;
        }
        if may_hear(state.store.as_ref(), Some(&session.account), &r).await? {
            found.push(TranscriptMatch { recording: to_api(&r, Some(&session.account)), line: to_line(&line) });
        }
    }
    Ok(found)
}
