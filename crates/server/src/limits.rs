//! Rate limits: one [`Limiter`] of fixed-window counters on a bounded number of keys, with time a
//! parameter; the server's shared one on bounded string keys ([`RateLimiter`]); and the delay that failed
//! logins put on an account ([`FailedLogins`]) instead of a lock its owner could be shut out by.
//!
//! A small mutex is fine in both: each guards a hash map touched once per request that asks, never per
//! packet or per room event.

use crate::error::ApiError;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
pub use stoa_live::limits::{HOUR, Limiter, MINUTE};

/// Counters kept at most; past it, the expired ones are swept, and if all are live the oldest window goes.
const MAX_KEYS: usize = 100_000;
/// The longest key kept as it is. A longer one (a username of 60 KB at login) is kept as its prefix and its
/// SHA-256, so that no request can make the limiter hold more than this per key.
const MAX_KEY: usize = 96;

/// A key of bounded length: the key itself when short, else a prefix and a digest of the whole.
fn bounded(key: &str) -> Box<str> {
    if key.len() <= MAX_KEY {
        return key.into();
    }
    let mut cut = 32;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    let digest: String = Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!("{}#{digest}", &key[..cut]).into()
}

/// The server's limits, on keys such as `ip:ADDR` for sign-ups and logins, `report:USER`, `room:USER`,
/// `clip:USER`... A limit keys on the same normalized value the action uses; a long key is kept bounded.
pub struct RateLimiter {
    per_ip: u32,
    counters: Mutex<Limiter<Box<str>>>,
}

impl RateLimiter {
    /// Sign-ups and logins: at most `per_ip` a minute from one address.
    pub fn new(per_ip: u32) -> RateLimiter {
        RateLimiter { per_ip, counters: Mutex::new(Limiter::new(MAX_KEYS)) }
    }

    /// Counts one use of `key`, refusing it with 429 past `limit` a minute.
    pub fn check_key(&self, key: &str, limit: u32) -> Result<(), ApiError> {
        self.check_in(key, limit, MINUTE)
    }

    /// Counts one use of `key`, refusing it with 429 past `limit` in each `window`.
    pub fn check_in(&self, key: &str, limit: u32, window: Duration) -> Result<(), ApiError> {
        self.check_n(key, 1, limit, window)
    }

    /// Counts `n` uses of `key` at once (invitations to `n` people), refusing them all with 429 when they
    /// would pass `limit` in each `window`.
    pub fn check_n(&self, key: &str, n: u32, limit: u32, window: Duration) -> Result<(), ApiError> {
        self.count_n(Instant::now(), key, n, limit, window)
            .map_err(|wait| ApiError::rate_limited(wait.as_secs().max(1)))
    }

    /// Counts one sign-up or login attempt from `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.check_key(&format!("ip:{ip}"), self.per_ip)
    }

    /// Counts one use of `key` at `now`: `Err` with the time left in the window when `limit` is used up
    /// (and then the refused use is not counted).
    pub fn count(&self, now: Instant, key: &str, limit: u32, length: Duration) -> Result<(), Duration> {
        self.count_n(now, key, 1, limit, length)
    }

    /// Counts `n` uses of `key` at `now`, or none when they would pass `limit`.
    pub fn count_n(&self, now: Instant, key: &str, n: u32, limit: u32, length: Duration) -> Result<(), Duration> {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        counters.count_n(now, bounded(key), n, limit, length)
    }
}

/// Failed logins per account (by normalized username, whether or not the account exists, so that the
/// delay says nothing about which do). Past `free` recent failures, every attempt on the account waits
/// before its password is checked: a second, doubling with each further failure, at most
/// [`FailedLogins::MAX_DELAY`]. Nothing is ever refused: the owner, who knows the password, always gets in,
/// a few seconds late at worst, while a guesser from many addresses gets a handful of guesses a minute.
pub struct FailedLogins {
    free: u32,
    accounts: Mutex<HashMap<Box<str>, (Instant, u32)>>,
}

