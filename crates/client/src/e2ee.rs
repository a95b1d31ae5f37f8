//! A client's side of an end-to-end encrypted room (issue 34), for `stoa bot` and tests: its device key,
//! the epochs' keys it was given, the keyholder's work when the room asks it, and SFrame on each Opus frame.
//!
//! The room tells everyone each epoch's members and keyholder (`e2ee_epoch`), and each member its wrapped
//! key (`e2ee_key`), in either order. An epoch is taken once both are here, the wrap opens as from the
//! keyholder's device, and the members list this device under its own key: a list that names another key
//! for it (a device the server slipped in under its name) is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use std::collections::HashMap;
use stoa_e2ee::wrap::{DeviceKey, wrap};
use stoa_e2ee::{EpochKey, Receiver, Sender};
use stoa_proto::{ClientCommand, E2eeMember, ServerEvent, UserId};

/// One device in one end-to-end encrypted room.
pub struct E2ee {
    room: String,
    me: UserId,
    device: DeviceKey,
    receiver: Receiver,
    /// The newest epoch taken, with this device's sender in it.
    sending: Option<(u32, Sender)>,
    /// Each announced epoch: its keyholder's device key and its members.
    announced: HashMap<u32, (String, Vec<E2eeMember>)>,
    /// Wrapped keys that came before their epoch's announcement.
    wrapped: HashMap<u32, String>,
    /// The newest epoch's safety code.
    pub code: Option<String>,
    /// Epochs taken.
    pub epochs: u32,
    /// The newest epoch taken (0 before the first).
    pub epoch: u32,
    /// Why the last epoch was refused, if one was.
    pub refused: Option<String>,
    /// Frames that did not open (no key for their epoch, or altered).
    pub unopened: u64,
}

fn member_pairs(members: &[E2eeMember]) -> Option<Vec<(u32, [u8; 32])>> {
    members.iter().map(|m| Some((u32::try_from(m.user_id.0).ok()?, decode32(&m.device_key)?))).collect()
}

fn decode32(s: &str) -> Option<[u8; 32]> {
    B64.decode(s).ok()?.try_into().ok()
}

impl E2ee {
    /// A new device (a fresh key pair) for `me` in `room`.
    pub fn new(room: &str, me: UserId) -> E2ee {
        E2ee {
            room: room.to_string(),
            me,
            device: DeviceKey::random(),
            receiver: Receiver::new(),
            sending: None,
            announced: HashMap::new(),
            wrapped: HashMap::new(),
            code: None,
            epochs: 0,
            epoch: 0,
            refused: None,
            unopened: 0,
        }
    }

    /// The command that announces this device to the room.
    pub fn announce(&self) -> ClientCommand {
        ClientCommand::DeviceKey { public_key: B64.encode(self.device.public()) }
    }

    /// Takes a room event; returns the command to answer with, if it asks for one (this device is the
    /// keyholder of a new epoch).
    pub fn on_event(&mut self, event: &ServerEvent) -> Option<ClientCommand> {
        match event {
            ServerEvent::E2eeRekey { epoch, members } => {
                let key = EpochKey::random(*epoch);
                let wrapped = members
                    .iter()
                    .map(|m| decode32(&m.device_key).map(|d| B64.encode(wrap(&key, &self.room, &self.device, &d))))
                    .collect::<Option<Vec<String>>>()?;
                Some(ClientCommand::E2eeKeys { epoch: *epoch, wrapped })
            }
            ServerEvent::E2eeEpoch { epoch, keyholder, members } => {
                self.announced.insert(*epoch, (keyholder.device_key.clone(), members.clone()));
                self.take(*epoch);
                None
            }
            ServerEvent::E2eeKey { epoch, wrapped } => {
                self.wrapped.insert(*epoch, wrapped.clone());
                self.take(*epoch);
                None
            }
            _ => None,
        }
    }

    /// Takes an epoch once both its announcement and its key are here.
    fn take(&mut self, epoch: u32) {
        let (Some((keyholder, members)), Some(wrapped)) = (self.announced.get(&epoch), self.wrapped.get(&epoch)) else {
            return;
        };
        let mine = B64.encode(self.device.public());
        let listed = members.iter().filter(|m| m.user_id == self.me).map(|m| &m.device_key).collect::<Vec<_>>();
        let key = if listed != [&mine] {
            Err(format!("epoch {epoch} lists another device under this account: compare the safety code"))
        } else {
            let blob = B64.decode(wrapped).unwrap_or_default();
            decode32(keyholder)
                .and_then(|k| self.device.unwrap(&self.room, &k, &blob))
                .filter(|k| k.epoch() == epoch)
                .ok_or_else(|| format!("epoch {epoch}'s key did not open as from its keyholder"))
        };
        let pairs = member_pairs(members).ok_or_else(|| format!("epoch {epoch}'s member list is malformed"));
        self.announced.retain(|e, _| *e > epoch);
        self.wrapped.retain(|e, _| *e > epoch);
        let (key, pairs) = match key.and_then(|k| Ok((k, pairs?))) {
            Ok(taken) => taken,
            Err(why) => {
                self.refused = Some(why);
                return;
            }
        };
        if epoch > self.epoch {
            self.code = Some(key.safety_code(&self.room, &pairs));
            self.epoch = epoch;
        }
        self.epochs += 1;
        if self.sending.as_ref().is_none_or(|(e, _)| *e < epoch) {
            self.sending = Sender::new(&key, self.me.0 as u32).ok().map(|s| (epoch, s));
        }
        self.receiver.add_epoch(key);
        // Frames of the epoch before may still be in flight for a moment; older ones are done.
        self.receiver.forget_before(epoch.saturating_sub(1));
    }

    /// An Opus frame sealed for the room, or `None` before this device holds a key (nothing may be sent
    /// in the clear).
    pub fn seal(&mut self, opus: &[u8]) -> Option<Vec<u8>> {
        self.sending.as_mut()?.1.seal(opus).ok()
    }

    /// The Opus frame inside a sealed one, or `None` (counted) if it does not open here.
    pub fn open(&mut self, sealed: &[u8]) -> Option<Vec<u8>> {
        let opened = self.receiver.open(sealed).ok();
        if opened.is_none() {
            self.unopened += 1;
        }
        opened
    }
}
