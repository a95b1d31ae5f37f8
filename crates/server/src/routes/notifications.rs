//! Notifications: the list, marking read, the per-user stream (Server-Sent Events) behind the bell, and
//! web push subscriptions and settings.

use crate::AppState;
use crate::auth::Session;
use crate::error::{ApiError, ApiJson};
use crate::notify::to_wire;
use crate::routes::CursorQuery;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures_util::Stream;
use std::convert::Infallible;
use std::time::Duration;
use stoa_proto::{
    ErrorBody, MarkReadRequest, NotificationKind, NotificationPage, NotificationUpdate, PushKindSetting, PushSettings,
    PushSubscriptionRequest, UpdatePushSettings, UserId,
};
use stoa_store::{PushTarget, Store};

/// The notifications routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/notifications", get(list))
        .route("/api/v1/notifications/read", post(mark_read))
        .route("/api/v1/notifications/stream", get(stream))
        .route("/api/v1/push/subscriptions", post(subscribe).delete(unsubscribe))
        .route("/api/v1/push/settings", put(update_settings).get(settings))
}

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])),
    params(CursorQuery),
    responses((status = 200, body = NotificationPage), (status = 401, body = ErrorBody)))]
/// The caller's notifications, newest first, a page at a time, with the unread count.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<CursorQuery>,
) -> Result<Json<NotificationPage>, ApiError> {
    let me = session.account.id;
    let limit = crate::routes::page_limit(q.limit)?;
    let rows = state.store.notifications(me, q.cursor, limit + 1).await?;
    let more = rows.len() > limit as usize;
    let rows = &rows[..rows.len().min(limit as usize)];
    Ok(Json(NotificationPage {
        notifications: rows.iter().map(to_wire).collect(),
        unread: state.store.unread_count(me).await?,
        next_cursor: if more { rows.last().map(|r| r.id) } else { None },
    }))
}

#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications", security(("bearer" = [])),
    request_body = MarkReadRequest,
    responses((status = 200, body = NotificationUpdate), (status = 400, body = ErrorBody)))]
/// Marks notifications read: some by ID, all up to an ID, or all; answers with the new unread count.
pub async fn mark_read(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<MarkReadRequest>,
) -> Result<Json<NotificationUpdate>, ApiError> {
    let me = session.account.id;
    if body.ids.len() > stoa_proto::limits::PAGE_MAX as usize {
        return Err(ApiError::bad_request("too_many_ids", "Mark at most 200 notifications at once."));
    }
    if state.store.mark_read(me, &body.ids, body.up_to).await? > 0 {
        state.notifier.hub.changed(me);
    }
    Ok(Json(update_of(&*state.store, me).await?))
}

async fn update_of(store: &dyn Store, user: UserId) -> Result<NotificationUpdate, stoa_store::StoreError> {
    let latest = store.notifications(user, None, 1).await?;
    let (unread_threads, requests) = store.inbox_counts(user).await?;
    Ok(NotificationUpdate {
        unread: store.unread_count(user).await?,
        latest: latest.first().map(to_wire),
        messages: stoa_proto::InboxCounts { unread_threads, requests },
    })
}

#[utoipa::path(get, path = "/api/v1/notifications/stream", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream", description = "`update` events, each a NotificationUpdate: one at once, then one at every change; and a `message` event, a Message, for each private message sent (or deleted) in the caller's conversations since the stream opened"), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// The bell's live stream (Server-Sent Events): an `update` event with the unread count, the newest
/// notification and the backchannel's counts when it opens and whenever they change, and before it a
/// `message` event for each new or deleted message in the caller's conversations, so that an open tab shows
/// it without asking. Changes that come in a burst are one wake.
pub async fn stream(
    State(state): State<AppState>,
    session: Session,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    use futures_util::StreamExt;
    let me = session.account.id;
    let subscription = state.notifier.hub.subscribe(me).ok_or_else(|| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            "You have notifications open in too many tabs; close one and try again.",
        )
    })?;
    let store = state.store.clone();
    let stopping = state.stopping.clone();
    // Ends the stream, with a last `revoked` event that says why, when its credential is revoked.
    let credential = Some(state.notifier.hub.revocations.watch(session.credential(), store.clone()));
    let told = Told::new(crate::clock::now_ms());
    let events = futures_util::stream::unfold(
        (subscription, store, stopping, true, credential, told),
        move |(mut subscription, store, mut stopping, first, mut credential, mut told)| async move {
            let watch = credential.as_mut()?;
            if !first && !told.more {
                let revoked = tokio::select! {
                    changed = subscription.receiver().changed() => { changed.ok()?; None }
                    _ = stopping.wait_for(|s| *s) => return None,
                    why = watch.revoked() => Some(why),
                };
                if let Some(why) = revoked {
                    let event = Event::default()
                        .event("revoked")
                        .json_data(serde_json::json!({"reason": why.reason, "message": why.message}))
                        .unwrap_or_default();
                    return Some((vec![Ok(event)], (subscription, store, stopping, false, None, told)));
                }
                // A burst of changes (a fan-out batch, marking read) settles into one wake.
                tokio::time::sleep(Duration::from_millis(50)).await;
                subscription.receiver().borrow_and_update();
            }
            let mut events = if first { Vec::new() } else { told.news(&*store, me).await };
            events.push(match update_of(&*store, me).await {
                Ok(update) => Event::default().event("update").json_data(update).unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read notifications for a stream");
                    Event::default().comment("unavailable")
                }
            });
            Some((
                events.into_iter().map(Ok).collect::<Vec<_>>(),
                (subscription, store, stopping, false, credential, told),
            ))
        },
    )
    .flat_map(futures_util::stream::iter);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(25))))
}

