//! Who is heard in which slot: the sans-IO forwarding core.
//!
//! Each listener's connection has a fixed number of receive-only audio slots. A room's [`SlotMapper`] decides,
//! packet by packet, which publisher holds which slot, from the RFC 6464 audio level each packet carries:
//!
//! - a publisher already holding a slot keeps it while they talk;
//! - a publisher who starts talking takes a free slot — one nobody holds, or whose holder has been quiet
//!   for [`SlotConfig::idle_after`];
//! - when every slot holds someone still talking, a newcomer takes the quietest holder's slot only after
//!   talking for [`SlotConfig::min_talk`] and only if louder by [`SlotConfig::switch_margin_db`], so a cough
//!   does not steal a slot.
//!
//! It also rewrites each forwarded packet's timestamp so that each slot is one continuous timeline for the
//! receiver, whoever speaks in it. The timestamp rewrite is the same for every listener, so it is computed
//! once per packet, not per listener. Sequence numbers are not the mapper's business: each listener's
//! stream is numbered by its own counter (see `downlink`), since the sequence number is also the
//! SRTP index, which belongs to one key.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A publisher, as the media plane knows it: an opaque number the control plane picks for each media
/// connection, unique within its room. It is written in the clear as the CSRC of every forwarded packet, so
/// it must never be an account ID: the control plane maps it to the user over the room's WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

/// Tunables of slot assignment.
#[derive(Debug, Clone)]
pub struct SlotConfig {
    /// Slots per listener.
    pub slots: usize,
    /// How much louder (in dB) a newcomer must be than the quietest holder to take their slot.
    pub switch_margin_db: f32,
    /// How long a newcomer must talk before taking a slot from someone still talking.
    pub min_talk: Duration,
    /// How long a holder may be quiet before their slot counts as free.
    pub idle_after: Duration,
}

impl Default for SlotConfig {
    fn default() -> Self {
        SlotConfig {
            slots: 3,
            // 6 dB is twice the amplitude: clearly louder, not a fluctuation of the same voice.
            switch_margin_db: 6.0,
            // Longer than a cough or a "mm-hm", shorter than the first words of a real interjection.
            min_talk: Duration::from_millis(300),
            // A pause between sentences keeps the slot; a second of silence gives it up.
            idle_after: Duration::from_secs(1),
        }
    }
}

/// The audio level at and above which a packet counts as voice, in dBov: the one threshold for slot
/// decisions and for the voice flag of the RFC 6464 extension the SFU writes. Opus DTX comfort noise and
/// room tone sit well below; speech sits well above.
pub const VOICE_DBOV: i8 = -50;

/// Whether a packet at `level` dBov counts as voice.
pub fn is_voice(level: i8) -> bool {
    level >= VOICE_DBOV
}

/// [`VOICE_DBOV`] as the mapper's loudness: dB above the floor of -127 dBov.
const VOICE_LOUDNESS: f32 = 127.0 + VOICE_DBOV as f32;
/// Loudness assumed for packets without an audio level: clients that do not send the extension still speak.
const UNKNOWN_LOUDNESS: f32 = 97.0;
/// Weight of the newest packet in the smoothed loudness. With a packet each 20 ms, the smoothing has a time
/// constant of about 100 ms: fast enough to follow turns, slow enough to ignore single loud frames.
const SMOOTHING: f32 = 0.2;
/// RTP clock of Opus.
const CLOCK_HZ: u64 = 48_000;

#[derive(Debug)]
struct Source {
    loudness: f32,
    talking_since: Option<Instant>,
    last_voice: Option<Instant>,
}

#[derive(Debug, Default)]
struct SlotStream {
    holder: Option<SourceId>,
    last_ts_out: u32,
    last_out_at: Option<Instant>,
    /// For the current holder: their first forwarded (extended) sequence number and its timestamp, the
    /// timestamp that maps to in the slot, and their newest sequence number so far.
    base: Option<Base>,
}

#[derive(Debug, Clone, Copy)]
struct Base {
    seq_in: u64,
    ts_in: u32,
    ts_out: u32,
    newest: u64,
}

/// Where and how to forward one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// The slot it goes into.
    pub slot: usize,
    /// The rewritten RTP timestamp.
    pub timestamp: u32,
}

/// One room's slot assignment and per-slot rewriting.
#[derive(Debug)]
pub struct SlotMapper {
    config: SlotConfig,
    sources: HashMap<SourceId, Source>,
    slots: Vec<SlotStream>,
    changed: bool,
}

impl SlotMapper {
    /// A mapper with every slot free.
    pub fn new(config: SlotConfig) -> SlotMapper {
        let slots = (0..config.slots).map(|_| SlotStream::default()).collect();
        SlotMapper { config, sources: HashMap::new(), slots, changed: false }
    }

    /// Who holds each slot.
    pub fn holders(&self) -> Vec<Option<SourceId>> {
        self.slots.iter().map(|s| s.holder).collect()
    }

