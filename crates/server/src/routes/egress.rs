//! The audience beyond the room: the public listen link (HLS), clips and replays. (The RTMP restream is
//! `restream.rs`.)

use crate::AppState;
use crate::auth::Session;
use crate::error::ApiError;
use crate::live::{self, RoomHandle, RoomReply, RoomRequest, Snapshot};
use crate::recordings::{file_of, may_hear, new_id};
use crate::routes::rooms::visible_room;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stoa_egress::RoomEgress;
use stoa_egress::hls::{Blocked, SegmentLookup};
use stoa_proto::{ErrorBody, ListenInfo, Recording, RecordingKind, RecordingList, Role, RoomId, UserId, Visibility};
use stoa_store::RecordingRecord;

/// How long a playlist request waits for a stream that is starting to have its first segment.
const FIRST_SEGMENT_WAIT: Duration = Duration::from_secs(8);
/// How long a blocking playlist reload waits (RFC 8216bis suggests three target durations).
const BLOCKING_WAIT: Duration = Duration::from_secs(6);
/// How long a request for the hinted part waits for it (a part is half a second).
const PART_WAIT: Duration = Duration::from_secs(3);
/// Clips one person may make: one every ten seconds.
const CLIP_INTERVAL: Duration = Duration::from_secs(10);
/// The length of a clip.
const CLIP_SECONDS: u32 = 30;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rooms/{id}/listen", get(listen_info))
        .route("/listen/{id}/index.m3u8", get(playlist))
        .route("/listen/{id}/main.m3u8", get(captioned))
        .route("/listen/{id}/subs.m3u8", get(subtitles))
        .route("/listen/{id}/{segment}", get(segment))
        .route("/api/v1/rooms/{id}/clips", post(make_clip))
        .route("/api/v1/rooms/{id}/recordings", get(room_recordings))
        .route("/api/v1/users/{username}/recordings", get(user_recordings))
        .route("/api/v1/recordings/{id}", get(recording).delete(delete_recording))
        .route("/api/v1/recordings/{id}/audio", get(recording_audio))
        .route("/api/v1/admin/reports/{id}/audio", get(report_audio))
}

/// A live room whose listen link is on: open, and its host allows it. Anything else is the same 404 as
/// an address with nothing at it.
fn listenable(state: &AppState, id: &str) -> Result<(RoomHandle, Arc<Snapshot>, RoomEgress), ApiError> {
    if !RoomId::is_well_formed(id) {
        return Err(ApiError::no_such_room());
    }
    let handle = state.rooms.get(&RoomId(id.to_string())).ok_or_else(ApiError::no_such_room)?;
    let snapshot = handle.snapshot.borrow().clone();
    if snapshot.access.visibility != Visibility::Open || !snapshot.info.outputs.listen_link {
        return Err(ApiError::no_such_room());
    }
    let egress = handle.egress.clone().ok_or_else(ApiError::no_such_room)?;
    Ok((handle, snapshot, egress))
}

/// For a room another node of the cluster runs (and whose listen link is on): that node's name. Its egress
/// makes the stream, so the request goes there.
use crate::cluster::forward::FORWARDED;

/// A listen-link request for a room that another node runs, answered by that node (`None`: the room runs
/// here, or the request was already forwarded once).
async fn forward_listen(
    state: &AppState,
    id: &str,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Option<Result<Response, ApiError>> {
    let (cluster, owner) = remote_listen(state, id).filter(|_| !headers.contains_key(FORWARDED))?;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    Some(cluster.forward(&owner, &axum::http::Method::GET, path, headers).await.ok_or_else(ApiError::node_unreachable))
}

fn remote_listen(state: &AppState, id: &str) -> Option<(crate::cluster::Cluster, String)> {
    let handle = RoomId::is_well_formed(id).then(|| state.rooms.get(&RoomId(id.to_string()))).flatten()?;
    let snapshot = handle.snapshot.borrow().clone();
    if !handle.remote || snapshot.access.visibility != Visibility::Open || !snapshot.info.outputs.listen_link {
        return None;
    }
    let cluster = state.cluster.clone()?;
    let owner = cluster.owner_of(&RoomId(id.to_string()))?;
    Some((cluster, owner))
}

fn unavailable(e: stoa_egress::EgressError) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "egress_unavailable", e.to_string())
}

