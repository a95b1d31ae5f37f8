//! Stoa's media plane: an audio SFU on str0m.
//!
//! It forwards Opus from the room's unmuted speakers to everyone else in the room, and nothing from anyone
//! else. Two layers, after str0m's own sans-IO split:
//!
//! - [`slots`] decides, without sockets or clocks, which publisher is heard in which of a listener's slots,
//!   and rewrites sequence numbers and timestamps so each slot is one continuous stream;
//! - [`driver`] owns the UDP socket and the timers, feeds every peer's `str0m::Rtc`, and carries out the
//!   forwarding; once a peer is connected, its slots' packets are sealed by the shard's own SRTP fast path
//!   (`srtp`), not written through str0m.
//!
//! The control plane talks to it through an [`Sfu`] handle: it opens a room, hands over a client's SDP offer
//! (with whether that client may publish), changes who may publish as the stage changes, and closes peers
//! and rooms. The SFU answers with [`SfuEvent`]s on the room's channel. It knows nothing of HTTP, the
//! database, or room rules.

#![deny(missing_docs)]

mod downlink;
pub mod driver;
pub mod link;
mod net;
pub mod red;
pub mod repacket;
pub mod slots;
mod srtp;
pub mod tcp;

pub use driver::{
    FORWARD_BUCKETS_US, Forwarding, PeerError, PeerId, RoomKey, Sfu, SfuConfig, SfuError, SfuEvent, ShardMeter, Stats,
    Tap, Tapped, Transport,
};
pub use net::set_buffers as set_socket_buffers;
pub use slots::{SlotConfig, SlotMapper, SourceId};
pub use srtp::crypto_provider;

/// A global allocator for the crate's tests that counts allocations per thread, so a test can assert that
/// a hot path allocates nothing.
#[cfg(test)]
pub(crate) mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }

    struct Counting;

    // SAFETY: every call is passed to the system allocator unchanged; only a thread-local counter is added.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            ALLOCATIONS.with(|c| c.set(c.get() + 1));
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            ALLOCATIONS.with(|c| c.set(c.get() + 1));
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Allocations (and reallocations) made on this thread so far.
    pub fn allocations() -> u64 {
        ALLOCATIONS.with(|c| c.get())
    }
}
