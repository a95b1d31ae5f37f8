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
        /// The encoded event.
        text: String,
    },
    /// The room closes this connection.
    Close {
        /// Which.
        conn: ConnId,
    },
    /// A room-wide event, once for all of the node's connections.
    Broadcast {
        /// The encoded event.
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

/// What a room needs of the other nodes. A cluster implements it; a single server has no other nodes.
pub trait Nodes: Send + Sync {
    /// A room started here (new, or taken over): the other nodes list it, and what they send it
    /// reaches `inbox`.
    fn started(&self, room: &RoomId, snapshot: &Snapshot, inbox: mpsc::Sender<RoomInput>, store: Arc<dyn Store>);
    /// The room changed (or ended): the other nodes' lists follow.
    fn news(&self, room: &RoomId, snapshot: &Snapshot, ended: bool);
    /// Queues `message` for `node`, in order. False if it could not be queued: the room then lets go of
    /// that node's connections, which reconnect.
    fn to_node(&self, room: &RoomId, node: &str, message: ToNode) -> bool;
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
    ) {
        self.nodes.started(room, snapshot, inbox, store)
    }

    pub(crate) fn news(&self, room: &RoomId, snapshot: &Snapshot, ended: bool) {
        self.nodes.news(room, snapshot, ended)
    }

    pub(crate) fn to_node(&self, room: &RoomId, node: &str, message: ToNode) -> bool {
        self.nodes.to_node(room, node, message)
    }
}

struct NoOtherNodes;

impl Nodes for NoOtherNodes {
    fn started(&self, _: &RoomId, _: &Snapshot, _: mpsc::Sender<RoomInput>, _: Arc<dyn Store>) {}
    fn news(&self, _: &RoomId, _: &Snapshot, _: bool) {}
    fn to_node(&self, _: &RoomId, _: &str, _: ToNode) -> bool {
        false
    }
}
