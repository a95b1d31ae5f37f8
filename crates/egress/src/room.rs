//! A room's egress: one thread per live room that takes the packets the room hears (the SFU's tap),
//! places them on the room's timeline, keeps the last ten minutes, and runs the mix while an output needs
//! it: the replay, the HLS stream, an RTMP restream.
//!
//! Architecture invariant: nothing here runs on an SFU shard. The shard's part is one `try_send` of a
//! reference-counted packet; a mix that falls behind loses packets (and conceals them), never time on the
//! shard. Clips and report windows are mixed on threads of their own, so a ten-minute window does not
//! hold up the live mix either.

use crate::captions::{CaptionSink, Captioner};
use crate::ffmpeg;
use crate::hls::Hls;
use crate::mix::{FRAME, MixError, Mixer};
use crate::ogg::{OggOpusWriter, ogg_opus_bytes};
use crate::timeline::{DELAY, FrameIndex, Placed, RING_FRAMES, Ring, Timeline};
use std::collections::{BTreeMap, HashMap};
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::time::{Duration, Instant};
use stoa_sfu::{SourceId, Tap, Tapped};
use tokio::sync::{oneshot, watch};

/// Packets that may wait for the egress thread: two seconds of ten speakers.
const TAP_QUEUE: usize = 1000;
/// Requests that may wait for the egress thread (a few a minute, normally).
const CONTROL_QUEUE: usize = 64;
/// How long the HLS stream runs after the last player asked for its playlist.
const HLS_IDLE: Duration = Duration::from_secs(60);
/// How often a restream that had been live tries again after the server dropped it, and how long it waits
/// before the first try (doubling each time).
const RTMP_RETRIES: u32 = 5;
const RTMP_BACKOFF: Duration = Duration::from_secs(2);
/// A speaker whose packets stop is concealed for this many frames, then left out (their talk spurt ended).
const CONCEAL: FrameIndex = 2;
/// A speaker silent this long loses their decoder.
const FORGET: FrameIndex = 500;

/// What the egress needs from the server's configuration.
#[derive(Debug, Clone)]
pub struct EgressConfig {
    /// The ffmpeg to run for HLS and RTMP; `None` when the server has none (both are then refused).
    pub ffmpeg: Option<PathBuf>,
    /// The HLS stream's AAC bitrate.
    pub hls_kbps: u32,
    /// Where clips' and reports' windows are mixed: shared by every room, so that a burst of requests
    /// queues a bounded number and refuses the rest, never a thread each.
    pub windows: crate::pool::WorkPool,
}

impl EgressConfig {
    /// Window-mixing threads: one, since a window is mixed faster than real time and there is rarely more
    /// than one at once; sixteen may wait.
    pub fn new(ffmpeg: Option<PathBuf>, hls_kbps: u32) -> EgressConfig {
        EgressConfig { ffmpeg, hls_kbps, windows: crate::pool::WorkPool::new("egress-window", 1, 16) }
    }
}

/// Where a restream stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RtmpState {
    /// Not restreaming.
    #[default]
    Off,
    /// Connecting to the server.
    Connecting,
    /// The server took the stream.
    Live,
    /// The server dropped the stream; trying again.
    Retrying {
        /// Why it dropped.
        error: String,
    },
    /// The restream stopped on an error.
    Failed {
        /// The error, the stream key hidden.
        error: String,
    },
}

/// What a room's egress is doing, for the room's moderators and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressStatus {
    /// A replay is being recorded.
    pub recording: bool,
    /// The replay stopped on an error (a full disk).
    pub recording_error: Option<String>,
    /// The HLS stream runs.
    pub hls: bool,
    /// The restream.
    pub rtmp: RtmpState,
    /// Where the restream goes, without its stream key, while it is on.
    pub rtmp_url: Option<String>,
}

/// Where a restream goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpTarget {
    /// The URL ffmpeg connects to, the stream key included: its host may be the address the server checked
    /// rather than the name the moderator gave, so that nothing resolves the name again.
    pub url: String,
    /// The `tcUrl` the RTMP server is told (`rtmp://NAME/app`), when `url` names an address instead.
    pub tc_url: Option<String>,
}

/// A replay that finished.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Its file.
    pub path: PathBuf,
    /// Milliseconds of audio.
    pub millis: u64,
}

