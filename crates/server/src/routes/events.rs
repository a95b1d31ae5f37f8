//! Scheduled events: create, edit, cancel, RSVP, co-hosts, start, upcoming, and their calendars (one
//! event's `.ics`, and each person's secret feed at `/cal/TOKEN.ics`).

use crate::AppState;
use crate::auth::{Session, new_token, token_hash};
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiJson};
use crate::routes::CursorQuery;
use crate::routes::rooms::{NewRoom, open_room, record_room};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::HashSet;
use stoa_proto::limits::{EVENT_COHOSTS, EVENT_DESCRIPTION, EVENT_MAX_DAYS_AHEAD};
use stoa_proto::{
    CalendarFeed, CreateEventRequest, ErrorBody, EventHost, EventId, EventInfo, EventList, EventState,
    NotificationKind, RoomInfo, RsvpPage, UpdateEventRequest, UserId, Visibility,
};
use stoa_store::{Audience, EventRow, FanOut, NewEvent, NewNotification, random_code};

/// How long after its start an event that nobody started is shown as missed.
const MISSED_AFTER_SECS: i64 = 2 * 3600;
/// Events a person may schedule a minute.
pub const EVENTS_PER_MINUTE: u32 = 10;
/// How far back a calendar feed reaches.
const FEED_PAST_SECS: i64 = 30 * 86400;

/// The events routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", post(create_event).get(upcoming))
        .route("/api/v1/events/{id}", get(event).patch(update_event).delete(cancel_event))
        .route("/api/v1/events/{id}/rsvp", post(rsvp).delete(unrsvp))
        .route("/api/v1/events/{id}/rsvps", get(rsvps))
        .route("/api/v1/events/{id}/cohost", post(accept_cohost).delete(decline_cohost))
        .route("/api/v1/events/{id}/start", post(start_event))
        .route("/api/v1/events/{id}/calendar.ics", get(event_ics))
        .route("/api/v1/users/{username}/events", get(hosted_by))
        .route("/api/v1/me/calendar", post(new_feed).delete(revoke_feed))
        .route("/cal/{file}", get(feed))
}

use crate::clock::now_secs as now;

fn no_such_event() -> ApiError {
    ApiError::not_found("There is no such event.")
}

/// An event the caller may see, or 404 for every other reason.
async fn visible_event(state: &AppState, viewer: UserId, id: &str) -> Result<EventRow, ApiError> {
    if !EventId::is_well_formed(id) {
        return Err(no_such_event());
    }
    state.store.event(viewer, &EventId(id.to_string())).await?.ok_or_else(no_such_event)
}

/// An event the caller hosts (accepted), 403 if they may see it but do not host it.
async fn hosted_event(state: &AppState, viewer: UserId, id: &str) -> Result<EventRow, ApiError> {
    let event = visible_event(state, viewer, id).await?;
    if !event.is_host(viewer) {
        return Err(ApiError::forbidden("not_a_host", "Only the event's hosts can do that."));
    }
    Ok(event)
}

/// Where an event stands now.
fn state_of(state: &AppState, event: &EventRow, now: i64) -> EventState {
    if event.cancelled_at.is_some() {
        EventState::Cancelled
    } else if let Some(room) = &event.room_id {
        if !event.room_ended && state.rooms.get(room).is_some() { EventState::Live } else { EventState::Ended }
    } else if event.starts_at + MISSED_AFTER_SECS < now {
        EventState::Missed
    } else {
        EventState::Scheduled
    }
}

/// The API's view of an event for `viewer`.
pub(crate) fn event_info(state: &AppState, event: &EventRow, viewer: UserId) -> EventInfo {
    let host_view = event.is_host(viewer) || event.is_asked(viewer);
    let current = state_of(state, event, now());
    EventInfo {
        id: event.id.clone(),
        title: event.title.clone(),
        description: event.description.clone(),
        starts_at: rfc3339(event.starts_at),
        visibility: event.visibility,
        hosts: event
            .hosts
            .iter()
            .filter(|(u, accepted)| *accepted || host_view || u.id == viewer)
            .map(|(user, accepted)| EventHost { user: user.clone(), accepted: *accepted })
            .collect(),
        state: current,
        room_id: (current == EventState::Live).then(|| event.room_id.clone()).flatten(),
        rsvp_count: event.is_host(viewer).then_some(event.rsvp_count),
        you_rsvped: event.viewer_rsvped,
        you_host: event.is_host(viewer),
        you_are_asked: event.is_asked(viewer),
        url: format!("{}/event/{}", state.public_url.trim_end_matches('/'), event.id),
        club: event
            .club
            .as_ref()
            .map(|(_, handle, name)| Box::new(stoa_proto::RoomClub { handle: handle.clone(), name: name.clone() })),
    }
}

