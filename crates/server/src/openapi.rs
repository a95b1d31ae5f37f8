//! The OpenAPI document, assembled from the handlers' `#[utoipa::path]` annotations and the proto types'
//! schemas, so that it cannot drift from the code.

use crate::routes::{accounts, meta, rooms, users};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Stoa's HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Stoa", description = "Live audio rooms. Authenticate with `Authorization: Bearer TOKEN` (from sign-up or login) or the `stoa_session` cookie. Every error is `{\"error\":{\"code\",\"message\"}}`. The room WebSocket carries `ClientMessage` frames from the client and `ServerEvent` frames from the server; see docs/websocket.md."),
    paths(
        meta::health, meta::openapi,
        accounts::signup, accounts::login, accounts::logout, accounts::logout_everywhere, accounts::me, accounts::update_me,
        accounts::create_invite, accounts::list_invites,
        users::profile, users::follow, users::unfollow, users::block, users::unblock, users::followers, users::following,
        rooms::create_room, rooms::hallway, rooms::room, rooms::audience, rooms::invite, rooms::websocket,
    ),
    components(schemas(stoa_proto::ClientMessage, stoa_proto::ClientCommand, stoa_proto::ServerEvent)),
    modifiers(&BearerAuth),
    tags((name = "accounts"), (name = "users"), (name = "rooms"), (name = "meta")),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