#[utoipa::path(get, path = "/api/v1/rooms/{id}/listen", tag = "listen", params(("id" = String, Path)),
    responses((status = 200, body = ListenInfo), (status = 404, body = ErrorBody)))]
/// What the public listen page shows: an open room whose host turned the listen link on. No account
/// needed; any other room is a 404.
pub async fn listen_info(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<ListenInfo>, ApiError> {
    // Any node answers from the room's snapshot; the stream itself is the owner's.
    let snapshot = match remote_listen(&state, &id) {
        Some(_) => state.rooms.get(&RoomId(id.clone())).ok_or_else(ApiError::no_such_room)?.snapshot.borrow().clone(),
        None => listenable(&state, &id)?.1,
    };
    let info = &snapshot.info;
    Ok(Json(ListenInfo {
        id: info.id.clone(),
        title: info.title.clone(),
        stage: info.stage.clone(),
        listener_count: info.listener_count,
        public_listeners: info.public_listeners,
        playlist_url: format!("/listen/{id}/index.m3u8"),
        captions_url: captioned_here(&state, &snapshot).then(|| format!("/listen/{id}/main.m3u8")),
        captions_low_accuracy: state.captions.as_ref().is_some_and(|c| c.low_accuracy),
    }))
}

/// Whether the room's listen link carries captions: the server has an engine and the moderators allow them.
fn captioned_here(state: &AppState, snapshot: &Snapshot) -> bool {
    state.captions.is_some() && snapshot.info.outputs.captions
}

#[utoipa::path(get, path = "/listen/{id}/main.m3u8", tag = "listen", params(("id" = String, Path)),
    responses((status = 200, description = "The multivariant playlist (`application/vnd.apple.mpegurl`): the audio, `index.m3u8`, with its live captions as WebVTT subtitles, `subs.m3u8`"),
        (status = 404, body = ErrorBody)))]
/// The listen link with live captions, for players that show subtitles. A 404 where the room has no
/// captions (no caption engine, or its moderators turned them off) or no listen link.
pub async fn captioned(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let snapshot = match remote_listen(&state, &id) {
        Some(_) => state.rooms.get(&RoomId(id.clone())).ok_or_else(ApiError::no_such_room)?.snapshot.borrow().clone(),
        None => listenable(&state, &id)?.1,
    };
    if !captioned_here(&state, &snapshot) {
        return Err(ApiError::not_found("This room's listen link has no captions."));
    }
    Ok((public_headers("application/vnd.apple.mpegurl", "public, max-age=60"), stoa_egress::vtt::multivariant())
        .into_response())
}

#[utoipa::path(get, path = "/listen/{id}/subs.m3u8", tag = "listen", params(("id" = String, Path)),
    responses((status = 200, description = "The subtitle playlist (`application/vnd.apple.mpegurl`): a WebVTT segment for each audio segment listed"),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// The listen link's live captions: a WebVTT segment (`STREAM-SEQ.vtt`) beside each audio segment, its
/// lines timed on the audio's clock. Cached for a second, as the audio's playlist.
pub async fn subtitles(
    State(state): State<AppState>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(forwarded) = forward_listen(&state, &id, &uri, &headers).await {
        return forwarded;
    }
    let (_, snapshot, egress) = listenable(&state, &id)?;
    if !captioned_here(&state, &snapshot) {
        return Err(ApiError::not_found("This room's listen link has no captions."));
    }
    let list = egress.hls().subtitles().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "starting", "The stream is starting; try again in a moment.")
            .with_retry_after(2)
    })?;
    Ok((public_headers("application/vnd.apple.mpegurl", "public, max-age=1"), list).into_response())
}

fn public_headers(content_type: &'static str, cache: &'static str) -> [(header::HeaderName, HeaderValue); 3] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        // Public audio: any player, on any site, may fetch it.
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
    ]
}

