//! The server's own endpoints: health and the OpenAPI document.

use crate::AppState;
use crate::auth::token_hash;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use stoa_proto::Health;
use utoipa::OpenApi;

/// The meta routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(health)).route("/api/v1/openapi.json", get(openapi))
}

#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = Health)))]
/// Whether the server is up. An admin (an account made with `stoa admin invite`) also gets how many rooms
/// and media connections are live; nobody else does, so that no count reveals a hidden room.
pub async fn health(State(state): State<AppState>, headers: HeaderMap) -> Json<Health> {
    let admin = match crate::auth::request_token(&headers) {
        Some(token) => {
            state.store.session_account(&token_hash(&token)).await.ok().flatten().is_some_and(|a| a.is_admin)
        }
        None => false,
    };
    Json(Health {
        status: "ok".into(),
        live_rooms: admin.then(|| state.rooms.len() as u32),
        media_peers: admin.then(|| state.sfu.peer_count() as u32),
    })
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "This document")))]
/// The OpenAPI 3 document of this API, generated from the code.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::ApiDoc::openapi())
}
