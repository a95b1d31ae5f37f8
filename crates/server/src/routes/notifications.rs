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
use stoa_live::texts::Lang;
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
    let lang = Lang::stored(&session.account.language);
    let limit = crate::routes::page_limit(q.limit)?;
    let rows = state.store.notifications(me, q.cursor, limit + 1).await?;
    let more = rows.len() > limit as usize;
    let rows = &rows[..rows.len().min(limit as usize)];
    Ok(Json(NotificationPage {
        notifications: rows.iter().map(|r| to_wire(r, lang)).collect(),
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
    Ok(Json(update_of(&*state.store, me, Lang::stored(&session.account.language)).await?))
}

async fn update_of(store: &dyn Store, user: UserId, lang: Lang) -> Result<NotificationUpdate, stoa_store::StoreError> {
    let (unread, latest) = bell_of(store, user, lang).await?;
    Ok(NotificationUpdate { unread, latest, messages: inbox_of(store, user).await? })
}

/// The bell's part of an update: the unread count and the newest notification.
async fn bell_of(
    store: &dyn Store,
    user: UserId,
    lang: Lang,
) -> Result<(u32, Option<stoa_proto::Notification>), stoa_store::StoreError> {
    let latest = store.notifications(user, None, 1).await?;
    Ok((store.unread_count(user).await?, latest.first().map(|r| to_wire(r, lang))))
}

/// The backchannel's part of an update.
async fn inbox_of(store: &dyn Store, user: UserId) -> Result<stoa_proto::InboxCounts, stoa_store::StoreError> {
    let (unread_threads, requests) = store.inbox_counts(user).await?;
    Ok(stoa_proto::InboxCounts { unread_threads, requests })
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
    let tab = Tab {
        me,
        lang: Lang::stored(&session.account.language),
        subscription,
        store: state.store.clone(),
        stopping: state.stopping.clone(),
        // Ends the stream, with a last `revoked` event that says why, when its credential is revoked.
        credential: Some(state.notifier.hub.revocations.watch(session.credential(), state.store.clone())),
        told: Told::new(crate::clock::now_ms()),
        seen: None,
        last: None,
    };
    let events = futures_util::stream::unfold(tab, |mut tab| async move {
        let events = tab.next().await?;
        Some((events.into_iter().map(Ok).collect::<Vec<_>>(), tab))
    })
    .flat_map(futures_util::stream::iter);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(25))))
}

/// One open stream.
struct Tab {
    me: UserId,
    /// The language of the notifications' texts.
    lang: Lang,
    subscription: crate::notify::hub::Subscription,
    store: std::sync::Arc<dyn Store>,
    stopping: tokio::sync::watch::Receiver<bool>,
    credential: Option<crate::revoke::Watch>,
    told: Told,
    /// What had changed when it last read (`None` before its first event).
    seen: Option<crate::notify::hub::Changes>,
    /// Its last update, whose parts that did not move are told again as they were.
    last: Option<NotificationUpdate>,
}

impl Tab {
    /// The next events: at once the first time, then at the next change (or `None`: the stream ends).
    async fn next(&mut self) -> Option<Vec<Event>> {
        let watch = self.credential.as_mut()?;
        if self.seen.is_some() && !self.told.more {
            let revoked = tokio::select! {
                changed = self.subscription.receiver().changed() => { changed.ok()?; None }
                _ = self.stopping.wait_for(|s| *s) => return None,
                why = watch.revoked() => Some(why),
            };
            if let Some(why) = revoked {
                self.credential = None;
                let event = Event::default()
                    .event("revoked")
                    .json_data(serde_json::json!({"reason": why.reason, "message": why.message}))
                    .unwrap_or_default();
                return Some(vec![event]);
            }
            // A burst of changes (a fan-out batch, marking read) settles into one wake.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let now = *self.subscription.receiver().borrow_and_update();
        let first = self.seen.is_none();
        let bell_moved = first || self.seen.is_some_and(|s| s.notifications != now.notifications);
        let inbox_moved = first || self.told.more || self.seen.is_some_and(|s| s.messages != now.messages);
        self.seen = Some(now);
        let (store, me) = (&*self.store, self.me);
        let mut events = if inbox_moved && !first { self.told.news(store, me).await } else { Vec::new() };
        let update = async {
            let (unread, latest) = match &self.last {
                Some(last) if !bell_moved => (last.unread, last.latest.clone()),
                _ => bell_of(store, me, self.lang).await?,
            };
            let messages = match &self.last {
                Some(last) if !inbox_moved => last.messages.clone(),
                _ => inbox_of(store, me).await?,
            };
            Ok::<_, stoa_store::StoreError>(NotificationUpdate { unread, latest, messages })
        };
        events.push(match update.await {
            Ok(update) => {
                let event = Event::default().event("update").json_data(&update).unwrap_or_default();
                self.last = Some(update);
                event
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read notifications for a stream");
                // Read everything again at the next wake.
                self.last = None;
                Event::default().comment("unavailable")
            }
        });
        Some(events)
    }
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
            language: session.account.language.clone(),
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