enum Control {
    Record { to: Option<(PathBuf, String)>, reply: oneshot::Sender<Result<Option<Recorded>, String>> },
    Window { seconds_before: u32, seconds_after: u32, title: String, reply: oneshot::Sender<Vec<u8>> },
    Hls,
    Rtmp(Option<RtmpTarget>),
    Whep(Option<(stoa_sfu::Sfu, stoa_sfu::RoomKey)>),
    Captions(Option<CaptionSink>),
    Quiet(SourceId),
    Child { generation: u64, event: ChildEvent },
    Stop,
}

enum ChildEvent {
    Live,
    Exited { code: Option<i32>, error: Option<String> },
}

/// Why a request to the egress failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EgressError {
    /// The egress thread is gone (the room ended) or too busy to take the request.
    #[error("the room's mix is not available")]
    Unavailable,
    /// HLS and RTMP need ffmpeg, and this server has none.
    #[error("this server has no ffmpeg, which the listen link and restreams need")]
    NoFfmpeg,
}

/// A handle to a room's egress thread. Cheap to clone; the thread runs until [`RoomEgress::stop`].
#[derive(Debug, Clone)]
pub struct RoomEgress {
    control: SyncSender<Control>,
    hls: Arc<Hls>,
    status: watch::Receiver<EgressStatus>,
    ffmpeg: bool,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Control")
    }
}

impl RoomEgress {
    /// Starts a room's egress thread; the tap is for [`stoa_sfu::Sfu::tap`].
    pub fn start(room: &str, config: &EgressConfig) -> std::io::Result<(RoomEgress, Tap)> {
        let (tap, taps) = sync_channel(TAP_QUEUE);
        let (control, controls) = sync_channel(CONTROL_QUEUE);
        let hls = Arc::new(Hls::default());
        let (status_tx, status) = watch::channel(EgressStatus::default());
        let thread = EgressThread {
            epoch: Instant::now(),
            taps,
            controls,
            me: control.clone(),
            timeline: Timeline::default(),
            ring: Ring::default(),
            live: BTreeMap::new(),
            next_out: None,
            mix: None,
            recorder: None,
            hls: hls.clone(),
            hls_child: None,
            rtmp: None,
            whep: None,
            captions: None,
            generation: 0,
            config: config.clone(),
            status: status_tx,
            room: room.to_string(),
        };
        std::thread::Builder::new().name(format!("egress-{room}")).spawn(move || thread.run())?;
        Ok((RoomEgress { control, hls, status, ffmpeg: config.ffmpeg.is_some() }, tap))
    }

    fn send(&self, c: Control) -> Result<(), EgressError> {
        self.control.try_send(c).map_err(|_| EgressError::Unavailable)
    }

    /// Starts recording the replay into `path` (Ogg Opus), or stops it (`None`), answering with the replay
    /// that stopped.
    pub async fn record(&self, to: Option<(PathBuf, String)>) -> Result<Option<Recorded>, String> {
        let (reply, rx) = oneshot::channel();
        self.send(Control::Record { to, reply }).map_err(|e| e.to_string())?;
        rx.await.map_err(|_| EgressError::Unavailable.to_string())?
    }

    /// The room's mix from `seconds_before` ago to `seconds_after` from now, as Ogg Opus: a clip (30 s
    /// before, 0 after) or a report's window (300 and 300). Answers once the window has passed.
    pub async fn window(&self, seconds_before: u32, seconds_after: u32, title: &str) -> Result<Vec<u8>, EgressError> {
        let (reply, rx) = oneshot::channel();
        self.send(Control::Window { seconds_before, seconds_after, title: title.to_string(), reply })?;
        rx.await.map_err(|_| EgressError::Unavailable)
    }

    /// The room's HLS stream, which a player's request starts ([`RoomEgress::want_hls`]).
    pub fn hls(&self) -> &Arc<Hls> {
        &self.hls
    }

    /// A player asked for the playlist: the stream starts if it is not running, and runs on while players
    /// keep asking.
    pub fn want_hls(&self) -> Result<(), EgressError> {
        if !self.ffmpeg {
            return Err(EgressError::NoFfmpeg);
        }
        self.hls.want();
        if !self.hls.running() {
            self.send(Control::Hls)?;
        }
        Ok(())
    }

