//! The public listen link's HLS: AAC-LC in ADTS from ffmpeg, cut into 2 s packed-audio segments
//! (RFC 8216 §3.4: each segment an ID3 tag with its first sample's timestamp, then ADTS frames), which
//! iPhone Safari plays natively and hls.js plays everywhere else.
//!
//! Segments are named by the stream and their sequence number and never change, so a CDN may keep them
//! for a year; the playlist changes every two seconds and is cached for one. The playlist is rendered once
//! per segment, not once per request: twenty thousand clients polling it cost a copy of an `Arc` each.
//!
//! Low-latency HLS (RFC 8216bis §4.4.4.9, §6.2.5): each segment is also published in four parts of about
//! half a second (24, 24, 23 and 23 AAC frames), each with its own ID3 timestamp, listed as `EXT-X-PART`
//! for the newest segments, with a preload hint for the part to come. A playlist request with `_HLS_msn`
//! (and `_HLS_part`) waits until that segment (or part) exists, and a request for the hinted part waits
//! for it, so a low-latency player (Safari, hls.js) hears the room about a second behind instead of five.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// AAC frames per segment: 94 frames of 1,024 samples at 48 kHz is 2.005 s.
const SEGMENT_FRAMES: u32 = 94;
/// Segments the playlist lists: 12 s, enough for a player's usual three-segment hold and some slack.
const LISTED: usize = 6;
/// AAC frames in each of a segment's parts (together, [`SEGMENT_FRAMES`]).
const PART_FRAMES: [u32; 4] = [24, 24, 23, 23];
/// The longest part: 24 frames, 0.512 s (`EXT-X-PART-INF:PART-TARGET`).
const PART_TARGET: f64 = 0.512;
/// Complete segments whose parts the playlist still lists (besides the one being made).
const PARTS_LISTED: usize = 2;
/// How far ahead of the stream a blocking request may ask (RFC 8216bis: more than two segments is a 400).
const AHEAD: u64 = 2;
/// Segments kept after they leave the playlist, for players a little behind it.
const KEPT: usize = 12;
/// Where the stream's timestamps start (90 kHz): 10 s in, so nothing is ever near zero.
const PTS_START: u64 = 900_000;
/// Caption lines kept for the subtitle rendition.
const CUES: usize = 64;
/// Most bytes an ADTS frame can have (13-bit length).
const ADTS_MAX: usize = 8191;

/// One segment.
#[derive(Debug)]
pub struct Segment {
    /// Its sequence number.
    pub seq: u64,
    /// Its bytes: the ID3 tag and the ADTS frames.
    pub bytes: Arc<[u8]>,
    /// Seconds of audio.
    pub duration: f64,
    /// When it was published.
    pub published: Instant,
    /// When its newest audio was mixed.
    pub mixed_end: Option<Instant>,
    /// How many times it was fetched (from this server; a CDN in front answers most fetches itself).
    fetches: AtomicU32,
    /// Its parts, for low-latency players.
    parts: Vec<Arc<Part>>,
    /// Its first sample's timestamp (90 kHz), as its ID3 tag says.
    start: u64,
}

/// A part of a segment: its own ID3 timestamp, then its ADTS frames.
#[derive(Debug)]
pub struct Part {
    /// Its bytes.
    pub bytes: Arc<[u8]>,
    /// Seconds of audio.
    pub duration: f64,
    /// When its newest audio was mixed.
    pub mixed_end: Option<Instant>,
    fetches: AtomicU32,
}

