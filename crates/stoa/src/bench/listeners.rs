//! The bench's listeners: real WebRTC peers joined over their room sockets, then driven by one media loop
//! per core ([`super::media_loop`]); and the worker process (`stoa bench-listeners`) that runs a share of
//! them.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stoa_client::{Api, Session};

use super::datagrams;
use super::measure::*;
use super::media_loop::{Joined, MediaLoop, Window};
use super::process::*;

/// A synthetic Opus frame (CELT fullband, 20 ms, code 0) carrying its send time in microseconds since `epoch`.
pub(crate) fn frame(epoch: Instant) -> Vec<u8> {
    let mut p = vec![31 << 3];
    p.extend_from_slice(&(epoch.elapsed().as_micros() as u64).to_be_bytes());
    p.resize(60, 0x55);
    p
}

/// The send time carried by a forwarded packet: its first frame's, whether the packet holds one frame or several
/// (RFC 6716 §3.2).
pub(crate) fn sent_at(payload: &[u8]) -> Option<u64> {
    let first = match payload.first()? & 0x03 {
        0 => 1,
        3 => {
            let count = (payload.get(1)? & 0x3f) as usize;
            let mut at = 2;
            for _ in 0..count.saturating_sub(1) {
                at += if *payload.get(at)? >= 252 { 2 } else { 1 };
            }
            at
        }
        _ => return None,
    };
    Some(u64::from_be_bytes(payload.get(first..first + 8)?.try_into().ok()?))
}

/// Where a listener learns when a packet's first frame was sent.
#[derive(Clone)]
pub(crate) enum Clock {
    /// Synthetic frames carry their send time.
    Embedded,
    /// Frames from a file: each frame's fingerprint, with when it was last sent (microseconds since the
    /// epoch) and whether it had also been sent within the two seconds before (silence repeats, so such
    /// a frame cannot be timed).
    Table(Arc<Mutex<std::collections::HashMap<u64, (u64, bool)>>>),
}

impl Clock {
    pub(crate) fn sent(&self, payload: &[u8]) -> Option<u64> {
        match self {
            Clock::Embedded => sent_at(payload),
            Clock::Table(table) => {
                let (at, ambiguous) = *table.lock().unwrap().get(&fingerprint(first_frame(payload)?))?;
                (!ambiguous).then_some(at)
            }
        }
    }

    pub(crate) fn record(&self, payload: &[u8], at_us: u64) {
        if let (Clock::Table(table), Some(frame)) = (self, first_frame(payload)) {
            let mut table = table.lock().unwrap();
            let entry = table.entry(fingerprint(frame)).or_insert((0, false));
            *entry = (at_us, entry.0 != 0 && at_us.saturating_sub(entry.0) < 2_000_000);
        }
    }
}

pub(crate) fn fingerprint(frame: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    frame.hash(&mut h);
    h.finish()
}

/// The first frame's data (without the TOC byte) of an Opus packet of one frame (code 0) or of several
/// (code 3, as the SFU joins them for the audience).
pub(crate) fn first_frame(payload: &[u8]) -> Option<&[u8]> {
    match payload.first()? & 0x03 {
        0 => payload.get(1..),
        3 => {
            let count_byte = *payload.get(1)?;
            let count = (count_byte & 0x3f) as usize;
            if count == 0 || count_byte & 0x40 != 0 {
                return None;
            }
            if count_byte & 0x80 == 0 {
                let each = payload.len().checked_sub(2)? / count;
                return payload.get(2..2 + each);
            }
            let mut at = 2;
            let mut first_len = None;
            for _ in 0..count - 1 {
                let b = *payload.get(at)? as usize;
                let (len, used) = if b >= 252 { (b + 4 * *payload.get(at + 1)? as usize, 2) } else { (b, 1) };
                first_len.get_or_insert(len);
                at += used;
            }
            let len = first_len.unwrap_or(payload.len() - at);
            payload.get(at..at + len)
        }
        _ => None,
    }
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct ListenerResult {
    /// From the WebSocket's start to the first RTP packet.
    pub(crate) join_ms: Option<f64>,
    /// From the WebSocket's start to its upgrade, the room's `joined` event, and the server's SDP answer.
    pub(crate) upgraded_ms: Option<f64>,
    pub(crate) welcomed_ms: Option<f64>,
    pub(crate) answered_ms: Option<f64>,
    /// From the WebSocket's start to ICE being up, and to ICE and DTLS being up.
    pub(crate) ice_ms: Option<f64>,
    pub(crate) connected_ms: Option<f64>,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    pub(crate) lost: u64,
    pub(crate) latencies_ms: Vec<f64>,
    pub(crate) decrypted: u64,
    /// With chat, the window's second half: `packets`, `lost` and `latencies_ms` are then the first half's.
    #[serde(default)]
    pub(crate) packets_b: u64,
    #[serde(default)]
    pub(crate) lost_b: u64,
    #[serde(default)]
    pub(crate) latencies_ms_b: Vec<f64>,
    /// With `--timeline`: the interval of each of `latencies_ms`, in order.
    #[serde(default)]
    pub(crate) latency_interval: Vec<u32>,
    /// Which of the bench's servers it joined through (an index into `--server`'s list).
    #[serde(default)]
    pub(crate) server: usize,
}

/// What one process of listeners needs: the bench's own, or a worker's (`stoa bench-listeners`, started
/// when one process may not open two sockets for every listener). Times are on the wall clock, in
/// microseconds since the Unix epoch, so that every process places them alike.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ListenerPlan {
    /// The servers: listener `i` joins through `bases[i % bases.len()]`.
    pub(crate) bases: Vec<String>,
    /// Whether listeners skip the first server (`--listeners-on-edges`): then listener `i` joins through
    /// `bases[1 + i % (bases.len() - 1)]`.
    #[serde(default)]
    pub(crate) skip_first: bool,
    pub(crate) room: String,
    /// This process's listeners: each one's place among all the listeners (which decides when it joins)
    /// and its session token.
    pub(crate) listeners: Vec<(usize, String)>,
    /// Listeners in all processes.
    pub(crate) total: usize,
    pub(crate) join_window: f64,
    pub(crate) epoch_us: u64,
    pub(crate) start_join_us: u64,
    pub(crate) measure_from_us: u64,
    pub(crate) measure_to_us: u64,
    /// Where the window's quiet first half ends, with chat.
    #[serde(default)]
    pub(crate) measure_mid_us: Option<u64>,
    /// Whether listeners offer RED.
    #[serde(default = "yes")]
    pub(crate) red: bool,
    /// Whether `bases` is Janus's HTTP API and `room` its mountpoint (`stoa bench --janus`).
    #[serde(default)]
    pub(crate) janus: bool,
    /// With `--timeline`: its interval in seconds, by which each timed packet is placed in the window.
    #[serde(default)]
    pub(crate) timeline_s: f64,
}

