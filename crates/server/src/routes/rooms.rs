//! Rooms: create, the hallway, a room's details and audience, invitations, and the room's WebSocket.

use crate::AppState;
use crate::auth::Session;
use crate::client_ip::ClientAddr;
use crate::error::{ApiError, ApiJson};
use crate::limits::HOUR;
use crate::live::{self, Departure, RoomReply, RoomRequest, Snapshot, serve_connection, spawn_room};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{MethodFilter, get, on, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use stoa_proto::{
    AudiencePage, CreateRoomRequest, ErrorBody, Hallway, InviteToRoomRequest, NotificationKind, PingRequest, RoomId,
    RoomInfo, Scope, UserId, UserSummary,
};
use stoa_room::{Relations, Room, RoomConfig, may_see};
use stoa_store::{Audience, FanOut, NewNotification, RoomRecord, random_code};
use utoipa::IntoParams;

/// The largest WebSocket message a client may send. Commands are a few dozen bytes; SDP offers, which
/// come with live audio, are a few kilobytes.
const MAX_WS_MESSAGE: usize = 64 * 1024;
/// Read buffer of each room socket: a client's commands are tens of bytes, and an offer (a few kilobytes,
/// once per join) passes in several reads. tungstenite's buffer doubles when a read fills it, so what a
/// socket holds is about twice this.
const WS_READ_BUFFER: usize = 1024;
/// Bytes a room socket gathers before it writes.
const WS_WRITE_BUFFER: usize = 4096;

/// The rooms routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rooms", post(create_room).get(hallway))
        .route("/api/v1/rooms/{id}", get(room))
        .route("/api/v1/rooms/{id}/audience", get(audience))
        .route("/api/v1/rooms/{id}/invited", post(invite))
        .route("/api/v1/rooms/{id}/ping", post(ping))
        // GET for HTTP/1.1's Upgrade, CONNECT for HTTP/2's extended CONNECT (RFC 8441), which browsers use
        // over HTTPS when the server speaks HTTP/2.
        .route("/api/v1/rooms/{id}/ws", on(MethodFilter::GET.or(MethodFilter::CONNECT), websocket))
}

/// A live room the caller may see, with its latest snapshot; 404 otherwise, the same for every reason.
pub(crate) async fn visible_room(
    state: &AppState,
    session: &Session,
    id: &str,
) -> Result<(crate::live::RoomHandle, Arc<Snapshot>), ApiError> {
    let (handle, snapshot, _) = visible_room_among(state, session, id, |_| Vec::new()).await?;
    Ok((handle, snapshot))
}

/// [`visible_room`], with the caller's relations to its moderators and to the people `also` names in the
/// snapshot, from one look-up in the store.
pub(crate) async fn visible_room_among(
    state: &AppState,
    session: &Session,
    id: &str,
    also: impl FnOnce(&Snapshot) -> Vec<UserId>,
) -> Result<(crate::live::RoomHandle, Arc<Snapshot>, Relations), ApiError> {
    if !RoomId::is_well_formed(id) {
        return Err(ApiError::no_such_room());
    }
    let handle = state.rooms.get(&RoomId(id.to_string())).ok_or_else(ApiError::no_such_room)?;
    let snapshot = handle.snapshot.borrow().clone();
    // Whether the caller may see a room depends on their relations to its moderators, and nobody else.
    let mut asked = also(&snapshot);
    asked.extend(snapshot.access.moderators.iter().copied());
    let (relations, _) = crate::visibility::relations(state, session.account.id, &asked, snapshot.access.club).await?;
    if !may_see(&snapshot.access, session.account.id, &relations) {
        return Err(ApiError::no_such_room());
    }
    Ok((handle, snapshot, relations))
}

#[utoipa::path(post, path = "/api/v1/rooms", tag = "rooms", security(("bearer" = [])), request_body = CreateRoomRequest,
    responses((status = 201, body = RoomInfo), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "Too many live rooms of the caller's", body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, description = "The server runs as many rooms as it can", body = ErrorBody)))]