/// What a stream has told of the backchannel: it asks the store for what was sent or deleted since its last
/// look, less [`LOOK_BACK_MS`], and drops what it already told, so that a message committed late or stamped
/// by another node's clock still arrives, once.
struct Told {
    since_ms: i64,
    /// What the looks may still bring again, told already: each message's ID, whether it was told deleted,
    /// and its time (when sent; when told, for a deletion). At most [`TOLD_MAX`].
    recent: std::collections::VecDeque<(i64, bool, i64)>,
    /// The last look was cut at [`NEWS_PER_WAKE`]: look again at once.
    more: bool,
}

const LOOK_BACK_MS: i64 = 3_000;
const NEWS_PER_WAKE: u32 = 100;
const TOLD_MAX: usize = 2_000;

impl Told {
    fn new(now_ms: i64) -> Told {
        Told { since_ms: now_ms, recent: std::collections::VecDeque::new(), more: false }
    }

    async fn news(&mut self, store: &dyn Store, me: UserId) -> Vec<Event> {
        let now = crate::clock::now_ms();
        let from = self.since_ms - LOOK_BACK_MS;
        let news = match store.thread_news(me, from, NEWS_PER_WAKE).await {
            Ok(news) => news,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a stream's messages");
                return Vec::new();
            }
        };
        self.more = news.len() >= NEWS_PER_WAKE as usize;
        // Cut short: go on from the last one's time (what is told again is dropped below).
        self.since_ms = if self.more { news.last().map_or(now, |m| m.sent_at_ms + LOOK_BACK_MS) } else { now };
        // A message sent before `from` is not asked for again; a deletion, stamped when it happened, not
        // after it was told, is kept one look-back longer.
        self.recent.retain(|(_, deleted, at)| if *deleted { *at >= from - LOOK_BACK_MS } else { *at >= from });
        let mut events = Vec::new();
        for m in news {
            if self.recent.iter().any(|(id, deleted, _)| *id == m.id && *deleted == m.deleted) {
                continue;
            }
            if self.recent.len() >= TOLD_MAX {
                self.recent.pop_front();
            }
            self.recent.push_back((m.id, m.deleted, if m.deleted { now } else { m.sent_at_ms }));
            events
                .push(Event::default().event("message").json_data(super::backchannel::message(m)).unwrap_or_default());
        }
        events
    }
}

#[utoipa::path(post, path = "/api/v1/push/subscriptions", tag = "notifications", security(("bearer" = [])),
    request_body = PushSubscriptionRequest,
    responses((status = 201), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
/// Subscribes this browser to web push (the body is `PushSubscription.toJSON()`).
pub async fn subscribe(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<PushSubscriptionRequest>,
) -> Result<StatusCode, ApiError> {
    state.notifier.push.check(&body).map_err(|e| ApiError::bad_request("invalid_subscription", e.to_string()))?;
    // A person has a few browsers, not hundreds: the oldest beyond 20 would never be used.
    if state.store.push_subscription_count(session.account.id).await? >= 20 {
        return Err(ApiError::bad_request(
            "too_many_subscriptions",
            "Remove a browser's notifications first: you have 20.",
        ));
    }
    state
        .store
        .add_push_subscription(&PushTarget {
            user: session.account.id,
            endpoint: body.endpoint,
            p256dh: body.keys.p256dh,
            auth: body.keys.auth,
        })
        .await?;
    Ok(StatusCode::CREATED)
}

#[utoipa::path(delete, path = "/api/v1/push/subscriptions", tag = "notifications", security(("bearer" = [])),
    request_body = PushSubscriptionRequest,
    responses((status = 204), (status = 404, body = ErrorBody)))]
/// Unsubscribes a browser of the caller's.
pub async fn unsubscribe(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<PushSubscriptionRequest>,
) -> Result<StatusCode, ApiError> {
    if state.store.remove_push_subscription(&body.endpoint, Some(session.account.id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("There is no such subscription."))
    }
}

async fn settings_of(state: &AppState, user: UserId) -> Result<PushSettings, ApiError> {
    let muted = state.store.push_muted(user).await?;
    Ok(PushSettings {
        vapid_public_key: state.notifier.push.public_key().to_string(),
        subscriptions: state.store.push_subscription_count(user).await?,
        kinds: NotificationKind::ALL.iter().map(|k| PushKindSetting { kind: *k, push: !muted.contains(k) }).collect(),
    })
}

#[utoipa::path(get, path = "/api/v1/push/settings", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = PushSettings), (status = 401, body = ErrorBody)))]
/// The server's VAPID key, and which kinds of notification are pushed to the caller.
pub async fn settings(State(state): State<AppState>, session: Session) -> Result<Json<PushSettings>, ApiError> {
    Ok(Json(settings_of(&state, session.account.id).await?))
}

#[utoipa::path(put, path = "/api/v1/push/settings", tag = "notifications", security(("bearer" = [])),
    request_body = UpdatePushSettings,
    responses((status = 200, body = PushSettings), (status = 400, body = ErrorBody)))]
/// Turns push on or off for kinds of notification.
pub async fn update_settings(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<UpdatePushSettings>,
) -> Result<Json<PushSettings>, ApiError> {
    if body.kinds.len() > NotificationKind::ALL.len() * 2 {
        return Err(ApiError::bad_request("too_many_kinds", "Name each kind once."));
    }
    for setting in &body.kinds {
        state.store.set_push_muted(session.account.id, setting.kind, !setting.push).await?;
    }
    Ok(Json(settings_of(&state, session.account.id).await?))
}
