//! One peer's downlink: the SRTP index of each of its receive slots, and the fast path that writes and seals
//! a forwarded packet for it.
//!
//! **Architecture Invariant:** the SRTP index of a packet to a peer comes from that peer's own counter for
//! that slot, and from nothing else. The key, the SSRC and the receiver's rollover estimate all belong to
//! the (peer, slot) pair, so the index must too: a counter shared by a room (as the slot's rewritten sequence
//! number once was) starts with a rollover count a late joiner cannot guess, jumps when a peer moves between
//! the stage's and the audience's stream, and goes back, which repeats an AES-GCM nonce under the same key.
//! Each counter starts at a random 16-bit value with a rollover count of 0 (what a receiver assumes for a
//! new SSRC, RFC 3711 §3.3.1), and grows by one for each packet written to the peer, so the receiver sees
//! consecutive sequence numbers and its rollover estimate never breaks.

use crate::net::Outbox;
use crate::srtp::SrtpOut;
use std::net::SocketAddr;

/// SRTP indexes are 48 bits (a 32-bit rollover count and a 16-bit sequence number); past that the key
/// would have to change, so a slot that reaches it (after 2^48 packets: never, in practice) stops sending.
const INDEX_LIMIT: u64 = 1 << 48;

/// The next SRTP index of each of a peer's receive slots.
#[derive(Debug)]
pub struct Indexes {
    next: Vec<u64>,
}

impl Indexes {
    /// Counters for `slots` slots, each at a random 16-bit value (or at `first`, for tests of the wrap).
    pub fn new(slots: usize, first: Option<u16>) -> Indexes {
        let next = (0..slots)
            .map(|_| {
                let start = first.unwrap_or_else(|| {
                    let mut b = [0u8; 2];
                    getrandom::fill(&mut b).expect("the operating system's random generator failed");
                    u16::from_be_bytes(b)
                });
                u64::from(start)
            })
            .collect();
        Indexes { next }
    }

    /// The index for the next packet on `slot`, which is then used up: it is never returned again.
    pub fn take(&mut self, slot: usize) -> Option<u64> {
        let next = self.next.get_mut(slot)?;
        if *next >= INDEX_LIMIT {
            return None;
        }
        let index = *next;
        *next += 1;
        Some(index)
    }
}

/// What the fast path needs to write a peer's slot packets itself.
pub struct FastOut {
    srtp: SrtpOut,
    /// The SSRC of each slot's stream, as announced in the answer.
    ssrcs: Vec<u32>,
    /// The receiver's id for the RFC 6464 audio level extension, if it negotiated one.
    level_id: Option<u8>,
}

/// One forwarded packet, as every listener gets it; only the index, the SSRC and the seal differ per peer.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The receiver's Opus payload type.
    pub pt: u8,
    /// The slot's RTP timestamp.
    pub timestamp: u32,
    /// The speaker's opaque source number, written as the CSRC.
    pub csrc: u32,
    /// The RFC 6464 level and voice flag, if the speaker sent them.
    pub level: Option<(i8, bool)>,
    /// The Opus payload.
    pub payload: &'a [u8],
}

impl FastOut {
    /// The fast path for a peer whose keys and streams are known.
    pub fn new(srtp: SrtpOut, ssrcs: Vec<u32>, level_id: Option<u8>) -> FastOut {
        FastOut { srtp, ssrcs, level_id }
    }

    /// Writes and seals `packet` for `slot` with the SRTP `index`, into `outbox` for `dest`. Allocates nothing
    /// once the outbox has grown to its working size. Returns whether a datagram was queued.
    pub fn write(&mut self, outbox: &mut Outbox, dest: SocketAddr, slot: usize, index: u64, packet: &Outgoing) -> bool {
        let Some(&ssrc) = self.ssrcs.get(slot) else { return false };
        let level = self.level_id.zip(packet.level).map(|(id, (l, v))| (id, l, v));
        let mut header = [0u8; 24];
        let len =
            crate::srtp::write_header(&mut header, packet.pt, index as u16, packet.timestamp, ssrc, packet.csrc, level);
        let srtp = &mut self.srtp;
        outbox.push_with(dest, |buf| srtp.seal(&header[..len], packet.payload, ssrc, index, buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srtp::{Keys, Opener};

    #[test]
    fn an_index_is_never_handed_out_twice_and_starts_with_a_rollover_count_of_zero() {
        let mut random = Indexes::new(3, None);
        for slot in 0..3 {
            let first = random.take(slot).unwrap();
            assert!(first < 1 << 16, "rollover count 0");
            assert_eq!(random.take(slot), Some(first + 1));
        }
        let mut near = Indexes::new(1, Some(65_534));
        let taken: Vec<u64> = (0..4).map(|_| near.take(0).unwrap()).collect();
        assert_eq!(taken, [65_534, 65_535, 65_536, 65_537], "the rollover count steps up with the wrap");
        assert_eq!(near.take(1), None, "no such slot");
        let mut spent = Indexes { next: vec![INDEX_LIMIT - 1] };
        assert_eq!(spent.take(0), Some(INDEX_LIMIT - 1));
        assert_eq!(spent.take(0), None, "past 2^48 the slot stops rather than reuse an index");
    }

    /// A receiver that joins after the slot wrapped decrypts every packet: the regression that late joiners
    /// of a long room heard silence, because the room's counter handed them a rollover count above 0.
    #[test]
    fn a_receiver_that_joins_after_a_wrap_opens_every_packet() {
        let keys = Keys::for_test(7);
        let dest: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut outbox = Outbox::default();
        // The slot has carried 65,530 packets (22 minutes of speech) before this peer joins.
        let mut indexes = Indexes::new(1, Some(65_530));
        let mut fast = FastOut::new(SrtpOut::new(&keys).unwrap(), vec![0x1234_5678], Some(1));
        let mut opener = Opener::new(&keys);
        for i in 0..20u32 {
            let index = indexes.take(0).unwrap();
            let payload = i.to_be_bytes();
            let out = Outgoing { pt: 111, timestamp: i * 960, csrc: 42, level: Some((-30, true)), payload: &payload };
            assert!(fast.write(&mut outbox, dest, 0, index, &out));
            let (_, datagram) = outbox.datagrams().last().unwrap();
            assert_eq!(opener.open(datagram).as_deref(), Some(&payload[..]), "packet {i} opens");
        }
    }
}
