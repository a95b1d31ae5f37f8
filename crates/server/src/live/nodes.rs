//! The routing seam: how a room task reaches the connections that other nodes hold, without knowing
//! whether there are other nodes. The task keeps each connection's [`Sink`]: a socket here, or the node
//! that holds it. What it has for a node it hands to its [`Routing`] as a [`ToNode`]; the routing of a
//! single server goes nowhere, and a cluster's seals it and sends it over NATS (`cluster/relay.rs`).
//! Routing is picked once, when the server starts.

use super::directory::Snapshot;
use super::input::{Outbound, RoomInput, RoomReply};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use stoa_proto::RoomId;
use stoa_room::ConnId;
use stoa_store::Store;
use tokio::sync::mpsc;

/// A node of the cluster, by its name (`--node-name`): cheap to clone, read as a `str`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName(Arc<str>);

impl NodeName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for NodeName {
    fn from(name: &str) -> NodeName {
        NodeName(Arc::from(name))
    }
}

impl std::ops::Deref for NodeName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for NodeName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NodeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a connection's events go: its socket on this node, or the node that holds its socket.
#[derive(Debug)]
pub(crate) enum Sink {
    Local(mpsc::Sender<Outbound>),
    Node(NodeName),
}

/// What a room has for another node's connections, in the order the room made it. The node's side of the
/// routing reads it and acts for its connections (see `cluster/relay.rs`).
#[derive(Debug, Serialize, Deserialize)]
pub enum ToNode {
    /// The answer to a request the node made, under the node's ticket: a join's answer comes this way so
    /// that nothing for the connection overtakes it.
    Reply {
        /// The node's ticket.
        ticket: u64,
        /// The answer.
        reply: RoomReply<ConnId>,
    },
    /// A personal event.
    Event {
        /// For whom.
        conn: ConnId,
        /// The encoded event (carried apart from the rest: see [`ToNode::take_text`]).
        #[serde(skip)]
        text: String,
    },
    /// The room closes this connection.
    Close {
        /// Which.
        conn: ConnId,
    },
    /// A room-wide event, once for all of the node's connections.
    Broadcast {
        /// The encoded event (carried apart from the rest).
        #[serde(skip)]
        text: String,
    },
    /// A connection's media offer, for the node that holds the connection to answer from its own SFU (a
    /// listener's media is served where its socket is).
    HostMedia {
        /// Whose.
        conn: ConnId,
        /// The offer.
        sdp: String,
        /// The `slots` event as it stands, to send after the answer.
        slots: Option<String>,
        /// The connection's source number: the CSRC its packets carry, up the link and back down.
        source: u32,
        /// Whether it may be heard now (sent up the link).
        publish: bool,
        /// 20 ms frames per audience packet in the room now (see `AudienceFrames`).
        frames: usize,
    },
    /// How many 20 ms frames the room's audience packets join. While a node's connections include one that
    /// may be heard, the origin sends that node's link the stage's 20 ms packets, and its mirror joins
    /// them for its own listeners as the origin would.
    AudienceFrames {
        /// 1 (no joining) to 6.
        frames: usize,
    },
    /// Whether a connection whose media the node serves may be heard now: the stage changed.
    Publish {
        /// Whose.
        conn: ConnId,
        /// Whether its packets go up the link.
        publish: bool,
    },
    /// The room ended.
    Ended,
}

impl ToNode {
    /// Takes out the event's text, which a transport carries as it is beside the rest of the message
    /// (serialized, the message leaves it out). Empty for messages without one.
    pub fn take_text(&mut self) -> String {
        match self {
            ToNode::Event { text, .. } | ToNode::Broadcast { text } => std::mem::take(text),
            _ => String::new(),
        }
    }

    /// Puts back the text [`ToNode::take_text`] took out.
    pub fn put_text(&mut self, raw: String) {
        if let ToNode::Event { text, .. } | ToNode::Broadcast { text } = self {
            *text = raw;
        }
    }
}

/// What a room needs of the other nodes. A cluster implements it; a single server has no other nodes.
pub trait Nodes: Send + Sync {
    /// A room started here (new, or taken over): the other nodes list it, what they send it reaches
    /// `inbox`, and what the room has for them goes through the returned [`RoomRoute`].
    fn started(
        &self,
        room: &RoomId,
        snapshot: &Snapshot,
        inbox: mpsc::Sender<RoomInput>,
        store: Arc<dyn Store>,
    ) -> Box<dyn RoomRoute>;
}

/// One room's way to the other nodes, held by its task.
pub trait RoomRoute: Send {
    /// The room changed (or ended): the other nodes' lists follow.
    fn news(&mut self, snapshot: &Snapshot, ended: bool);
    /// Queues `message` for `node`'s connections, in order. False if it could not be queued: the room then
    /// lets go of that node's connections, which reconnect.
    fn tell_node(&mut self, node: &str, message: ToNode) -> bool;
    /// Queues a room-wide event, once, for every other node that holds connections in the room, in order
    /// with what [`RoomRoute::tell_node`] sends. False if it could not be queued.
    fn broadcast(&mut self, text: &str) -> bool;
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

    pub(crate) fn started(
        &self,
        room: &RoomId,
        snapshot: &Snapshot,
        inbox: mpsc::Sender<RoomInput>,
        store: Arc<dyn Store>,
    ) -> Box<dyn RoomRoute> {
        self.nodes.started(room, snapshot, inbox, store)
    }
}

struct NoOtherNodes;

impl Nodes for NoOtherNodes {
    fn started(&self, _: &RoomId, _: &Snapshot, _: mpsc::Sender<RoomInput>, _: Arc<dyn Store>) -> Box<dyn RoomRoute> {
        Box::new(NoOtherNodes)
    }
}

impl RoomRoute for NoOtherNodes {
    fn news(&mut self, _: &Snapshot, _: bool) {}
    fn tell_node(&mut self, _: &str, _: ToNode) -> bool {
        false
    }
    fn broadcast(&mut self, _: &str) -> bool {
        false
    }
}