#[utoipa::path(get, path = "/listen/{id}/index.m3u8", tag = "listen",
    params(("id" = String, Path),
        ("_HLS_msn" = Option<u64>, Query, description = "Low-latency HLS: answer once this segment is listed"),
        ("_HLS_part" = Option<u32>, Query, description = "With `_HLS_msn`: once this part of it is listed")),
    responses((status = 200, description = "The HLS playlist (`application/vnd.apple.mpegurl`): 2 s AAC-LC segments, each also in four parts"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// The room's HLS playlist. The first request starts the stream (an `ffmpeg` encoding AAC-LC), and the
/// stream runs while players keep asking. Cached for a second: a CDN in front takes the polling. A
/// low-latency player's blocking reload (`_HLS_msn`, `_HLS_part`) waits until what it asks for is listed.
pub async fn playlist(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(forwarded) = forward_listen(&state, &id, &uri, &headers).await {
        return forwarded;
    }
    let (_, _, egress) = listenable(&state, &id)?;
    let blocking = blocking_request(query.as_deref())?;
    egress.want_hls().map_err(unavailable)?;
    let hls = egress.hls().clone();
    let starting = || {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "starting", "The stream is starting; try again in a moment.")
            .with_retry_after(2)
    };
    let (playlist, cache) = match blocking {
        Some((msn, part)) => match hls.playlist_at(msn, part, BLOCKING_WAIT).await {
            Ok(p) => (p, "public, max-age=6"),
            Err(Blocked::TooFarAhead) => {
                return Err(ApiError::bad_request(
                    "too_far_ahead",
                    "_HLS_msn is more than two segments ahead of the stream.",
                ));
            }
            Err(Blocked::NotYet) => return Err(starting()),
        },
        None => match hls.playlist() {
            Some(p) => (p, "public, max-age=1"),
            None => (hls.first_segment(FIRST_SEGMENT_WAIT).await.ok_or_else(starting)?, "public, max-age=1"),
        },
    };
    Ok((public_headers("application/vnd.apple.mpegurl", cache), axum::body::Bytes::from_owner(Shared(playlist)))
        .into_response())
}

/// A blocking reload's `_HLS_msn` and `_HLS_part`, if the query has them (other parameters, such as a
/// player's cache-busting ones, are ignored). `_HLS_part` without `_HLS_msn`, or a number that is not one,
/// is a 400.
fn blocking_request(query: Option<&str>) -> Result<Option<(u64, Option<u32>)>, ApiError> {
    let (mut msn, mut part) = (None, None);
    for pair in query.unwrap_or("").split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = |name: &str| ApiError::bad_request("invalid_query", format!("{name} must be a whole number."));
        match key {
            "_HLS_msn" => msn = Some(value.parse::<u64>().map_err(|_| bad("_HLS_msn"))?),
            "_HLS_part" => part = Some(value.parse::<u32>().map_err(|_| bad("_HLS_part"))?),
            _ => {}
        }
    }
    match (msn, part) {
        (None, Some(_)) => Err(ApiError::bad_request("invalid_query", "_HLS_part needs _HLS_msn.")),
        (Some(msn), part) => Ok(Some((msn, part))),
        (None, None) => Ok(None),
    }
}

#[utoipa::path(get, path = "/listen/{id}/{segment}", tag = "listen",
    params(("id" = String, Path), ("segment" = String, Path, description = "A name from the playlist")),
    responses((status = 200, description = "A segment (`audio/aac`): an ID3 timestamp, then ADTS frames"),
        (status = 404, body = ErrorBody)))]
/// One segment (`STREAM-SEQ.aac`) or part (`STREAM-SEQ.PART.aac`) of the room's HLS stream. Its name
/// never names other bytes, so it is cached for a year. The part the playlist hints at is answered as soon
/// as it is made.
pub async fn segment(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(forwarded) = forward_listen(&state, &id, &uri, &headers).await {
        return forwarded;
    }
    let (_, _, egress) = listenable(&state, &id)?;
    if name.ends_with(".vtt") {
        let vtt = egress.hls().vtt(&name).ok_or_else(|| ApiError::not_found("There is no such segment."))?;
        return Ok((public_headers("text/vtt; charset=utf-8", "public, max-age=60"), vtt).into_response());
    }
    match egress.hls().segment_or_wait(&name, PART_WAIT).await {
        SegmentLookup::Found(bytes, age) => {
            let mut response = (
                public_headers("audio/aac", "public, max-age=31536000, immutable"),
                axum::body::Bytes::from_owner(Shared(bytes)),
            )
                .into_response();
            // How old its newest audio is, for measuring the stream's delay (`stoa bench --hls-listeners`).
            if let Some(age) = age.and_then(|a| HeaderValue::from_str(&a.to_string()).ok()) {
                response.headers_mut().insert("x-stoa-audio-age-ms", age);
            }
            Ok(response)
        }
        SegmentLookup::NotFound => Err(ApiError::not_found(
            "There is no such segment: it is older than the playlist keeps, or not made yet. Reload the playlist.",
        )),
    }
}

