//! The room task: the one owner of a live room. It feeds a [`Room`] the inputs that arrive on its channel
//! and the timeouts it asks for, and carries out the room's outputs: events to connections, broadcasts,
//! closes, and the room's end.

use crate::live::directory::{Directory, RoomHandle, Snapshot};
use crate::live::input::{
    BROADCAST_QUEUE, Caller, INBOX, JoinOutcome, Outbound, PERSONAL_QUEUE, RestreamRefused, RoomInput, RoomReply,
    RoomRequest,
};
use crate::live::nodes::{NodeName, RoomRoute, RoomStart, Routing, Sink};
use axum::extract::ws::Utf8Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use stoa_proto::{ClientCommand, RoomId, ServerEvent, UserId};
use stoa_room::{ConnId, Output, Room};
use stoa_sfu::{PeerId, RoomKey, Sfu, SfuEvent, SourceId};
use stoa_store::Store;
use tokio::sync::{broadcast, mpsc, watch};

mod captions;
mod media;

/// Events from the media plane: answers, slot changes. Slot changes are rate-limited by the slot mapper's
/// hysteresis; answers come one per offer.
const MEDIA_EVENTS: usize = 1024;

/// Media-plane keys for rooms, unique for the life of the process.
static NEXT_ROOM_KEY: AtomicU64 = AtomicU64::new(1);

/// A media-plane key no other room has, for a room of the SFU's own (a room's WHEP mix).
pub fn new_room_key() -> RoomKey {
    RoomKey(NEXT_ROOM_KEY.fetch_add(1, Ordering::Relaxed))
}

/// Whose a source number is: a peer on this node, or a connection whose media another node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceOf {
    Peer(PeerId),
    Edge,
}

/// When a room's audience gets joined packets: `frames` per packet from `above` listeners.
#[derive(Debug, Clone, Copy)]
pub struct AudiencePackets {
    /// 20 ms frames per packet (1: off).
    pub frames: usize,
    /// The listener count from which it applies.
    pub above: u32,
}

/// What a room task takes from the server's configuration.
#[derive(Debug, Clone)]
pub struct RoomSettings {
    /// When the audience gets joined packets.
    pub audience_packets: AudiencePackets,
    /// TURN servers, whose credentials each participant gets with `joined`.
    pub turn: Option<Arc<crate::turn::TurnConfig>>,
    /// Where the room tells followers that someone came on stage.
    pub notifier: crate::notify::Notifier,
    /// Where the room's chat and moderation are recorded.
    pub room_log: crate::room_log::RoomLog,
    /// What the room's egress thread takes.
    pub egress: Arc<stoa_egress::EgressConfig>,
    /// Where replays are written.
    pub recordings: std::path::PathBuf,
    /// How much space recordings may take.
    pub recording_quota: crate::recordings::Quota,
    /// Where the room's start and end, and its replays, are told to webhooks.
    pub webhooks: crate::webhooks::WebhookSender,
    /// The base of links (a replay's page, in its webhook event).
    pub public_url: Arc<str>,
    /// How the room reaches other nodes' connections, and tells them of itself.
    pub routing: Routing,
    /// Where live captions come from, if this server has an engine.
    pub captions: Option<Arc<crate::captions::CaptionEngine>>,
}

