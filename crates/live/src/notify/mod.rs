//! Notifications: what people are told, stored, streamed to the bell and pushed to their browsers.
//!
//! Anything that tells someone something hands the [`Notifier`] a job and returns at once: a room's start
//! never waits for its creator's followers to be told. One worker task takes the jobs in order and writes
//! each fan-out a batch at a time ([`BATCH`] people per statement, the cursor in hand between batches), so
//! that its memory is one batch whatever the follower count and other writers get the database between
//! batches. Each stored batch wakes the bells of those in it who are connected ([`hub::Hub`]) and goes to
//! web push ([`push::Push`]), which has a bounded queue of its own.

pub mod hub;
pub mod push;

use crate::notify::hub::Hub;
use crate::notify::push::Push;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use stoa_proto::{Notification, NotificationKind};
use stoa_store::{FanOut, NewNotification, NotificationRow, Store};
use tokio::sync::mpsc;

/// People per fan-out batch. One INSERT of 250 rows holds SQLite's write lock about 4 ms here, which is what
/// a request that writes meanwhile may wait; `stoa bench --fanout` measured 1,000 rows (15 ms batches) at
/// 12x the p99 of other requests, and 100 rows no better than 250 while a third slower (BENCHMARKS.md).
pub const BATCH: u32 = 250;
/// The pause between two batches of a fan-out: a moment for writers waiting their turn.
const PAUSE: Duration = Duration::from_millis(2);
/// Jobs waiting for the worker. A job is small (an ID, a title, a few lists); past this many the server is
/// far behind, and a new job is dropped and counted rather than held.
const JOBS: usize = 4096;
/// How long a private message's push waits, on a cluster, for another node to say the person has a tab
/// open there.
const PUSH_HOLD: Duration = Duration::from_millis(1500);
/// Pushes that may wait so at once.
const HELD_MAX: u64 = 10_000;

/// What the notifier counts, for `/metrics`.
#[derive(Debug, Default)]
pub struct NotifyStats {
    /// Notifications stored.
    pub stored: AtomicU64,
    /// Jobs dropped because the queue was full.
    pub dropped_jobs: AtomicU64,
    /// Fan-outs and single notifications that failed in the store.
    pub failed_jobs: AtomicU64,
    /// Push messages the push service accepted.
    pub pushed: AtomicU64,
    /// Push messages that failed.
    pub push_failed: AtomicU64,
    /// Push subscriptions removed because the push service said they are gone (404, 410).
    pub push_gone: AtomicU64,
    /// Push messages dropped because the push queue was full.
    pub push_dropped: AtomicU64,
}

#[derive(Debug)]
enum Job {
    FanOut(FanOut),
    Direct(Vec<NewNotification>),
}

/// The handle to the notification worker. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    jobs: mpsc::Sender<Job>,
    /// The per-user streams.
    pub hub: Arc<Hub>,
    /// Web push.
    pub push: Push,
    /// What it counts.
    pub stats: Arc<NotifyStats>,
    /// Message pushes waiting for other nodes to say whether a tab is open there.
    held: Arc<AtomicU64>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

impl Notifier {
    /// Starts the worker. In a cluster, `nodes` are told what this node's hub is told.
    pub fn start(store: Arc<dyn Store>, push: Push, nodes: Option<Arc<dyn hub::OtherNodes>>) -> Notifier {
        let (tx, rx) = mpsc::channel(JOBS);
        let hub = Arc::new(Hub::new(nodes));
        let stats = push.stats.clone();
        tokio::spawn(work(rx, store, hub.clone(), push.clone(), stats.clone()));
        Notifier { jobs: tx, hub, push, stats, held: Arc::default() }
    }

    /// Tells many people, in the background.
    pub fn fan_out(&self, job: FanOut) {
        self.submit(Job::FanOut(job));
    }

    /// Tells one person, in the background.
    pub fn tell(&self, notification: NewNotification) {
        self.submit(Job::Direct(vec![notification]));
    }

