//! Repacketizing Opus for the audience: consecutive 20 ms frames of one speaker joined into one RTP packet
//! (RFC 6716 §3.2.5, "code 3": several frames in one packet), without decoding anything.
//!
//! The kernel's packet rate, not the bytes, is what limits a large room: joining 3 frames cuts the packets
//! to each listener by 3×, for 40 ms more delay, which an audience does not notice. The stage keeps 20 ms
//! packets for back-and-forth talk.

use std::sync::Arc;

/// Samples per 20 ms Opus frame at 48 kHz.
const FRAME_TICKS: u32 = 960;

/// The most frames a joined packet holds (120 ms).
pub const MAX_FRAMES: usize = 6;

/// A joined packet, ready for the audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The RTP timestamp of its first frame.
    pub timestamp: u32,
    /// The Opus packet (code 3 when it holds more than one frame).
    pub payload: Arc<[u8]>,
}

/// One slot's frames waiting to be joined.
#[derive(Debug)]
pub struct Aggregator {
    per_packet: usize,
    /// Which of the `per_packet` phases this aggregator's packets end on (see [`Aggregator::phased`]); with
    /// none, a packet ends when it is full, whatever the frames' indexes.
    phase: Option<usize>,
    /// TOC configuration and stereo bit shared by the pending frames (the TOC byte without its code bits).
    toc: u8,
    first_timestamp: u32,
    next_timestamp: u32,
    frames: Vec<Arc<[u8]>>,
}

impl Aggregator {
    /// Joins `per_packet` frames (1 to 6; 1 passes packets through).
    pub fn new(per_packet: usize) -> Aggregator {
        Aggregator { phase: None, ..Aggregator::phased(per_packet, 0) }
    }

    /// Joins `per_packet` frames, its packets ending on phase `phase` of the slot's 20 ms frame grid: a
    /// packet ends with the frame whose index (its timestamp over 960) plus `phase` is one short of a multiple
    /// of `per_packet`. Phases 0 to `per_packet - 1` of one stream each send a packet every `per_packet`
    /// frames, one phase every 20 ms, so the audience split among them is sent to a part at a time.
    pub fn phased(per_packet: usize, phase: usize) -> Aggregator {
        let per_packet = per_packet.clamp(1, MAX_FRAMES);
        Aggregator {
            per_packet,
            phase: Some(phase % per_packet),
            toc: 0,
            first_timestamp: 0,
            next_timestamp: 0,
            frames: Vec::new(),
        }
    }

    /// Whether frames are waiting.
    pub fn is_pending(&self) -> bool {
        !self.frames.is_empty()
    }

    /// Adds a packet (as the slot's rewritten timestamp and payload). Returns what is ready to send: a joined
    /// packet when enough frames are in, the pending frames when this packet cannot join them (a gap, as
    /// after DTX silence, or a change of Opus mode), and packets that cannot be joined at all, as they are.
    pub fn push(&mut self, timestamp: u32, payload: Arc<[u8]>) -> Vec<Joined> {
        let mut out = Vec::new();
        // Only single-frame packets ("code 0") of 20 ms join; anything else passes through unchanged.
        if !joinable(&payload) || self.per_packet == 1 {
            out.extend(self.flush());
            out.push(Joined { timestamp, payload });
            return out;
        }
        let toc = payload[0] & !0x03;
        if self.is_pending() && (toc != self.toc || timestamp != self.next_timestamp) {
            out.extend(self.flush());
        }
        if !self.is_pending() {
            self.toc = toc;
            self.first_timestamp = timestamp;
        }
        self.next_timestamp = timestamp.wrapping_add(FRAME_TICKS);
        self.frames.push(payload);
        let index = (timestamp / FRAME_TICKS) as usize;
        let ends_phase = self.phase.is_some_and(|p| (index + p) % self.per_packet == self.per_packet - 1);
        if self.frames.len() == self.per_packet || ends_phase {
            out.extend(self.flush());
        }
        out
    }

    /// Sends whatever is pending (at the end of a talk spurt, or when it has waited long enough).
    pub fn flush(&mut self) -> Option<Joined> {
        match self.frames.len() {
            0 => None,
            1 => Some(Joined { timestamp: self.first_timestamp, payload: self.frames.pop()? }),
            _ => {
                let payload = code3(self.toc, &self.frames);
                self.frames.clear();
                Some(Joined { timestamp: self.first_timestamp, payload: payload.into() })
            }
        }
    }
}

/// Whether a packet can be joined with others: a single 20 ms frame ("code 0"). Anything else passes
/// through an [`Aggregator`] unchanged.
pub fn joinable(payload: &[u8]) -> bool {
    payload.len() > 1 && payload[0] & 0x03 == 0 && frame_is_20ms(payload[0])
}

/// Whether a TOC byte's configuration is a 20 ms frame (RFC 6716 §3.1, table 2).
fn frame_is_20ms(toc: u8) -> bool {
    let config = toc >> 3;
    match config {
        // SILK-only: 10, 20, 40, 60 ms by config % 4.
        0..=11 => config % 4 == 1,
        // Hybrid: 10, 20 ms by config % 2.
        12..=15 => config % 2 == 1,
        // CELT-only: 2.5, 5, 10, 20 ms by config % 4.
        _ => config % 4 == 3,
    }
}

