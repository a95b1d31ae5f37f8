//! The relay between a room's owner and the other nodes of the cluster.
//!
//! A node that does not own a room keeps a *remote room* task for it ([`remote_room`]): to the routes and
//! connections of that node it looks like any room task (the same [`RoomInput`]s on the same kind of
//! handle), but it passes each input to the owner on `stoa.room.ID.in`, and gets everything the owner has
//! for this node's connections, in order, on `stoa.room.ID.to.NODE`: join answers, personal events,
//! closes, and each room-wide event once for the node, which it hands to its connections through one
//! local broadcast channel, as the owner does for its own.
//!
//! On the owner, [`host_room`] reads `stoa.room.ID.in` and feeds the room task; the room task sends what
//! belongs to remote connections itself, so that personal and room-wide events leave in the order the
//! room made them.

use super::Cluster;
use crate::live::{Caller, JoinOutcome, Outbound, RoomInput, RoomReply, RoomRequest, ToNode};
use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};
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

/// What a node sends a room's owner: a request, and the node's ticket for its answer if it wants one.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FromNode {
    ticket: Option<u64>,
    request: RoomRequest,
}

/// Where a room's inputs go.
pub(crate) fn inbound(room: &RoomId) -> String {
    format!("stoa.room.{room}.in")
}

/// Where a room's owner sends what is for `node`.
pub(crate) fn outbound(room: &RoomId, node: &str) -> String {
    format!("stoa.room.{room}.to.{node}")
}

fn encode(event: &ServerEvent) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(event).unwrap_or_else(|_| "{}".into()))
}

/// The owner's side: reads what other nodes send the room and feeds the room task, in the order it came,
/// until the room ends. The room task answers each node itself, in order with its other messages for it.
pub(crate) async fn host_room(cluster: Cluster, room: RoomId, inbox: mpsc::Sender<RoomInput>) {
    let subject = inbound(&room);
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
        let Some((node, FromNode { ticket, request })) = cluster.open(&subject, &message.payload) else { continue };
        let from = Caller::Node { node: crate::live::NodeName::from(node.as_str()), ticket };
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
        let key = crate::live::new_room_key();
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
    crate::live::ask(&inbox, request).await
}

