//! The admin console's API: reports and their context, suspensions, ending any room, the tree of
//! invites, the live settings and the admins' log. For anyone but an admin, every route here answers 404,
//! as an address with nothing at it: the console's existence is not advertised.

use crate::AppState;
use crate::auth::Session;
use crate::error::{ApiError, ApiJson};
use crate::routes::moderation::valid_text;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use stoa_proto::{
    AdminLog, AdminRooms, AdminSettings, AdminUser, ErrorBody, ReportDetail, ReportList, ResolveReportRequest, RoomId,
    SuspendRequest, UserId,
};
use stoa_store::{REPORT_CONTEXT_MS, admin_action};

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/reports", get(reports))
        .route("/api/v1/admin/reports/{id}", get(report))
        .route("/api/v1/admin/reports/{id}/resolve", post(resolve))
        .route("/api/v1/admin/users/{username}", get(user))
        .route("/api/v1/admin/users/{username}/suspend", post(suspend))
        .route("/api/v1/admin/users/{username}/unsuspend", post(unsuspend))
        .route("/api/v1/admin/rooms", get(rooms))
        .route("/api/v1/admin/rooms/{id}/end", post(end_room))
        .route("/api/v1/admin/settings", get(settings).put(set_settings))
        .route("/api/v1/admin/log", get(log))
}

/// A signed-in admin. Anyone else, signed in or not, gets the 404 of an address with nothing at it.
pub struct Admin(pub Session);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Session::from_request_parts(parts, state).await {
            Ok(session) if session.account.is_admin => Ok(Admin(session)),
            _ => Err(nothing_here()),
        }
    }
}

fn nothing_here() -> ApiError {
    ApiError::not_found("There is nothing at this address.")
}

/// `?state=open|resolved&cursor=&limit=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReportsQuery {
    /// `open` (the default) or `resolved`.
    pub state: Option<String>,
    /// The last ID of the page before.
    pub cursor: Option<i64>,
    /// 1 to 200 (default 50).
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/admin/reports", tag = "admin", security(("bearer" = [])), params(ReportsQuery),
    responses((status = 200, body = ReportList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// The queue of reports, newest first: open ones, or resolved ones.
pub async fn reports(
    State(state): State<AppState>,
    _admin: Admin,
    Query(q): Query<ReportsQuery>,
) -> Result<Json<ReportList>, ApiError> {
    let open = match q.state.as_deref() {
        None | Some("open") => true,
        Some("resolved") => false,
        Some(_) => return Err(ApiError::bad_request("invalid_state", "The state is `open` or `resolved`.")),
    };
    let limit = crate::routes::page_limit(q.limit)?;
    let reports = state.store.reports(open, q.cursor, limit).await?;
    let next_cursor = (reports.len() == limit as usize).then(|| reports.last().map(|r| r.id)).flatten();
    Ok(Json(ReportList { reports, next_cursor }))
}

#[utoipa::path(get, path = "/api/v1/admin/reports/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = ReportDetail), (status = 404, body = ErrorBody)))]
/// A report with its context: the room's chat (deleted messages too) and moderation log from 10 minutes
/// before it to 10 minutes after, and the other reports on the same person.
pub async fn report(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<i64>,
) -> Result<Json<ReportDetail>, ApiError> {
    let report = state.store.report(id).await?.ok_or_else(|| ApiError::not_found("There is no such report."))?;
    let (from, to) = (report.created_at_ms - REPORT_CONTEXT_MS, report.created_at_ms + REPORT_CONTEXT_MS);
    let chat = match report.message_id {
        // A private message's report: the ten messages before and after it, as written.
        Some(message) => state
            .store
            .messages_around(message, 10)
            .await?
            .into_iter()
            .map(|m| stoa_proto::ChatRecord {
                user: m.sender,
                text: m.text,
                sent_at_ms: m.sent_at_ms,
                deleted_by: None,
            })
            .collect(),
        None => state.store.chat_log(&report.room_id, from, to, 2000).await?,
    };
    let moderation = state.store.moderation_log(&report.room_id, from, to, 1000).await?;
    let earlier_reports = match &report.target {
        Some(target) => {
            state.store.reports_against(target.id, 21).await?.into_iter().filter(|r| r.id != id).take(20).collect()
        }
        None => Vec::new(),
    };
    Ok(Json(ReportDetail { report, chat, moderation, earlier_reports }))
}

#[utoipa::path(post, path = "/api/v1/admin/reports/{id}/resolve", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ResolveReportRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Resolves an open report with a note of what was done.
pub async fn resolve(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<ResolveReportRequest>,
) -> Result<StatusCode, ApiError> {
    let note = valid_text(&body.note, 1, stoa_proto::limits::ADMIN_NOTE.max, "invalid_note", "A note")?;
    let report = state.store.report(id).await?.ok_or_else(|| ApiError::not_found("There is no such report."))?;
    if report.resolved_at_ms.is_some() || !state.store.resolve_report(id, Some(admin.account.id), &note).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "already_resolved", "This report is already resolved."));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A user by username (or a deleted account's `~deleted-ID`), 404 if none.
async fn user_named(state: &AppState, username: &str) -> Result<UserId, ApiError> {
    let name = username.trim().to_ascii_lowercase();
    if name.len() > 40 {
        return Err(ApiError::not_found("There is no such user."));
    }
    state.store.user_id_by_name(&name).await?.ok_or_else(|| ApiError::not_found("There is no such user."))
}

#[utoipa::path(get, path = "/api/v1/admin/users/{username}", tag = "admin", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = AdminUser), (status = 404, body = ErrorBody)))]
/// A person as the console shows them: whether they are suspended, the reports on them, and their place in
/// the tree of invites (who invited them, up to the first account, and whom they invited).
pub async fn user(
    State(state): State<AppState>,
    _admin: Admin,
    Path(username): Path<String>,
) -> Result<Json<AdminUser>, ApiError> {
    let id = user_named(&state, &username).await?;
    let user = state.store.admin_user(id).await?.ok_or_else(|| ApiError::not_found("There is no such user."))?;
    Ok(Json(user))
}

#[utoipa::path(post, path = "/api/v1/admin/users/{username}/suspend", tag = "admin", security(("bearer" = [])),
    params(("username" = String, Path)), request_body = SuspendRequest,
    responses((status = 200, body = AdminUser), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Suspends a user: they are signed out everywhere, thrown out of every live room (told why), and cannot
/// sign in; signing in tells them the reason.
pub async fn suspend(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(username): Path<String>,
    ApiJson(body): ApiJson<SuspendRequest>,
) -> Result<Json<AdminUser>, ApiError> {
    let reason = valid_text(&body.reason, 1, stoa_proto::limits::ADMIN_NOTE.max, "invalid_reason", "A reason")?;
    let id = user_named(&state, &username).await?;
    if id == admin.account.id {
        return Err(ApiError::bad_request("self", "You cannot suspend yourself."));
    }
    if !state.store.suspend(id, Some(admin.account.id), &reason).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "already_suspended", "This account is already suspended."));
    }
    state.admin_tail.poke();
    user(State(state), Admin(admin), Path(username)).await
}

