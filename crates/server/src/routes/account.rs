//! Account settings: the password, sessions, the export of one's data, and deleting the account.

use crate::AppState;
use crate::auth::{Session, hash_password, token_hash, verify_password};
use crate::error::{ApiError, ApiJson};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use stoa_proto::{AccountExport, ChangePasswordRequest, DeleteAccountRequest, ErrorBody, SessionList};
use stoa_store::StoreError;

/// The account settings routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/account/password", post(change_password))
        .route("/api/v1/account/sessions", get(sessions))
        .route("/api/v1/account/sessions/{id}", delete(revoke))
        .route("/api/v1/account/export", get(export))
        .route("/api/v1/account/delete", post(delete_account))
}

/// Checks the caller's password (on the hashing pool), answering 403 when it is wrong.
async fn check_password(state: &AppState, session: &Session, password: String) -> Result<(), ApiError> {
    let found = state.store.credentials(&session.account.username).await?;
    let hash = found.map(|(_, hash)| hash).unwrap_or_default();
    let ok = state.hashing.run(move || verify_password(&password, &hash)).await?;
    if ok { Ok(()) } else { Err(ApiError::forbidden("wrong_password", "That is not your current password.")) }
}

#[utoipa::path(post, path = "/api/v1/account/password", tag = "account", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Changes the password. Every other session of the caller is signed out; this one stays.
pub async fn change_password(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    // Guessing the current password here is as limited as at login.
    state.limiter.check_key(&format!("password:{}", session.account.id), 10)?;
    crate::routes::accounts::valid_password(&body.new_password)?;
    if body.current_password.chars().count() > stoa_proto::limits::PASSWORD.max {
        return Err(ApiError::forbidden("wrong_password", "That is not your current password."));
    }
    check_password(&state, &session, body.current_password).await?;
    let password = body.new_password;
    let hash = state.hashing.run(move || hash_password(&password)).await??;
    let revoked = state.store.set_password(session.account.id, &hash, &token_hash(&session.token)).await?;
    tracing::info!(user = %session.account.username, revoked, "password changed");
    // The other sessions' live sockets, streams and media sessions close too.
    state.notifier.hub.revoke_everywhere(session.account.id);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/account/sessions", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = SessionList), (status = 401, body = ErrorBody)))]
/// The caller's sessions: the device each signed in from, and when it was last used (to the hour).
pub async fn sessions(State(state): State<AppState>, session: Session) -> Result<Json<SessionList>, ApiError> {
    let sessions = state.store.sessions_of(session.account.id, &token_hash(&session.token)).await?;
    Ok(Json(SessionList { sessions }))
}

#[utoipa::path(delete, path = "/api/v1/account/sessions/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Signs one of the caller's sessions out.
pub async fn revoke(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if id.len() > 64 || !state.store.revoke_session(session.account.id, &id).await? {
        return Err(ApiError::not_found("There is no such session."));
    }
    state.notifier.hub.revoke_everywhere(session.account.id);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/account/export", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = AccountExport), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Everything of the caller's as one JSON file: the profile, follows, blocks, events, invites, chat
/// messages and reports filed.
pub async fn export(State(state): State<AppState>, session: Session) -> Result<Response, ApiError> {
    state.limiter.check_key(&format!("export:{}", session.account.id), 5)?;
    let mut export =
        state.store.export(session.account.id, crate::clock::now_secs()).await?.ok_or_else(ApiError::unauthorized)?;
    for invite in &mut export.invites {
        invite.url = state.invite_url(&invite.code);
    }
    export.clubs = crate::routes::clubs::club_list(state.store.clubs_of(session.account.id, true).await?).0.clubs;
    let me = session.account.id;
    for requests in [false, true] {
        let threads = state.store.threads_of(me, requests, 200).await?;
        export.threads.extend(threads.into_iter().map(crate::routes::backchannel::thread_view));
    }
    export.private_messages =
        state.store.own_messages(me).await?.into_iter().map(crate::routes::backchannel::message).collect();
    let mut response = Json(export).into_response();
    let name = format!("attachment; filename=\"stoa-{}.json\"", session.account.username);
    response
        .headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&name).map_err(ApiError::internal)?);
    Ok(response)
}

#[utoipa::path(post, path = "/api/v1/account/delete", tag = "account", security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Deletes the caller's account, after checking the password. Personal data is erased: the profile,
/// avatar, follows, blocks, RSVPs, notifications, push subscriptions, sessions, and chat messages (but
/// those an open report needs as context). Moderation records and reports keep an anonymous stand-in. The
/// caller leaves every live room as when leaving: a room they moderate hands over.
pub async fn delete_account(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<DeleteAccountRequest>,
) -> Result<Response, ApiError> {
    state.limiter.check_key(&format!("password:{}", session.account.id), 10)?;
    if body.password.chars().count() > stoa_proto::limits::PASSWORD.max {
        return Err(ApiError::forbidden("wrong_password", "That is not your current password."));
    }
    check_password(&state, &session, body.password).await?;
    let me = session.account.id;
    let files = state.store.delete_account(me).await.map_err(|e| match e {
        StoreError::LastAdmin => ApiError::new(
            StatusCode::CONFLICT,
            "last_admin",
            "You are this server's only admin: make someone else an admin first.",
        ),
        other => other.into(),
    })?;
    crate::routes::avatars::remove_files(&state, me).await;
    for file in files {
        crate::recordings::remove_file(&state, &file).await;
    }
    crate::community::throw_out(&state, me, "account_deleted", "This account was deleted.").await;
    tracing::info!(user = me.0, "account deleted");
    crate::routes::accounts::signed_out()
}