fn valid_title(title: &str) -> Result<String, ApiError> {
    crate::routes::valid_title(title, "An event's")
}

fn valid_description(description: &str) -> Result<String, ApiError> {
    let description = description.trim();
    if description.chars().count() > EVENT_DESCRIPTION.max
        || description.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::bad_request(
            "invalid_description",
            format!("A description has at most {} characters.", EVENT_DESCRIPTION.max),
        ));
    }
    Ok(description.to_string())
}

/// A start time: RFC 3339, after now and at most 60 days ahead. Returns Unix seconds.
fn valid_start(starts_at: &str, now: i64) -> Result<i64, ApiError> {
    let parsed = time::OffsetDateTime::parse(starts_at.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            ApiError::bad_request("invalid_start", "Give the start time in RFC 3339, like 2026-12-01T18:00:00Z.")
        })?
        .unix_timestamp();
    if parsed <= now {
        return Err(ApiError::bad_request("start_in_past", "An event starts in the future."));
    }
    if parsed > now + EVENT_MAX_DAYS_AHEAD * 86400 {
        return Err(ApiError::bad_request(
            "start_too_far",
            format!("An event starts at most {EVENT_MAX_DAYS_AHEAD} days ahead."),
        ));
    }
    Ok(parsed)
}

#[utoipa::path(post, path = "/api/v1/events", tag = "events", security(("bearer" = [])), request_body = CreateEventRequest,
    responses((status = 201, body = EventInfo), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
/// Schedules an event. Each co-host is asked (and notified) and must accept; a co-host who blocks the
/// creator, or whom the creator blocks, is refused.
pub async fn create_event(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<CreateEventRequest>,
) -> Result<(StatusCode, Json<EventInfo>), ApiError> {
    let me = session.account.id;
    let title = valid_title(&body.title)?;
    let description = valid_description(&body.description)?;
    let starts_at = valid_start(&body.starts_at, now())?;
    // Each event can ask ten people to co-host, so events are limited as pings are.
    state.limiter.check_key(&format!("event:{me}"), EVENTS_PER_MINUTE)?;
    if body.cohosts.len() > EVENT_COHOSTS {
        return Err(ApiError::bad_request(
            "too_many_cohosts",
            format!("An event has at most {EVENT_COHOSTS} co-hosts."),
        ));
    }
    if body.invited.len() > 1000 {
        return Err(ApiError::bad_request("too_many_invited", "Invite at most 1000 people to an event."));
    }
    // In the order given, which is the order the event shows them; an unknown name is a 400 that names it.
    let mut cohosts = crate::routes::rooms::resolve_in_order(&state, &body.cohosts).await?;
    cohosts.retain(|c| *c != me);
    let among = state.store.relations_among(me, &cohosts).await?;
    let outgoing = state.store.outgoing_among(me, &cohosts).await?;
    if cohosts.iter().any(|c| among.blocked_by.contains(c) || outgoing.blocking.contains(c)) {
        return Err(ApiError::forbidden(
            "cohost_blocked",
            "A block stands between you and one of the co-hosts you asked.",
        ));
    }
    let invited: Vec<UserId> = if body.visibility == Visibility::Closed {
        crate::routes::rooms::resolve_all(&state, &body.invited).await?.into_iter().collect()
    } else {
        Vec::new()
    };
    let club = match &body.club {
        Some(handle) => Some(crate::routes::clubs::host_for(&state, &session, handle).await?),
        None => None,
    };
    let id = EventId(random_code(12));
    state
        .store
        .create_event(&NewEvent {
            id: id.clone(),
            title: title.clone(),
            description,
            starts_at,
            visibility: body.visibility,
            creator: me,
            cohosts: cohosts.clone(),
            invited,
            club: club.map(|(tag, _)| tag.id),
        })
        .await?;
    state.notifier.tell_all(
        cohosts
            .iter()
            .map(|c| NewNotification {
                user: *c,
                kind: NotificationKind::CohostInvite,
                actor: Some(me),
                room: None,
                event: Some(id.clone()),
                title: title.clone(),
                club: None,
            })
            .collect(),
    );
    let event = visible_event(&state, me, &id.0).await?;
    tracing::info!(event = %id, by = %session.account.username, "event scheduled");
    state.webhooks.emit(stoa_proto::HookData::EventScheduled {
        event: stoa_proto::HookEvent {
            id: id.0.clone(),
            title: event.title.clone(),
            starts_at: event.starts_at,
            visibility: event.visibility,
        },
        by: stoa_proto::HookUser { id: me, username: session.account.username.clone() },
    });
    Ok((StatusCode::CREATED, Json(event_info(&state, &event, me))))
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = EventList), (status = 401, body = ErrorBody)))]
/// Upcoming and live events the caller may see: theirs, those hosted by people they follow, those they
/// RSVPed to, then the most-RSVPed.
pub async fn upcoming(State(state): State<AppState>, session: Session) -> Result<Json<EventList>, ApiError> {
    let me = session.account.id;
    let events = state.store.upcoming(me, now(), 50).await?;
    Ok(Json(EventList { events: events.iter().map(|e| event_info(&state, e, me)).collect() }))
}

