//! How often one connection may offer media. Each offer builds a WebRTC peer (ICE, a DTLS handshake, an
//! SRTP context) on a media shard, so a client that offers in a loop would spend the shard's time on
//! handshakes instead of forwarding. A real client offers once, and again only to restart ICE.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Offers one connection may make: one a second, and ten a minute.
const MIN_GAP: Duration = Duration::from_secs(1);
const PER_MINUTE: usize = 10;

/// One connection's recent offers. Holds at most [`PER_MINUTE`] instants.
#[derive(Debug, Default)]
pub struct OfferLimiter {
    accepted: VecDeque<Instant>,
}

impl OfferLimiter {
    /// Whether an offer at `now` may go ahead; if so, it counts.
    pub fn allow(&mut self, now: Instant) -> bool {
        while self.accepted.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            self.accepted.pop_front();
        }
        let too_soon = self.accepted.back().is_some_and(|t| now.duration_since(*t) < MIN_GAP);
        if too_soon || self.accepted.len() >= PER_MINUTE {
            return false;
        }
        self.accepted.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_offer_a_second_and_ten_a_minute() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut limiter = OfferLimiter::default();
        assert!(limiter.allow(at(0)));
        assert!(!limiter.allow(at(500)), "a second offer within the second");
        assert!(limiter.allow(at(1000)));
        for i in 2..10 {
            assert!(limiter.allow(at(1000 * i)), "offer {i}");
        }
        assert!(!limiter.allow(at(10_000)), "the eleventh in a minute");
        assert!(!limiter.allow(at(59_999)), "still the same minute");
        assert!(limiter.allow(at(60_000)), "the first has aged out");
        assert!(limiter.accepted.len() <= PER_MINUTE);
        // A refused offer does not count against later ones.
        let mut fresh = OfferLimiter::default();
        assert!(fresh.allow(at(0)));
        for ms in [100, 200, 300, 400] {
            assert!(!fresh.allow(at(ms)));
        }
        assert!(fresh.allow(at(1000)));
    }
}