impl ListenerPlan {
    /// Which server listener `i` joins through.
    fn server_of(&self, i: usize) -> usize {
        match self.bases.len() {
            0 | 1 => 0,
            n if self.skip_first => 1 + i % (n - 1),
            n => i % n,
        }
    }
}

pub(crate) fn yes() -> bool {
    true
}

/// The wall-clock time of an instant of this process.
pub(crate) fn wall_at(at: Instant) -> u64 {
    let (now, wall) = (Instant::now(), wall_us(std::time::SystemTime::now()));
    match at.checked_duration_since(now) {
        Some(ahead) => wall + ahead.as_micros() as u64,
        None => wall.saturating_sub(now.duration_since(at).as_micros() as u64),
    }
}

/// This process's instant at a wall-clock time.
pub(crate) fn instant_at(wall: u64) -> Instant {
    let (now, now_wall) = (Instant::now(), wall_us(std::time::SystemTime::now()));
    if wall >= now_wall {
        now + Duration::from_micros(wall - now_wall)
    } else {
        now.checked_sub(Duration::from_micros(now_wall - wall)).unwrap_or(now)
    }
}

/// Joins a plan's listeners and measures them until its window closes: one thread per core with a runtime
/// for the listeners' room sockets (busy only while joining), and one media loop per core that owns their
/// peers. Blocks until the window has closed and every listener has left.
pub(crate) fn run_listeners(plan: ListenerPlan, clock: Clock) -> Vec<ListenerResult> {
    let epoch_wall = std::time::UNIX_EPOCH + Duration::from_micros(plan.epoch_us);
    let epoch = instant_at(plan.epoch_us);
    let (measure_from, measure_to) = (instant_at(plan.measure_from_us), instant_at(plan.measure_to_us));
    let measure_mid = plan.measure_mid_us.map(instant_at);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results: Arc<Mutex<Vec<ListenerResult>>> = Arc::new(Mutex::new(Vec::new()));
    let joined = Arc::new(AtomicU64::new(0));
    // On loopback each media loop's listeners share one socket, each on its own address.
    let share = !plan.janus && plan.bases.iter().all(|b| ipv4_loopback(b));
    let mut handles = Vec::new();
    for t in 0..threads {
        let mine: Vec<(usize, usize, Api)> = plan
            .listeners
            .iter()
            .enumerate()
            .filter(|(k, _)| k % threads == t)
            .map(|(_, (i, token))| (*i, plan.server_of(*i), Api::with_token(&plan.bases[plan.server_of(*i)], token)))
            .collect();
        let (peers_tx, peers_rx) = std::sync::mpsc::channel::<Joined>();
        let timeline = (plan.timeline_s > 0.0).then(|| Duration::from_secs_f64(plan.timeline_s));
        let window =
            Window { epoch, epoch_wall, measure_from, measure_mid, measure_to, timeline, clock: clock.clone() };
        let shared = share.then(|| datagrams::bind_shared(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).ok()).flatten();
        let shared_port = shared.as_ref().and_then(|s| s.local_addr().ok()).map(|a| a.port());
        let (loop_results, loop_joined) = (results.clone(), joined.clone());
        handles.push(std::thread::spawn(move || {
            let Ok(media) = MediaLoop::new(window, shared, &loop_joined) else { return };
            let r = media.run(peers_rx);
            loop_results.lock().unwrap().extend(r);
        }));
        let join = Arc::new(JoinPlan {
            room: plan.room.clone(),
            transports: stoa_client::Transports { red: plan.red, ..stoa_client::Transports::UDP },
            janus: plan.janus,
            start: instant_at(plan.start_join_us),
            spread: Duration::from_secs_f64(plan.join_window * 0.8),
            total: plan.total,
            measure_to,
            shared_port,
        });
        let results = results.clone();
        handles.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            rt.block_on(async move {
                let http = reqwest::Client::new();
                let tasks: Vec<_> = mine
                    .into_iter()
                    .map(|(i, server, api)| {
                        let (join, results, peers_tx, http) =
                            (join.clone(), results.clone(), peers_tx.clone(), http.clone());
                        tokio::spawn(async move { join.one(i, server, api, &http, &results, &peers_tx).await })
                    })
                    .collect();
                drop(peers_tx);
                for t in tasks {
                    let _ = t.await;
                }
            });
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    std::mem::take(&mut *results.lock().unwrap())
}

/// Whether a server's base URL names an IPv4 loopback address.
fn ipv4_loopback(base: &str) -> bool {
    use std::net::ToSocketAddrs;
    let Ok(url) = reqwest::Url::parse(base) else { return false };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else { return false };
    (host, port)
        .to_socket_addrs()
        .is_ok_and(|mut a| a.all(|a| matches!(a.ip(), std::net::IpAddr::V4(ip) if ip.is_loopback())))
}

/// What every listener's join of one thread shares.
struct JoinPlan {
    room: String,
    transports: stoa_client::Transports,
    janus: bool,
    /// When the first listener joins, and over how long the others follow.
    start: Instant,
    spread: Duration,
    total: usize,
    measure_to: Instant,
    /// The port of the thread's media loop's shared socket, if it has one.
    shared_port: Option<u16>,
}

impl JoinPlan {
    /// Joins listener `i` at its time, hands its peer to the media loop, and holds its room socket until
    /// the window closes.
    async fn one(
        &self,
        i: usize,
        server: usize,
        api: Api,
        http: &reqwest::Client,
        results: &Mutex<Vec<ListenerResult>>,
        peers_tx: &std::sync::mpsc::Sender<Joined>,
    ) {
        let delay = self.spread.mul_f64(i as f64 / self.total as f64);
        tokio::time::sleep_until(tokio::time::Instant::from_std(self.start + delay)).await;
        let began = Instant::now();
        let joined = if self.janus {
            super::janus_api::join(http, &api.base, &self.room)
                .await
                .map(|(peer, phases, session)| (Held::Janus(session), peer, phases))
        } else {
            // Its own address on the shared socket's port, or else a socket of its own.
            let socket = self
                .shared_port
                .zip(datagrams::listener_ip(i))
                .and_then(|(port, ip)| datagrams::bind_shared(SocketAddrV4::new(ip, port)).ok());
            match Session::join_on(&api, &self.room, 3, self.transports, socket).await {
                Ok(s) => {
                    let phases = s.phases;
                    s.into_media().map(|(signaling, peer)| (Held::Room(Box::new(signaling)), peer, phases))
                }
                Err(e) => Err(e),
            }
        };
        let Ok((held, peer, phases)) = joined else {
            results.lock().unwrap().push(ListenerResult { server, ..Default::default() });
            return;
        };
        if peers_tx.send(Joined { peer, began, phases, server }).is_err() {
            return;
        }
        match held {
            Held::Room(mut signaling) => {
                signaling.hold_until(self.measure_to).await;
                signaling.leave().await;
            }
            Held::Janus(session) => {
                tokio::time::sleep_until(tokio::time::Instant::from_std(self.measure_to)).await;
                session.leave().await;
            }
        }
    }
}

/// What keeps a listener in: its room socket, or its Janus session.
enum Held {
    Room(Box<stoa_client::Signaling>),
    Janus(super::janus_api::JanusSession),
}

/// `stoa bench-listeners`: a worker of the bench. Reads a [`ListenerPlan`] as JSON on standard input, runs
/// it, and writes its listeners' results as JSON on standard output.
pub async fn listeners_worker() -> anyhow::Result<()> {
    let plan: ListenerPlan = Worker::read_plan("stoa bench-listeners reads a listener plan").await?;
    raise_file_limit(2 * plan.listeners.len() as u64 + 256);
    let results = tokio::task::spawn_blocking(move || run_listeners(plan, Clock::Embedded)).await?;
    Worker::write_results(&results).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_times_survive_joining() {
        let epoch = Instant::now() - Duration::from_secs(5);
        let f = frame(epoch);
        let t = sent_at(&f).unwrap();
        assert!((5_000_000..6_000_000).contains(&t));
        // A code 3 packet of three such frames, as the SFU joins them: the first frame's time comes out.
        let mut joined = vec![(31 << 3) | 3, 0x80 | 3, (f.len() - 1) as u8, (f.len() - 1) as u8];
        for _ in 0..3 {
            joined.extend_from_slice(&f[1..]);
        }
        assert_eq!(sent_at(&joined), Some(t));
    }
}
