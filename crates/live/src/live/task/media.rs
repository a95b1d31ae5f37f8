//! The room task's media: offers answered by this node's SFU or by the node that holds the connection,
//! other nodes' links, source numbers and who holds each slot, and the stage carried into the SFU.

use super::*;
use crate::live::nodes::EdgeOffer;

impl RoomTask {
    /// Another node links its SFU to the room's, through the room's edges (one link per node, a new one
    /// replacing the old). The answer goes back to the node under `ticket` once the SFU makes it.
    pub(super) fn link(&mut self, node: NodeName, sdp: String, ticket: Option<u64>) {
        let source = self.new_source();
        self.route.edges().link(node, sdp, ticket, source);
    }

    /// A connection offers media. Only a connection in the room gets a peer: a removed or unadmitted user
    /// never reaches the SFU. A new offer replaces the connection's previous peer (an ICE restart).
    pub(super) fn offer(&mut self, conn: ConnId, sdp: String) {
        let Some(user) = self.room.user_of(conn) else { return };
        if !self.offer_limits.allow(Instant::now(), conn) {
            let message = "Too many media offers: wait a second before reconnecting audio.".to_string();
            self.send(conn, &ServerEvent::Error { id: None, code: "rate_limited".into(), message });
            return;
        }
        self.close_media(conn);
        // An end-to-end encrypted room's packets are sealed on the speakers' devices: the server cannot
        // build redundancy out of what it cannot read, so RED is not negotiated there.
        let sdp = if self.room.is_e2ee() { stoa_sfu::red::without_red(&sdp) } else { sdp };
        let publish = self.room.may_publish(conn);
        let source = self.new_source();
        // A connection whose socket is on another node gets its media from that node's mirror of the room,
        // which the node's link feeds; a speaker's packets go up that link, and are forwarded here only
        // while the stage allows (`sync_link`).
        if let Some(Sink::Node(node)) = self.conns.get(&conn) {
            let node = node.clone();
            let slots = (!self.holders.is_empty()).then(|| serde_json::to_string(&self.slots_event()).ok()).flatten();
            let offer = EdgeOffer { conn, sdp, source, publish, slots, frames: self.audience_frames };
            if self.route.edges().serve(&node, offer) {
                self.sources.insert(source, (SourceOf::Edge, user));
            } else {
                self.drop_node(&node, "cannot relay to a node; dropping its connections");
            }
            return;
        }
        let peer = self.sfu.offer(self.room_key, source, sdp, publish.into());
        self.peers.insert(conn, (peer, publish));
        self.offered_at.insert(peer, Instant::now());
        self.peer_conns.insert(peer, conn);
        self.sources.insert(source, (SourceOf::Peer(peer), user));
    }

    /// A source number for a new peer: random, so that it says nothing about the account or the order of
    /// joins, and unused in this room (0 is left out, so that no CSRC is ever 0).
    pub(super) fn new_source(&mut self) -> SourceId {
        loop {
            let source = SourceId(crate::random::u32());
            if source.0 != 0 && !self.sources.contains_key(&source) && !self.route.edges().holds_source(source) {
                return source;
            }
        }
    }

    pub(super) fn close_media(&mut self, conn: ConnId) {
        if let Some((peer, _)) = self.peers.remove(&conn) {
            self.forget_peer(peer);
            self.sfu.close_peer(peer);
        }
        if let Some(source) = self.route.edges().close(conn) {
            self.sources.remove(&source);
        }
    }

    pub(super) fn forget_peer(&mut self, peer: PeerId) {
        self.offered_at.remove(&peer);
        self.peer_conns.remove(&peer);
        self.sources.retain(|_, (p, _)| *p != SourceOf::Peer(peer));
    }

    pub(super) fn media_event(&mut self, event: SfuEvent) {
        // Other nodes' links are the edges' to answer and close.
        if self.route.edges().media_event(&event) {
            return;
        }
        match event {
            SfuEvent::Answer { peer, sdp } => {
                self.send_to_peer(peer, ServerEvent::Answer { sdp });
                if !self.holders.is_empty() {
                    let slots = self.slots_event();
                    self.send_to_peer(peer, slots);
                }
            }
            SfuEvent::Rejected { peer, error, message } => {
                let code = error.code();
                if let Some(conn) = self.peer_conns.get(&peer).copied() {
                    self.peers.remove(&conn);
                    self.forget_peer(peer);
                    tracing::info!(room = %self.id, conn = conn.0, code, %message, "media refused");
                    self.send(conn, &ServerEvent::Error { id: None, code: code.into(), message });
                }
            }
            SfuEvent::Connected { peer, .. } => {
                if let Some(at) = self.offered_at.remove(&peer) {
                    self.metrics.joined_after(at.elapsed());
                }
            }
            SfuEvent::Slots { holders } => {
                self.holders = holders;
                self.broadcast_text(encode(&self.slots_event()));
            }
        }
    }

    /// The `slots` event for the holders the SFU last reported. A holder whose peer is already gone is
    /// shown as a free slot.
    pub(super) fn slots_event(&self) -> ServerEvent {
        let known: Vec<Option<(SourceId, UserId)>> =
            self.holders.iter().map(|h| h.and_then(|s| Some((s, self.sources.get(&s)?.1)))).collect();
        let slots = known.iter().map(|k| k.map(|(_, u)| u)).collect();
        let sources = known.iter().map(|k| k.map(|(s, _)| s.0)).collect();
        ServerEvent::Slots { slots, sources }
    }

    pub(super) fn send_to_peer(&mut self, peer: PeerId, event: ServerEvent) {
        if let Some(&conn) = self.peer_conns.get(&peer) {
            self.send(conn, &event);
        }
    }

    /// Tells the SFU about every change in who may publish (the stage, enforced in the media path) and in
    /// how the audience's packets are made (joined frames once the room is large).
    pub(super) fn sync_publishers(&mut self) {
        let listeners = self.room.listener_count();
        // Joining frames needs their Opus, which an end-to-end encrypted room's server never sees: its
        // audience gets the speakers' own 20 ms packets.
        let joins = listeners >= self.audience_packets.above && !self.room.is_e2ee();
        let frames = if joins { self.audience_packets.frames.max(1) } else { 1 };
        if frames != self.audience_frames {
            self.audience_frames = frames;
            tracing::info!(room = %self.id, listeners, frames, "audience packets now carry {frames} frame(s)");
            self.sfu.set_audience_frames(self.room_key, frames);
            // Edges join too, for their own listeners, while they carry speakers (who get the 20 ms stream).
            self.route.edges().audience_frames(frames);
        }
        // Who may publish changes only with the stage (roles and mutes), which bumps the room's version; a
        // listener joining does not, so the join storm does not walk every peer on every join.
        if self.room.version() == self.publishers_synced {
            return;
        }
        self.publishers_synced = self.room.version();
        // Speakers whose media another node serves: their node stops or starts sending them up, and the
        // node's link is let to publish for exactly those who may be heard.
        let room = &self.room;
        self.route.edges().stage_changed(&|conn| room.may_publish(conn));
        let mut quiet = Vec::new();
        for (conn, (peer, publishing)) in self.peers.iter_mut() {
            let may = self.room.may_publish(*conn);
            if may != *publishing {
                *publishing = may;
                self.sfu.set_forwarding(*peer, may.into());
                quiet.extend(self.room.user_of(*conn).filter(|_| !may));
            }
        }
        for user in quiet {
            self.quiet(user);
        }
    }
}
