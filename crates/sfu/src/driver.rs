//! The SFU driver: owns the UDP socket and the timers, and drives one `str0m::Rtc` per peer.
//!
//! Unlike str0m's `chat.rs` example, which is explicitly not built for load:
//! - the peer for a datagram is found by hash map, by source address first and, for a new address, by the
//!   ICE ufrag in its STUN request; never by scanning peers;
//! - only peers with input or a due timer are driven, from a timer heap;
//! - datagrams are sent in batches with `sendmmsg`;
//! - listeners' downlinks run without TWCC or bandwidth estimation, and per-peer state is small.
//!
//! The driver runs on its own thread with a single-threaded tokio runtime, and takes [`Command`]s from the
//! control plane over a channel.

use crate::net::{send_batch, stun_local_ufrag};
use crate::slots::{SlotConfig, SlotMapper};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::rtp::{Extension, ExtensionMap, ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// A room, as the SFU knows it: an opaque key chosen by the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoomKey(pub u64);

/// A peer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// The SFU's settings.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The UDP address media is received on.
    pub udp: SocketAddr,
    /// The IP address advertised to clients in the ICE candidate; the bound IP when absent.
    pub public_ip: Option<IpAddr>,
    /// Slot assignment.
    pub slots: SlotConfig,
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig { udp: SocketAddr::from(([127, 0, 0, 1], 7882)), public_ip: None, slots: SlotConfig::default() }
    }
}

/// What the SFU tells a room.
#[derive(Debug, Clone, PartialEq)]
pub enum SfuEvent {
    /// The answer to a peer's offer.
    Answer {
        /// Which peer.
        peer: PeerId,
        /// The SDP answer.
        sdp: String,
    },
    /// A peer's offer or media was refused; the peer is gone.
    Rejected {
        /// Which peer.
        peer: PeerId,
        /// A `snake_case` code: `invalid_sdp`, `no_opus`, `connection_failed`.
        code: &'static str,
        /// A sentence for the user.
        message: String,
    },
    /// ICE and DTLS completed: media flows.
    Connected {
        /// Which peer.
        peer: PeerId,
    },
    /// Who holds each slot changed. Each entry is a publisher's user key, as given at [`Sfu::offer`].
    Slots {
        /// The holders, one per slot.
        holders: Vec<Option<u64>>,
    },
}

/// What the control plane asks of the SFU.
#[derive(Debug)]
enum Command {
    OpenRoom { room: RoomKey, events: mpsc::Sender<SfuEvent> },
    CloseRoom { room: RoomKey },
    Offer { room: RoomKey, peer: PeerId, user: u64, sdp: String, publish: bool },
    SetPublish { peer: PeerId, publish: bool },
    ClosePeer { peer: PeerId },
}

/// A handle to the running SFU. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sfu {
    commands: mpsc::UnboundedSender<Command>,
    next_peer: Arc<AtomicU64>,
    peers: Arc<std::sync::atomic::AtomicUsize>,
    local_addr: SocketAddr,
}

