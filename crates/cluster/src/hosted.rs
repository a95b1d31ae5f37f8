//! A room this node runs, as its task reaches the other nodes ([`HostedRoom`]): what it has for one node
//! goes on that node's subject, room-wide events once on the room's subject for all, each numbered in the
//! one order the room made them ([`FromOwner`]). It also keeps the origin's side of the room's media on
//! other nodes: each edge's link to this SFU, and the connections whose media an edge's mirror serves.

use super::Cluster;
use super::protocol::{self, FromOwner, ToNode};
use std::collections::HashMap;
use stoa_live::live::{EdgeOffer, Edges, NodeName, RoomReply, RoomRoute, Snapshot};
use stoa_proto::RoomId;
use stoa_room::ConnId;
use stoa_sfu::{PeerId, RoomKey, Sfu, SfuEvent, SourceId};

/// Another node's link to the room's media: a listener's peer here.
#[derive(Debug)]
struct Link {
    node: NodeName,
    source: SourceId,
    /// The node's ticket for the answer to its offer, until the SFU makes it.
    answer: Option<u64>,
}

/// A connection on another node whose media that node serves from its mirror of the room.
#[derive(Debug)]
struct EdgeConn {
    node: NodeName,
    /// Its source number, which its packets carry up the node's link and back down in the slots.
    source: SourceId,
    /// Whether it may be heard, as last told to its node and to the node's link.
    publishing: bool,
}

/// A room this node runs, as its task reaches the other nodes.
pub(crate) struct HostedRoom {
    cluster: Cluster,
    room: RoomId,
    all: String,
    seq: u64,
    sfu: Sfu,
    key: RoomKey,
    /// Other nodes' links to the room's media, by their peer here.
    links: HashMap<PeerId, Link>,
    /// Connections whose media an edge serves.
    edge_conns: HashMap<ConnId, EdgeConn>,
}

impl HostedRoom {
    pub(crate) fn new(cluster: Cluster, room: RoomId, key: RoomKey) -> HostedRoom {
        let sfu = cluster.sfu().clone();
        let all = protocol::room_all(&room);
        HostedRoom { cluster, room, all, seq: 0, sfu, key, links: HashMap::new(), edge_conns: HashMap::new() }
    }

    fn send(&mut self, subject: String, mut message: ToNode) -> bool {
        self.seq += 1;
        let text = message.take_text();
        self.cluster.send(subject, &FromOwner { seq: self.seq, message }, text.as_bytes())
    }

    fn to(&mut self, node: &str, message: ToNode) -> bool {
        self.send(protocol::room_to(&self.room, node), message)
    }

    /// Tells a node's link which of its speakers may be heard: the SFU forwards what the link sends up for
    /// those sources only.
    fn sync_link(&mut self, node: &str) {
        let Some(peer) = self.links.iter().find(|(_, l)| &*l.node == node).map(|(p, _)| *p) else { return };
        let sources = self.edge_conns.values().filter(|e| e.publishing && &*e.node == node).map(|e| e.source).collect();
        self.sfu.link_sources(peer, sources);
    }

    /// Closes a node's link to the room's media.
    fn close_links(&mut self, node: &str) {
        let gone: Vec<PeerId> = self.links.iter().filter(|(_, l)| &*l.node == node).map(|(p, _)| *p).collect();
        for peer in gone {
            self.links.remove(&peer);
            self.sfu.close_peer(peer);
        }
    }
}

impl RoomRoute for HostedRoom {
    fn news(&mut self, snapshot: &Snapshot, ended: bool) {
        self.cluster.room_news(&self.room, snapshot, ended);
    }

    fn reply(&mut self, node: &NodeName, ticket: u64, reply: RoomReply<ConnId>) -> bool {
        self.to(node, ToNode::Reply { ticket, reply })
    }

    fn event(&mut self, node: &NodeName, conn: ConnId, text: &str) -> bool {
        self.to(node, ToNode::Event { conn, text: text.to_string() })
    }

