//! A media loop of the bench: one per core, owning its share of the listeners' peers. One epoll set and one
//! timer heap; every RTP packet counted from its clear header where it lands, and only one in [`SAMPLE`]
//! (plus everything that is not RTP, and the peers' timeouts) handed to str0m. So a listener costs the bench
//! a receive and a header read per packet, which is less than the server spends sealing it.
//!
//! On loopback the loop's listeners share one socket ([`super::datagrams`]), read in batches; elsewhere
//! each listener has its own socket, read in batches too.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use stoa_client::MediaPeer;
use str0m::net::{Protocol, Receive};
use str0m::{Event, Input, Output, Rtc};

use super::datagrams::{self, Batch, Datagram};
use super::listeners::{Clock, ListenerResult};

/// One packet in this many is decrypted by a listener.
pub(crate) const SAMPLE: u32 = 20;

/// The epoll token of the shared socket; a listener's own socket's token is its index.
const SHARED: u64 = u64::MAX;

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

struct Listener {
    rtc: Rtc,
    /// Its address, as offered to the server.
    local: SocketAddr,
    /// Its own socket, or `None` when it is on the loop's shared socket.
    own: Option<UdpSocket>,
    began: Instant,
    timeout: Instant,
    /// Counts when the measuring window opened.
    base: Option<(u64, u64, u64)>,
    /// Counts at the window's middle, with chat.
    mid: Option<(u64, u64, u64)>,
    result: ListenerResult,
}

/// What a listener's every packet touches, kept apart from the rest so that counting a packet reads as
/// little memory as it can (the bench takes in about 100,000 a second, each for a listener whose state
/// is otherwise cold).
#[derive(Default)]
struct Hot {
    count: stoa_client::RtpCount,
    seen: u32,
    /// Whether a packet has arrived yet.
    heard: bool,
}

/// What a listener's peer is driven with: the loop's clock, timers, and shared socket.
struct Driver<'a> {
    window: &'a Window,
    joined: &'a AtomicU64,
    timers: &'a mut BinaryHeap<Reverse<(Instant, usize)>>,
    shared: Option<&'a UdpSocket>,
}

