//! End-to-end encrypted rooms: who holds each epoch's key, decided here; the keys themselves never are.
//!
//! Every device in the room announces its public key (`device_key`). Whenever the devices change (someone
//! arrives, leaves, is removed, or their connection drops), the room starts a new epoch: it asks one
//! keyholder, the longest-present connected moderator with a device key, to make the epoch's key and wrap
//! it for each device (`e2ee_rekey`), and relays the wrapped blobs it answers with (`e2ee_keys`) one to
//! each device (`e2ee_key`), after telling everyone the epoch's members (`e2ee_epoch`). One request is out
//! at a time: changes while it is out make the next epoch as soon as it is answered, so a burst of
//! arrivals costs one epoch, not one each. A keyholder who does not answer in [`KEYHOLDER_TIMEOUT`], or
//! goes, is passed over for the next moderator: nobody offline blocks the room.

use super::*;
use crate::error::CommandError;
use stoa_proto::E2eeMember;

/// How long the keyholder has to answer before another moderator is asked.
pub const KEYHOLDER_TIMEOUT: Duration = Duration::from_secs(5);
/// The most people an end-to-end encrypted room holds: every change wraps the key once for each of them
/// in the keyholder's client, and the answer must fit one 64 KiB WebSocket message (about 140 bytes a
/// member).
pub const E2EE_CAPACITY: u32 = 300;
/// A device key: 32 bytes, unpadded base64url.
const DEVICE_KEY_LEN: usize = 43;
/// A wrapped key (`stoa_e2ee::wrap::BLOB_LEN`, 97 bytes), unpadded base64url.
const WRAPPED_LEN: usize = 130;

/// The room's side of its keys.
#[derive(Debug, Default)]
pub(super) struct Keys {
    /// Each connected participant's device key.
    devices: BTreeMap<UserId, String>,
    /// The last epoch asked for.
    epoch: u32,
    /// The request that is out.
    asked: Option<Asked>,
    /// The devices changed since the last request was made.
    dirty: bool,
    /// Keyholders who let a request run out: asked after every other moderator.
    slow: HashSet<UserId>,
}

#[derive(Debug)]
struct Asked {
    keyholder: E2eeMember,
    members: Vec<E2eeMember>,
    deadline: Instant,
}