    /// Starts sending the mix to an RTMP target, or stops (`None`).
    pub fn rtmp(&self, target: Option<RtmpTarget>) -> Result<(), EgressError> {
        if target.is_some() && !self.ffmpeg {
            return Err(EgressError::NoFfmpeg);
        }
        self.send(Control::Rtmp(target))
    }

    /// Publishes the mix, as one Opus stream, into an SFU room of its own (`key`), where WHEP players
    /// listen; or stops (`None`).
    pub fn whep(&self, to: Option<(stoa_sfu::Sfu, stoa_sfu::RoomKey)>) -> Result<(), EgressError> {
        self.send(Control::Whep(to))
    }

    /// Starts cutting each speaker's speech into utterances for `to`, or stops (`None`). An utterance that
    /// finds `to` full is dropped and counted, never waited for.
    pub fn captions(&self, to: Option<CaptionSink>) -> Result<(), EgressError> {
        self.send(Control::Captions(to))
    }

    /// A speaker may no longer be heard: their unfinished utterance is dropped, not transcribed.
    pub fn quiet(&self, source: SourceId) -> Result<(), EgressError> {
        self.send(Control::Quiet(source))
    }

    /// What the egress is doing; changes are announced on the receiver.
    pub fn status(&self) -> watch::Receiver<EgressStatus> {
        self.status.clone()
    }

    /// Stops the thread: the replay is closed, the children's input closes, pending windows are answered
    /// with what there is.
    pub fn stop(&self) {
        // A full queue still stops: the thread sees the handle's end when every sender is gone, and the
        // room's task is the last holder.
        let _ = self.control.try_send(Control::Stop);
    }
}

/// The speakers' frames heard in one frame of the timeline.
type Heard = Vec<(SourceId, Arc<[u8]>)>;

struct MixState {
    mixer: Mixer,
    /// The last frame each speaker was heard in.
    recent: HashMap<SourceId, FrameIndex>,
}

impl MixState {
    fn new() -> Result<MixState, MixError> {
        Ok(MixState { mixer: Mixer::new()?, recent: HashMap::new() })
    }

    /// One frame of the mix: the speakers heard in it, and those whose packet for it is missing but who
    /// spoke a frame or two ago (concealed).
    fn frame(&mut self, frame: FrameIndex, present: &[(SourceId, Arc<[u8]>)]) -> Result<[i16; FRAME], MixError> {
        let mut frames: Vec<(u32, Option<&[u8]>)> = present.iter().map(|(s, p)| (s.0, Some(&p[..]))).collect();
        for (source, last) in &self.recent {
            if *last >= frame - CONCEAL && !present.iter().any(|(s, _)| s == source) {
                frames.push((source.0, None));
            }
        }
        for (s, _) in present {
            self.recent.insert(*s, frame);
        }
        let pcm = self.mixer.mix_pcm(&frames)?;
        if frame % 100 == 0 {
            let mixer = &mut self.mixer;
            self.recent.retain(|s, last| {
                let keep = *last >= frame - FORGET;
                if !keep {
                    mixer.forget(s.0);
                }
                keep
            });
        }
        Ok(pcm)
    }
}

/// The source the mix is published from, in its WHEP room.
pub const MIX_SOURCE: SourceId = SourceId(1);

/// A frame's audio level in dBov, as str0m reads RTP's level extension: 0 (loudest) down to -127.
fn level(pcm: &[i16; FRAME]) -> i8 {
    let mean = pcm.iter().map(|s| f64::from(*s) * f64::from(*s)).sum::<f64>() / FRAME as f64;
    let dbov = 10.0 * (mean / (32768.0 * 32768.0)).max(1e-13).log10();
    dbov.clamp(-127.0, 0.0) as i8
}

/// Mixes a window of placed packets into 20 ms Opus frames, one per frame of `[from, to)`.
fn mix_window(packets: &[Placed], from: FrameIndex, to: FrameIndex) -> Vec<Vec<u8>> {
    let Ok(mut state) = MixState::new() else { return Vec::new() };
    let mut out = Vec::with_capacity((to - from).max(0) as usize);
    let mut at = 0;
    for frame in from..to {
        let mut present = Vec::new();
        while at < packets.len() && packets[at].frame <= frame {
            if packets[at].frame == frame {
                present.push((packets[at].source, packets[at].payload.clone()));
            }
            at += 1;
        }
        let Ok(pcm) = state.frame(frame, &present) else { continue };
        if let Ok(opus) = state.mixer.encode(&pcm) {
            out.push(opus);
        }
    }
    out
}

