//! Audio for bots: load a WAV (encoded with libopus) or an Ogg Opus file into 20 ms Opus frames, and record
//! what a listener hears into an Ogg Opus file.

use anyhow::{Context, bail};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// Opus runs at 48 kHz in WebRTC.
pub const RATE: u32 = 48_000;
/// Samples in a 20 ms frame.
pub const FRAME: usize = 960;
/// Frames quieter than this (dBov) count as silence: with DTX they are not sent.
const SILENCE_DBOV: i8 = -60;

/// One 20 ms Opus frame, ready to send.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The Opus packet.
    pub payload: Vec<u8>,
    /// Its RFC 6464 level: 0 loudest, -127 silence.
    pub level: i8,
}

impl Frame {
    /// Whether DTX skips this frame (a keep-alive is still sent every 400 ms).
    pub fn is_silent(&self) -> bool {
        self.level < SILENCE_DBOV
    }
}

/// The RFC 6464 level of some samples: their RMS in -dBov, from 0 (full scale) down to -127.
pub fn level(pcm: &[i16]) -> i8 {
    if pcm.is_empty() {
        return -127;
    }
    let mean_square = pcm.iter().map(|&s| (s as f64) * (s as f64)).sum::<f64>() / pcm.len() as f64;
    let rms = mean_square.sqrt() / 32768.0;
    if rms <= 0.0 {
        return -127;
    }
    (20.0 * rms.log10()).clamp(-127.0, 0.0).round() as i8
}

/// Loads a `.wav` (any rate, mono or stereo) or an `.ogg`/`.opus` Ogg Opus file as 20 ms frames.
pub fn load(path: &Path) -> anyhow::Result<Vec<Frame>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    match ext.as_str() {
        "wav" => Ok(encode(&load_wav(path)?)?),
        "ogg" | "opus" => load_ogg(path),
        _ => bail!("{} is neither .wav nor .ogg Opus", path.display()),
    }
}

/// A WAV file as 48 kHz mono samples.
pub fn load_wav(path: &Path) -> anyhow::Result<Vec<i16>> {
    let mut reader = hound::WavReader::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = (1i64 << (spec.bits_per_sample - 1)) as f32;
            reader.samples::<i32>().map(|s| s.map(|v| v as f32 / scale)).collect::<Result<_, _>>()?
        }
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>()?,
    };
    let channels = spec.channels.max(1) as usize;
    let mono: Vec<f32> = samples.chunks(channels).map(|c| c.iter().sum::<f32>() / c.len() as f32).collect();
    // Linear resampling is plenty for speech and test tones; WAVs at 48 kHz pass through untouched.
    let ratio = spec.sample_rate as f64 / RATE as f64;
    let out_len = (mono.len() as f64 / ratio) as usize;
    Ok((0..out_len)
        .map(|i| {
            let x = i as f64 * ratio;
            let (i0, frac) = (x as usize, (x - x.floor()) as f32);
            let a = mono.get(i0).copied().unwrap_or(0.0);
            let b = mono.get(i0 + 1).copied().unwrap_or(a);
            ((a + (b - a) * frac).clamp(-1.0, 1.0) * 32767.0) as i16
        })
        .collect())
}

/// Encodes 48 kHz mono samples as 20 ms Opus frames, with in-band FEC, as a speaker would.
pub fn encode(pcm: &[i16]) -> anyhow::Result<Vec<Frame>> {
    let mut encoder = opus::Encoder::new(RATE, opus::Channels::Mono, opus::Application::Voip)?;
    encoder.set_inband_fec(true)?;
    encoder.set_packet_loss_perc(5)?;
    let mut out = vec![0u8; 1500];
    let mut frames = Vec::with_capacity(pcm.len() / FRAME + 1);
    for chunk in pcm.chunks(FRAME) {
        let mut frame = [0i16; FRAME];
        frame[..chunk.len()].copy_from_slice(chunk);
        let n = encoder.encode(&frame, &mut out)?;
        frames.push(Frame { payload: out[..n].to_vec(), level: level(&frame) });
    }
    Ok(frames)
}

fn load_ogg(path: &Path) -> anyhow::Result<Vec<Frame>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut reader = ogg::PacketReader::new(std::io::BufReader::new(file));
    let mut decoder = opus::Decoder::new(RATE, opus::Channels::Mono)?;
    let mut pcm = vec![0i16; 5760];
    let mut frames = Vec::new();
    let mut index = 0;
    while let Some(packet) = reader.read_packet().context("the Ogg stream is damaged")? {
        index += 1;
        if index == 1 {
            if !packet.data.starts_with(b"OpusHead") {
                bail!("{} is an Ogg file, but not Ogg Opus", path.display());
            }
            continue;
        }
        if index == 2 {
            continue; // OpusTags
        }
        let n = decoder.decode(&packet.data, &mut pcm, false).context("an Opus packet does not decode")?;
        frames.push(Frame { payload: packet.data, level: level(&pcm[..n]) });
    }
    Ok(frames)
}

