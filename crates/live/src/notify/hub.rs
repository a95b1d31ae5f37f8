//! [`Hub`]: who has a notification stream open, and a way to wake it.
//!
//! Each connected user has a `watch` channel whose value is two counters, bumped at every change: one for
//! their notifications, one for their private messages. Their streams wait on it and read again from the
//! store what moved. A watch holds one value, so a user told a thousand things while their stream was busy
//! costs one wake-up, not a queue of a thousand: the hub's memory is one small entry per connected user.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stoa_proto::UserId;
use tokio::sync::watch;

/// How many notification streams one user may hold open at once.
pub const STREAMS_PER_USER: usize = 8;

/// How many people another node said it has a tab open for, remembered at most (a few seconds each).
const ELSEWHERE_MAX: usize = 100_000;
/// How long another node's word that a person has a tab open there counts.
const ELSEWHERE_FOR: Duration = Duration::from_secs(10);

/// The other nodes of a cluster, told what this node's hub is told: their users' streams and live
/// connections may be there. The cluster implements it.
pub trait OtherNodes: Send + Sync {
    /// Wake (or, with `close`, end) these users' streams on the other nodes.
    fn notify(&self, users: &[UserId], close: bool);
    /// Wake these users' streams on the other nodes for a private message, and ask each node that has a
    /// tab open for one of them to say so ([`Hub::tabs_elsewhere`]): a push held for them then stays.
    fn notify_messaged(&self, users: &[UserId]) {
        self.notify(users, false);
    }
    /// `user`'s credentials changed: their live connections on the other nodes check theirs again.
    fn revoked(&self, user: UserId);
}

/// What changed for a user so far, as counters that only go up: a stream compares them with what it last
/// saw, and reads again only what moved (a private message does not ask for the notifications again).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// Their notifications (a new one, or read).
    pub notifications: u64,
    /// Their private conversations (a message, a thread read, accepted, left, muted).
    pub messages: u64,
}

/// The per-user streams.
#[derive(Default)]
pub struct Hub {
    users: Mutex<HashMap<UserId, watch::Sender<Changes>>>,
    /// In a cluster, where the other nodes' hubs are told.
    nodes: Option<Arc<dyn OtherNodes>>,
    /// Where this node's live connections learn that credentials changed.
    pub revocations: crate::revoke::Revocations,
    /// People another node said it has a tab open for, and when it said so.
    elsewhere: Mutex<HashMap<UserId, Instant>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("clustered", &self.nodes.is_some()).finish_non_exhaustive()
    }
}

impl Hub {
    /// A stream for `user`: it changes whenever something is stored for them. `None` when the user already
    /// has [`STREAMS_PER_USER`] open: each holds a connection and wakes a store read, and a person has a
    /// few tabs, not hundreds.
    pub fn subscribe(self: &Arc<Self>, user: UserId) -> Option<Subscription> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let tx = users.entry(user).or_insert_with(|| watch::channel(Changes::default()).0);
        if tx.receiver_count() >= STREAMS_PER_USER {
            return None;
        }
        let rx = tx.subscribe();
        Some(Subscription { hub: self.clone(), user, rx: Some(rx) })
    }

    /// A hub that tells `nodes` (a cluster's other nodes) what it is told, or no one else.
    pub fn new(nodes: Option<Arc<dyn OtherNodes>>) -> Hub {
        Hub { nodes, ..Hub::default() }
    }

    /// Something was stored for these users: their streams here, and on every other node, wake.
    pub fn changed_everywhere(&self, users: &[UserId]) {
        for user in users {
            self.changed(*user);
        }
        if let Some(nodes) = &self.nodes {
            nodes.notify(users, false);
        }
    }

    /// Something changed in these users' private conversations: their streams here, and on every other
    /// node, wake (there, as for any change).
    pub fn messaged_everywhere(&self, users: &[UserId]) {
        for user in users {
            self.messaged(*user);
        }
        if let Some(nodes) = &self.nodes {
            nodes.notify_messaged(users);
        }
    }

    /// Something changed in `user`'s private conversations (on this node only).
    pub fn messaged(&self, user: UserId) {
        self.bump(user, |c| c.messages = c.messages.wrapping_add(1));
    }

    /// Whether other nodes are told (a cluster).
    pub fn clustered(&self) -> bool {
        self.nodes.is_some()
    }

    /// Another node has a tab open for these people: it said so when their message's wake reached it.
    pub fn tabs_elsewhere(&self, users: &[UserId]) {
        let now = Instant::now();
        let mut elsewhere = self.elsewhere.lock().unwrap_or_else(|p| p.into_inner());
        if elsewhere.len() + users.len() > ELSEWHERE_MAX {
            elsewhere.retain(|_, at| now.duration_since(*at) < ELSEWHERE_FOR);
        }
        for user in users {
            if elsewhere.len() < ELSEWHERE_MAX {
                elsewhere.insert(*user, now);
            }
        }
    }

    /// Whether another node said, since `since`, that it has a tab open for `user`.
    pub fn tab_elsewhere_since(&self, user: UserId, since: Instant) -> bool {
        self.elsewhere.lock().unwrap_or_else(|p| p.into_inner()).get(&user).is_some_and(|at| *at >= since)
    }

    /// Ends every stream of `user` on every node.
    pub fn close_everywhere(&self, user: UserId) {
        self.close(user);
        if let Some(nodes) = &self.nodes {
            nodes.notify(&[user], true);
        }
    }

    /// `user`'s credentials changed (a password, a sign-out, a session or token revoked, a suspension):
    /// their live connections here and on every other node check theirs again.
    pub fn revoke_everywhere(&self, user: UserId) {
        self.revocations.changed(user);
        if let Some(nodes) = &self.nodes {
            nodes.revoked(user);
        }
    }

    /// Something was stored for `user` (on this node only): a notification, or anything else.
    pub fn changed(&self, user: UserId) {
        self.bump(user, |c| {
            c.notifications = c.notifications.wrapping_add(1);
            c.messages = c.messages.wrapping_add(1);
        });
    }

    fn bump(&self, user: UserId, f: impl FnOnce(&mut Changes)) {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = users.get(&user) {
            tx.send_modify(f);
        }
    }

    /// Ends every stream of `user` (signed out everywhere: suspended, or the account deleted).
    pub fn close(&self, user: UserId) {
        // Dropping the sender wakes each receiver with an error, which ends its stream.
        self.users.lock().unwrap_or_else(|p| p.into_inner()).remove(&user);
    }

    /// Whether `user` has a stream open on this node.
    pub fn has_stream(&self, user: UserId) -> bool {
        self.users.lock().unwrap_or_else(|p| p.into_inner()).get(&user).is_some_and(|tx| tx.receiver_count() > 0)
    }

    /// How many users have a stream open.
    pub fn connected(&self) -> usize {
        self.users.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One open stream; dropping it forgets the user once their last stream closes.
pub struct Subscription {
    hub: Arc<Hub>,
    user: UserId,
    rx: Option<watch::Receiver<Changes>>,
}

impl Subscription {
    /// The receiver to wait on.
    pub fn receiver(&mut self) -> &mut watch::Receiver<Changes> {
        self.rx.as_mut().expect("present until dropped")
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut users = self.hub.users.lock().unwrap_or_else(|p| p.into_inner());
        if users.get(&self.user).is_some_and(|tx| tx.receiver_count() == 0) {
            users.remove(&self.user);
        }
    }
}