#[utoipa::path(get, path = "/api/v1/users/{username}/events", tag = "events", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = EventList), (status = 404, body = ErrorBody)))]
/// The upcoming and live events a user hosts that the caller may see.
pub async fn hosted_by(
    State(state): State<AppState>,
    session: Session,
    Path(username): Path<String>,
) -> Result<Json<EventList>, ApiError> {
    let me = session.account.id;
    let name = username.trim().to_ascii_lowercase();
    let host = state
        .store
        .resolve_usernames(std::slice::from_ref(&name))
        .await?
        .first()
        .map(|u| u.id)
        .ok_or_else(|| ApiError::not_found("There is no such user."))?;
    let events = state.store.hosted_by(me, host, now(), 50).await?;
    Ok(Json(EventList { events: events.iter().map(|e| event_info(&state, e, me)).collect() }))
}

#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = EventInfo), (status = 404, body = ErrorBody)))]
/// An event. 404 for one that does not exist or is hidden from the caller.
pub async fn event(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<EventInfo>, ApiError> {
    let me = session.account.id;
    let event = visible_event(&state, me, &id).await?;
    Ok(Json(event_info(&state, &event, me)))
}

/// Tells those who RSVPed, in the background.
fn tell_rsvps(state: &AppState, event: &EventRow, kind: NotificationKind, actor: UserId, title: &str) {
    state.notifier.fan_out(FanOut {
        kind,
        actor,
        title: title.to_string(),
        audience: Audience::Rsvps { event: event.id.clone(), room: event.room_id.clone() },
    });
}

#[utoipa::path(patch, path = "/api/v1/events/{id}", tag = "events", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdateEventRequest,
    responses((status = 200, body = EventInfo), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Hosts change an event's title, description or start; those who RSVPed are told.
pub async fn update_event(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateEventRequest>,
) -> Result<Json<EventInfo>, ApiError> {
    let me = session.account.id;
    let event = hosted_event(&state, me, &id).await?;
    let title = body.title.as_deref().map(valid_title).transpose()?;
    let description = body.description.as_deref().map(valid_description).transpose()?;
    let starts_at = body.starts_at.as_deref().map(|s| valid_start(s, now())).transpose()?;
    if state_of(&state, &event, now()) != EventState::Scheduled && state_of(&state, &event, now()) != EventState::Missed
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "event_not_scheduled",
            "Only an event that has not started can be changed.",
        ));
    }
    if title.is_none() && description.is_none() && starts_at.is_none() {
        return Ok(Json(event_info(&state, &event, me)));
    }
    state.store.update_event(&event.id, title.as_deref(), description.as_deref(), starts_at).await?;
    let event = visible_event(&state, me, &id).await?;
    tell_rsvps(&state, &event, NotificationKind::EventChanged, me, &event.title);
    Ok(Json(event_info(&state, &event, me)))
}

#[utoipa::path(delete, path = "/api/v1/events/{id}", tag = "events", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = EventInfo), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Hosts cancel an event that has not started; those who RSVPed are told, and calendars show it cancelled.
pub async fn cancel_event(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<EventInfo>, ApiError> {
    let me = session.account.id;
    let event = hosted_event(&state, me, &id).await?;
    if !state.store.cancel_event(&event.id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "event_not_scheduled",
            "Only an event that has not started can be cancelled.",
        ));
    }
    tell_rsvps(&state, &event, NotificationKind::EventCancelled, me, &event.title);
    let event = visible_event(&state, me, &id).await?;
    Ok(Json(event_info(&state, &event, me)))
}

