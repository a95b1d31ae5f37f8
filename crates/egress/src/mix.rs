//! [`Mixer`]: the room's mix, for the outputs that need one stream (replays, clips, HLS, RTMP, WHEP): each
//! speaker's Opus decoded, summed, kept under full scale by a limiter, and encoded once for every output.
//!
//! It is sans-IO and synchronous: the caller feeds it one 20 ms tick of frames at a time, off the SFU's shard
//! threads (decoding and encoding cost far more than forwarding, and must never delay it).

use std::collections::HashMap;

/// Samples a second.
pub const RATE: u32 = 48_000;
/// Samples in one 20 ms frame, mono.
pub const FRAME: usize = 960;
/// Where the limiter holds the peaks: about -0.9 dBFS.
const CEILING: f32 = 29_000.0;
/// How fast the limiter's gain comes back up after a peak, per frame (about 0.3 s to recover 10 dB).
const RELEASE: f32 = 0.08;

/// Why mixing failed: libopus refused to decode or encode.
#[derive(Debug, thiserror::Error)]
#[error("opus: {0}")]
pub struct MixError(#[from] opus::Error);

/// The room's mixer.
pub struct Mixer {
    decoders: HashMap<u32, opus::Decoder>,
    encoder: opus::Encoder,
    /// The limiter's gain at the end of the last frame.
    gain: f32,
    pcm: Vec<i16>,
    sum: Vec<f32>,
}

impl std::fmt::Debug for Mixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mixer").field("sources", &self.decoders.len()).field("gain", &self.gain).finish()
    }
}

impl Mixer {
    /// A mixer with no sources yet.
    pub fn new() -> Result<Mixer, MixError> {
        Ok(Mixer {
            decoders: HashMap::new(),
            encoder: opus::Encoder::new(RATE, opus::Channels::Mono, opus::Application::Audio)?,
            gain: 1.0,
            pcm: vec![0; FRAME * 6],
            sum: vec![0.0; FRAME],
        })
    }

