//! The RTMP restream: a room's moderators send its mix to a server of their choosing (a target checked
//! against private addresses after DNS), through the room task, which logs it and tells everyone.

use crate::AppState;
use crate::auth::Session;
use crate::error::{ApiError, ApiJson};
use crate::live::{RestreamRefused, RoomHandle, RoomInput};
use crate::routes::rooms::visible_room;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use std::time::Duration;
use stoa_egress::{RoomEgress, RtmpState, RtmpTarget};
use stoa_proto::{ErrorBody, RestreamRequest, RestreamStatus, Role};
use tokio::sync::oneshot;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/rooms/{id}/restream", get(restream_status).post(start_restream).delete(stop_restream))
}

fn not_a_moderator() -> ApiError {
    ApiError::forbidden("forbidden", "Only the room's moderators can restream it.")
}

/// The room and its egress, if the caller is one of its moderators (as its snapshot shows; the room task
/// checks again when it acts).
async fn as_moderator(state: &AppState, session: &Session, id: &str) -> Result<(RoomHandle, RoomEgress), ApiError> {
    let (handle, snapshot) = visible_room(state, session, id).await?;
    crate::routes::egress::refuse_e2ee(&snapshot.info)?;
    let me = session.account.id;
    if !snapshot.info.stage.iter().any(|m| m.user.id == me && m.role == Role::Moderator) {
        return Err(not_a_moderator());
    }
    let egress = handle.egress.clone().ok_or_else(ApiError::no_such_room)?;
    Ok((handle, egress))
}

/// Starts (with a checked target) or stops the restream through the room task, which tells the egress,
/// logs it and tells the room.
async fn restream_through_room(
    handle: &RoomHandle,
    actor: stoa_proto::UserId,
    target: Option<RtmpTarget>,
) -> Result<(), ApiError> {
    let (reply, answer) = oneshot::channel();
    let gone = ApiError::no_such_room;
    handle.tx.send(RoomInput::Restream { actor, target, reply }).await.map_err(|_| gone())?;
    match answer.await.map_err(|_| gone())? {
        Ok(()) => Ok(()),
        Err(RestreamRefused::NotModerator) => Err(not_a_moderator()),
        Err(RestreamRefused::Unavailable(why)) => {
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "egress_unavailable", why))
        }
    }
}

fn restream_status_of(egress: &RoomEgress) -> RestreamStatus {
    let status = egress.status().borrow().clone();
    let url = status.rtmp_url.clone();
    let (state, error) = match status.rtmp {
        RtmpState::Off => ("off", None),
        RtmpState::Connecting => ("connecting", None),
        RtmpState::Live => ("live", None),
        RtmpState::Retrying { error } => ("retrying", Some(error)),
        RtmpState::Failed { error } => ("failed", Some(error)),
    };
    let on = matches!(state, "connecting" | "live" | "retrying");
    RestreamStatus { state: state.to_string(), error, url: url.filter(|_| on) }
}

#[utoipa::path(get, path = "/api/v1/rooms/{id}/restream", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = RestreamStatus), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Where the room's restream stands (moderators).
pub async fn restream_status(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<RestreamStatus>, ApiError> {
    let (_, egress) = as_moderator(&state, &session, &id).await?;
    Ok(Json(restream_status_of(&egress)))
}

/// Checks a restream target: an `rtmp://` or `rtmps://` URL with a host, and a key of URL-safe
/// characters. Returns the URL to hand ffmpeg.
fn restream_target(body: &RestreamRequest) -> Result<String, ApiError> {
    let url = body.url.trim().trim_end_matches('/');
    let bad = |m: &str| ApiError::bad_request("invalid_restream", m.to_string());
    let rest = url
        .strip_prefix("rtmp://")
        .or_else(|| url.strip_prefix("rtmps://"))
        .ok_or_else(|| bad("A restream URL starts with rtmp:// or rtmps://."))?;
    let host = rest.split('/').next().unwrap_or("");
    if url.len() > 500
        || host.is_empty()
        || url.chars().any(|c| c.is_whitespace() || c.is_control() || "\"'\\<>|`".contains(c))
    {
        return Err(bad("That is not an RTMP URL: rtmp://host[:port]/app."));
    }
    let key = body.stream_key.trim();
    if key.is_empty() || key.len() > 300 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.?=&".contains(&b)) {
        return Err(bad("A stream key has 1 to 300 letters, digits and - _ . ? = &."));
    }
    Ok(format!("{url}/{key}"))
}