/// Starts the task of a new room, registers it in the directory, and returns its handle.
pub fn spawn_room(
    mut room: Room,
    id: RoomId,
    store: Arc<dyn Store>,
    directory: Directory,
    sfu: Sfu,
    settings: RoomSettings,
    metrics: Arc<crate::metrics::RoomMetrics>,
) -> RoomHandle {
    // The room's clock is an Instant; chat messages carry wall-clock times from this pair.
    let unix_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    room.set_wall_clock(Instant::now(), unix_ms);
    let (tx, rx) = mpsc::channel(INBOX);
    let (media_tx, media_rx) = mpsc::channel(MEDIA_EVENTS);
    let room_key = RoomKey(NEXT_ROOM_KEY.fetch_add(1, Ordering::Relaxed));
    sfu.open_room(room_key, media_tx);
    let (snapshot_tx, snapshot) = watch::channel(Arc::new(Snapshot { info: room.info(), access: room.access() }));
    // An end-to-end encrypted room has no egress: its audio is sealed on the speakers' devices, and the
    // server keeps none of it (no ring for clips or reports, no mix, no captions).
    let egress = match (!room.is_e2ee()).then(|| stoa_egress::RoomEgress::start(&id.0, &settings.egress)) {
        None => None,
        Some(Ok((egress, tap))) => {
            sfu.tap(room_key, Some(tap));
            Some(egress)
        }
        Some(Err(e)) => {
            tracing::error!(room = %id, error = %e, "cannot start the room's egress: no replays, clips or listen link");
            None
        }
    };
    let replays = egress.clone().map(|e| {
        crate::recordings::replay_worker(
            store.clone(),
            e,
            id.clone(),
            settings.recordings.clone(),
            (settings.webhooks.clone(), settings.public_url.clone()),
            (tx.clone(), settings.recording_quota),
        )
    });
    let handle = RoomHandle { tx, snapshot, egress: egress.clone(), remote: false };
    let first = handle.snapshot.borrow().clone();
    let start =
        RoomStart { room: &id, snapshot: &first, inbox: handle.tx.clone(), store: store.clone(), media: room_key };
    let route = settings.routing.started(start);
    directory.insert(id.clone(), handle.clone());
    // The room's lasting state, written through to the store by a task of its own: a watch channel holds
    // only the latest, so a burst of changes is one write, and the room task never waits for the store.
    let lasting = serde_json::to_string(&room.lasting()).unwrap_or_default();
    let (lasting_tx, mut lasting_rx) = watch::channel(lasting);
    lasting_rx.mark_changed();
    let (writer_store, writer_id) = (store.clone(), id.clone());
    tokio::spawn(async move {
        while lasting_rx.changed().await.is_ok() {
            let json = lasting_rx.borrow_and_update().clone();
            if let Err(e) = writer_store.save_room_state(&writer_id, &json).await {
                tracing::warn!(room = %writer_id, error = %e, "cannot save the room's state");
            }
        }
    });
    let on_stage = room.info().stage.iter().map(|m| m.user.id).collect();
    let task = RoomTask {
        inbox: handle.tx.downgrade(),
        lookups: HashMap::new(),
        looking_up: false,
        published: room.version(),
        publishers_synced: u64::MAX,
        room,
        id,
        store,
        directory,
        conns: HashMap::new(),
        broadcast: broadcast::channel(BROADCAST_QUEUE).0,
        snapshot: snapshot_tx,
        sfu,
        room_key,
        peers: HashMap::new(),
        peer_conns: HashMap::new(),
        sources: HashMap::new(),
        holders: Vec::new(),
        offer_limits: Default::default(),
        audience_packets: settings.audience_packets,
        turn: settings.turn,
        notifier: settings.notifier,
        room_log: settings.room_log,
        on_stage,
        audience_frames: 1,
        metrics,
        offered_at: HashMap::new(),
        lasting: lasting_tx,
        egress,
        replays,
        webhooks: settings.webhooks,
        recording: false,
        outputs_actor: None,
        route,
        remote_nodes: HashMap::new(),
        handed_over: false,
        captions: captions::Captions::new(settings.captions),
    };
    tokio::spawn(task.run(rx, media_rx));
    handle
}