impl Sfu {
    /// Binds the UDP socket and starts the SFU on a thread of its own.
    pub fn start(config: SfuConfig) -> std::io::Result<Sfu> {
        let std_socket = std::net::UdpSocket::bind(config.udp)?;
        std_socket.set_nonblocking(true)?;
        crate::net::set_buffers(&std_socket, crate::net::SOCKET_BUFFER);
        let local_addr = std_socket.local_addr()?;
        let (commands, rx) = mpsc::unbounded_channel();
        let peers = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let gauge = peers.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new().name("stoa-sfu".into()).spawn(move || {
            runtime.block_on(async move {
                let socket = match UdpSocket::from_std(std_socket) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "the SFU could not use its socket");
                        return;
                    }
                };
                let advertised = SocketAddr::new(config.public_ip.unwrap_or(local_addr.ip()), local_addr.port());
                Shard::new(socket, advertised, config.slots, gauge).run(rx).await;
            })
        })?;
        tracing::info!(%local_addr, "media (UDP) listening");
        Ok(Sfu { commands, next_peer: Arc::new(AtomicU64::new(1)), peers, local_addr })
    }

    /// The UDP address the SFU is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many peers (media connections) the SFU holds.
    pub fn peer_count(&self) -> usize {
        self.peers.load(Ordering::Relaxed)
    }

    /// A fresh peer ID.
    pub fn new_peer_id(&self) -> PeerId {
        PeerId(self.next_peer.fetch_add(1, Ordering::Relaxed))
    }

    /// Opens a room; its events go to `events`.
    pub fn open_room(&self, room: RoomKey, events: mpsc::Sender<SfuEvent>) {
        let _ = self.commands.send(Command::OpenRoom { room, events });
    }

    /// Closes a room and every peer in it.
    pub fn close_room(&self, room: RoomKey) {
        let _ = self.commands.send(Command::CloseRoom { room });
    }

    /// A client's SDP offer, for a new peer in `room`. `user` identifies the publisher in slot events and
    /// in the CSRC of forwarded packets. The answer comes back as [`SfuEvent::Answer`].
    pub fn offer(&self, room: RoomKey, peer: PeerId, user: u64, sdp: String, publish: bool) {
        let _ = self.commands.send(Command::Offer { room, peer, user, sdp, publish });
    }

    /// Whether a peer's packets may be forwarded (an unmuted speaker).
    pub fn set_publish(&self, peer: PeerId, publish: bool) {
        let _ = self.commands.send(Command::SetPublish { peer, publish });
    }

    /// Closes a peer: no more packets to or from it.
    pub fn close_peer(&self, peer: PeerId) {
        let _ = self.commands.send(Command::ClosePeer { peer });
    }
}

/// The RTP header extension IDs Stoa negotiates. Only the audio level: no transport-wide sequence numbers,
/// since listeners' downlinks run without bandwidth estimation.
fn extensions() -> ExtensionMap {
    let mut map = ExtensionMap::empty();
    map.set(1, Extension::AudioLevel);
    map
}

struct Peer {
    room: RoomKey,
    user: u64,
    rtc: Rtc,
    publish: bool,
    /// The mids the client receives on, one per slot, in offer order.
    slot_mids: Vec<Mid>,
    /// The Opus payload type the client chose.
    pt: Option<Pt>,
    ufrag: String,
    addrs: Vec<SocketAddr>,
    /// The deadline the timer heap holds for this peer, if any.
    scheduled: Option<Instant>,
    /// The deadline str0m last asked for.
    timeout: Instant,
}

struct RoomMedia {
    peers: Vec<PeerId>,
    mapper: SlotMapper,
    events: mpsc::Sender<SfuEvent>,
}

/// A packet to fan out once the publisher's `Rtc` is drained.
struct Pending {
    from: PeerId,
    seq: u64,
    timestamp: u32,
    level: Option<i8>,
    voice: Option<bool>,
    payload: Arc<[u8]>,
}

struct Shard {
    socket: UdpSocket,
    advertised: SocketAddr,
    slot_config: SlotConfig,
    peers: HashMap<PeerId, Peer>,
    by_addr: HashMap<SocketAddr, PeerId>,
    by_ufrag: HashMap<String, PeerId>,
    rooms: HashMap<RoomKey, RoomMedia>,
    timers: BinaryHeap<Reverse<(Instant, PeerId)>>,
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    pending: Vec<Pending>,
    refused: u64,
    refused_logged_at: Instant,
    gauge: Arc<std::sync::atomic::AtomicUsize>,
}

/// How many datagrams to read before flushing sends and looking at commands and timers again.
const READ_BATCH: usize = 256;

