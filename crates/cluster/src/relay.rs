//! The relay between a room's owner and the other nodes of the cluster.
//!
//! A node that does not own a room keeps a *remote room* task for it ([`remote_room`]): to the routes and
//! connections of that node it looks like any room task (the same [`RoomInput`]s on the same kind of
//! handle), but it passes each request to the owner as it is on `stoa.room.ID.in`, with a ticket when it
//! wants an answer. It gets what the owner has for this node's connections on `stoa.room.ID.to.NODE`
//! (answers, personal events, closes, media), and, while it has connections in the room, the room-wide
//! events on `stoa.room.ID.all`, which it hands to its connections through one local broadcast channel, as
//! the owner does for its own. The owner numbers both kinds in one sequence, and [`Downlink`] hands them on
//! in that order.
//!
//! On the owner, [`host_room`] reads `stoa.room.ID.in` and feeds the room task; the room task sends what
//! belongs to other nodes through its `HostedRoom` (`hosted.rs`), so that everything leaves in the order
//! the room made it.

use super::Cluster;
use super::protocol::{self, FromNode, FromOwner, Opened, ToNode};
use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use stoa_live::live::{Caller, JoinOutcome, NodeName, Outbound, RoomInput, RoomReply, RoomRequest};
use stoa_proto::{RoomId, ServerEvent};
use stoa_room::ConnId;
use tokio::sync::{broadcast, mpsc, oneshot};

/// How long a join or a request waits for the owner: a live owner answers in milliseconds, and a client
/// whose owner just died should go and try elsewhere soon.
const ANSWER: Duration = Duration::from_secs(2);

/// Requests waiting for the owner's answer, at most, per remote room: past it a request is answered at once
/// as unreachable (a storm of joins against an owner that stopped answering holds no more than this).
pub const MAX_PENDING: usize = 4096;

/// Why a remote room stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The owner ended the room.
    Ended,
    /// Another node runs the room now.
    OwnerChanged,
    /// The owner fell silent (killed, or cut off).
    OwnerLost,
}

fn encode(event: &ServerEvent) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(event).unwrap_or_else(|_| "{}".into()))
}

/// The owner's side: reads what other nodes send the room and feeds the room task, in the order it came,
/// until the room ends. The room task answers each node itself, in order with its other messages for it.
pub(crate) async fn host_room(cluster: Cluster, room: RoomId, inbox: mpsc::Sender<RoomInput>) {
    let subject = protocol::room_in(&room);
    let mut sub = match cluster.client.subscribe(subject.clone()).await {
        Ok(sub) => sub,
        Err(e) => {
            tracing::error!(%room, error = %e, "cannot take the room's relayed inputs");
            return;
        }
    };
    loop {
        let message = tokio::select! {
            _ = inbox.closed() => break,
            message = sub.next() => match message { Some(m) => m, None => break },
        };
        let Some(Opened { from: node, head: FromNode { ticket, request }, .. }) =
            cluster.open(&subject, &message.payload)
        else {
            continue;
        };
        let from = Caller::Node { node, ticket };
        if inbox.send(RoomInput::Request { from, request }).await.is_err() {
            break;
        }
    }
}

/// This node's mirror of a room another node owns: an SFU room of its own, where the room's listeners on
/// this node have their peers, fed by one link to the origin's SFU ([`stoa_sfu::link`]) with the origin's
/// slots as they are. Dropped with the remote room, or when its last listener leaves: the link stops and
/// the mirror's peers close.
struct Mirror {
    sfu: stoa_sfu::Sfu,
    key: stoa_sfu::RoomKey,
    events: mpsc::Receiver<stoa_sfu::SfuEvent>,
    /// Each peer's connection, and the `slots` event to send it after its answer.
    peers: HashMap<stoa_sfu::PeerId, (ConnId, Option<String>)>,
    by_conn: HashMap<ConnId, stoa_sfu::PeerId>,
    link: tokio::task::JoinHandle<()>,
    opened: Instant,
    /// Frames per audience packet, as the origin said last.
    frames: usize,
}