struct RoomTask {
    /// Where followers are told that someone came on stage.
    notifier: crate::notify::Notifier,
    /// Where the chat and the moderators' actions are recorded.
    room_log: crate::room_log::RoomLog,
    /// Who was on stage at the last snapshot: someone new there is news to their followers. Those on
    /// stage when the task starts (the creator, a restored stage) are not.
    on_stage: HashSet<UserId>,
    room: Room,
    /// The task's own inbox, where the store's answers come back (weak: the directory's handle is what
    /// keeps a room reachable).
    inbox: mpsc::WeakSender<RoomInput>,
    /// The relations the room asked for and the store has not been asked yet: whom of which participants
    /// each stage member follows and blocks. Merged per member, and asked one member at a time, so a
    /// moderator who reshuffles the stage in a loop costs the store one query at a time, not a pile of them.
    lookups: HashMap<UserId, HashSet<UserId>>,
    /// Whether a look-up is with the store now.
    looking_up: bool,
    id: RoomId,
    store: Arc<dyn Store>,
    directory: Directory,
    conns: HashMap<ConnId, Sink>,
    /// How many connections each other node of the cluster holds in the room: room-wide events go to
    /// each of those nodes once.
    remote_nodes: HashMap<NodeName, usize>,
    /// How the room reaches other nodes.
    route: Box<dyn RoomRoute>,
    /// Whether the room stopped here because another node took it over.
    handed_over: bool,
    broadcast: broadcast::Sender<Utf8Bytes>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    published: u64,
    /// The room version at which the SFU's publish flags were last brought in line.
    publishers_synced: u64,
    sfu: Sfu,
    room_key: RoomKey,
    /// Each connection's media peer, and whether it may publish as last told to the SFU.
    peers: HashMap<ConnId, (PeerId, bool)>,
    peer_conns: HashMap<PeerId, ConnId>,
    /// Who each live peer's source number stands for. The number is what packets carry in the clear as
    /// their CSRC; the user behind it is told only over the room's WebSocket, in `slots` events.
    sources: HashMap<SourceId, (SourceOf, UserId)>,
    /// Each connection's recent offers, to refuse a client that offers in a loop.
    offer_limits: crate::live::offers::OfferLimits,
    /// Who holds each slot, as the SFU last said: sent to every new media connection with its answer, so
    /// that a late joiner can tell who speaks before the slots next change.
    holders: Vec<Option<SourceId>>,
    audience_packets: AudiencePackets,
    turn: Option<Arc<crate::turn::TurnConfig>>,
    /// Frames per audience packet, as last told to the SFU.
    audience_frames: usize,
    metrics: Arc<crate::metrics::RoomMetrics>,
    /// When each peer's offer came, until it connects: the join latency.
    offered_at: HashMap<PeerId, Instant>,
    /// The room's lasting state as last handed to its writer (JSON).
    lasting: watch::Sender<String>,
    /// The room's egress.
    egress: Option<stoa_egress::RoomEgress>,
    /// Where replays are started and stopped, in order; the room's egress stops when this is dropped.
    replays: Option<mpsc::Sender<crate::recordings::ReplayOp>>,
    /// Whether a replay was last asked to record.
    recording: bool,
    /// Where the room's end is told to webhooks.
    webhooks: crate::webhooks::WebhookSender,
    /// The moderator who last changed the outputs: who turned the replay on.
    outputs_actor: Option<UserId>,
    /// Who has captions on, and the engine.
    captions: captions::Captions,
}

