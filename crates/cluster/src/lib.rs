//! A cluster of nodes: Postgres holds everything that lasts (and who owns each live room), NATS carries
//! every message between nodes. Nothing else is shared.
//!
//! - **Heartbeats.** Every node says once a second on `stoa.nodes` who it is, where its media is, and how
//!   loaded it is. `/healthz` lists the nodes heard from in the last few seconds.
//! - **Room news.** The node that owns a live room says on `stoa.rooms` what its snapshot is, on every
//!   change and once a second. Every other node keeps a *remote* entry for the room in its directory, so
//!   that its hallway and `GET /rooms/{id}` show every room of the cluster without asking anyone.
//! - **The relay** ([`relay`]): a client's room WebSocket may land on any node. A node that does not own the
//!   room relays its clients' requests to the owner (`stoa.room.ID.in`) and gets back what is for its
//!   connections (`stoa.room.ID.to.NODE`). A room-wide event is sealed and published once, on
//!   `stoa.room.ID.all`, for every node that has connections in the room.
//! - **Leases.** Ownership is a lease in Postgres (`rooms.owner`, `rooms.lease_until`), renewed by the owner
//!   every second for [`LEASE`]. A node that loses its lease hands the room over; a room whose owner's lease
//!   lapsed (a node killed) is taken over by the first node to claim it, from the lasting state in the store.
//!
//! Every message, its subject and its shape are in [`protocol`]: a binary envelope signed with
//! HMAC-SHA256 under a key that the nodes share through the store (a setting made once by the first node),
//! with its sender, its time and a random nonce. A message from anyone without the key, one older than
//! [`protocol::MAX_AGE`], or one seen before is dropped and counted.

#![deny(missing_docs)]

pub mod files;
pub mod forward;
mod hosted;
pub mod protocol;
pub mod relay;

pub use protocol::Heartbeat;
use protocol::{Envelopes, Notify, Opened, RoomNews};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stoa_live::live::{Directory, NodeName, RoomHandle, RoomInput, Snapshot};
use stoa_proto::RoomId;
use tokio::sync::{mpsc, watch};

/// How long a room's lease lasts from its last renewal: an owner killed outright is replaced after this.
pub const LEASE: Duration = Duration::from_secs(4);
/// How often owners renew their leases, nodes say they are alive, and rooms' news is repeated.
pub const BEAT: Duration = Duration::from_secs(1);
/// How long a remote room stays listed without news from its owner.
pub const STALE: Duration = Duration::from_secs(3);
/// The store setting that holds the cluster's signing key.
const KEY_SETTING: &str = "cluster_key";
/// Messages waiting for NATS. Past it a message is dropped and counted (and a relay that loses one
/// drops the connections it was for, which reconnect).
const OUTBOX: usize = 65_536;

/// How a node joins a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The NATS server(s), `nats://host:port` (comma-separated for several).
    pub nats: String,
    /// This node's name: unique in the cluster, letters, digits, `-` and `_`.
    pub node: String,
}

/// A NATS URL (or several, comma-separated) fit to print: a password, or a token given as the whole user
/// part, is replaced by `***`.
pub fn redact(urls: &str) -> String {
    urls.split(',')
        .map(|url| {
            let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
            match rest.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                    None => format!("{scheme}://***@{host}"),
                },
                None => url.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// How a node proves itself to NATS, from the user part of its URL.
enum Credentials {
    UserPassword(String, String),
    Token(String),
}

/// The NATS addresses without their user parts, and the credentials the first one with a user part gives.
fn split_credentials(urls: &str) -> (String, Option<Credentials>) {
    let mut credentials = None;
    let addresses = urls
        .split(',')
        .map(|url| {
            let Some((scheme, rest)) = url.trim().split_once("://") else { return url.trim().to_string() };
            let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.trim().to_string() };
            let decode = |s: &str| percent_decode(s);
            if credentials.is_none() {
                credentials = Some(match userinfo.split_once(':') {
                    Some((user, password)) => Credentials::UserPassword(decode(user), decode(password)),
                    None => Credentials::Token(decode(userinfo)),
                });
            }
            format!("{scheme}://{host}")
        })
        .collect::<Vec<_>>()
        .join(",");
    (addresses, credentials)
}

/// `%XX` escapes decoded (a password with `@` or `:` in a URL).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a node name can be used (it appears in NATS subjects).
pub fn valid_node_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A remote room as this node knows it.
struct Remote {
    owner: NodeName,
    snapshot: watch::Sender<Arc<Snapshot>>,
    seen: Instant,
    stop: Option<tokio::sync::oneshot::Sender<relay::Stop>>,
}

/// This node's place in the cluster.
#[derive(Clone)]
pub struct Cluster(Arc<Inner>);

/// What [`Cluster`] holds.
pub struct Inner {
    node: String,
    client: async_nats::Client,
    envelopes: Envelopes,
    outbox: mpsc::Sender<(String, bytes::Bytes)>,
    nodes: Mutex<HashMap<String, (Heartbeat, Instant)>>,
    remote: Mutex<HashMap<RoomId, Remote>>,
    /// Messages dropped because the outbox was full.
    pub dropped: AtomicU64,
    /// This node's media plane, where edges' mirror rooms live.
    sfu: stoa_sfu::Sfu,
    /// This node's recordings folder, for other nodes' reads of what its egress wrote.
    recordings: std::path::PathBuf,
}

impl std::ops::Deref for Cluster {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("node", &self.node).finish()
    }
}

