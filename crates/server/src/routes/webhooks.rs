//! The admins' webhooks: register a URL for events, list them with their deliveries, remove them. For
//! anyone but an admin, every route here answers 404, like the rest of the console.

use crate::AppState;
use crate::error::{ApiError, ApiJson};
use crate::routes::admin::Admin;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use stoa_proto::{ErrorBody, NewWebhook, WEBHOOK_EVENTS, Webhook, WebhookDeliveries, WebhookList};
use stoa_store::admin_action;

/// Webhooks a server holds at most.
const MAX_WEBHOOKS: usize = 50;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/webhooks", get(list).post(create))
        .route("/api/v1/admin/webhooks/{id}", delete(remove))
        .route("/api/v1/admin/webhooks/{id}/deliveries", get(deliveries))
}

/// A webhook's URL: `http(s)://` with a host, no credentials, no spaces, at most 500 characters.
fn valid_url(url: &str) -> Result<String, ApiError> {
    let url = url.trim();
    let bad = || ApiError::bad_request("invalid_url", "A webhook's URL is http:// or https://, a host and a path.");
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).ok_or_else(bad)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if url.len() > 500
        || host.is_empty()
        || host.contains('@')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(url.to_string())
}

#[utoipa::path(post, path = "/api/v1/admin/webhooks", tag = "admin", security(("bearer" = [])), request_body = NewWebhook,
    responses((status = 201, body = Webhook, description = "With its signing secret, shown this once"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Registers a webhook for some events. Deliveries are JSON `{type, timestamp, data}` POSTs signed as
/// Standard Webhooks has it (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,…`, HMAC-SHA256
/// with the secret), retried with backoff for about a day.
pub async fn create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<NewWebhook>,
) -> Result<(StatusCode, Json<Webhook>), ApiError> {
    let url = valid_url(&body.url)?;
    let mut events: Vec<String> = Vec::new();
    for e in &body.events {
        if !WEBHOOK_EVENTS.contains(&e.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_event",
                format!("There is no event {e:?}; the events are {}.", WEBHOOK_EVENTS.join(", ")),
            ));
        }
        if !events.contains(e) {
            events.push(e.clone());
        }
    }
    if events.is_empty() {
        return Err(ApiError::bad_request("invalid_event", "Name at least one event."));
    }
    if state.store.webhooks().await?.len() >= MAX_WEBHOOKS {
        return Err(ApiError::bad_request(
            "too_many_webhooks",
            format!("A server holds at most {MAX_WEBHOOKS} webhooks."),
        ));
    }
    // An address inside the server's network is refused now, not at the first delivery (which checks again).
    state
        .webhooks
        .outbound()
        .client_for(&url)
        .await
        .map_err(|e| ApiError::bad_request("webhook_url_not_public", e.to_string()))?;
    let secret = crate::webhooks::new_secret().map_err(ApiError::internal)?;
    let hook = state.store.create_webhook(&url, &events, &secret, admin.account.id).await?;
    state.store.log_admin(Some(admin.account.id), admin_action::ADD_WEBHOOK, &hook.id.to_string(), &url).await?;
    tracing::info!(webhook = hook.id, %url, by = %admin.account.username, "webhook registered");
    Ok((StatusCode::CREATED, Json(hook)))
}

#[utoipa::path(get, path = "/api/v1/admin/webhooks", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = WebhookList), (status = 404, body = ErrorBody)))]
/// The registered webhooks (without their secrets).
pub async fn list(State(state): State<AppState>, _admin: Admin) -> Result<Json<WebhookList>, ApiError> {
    Ok(Json(WebhookList { webhooks: state.store.webhooks().await? }))
}

#[utoipa::path(delete, path = "/api/v1/admin/webhooks/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
/// Removes a webhook and its deliveries.
pub async fn remove(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if !state.store.delete_webhook(id).await? {
        return Err(ApiError::not_found("There is no such webhook."));
    }
    state.store.log_admin(Some(admin.account.id), admin_action::REMOVE_WEBHOOK, &id.to_string(), "").await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/admin/webhooks/{id}/deliveries", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = WebhookDeliveries), (status = 404, body = ErrorBody)))]
/// A webhook's last 100 deliveries, newest first, with their state and last error.
pub async fn deliveries(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<i64>,
) -> Result<Json<WebhookDeliveries>, ApiError> {
    if !state.store.webhooks().await?.iter().any(|w| w.id == id) {
        return Err(ApiError::not_found("There is no such webhook."));
    }
    Ok(Json(WebhookDeliveries { deliveries: state.store.deliveries(id, 100).await? }))
}
