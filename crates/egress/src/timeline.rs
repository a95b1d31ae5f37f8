//! Where each heard packet falls on the room's timeline of 20 ms frames, and the last ten minutes of them.
//!
//! Speakers' clocks are their own: each packet carries its speaker's RTP timestamp. A speaker's packets are
//! placed relative to the first of their talk spurt, by timestamp, at the frame it arrived in; a packet
//! that arrives later than its place (the network held it) moves that speaker's placement later, once, so
//! the rest of the spurt is not lost to the same delay. The result is one frame index per packet, which
//! the live mix plays out a few frames behind, and which the ring keeps for clips and reports.

use crate::mix::FRAME;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use stoa_sfu::SourceId;

/// A 20 ms frame of the room's timeline, counted from the egress's start.
pub type FrameIndex = i64;

/// How far behind real time the live mix plays: three frames (60 ms), which absorbs the jitter of a
/// usual network; a packet later than that moves its speaker's placement instead of being lost.
pub const DELAY: FrameIndex = 3;
/// A silence after which a speaker's next packet starts a new placement (10 frames, 200 ms).
const NEW_SPURT: FrameIndex = 10;
/// How far a packet may be placed ahead of its arrival before the placement is judged wrong (a speaker's
/// clock jumped) and made again.
const AHEAD: FrameIndex = 10;
/// Frames the ring keeps: ten minutes.
pub const RING_FRAMES: FrameIndex = 10 * 60 * 50;
/// Packets the ring holds at most, whatever the frames: ten minutes of ten speakers at 50 packets a
/// second. At about 100 bytes a packet this bounds a room's ring near 30 MB.
const RING_PACKETS: usize = 300_000;

#[derive(Debug, Clone, Copy)]
struct Anchor {
    frame: FrameIndex,
    timestamp: u32,
    last_arrival: FrameIndex,
}

/// Each speaker's placement.
#[derive(Debug, Default)]
pub struct Timeline {
    anchors: HashMap<SourceId, Anchor>,
}

impl Timeline {
    /// The frame a packet with `timestamp` from `source`, arriving in frame `arrival`, belongs to.
    pub fn place(&mut self, source: SourceId, timestamp: u32, arrival: FrameIndex) -> FrameIndex {
        let anchor = self.anchors.entry(source).or_insert(Anchor { frame: arrival, timestamp, last_arrival: arrival });
        if arrival - anchor.last_arrival > NEW_SPURT {
            *anchor = Anchor { frame: arrival, timestamp, last_arrival: arrival };
        }
        anchor.last_arrival = anchor.last_arrival.max(arrival);
        let samples = i64::from(timestamp.wrapping_sub(anchor.timestamp) as i32);
        let mut frame = anchor.frame + samples.div_euclid(FRAME as i64);
        if frame < arrival - DELAY + 1 {
            // Late for its place: the speaker's whole placement moves to where this packet can still play.
            let shift = arrival - DELAY + 1 - frame;
            anchor.frame += shift;
            frame += shift;
        } else if frame > arrival + AHEAD {
            *anchor = Anchor { frame: arrival, timestamp, last_arrival: arrival };
            frame = arrival;
        }
        frame
    }

    /// A speaker left.
    pub fn forget(&mut self, source: SourceId) {
        self.anchors.remove(&source);
    }

    /// Forgets speakers silent since before `frame`.
    pub fn forget_silent(&mut self, frame: FrameIndex) {
        self.anchors.retain(|_, a| a.last_arrival >= frame);
    }
}

/// One placed packet.
#[derive(Debug, Clone)]
pub struct Placed {
    /// Its frame.
    pub frame: FrameIndex,
    /// Whose.
    pub source: SourceId,
    /// Its Opus.
    pub payload: Arc<[u8]>,
}

/// The last ten minutes of placed packets, as they came (the speakers' packets, not the mix: keeping
/// them costs no decoding or encoding; a clip or a report's window is mixed when it is asked for).
#[derive(Debug, Default)]
pub struct Ring {
    packets: VecDeque<Placed>,
}

impl Ring {
    /// Adds a packet, and lets go of what is older than ten minutes before `now` or beyond the bound.
    pub fn push(&mut self, packet: Placed, now: FrameIndex) {
        self.packets.push_back(packet);
        while let Some(front) = self.packets.front() {
            if front.frame >= now - RING_FRAMES && self.packets.len() <= RING_PACKETS {
                break;
            }
            self.packets.pop_front();
        }
    }

    /// The packets placed in `[from, to)`, ordered by frame.
    pub fn window(&self, from: FrameIndex, to: FrameIndex) -> Vec<Placed> {
        let mut out: Vec<Placed> = self.packets.iter().filter(|p| p.frame >= from && p.frame < to).cloned().collect();
        out.sort_by_key(|p| p.frame);
        out
    }

    /// How many packets it holds.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_fall_in_order_a_late_one_moves_its_speaker_and_a_silence_starts_again() {
        let mut t = Timeline::default();
        let s = SourceId(7);
        assert_eq!(t.place(s, 1000, 100), 100);
        assert_eq!(t.place(s, 1960, 101), 101);
        // Early arrivals keep their place by timestamp.
        assert_eq!(t.place(s, 1000 + 960 * 3, 101), 103);
        // A packet far later than its place (4 frames) moves the placement so that it still plays.
        let late = t.place(s, 1000 + 960 * 4, 108);
        assert_eq!(late, 108 - DELAY + 1);
        assert_eq!(t.place(s, 1000 + 960 * 5, 108), late + 1, "and the rest follow it");
        // After a silence, a speaker's next packet starts where it arrives.
        assert_eq!(t.place(s, 5_000_000, 200), 200);
        // Timestamps wrap.
        let w = SourceId(8);
        assert_eq!(t.place(w, u32::MAX - 959, 300), 300);
        assert_eq!(t.place(w, 0, 301), 301);
        t.forget_silent(250);
        assert_eq!(t.anchors.len(), 1);
    }

    #[test]
    fn the_ring_keeps_ten_minutes_in_frame_order() {
        let mut ring = Ring::default();
        let p = |frame| Placed { frame, source: SourceId(1), payload: Arc::from(&[1u8][..]) };
        for f in 0..RING_FRAMES + 100 {
            ring.push(p(f), f);
        }
        assert_eq!(ring.len() as i64, RING_FRAMES + 1);
        ring.push(p(RING_FRAMES + 50), RING_FRAMES + 100);
        let w = ring.window(RING_FRAMES + 40, RING_FRAMES + 60);
        assert_eq!(w.len(), 21);
        assert!(w.windows(2).all(|x| x[0].frame <= x[1].frame));
        assert!(ring.window(0, 50).is_empty(), "older than ten minutes is gone");
    }
}
