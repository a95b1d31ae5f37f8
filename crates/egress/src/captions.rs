//! [`Captioner`]: the captions' side of the egress. Each speaker's Opus is decoded on its own, at 16 kHz (what
//! speech recognizers take), and cut into utterances at their pauses, so that every caption names one
//! speaker. Sans-IO and synchronous, like the mix: the egress thread feeds it one frame of the room's
//! timeline at a time, and hands what it returns to the room's caption worker.

use crate::timeline::FrameIndex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use stoa_sfu::SourceId;

/// Samples a second of an utterance's audio.
pub const CAPTION_RATE: u32 = 16_000;
/// Samples in one 20 ms frame at that rate.
const FRAME: usize = 320;
/// Quiet frames that end an utterance: 400 ms.
const PAUSE: FrameIndex = 20;
/// The longest utterance, 8 s: a monologue is cut there, so that its caption does not lag it by more.
const LONGEST: usize = 400 * FRAME;
/// An utterance with less speech than this (200 ms) is a cough or a click, not words.
const SHORTEST_SPEECH: u32 = 10;
/// Frames kept from before speech starts (100 ms), so that a word's first sound is not cut.
const PRE_ROLL: usize = 5;
/// A frame louder than this (RMS, about -40 dBFS) is speech.
const SPEECH_RMS: f64 = 330.0;
/// A speaker unheard this long (10 s) and not mid-utterance loses their decoder.
const FORGET: FrameIndex = 500;

/// Where a room's utterances go: a bounded queue, and the count of those dropped because it was full.
#[derive(Debug, Clone)]
pub struct CaptionSink {
    /// The room's caption worker's queue.
    pub to: tokio::sync::mpsc::Sender<Utterance>,
    /// Utterances dropped, shared with whoever counts them.
    pub dropped: Arc<std::sync::atomic::AtomicU64>,
}

/// One speaker's words between two pauses.
#[derive(Debug, Clone)]
pub struct Utterance {
    /// Whose: the source number the speaker's packets carry.
    pub source: SourceId,
    /// The timeline's frame it starts on.
    pub start: FrameIndex,
    /// The frame after its last.
    pub end: FrameIndex,
    /// Its audio: mono, 16-bit, [`CAPTION_RATE`].
    pub pcm: Vec<i16>,
}

impl Utterance {
    /// The audio as a WAV file, which every transcription interface takes.
    pub fn wav(&self) -> Vec<u8> {
        let data = (self.pcm.len() * 2) as u32;
        let mut out = Vec::with_capacity(44 + data as usize);
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes()); // PCM
        out.extend_from_slice(&1u16.to_le_bytes()); // mono
        out.extend_from_slice(&CAPTION_RATE.to_le_bytes());
        out.extend_from_slice(&(CAPTION_RATE * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data.to_le_bytes());
        for s in &self.pcm {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }
}

struct Voice {
    decoder: opus::Decoder,
    /// The quiet frames just before speech, while not in an utterance.
    pre_roll: VecDeque<[i16; FRAME]>,
    /// The utterance so far (empty: none).
    pcm: Vec<i16>,
    start: FrameIndex,
    last_speech: FrameIndex,
    speech_frames: u32,
    last_heard: FrameIndex,
}

/// Every speaker's utterances.
#[derive(Default)]
pub struct Captioner {
    voices: HashMap<SourceId, Voice>,
    frame: Vec<i16>,
}

impl std::fmt::Debug for Captioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Captioner").field("voices", &self.voices.len()).finish()
    }
}