fn is_base64url(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Room {
    /// Makes the room end-to-end encrypted (when it starts): it holds at most [`E2EE_CAPACITY`] people and
    /// none of the outputs that need its audio.
    pub fn make_e2ee(&mut self) {
        self.e2ee = Some(Keys::default());
        self.config.capacity = self.config.capacity.min(E2EE_CAPACITY);
        // Captions too: they are allowed by default elsewhere, and need the audio.
        self.egress = RoomOutputs { captions: false, ..RoomOutputs::default() };
        self.version += 1;
    }

    /// Whether the room is end-to-end encrypted.
    pub fn is_e2ee(&self) -> bool {
        self.e2ee.is_some()
    }

    /// The epoch last asked for (0 before the first), for tests and metrics.
    pub fn e2ee_epoch(&self) -> u32 {
        self.e2ee.as_ref().map_or(0, |k| k.epoch)
    }

    /// `actor`'s device announced its public key.
    pub(super) fn device_key(&mut self, now: Instant, actor: UserId, key: String) -> Result<(), CommandError> {
        let Some(keys) = self.e2ee.as_mut() else { return Err(CommandError::NotE2ee) };
        if !is_base64url(&key, DEVICE_KEY_LEN) {
            return Err(CommandError::InvalidDeviceKey);
        }
        // A device announcing itself again (a reload) lost the key it held: it needs a new epoch too.
        keys.devices.insert(actor, key);
        self.e2ee_changed(now);
        Ok(())
    }

    /// The keyholder's answer: the epoch's key wrapped for each member, relayed to each.
    pub(super) fn e2ee_keys(
        &mut self,
        now: Instant,
        actor: UserId,
        epoch: u32,
        wrapped: Vec<String>,
    ) -> Result<(), CommandError> {
        let Some(keys) = self.e2ee.as_mut() else { return Err(CommandError::NotE2ee) };
        match &keys.asked {
            Some(a) if a.keyholder.user_id == actor && keys.epoch == epoch => {}
            _ => return Err(CommandError::StaleEpoch),
        }
        let asked = keys.asked.as_ref().map_or(0, |a| a.members.len());
        if wrapped.len() != asked || !wrapped.iter().all(|w| is_base64url(w, WRAPPED_LEN)) {
            return Err(CommandError::InvalidKeys);
        }
        let Some(Asked { keyholder, members, .. }) = keys.asked.take() else { return Err(CommandError::StaleEpoch) };
        keys.slow.clear();
        self.outputs.push_back(Output::Broadcast(ServerEvent::E2eeEpoch {
            epoch,
            keyholder,
            members: members.clone(),
        }));
        for (member, wrapped) in members.into_iter().zip(wrapped) {
            self.send_to_user(member.user_id, ServerEvent::E2eeKey { epoch, wrapped });
        }
        self.e2ee_settle(now);
        Ok(())
    }

    /// `user`'s device is gone from the room (they left, were removed, or their connection dropped): the
    /// next epoch, asked for by the next [`Room::e2ee_settle`], leaves them out.
    pub(super) fn e2ee_gone(&mut self, user: UserId) {
        let Some(keys) = self.e2ee.as_mut() else { return };
        let was_keyholder = keys.asked.as_ref().is_some_and(|a| a.keyholder.user_id == user);
        if keys.devices.remove(&user).is_none() && !was_keyholder {
            return;
        }
        if was_keyholder {
            // Nobody will answer this one: ask again, of someone else.
            keys.asked = None;
        }
        keys.dirty = true;
    }

    fn e2ee_changed(&mut self, now: Instant) {
        if let Some(keys) = self.e2ee.as_mut() {
            keys.dirty = true;
        }
        self.e2ee_settle(now);
    }

    /// Asks for a new epoch if the devices changed, no request is out, and a keyholder is there.
    pub(super) fn e2ee_settle(&mut self, now: Instant) {
        let Some(keys) = self.e2ee.as_ref() else { return };
        if !keys.dirty || keys.asked.is_some() {
            return;
        }
        // The keyholder: a connected moderator whose device gave its key, the longest on stage first, those
        // who let a request run out last.
        let keyholder = self
            .moderators()
            .filter(|m| keys.devices.contains_key(m))
            .filter_map(|m| Some((keys.slow.contains(&m), self.participants.get(&m)?.stage_seq, m)))
            .filter(|(_, _, m)| self.connection_of(*m).is_some())
            .min()
            .map(|(_, _, m)| m);
        let Some(keyholder) = keyholder else { return };
        let Some(conn) = self.connection_of(keyholder) else { return };
        let Some(keys) = self.e2ee.as_mut() else { return };
        let member = |(u, k): (&UserId, &String)| E2eeMember { user_id: *u, device_key: k.clone() };
        let members: Vec<E2eeMember> = keys.devices.iter().map(member).collect();
        let Some(holder) = members.iter().find(|m| m.user_id == keyholder).cloned() else { return };
        keys.epoch += 1;
        keys.dirty = false;
        let epoch = keys.epoch;
        keys.asked = Some(Asked { keyholder: holder, members: members.clone(), deadline: now + KEYHOLDER_TIMEOUT });
        self.outputs.push_back(Output::Send(conn, ServerEvent::E2eeRekey { epoch, members }));
    }

    /// When the keyholder's time runs out, if a request is out.
    pub(super) fn e2ee_timeout(&self) -> Option<Instant> {
        self.e2ee.as_ref()?.asked.as_ref().map(|a| a.deadline)
    }

    /// Passes over a keyholder whose time ran out.
    pub(super) fn handle_e2ee_timeout(&mut self, now: Instant) {
        let Some(keys) = self.e2ee.as_mut() else { return };
        if let Some(asked) = keys.asked.take_if(|a| now >= a.deadline) {
            keys.slow.insert(asked.keyholder.user_id);
            keys.dirty = true;
        }
        self.e2ee_settle(now);
    }
}
