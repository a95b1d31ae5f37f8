//! The audience: its pages, and its size, which the room broadcasts rather than telling anyone of a listener coming or going.
//!
//! It goes out only when it changed, at most once every millisecond per listener, between 1 s and 10 s. A
//! broadcast is a frame to every socket, so at a fixed second a join storm into 5,000 listeners cost eight
//! count frames for every join. Scaled, the room sends about a thousand count frames a second at most, and a
//! large room's counter lags by seconds, which nobody reading "5,214 listening" can tell.

use super::*;

/// How long after the last count the next may go out, with `listeners` in the room.
fn listener_count_interval(listeners: u32) -> Duration {
    Duration::from_millis(u64::from(listeners).clamp(1_000, 10_000))
}

impl Room {
    /// One page of the audience: listeners followed by someone on stage first, then the others, each in
    /// order of arrival.
    pub fn audience(&self, offset: u32, limit: u32) -> AudiencePage {
        let stage: Vec<UserId> = self.on_stage.iter().copied().collect();
        let mut listeners: Vec<(bool, u64, &Participant)> = self
            .participants
            .values()
            .filter(|p| p.role == Role::Listener)
            .map(|p| (stage.iter().any(|s| p.relations.followed_by.contains(s)), p.joined_seq, p))
            .collect();
        listeners.sort_by_key(|(followed, seq, _)| (!followed, *seq));
        let total = listeners.len() as u32;
        let members: Vec<AudienceMember> = listeners
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|(followed, _, p)| AudienceMember { user: p.user.clone(), followed_by_speakers: followed })
            .collect();
        let end = offset.saturating_add(members.len() as u32);
        AudiencePage { total, members, next_offset: (end < total).then_some(end) }
    }

    /// How many listeners are in the room now (what the audience count broadcasts at most once a second, less
    /// often in a large room).
    pub fn listener_count(&self) -> u32 {
        let listeners = (self.participants.len() - self.on_stage.len()) as u32;
        debug_assert_eq!(listeners, self.participants.values().filter(|p| p.role == Role::Listener).count() as u32);
        listeners
    }

    /// How many listen through the listen link, as the glue counts them: sent at once, with the listener
    /// count, when it changed.
    pub fn set_public_listeners(&mut self, now: Instant, count: u32) {
        if count != self.public_listeners {
            self.public_listeners = count;
            self.send_count(now);
        }
    }

    /// When the audience count should next go out: never while it is what was last sent.
    pub(super) fn count_due(&self) -> Option<Instant> {
        let listeners = self.listener_count();
        (listeners != self.listener_count_sent)
            .then(|| self.listener_count_sent_at + listener_count_interval(listeners))
    }

    /// Broadcasts the audience count now.
    pub(super) fn send_count(&mut self, now: Instant) {
        let count = self.listener_count();
        self.listener_count_sent = count;
        self.listener_count_sent_at = now;
        self.version += 1;
        self.outputs.push_back(Output::Broadcast(ServerEvent::ListenerCount { count, public: self.public_listeners }));
    }
}