impl Captioner {
    /// One frame of the timeline: the packets placed in it. Returns the utterances that ended with it.
    pub fn frame(&mut self, frame: FrameIndex, present: &[(SourceId, Arc<[u8]>)]) -> Vec<Utterance> {
        let mut done = Vec::new();
        for (source, payload) in present {
            let voice = match self.voices.entry(*source) {
                std::collections::hash_map::Entry::Occupied(v) => v.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let Ok(decoder) = opus::Decoder::new(CAPTION_RATE, opus::Channels::Mono) else { continue };
                    v.insert(Voice {
                        decoder,
                        pre_roll: VecDeque::new(),
                        pcm: Vec::new(),
                        start: frame,
                        last_speech: frame,
                        speech_frames: 0,
                        last_heard: frame,
                    })
                }
            };
            voice.last_heard = frame;
            self.frame.resize(FRAME * 6, 0);
            let n = voice.decoder.decode(payload, &mut self.frame, false).unwrap_or(0).min(FRAME);
            let mut pcm = [0i16; FRAME];
            pcm[..n].copy_from_slice(&self.frame[..n]);
            let speech = rms(&pcm) > SPEECH_RMS;
            if voice.pcm.is_empty() && !speech {
                if voice.pre_roll.len() == PRE_ROLL {
                    voice.pre_roll.pop_front();
                }
                voice.pre_roll.push_back(pcm);
                continue;
            }
            if voice.pcm.is_empty() {
                voice.start = frame - voice.pre_roll.len() as FrameIndex;
                voice.speech_frames = 0;
                for f in voice.pre_roll.drain(..) {
                    voice.pcm.extend_from_slice(&f);
                }
            }
            voice.pcm.extend_from_slice(&pcm);
            if speech {
                voice.last_speech = frame;
                voice.speech_frames += 1;
            }
        }
        for (source, voice) in &mut self.voices {
            if voice.pcm.is_empty() {
                continue;
            }
            // A speaker whose packets stopped (silence suppressed, or gone) is quiet.
            if !present.iter().any(|(s, _)| s == source) {
                voice.pcm.extend_from_slice(&[0; FRAME]);
            }
            if frame - voice.last_speech >= PAUSE || voice.pcm.len() >= LONGEST {
                let pcm = std::mem::take(&mut voice.pcm);
                if voice.speech_frames >= SHORTEST_SPEECH {
                    done.push(Utterance { source: *source, start: voice.start, end: frame + 1, pcm });
                }
            }
        }
        self.voices.retain(|_, v| !v.pcm.is_empty() || frame - v.last_heard < FORGET);
        done
    }

    /// Someone stopped being heard (muted, or moved to the audience): what they said since their last
    /// pause is dropped, not transcribed.
    pub fn drop_source(&mut self, source: SourceId) {
        self.voices.remove(&source);
    }
}

fn rms(pcm: &[i16]) -> f64 {
    (pcm.iter().map(|s| f64::from(*s) * f64::from(*s)).sum::<f64>() / pcm.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 ms Opus frames at 48 kHz: a 440 Hz tone, or silence.
    fn frames(tone: bool, n: usize) -> Vec<Arc<[u8]>> {
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let mut t = 0usize;
        (0..n)
            .map(|_| {
                let pcm: Vec<i16> = (0..960)
                    .map(|_| {
                        t += 1;
                        if tone {
                            ((t as f64 * 440.0 * std::f64::consts::TAU / 48_000.0).sin() * 8000.0) as i16
                        } else {
                            0
                        }
                    })
                    .collect();
                let mut out = vec![0u8; 1275];
                let len = enc.encode(&pcm, &mut out).unwrap();
                Arc::from(&out[..len])
            })
            .collect()
    }

    #[test]
    fn a_speakers_words_end_at_a_pause_as_one_utterance_of_their_own_and_a_click_is_none() {
        let mut c = Captioner::default();
        let (a, b) = (SourceId(7), SourceId(9));
        let speech = frames(true, 50);
        let mut out = Vec::new();
        let mut f: FrameIndex = 100;
        // A speaks 1 s, then stops sending; B clicks for 100 ms.
        for (i, p) in speech.iter().enumerate() {
            let mut present = vec![(a, p.clone())];
            if i < 5 {
                present.push((b, p.clone()));
            }
            out.extend(c.frame(f, &present));
            f += 1;
        }
        assert!(out.is_empty(), "nothing ends while A speaks");
        for _ in 0..PAUSE + 1 {
            out.extend(c.frame(f, &[]));
            f += 1;
        }
        assert_eq!(out.len(), 1, "A's second of speech, and not B's click: {out:?}");
        let u = &out[0];
        assert_eq!(u.source, a);
        assert_eq!(u.start, 100);
        let seconds = u.pcm.len() as f64 / f64::from(CAPTION_RATE);
        assert!((1.3..1.5).contains(&seconds), "the speech and the pause that ended it: {seconds} s");
        assert_eq!(u.wav().len(), 44 + u.pcm.len() * 2);
    }

    #[test]
    fn a_monologue_is_cut_every_8_seconds_and_a_dropped_speaker_is_not_transcribed() {
        let mut c = Captioner::default();
        let speech = frames(true, 10);
        let mut out = Vec::new();
        for f in 0..900 {
            out.extend(c.frame(f, &[(SourceId(1), speech[f as usize % 10].clone())]));
        }
        assert_eq!(out.len(), 2, "18 s of talk without a pause: two cuts of 8 s");
        assert!(out.iter().all(|u| u.pcm.len() == LONGEST));
        c.drop_source(SourceId(1));
        let after: Vec<_> = (900..1000).flat_map(|f| c.frame(f, &[])).collect();
        assert!(after.is_empty(), "the 2 s after the last cut were dropped with the speaker");
    }
}
