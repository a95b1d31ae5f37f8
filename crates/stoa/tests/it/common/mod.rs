//! The media tests' harness: a real server on port 0 (HTTP and UDP), users, and bots that each own a
//! session (a room WebSocket and a str0m peer) and record what they hear.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stoa_client::audio::{self, Frame};
use stoa_client::{Api, Incoming, Session};
use stoa_proto::{ClientCommand, ServerEvent};
use stoa_server::{Running, ServerConfig};
use stoa_store::{SqliteStore, Store};
use tokio::sync::mpsc;

pub const WAIT: Duration = Duration::from_secs(15);

pub struct World {
    pub running: Running,
    pub base: String,
    pub invite: String,
    /// The server's admin (the bootstrap invite's account), who alone sees `/healthz`'s counts.
    pub admin: Api,
    _dir: tempfile::TempDir,
}

pub async fn world() -> World {
    world_with(|_| {}).await
}

/// A world whose server configuration `tune` adjusts.
pub async fn world_with(tune: impl FnOnce(&mut ServerConfig)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        data: dir.path().to_path_buf(),
        auth_attempts_per_ip: 10_000,
        auth_attempts_per_user: 10_000,
        // The limits on costly writes have tests of their own.
        rooms_per_hour: 10_000,
        live_rooms_per_account: 10_000,
        invitations_per_hour: 100_000,
        // The local nginx-rtmp the restream tests send to, by address and by name.
        restream_hosts: vec!["127.0.0.1".into(), "localhost".into()],
        // Three shards whatever the machine, so publishers and listeners land on different shards and every
        // test crosses shards.
        media_shards: 3,
        ..ServerConfig::default()
    };
    tune(&mut config);
    let running = stoa_server::start(config).await.unwrap();
    let base = format!("http://{}", running.addr);
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let invite = store.create_admin_invite(1000).await.unwrap();
    let bootstrap = store.bootstrap_invite().await.unwrap().expect("a fresh database");
    let admin = Api::sign_up(&base, &bootstrap, "operator", "operator-password").await.unwrap();
    World { running, base, invite, admin, _dir: dir }
}

impl World {
    pub async fn user(&self, name: &str) -> Api {
        Api::sign_up(&self.base, &self.invite, name, &format!("{name}-password")).await.unwrap()
    }

    pub async fn room(&self, host: &Api) -> String {
        let room =
            host.post("/api/v1/rooms", serde_json::json!({"title": "Test", "visibility": "open"})).await.unwrap();
        room["id"].as_str().unwrap().to_string()
    }

    pub async fn health(&self) -> serde_json::Value {
        self.admin.get("/healthz").await.unwrap()
    }

    /// Waits until the SFU holds `n` peers.
    pub async fn media_peers_become(&self, n: u64) {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.health().await["media_peers"] == n {
                return;
            }
            assert!(Instant::now() < deadline, "media peers never became {n}: {}", self.health().await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A 20 ms frame a bot hears.
#[derive(Debug, Clone)]
pub struct Heard {
    pub slot: usize,
    pub seq: u64,
    pub timestamp: u32,
    /// The packet's CSRC: the speaker's opaque source number, as it travels in the clear.
    pub source: Option<u32>,
    /// The user behind the source, from the room's `slots` events (filled in by [`Bot::heard`]).
    pub speaker: Option<u32>,
    pub payload: Vec<u8>,
    pub at: Instant,
}

enum Control {
    Command(ClientCommand),
    Sending(bool),
}

/// A user in a room, run by a task: it sends frames every 20 ms while told to (whatever its role: the
/// server decides what is forwarded), and records every packet and event.
pub struct Bot {
    pub id: u32,
    control: mpsc::UnboundedSender<Control>,
    events: mpsc::UnboundedReceiver<ServerEvent>,
    heard: Arc<Mutex<Vec<Heard>>>,
    pub sent: Arc<Mutex<Vec<Vec<u8>>>>,
    connected: Arc<AtomicBool>,
    /// The user behind each source number, from `slots` events.
    sources: Arc<Mutex<HashMap<u32, u32>>>,
}

/// Loud 440 Hz frames, each payload distinct.
pub fn tone_frames(seconds: f32) -> Vec<Frame> {
    let pcm: Vec<i16> = (0..(seconds * 48_000.0) as usize)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin() * 16_000.0) as i16)
        .collect();
    audio::encode(&pcm).unwrap()
}

impl Bot {
    pub async fn join(api: &Api, room: &str) -> Bot {
        Bot::join_with(api, room, tone_frames(2.0)).await
    }

    pub async fn join_with(api: &Api, room: &str, frames: Vec<Frame>) -> Bot {
        Bot::join_over(api, room, frames, stoa_client::Transports::UDP).await
    }