/// Writes 48 kHz mono samples as an Ogg Opus file (RFC 7845).
pub fn write_ogg_opus(path: &Path, pcm: &[i16]) -> anyhow::Result<()> {
    let mut encoder = opus::Encoder::new(RATE, opus::Channels::Mono, opus::Application::Audio)?;
    let pre_skip = encoder.get_lookahead()? as u16;
    let file = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut writer = stoa_media::ogg::OggOpusWriter::new(std::io::BufWriter::new(file), None, pre_skip)?;
    let mut out = vec![0u8; 1500];
    for chunk in pcm.chunks(FRAME) {
        let mut frame = [0i16; FRAME];
        frame[..chunk.len()].copy_from_slice(chunk);
        let n = encoder.encode(&frame, &mut out)?;
        writer.push(&out[..n])?;
    }
    // An empty recording is still a valid stream: the writer closes it with a frame of silence.
    writer.finish()?;
    Ok(())
}

/// Mixes what arrives in the receive slots into one timeline and keeps listening statistics.
pub struct Recorder {
    start: Instant,
    pcm: Vec<i32>,
    slots: HashMap<usize, SlotTrack>,
    /// The slots of earlier media connections (before a reconnect), kept for the statistics.
    finished: Vec<SlotTrack>,
    /// Packets per speaker, by the CSRC the server sets: the speaker's opaque source number, which the
    /// room's `slots` events map to a user.
    pub per_speaker: HashMap<u32, u64>,
    /// Bytes of payload received.
    pub bytes: u64,
}

struct SlotTrack {
    decoder: opus::Decoder,
    /// Sample offset of RTP timestamp 0 on the recording's timeline.
    anchor: i64,
    first_seq: u64,
    max_seq: u64,
    received: u64,
    jitter: f64,
    last: Option<(Instant, u32)>,
    /// The 20 ms frames in each packet received, by sequence number: what was expected is counted from
    /// these (a missing packet held as many frames as the one before it).
    frames_in: std::collections::BTreeMap<u64, u32>,
    /// Every frame played, by its RTP timestamp: true if it came from redundancy (RED) alone.
    frames: HashMap<u32, bool>,
    /// The first packet's timestamp: redundant copies of what came before it are not counted.
    first_ts: u32,
}

/// How many 20 ms frames an Opus packet holds (RFC 6716 §3.1), at least one.
fn frames_of(payload: &[u8]) -> u32 {
    match payload.first().map(|toc| toc & 0x03) {
        Some(1) | Some(2) => 2,
        Some(3) => payload.get(1).map_or(1, |c| u32::from(c & 0x3f).max(1)),
        _ => 1,
    }
}

/// Listening statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Packets received.
    pub received: u64,
    /// Packets missing from the sequence numbers.
    pub lost: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Mean interarrival jitter over the slots (RFC 3550), in milliseconds.
    pub jitter_ms: f64,
    /// How many slots carried audio.
    pub slots_used: usize,
    /// 20 ms frames the senders sent in the span heard.
    pub frames_expected: u64,
    /// Frames played from real data: their own packet, or a later packet's redundant copy (RED).
    pub frames_received: u64,
    /// Of those, frames whose own packet was lost and which came from redundancy.
    pub frames_recovered: u64,
    /// Frames neither received nor recovered.
    pub frames_lost: u64,
}

impl Recorder {
    /// A recording that starts now.
    pub fn new(start: Instant) -> Recorder {
        Recorder {
            start,
            pcm: Vec::new(),
            slots: HashMap::new(),
            finished: Vec::new(),
            per_speaker: HashMap::new(),
            bytes: 0,
        }
    }

