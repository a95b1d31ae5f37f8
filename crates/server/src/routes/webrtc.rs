//! WHIP (RFC 9725) and WHEP: publishing into a room from OBS, GStreamer or ffmpeg, and listening from any
//! WHEP player, over plain HTTP signaling.
//!
//! A WHIP session is a participant like any other: it joins the room as its token's user (with no
//! WebSocket; its events are read and dropped), and its offer goes to the SFU with that participant's
//! right to publish, so the stage rules apply as they do in the browser. A WHEP session listens to the
//! room's mix, which the room's egress publishes into an SFU room of its own: one stream, whoever speaks.

use crate::AppState;
use crate::auth::Session;
use crate::client_ip::ClientAddr;
use crate::error::ApiError;
use crate::live::{self, Outbound, RoomHandle, RoomInput, RoomReply, RoomRequest, new_room_key};
use crate::routes::rooms::visible_room_among;
use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stoa_proto::{ClientCommand, ClientMessage, ErrorBody, RoomId, Scope, UserId, Visibility};
use stoa_room::ConnId;
use stoa_sfu::{Forwarding, PeerId, RoomKey, SfuEvent, SourceId};
use tokio::sync::{mpsc, oneshot};

/// WHIP and WHEP sessions the server holds at most; past it a new one is a 503.
const MAX_SESSIONS: usize = 2000;
/// WHIP and WHEP sessions one account may hold (a studio's publisher and a few players), and one client
/// address (a household, an office behind one NAT, players without an account).
const MAX_PER_ACCOUNT: usize = 4;
const MAX_PER_ADDRESS: usize = 16;
/// How long an offer waits for the SFU's answer.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// The routes.
/// The routes, and the sessions they hold (this node's WHIP publishers and WHEP players, and the rooms'
/// WHEP mixes): made once per server, and known to these routes alone.
pub fn router(peers: Arc<HttpPeers>) -> Router<AppState> {
    Router::new()
        .route("/api/v1/rooms/{id}/whip", post(whip))
        .route("/api/v1/rooms/{id}/whip/{session}", axum::routing::patch(whip_patch).delete(whip_delete))
        .route("/api/v1/rooms/{id}/whep", post(whep))
        .route("/api/v1/rooms/{id}/whep/{session}", axum::routing::patch(whep_patch).delete(whep_delete))
        .layer(Extension(peers))
}

enum HttpPeer {
    Whip {
        room: RoomId,
        tx: mpsc::Sender<RoomInput>,
        conn: ConnId,
        user: UserId,
        ip: IpAddr,
    },
    Whep {
        room: RoomId,
        peer: PeerId,
        user: Option<UserId>,
        ip: IpAddr,
        mix: Arc<WhepRoom>,
        /// The task that ends the session when its credential is revoked, if it has one.
        watcher: Option<tokio::task::AbortHandle>,
    },
}

impl HttpPeer {
    fn owner(&self) -> (Option<UserId>, IpAddr) {
        match self {
            HttpPeer::Whip { user, ip, .. } => (Some(*user), *ip),
            HttpPeer::Whep { user, ip, .. } => (*user, *ip),
        }
    }
}

/// The WHIP and WHEP sessions, by their resource's ID, and each room's WHEP mix room.
#[derive(Default)]
pub struct HttpPeers {
    sessions: Mutex<HashMap<String, HttpPeer>>,
    /// Sessions being set up (offered, not yet answered), by a number of their own: they count toward the
    /// caps, so that requests at once cannot all pass the check before any is a session.
    pending: Mutex<HashMap<u64, (Option<UserId>, IpAddr)>>,
    next_pending: std::sync::atomic::AtomicU64,
    mixes: Mutex<HashMap<RoomId, Arc<WhepRoom>>>,
    next_source: AtomicU32,
}

impl std::fmt::Debug for HttpPeers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpPeers")
    }
}

