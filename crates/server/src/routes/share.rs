//! Sharing: what an open room's, event's or club's link shows to anyone, signed in or not (a preview, "Sign
//! in to listen"), and the Open Graph and Twitter card tags that make the link unfold in chat apps. Hidden
//! rooms and events, clubs that are not open and suspended ones answer 404 here as everywhere, and their
//! pages carry no tags.

use crate::AppState;
use crate::clock::rfc3339;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use stoa_live::texts::{self, Lang};
use stoa_proto::{ErrorBody, EventId, Preview, RoomId, Visibility};

/// The sharing routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rooms/{id}/preview", get(room_preview))
        .route("/api/v1/events/{id}/preview", get(event_preview))
        .route("/api/v1/clubs/{handle}/preview", get(club_preview))
}

/// An open club's preview (anyone may join it); `None` for any other club, and a suspended one.
pub async fn club(state: &AppState, handle: &str) -> Result<Option<Preview>, ApiError> {
    if handle.len() > stoa_proto::limits::CLUB_HANDLE.max {
        return Ok(None);
    }
    let Some(club) = state.store.club(handle).await? else { return Ok(None) };
    if club.suspended.is_some() || club.policy != stoa_proto::ClubPolicy::Open {
        return Ok(None);
    }
    Ok(Some(Preview {
        title: club.name.clone(),
        description: club.description.clone(),
        people: vec![club.owner.clone()],
        listener_count: None,
        starts_at: None,
        url: format!("{}/c/{}", base(state), club.handle),
    }))
}

#[utoipa::path(get, path = "/api/v1/clubs/{handle}/preview", tag = "clubs",
    params(("handle" = String, Path)),
    responses((status = 200, body = Preview), (status = 404, body = ErrorBody)))]
/// An open club as its share link shows it to anyone: its name, description and owner. 404 for clubs that
/// take members by approval or invitation, and for suspended ones.
pub async fn club_preview(
    State(state): State<AppState>,
    Path(handle): Path<String>,
) -> Result<Json<Preview>, ApiError> {
    club(&state, &handle).await?.map(Json).ok_or_else(|| ApiError::not_found("There is no such club."))
}

fn base(state: &AppState) -> &str {
    state.public_url.trim_end_matches('/')
}

/// An open live room's preview; `None` for anything else.
pub fn room(state: &AppState, id: &str) -> Option<Preview> {
    if !RoomId::is_well_formed(id) {
        return None;
    }
    let handle = state.rooms.get(&RoomId(id.to_string()))?;
    let snapshot = handle.snapshot.borrow().clone();
    (snapshot.access.visibility == Visibility::Open).then(|| Preview {
        title: snapshot.info.title.clone(),
        description: String::new(),
        people: snapshot.info.stage.iter().map(|m| m.user.clone()).collect(),
        listener_count: Some(snapshot.info.listener_count),
        starts_at: None,
        url: format!("{}/room/{id}", base(state)),
    })
}

/// An open event's preview; `None` for anything else (cancelled ones too).
pub async fn event(state: &AppState, id: &str) -> Result<Option<Preview>, ApiError> {
    if !EventId::is_well_formed(id) {
        return Ok(None);
    }
    let Some(event) = state.store.open_event(&EventId(id.to_string())).await? else { return Ok(None) };
    if event.cancelled_at.is_some() {
        return Ok(None);
    }
    Ok(Some(Preview {
        title: event.title.clone(),
        description: event.description.clone(),
        people: event.hosts.iter().filter(|(_, accepted)| *accepted).map(|(u, _)| u.clone()).collect(),
        listener_count: None,
        starts_at: Some(rfc3339(event.starts_at)),
        url: format!("{}/event/{id}", base(state)),
    }))
}

#[utoipa::path(get, path = "/api/v1/rooms/{id}/preview", tag = "rooms",
    params(("id" = String, Path)),
    responses((status = 200, body = Preview), (status = 404, body = ErrorBody)))]
/// An open live room as its share link shows it to anyone, signed in or not: its title, stage and audience
/// size. 404 for every other room.
pub async fn room_preview(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Preview>, ApiError> {
    room(&state, &id).map(Json).ok_or_else(ApiError::no_such_room)
}

#[utoipa::path(get, path = "/api/v1/events/{id}/preview", tag = "events",
    params(("id" = String, Path)),
    responses((status = 200, body = Preview), (status = 404, body = ErrorBody)))]
/// An open event as its share link shows it to anyone: title, description, start and hosts. 404 for every
/// other event.
pub async fn event_preview(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Preview>, ApiError> {
    event(&state, &id).await?.map(Json).ok_or_else(|| ApiError::not_found("There is no such event."))
}

/// HTML-escapes text for an attribute value.
fn attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The Open Graph and Twitter card tags for a page, when it is an open room's, event's or club's, written in
/// `lang` (the asker's `Accept-Language`).
pub async fn meta_tags(state: &AppState, path: &str, lang: Lang) -> Option<String> {
    let preview = if let Some(id) = path.strip_prefix("/room/") {
        room(state, id)?
    } else if let Some(id) = path.strip_prefix("/event/") {
        event(state, id).await.ok().flatten()?
    } else if let Some(handle) = path.strip_prefix("/c/") {
        club(state, handle).await.ok().flatten()?
    } else {
        return None;
    };
    let people: Vec<&str> = preview.people.iter().map(|u| u.display_name.as_str()).collect();
    let people = texts::names(lang, &people);
    let description = match (&preview.starts_at, preview.listener_count) {
        (Some(at), _) => {
            let hosted = texts::text(lang, "event.hosted_by", &[("hosts", &people)], None);
            format!("{} · {hosted} · {at}", preview.description)
        }
        (None, Some(n)) => texts::text(lang, "share.live_with", &[("names", &people)], Some(u64::from(n))),
        (None, None) => format!("{} · {}", preview.description, texts::text(lang, "preview.club", &[], None)),
    };
    let description = description.trim_start_matches(" · ").to_string();
    let description: String = description.chars().take(300).collect();
    Some(format!(
        "<meta property=\"og:type\" content=\"website\" />\n    \
         <meta property=\"og:site_name\" content=\"Stoa\" />\n    \
         <meta property=\"og:locale\" content=\"{l}\" />\n    \
         <meta property=\"og:title\" content=\"{t}\" />\n    \
         <meta property=\"og:description\" content=\"{d}\" />\n    \
         <meta property=\"og:url\" content=\"{u}\" />\n    \
         <meta name=\"twitter:card\" content=\"summary\" />\n    \
         <meta name=\"twitter:title\" content=\"{t}\" />\n    \
         <meta name=\"twitter:description\" content=\"{d}\" />\n    ",
        t = attr(&preview.title),
        d = attr(&description),
        u = attr(&preview.url),
        l = match lang {
            Lang::En => "en_US",
            Lang::Ru => "ru_RU",
            Lang::Ar => "ar_AR",
        },
    ))
}