/// Starts a room. The caller is its first moderator, and has the reconnect grace to join it over the
/// WebSocket before the empty room ends.
pub async fn create_room(
    State(state): State<AppState>,
    session: Session,
    ClientAddr(ip): ClientAddr,
    ApiJson(body): ApiJson<CreateRoomRequest>,
) -> Result<(StatusCode, Json<RoomInfo>), ApiError> {
    let title = crate::routes::valid_title(&body.title, "A room's")?;
    if body.invited.len() > 1000 {
        return Err(ApiError::bad_request("too_many_invited", "Invite at most 1000 people when starting a room."));
    }
    if body.e2ee && body.visibility != stoa_proto::Visibility::Closed {
        return Err(ApiError::bad_request(
            "e2ee_closed_only",
            "Only a closed room can be end-to-end encrypted: its people are the ones its keys are made for.",
        ));
    }
    let o = body.outputs;
    // (Captions are allowed by default: an end-to-end encrypted room simply has none.)
    if body.e2ee && (o.recording || o.clips || o.listen_link || o.restream) {
        let e = stoa_room::CommandError::E2eeRoom;
        return Err(ApiError::bad_request(e.code(), e.to_string()));
    }
    let invited = resolve_all(&state, &body.invited).await?;
    let creator = session.account.summary();
    if body.outputs.listen_link && body.visibility != stoa_proto::Visibility::Open {
        let e = stoa_room::CommandError::ListenLinkOpenOnly;
        return Err(ApiError::bad_request(e.code(), e.to_string()));
    }
    let club = match &body.club {
        Some(handle) => Some(crate::routes::clubs::host_for(&state, &session, handle).await?),
        None => None,
    };
    if body.visibility == stoa_proto::Visibility::Closed {
        invitations_quota(&state, creator.id, invited.len())?;
    }
    let id = record_room(&state, creator.id, ip, &title, body.visibility).await?;
    let (club, hosts) = match club {
        Some((tag, admins)) => (Some(tag), admins.into_iter().filter(|a| *a != creator.id).collect()),
        None => (None, HashSet::new()),
    };
    let info = open_room(
        &state,
        id.clone(),
        creator,
        NewRoom { title, visibility: body.visibility, invited, hosts, outputs: body.outputs, club, e2ee: body.e2ee },
    );
    tracing::info!(room = %id, by = %session.account.username, visibility = ?body.visibility, "room created");
    Ok((StatusCode::CREATED, Json(info)))
}

/// What a new room starts with.
pub(crate) struct NewRoom {
    pub title: String,
    pub visibility: stoa_proto::Visibility,
    /// Invited to a closed room.
    pub invited: HashSet<UserId>,
    /// An event's co-hosts, who come in as moderators.
    pub hosts: HashSet<UserId>,
    /// What the room's mix goes to from the start.
    pub outputs: stoa_proto::RoomOutputs,
    /// The club that hosts it.
    pub club: Option<stoa_room::ClubTag>,
    /// End-to-end encrypted (a closed room's choice, when it starts).
    pub e2ee: bool,
}

/// Records a new room in the store and returns its fresh ID, within the limits: rooms started per hour by
/// the account and by its address, live rooms per account, and live rooms on this node (each is a task and
/// a thread). The rate is counted before the live rooms are, so that a refused attempt still costs.
pub(crate) async fn record_room(
    state: &AppState,
    creator: UserId,
    ip: std::net::IpAddr,
    title: &str,
    visibility: stoa_proto::Visibility,
) -> Result<RoomId, ApiError> {
    let config = &state.config;
    state.limiter.check_in(&format!("room:{creator}"), config.rooms_per_hour, HOUR)?;
    state.limiter.check_in(&format!("room-ip:{ip}"), config.rooms_per_hour.saturating_mul(3), HOUR)?;
    if state.store.live_rooms_of(creator).await? >= config.live_rooms_per_account {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_live_rooms",
            format!("You have {} live rooms already: end one to start another.", config.live_rooms_per_account),
        ));
    }
    if state.rooms.local_len() >= config.max_live_rooms as usize {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_full",
            "This server runs as many rooms as it can just now; try again later.",
        )
        .with_retry_after(60));
    }
    let id = RoomId(random_code(12));
    state.store.create_room(&RoomRecord { id: id.clone(), title: title.to_string(), visibility, creator }).await?;
    Ok(id)
}