    /// One tick of the mix, as PCM: each source's frame for this tick (`None` for one that is missing, which
    /// the source's decoder conceals). A source heard for the first time gets its own decoder.
    pub fn mix_pcm(&mut self, frames: &[(u32, Option<&[u8]>)]) -> Result<[i16; FRAME], MixError> {
        self.sum.iter_mut().for_each(|s| *s = 0.0);
        for (source, frame) in frames {
            let decoder = match self.decoders.entry(*source) {
                std::collections::hash_map::Entry::Occupied(d) => d.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(opus::Decoder::new(RATE, opus::Channels::Mono)?)
                }
            };
            // An empty packet asks libopus to conceal the loss.
            let n = decoder.decode(frame.unwrap_or(&[]), &mut self.pcm, false)?;
            for (s, x) in self.sum.iter_mut().zip(&self.pcm[..n.min(FRAME)]) {
                *s += f32::from(*x);
            }
        }
        Ok(self.limit())
    }

    /// One tick of the mix, encoded as one 20 ms Opus frame.
    pub fn mix(&mut self, frames: &[(u32, Option<&[u8]>)]) -> Result<Vec<u8>, MixError> {
        let pcm = self.mix_pcm(frames)?;
        self.encode(&pcm)
    }

    /// Encodes one 20 ms frame of the mix's PCM.
    pub fn encode(&mut self, pcm: &[i16; FRAME]) -> Result<Vec<u8>, MixError> {
        let mut out = vec![0u8; 1275];
        let n = self.encoder.encode(pcm, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// A source left (its peer closed): its decoder goes.
    pub fn forget(&mut self, source: u32) {
        self.decoders.remove(&source);
    }

    /// How many sources have a decoder.
    pub fn sources(&self) -> usize {
        self.decoders.len()
    }

    /// The limiter: a gain that drops at once to keep this frame's peak under the ceiling and comes back
    /// slowly, moved sample by sample from the last frame's gain so that a change makes no click.
    fn limit(&mut self) -> [i16; FRAME] {
        let peak = self.sum.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        let wanted = if peak > CEILING { CEILING / peak } else { 1.0 };
        let target = if wanted < self.gain { wanted } else { self.gain + (wanted - self.gain) * RELEASE };
        let mut out = [0i16; FRAME];
        let start = self.gain;
        for (i, (o, s)) in out.iter_mut().zip(&self.sum).enumerate() {
            let g = start + (target - start) * (i + 1) as f32 / FRAME as f32;
            // The gain falls over the frame; a sample early in it may still be above the ceiling at the
            // higher gain, and is held there rather than wrapped.
            *o = (s * g).clamp(-CEILING, CEILING) as i16;
        }
        self.gain = target;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, amplitude: f32, t0: usize) -> [i16; FRAME] {
        std::array::from_fn(|i| {
            let t = (t0 + i) as f32 / RATE as f32;
            (amplitude * (2.0 * std::f32::consts::PI * hz * t).sin()) as i16
        })
    }

    /// The strength of `hz` in `pcm` (a single-bin DFT, normalised to the amplitude).
    fn strength(pcm: &[i16], hz: f32) -> f32 {
        let (mut re, mut im) = (0.0f32, 0.0f32);
        for (i, s) in pcm.iter().enumerate() {
            let a = 2.0 * std::f32::consts::PI * hz * i as f32 / RATE as f32;
            re += f32::from(*s) * a.cos();
            im += f32::from(*s) * a.sin();
        }
        2.0 * (re * re + im * im).sqrt() / pcm.len() as f32
    }

    #[test]
    fn two_speakers_are_heard_together_and_loud_ones_are_limited_not_clipped() {
        let enc = |hz: f32, amp: f32| {
            let mut e = opus::Encoder::new(RATE, opus::Channels::Mono, opus::Application::Audio).unwrap();
            move |t0: usize| {
                let mut out = vec![0u8; 1275];
                let n = e.encode(&tone(hz, amp, t0), &mut out).unwrap();
                out.truncate(n);
                out
            }
        };
        let (mut a, mut b) = (enc(440.0, 12_000.0), enc(660.0, 12_000.0));
        let mut mixer = Mixer::new().unwrap();
        let mut heard = Vec::new();
        for tick in 0..50 {
            let (fa, fb) = (a(tick * FRAME), b(tick * FRAME));
            heard.extend(mixer.mix_pcm(&[(1, Some(&fa)), (2, Some(&fb))]).unwrap());
        }
        assert_eq!(mixer.sources(), 2);
        let settled = &heard[FRAME * 10..];
        let (s440, s660, s550) = (strength(settled, 440.0), strength(settled, 660.0), strength(settled, 550.0));
        assert!(s440 > 8_000.0 && s660 > 8_000.0, "both voices: {s440:.0} {s660:.0}");
        assert!(s550 < 500.0, "and nothing between: {s550:.0}");

        // Two speakers at full scale: the sum would be twice full scale; the limiter holds it under.
        let (mut c, mut d) = (enc(440.0, 32_000.0), enc(660.0, 32_000.0));
        let mut loud = Vec::new();
        for tick in 0..50 {
            let (fc, fd) = (c(tick * FRAME), d(tick * FRAME));
            loud.extend(mixer.mix_pcm(&[(3, Some(&fc)), (4, Some(&fd))]).unwrap());
        }
        let peak = loud.iter().map(|s| i32::from(*s).abs()).max().unwrap();
        assert!(peak <= CEILING as i32, "limited to the ceiling: {peak}");
        assert!(strength(&loud[FRAME * 10..], 440.0) > 5_000.0, "and still heard");
        mixer.forget(3);
        assert_eq!(mixer.sources(), 3);
    }

    #[test]
    fn the_mix_is_one_opus_frame_a_tick_that_decodes_to_both_voices_and_a_lost_frame_is_concealed() {
        let mut e1 = opus::Encoder::new(RATE, opus::Channels::Mono, opus::Application::Audio).unwrap();
        let mut mixer = Mixer::new().unwrap();
        let mut dec = opus::Decoder::new(RATE, opus::Channels::Mono).unwrap();
        let mut heard = Vec::new();
        for tick in 0..50 {
            let mut f = vec![0u8; 1275];
            let n = e1.encode(&tone(440.0, 12_000.0, tick * FRAME), &mut f).unwrap();
            f.truncate(n);
            // Every tenth frame is lost on the way: concealed, not a gap.
            let frame = (tick % 10 != 5).then_some(f.as_slice());
            let mixed = mixer.mix(&[(1, frame)]).unwrap();
            assert!(!mixed.is_empty() && mixed.len() < 400, "one Opus frame: {} bytes", mixed.len());
            let mut pcm = vec![0i16; FRAME * 6];
            let n = dec.decode(&mixed, &mut pcm, false).unwrap();
            assert_eq!(n, FRAME);
            heard.extend_from_slice(&pcm[..n]);
        }
        assert!(strength(&heard[FRAME * 10..], 440.0) > 6_000.0, "440 Hz through decode, mix and encode");
        assert!(mixer.mix(&[]).is_ok(), "a tick with nobody speaking is silence");
    }
}