/// A segment's or the playlist's shared bytes, handed to the response body without a copy.
struct Shared<T: ?Sized>(Arc<T>);

impl AsRef<[u8]> for Shared<[u8]> {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Shared<str> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

pub(crate) fn to_api(r: &RecordingRecord, viewer: Option<&stoa_store::Account>) -> Recording {
    let can_delete = viewer
        .is_some_and(|v| v.is_admin || v.id == r.host.id || (r.kind == RecordingKind::Clip && v.id == r.made_by.id));
    Recording {
        id: r.id.clone(),
        kind: r.kind,
        room_id: r.room.clone(),
        title: r.title.clone(),
        host: r.host.clone(),
        made_by: r.made_by.clone(),
        started_at_ms: r.started_at_ms,
        duration_ms: r.duration_ms,
        audio_url: format!("/api/v1/recordings/{}/audio", r.id),
        can_delete,
    }
}

#[utoipa::path(post, path = "/api/v1/rooms/{id}/clips", tag = "recordings", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 201, body = Recording), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Makes a clip of the room's last 30 seconds, when its moderators allow clips. The caller must be in the
/// room. One clip every ten seconds each.
pub async fn make_clip(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Recording>), ApiError> {
    let (handle, snapshot) = visible_room(&state, &session, &id).await?;
    refuse_e2ee(&snapshot.info)?;
    if !snapshot.info.outputs.clips {
        return Err(ApiError::new(StatusCode::CONFLICT, "clips_off", "The hosts of this room have not allowed clips."));
    }
    let me = session.account.id;
    let Some(RoomReply::Present(present, title)) =
        live::ask(&handle.tx, RoomRequest::Present { users: vec![me] }).await
    else {
        return Err(ApiError::no_such_room());
    };
    if !present.contains(&me) {
        return Err(ApiError::forbidden("not_in_room", "Join the room to clip it."));
    }
    let key = format!("clip:{}", me.0);
    state
        .limiter
        .count(Instant::now(), &key, 1, CLIP_INTERVAL)
        .map_err(|wait| ApiError::rate_limited(wait.as_secs() + 1))?;
    // A clip counts toward the room's host's space, and the server's.
    let host = snapshot.info.stage.first().map_or(me, |m| m.user.id);
    let quota = state.recording_quota();
    if quota.full(state.store.as_ref(), &state.recordings_dir(), host).await.is_some() {
        return Err(ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "recordings_full",
            "The space for recordings is full: no more clips for now.",
        ));
    }
    let egress = handle.egress.clone().ok_or_else(ApiError::no_such_room)?;
    let bytes = egress.window(CLIP_SECONDS, 0, &title).await.map_err(unavailable)?;
    let clip = new_id();
    // Up to 30 s: less in a room younger than that.
    let duration_ms = crate::recordings::ogg_bytes_duration_ms(&bytes).unwrap_or(0);
    tokio::fs::write(file_of(&state.recordings_dir(), &clip), &bytes).await.map_err(ApiError::internal)?;
    let host = snapshot.info.stage.iter().find(|m| m.role == Role::Moderator).map(|m| m.user.clone());
    let mut allowed: Vec<UserId> =
        snapshot.access.moderators.iter().chain(snapshot.access.invited.iter()).copied().collect();
    allowed.sort();
    let record = RecordingRecord {
        id: clip.clone(),
        kind: RecordingKind::Clip,
        room: RoomId(id),
        title,
        visibility: snapshot.access.visibility,
        host: host.unwrap_or_else(|| session.account.summary()),
        made_by: session.account.summary(),
        allowed,
        file: format!("{clip}.opus"),
        started_at_ms: crate::clock::now_ms() - duration_ms,
        duration_ms: Some(duration_ms),
        report: None,
        club: snapshot.access.club,
    };
    state.store.add_recording(&record).await?;
    tracing::info!(clip = %clip, by = %session.account.username, "clip made");
    state.webhooks.emit(crate::recordings::recording_event(&state.public_url, &record));
    Ok((StatusCode::CREATED, Json(to_api(&record, Some(&session.account)))))
}

