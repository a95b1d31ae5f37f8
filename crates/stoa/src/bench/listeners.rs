//! The bench's listeners: real WebRTC peers joined over their room sockets, then driven by one epoll
//! media loop per core that counts every packet from its clear RTP header and hands one in 20 to str0m; and
//! the worker process (`stoa bench-listeners`) that runs a share of them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stoa_client::{Api, MediaPeer, Session};

use super::measure::*;
use super::process::*;

/// One packet in this many is decrypted by a listener.
pub(crate) const SAMPLE: u32 = 20;

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
    fn sent(&self, payload: &[u8]) -> Option<u64> {
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
    let start_join = instant_at(plan.start_join_us);
    let (measure_from, measure_to) = (instant_at(plan.measure_from_us), instant_at(plan.measure_to_us));
    let measure_mid = plan.measure_mid_us.map(instant_at);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results: Arc<Mutex<Vec<ListenerResult>>> = Arc::new(Mutex::new(Vec::new()));
    let joined = Arc::new(AtomicU64::new(0));
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
        let (loop_results, loop_joined) = (results.clone(), joined.clone());
        handles.push(std::thread::spawn(move || {
            let r = media_loop(peers_rx, window, &loop_joined);
            loop_results.lock().unwrap().extend(r);
        }));
        let (room, results) = (plan.room.clone(), results.clone());
        let transports = stoa_client::Transports { red: plan.red, ..stoa_client::Transports::UDP };
        let (listeners, join_window, janus) = (plan.total, plan.join_window, plan.janus);
        handles.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            rt.block_on(async move {
                let http = reqwest::Client::new();
                let mut tasks = Vec::new();
                for (i, server, api) in mine {
                    let (room, results, peers_tx, http) =
                        (room.clone(), results.clone(), peers_tx.clone(), http.clone());
                    tasks.push(tokio::spawn(async move {
                        let delay = Duration::from_secs_f64(join_window * 0.8 * i as f64 / listeners as f64);
                        tokio::time::sleep_until(tokio::time::Instant::from_std(start_join + delay)).await;
                        let began = Instant::now();
                        let joined = if janus {
                            super::janus_api::join(&http, &api.base, &room)
                                .await
                                .map(|(peer, phases, session)| (Held::Janus(session), peer, phases))
                        } else {
                            match Session::join_with(&api, &room, 3, transports).await {
                                Ok(s) => {
                                    let phases = s.phases;
                                    s.into_media()
                                        .map(|(signaling, peer)| (Held::Room(Box::new(signaling)), peer, phases))
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
                                signaling.hold_until(measure_to).await;
                                signaling.leave().await;
                            }
                            Held::Janus(session) => {
                                tokio::time::sleep_until(tokio::time::Instant::from_std(measure_to)).await;
                                session.leave().await;
                            }
                        }
                    }));
                }
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

/// A listener whose room socket is open and whose media peer is handed to a media loop.
pub(crate) struct Joined {
    pub(crate) peer: MediaPeer,
    /// When it began to join (the WebSocket's start), for the join time.
    pub(crate) began: Instant,
    /// How long the signaling's steps took.
    pub(crate) phases: stoa_client::JoinPhases,
    /// Which server it joined through.
    pub(crate) server: usize,
}

/// The bench's clock and measuring window.
#[derive(Clone)]
pub(crate) struct Window {
    pub(crate) clock: Clock,
    pub(crate) epoch: Instant,
    /// The wall clock at `epoch`, to place the kernel's arrival timestamps on the bench's clock.
    pub(crate) epoch_wall: std::time::SystemTime,
    pub(crate) measure_from: Instant,
    /// With chat: where the window's second half begins.
    pub(crate) measure_mid: Option<Instant>,
    pub(crate) measure_to: Instant,
    /// With `--timeline`: the interval each timed packet is counted in.
    pub(crate) timeline: Option<Duration>,
}

pub(crate) struct Listener {
    pub(crate) peer: MediaPeer,
    pub(crate) began: Instant,
    pub(crate) count: stoa_client::RtpCount,
    pub(crate) seen: u32,
    pub(crate) timeout: Instant,
    /// Counts when the measuring window opened.
    pub(crate) base: Option<(u64, u64, u64)>,
    /// Counts at the window's middle, with chat.
    pub(crate) mid: Option<(u64, u64, u64)>,
    pub(crate) result: ListenerResult,
}

/// Drives the media of this core's listeners until the window closes: one epoll set over their sockets and
/// one timer heap, every RTP packet counted from its clear header where it lands, and only one in
/// [`SAMPLE`] (plus everything that is not RTP, and the peers' timeouts) handed to str0m. So a listener
/// costs the bench a receive and a header read per packet, which is less than the server spends sealing it.
pub(crate) fn media_loop(
    peers: std::sync::mpsc::Receiver<Joined>,
    window: Window,
    joined: &AtomicU64,
) -> Vec<ListenerResult> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::os::fd::AsRawFd;
    use str0m::net::{Protocol, Receive};
    use str0m::{Event, Input, Output};

    // SAFETY: epoll on descriptors owned by `listeners`, which outlive their registration; the event buffer
    // is valid for its length.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epoll < 0 {
        return Vec::new();
    }
    let mut listeners: Vec<Listener> = Vec::new();
    let mut timers: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut buf = vec![0u8; 2048];
    let mut open = true;
    let mut based = false;
    let mut mid_based = false;

    // Feeds one input (or none, for a timeout) to a listener's peer and drains it.
    fn drive(
        l: &mut Listener,
        index: usize,
        input: Option<(SocketAddr, &[u8])>,
        arrived_us: Option<f64>,
        window: &Window,
        timers: &mut BinaryHeap<Reverse<(Instant, usize)>>,
    ) {
        let now = Instant::now();
        let result = match input {
            Some((source, data)) => match data.try_into() {
                Ok(contents) => l.peer.rtc.handle_input(Input::Receive(
                    now,
                    Receive { proto: Protocol::Udp, source, destination: l.peer.local, contents },
                )),
                Err(_) => return,
            },
            None => l.peer.rtc.handle_input(Input::Timeout(now)),
        };
        if result.is_err() {
            return;
        }
        loop {
            match l.peer.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    if t != l.timeout {
                        l.timeout = t;
                        timers.push(Reverse((t, index)));
                    }
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    let _ = l.peer.socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::RtpPacket(packet))) => {
                    l.result.decrypted += 1;
                    // With RED, the speaker's frame is the primary block, after the previous packet's copy.
                    let payload: &[u8] = if *packet.header.payload_type == stoa_client::red::RED_PT {
                        stoa_client::red::decode(&packet.payload).map_or(&[], |red| red.primary)
                    } else {
                        &packet.payload
                    };
                    if l.base.is_some()
                        && now < window.measure_to
                        && let Some(sent) = window.clock.sent(payload)
                    {
                        // When the server's packet reached the listener's socket (the kernel's timestamp), so
                        // that the bench's own queueing is not counted as the server's latency.
                        let received =
                            arrived_us.unwrap_or_else(|| now.duration_since(window.epoch).as_micros() as f64);
                        let latency = (received - sent as f64) / 1000.0;
                        if window.measure_mid.is_some_and(|mid| now >= mid) {
                            l.result.latencies_ms_b.push(latency);
                        } else {
                            l.result.latencies_ms.push(latency);
                            if let Some(every) = window.timeline {
                                let at = now.saturating_duration_since(window.measure_from);
                                l.result.latency_interval.push((at.as_secs_f64() / every.as_secs_f64()) as u32);
                            }
                        }
                    }
                }
                Ok(Output::Event(Event::IceConnectionStateChange(
                    str0m::IceConnectionState::Connected | str0m::IceConnectionState::Completed,
                ))) => {
                    l.result.ice_ms.get_or_insert(now.duration_since(l.began).as_secs_f64() * 1000.0);
                }
                Ok(Output::Event(Event::Connected)) => {
                    l.result.connected_ms = Some(now.duration_since(l.began).as_secs_f64() * 1000.0);
                }
                Ok(Output::Event(_)) => {}
                Err(_) => {
                    l.timeout = now + Duration::from_secs(3600);
                    return;
                }
            }
        }
    }

    loop {
        let now = Instant::now();
        if now >= window.measure_to {
            break;
        }
        while open {
            match peers.try_recv() {
                Ok(Joined { peer, began, phases, server }) => {
                    let index = listeners.len();
                    let on: libc::c_int = 1;
                    // SAFETY: a valid socket and an int option.
                    unsafe {
                        libc::setsockopt(
                            peer.socket.as_raw_fd(),
                            libc::SOL_SOCKET,
                            libc::SO_TIMESTAMPNS,
                            &on as *const _ as *const libc::c_void,
                            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                        )
                    };
                    let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: index as u64 };
                    unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, peer.socket.as_raw_fd(), &mut event) };
                    listeners.push(Listener {
                        peer,
                        began,
                        count: Default::default(),
                        seen: 0,
                        timeout: now,
                        base: based.then_some((0, 0, 0)),
                        mid: None,
                        result: ListenerResult {
                            upgraded_ms: Some(phases.upgraded.as_secs_f64() * 1000.0),
                            welcomed_ms: Some(phases.welcomed.as_secs_f64() * 1000.0),
                            answered_ms: Some(phases.answered.as_secs_f64() * 1000.0),
                            server,
                            ..Default::default()
                        },
                    });
                    drive(&mut listeners[index], index, None, None, &window, &mut timers);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => open = false,
            }
        }
        if now >= window.measure_from && !based {
            based = true;
            for l in listeners.iter_mut() {
                l.base = Some((l.count.packets, l.count.bytes, l.count.lost));
            }
        }
        if window.measure_mid.is_some_and(|mid| now >= mid) && !mid_based {
            mid_based = true;
            for l in listeners.iter_mut() {
                l.mid = Some((l.count.packets, l.count.bytes, l.count.lost));
            }
        }
        let next_timer = timers.peek().map(|Reverse((t, _))| *t);
        let wake = [
            Some(window.measure_to),
            Some(window.measure_from).filter(|t| *t > now),
            window.measure_mid.filter(|t| *t > now),
            next_timer,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now);
        // Rounded up: a timer due in half a millisecond must not turn the loop into a spin.
        let mut wait_ms = wake.saturating_duration_since(now).as_micros().div_ceil(1000).min(20) as i32;
        if open {
            wait_ms = wait_ms.min(5);
        }
        let ready = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, wait_ms) };
        for event in events.iter().take(ready.max(0) as usize) {
            let index = event.u64 as usize;
            loop {
                let l = &mut listeners[index];
                let Some((n, source, stamp)) = recv_stamped(&l.peer.socket, &mut buf) else { break };
                let at = Instant::now();
                if stoa_client::is_rtp(&buf[..n]) {
                    l.count.count(&buf[..n], at);
                    if l.result.join_ms.is_none() {
                        l.result.join_ms = Some(at.duration_since(l.began).as_secs_f64() * 1000.0);
                        joined.fetch_add(1, Ordering::Relaxed);
                    }
                    l.seen += 1;
                    if !l.seen.is_multiple_of(SAMPLE) {
                        continue;
                    }
                }
                let arrived_us =
                    stamp.and_then(|t| t.duration_since(window.epoch_wall).ok()).map(|d| d.as_micros() as f64);
                drive(l, index, Some((source, &buf[..n])), arrived_us, &window, &mut timers);
            }
        }
        let now = Instant::now();
        while let Some(Reverse((t, index))) = timers.peek().copied() {
            if t > now {
                break;
            }
            timers.pop();
            if listeners[index].timeout == t {
                drive(&mut listeners[index], index, None, None, &window, &mut timers);
            }
        }
    }
    unsafe { libc::close(epoll) };
    listeners
        .into_iter()
        .map(|mut l| {
            let (packets, bytes, lost) = l.base.unwrap_or((l.count.packets, l.count.bytes, l.count.lost));
            l.result.packets = l.count.packets - packets;
            l.result.bytes = l.count.bytes - bytes;
            l.result.lost = l.count.lost - lost;
            if let Some((mid_packets, _, mid_lost)) = l.mid {
                // The first half is from the window's start (or the join) to the middle; the second after.
                let (mid_packets, mid_lost) = (mid_packets.max(packets), mid_lost.max(lost));
                l.result.packets_b = l.count.packets - mid_packets;
                l.result.lost_b = l.count.lost - mid_lost;
                l.result.packets = mid_packets - packets;
                l.result.lost = mid_lost - lost;
            }
            l.result
        })
        .collect()
}