struct PendingWindow {
    from: FrameIndex,
    to: FrameIndex,
    title: String,
    reply: oneshot::Sender<Vec<u8>>,
}

struct Rtmp {
    url: String,
    tc_url: Option<String>,
    child: Option<ffmpeg::Child>,
    generation: u64,
    was_live: bool,
    retries: u32,
    retry_at: Option<Instant>,
}

struct EgressThread {
    epoch: Instant,
    taps: Receiver<Tapped>,
    controls: Receiver<Control>,
    /// The thread's own control channel, for its children's watchers.
    me: SyncSender<Control>,
    timeline: Timeline,
    ring: Ring,
    /// Placed packets not yet mixed, by frame.
    live: BTreeMap<FrameIndex, Heard>,
    /// The next frame the live mix produces, while it runs.
    next_out: Option<FrameIndex>,
    mix: Option<MixState>,
    recorder: Option<(OggOpusWriter<BufWriter<std::fs::File>>, PathBuf)>,
    hls: Arc<Hls>,
    hls_child: Option<(ffmpeg::Child, u64)>,
    rtmp: Option<Rtmp>,
    /// Where the mix goes for WHEP players, and the stream's next sequence number.
    whep: Option<(stoa_sfu::Sfu, stoa_sfu::RoomKey, u64)>,
    /// Each speaker's utterances, and where they go, while someone has captions on.
    captions: Option<(Captioner, CaptionSink)>,
    generation: u64,
    config: EgressConfig,
    status: watch::Sender<EgressStatus>,
    room: String,
}

impl EgressThread {
    fn now(&self) -> FrameIndex {
        (self.epoch.elapsed().as_micros() / 20_000) as FrameIndex
    }

    fn run(mut self) {
        let mut windows: Vec<PendingWindow> = Vec::new();
        loop {
            loop {
                match self.controls.try_recv() {
                    Ok(Control::Stop) | Err(TryRecvError::Disconnected) => {
                        self.finish(windows);
                        return;
                    }
                    Ok(Control::Window { seconds_before, seconds_after, title, reply }) => {
                        let now = self.now() - DELAY;
                        // Not before the room's start: a young room's window is as long as the room.
                        let from = (now - (i64::from(seconds_before) * 50).min(RING_FRAMES - 50)).max(0);
                        let to = now + i64::from(seconds_after) * 50;
                        windows.push(PendingWindow { from, to, title, reply });
                    }
                    Ok(c) => self.control(c),
                    Err(TryRecvError::Empty) => break,
                }
            }
            let now = self.now();
            while let Ok(t) = self.taps.try_recv() {
                self.take(t, now);
            }
            self.tick(now);
            let played = now - DELAY;
            for w in windows.extract_if(.., |w| w.to <= played) {
                self.answer(w);
            }
            let wait = if self.mix.is_some() {
                let next = self.epoch + Duration::from_micros((now as u64 + 1) * 20_000);
                next.saturating_duration_since(Instant::now())
            } else {
                Duration::from_millis(50)
            };
            match self.taps.recv_timeout(wait) {
                Ok(t) => {
                    let now = self.now();
                    self.take(t, now);
                }
                Err(RecvTimeoutError::Timeout) => {}
                // The SFU let go of the tap (the room closed there): wait for the stop.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
            }
        }
    }

    fn take(&mut self, t: Tapped, now: FrameIndex) {
        let frame = self.timeline.place(t.source, t.timestamp, now);
        self.ring.push(Placed { frame, source: t.source, payload: t.payload.clone() }, now);
        let oldest = self.next_out.unwrap_or(now - DELAY);
        if frame >= oldest {
            self.live.entry(frame).or_default().push((t.source, t.payload));
        }
    }

    fn mixing(&self) -> bool {
        self.recorder.is_some()
            || self.hls_child.is_some()
            || self.whep.is_some()
            || self.rtmp.as_ref().is_some_and(|r| r.child.is_some())
    }