    /// The holders, if they changed since the last call.
    pub fn take_change(&mut self) -> Option<Vec<Option<SourceId>>> {
        std::mem::take(&mut self.changed).then(|| self.holders())
    }

    /// A publisher is gone or may no longer publish: their slot frees at once.
    pub fn remove_source(&mut self, source: SourceId) {
        self.sources.remove(&source);
        for slot in &mut self.slots {
            if slot.holder == Some(source) {
                slot.holder = None;
                slot.base = None;
                self.changed = true;
            }
        }
    }

    /// A packet from a publisher: `seq` is its extended sequence number, `timestamp` its RTP timestamp,
    /// `level` its RFC 6464 audio level as str0m reports it (0 loudest, -127 silence). Returns where to
    /// forward it, or `None` to drop it.
    pub fn packet(
        &mut self,
        now: Instant,
        source: SourceId,
        seq: u64,
        timestamp: u32,
        level: Option<i8>,
    ) -> Option<Forward> {
        let loudness = level.map(|l| 127.0 + f32::from(l.clamp(-127, 0))).unwrap_or(UNKNOWN_LOUDNESS);
        let s = self.sources.entry(source).or_insert(Source { loudness, talking_since: None, last_voice: None });
        s.loudness += SMOOTHING * (loudness - s.loudness);
        let talking = s.loudness >= VOICE_LOUDNESS;
        if talking {
            s.talking_since.get_or_insert(now);
            s.last_voice = Some(now);
        } else {
            s.talking_since = None;
        }
        let slot = match self.slots.iter().position(|slot| slot.holder == Some(source)) {
            Some(slot) => slot,
            None if !talking => return None,
            None => self.claim_slot(now, source)?,
        };
        self.rewrite(now, slot, source, seq, timestamp)
    }

