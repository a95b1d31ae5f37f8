//! What reaches a room task ([`RoomInput`]) and what it sends a connection ([`Outbound`]).

use crate::live::nodes::NodeName;
use axum::extract::ws::Utf8Bytes;
use stoa_proto::{AudiencePage, ClientMessage, UserId, UserSummary};
use stoa_room::{CommandError, ConnId, JoinError, Relations};
use tokio::sync::{broadcast, mpsc, oneshot};

/// How many events may wait for one connection before it is judged too slow and cut off. Personal events
/// are rare (an invitation, a hand, an error), so a full queue means the client stopped reading.
pub(crate) const PERSONAL_QUEUE: usize = 64;
/// How many room-wide events a connection may fall behind before it is cut off. Room-wide events are
/// stage changes and a count a second, so 256 is minutes of normal traffic.
pub(crate) const BROADCAST_QUEUE: usize = 256;
/// The room task's inbox. Senders wait when it is full, which slows the busiest clients, not the room.
pub(crate) const INBOX: usize = 1024;
/// What reaches a room task.
#[derive(Debug)]
pub enum RoomInput {
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
        /// Where to answer.
        reply: oneshot::Sender<Result<JoinOutcome, JoinError>>,
    },
    /// A command from a connection.
    Command {
        /// Which connection.
        conn: ConnId,
        /// The command.
        message: ClientMessage,
    },
    /// The server is stopping to restart: everyone is told, and the room lives on in the store.
    Restarting {
        /// The delay suggested to clients.
        retry_after_ms: u32,
    },
    /// A connection's socket closed.
    Disconnected {
        /// Which connection.
        conn: ConnId,
    },
    /// A moderator invites users into the room.
    Invite {
        /// The moderator.
        actor: UserId,
        /// Whom.
        users: Vec<UserId>,
        /// Where to answer.
        reply: oneshot::Sender<Result<(), CommandError>>,
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
    /// A participant pings someone to join (in a closed room, a moderator, and the ping invites).
    Ping {
        /// Who pings.
        actor: UserId,
        /// Whom.
        target: UserId,
        /// Where to answer: the room's access after the ping.
        reply: oneshot::Sender<Result<stoa_room::Access, CommandError>>,
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
    /// Which of these users are in the room now (for a report).
    Present {
        /// Whom to look for.
        users: Vec<UserId>,
        /// Where to answer: those present, and the room's title.
        reply: oneshot::Sender<(Vec<UserId>, String)>,
    },
    /// A page of the audience.
    Audience {
        /// Where the page starts.
        offset: u32,
        /// How many at most.
        limit: u32,
        /// Where to answer.
        reply: oneshot::Sender<AudiencePage>,
    },
    /// A join relayed from another node of the cluster; the answer goes back to that node.
    RemoteJoin {
        /// The node the user's WebSocket is on.
        node: NodeName,
        /// That node's token for the join.
        token: u64,
        /// Who.
        user: UserSummary,
        /// Their relations to `asked`.
        relations: Relations,
        /// Whom the relations were looked up among.
        asked: Vec<UserId>,
        /// What the connection may do.
        grant: stoa_proto::Grant,
    },
    /// A command (or, with none, the socket's close) relayed from another node: acted on only if that node
    /// holds the connection.
    Relayed {
        /// The node it came from.
        node: NodeName,
        /// Which connection.
        conn: ConnId,
        /// The command; `None` when the connection is gone.
        message: Option<ClientMessage>,
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
    /// Another node links its SFU to the room's: the answer to its offer, or why not. The link is a
    /// listener's peer here, so the origin's slot, stage and joining decisions reach that node's listeners.
    Link {
        /// The node.
        node: NodeName,
        /// Its SDP offer.
        sdp: String,
        /// Where to answer.
        reply: oneshot::Sender<Result<String, String>>,
    },
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