    fn tick(&mut self, now: FrameIndex) {
        let wanted = self.mixing();
        if wanted && self.mix.is_none() {
            match MixState::new() {
                Ok(m) => self.mix = Some(m),
                Err(e) => tracing::error!(room = %self.room, error = %e, "cannot start the room's mix"),
            }
        } else if !wanted && self.mix.is_some() {
            self.mix = None;
        }
        // The timeline is read out, frame by frame, for the mix and for captions.
        if self.mix.is_none() && self.captions.is_none() {
            self.next_out = None;
        } else if self.next_out.is_none() {
            self.next_out = Some(now - DELAY);
        }
        if let Some(mut next) = self.next_out {
            // A thread held up for more than a second skips ahead: the outputs get a gap, not a backlog.
            if now - DELAY - next > 50 {
                next = now - DELAY - 5;
            }
            while next <= now - DELAY {
                self.mix_out(next);
                next += 1;
            }
            self.next_out = Some(next);
        }
        let keep_from = self.next_out.unwrap_or(now - DELAY);
        while self.live.first_key_value().is_some_and(|(f, _)| *f < keep_from) {
            self.live.pop_first();
        }
        if now % 500 == 0 {
            self.timeline.forget_silent(now - 3000);
        }
        if self.hls_child.is_some() && self.hls.unwanted_for() > HLS_IDLE {
            tracing::info!(room = %self.room, "HLS stream stopped: nobody listens");
            self.hls_child = None;
            self.hls.stop();
            self.publish_status();
        }
        if let Some(r) = &mut self.rtmp
            && r.retry_at.is_some_and(|at| at <= Instant::now())
        {
            r.retry_at = None;
            self.start_rtmp();
        }
    }

    fn mix_out(&mut self, frame: FrameIndex) {
        let present = self.live.remove(&frame).unwrap_or_default();
        if let Some((captioner, to)) = &mut self.captions {
            for u in captioner.frame(frame, &present) {
                if to.to.try_send(u).is_err() {
                    to.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(room = %self.room, "an utterance was dropped: the caption engine is behind");
                }
            }
        }
        let Some(mix) = &mut self.mix else { return };
        let pcm = match mix.frame(frame, &present) {
            Ok(pcm) => pcm,
            Err(e) => {
                tracing::warn!(room = %self.room, error = %e, "a frame of the mix failed");
                [0; FRAME]
            }
        };
        // Encoded once, for the replay and the WHEP players alike.
        let opus = if self.recorder.is_some() || self.whep.is_some() {
            match mix.mixer.encode(&pcm) {
                Ok(o) => Some(o),
                Err(e) => {
                    tracing::warn!(room = %self.room, error = %e, "a frame of the mix did not encode");
                    None
                }
            }
        } else {
            None
        };
        if let (Some((sfu, key, seq)), Some(opus)) = (&mut self.whep, &opus) {
            *seq += 1;
            let packet = Tapped {
                source: MIX_SOURCE,
                seq: *seq,
                timestamp: (*seq as u32).wrapping_mul(FRAME as u32),
                level: Some(level(&pcm)),
                payload: Arc::from(opus.as_slice()),
            };
            sfu.inject(*key, packet);
        }
        if let Some((writer, path)) = &mut self.recorder {
            let written = match &opus {
                Some(opus) => writer.push(opus).map_err(|e| e.to_string()),
                None => Ok(()),
            };
            if let Err(e) = written {
                tracing::error!(room = %self.room, path = %path.display(), error = %e, "the replay stopped");
                self.recorder = None;
                let mut status = self.status.borrow().clone();
                status.recording = false;
                status.recording_error = Some(format!("the replay stopped: {e}"));
                self.status.send_replace(status);
            }
        }
        if let Some((child, _)) = &mut self.hls_child {
            child.send(&pcm);
        }
        if let Some(Rtmp { child: Some(child), .. }) = &mut self.rtmp {
            child.send(&pcm);
        }
    }

    fn answer(&self, w: PendingWindow) {
        let packets = self.ring.window(w.from, w.to);
        let (from, to) = (w.from, w.to);
        // Refused when the pool's queue is full: the reply is dropped, and the asker told it is unavailable.
        let mixed = self.config.windows.try_run(move || {
            let frames = mix_window(&packets, from, to);
            let _ = w.reply.send(ogg_opus_bytes(&frames, &w.title));
        });
        if mixed.is_err() {
            tracing::warn!(room = %self.room, "too many windows to mix at once; one was refused");
        }
    }

