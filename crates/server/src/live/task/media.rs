//! The room task's media: offers answered by this node's SFU or by the node that holds the connection,
//! other nodes' links, source numbers and who holds each slot, and the stage carried into the SFU.

use super::*;

impl RoomTask {
    /// Another node links its SFU to the room's: one link per node, a new one replacing the old (its node
    /// lost it and made another). The answer goes back to the node under `ticket` once the SFU makes it.
    pub(super) fn link(&mut self, node: NodeName, sdp: String, ticket: Option<u64>) {
        self.close_links(&node);
        let source = self.new_source();
        let peer = self.sfu.offer(self.room_key, source, sdp, stoa_sfu::Forwarding::Off);
        tracing::info!(room = %self.id, %node, peer = peer.0, "a node links to the room's media");
        self.links.insert(peer, Link { node: node.clone(), source, answer: ticket });
        self.sync_link(&node);
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
        let publish = self.room.may_publish(conn);
        let source = self.new_source();
        // A connection whose socket is on another node gets its media from that node's mirror of the room,
        // which the node's link feeds; a speaker's packets go up that link, and are forwarded here only
        // while the stage allows (`sync_link`).
        if let Some(Sink::Node(node)) = self.conns.get(&conn) {
            let node = node.clone();
            let slots = (!self.holders.is_empty()).then(|| serde_json::to_string(&self.slots_event()).ok()).flatten();
            self.edge_media.insert(conn, EdgeMedia { node: node.clone(), source, publishing: publish });
            self.sources.insert(source, (SourceOf::Edge(conn), user));
            let frames = self.audience_frames;
            let host = ToNode::HostMedia { conn, sdp, slots, source: source.0, publish, frames };
            self.tell_node(&node, host);
            if publish {
                self.sync_link(&node);
            }
            return;
        }
        let peer = self.sfu.offer(self.room_key, source, sdp, publish.into());
        self.peers.insert(conn, (peer, publish));
        self.offered_at.insert(peer, Instant::now());
        self.peer_conns.insert(peer, conn);
        self.sources.insert(source, (SourceOf::Peer(peer), user));
    }

    /// Tells a node's link which of its speakers may be heard: the SFU forwards what the link sends up for
    /// those sources only.
    pub(super) fn sync_link(&mut self, node: &str) {
        let Some(peer) = self.links.iter().find(|(_, l)| &*l.node == node).map(|(p, _)| *p) else { return };
        let sources = self.edge_media.values().filter(|e| e.publishing && &*e.node == node).map(|e| e.source).collect();
        self.sfu.link_sources(peer, sources);
    }

    /// A source number for a new peer: random, so that it says nothing about the account or the order of
    /// joins, and unused in this room (0 is left out, so that no CSRC is ever 0).
    pub(super) fn new_source(&self) -> SourceId {
        loop {
            let source = SourceId(crate::random::u32());
            if source.0 != 0 && !self.sources.contains_key(&source) && !self.links.values().any(|l| l.source == source)
            {
                return source;
            }
        }
    }

    pub(super) fn close_media(&mut self, conn: ConnId) {
        if let Some((peer, _)) = self.peers.remove(&conn) {
            self.forget_peer(peer);
            self.sfu.close_peer(peer);
        }
        if let Some(edge) = self.edge_media.remove(&conn) {
            self.sources.remove(&edge.source);
            if edge.publishing {
                self.sync_link(&edge.node);
            }
        }
    }

    /// Closes a node's link to the room's media.
    pub(super) fn close_links(&mut self, node: &str) {
        let gone: Vec<PeerId> = self.links.iter().filter(|(_, l)| &*l.node == node).map(|(p, _)| *p).collect();
        for peer in gone {
            self.links.remove(&peer);
            self.sfu.close_peer(peer);
        }
    }

    pub(super) fn forget_peer(&mut self, peer: PeerId) {
        self.offered_at.remove(&peer);
        self.peer_conns.remove(&peer);
        self.sources.retain(|_, (p, _)| *p != SourceOf::Peer(peer));
    }

    pub(super) fn media_event(&mut self, event: SfuEvent) {
        match event {
            SfuEvent::Answer { peer, sdp } => {
                if let Some(link) = self.links.get_mut(&peer) {
                    let ticket = link.answer.take();
                    let node = link.node.clone();
                    self.answer(Caller::Node { node, ticket }, RoomReply::Linked(Ok(sdp)));
                    return;
                }
                self.send_to_peer(peer, ServerEvent::Answer { sdp });
                if !self.holders.is_empty() {
                    let slots = self.slots_event();
                    self.send_to_peer(peer, slots);
                }
            }
            SfuEvent::Rejected { peer, error, message } => {
                if let Some(link) = self.links.remove(&peer) {
                    tracing::info!(room = %self.id, node = %link.node, code = error.code(), %message, "a node's link is gone");
                    if link.answer.is_some() {
                        self.answer(
                            Caller::Node { node: link.node, ticket: link.answer },
                            RoomReply::Linked(Err(message)),
                        );
                    }
                    return;
                }
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
        let frames = if listeners >= self.audience_packets.above { self.audience_packets.frames.max(1) } else { 1 };
        if frames != self.audience_frames {
            self.audience_frames = frames;
            tracing::info!(room = %self.id, listeners, frames, "audience packets now carry {frames} frame(s)");
            self.sfu.set_audience_frames(self.room_key, frames);
            // Edges join too, for their own listeners, while they carry speakers (who get the 20 ms stream).
            let mut nodes: Vec<NodeName> = self.edge_media.values().map(|e| e.node.clone()).collect();
            nodes.sort();
            nodes.dedup();
            for node in nodes {
                self.tell_node(&node, ToNode::AudienceFrames { frames });
            }
        }
        // Who may publish changes only with the stage (roles and mutes), which bumps the room's version; a
        // listener joining does not, so the join storm does not walk every peer on every join.
        if self.room.version() == self.publishers_synced {
            return;
        }
        self.publishers_synced = self.room.version();
        // Speakers whose media another node serves: their node stops or starts sending them up, and the
        // node's link is let to publish for exactly those who may be heard.
        let mut changed: Vec<(ConnId, NodeName, bool)> = Vec::new();
        for (conn, edge) in self.edge_media.iter_mut() {
            let may = self.room.may_publish(*conn);
            if may != edge.publishing {
                edge.publishing = may;
                changed.push((*conn, edge.node.clone(), may));
            }
        }
        let mut nodes: Vec<NodeName> = Vec::new();
        for (conn, node, publish) in changed {
            self.tell_node(&node, ToNode::Publish { conn, publish });
            if !nodes.contains(&node) {
                nodes.push(node);
            }
        }
        for node in nodes {
            self.sync_link(&node);
        }
        for (conn, (peer, publishing)) in self.peers.iter_mut() {
            let may = self.room.may_publish(*conn);
            if may != *publishing {
                *publishing = may;
                self.sfu.set_forwarding(*peer, may.into());
            }
        }
    }
}