    /// A bot whose media may take only `transports`.
    pub async fn join_over(api: &Api, room: &str, frames: Vec<Frame>, transports: stoa_client::Transports) -> Bot {
        let mut session = Session::join_with(api, room, 3, transports).await.expect("the bot joins");
        let id = session.you.id.0 as u32;
        let (control, mut control_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let connected = Arc::new(AtomicBool::new(false));
        let sources = Arc::new(Mutex::new(HashMap::new()));
        let (heard2, sent2, connected2, sources2) = (heard.clone(), sent.clone(), connected.clone(), sources.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(20));
            let (mut sending, mut index, mut ts) = (false, 0usize, 0u32);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        connected2.store(session.is_connected(), Ordering::Relaxed);
                        if sending {
                            let frame = &frames[index % frames.len()];
                            ts = ts.wrapping_add(960);
                            if session.send_audio(&frame.payload, ts, Some(frame.level)).await {
                                sent2.lock().unwrap().push(frame.payload.clone());
                                index += 1;
                            }
                        }
                    }
                    control = control_rx.recv() => match control {
                        Some(Control::Command(c)) => { let _ = session.command(c).await; }
                        Some(Control::Sending(on)) => sending = on,
                        None => return,
                    },
                    incoming = session.next() => match incoming {
                        Incoming::Audio { slot, packet, at, .. } => {
                            let source = (packet.header.csrc_count > 0).then_some(packet.header.csrc[0]);
                            heard2.lock().unwrap().push(Heard { slot, seq: *packet.seq_no, timestamp: packet.header.timestamp, source, speaker: None, payload: packet.payload.to_vec(), at });
                        }
                        Incoming::Event(e) => {
                            if let ServerEvent::Slots { slots, sources } = &e {
                                for (user, source) in slots.iter().zip(sources) {
                                    if let (Some(user), Some(source)) = (user, source) {
                                        sources2.lock().unwrap().insert(*source, user.0 as u32);
                                    }
                                }
                            }
                            let _ = events_tx.send(e);
                        }
                        Incoming::Closed => return,
                    },
                }
            }
        });
        let bot = Bot { id, control, events, heard, sent, connected, sources };
        bot.wait_connected().await;
        bot
    }

    pub async fn wait_connected(&self) {
        let deadline = Instant::now() + WAIT;
        while !self.connected.load(Ordering::Relaxed) {
            assert!(Instant::now() < deadline, "media never connected");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn command(&self, c: ClientCommand) {
        self.control.send(Control::Command(c)).unwrap();
    }

    pub fn sending(&self, on: bool) {
        self.control.send(Control::Sending(on)).unwrap();
    }

    /// Waits for an event matching `f`, dropping others.
    pub async fn expect(&mut self, what: &str, f: impl Fn(&ServerEvent) -> bool) -> ServerEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) if f(&e) => return e,
                Ok(Some(_)) => continue,
                _ => panic!("no {what} event"),
            }
        }
    }

    /// The events that came and were not waited for, without waiting.
    pub fn events_so_far(&mut self) -> Vec<ServerEvent> {
        std::iter::from_fn(|| self.events.try_recv().ok()).collect()
    }

    /// Everything this bot heard so far, each packet's speaker resolved from its source number.
    pub fn heard(&self) -> Vec<Heard> {
        let sources = self.sources.lock().unwrap().clone();
        let mut heard = self.heard.lock().unwrap().clone();
        for h in &mut heard {
            h.speaker = h.source.and_then(|s| sources.get(&s).copied());
        }
        heard
    }

    /// How many packets this bot heard in all.
    pub fn heard_count(&self) -> usize {
        self.heard.lock().unwrap().len()
    }

    /// How many packets this bot heard from `speaker`.
    pub fn heard_from(&self, speaker: u32) -> usize {
        self.heard().iter().filter(|h| h.speaker == Some(speaker)).count()
    }

    /// Invites `other` to speak (from a moderator bot) and has them accept.
    pub async fn bring_on_stage(&mut self, other: &mut Bot) {
        self.command(ClientCommand::InviteToSpeak { user_id: stoa_proto::UserId(other.id as i64) });
        other.expect("invited_to_speak", |e| matches!(e, ServerEvent::InvitedToSpeak { .. })).await;
        other.command(ClientCommand::AcceptInvite);
        other.expect("role_changed", |e| matches!(e, ServerEvent::RoleChanged { .. })).await;
    }
}

/// A port free now that no other test's `bind(…:0)` or outgoing connection can take before the server this
/// test starts binds it: below the kernel's ephemeral range (32768–60999 here), picked at random. A port
/// from `bind(…:0)` and let go is back in that range, where a test running beside this one may be handed it
/// in the meantime (it happened: "Address already in use").
pub fn reserved_port(udp: bool) -> u16 {
    use std::hash::{BuildHasher, Hasher};
    loop {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(std::process::id().into());
        let port = 10_000 + (h.finish() % 22_000) as u16;
        let free = if udp {
            std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        } else {
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        };
        if free {
            return port;
        }
    }
}

