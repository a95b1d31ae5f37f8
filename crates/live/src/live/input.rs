//! What reaches a room task ([`RoomInput`]) and what it sends a connection ([`Outbound`]).

use crate::live::node_name::NodeName;
use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use stoa_proto::{AudiencePage, ClientMessage, UserId, UserSummary};
use stoa_room::{CommandError, ConnId, JoinError, Relations};
use tokio::sync::{broadcast, mpsc, oneshot};

/// How many events may wait for one connection before it is judged too slow and cut off. Personal events
/// are rare (an invitation, a hand, an error), so a full queue means the client stopped reading.
pub const PERSONAL_QUEUE: usize = 64;
/// How many room-wide events a connection may fall behind before it is cut off. Room-wide events are
/// stage changes and a count a second, so 256 is minutes of normal traffic.
pub const BROADCAST_QUEUE: usize = 256;
/// The room task's inbox. Senders wait when it is full, which slows the busiest clients, not the room.
pub const INBOX: usize = 1024;
/// What anyone may ask of a room, on this node or from another: serializable, so that a request crosses
/// nodes as it is, and the cluster's relay forwards it, and its answer, without reading it.
#[derive(Debug, Serialize, Deserialize)]
pub enum RoomRequest {
    /// A user asks to join; the answer is a connection or a refusal.
    Join {
        /// Who.
        user: UserSummary,
        /// Their relations to `asked`, for the room's rules.
        relations: Relations,
        /// Whom the relations were looked up among: the stage, as the room's snapshot showed it.
        asked: Vec<UserId>,
        /// What the connection may do (an access token's scopes).
        grant: stoa_proto::Grant,
    },
    /// A command from a connection.
    Command {
        /// Which connection.
        conn: ConnId,
        /// The command.
        message: ClientMessage,
    },
    /// A connection's socket closed.
    Disconnected {
        /// Which connection.
        conn: ConnId,
    },
    /// Takes a user out of the room (suspended, or their account deleted), telling them why.
    Expel {
        /// Whom.
        user: UserId,
        /// The `removed` event's reason.
        reason: String,
        /// The sentence they see.
        message: String,
    },
    /// An admin ends the room (`None`: from the command line).
    AdminEnd {
        /// Which admin.
        admin: Option<UserId>,
    },
    /// The rooms' capacity changed.
    SetCapacity {
        /// Participants the room holds from now on.
        capacity: u32,
    },
    /// A moderator invites users into the room.
    Invite {
        /// The moderator.
        actor: UserId,
        /// Whom.
        users: Vec<UserId>,
    },
    /// A participant pings someone to join (in a closed room, a moderator, and the ping invites); the
    /// answer is the room's access after the ping.
    Ping {
        /// Who pings.
        actor: UserId,
        /// Whom.
        target: UserId,
    },
    /// Which of these users are in the room now (for a report).
    Present {
        /// Whom to look for.
        users: Vec<UserId>,
    },
    /// A page of the audience.
    Audience {
        /// Where the page starts.
        offset: u32,
        /// How many at most.
        limit: u32,
    },
    /// Another node links its SFU to the room's: the answer to its offer, or why not. The link is a
    /// listener's peer here, so the origin's slot, stage and joining decisions reach that node's listeners.
    Link {
        /// Its SDP offer.
        sdp: String,
    },
}

impl RoomRequest {
    /// The connection the request speaks for: only the node that holds it may.
    pub fn conn(&self) -> Option<ConnId> {
        match self {
            RoomRequest::Command { conn, .. } | RoomRequest::Disconnected { conn } => Some(*conn),
            _ => None,
        }
    }
}

/// A room's answer to a [`RoomRequest`]. `J` is what a granted join is: on the node that holds the socket a
/// [`JoinOutcome`] (the connection and its event streams), between nodes the connection's ID.
#[derive(Debug, Serialize, Deserialize)]
pub enum RoomReply<J = JoinOutcome> {
    /// To `Join`.
    Joined(Result<J, JoinError>),
    /// To `Invite`.
    Invited(Result<(), CommandError>),
    /// To `Ping`: the room's access after it.
    Pinged(Result<stoa_room::Access, CommandError>),
    /// To `Present`: those present, and the room's title.
    Present(Vec<UserId>, String),
    /// To `Audience`.
    Audience(AudiencePage),
    /// To `Link`: the SDP answer, or why not.
    Linked(Result<String, String>),
}

impl<J> RoomReply<J> {
    /// The same answer, with a granted join made into a `K` (a connection ID into its streams, where the
    /// socket is).
    pub fn map_join<K>(self, join: impl FnOnce(J) -> K) -> RoomReply<K> {
        match self {
            RoomReply::Joined(result) => RoomReply::Joined(result.map(join)),
            RoomReply::Invited(r) => RoomReply::Invited(r),
            RoomReply::Pinged(r) => RoomReply::Pinged(r),
            RoomReply::Present(users, title) => RoomReply::Present(users, title),
            RoomReply::Audience(page) => RoomReply::Audience(page),
            RoomReply::Linked(r) => RoomReply::Linked(r),
        }
    }
}

