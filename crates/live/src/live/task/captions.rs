//! The room task's captions: who has them on, the room's caption worker (the egress's utterances to the
//! engine, the engine's words back to the room), and the `caption` events.

use super::*;
use crate::captions::CaptionEngine;
use stoa_egress::captions::{CaptionSink, Utterance};

/// Utterances a room keeps waiting for the engine: past this, the egress drops them.
const QUEUE: usize = 4;

/// Who has captions on in a room, and whether its egress is cutting utterances for them.
pub(super) struct Captions {
    engine: Option<Arc<CaptionEngine>>,
    wanted: HashSet<ConnId>,
    running: bool,
}

impl Captions {
    pub(super) fn new(engine: Option<Arc<CaptionEngine>>) -> Captions {
        Captions { engine, wanted: HashSet::new(), running: false }
    }

    /// Whether captions can be turned on, and whether they are of low accuracy.
    pub(super) fn available(&self) -> (bool, bool) {
        (self.engine.is_some(), self.engine.as_ref().is_some_and(|e| e.low_accuracy))
    }
}

impl RoomTask {
    /// A connection turns captions on or off. The room transcribes while anyone has them on and its
    /// moderators allow them, and not at all otherwise.
    pub(super) fn set_captions(&mut self, conn: ConnId, on: bool) {
        if on && self.room.is_e2ee() {
            let e = stoa_room::CommandError::E2eeRoom;
            self.send(conn, &ServerEvent::Error { id: None, code: e.code().into(), message: e.to_string() });
            return;
        }
        if on && self.captions.engine.is_none() {
            let message = "This server has no caption engine.".to_string();
            self.send(conn, &ServerEvent::Error { id: None, code: "no_captions".into(), message });
            return;
        }
        if on && !self.room.room_outputs().captions {
            let message = "The moderators turned captions off in this room.".to_string();
            self.send(conn, &ServerEvent::Error { id: None, code: "captions_off".into(), message });
            return;
        }
        let changed = if on { self.captions.wanted.insert(conn) } else { self.captions.wanted.remove(&conn) };
        if changed {
            self.sync_captions();
        }
    }

    /// Starts or stops the egress's utterances as the room's wishes and rules now say. Turned off by the
    /// moderators, everyone's captions stop, and those who had them on are off.
    pub(super) fn sync_captions(&mut self) {
        let allowed = self.room.room_outputs().captions;
        if !allowed {
            self.captions.wanted.clear();
        }
        // The listen link carries captions too, while its stream runs, and a replay keeps its transcript.
        let listen_link = allowed && self.egress.as_ref().is_some_and(|e| e.hls().running());
        let want = !self.captions.wanted.is_empty() || listen_link || (allowed && self.recording);
        if want == self.captions.running {
            return;
        }
        let (Some(egress), Some(engine)) = (&self.egress, &self.captions.engine) else { return };
        if !want {
            let _ = egress.captions(None);
            self.captions.running = false;
            return;
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        if egress.captions(Some(CaptionSink { to: tx, dropped: engine.dropped.clone() })).is_ok() {
            self.captions.running = true;
            tokio::spawn(worker(rx, engine.clone(), self.inbox.clone(), self.id.clone()));
        }
    }

    /// Someone may no longer be heard (muted, moved to the audience, gone): what they said since their last
    /// pause is dropped, not transcribed.
    pub(super) fn quiet(&mut self, user: UserId) {
        let Some(egress) = self.egress.as_ref().filter(|_| self.captions.running) else { return };
        for (source, (_, who)) in &self.sources {
            if *who == user {
                let _ = egress.quiet(*source);
            }
        }
    }

    /// A line back from the engine: to everyone with captions on, naming whoever's packets it was heard in,
    /// and to the replay's transcript while it records.
    pub(super) fn caption(&mut self, source: SourceId, text: String, start_ms: u64, end_ms: u64) {
        let Some((_, speaker)) = self.sources.get(&source) else { return };
        if text.is_empty() {
            return;
        }
        let speaker = *speaker;
        if let Some(hls) = self.egress.as_ref().map(|e| e.hls()).filter(|h| h.running()) {
            let info = self.room.info();
            let name = info.stage.iter().find(|m| m.user.id == speaker).map_or("Someone", |m| &m.user.display_name);
            hls.cue(&format!("{name}: {text}"), end_ms.saturating_sub(start_ms) as f64 / 1000.0);
        }
        if self.recording
            && let Some(replays) = &self.replays
        {
            let line = crate::recordings::ReplayOp::Line { speaker, text: text.clone(), start_ms, end_ms };
            if replays.try_send(line).is_err() {
                tracing::warn!(room = %self.id, "the replay worker is behind; a transcript line was dropped");
            }
        }
        let event = ServerEvent::Caption { speaker, text, start_ms, end_ms, is_final: true };
        let conns: Vec<ConnId> = self.captions.wanted.iter().copied().collect();
        for conn in conns {
            self.send(conn, &event);
        }
    }
}

/// The room's caption worker: each utterance to the engine, while a server-wide slot is free, and its words
/// back to the room. It ends when the egress lets go of its queue (nobody has captions on, or the room
/// ended).
async fn worker(
    mut utterances: mpsc::Receiver<Utterance>,
    engine: Arc<CaptionEngine>,
    room: mpsc::WeakSender<RoomInput>,
    id: RoomId,
) {
    while let Some(u) = utterances.recv().await {
        let Some(slot) = engine.slot() else { continue };
        // The utterance ended with its pause, about the egress's delay before now.
        let now = crate::clock::now_ms().max(0) as u64;
        let said_ms = (u.end - u.start) as u64 * 20;
        let end_ms = now.saturating_sub(stoa_egress::timeline::DELAY as u64 * 20);
        let (engine, room, id) = (engine.clone(), room.clone(), id.clone());
        tokio::spawn(async move {
            let heard = engine.transcribe(u.wav()).await;
            drop(slot);
            match heard {
                Ok(text) => {
                    let caption =
                        RoomInput::Caption { source: u.source, text, start_ms: end_ms.saturating_sub(said_ms), end_ms };
                    if let Some(room) = room.upgrade() {
                        let _ = room.send(caption).await;
                    }
                }
                Err(e) => tracing::warn!(room = %id, error = %e, "an utterance was not transcribed"),
            }
        });
    }
}