impl RoomTask {
    async fn run(mut self, mut rx: mpsc::Receiver<RoomInput>, mut media: mpsc::Receiver<SfuEvent>) {
        tracing::info!(room = %self.id, "room is live");
        // The listen link's audience, counted from its segment fetches, joins the listener count.
        let mut public_count = tokio::time::interval(std::time::Duration::from_secs(2));
        public_count.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.sync_outputs();
        loop {
            let deadline = self.room.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                _ = public_count.tick() => {
                    let count = self.egress.as_ref().map_or(0, |e| e.hls().listeners());
                    self.room.set_public_listeners(Instant::now(), count);
                    // The listen link's stream started or stopped: its captions follow.
                    self.sync_captions();
                    self.restream_ended();
                }
                input = rx.recv() => match input {
                    Some(input) => self.handle(input),
                    None => break,
                },
                Some(event) = media.recv() => self.media_event(event),
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                    self.room.handle_timeout(Instant::now());
                }
            }
            if self.drain() {
                break;
            }
        }
        self.sfu.close_room(self.room_key);
        // The replay worker closes the replay and stops the egress once it has done what is queued.
        self.replays = None;
        if self.handed_over {
            self.directory.remove_if(&self.id, |h| !h.remote);
            tracing::info!(room = %self.id, "room handed over to another node");
            return;
        }
        let snapshot = self.snapshot.borrow().clone();
        self.route.news(&snapshot, true);
        self.directory.remove(&self.id);
        if let Err(e) = self.store.end_room(&self.id).await {
            tracing::error!(room = %self.id, error = %e, "could not record the room's end");
        }
        let info = self.room.info();
        let room = stoa_proto::HookRoom { id: self.id.0.clone(), title: info.title, visibility: info.visibility };
        self.webhooks.emit(stoa_proto::HookData::RoomEnded { room });
        tracing::info!(room = %self.id, "room ended");
    }

    fn handle(&mut self, input: RoomInput) {
        match input {
            RoomInput::Request { from, request } => self.request(from, request),
            RoomInput::NodeLost { node } => self.drop_node(&node, "a node fell silent; its connections are gone"),
            RoomInput::HandOver => {
                self.broadcast_text(encode(&ServerEvent::ServerRestarting { retry_after_ms: 500 }));
                self.handed_over = true;
            }
            RoomInput::Caption { source, text, start_ms, end_ms } => self.caption(source, text, start_ms, end_ms),
            RoomInput::Restarting { retry_after_ms } => {
                self.broadcast_text(encode(&ServerEvent::ServerRestarting { retry_after_ms }));
            }
            RoomInput::RecordingStopped { reason, message } => self.room.recording_stopped(reason, &message),
            RoomInput::Restream { actor, target, reply } => {
                let _ = reply.send(self.restream(actor, target));
            }
            RoomInput::Relations { of, among, outgoing } => {
                self.looking_up = false;
                self.room.relations_of(of, &among, &outgoing.following, &outgoing.blocking);
            }
        }
    }

    /// A request, from a connection or a route here or on another node. The same request is carried out
    /// the same way wherever it came from; only a join's connection and where the answer goes differ.
    fn request(&mut self, from: Caller, request: RoomRequest) {
        let now = Instant::now();
        if let (Caller::Node { node, .. }, Some(conn)) = (&from, request.conn())
            && !matches!(self.conns.get(&conn), Some(Sink::Node(n)) if n == node)
        {
            // Only the node that holds a connection speaks for it. A connection the room let go of (the node
            // was thought lost, or it was too slow): the node is told to close it, so that its client
            // reconnects rather than talk to no one.
            tracing::info!(room = %self.id, %node, conn = conn.0, "a node relayed for a connection it does not hold");
            if matches!(request, RoomRequest::Command { .. }) {
                self.route.close(node, conn);
            }
            return;
        }
        match request {
            RoomRequest::Join { user, relations, asked, grant } => {
                let result = self.room.join(now, user, relations, &asked, grant);
                self.joined(from, result);
            }
            RoomRequest::Command { conn, message } => match message.command {
                ClientCommand::Offer { sdp } => self.offer(conn, sdp),
                // ICE-lite: the server learns the client's address from its checks; candidates are not needed.
                ClientCommand::Candidate { .. } => {}
                ClientCommand::SetCaptions { on } => self.set_captions(conn, on),
                _ => self.room.command(now, conn, message),
            },
            RoomRequest::Disconnected { conn } => self.drop_conn(conn),
            RoomRequest::Invite { actor, users } => {
                let reply = RoomReply::Invited(self.room.invite(actor, &users));
                self.answer(from, reply);
            }
            RoomRequest::Ping { actor, target } => {
                let reply = RoomReply::Pinged(self.room.ping(actor, target).map(|()| self.room.access()));
                self.answer(from, reply);
            }
            RoomRequest::Expel { user, reason, message } => {
                self.room.expel_user(now, user, &reason, &message);
            }
            RoomRequest::AdminEnd { admin } => {
                if let Some(actor) = admin {
                    self.record_moderation(actor, stoa_proto::ModerationAction::EndRoom, None, None);
                }
                self.room.end_by_admin();
            }
            RoomRequest::SetCapacity { capacity } => self.room.set_capacity(capacity),
            RoomRequest::Present { users } => {
                let present = users.into_iter().filter(|u| self.room.role_of(*u).is_some()).collect();
                self.answer(from, RoomReply::Present(present, self.room.info().title));
            }
            RoomRequest::Audience { offset, limit } => {
                let reply = RoomReply::Audience(self.room.audience(offset, limit));
                self.answer(from, reply);
            }
            RoomRequest::Link { sdp } => match from {
                Caller::Node { node, ticket } => self.link(node, sdp, ticket),
                here => self.answer(here, RoomReply::Linked(Err("A link comes from another node.".into()))),
            },
        }
    }

    /// Opens a granted join's connection where its socket is, and answers the join. A join whose asker went
    /// away before the answer never opens.
    fn joined(&mut self, from: Caller, result: Result<ConnId, stoa_room::JoinError>) {
        match from {
            Caller::Here(reply) => {
                let outcome = result.map(|conn| {
                    let (tx, personal) = mpsc::channel(PERSONAL_QUEUE);
                    self.conns.insert(conn, Sink::Local(tx));
                    JoinOutcome { conn, personal, broadcast: self.broadcast.subscribe() }
                });
                let unanswered = match reply {
                    Some(reply) => match reply.send(RoomReply::Joined(outcome)) {
                        Err(RoomReply::Joined(Ok(outcome))) => Some(outcome.conn),
                        _ => None,
                    },
                    None => outcome.ok().map(|o| o.conn),
                };
                if let Some(conn) = unanswered {
                    self.drop_conn(conn);
                }
            }
            Caller::Node { node, ticket } => {
                if let Ok(conn) = result {
                    self.conns.insert(conn, Sink::Node(node.clone()));
                    *self.remote_nodes.entry(node.clone()).or_default() += 1;
                }
                // The answer goes the way of the connection's later events, so nothing overtakes it.
                let sent = ticket.is_some_and(|ticket| self.route.reply(&node, ticket, RoomReply::Joined(result)));
                if !sent && let Ok(conn) = result {
                    self.drop_conn(conn);
                }
            }
        }
    }

    /// Sends an answer (never a granted join) to whoever asked.
    pub(super) fn answer(&mut self, to: Caller, reply: RoomReply<std::convert::Infallible>) {
        match to {
            Caller::Here(Some(tx)) => {
                let _ = tx.send(reply.widen());
            }
            Caller::Node { node, ticket: Some(ticket) } => {
                if !self.route.reply(&node, ticket, reply.widen()) {
                    self.drop_node(&node, "cannot relay to a node; dropping its connections");
                }
            }
            Caller::Here(None) | Caller::Node { ticket: None, .. } => {}
        }
    }

    /// Asks the store for the next look-up the room is waiting for, unless one is under way. The answer
    /// comes back through the inbox as [`RoomInput::Relations`].
    fn look_up_next(&mut self) {
        if self.looking_up {
            return;
        }
        let Some(&of) = self.lookups.keys().next() else { return };
        let among: Vec<UserId> = self.lookups.remove(&of).unwrap_or_default().into_iter().collect();
        let (store, inbox, room) = (self.store.clone(), self.inbox.clone(), self.id.clone());
        self.looking_up = true;
        tokio::spawn(async move {
            let outgoing = match store.outgoing_among(of, &among).await {
                Ok(outgoing) => outgoing,
                Err(e) => {
                    // The rules go on without this member's follows and blocks (as if they had none).
                    tracing::error!(%room, error = %e, "could not look up a stage member's relations");
                    stoa_store::Outgoing::default()
                }
            };
            if let Some(inbox) = inbox.upgrade() {
                let _ = inbox.send(RoomInput::Relations { of, among, outgoing }).await;
            }
        });
    }

    fn send(&mut self, conn: ConnId, event: &ServerEvent) {
        let sent = match self.conns.get(&conn) {
            None => return,
            Some(Sink::Local(tx)) => tx.try_send(Outbound::Event(encode(event))).is_ok(),
            Some(Sink::Node(node)) => {
                let text = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
                self.route.event(node, conn, &text)
            }
        };
        if !sent {
            // Full (the client stopped reading) or closed: cut it off rather than wait. Its participant
            // keeps their place for the reconnect grace, like any dropped socket.
            tracing::info!(room = %self.id, conn = conn.0, "connection too slow; closing it");
            self.metrics.ws_queue_drops.fetch_add(1, Ordering::Relaxed);
            self.drop_conn(conn);
        }
    }

    /// Lets go of a connection the room can no longer reach: its participant keeps their place for the
    /// reconnect grace, like any dropped socket.
    fn drop_conn(&mut self, conn: ConnId) {
        self.forget_conn(conn);
        self.offer_limits.forget(conn);
        self.close_media(conn);
        self.room.disconnected(Instant::now(), conn);
    }

    /// Lets go of every connection another node holds (it fell silent, or cannot be relayed to).
    fn drop_node(&mut self, node: &str, why: &str) {
        let conns: Vec<ConnId> =
            self.conns.iter().filter(|(_, s)| matches!(s, Sink::Node(n) if &**n == node)).map(|(c, _)| *c).collect();
        if !conns.is_empty() {
            tracing::warn!(room = %self.id, %node, conns = conns.len(), "{why}");
        }
        for conn in conns {
            self.drop_conn(conn);
        }
        self.route.edges().node_gone(node);
    }

    /// Takes a connection out of the sinks (and its node's count).
    fn forget_conn(&mut self, conn: ConnId) -> Option<Sink> {
        let sink = self.conns.remove(&conn)?;
        self.set_captions(conn, false);
        if let Sink::Node(node) = &sink
            && let Some(n) = self.remote_nodes.get_mut(node)
        {
            *n -= 1;
            if *n == 0 {
                self.remote_nodes.remove(node);
            }
        }
        Some(sink)
    }

    /// A room-wide event: one send to this node's connections, and one to each other node that holds some.
    /// A node it cannot be queued for loses its connections, which reconnect.
    fn broadcast_text(&mut self, text: Utf8Bytes) {
        if !self.remote_nodes.is_empty() && !self.route.broadcast(text.as_str()) {
            let nodes: Vec<NodeName> = self.remote_nodes.keys().cloned().collect();
            for node in nodes {
                self.drop_node(&node, "cannot relay to a node; dropping its connections");
            }
        }
        let _ = self.broadcast.send(text);
    }

    /// Carries out the room's outputs. Returns true when the room has ended.
    /// Starts or stops the replay as the room's outputs say.
    fn sync_outputs(&mut self) {
        let wanted = self.room.room_outputs().recording;
        if wanted == self.recording {
            return;
        }
        let Some(replays) = &self.replays else { return };
        let op = if wanted {
            let info = self.room.info();
            let access = self.room.access();
            let host = info.stage.first().map(|m| m.user.clone());
            let made_by =
                self.outputs_actor.and_then(|a| info.stage.iter().find(|m| m.user.id == a)).map(|m| m.user.clone());
            let Some(host) = host else { return };
            let mut allowed: Vec<UserId> = access.moderators.iter().chain(access.invited.iter()).copied().collect();
            allowed.sort();
            allowed.dedup();
            crate::recordings::ReplayOp::Start {
                title: info.title,
                visibility: info.visibility,
                made_by: made_by.unwrap_or_else(|| host.clone()),
                host,
                allowed,
                club: access.club,
            }
        } else {
            crate::recordings::ReplayOp::Stop
        };
        if replays.try_send(op).is_err() {
            tracing::warn!(room = %self.id, "the replay worker is behind; a start or stop was dropped");
        }
        self.recording = wanted;
    }

    fn drain(&mut self) -> bool {
        let mut ended = false;
        while let Some(output) = self.room.poll_output() {
            match output {
                Output::Send(conn, mut event) => {
                    // Each participant's own TURN credentials, made as they join.
                    if let (ServerEvent::Joined { you, ice_servers, .. }, Some(turn)) = (&mut event, &self.turn) {
                        ice_servers.push(turn.ice_server(you.id, std::time::SystemTime::now()));
                    }
                    if let ServerEvent::Joined { captions, captions_low_accuracy, .. } = &mut event {
                        (*captions, *captions_low_accuracy) = self.captions.available();
                    }
                    self.send(conn, &event)
                }
                Output::Broadcast(event) => {
                    // One encoding, one send, whatever the audience: each connection reads the same bytes.
                    self.broadcast_text(encode(&event));
                    if let ServerEvent::ChatMessage { message } = event {
                        self.room_log.push(stoa_store::RoomLogEntry::Chat {
                            room: self.id.clone(),
                            msg_id: message.id,
                            user: message.user.id,
                            text: message.text,
                            at_ms: message.sent_at_ms as i64,
                        });
                    }
                }
                Output::Moderation { actor, action, target, detail } => {
                    if action == stoa_proto::ModerationAction::Outputs {
                        self.outputs_actor = Some(actor);
                    }
                    self.record_moderation(actor, action, target, detail)
                }
                Output::Close(conn) => {
                    // The connection closes once it has written what is queued before this. If the queue is
                    // full, dropping the sender closes it all the same.
                    self.offer_limits.forget(conn);
                    match self.forget_conn(conn) {
                        Some(Sink::Local(tx)) => {
                            let _ = tx.try_send(Outbound::Close);
                        }
                        Some(Sink::Node(node)) => {
                            self.route.close(&node, conn);
                        }
                        None => {}
                    }
                    // Removed, replaced or gone: no more media either way.
                    self.close_media(conn);
                }
                Output::Ended => ended = true,
                Output::LookUpRelations { of, among } => self.lookups.entry(of).or_default().extend(among),
            }
        }
        if !ended {
            self.look_up_next();
        }
        self.sync_publishers();
        if !ended {
            self.sync_outputs();
            self.sync_captions();
        }
        let ended = ended || self.handed_over;
        if ended {
            // Dropping every sender (and, as the task returns, the broadcast sender) closes every
            // connection after it has delivered the `room_ended` broadcast. Other nodes close theirs.
            for node in std::mem::take(&mut self.remote_nodes).into_keys() {
                self.route.ended(&node);
            }
            self.conns.clear();
        }
        if self.room.version() != self.published {
            self.published = self.room.version();
            let snapshot = Arc::new(Snapshot { info: self.room.info(), access: self.room.access() });
            self.tell_of_new_speakers(&snapshot);
            if !self.handed_over {
                self.route.news(&snapshot, ended);
            }
            let _ = self.snapshot.send(snapshot);
            if !ended {
                let json = serde_json::to_string(&self.room.lasting()).unwrap_or_default();
                self.lasting.send_if_modified(|old| {
                    let changed = *old != json;
                    if changed {
                        *old = json;
                    }
                    changed
                });
            }
        }
        ended
    }
}