/// Writes a 48 kHz mono 16-bit WAV of a sine.
pub fn write_tone(path: &std::path::Path, hz: f32, seconds: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(seconds * 48_000.0) as usize {
        w.write_sample(((i as f32 * hz * std::f32::consts::TAU / 48_000.0).sin() * 12_000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// The dominant frequency of 48 kHz samples over their middle half: the median of the zero-crossing rates of
/// its audible 100 ms windows (the mean of those near it). A frame lost for good is a click, which adds crossings to the window it falls in; the
/// median leaves those few windows out instead of averaging them into the pitch (a mean over the whole once
/// read a 440 Hz tone with 13 lost frames as 472 Hz).
pub fn frequency(samples: &[i16]) -> f64 {
    const WINDOW: usize = 4_800;
    let middle = &samples[samples.len() / 4..samples.len() * 3 / 4];
    // `w.len() - 1` sample pairs: each window shares its last sample with the next, so no crossing falls
    // between two windows unseen.
    // A window with nothing in it (before the speaker began, or a gap) says nothing of the pitch.
    let audible = |w: &[i16]| w.iter().any(|s| s.unsigned_abs() > 300);
    let rate = |w: &[i16]| {
        let crossings = w.windows(2).filter(|p| (p[0] < 0) != (p[1] < 0)).count();
        crossings as f64 / 2.0 / (w.len().saturating_sub(1).max(1) as f64 / 48_000.0)
    };
    if middle.len() <= WINDOW {
        return rate(middle);
    }
    let mut rates: Vec<f64> = middle.windows(WINDOW + 1).step_by(WINDOW).filter(|w| audible(w)).map(rate).collect();
    if rates.is_empty() {
        return 0.0;
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    // A window holds its crossings give or take one (5 Hz); the mean of the windows near the median is finer.
    let near: Vec<f64> = rates.into_iter().filter(|r| (r - median).abs() <= median * 0.05).collect();
    near.iter().sum::<f64>() / near.len() as f64
}

/// The dominant frequency of an audio file, as ffmpeg decodes it.
pub fn frequency_of_file(path: &std::path::Path) -> f64 {
    let out = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(path)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .expect("ffmpeg is installed (scripts/test installs it)");
    assert!(out.status.success(), "ffmpeg cannot decode {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let samples: Vec<i16> = out.stdout.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    assert!(samples.len() > 48_000, "at least a second of audio: {}", samples.len());
    frequency(&samples)
}

/// Decodes and mixes what a bot heard from `speaker`.
pub fn decode_heard(heard: &[Heard], speaker: u32) -> Vec<i16> {
    let start = heard.first().map(|h| h.at).unwrap_or_else(Instant::now);
    let mut recorder = audio::Recorder::new(start);
    for h in heard.iter().filter(|h| h.speaker == Some(speaker)) {
        recorder.push(h.slot, h.seq, h.timestamp, h.source, &h.payload, h.at);
    }
    recorder.pcm()
}

/// Waits until `listener` has heard `packets` more packets from `control` (a speaker known to be heard)
/// than it had. A silence is shown this way, bounded by packets that did arrive meanwhile rather than by
/// wall time: anything forwarded before the wait began has had as long to land as those packets.
pub async fn hears_more(listener: &Bot, control: u32, packets: usize) {
    let target = listener.heard_from(control) + packets;
    eventually("the control stream carries on", || listener.heard_from(control) >= target).await;
}

/// Waits until `f` holds, polling.
pub async fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A child process killed and reaped when dropped (a server, a bot, nats-server), whatever ends the test.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `body` as JSON with `api`'s token, and gives the status and the answer's JSON (null if none).
pub async fn send(
    api: &stoa_client::Api,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", api.base))
        .bearer_auth(&api.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

#[test]
fn a_tone_with_clicks_in_it_still_reads_as_its_pitch() {
    let mut tone: Vec<i16> = (0..10 * 48_000)
        .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 48_000.0).sin() * 8_000.0) as i16)
        .collect();
    // Twenty lost 20 ms frames, each a burst of noise as a decoder's concealment can leave.
    let mut x: u32 = 1;
    for n in 0..20 {
        let at = 48_000 * 3 + n * 9_000;
        for s in &mut tone[at..at + 960] {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *s = (x >> 16) as i16;
        }
    }
    let hz = frequency(&tone);
    assert!((hz - 440.0).abs() < 2.0, "read {hz} Hz");
    // A speaker who began late: most of the recording's middle is silence, and the tone is still its pitch.
    let late: Vec<i16> = std::iter::repeat_n(0, 6 * 48_000).chain(tone[..4 * 48_000].iter().copied()).collect();
    let hz = frequency(&late);
    assert!((hz - 440.0).abs() < 2.0, "a late tone read {hz} Hz");
    assert_eq!(frequency(&[0; 48_000]), 0.0, "silence has no pitch");
}
