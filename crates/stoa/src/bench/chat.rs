//! The chat and reactions the bench sends, to measure what they cost the room's audio.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use stoa_client::{Incoming, Session};
use stoa_proto::{ClientCommand, ServerEvent};

/// What the chatters did and saw.
#[derive(Default)]
pub(crate) struct ChatStats {
    pub(crate) sent: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) reactions: AtomicU64,
    /// Chat messages the first chatter received (each is broadcast to everyone once).
    pub(crate) seen: AtomicU64,
    /// Reactions counted in the `reactions` events the first chatter received.
    pub(crate) counts_seen: AtomicU64,
}

/// One chatter: from `from` until stopped, a message every `n / chat_rate` seconds and a reaction every
/// `n / reaction_rate` seconds, staggered by its place `i` among `n`, so that the room gets the rates.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn chatter(
    session: &mut Session,
    i: usize,
    n: f64,
    chat_rate: f64,
    reaction_rate: f64,
    from: Option<Instant>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    stats: &ChatStats,
) {
    use stoa_proto::Reaction;
    let start = from.unwrap_or_else(Instant::now);
    let every = |rate: f64| (rate > 0.0).then(|| Duration::from_secs_f64(n / rate));
    let (chat_every, react_every) = (every(chat_rate), every(reaction_rate));
    let offset = |d: Duration| d.mul_f64(i as f64 / n);
    let mut next_chat = chat_every.map(|d| start + offset(d));
    let mut next_react = react_every.map(|d| start + offset(d));
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let due = [next_chat, next_react].into_iter().flatten().min().unwrap_or(start + Duration::from_secs(3600));
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {
                let now = Instant::now();
                if let (Some(at), Some(d)) = (next_chat, chat_every) && now >= at {
                    k += 1;
                    let text = format!("Bench chatter {i}, message {k}: a line of about a hundred characters, as people write in a room.");
                    if session.command(ClientCommand::SendChat { text }).await.is_ok() {
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    // Late (a busy machine): on from now, never a burst to catch up, which the room's
                    // limits would refuse.
                    next_chat = Some((at + d).max(now + d / 2));
                }
                if let (Some(at), Some(d)) = (next_react, react_every) && now >= at {
                    let reaction = Reaction::ALL[(i + k as usize) % Reaction::ALL.len()];
                    if session.command(ClientCommand::React { reaction }).await.is_ok() {
                        stats.reactions.fetch_add(1, Ordering::Relaxed);
                    }
                    next_react = Some((at + d).max(now + d / 2));
                }
            }
            event = session.next() => match event {
                Incoming::Event(ServerEvent::ChatMessage { .. }) if i == 0 => {
                    stats.seen.fetch_add(1, Ordering::Relaxed);
                }
                Incoming::Event(ServerEvent::Reactions { counts }) if i == 0 => {
                    stats.counts_seen.fetch_add(counts.iter().map(|c| u64::from(c.count)).sum(), Ordering::Relaxed);
                }
                Incoming::Event(ServerEvent::Error { code, .. }) if code.starts_with("chat") => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                }
                Incoming::Closed => return,
                _ => {}
            }
        }
    }
}