#[derive(Debug, Default)]
struct State {
    /// The current stream's name (random per ffmpeg run), in every segment's name.
    stream: String,
    segments: VecDeque<Arc<Segment>>,
    next_seq: u64,
    /// Unparsed ADTS bytes.
    pending: Vec<u8>,
    building: Vec<u8>,
    building_frames: u32,
    /// The parts of the segment being made, and the part being made.
    parts: Vec<Arc<Part>>,
    building_part: Vec<u8>,
    part_frames: u32,
    /// AAC samples published or building, since the stream started.
    samples: u64,
    /// When the stream's first PCM went to the encoder.
    pcm_started: Option<Instant>,
    playlist: Arc<str>,
    /// How long after its last sample was mixed each recent segment was published (ms).
    delays: VecDeque<u32>,
    running: bool,
    /// Caption lines for the subtitle rendition, oldest first.
    cues: VecDeque<crate::vtt::Cue>,
}

/// A room's HLS stream: fed ADTS by the encoder's reader thread, read by the HTTP handlers.
#[derive(Debug)]
pub struct Hls {
    state: Mutex<State>,
    /// Parts published since the server started: waiters (the first playlist, blocking reloads, the hinted
    /// part) wake on it.
    published: tokio::sync::watch::Sender<u64>,
    /// When a player last asked for the playlist (ms since `epoch`): the stream runs while someone does.
    wanted_ms: AtomicU64,
    epoch: Instant,
}