    fn control(&mut self, c: Control) {
        match c {
            Control::Record { to, reply } => {
                let finished = self.recorder.take().map(|(w, path)| {
                    let millis = w.millis();
                    if let Err(e) = w.finish() {
                        tracing::warn!(path = %path.display(), error = %e, "cannot close the replay");
                    }
                    Recorded { path, millis }
                });
                let mut result = Ok(finished);
                if let Some((path, title)) = to {
                    let opened = std::fs::File::create(&path)
                        .and_then(|f| OggOpusWriter::new(BufWriter::new(f), Some(&title), crate::ogg::PRE_SKIP))
                        .map_err(|e| format!("cannot write the replay: {e}"));
                    match opened {
                        Ok(w) => self.recorder = Some((w, path)),
                        Err(e) => result = Err(e),
                    }
                }
                let _ = reply.send(result);
                self.publish_status();
            }
            Control::Hls => {
                if self.hls_child.is_none() {
                    self.start_hls();
                }
            }
            Control::Rtmp(Some(RtmpTarget { url, tc_url })) => {
                self.rtmp =
                    Some(Rtmp { url, tc_url, child: None, generation: 0, was_live: false, retries: 0, retry_at: None });
                self.start_rtmp();
            }
            Control::Rtmp(None) => {
                self.rtmp = None;
                self.publish_status();
            }
            Control::Child { generation, event } => self.child_event(generation, event),
            Control::Whep(to) => self.whep = to.map(|(sfu, key)| (sfu, key, 0)),
            Control::Captions(to) => self.captions = to.map(|to| (Captioner::default(), to)),
            Control::Quiet(source) => self.captions.iter_mut().for_each(|(c, _)| c.drop_source(source)),
            Control::Window { .. } | Control::Stop => {}
        }
    }

    fn start_hls(&mut self) {
        let Some(program) = self.config.ffmpeg.clone() else { return };
        self.generation += 1;
        let hls = self.hls.clone();
        let watcher = Watcher { generation: self.generation, to: self.me.clone(), last_error: None, secret: None };
        hls.start(Instant::now());
        let out = Box::new(move |bytes: &[u8]| hls.adts(bytes));
        match ffmpeg::Child::spawn(&program, &ffmpeg::hls_args(self.config.hls_kbps), Some(out), watcher) {
            Ok(child) => {
                tracing::info!(room = %self.room, "HLS stream started");
                self.hls_child = Some((child, self.generation));
            }
            Err(e) => {
                tracing::error!(room = %self.room, error = %e, "cannot start ffmpeg for HLS");
                self.hls.stop();
            }
        }
        self.publish_status();
    }

    fn start_rtmp(&mut self) {
        let Some(program) = self.config.ffmpeg.clone() else { return };
        self.generation += 1;
        let generation = self.generation;
        let Some(r) = &mut self.rtmp else { return };
        let secret = r.url.rsplit('/').next().filter(|k| !k.is_empty()).map(String::from);
        let watcher = Watcher { generation, to: self.me.clone(), last_error: None, secret };
        r.generation = generation;
        match ffmpeg::Child::spawn(&program, &ffmpeg::rtmp_args(&r.url, r.tc_url.as_deref()), None, watcher) {
            Ok(child) => r.child = Some(child),
            Err(e) => {
                tracing::error!(room = %self.room, error = %e, "cannot start ffmpeg for RTMP");
                self.rtmp = None;
                let mut status = self.status.borrow().clone();
                status.rtmp = RtmpState::Failed { error: format!("cannot start ffmpeg: {e}") };
                self.status.send_replace(status);
                return;
            }
        }
        self.publish_status();
    }

