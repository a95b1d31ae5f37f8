//! Which lane the calling thread serves, for the embedded store's connections.
//!
//! The server runs bulk work (the backchannel: its requests and its tabs' streams) on threads of their
//! own, under `SCHED_IDLE`, so that the rooms' and the hallway's requests are never kept waiting for a core
//! by it (see `stoa_server::lane`). Those threads are marked here, and [`crate::SqliteStore`] lends them
//! reader connections of their own: each SQLite connection has a worker thread, which inherits the
//! scheduling policy of the thread that opens it, and a bulk read queued on a shared connection would keep
//! an interactive one waiting all the same. Writes take the pool whoever asks: they hold the one write
//! lock, which no idle-class thread may hold. Postgres runs in a process of its own and ignores the mark.

use std::cell::Cell;

thread_local! {
    static BULK: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one of the bulk lane's: what the store does for it from now on uses the
/// bulk lane's connections.
pub fn serve_bulk_on_this_thread() {
    BULK.with(|b| b.set(true));
}

/// Whether the calling thread is one of the bulk lane's.
pub fn on_bulk_lane() -> bool {
    BULK.with(|b| b.get())
}