/// One datagram from a non-blocking socket, with its sender and the kernel's arrival time (SO_TIMESTAMPNS),
/// or `None` when there is nothing to read.
pub(crate) fn recv_stamped(
    socket: &std::net::UdpSocket,
    buf: &mut [u8],
) -> Option<(usize, SocketAddr, Option<std::time::SystemTime>)> {
    use std::os::fd::AsRawFd;
    // SAFETY: every pointer in the message header points into locals that outlive the call, with their
    // true lengths; the control messages are read only within the length the kernel reports.
    unsafe {
        let mut name: libc::sockaddr_storage = std::mem::zeroed();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
        let mut control = [0u64; 8];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = &mut name as *mut _ as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&control);
        let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, 0);
        if n < 0 {
            return None;
        }
        let source = match name.ss_family as libc::c_int {
            libc::AF_INET => {
                let a = &*(&name as *const _ as *const libc::sockaddr_in);
                SocketAddr::from((std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)), u16::from_be(a.sin_port)))
            }
            libc::AF_INET6 => {
                let a = &*(&name as *const _ as *const libc::sockaddr_in6);
                SocketAddr::from((std::net::Ipv6Addr::from(a.sin6_addr.s6_addr), u16::from_be(a.sin6_port)))
            }
            _ => return None,
        };
        let mut stamp = None;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec);
                stamp = Some(std::time::UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        Some((n as usize, source, stamp))
    }
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
