//! The server's own endpoints: health and readiness.

use crate::AppState;
use crate::auth::token_hash;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use stoa_proto::{Health, Ready};

/// The meta routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(health)).route("/readyz", get(ready))
}

#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, body = Health), (status = 503, description = "The store or a media shard is down", body = Health)))]
/// Whether the server is up and whole: the store answers and every media shard runs. An admin (an account
/// made with `stoa admin invite`) also gets the details and how many rooms and media connections are live;
/// nobody else does, so that no count reveals a hidden room.
pub async fn health(State(state): State<AppState>, headers: HeaderMap) -> (StatusCode, Json<Health>) {
    let admin = match crate::auth::request_token(&headers) {
        Some(token) => {
            state.store.session_account(&token_hash(&token)).await.ok().flatten().is_some_and(|a| a.is_admin)
        }
        None => false,
    };
    let store_ok = state.store.setting(crate::PUBLIC_URL_SETTING).await.is_ok();
    let (shards, running) = (state.sfu.shard_count(), state.sfu.shards_running());
    let nats_ok = state.cluster.as_ref().is_none_or(|c| c.connected());
    let whole = store_ok && running == shards && nats_ok;
    let health = Health {
        status: if whole { "ok" } else { "degraded" }.into(),
        live_rooms: admin.then(|| state.rooms.local_len() as u32),
        media_peers: admin.then(|| state.sfu.peer_count() as u32),
        store: admin.then(|| if store_ok { "ok" } else { "unavailable" }.into()),
        media_shards: admin.then_some(shards as u32),
        media_shards_running: admin.then_some(running as u32),
        cluster: state.cluster.as_ref().filter(|_| admin).map(|c| stoa_proto::ClusterHealth {
            node: c.node().to_string(),
            nats: if nats_ok { "ok" } else { "unavailable" }.into(),
            nodes: c.nodes(),
            refused: c.refused(),
        }),
    };
    (if whole { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(health))
}

#[utoipa::path(get, path = "/readyz", tag = "meta",
    responses((status = 200, body = Ready), (status = 503, description = "The server is stopping", body = Ready)))]
/// Whether the server takes new traffic, for a load balancer: false from the moment it begins to stop.
/// (While it starts, nothing listens yet.)
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Ready>) {
    let ready = !*state.stopping.borrow();
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(Ready { ready }))
}