impl Shard {
    fn new(
        socket: UdpSocket,
        advertised: SocketAddr,
        slot_config: SlotConfig,
        gauge: Arc<std::sync::atomic::AtomicUsize>,
    ) -> Shard {
        Shard {
            socket,
            advertised,
            slot_config,
            peers: HashMap::new(),
            by_addr: HashMap::new(),
            by_ufrag: HashMap::new(),
            rooms: HashMap::new(),
            timers: BinaryHeap::new(),
            outbox: Vec::new(),
            pending: Vec::new(),
            refused: 0,
            refused_logged_at: Instant::now(),
            gauge,
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut buf = vec![0u8; 2048];
        loop {
            let next_timer = self.timers.peek().map(|Reverse((t, _))| *t);
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(c) => self.command(c),
                    None => return,
                },
                ready = self.socket.readable() => {
                    if ready.is_ok() {
                        self.read_ready(&mut buf);
                    }
                }
                _ = sleep_until(next_timer), if next_timer.is_some() => {}
            }
            self.fire_timers(Instant::now());
            self.flush().await;
        }
    }

    fn read_ready(&mut self, buf: &mut [u8]) {
        for _ in 0..READ_BATCH {
            match self.socket.try_recv_from(buf) {
                Ok((n, source)) => self.datagram(Instant::now(), source, &buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    // ICMP errors for an earlier send surface here on Linux; they concern one peer, not us.
                    tracing::debug!(error = %e, "UDP receive error");
                }
            }
        }
    }

    fn refuse(&mut self, now: Instant, source: SocketAddr, why: &str) {
        self.refused += 1;
        tracing::debug!(%source, why, "refused a datagram");
        if now.duration_since(self.refused_logged_at) >= Duration::from_secs(10) {
            tracing::warn!(count = self.refused, "refused datagrams from unknown or invalid sources in the last 10 s");
            self.refused = 0;
            self.refused_logged_at = now;
        }
    }

    fn datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        let Ok(contents) = DatagramRecv::try_from(data) else {
            return self.refuse(now, source, "not STUN, DTLS, RTP or RTCP");
        };
        let input =
            Input::Receive(now, Receive { proto: Protocol::Udp, source, destination: self.advertised, contents });
        let peer_id = match self.by_addr.get(&source) {
            Some(p) => *p,
            None => {
                let Some(peer) = stun_local_ufrag(data).and_then(|u| self.by_ufrag.get(u)).copied() else {
                    return self.refuse(now, source, "unknown source");
                };
                peer
            }
        };
        let Some(peer) = self.peers.get_mut(&peer_id) else { return };
        if !peer.rtc.accepts(&input) {
            return self.refuse(now, source, "not accepted by the peer (wrong credentials)");
        }
        if let Err(e) = peer.rtc.handle_input(input) {
            tracing::debug!(peer = peer_id.0, error = %e, "peer refused input");
        }
        if let std::collections::hash_map::Entry::Vacant(entry) = self.by_addr.entry(source) {
            entry.insert(peer_id);
            peer.addrs.push(source);
        }
        self.drain(now, peer_id);
        self.fan_out(now);
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((t, peer_id))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(peer) = self.peers.get_mut(&peer_id) else { continue };
            if peer.scheduled != Some(t) {
                continue;
            }
            peer.scheduled = None;
            if peer.timeout <= now {
                if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                    tracing::debug!(peer = peer_id.0, error = %e, "timeout input failed");
                }
                self.drain(now, peer_id);
            } else {
                self.schedule(peer_id);
            }
        }
        self.fan_out(now);
    }

    fn schedule(&mut self, peer_id: PeerId) {
        let Some(peer) = self.peers.get_mut(&peer_id) else { return };
        if peer.scheduled.is_none_or(|s| peer.timeout < s) {
            peer.scheduled = Some(peer.timeout);
            self.timers.push(Reverse((peer.timeout, peer_id)));
        }
    }

    /// Drains one peer's output to its next timeout (str0m's single-mutation invariant), queueing its
    /// datagrams and collecting the packets it received for fan-out.
    fn drain(&mut self, now: Instant, peer_id: PeerId) {
        let mut closed: Option<(&'static str, String)> = None;
        let mut connected = false;
        {
            let Some(peer) = self.peers.get_mut(&peer_id) else { return };
            loop {
                match peer.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => {
                        peer.timeout = t;
                        break;
                    }
                    Ok(Output::Transmit(t)) => self.outbox.push((t.destination, t.contents.into())),
                    Ok(Output::Event(event)) => match event {
                        // The stage, enforced here: nothing from a peer that may not publish is forwarded.
                        Event::RtpPacket(packet) if peer.publish => {
                            self.pending.push(Pending {
                                from: peer_id,
                                seq: *packet.seq_no,
                                timestamp: packet.header.timestamp,
                                level: packet.header.ext_vals.audio_level,
                                voice: packet.header.ext_vals.voice_activity,
                                payload: packet.payload,
                            });
                        }
                        Event::Connected => connected = true,
                        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                            closed = Some(("connection_failed", "The media connection was lost.".into()));
                        }
                        _ => {}
                    },
                    Err(e) => {
                        tracing::info!(peer = peer_id.0, error = %e, "peer failed");
                        closed = Some(("connection_failed", format!("The media connection failed: {e}.")));
                        break;
                    }
                }
            }
            if !peer.rtc.is_alive() && closed.is_none() {
                closed = Some(("connection_failed", "The media connection closed.".into()));
            }
        }
        if connected {
            self.emit(peer_id, |peer| SfuEvent::Connected { peer });
        }
        match closed {
            Some((code, message)) => {
                self.emit(peer_id, |peer| SfuEvent::Rejected { peer, code, message });
                self.remove_peer(peer_id);
            }
            None => self.schedule(peer_id),
        }
        let _ = now;
    }

    fn emit(&self, peer_id: PeerId, event: impl FnOnce(PeerId) -> SfuEvent) {
        let Some(peer) = self.peers.get(&peer_id) else { return };
        if let Some(room) = self.rooms.get(&peer.room)
            && room.events.try_send(event(peer_id)).is_err()
        {
            tracing::debug!(peer = peer_id.0, "room event queue full; event dropped");
        }
    }

    /// Forwards the packets publishers sent: each goes through the room's slot mapper once, then to every
    /// other connected peer of the room, in the slot the mapper chose.
    fn fan_out(&mut self, now: Instant) {
        for p in std::mem::take(&mut self.pending) {
            let Some(from) = self.peers.get(&p.from) else { continue };
            let (room_key, user) = (from.room, from.user);
            let Some(room) = self.rooms.get_mut(&room_key) else { continue };
            let forward = room.mapper.packet(now, user, p.seq, p.timestamp, p.level);
            if let Some(holders) = room.mapper.take_change() {
                let _ = room.events.try_send(SfuEvent::Slots { holders });
            }
            let Some(forward) = forward else { continue };
            let ext = ExtensionValues { audio_level: p.level, voice_activity: p.voice, ..Default::default() };
            let listeners = room.peers.clone();
            for listener in listeners {
                if listener == p.from {
                    continue;
                }
                let Some(peer) = self.peers.get_mut(&listener) else { continue };
                if !peer.rtc.is_connected() {
                    continue;
                }
                let (Some(&mid), Some(pt)) = (peer.slot_mids.get(forward.slot), peer.pt) else { continue };
                let mut api = peer.rtc.direct_api();
                let Some(stream) = api.stream_tx_by_mid(mid, None) else { continue };
                // The CSRC names the speaker (their user key), so a browser can tell who is speaking in each
                // slot from getContributingSources(), with no message per listener.
                let write = RtpWrite::new(pt, forward.seq.into(), forward.timestamp, now, p.payload.clone())
                    .ext_vals(ext.clone())
                    .csrc(&[user as u32]);
                stream.write_rtp(write);
                self.drain(now, listener);
            }
        }
    }

    async fn flush(&mut self) {
        let mut start = 0;
        while start < self.outbox.len() {
            match send_batch(&self.socket, &self.outbox[start..]) {
                Ok(n) if n > 0 => start += n,
                _ => {
                    if self.socket.writable().await.is_err() {
                        break;
                    }
                }
            }
        }
        self.outbox.clear();
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::OpenRoom { room, events } => {
                self.rooms.insert(
                    room,
                    RoomMedia { peers: Vec::new(), mapper: SlotMapper::new(self.slot_config.clone()), events },
                );
            }
            Command::CloseRoom { room } => {
                if let Some(media) = self.rooms.remove(&room) {
                    for peer in media.peers {
                        self.remove_peer(peer);
                    }
                }
            }
            Command::Offer { room, peer, user, sdp, publish } => self.offer(now, room, peer, user, &sdp, publish),
            Command::SetPublish { peer, publish } => {
                let Some(p) = self.peers.get_mut(&peer) else { return };
                p.publish = publish;
                if !publish {
                    let (room, user) = (p.room, p.user);
                    if let Some(media) = self.rooms.get_mut(&room) {
                        // A demoted or muted speaker's slot frees at once, rather than after its idle time.
                        media.mapper.remove_source(user);
                        if let Some(holders) = media.mapper.take_change() {
                            let _ = media.events.try_send(SfuEvent::Slots { holders });
                        }
                    }
                }
            }
            Command::ClosePeer { peer } => self.remove_peer(peer),
        }
    }

    fn offer(&mut self, now: Instant, room: RoomKey, peer_id: PeerId, user: u64, sdp: &str, publish: bool) {
        let Some(media) = self.rooms.get(&room) else { return };
        let reject = |code: &'static str, message: String| {
            let _ = media.events.try_send(SfuEvent::Rejected { peer: peer_id, code, message });
        };
        let offer = match SdpOffer::from_sdp_string(sdp) {
            Ok(o) => o,
            Err(e) => return reject("invalid_sdp", format!("The offer is not valid SDP: {e}.")),
        };
        let ufrag = random_token(16);
        let rtc_config = RtcConfig::new()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .set_extension_map(extensions())
            .set_local_ice_credentials(IceCreds { ufrag: ufrag.clone(), pass: random_token(24) });
        let mut rtc = rtc_config.build(now);
        match Candidate::host(self.advertised, "udp") {
            Ok(c) => {
                rtc.add_local_candidate(c);
            }
            Err(e) => return reject("internal", format!("The server cannot offer a candidate: {e}.")),
        }
        let answer = match rtc.sdp_api().accept_offer(offer) {
            Ok(a) => a,
            Err(e) => return reject("invalid_sdp", format!("The offer cannot be accepted: {e}.")),
        };
        let mut peer = Peer {
            room,
            user,
            rtc,
            publish,
            slot_mids: Vec::new(),
            pt: None,
            ufrag: ufrag.clone(),
            addrs: Vec::new(),
            scheduled: None,
            timeout: now,
        };
        // The negotiated media, in offer order (str0m emits no MediaAdded for an answerer): what the client
        // receives on are the slots; Opus must be there.
        let sdp = answer.to_sdp_string();
        for mid in sdp.lines().filter_map(|l| l.strip_prefix("a=mid:")).map(|m| Mid::from(m.trim())) {
            let Some(media) = peer.rtc.media(mid) else { continue };
            if media.kind() != MediaKind::Audio {
                continue;
            }
            if peer.pt.is_none() {
                peer.pt = media.remote_pts().first().copied();
            }
            if media.direction() == Direction::SendOnly && peer.slot_mids.len() < self.slot_config.slots {
                peer.slot_mids.push(mid);
            }
        }
        loop {
            match peer.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    peer.timeout = t;
                    break;
                }
                Ok(Output::Transmit(t)) => self.outbox.push((t.destination, t.contents.into())),
                Ok(_) => {}
                Err(e) => return reject("invalid_sdp", format!("The offer cannot be used: {e}.")),
            }
        }
        if peer.pt.is_none() {
            return reject("no_opus", "The offer has no Opus audio; Stoa carries Opus only.".into());
        }
        self.by_ufrag.insert(ufrag, peer_id);
        self.peers.insert(peer_id, peer);
        self.gauge.store(self.peers.len(), Ordering::Relaxed);
        if let Some(media) = self.rooms.get_mut(&room) {
            media.peers.push(peer_id);
            let _ = media.events.try_send(SfuEvent::Answer { peer: peer_id, sdp });
        }
        self.schedule(peer_id);
    }

    fn remove_peer(&mut self, peer_id: PeerId) {
        let Some(mut peer) = self.peers.remove(&peer_id) else { return };
        self.gauge.store(self.peers.len(), Ordering::Relaxed);
        peer.rtc.disconnect();
        self.by_ufrag.remove(&peer.ufrag);
        for addr in &peer.addrs {
            self.by_addr.remove(addr);
        }
        if let Some(media) = self.rooms.get_mut(&peer.room) {
            media.peers.retain(|p| *p != peer_id);
            if !media.peers.iter().any(|p| self.peers.get(p).is_some_and(|o| o.user == peer.user)) {
                media.mapper.remove_source(peer.user);
                if let Some(holders) = media.mapper.take_change() {
                    let _ = media.events.try_send(SfuEvent::Slots { holders });
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// A random token of `len` characters for ICE credentials.
fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}
