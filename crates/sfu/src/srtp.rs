//! The forwarding fast path: SRTP for listeners' downlinks without str0m's per-packet machinery.
//!
//! str0m is a general WebRTC stack. Writing one forwarded packet through it costs a send queue entry, a
//! timeout round, a pacer poll, a poll of every subsystem and an allocation, which at thousands of
//! listeners per speaker packet is most of the SFU's CPU. A forwarded audio packet needs none of that: a
//! 12-byte header, a CSRC, one header extension and an AEAD seal. So once a peer's DTLS handshake has
//! produced its SRTP keys, the shard writes and seals the packets of its receive slots itself, and str0m
//! keeps everything else (ICE, DTLS, RTCP, the peer's own uplink).
//!
//! str0m does not hand out the keys, but its crypto provider is pluggable: [`provider`] wraps the default
//! DTLS provider so that the keying material a handshake exports is also put in a thread-local slot, which
//! the shard (one thread, one peer drained at a time) takes right after polling that peer. The key
//! derivation (RFC 3711 §4.3 with AES-CM as the PRF) and the nonce (RFC 7714 §8.1) are the ones str0m uses,
//! so the receiver cannot tell the difference. Only the AEAD-AES-GCM profiles, which every current browser
//! and Stoa's own client negotiate, take the fast path; a peer on AES-CM-SHA1 stays on str0m's path.

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, OnceLock};
use str0m::crypto::dtls::SrtpProfile;
use str0m::crypto::{AeadAes128GcmCipher, AeadAes256GcmCipher, CryptoProvider, SrtpProvider};

/// The SRTP keying material one DTLS handshake exported, and which side of it this end was.
pub struct Keys {
    material: Vec<u8>,
    profile: SrtpProfile,
    role: DtlsRole,
}

/// Which end of the DTLS handshake this server was: it decides which half of the keying material is ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsRole {
    /// The client ("active"): ours is the first key and salt.
    Client,
    /// The server ("passive"): ours is the second.
    Server,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys").field("profile", &self.profile).field("role", &self.role).finish_non_exhaustive()
    }
}

thread_local! {
    static CAPTURED: RefCell<Option<Keys>> = const { RefCell::new(None) };
}

/// The keys a handshake on this thread exported since the last call, if any.
pub fn take_captured() -> Option<Keys> {
    CAPTURED.with(|c| c.borrow_mut().take())
}

/// str0m's default crypto provider, on one shared DTLS configuration (see `stoa_media::dtls`), whose DTLS
/// instances also report their SRTP keys to [`take_captured`].
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| stoa_media::dtls::crypto_provider_with(capture)).clone()
}

/// Keeps a handshake's keying material for [`take_captured`], on this thread.
fn capture(material: &[u8], profile: SrtpProfile, active: bool) {
    let role = if active { DtlsRole::Client } else { DtlsRole::Server };
    let keys = Keys { material: material.to_vec(), profile, role };
    CAPTURED.with(|c| *c.borrow_mut() = Some(keys));
}

enum Cipher {
    Aes128(Box<dyn AeadAes128GcmCipher>),
    Aes256(Box<dyn AeadAes256GcmCipher>),
}

impl Cipher {
    fn new(key: &[u8], encrypt: bool) -> Option<Cipher> {
        let srtp = provider().srtp_provider;
        Some(match key.len() {
            16 => Cipher::Aes128(srtp.aead_aes_128_gcm().create_cipher(key.try_into().ok()?, encrypt)),
            32 => Cipher::Aes256(srtp.aead_aes_256_gcm().create_cipher(key.try_into().ok()?, encrypt)),
            _ => return None,
        })
    }
}

/// The AEAD nonce of an SRTP packet (RFC 7714 §8.1): the SSRC and the 48-bit index, XORed with the salt.
fn nonce(salt: &[u8; 12], ssrc: u32, index: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..10].copy_from_slice(&((index >> 16) as u32).to_be_bytes());
    iv[10..12].copy_from_slice(&(index as u16).to_be_bytes());
    for (b, s) in iv.iter_mut().zip(salt) {
        *b ^= s;
    }
    iv
}

/// Sealing of outgoing SRTP packets (AEAD-AES-GCM, RFC 7714) for one peer.
pub struct SrtpOut {
    cipher: Cipher,
    salt: [u8; 12],
}

impl fmt::Debug for SrtpOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SrtpOut")
    }
}

const TAG_LEN: usize = 16;
const LABEL_RTP_ENCRYPTION: u8 = 0;
const LABEL_RTP_SALT: u8 = 2;

