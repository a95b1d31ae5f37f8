//! Handing an epoch's key to each device, through a server that must not learn it: each device has an
//! X25519 key pair of its own (its public key published with its session), and a moderator's client wraps
//! the epoch's key for each device with a fresh ephemeral key, ECDH, HKDF-SHA256 and AES-256-GCM. The
//! server relays the wrapped blobs; only the device whose secret matches opens one.
//!
//! A blob is `version (1) ‖ epoch (4) ‖ ephemeral public key (32) ‖ nonce (12) ‖ sealed key (32 + 16)`. The
//! sealed key's associated data binds it to the room, the epoch and the recipient's public key, so a blob
//! cannot be replayed into another room or epoch, or passed to another device.

use crate::EpochKey;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

const VERSION: u8 = 1;
/// A wrapped key's length.
pub const BLOB_LEN: usize = 1 + 4 + 32 + 12 + 32 + 16;

/// A device's key pair. In the browser its secret is a non-extractable WebCrypto key; here (a bot) it
/// lives in memory.
pub struct DeviceKey {
    secret: StaticSecret,
}

impl DeviceKey {
    /// A new random device key.
    pub fn random() -> DeviceKey {
        DeviceKey { secret: StaticSecret::from(random_bytes()) }
    }

    /// The device key whose secret is `secret` (kept by a bot between runs).
    pub fn from_bytes(secret: [u8; 32]) -> DeviceKey {
        DeviceKey { secret: StaticSecret::from(secret) }
    }

    /// The public key to publish with the device's session.
    pub fn public(&self) -> [u8; 32] {
        PublicKey::from(&self.secret).to_bytes()
    }

    /// Opens a blob wrapped for this device in `room`; `None` for one that is not for it, altered, or of
    /// another room.
    pub fn unwrap(&self, room: &str, blob: &[u8]) -> Option<EpochKey> {
        if blob.len() != BLOB_LEN || blob[0] != VERSION {
            return None;
        }
        let epoch = u32::from_be_bytes(blob[1..5].try_into().ok()?);
        let ephemeral: [u8; 32] = blob[5..37].try_into().ok()?;
        let shared = self.secret.diffie_hellman(&PublicKey::from(ephemeral));
        let cipher = cipher(shared.as_bytes(), &ephemeral, &self.public());
        let aad = aad(room, epoch, &self.public());
        let key = cipher.decrypt(Nonce::from_slice(&blob[37..49]), Payload { msg: &blob[49..], aad: &aad }).ok()?;
        Some(EpochKey::from_bytes(epoch, key.try_into().ok()?))
    }
}

/// `key` wrapped for the device whose public key is `recipient`, in `room`.
pub fn wrap(key: &EpochKey, room: &str, recipient: &[u8; 32]) -> Vec<u8> {
    let ephemeral = StaticSecret::from(random_bytes());
    let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
    let shared = ephemeral.diffie_hellman(&PublicKey::from(*recipient));
    let cipher = cipher(shared.as_bytes(), &ephemeral_public, recipient);
    let nonce: [u8; 12] = random_bytes::<32>()[..12].try_into().unwrap_or_default();
    let aad = aad(room, key.epoch(), recipient);
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: key.secret(), aad: &aad })
        .expect("AES-GCM seals 32 bytes");
    let mut blob = Vec::with_capacity(BLOB_LEN);
    blob.push(VERSION);
    blob.extend_from_slice(&key.epoch().to_be_bytes());
    blob.extend_from_slice(&ephemeral_public);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    blob
}

/// The AES-256-GCM key for one wrap: HKDF-SHA256 of the shared secret, over both public keys.
fn cipher(shared: &[u8; 32], ephemeral: &[u8; 32], recipient: &[u8; 32]) -> Aes256Gcm {
    let mut info = b"stoa e2ee wrap".to_vec();
    info.extend_from_slice(ephemeral);
    info.extend_from_slice(recipient);
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(b"stoa e2ee 1"), shared).expand(&info, &mut key).expect("32 bytes is a valid length");
    Aes256Gcm::new_from_slice(&key).expect("a 32-byte key")
}

fn aad(room: &str, epoch: u32, recipient: &[u8; 32]) -> Vec<u8> {
    let mut aad = b"stoa e2ee wrap".to_vec();
    aad.extend_from_slice(&(room.len() as u32).to_be_bytes());
    aad.extend_from_slice(room.as_bytes());
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad.extend_from_slice(recipient);
    aad
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("the system's random source works");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_device_a_key_is_wrapped_for_opens_it_in_its_room_and_epoch() {
        let (alice, bob) = (DeviceKey::random(), DeviceKey::random());
        let key = EpochKey::random(9);
        let blob = wrap(&key, "room0000abcd", &alice.public());
        assert_eq!(blob.len(), BLOB_LEN);
        assert!(!blob.windows(32).any(|w| w == key.secret()), "the key is not in the blob in the clear");
        let opened = alice.unwrap("room0000abcd", &blob).expect("alice opens hers");
        assert_eq!((opened.epoch(), opened.secret()), (9, key.secret()));
        assert_eq!(opened.safety_code("room0000abcd"), key.safety_code("room0000abcd"));
        assert!(bob.unwrap("room0000abcd", &blob).is_none(), "another device opens nothing");
        assert!(alice.unwrap("room0000abce", &blob).is_none(), "nor in another room");
        // Each byte altered is refused: the version, the epoch, the ephemeral key, the nonce, the sealed key.
        for at in [0, 2, 10, 40, 60, BLOB_LEN - 1] {
            let mut altered = blob.clone();
            altered[at] ^= 1;
            assert!(alice.unwrap("room0000abcd", &altered).is_none(), "byte {at} altered");
        }
        assert!(alice.unwrap("room0000abcd", &blob[..BLOB_LEN - 1]).is_none(), "a short blob");
        // Every wrap is fresh, even of the same key for the same device.
        assert_ne!(blob, wrap(&key, "room0000abcd", &alice.public()));
    }
}