impl Mirror {
    fn open(cluster: &Cluster, room: &RoomId, owner: &str, inbox: mpsc::WeakSender<RoomInput>) -> Option<Mirror> {
        let sfu = cluster.sfu().clone();
        let key = stoa_live::live::new_room_key();
        let (tx, events) = mpsc::channel(1024);
        sfu.open_room(key, tx);
        // This node's speakers are heard through the origin: the mirror hands their packets to the link.
        let (up_tx, up) = mpsc::channel(stoa_sfu::link::UPLINK_QUEUE);
        sfu.uplink(key, Some(up_tx));
        let link = tokio::spawn(link(cluster.clone(), inbox, room.clone(), owner.to_string(), sfu.clone(), key, up));
        tracing::info!(%room, %owner, "this node mirrors the room's media");
        let (peers, by_conn) = (HashMap::new(), HashMap::new());
        Some(Mirror { sfu, key, events, peers, by_conn, link, opened: Instant::now(), frames: 1 })
    }

    /// How many frames the room's audience packets join (the mirror joins the 20 ms stream its link
    /// carries while this node has speakers).
    fn frames(&mut self, frames: usize) {
        if frames != self.frames {
            self.frames = frames;
            self.sfu.set_audience_frames(self.key, frames);
        }
    }

    /// Answers a connection's offer from this node's SFU, with the source number the origin gave it. While
    /// it may be heard (`publish`), its packets go up the link; the origin checks that too.
    fn offer(&mut self, conn: ConnId, sdp: String, slots: Option<String>, source: stoa_sfu::SourceId, publish: bool) {
        self.close(conn);
        let peer = self.sfu.offer(self.key, source, sdp, publish.into());
        self.peers.insert(peer, (conn, slots));
        self.by_conn.insert(conn, peer);
    }

    /// The stage changed for a connection here: its packets go up the link, or stop.
    fn publish(&mut self, conn: ConnId, publish: bool) {
        if let Some(peer) = self.by_conn.get(&conn) {
            self.sfu.set_forwarding(*peer, publish.into());
        }
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(peer) = self.by_conn.remove(&conn) {
            self.peers.remove(&peer);
            self.sfu.close_peer(peer);
        }
    }

    fn event(&mut self, event: stoa_sfu::SfuEvent, conns: &HashMap<ConnId, mpsc::Sender<Outbound>>) {
        use stoa_sfu::SfuEvent;
        let (peer, events) = match event {
            SfuEvent::Answer { peer, sdp } => {
                let slots = self.peers.get_mut(&peer).and_then(|(_, s)| s.take());
                let mut out = vec![encode(&ServerEvent::Answer { sdp })];
                out.extend(slots.map(Utf8Bytes::from));
                (peer, out)
            }
            SfuEvent::Rejected { peer, error, message } => {
                let event = ServerEvent::Error { id: None, code: error.code().into(), message };
                if let Some((conn, _)) = self.peers.remove(&peer) {
                    self.by_conn.remove(&conn);
                    if let Some(tx) = conns.get(&conn) {
                        let _ = tx.try_send(Outbound::Event(encode(&event)));
                    }
                }
                return;
            }
            SfuEvent::Connected { .. } | SfuEvent::Slots { .. } => return,
        };
        let Some(tx) = self.peers.get(&peer).and_then(|(conn, _)| conns.get(conn)) else { return };
        for text in events {
            let _ = tx.try_send(Outbound::Event(text));
        }
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.link.abort();
        self.sfu.close_room(self.key);
    }
}

