//! The routing seam: how a room task reaches the connections that other nodes hold, and serves their
//! media, without knowing whether there are other nodes. The task keeps each connection's [`Sink`]: a
//! socket here, or the node that holds it. What it has for a node it hands to its room's [`RoomRoute`]
//! (an event, a close, an answer), and where a connection's media is served is the route's [`Edges`] when
//! its socket is on another node. A single server's route goes nowhere; a cluster's (`cluster/hosted.rs`)
//! seals and sends over NATS, and keeps the origin's side of the edges' media. Routing is picked once, when
//! the server starts.

use super::directory::Snapshot;
use super::input::{Outbound, RoomInput, RoomReply};
pub use super::node_name::NodeName;
use std::sync::Arc;
use stoa_proto::RoomId;
use stoa_room::ConnId;
use stoa_sfu::{RoomKey, SfuEvent, SourceId};
use stoa_store::Store;
use tokio::sync::mpsc;

/// Where a connection's events go: its socket on this node, or the node that holds its socket.
#[derive(Debug)]
pub(crate) enum Sink {
    Local(mpsc::Sender<Outbound>),
    Node(NodeName),
}

/// What a room that starts here tells its routing.
pub struct RoomStart<'a> {
    /// Which room.
    pub room: &'a RoomId,
    /// Its first snapshot.
    pub snapshot: &'a Snapshot,
    /// Its task's inbox, where other nodes' requests go.
    pub inbox: mpsc::Sender<RoomInput>,
    /// The store (for the room's lease).
    pub store: Arc<dyn Store>,
    /// The room's media-plane key on this node's SFU, where other nodes' links are answered.
    pub media: RoomKey,
}

/// What a room needs of the other nodes. A cluster implements it; a single server has no other nodes.
pub trait Nodes: Send + Sync {
    /// A room started here (new, or taken over): the other nodes list it, what they send it reaches its
    /// inbox, and what the room has for them goes through the returned [`RoomRoute`].
    fn started(&self, start: RoomStart<'_>) -> Box<dyn RoomRoute>;
}

/// One room's way to the connections other nodes hold, held by its task. Each call that returns false
/// could not be queued: the room then lets go of that node's connections, which reconnect.
pub trait RoomRoute: Send {
    /// The room changed (or ended): the other nodes' lists follow.
    fn news(&mut self, snapshot: &Snapshot, ended: bool);
    /// The answer to a node's request, under its ticket, in order with everything else for that node (so
    /// a join's answer precedes the connection's first event).
    fn reply(&mut self, node: &NodeName, ticket: u64, reply: RoomReply<ConnId>) -> bool;
    /// A personal event (encoded) for a connection `node` holds.
    fn event(&mut self, node: &NodeName, conn: ConnId, text: &str) -> bool;
    /// The room closes a connection `node` holds.
    fn close(&mut self, node: &NodeName, conn: ConnId) -> bool;
    /// A room-wide event (encoded), once, for every other node that holds connections in the room, in order
    /// with the rest.
    fn broadcast(&mut self, text: &str) -> bool;
    /// The room ended: `node` closes its connections.
    fn ended(&mut self, node: &NodeName);
    /// Where the media of connections on other nodes is served.
    fn edges(&mut self) -> &mut dyn Edges;
}

/// A connection on another node that offers media: that node's mirror of the room answers it.
#[derive(Debug)]
pub struct EdgeOffer {
    /// Whose.
    pub conn: ConnId,
    /// The SDP offer.
    pub sdp: String,
    /// Its source number, the CSRC its packets carry up the node's link and back down.
    pub source: SourceId,
    /// Whether it may be heard now.
    pub publish: bool,
    /// The `slots` event as it stands, to send after the answer.
    pub slots: Option<String>,
    /// 20 ms frames per audience packet in the room now.
    pub frames: usize,
}

/// The origin's side of the room's media on other nodes (*edges*): each edge's link to this SFU, and the
/// connections whose media an edge's mirror serves. The stage is enforced here, in the media path: a link
/// may publish only the sources of the edge's connections that may be heard.
pub trait Edges: Send {
    /// A connection `node` holds offers media: that node's mirror answers it.
    fn serve(&mut self, node: &NodeName, offer: EdgeOffer) -> bool;
    /// A connection's media is gone (closed, replaced, or the connection left): its source number, if an
    /// edge served it.
    fn close(&mut self, conn: ConnId) -> Option<SourceId>;
    /// The stage changed: the edges' connections are let to publish, or stopped, as `may_publish` says.
    fn stage_changed(&mut self, may_publish: &dyn Fn(ConnId) -> bool);
    /// Audience packets now join `frames` frames: edges with speakers join theirs the same.
    fn audience_frames(&mut self, frames: usize);
    /// `node` links its mirror to this room's SFU, with its offer; the answer goes back under `ticket`.
    fn link(&mut self, node: NodeName, sdp: String, ticket: Option<u64>, source: SourceId);
    /// `node` is gone: its link closes.
    fn node_gone(&mut self, node: &str);
    /// An SFU event for a link's peer (its answer, or its end): true if it was one, and handled.
    fn media_event(&mut self, event: &SfuEvent) -> bool;
    /// Whether a link holds this source number.
    fn holds_source(&self, source: SourceId) -> bool;
}

/// How this server's rooms reach other nodes: picked once at start.
#[derive(Clone)]
pub struct Routing {
    nodes: Arc<dyn Nodes>,
    name: &'static str,
}

impl std::fmt::Debug for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Routing {
    /// A single server: every connection is local.
    pub fn local() -> Routing {
        Routing { nodes: Arc::new(NoOtherNodes), name: "local" }
    }

    /// A node of a cluster.
    pub fn cluster(nodes: Arc<dyn Nodes>) -> Routing {
        Routing { nodes, name: "cluster" }
    }

    /// `local` or `cluster`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn started(&self, start: RoomStart<'_>) -> Box<dyn RoomRoute> {
        self.nodes.started(start)
    }
}

/// A single server's routing: no other node ever holds a connection, so nothing is ever routed.
struct NoOtherNodes;

impl Nodes for NoOtherNodes {
    fn started(&self, _: RoomStart<'_>) -> Box<dyn RoomRoute> {
        Box::new(NoOtherNodes)
    }
}

impl RoomRoute for NoOtherNodes {
    fn news(&mut self, _: &Snapshot, _: bool) {}
    fn reply(&mut self, _: &NodeName, _: u64, _: RoomReply<ConnId>) -> bool {
        false
    }
    fn event(&mut self, _: &NodeName, _: ConnId, _: &str) -> bool {
        false
    }
    fn close(&mut self, _: &NodeName, _: ConnId) -> bool {
        false
    }
    fn broadcast(&mut self, _: &str) -> bool {
        false
    }
    fn ended(&mut self, _: &NodeName) {}
    fn edges(&mut self) -> &mut dyn Edges {
        self
    }
}

impl Edges for NoOtherNodes {
    fn serve(&mut self, _: &NodeName, _: EdgeOffer) -> bool {
        false
    }
    fn close(&mut self, _: ConnId) -> Option<SourceId> {
        None
    }
    fn stage_changed(&mut self, _: &dyn Fn(ConnId) -> bool) {}
    fn audience_frames(&mut self, _: usize) {}
    fn link(&mut self, _: NodeName, _: String, _: Option<u64>, _: SourceId) {}
    fn node_gone(&mut self, _: &str) {}
    fn media_event(&mut self, _: &SfuEvent) -> bool {
        false
    }
    fn holds_source(&self, _: SourceId) -> bool {
        false
    }
}
