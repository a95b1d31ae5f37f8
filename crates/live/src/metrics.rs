//! What the room tasks count, for the server's `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the join-latency histogram's buckets, in milliseconds (the last is +Inf).
pub const JOIN_BUCKETS_MS: [u64; 10] = [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000];

/// What the room tasks count.
#[derive(Debug, Default)]
pub struct RoomMetrics {
    /// Room-socket connections cut off because their queue of events was full (a client that stopped
    /// reading).
    pub ws_queue_drops: AtomicU64,
    /// From a media offer to ICE and DTLS being up, per bucket of [`JOIN_BUCKETS_MS`] and +Inf.
    pub join_buckets: [AtomicU64; 11],
    /// The sum of those waits.
    pub join_sum_ms: AtomicU64,
}

impl RoomMetrics {
    /// One media connection came up `wait` after its offer.
    pub fn joined_after(&self, wait: Duration) {
        let ms = wait.as_millis() as u64;
        let bucket = JOIN_BUCKETS_MS.iter().position(|b| ms <= *b).unwrap_or(JOIN_BUCKETS_MS.len());
        self.join_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.join_sum_ms.fetch_add(ms, Ordering::Relaxed);
    }
}