/// A room's WHEP mix room in the SFU: the mix is published there, and WHEP players listen there.
pub struct WhepRoom {
    key: RoomKey,
    /// Offers waiting for their answer.
    answers: Mutex<HashMap<PeerId, oneshot::Sender<Result<String, String>>>>,
    players: Mutex<usize>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn sdp_error(code: &'static str, message: &str) -> ApiError {
    ApiError::bad_request(code, message.to_string())
}

/// The offer's checks before anything is created: SDP, with audio.
fn check_offer(headers: &HeaderMap, body: &str) -> Result<(), ApiError> {
    let sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp")));
    if !sdp {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the SDP offer with Content-Type: application/sdp.",
        ));
    }
    if !body.starts_with("v=0") {
        return Err(sdp_error("invalid_sdp", "The body is not an SDP offer."));
    }
    if !body.lines().any(|l| l.starts_with("m=audio ")) {
        return Err(sdp_error("no_audio", "The offer has no audio; Stoa rooms carry audio only (Opus)."));
    }
    if !body.lines().any(|l| l.starts_with("a=rtpmap:") && l.to_ascii_lowercase().contains(" opus/48000")) {
        return Err(sdp_error("no_opus", "The offer's audio is not Opus; Stoa carries Opus only."));
    }
    Ok(())
}

/// `201 Created` with the answer, the session's `Location`, and the TURN servers as `Link` headers.
fn created(state: &AppState, location: String, answer: String, user: Option<UserId>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    if let (Some(turn), Some(user)) = (&state.config.turn, user) {
        let ice = turn.ice_server(user, std::time::SystemTime::now());
        for url in &ice.urls {
            let link = format!(
                "<{url}>; rel=\"ice-server\"; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
                ice.username, ice.credential
            );
            if let Ok(v) = HeaderValue::from_str(&link) {
                headers.append(header::LINK, v);
            }
        }
    }
    (StatusCode::CREATED, headers, answer).into_response()
}

/// A place among the sessions, held while one is set up; it frees itself when dropped.
struct Slot {
    peers: Arc<HttpPeers>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.peers.pending).remove(&self.id);
    }
}

/// Takes a place for a new session of `user` from `ip`, within the caps: the server's, the account's and
/// the address's. Sessions and those being set up count alike.
fn admit(peers: &Arc<HttpPeers>, user: Option<UserId>, ip: IpAddr) -> Result<Slot, ApiError> {
    let sessions = lock(&peers.sessions);
    let mut pending = lock(&peers.pending);
    let owners: Vec<(Option<UserId>, IpAddr)> =
        sessions.values().map(HttpPeer::owner).chain(pending.values().copied()).collect();
    if owners.len() >= MAX_SESSIONS {
        return Err(room_full());
    }
    let too_many = |what: &str, n: usize| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_sessions",
            format!("{what} holds {n} WHIP and WHEP sessions already: end one first."),
        )
        .with_retry_after(30)
    };
    if user.is_some() && owners.iter().filter(|(u, _)| *u == user).count() >= MAX_PER_ACCOUNT {
        return Err(too_many("This account", MAX_PER_ACCOUNT));
    }
    if owners.iter().filter(|(_, a)| *a == ip).count() >= MAX_PER_ADDRESS {
        return Err(too_many("This address", MAX_PER_ADDRESS));
    }
    let id = peers.next_pending.fetch_add(1, Ordering::Relaxed);
    pending.insert(id, (user, ip));
    Ok(Slot { peers: peers.clone(), id })
}

fn new_session_id() -> String {
    stoa_store::random_code(24)
}

fn room_full() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_sessions",
        "The server holds as many WHIP and WHEP sessions as it may.",
    )
    .with_retry_after(30)
}

#[utoipa::path(post, path = "/api/v1/rooms/{id}/whip", tag = "webrtc", security(("bearer" = [])),
    params(("id" = String, Path)), request_body(content = String, content_type = "application/sdp"),
    responses((status = 201, description = "The SDP answer; `Location` is the session, `Link` the TURN servers"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody)))]