pub(crate) async fn visible_list(
    state: &AppState,
    session: &Session,
    records: Vec<RecordingRecord>,
) -> Result<Json<RecordingList>, ApiError> {
    let mut recordings = Vec::new();
    for r in &records {
        if may_hear(state.store.as_ref(), Some(&session.account), r).await? {
            recordings.push(to_api(r, Some(&session.account)));
        }
    }
    Ok(Json(RecordingList { recordings }))
}

#[utoipa::path(get, path = "/api/v1/rooms/{id}/recordings", tag = "recordings", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = RecordingList), (status = 401, body = ErrorBody)))]
/// A room's replays and clips that the caller may hear, newest first (also after the room ended).
pub async fn room_recordings(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<RecordingList>, ApiError> {
    if !RoomId::is_well_formed(&id) {
        return Ok(Json(RecordingList { recordings: Vec::new() }));
    }
    let records = state.store.recordings_of_room(&RoomId(id), 100).await?;
    visible_list(&state, &session, records).await
}

#[utoipa::path(get, path = "/api/v1/users/{username}/recordings", tag = "recordings", security(("bearer" = [])),
    params(("username" = String, Path)), responses((status = 200, body = RecordingList), (status = 404, body = ErrorBody)))]
/// The replays of rooms a user hosted that the caller may hear, newest first: their profile's list.
pub async fn user_recordings(
    State(state): State<AppState>,
    session: Session,
    Path(username): Path<String>,
) -> Result<Json<RecordingList>, ApiError> {
    let profile = state
        .store
        .profile(session.account.id, &username.to_ascii_lowercase())
        .await?
        .ok_or_else(|| ApiError::not_found("There is no such user."))?;
    let records = state.store.replays_of_host(profile.id, 100).await?;
    visible_list(&state, &session, records).await
}

/// A recording the caller may hear; the same 404 for one that does not exist and one they may not.
pub(crate) async fn audible(
    state: &AppState,
    session: &Result<Session, ApiError>,
    id: &str,
) -> Result<RecordingRecord, ApiError> {
    let gone = || ApiError::not_found("There is no such recording.");
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(gone());
    }
    let r = state.store.recording(id).await?.ok_or_else(gone)?;
    let viewer = session.as_ref().ok().map(|s| &s.account);
    if !may_hear(state.store.as_ref(), viewer, &r).await? {
        return Err(gone());
    }
    Ok(r)
}

#[utoipa::path(get, path = "/api/v1/recordings/{id}", tag = "recordings", params(("id" = String, Path)),
    responses((status = 200, body = Recording), (status = 404, body = ErrorBody)))]
/// A replay or a clip. An open room's clip is for anyone with its link; everything else needs a session
/// that could see the room.
pub async fn recording(
    State(state): State<AppState>,
    session: Result<Session, ApiError>,
    Path(id): Path<String>,
) -> Result<Json<Recording>, ApiError> {
    let r = audible(&state, &session, &id).await?;
    Ok(Json(to_api(&r, session.as_ref().ok().map(|s| &s.account))))
}

