//! The room task: the one owner of a live room. It feeds a [`Room`] the inputs that arrive on its channel
//! and the timeouts it asks for, and carries out the room's outputs: events to connections, broadcasts,
//! closes, and the room's end.

use crate::live::directory::{Directory, RoomHandle, Snapshot};
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use stoa_proto::{AudiencePage, ClientMessage, RoomId, ServerEvent, UserId, UserSummary};
use stoa_room::{CommandError, ConnId, JoinError, Output, Relations, Room};
use stoa_store::Store;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// How many events may wait for one connection before it is judged too slow and cut off. Personal events
/// are rare (an invitation, a hand, an error), so a full queue means the client stopped reading.
const PERSONAL_QUEUE: usize = 64;
/// How many room-wide events a connection may fall behind before it is cut off. Room-wide events are
/// stage changes and a count a second, so 256 is minutes of normal traffic.
const BROADCAST_QUEUE: usize = 256;
/// The room task's inbox. Senders wait when it is full, which slows the busiest clients, not the room.
const INBOX: usize = 1024;

/// What reaches a room task.
#[derive(Debug)]
pub enum RoomInput {
    /// A user asks to join; the answer is a connection or a refusal.
    Join {
        /// Who.
        user: UserSummary,
        /// Their follows and blocks, for the room's access rules.
        relations: Relations,
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
    /// A page of the audience.
    Audience {
        /// Where the page starts.
        offset: u32,
        /// How many at most.
        limit: u32,
        /// Where to answer.
        reply: oneshot::Sender<AudiencePage>,
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

/// Starts the task of a new room, registers it in the directory, and returns its handle.
pub fn spawn_room(room: Room, id: RoomId, store: Arc<dyn Store>, directory: Directory) -> RoomHandle {
    let (tx, rx) = mpsc::channel(INBOX);
    let (snapshot_tx, snapshot) = watch::channel(Arc::new(Snapshot { info: room.info(), access: room.access() }));
    let handle = RoomHandle { tx, snapshot };
    directory.insert(id.clone(), handle.clone());
    let task = RoomTask {
        published: room.version(),
        room,
        id,
        store,
        directory,
        conns: HashMap::new(),
        broadcast: broadcast::channel(BROADCAST_QUEUE).0,
        snapshot: snapshot_tx,
    };
    tokio::spawn(task.run(rx));
    handle
}

struct RoomTask {
    room: Room,
    id: RoomId,
    store: Arc<dyn Store>,
    directory: Directory,
    conns: HashMap<ConnId, mpsc::Sender<Outbound>>,
    broadcast: broadcast::Sender<Utf8Bytes>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    published: u64,
}

impl RoomTask {
    async fn run(mut self, mut rx: mpsc::Receiver<RoomInput>) {
        tracing::info!(room = %self.id, "room is live");
        loop {
            let deadline = self.room.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                input = rx.recv() => match input {
                    Some(input) => self.handle(input),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                    self.room.handle_timeout(Instant::now());
                }
            }
            if self.drain() {
                break;
            }
        }
        self.directory.remove(&self.id);
        if let Err(e) = self.store.end_room(&self.id).await {
            tracing::error!(room = %self.id, error = %e, "could not record the room's end");
        }
        tracing::info!(room = %self.id, "room ended");
    }

    fn handle(&mut self, input: RoomInput) {
        let now = Instant::now();
        match input {
            RoomInput::Join { user, relations, reply } => {
                let outcome = self.room.join(now, user, relations).map(|conn| {
                    let (tx, personal) = mpsc::channel(PERSONAL_QUEUE);
                    self.conns.insert(conn, tx);
                    JoinOutcome { conn, personal, broadcast: self.broadcast.subscribe() }
                });
                if let Err(Ok(outcome)) = reply.send(outcome) {
                    // The request went away between asking and the answer: the connection never opens.
                    self.conns.remove(&outcome.conn);
                    self.room.disconnected(now, outcome.conn);
                }
            }
            RoomInput::Command { conn, message } => self.room.command(now, conn, message),
            RoomInput::Disconnected { conn } => {
                self.conns.remove(&conn);
                self.room.disconnected(now, conn);
            }
            RoomInput::Invite { actor, users, reply } => {
                let _ = reply.send(self.room.invite(actor, &users));
            }
            RoomInput::Audience { offset, limit, reply } => {
                let _ = reply.send(self.room.audience(offset, limit));
            }
        }
    }

    /// Carries out the room's outputs. Returns true when the room has ended.
    fn drain(&mut self) -> bool {
        let mut ended = false;
        while let Some(output) = self.room.poll_output() {
            match output {
                Output::Send(conn, event) => {
                    let Some(tx) = self.conns.get(&conn) else { continue };
                    if tx.try_send(Outbound::Event(encode(&event))).is_err() {
                        // Full (the client stopped reading) or closed: cut it off rather than wait. Its
                        // participant keeps their place for the reconnect grace, like any dropped socket.
                        tracing::info!(room = %self.id, conn = conn.0, "connection too slow; closing it");
                        self.conns.remove(&conn);
                        self.room.disconnected(Instant::now(), conn);
                    }
                }
                Output::Broadcast(event) => {
                    // One encoding, one send, whatever the audience: each connection reads the same bytes.
                    let _ = self.broadcast.send(encode(&event));
                }
                Output::Close(conn) => {
                    // The connection closes once it has written what is queued before this. If the queue is
                    // full, dropping the sender closes it all the same.
                    if let Some(tx) = self.conns.remove(&conn) {
                        let _ = tx.try_send(Outbound::Close);
                    }
                }
                Output::Ended => ended = true,
            }
        }
        if ended {
            // Dropping every sender (and, as the task returns, the broadcast sender) closes every
            // connection after it has delivered the `room_ended` broadcast.
            self.conns.clear();
        }
        if self.room.version() != self.published {
            self.published = self.room.version();
            let _ = self.snapshot.send(Arc::new(Snapshot { info: self.room.info(), access: self.room.access() }));
        }
        ended
    }
}

fn encode(event: &ServerEvent) -> Utf8Bytes {
    // Serializing these plain types cannot fail; fall back to an empty object rather than panic if it ever did.
    Utf8Bytes::from(serde_json::to_string(event).unwrap_or_else(|_| "{}".into()))
}
