//! The record of rooms: their chat and their moderators' actions, written to the store in the background.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use stoa_store::{RoomLogEntry, Store};
use tokio::sync::mpsc;

/// Entries of rooms' records waiting for the store, across all rooms. A room never waits for the store:
/// past this, entries are dropped and counted (`stoa_room_log_dropped_total`).
const ROOM_LOG_QUEUE: usize = 16_384;
/// Entries written per transaction at most.
const ROOM_LOG_BATCH: usize = 500;

/// The background writer of rooms' chat and moderation records.
#[derive(Clone, Debug)]
pub struct RoomLog {
    tx: mpsc::Sender<RoomLogEntry>,
    /// Entries dropped because the queue was full.
    pub dropped: Arc<AtomicU64>,
}

impl RoomLog {
    /// Starts the writer.
    pub fn start(store: Arc<dyn Store>) -> RoomLog {
        let (tx, mut rx) = mpsc::channel::<RoomLogEntry>(ROOM_LOG_QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(ROOM_LOG_BATCH);
            while rx.recv_many(&mut batch, ROOM_LOG_BATCH).await > 0 {
                if let Err(e) = store.append_room_log(&batch).await {
                    tracing::error!(error = %e, entries = batch.len(), "cannot keep rooms' records");
                }
                batch.clear();
            }
        });
        RoomLog { tx, dropped: Arc::default() }
    }

    /// Hands an entry to the writer, or counts it dropped.
    pub fn push(&self, entry: RoomLogEntry) {
        if self.tx.try_send(entry).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
