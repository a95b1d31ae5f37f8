//! Profiles and the social graph: follow, block, and the follower and following lists.

use crate::AppState;
use crate::auth::Session;
use crate::error::ApiError;
use crate::routes::CursorQuery;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use stoa_proto::{ErrorBody, Profile, UserId, UserPage};

/// The users routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users/{username}", get(profile))
        .route("/api/v1/users/{username}/follow", post(follow).delete(unfollow))
        .route("/api/v1/users/{username}/block", post(block).delete(unblock))
        .route("/api/v1/users/{username}/followers", get(followers))
        .route("/api/v1/users/{username}/following", get(following))
}

/// The ID of a user by username, or 404.
async fn user_id(state: &AppState, username: &str) -> Result<UserId, ApiError> {
    let name = username.to_ascii_lowercase();
    state
        .store
        .resolve_usernames(std::slice::from_ref(&name))
        .await?
        .first()
        .map(|u| u.id)
        .ok_or_else(|| ApiError::not_found("There is no such user."))
}

async fn profile_of(state: &AppState, viewer: UserId, username: &str) -> Result<Json<Profile>, ApiError> {
    let name = username.to_ascii_lowercase();
    state.store.profile(viewer, &name).await?.map(Json).ok_or_else(|| ApiError::not_found("There is no such user."))
}

/// Resolves the target of a follow or block, refusing the caller themselves.
async fn other_user(state: &AppState, session: &Session, username: &str, verb: &str) -> Result<UserId, ApiError> {
    let id = user_id(state, username).await?;
    if id == session.account.id {
        return Err(ApiError::bad_request("self", format!("You cannot {verb} yourself.")));
    }
    Ok(id)
}

#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = Profile), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// A user's profile, with whether the caller follows or blocks them.
pub async fn profile(
    State(state): State<AppState>,
    session: Session,
    Path(username): Path<String>,
) -> Result<Json<Profile>, ApiError> {
    profile_of(&state, session.account.id, &username).await
}

#[utoipa::path(post, path = "/api/v1/users/{username}/follow", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = Profile), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Follows a user. Refused when either blocks the other.
pub async fn follow(
    State(state): State<AppState>,
    session: Session,
    Path(username): Path<String>,
) -> Result<Json<Profile>, ApiError> {
    let id = other_user(&state, &session, &username, "follow").await?;
    state.store.follow(session.account.id, id).await?;
    profile_of(&state, session.account.id, &username).await
}

#[utoipa::path(delete, path = "/api/v1/users/{username}/follow", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = Profile), (status = 404, body = ErrorBody)))]
/// Stops following a user.
pub async fn unfollow(
    State(state): State<AppState>,
    session: Session,
    Path(username): Path<String>,
) -> Result<Json<Profile>, ApiError> {
    let id = other_user(&state, &session, &username, "unfollow").await?;
    state.store.unfollow(session.account.id, id).await?;
    profile_of(&state, session.account.id, &username).await
}

#[utoipa::path(post, path = "/api/v1/users/{username}/block", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = Profile), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Blocks a user: the follows between the two go, and they can no longer follow the caller, see rooms the
/// caller moderates, or join them.
pub async fn block(
    State(state): State<AppState>,
    session: Session,
    Path(username): Path<String>,
) -> Result<Json<Profile>, ApiError> {
    let id = other_user(&state, &session, &username, "block").await?;
    state.store.block(session.account.id, id).await?;
    profile_of(&state, session.account.id, &username).await
}

#[utoipa::path(delete, path = "/api/v1/users/{username}/block", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = Profile), (status = 404, body = ErrorBody)))]
/// Unblocks a user. Follows removed by the block are not restored.
pub async fn unblock(
    State(state): State<AppState>,
    session: Session,
    Path(username): Path<String>,
) -> Result<Json<Profile>, ApiError> {
    let id = other_user(&state, &session, &username, "unblock").await?;
    state.store.unblock(session.account.id, id).await?;
    profile_of(&state, session.account.id, &username).await
}

#[utoipa::path(get, path = "/api/v1/users/{username}/followers", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path), CursorQuery),
    responses((status = 200, body = UserPage), (status = 404, body = ErrorBody)))]
/// Who follows a user, newest first, a page at a time.
pub async fn followers(
    State(state): State<AppState>,
    _session: Session,
    Path(username): Path<String>,
    Query(q): Query<CursorQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let id = user_id(&state, &username).await?;
    let page = state.store.followers(id, q.cursor, q.limit.unwrap_or(50)).await?;
    Ok(Json(UserPage { users: page.users, next_cursor: page.next_cursor }))
}

#[utoipa::path(get, path = "/api/v1/users/{username}/following", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path), CursorQuery),
    responses((status = 200, body = UserPage), (status = 404, body = ErrorBody)))]
/// Whom a user follows, newest first, a page at a time.
pub async fn following(
    State(state): State<AppState>,
    _session: Session,
    Path(username): Path<String>,
    Query(q): Query<CursorQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let id = user_id(&state, &username).await?;
    let page = state.store.following(id, q.cursor, q.limit.unwrap_or(50)).await?;
    Ok(Json(UserPage { users: page.users, next_cursor: page.next_cursor }))
}
