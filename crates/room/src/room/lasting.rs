//! What of a room outlives its process: saved as it changes, and brought back after a restart.

use super::*;

impl Room {
    /// The room's lasting state, for the store.
    pub fn lasting(&self) -> Lasting {
        let stage = self.stage_in_order();
        let mut invited: Vec<UserId> = self.invited.iter().copied().collect();
        invited.sort();
        let mut removed: Vec<UserId> = self.removed.iter().copied().collect();
        removed.sort();
        let mut hosts: Vec<UserId> = self.hosts.iter().copied().collect();
        hosts.sort();
        Lasting {
            title: self.title.clone(),
            visibility: self.visibility,
            hand_mode: self.hand_mode,
            stage: stage.iter().map(|p| (p.user.clone(), p.role, p.muted)).collect(),
            invited,
            removed,
            hosts,
            outputs: self.egress,
            club: self.club.clone(),
            e2ee: self.e2ee.is_some(),
        }
    }

    /// A room brought back after a restart, empty: everyone who was on stage has their place and role
    /// for [`RoomConfig::reconnect_grace`], as after a dropped connection, and the room ends if nobody
    /// returns. `None` if the state has no moderator (a room cannot live without one).
    pub fn restore(now: Instant, id: RoomId, lasting: Lasting, config: RoomConfig) -> Option<Room> {
        let mut stage = lasting.stage.into_iter();
        let (creator, role, muted) = stage.next()?;
        if role != Role::Moderator {
            return None;
        }
        let invited = lasting.invited.into_iter().collect();
        let mut room = Room::new(now, id, lasting.title, lasting.visibility, creator, invited, config);
        room.hand_mode = lasting.hand_mode;
        room.removed = lasting.removed.into_iter().collect();
        room.hosts = lasting.hosts.into_iter().collect();
        room.club = lasting.club;
        if lasting.e2ee {
            // Its epochs start again as its people come back: the keys were only ever on their devices.
            room.make_e2ee();
        }
        // A restream does not outlive its process: a restored room starts without one.
        room.egress = RoomOutputs { restream: false, ..lasting.outputs };
        if let Some(first) = room.participants.values_mut().next() {
            first.muted = muted;
        }
        for (user, role, muted) in stage {
            if role == Role::Listener || room.participants.contains_key(&user.id) {
                continue;
            }
            let seq = room.seq();
            room.admit(Participant::expected(user, role, muted, seq, now));
        }
        Some(room)
    }
}

impl Participant {
    /// Someone with a place on stage who has not connected yet: a room's creator, or a stage member of a room
    /// brought back after a restart.
    pub(super) fn expected(user: UserSummary, role: Role, muted: bool, seq: u64, now: Instant) -> Participant {
        Participant {
            user,
            role,
            muted,
            joined_seq: seq,
            stage_seq: seq,
            presence: Presence::Away(now),
            hand: None,
            invited_to_speak: false,
            grant: Grant::LISTEN,
            relations: Relations::default(),
        }
    }
}