/// WHIP (RFC 9725): publishes into the room from OBS, GStreamer or ffmpeg, as the bearer token's user
/// (a personal access token needs `speak`). The user must be on the room's stage (a moderator or a
/// speaker), and is heard while unmuted, as in the browser; it joins the room as that user, replacing
/// their other connection if they had one. `DELETE` on the `Location` ends it.
pub async fn whip(
    State(state): State<AppState>,
    Extension(peers): Extension<Arc<HttpPeers>>,
    session: Session,
    ClientAddr(ip): ClientAddr,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    check_offer(&headers, &body)?;
    let _slot = admit(&peers, Some(session.account.id), ip)?;
    let (handle, snapshot, relations) =
        visible_room_among(&state, &session, &id, |s| s.info.stage.iter().map(|m| m.user.id).collect()).await?;
    crate::routes::egress::refuse_e2ee(&snapshot.info)?;
    let me = session.account.id;
    if !snapshot.info.stage.iter().any(|m| m.user.id == me) {
        return Err(ApiError::forbidden(
            "not_on_stage",
            "Only someone on the room's stage can publish into it: ask a moderator to invite you to speak.",
        ));
    }
    let asked = snapshot.info.stage.iter().map(|m| m.user.id).collect();
    let join = RoomRequest::Join {
        user: session.account.summary(),
        relations,
        asked,
        grant: stoa_proto::Grant { speak: true, write: false },
    };
    let Some(RoomReply::Joined(joined)) = live::ask(&handle.tx, join).await else {
        return Err(ApiError::no_such_room());
    };
    let joined = joined?;
    let conn = joined.conn;
    let mut personal = joined.personal;
    let mut broadcast = joined.broadcast;
    let offer = ClientMessage { id: None, command: ClientCommand::Offer { sdp: body } };
    let leave = |tx: mpsc::Sender<RoomInput>| async move {
        live::tell(&tx, RoomRequest::Disconnected { conn }).await;
    };
    if !live::tell(&handle.tx, RoomRequest::Command { conn, message: offer }).await {
        return Err(ApiError::no_such_room());
    }
    // The room answers on the participant's own queue: `joined`, then the SDP answer or an error.
    let answer = tokio::time::timeout(ANSWER_WAIT, async {
        while let Some(out) = personal.recv().await {
            let Outbound::Event(text) = out else { return Err(ApiError::no_such_room()) };
            let event: serde_json::Value = serde_json::from_str(text.as_str()).unwrap_or_default();
            match event["type"].as_str() {
                Some("answer") => return Ok(event["sdp"].as_str().unwrap_or_default().to_string()),
                Some("error") => {
                    let message = event["message"].as_str().unwrap_or("The offer was refused.").to_string();
                    return Err(ApiError::bad_request("offer_refused", message));
                }
                _ => {}
            }
        }
        Err(ApiError::no_such_room())
    })
    .await;
    let answer = match answer {
        Ok(Ok(sdp)) => sdp,
        Ok(Err(e)) => {
            leave(handle.tx.clone()).await;
            return Err(e);
        }
        Err(_) => {
            leave(handle.tx.clone()).await;
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "no_answer",
                "The media server did not answer in time.",
            ));
        }
    };
    let sid = new_session_id();
    lock(&peers.sessions)
        .insert(sid.clone(), HttpPeer::Whip { room: RoomId(id.clone()), tx: handle.tx.clone(), conn, user: me, ip });
    // The participant's events are read and dropped, so that its queues never fill; when the room closes
    // the connection (removed, moved off the stage and out, the room's end), the session goes. A WHIP
    // client has no other channel than its media: when that is lost (ICE stops, as when OBS or the
    // network dies without a DELETE), the session ends as a DELETE would end it.
    // The session also ends when the token it was opened with is revoked.
    let (peers, sid2, room_tx) = (peers.clone(), sid.clone(), handle.tx.clone());
    let mut credential = state.notifier.hub.revocations.watch(session.credential(), state.store.clone());
    tokio::spawn(async move {
        let ended_here = loop {
            tokio::select! {
                out = personal.recv() => match out {
                    Some(Outbound::Event(text)) => if media_ended(text.as_str()) { break Some("its media was lost") },
                    Some(Outbound::Close) | None => break None,
                },
                b = broadcast.recv() => if let Err(tokio::sync::broadcast::error::RecvError::Closed) = b { break None },
                why = credential.revoked() => break Some(why.reason),
            }
        };
        if lock(&peers.sessions).remove(&sid2).is_some()
            && let Some(why) = ended_here
        {
            tracing::info!(session = %sid2, why, "a WHIP publisher's session ends");
            live::tell(&room_tx, RoomRequest::Disconnected { conn }).await;
        }
    });
    tracing::info!(room = %id, by = %session.account.username, "WHIP publisher joined");
    Ok(created(&state, format!("/api/v1/rooms/{id}/whip/{sid}"), answer, Some(me)))
}