    /// Pushes a private message to `users`' browsers (those who have no tab open on this node: an open tab
    /// hears it through its stream), by each one's push settings. Nothing is stored: the backchannel keeps
    /// its own counts.
    pub fn push_message(&self, users: &[stoa_proto::UserId], from: stoa_proto::UserSummary, thread: i64, text: &str) {
        let title: String = text.chars().take(100).collect();
        let rows: Vec<NotificationRow> = users
            .iter()
            .filter(|u| !self.hub.has_stream(**u))
            .map(|u| NotificationRow {
                id: 0,
                user: *u,
                kind: NotificationKind::Message,
                actor: Some(from.clone()),
                room: None,
                event: None,
                title: title.clone(),
                created_at: crate::clock::now_secs(),
                read: false,
                club: None,
                thread: Some(thread),
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        // On a cluster the person's tab may be on another node, which answers the message's wake if so: the
        // push waits a moment for that answer (at most HELD_MAX pushes wait; past that they go at once).
        if !self.hub.clustered() || self.held.fetch_add(1, Ordering::Relaxed) >= HELD_MAX {
            if self.hub.clustered() {
                self.held.fetch_sub(1, Ordering::Relaxed);
            }
            self.push.send(rows);
            return;
        }
        let (hub, push, held) = (self.hub.clone(), self.push.clone(), self.held.clone());
        let asked =
            std::time::Instant::now().checked_sub(Duration::from_secs(1)).unwrap_or_else(std::time::Instant::now);
        tokio::spawn(async move {
            tokio::time::sleep(PUSH_HOLD).await;
            held.fetch_sub(1, Ordering::Relaxed);
            let rows: Vec<NotificationRow> = rows
                .into_iter()
                .filter(|r| !hub.has_stream(r.user) && !hub.tab_elsewhere_since(r.user, asked))
                .collect();
            if !rows.is_empty() {
                push.send(rows);
            }
        });
    }

    /// Tells several people each their own thing, in the background.
    pub fn tell_all(&self, notifications: Vec<NewNotification>) {
        if !notifications.is_empty() {
            self.submit(Job::Direct(notifications));
        }
    }

    fn submit(&self, job: Job) {
        if let Err(e) = self.jobs.try_send(job) {
            self.stats.dropped_jobs.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "the notification queue is full; a notification job is dropped");
        }
    }
}

async fn work(mut rx: mpsc::Receiver<Job>, store: Arc<dyn Store>, hub: Arc<Hub>, push: Push, stats: Arc<NotifyStats>) {
    while let Some(job) = rx.recv().await {
        let result = match job {
            Job::Direct(list) => match store.notify(&list).await {
                Ok(stored) => {
                    deliver(&hub, &push, &stats, stored);
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Job::FanOut(job) => fan_out(&*store, &hub, &push, &stats, &job).await,
        };
        if let Err(e) = result {
            stats.failed_jobs.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "a notification job failed");
        }
    }
}

async fn fan_out(
    store: &dyn Store,
    hub: &Hub,
    push: &Push,
    stats: &NotifyStats,
    job: &FanOut,
) -> Result<(), stoa_store::StoreError> {
    let started = std::time::Instant::now();
    let (mut cursor, mut told) = (0, 0);
    loop {
        let (stored, next) = store.fan_out(job, cursor, BATCH).await?;
        told += stored.len();
        deliver(hub, push, stats, stored);
        match next {
            Some(c) => cursor = c,
            None => break,
        }
        // Let requests at the database between batches: a writer that found it locked is asleep in
        // SQLite's busy handler and needs a moment in which it is free.
        tokio::time::sleep(PAUSE).await;
    }
    if told > 0 {
        tracing::info!(kind = job.kind.as_str(), told, took_ms = started.elapsed().as_millis() as u64, "fan-out done");
    }
    Ok(())
}

fn deliver(hub: &Hub, push: &Push, stats: &NotifyStats, stored: Vec<NotificationRow>) {
    if stored.is_empty() {
        return;
    }
    stats.stored.fetch_add(stored.len() as u64, Ordering::Relaxed);
    let users: Vec<stoa_proto::UserId> = stored.iter().map(|n| n.user).collect();
    hub.changed_everywhere(&users);
    push.send(stored);
}

use crate::clock::rfc3339;

/// A stored notification as the API shows it, its text in `lang` (the bell's client writes its own from
/// the kind, in its reader's language; push and API clients read this one).
pub fn to_wire(row: &NotificationRow, lang: crate::texts::Lang) -> Notification {
    let someone = crate::texts::text(lang, "captions.someone", &[], None);
    let who = row.actor.as_ref().map_or(someone.as_str(), |a| a.display_name.as_str());
    let key = format!("notify.{}", row.kind.as_str());
    let text = crate::texts::text(lang, &key, &[("name", who), ("title", &row.title)], None);
    let link = match (row.kind, &row.room, &row.event, &row.actor) {
        (NotificationKind::ClubRequest, ..) if row.club.is_some() => {
            format!("/c/{}/requests", row.club.as_deref().unwrap_or_default())
        }
        (NotificationKind::ClubRoomStarted, Some(room), ..) => format!("/room/{room}"),
        (NotificationKind::Message, ..) => format!("/messages/{}", row.thread.unwrap_or_default()),
        _ if row.club.is_some() => format!("/c/{}", row.club.as_deref().unwrap_or_default()),
        (NotificationKind::Followed, _, _, Some(actor)) => format!("/u/{}", actor.username),
        (
            NotificationKind::EventChanged | NotificationKind::EventCancelled | NotificationKind::CohostInvite,
            _,
            Some(e),
            _,
        ) => {
            format!("/event/{e}")
        }
        (_, Some(room), _, _) => format!("/room/{room}"),
        (_, _, Some(e), _) => format!("/event/{e}"),
        _ => "/".to_string(),
    };
    Notification {
        id: row.id,
        kind: row.kind,
        actor: row.actor.clone(),
        room_id: row.room.clone(),
        event_id: row.event.clone(),
        club: row.club.clone(),
        title: row.title.clone(),
        created_at: rfc3339(row.created_at),
        read: row.read,
        link,
        text,
    }
}

/// How long a push service has to answer.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
