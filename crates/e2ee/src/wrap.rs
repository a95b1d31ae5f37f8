//! Handing an epoch's key to each device, through a server that must not learn it: each device has an
//! X25519 key pair of its own (its public key announced on each room connection), and the keyholder's
//! client (a moderator's) wraps the epoch's key for each device: two X25519 agreements, a fresh ephemeral
//! key's and the keyholder's own device key's with the recipient's, through HKDF-SHA256 into an
//! AES-256-GCM key. The server relays the wrapped blobs; only the device whose secret matches opens one,
//! and only if the keyholder's device key is the one it names: a blob made by anyone else (the server
//! included) does not open.
//!
//! A blob is `version (1) ‖ epoch (4) ‖ ephemeral public key (32) ‖ nonce (12) ‖ sealed key (32 + 16)`. The
//! sealed key's associated data binds it to the room, the epoch, the keyholder's and the recipient's public
//! keys, so a blob cannot be replayed into another room or epoch, passed to another device, or claimed by
//! another keyholder.

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

    /// Opens a blob that the keyholder whose device key is `keyholder` wrapped for this device in `room`;
    /// `None` for one that is not for it, altered, of another room, or made by another keyholder.
    pub fn unwrap(&self, room: &str, keyholder: &[u8; 32], blob: &[u8]) -> Option<EpochKey> {
        if blob.len() != BLOB_LEN || blob[0] != VERSION {
            return None;
        }
        let epoch = u32::from_be_bytes(blob[1..5].try_into().ok()?);
        let ephemeral: [u8; 32] = blob[5..37].try_into().ok()?;
        let me = self.public();
        let ephemeral_shared = self.secret.diffie_hellman(&PublicKey::from(ephemeral));
        let static_shared = self.secret.diffie_hellman(&PublicKey::from(*keyholder));
        let cipher = cipher(ephemeral_shared.as_bytes(), static_shared.as_bytes(), &ephemeral, keyholder, &me);
        let aad = aad(room, epoch, keyholder, &me);
        let key = cipher.decrypt(Nonce::from_slice(&blob[37..49]), Payload { msg: &blob[49..], aad: &aad }).ok()?;
        Some(EpochKey::from_bytes(epoch, key.try_into().ok()?))
    }
}

/// `key` wrapped by the keyholder's device `by` for the device whose public key is `recipient`, in `room`.
pub fn wrap(key: &EpochKey, room: &str, by: &DeviceKey, recipient: &[u8; 32]) -> Vec<u8> {
    let ephemeral = StaticSecret::from(random_bytes());
    let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
    let ephemeral_shared = ephemeral.diffie_hellman(&PublicKey::from(*recipient));
    let static_shared = by.secret.diffie_hellman(&PublicKey::from(*recipient));
    let keyholder = by.public();
    let cipher =
        cipher(ephemeral_shared.as_bytes(), static_shared.as_bytes(), &ephemeral_public, &keyholder, recipient);
    let nonce: [u8; 12] = random_bytes::<32>()[..12].try_into().unwrap_or_default();
    let aad = aad(room, key.epoch(), &keyholder, recipient);
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

/// The AES-256-GCM key for one wrap: HKDF-SHA256 of both shared secrets (the ephemeral key's, then the
/// keyholder's device key's), over the three public keys.
fn cipher(
    ephemeral_shared: &[u8; 32],
    static_shared: &[u8; 32],
    ephemeral: &[u8; 32],
    keyholder: &[u8; 32],
    recipient: &[u8; 32],
) -> Aes256Gcm {
    let mut ikm = ephemeral_shared.to_vec();
    ikm.extend_from_slice(static_shared);
    let mut info = b"stoa e2ee wrap".to_vec();
    info.extend_from_slice(ephemeral);
    info.extend_from_slice(keyholder);
    info.extend_from_slice(recipient);
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(b"stoa e2ee 1"), &ikm).expand(&info, &mut key).expect("32 bytes is a valid length");
    Aes256Gcm::new_from_slice(&key).expect("a 32-byte key")
}

fn aad(room: &str, epoch: u32, keyholder: &[u8; 32], recipient: &[u8; 32]) -> Vec<u8> {
    let mut aad = b"stoa e2ee wrap".to_vec();
    aad.extend_from_slice(&(room.len() as u32).to_be_bytes());
    aad.extend_from_slice(room.as_bytes());
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad.extend_from_slice(keyholder);
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
        let (alice, bob, mallory) = (DeviceKey::random(), DeviceKey::random(), DeviceKey::random());
        let moderator = DeviceKey::random();
        let by = moderator.public();
        let key = EpochKey::random(9);
        let blob = wrap(&key, "room0000abcd", &moderator, &alice.public());
        assert_eq!(blob.len(), BLOB_LEN);
        assert!(!blob.windows(32).any(|w| w == key.secret()), "the key is not in the blob in the clear");
        let opened = alice.unwrap("room0000abcd", &by, &blob).expect("alice opens hers");
        assert_eq!((opened.epoch(), opened.secret()), (9, key.secret()));
        assert_eq!(opened.safety_code("room0000abcd", &[]), key.safety_code("room0000abcd", &[]));
        assert!(bob.unwrap("room0000abcd", &by, &blob).is_none(), "another device opens nothing");
        assert!(alice.unwrap("room0000abce", &by, &blob).is_none(), "nor in another room");
        // Whoever is not the keyholder (the server, say) cannot pass a key of theirs off as its.
        let forged = wrap(&EpochKey::random(9), "room0000abcd", &mallory, &alice.public());
        assert!(alice.unwrap("room0000abcd", &by, &forged).is_none(), "a blob from another device key");
        assert!(alice.unwrap("room0000abcd", &mallory.public(), &blob).is_none(), "nor claimed by another");
        // Each byte altered is refused: the version, the epoch, the ephemeral key, the nonce, the sealed key.
        for at in [0, 2, 10, 40, 60, BLOB_LEN - 1] {
            let mut altered = blob.clone();
            altered[at] ^= 1;
            assert!(alice.unwrap("room0000abcd", &by, &altered).is_none(), "byte {at} altered");
        }
        assert!(alice.unwrap("room0000abcd", &by, &blob[..BLOB_LEN - 1]).is_none(), "a short blob");
        // Every wrap is fresh, even of the same key for the same device.
        assert_ne!(blob, wrap(&key, "room0000abcd", &moderator, &alice.public()));
    }
}