/// Whether a participant's event says its media peer is gone (the SFU's `connection_failed` or
/// `internal`, which the room sends as an error).
fn media_ended(event: &str) -> bool {
    let event: serde_json::Value = serde_json::from_str(event).unwrap_or_default();
    event["type"] == "error" && matches!(event["code"].as_str(), Some("connection_failed" | "internal"))
}

/// A trickled candidate or an ICE restart: the server is ICE-lite and learns the client's address from
/// its checks, so trickled candidates are accepted and need nothing; a restart is not offered.
fn patch(headers: &HeaderMap, known: bool) -> Result<StatusCode, ApiError> {
    if !known {
        return Err(ApiError::not_found("There is no such session."));
    }
    let trickle = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/trickle-ice-sdpfrag"));
    if !trickle {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "PATCH takes application/trickle-ice-sdpfrag.",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

fn session_of(peers: &HttpPeers, id: &str, session: &str, whip: bool, user: Option<UserId>) -> bool {
    match lock(&peers.sessions).get(session) {
        Some(HttpPeer::Whip { room, user: owner, .. }) => whip && room.0 == id && Some(*owner) == user,
        Some(HttpPeer::Whep { room, user: owner, .. }) => !whip && room.0 == id && (owner.is_none() || *owner == user),
        None => false,
    }
}

#[utoipa::path(patch, path = "/api/v1/rooms/{id}/whip/{session}", tag = "webrtc", security(("bearer" = [])),
    params(("id" = String, Path), ("session" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody)))]
/// Trickle ICE for a WHIP session (accepted; the server learns addresses from the checks).
pub async fn whip_patch(
    Extension(peers): Extension<Arc<HttpPeers>>,
    session: Session,
    Path((id, sid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    patch(&headers, session_of(&peers, &id, &sid, true, Some(session.account.id)))
}

#[utoipa::path(delete, path = "/api/v1/rooms/{id}/whip/{session}", tag = "webrtc", security(("bearer" = [])),
    params(("id" = String, Path), ("session" = String, Path)), responses((status = 200), (status = 404, body = ErrorBody)))]
/// Ends a WHIP session: its media stops, and its participant keeps their place for the reconnect grace.
pub async fn whip_delete(
    Extension(peers): Extension<Arc<HttpPeers>>,
    session: Session,
    Path((id, sid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if !session_of(&peers, &id, &sid, true, Some(session.account.id)) {
        return Err(ApiError::not_found("There is no such session."));
    }
    let Some(HttpPeer::Whip { tx, conn, .. }) = lock(&peers.sessions).remove(&sid) else {
        return Err(ApiError::not_found("There is no such session."));
    };
    live::tell(&tx, RoomRequest::Disconnected { conn }).await;
    Ok(StatusCode::OK)
}

/// The room's WHEP mix room, opened with its first player: the SFU room, the task that hands its answers
/// to the waiting offers, and the egress's publishing of the mix into it. It closes with the room.
fn mix_room(
    state: &AppState,
    peers: &Arc<HttpPeers>,
    id: &RoomId,
    handle: &RoomHandle,
) -> Result<Arc<WhepRoom>, ApiError> {
    let egress = handle.egress.clone().ok_or_else(ApiError::no_such_room)?;
    let mut mixes = lock(&peers.mixes);
    if let Some(m) = mixes.get(id) {
        return Ok(m.clone());
    }
    let key = new_room_key();
    let (events_tx, mut events) = mpsc::channel(256);
    state.sfu.open_room(key, events_tx);
    let mix = Arc::new(WhepRoom { key, answers: Mutex::default(), players: Mutex::new(0) });
    egress.whep(Some((state.sfu.clone(), key))).map_err(|_| ApiError::no_such_room())?;
    mixes.insert(id.clone(), mix.clone());
    let (m, sfu, peers, room_tx, room) = (mix.clone(), state.sfu.clone(), peers.clone(), handle.tx.clone(), id.clone());
    let (state, mut snapshot) = (state.clone(), handle.snapshot.clone());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(SfuEvent::Answer { peer, sdp }) => {
                        if let Some(tx) = lock(&m.answers).remove(&peer) {
                            let _ = tx.send(Ok(sdp));
                        }
                    }
                    Some(SfuEvent::Rejected { peer, message, .. }) => {
                        match lock(&m.answers).remove(&peer) {
                            Some(tx) => {
                                let _ = tx.send(Err(message));
                            }
                            // A player's media failed after its answer (ICE timed out: the player went
                            // away without a DELETE): its session ends.
                            None => end_whep_where(&state, &peers, |p| matches!(p, HttpPeer::Whep { peer: q, .. } if *q == peer)),
                        }
                    }
                    Some(_) => {}
                    None => break,
                },
                // The listen link was turned off: players without an account lose the room.
                changed = snapshot.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let now = snapshot.borrow_and_update().clone();
                    if !now.info.outputs.listen_link {
                        end_whep_where(&state, &peers, |p| matches!(p, HttpPeer::Whep { room: r, user: None, .. } if *r == room));
                    }
                    // A player the room no longer lets in (removed, or blocked by a moderator) loses it.
                    end_unwelcome_players(&state, &peers, &room, &now).await;
                }
                // The room ended: its players' sessions go with it.
                _ = room_tx.closed() => break,
            }
        }
        sfu.close_room(m.key);
        lock(&peers.mixes).remove(&room);
        lock(&peers.sessions).retain(|_, p| !matches!(p, HttpPeer::Whep { room: r, .. } if *r == room));
    });
    Ok(mix)
}