/// Counts `n` invitations to a closed room (each one a notification, and a push) toward the account's
/// hourly quota.
pub(crate) fn invitations_quota(state: &AppState, actor: UserId, n: usize) -> Result<(), ApiError> {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    state.limiter.check_n(&format!("invite:{actor}"), n, state.config.invitations_per_hour, HOUR).map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_invitations",
            format!("You can invite {} people an hour to closed rooms.", state.config.invitations_per_hour),
        )
        .with_retry_after(600)
    })
}

/// Brings a recorded room to life with its creator as the first moderator, and tells people: the
/// invited of a closed room, and the creator's followers who may see it (in the background).
pub(crate) fn open_room(state: &AppState, id: RoomId, creator: UserSummary, new: NewRoom) -> RoomInfo {
    let config = RoomConfig { capacity: state.live.room_capacity(), reconnect_grace: state.config.reconnect_grace };
    let invited: Vec<UserId> = new.invited.iter().copied().collect();
    let mut room =
        Room::new(Instant::now(), id.clone(), new.title.clone(), new.visibility, creator.clone(), new.invited, config);
    room.set_hosts(new.hosts);
    if new.e2ee {
        room.make_e2ee();
    }
    room.init_outputs(new.outputs);
    let club = new.club.clone();
    if let Some(club) = new.club {
        room.set_club(club);
    }
    let handle = spawn_room(
        room,
        id.clone(),
        state.store.clone(),
        state.rooms.clone(),
        state.sfu.clone(),
        state.room_settings(),
        state.metrics.rooms.clone(),
    );
    let snapshot = handle.snapshot.borrow().clone();
    state.webhooks.emit(stoa_proto::HookData::RoomStarted {
        room: stoa_proto::HookRoom { id: id.0.clone(), title: new.title.clone(), visibility: new.visibility },
        host: stoa_proto::HookUser { id: creator.id, username: creator.username.clone() },
    });
    if new.visibility == stoa_proto::Visibility::Closed {
        state.notifier.tell_all(
            invited
                .iter()
                .map(|u| NewNotification {
                    user: *u,
                    kind: NotificationKind::RoomInvite,
                    actor: Some(creator.id),
                    room: Some(id.clone()),
                    event: None,
                    title: new.title.clone(),
                    club: None,
                })
                .collect(),
        );
    }
    if let Some(club) = club {
        // The club's members and followers first: whoever hears of the room this way is not told again as
        // the host's follower.
        state.notifier.fan_out(FanOut {
            kind: NotificationKind::ClubRoomStarted,
            actor: creator.id,
            title: new.title.clone(),
            audience: Audience::ClubSeeing { room: snapshot.audience(&id), club: club.id, handle: club.handle },
        });
    }
    state.notifier.fan_out(FanOut {
        kind: NotificationKind::RoomStarted,
        actor: creator.id,
        title: new.title,
        audience: Audience::FollowersSeeing(snapshot.audience(&id)),
    });
    snapshot.info.clone()
}

/// Usernames to IDs; an unknown one is a 400 that names it.
pub(crate) async fn resolve_all(state: &AppState, usernames: &[String]) -> Result<HashSet<UserId>, ApiError> {
    Ok(resolve_in_order(state, usernames).await?.into_iter().collect())
}