#[utoipa::path(post, path = "/api/v1/admin/users/{username}/unsuspend", tag = "admin", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = AdminUser), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Lifts a suspension: the person can sign in again.
pub async fn unsuspend(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(username): Path<String>,
) -> Result<Json<AdminUser>, ApiError> {
    let id = user_named(&state, &username).await?;
    if !state.store.unsuspend(id, Some(admin.account.id)).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_suspended", "This account is not suspended."));
    }
    user(State(state), Admin(admin), Path(username)).await
}

#[utoipa::path(get, path = "/api/v1/admin/rooms", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AdminRooms), (status = 404, body = ErrorBody)))]
/// Every live room, hidden ones included, largest first.
pub async fn rooms(State(state): State<AppState>, _admin: Admin) -> Json<AdminRooms> {
    let mut rooms: Vec<_> = state.rooms.snapshots().iter().map(|s| s.info.clone()).collect();
    rooms.sort_by_key(|r| std::cmp::Reverse(r.listener_count + r.stage.len() as u32));
    Json(AdminRooms { rooms })
}

#[utoipa::path(post, path = "/api/v1/admin/rooms/{id}/end", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
/// Ends any live room. Everyone in it is told; the room's moderation log records the admin.
pub async fn end_room(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !RoomId::is_well_formed(&id) || state.rooms.get(&RoomId(id.clone())).is_none() {
        return Err(ApiError::no_such_room());
    }
    state.store.log_admin(Some(admin.account.id), admin_action::END_ROOM, &id, "").await?;
    state.admin_tail.poke();
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/admin/settings", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AdminSettings), (status = 404, body = ErrorBody)))]
/// The settings admins change live.
pub async fn settings(State(state): State<AppState>, _admin: Admin) -> Json<AdminSettings> {
    Json(state.live.get())
}

#[utoipa::path(put, path = "/api/v1/admin/settings", tag = "admin", security(("bearer" = [])),
    request_body = AdminSettings,
    responses((status = 200, body = AdminSettings), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Changes the live settings. They are kept in the database and beat the command-line flags from then
/// on. A new capacity applies to live rooms at once (those already in stay).
pub async fn set_settings(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<AdminSettings>,
) -> Result<Json<AdminSettings>, ApiError> {
    crate::community::valid_settings(&body).map_err(|m| ApiError::bad_request("invalid_settings", m))?;
    crate::community::save_settings(state.store.as_ref(), Some(admin.account.id), &body).await?;
    state.live.reload_now(state.store.as_ref()).await?;
    state.admin_tail.poke();
    Ok(Json(state.live.get()))
}

#[utoipa::path(get, path = "/api/v1/admin/log", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AdminLog), (status = 404, body = ErrorBody)))]
/// What admins did, newest first (the last 200).
pub async fn log(State(state): State<AppState>, _admin: Admin) -> Result<Json<AdminLog>, ApiError> {
    Ok(Json(AdminLog { entries: state.store.admin_log(200).await? }))
}