#[utoipa::path(post, path = "/api/v1/rooms/{id}/whep", tag = "webrtc", security((), ("bearer" = [])),
    params(("id" = String, Path)), request_body(content = String, content_type = "application/sdp"),
    responses((status = 201, description = "The SDP answer; `Location` is the session"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody)))]
/// WHEP: listens to the room's mix from any WHEP player. A room with its public listen link on needs no
/// account; any other room needs a bearer token of someone who may see it (`listen` scope for a personal
/// access token). One audio stream: everyone on stage, mixed.
pub async fn whep(
    State(state): State<AppState>,
    Extension(peers): Extension<Arc<HttpPeers>>,
    session: Result<Session, ApiError>,
    ClientAddr(ip): ClientAddr,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    check_offer(&headers, &body)?;
    // A token that lacks the scope is told so (RFC 6750), not taken for someone without an account.
    let session = match session {
        Err(e) if e.status() == StatusCode::FORBIDDEN => return Err(e),
        other => other,
    };
    let _slot = admit(&peers, session.as_ref().ok().map(|s| s.account.id), ip)?;
    if !RoomId::is_well_formed(&id) {
        return Err(ApiError::no_such_room());
    }
    let handle = state.rooms.get(&RoomId(id.clone())).ok_or_else(ApiError::no_such_room)?;
    let snapshot = handle.snapshot.borrow().clone();
    let public = snapshot.access.visibility == Visibility::Open && snapshot.info.outputs.listen_link;
    let user = match &session {
        Ok(s) => Some(s.account.id),
        Err(_) if public => None,
        Err(_) => return Err(ApiError::no_such_room()),
    };
    if !public {
        let Ok(s) = &session else { return Err(ApiError::no_such_room()) };
        if !s.may(Scope::Listen) {
            return Err(ApiError::forbidden("missing_scope", "This access token lacks the `listen` scope."));
        }
        visible_room_among(&state, s, &id, |_| Vec::new()).await?;
    }
    crate::routes::egress::refuse_e2ee(&snapshot.info)?;
    let room = RoomId(id.clone());
    let mix = mix_room(&state, &peers, &room, &handle)?;
    let source = SourceId(1000 + peers.next_source.fetch_add(1, Ordering::Relaxed) % 1_000_000_000);
    let (tx, rx) = oneshot::channel();
    let peer = {
        // Held while offering, so the answer cannot reach the dispatcher before its waiter is there.
        let mut answers = lock(&mix.answers);
        let peer = state.sfu.offer(mix.key, source, body, Forwarding::Off);
        answers.insert(peer, tx);
        peer
    };
    let answer = match tokio::time::timeout(ANSWER_WAIT, rx).await {
        Ok(Ok(Ok(sdp))) => sdp,
        Ok(Ok(Err(message))) => return Err(ApiError::bad_request("offer_refused", message)),
        _ => {
            lock(&mix.answers).remove(&peer);
            state.sfu.close_peer(peer);
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "no_answer",
                "The media server did not answer in time.",
            ));
        }
    };
    *lock(&mix.players) += 1;
    let sid = new_session_id();
    let watcher = session.as_ref().ok().map(|s| {
        let mut credential = state.notifier.hub.revocations.watch(s.credential(), state.store.clone());
        let (state, peers, sid) = (state.clone(), peers.clone(), sid.clone());
        tokio::spawn(async move {
            let why = credential.revoked().await;
            tracing::info!(session = %sid, why = why.reason, "a WHEP player's session ends");
            end_whep(&state, &peers, &sid);
        })
        .abort_handle()
    });
    lock(&peers.sessions).insert(sid.clone(), HttpPeer::Whep { room, peer, user, ip, mix, watcher });
    tracing::info!(room = %id, "WHEP player joined");
    Ok(created(&state, format!("/api/v1/rooms/{id}/whep/{sid}"), answer, user))
}