impl RoomReply<std::convert::Infallible> {
    /// An answer that is not a granted join, as any kind of answer.
    pub fn widen<J>(self) -> RoomReply<J> {
        self.map_join(|never| match never {})
    }
}

/// Who asked, and so where the answer goes.
#[derive(Debug)]
pub enum Caller {
    /// A route or a socket on this node: the answer, if one is wanted, goes to the sender.
    Here(Option<oneshot::Sender<RoomReply>>),
    /// Another node: the answer goes back to it under its ticket, in order with everything else the room
    /// sends that node, so that a join's answer comes before the connection's first event.
    Node {
        /// Which node.
        node: NodeName,
        /// The node's number for the answer; `None` if it wants none.
        ticket: Option<u64>,
    },
}

/// What reaches a room task.
#[derive(Debug)]
pub enum RoomInput {
    /// A request, from this node or another.
    Request {
        /// Who asked.
        from: Caller,
        /// What.
        request: RoomRequest,
    },
    /// A line of captions, back from the caption engine.
    Caption {
        /// Whose packets it was heard in.
        source: stoa_sfu::SourceId,
        /// The words.
        text: String,
        /// When it was said, in milliseconds since 1970.
        start_ms: u64,
        /// When it ended.
        end_ms: u64,
    },
    /// The server is stopping to restart: everyone is told, and the room lives on in the store.
    Restarting {
        /// The delay suggested to clients.
        retry_after_ms: u32,
    },
    /// The store's answer to the room's [`stoa_room::Output::LookUpRelations`].
    Relations {
        /// The member of the stage asked about.
        of: UserId,
        /// Whom they were asked about.
        among: Vec<UserId>,
        /// Whom of those they follow and block.
        outgoing: stoa_store::Outgoing,
    },
    /// A node of the cluster fell silent (killed, or cut off): its connections are gone; their people keep
    /// their places for the reconnect grace, as after any dropped socket.
    NodeLost {
        /// Which node.
        node: NodeName,
    },
    /// Another node holds the room's lease now: everyone is told to reconnect, and the room stops here
    /// without ending (its lasting state is in the store, where the other node took it from).
    HandOver,
    /// A moderator starts (with a target the server checked) or stops (`None`) the room's restream: the
    /// room's egress is told, the moderation log records it, and everyone sees the room's outputs change.
    Restream {
        /// Who.
        actor: UserId,
        /// Where the mix goes.
        target: Option<stoa_egress::RtmpTarget>,
        /// Where to answer.
        reply: oneshot::Sender<Result<(), RestreamRefused>>,
    },
    /// The replay worker stopped the replay: the space for recordings is full.
    RecordingStopped {
        /// The code (`quota_full`).
        reason: &'static str,
        /// The sentence for the room.
        message: String,
    },
}

impl RoomInput {
    /// A request from this node that wants no answer.
    pub fn told(request: RoomRequest) -> RoomInput {
        RoomInput::Request { from: Caller::Here(None), request }
    }
}

/// Asks a room (through its inbox) and waits for the answer. `None` if the room is gone, or (for a room
/// another node runs) did not answer in time.
pub async fn ask(room: &mpsc::Sender<RoomInput>, request: RoomRequest) -> Option<RoomReply> {
    let (reply, answer) = oneshot::channel();
    room.send(RoomInput::Request { from: Caller::Here(Some(reply)), request }).await.ok()?;
    answer.await.ok()
}

/// Hands a room a request that wants no answer. False if the room is gone.
pub async fn tell(room: &mpsc::Sender<RoomInput>, request: RoomRequest) -> bool {
    room.send(RoomInput::told(request)).await.is_ok()
}

/// What the room task sends one connection.
#[derive(Debug)]
pub enum Outbound {
    /// An event to write.
    Event(Utf8Bytes),
    /// Close the socket now, without waiting for room-wide events: the participant is out.
    Close,
}

/// A successful join: the connection's ID and its two event streams.
#[derive(Debug)]
pub struct JoinOutcome {
    /// The connection.
    pub conn: ConnId,
    /// Events for this connection alone. Closed when the room closes the connection.
    pub personal: mpsc::Receiver<Outbound>,
    /// Events for everyone in the room.
    pub broadcast: broadcast::Receiver<Utf8Bytes>,
}

/// Why the room did not start or stop its restream.
#[derive(Debug)]
pub enum RestreamRefused {
    /// The caller is not one of the room's moderators (any longer).
    NotModerator,
    /// The room's egress cannot take it (not running, or no ffmpeg): why.
    Unavailable(String),
}
