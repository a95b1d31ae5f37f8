//! Each room connection's command budget: token buckets that take `now`, so that one client cannot flood
//! the room task, the moderators (a hand raised and lowered a hundred times a second) or the audience (a
//! speaker muting and unmuting, each a stage broadcast to thousands).

use std::time::{Duration, Instant};
use stoa_proto::ClientCommand;

/// Commands a second by default (`--room-commands-per-second`): reactions alone may come at 10 a second.
pub const DEFAULT_RATE: u32 = 10;
/// A burst of this many seconds' worth passes at once.
const BURST_SECONDS: f64 = 4.0;
/// Hands and microphones, which reach other people, get a tenth of the rate (one a second by default), in
/// bursts of six seconds' worth.
const TOGGLE_SHARE: f64 = 0.1;
const TOGGLE_BURST_SECONDS: f64 = 6.0;
/// Commands refused past the budget before the connection is cut off.
const STRIKES: u32 = 20;
/// A connection that kept to its budget this long since its last refusal starts afresh.
const FORGIVEN_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    burst: f64,
    rate: f64,
    at: Instant,
}

impl Bucket {
    fn new(now: Instant, burst: f64, rate: f64) -> Bucket {
        Bucket { tokens: burst, burst, rate, at: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
    }
}

/// What to do with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the budget: pass it to the room.
    Pass,
    /// Over the budget for the first time: drop it and tell the client to slow down.
    Warn,
    /// Over the budget again: drop it.
    Drop,
    /// Over the budget for too long: tell the client why, and close the connection.
    CutOff,
}

/// One connection's budget.
#[derive(Debug)]
pub struct CommandBudget {
    all: Bucket,
    toggles: Bucket,
    strikes: u32,
    last_strike: Option<Instant>,
}

impl CommandBudget {
    /// A full budget of `rate` commands a second.
    pub fn new(now: Instant, rate: u32) -> CommandBudget {
        let rate = f64::from(rate.max(1));
        let toggles = (rate * TOGGLE_SHARE).max(1.0);
        CommandBudget {
            all: Bucket::new(now, rate * BURST_SECONDS, rate),
            toggles: Bucket::new(now, toggles * TOGGLE_BURST_SECONDS, toggles),
            strikes: 0,
            last_strike: None,
        }
    }

    /// Spends the budget for `command` (`None`: a frame that was not a command, which costs as much to
    /// refuse) at `now`.
    pub fn spend(&mut self, now: Instant, command: Option<&ClientCommand>) -> Verdict {
        self.all.refill(now);
        self.toggles.refill(now);
        let toggle = matches!(
            command,
            Some(
                ClientCommand::RaiseHand
                    | ClientCommand::LowerHand
                    | ClientCommand::SetMuted { .. }
                    | ClientCommand::SetCaptions { .. }
            )
        );
        let within = self.all.tokens >= 1.0 && (!toggle || self.toggles.tokens >= 1.0);
        if within {
            self.all.tokens -= 1.0;
            if toggle {
                self.toggles.tokens -= 1.0;
            }
            if self.last_strike.is_some_and(|t| now.saturating_duration_since(t) >= FORGIVEN_AFTER) {
                self.strikes = 0;
                self.last_strike = None;
            }
            return Verdict::Pass;
        }
        self.strikes += 1;
        self.last_strike = Some(now);
        match self.strikes {
            1 => Verdict::Warn,
            n if n >= STRIKES => Verdict::CutOff,
            _ => Verdict::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_burst_passes_then_the_client_is_warned_then_cut_off() {
        let t0 = Instant::now();
        let mut budget = CommandBudget::new(t0, DEFAULT_RATE);
        for _ in 0..40 {
            assert_eq!(budget.spend(t0, Some(&ClientCommand::Ping)), Verdict::Pass);
        }
        assert_eq!(budget.spend(t0, Some(&ClientCommand::Ping)), Verdict::Warn);
        for _ in 2..STRIKES {
            assert_eq!(budget.spend(t0, None), Verdict::Drop);
        }
        assert_eq!(budget.spend(t0, Some(&ClientCommand::Ping)), Verdict::CutOff);
    }

    #[test]
    fn a_steady_client_is_never_refused_and_is_forgiven_a_slip() {
        let t0 = Instant::now();
        let mut budget = CommandBudget::new(t0, DEFAULT_RATE);
        // Ten a second for a minute: reactions as fast as the room counts them.
        for i in 0..600 {
            let command = ClientCommand::React { reaction: stoa_proto::Reaction::Clap };
            assert_eq!(budget.spend(at(t0, i * 100), Some(&command)), Verdict::Pass, "command {i}");
        }
        // Seven hand toggles at once: the seventh is one too many.
        let t1 = at(t0, 60_000);
        for _ in 0..6 {
            assert_eq!(budget.spend(t1, Some(&ClientCommand::RaiseHand)), Verdict::Pass);
        }
        assert_eq!(budget.spend(t1, Some(&ClientCommand::LowerHand)), Verdict::Warn);
        assert_eq!(budget.spend(t1, Some(&ClientCommand::Ping)), Verdict::Pass, "other commands still pass");
        // A second later, one more toggle; ten seconds of calm wipe the slate.
        assert_eq!(budget.spend(at(t1, 1000), Some(&ClientCommand::SetMuted { muted: true })), Verdict::Pass);
        assert_eq!(budget.spend(at(t1, 11_000), Some(&ClientCommand::Ping)), Verdict::Pass);
        assert_eq!(budget.strikes, 0);
    }
}
