//! Personal access tokens: for bots, WHIP and scripts, so that they need no password. Each is named, has
//! scopes and maybe an expiry, is shown once and kept only as a hash, and can be revoked. Only a signed-in
//! session manages them (a token cannot make or list tokens).

use crate::AppState;
use crate::auth::{Session, new_api_token, token_hash};
use crate::error::{ApiError, ApiJson};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use stoa_proto::{CreateTokenRequest, ErrorBody, Scope, TokenCreated, TokenList};

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/tokens", post(create).get(list)).route("/api/v1/tokens/{id}", delete(revoke))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "account", security(("bearer" = [])),
    request_body = CreateTokenRequest,
    responses((status = 201, body = TokenCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Makes a personal access token. The secret is in this answer and nowhere else, ever.
pub async fn create(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<CreateTokenRequest>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    let name = crate::routes::moderation::valid_text(&body.name, 1, 50, "invalid_name", "A token's name")?;
    if body.scopes.is_empty() {
        return Err(ApiError::bad_request("invalid_scopes", "Give a token at least one scope."));
    }
    if body.scopes.contains(&Scope::Admin) && !session.account.is_admin {
        return Err(ApiError::forbidden("not_admin", "Only an admin can make a token with the `admin` scope."));
    }
    let expires_at = match body.expires_in_days {
        None => None,
        Some(days @ 1..=365) => Some(crate::clock::now_secs() + i64::from(days) * 86_400),
        Some(_) => return Err(ApiError::bad_request("invalid_expiry", "A token expires in 1 to 365 days.")),
    };
    let token = new_api_token()?;
    let info = state
        .store
        .create_api_token(session.account.id, &name, &token_hash(&token), &body.scopes, expires_at)
        .await
        .map_err(|e| match e {
            stoa_store::StoreError::RateLimited => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_tokens",
                format!("You have {} tokens; revoke one first.", stoa_store::TOKENS_PER_USER),
            ),
            other => other.into(),
        })?;
    tracing::info!(user = %session.account.username, token = info.id, "access token made");
    Ok((StatusCode::CREATED, Json(TokenCreated { info, token })))
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = TokenList), (status = 401, body = ErrorBody)))]
/// The caller's tokens, newest first, with their last use (never their secrets).
pub async fn list(State(state): State<AppState>, session: Session) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList { tokens: state.store.api_tokens_of(session.account.id).await? }))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Revokes one of the caller's tokens, at once.
pub async fn revoke(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let revoked = state.store.revoke_api_token(session.account.id, id).await?;
    if revoked {
        state.notifier.hub.revoke_everywhere(session.account.id);
    }
    if !revoked {
        return Err(ApiError::not_found("There is no such token."));
    }
    Ok(StatusCode::NO_CONTENT)
}