#[utoipa::path(post, path = "/api/v1/events/{id}/rsvp", tag = "events", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = EventInfo), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// "Notify me": the caller is told when the event starts, changes or is cancelled.
pub async fn rsvp(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<EventInfo>, ApiError> {
    let me = session.account.id;
    let event = visible_event(&state, me, &id).await?;
    if matches!(state_of(&state, &event, now()), EventState::Cancelled | EventState::Ended | EventState::Missed) {
        return Err(ApiError::new(StatusCode::CONFLICT, "event_over", "This event is over."));
    }
    state.store.rsvp(&event.id, me).await?;
    let event = visible_event(&state, me, &id).await?;
    Ok(Json(event_info(&state, &event, me)))
}

#[utoipa::path(delete, path = "/api/v1/events/{id}/rsvp", tag = "events", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = EventInfo), (status = 404, body = ErrorBody)))]
/// Takes an RSVP back.
pub async fn unrsvp(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<EventInfo>, ApiError> {
    let me = session.account.id;
    let event = visible_event(&state, me, &id).await?;
    state.store.unrsvp(&event.id, me).await?;
    let event = visible_event(&state, me, &id).await?;
    Ok(Json(event_info(&state, &event, me)))
}

#[utoipa::path(get, path = "/api/v1/events/{id}/rsvps", tag = "events", security(("bearer" = [])),
    params(("id" = String, Path), CursorQuery),
    responses((status = 200, body = RsvpPage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Who RSVPed, newest first, a page at a time: for hosts.
pub async fn rsvps(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<CursorQuery>,
) -> Result<Json<RsvpPage>, ApiError> {
    let event = hosted_event(&state, session.account.id, &id).await?;
    let (total, page) = state.store.rsvps(&event.id, q.cursor, crate::routes::page_limit(q.limit)?).await?;
    Ok(Json(RsvpPage { total, users: page.users, next_cursor: page.next_cursor }))
}

async fn answer_cohost(
    state: &AppState,
    session: &Session,
    id: &str,
    accept: bool,
) -> Result<Json<EventInfo>, ApiError> {
    let me = session.account.id;
    let event = visible_event(state, me, id).await?;
    if event.creator == me {
        return Err(ApiError::bad_request("creator", "The creator of an event always hosts it."));
    }
    if !state.store.answer_cohost(&event.id, me, accept).await? {
        return Err(ApiError::forbidden("not_asked", "You were not asked to co-host this event."));
    }
    match visible_event(state, me, id).await {
        Ok(event) => Ok(Json(event_info(state, &event, me))),
        // Declining a closed event one was not invited to hides it again.
        Err(_) => Err(no_such_event()),
    }
}

#[utoipa::path(post, path = "/api/v1/events/{id}/cohost", tag = "events", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = EventInfo), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Accepts co-hosting an event one was asked to co-host.
pub async fn accept_cohost(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<EventInfo>, ApiError> {
    answer_cohost(&state, &session, &id, true).await
}

#[utoipa::path(delete, path = "/api/v1/events/{id}/cohost", tag = "events", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = EventInfo), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Declines co-hosting, or steps down as a co-host.
pub async fn decline_cohost(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<EventInfo>, ApiError> {
    answer_cohost(&state, &session, &id, false).await
}

#[utoipa::path(post, path = "/api/v1/events/{id}/start", tag = "events", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 201, body = RoomInfo), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// A host starts the event's room: they are its first moderator, the other hosts come in as moderators,
/// and everyone who RSVPed is told.
pub async fn start_event(
    State(state): State<AppState>,
    session: Session,
    crate::client_ip::ClientAddr(ip): crate::client_ip::ClientAddr,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RoomInfo>), ApiError> {
    let me = session.account.id;
    let event = hosted_event(&state, me, &id).await?;
    if state_of(&state, &event, now()) != EventState::Scheduled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "event_not_scheduled",
            "This event has started, ended, was missed or was cancelled.",
        ));
    }
    let room = record_room(&state, me, ip, &event.title, event.visibility).await?;
    if !state.store.start_event(&event.id, &room).await? {
        // Another host started it a moment ago: this room never opens.
        state.store.end_room(&room).await?;
        return Err(ApiError::new(StatusCode::CONFLICT, "event_not_scheduled", "This event has just been started."));
    }
    let mut hosts: HashSet<UserId> = event.hosts.iter().filter(|(_, accepted)| *accepted).map(|(u, _)| u.id).collect();
    // A club's event: its room is the club's, with the club's admins among its moderators.
    let club = match &event.club {
        Some((id, handle, name)) => {
            hosts.extend(state.store.club_admins(*id).await?.into_iter().filter(|a| *a != me));
            Some(stoa_room::ClubTag { id: *id, handle: handle.clone(), name: name.clone() })
        }
        None => None,
    };
    let invited: HashSet<UserId> = if event.visibility == Visibility::Closed {
        let mut invited: HashSet<UserId> = state.store.event_invited(&event.id).await?.into_iter().collect();
        invited.extend(hosts.iter().copied());
        invited
    } else {
        HashSet::new()
    };
    // Those who RSVPed are told first, so that the followers' fan-out that follows skips them (nobody is
    // told twice about one room).
    let started = EventRow { room_id: Some(room.clone()), ..event.clone() };
    tell_rsvps(&state, &started, NotificationKind::EventStarted, me, &event.title);
    let info = open_room(
        &state,
        room.clone(),
        session.account.summary(),
        NewRoom {
            title: event.title.clone(),
            visibility: event.visibility,
            invited,
            hosts,
            outputs: Default::default(),
            club,
            e2ee: false,
        },
    );
    tracing::info!(event = %event.id, room = %room, by = %session.account.username, "event started");
    Ok((StatusCode::CREATED, Json(info)))
}

fn ics(body: String, filename: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[utoipa::path(get, path = "/api/v1/events/{id}/calendar.ics", tag = "events", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, content_type = "text/calendar", description = "The event as iCalendar (RFC 5545)"), (status = 404, body = ErrorBody)))]
/// One event as an iCalendar file, to add to a calendar.
pub async fn event_ics(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let event = visible_event(&state, session.account.id, &id).await?;
    Ok(ics(
        crate::ical::calendar(
            std::slice::from_ref(&event),
            &state.public_url,
            None,
            stoa_live::texts::Lang::stored(&session.account.language),
        ),
        &format!("stoa-{}.ics", event.id),
    ))
}

#[utoipa::path(post, path = "/api/v1/me/calendar", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = CalendarFeed), (status = 401, body = ErrorBody)))]
/// A new secret address for the caller's calendar feed (the events they host or RSVPed to); the previous
/// address stops working.
pub async fn new_feed(State(state): State<AppState>, session: Session) -> Result<Json<CalendarFeed>, ApiError> {
    let token = new_token()?;
    state.store.set_calendar_token(session.account.id, &token_hash(&token)).await?;
    let url = format!("{}/cal/{token}.ics", state.public_url.trim_end_matches('/'));
    let webcal_url = format!("webcal://{}", url.split("://").nth(1).unwrap_or(&url));
    Ok(Json(CalendarFeed { url, webcal_url }))
}

#[utoipa::path(delete, path = "/api/v1/me/calendar", tag = "events", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
/// Revokes the caller's calendar feed.
pub async fn revoke_feed(State(state): State<AppState>, session: Session) -> Result<StatusCode, ApiError> {
    state.store.revoke_calendar_token(session.account.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/cal/{file}", tag = "events",
    params(("file" = String, Path, description = "TOKEN.ics")),
    responses((status = 200, content_type = "text/calendar", description = "The feed as iCalendar (RFC 5545)"), (status = 404, body = ErrorBody)))]
/// A personal calendar feed, by its secret address: no session, so that calendar apps can subscribe.
/// Events that became hidden from its owner drop out of it.
pub async fn feed(State(state): State<AppState>, Path(file): Path<String>) -> Result<Response, ApiError> {
    let unknown = || ApiError::not_found("There is no such calendar; it may have been revoked.");
    let token = file.strip_suffix(".ics").ok_or_else(unknown)?;
    if token.is_empty() || token.len() > 128 {
        return Err(unknown());
    }
    let owner = state.store.calendar_owner(&token_hash(token)).await?.ok_or_else(unknown)?;
    let account = state.store.account(owner).await?.ok_or_else(unknown)?;
    let events = state.store.calendar_events(owner, now() - FEED_PAST_SECS).await?;
    // Written in its owner's language: a calendar app asks without one.
    let lang = stoa_live::texts::Lang::stored(&account.language);
    let name = stoa_live::texts::text(lang, "calendar.feed_name", &[("name", &account.display_name)], None);
    Ok(ics(crate::ical::calendar(&events, &state.public_url, Some(&name), lang), "stoa.ics"))
}