impl Keys {
    /// The session key and salt this end seals with, or `None` for a profile without the fast path.
    fn session(&self) -> Option<(Vec<u8>, [u8; 12])> {
        let srtp = provider().srtp_provider;
        let key_len = match self.profile {
            SrtpProfile::AEAD_AES_128_GCM => 16,
            SrtpProfile::AEAD_AES_256_GCM => 32,
            _ => return None,
        };
        const SALT_LEN: usize = 12;
        if self.material.len() != 2 * key_len + 2 * SALT_LEN {
            return None;
        }
        // The material is [client key, server key, client salt, server salt]; the DTLS client is "active".
        let (k, s) = match self.role {
            DtlsRole::Client => (0, 0),
            DtlsRole::Server => (key_len, SALT_LEN),
        };
        let master = &self.material[k..k + key_len];
        let master_salt = &self.material[2 * key_len + s..2 * key_len + s + SALT_LEN];
        let mut session_key = vec![0u8; key_len];
        derive(srtp, master, master_salt, LABEL_RTP_ENCRYPTION, &mut session_key);
        let mut salt = [0u8; 12];
        derive(srtp, master, master_salt, LABEL_RTP_SALT, &mut salt);
        Some((session_key, salt))
    }
}

impl SrtpOut {
    /// The sender's context from a handshake's keys, or `None` for a profile without the fast path.
    pub fn new(keys: &Keys) -> Option<SrtpOut> {
        let (key, salt) = keys.session()?;
        SrtpOut::from_session(&key, salt)
    }

    /// The sender's context from a session key (16 or 32 bytes) and salt, already derived.
    fn from_session(key: &[u8], salt: [u8; 12]) -> Option<SrtpOut> {
        Some(SrtpOut { cipher: Cipher::new(key, true)?, salt })
    }

    /// Appends one sealed SRTP packet to `out`: `header` in the clear (and authenticated), `payload`
    /// encrypted, then the tag. `index` is the packet's extended sequence number (rollover count and
    /// sequence number).
    pub fn seal(&mut self, header: &[u8], payload: &[u8], ssrc: u32, index: u64, out: &mut Vec<u8>) -> bool {
        let iv = nonce(&self.salt, ssrc, index);
        let start = out.len();
        out.extend_from_slice(header);
        out.resize(start + header.len() + payload.len() + TAG_LEN, 0);
        let sealed = &mut out[start + header.len()..];
        let result = match &mut self.cipher {
            Cipher::Aes128(c) => c.encrypt(&iv, header, payload, sealed),
            Cipher::Aes256(c) => c.encrypt(&iv, header, payload, sealed),
        };
        if result.is_err() {
            out.truncate(start);
            return false;
        }
        true
    }
}