#[utoipa::path(delete, path = "/api/v1/recordings/{id}", tag = "recordings", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Deletes a replay (its host, or an admin) or a clip (also its maker): the file goes at once.
pub async fn delete_recording(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let session = Ok(session);
    let r = audible(&state, &session, &id).await?;
    let Ok(session) = session else { return Err(ApiError::unauthorized()) };
    if !to_api(&r, Some(&session.account)).can_delete {
        return Err(ApiError::forbidden("forbidden", "Only the room's host can delete this."));
    }
    if r.duration_ms.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "still_recording",
            "This replay is still being recorded: turn recording off in the room first.",
        ));
    }
    state.store.delete_recording(&r.id).await?;
    crate::recordings::remove_file(&state, &r.file).await;
    tracing::info!(recording = %r.id, by = %session.account.username, "recording deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/recordings/{id}/audio", tag = "recordings", params(("id" = String, Path)),
    responses((status = 200, description = "Ogg Opus (`audio/ogg`)"), (status = 206, description = "A byte range of it"),
        (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
/// A recording's audio, as Ogg Opus, with range requests so that players can seek.
pub async fn recording_audio(
    State(state): State<AppState>,
    session: Result<Session, ApiError>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let r = audible(&state, &session, &id).await?;
    serve_file(&state, &r.file, &headers, r.kind == RecordingKind::Clip).await
}

#[utoipa::path(get, path = "/api/v1/admin/reports/{id}/audio", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, description = "Ogg Opus"), (status = 404, body = ErrorBody)))]
/// The room's audio from five minutes before a report to five after (admins only; attached once the five
/// minutes after have passed).
pub async fn report_audio(
    State(state): State<AppState>,
    _admin: crate::routes::admin::Admin,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let r = state
        .store
        .report_recording(id)
        .await?
        .ok_or_else(|| ApiError::not_found("This report has no audio (yet, or the room's mix was not running)."))?;
    serve_file(&state, &r.file, &headers, false).await
}

/// The headers every answer for a recording's audio has.
fn audio_headers(public: bool) -> [(header::HeaderName, HeaderValue); 3] {
    let cache = if public { "public, max-age=60" } else { "private, max-age=60" };
    [
        (header::CONTENT_TYPE, HeaderValue::from_static("audio/ogg")),
        (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
    ]
}

/// A 416 for a range outside a file of `len` bytes.
fn range_not_satisfiable(len: u64) -> Result<Response, ApiError> {
    let content_range = HeaderValue::from_str(&format!("bytes */{len}")).map_err(ApiError::internal)?;
    let mut response =
        ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "bad_range", "That byte range is not in the file.")
            .into_response();
    response.headers_mut().insert(header::CONTENT_RANGE, content_range);
    Ok(response)
}

/// Serves a recording's audio file whole, or the one byte range asked for: from this node's disk, or in a
/// cluster from the node whose egress wrote it.
async fn serve_file(state: &AppState, name: &str, headers: &HeaderMap, public: bool) -> Result<Response, ApiError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = match tokio::fs::File::open(state.recordings_dir().join(name)).await {
        Ok(file) => file,
        Err(_) => {
            return match &state.cluster {
                Some(cluster) => serve_remote(cluster, name, headers, public).await,
                None => Err(ApiError::not_found("There is no such recording.")),
            };
        }
    };
    let len = file.metadata().await.map_err(ApiError::internal)?.len();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(|v| parse_range(v, len));
    let base = audio_headers(public);
    // Streamed a chunk at a time, never read whole: a replay of hours is tens of megabytes, and a thousand
    // players each asking for it must not hold a thousand copies.
    let streamed = |file: tokio::fs::File, start: u64, count: u64| {
        let chunks = futures_util::stream::unfold((file.take(count), start), |(mut file, at)| async move {
            let mut chunk = vec![0u8; FILE_CHUNK];
            match file.read(&mut chunk).await {
                Ok(0) => None,
                Ok(n) => {
                    chunk.truncate(n);
                    Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk)), (file, at + n as u64)))
                }
                Err(e) => Some((Err(e), (file, at))),
            }
        });
        axum::body::Body::from_stream(chunks)
    };
    match range {
        Some(Ok((start, end))) => {
            file.seek(std::io::SeekFrom::Start(start)).await.map_err(ApiError::internal)?;
            let content_range =
                HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")).map_err(ApiError::internal)?;
            let length = HeaderValue::from(end - start + 1);
            let body = streamed(file, start, end - start + 1);
            Ok((
                StatusCode::PARTIAL_CONTENT,
                base,
                [(header::CONTENT_RANGE, content_range), (header::CONTENT_LENGTH, length)],
                body,
            )
                .into_response())
        }
        Some(Err(())) => range_not_satisfiable(len),
        None => Ok((base, [(header::CONTENT_LENGTH, HeaderValue::from(len))], streamed(file, 0, len)).into_response()),
    }
}

/// The size of each read of a recording being served.
const FILE_CHUNK: usize = 64 * 1024;