    /// One packet from slot `slot`, arrived at `at`.
    pub fn push(&mut self, slot: usize, seq: u64, timestamp: u32, csrc: Option<u32>, payload: &[u8], at: Instant) {
        self.bytes += payload.len() as u64;
        if let Some(speaker) = csrc {
            *self.per_speaker.entry(speaker).or_default() += 1;
        }
        let arrival = (at.saturating_duration_since(self.start).as_micros() as i64) * RATE as i64 / 1_000_000;
        let track = match self.slots.entry(slot) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => match opus::Decoder::new(RATE, opus::Channels::Mono) {
                Ok(decoder) => e.insert(SlotTrack {
                    decoder,
                    anchor: arrival - timestamp as i64,
                    first_seq: seq,
                    max_seq: seq,
                    received: 0,
                    jitter: 0.0,
                    last: None,
                    frames_in: Default::default(),
                    frames: HashMap::new(),
                    first_ts: timestamp,
                }),
                Err(_) => return,
            },
        };
        track.received += 1;
        track.max_seq = track.max_seq.max(seq);
        track.first_seq = track.first_seq.min(seq);
        if let Some((prev_at, prev_ts)) = track.last {
            let d = at.saturating_duration_since(prev_at).as_secs_f64()
                - timestamp.wrapping_sub(prev_ts) as i32 as f64 / RATE as f64;
            track.jitter += (d.abs() - track.jitter) / 16.0;
        }
        track.last = Some((at, timestamp));
        let n = frames_of(payload);
        track.frames_in.insert(seq, n);
        for k in 0..n {
            track.frames.insert(timestamp.wrapping_add(k * FRAME as u32), false);
        }
        let mut frame = [0i16; 5760];
        let Ok(n) = track.decoder.decode(payload, &mut frame, false) else { return };
        // Place by RTP timestamp (the slot is one continuous stream), anchored at the first packet's arrival.
        let position = track.anchor + timestamp as i64;
        if position < 0 {
            return;
        }
        let position = position as usize;
        if self.pcm.len() < position + n {
            self.pcm.resize(position + n, 0);
        }
        for (i, s) in frame[..n].iter().enumerate() {
            self.pcm[position + i] += *s as i32;
        }
    }

    /// A redundant copy (RED) of an earlier packet of slot `slot`, with its own RTP timestamp: played and
    /// counted only if that packet's frames were not received themselves.
    pub fn push_redundant(&mut self, slot: usize, timestamp: u32, payload: &[u8]) {
        let Some(track) = self.slots.get_mut(&slot) else { return };
        if (timestamp.wrapping_sub(track.first_ts) as i32) < 0 {
            return;
        }
        let n = frames_of(payload);
        if (0..n).all(|k| track.frames.contains_key(&timestamp.wrapping_add(k * FRAME as u32))) {
            return;
        }
        for k in 0..n {
            track.frames.entry(timestamp.wrapping_add(k * FRAME as u32)).or_insert(true);
        }
        // A separate decoder state would be truer to a browser's; the slot's own is close enough for a bot.
        let mut frame = [0i16; 5760];
        let Ok(samples) = track.decoder.decode(payload, &mut frame, false) else { return };
        let position = track.anchor + timestamp as i64;
        if position < 0 {
            return;
        }
        let position = position as usize;
        if self.pcm.len() < position + samples {
            self.pcm.resize(position + samples, 0);
        }
        for (i, s) in frame[..samples].iter().enumerate() {
            self.pcm[position + i] += *s as i32;
        }
    }

    /// A new media connection begins (after a reconnect): its slots' streams start afresh, with new
    /// sequence numbers and timestamps, and are placed on the same timeline by their arrival.
    pub fn new_session(&mut self) {
        self.finished.extend(self.slots.drain().map(|(_, t)| t));
    }

    /// The statistics so far.
    pub fn stats(&self) -> Stats {
        let (mut frames_expected, mut frames_received, mut frames_recovered) = (0u64, 0u64, 0u64);
        for track in self.slots.values().chain(&self.finished) {
            let mut last = 1;
            for seq in track.first_seq..=track.max_seq {
                last = track.frames_in.get(&seq).copied().unwrap_or(last);
                frames_expected += u64::from(last);
            }
            frames_received += track.frames.len() as u64;
            frames_recovered += track.frames.values().filter(|r| **r).count() as u64;
        }
        let frames_lost = frames_expected.saturating_sub(frames_received);
        let tracks = || self.slots.values().chain(&self.finished);
        let received = tracks().map(|t| t.received).sum();
        let lost = tracks().map(|t| (t.max_seq - t.first_seq + 1).saturating_sub(t.received)).sum();
        let jitter_ms = if self.slots.is_empty() {
            0.0
        } else {
            self.slots.values().map(|t| t.jitter).sum::<f64>() / self.slots.len() as f64 * 1000.0
        };
        Stats {
            received,
            lost,
            bytes: self.bytes,
            jitter_ms,
            slots_used: self.slots.len(),
            frames_expected,
            frames_received,
            frames_recovered,
            frames_lost,
        }
    }

    /// The mixed recording, clipped to 16 bits.
    pub fn pcm(&self) -> Vec<i16> {
        self.pcm.iter().map(|s| (*s).clamp(i16::MIN as i32, i16::MAX as i32) as i16).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, seconds: f32) -> Vec<i16> {
        (0..(seconds * RATE as f32) as usize)
            .map(|i| ((i as f32 * hz * std::f32::consts::TAU / RATE as f32).sin() * 16000.0) as i16)
            .collect()
    }

    #[test]
    fn levels_follow_loudness() {
        assert_eq!(level(&[0; 960]), -127);
        let loud = level(&tone(440.0, 0.02));
        // A sine of amplitude 16000 has an RMS of 16000 / sqrt(2) / 32768 = 0.345 of full scale: -9.2 dBov.
        assert_eq!(loud, -9);
    }

    #[test]
    fn encoded_frames_decode_back_and_ogg_round_trips() {
        let pcm = tone(440.0, 1.0);
        let frames = encode(&pcm).unwrap();
        assert_eq!(frames.len(), 50);
        assert!(frames.iter().all(|f| !f.is_silent()));
        let dir = std::env::temp_dir().join(format!("stoa-audio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tone.ogg");
        write_ogg_opus(&path, &pcm).unwrap();
        let back = load(&path).unwrap();
        assert_eq!(back.len(), 50, "every 20 ms frame of the recording reads back");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
