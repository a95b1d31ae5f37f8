//! In a room: the moderation log for its moderators, and reports from its participants.

use crate::AppState;
use crate::auth::Session;
use crate::client_ip::ClientAddr;
use crate::error::{ApiError, ApiJson};
use crate::limits::HOUR;
use crate::live::{self, RoomReply, RoomRequest};
use crate::routes::rooms::visible_room;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use stoa_proto::{ErrorBody, ModerationLog, ReportReceipt, ReportRequest, RoomId};
use stoa_store::NewReport;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rooms/{id}/moderation", get(moderation_log))
        .route("/api/v1/rooms/{id}/reports", post(report))
}

/// Reports one person may file (or repeat) in an hour, and one address.
pub(crate) const REPORTS_PER_HOUR: u32 = stoa_store::REPORTS_PER_HOUR as u32;
pub(crate) const REPORTS_PER_ADDRESS_HOUR: u32 = 60;

/// Entries of a moderation log returned at most.
const LOG_LIMIT: u32 = 1000;

#[utoipa::path(get, path = "/api/v1/rooms/{id}/moderation", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ModerationLog), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// The room's moderation log, oldest first: for its moderators while it is live, and for admins always
/// (after it ended, too). Anyone else gets 404.
pub async fn moderation_log(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<ModerationLog>, ApiError> {
    let room = RoomId(id.clone());
    if !session.account.is_admin {
        let (_, snapshot) = visible_room(&state, &session, &id).await?;
        if !snapshot.access.moderators.contains(&session.account.id) {
            return Err(ApiError::no_such_room());
        }
    } else if !RoomId::is_well_formed(&id) {
        return Err(ApiError::no_such_room());
    }
    let entries = state.store.moderation_log(&room, 0, i64::MAX, LOG_LIMIT).await?;
    Ok(Json(ModerationLog { entries }))
}

/// Checks free text: at most `max` characters, no control characters but line breaks. Returns it trimmed.
pub(crate) fn valid_text(
    text: &str,
    min: usize,
    max: usize,
    code: &'static str,
    what: &str,
) -> Result<String, ApiError> {
    let text = text.trim();
    let len = text.chars().count();
    if len < min || len > max || text.chars().any(|c| c.is_control() && c != '\n') {
        let range = if min == 0 { format!("at most {max}") } else { format!("{min} to {max}") };
        return Err(ApiError::bad_request(code, format!("{what} has {range} characters, without control characters.")));
    }
    Ok(text.to_string())
}

#[utoipa::path(post, path = "/api/v1/rooms/{id}/reports", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReportRequest,
    responses((status = 201, body = ReportReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Reports a person in the room, or the room itself, to the server's admins. The caller must be in the
/// room, and so must the person reported. The report keeps the room's chat and moderation log from 10
/// minutes before it to 10 minutes after. With `block`, the caller also blocks the person. Reporting the
/// same person in the same room again, while the first report is open, returns that report and queues
/// nothing more; it still counts toward the hourly limit of 20 a person (and 60 an address).
pub async fn report(
    State(state): State<AppState>,
    session: Session,
    ClientAddr(ip): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReportRequest>,
) -> Result<(StatusCode, Json<ReportReceipt>), ApiError> {
    state.limiter.check_in(&format!("report:{}", session.account.id), REPORTS_PER_HOUR, HOUR)?;
    state.limiter.check_in(&format!("report-ip:{ip}"), REPORTS_PER_ADDRESS_HOUR, HOUR)?;
    let text = valid_text(&body.text, 0, stoa_proto::limits::REPORT_TEXT.max, "invalid_text", "A report's text")?;
    let me = session.account.id;
    if body.user_id == Some(me) {
        return Err(ApiError::bad_request("self", "You cannot report yourself."));
    }
    let (handle, _) = visible_room(&state, &session, &id).await?;
    let mut users = vec![me];
    users.extend(body.user_id);
    let Some(RoomReply::Present(present, title)) = live::ask(&handle.tx, RoomRequest::Present { users }).await else {
        return Err(ApiError::no_such_room());
    };
    if !present.contains(&me) {
        return Err(ApiError::forbidden("not_in_room", "Join the room to report in it."));
    }
    if let Some(target) = body.user_id
        && !present.contains(&target)
    {
        return Err(ApiError::bad_request("not_in_room", "That person is not in this room."));
    }
    let report = NewReport {
        reporter: me,
        room: RoomId(id),
        room_title: title,
        target: body.user_id,
        reason: body.reason,
        text,
        club: None,
        message: None,
    };
    let (report_id, new) = state.store.create_report(&report, crate::clock::now_ms()).await.map_err(|e| match e {
        stoa_store::StoreError::RateLimited => ApiError::rate_limited(3600),
        other => other.into(),
    })?;
    let blocked = match body.user_id {
        Some(target) if body.block => {
            state.store.block(me, target).await?;
            true
        }
        _ => false,
    };
    // A repeat is the first report: its window is already being taken, and nobody is told twice.
    if new {
        tracing::info!(report = report_id, reporter = ?session.account.username, "report filed");
        state.webhooks.emit(stoa_proto::HookData::ReportFiled {
            report: stoa_proto::HookReport {
                id: report_id,
                room_id: report.room.0.clone(),
                reason: body.reason,
                target: body.user_id,
            },
            reporter: stoa_proto::HookUser { id: me, username: session.account.username.clone() },
        });
        if let Some(egress) = handle.egress.clone() {
            crate::recordings::attach_report_window(
                &state,
                egress,
                report_id,
                report.room.clone(),
                report.room_title.clone(),
            );
        }
    }
    let message = if blocked {
        "Thanks for telling us. The server's admins will look at it, and you have blocked this person."
    } else {
        "Thanks for telling us. The server's admins will look at it."
    };
    Ok((StatusCode::CREATED, Json(ReportReceipt { id: report_id, blocked, message: message.to_string() })))
}