impl Default for Hls {
    fn default() -> Self {
        Hls {
            state: Mutex::default(),
            published: tokio::sync::watch::channel(0).0,
            wanted_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

/// What a segment request finds.
#[derive(Debug)]
pub enum SegmentLookup {
    /// The segment (or part), and how long ago its newest audio was mixed (ms).
    Found(Arc<[u8]>, Option<u64>),
    /// No such segment: a name of another stream, or a number that is gone or not yet made.
    NotFound,
}

/// Why a blocking playlist request gets no playlist.
#[derive(Debug, PartialEq, Eq)]
pub enum Blocked {
    /// It asks for a segment more than two ahead of the stream (a 400).
    TooFarAhead,
    /// What it asks for did not come in time, or the stream is not running (a 503).
    NotYet,
}

/// A segment's or part's name: `STREAM-SEQ.aac` or `STREAM-SEQ.PART.aac`.
fn parse_name(name: &str) -> Option<(&str, u64, Option<usize>)> {
    let (stream, rest) = name.strip_suffix(".aac")?.split_once('-')?;
    match rest.split_once('.') {
        None => Some((stream, rest.parse().ok()?, None)),
        Some((seq, part)) => {
            let part: usize = part.parse().ok()?;
            (part < PART_FRAMES.len()).then_some(())?;
            Some((stream, seq.parse().ok()?, Some(part)))
        }
    }
}

impl Hls {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new stream starts (ffmpeg started): new segment names, and the sequence goes on.
    pub fn start(&self, now: Instant) {
        let mut s = self.lock();
        let mut id = [0u8; 6];
        let _ = getrandom::fill(&mut id);
        s.stream = id.iter().map(|b| format!("{b:02x}")).collect();
        s.segments.clear();
        s.pending.clear();
        s.building.clear();
        s.building_frames = 0;
        s.parts.clear();
        s.building_part.clear();
        s.part_frames = 0;
        s.samples = 0;
        s.pcm_started = Some(now);
        s.cues.clear();
        s.running = true;
        s.playlist = Arc::from("");
        self.published.send_replace(s.next_seq);
    }

    /// The stream stopped.
    pub fn stop(&self) {
        let mut s = self.lock();
        s.running = false;
        s.segments.clear();
        s.playlist = Arc::from("");
    }

    /// Whether the stream is running.
    pub fn running(&self) -> bool {
        self.lock().running
    }

    /// A player asked for the playlist.
    pub fn want(&self) {
        self.wanted_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long since a player last asked for the playlist.
    pub fn unwanted_for(&self) -> std::time::Duration {
        let at = std::time::Duration::from_millis(self.wanted_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(at)
    }

    /// Bytes from the encoder's stdout.
    pub fn adts(&self, bytes: &[u8]) {
        let mut s = self.lock();
        s.pending.extend_from_slice(bytes);
        let mut at = 0;
        let mut published = false;
        loop {
            let rest = &s.pending[at..];
            if rest.len() < 7 {
                break;
            }
            if rest[0] != 0xFF || rest[1] & 0xF0 != 0xF0 {
                // Out of sync (never, from ffmpeg): skip to the next sync word.
                at += 1;
                continue;
            }
            let len = ((usize::from(rest[3]) & 0x03) << 11) | (usize::from(rest[4]) << 3) | (usize::from(rest[5]) >> 5);
            if !(7..=ADTS_MAX).contains(&len) {
                at += 1;
                continue;
            }
            if rest.len() < len {
                break;
            }
            let frame = rest[..len].to_vec();
            at += len;
            s.building.extend_from_slice(&frame);
            s.building_part.extend_from_slice(&frame);
            s.building_frames += 1;
            s.part_frames += 1;
            s.samples += 1024;
            if s.part_frames == PART_FRAMES[s.parts.len().min(PART_FRAMES.len() - 1)] {
                publish_part(&mut s);
                published = true;
            }
            if s.building_frames == SEGMENT_FRAMES {
                self.publish(&mut s);
            }
        }
        s.pending.drain(..at);
        if published {
            if !s.segments.is_empty() {
                s.playlist = Arc::from(render(&s));
            }
            self.published.send_modify(|n| *n += 1);
        }
    }

    fn publish(&self, s: &mut State) {
        let frames = std::mem::take(&mut s.building_frames);
        let first_sample = s.samples - u64::from(frames) * 1024;
        let pts = PTS_START + first_sample * 90_000 / 48_000;
        let mut bytes = id3_timestamp(pts);
        bytes.append(&mut s.building);
        let now = Instant::now();
        let mixed_end =
            s.pcm_started.map(|started| started + std::time::Duration::from_micros(s.samples * 1_000_000 / 48_000));
        if let Some(mixed) = mixed_end {
            s.delays.push_back(now.saturating_duration_since(mixed).as_millis() as u32);
            if s.delays.len() > 30 {
                s.delays.pop_front();
            }
        }
        let segment = Segment {
            seq: s.next_seq,
            bytes: Arc::from(bytes),
            duration: f64::from(frames) * 1024.0 / 48_000.0,
            published: now,
            mixed_end,
            fetches: AtomicU32::new(0),
            parts: std::mem::take(&mut s.parts),
            start: pts,
        };
        s.next_seq += 1;
        s.segments.push_back(Arc::new(segment));
        while s.segments.len() > KEPT {
            s.segments.pop_front();
        }
        let oldest = s.segments.front().map_or(0, |x| x.start);
        while s.cues.front().is_some_and(|c| c.end < oldest) {
            s.cues.pop_front();
        }
    }

    /// A caption line for the listen link's subtitles. It shows from the stream's newest audio on, for
    /// `seconds` (at least two): a live caption comes a second or two after the words, as on television,
    /// and a player is as far behind the stream's end as it is.
    pub fn cue(&self, text: &str, seconds: f64) {
        let mut s = self.lock();
        if !s.running {
            return;
        }
        let start = PTS_START + s.samples * 90_000 / 48_000;
        let start = s.cues.back().map_or(start, |c| start.max(c.start + 1));
        let end = start + (seconds.clamp(2.0, 8.0) * 90_000.0) as u64;
        if s.cues.len() >= CUES {
            s.cues.pop_front();
        }
        s.cues.push_back(crate::vtt::Cue { start, end, text: text.to_string() });
    }

    /// The subtitle playlist: a WebVTT segment for each audio segment the playlist lists.
    pub fn subtitles(&self) -> Option<String> {
        let s = self.lock();
        if s.segments.is_empty() {
            return None;
        }
        let listed: Vec<(u64, f64)> = s.segments.iter().rev().take(LISTED).rev().map(|x| (x.seq, x.duration)).collect();
        Some(crate::vtt::playlist(&s.stream, &listed))
    }

    /// A WebVTT segment by its name (`STREAM-SEQ.vtt`): the caption lines that show during that audio
    /// segment.
    pub fn vtt(&self, name: &str) -> Option<String> {
        let s = self.lock();
        let (stream, seq) = name.strip_suffix(".vtt")?.split_once('-')?;
        let seq: u64 = seq.parse().ok()?;
        let x = s.segments.iter().find(|x| x.seq == seq).filter(|_| stream == s.stream)?;
        let end = x.start + (x.duration * 90_000.0) as u64;
        Some(crate::vtt::segment(PTS_START, x.start, end, s.cues.iter()))
    }

    /// The playlist, if the stream has a segment yet.
    pub fn playlist(&self) -> Option<Arc<str>> {
        let s = self.lock();
        (!s.playlist.is_empty()).then(|| s.playlist.clone())
    }

    /// Waits until the stream has a segment, or `timeout` passes.
    pub async fn first_segment(&self, timeout: std::time::Duration) -> Option<Arc<str>> {
        let mut rx = self.published.subscribe();
        let _ = tokio::time::timeout(timeout, async {
            loop {
                if self.playlist().is_some() {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        self.playlist()
    }

    /// The playlist once it lists segment `msn` (complete, or up to its part `part`): a low-latency
    /// player's blocking reload. Waits up to `timeout`.
    pub async fn playlist_at(
        &self,
        msn: u64,
        part: Option<u32>,
        timeout: std::time::Duration,
    ) -> Result<Arc<str>, Blocked> {
        // A part number past the segment's last part is the next segment's first (RFC 8216bis §6.2.5.2).
        let (msn, part) = match part {
            Some(p) if p as usize >= PART_FRAMES.len() => (msn + 1, Some(0)),
            other => (msn, other),
        };
        let ready = |s: &State| match part {
            _ if msn < s.next_seq => true,
            Some(p) => msn == s.next_seq && s.parts.len() > p as usize,
            None => false,
        };
        let mut rx = self.published.subscribe();
        {
            let s = self.lock();
            if msn > s.next_seq + AHEAD {
                return Err(Blocked::TooFarAhead);
            }
        }
        let _ = tokio::time::timeout(timeout, async {
            loop {
                {
                    let s = self.lock();
                    if !s.running || (!s.playlist.is_empty() && ready(&s)) {
                        return;
                    }
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        let s = self.lock();
        if s.running && !s.playlist.is_empty() && ready(&s) { Ok(s.playlist.clone()) } else { Err(Blocked::NotYet) }
    }

    /// A segment or part by its name (`STREAM-SEQ.aac`, `STREAM-SEQ.PART.aac`).
    pub fn segment(&self, name: &str) -> SegmentLookup {
        let s = self.lock();
        let Some((stream, seq, part)) = parse_name(name) else { return SegmentLookup::NotFound };
        if stream != s.stream {
            return SegmentLookup::NotFound;
        }
        let age = |m: Option<Instant>| m.map(|m| Instant::now().saturating_duration_since(m).as_millis() as u64);
        let segment = s.segments.iter().find(|x| x.seq == seq);
        match (segment, part) {
            (Some(x), None) => {
                x.fetches.fetch_add(1, Ordering::Relaxed);
                SegmentLookup::Found(x.bytes.clone(), age(x.mixed_end))
            }
            (segment, Some(p)) => {
                let parts = match segment {
                    Some(x) => &x.parts,
                    None if seq == s.next_seq => &s.parts,
                    None => return SegmentLookup::NotFound,
                };
                match parts.get(p) {
                    Some(x) => {
                        x.fetches.fetch_add(1, Ordering::Relaxed);
                        SegmentLookup::Found(x.bytes.clone(), age(x.mixed_end))
                    }
                    None => SegmentLookup::NotFound,
                }
            }
            (None, None) => SegmentLookup::NotFound,
        }
    }

    /// A segment or part, waiting up to `timeout` for a part of the segment being made (the preload hint
    /// names the next one before it exists).
    pub async fn segment_or_wait(&self, name: &str, timeout: std::time::Duration) -> SegmentLookup {
        let coming = |s: &State| {
            parse_name(name).is_some_and(|(stream, seq, part)| {
                stream == s.stream && seq == s.next_seq && part.is_some_and(|p| p >= s.parts.len())
            })
        };
        let mut rx = self.published.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self.segment(name);
            if matches!(found, SegmentLookup::Found(..)) || !coming(&self.lock()) {
                return found;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.segment(name),
            }
        }
    }

    /// About how many players listen here: the most fetches of one of the recent segments that every
    /// player has had time to fetch (each player fetches each segment once).
    pub fn listeners(&self) -> u32 {
        let s = self.lock();
        let now = Instant::now();
        s.segments
            .iter()
            .filter(|x| {
                let age = now.saturating_duration_since(x.published).as_secs_f64();
                (4.0..12.0).contains(&age)
            })
            // A player fetches a segment whole, or (at low latency) each of its parts once.
            .map(|x| {
                let parts = x.parts.iter().map(|p| p.fetches.load(Ordering::Relaxed)).max().unwrap_or(0);
                x.fetches.load(Ordering::Relaxed) + parts
            })
            .max()
            .unwrap_or(0)
    }

    /// The median of recent segments' delays: from their last sample's mix to their publication (ms).
    pub fn publish_delay_ms(&self) -> Option<u32> {
        let s = self.lock();
        let mut d: Vec<u32> = s.delays.iter().copied().collect();
        d.sort_unstable();
        d.get(d.len() / 2).copied()
    }
}

/// Closes the part being made: its ID3 timestamp, then its frames.
fn publish_part(s: &mut State) {
    let frames = std::mem::take(&mut s.part_frames);
    let first_sample = s.samples - u64::from(frames) * 1024;
    let mut bytes = id3_timestamp(PTS_START + first_sample * 90_000 / 48_000);
    bytes.append(&mut s.building_part);
    let mixed_end =
        s.pcm_started.map(|started| started + std::time::Duration::from_micros(s.samples * 1_000_000 / 48_000));
    s.parts.push(Arc::new(Part {
        bytes: Arc::from(bytes),
        duration: f64::from(frames) * 1024.0 / 48_000.0,
        mixed_end,
        fetches: AtomicU32::new(0),
    }));
}

/// The playlist: the newest segments, the parts of the last few and of the one being made, and a hint of
/// the next part.
fn render(s: &State) -> String {
    use std::fmt::Write;
    let stream = &s.stream;
    let listed: Vec<&Arc<Segment>> = s.segments.iter().rev().take(LISTED).rev().collect();
    let first = listed.first().map_or(0, |x| x.seq);
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.3}\n\
         #EXT-X-PART-INF:PART-TARGET={PART_TARGET:.3}\n#EXT-X-MEDIA-SEQUENCE:{first}\n",
        3.0 * PART_TARGET
    );
    let part_line = |out: &mut String, seq: u64, i: usize, p: &Part| {
        let _ = writeln!(out, "#EXT-X-PART:DURATION={:.3},URI=\"{stream}-{seq}.{i}.aac\",INDEPENDENT=YES", p.duration);
    };
    let with_parts = listed.len().saturating_sub(PARTS_LISTED);
    for (k, x) in listed.iter().enumerate() {
        if k >= with_parts {
            for (i, p) in x.parts.iter().enumerate() {
                part_line(&mut out, x.seq, i, p);
            }
        }
        let _ = writeln!(out, "#EXTINF:{:.3},\n{stream}-{}.aac", x.duration, x.seq);
    }
    for (i, p) in s.parts.iter().enumerate() {
        part_line(&mut out, s.next_seq, i, p);
    }
    let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{stream}-{}.{}.aac\"", s.next_seq, s.parts.len());
    out
}

/// The ID3v2.4 tag that starts a packed-audio segment: a PRIV frame with the MPEG-2 timestamp (33 bits,
/// 90 kHz) of the segment's first sample (RFC 8216 §3.4).
fn id3_timestamp(pts: u64) -> Vec<u8> {
    const OWNER: &[u8] = b"com.apple.streaming.transportStreamTimestamp\0";
    let data_len = OWNER.len() + 8;
    let frame_len = 10 + data_len;
    let mut out = Vec::with_capacity(10 + frame_len);
    out.extend_from_slice(b"ID3\x04\x00\x00");
    out.extend_from_slice(&syncsafe(frame_len as u32));
    out.extend_from_slice(b"PRIV");
    out.extend_from_slice(&syncsafe(data_len as u32));
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(OWNER);
    out.extend_from_slice(&(pts & 0x1_FFFF_FFFF).to_be_bytes());
    out
}

fn syncsafe(n: u32) -> [u8; 4] {
    [(n >> 21) as u8 & 0x7F, (n >> 14) as u8 & 0x7F, (n >> 7) as u8 & 0x7F, n as u8 & 0x7F]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adts_frame(payload: usize) -> Vec<u8> {
        let len = payload + 7;
        let mut f = vec![
            0xFF,
            0xF1,
            0x4C,
            0x40 | ((len >> 11) as u8 & 0x03),
            (len >> 3) as u8,
            ((len & 7) << 5) as u8 | 0x1F,
            0xFC,
        ];
        f.extend(std::iter::repeat_n(0xAB, payload));
        f
    }

    #[test]
    fn adts_in_any_chunks_becomes_two_second_segments_and_a_playlist_of_the_newest() {
        let hls = Hls::default();
        assert!(hls.playlist().is_none());
        hls.start(Instant::now());
        let stream: Vec<u8> = (0..SEGMENT_FRAMES * 8 + 10).flat_map(|i| adts_frame(100 + i as usize % 50)).collect();
        // Chunks that cut frames anywhere.
        for chunk in stream.chunks(777) {
            hls.adts(chunk);
        }
        let playlist = hls.playlist().unwrap();
        assert!(playlist.contains("#EXT-X-MEDIA-SEQUENCE:2\n"), "{playlist}");
        assert_eq!(playlist.matches("#EXTINF:2.005,").count(), LISTED);
        let name = playlist.lines().rfind(|l| l.ends_with(".aac")).unwrap().to_string();
        assert!(name.ends_with("-7.aac"), "{name}");
        let SegmentLookup::Found(bytes, _) = hls.segment(&name) else { panic!("the newest segment is there") };
        assert!(bytes.starts_with(b"ID3\x04"));
        // The timestamp of segment 7: 7 × 94 × 1024 samples in, at 90 kHz, after the start offset.
        let pts = u64::from_be_bytes(bytes[(10 + 10 + 45)..(10 + 10 + 53)].try_into().unwrap());
        assert_eq!(pts, PTS_START + 7 * 94 * 1024 * 90_000 / 48_000);
        assert_eq!(&bytes[73..75], &[0xFF, 0xF1], "ADTS follows the tag");
        for bad in
            ["x-7.aac", "-7.aac", &name.replace("-7.", "-8."), &name.replace("-7.", "-99999999999999999999."), ""]
        {
            assert!(matches!(hls.segment(bad), SegmentLookup::NotFound), "{bad}");
        }
        let old = name.replace("-7.", "-0.");
        assert!(matches!(hls.segment(&old), SegmentLookup::Found(..)), "kept after leaving the playlist");
        // A new stream: new names, and the numbers go on.
        hls.start(Instant::now());
        assert!(matches!(hls.segment(&name), SegmentLookup::NotFound));
        for chunk in stream.chunks(4096).take(5) {
            hls.adts(chunk);
        }
        assert!(hls.playlist().unwrap().contains("-8.aac"));
    }

    #[tokio::test]
    async fn each_segment_is_also_four_parts_listed_with_a_hint_and_blocking_requests_wait_for_them() {
        let hls = Hls::default();
        hls.start(Instant::now());
        let frames: Vec<Vec<u8>> = (0..SEGMENT_FRAMES * 3 + 30).map(|i| adts_frame(60 + i as usize % 40)).collect();
        // Two segments and 30 frames of the third: its first part (24 frames) is out, its second is not.
        for f in &frames {
            hls.adts(f);
        }
        let playlist = hls.playlist().unwrap();
        assert!(playlist.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.536\n"), "{playlist}");
        assert!(playlist.contains("#EXT-X-PART-INF:PART-TARGET=0.512\n"), "{playlist}");
        let stream = playlist.lines().rfind(|l| l.ends_with(".aac")).unwrap().split('-').next().unwrap().to_string();
        for (seq, part, duration) in [(1, 0, "0.512"), (1, 3, "0.491"), (2, 3, "0.491"), (3, 0, "0.512")] {
            let line = format!("#EXT-X-PART:DURATION={duration},URI=\"{stream}-{seq}.{part}.aac\",INDEPENDENT=YES");
            assert!(playlist.contains(&line), "{line} in {playlist}");
        }
        assert!(!playlist.contains(&format!("{stream}-0.0.aac")), "only the newest segments list their parts");
        assert!(playlist.ends_with(&format!("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{stream}-3.1.aac\"\n")), "{playlist}");
        // A segment's parts, their tags set aside, are its frames; each part's tag has its first sample's time.
        let SegmentLookup::Found(whole, _) = hls.segment(&format!("{stream}-1.aac")) else { panic!("segment 1") };
        let mut joined = Vec::new();
        for (i, first_frame) in [0u64, 24, 48, 71].into_iter().enumerate() {
            let SegmentLookup::Found(part, _) = hls.segment(&format!("{stream}-1.{i}.aac")) else { panic!("part {i}") };
            let pts = u64::from_be_bytes(part[65..73].try_into().unwrap());
            assert_eq!(pts, PTS_START + (94 + first_frame) * 1024 * 90_000 / 48_000, "part {i}");
            joined.extend_from_slice(&part[73..]);
        }
        assert_eq!(joined, whole[73..], "the parts make the segment");
        for bad in [format!("{stream}-3.1.aac"), format!("{stream}-1.4.aac"), format!("{stream}-1.x.aac")] {
            assert!(matches!(hls.segment(&bad), SegmentLookup::NotFound), "{bad}");
        }
        // Blocking: what exists answers at once; what comes next waits for it; too far ahead is refused.
        let wait = std::time::Duration::from_secs(5);
        assert!(hls.playlist_at(2, None, wait).await.is_ok());
        assert!(hls.playlist_at(3, Some(0), wait).await.is_ok());
        assert_eq!(hls.playlist_at(9, None, wait).await, Err(Blocked::TooFarAhead));
        let short = std::time::Duration::from_millis(50);
        assert_eq!(hls.playlist_at(3, Some(1), short).await, Err(Blocked::NotYet));
        let hls = Arc::new(hls);
        let (waiter, hinted) = {
            let (a, b) = (hls.clone(), hls.clone());
            let name = format!("{stream}-3.1.aac");
            (
                tokio::spawn(async move { a.playlist_at(3, Some(1), wait).await }),
                tokio::spawn(async move { b.segment_or_wait(&name, wait).await }),
            )
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished() && !hinted.is_finished(), "they wait for the part");
        for f in &frames[..18] {
            hls.adts(f);
        }
        let playlist = waiter.await.unwrap().unwrap();
        assert!(playlist.contains(&format!("URI=\"{stream}-3.1.aac\"")), "{playlist}");
        assert!(playlist.contains(&format!("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{stream}-3.2.aac\"")));
        assert!(matches!(hinted.await.unwrap(), SegmentLookup::Found(..)), "the hinted part, once made");
        // A part number past the last is the next segment's first.
        assert_eq!(hls.playlist_at(3, Some(4), short).await, Err(Blocked::NotYet));
    }
}