/// A code 3 packet of `frames` (each a whole code 0 packet: TOC byte then frame data), variable bitrate.
fn code3(toc: u8, frames: &[Arc<[u8]>]) -> Vec<u8> {
    let data: Vec<&[u8]> = frames.iter().map(|f| &f[1..]).collect();
    let mut out = Vec::with_capacity(2 + data.iter().map(|d| d.len() + 2).sum::<usize>());
    out.push(toc | 0x03);
    // VBR flag, no padding, frame count.
    out.push(0x80 | data.len() as u8);
    // Every frame's length but the last's, in the one- or two-byte form of §3.2.1.
    for d in &data[..data.len() - 1] {
        let len = d.len();
        if len < 252 {
            out.push(len as u8);
        } else {
            let first = 252 + (len & 3);
            out.push(first as u8);
            out.push(((len - first) >> 2) as u8);
        }
    }
    for d in data {
        out.extend_from_slice(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A code 0 packet: TOC for CELT fullband 20 ms (config 31), mono, then `len` bytes of data.
    fn frame(fill: u8, len: usize) -> Arc<[u8]> {
        // Config 31 (CELT fullband, 20 ms), mono, code 0.
        let mut p = vec![31 << 3];
        p.extend(std::iter::repeat_n(fill, len));
        p.into()
    }

    #[test]
    fn three_frames_join_into_one_code_3_packet() {
        let mut agg = Aggregator::new(3);
        assert!(agg.push(0, frame(1, 10)).is_empty());
        assert!(agg.push(960, frame(2, 300)).is_empty());
        let out = agg.push(1920, frame(3, 5));
        assert_eq!(out.len(), 1);
        let p = &out[0].payload;
        assert_eq!(out[0].timestamp, 0);
        assert_eq!(p[0], (31 << 3) | 3, "same configuration, code 3");
        assert_eq!(p[1], 0x80 | 3, "VBR, three frames");
        // 10 fits one byte; 300 takes two: 252 + (300 & 3) = 252, then (300 - 252) / 4 = 12.
        assert_eq!(&p[2..5], &[10, 252, 12]);
        assert_eq!(p.len(), 5 + 10 + 300 + 5);
        assert!(!agg.is_pending());
    }

    #[test]
    fn a_gap_or_a_mode_change_flushes_what_is_pending() {
        let mut agg = Aggregator::new(3);
        agg.push(0, frame(1, 10));
        // DTX: the next frame comes 400 ms later.
        let out = agg.push(960 * 20, frame(2, 10));
        assert_eq!(out, vec![Joined { timestamp: 0, payload: frame(1, 10) }], "a lone frame goes out as it was");
        agg.push(960 * 21, frame(3, 10));
        // A SILK 20 ms frame (config 1) cannot share a packet with CELT frames.
        let silk: Arc<[u8]> = vec![1 << 3, 9, 9].into();
        let out = agg.push(960 * 22, silk);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].payload[1], 0x80 | 2, "the two CELT frames, joined");
        assert_eq!(agg.flush().unwrap().timestamp, 960 * 22);
    }

    #[test]
    fn each_phase_ends_its_packets_on_its_own_frames_so_one_phase_sends_every_20_ms() {
        let mut phases: Vec<Aggregator> = (0..3).map(|p| Aggregator::phased(3, p)).collect();
        // Which phase sent, and how many frames, after each of ten frames (indexes 5 to 14).
        let mut sent = Vec::new();
        for index in 5..15u32 {
            let mut this = Vec::new();
            for (p, agg) in phases.iter_mut().enumerate() {
                for j in agg.push(index * 960, frame(index as u8, 10)) {
                    let frames = if j.payload[0] & 3 == 3 { (j.payload[1] & 0x3f) as u32 } else { 1 };
                    assert_eq!(j.timestamp / 960 + frames - 1, index, "a packet ends with the frame just in");
                    this.push((p, frames));
                }
            }
            sent.push(this);
        }
        // Phase 0 ends on index 2 mod 3, phase 1 on 1 mod 3, phase 2 on 0 mod 3; each starts short.
        let want: Vec<Vec<(usize, u32)>> = vec![
            vec![(0, 1)],
            vec![(2, 2)],
            vec![(1, 3)],
            vec![(0, 3)],
            vec![(2, 3)],
            vec![(1, 3)],
            vec![(0, 3)],
            vec![(2, 3)],
            vec![(1, 3)],
            vec![(0, 3)],
        ];
        assert_eq!(sent, want);
        let pending: Vec<bool> = phases.iter().map(Aggregator::is_pending).collect();
        assert_eq!(pending, [false, true, true], "index 14 ended phase 0's packet; 13 and 14 wait in the others");
    }

    #[test]
    fn packets_that_cannot_join_pass_through_unchanged() {
        let mut agg = Aggregator::new(3);
        agg.push(0, frame(1, 10));
        let two_frames: Arc<[u8]> = vec![(31 << 3) | 1, 7, 7].into();
        let out = agg.push(960, two_frames.clone());
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].payload, two_frames);
        let ten_ms: Arc<[u8]> = vec![(30 << 3), 5].into();
        assert_eq!(agg.push(1920, ten_ms.clone())[0].payload, ten_ms);
    }
}