    /// Finds a slot for a talking newcomer: a free one, else the quietest holder's if the newcomer has
    /// talked long enough and is clearly louder.
    fn claim_slot(&mut self, now: Instant, source: SourceId) -> Option<usize> {
        let idle_after = self.config.idle_after;
        let is_free = |holder: Option<SourceId>, sources: &HashMap<SourceId, Source>| match holder {
            None => true,
            Some(h) => sources.get(&h).and_then(|s| s.last_voice).is_none_or(|t| now.duration_since(t) >= idle_after),
        };
        let slot = match self.slots.iter().position(|slot| is_free(slot.holder, &self.sources)) {
            Some(free) => free,
            None => {
                let me = &self.sources[&source];
                let talked_enough = me.talking_since.is_some_and(|t| now.duration_since(t) >= self.config.min_talk);
                let (quietest, quietest_loudness) = self
                    .slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, slot)| slot.holder.map(|h| (i, self.sources.get(&h).map_or(0.0, |s| s.loudness))))
                    .min_by(|a, b| a.1.total_cmp(&b.1))?;
                if !talked_enough || me.loudness < quietest_loudness + self.config.switch_margin_db {
                    return None;
                }
                quietest
            }
        };
        let stream = &mut self.slots[slot];
        stream.holder = Some(source);
        stream.base = None;
        self.changed = true;
        Some(slot)
    }

    fn rewrite(&mut self, now: Instant, slot: usize, source: SourceId, seq: u64, timestamp: u32) -> Option<Forward> {
        let stream = &mut self.slots[slot];
        debug_assert_eq!(stream.holder, Some(source));
        let base = stream.base.get_or_insert_with(|| {
            // A new holder: advance the slot's timestamp by the wall-clock time since the slot last carried
            // audio (at least one frame), so the receiver's jitter buffer sees a pause, not a jump.
            let gap = stream
                .last_out_at
                .map_or(960, |t| (now.duration_since(t).as_micros() as u64 * CLOCK_HZ / 1_000_000).max(960));
            Base { seq_in: seq, ts_in: timestamp, ts_out: stream.last_ts_out.wrapping_add(gap as u32), newest: seq }
        });
        // A packet from before the holder's first forwarded one (reordered across a switch) has no place.
        seq.checked_sub(base.seq_in)?;
        let out_ts = base.ts_out.wrapping_add(timestamp.wrapping_sub(base.ts_in));
        if seq >= base.newest {
            base.newest = seq;
            stream.last_ts_out = out_ts;
            stream.last_out_at = Some(now);
        }
        Some(Forward { slot, timestamp: out_ts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOUD: Option<i8> = Some(-10);
    const QUIET: Option<i8> = Some(-30);
    const SILENT: Option<i8> = Some(-127);

    /// Drives a mapper with 20 ms packets from several sources. `script` lists, per 20 ms tick, each
    /// source's level (None: sends nothing that tick). Returns, per tick, who holds each slot.
    struct Sim {
        mapper: SlotMapper,
        t0: Instant,
        tick: u64,
        seqs: HashMap<u32, u64>,
        forwarded: Vec<(SourceId, Forward)>,
    }

    fn plain(holders: Vec<Option<SourceId>>) -> Vec<Option<u32>> {
        holders.into_iter().map(|h| h.map(|s| s.0)).collect()
    }

    impl Sim {
        fn holders(&self) -> Vec<Option<u32>> {
            plain(self.mapper.holders())
        }

        fn new() -> Sim {
            Sim {
                mapper: SlotMapper::new(SlotConfig::default()),
                t0: Instant::now(),
                tick: 0,
                seqs: HashMap::new(),
                forwarded: vec![],
            }
        }
        /// `ms` milliseconds of 20 ms packets, each source at its level.
        fn run(&mut self, ms: u64, sources: &[(u32, Option<i8>)]) {
            for _ in 0..ms / 20 {
                let now = self.t0 + Duration::from_millis(self.tick * 20);
                for &(src, level) in sources {
                    let seq = self.seqs.entry(src).or_insert(u64::from(src) * 1000);
                    *seq += 1;
                    let ts = (*seq as u32).wrapping_mul(960).wrapping_add(src * 7777);
                    if let Some(f) = self.mapper.packet(now, SourceId(src), *seq, ts, level) {
                        self.forwarded.push((SourceId(src), f));
                    }
                }
                self.tick += 1;
            }
        }
    }

    #[test]
    fn talking_publishers_fill_free_slots_and_silent_ones_take_none() {
        let mut sim = Sim::new();
        sim.run(200, &[(1, LOUD), (2, SILENT), (3, QUIET)]);
        assert_eq!(sim.holders(), [Some(1), Some(3), None]);
        assert!(sim.forwarded.iter().all(|(s, _)| *s != SourceId(2)), "a silent publisher is not forwarded");
    }

    #[test]
    fn a_cough_does_not_steal_a_slot_but_a_louder_talker_does() {
        let mut sim = Sim::new();
        sim.run(400, &[(1, QUIET), (2, QUIET), (3, QUIET)]);
        assert_eq!(sim.holders(), [Some(1), Some(2), Some(3)]);
        // Source 4 coughs loudly for 100 ms: not long enough.
        sim.run(100, &[(1, QUIET), (2, QUIET), (3, QUIET), (4, LOUD)]);
        assert_eq!(sim.holders(), [Some(1), Some(2), Some(3)]);
        sim.run(300, &[(1, QUIET), (2, QUIET), (3, QUIET), (4, SILENT)]);
        // Source 5 talks, but no louder than the holders: it waits.
        sim.run(1000, &[(1, QUIET), (2, QUIET), (3, QUIET), (5, QUIET)]);
        assert_eq!(sim.holders(), [Some(1), Some(2), Some(3)]);
        // Source 4 really talks, clearly louder: after the minimum talk it takes a slot.
        sim.run(600, &[(1, QUIET), (2, QUIET), (3, QUIET), (4, LOUD)]);
        assert_eq!(sim.holders().iter().filter(|h| **h == Some(4)).count(), 1);
    }

    #[test]
    fn a_quiet_holder_frees_the_slot_after_a_second() {
        let mut sim = Sim::new();
        sim.run(200, &[(1, LOUD), (2, LOUD), (3, LOUD)]);
        sim.run(1200, &[(1, SILENT), (2, LOUD), (3, LOUD)]);
        sim.run(100, &[(2, LOUD), (3, LOUD), (4, QUIET)]);
        assert_eq!(sim.holders(), [Some(4), Some(2), Some(3)], "4 took the idle slot without the margin");
    }

    #[test]
    fn each_slot_is_one_continuous_timeline_across_speakers() {
        let mut sim = Sim::new();
        sim.run(400, &[(1, LOUD)]);
        sim.run(1200, &[(1, SILENT)]);
        sim.mapper.remove_source(SourceId(1));
        assert_eq!(sim.mapper.take_change().map(plain), Some(vec![None, None, None]));
        sim.run(400, &[(2, LOUD)]);
        let slot0: Vec<(SourceId, Forward)> = sim.forwarded.iter().copied().filter(|(_, f)| f.slot == 0).collect();
        assert!(slot0.iter().any(|(s, _)| *s == SourceId(1)) && slot0.iter().any(|(s, _)| *s == SourceId(2)));
        for pair in slot0.windows(2) {
            let (a, b) = (pair[0].1, pair[1].1);
            let dt = b.timestamp.wrapping_sub(a.timestamp);
            assert!((960..48_000 * 3).contains(&dt), "timestamps advance by at least a frame and by the pause: {dt}");
        }
        assert_eq!(sim.mapper.take_change().map(plain), Some(vec![Some(2), None, None]));
        assert_eq!(sim.mapper.take_change(), None, "a change is reported once");
    }

    #[test]
    fn a_packet_reordered_before_a_switch_is_dropped() {
        let mut m = SlotMapper::new(SlotConfig::default());
        let t = Instant::now();
        assert!(m.packet(t, SourceId(1), 100, 0, LOUD).is_some());
        assert!(m.packet(t, SourceId(1), 99, 0, LOUD).is_none());
    }
}
