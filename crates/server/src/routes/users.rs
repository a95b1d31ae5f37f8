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

/// A change of the caller's relation to another user.
#[derive(Debug, Clone, Copy)]
enum Relation {
    Follow,
    Unfollow,
    Block,
    Unblock,
}

/// Applies a relation change to `username` (never the caller themselves) and answers with their profile as
/// the caller now sees it.
async fn relate(
    state: &AppState,
    session: &Session,
    username: &str,
    relation: Relation,
) -> Result<Json<Profile>, ApiError> {
    let id = user_id(state, username).await?;
    let me = session.account.id;
    if id == me {
        let verb = format!("{relation:?}").to_lowercase();
        return Err(ApiError::bad_request("self", format!("You cannot {verb} yourself.")));
    }
    match relation {
        Relation::Follow => {
            if state.store.follow(me, id).await? {
                state.notifier.tell(stoa_store::NewNotification {
                    user: id,
                    kind: stoa_proto::NotificationKind::Followed,
                    actor: Some(me),
                    room: None,
                    event: None,
                    title: String::new(),
                    club: None,
                });
            }
        }
        Relation::Unfollow => state.store.unfollow(me, id).await?,
        Relation::Block => state.store.block(me, id).await?,
        Relation::Unblock => state.store.unblock(me, id).await?,
    }
    profile_of(state, me, username).await
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
    relate(&state, &session, &username, Relation::Follow).await
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
    relate(&state, &session, &username, Relation::Unfollow).await
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
    relate(&state, &session, &username, Relation::Block).await
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
    relate(&state, &session, &username, Relation::Unblock).await
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
    let page = state.store.followers(id, q.cursor, crate::routes::page_limit(q.limit)?).await?;
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
    let page = state.store.following(id, q.cursor, crate::routes::page_limit(q.limit)?).await?;
    Ok(Json(UserPage { users: page.users, next_cursor: page.next_cursor }))
}