/// Serves a recording that another node of the cluster keeps, streamed from it a chunk at a time.
async fn serve_remote(
    cluster: &crate::cluster::Cluster,
    name: &str,
    headers: &HeaderMap,
    public: bool,
) -> Result<Response, ApiError> {
    let raw = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // Where the range starts, if the header says so without the file's length (`a-b`, `a-`).
    let guess = raw.and_then(|v| parse_range(v, u64::MAX)).and_then(Result::ok).map_or(0, |(start, _)| start);
    let not_found = || ApiError::not_found("There is no such recording.");
    let (len, first) = match cluster.read_remote(name, guess).await {
        Some(read) => read,
        // Past the end of the file: ask for its length alone.
        None if guess > 0 => match cluster.read_remote(name, 0).await {
            Some((len, _)) => return range_not_satisfiable(len),
            None => return Err(not_found()),
        },
        None => return Err(not_found()),
    };
    let range = raw.and_then(|v| parse_range(v, len));
    let (start, end) = match range {
        Some(Ok(range)) => range,
        Some(Err(())) => return range_not_satisfiable(len),
        None if len == 0 => return Ok((audio_headers(public), Vec::new()).into_response()),
        None => (0, len - 1),
    };
    // What was read already, if it began where the range does.
    let first = (start == guess).then_some(first);
    let cluster = cluster.clone();
    let name = name.to_string();
    let chunks = futures_util::stream::unfold((start, first), move |(at, ready)| {
        let (cluster, name) = (cluster.clone(), name.clone());
        async move {
            if at > end {
                return None;
            }
            let bytes = match ready {
                Some(bytes) => bytes,
                None => match cluster.read_remote(&name, at).await {
                    Some((_, bytes)) => bytes,
                    None => {
                        return Some((
                            Err(std::io::Error::other("the node with the recording went away")),
                            (end + 1, None),
                        ));
                    }
                },
            };
            if bytes.is_empty() {
                return Some((Err(std::io::Error::other("the recording is shorter than it was")), (end + 1, None)));
            }
            let take = bytes.len().min((end + 1 - at) as usize);
            let mut bytes = bytes;
            bytes.truncate(take);
            Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(bytes)), (at + take as u64, None)))
        }
    });
    let mut response = (audio_headers(public), axum::body::Body::from_stream(chunks)).into_response();
    let length = HeaderValue::from(end + 1 - start);
    response.headers_mut().insert(header::CONTENT_LENGTH, length);
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let content_range = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")).map_err(ApiError::internal)?;
        response.headers_mut().insert(header::CONTENT_RANGE, content_range);
    }
    Ok(response)
}

/// One `bytes=` range (`a-b`, `a-`, `-n`) within `len`: `None` for a header this does not serve ranges
/// for (several ranges, another unit: the whole file is sent), `Err` for one outside the file. Ranges of
/// more than 8 MiB are cut there (the player asks for the rest).
fn parse_range(value: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.trim().split_once('-')?;
    let (start, end) = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(a), Some(b)) if a <= b => (a, b.min(len.saturating_sub(1))),
        (Some(a), None) if b.is_empty() => (a, len.saturating_sub(1)),
        (None, Some(n)) if a.is_empty() && n > 0 => (len.saturating_sub(n), len.saturating_sub(1)),
        _ => return Some(Err(())),
    };
    if len == 0 || start >= len || start > end {
        return Some(Err(()));
    }
    Some(Ok((start, end.min(start + 8 * 1024 * 1024 - 1))))
}

/// An end-to-end encrypted room's refusal of whatever needs its audio (clips, the restream, WHEP, WHIP):
/// the server cannot hear it. Asked only once the caller is known to see the room.
pub(crate) fn refuse_e2ee(info: &stoa_proto::RoomInfo) -> Result<(), ApiError> {
    if !info.e2ee {
        return Ok(());
    }
    let e = stoa_room::CommandError::E2eeRoom;
    Err(ApiError::new(StatusCode::CONFLICT, e.code(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some(Ok((0, 99))));
        assert_eq!(parse_range("bytes=900-", 1000), Some(Ok((900, 999))));
        assert_eq!(parse_range("bytes=-100", 1000), Some(Ok((900, 999))));
        assert_eq!(parse_range("bytes=990-2000", 1000), Some(Ok((990, 999))));
        assert_eq!(parse_range("bytes=1000-", 1000), Some(Err(())));
        assert_eq!(parse_range("bytes=5-1", 1000), Some(Err(())));
        assert_eq!(parse_range("bytes=x-y", 1000), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
    }
}
