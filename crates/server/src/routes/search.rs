//! Search (people, live rooms, upcoming events; only what the caller may see) and suggestions of people
//! to follow.

use crate::AppState;
use crate::auth::Session;
use crate::error::ApiError;
use crate::routes::events::event_info;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use stoa_proto::{ErrorBody, SearchResults, Suggestion, Suggestions, UserId};
use stoa_room::may_see;
use utoipa::IntoParams;

/// Results of each kind.
const RESULTS: u32 = 20;

/// The search routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/search", get(search)).route("/api/v1/suggestions", get(suggestions))
}

/// `?q=`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Words to look for, 1 to 100 characters; each matches as a prefix (`ada lov` finds Ada Lovelace).
    pub q: String,
}

/// The words of a query, each as an FTS5 prefix query on its own (quoted, so that no character of the
/// user's has a meaning to FTS5), all of which must match. Empty if the query has no word.
pub fn fts_query(q: &str) -> String {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| format!("\"{}\"*", w.to_lowercase()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[utoipa::path(get, path = "/api/v1/search", tag = "search", security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 200, body = SearchResults), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
/// People by username or display name, live rooms by title, upcoming events by title and description,
/// clubs by handle, name and description:
/// only what the caller may see, best matches first.
pub async fn search(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<SearchQuery>,
) -> Result<Json<SearchResults>, ApiError> {
    let me = session.account.id;
    let limit = stoa_proto::limits::SEARCH_QUERY;
    let len = q.q.trim().chars().count();
    if len < limit.min || len > limit.max {
        return Err(ApiError::bad_request("invalid_query", format!("Search for 1 to {} characters.", limit.max)));
    }
    let fts = fts_query(&q.q);
    if fts.is_empty() {
        return Ok(Json(SearchResults {
            people: Vec::new(),
            rooms: Vec::new(),
            events: Vec::new(),
            clubs: Vec::new(),
            replays: Vec::new(),
        }));
    }
    let people = state.store.search_people(me, &fts, RESULTS).await?;
    let events = state.store.search_events(me, &fts, crate::clock::now_secs(), RESULTS).await?;
    let clubs = state.store.search_clubs(&fts, RESULTS).await?.iter().map(crate::routes::clubs::summary).collect();
    // Live rooms are in memory: their titles are matched word by word, each word of the query a prefix of
    // a word of the title.
    let words: Vec<String> =
        q.q.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    let snapshots = state.rooms.snapshots();
    let matching: Vec<_> = snapshots
        .into_iter()
        .filter(|s| {
            let title: Vec<String> =
                s.info.title.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase).collect();
            words.iter().all(|w| title.iter().any(|t| t.starts_with(w.as_str())))
        })
        .collect();
    let moderators: Vec<UserId> = matching.iter().flat_map(|s| s.access.moderators.iter().copied()).collect();
    let hosts = matching.iter().filter_map(|s| s.access.club);
    let (relations, _) = crate::visibility::relations(&state, me, &moderators, hosts).await?;
    let mut rooms: Vec<_> =
        matching.into_iter().filter(|s| may_see(&s.access, me, &relations)).map(|s| s.info.clone()).collect();
    rooms.sort_by(|a, b| b.listener_count.cmp(&a.listener_count).then(a.id.cmp(&b.id)));
    rooms.truncate(RESULTS as usize);
    let replays = crate::routes::transcripts::search(&state, &session, q.q.trim(), RESULTS).await?;
    let events = events.iter().map(|e| event_info(&state, e, me)).collect();
    Ok(Json(SearchResults { people, rooms, events, clubs, replays }))
}

#[utoipa::path(get, path = "/api/v1/suggestions", tag = "search", security(("bearer" = [])),
    responses((status = 200, body = Suggestions), (status = 401, body = ErrorBody)))]
/// People to follow: followed by the people the caller follows, and whoever invited the caller; never
/// someone the caller follows, blocks or is blocked by; most-followed first. And clubs that people the
/// caller follows belong to.
pub async fn suggestions(State(state): State<AppState>, session: Session) -> Result<Json<Suggestions>, ApiError> {
    let rows = state.store.suggestions(session.account.id, RESULTS).await?;
    let clubs = state.store.suggested_clubs(session.account.id, RESULTS).await?;
    Ok(Json(Suggestions {
        clubs: clubs
            .iter()
            .map(|(c, n)| stoa_proto::ClubSuggestion { club: crate::routes::clubs::summary(c), members_you_follow: *n })
            .collect(),
        people: rows
            .into_iter()
            .map(|r| Suggestion {
                user: r.user,
                followers: r.followers,
                followed_by_your_follows: r.via,
                invited_you: r.invited_viewer,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn queries_become_quoted_prefixes_with_no_fts_syntax() {
        assert_eq!(fts_query("Ada Lov"), "\"ada\"* \"lov\"*");
        assert_eq!(fts_query("\"x\" OR y* NEAR(z)"), "\"x\"* \"or\"* \"y\"* \"near\"* \"z\"*");
        assert_eq!(fts_query("  -- "), "");
    }
}