/// The SRTP key derivation function with AES in counter mode (RFC 3711 §4.3.1 and §4.3.3, key derivation
/// rate 0), as str0m computes it: block `i` is AES(master, (salt XOR label at byte 7) || i).
fn derive(srtp: &dyn SrtpProvider, master: &[u8], master_salt: &[u8], label: u8, out: &mut [u8]) {
    let mut input = [0u8; 16];
    input[..master_salt.len().min(14)].copy_from_slice(&master_salt[..master_salt.len().min(14)]);
    input[7] ^= label;
    let mut block = [0u8; 32];
    for (round, chunk) in out.chunks_mut(16).enumerate() {
        input[14..].copy_from_slice(&(round as u16).to_be_bytes());
        if master.len() == 16 {
            srtp.srtp_aes_128_ecb_round(master, &input, &mut block);
        } else {
            srtp.srtp_aes_256_ecb_round(master, &input, &mut block);
        }
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

/// Writes the RTP header of a forwarded audio packet: version 2, one CSRC (the speaker's opaque source
/// number), and the RFC 6464 audio level as a header extension when the receiver negotiated one: in the
/// one-byte form (RFC 8285 §4.2) for ids 1 to 14, in the two-byte form (§4.3) for ids 15 to 255. Returns
/// its length.
pub fn write_header(
    buf: &mut [u8; 24],
    pt: u8,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    csrc: u32,
    level: Option<(u8, i8, bool)>,
) -> usize {
    // Id 0 is padding in either form: no extension can carry it.
    let level = level.filter(|(id, _, _)| *id != 0);
    buf[0] = 0x80 | if level.is_some() { 0x10 } else { 0 } | 1;
    buf[1] = pt & 0x7f;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&timestamp.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
    buf[12..16].copy_from_slice(&csrc.to_be_bytes());
    let Some((id, level, voice)) = level else { return 16 };
    let value = (u8::from(voice) << 7) | level.unsigned_abs().min(127);
    if id <= 14 {
        // One-byte form: 0xBEDE, a length of one word, the element (id, length - 1 = 0), its byte, padding.
        buf[16..24].copy_from_slice(&[0xbe, 0xde, 0, 1, id << 4, value, 0, 0]);
    } else {
        // Two-byte form: 0x1000, one word, the element (id, length 1), its byte, one byte of padding.
        buf[16..24].copy_from_slice(&[0x10, 0x00, 0, 1, id, 1, value, 0]);
    }
    24
}

/// A receiver's side of the fast path, for tests: it opens packets the way an independent SRTP receiver
/// does, estimating each packet's rollover count from its sequence number alone (RFC 3711 §3.3.1 and
/// appendix A), starting from a rollover count of 0 for a new SSRC, and refusing replays.
#[cfg(test)]
pub struct Opener {
    cipher: Cipher,
    salt: [u8; 12],
    /// Per SSRC: the rollover count and the highest sequence number so far, and the indexes seen.
    streams: std::collections::HashMap<u32, (u32, u16, std::collections::HashSet<u64>)>,
}

#[cfg(test)]
impl Opener {
    /// The receiving end of the keys a sender built its [`SrtpOut`] from.
    pub fn new(keys: &Keys) -> Opener {
        let (key, salt) = keys.session().expect("a GCM profile");
        Opener::from_session(&key, salt)
    }

    /// The same, from a session key and salt.
    pub fn from_session(key: &[u8], salt: [u8; 12]) -> Opener {
        Opener { cipher: Cipher::new(key, false).unwrap(), salt, streams: Default::default() }
    }

    /// The payload of a sealed packet, or `None` if it fails authentication or is a replay.
    pub fn open(&mut self, packet: &[u8]) -> Option<Vec<u8>> {
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ssrc = u32::from_be_bytes(packet[8..12].try_into().ok()?);
        let csrcs = usize::from(packet[0] & 0x0f);
        let mut header_len = 12 + 4 * csrcs;
        if packet[0] & 0x10 != 0 {
            let words = u16::from_be_bytes([packet[header_len + 2], packet[header_len + 3]]);
            header_len += 4 + 4 * usize::from(words);
        }
        let (roc, s_l, seen) = self.streams.entry(ssrc).or_insert((0, seq, Default::default()));
        // RFC 3711 §3.3.1: guess the rollover count v that puts the index nearest the highest so far.
        let v = if *s_l < 32_768 {
            if i32::from(seq) - i32::from(*s_l) > 32_768 { roc.wrapping_sub(1) } else { *roc }
        } else if i32::from(*s_l) - 32_768 > i32::from(seq) {
            roc.wrapping_add(1)
        } else {
            *roc
        };
        let index = (u64::from(v) << 16) | u64::from(seq);
        let iv = nonce(&self.salt, ssrc, index);
        let (header, sealed) = packet.split_at(header_len);
        let mut plain = vec![0u8; sealed.len()];
        let n = match &mut self.cipher {
            Cipher::Aes128(c) => c.decrypt(&iv, &[header], sealed, &mut plain),
            Cipher::Aes256(c) => c.decrypt(&iv, &[header], sealed, &mut plain),
        }
        .ok()?;
        if !seen.insert(index) {
            return None;
        }
        if v == *roc && seq > *s_l {
            *s_l = seq;
        } else if v == roc.wrapping_add(1) {
            *roc = v;
            *s_l = seq;
        }
        plain.truncate(n);
        Some(plain)
    }
}

#[cfg(test)]
impl Keys {
    /// Keys as a handshake would export them, for tests: AES-128-GCM, material filled from `seed`.
    pub fn for_test(seed: u8) -> Keys {
        let material = (0..2 * 16 + 2 * 12).map(|i| seed.wrapping_mul(31).wrapping_add(i as u8)).collect();
        Keys { material, profile: SrtpProfile::AEAD_AES_128_GCM, role: DtlsRole::Server }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn key_derivation_matches_rfc_3711_test_vectors() {
        // RFC 3711 appendix B.3.
        let srtp = provider().srtp_provider;
        let master = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
        let salt = hex("0EC675AD498AFEEBB6960B3AABE6");
        let mut key = [0u8; 16];
        derive(srtp, &master, &salt, LABEL_RTP_ENCRYPTION, &mut key);
        assert_eq!(key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut session_salt = [0u8; 14];
        derive(srtp, &master, &salt, LABEL_RTP_SALT, &mut session_salt);
        assert_eq!(session_salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        // The authentication key spans several AES blocks, which exercises the block counter.
        let mut auth = [0u8; 20];
        derive(srtp, &master, &salt, 1, &mut auth);
        assert_eq!(auth.to_vec(), hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"));
    }

    /// RFC 7714 §16.1.1 and §16.2.1: the seal of a known packet with known session keys, byte for byte.
    #[test]
    fn the_seal_matches_rfc_7714_test_vectors() {
        let packet =
            hex("8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573");
        let (header, payload) = packet.split_at(12);
        let salt: [u8; 12] = hex("517569642070726f2071756f").try_into().unwrap();
        for (key, sealed) in [
            (
                "000102030405060708090a0b0c0d0e0f",
                "8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce",
            ),
            (
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                "8040f17b8041f8d35501a0b232b1de78a822fe12ef9f78fa332e33aab18012389a58e2f3b50b2a0276ffae0f1ba63799b87b7aa3db36dfffd6b0f9bb7878d7a76c13",
            ),
        ] {
            let mut out = SrtpOut::from_session(&hex(key), salt).unwrap();
            let mut buf = vec![0xaa; 3];
            // The packet's index: rollover count 0, sequence number 0xf17b; SSRC 0x5501a0b2.
            assert!(out.seal(header, payload, 0x5501a0b2, 0xf17b, &mut buf));
            assert_eq!(&buf[..3], &[0xaa; 3], "appends, leaving what was there");
            assert_eq!(buf[3..].to_vec(), hex(sealed), "key {key}");
            let mut opener = Opener::from_session(&hex(key), salt);
            assert_eq!(opener.open(&buf[3..]).unwrap(), payload);
            assert_eq!(opener.open(&buf[3..]), None, "a replay is refused");
        }
    }

    #[test]
    fn a_level_extension_id_above_14_takes_the_two_byte_form() {
        let mut buf = [0u8; 24];
        assert_eq!(write_header(&mut buf, 111, 1, 0, 1, 7, Some((15, -37, true))), 24);
        assert_eq!(buf[0], 0x91);
        assert_eq!(&buf[16..24], &[0x10, 0x00, 0, 1, 15, 1, 0x80 | 37, 0]);
        assert_eq!(write_header(&mut buf, 111, 1, 0, 1, 7, Some((255, -10, false))), 24);
        assert_eq!(&buf[16..24], &[0x10, 0x00, 0, 1, 255, 1, 10, 0]);
        assert_eq!(write_header(&mut buf, 111, 1, 0, 1, 7, Some((14, -10, false))), 24);
        assert_eq!(&buf[16..22], &[0xbe, 0xde, 0, 1, 0xe0, 10]);
        assert_eq!(write_header(&mut buf, 111, 1, 0, 1, 7, Some((0, -10, false))), 16, "id 0 is padding");
    }

    #[test]
    fn a_header_carries_the_speaker_and_the_level_in_one_extension_word() {
        let mut buf = [0u8; 24];
        let len = write_header(&mut buf, 111, 0x1234, 960, 0xaabbccdd, 7, Some((3, -37, true)));
        assert_eq!(len, 24);
        assert_eq!(buf[0], 0x91, "version 2, extension, one CSRC");
        assert_eq!(buf[1], 111);
        assert_eq!(&buf[2..4], &[0x12, 0x34]);
        assert_eq!(&buf[12..16], &7u32.to_be_bytes());
        assert_eq!(&buf[16..22], &[0xbe, 0xde, 0, 1, 0x30, 0x80 | 37]);
        assert_eq!(write_header(&mut buf, 111, 1, 0, 1, 7, None), 16);
        assert_eq!(buf[0], 0x81);
    }

    #[test]
    fn only_gcm_profiles_take_the_fast_path() {
        let gcm =
            Keys { material: vec![1; 2 * 16 + 2 * 12], profile: SrtpProfile::AEAD_AES_128_GCM, role: DtlsRole::Server };
        let mut out = SrtpOut::new(&gcm).expect("AES-128-GCM is supported");
        let mut packet = Vec::new();
        assert!(out.seal(&[0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], b"opus", 1, 1, &mut packet));
        assert_eq!(packet.len(), 12 + 4 + 16, "header, payload and tag");
        assert_ne!(&packet[12..16], b"opus", "the payload is encrypted");
        let cm = Keys {
            material: vec![1; 2 * 16 + 2 * 14],
            profile: SrtpProfile::AES128_CM_SHA1_80,
            role: DtlsRole::Server,
        };
        assert!(SrtpOut::new(&cm).is_none());
        let short = Keys { material: vec![1; 10], profile: SrtpProfile::AEAD_AES_256_GCM, role: DtlsRole::Client };
        assert!(SrtpOut::new(&short).is_none());
    }
}