impl Driver<'_> {
    /// Feeds one input (or none, for a timeout) to a listener's peer and drains it.
    fn drive(&mut self, l: &mut Listener, index: usize, input: Option<(SocketAddr, &[u8])>, arrived_us: Option<f64>) {
        let now = Instant::now();
        let result = match input {
            Some((source, data)) => match data.try_into() {
                Ok(contents) => l.rtc.handle_input(Input::Receive(
                    now,
                    Receive { proto: Protocol::Udp, source, destination: l.local, contents },
                )),
                Err(_) => return,
            },
            None => l.rtc.handle_input(Input::Timeout(now)),
        };
        if result.is_err() {
            return;
        }
        loop {
            match l.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    if t != l.timeout {
                        l.timeout = t;
                        self.timers.push(Reverse((t, index)));
                    }
                    return;
                }
                Ok(Output::Transmit(t)) => match (&l.own, self.shared, l.local.ip()) {
                    (Some(own), _, _) => {
                        let _ = own.send_to(&t.contents, t.destination);
                    }
                    (None, Some(shared), IpAddr::V4(from)) => {
                        datagrams::send_from(shared, from, t.destination, &t.contents)
                    }
                    _ => {}
                },
                Ok(Output::Event(Event::RtpPacket(packet))) => {
                    l.result.decrypted += 1;
                    // With RED, the speaker's frame is the primary block, after the previous packet's copy.
                    let payload: &[u8] = if *packet.header.payload_type == stoa_client::red::RED_PT {
                        stoa_client::red::decode(&packet.payload).map_or(&[], |red| red.primary)
                    } else {
                        &packet.payload
                    };
                    self.time(l, now, payload, arrived_us);
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

    /// Records a decrypted packet's latency, within the window.
    fn time(&self, l: &mut Listener, now: Instant, payload: &[u8], arrived_us: Option<f64>) {
        let window = self.window;
        if l.base.is_none() || now >= window.measure_to {
            return;
        }
        let Some(sent) = window.clock.sent(payload) else { return };
        // When the server's packet reached the listener's socket (the kernel's timestamp), so that the
        // bench's own queueing is not counted as the server's latency.
        let received = arrived_us.unwrap_or_else(|| now.duration_since(window.epoch).as_micros() as f64);
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

    /// Takes one datagram for a listener: counts it if it is RTP, and hands it to str0m if it is not, or
    /// if it is the one in [`SAMPLE`] to decrypt.
    fn take(&mut self, hot: &mut Hot, l: &mut Listener, index: usize, d: &Datagram<'_>, at: Instant) {
        if stoa_client::is_rtp(d.data) {
            hot.count.count(d.data, at);
            hot.seen += 1;
            if !hot.heard {
                hot.heard = true;
                l.result.join_ms = Some(at.duration_since(l.began).as_secs_f64() * 1000.0);
                self.joined.fetch_add(1, Ordering::Relaxed);
            }
            if !hot.seen.is_multiple_of(SAMPLE) {
                return;
            }
        }
        let arrived_us =
            d.stamp.and_then(|t| t.duration_since(self.window.epoch_wall).ok()).map(|d| d.as_micros() as f64);
        self.drive(l, index, Some((d.source, d.data)), arrived_us);
    }
}

/// One media loop's state.
pub(crate) struct MediaLoop<'a> {
    epoll: libc::c_int,
    window: Window,
    shared: Option<UdpSocket>,
    listeners: Vec<Listener>,
    hot: Vec<Hot>,
    /// Which listener is on each listener address of the shared socket (by place; `usize::MAX` for none).
    by_place: Vec<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    batch: Batch,
    based: bool,
    mid_based: bool,
    joined: &'a AtomicU64,
}

impl<'a> MediaLoop<'a> {
    /// A loop over `shared` (the socket its listeners' addresses share, bound to the wildcard address), or
    /// over each listener's own socket.
    pub(crate) fn new(window: Window, shared: Option<UdpSocket>, joined: &'a AtomicU64) -> std::io::Result<Self> {
        // SAFETY: a new epoll descriptor, closed on drop.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut this = MediaLoop {
            epoll,
            window,
            shared: None,
            listeners: Vec::new(),
            hot: Vec::new(),
            by_place: Vec::new(),
            timers: BinaryHeap::new(),
            batch: Batch::new(),
            based: false,
            mid_based: false,
            joined,
        };
        if let Some(shared) = shared {
            datagrams::stamp_arrivals(&shared, true)?;
            // Room for several fan-out bursts to every listener of the loop while it is busy.
            stoa_media::set_socket_buffers(&shared, 32 << 20);
            this.watch(&shared, SHARED);
            this.shared = Some(shared);
        }
        Ok(this)
    }

    fn watch(&self, socket: &UdpSocket, token: u64) {
        let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: token };
        // SAFETY: a live epoll descriptor and socket; the socket outlives its registration.
        unsafe { libc::epoll_ctl(self.epoll, libc::EPOLL_CTL_ADD, socket.as_raw_fd(), &mut event) };
    }

    fn driver(&mut self) -> (Driver<'_>, &mut Vec<Listener>) {
        let driver = Driver {
            window: &self.window,
            joined: self.joined,
            timers: &mut self.timers,
            shared: self.shared.as_ref(),
        };
        (driver, &mut self.listeners)
    }

    /// Takes a newly joined listener. On the shared socket, what its own socket already holds is read and
    /// the socket closed, so that its address's packets reach the shared socket from then on.
    fn admit(&mut self, Joined { peer, began, phases, server }: Joined, now: Instant) {
        let index = self.listeners.len();
        let place = match peer.local.ip() {
            IpAddr::V4(ip) => datagrams::listener_place(ip),
            IpAddr::V6(_) => None,
        };
        let shared = self.shared.is_some() && place.is_some();
        if let Some(place) = place.filter(|_| shared) {
            if self.by_place.len() <= place {
                self.by_place.resize(place + 1, usize::MAX);
            }
            self.by_place[place] = index;
        } else {
            let _ = datagrams::stamp_arrivals(&peer.socket, false);
            self.watch(&peer.socket, index as u64);
        }
        self.hot.push(Hot::default());
        self.listeners.push(Listener {
            rtc: peer.rtc,
            local: peer.local,
            own: Some(peer.socket),
            began,
            timeout: now,
            base: self.based.then_some((0, 0, 0)),
            mid: None,
            result: ListenerResult {
                upgraded_ms: Some(phases.upgraded.as_secs_f64() * 1000.0),
                welcomed_ms: Some(phases.welcomed.as_secs_f64() * 1000.0),
                answered_ms: Some(phases.answered.as_secs_f64() * 1000.0),
                server,
                ..Default::default()
            },
        });
        if shared {
            self.read_own(index);
            self.listeners[index].own = None;
        }
        let (mut driver, listeners) = self.driver();
        driver.drive(&mut listeners[index], index, None, None);
    }

    /// Reads everything listener `index`'s own socket holds.
    fn read_own(&mut self, index: usize) {
        loop {
            let Some(own) = self.listeners[index].own.as_ref() else { return };
            let n = self.batch.recv(own);
            let at = Instant::now();
            let mut driver = Driver {
                window: &self.window,
                joined: self.joined,
                timers: &mut self.timers,
                shared: self.shared.as_ref(),
            };
            for k in 0..n {
                if let Some(d) = self.batch.get(k) {
                    driver.take(&mut self.hot[index], &mut self.listeners[index], index, &d, at);
                }
            }
            if n < datagrams::BATCH {
                return;
            }
        }
    }

    /// Reads everything the shared socket holds, each datagram for the listener on its destination.
    fn read_shared(&mut self) {
        let Some(shared) = self.shared.as_ref() else { return };
        loop {
            let n = self.batch.recv(shared);
            let at = Instant::now();
            let mut driver =
                Driver { window: &self.window, joined: self.joined, timers: &mut self.timers, shared: Some(shared) };
            for k in 0..n {
                let Some(d) = self.batch.get(k) else { continue };
                let Some(index) = d
                    .destination
                    .and_then(datagrams::listener_place)
                    .and_then(|p| self.by_place.get(p).copied())
                    .filter(|i| *i != usize::MAX)
                else {
                    continue;
                };
                driver.take(&mut self.hot[index], &mut self.listeners[index], index, &d, at);
            }
            if n < datagrams::BATCH {
                break;
            }
        }
    }

    /// Marks the counts where the window (and its second half) opens.
    fn mark(&mut self, now: Instant) {
        if now >= self.window.measure_from && !self.based {
            self.based = true;
            for (l, h) in self.listeners.iter_mut().zip(&self.hot) {
                l.base = Some((h.count.packets, h.count.bytes, h.count.lost));
            }
        }
        if self.window.measure_mid.is_some_and(|mid| now >= mid) && !self.mid_based {
            self.mid_based = true;
            for (l, h) in self.listeners.iter_mut().zip(&self.hot) {
                l.mid = Some((h.count.packets, h.count.bytes, h.count.lost));
            }
        }
    }

    /// How long to wait for packets: until the next timer or mark, at most `cap_ms`.
    fn wait_ms(&self, now: Instant, cap_ms: i32) -> i32 {
        let window = &self.window;
        let next_timer = self.timers.peek().map(|Reverse((t, _))| *t);
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
        (wake.saturating_duration_since(now).as_micros().div_ceil(1000) as i32).min(cap_ms)
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((t, index))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            if self.listeners[index].timeout == t {
                let (mut driver, listeners) = self.driver();
                driver.drive(&mut listeners[index], index, None, None);
            }
        }
    }

    /// Drives the loop's listeners, taking new ones from `peers`, until the window closes; returns their
    /// results.
    pub(crate) fn run(mut self, peers: std::sync::mpsc::Receiver<Joined>) -> Vec<ListenerResult> {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        let mut open = true;
        loop {
            let now = Instant::now();
            if now >= self.window.measure_to {
                break;
            }
            while open {
                match peers.try_recv() {
                    Ok(joined) => self.admit(joined, now),
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => open = false,
                }
            }
            self.mark(now);
            let wait_ms = self.wait_ms(now, if open { 5 } else { 20 });
            // SAFETY: a live epoll descriptor and an event buffer valid for its length.
            let ready = unsafe { libc::epoll_wait(self.epoll, events.as_mut_ptr(), events.len() as i32, wait_ms) };
            for event in events.iter().take(ready.max(0) as usize) {
                match event.u64 {
                    SHARED => self.read_shared(),
                    index => self.read_own(index as usize),
                }
            }
            self.fire_timers();
        }
        let hot = std::mem::take(&mut self.hot);
        std::mem::take(&mut self.listeners).into_iter().zip(hot).map(|(l, h)| l.finish(&h.count)).collect()
    }
}

impl Drop for MediaLoop<'_> {
    fn drop(&mut self) {
        // SAFETY: the loop's own epoll descriptor, closed once.
        unsafe { libc::close(self.epoll) };
    }
}

impl Listener {
    /// Its result: the counts within the window (and its halves, with chat).
    fn finish(mut self, count: &stoa_client::RtpCount) -> ListenerResult {
        let (packets, bytes, lost) = self.base.unwrap_or((count.packets, count.bytes, count.lost));
        let r = &mut self.result;
        r.packets = count.packets - packets;
        r.bytes = count.bytes - bytes;
        r.lost = count.lost - lost;
        if let Some((mid_packets, _, mid_lost)) = self.mid {
            // The first half is from the window's start (or the join) to the middle; the second after.
            let (mid_packets, mid_lost) = (mid_packets.max(packets), mid_lost.max(lost));
            r.packets_b = count.packets - mid_packets;
            r.lost_b = count.lost - mid_lost;
            r.packets = mid_packets - packets;
            r.lost = mid_lost - lost;
        }
        self.result
    }
}