    fn child_event(&mut self, generation: u64, event: ChildEvent) {
        if self.hls_child.as_ref().is_some_and(|(_, g)| *g == generation) {
            if let ChildEvent::Exited { code, error } = event {
                tracing::warn!(room = %self.room, ?code, error = error.as_deref().unwrap_or(""), "ffmpeg for HLS ended");
                self.hls_child = None;
                self.hls.stop();
                self.publish_status();
            }
            return;
        }
        let Some(r) = &mut self.rtmp else { return };
        if r.generation != generation {
            return;
        }
        match event {
            ChildEvent::Live => {
                r.was_live = true;
                r.retries = 0;
                tracing::info!(room = %self.room, "restream live");
                self.publish_status();
            }
            ChildEvent::Exited { code, error } => {
                r.child = None;
                let detail = error.unwrap_or_else(|| format!("ffmpeg ended ({code:?})"));
                tracing::warn!(room = %self.room, error = %detail, "restream ended");
                // The log has ffmpeg's words; moderators get ours, which say nothing of the state of a
                // host or a port ("connection refused" would make the restream a port scanner).
                let error = if r.was_live {
                    "the RTMP server dropped the stream".to_string()
                } else {
                    "could not connect to the RTMP server, or it refused the stream".to_string()
                };
                let mut status = self.status.borrow().clone();
                if r.was_live && r.retries < RTMP_RETRIES {
                    r.retry_at = Some(Instant::now() + RTMP_BACKOFF * 2u32.pow(r.retries));
                    r.retries += 1;
                    status.rtmp = RtmpState::Retrying { error };
                } else {
                    self.rtmp = None;
                    status.rtmp = RtmpState::Failed { error };
                }
                self.status.send_replace(status);
            }
        }
    }

    fn publish_status(&self) {
        let mut status = self.status.borrow().clone();
        status.recording = self.recorder.is_some();
        if status.recording {
            status.recording_error = None;
        }
        status.hls = self.hls_child.is_some();
        status.rtmp = match &self.rtmp {
            None => match status.rtmp {
                failed @ RtmpState::Failed { .. } => failed,
                _ => RtmpState::Off,
            },
            Some(r) if r.retry_at.is_some() => status.rtmp.clone(),
            Some(r) if r.was_live && r.child.is_some() => RtmpState::Live,
            Some(_) => RtmpState::Connecting,
        };
        // The server's name as the moderator gave it (the tcUrl), not the address it was resolved to.
        status.rtmp_url = self.rtmp.as_ref().map(|r| {
            r.tc_url.clone().unwrap_or_else(|| r.url.rsplit_once('/').map_or(r.url.as_str(), |(u, _)| u).to_string())
        });
        self.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }

    fn finish(mut self, windows: Vec<PendingWindow>) {
        if let Some((w, path)) = self.recorder.take()
            && let Err(e) = w.finish()
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot close the replay");
        }
        for w in windows {
            let played = self.now() - DELAY;
            self.answer(PendingWindow { to: w.to.min(played), ..w });
        }
        self.hls.stop();
    }
}

/// Watches one child's stderr: tells the egress thread when the output is open and why it ended.
struct Watcher {
    generation: u64,
    to: SyncSender<Control>,
    last_error: Option<String>,
    /// The stream key, kept out of what moderators and logs see.
    secret: Option<String>,
}

impl ffmpeg::Watcher for Watcher {
    fn line(&mut self, line: &str) {
        if line.starts_with("Output #0") {
            let _ = self.to.try_send(Control::Child { generation: self.generation, event: ChildEvent::Live });
        }
        let lower = line.to_ascii_lowercase();
        if ["error", "failed", "refused", "unable", "invalid", "timed out", "not found"]
            .iter()
            .any(|w| lower.contains(w))
        {
            let mut line = line.to_string();
            if let Some(secret) = &self.secret {
                line = line.replace(secret.as_str(), "…");
            }
            self.last_error = Some(line.chars().take(300).collect());
        }
    }

    fn exited(&mut self, code: Option<i32>) {
        let event = ChildEvent::Exited { code, error: self.last_error.take() };
        // The thread may be gone (the room ended); then nobody needs to know.
        let _ = self.to.send(Control::Child { generation: self.generation, event });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mixs_level_is_in_dbov_as_the_slot_mapper_reads_it() {
        let full: [i16; FRAME] = std::array::from_fn(|i| if i % 2 == 0 { 32767 } else { -32767 });
        assert_eq!(level(&full), 0);
        let tone: [i16; FRAME] = std::array::from_fn(|i| (3000.0 * (i as f32 * 0.0576).sin()) as i16);
        assert!((-27..=-22).contains(&level(&tone)), "{}", level(&tone));
        assert_eq!(level(&[0; FRAME]), -127, "silence");
    }
}