/// Why a node could not join its cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The node name cannot be used.
    #[error("the node name {0:?} must be 1 to 64 letters, digits, '-' or '_'")]
    NodeName(String),
    /// NATS could not be reached.
    #[error("cannot connect to NATS at {0}: {1}")]
    Nats(String, String),
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(#[from] stoa_store::StoreError),
}

use stoa_live::clock::now_ms;

impl Cluster {
    /// Connects to NATS and reads (or makes) the cluster's key, for a node whose media plane is `sfu` and
    /// whose egress writes recordings into `recordings`. Nothing is subscribed yet: see [`Cluster::run`].
    pub async fn connect(
        config: &ClusterConfig,
        store: &dyn stoa_store::Store,
        sfu: stoa_sfu::Sfu,
        recordings: std::path::PathBuf,
    ) -> Result<Cluster, ClusterError> {
        if !valid_node_name(&config.node) {
            return Err(ClusterError::NodeName(config.node.clone()));
        }
        let hex = stoa_live::random::hex::<32>();
        let key = store.setting_or_insert(KEY_SETTING, &hex).await?;
        // Credentials in the URL (`nats://USER:PASSWORD@host` or `nats://TOKEN@host`) are given to the
        // client as such, and the address without them.
        let (addresses, credentials) = split_credentials(&config.nats);
        let options = match credentials {
            Some(Credentials::UserPassword(user, password)) => {
                async_nats::ConnectOptions::with_user_and_password(user, password)
            }
            Some(Credentials::Token(token)) => async_nats::ConnectOptions::with_token(token),
            None => async_nats::ConnectOptions::new(),
        };
        let client = options
            .name(format!("stoa {}", config.node))
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(Duration::from_secs(5)))
            .connect(addresses.as_str())
            .await
            .map_err(|e| ClusterError::Nats(redact(&config.nats), e.to_string()))?;
        let (outbox, mut queued) = mpsc::channel::<(String, bytes::Bytes)>(OUTBOX);
        let publisher = client.clone();
        // One publisher, in order: a room's messages to a node leave in the order the room made them.
        tokio::spawn(async move {
            while let Some((subject, payload)) = queued.recv().await {
                if let Err(e) = publisher.publish(subject, payload).await {
                    tracing::warn!(error = %e, "cannot publish to NATS");
                }
            }
        });
        Ok(Cluster(Arc::new(Inner {
            node: config.node.clone(),
            client,
            envelopes: Envelopes::new(NodeName::from(config.node.as_str()), key.into_bytes()),
            outbox,
            nodes: Mutex::new(HashMap::new()),
            remote: Mutex::new(HashMap::new()),
            dropped: AtomicU64::new(0),
            sfu,
            recordings,
        })))
    }

    /// The node that runs a room this node knows as remote.
    pub fn owner_of(&self, room: &RoomId) -> Option<String> {
        self.remote.lock().unwrap_or_else(|e| e.into_inner()).get(room).map(|r| r.owner.to_string())
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether NATS is connected now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// This node's media plane, once the cluster runs.
    pub fn sfu(&self) -> &stoa_sfu::Sfu {
        &self.sfu
    }

    /// Where a node's media plane receives UDP, as its last heartbeat said.
    pub fn media_of(&self, node: &str) -> Option<std::net::SocketAddr> {
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.get(node).and_then(|(beat, _)| beat.media.parse().ok())
    }

    /// The nodes heard from lately, this one included, by name.
    pub fn nodes(&self) -> Vec<stoa_proto::ClusterNode> {
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<stoa_proto::ClusterNode> = nodes
            .iter()
            .filter(|(_, (_, at))| at.elapsed() < STALE)
            .map(|(name, (beat, at))| stoa_proto::ClusterNode {
                name: name.clone(),
                url: beat.url.clone(),
                media: beat.media.clone(),
                rooms: beat.rooms,
                media_peers: beat.media_peers,
                heard_ms_ago: at.elapsed().as_millis() as u64,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Messages refused: bad signature, too old, replayed, or malformed.
    pub fn refused(&self) -> u64 {
        self.envelopes.refused.load(Ordering::Relaxed)
    }

    /// `head` (and `raw`) sealed for `subject`.
    pub(crate) fn seal<T: Serialize>(&self, subject: &str, head: &T, raw: &[u8]) -> bytes::Bytes {
        self.envelopes.seal(subject, head, raw)
    }

    /// A message, if it is signed for this subject, fresh, whole and new ([`protocol`]).
    pub(crate) fn open<T: DeserializeOwned>(&self, subject: &str, payload: &bytes::Bytes) -> Option<Opened<T>> {
        self.envelopes.open(subject, payload)
    }

    /// Queues a signed message, in order. False (and counted) if the outbox is full.
    pub(crate) fn send<T: Serialize>(&self, subject: String, head: &T, raw: &[u8]) -> bool {
        let payload = self.seal(&subject, head, raw);
        if self.outbox.try_send((subject, payload)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Wakes (or closes) these users' notification streams on the other nodes, in messages of at most
    /// 5,000 users (a large fan-out's batch is several).
    pub fn notify(&self, users: &[stoa_proto::UserId], close: bool) {
        for chunk in users.chunks(5_000) {
            let notify = Notify { users: chunk.to_vec(), close, revoke: false, ask_tabs: false, tabs_open: false };
            self.send(protocol::NOTIFY.into(), &notify, &[]);
        }
    }

    /// Wakes these users' streams on the other nodes for a private message, and asks for an answer from each
    /// node that has a tab open for some of them (a push held for them then stays).
    pub fn notify_messaged(&self, users: &[stoa_proto::UserId]) {
        for chunk in users.chunks(5_000) {
            let notify =
                Notify { users: chunk.to_vec(), close: false, revoke: false, ask_tabs: true, tabs_open: false };
            self.send(protocol::NOTIFY.into(), &notify, &[]);
        }
    }

    /// Tells the other nodes that `user`'s credentials changed (`stoa_live::revoke`).
    pub fn revoked(&self, user: stoa_proto::UserId) {
        let notify = Notify { users: vec![user], close: false, revoke: true, ask_tabs: false, tabs_open: false };
        self.send(protocol::NOTIFY.into(), &notify, &[]);
    }

    /// Tells the cluster a local room's snapshot (every change, and once a second).
    pub fn room_news(&self, room: &RoomId, snapshot: &Snapshot, ended: bool) {
        let news = RoomNews { room: room.clone(), info: snapshot.info.clone(), access: snapshot.access.clone(), ended };
        self.send(protocol::ROOMS.into(), &news, &[]);
    }

    /// Stops relaying a remote room (its owner is gone, changed or ended it) and takes it out of the
    /// directory unless a local room took its place.
    fn drop_remote(&self, directory: &Directory, room: &RoomId, why: relay::Stop) {
        let removed = self.remote.lock().unwrap_or_else(|e| e.into_inner()).remove(room);
        if let Some(mut remote) = removed {
            if let Some(stop) = remote.stop.take() {
                let _ = stop.send(why);
            }
            directory.remove_if(room, |h| h.remote);
        }
    }

    fn on_news(&self, directory: &Directory, from: NodeName, news: RoomNews) {
        if *from == *self.node {
            return;
        }
        if let Some(local) = directory.get(&news.room)
            && !local.remote
        {
            // Two owners: the lease decides (the renewal loop hands the room over if this node lost it).
            tracing::warn!(room = %news.room, other = %from, "another node speaks for a room this node runs");
            return;
        }
        if news.ended {
            self.drop_remote(directory, &news.room, relay::Stop::Ended);
            return;
        }
        let snapshot = Arc::new(Snapshot { info: news.info, access: news.access });
        let changed_owner = {
            let mut remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
            match remote.get_mut(&news.room) {
                Some(r) if r.owner == from => {
                    r.seen = Instant::now();
                    r.snapshot.send_replace(snapshot);
                    return;
                }
                Some(_) => true,
                None => false,
            }
        };
        if changed_owner {
            self.drop_remote(directory, &news.room, relay::Stop::OwnerChanged);
        }
        let (tx, rx) = mpsc::channel(stoa_live::live::INBOX);
        let (snapshot_tx, snapshot_rx) = watch::channel(snapshot);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        self.remote.lock().unwrap_or_else(|e| e.into_inner()).insert(
            news.room.clone(),
            Remote { owner: from.clone(), snapshot: snapshot_tx, seen: Instant::now(), stop: Some(stop_tx) },
        );
        let inbox = tx.downgrade();
        directory.insert(news.room.clone(), RoomHandle { tx, snapshot: snapshot_rx, egress: None, remote: true });
        tokio::spawn(relay::remote_room(self.clone(), news.room, from, (inbox, rx), stop_rx));
    }

    /// Runs the node's part of the cluster until the process ends: heartbeats, room news in and out, and
    /// (through `leases`) the rooms' leases.
    pub async fn run(
        self,
        directory: Directory,
        me: Heartbeat,
        hub: Arc<stoa_live::notify::hub::Hub>,
        router: axum::Router,
    ) -> Result<(), ClusterError> {
        let sfu = self.sfu.clone();
        let map = |e: async_nats::SubscribeError| ClusterError::Nats("subscribe".into(), e.to_string());
        let mut beats = self.client.subscribe(protocol::NODES).await.map_err(map)?;
        let mut notify = self.client.subscribe(protocol::NOTIFY).await.map_err(map)?;
        let mut forwarded = self.client.subscribe(protocol::http(&self.node)).await.map_err(map)?;
        let mut news = self.client.subscribe(protocol::ROOMS).await.map_err(map)?;
        let mut files = self.client.subscribe(protocol::FILES).await.map_err(map)?;
        let mut deleted = self.client.subscribe(protocol::FILES_DELETED).await.map_err(map)?;
        let file_reads = files::limit();
        let mut tick = tokio::time::interval(BEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        use futures_util::StreamExt;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let local: Vec<(RoomId, Arc<Snapshot>)> = directory
                        .handles_with_ids()
                        .into_iter()
                        .filter(|(_, h)| !h.remote)
                        .map(|(id, h)| (id, h.snapshot.borrow().clone()))
                        .collect();
                    let beat = Heartbeat { rooms: local.len() as u32, media_peers: sfu.peer_count() as u32, ..me.clone() };
                    self.send(protocol::NODES.into(), &beat, &[]);
                    for (id, snapshot) in &local {
                        self.room_news(id, snapshot, false);
                    }
                    // Nodes that fell silent: the rooms here let go of the connections they held.
                    let lost: Vec<String> = {
                        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
                        let lost: Vec<String> =
                            nodes.iter().filter(|(_, (_, at))| at.elapsed() > STALE).map(|(n, _)| n.clone()).collect();
                        for node in &lost {
                            nodes.remove(node);
                        }
                        lost
                    };
                    for node in lost {
                        tracing::warn!(%node, "a node fell silent");
                        let node = stoa_live::live::NodeName::from(node.as_str());
                        for (_, handle) in directory.handles_with_ids().into_iter().filter(|(_, h)| !h.remote) {
                            let _ = handle.tx.try_send(RoomInput::NodeLost { node: node.clone() });
                        }
                    }
                    // Remote rooms whose owner fell silent: their clients are told to come back, by which
                    // time another node has the room (or it is gone).
                    let stale: Vec<RoomId> = self
                        .remote
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .iter()
                        .filter(|(_, r)| r.seen.elapsed() > STALE)
                        .map(|(id, _)| id.clone())
                        .collect();
                    for id in stale {
                        tracing::warn!(room = %id, "the room's owner fell silent");
                        self.drop_remote(&directory, &id, relay::Stop::OwnerLost);
                    }
                }
                Some(message) = beats.next() => {
                    if let Some(beat) = self.open::<Heartbeat>(&message.subject, &message.payload) {
                        let (from, beat) = (beat.from.to_string(), beat.head);
                        self.nodes.lock().unwrap_or_else(|e| e.into_inner()).insert(from, (beat, Instant::now()));
                    }
                }
                Some(message) = forwarded.next() => {
                    tokio::spawn(forward::serve(self.clone(), router.clone(), message));
                }
                Some(message) = files.next() => {
                    tokio::spawn(files::serve(self.clone(), file_reads.clone(), message));
                }
                Some(message) = deleted.next() => files::remove(&self, &message).await,
                Some(message) = notify.next() => {
                    if let Some(Opened { from, head: n, .. }) = self.open::<Notify>(&message.subject, &message.payload)
                        && *from != self.node
                    {
                        if n.tabs_open {
                            hub.tabs_elsewhere(&n.users);
                            continue;
                        }
                        for &user in &n.users {
                            if n.revoke {
                                hub.revocations.changed(user);
                            } else if n.close {
                                hub.close(user)
                            } else if n.ask_tabs {
                                hub.messaged(user)
                            } else {
                                hub.changed(user)
                            }
                        }
                        if n.ask_tabs {
                            let open: Vec<_> = n.users.iter().copied().filter(|u| hub.has_stream(*u)).collect();
                            if !open.is_empty() {
                                let answer =
                                    Notify { users: open, close: false, revoke: false, ask_tabs: false, tabs_open: true };
                                self.send(protocol::NOTIFY.into(), &answer, &[]);
                            }
                        }
                    }
                }
                Some(message) = news.next() => {
                    if let Some(Opened { from, head, .. }) = self.open::<RoomNews>(&message.subject, &message.payload) {
                        self.on_news(&directory, from, head);
                    }
                }
                else => return Ok(()),
            }
        }
    }

    /// Forgets a remote room that this node now runs itself (it took the room over).
    pub fn adopted(&self, directory: &Directory, room: &RoomId) {
        self.drop_remote(directory, room, relay::Stop::OwnerChanged);
    }
}

/// Keeps this node's leases, hands over the rooms it lost, and takes over rooms whose owner's lease lapsed.
/// `adopt` brings a room back from its lasting state and starts it here.
pub async fn leases(
    cluster: Cluster,
    store: Arc<dyn stoa_store::Store>,
    directory: Directory,
    adopt: impl Fn(RoomId, Option<String>) -> bool + Send + 'static,
) {
    let mut tick = tokio::time::interval(BEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = now_ms();
        let until = now + LEASE.as_millis() as i64;
        let held = match store.renew_leases(cluster.node(), until).await {
            Ok(held) => held.into_iter().collect::<HashSet<RoomId>>(),
            Err(e) => {
                tracing::error!(error = %e, "cannot renew the rooms' leases");
                continue;
            }
        };
        for (id, handle) in directory.handles_with_ids() {
            if !handle.remote && !held.contains(&id) {
                // Another node holds the lease now (this one was cut off longer than the lease): hand over.
                tracing::warn!(room = %id, "lost the room's lease; handing it over");
                let _ = handle.tx.try_send(RoomInput::HandOver);
            }
        }
        let orphans = match store.orphaned_rooms(cluster.node(), now).await {
            Ok(orphans) => orphans,
            Err(e) => {
                tracing::error!(error = %e, "cannot look for rooms without an owner");
                continue;
            }
        };
        for (id, lasting) in orphans {
            if directory.get(&id).is_some_and(|h| !h.remote) {
                continue;
            }
            match store.claim_room(&id, cluster.node(), now, until).await {
                Ok(true) => {
                    cluster.adopted(&directory, &id);
                    if adopt(id.clone(), lasting) {
                        tracing::info!(room = %id, "took the room over");
                    } else {
                        let _ = store.end_room(&id).await;
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::error!(room = %id, error = %e, "cannot claim the room"),
            }
        }
    }
}

/// A cluster's routing for the rooms this node runs: their news for the other nodes, their inputs from
/// them, and what the rooms have for the other nodes' connections.
impl stoa_live::live::Nodes for Cluster {
    fn started(&self, start: stoa_live::live::RoomStart<'_>) -> Box<dyn stoa_live::live::RoomRoute> {
        let stoa_live::live::RoomStart { room, snapshot, inbox, store, media } = start;
        // The other nodes list the room at once, not at the next beat.
        self.room_news(room, snapshot, false);
        tokio::spawn(relay::host_room(self.clone(), room.clone(), inbox));
        // The lease: already this node's when it took the room over; claimed now for a new room.
        let (claimed, node) = (room.clone(), self.node().to_string());
        tokio::spawn(async move {
            let now = now_ms();
            let until = now + LEASE.as_millis() as i64;
            match store.claim_room(&claimed, &node, now, until).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(room = %claimed, "another node holds the room's lease"),
                Err(e) => tracing::error!(room = %claimed, error = %e, "cannot claim the room's lease"),
            }
        });
        Box::new(hosted::HostedRoom::new(self.clone(), room.clone(), media))
    }
}

/// What this node's notification hub is told goes to the other nodes' hubs.
impl stoa_live::notify::hub::OtherNodes for Cluster {
    fn notify(&self, users: &[stoa_proto::UserId], close: bool) {
        Cluster::notify(self, users, close);
    }

    fn notify_messaged(&self, users: &[stoa_proto::UserId]) {
        Cluster::notify_messaged(self, users);
    }

    fn revoked(&self, user: stoa_proto::UserId) {
        Cluster::revoked(self, user);
    }
}
