//! The backchannel: private threads of two or of a small group. A message from someone the recipient does
//! not follow lands in their Requests; a block between two people keeps them from messaging each other,
//! from adding each other to a group, and from seeing each other in one. Every member's open tabs hear of a
//! new message at once, through the bell's stream (on any node: the hub tells the others).

use crate::AppState;
use crate::auth::Session;
use crate::error::{ApiError, ApiJson};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use stoa_proto::limits::{GROUP_MEMBERS, MESSAGE_TEXT};
use stoa_proto::{
    AddMembersRequest, ErrorBody, Message, MessagePage, MessageReportRequest, MuteRequest, NewThreadRequest,
    ReadUpToRequest, ReportReceipt, SendMessageRequest, Thread, ThreadList, UserId,
};
use stoa_store::{MessageRow, Refusal, ThreadAnswer, ThreadRow};

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/threads", get(threads).post(start))
        .route("/api/v1/threads/{id}", get(thread))
        .route("/api/v1/threads/{id}/messages", get(messages).post(send))
        .route("/api/v1/threads/{id}/accept", post(accept))
        .route("/api/v1/threads/{id}/members", post(add_members))
        .route("/api/v1/threads/{id}/decline", post(decline))
        .route("/api/v1/threads/{id}/leave", post(leave))
        .route("/api/v1/threads/{id}/mute", put(mute))
        .route("/api/v1/threads/{id}/read", post(read))
        .route("/api/v1/messages/{id}", delete(delete_message))
        .route("/api/v1/messages/{id}/reports", post(report))
}

pub(crate) fn message(m: MessageRow) -> Message {
    Message {
        id: m.id,
        thread_id: m.thread,
        sender: m.sender,
        text: m.text,
        sent_at_ms: m.sent_at_ms,
        deleted: m.deleted,
    }
}

pub(crate) fn thread_view(t: ThreadRow) -> Thread {
    Thread {
        id: t.id,
        group: t.group,
        members: t.members,
        last_message: t.last_message.map(message),
        unread: t.unread,
        muted: t.muted,
        request: t.request,
    }
}

fn no_such_thread() -> ApiError {
    ApiError::not_found("There is no such conversation.")
}

/// A message's text: 1 to 1,000 characters once trimmed; line breaks are kept, other control characters not.
fn valid_text(text: &str) -> Result<String, ApiError> {
    crate::routes::moderation::valid_text(text, MESSAGE_TEXT.min, MESSAGE_TEXT.max, "invalid_text", "A message")
}

fn refused(r: Refusal) -> ApiError {
    use stoa_store::{GROUPS_PER_PERSON, MESSAGES_PER_MINUTE, THREADS_PER_HOUR, THREADS_TO_STRANGERS_PER_HOUR};
    let many = |code, message: String| ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message).with_retry_after(60);
    match r {
        Refusal::Blocked => ApiError::forbidden("blocked", "You can't message this person."),
        Refusal::TooManyMessages => {
            many("too_many_messages", format!("You can send {MESSAGES_PER_MINUTE} messages a minute; wait a moment."))
        }
        Refusal::TooManyThreads => {
            many("too_many_threads", format!("You can start {THREADS_PER_HOUR} conversations an hour."))
        }
        Refusal::TooManyToStrangers => many(
            "too_many_requests",
            format!(
                "You can start {THREADS_TO_STRANGERS_PER_HOUR} conversations an hour with people who don't follow you."
            ),
        ),
        Refusal::TooManyGroups => ApiError::new(
            StatusCode::CONFLICT,
            "too_many_groups",
            format!("Someone in this group is in {GROUPS_PER_PERSON} groups already."),
        ),
        Refusal::NotInThread => no_such_thread(),
        Refusal::Frozen => ApiError::forbidden("frozen", "This conversation is frozen: the other person is suspended."),
        Refusal::GroupFull => {
            ApiError::new(StatusCode::CONFLICT, "group_full", format!("A group holds {GROUP_MEMBERS} people at most."))
        }
    }
}

/// Wakes the streams of a thread's members, on every node.
async fn tell(state: &AppState, thread: i64) {
    match state.store.thread_audience(thread).await {
        Ok(members) => {
            let users: Vec<UserId> = members.into_iter().map(|(u, _)| u).collect();
            state.notifier.hub.messaged_everywhere(&users);
        }
        Err(e) => tracing::warn!(thread, error = %e, "cannot tell a thread's members"),
    }
}

/// A new message: every member's streams wake, and those who did not mute the thread and have no tab open
/// get a push (by their settings), never its writer.
async fn tell_message(state: &AppState, m: &MessageRow) {
    match state.store.thread_audience(m.thread).await {
        Ok(members) => {
            let users: Vec<UserId> = members.iter().map(|(u, _)| *u).collect();
            state.notifier.hub.messaged_everywhere(&users);
            let pushed: Vec<UserId> =
                members.into_iter().filter(|(u, muted)| *u != m.sender.id && !muted).map(|(u, _)| u).collect();
            state.notifier.push_message(&pushed, m.sender.clone(), m.thread, &m.text);
        }
        Err(e) => tracing::warn!(thread = m.thread, error = %e, "cannot tell a thread's members"),
    }
}