#[utoipa::path(patch, path = "/api/v1/rooms/{id}/whep/{session}", tag = "webrtc",
    params(("id" = String, Path), ("session" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody)))]
/// Trickle ICE for a WHEP session (accepted; the server learns addresses from the checks).
pub async fn whep_patch(
    Extension(peers): Extension<Arc<HttpPeers>>,
    session: Result<Session, ApiError>,
    Path((id, sid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let user = session.ok().map(|s| s.account.id);
    patch(&headers, session_of(&peers, &id, &sid, false, user))
}

#[utoipa::path(delete, path = "/api/v1/rooms/{id}/whep/{session}", tag = "webrtc",
    params(("id" = String, Path), ("session" = String, Path)), responses((status = 200), (status = 404, body = ErrorBody)))]
/// Ends a WHEP session. With the room's last player, the mix stops being published for WHEP.
pub async fn whep_delete(
    State(state): State<AppState>,
    Extension(peers): Extension<Arc<HttpPeers>>,
    session: Result<Session, ApiError>,
    Path((id, sid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = session.ok().map(|s| s.account.id);
    if !session_of(&peers, &id, &sid, false, user) {
        return Err(ApiError::not_found("There is no such session."));
    }
    if !end_whep(&state, &peers, &sid) {
        return Err(ApiError::not_found("There is no such session."));
    }
    Ok(StatusCode::OK)
}

/// Ends the WHEP sessions in `room` of people who may no longer see it: removed from it, or blocked by one
/// of its moderators.
async fn end_unwelcome_players(state: &AppState, peers: &HttpPeers, room: &RoomId, snapshot: &crate::live::Snapshot) {
    let players: Vec<UserId> = lock(&peers.sessions)
        .values()
        .filter_map(|p| match p {
            HttpPeer::Whep { room: r, user: Some(u), .. } if r == room => Some(*u),
            _ => None,
        })
        .collect();
    for user in players {
        let relations =
            match crate::visibility::relations(state, user, &snapshot.access.moderators, snapshot.access.club).await {
                Ok((relations, _)) => relations,
                Err(_) => continue,
            };
        if !stoa_room::may_see(&snapshot.access, user, &relations) || snapshot.access.removed.contains(&user) {
            end_whep_where(
                state,
                peers,
                |p| matches!(p, HttpPeer::Whep { room: r, user: Some(u), .. } if r == room && *u == user),
            );
        }
    }
}

/// Ends every WHEP session that `which` picks.
fn end_whep_where(state: &AppState, peers: &HttpPeers, which: impl Fn(&HttpPeer) -> bool) {
    let sids: Vec<String> = lock(&peers.sessions).iter().filter(|(_, p)| which(p)).map(|(s, _)| s.clone()).collect();
    for sid in sids {
        tracing::info!(session = %sid, "a WHEP player's session ends");
        end_whep(state, peers, &sid);
    }
}

/// Ends a WHEP session: its peer closes, and with the room's last player the mix stops being published
/// for WHEP. False if there was no such session.
fn end_whep(state: &AppState, peers: &HttpPeers, sid: &str) -> bool {
    let removed = lock(&peers.sessions).remove(sid);
    let Some(HttpPeer::Whep { peer, mix, room, watcher, .. }) = removed else { return false };
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    state.sfu.close_peer(peer);
    let last = {
        let mut players = lock(&mix.players);
        *players = players.saturating_sub(1);
        *players == 0
    };
    if last && let Some(handle) = state.rooms.get(&room) {
        if let Some(egress) = &handle.egress {
            let _ = egress.whep(None);
        }
        state.sfu.close_room(mix.key);
        lock(&peers.mixes).remove(&room);
    }
    true
}
