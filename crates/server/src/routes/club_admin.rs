//! The server's admins and clubs: reports on clubs, every club listed (suspended ones included), and
//! suspensions. A suspended club is a 404 to everyone else, leaves search, suggestions and people's lists,
//! and its live rooms end (on whichever node runs them: the admins' log carries the suspension, as for a
//! person's).

use crate::AppState;
use crate::error::{ApiError, ApiJson};
use crate::routes::admin::Admin;
use crate::routes::moderation::valid_text;
use crate::routes::{CursorQuery, page_limit};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use stoa_proto::{AdminClub, AdminClubs, ClubReportRequest, ErrorBody, ReportReceipt, SuspendRequest};

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/clubs", get(clubs))
        .route("/api/v1/admin/clubs/{handle}/suspend", post(suspend))
        .route("/api/v1/admin/clubs/{handle}/unsuspend", post(unsuspend))
        .route("/api/v1/clubs/{handle}/reports", post(report))
}

#[utoipa::path(post, path = "/api/v1/clubs/{handle}/reports", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)), request_body = ClubReportRequest,
    responses((status = 201, body = ReportReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Reports a club to the server's admins. Reporting it again while the first report is open returns that
/// report; each counts toward the hourly limit of reports (20 a person, 60 an address).
pub async fn report(
    State(state): State<AppState>,
    session: crate::auth::Session,
    crate::client_ip::ClientAddr(ip): crate::client_ip::ClientAddr,
    Path(handle): Path<String>,
    ApiJson(body): ApiJson<ClubReportRequest>,
) -> Result<(StatusCode, Json<ReportReceipt>), ApiError> {
    use crate::routes::moderation::{REPORTS_PER_ADDRESS_HOUR, REPORTS_PER_HOUR};
    state.limiter.check_in(&format!("report:{}", session.account.id), REPORTS_PER_HOUR, crate::limits::HOUR)?;
    state.limiter.check_in(&format!("report-ip:{ip}"), REPORTS_PER_ADDRESS_HOUR, crate::limits::HOUR)?;
    let text = valid_text(&body.text, 0, stoa_proto::limits::REPORT_TEXT.max, "invalid_text", "A report's text")?;
    let club = club_named(&state, &handle).await?;
    if club.suspended.is_some() && !session.account.is_admin {
        return Err(ApiError::not_found("There is no such club."));
    }
    let report = stoa_store::NewReport {
        reporter: session.account.id,
        room: stoa_proto::RoomId(String::new()),
        room_title: club.name.clone(),
        target: None,
        reason: body.reason,
        text,
        club: Some(club.handle.clone()),
        message: None,
    };
    let (id, new) = state.store.create_report(&report, crate::clock::now_ms()).await.map_err(|e| match e {
        stoa_store::StoreError::RateLimited => ApiError::rate_limited(3600),
        other => other.into(),
    })?;
    if new {
        tracing::info!(report = id, club = %club.handle, "club reported");
    }
    let message = "Thanks for telling us. The server's admins will look at it.".to_string();
    Ok((StatusCode::CREATED, Json(ReportReceipt { id, blocked: false, message })))
}

fn admin_view(c: &stoa_store::ClubRow) -> AdminClub {
    AdminClub {
        club: crate::routes::clubs::summary(c),
        owner: c.owner.clone(),
        followers: c.followers,
        suspended: c.suspended.clone(),
        created_at: c.created_at,
    }
}

#[utoipa::path(get, path = "/api/v1/admin/clubs", tag = "admin", security(("bearer" = [])),
    params(CursorQuery),
    responses((status = 200, body = AdminClubs), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Every club, suspended ones included, newest first.
pub async fn clubs(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<CursorQuery>,
) -> Result<Json<AdminClubs>, ApiError> {
    let limit = page_limit(query.limit)?;
    let rows = state.store.all_clubs(query.cursor, limit).await?;
    let next_cursor = (rows.len() == limit as usize).then(|| rows.last().map(|c| c.id)).flatten();
    Ok(Json(AdminClubs { clubs: rows.iter().map(admin_view).collect(), next_cursor }))
}

async fn club_named(state: &AppState, handle: &str) -> Result<stoa_store::ClubRow, ApiError> {
    state
        .store
        .club(&handle.trim().to_ascii_lowercase())
        .await?
        .ok_or_else(|| ApiError::not_found("There is no such club."))
}

#[utoipa::path(post, path = "/api/v1/admin/clubs/{handle}/suspend", tag = "admin", security(("bearer" = [])),
    params(("handle" = String, Path)), request_body = SuspendRequest,
    responses((status = 200, body = AdminClub), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Suspends a club: it is hidden from everyone but the server's admins, and its live rooms end.
pub async fn suspend(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(handle): Path<String>,
    ApiJson(body): ApiJson<SuspendRequest>,
) -> Result<Json<AdminClub>, ApiError> {
    let reason = valid_text(&body.reason, 1, stoa_proto::limits::ADMIN_NOTE.max, "invalid_reason", "A reason")?;
    let club = club_named(&state, &handle).await?;
    if !state.store.suspend_club(club.id, Some(admin.account.id), Some(&reason)).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "already_suspended", "This club is already suspended."));
    }
    state.admin_tail.poke();
    tracing::info!(club = %club.handle, by = %admin.account.username, "club suspended");
    Ok(Json(admin_view(&club_named(&state, &handle).await?)))
}

#[utoipa::path(post, path = "/api/v1/admin/clubs/{handle}/unsuspend", tag = "admin", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = AdminClub), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Lifts a club's suspension.
pub async fn unsuspend(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(handle): Path<String>,
) -> Result<Json<AdminClub>, ApiError> {
    let club = club_named(&state, &handle).await?;
    if !state.store.suspend_club(club.id, Some(admin.account.id), None).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_suspended", "This club is not suspended."));
    }
    Ok(Json(admin_view(&club_named(&state, &handle).await?)))
}