impl FailedLogins {
    /// The longest an attempt waits.
    pub const MAX_DELAY: Duration = Duration::from_secs(8);
    /// How long failures are remembered after the last one.
    pub const MEMORY: Duration = Duration::from_secs(15 * 60);

    /// Delays begin after `free` failures.
    pub fn new(free: u32) -> FailedLogins {
        FailedLogins { free, accounts: Mutex::new(HashMap::new()) }
    }

    /// How long an attempt on `account` waits before its password is checked.
    pub fn delay(&self, now: Instant, account: &str) -> Duration {
        let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        match accounts.get(&bounded(account)) {
            Some(&(last, failures)) if now.duration_since(last) < Self::MEMORY && failures >= self.free => {
                let doublings = (failures - self.free).min(8);
                Duration::from_secs(1u64 << doublings).min(Self::MAX_DELAY)
            }
            _ => Duration::ZERO,
        }
    }

    /// A wrong password for `account`.
    pub fn failed(&self, now: Instant, account: &str) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if accounts.len() >= MAX_KEYS {
            accounts.retain(|_, (last, _)| now.duration_since(*last) < Self::MEMORY);
        }
        // Still full (a flood of made-up usernames): the stalest goes, so that the flood cannot push a real
        // account's failures out unnoticed any faster than it makes new ones.
        if accounts.len() >= MAX_KEYS
            && let Some(stalest) = accounts.iter().min_by_key(|(_, (last, _))| *last).map(|(k, _)| k.clone())
        {
            accounts.remove(&stalest);
        }
        let entry = accounts.entry(bounded(account)).or_insert((now, 0));
        if now.duration_since(entry.0) >= Self::MEMORY {
            entry.1 = 0;
        }
        *entry = (now, entry.1.saturating_add(1));
    }

    /// The right password: the account's failures are forgotten.
    pub fn succeeded(&self, account: &str) {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner()).remove(&bounded(account));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_refuses_past_its_limit_and_opens_again_when_it_ends() {
        let limiter = RateLimiter::new(10);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.count(t0, "report:1", 3, HOUR).is_ok());
        }
        let wait = limiter.count(t0 + MINUTE, "report:1", 3, HOUR).unwrap_err();
        assert_eq!(wait, HOUR - MINUTE);
        assert!(limiter.count(t0, "report:2", 3, HOUR).is_ok(), "another key has its own budget");
        assert!(limiter.count(t0 + HOUR, "report:1", 3, HOUR).is_ok());
        assert!(limiter.count_n(t0 + HOUR, "report:1", 3, 3, HOUR).is_err(), "all or nothing");
        assert!(limiter.count_n(t0 + HOUR, "report:1", 2, 3, HOUR).is_ok());
    }

    #[test]
    fn long_keys_are_bounded_and_stay_apart() {
        let a = format!("user:{}", "a".repeat(60_000));
        let b = format!("user:{}b", "a".repeat(59_999));
        assert!(bounded(&a).len() <= MAX_KEY + 1);
        assert_ne!(bounded(&a), bounded(&b));
        assert_eq!(bounded("ip:127.0.0.1").as_ref(), "ip:127.0.0.1");
        assert_eq!(bounded(&"é".repeat(100)).chars().next(), Some('é'), "cut on a character's boundary");
    }

    #[test]
    fn failed_logins_delay_an_account_but_never_lock_it() {
        let logins = FailedLogins::new(3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(logins.delay(t0, "alice"), Duration::ZERO);
            logins.failed(t0, "alice");
        }
        assert_eq!(logins.delay(t0, "alice"), Duration::from_secs(1));
        for _ in 0..20 {
            logins.failed(t0, "alice");
        }
        assert_eq!(logins.delay(t0, "alice"), FailedLogins::MAX_DELAY, "bounded, never a lock");
        assert_eq!(logins.delay(t0, "bob"), Duration::ZERO);
        assert_eq!(logins.delay(t0 + FailedLogins::MEMORY, "alice"), Duration::ZERO, "forgotten in time");
        logins.succeeded("alice");
        assert_eq!(logins.delay(t0, "alice"), Duration::ZERO, "the right password clears them");
    }
}
