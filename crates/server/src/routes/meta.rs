//! The server's own endpoints: health and the OpenAPI document.

use crate::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use stoa_proto::Health;
use utoipa::OpenApi;

/// The meta routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(health)).route("/api/v1/openapi.json", get(openapi))
}

#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = Health)))]
/// Whether the server is up, and how many rooms are live.
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        live_rooms: state.rooms.len() as u32,
        media_peers: state.sfu.peer_count() as u32,
    })
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "This document")))]
/// The OpenAPI 3 document of this API, generated from the code.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::ApiDoc::openapi())
}
