//! What keeps a community healthy, server side: the record of rooms (chat and moderation, written in the
//! background), the live settings admins change, and the tail of the admins' log that carries out their
//! actions in live rooms, whichever process (the console or `stoa admin`) wrote them.

use crate::AppState;
use crate::clock::now_ms;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use stoa_proto::{AdminSettings, RoomId, UserId};
use stoa_store::{Store, admin_action};
use tokio::sync::Notify;

pub use stoa_live::room_log::RoomLog;

/// The settings admins change while the server runs, kept in the database (`settings`), read here.
#[derive(Debug)]
pub struct LiveSettings {
    invite_quota: AtomicU32,
    room_capacity: AtomicU32,
}

/// The settings' keys in the store.
const INVITE_QUOTA_KEY: &str = "invite_quota";
const ROOM_CAPACITY_KEY: &str = "room_capacity";

/// The bounds of the live settings.
pub const INVITE_QUOTA_MAX: u32 = 10_000;
/// Rooms hold at least 2 (a moderator and one more) and at most this many.
pub const ROOM_CAPACITY_MAX: u32 = 100_000;

impl LiveSettings {
    /// The settings as the database has them; what it lacks comes from the configuration (the flags are
    /// the defaults until an admin changes a value).
    pub async fn load(
        store: &dyn Store,
        invite_quota: u32,
        room_capacity: u32,
    ) -> Result<LiveSettings, stoa_store::StoreError> {
        let settings =
            LiveSettings { invite_quota: AtomicU32::new(invite_quota), room_capacity: AtomicU32::new(room_capacity) };
        settings.reload(store).await?;
        Ok(settings)
    }

    /// Reads the settings again (after a change made here, so that the answer shows it at once).
    pub async fn reload_now(&self, store: &dyn Store) -> Result<(), stoa_store::StoreError> {
        self.reload(store).await
    }