impl RoomTask {
    /// A moderator starts (with a checked target) or stops the restream: the egress is told, then the room,
    /// which logs it and tells everyone.
    fn restream(&mut self, actor: UserId, target: Option<stoa_egress::RtmpTarget>) -> Result<(), RestreamRefused> {
        self.room.may_restream(actor).map_err(|_| RestreamRefused::NotModerator)?;
        let Some(egress) = &self.egress else {
            return Err(RestreamRefused::Unavailable("The room's egress is not running.".into()));
        };
        let on = target.is_some();
        egress.rtmp(target).map_err(|e| RestreamRefused::Unavailable(e.to_string()))?;
        let _ = self.room.set_restream(actor, on);
        Ok(())
    }

    /// A restream its RTMP server refused or dropped for good: the room's output goes off, and everyone is
    /// told why.
    fn restream_ended(&mut self) {
        if !self.room.room_outputs().restream {
            return;
        }
        let Some(egress) = &self.egress else { return };
        let failed = match &egress.status().borrow().rtmp {
            stoa_egress::RtmpState::Failed { error } => Some(error.clone()),
            _ => None,
        };
        if let Some(error) = failed {
            self.room.restream_stopped("failed", &format!("The restream stopped: {error}"));
        }
    }

    fn record_moderation(
        &self,
        actor: UserId,
        action: stoa_proto::ModerationAction,
        target: Option<UserId>,
        detail: Option<String>,
    ) {
        self.room_log.push(stoa_store::RoomLogEntry::Moderation {
            room: self.id.clone(),
            actor,
            action,
            target,
            detail,
            at_ms: crate::clock::now_ms(),
        });
    }

    /// Tells the followers of whoever came on stage since the last snapshot, in the background.
    fn tell_of_new_speakers(&mut self, snapshot: &Snapshot) {
        let now: HashSet<UserId> = snapshot.info.stage.iter().map(|m| m.user.id).collect();
        for user in now.difference(&self.on_stage) {
            self.notifier.fan_out(stoa_store::FanOut {
                kind: stoa_proto::NotificationKind::OnStage,
                actor: *user,
                title: snapshot.info.title.clone(),
                audience: stoa_store::Audience::FollowersSeeing(snapshot.audience(&self.id)),
            });
        }
        self.on_stage = now;
    }
}

fn encode(event: &ServerEvent) -> Utf8Bytes {
    // Serializing these plain types cannot fail; fall back to an empty object rather than panic if it ever did.
    Utf8Bytes::from(serde_json::to_string(event).unwrap_or_else(|_| "{}".into()))
}