/// Checks a restream target's host after DNS (see [`crate::outbound`]) before ffmpeg starts. An `rtmp://`
/// target is then connected to at the address checked, the name kept as the stream's `tcUrl`; an
/// `rtmps://` one keeps its name, which its TLS needs, and is resolved again by ffmpeg a moment later. A
/// refused host gets the same answer as a server that is down: nothing is said of the server's network.
async fn checked_restream(target: &str, allowed_hosts: &[String]) -> Result<RtmpTarget, ApiError> {
    let could_not_connect =
        || ApiError::bad_request("could_not_connect", "Stoa could not connect to that RTMP server.");
    let (scheme, rest) = target.split_once("://").ok_or_else(could_not_connect)?;
    let (host_port, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr = crate::outbound::restream_addr(host_port, allowed_hosts).await.map_err(|_| could_not_connect())?;
    if scheme != "rtmp" {
        return Ok(RtmpTarget { url: target.to_string(), tc_url: None });
    }
    let app = path.rsplit_once('/').map_or("", |(app, _key)| app);
    Ok(RtmpTarget { url: format!("rtmp://{addr}/{path}"), tc_url: Some(format!("rtmp://{host_port}/{app}")) })
}

#[utoipa::path(post, path = "/api/v1/rooms/{id}/restream", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RestreamRequest,
    responses((status = 202, body = RestreamStatus), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// Sends the room's mix to an RTMP server (moderators): YouTube, Twitch, or any RTMP ingest. Replaces a
/// restream already running. The state moves from `connecting` to `live`, or to `failed` with the
/// server's error; a stream the server drops after it was live is retried five times with backoff.
pub async fn start_restream(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RestreamRequest>,
) -> Result<(StatusCode, Json<RestreamStatus>), ApiError> {
    let target = restream_target(&body)?;
    let (handle, egress) = as_moderator(&state, &session, &id).await?;
    let target = checked_restream(&target, &state.config.restream_hosts).await?;
    let mut status = egress.status();
    status.mark_unchanged();
    restream_through_room(&handle, session.account.id, Some(target)).await?;
    let shown = body.url.trim().trim_end_matches('/').to_string();
    tracing::info!(room = %id, by = %session.account.username, url = %shown, "restream started");
    // The egress thread takes the request within a tick: the answer shows it connecting.
    let _ = tokio::time::timeout(Duration::from_millis(500), status.changed()).await;
    Ok((StatusCode::ACCEPTED, Json(restream_status_of(&egress))))
}

#[utoipa::path(delete, path = "/api/v1/rooms/{id}/restream", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Stops the room's restream (moderators).
pub async fn stop_restream(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (handle, egress) = as_moderator(&state, &session, &id).await?;
    let mut status = egress.status();
    status.mark_unchanged();
    restream_through_room(&handle, session.account.id, None).await?;
    // Answered once the egress thread has let go of it, so a status read next sees it off.
    let _ = tokio::time::timeout(Duration::from_millis(500), status.changed()).await;
    tracing::info!(room = %id, by = %session.account.username, "restream stopped");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restream_targets() {
        let t = |url: &str, key: &str| restream_target(&RestreamRequest { url: url.into(), stream_key: key.into() });
        assert_eq!(t("rtmp://127.0.0.1:1935/live/", "abc-123").unwrap(), "rtmp://127.0.0.1:1935/live/abc-123");
        assert!(t("rtmps://live.example.org/app", "k").is_ok());
        for (url, key) in [
            ("http://x/live", "k"),
            ("rtmp:///live", "k"),
            ("rtmp://x/live", ""),
            ("rtmp://x/live", "a b"),
            ("rtmp://x/li ve", "k"),
            ("rtmp://x/live", "k;rm -rf"),
            ("file:///etc/passwd", "k"),
        ] {
            assert!(t(url, key).is_err(), "{url} {key}");
        }
    }
}
