//! Stoa's media plane: an audio SFU on str0m.
//!
//! It forwards Opus from the room's unmuted speakers to everyone else in the room, and nothing from anyone
//! else. The decisions are sans-IO, after str0m's own split; the driver does the IO:
//!
//! - [`slots`] decides which speaker is heard in which of a listener's slots, and rewrites timestamps so
//!   each slot is one continuous stream (sequence numbers are each peer's own: `downlink`);
//! - `forward` decides who hears a packet: the stage's 20 ms stream or the audience's joined one, a
//!   mirror's uplink, links first, the room's mix. No socket, no clock: time is a parameter, and its tests
//!   are transcripts;
//! - `driver` runs one shard per core, each with its own UDP socket and thread: it feeds every peer's
//!   `str0m::Rtc` (`driver/io.rs`), carries out the forwarder's decisions and seals each listener's copy on
//!   its own SRTP fast path (`driver/fanout.rs`, `srtp`, `downlink`), and answers offers (`peer`);
//! - `handle` is the [`Sfu`] handle, and `api` the types it takes and gives.
//!
//! What clients share with it (Opus and RED set-up, RFC 4571 framing, the shared DTLS provider, socket
//! buffers) lives in `stoa-media`; `srtp` hooks that provider to take each handshake's keys.
//!
//! The control plane talks to it through an [`Sfu`] handle: it opens a room, hands over a client's SDP offer
//! (with whether that client may publish), changes who may publish as the stage changes, and closes peers
//! and rooms. The SFU answers with [`SfuEvent`]s on the room's channel. It knows nothing of HTTP, the
//! database, or room rules. [`link`] is the other end of a cluster's link between two nodes' SFUs.

#![deny(missing_docs)]

mod api;
mod downlink;
mod driver;
mod forward;
mod handle;
pub mod link;
mod net;
mod peer;
pub mod repacket;
pub mod slots;
mod srtp;
pub mod tcp;

pub use api::{
    FORWARD_BUCKETS_US, Forwarding, PeerError, PeerId, RoomKey, SfuConfig, SfuError, SfuEvent, ShardMeter, Stats, Tap,
    Tapped, Transport, Uplink,
};
pub use handle::Sfu;
pub use slots::{SlotConfig, SlotMapper, SourceId};
pub use stoa_media::dtls::crypto_provider;
pub use stoa_media::{red, set_socket_buffers};

/// A global allocator for the crate's tests that counts allocations and live bytes per thread, so a test
/// can assert that a hot path allocates nothing, or how much a peer holds.
#[cfg(test)]
pub(crate) mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
        static LIVE: Cell<i64> = const { Cell::new(0) };
    }

    fn live(delta: i64) {
        // `try_with`: the allocator also serves the thread's own teardown, after its locals are gone.
        let _ = LIVE.try_with(|c| c.set(c.get() + delta));
    }

    struct Counting;

    // SAFETY: every call is passed to the system allocator unchanged; only a thread-local counter is added.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
            live(layout.size() as i64);
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            live(-(layout.size() as i64));
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
            live(new_size as i64 - layout.size() as i64);
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Allocations (and reallocations) made on this thread so far.
    pub fn allocations() -> u64 {
        ALLOCATIONS.with(|c| c.get())
    }

    /// Bytes allocated on this thread and not yet freed on it.
    pub fn live_bytes() -> i64 {
        LIVE.with(|c| c.get())
    }
}
