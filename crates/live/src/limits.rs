//! Fixed-window counters on a bounded number of keys, with time a parameter: the one limiter under the
//! server's rate limits, a room's offer limits and the clip limit.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A minute, the window of most limits.
pub const MINUTE: Duration = Duration::from_secs(60);
/// An hour, the window of the costly writes' limits (reports, rooms, invitations).
pub const HOUR: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    used: u32,
    length: Duration,
}

/// Fixed-window counters, each key with its own window of its own length, holding at most `max_keys` keys:
/// past it the expired windows are swept, and if all are live the oldest goes. Time is a parameter.
#[derive(Debug)]
pub struct Limiter<K> {
    windows: HashMap<K, Window>,
    max_keys: usize,
}

impl<K: Eq + Hash + Clone> Limiter<K> {
    /// An empty limiter of at most `max_keys` keys.
    pub fn new(max_keys: usize) -> Limiter<K> {
        Limiter { windows: HashMap::new(), max_keys }
    }

    /// How many more uses `key` may have at `now` under `limit` per `length`: `Err` with the time left in
    /// the window when none. Counts nothing.
    pub fn left(&self, now: Instant, key: &K, limit: u32, length: Duration) -> Result<u32, Duration> {
        match self.windows.get(key) {
            Some(w) if now.duration_since(w.start) < w.length => match limit.checked_sub(w.used) {
                Some(left) if left > 0 => Ok(left),
                _ => Err(w.length.saturating_sub(now.duration_since(w.start))),
            },
            _ if limit > 0 => Ok(limit),
            _ => Err(length),
        }
    }

    /// Counts `n` uses of `key` at `now`, or none when they would pass `limit` in its window of `length`:
    /// then `Err` with the time left in the window.
    pub fn count_n(&mut self, now: Instant, key: K, n: u32, limit: u32, length: Duration) -> Result<(), Duration> {
        if self.windows.len() >= self.max_keys && !self.windows.contains_key(&key) {
            self.windows.retain(|_, w| now.duration_since(w.start) < w.length);
            if self.windows.len() >= self.max_keys
                && let Some(oldest) = self.windows.iter().min_by_key(|(_, w)| w.start).map(|(k, _)| k.clone())
            {
                self.windows.remove(&oldest);
            }
        }
        let window = self.windows.entry(key).or_insert(Window { start: now, used: 0, length });
        if now.duration_since(window.start) >= window.length {
            *window = Window { start: now, used: 0, length };
        }
        if window.used.saturating_add(n) > limit {
            return Err(window.length.saturating_sub(now.duration_since(window.start)));
        }
        window.used += n;
        Ok(())
    }

    /// Forgets `key` (its connection is gone).
    pub fn forget(&mut self, key: &K) {
        self.windows.remove(key);
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limiter_holds_at_most_its_keys_and_forgets_the_oldest_first() {
        let mut limiter = Limiter::new(3);
        let t0 = Instant::now();
        for k in 0..10u32 {
            let at = t0 + Duration::from_millis(u64::from(k));
            assert!(limiter.count_n(at, k, 1, 1, HOUR).is_ok(), "a new key has its own budget");
            assert!(limiter.len() <= 3);
        }
        assert!(limiter.count_n(t0, 9, 1, 1, HOUR).is_err(), "the newest is still held");
        assert_eq!(limiter.left(t0, &0, 1, HOUR), Ok(1), "the oldest went");
        limiter.forget(&9);
        assert_eq!(limiter.left(t0, &9, 1, HOUR), Ok(1));
    }
}