/// Keeps the mirror's link to the origin up: offers, takes the origin's answer, carries its packets down
/// and this node's speakers' packets (`up`) up, and after a loss makes another one a second later.
async fn link(
    cluster: Cluster,
    inbox: mpsc::WeakSender<RoomInput>,
    room: RoomId,
    owner: String,
    sfu: stoa_sfu::Sfu,
    key: stoa_sfu::RoomKey,
    mut up: stoa_sfu::link::UplinkQueue,
) {
    loop {
        let origin = cluster.media_of(&owner);
        let ip = origin.and_then(|o| stoa_sfu::link::local_ip_towards(o).ok()).unwrap_or(sfu.local_addr().ip());
        match stoa_sfu::link::Link::new(ip, sfu.slot_count()).await {
            Ok((link, offer)) => match ask_owner(&inbox, RoomRequest::Link { sdp: offer }).await {
                Some(RoomReply::Linked(Ok(answer))) => {
                    tracing::info!(%room, %owner, "linked to the room's origin");
                    let why = link.run(&answer, &sfu, key, &mut up).await;
                    tracing::warn!(%room, %owner, error = %why, "the link to the room's origin stopped");
                }
                Some(RoomReply::Linked(Err(why))) => tracing::warn!(%room, %owner, %why, "the origin refused a link"),
                _ => tracing::warn!(%room, %owner, "the origin did not answer a link"),
            },
            Err(e) => tracing::warn!(%room, error = %e, "cannot make a link to the room's origin"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Asks the room's owner through this node's relay to it (`inbox`), as any route here would.
async fn ask_owner(inbox: &mpsc::WeakSender<RoomInput>, request: RoomRequest) -> Option<RoomReply> {
    let inbox = inbox.upgrade()?;
    stoa_live::live::ask(&inbox, request).await
}

/// The owner's messages for this node, in the order the owner sent them: what is for this node's
/// connections on the node's subject, and room-wide events on the room's, which is read only while this node
/// has connections in the room or joins under way.
struct Downlink {
    cluster: Cluster,
    owner: NodeName,
    room: RoomId,
    mine: (String, async_nats::Subscriber),
    all: Option<(String, async_nats::Subscriber)>,
    /// The next message read from each subject (this node's, the room's) and not yet handed on.
    held: [Option<(u64, ToNode)>; 2],
}

impl Downlink {
    async fn open(cluster: Cluster, room: RoomId, owner: NodeName) -> Result<Downlink, async_nats::SubscribeError> {
        let subject = protocol::room_to(&room, cluster.node());
        let sub = cluster.client.subscribe(subject.clone()).await?;
        Ok(Downlink { cluster, owner, room, mine: (subject, sub), all: None, held: [None, None] })
    }

    /// Reads the room's subject too, from now on. Called before a join is sent, so that the subscription
    /// stands before the owner can make anything the new connection must hear.
    async fn follow_all(&mut self) {
        if self.all.is_some() {
            return;
        }
        let subject = protocol::room_all(&self.room);
        match self.cluster.client.subscribe(subject.clone()).await {
            Ok(sub) => self.all = Some((subject, sub)),
            Err(e) => tracing::warn!(room = %self.room, error = %e, "cannot follow the room's events"),
        }
    }

    /// Stops reading the room's subject: no connection here needs it.
    fn unfollow_all(&mut self) {
        self.all = None;
        self.held[1] = None;
    }

    /// A message from the owner, opened, with its text put back.
    fn accept(&self, subject: &str, message: async_nats::Message) -> Option<(u64, ToNode)> {
        let opened = self.cluster.open::<FromOwner>(subject, &message.payload)?;
        if opened.from != self.owner {
            return None;
        }
        let FromOwner { seq, mut message } = opened.head;
        message.put_text(String::from_utf8(opened.raw.to_vec()).ok()?);
        Some((seq, message))
    }

    /// Takes what each subscription has already delivered, without waiting.
    fn fill(&mut self) {
        use futures_util::FutureExt;
        self.fill_mine();
        while self.held[1].is_none() {
            let Some((subject, sub)) = self.all.as_mut() else { break };
            let Some(Some(m)) = sub.next().now_or_never() else { break };
            let subject = subject.clone();
            self.held[1] = self.accept(&subject, m);
        }
        // This node's subject again: a message of the owner's for it may have been delivered after it was
        // looked at and before a later room-wide one was, and must still go first.
        self.fill_mine();
    }

    fn fill_mine(&mut self) {
        use futures_util::FutureExt;
        while self.held[0].is_none() {
            let Some(Some(m)) = self.mine.1.next().now_or_never() else { break };
            self.held[0] = self.accept(&self.mine.0, m);
        }
    }

    /// The owner's next message, in its order; `None` when this node's subscription ends. Cancel-safe: a
    /// message read is held until it is handed on.
    async fn next(&mut self) -> Option<ToNode> {
        loop {
            // Both subscriptions ride one NATS connection, which hands messages over in the order the owner
            // sent them: once a message is here, everything sent before it on the other subject is too. So
            // the lower number of what is here goes first, and one side alone may go at once.
            self.fill();
            let first = match (&self.held[0], &self.held[1]) {
                (Some((a, _)), Some((b, _))) => usize::from(b < a),
                (Some(_), None) => 0,
                (None, Some(_)) => 1,
                (None, None) => {
                    let all = async {
                        match self.all.as_mut() {
                            Some((_, sub)) => sub.next().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        m = self.mine.1.next() => {
                            let m = m?;
                            self.held[0] = self.accept(&self.mine.0, m);
                        }
                        Some(m) = all => {
                            let subject = self.all.as_ref().map(|(s, _)| s.clone()).unwrap_or_default();
                            self.held[1] = self.accept(&subject, m);
                        }
                    }
                    continue;
                }
            };
            if let Some((_, message)) = self.held[first].take() {
                return Some(message);
            }
        }
    }
}

/// A room another node owns, as this node's routes and connections see it: requests go to the owner as
/// they are, and what the owner sends back reaches this node's connections and its mirror of the media.
struct RemoteRoom {
    cluster: Cluster,
    room: RoomId,
    owner: NodeName,
    /// The remote room's own inbox, for its mirror's link to ask the owner as any route would.
    inbox: mpsc::WeakSender<RoomInput>,
    to_owner: String,
    broadcast: broadcast::Sender<Utf8Bytes>,
    conns: HashMap<ConnId, mpsc::Sender<Outbound>>,
    /// Requests waiting for the owner's answer, by ticket.
    pending: HashMap<u64, (Instant, oneshot::Sender<RoomReply>)>,
    next_ticket: u64,
    /// This node's mirror of the room's media, made when the owner first gives it a listener to serve.
    mirror: Option<Mirror>,
}

/// Runs the remote room until the room ends, its owner changes or falls silent (`stop`), or the directory
/// lets go of it.
pub(crate) async fn remote_room(
    cluster: Cluster,
    room: RoomId,
    owner: NodeName,
    (inbox, mut rx): (mpsc::WeakSender<RoomInput>, mpsc::Receiver<RoomInput>),
    mut stop: oneshot::Receiver<Stop>,
) {
    let mut downlink = match Downlink::open(cluster.clone(), room.clone(), owner.clone()).await {
        Ok(downlink) => downlink,
        Err(e) => {
            tracing::error!(%room, error = %e, "cannot relay the room");
            return;
        }
    };
    let mut remote = RemoteRoom {
        to_owner: protocol::room_in(&room),
        broadcast: broadcast::channel(stoa_live::live::BROADCAST_QUEUE).0,
        conns: HashMap::new(),
        pending: HashMap::new(),
        next_ticket: 0,
        mirror: None,
        cluster,
        room,
        owner,
        inbox,
    };
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    loop {
        let media_event = async {
            match remote.mirror.as_mut() {
                Some(m) => m.events.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(event) = media_event => {
                if let Some(m) = remote.mirror.as_mut() {
                    m.event(event, &remote.conns);
                }
            }
            why = &mut stop => {
                if why.unwrap_or(Stop::OwnerLost) != Stop::Ended {
                    // The room lives on elsewhere (or will, once its lease lapses): come back shortly.
                    let _ = remote.broadcast.send(encode(&ServerEvent::ServerRestarting { retry_after_ms: 500 }));
                }
                break;
            }
            _ = sweep.tick() => {
                // Requests the owner never answered give up (a join as "unreachable").
                remote.pending.retain(|_, (at, _)| at.elapsed() < ANSWER);
                // A mirror whose last peer went with an offer the owner never sent back.
                remote.mirror.take_if(|m| m.peers.is_empty() && m.opened.elapsed() > ANSWER);
                if remote.conns.is_empty() && remote.pending.is_empty() {
                    downlink.unfollow_all();
                }
            }
            input = rx.recv() => {
                let Some(input) = input else { break };
                if let RoomInput::Request { request: RoomRequest::Join { .. }, .. } = &input {
                    downlink.follow_all().await;
                }
                remote.input(input);
            }
            message = downlink.next() => match message {
                Some(ToNode::Ended) | None => break,
                Some(message) => remote.owner_sent(message),
            },
        }
    }
    // Dropping the connections' queues and the broadcast closes every connection once it has written what
    // it holds (a `room_ended`, a `server_restarting`).
    drop(remote.conns);
    tracing::debug!(room = %remote.room, "stopped relaying the room");
}

impl RemoteRoom {
    /// Tells the owner that a connection here is gone.
    fn disconnected(&self, conn: ConnId) {
        let gone = FromNode { ticket: None, request: RoomRequest::Disconnected { conn } };
        self.cluster.send(self.to_owner.clone(), &gone, &[]);
    }

    /// What this node's routes and connections give the room.
    fn input(&mut self, input: RoomInput) {
        match input {
            RoomInput::Request { from: Caller::Here(reply), request } => {
                match &request {
                    // A new offer replaces the connection's media (the mirror and its link stay for the
                    // answer, which the owner sends back here).
                    RoomRequest::Command { conn, message } => {
                        if matches!(message.command, stoa_proto::ClientCommand::Offer { .. })
                            && let Some(m) = self.mirror.as_mut()
                        {
                            m.close(*conn);
                        }
                    }
                    RoomRequest::Disconnected { conn } => {
                        if let Some(m) = self.mirror.as_mut() {
                            m.close(*conn);
                        }
                        // The last listener here gone: the link stops, and the origin's peer for it times out.
                        self.mirror.take_if(|m| m.peers.is_empty());
                        if self.conns.remove(conn).is_none() {
                            return;
                        }
                    }
                    _ => {}
                }
                let ticket = match reply {
                    // Dropping the reply answers the request: the room cannot be reached just now.
                    Some(_) if self.pending.len() >= MAX_PENDING => return,
                    Some(reply) => {
                        self.next_ticket += 1;
                        self.pending.insert(self.next_ticket, (Instant::now(), reply));
                        Some(self.next_ticket)
                    }
                    None => None,
                };
                if !self.cluster.send(self.to_owner.clone(), &FromNode { ticket, request }, &[]) {
                    ticket.map(|t| self.pending.remove(&t));
                }
            }
            RoomInput::Restarting { retry_after_ms } => {
                // This node is stopping: its own connections are told; the room goes on.
                let _ = self.broadcast.send(encode(&ServerEvent::ServerRestarting { retry_after_ms }));
            }
            // A restream is started on the room's own node, where its egress runs.
            RoomInput::Restream { reply, .. } => {
                let refused = stoa_live::live::RestreamRefused::Unavailable("The room runs on another node.".into());
                let _ = reply.send(Err(refused));
            }
            // Only an owner's room task gets these.
            RoomInput::Request { from: Caller::Node { .. }, .. }
            | RoomInput::Relations { .. }
            | RoomInput::NodeLost { .. }
            | RoomInput::RecordingStopped { .. }
            | RoomInput::Caption { .. }
            | RoomInput::HandOver => {}
        }
    }

    /// What the owner sends this node, in the owner's order.
    fn owner_sent(&mut self, message: ToNode) {
        match message {
            ToNode::Reply { ticket, reply } => self.reply(ticket, reply),
            ToNode::Event { conn, text } => {
                let Some(tx) = self.conns.get(&conn) else { return };
                if tx.try_send(Outbound::Event(Utf8Bytes::from(text))).is_err() {
                    // Too slow, as on the owner: cut off, and the owner lets go of it.
                    self.conns.remove(&conn);
                    self.disconnected(conn);
                }
            }
            ToNode::Broadcast { text } => {
                let _ = self.broadcast.send(Utf8Bytes::from(text));
            }
            ToNode::Close { conn } => {
                if let Some(m) = self.mirror.as_mut() {
                    m.close(conn);
                }
                self.mirror.take_if(|m| m.peers.is_empty());
                if let Some(tx) = self.conns.remove(&conn) {
                    let _ = tx.try_send(Outbound::Close);
                }
            }
            ToNode::Publish { conn, publish } => {
                if let Some(m) = self.mirror.as_mut() {
                    m.publish(conn, publish);
                }
            }
            ToNode::AudienceFrames { frames } => {
                if let Some(m) = self.mirror.as_mut() {
                    m.frames(frames);
                }
            }
            ToNode::HostMedia { conn, sdp, slots, source, publish, frames } => {
                self.host_media(conn, sdp, slots, stoa_sfu::SourceId(source), publish, frames)
            }
            ToNode::Ended => {}
        }
    }

    /// The owner's answer to a request from here. A granted join opens the connection's queues here.
    fn reply(&mut self, ticket: u64, reply: RoomReply<ConnId>) {
        let Some((_, asker)) = self.pending.remove(&ticket) else {
            // The asker gave up waiting: the owner lets go of a connection it granted.
            if let RoomReply::Joined(Ok(conn)) = reply {
                self.disconnected(conn);
            }
            return;
        };
        let reply = reply.map_join(|conn| {
            let (tx, personal) = mpsc::channel(stoa_live::live::PERSONAL_QUEUE);
            self.conns.insert(conn, tx);
            JoinOutcome { conn, personal, broadcast: self.broadcast.subscribe() }
        });
        if let Err(RoomReply::Joined(Ok(outcome))) = asker.send(reply) {
            self.conns.remove(&outcome.conn);
            self.disconnected(outcome.conn);
        }
    }

    /// A connection here offers media: this node's mirror answers it.
    fn host_media(
        &mut self,
        conn: ConnId,
        sdp: String,
        slots: Option<String>,
        source: stoa_sfu::SourceId,
        publish: bool,
        frames: usize,
    ) {
        let Some(tx) = self.conns.get(&conn) else { return };
        if self.mirror.is_none() {
            self.mirror = Mirror::open(&self.cluster, &self.room, &self.owner, self.inbox.clone());
        }
        match self.mirror.as_mut() {
            Some(m) => {
                m.frames(frames);
                m.offer(conn, sdp, slots, source, publish);
            }
            None => {
                let error = ServerEvent::Error {
                    id: None,
                    code: "internal".into(),
                    message: "This server cannot carry the room's audio now; reconnect.".into(),
                };
                let _ = tx.try_send(Outbound::Event(encode(&error)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The relay's limits and the envelope's checks, against a real `nats-server` (installed by the test
    //! command) and a store in a temporary folder.
    use super::*;
    use crate::ClusterConfig;
    use std::process::{Command, Stdio};

    struct Nats(std::process::Child);
    impl Drop for Nats {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// A media plane of one shard on a free port, for a node that will not carry media here.
    fn sfu() -> stoa_sfu::Sfu {
        let config = stoa_sfu::SfuConfig { udp: "127.0.0.1:0".parse().unwrap(), shards: 1, ..Default::default() };
        stoa_sfu::Sfu::start(config).unwrap()
    }

    async fn node(node: &str) -> (Cluster, Nats, tempfile::TempDir) {
        let (nats, port) = nats_server(&[]).await;
        let dir = tempfile::tempdir().unwrap();
        let store = stoa_store::SqliteStore::open(dir.path()).await.unwrap();
        let config = ClusterConfig { nats: format!("nats://127.0.0.1:{port}"), node: node.into() };
        (Cluster::connect(&config, &store, sfu(), dir.path().join("recordings")).await.unwrap(), nats, dir)
    }

    async fn nats_server(extra: &[&str]) -> (Nats, u16) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let program = if std::path::Path::new("/usr/sbin/nats-server").exists() {
            "/usr/sbin/nats-server"
        } else {
            "nats-server"
        };
        let child = Command::new(program)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is installed by the test command");
        let nats = Nats(child);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (nats, port)
    }

    #[tokio::test]
    async fn a_nats_server_with_credentials_takes_the_node_that_has_them_and_no_one_else() {
        let (_nats, port) = nats_server(&["--user", "stoa", "--pass", "s3cret-pass"]).await;
        let dir = tempfile::tempdir().unwrap();
        let store = stoa_store::SqliteStore::open(dir.path()).await.unwrap();
        let good = ClusterConfig { nats: format!("nats://stoa:s3cret-pass@127.0.0.1:{port}"), node: "a".into() };
        let cluster = Cluster::connect(&good, &store, sfu(), dir.path().into())
            .await
            .expect("the node with the credentials joins");
        assert!(cluster.connected());
        let bad = ClusterConfig { nats: format!("nats://stoa:wrong-pass@127.0.0.1:{port}"), node: "b".into() };
        let error = Cluster::connect(&bad, &store, sfu(), dir.path().into())
            .await
            .expect_err("a wrong password is refused")
            .to_string();
        assert!(error.contains("cannot connect to NATS") && !error.contains("wrong-pass"), "{error}");
        assert!(async_nats::connect(format!("nats://127.0.0.1:{port}")).await.is_err(), "no one without them");
        assert_eq!(
            crate::redact("nats://stoa:pw@h:4222,nats://TOKEN@g:4222,nats://h:4222"),
            "nats://stoa:***@h:4222,nats://***@g:4222,nats://h:4222"
        );
    }

    #[tokio::test]
    async fn joins_waiting_on_an_owner_that_does_not_answer_are_bounded() {
        let (cluster, _nats, _dir) = node("b").await;
        let room = RoomId("silentroom01".into());
        let (tx, rx) = mpsc::channel(stoa_live::live::INBOX);
        let (_stop, stop_rx) = oneshot::channel();
        tokio::spawn(remote_room(cluster, room, "a".into(), (tx.downgrade(), rx), stop_rx));
        let user = |i: i64| stoa_proto::UserSummary {
            id: stoa_proto::UserId(i),
            username: format!("u{i}"),
            display_name: format!("U{i}"),
        };
        let mut answers = Vec::new();
        for i in 0..=MAX_PENDING as i64 {
            let (reply, answer) = oneshot::channel();
            let request = RoomRequest::Join {
                user: user(i),
                relations: stoa_room::Relations::default(),
                asked: Vec::new(),
                grant: stoa_proto::Grant::ALL,
            };
            let join = RoomInput::Request { from: Caller::Here(Some(reply)), request };
            tx.send(join).await.unwrap();
            answers.push(answer);
        }
        // The one past the bound is answered at once (unreachable); the others wait for the owner.
        let last = answers.pop().unwrap();
        assert!(tokio::time::timeout(Duration::from_secs(1), last).await.expect("answered at once").is_err());
        let first = answers.remove(0);
        assert!(tokio::time::timeout(Duration::from_millis(300), first).await.is_err(), "still waiting");
        // ... until the owner is given up on.
        let waited = answers.pop().unwrap();
        assert!(tokio::time::timeout(ANSWER * 3, waited).await.expect("given up on").is_err());
    }

    #[tokio::test]
    async fn a_node_hears_the_owners_personal_and_room_wide_messages_in_the_order_they_were_sent() {
        use stoa_live::live::RoomRoute;
        let (_nats, port) = nats_server(&[]).await;
        let dir = tempfile::tempdir().unwrap();
        let store = stoa_store::SqliteStore::open(dir.path()).await.unwrap();
        let config = |node: &str| ClusterConfig { nats: format!("nats://127.0.0.1:{port}"), node: node.into() };
        let a = Cluster::connect(&config("a"), &store, sfu(), dir.path().into()).await.unwrap();
        let b = Cluster::connect(&config("b"), &store, sfu(), dir.path().into()).await.unwrap();
        let room = RoomId("orderedroom1".into());
        let mut downlink = Downlink::open(b.clone(), room.clone(), NodeName::from("a")).await.unwrap();
        downlink.follow_all().await;
        // The owner's subscriptions are in place once a message through the same connection comes back.
        let mut probe = b.client.subscribe("probe").await.unwrap();
        b.client.publish("probe", "x".into()).await.unwrap();
        probe.next().await.unwrap();
        // Personal events for B and room-wide events, interleaved in runs of varied length.
        let mut route = super::super::hosted::HostedRoom::new(a.clone(), room.clone(), stoa_sfu::RoomKey(1));
        let mut sent = Vec::new();
        for i in 0..400u32 {
            let text = format!("{{\"n\":{i}}}");
            if (i / 3 + i % 5) % 2 == 0 {
                assert!(route.event(&NodeName::from("b"), ConnId(1), &text));
            } else {
                assert!(route.broadcast(&text));
            }
            sent.push(text);
        }
        let mut heard = Vec::new();
        while heard.len() < sent.len() {
            let message = tokio::time::timeout(Duration::from_secs(10), downlink.next()).await.expect("in time");
            match message.expect("the subscription lives") {
                ToNode::Event { text, .. } | ToNode::Broadcast { text } => heard.push(text),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(heard, sent);
    }
}
