//! End-to-end encrypted rooms (issue 34), the part every client shares: a room's key for each epoch, the
//! SFrame key each sender derives from it, and the safety code people compare aloud.
//!
//! - **Epochs.** A moderator's client makes a random key for each epoch of the room (every arrival and
//!   every departure starts one) and hands it to each participant's device, wrapped for that device's own
//!   key pair ([`wrap`]); the server relays the wrapped blobs and never holds the key.
//! - **Senders.** Each speaker encrypts every Opus frame with SFrame (RFC 9605, AES_128_GCM_SHA256_128,
//!   through the maintained `sframe` crate). Its key is derived from the epoch's key and its user ID
//!   (HKDF-SHA256), and its key ID carries both, so no two senders share a nonce space and a receiver knows
//!   which key opens a frame from its header alone.
//! - **Receivers** keep the epochs they were given. Someone who left is not given the next epoch's key, so
//!   what is said after cannot be opened; a newcomer is given only the epochs from their arrival on.
//! - **The safety code** is a hash of the room, the epoch, its key and its members' device keys: the same
//!   on every device that holds the key and was told the same members, and different after every change.
//!   Read aloud, it shows a server that gave two people different keys, or listed a device of its own
//!   under someone's name.

pub mod wrap;

use hkdf::Hkdf;
use sframe::CipherSuite;
use sframe::frame::{EncryptedFrame, MediaFrame, MonotonicCounter};
use sframe::key::{DecryptionKey, EncryptionKey};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The cipher suite of every E2EE room: AES_128_GCM_SHA256_128 (RFC 9605 §4.5), which browsers' WebCrypto
/// and the encoded transforms both support.
pub const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