/// Usernames to IDs in the order given, each once; an unknown one is a 400 that names it.
pub(crate) async fn resolve_in_order(state: &AppState, usernames: &[String]) -> Result<Vec<UserId>, ApiError> {
    let names: Vec<String> = usernames.iter().map(|u| u.trim().to_ascii_lowercase()).collect();
    let found = state.store.resolve_usernames(&names).await?;
    let mut ids = Vec::with_capacity(names.len());
    for name in &names {
        let id = found
            .iter()
            .find(|u| &u.username == name)
            .map(|u| u.id)
            .ok_or_else(|| ApiError::bad_request("unknown_user", format!("There is no user named {name:?}.")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

#[utoipa::path(get, path = "/api/v1/rooms", tag = "rooms", security(("bearer" = [])),
    responses((status = 200, body = Hallway), (status = 401, body = ErrorBody)))]
/// The hallway: live rooms the caller may see. Rooms with more people the caller follows on stage (a room
/// of a club they belong to or follow counting as one more) come first, then larger audiences.
pub async fn hallway(State(state): State<AppState>, session: Session) -> Result<Json<Hallway>, ApiError> {
    let me = session.account.id;
    let snapshots = state.rooms.snapshots();
    // The caller's relations to the live rooms' moderators and speakers, and to no one else: the
    // hallway's cost grows with the live rooms, not with the caller's social graph.
    let people: Vec<UserId> = snapshots
        .iter()
        .flat_map(|s| s.access.moderators.iter().copied().chain(s.info.stage.iter().map(|m| m.user.id)))
        .collect();
    let clubs = snapshots.iter().filter_map(|s| s.access.club);
    let (relations, following) = crate::visibility::relations(&state, me, &people, clubs).await?;
    let mut rooms: Vec<(usize, RoomInfo)> = snapshots
        .into_iter()
        .filter(|s| may_see(&s.access, me, &relations))
        .map(|s| {
            let followed_on_stage = s.info.stage.iter().filter(|m| following.contains(&m.user.id)).count();
            // A room of a club the caller belongs to or follows counts as one more person they follow on
            // stage.
            let ties = &relations.clubs;
            let my_club = s.access.club.is_some_and(|c| ties.member.contains(&c) || ties.following.contains(&c));
            (followed_on_stage + usize::from(my_club), s.info.clone())
        })
        .collect();
    rooms.sort_by(|(fa, a), (fb, b)| fb.cmp(fa).then(b.listener_count.cmp(&a.listener_count)).then(a.id.cmp(&b.id)));
    Ok(Json(Hallway { rooms: rooms.into_iter().map(|(_, r)| r).collect() }))
}

#[utoipa::path(get, path = "/api/v1/rooms/{id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RoomInfo), (status = 404, body = ErrorBody)))]
/// A live room: its title, visibility, stage, listener count and hand mode. 404 for a room that ended, never
/// existed, or is hidden from the caller.
pub async fn room(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<RoomInfo>, ApiError> {
    let (_, snapshot) = visible_room(&state, &session, &id).await?;
    Ok(Json(snapshot.info.clone()))
}

/// `?offset=&limit=` for the audience.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AudienceQuery {
    /// The `next_offset` of the previous page.
    pub offset: Option<u32>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/rooms/{id}/audience", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path), AudienceQuery),
    responses((status = 200, body = AudiencePage), (status = 404, body = ErrorBody)))]
/// A page of the room's audience: people followed by the speakers first.
pub async fn audience(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<AudienceQuery>,
) -> Result<Json<AudiencePage>, ApiError> {
    let (handle, _) = visible_room(&state, &session, &id).await?;
    let request = RoomRequest::Audience { offset: q.offset.unwrap_or(0), limit: crate::routes::page_limit(q.limit)? };
    match live::ask(&handle.tx, request).await {
        Some(RoomReply::Audience(page)) => Ok(Json(page)),
        _ => Err(ApiError::no_such_room()),
    }
}

#[utoipa::path(post, path = "/api/v1/rooms/{id}/invited", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = InviteToRoomRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Moderators invite more people into the room; for a closed room, this is who may see and join it.
pub async fn invite(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<InviteToRoomRequest>,
) -> Result<StatusCode, ApiError> {
    let (handle, snapshot) = visible_room(&state, &session, &id).await?;
    if body.usernames.len() > 1000 {
        return Err(ApiError::bad_request("too_many_invited", "Invite at most 1000 people at once."));
    }
    let users: Vec<UserId> = resolve_all(&state, &body.usernames).await?.into_iter().collect();
    // Only a moderator's invitations are counted: anyone else's are refused by the room below.
    if snapshot.access.visibility == stoa_proto::Visibility::Closed
        && snapshot.access.moderators.contains(&session.account.id)
    {
        invitations_quota(&state, session.account.id, users.len())?;
    }
    let request = RoomRequest::Invite { actor: session.account.id, users: users.clone() };
    let Some(RoomReply::Invited(invited)) = live::ask(&handle.tx, request).await else {
        return Err(ApiError::no_such_room());
    };
    invited?;
    let snapshot = handle.snapshot.borrow().clone();
    if snapshot.access.visibility == stoa_proto::Visibility::Closed {
        state.notifier.tell_all(
            users
                .into_iter()
                .map(|user| NewNotification {
                    user,
                    kind: NotificationKind::RoomInvite,
                    actor: Some(session.account.id),
                    room: Some(snapshot.info.id.clone()),
                    event: None,
                    title: snapshot.info.title.clone(),
                    club: None,
                })
                .collect(),
        );
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Pings a person may send a minute, across all rooms.
pub const PINGS_PER_MINUTE: u32 = 10;

#[utoipa::path(post, path = "/api/v1/rooms/{id}/ping", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PingRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// A participant asks someone who follows them to join the room ("+" in the room): they are notified
/// with the room and who pinged. In a closed room only moderators ping, and a ping also invites. At most
/// ten pings a minute.
pub async fn ping(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PingRequest>,
) -> Result<StatusCode, ApiError> {
    let me = session.account.id;
    let (handle, _) = visible_room(&state, &session, &id).await?;
    let name = body.username.trim().to_ascii_lowercase();
    let target = state
        .store
        .resolve_usernames(std::slice::from_ref(&name))
        .await?
        .first()
        .map(|u| u.id)
        .ok_or_else(|| ApiError::bad_request("unknown_user", format!("There is no user named {name:?}.")))?;
    if target == me {
        return Err(ApiError::bad_request("self", "You cannot ping yourself."));
    }
    // Only followers: a ping is a tap on the shoulder of someone who asked to hear from the pinger.
    let mine = state.store.relations_among(me, &[target]).await?;
    if !mine.followed_by.contains(&target) || mine.blocked_by.contains(&target) {
        return Err(ApiError::forbidden("not_a_follower", "You can ping only people who follow you."));
    }
    state.limiter.check_key(&format!("ping:{me}"), PINGS_PER_MINUTE)?;
    // In a closed room a ping invites: it counts toward the invitations' quota too.
    if handle.snapshot.borrow().access.visibility == stoa_proto::Visibility::Closed {
        invitations_quota(&state, me, 1)?;
    }
    let Some(RoomReply::Pinged(access)) = live::ask(&handle.tx, RoomRequest::Ping { actor: me, target }).await else {
        return Err(ApiError::no_such_room());
    };
    let access = access?;
    // The pinged must be able to come in: in a social room, followed by a moderator; never blocked by one.
    let (relations, _) = crate::visibility::relations(&state, target, &access.moderators, access.club).await?;
    if !may_see(&access, target, &relations) {
        return Err(ApiError::forbidden("cannot_join", "That person cannot join this room."));
    }
    let title = handle.snapshot.borrow().info.title.clone();
    state.notifier.tell(NewNotification {
        user: target,
        kind: NotificationKind::Pinged,
        actor: Some(me),
        room: Some(RoomId(id)),
        event: None,
        title,
        club: None,
    });
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/rooms/{id}/ws", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 101, description = "Joined: the socket carries `ClientMessage`s and `ServerEvent`s"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, description = "The node running the room cannot be reached for now", body = ErrorBody)))]
/// Joins the room over a WebSocket. The join is decided before the upgrade: a refusal is an HTTP error, and
/// an accepted join's first event is `joined`. A handshake authenticated by the cookie must come from this
/// server's pages (its `Origin` is the public URL's); see [`crate::origin`].
pub async fn websocket(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // An access token needs `listen` (or `speak`) to join; in the room, it may do what its scopes grant.
    if !session.may(Scope::Listen) && !session.may(Scope::Speak) {
        return Err(ApiError::forbidden("missing_scope", "This access token lacks the `listen` scope."));
    }
    let grant = stoa_proto::Grant { speak: session.may(Scope::Speak), write: session.may(Scope::RoomsWrite) };
    // A removed user knows the room exists; they are told why they cannot come back rather than 404.
    if let Some(handle) = RoomId::is_well_formed(&id).then(|| state.rooms.get(&RoomId(id.clone()))).flatten()
        && handle.snapshot.borrow().access.removed.contains(&session.account.id)
    {
        return Err(stoa_room::JoinError::Removed.into());
    }
    // The room's rules look at the joiner's relations to the stage and nobody else's (whoever comes on
    // stage later is looked up by the room itself); one look-up serves them and the room's visibility.
    let (handle, snapshot, relations) =
        visible_room_among(&state, &session, &id, |s| s.info.stage.iter().map(|m| m.user.id).collect()).await?;
    let asked: Vec<UserId> = snapshot.info.stage.iter().map(|m| m.user.id).collect();
    let upgrade = upgrade
        .map_err(|_| ApiError::bad_request("websocket_required", "Connect to this address with a WebSocket."))?;
    // Another node runs the room: without NATS, or without an answer from that node in time, the room is
    // out of reach for now (it may be moving to another node), not gone. Only someone who may see the room
    // gets this far, so the answer tells nobody else that it exists.
    let unreachable = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "room_unreachable",
            "The node running this room cannot be reached just now; try again in a moment.",
        )
        .with_retry_after(1)
    };
    if handle.remote && state.cluster.as_ref().is_some_and(|c| !c.connected()) {
        return Err(unreachable());
    }
    let request = RoomRequest::Join { user: session.account.summary(), relations, asked, grant };
    let Some(RoomReply::Joined(joined)) = live::ask(&handle.tx, request).await else {
        return Err(if handle.remote { unreachable() } else { ApiError::no_such_room() });
    };
    let joined = joined.map_err(|e| {
        // The overflow: a full room whose listen link is on offers it instead.
        let overflow = snapshot.info.outputs.listen_link && snapshot.access.visibility == stoa_proto::Visibility::Open;
        if e == stoa_room::JoinError::Full && overflow {
            ApiError::new(
                StatusCode::CONFLICT,
                "room_full_listen",
                format!("This room is full, but you can listen on its public stream: /listen/{id}"),
            )
        } else {
            e.into()
        }
    })?;
    let departure = Departure::new(joined.conn, handle.tx.clone());
    let credential = state.notifier.hub.revocations.watch(session.credential(), state.store.clone());
    let budget = state.config.room_commands_per_second;
    // Small buffers: a room holds thousands of sockets, and tungstenite's 128 KiB defaults (zeroed, so resident)
    // would cost more memory per listener than all of their media state.
    Ok(upgrade
        .max_message_size(MAX_WS_MESSAGE)
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER)
        .on_upgrade(move |socket| serve_connection(socket, joined, departure, budget, credential)))
}
