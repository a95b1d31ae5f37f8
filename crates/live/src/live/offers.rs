//! How often one connection may offer media. Each offer builds a WebRTC peer (ICE, a DTLS handshake, an
//! SRTP context) on a media shard, so a client that offers in a loop would spend the shard's time on
//! handshakes instead of forwarding. A real client offers once, and again only to restart ICE.

use crate::limits::{Limiter, MINUTE};
use std::time::{Duration, Instant};
use stoa_room::ConnId;

/// Offers one connection may make: one a second, and ten a minute.
const MIN_GAP: Duration = Duration::from_secs(1);
const PER_MINUTE: u32 = 10;
/// Connections whose windows a room keeps at most (a connection's go when it does).
const MAX_CONNECTIONS: usize = 32_768;

/// A room's limits on its connections' offers: two windows per connection, a second's and a minute's.
#[derive(Debug)]
pub struct OfferLimits(Limiter<(ConnId, bool)>);

impl Default for OfferLimits {
    fn default() -> Self {
        OfferLimits(Limiter::new(2 * MAX_CONNECTIONS))
    }
}

impl OfferLimits {
    /// Whether `conn`'s offer at `now` may go ahead; if so, it counts. A refused offer counts for nothing.
    pub fn allow(&mut self, now: Instant, conn: ConnId) -> bool {
        let (second, minute) = ((conn, false), (conn, true));
        if self.0.left(now, &second, 1, MIN_GAP).is_err() || self.0.left(now, &minute, PER_MINUTE, MINUTE).is_err() {
            return false;
        }
        let counted = self.0.count_n(now, second, 1, 1, MIN_GAP).is_ok();
        counted && self.0.count_n(now, minute, 1, PER_MINUTE, MINUTE).is_ok()
    }

    /// Forgets a connection that is gone.
    pub fn forget(&mut self, conn: ConnId) {
        self.0.forget(&(conn, false));
        self.0.forget(&(conn, true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_offer_a_second_and_ten_a_minute() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let conn = ConnId(1);
        let mut limits = OfferLimits::default();
        assert!(limits.allow(at(0), conn));
        assert!(!limits.allow(at(500), conn), "a second offer within the second");
        assert!(limits.allow(at(500), ConnId(2)), "another connection has its own");
        assert!(limits.allow(at(1000), conn));
        for i in 2..10 {
            assert!(limits.allow(at(1000 * i), conn), "offer {i}");
        }
        assert!(!limits.allow(at(10_000), conn), "the eleventh in a minute");
        assert!(!limits.allow(at(59_999), conn), "still the same minute");
        assert!(limits.allow(at(60_000), conn), "a new minute");
        // A refused offer does not count against later ones.
        let mut fresh = OfferLimits::default();
        assert!(fresh.allow(at(0), conn));
        for ms in [100, 200, 300, 400] {
            assert!(!fresh.allow(at(ms), conn));
        }
        assert!(fresh.allow(at(1000), conn));
        fresh.forget(conn);
        assert!(fresh.allow(at(1001), conn), "a forgotten connection starts afresh");
    }
}