    async fn reload(&self, store: &dyn Store) -> Result<(), stoa_store::StoreError> {
        for (key, cell, max) in [
            (INVITE_QUOTA_KEY, &self.invite_quota, INVITE_QUOTA_MAX),
            (ROOM_CAPACITY_KEY, &self.room_capacity, ROOM_CAPACITY_MAX),
        ] {
            if let Some(value) = store.setting(key).await?.and_then(|v| v.parse::<u32>().ok()) {
                cell.store(value.min(max), Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Invites each user may create.
    pub fn invite_quota(&self) -> u32 {
        self.invite_quota.load(Ordering::Relaxed)
    }

    /// Participants a room holds.
    pub fn room_capacity(&self) -> u32 {
        self.room_capacity.load(Ordering::Relaxed)
    }

    /// Both, for the API.
    pub fn get(&self) -> AdminSettings {
        AdminSettings { invite_quota: self.invite_quota(), room_capacity: self.room_capacity() }
    }
}

/// Checks new settings.
pub fn valid_settings(s: &AdminSettings) -> Result<(), String> {
    if s.invite_quota > INVITE_QUOTA_MAX {
        return Err(format!("The invite quota is 0 to {INVITE_QUOTA_MAX}."));
    }
    if !(2..=ROOM_CAPACITY_MAX).contains(&s.room_capacity) {
        return Err(format!("A room's capacity is 2 to {ROOM_CAPACITY_MAX}."));
    }
    Ok(())
}

/// Stores new settings and logs the change (the tail then applies it, here and in live rooms).
pub async fn save_settings(
    store: &dyn Store,
    admin: Option<UserId>,
    s: &AdminSettings,
) -> Result<(), stoa_store::StoreError> {
    store.set_setting(INVITE_QUOTA_KEY, &s.invite_quota.to_string()).await?;
    store.set_setting(ROOM_CAPACITY_KEY, &s.room_capacity.to_string()).await?;
    let detail = format!("invite_quota={} room_capacity={}", s.invite_quota, s.room_capacity);
    store.log_admin(admin, admin_action::SETTINGS, "settings", &detail).await?;
    Ok(())
}

/// What the server's tail of the admins' log needs: a way to be woken at once after a write of its own.
#[derive(Debug, Default)]
pub struct AdminTail {
    wake: Notify,
}

/// How often the tail looks for what another process (`stoa admin`) wrote.
const TAIL_EVERY: Duration = Duration::from_secs(1);
/// How often old chat is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

impl AdminTail {
    /// Wakes the tail: an action was just logged.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Follows the admins' log from what it holds now, carrying out each new action in live rooms.
    pub async fn start(state: AppState) -> Result<(), stoa_store::StoreError> {
        let mut last = state.store.admin_log(1).await?.first().map_or(0, |e| e.id);
        tokio::spawn(async move {
            let mut pruned_at: Option<std::time::Instant> = None;
            loop {
                // Once an hour: chat older than the retention goes (but what reports need).
                if pruned_at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                    pruned_at = Some(std::time::Instant::now());
                    match state.store.prune_chat(now_ms() - stoa_store::CHAT_RETENTION_MS).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(messages = n, "old chat messages deleted"),
                        Err(e) => tracing::error!(error = %e, "cannot delete old chat messages"),
                    }
                }
                tokio::select! {
                    _ = state.admin_tail.wake.notified() => {}
                    _ = tokio::time::sleep(TAIL_EVERY) => {}
                }
                let entries = match state.store.admin_log_after(last, 100).await {
                    Ok(entries) => entries,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the admins' log");
                        continue;
                    }
                };
                for entry in entries {
                    last = entry.id;
                    apply(&state, &entry.action, &entry.subject, &entry.detail, entry.admin.map(|a| a.id)).await;
                }
            }
        });
        Ok(())
    }
}

/// Carries out one admin action in the live server.
async fn apply(state: &AppState, action: &str, subject: &str, detail: &str, admin: Option<UserId>) {
    match action {
        admin_action::SUSPEND => {
            if let Ok(user) = subject.parse::<i64>() {
                let message = format!("Your account is suspended: {detail}");
                throw_out(state, UserId(user), "suspended", &message).await;
                tracing::info!(user, "suspended user thrown out of live rooms");
            }
        }
        admin_action::SUSPEND_CLUB => {
            // Every node ends the club's rooms it runs.
            if let Ok(club) = subject.parse::<i64>() {
                for room in state.rooms.handles().into_iter().filter(|r| !r.remote) {
                    if room.snapshot.borrow().access.club == Some(club) {
                        crate::live::tell(&room.tx, crate::live::RoomRequest::AdminEnd { admin }).await;
                    }
                }
                tracing::info!(club, "a suspended club's live rooms ended");
            }
        }
        admin_action::END_ROOM => {
            // Every node tails the log: each acts on the rooms it runs.
            if let Some(room) = state.rooms.get(&RoomId(subject.to_string())).filter(|r| !r.remote) {
                crate::live::tell(&room.tx, crate::live::RoomRequest::AdminEnd { admin }).await;
            }
        }
        admin_action::SETTINGS => {
            if let Err(e) = state.live.reload(state.store.as_ref()).await {
                tracing::error!(error = %e, "cannot read the settings");
            }
            let capacity = state.live.room_capacity();
            for room in state.rooms.handles().into_iter().filter(|r| !r.remote) {
                crate::live::tell(&room.tx, crate::live::RoomRequest::SetCapacity { capacity }).await;
            }
        }
        _ => {}
    }
}

/// Takes `user` out of every live room (told why; a room they moderate hands over as when they leave),
/// and ends their notification streams. Their sessions are already gone.
pub async fn throw_out(state: &AppState, user: UserId, reason: &str, message: &str) {
    state.notifier.hub.close_everywhere(user);
    // And whatever else rides on their credentials: WHIP/WHEP sessions, sockets on other nodes.
    state.notifier.hub.revoke_everywhere(user);
    for room in state.rooms.handles() {
        let _ = room
            .tx
            .send(crate::live::RoomInput::told(crate::live::RoomRequest::Expel {
                user,
                reason: reason.to_string(),
                message: message.to_string(),
            }))
            .await;
    }
}