/// Why a frame could not be sealed or opened.
#[derive(Debug)]
pub enum Error {
    /// The frame is under an epoch this receiver was not given (before it came, or after it left).
    UnknownEpoch(u32),
    /// SFrame refused it: not an SFrame, tampered with, or a sender's counter ran out.
    Sframe(sframe::error::SframeError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::UnknownEpoch(e) => write!(f, "no key for epoch {e}"),
            Error::Sframe(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<sframe::error::SframeError> for Error {
    fn from(e: sframe::error::SframeError) -> Error {
        Error::Sframe(e)
    }
}

/// A room's key for one epoch.
#[derive(Clone)]
pub struct EpochKey {
    epoch: u32,
    secret: [u8; 32],
}

impl std::fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself, in logs or panics.
        f.debug_struct("EpochKey").field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

impl EpochKey {
    /// A new random key for `epoch`.
    pub fn random(epoch: u32) -> EpochKey {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("the system's random source works");
        EpochKey { epoch, secret }
    }

    /// The key for `epoch` from its 32 bytes (as unwrapped from a moderator's blob).
    pub fn from_bytes(epoch: u32, secret: [u8; 32]) -> EpochKey {
        EpochKey { epoch, secret }
    }

    /// Its epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Its bytes, to wrap for a device.
    fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The SFrame base key of `sender` in this epoch.
    fn sender_secret(&self, sender: u32) -> [u8; 32] {
        let mut info = b"stoa e2ee sender".to_vec();
        info.extend_from_slice(&self.epoch.to_be_bytes());
        info.extend_from_slice(&sender.to_be_bytes());
        let mut out = [0u8; 32];
        Hkdf::<Sha256>::new(Some(b"stoa e2ee 1"), &self.secret)
            .expand(&info, &mut out)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        out
    }

    /// The safety code of this epoch in `room` with these `members` (user ID and device key, in any
    /// order): twelve digits in three groups, to compare aloud.
    pub fn safety_code(&self, room: &str, members: &[(u32, [u8; 32])]) -> String {
        let mut members = members.to_vec();
        members.sort();
        let mut hash = Sha256::new()
            .chain_update(b"stoa safety code")
            .chain_update((room.len() as u32).to_be_bytes())
            .chain_update(room.as_bytes())
            .chain_update(self.epoch.to_be_bytes())
            .chain_update(self.secret)
            .chain_update((members.len() as u32).to_be_bytes());
        for (user, device) in &members {
            hash = hash.chain_update(user.to_be_bytes()).chain_update(device);
        }
        let digest = hash.finalize();
        let n = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % 1_000_000_000_000;
        let digits = format!("{n:012}");
        format!("{} {} {}", &digits[..4], &digits[4..8], &digits[8..])
    }
}

/// The SFrame key ID of `sender` in `epoch`: the epoch in the high 32 bits, the sender's user ID below.
pub fn key_id(epoch: u32, sender: u32) -> u64 {
    (u64::from(epoch) << 32) | u64::from(sender)
}

/// One speaker's side: seals each Opus frame it sends under the current epoch.
pub struct Sender {
    key: EncryptionKey,
    counter: MonotonicCounter,
}

impl Sender {
    /// The sender `sender` (their user ID) in `epoch`'s key.
    pub fn new(epoch: &EpochKey, sender: u32) -> Result<Sender, Error> {
        let key = EncryptionKey::derive_from(SUITE, key_id(epoch.epoch, sender), epoch.sender_secret(sender))?;
        Ok(Sender { key, counter: MonotonicCounter::default() })
    }

    /// `frame` sealed as an SFrame ciphertext (header, encrypted frame, tag).
    pub fn seal(&mut self, frame: &[u8]) -> Result<Vec<u8>, Error> {
        let media = MediaFrame::try_new(&mut self.counter, frame)?;
        Ok(media.encrypt(&self.key)?.sframe_cipher_text().to_vec())
    }
}

/// One listener's side: the epochs it was given, and the keys of the senders it has heard in them.
#[derive(Default)]
pub struct Receiver {
    epochs: HashMap<u32, EpochKey>,
    keys: HashMap<u64, DecryptionKey>,
}

impl Receiver {
    /// A receiver with no epoch yet.
    pub fn new() -> Receiver {
        Receiver::default()
    }

    /// Adds an epoch's key.
    pub fn add_epoch(&mut self, key: EpochKey) {
        self.epochs.insert(key.epoch, key);
    }

    /// Forgets the epochs before `epoch` (once frames under them can no longer be in flight).
    pub fn forget_before(&mut self, epoch: u32) {
        self.epochs.retain(|e, _| *e >= epoch);
        self.keys.retain(|kid, _| (kid >> 32) as u32 >= epoch);
    }

    /// The Opus frame inside an SFrame ciphertext from any sender, under any epoch this receiver holds.
    pub fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        let frame = EncryptedFrame::try_new(sealed)?;
        let kid = frame.header().key_id();
        let (epoch, sender) = ((kid >> 32) as u32, kid as u32);
        if !self.keys.contains_key(&kid) {
            let key = self.epochs.get(&epoch).ok_or(Error::UnknownEpoch(epoch))?;
            self.keys.insert(kid, DecryptionKey::derive_from(SUITE, kid, key.sender_secret(sender))?);
        }
        let key = &self.keys[&kid];
        Ok(frame.decrypt(key)?.payload().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPUS: &[u8] = &[0x78, 0x0b, 0xe4, 0xc1, 0x36, 0xec, 0xc5, 0x8d, 0x8c, 0x49, 0x46, 0x99];

    #[test]
    fn a_frame_sealed_by_a_sender_opens_for_a_receiver_holding_the_epoch_and_hides_the_opus() {
        let epoch = EpochKey::random(7);
        let mut alice = Sender::new(&epoch, 11).unwrap();
        let mut receiver = Receiver::new();
        receiver.add_epoch(epoch.clone());
        let sealed = alice.seal(OPUS).unwrap();
        assert!(!sealed.windows(OPUS.len()).any(|w| w == OPUS), "the Opus bytes are not in the clear");
        // RFC 9605 §4.3: a config byte (holding the counter while it is under 8), the KID in five bytes
        // (epoch 7, sender 11), then the encrypted frame and its 16-byte tag.
        assert_eq!(sealed.len(), 1 + 5 + OPUS.len() + 16);
        assert_eq!(receiver.open(&sealed).unwrap(), OPUS);
        // Every frame has its own counter: the same frame sealed again is another ciphertext.
        let again = alice.seal(OPUS).unwrap();
        assert_ne!(sealed, again);
        assert_eq!(receiver.open(&again).unwrap(), OPUS);
    }

    #[test]
    fn senders_of_one_epoch_have_their_own_keys_and_ids() {
        let epoch = EpochKey::random(1);
        assert_ne!(epoch.sender_secret(1), epoch.sender_secret(2));
        assert_ne!(key_id(1, 2), key_id(2, 1));
        let (mut a, mut b) = (Sender::new(&epoch, 1).unwrap(), Sender::new(&epoch, 2).unwrap());
        let mut receiver = Receiver::new();
        receiver.add_epoch(epoch);
        assert_eq!(receiver.open(&a.seal(b"from a").unwrap()).unwrap(), b"from a");
        assert_eq!(receiver.open(&b.seal(b"from b").unwrap()).unwrap(), b"from b");
    }

    #[test]
    fn someone_without_the_epoch_opens_nothing_and_a_tampered_frame_is_refused() {
        let (old, new) = (EpochKey::random(1), EpochKey::random(2));
        let mut speaker = Sender::new(&new, 5).unwrap();
        // Who left after epoch 1 holds only it.
        let mut left = Receiver::new();
        left.add_epoch(old.clone());
        let sealed = speaker.seal(OPUS).unwrap();
        assert!(matches!(left.open(&sealed), Err(Error::UnknownEpoch(2))));
        // A key for the right epoch number but the wrong bytes fails the tag.
        let mut forger = Receiver::new();
        forger.add_epoch(EpochKey::from_bytes(2, [0; 32]));
        assert!(matches!(forger.open(&sealed), Err(Error::Sframe(_))));
        let mut member = Receiver::new();
        member.add_epoch(new);
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(member.open(&tampered).is_err(), "a flipped bit fails the tag");
        assert_eq!(member.open(&sealed).unwrap(), OPUS);
        member.forget_before(3);
        assert!(matches!(member.open(&sealed), Err(Error::UnknownEpoch(2))));
    }

    #[test]
    fn the_safety_code_is_the_same_for_the_same_key_and_changes_with_it() {
        let key = EpochKey::random(3);
        let copy = EpochKey::from_bytes(3, key.secret);
        let members = [(7, [7u8; 32]), (2, [2u8; 32])];
        let code = key.safety_code("room0000abcd", &members);
        assert_eq!(code, copy.safety_code("room0000abcd", &[members[1], members[0]]), "in any order");
        assert!(code.len() == 14 && code.chars().filter(|c| c.is_ascii_digit()).count() == 12, "{code}");
        assert_ne!(code, EpochKey::random(3).safety_code("room0000abcd", &members), "another key, another code");
        assert_ne!(code, EpochKey::from_bytes(4, key.secret).safety_code("room0000abcd", &members), "another epoch");
        assert_ne!(code, key.safety_code("room0000abce", &members), "another room");
        let ghost = [(7, [7u8; 32]), (2, [9u8; 32])];
        assert_ne!(code, key.safety_code("room0000abcd", &ghost), "a device listed under someone else's name");
        assert_ne!(code, key.safety_code("room0000abcd", &members[..1]), "a member fewer");
        assert!(!format!("{key:?}").contains(&format!("{:?}", key.secret)), "Debug never shows the key");
    }
}