/// A room another node owns, as this node's routes and connections see it. Ends when the room ends, its
/// owner changes or falls silent (`stop`), or the directory lets go of it.
pub(crate) async fn remote_room(
    cluster: Cluster,
    room: RoomId,
    owner: String,
    (inbox, mut rx): (mpsc::WeakSender<RoomInput>, mpsc::Receiver<RoomInput>),
    mut stop: oneshot::Receiver<Stop>,
) {
    let subject = outbound(&room, cluster.node());
    let mut sub = match cluster.client.subscribe(subject.clone()).await {
        Ok(sub) => sub,
        Err(e) => {
            tracing::error!(%room, error = %e, "cannot relay the room");
            return;
        }
    };
    let to_owner = inbound(&room);
    let (broadcast, _) = broadcast::channel::<Utf8Bytes>(crate::live::BROADCAST_QUEUE);
    let mut conns: HashMap<ConnId, mpsc::Sender<Outbound>> = HashMap::new();
    type Pending = (Instant, oneshot::Sender<RoomReply>);
    let mut pending: HashMap<u64, Pending> = HashMap::new();
    let mut next_ticket = 1u64;
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    // This node's mirror of the room's media, made when the owner first gives it a listener to serve.
    let mut mirror: Option<Mirror> = None;
    loop {
        let media_event = async {
            match mirror.as_mut() {
                Some(m) => m.events.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(event) = media_event => {
                if let Some(m) = mirror.as_mut() {
                    m.event(event, &conns);
                }
            }
            why = &mut stop => {
                if why.unwrap_or(Stop::OwnerLost) != Stop::Ended {
                    // The room lives on elsewhere (or will, once its lease lapses): come back shortly.
                    let _ = broadcast.send(encode(&ServerEvent::ServerRestarting { retry_after_ms: 500 }));
                }
                break;
            }
            _ = sweep.tick() => {
                // Requests the owner never answered give up (a join as "unreachable").
                pending.retain(|_, (at, _)| at.elapsed() < ANSWER);
                // A mirror whose last peer went with an offer the owner never sent back.
                mirror.take_if(|m| m.peers.is_empty() && m.opened.elapsed() > ANSWER);
            }
            input = rx.recv() => {
                let Some(input) = input else { break };
                match input {
                    RoomInput::Request { from: Caller::Here(reply), request } => {
                        match &request {
                            // A new offer replaces the connection's media (the mirror and its link stay for
                            // the answer, which the owner sends back here).
                            RoomRequest::Command { conn, message } => {
                                if matches!(message.command, stoa_proto::ClientCommand::Offer { .. })
                                    && let Some(m) = mirror.as_mut()
                                {
                                    m.close(*conn);
                                }
                            }
                            RoomRequest::Disconnected { conn } => {
                                if let Some(m) = mirror.as_mut() {
                                    m.close(*conn);
                                }
                                // The last listener here gone: the link stops, and the origin's peer for it
                                // times out.
                                mirror.take_if(|m| m.peers.is_empty());
                                if conns.remove(conn).is_none() {
                                    continue;
                                }
                            }
                            _ => {}
                        }
                        let ticket = match reply {
                            // Dropping the reply answers the request: the room cannot be reached just now.
                            Some(_) if pending.len() >= MAX_PENDING => continue,
                            Some(reply) => {
                                next_ticket += 1;
                                pending.insert(next_ticket, (Instant::now(), reply));
                                Some(next_ticket)
                            }
                            None => None,
                        };
                        if !cluster.send(to_owner.clone(), FromNode { ticket, request }) {
                            ticket.map(|t| pending.remove(&t));
                        }
                    }
                    RoomInput::Restarting { retry_after_ms } => {
                        // This node is stopping: its own connections are told; the room goes on.
                        let _ = broadcast.send(encode(&ServerEvent::ServerRestarting { retry_after_ms }));
                    }
                    // A restream is started on the room's own node, where its egress runs.
                    RoomInput::Restream { reply, .. } => {
                        let _ = reply.send(Err(crate::live::RestreamRefused::Unavailable(
                            "The room runs on another node.".into(),
                        )));
                    }
                    // Only an owner's room task gets these.
                    RoomInput::Request { from: Caller::Node { .. }, .. }
                    | RoomInput::Relations { .. }
                    | RoomInput::NodeLost { .. }
                    | RoomInput::RecordingStopped { .. }
                    | RoomInput::HandOver => {}
                }
            }
            Some(message) = sub.next() => {
                let Some((from, out)) = cluster.open::<ToNode>(&subject, &message.payload) else { continue };
                if from != owner {
                    continue;
                }
                match out {
                    ToNode::Reply { ticket, reply } => {
                        let Some((_, asker)) = pending.remove(&ticket) else {
                            // The asker gave up waiting: the owner lets go of a connection it granted.
                            if let RoomReply::Joined(Ok(conn)) = reply {
                                cluster.send(to_owner.clone(), FromNode { ticket: None, request: RoomRequest::Disconnected { conn } });
                            }
                            continue;
                        };
                        let reply = reply.map_join(|conn| {
                            let (tx, personal) = mpsc::channel(crate::live::PERSONAL_QUEUE);
                            conns.insert(conn, tx);
                            JoinOutcome { conn, personal, broadcast: broadcast.subscribe() }
                        });
                        if let Err(RoomReply::Joined(Ok(outcome))) = asker.send(reply) {
                            conns.remove(&outcome.conn);
                            cluster.send(to_owner.clone(), FromNode { ticket: None, request: RoomRequest::Disconnected { conn: outcome.conn } });
                        }
                    }
                    ToNode::Event { conn, text } => {
                        let Some(tx) = conns.get(&conn) else { continue };
                        if tx.try_send(Outbound::Event(Utf8Bytes::from(text))).is_err() {
                            // Too slow, as on the owner: cut off, and the owner lets go of it.
                            conns.remove(&conn);
                            cluster.send(to_owner.clone(), FromNode { ticket: None, request: RoomRequest::Disconnected { conn } });
                        }
                    }
                    ToNode::Close { conn } => {
                        if let Some(m) = mirror.as_mut() {
                            m.close(conn);
                        }
                        mirror.take_if(|m| m.peers.is_empty());
                        if let Some(tx) = conns.remove(&conn) {
                            let _ = tx.try_send(Outbound::Close);
                        }
                    }
                    ToNode::Publish { conn, publish } => {
                        if let Some(m) = mirror.as_mut() {
                            m.publish(conn, publish);
                        }
                    }
                    ToNode::AudienceFrames { frames } => {
                        if let Some(m) = mirror.as_mut() {
                            m.frames(frames);
                        }
                    }
                    ToNode::HostMedia { conn, sdp, slots, source, publish, frames } => {
                        let Some(tx) = conns.get(&conn) else { continue };
                        if mirror.is_none() {
                            mirror = Mirror::open(&cluster, &room, &owner, inbox.clone());
                        }
                        match mirror.as_mut() {
                            Some(m) => {
                                m.frames(frames);
                                m.offer(conn, sdp, slots, stoa_sfu::SourceId(source), publish);
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
                    ToNode::Broadcast { text } => {
                        let _ = broadcast.send(Utf8Bytes::from(text));
                    }
                    ToNode::Ended => break,
                }
            }
        }
    }
    // Dropping the connections' queues and the broadcast closes every connection once it has written what
    // it holds (a `room_ended`, a `server_restarting`).
    drop(conns);
    tracing::debug!(%room, "stopped relaying the room");
}

#[cfg(test)]
mod tests {
    //! The relay's limits and the envelope's checks, against a real `nats-server` (installed by the test
    //! command) and a store in a temporary folder.
    use super::*;
    use crate::cluster::{ClusterConfig, MAX_AGE};
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
            crate::cluster::redact("nats://stoa:pw@h:4222,nats://TOKEN@g:4222,nats://h:4222"),
            "nats://stoa:***@h:4222,nats://***@g:4222,nats://h:4222"
        );
    }

    #[tokio::test]
    async fn a_message_is_opened_once_only_if_signed_with_the_key_for_its_subject_and_fresh() {
        let (cluster, _nats, _dir) = node("a").await;
        let sealed = cluster
            .seal("stoa.room.x.in", FromNode { ticket: None, request: RoomRequest::SetCapacity { capacity: 7 } });
        let (from, opened) = cluster.open::<FromNode>("stoa.room.x.in", &sealed).expect("a sealed message opens");
        assert_eq!(from, "a");
        assert!(matches!(opened, FromNode { ticket: None, request: RoomRequest::SetCapacity { capacity: 7 } }));
        // The same message again is a replay.
        assert!(cluster.open::<FromNode>("stoa.room.x.in", &sealed).is_none());
        // On another subject (another room), it is not valid.
        let sealed = cluster
            .seal("stoa.room.x.in", FromNode { ticket: None, request: RoomRequest::SetCapacity { capacity: 7 } });
        assert!(cluster.open::<FromNode>("stoa.room.y.in", &sealed).is_none());
        // A byte changed, or signed with another key: refused.
        let mut bent = cluster
            .seal("stoa.room.x.in", FromNode { ticket: None, request: RoomRequest::SetCapacity { capacity: 7 } })
            .to_vec();
        let last = bent.len() - 2;
        bent[last] ^= 1;
        assert!(cluster.open::<FromNode>("stoa.room.x.in", &bent).is_none());
        let (other, _nats2, _dir2) = node("b").await;
        let foreign =
            other.seal("stoa.room.x.in", FromNode { ticket: None, request: RoomRequest::SetCapacity { capacity: 7 } });
        assert!(cluster.open::<FromNode>("stoa.room.x.in", &foreign).is_none());
        // Signed right but stale.
        let old = super::super::Envelope {
            n: "a".to_string(),
            t: super::super::now_ms() - MAX_AGE.as_millis() as i64 - 1000,
            r: 42,
            b: FromNode { ticket: None, request: RoomRequest::SetCapacity { capacity: 7 } },
        };
        let json = serde_json::to_vec(&old).unwrap();
        let mut stale = cluster.mac("stoa.room.x.in", &json).to_vec();
        stale.extend_from_slice(&json);
        assert!(cluster.open::<FromNode>("stoa.room.x.in", &stale).is_none());
        assert_eq!(cluster.refused.load(std::sync::atomic::Ordering::Relaxed), 5);
    }

    #[tokio::test]
    async fn joins_waiting_on_an_owner_that_does_not_answer_are_bounded() {
        let (cluster, _nats, _dir) = node("b").await;
        let room = RoomId("silentroom01".into());
        let (tx, rx) = mpsc::channel(crate::live::INBOX);
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
}