/// `?requests=` or `?with=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ThreadsQuery {
    /// The caller's Requests instead of their inbox.
    #[serde(default)]
    pub requests: bool,
    /// Only the caller's thread of two with this person (by username), if there is one they are in.
    pub with: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/threads", tag = "messages", security(("bearer" = [])),
    params(ThreadsQuery),
    responses((status = 200, body = ThreadList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
/// The caller's conversations, the newest first (with `requests=true`, those waiting in their Requests; with
/// `with=USERNAME`, their conversation of two with that person, if any).
pub async fn threads(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ThreadsQuery>,
) -> Result<Json<ThreadList>, ApiError> {
    if let Some(name) = q.with {
        let me = session.account.id;
        let found =
            crate::routes::rooms::resolve_in_order(&state, &[name]).await.ok().and_then(|ids| ids.first().copied());
        let thread = match found {
            Some(other) => match state.store.pair_thread(me, other).await? {
                Some(id) => state.store.thread_of(me, id).await?,
                None => None,
            },
            None => None,
        };
        return Ok(Json(ThreadList { threads: thread.into_iter().map(thread_view).collect() }));
    }
    let rows = state.store.threads_of(session.account.id, q.requests, 100).await?;
    Ok(Json(ThreadList { threads: rows.into_iter().map(thread_view).collect() }))
}

#[utoipa::path(post, path = "/api/v1/threads", tag = "messages", security(("bearer" = [])),
    request_body = NewThreadRequest,
    responses((status = 201, body = Thread), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Writes to one person (in the one conversation of the two) or starts a group of up to ten, with a first
/// message. Someone who does not follow the caller finds it in their Requests.
pub async fn start(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<NewThreadRequest>,
) -> Result<(StatusCode, Json<Thread>), ApiError> {
    let me = session.account.id;
    let text = valid_text(&body.text)?;
    if body.usernames.is_empty() || body.usernames.len() > GROUP_MEMBERS - 1 {
        return Err(ApiError::bad_request(
            "invalid_members",
            format!("Write to one person, or to a group of up to {} others.", GROUP_MEMBERS - 1),
        ));
    }
    let mut others: Vec<UserId> = Vec::new();
    for id in crate::routes::rooms::resolve_in_order(&state, &body.usernames)
        .await
        .map_err(|_| ApiError::not_found("There is no such person to write to."))?
    {
        if id != me && !others.contains(&id) {
            others.push(id);
        }
    }
    if others.is_empty() {
        return Err(ApiError::bad_request("self", "Write to someone other than yourself."));
    }
    let now_ms = crate::clock::now_ms();
    let (thread, first) = state.store.start_thread(me, &others, &text, now_ms).await?.map_err(refused)?;
    tell_message(&state, &first).await;
    let view = state.store.thread_of(me, thread).await?.ok_or_else(no_such_thread)?;
    Ok((StatusCode::CREATED, Json(thread_view(view))))
}

#[utoipa::path(get, path = "/api/v1/threads/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Thread), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// One conversation of the caller's: 404 for any other, and for one they left or declined.
pub async fn thread(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
) -> Result<Json<Thread>, ApiError> {
    let row = state.store.thread_of(session.account.id, id).await?.ok_or_else(no_such_thread)?;
    Ok(Json(thread_view(row)))
}

/// `?before=&limit=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MessagesQuery {
    /// The `next_before` of the previous page.
    pub before: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/threads/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path), MessagesQuery),
    responses((status = 200, body = MessagePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// A conversation's messages, the newest first (never those of someone the caller blocks or who blocks
/// them).
pub async fn messages(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    Query(q): Query<MessagesQuery>,
) -> Result<Json<MessagePage>, ApiError> {
    let limit = crate::routes::page_limit(q.limit)?;
    let rows = state.store.messages_of(session.account.id, id, q.before, limit).await?.ok_or_else(no_such_thread)?;
    let next_before = (rows.len() == limit as usize).then(|| rows.last().map(|m| m.id)).flatten();
    Ok(Json(MessagePage { messages: rows.into_iter().map(message).collect(), next_before }))
}

#[utoipa::path(post, path = "/api/v1/threads/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SendMessageRequest,
    responses((status = 201, body = Message), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Writes in a conversation (from Requests, this accepts it). 30 messages a minute.
pub async fn send(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<SendMessageRequest>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let text = valid_text(&body.text)?;
    let sent =
        state.store.send_message(id, session.account.id, &text, crate::clock::now_ms()).await?.map_err(refused)?;
    tell_message(&state, &sent).await;
    Ok((StatusCode::CREATED, Json(message(sent))))
}

async fn answer(state: &AppState, session: &Session, id: i64, answer: ThreadAnswer) -> Result<StatusCode, ApiError> {
    if !state.store.answer_thread(session.account.id, id, answer).await? {
        return Err(no_such_thread());
    }
    state.notifier.hub.messaged_everywhere(&[session.account.id]);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/threads/{id}/members", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = AddMembersRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Adds people to a group the caller is in (ten members at most). Each finds it in their Requests unless they
/// follow the caller, and reads only what is written after.
pub async fn add_members(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<AddMembersRequest>,
) -> Result<StatusCode, ApiError> {
    if body.usernames.is_empty() || body.usernames.len() > GROUP_MEMBERS {
        return Err(ApiError::bad_request("invalid_members", format!("Add 1 to {} people.", GROUP_MEMBERS - 1)));
    }
    let people = crate::routes::rooms::resolve_in_order(&state, &body.usernames)
        .await
        .map_err(|_| ApiError::not_found("There is no such person to add."))?;
    state.store.add_to_group(id, session.account.id, &people, crate::clock::now_ms()).await?.map_err(refused)?;
    tell(&state, id).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/threads/{id}/accept", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Takes a conversation from the caller's Requests into their inbox.
pub async fn accept(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    answer(&state, &session, id, ThreadAnswer::Accept).await
}

#[utoipa::path(post, path = "/api/v1/threads/{id}/decline", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Drops a conversation from the caller's Requests. Its writer is not told.
pub async fn decline(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    answer(&state, &session, id, ThreadAnswer::Decline).await
}

#[utoipa::path(post, path = "/api/v1/threads/{id}/leave", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Leaves a group: its messages are no longer the caller's to read.
pub async fn leave(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    answer(&state, &session, id, ThreadAnswer::Leave).await
}

#[utoipa::path(put, path = "/api/v1/threads/{id}/mute", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = MuteRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Mutes a conversation for the caller (no count, no push), or unmutes it.
pub async fn mute(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<MuteRequest>,
) -> Result<StatusCode, ApiError> {
    if !state.store.mute_thread(session.account.id, id, body.muted).await? {
        return Err(no_such_thread());
    }
    state.notifier.hub.messaged_everywhere(&[session.account.id]);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/threads/{id}/read", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ReadUpToRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// The caller read a conversation up to a message: its count falls in every one of their tabs.
pub async fn read(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<ReadUpToRequest>,
) -> Result<StatusCode, ApiError> {
    state.store.thread_of(session.account.id, id).await?.ok_or_else(no_such_thread)?;
    if state.store.read_thread(session.account.id, id, body.up_to).await? {
        state.notifier.hub.messaged_everywhere(&[session.account.id]);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/messages/{id}/reports", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = MessageReportRequest,
    responses((status = 201, body = ReportReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Reports a private message the caller can read to the server's admins, who see it with the ten messages
/// before and after it (as written, even if deleted since). With `block`, the caller also blocks its writer.
/// Within the reports' hourly limits; reporting it again while the first report is open returns that one.
pub async fn report(
    State(state): State<AppState>,
    session: Session,
    crate::client_ip::ClientAddr(ip): crate::client_ip::ClientAddr,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<MessageReportRequest>,
) -> Result<(StatusCode, Json<ReportReceipt>), ApiError> {
    use crate::routes::moderation::{REPORTS_PER_ADDRESS_HOUR, REPORTS_PER_HOUR};
    let me = session.account.id;
    state.limiter.check_in(&format!("report:{me}"), REPORTS_PER_HOUR, crate::limits::HOUR)?;
    state.limiter.check_in(&format!("report-ip:{ip}"), REPORTS_PER_ADDRESS_HOUR, crate::limits::HOUR)?;
    let text = crate::routes::moderation::valid_text(
        &body.text,
        0,
        stoa_proto::limits::REPORT_TEXT.max,
        "invalid_text",
        "A report's text",
    )?;
    let message =
        state.store.visible_message(me, id).await?.ok_or_else(|| ApiError::not_found("There is no such message."))?;
    if message.sender.id == me {
        return Err(ApiError::bad_request("self", "You cannot report your own message."));
    }
    let report = stoa_store::NewReport {
        reporter: me,
        room: stoa_proto::RoomId(String::new()),
        room_title: "A private message".into(),
        target: Some(message.sender.id),
        reason: body.reason,
        text,
        club: None,
        message: Some(id),
    };
    let (report_id, _) = state.store.create_report(&report, crate::clock::now_ms()).await.map_err(|e| match e {
        stoa_store::StoreError::RateLimited => ApiError::rate_limited(3600),
        other => other.into(),
    })?;
    if body.block {
        state.store.block(me, message.sender.id).await?;
    }
    let message = if body.block {
        "Thanks for telling us. The server's admins will look at it, and you have blocked this person."
    } else {
        "Thanks for telling us. The server's admins will look at it."
    };
    Ok((StatusCode::CREATED, Json(ReportReceipt { id: report_id, blocked: body.block, message: message.to_string() })))
}

#[utoipa::path(delete, path = "/api/v1/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Deletes one of the caller's own messages, for everyone.
pub async fn delete_message(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let thread = state
        .store
        .delete_message(session.account.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("There is no such message of yours."))?;
    tell(&state, thread).await;
    Ok(StatusCode::NO_CONTENT)
}
