//! One WebSocket connection to a room: relays the client's commands to the room task, and the room's
//! events (personal and room-wide) to the client.

use crate::live::budget::{CommandBudget, Verdict};
use crate::live::input::{JoinOutcome, Outbound, RoomInput, RoomRequest};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures_util::{SinkExt, StreamExt};
use stoa_proto::{ClientMessage, ServerEvent};
use stoa_room::ConnId;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;

/// Tells the room the connection is gone, however the connection task ends (even by panic or by the
/// upgrade never completing). A room that already closed the connection ignores it.
pub struct Departure {
    conn: ConnId,
    room: mpsc::Sender<RoomInput>,
}

impl Departure {
    /// A guard for `conn`, made as soon as the join is granted, before the upgrade that may never finish.
    pub fn new(conn: ConnId, room: mpsc::Sender<RoomInput>) -> Departure {
        Departure { conn, room }
    }
}

impl Drop for Departure {
    fn drop(&mut self) {
        let input = RoomInput::told(RoomRequest::Disconnected { conn: self.conn });
        if let Err(mpsc::error::TrySendError::Full(input)) = self.room.try_send(input) {
            let room = self.room.clone();
            tokio::spawn(async move {
                let _ = room.send(input).await;
            });
        }
    }
}

fn error_event(code: &str, message: &str) -> Message {
    let event = ServerEvent::Error { id: None, code: code.into(), message: message.into() };
    Message::Text(Utf8Bytes::from(serde_json::to_string(&event).unwrap_or_default()))
}

/// Room-wide events written with one flush at most: a tick's burst, bounded so that a connection that fell
/// behind still interleaves its personal events and the client's commands.
const BURST: usize = 64;

/// What a connection that fell too far behind the room is told before it is closed.
fn too_slow() -> Message {
    let removed = ServerEvent::Removed {
        reason: "too_slow".into(),
        message: "Your connection could not keep up with the room; reconnect to continue.".into(),
    };
    Message::Text(Utf8Bytes::from(serde_json::to_string(&removed).unwrap_or_default()))
}

/// What a connection that sent too many commands is told before it is closed.
fn too_many_commands() -> Message {
    let removed = ServerEvent::Removed {
        reason: "too_many_commands".into(),
        message: "Your client sent commands faster than the room takes them; reconnect to continue.".into(),
    };
    Message::Text(Utf8Bytes::from(serde_json::to_string(&removed).unwrap_or_default()))
}

/// Carries out one frame from the client, within its budget: a command goes to the room, anything else
/// gets an error. `Err` ends the connection, with the reason for its Close frame (empty: none is sent).
async fn from_client(
    frame: Option<Result<Message, axum::Error>>,
    conn: ConnId,
    room: &mpsc::Sender<RoomInput>,
    budget: &mut CommandBudget,
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
) -> Result<(), &'static str> {
    let sent = |r: Result<(), axum::Error>| r.map_err(|_| "");
    let parsed = match frame {
        Some(Ok(Message::Text(text))) => serde_json::from_str::<ClientMessage>(&text)
            .map_err(|e| format!("That message is not a command this room understands: {e}.")),
        Some(Ok(Message::Binary(_))) => Err("Send commands as JSON text frames.".to_string()),
        // Pings are answered by the WebSocket layer; pongs need nothing.
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Ok(()),
        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Err(""),
    };
    // A frame that is not a command costs as much to refuse as a command does to carry out.
    match budget.spend(std::time::Instant::now(), parsed.as_ref().ok().map(|m| &m.command)) {
        Verdict::Pass => {}
        Verdict::Warn => {
            let slow = "Slow down: that command was dropped, and more like it will close this connection.";
            return sent(sink.send(error_event("too_many_commands", slow)).await);
        }
        Verdict::Drop => return Ok(()),
        Verdict::CutOff => {
            let _ = sink.send(too_many_commands()).await;
            return Err("too many commands");
        }
    }
    match parsed {
        Ok(message) => {
            room.send(RoomInput::told(RoomRequest::Command { conn, message })).await.map_err(|_| "room ended")
        }
        Err(why) => sent(sink.send(error_event("invalid_message", &why)).await),
    }
}

/// Runs a connection until the client or the room closes it.
/// `commands_per_second` is the client's command budget (see [`crate::live::budget`]).
/// `credential` ends the connection when what it was opened with is revoked.
pub async fn serve_connection(
    socket: WebSocket,
    joined: JoinOutcome,
    departure: Departure,
    commands_per_second: u32,
    mut credential: crate::revoke::Watch,
) {
    let JoinOutcome { conn, mut personal, mut broadcast } = joined;
    let room = departure.room.clone();
    let (mut sink, mut stream) = socket.split();
    let mut budget = CommandBudget::new(std::time::Instant::now(), commands_per_second);
    let close_reason: &'static str = loop {
        tokio::select! {
            // Personal events first: the `joined` event must precede any broadcast.
            biased;
            event = personal.recv() => match event {
                Some(Outbound::Event(text)) => {
                    if sink.send(Message::Text(text)).await.is_err() {
                        break "";
                    }
                }
                Some(Outbound::Close) => break "closed by the room",
                None => {
                    // The room ended. Room-wide events already sent (its `room_ended`) are delivered before
                    // the socket closes.
                    loop {
                        match broadcast.try_recv() {
                            Ok(text) => {
                                if sink.send(Message::Text(text)).await.is_err() {
                                    break;
                                }
                            }
                            Err(TryRecvError::Lagged(_)) => continue,
                            Err(_) => break,
                        }
                    }
                    break "closed by the room";
                }
            },
            event = broadcast.recv() => match event {
                Ok(text) => {
                    // A burst (the chat's tick: messages and reactions back to back) is written with one
                    // flush: one wake-up and one write for the lot, not one per event.
                    if sink.feed(Message::Text(text)).await.is_err() {
                        break "";
                    }
                    let mut lagged = false;
                    for _ in 0..BURST {
                        match broadcast.try_recv() {
                            Ok(text) => {
                                if sink.feed(Message::Text(text)).await.is_err() {
                                    break;
                                }
                            }
                            Err(TryRecvError::Lagged(_)) => {
                                lagged = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if sink.flush().await.is_err() {
                        break "";
                    }
                    if lagged {
                        let _ = sink.send(too_slow()).await;
                        break "too slow";
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let _ = sink.send(too_slow()).await;
                    break "too slow";
                }
                Err(RecvError::Closed) => break "room ended",
            },
            why = credential.revoked() => {
                let removed = ServerEvent::Removed { reason: why.reason.into(), message: why.message };
                let _ = sink.send(Message::Text(Utf8Bytes::from(serde_json::to_string(&removed).unwrap_or_default()))).await;
                break "signed out";
            }
            frame = stream.next() => {
                if let Err(reason) = from_client(frame, conn, &room, &mut budget, &mut sink).await {
                    break reason;
                }
            }
        }
    };
    if !close_reason.is_empty() {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: close_code::NORMAL,
                reason: Utf8Bytes::from_static(close_reason),
            })))
            .await;
        // The closing handshake: read (and drop) what the client still sends until its Close, for a
        // moment. A socket closed with unread data in it is reset, and a reset loses the last events (why
        // it was closed) on their way to the client.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}