    fn close(&mut self, node: &NodeName, conn: ConnId) -> bool {
        self.to(node, ToNode::Close { conn })
    }

    fn broadcast(&mut self, text: &str) -> bool {
        self.send(self.all.clone(), ToNode::Broadcast { text: text.to_string() })
    }

    fn ended(&mut self, node: &NodeName) {
        self.to(node, ToNode::Ended);
    }

    fn edges(&mut self) -> &mut dyn Edges {
        self
    }
}

impl Edges for HostedRoom {
    fn serve(&mut self, node: &NodeName, offer: EdgeOffer) -> bool {
        let EdgeOffer { conn, sdp, source, publish, slots, frames } = offer;
        self.edge_conns.insert(conn, EdgeConn { node: node.clone(), source, publishing: publish });
        let sent = self.to(node, ToNode::HostMedia { conn, sdp, slots, source: source.0, publish, frames });
        if publish {
            self.sync_link(node);
        }
        sent
    }

    fn close(&mut self, conn: ConnId) -> Option<SourceId> {
        let edge = self.edge_conns.remove(&conn)?;
        if edge.publishing {
            self.sync_link(&edge.node);
        }
        Some(edge.source)
    }

    fn stage_changed(&mut self, may_publish: &dyn Fn(ConnId) -> bool) {
        let mut changed: Vec<(ConnId, NodeName, bool)> = Vec::new();
        for (conn, edge) in self.edge_conns.iter_mut() {
            let may = may_publish(*conn);
            if may != edge.publishing {
                edge.publishing = may;
                changed.push((*conn, edge.node.clone(), may));
            }
        }
        let mut nodes: Vec<NodeName> = Vec::new();
        for (conn, node, publish) in changed {
            self.to(&node, ToNode::Publish { conn, publish });
            if !nodes.contains(&node) {
                nodes.push(node);
            }
        }
        for node in nodes {
            self.sync_link(&node);
        }
    }

    fn audience_frames(&mut self, frames: usize) {
        let mut nodes: Vec<NodeName> = self.edge_conns.values().map(|e| e.node.clone()).collect();
        nodes.sort();
        nodes.dedup();
        for node in nodes {
            self.to(&node, ToNode::AudienceFrames { frames });
        }
    }

    fn link(&mut self, node: NodeName, sdp: String, ticket: Option<u64>, source: SourceId) {
        // One link per node: a new one replaces the old (its node lost it and made another).
        self.close_links(&node);
        let peer = self.sfu.offer(self.key, source, sdp, stoa_sfu::Forwarding::Off);
        tracing::info!(room = %self.room, %node, peer = peer.0, "a node links to the room's media");
        self.links.insert(peer, Link { node: node.clone(), source, answer: ticket });
        self.sync_link(&node);
    }

    fn node_gone(&mut self, node: &str) {
        self.close_links(node);
    }

    fn media_event(&mut self, event: &SfuEvent) -> bool {
        match event {
            SfuEvent::Answer { peer, sdp } => {
                let Some(link) = self.links.get_mut(peer) else { return false };
                if let Some(ticket) = link.answer.take() {
                    let node = link.node.clone();
                    self.to(&node, ToNode::Reply { ticket, reply: RoomReply::Linked(Ok(sdp.clone())) });
                }
                true
            }
            SfuEvent::Rejected { peer, error, message } => {
                let Some(link) = self.links.remove(peer) else { return false };
                tracing::info!(room = %self.room, node = %link.node, code = error.code(), %message, "a node's link is gone");
                if let Some(ticket) = link.answer {
                    self.to(&link.node, ToNode::Reply { ticket, reply: RoomReply::Linked(Err(message.clone())) });
                }
                true
            }
            SfuEvent::Connected { .. } | SfuEvent::Slots { .. } => false,
        }
    }

    fn holds_source(&self, source: SourceId) -> bool {
        self.links.values().any(|l| l.source == source)
    }
}
