//! The OpenAPI document, assembled from the handlers' `#[utoipa::path]` annotations and the proto types'
//! schemas, so that it cannot drift from the code.

use crate::routes::{
    account, accounts, admin, avatars, backchannel, club_admin, clubs, egress, events, meta, moderation, notifications,
    restream, rooms, search, share, tokens, transcripts, users, webhooks, webrtc,
};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Stoa's HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Stoa", description = "Live audio rooms. Authenticate with `Authorization: Bearer TOKEN` (a session token from sign-up or login, or a personal access token `stoa_pat_...` from `POST /api/v1/tokens`, limited to its scopes: `rooms:read` for reads, `rooms:write` for other writes, `listen` or `speak` for the room WebSocket, `admin` for the console) or the `stoa_session` cookie. Every error is `{\"error\":{\"code\",\"message\"}}`. The room WebSocket carries `ClientMessage` frames from the client and `ServerEvent` frames from the server; see docs/websocket.md."),
    paths(
        meta::health, meta::ready, openapi,
        accounts::signup, accounts::login, accounts::logout, accounts::logout_everywhere, accounts::me, accounts::update_me, accounts::ice_servers,
        accounts::create_invite, accounts::list_invites,
        users::profile, users::follow, users::unfollow, users::block, users::unblock, users::followers, users::following,
        rooms::create_room, rooms::hallway, rooms::room, rooms::audience, rooms::invite, rooms::ping, rooms::websocket,
        events::create_event, events::upcoming, events::event, events::update_event, events::cancel_event,
        events::rsvp, events::unrsvp, events::rsvps, events::accept_cohost, events::decline_cohost, events::start_event,
        events::event_ics, events::new_feed, events::revoke_feed, events::feed, events::hosted_by,
        notifications::list, notifications::mark_read, notifications::stream, notifications::subscribe,
        notifications::unsubscribe, notifications::settings, notifications::update_settings,
        search::search, search::suggestions,
        clubs::create_club, clubs::club, clubs::update_club, clubs::join, clubs::leave, clubs::follow, clubs::unfollow,
        clubs::members, clubs::requests, clubs::invitations, clubs::bans, clubs::answer_request, clubs::invite,
        clubs::withdraw_invitation, clubs::set_role, clubs::remove_member, clubs::ban, clubs::unban, clubs::transfer,
        backchannel::threads, backchannel::start, backchannel::thread, backchannel::messages, backchannel::send,
        backchannel::accept, backchannel::add_members, backchannel::decline, backchannel::leave, backchannel::mute, backchannel::read,
        backchannel::delete_message, backchannel::report,
        clubs::clubs_of_user, clubs::my_clubs, clubs::club_rooms, clubs::club_events, clubs::club_recordings, club_admin::clubs, club_admin::suspend, club_admin::unsuspend, club_admin::report,
        avatars::upload, avatars::remove, avatars::serve, avatars::upload_club, avatars::remove_club, avatars::serve_club,
        share::room_preview, share::event_preview, share::club_preview,
        moderation::moderation_log, moderation::report,
        account::change_password, account::sessions, account::revoke, account::export, account::delete_account,
        admin::reports, admin::report, admin::resolve, admin::user, admin::suspend, admin::unsuspend, admin::rooms,
        admin::end_room, admin::settings, admin::set_settings, admin::log,
        tokens::create, tokens::list, tokens::revoke,
        egress::listen_info, egress::playlist, egress::captioned, egress::subtitles, egress::segment, egress::make_clip,
        egress::room_recordings,
        egress::user_recordings, egress::recording, egress::delete_recording, egress::recording_audio,
        egress::report_audio, transcripts::transcript, restream::restream_status, restream::start_restream, restream::stop_restream,
        webhooks::create, webhooks::list, webhooks::remove, webhooks::deliveries,
        webrtc::whip, webrtc::whip_patch, webrtc::whip_delete, webrtc::whep, webrtc::whep_patch, webrtc::whep_delete,
    ),
    components(schemas(stoa_proto::ClientMessage, stoa_proto::ClientCommand, stoa_proto::ServerEvent, stoa_proto::E2eeMember)),
    modifiers(&BearerAuth, &Limits),
    tags((name = "accounts"), (name = "users"), (name = "rooms"), (name = "events"), (name = "clubs"), (name = "messages"), (name = "notifications"), (name = "search"), (name = "account"), (name = "admin"), (name = "listen"), (name = "recordings"), (name = "webrtc"), (name = "meta")),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token (sign-up, login) or a personal access token `stoa_pat_…` limited to its scopes",
                    ))
                    .build(),
            ),
        );
        // The browser's session: the same token in a cookie. Writes that carry it must come from the
        // server's own pages (their `Origin` is checked).
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "stoa_session",
                    "The web client's session; cross-site writes are refused",
                ),
            )),
        );
    }
}

/// Writes the limits the server enforces (`stoa_proto::limits`) into the schemas and parameters they apply
/// to, from the same constants, rather than restating them as literals in attributes.
struct Limits;

impl Modify for Limits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, Schema};
        let schemas = &mut openapi.components.get_or_insert_with(Default::default).schemas;
        for (schema, field, limit) in stoa_proto::limits::TEXT_FIELDS {
            let property = schemas.get_mut(*schema).and_then(|s| match s {
                RefOr::T(Schema::Object(object)) => object.properties.get_mut(*field),
                _ => None,
            });
            if let Some(RefOr::T(Schema::Object(property))) = property {
                property.min_length = (limit.min > 0).then_some(limit.min);
                property.max_length = Some(limit.max);
                property.pattern = limit.pattern.map(str::to_string);
            } else {
                tracing::error!(schema, field, "a limited field is missing from the OpenAPI document");
            }
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
            {
                for parameter in operation.parameters.iter_mut().flatten().filter(|p| p.name == "limit") {
                    if let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() {
                        schema.minimum = Some(1.into());
                        schema.maximum = Some(stoa_proto::limits::PAGE_MAX.into());
                    }
                }
            }
        }
    }
}

/// The route of the document.
pub fn router() -> Router<crate::AppState> {
    Router::new().route("/api/v1/openapi.json", get(openapi))
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "This document")))]
/// The OpenAPI 3 document of this API, generated from the code.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
