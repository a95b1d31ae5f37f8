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

use crate::downlink::{FastOut, Indexes, Outgoing};
use crate::net::{Outbox, stun_is_success, stun_local_ufrag, stun_nominates, stun_username};
use crate::repacket::Aggregator;
use crate::slots::{Forward, SlotConfig, SlotMapper, SourceId};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::crypto::dtls::DtlsCert;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::rtp::{Extension, ExtensionMap, ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};
use tokio::io::Interest;
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
    /// The UDP address media is received on. Shard `i` binds the port `i` after it (each its own free port
    /// when the port is 0).
    pub udp: SocketAddr,
    /// How many shards (threads, each with its own socket). One per core by default.
    pub shards: usize,
    /// Where ICE-TCP listens (RFC 6544 passive candidates); off when absent. One port serves every shard.
    pub tcp: Option<SocketAddr>,
    /// The IP addresses advertised to clients in the ICE candidates (for a server behind 1:1 NAT, or with
    /// several public addresses); the bound IP when empty.
    pub public_ips: Vec<IpAddr>,
    /// The TURN servers' addresses, so that a peer whose media comes through one is counted as relayed.
    pub turn_ips: Vec<IpAddr>,
    /// Slot assignment.
    pub slots: SlotConfig,
    /// Where every peer's slot streams start their sequence numbers (and SRTP indexes); random when absent.
    /// For tests of the 16-bit wrap: a stream set to start at 65,530 wraps within its first packets.
    pub first_seq: Option<u16>,
    /// For tests of fault isolation only: a STUN binding request whose USERNAME is `OURS:stoa-panic-peer`
    /// panics inside that peer's guard, and `OURS:stoa-panic-shard` panics the shard itself.
    #[doc(hidden)]
    pub fault_injection: bool,
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig {
            udp: SocketAddr::from(([127, 0, 0, 1], 7882)),
            shards: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tcp: None,
            public_ips: Vec::new(),
            turn_ips: Vec::new(),
            slots: SlotConfig::default(),
            first_seq: None,
            fault_injection: false,
        }
    }
}

/// Whether a peer's packets are forwarded: the stage, as the control plane decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forwarding {
    /// An unmuted speaker: their packets are forwarded, and they hear the stage's 20 ms stream.
    On,
    /// Anyone else: their packets are dropped, and they hear the audience's stream.
    Off,
}

impl From<bool> for Forwarding {
    fn from(on: bool) -> Forwarding {
        if on { Forwarding::On } else { Forwarding::Off }
    }
}

/// Why the SFU refused or closed a peer. The peer is gone; its client may offer again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The offer is not SDP the SFU can answer.
    #[error("invalid_sdp")]
    InvalidSdp,
    /// The offer has no Opus audio.
    #[error("no_opus")]
    NoOpus,
    /// ICE or DTLS failed, or the connection was lost.
    #[error("connection_failed")]
    ConnectionFailed,
    /// The media plane failed for this peer (a panic in its WebRTC stack, or a shard restart).
    #[error("internal")]
    Internal,
}

impl PeerError {
    /// The stable `snake_case` code clients see.
    pub fn code(self) -> &'static str {
        match self {
            PeerError::InvalidSdp => "invalid_sdp",
            PeerError::NoOpus => "no_opus",
            PeerError::ConnectionFailed => "connection_failed",
            PeerError::Internal => "internal",
        }
    }
}

/// Why the SFU could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SfuError {
    /// A shard's UDP socket could not be bound or set up.
    #[error("cannot use UDP {addr}: {source}")]
    Socket {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The ICE-TCP listener could not be bound or started.
    #[error("cannot use TCP {addr} for media: {source}")]
    Tcp {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A shard's thread or runtime could not be started.
    #[error("cannot start a media shard: {0}")]
    Shard(std::io::Error),
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
        /// Why.
        error: PeerError,
        /// A sentence for the user.
        message: String,
    },
    /// ICE and DTLS completed: media flows.
    Connected {
        /// Which peer.
        peer: PeerId,
    },
    /// Who holds each slot changed. Each entry is a publisher's source, as given at [`Sfu::offer`].
    Slots {
        /// The holders, one per slot.
        holders: Vec<Option<SourceId>>,
    },
}

/// What the control plane asks of the SFU.
#[derive(Debug)]
enum Command {
    OpenRoom {
        room: RoomKey,
        events: mpsc::Sender<SfuEvent>,
    },
    CloseRoom {
        room: RoomKey,
    },
    AudienceFrames {
        room: RoomKey,
        frames: usize,
    },
    Offer {
        room: RoomKey,
        peer: PeerId,
        source: SourceId,
        sdp: String,
        forwarding: Forwarding,
    },
    SetForwarding {
        peer: PeerId,
        forwarding: Forwarding,
    },
    ClosePeer {
        peer: PeerId,
    },
    /// An ICE-TCP connection whose first request named one of this shard's peers.
    Tcp(crate::tcp::Accepted),
    /// A packet made by the server (the room's mix), published in `room` as if a peer had sent it.
    Inject {
        room: RoomKey,
        packet: Tapped,
        level: Option<i8>,
    },
    /// A packet another SFU already placed in `slot` (the origin of a cluster's room), delivered as it is
    /// to every peer of this mirror room.
    Relay {
        room: RoomKey,
        slot: usize,
        packet: Tapped,
        level: Option<i8>,
    },
    /// Where the room's heard packets are copied for its mix, or none.
    Tap {
        room: RoomKey,
        tap: Option<Tap>,
    },
    /// Where a mirror room's publishers' packets go (up to the origin), instead of its own slots.
    Uplink {
        room: RoomKey,
        uplink: Option<Uplink>,
    },
    /// The sources a link peer may publish for: the speakers on its node who may be heard.
    LinkSources {
        peer: PeerId,
        sources: Vec<SourceId>,
    },
}

/// A mirror room's way up: every packet its own publishers send, with its audio level, for the link to
/// the room's origin. Bounded; a full queue drops (and counts) packets, never waits.
pub type Uplink = mpsc::Sender<(Tapped, Option<i8>)>;

/// The room's mix's inbox: a bounded queue the home shard copies every packet it forwards into (a
/// reference count, not the bytes), never waiting. If the mix falls behind, packets are dropped and counted
/// (`Stats::tap_dropped`): the mix conceals them, and forwarding never slows for it.
pub type Tap = std::sync::mpsc::SyncSender<Tapped>;

/// A packet the room heard, as the home shard forwarded it: its speaker's source, sequence number and
/// timestamp as the speaker sent them, and its Opus.
#[derive(Debug, Clone)]
pub struct Tapped {
    /// Whose packet.
    pub source: SourceId,
    /// The speaker's extended sequence number.
    pub seq: u64,
    /// The speaker's RTP timestamp (48 kHz).
    pub timestamp: u32,
    /// The Opus frame.
    pub payload: Arc<[u8]>,
}

/// Commands waiting for one shard. Each participant action is one or two commands (an offer, a publish
/// flag, a close), so this holds a join storm of thousands with room to spare; past it a command is
/// dropped, counted and logged, never silently.
const COMMAND_QUEUE: usize = 16_384;
/// Messages waiting between two shards: one per forwarded packet, per other shard, at most. At 50 packets
/// a second from each of 3 slots in a few hundred busy rooms this is more than a second of traffic; a
/// shard that far behind drops (and counts) packets rather than buffer without end.
const CROSS_QUEUE: usize = 16_384;

/// A handle to the running SFU. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sfu {
    /// One command channel per shard.
    commands: Vec<mpsc::Sender<Command>>,
    next_peer: Arc<AtomicU64>,
    /// Peers held, per shard.
    peers: Arc<[std::sync::atomic::AtomicUsize]>,
    local_addrs: Vec<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    stats: Arc<Stats>,
    /// Slots per peer.
    slots: usize,
}

/// What went wrong in the media plane, counted for the logs and for `/metrics`; and each shard's traffic.
#[derive(Debug, Default)]
pub struct Stats {
    /// Commands a full shard queue refused.
    pub commands_dropped: AtomicU64,
    /// Packets a full cross-shard queue refused.
    pub cross_dropped: AtomicU64,
    /// Packets a room's mix could not take (its inbox was full).
    pub tap_dropped: AtomicU64,
    /// Packets from a mirror room's speakers that its link to the origin could not take.
    pub uplink_dropped: AtomicU64,
    /// Peers closed because their str0m instance panicked.
    pub peer_panics: AtomicU64,
    /// Shards that panicked and were started again.
    pub shard_restarts: AtomicU64,
    /// Each shard's traffic, written by that shard alone.
    pub shards: Box<[ShardMeter]>,
    /// ICE-TCP's connections.
    pub tcp: Arc<crate::tcp::TcpStats>,
}

/// How a peer's media travels, as the server sees its current path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Straight over UDP.
    Udp,
    /// Over ICE-TCP.
    Tcp,
    /// Over UDP from a TURN server's relay (one of [`SfuConfig::turn_ips`]).
    Turn,
}

impl Transport {
    /// Every transport, in the order of [`ShardMeter::peers_by_transport`].
    pub const ALL: [Transport; 3] = [Transport::Udp, Transport::Tcp, Transport::Turn];

    /// The label `/metrics` uses.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Turn => "turn",
        }
    }
}

/// Upper bounds of the forwarding-latency histogram's buckets, in microseconds (the last is +Inf).
pub const FORWARD_BUCKETS_US: [u64; 9] = [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000];

/// One shard's traffic. Only its shard writes it (relaxed atomics, once per datagram read and once per
/// batch sent), and it sits on cache lines of its own, so that counting costs no contention between shards.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct ShardMeter {
    /// Datagrams received, and their bytes.
    pub packets_in: AtomicU64,
    /// Bytes received.
    pub bytes_in: AtomicU64,
    /// Datagrams sent (queued to the kernel), and their bytes.
    pub packets_out: AtomicU64,
    /// Bytes sent.
    pub bytes_out: AtomicU64,
    /// Datagrams refused: not STUN/DTLS/RTP/RTCP, from an unknown source, or with the wrong credentials.
    pub refused: AtomicU64,
    /// Audio packets from peers that may not publish (listeners), never forwarded: the stage, enforced.
    pub refused_audience: AtomicU64,
    /// How long forwarded audio waited in the shard, from the read of the first packet in a batch to the
    /// send of the batch: counts per bucket of [`FORWARD_BUCKETS_US`] and one for +Inf.
    pub forward_buckets: [AtomicU64; 10],
    /// The sum of those waits, in microseconds.
    pub forward_sum_us: AtomicU64,
    /// Connected peers by their current path, in the order of [`Transport::ALL`].
    pub peers_by_transport: [AtomicU64; 3],
}

impl ShardMeter {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn forwarded_after(&self, wait: Duration) {
        let us = wait.as_micros() as u64;
        let bucket = FORWARD_BUCKETS_US.iter().position(|b| us <= *b).unwrap_or(FORWARD_BUCKETS_US.len());
        Self::add(&self.forward_buckets[bucket], 1);
        Self::add(&self.forward_sum_us, us);
    }
}

/// Counts a refused message and logs it: the first, then every 1,000th, so a flood does not flood the log.
fn count_drop(counter: &AtomicU64, what: &str) {
    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
    if n == 1 || n.is_multiple_of(1000) {
        tracing::warn!(dropped = n, "{what}: a full queue dropped a message");
    }
}

/// What shards tell each other. A packet crosses shards at most twice — a publisher's packet to its room's
/// home shard, and the home shard's forwarding decision to each other shard — one message per shard, never
/// one per listener. The channels are lock-free queues; no lock is taken per packet.
#[derive(Debug)]
enum Cross {
    /// A publisher's packet, for its room's home shard (which owns the room's slot mapper).
    Publish(Packet),
    /// A forwarding decision, for some of the peers on another shard.
    Deliver(Packet, Forward, Audience),
    /// A publisher on another shard stopped publishing or left.
    SourceGone { room: RoomKey, source: SourceId },
}

/// Which peers of a room a forwarded packet is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// Everyone (when the audience gets 20 ms packets too).
    Everyone,
    /// Publishers only: the stage's 20 ms packets, when the audience gets joined ones.
    Stage,
    /// Everyone but publishers: joined packets.
    Listeners,
}

/// A publisher's packet, as it travels within and between shards.
#[derive(Debug, Clone)]
struct Packet {
    room: RoomKey,
    source: SourceId,
    seq: u64,
    timestamp: u32,
    level: Option<i8>,
    voice: Option<bool>,
    payload: Arc<[u8]>,
    /// The slot stream's previous packet, for RED: set on the home shard.
    previous: Option<Previous>,
}

/// A slot stream's previous packet: its slot timestamp and its Opus.
type Previous = (u32, Arc<[u8]>);

impl Packet {
    /// A packet the server did not read from a speaker's peer (made here, or relayed from an origin), with
    /// the speaker's audio level if known.
    fn from_tapped(room: RoomKey, packet: Tapped, level: Option<i8>, previous: Option<Previous>) -> Packet {
        Packet {
            room,
            source: packet.source,
            seq: packet.seq,
            timestamp: packet.timestamp,
            level,
            voice: level.map(|l| l > -50),
            payload: packet.payload,
            previous,
        }
    }

    /// A packet as a peer sent it, for `source` (the peer's own, or for a link the speaker its CSRC names).
    fn received(room: RoomKey, source: SourceId, packet: str0m::rtp::RtpPacket) -> Packet {
        Packet {
            room,
            source,
            seq: *packet.seq_no,
            timestamp: packet.header.timestamp,
            previous: None,
            level: packet.header.ext_vals.audio_level,
            voice: packet.header.ext_vals.voice_activity,
            payload: packet.payload,
        }
    }
}

impl Sfu {
    /// Binds one UDP socket per shard and starts each shard on a thread of its own.
    pub fn start(config: SfuConfig) -> Result<Sfu, SfuError> {
        let shards = config.shards.max(1);
        let peers: Arc<[std::sync::atomic::AtomicUsize]> =
            (0..shards).map(|_| std::sync::atomic::AtomicUsize::new(0)).collect();
        let stats =
            Arc::new(Stats { shards: (0..shards).map(|_| ShardMeter::default()).collect(), ..Default::default() });
        let tcp_listener = match config.tcp {
            Some(addr) => {
                let tcp_error = |source| SfuError::Tcp { addr, source };
                let listener = std::net::TcpListener::bind(addr).map_err(tcp_error)?;
                listener.set_nonblocking(true).map_err(tcp_error)?;
                let local = listener.local_addr().map_err(tcp_error)?;
                Some((listener, local))
            }
            None => None,
        };
        let tcp_addr = tcp_listener.as_ref().map(|(_, a)| *a);
        let mut sockets = Vec::with_capacity(shards);
        for i in 0..shards {
            let port = if config.udp.port() == 0 { 0 } else { config.udp.port() + i as u16 };
            let addr = SocketAddr::new(config.udp.ip(), port);
            let socket_error = |source| SfuError::Socket { addr, source };
            let socket = std::net::UdpSocket::bind(addr).map_err(socket_error)?;
            socket.set_nonblocking(true).map_err(socket_error)?;
            crate::net::set_buffers(&socket, crate::net::SOCKET_BUFFER);
            sockets.push(socket);
        }
        let local_addrs: Vec<SocketAddr> = sockets
            .iter()
            .map(|s| s.local_addr().map_err(|source| SfuError::Socket { addr: config.udp, source }))
            .collect::<Result<_, _>>()?;
        let (cross_tx, cross_rx): (Vec<_>, Vec<_>) = (0..shards).map(|_| mpsc::channel::<Cross>(CROSS_QUEUE)).unzip();
        let mut commands = Vec::with_capacity(shards);
        for (index, (std_socket, cross_rx)) in sockets.into_iter().zip(cross_rx).enumerate() {
            let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
            commands.push(tx);
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(SfuError::Shard)?;
            let local_addr = local_addrs[index];
            let ips = if config.public_ips.is_empty() { vec![local_addr.ip()] } else { config.public_ips.clone() };
            let advertised = ips.iter().map(|ip| SocketAddr::new(*ip, local_addr.port())).collect();
            let advertised_tcp = match tcp_addr {
                Some(tcp) => {
                    let ips = if config.public_ips.is_empty() { vec![tcp.ip()] } else { config.public_ips.clone() };
                    ips.iter().map(|ip| SocketAddr::new(*ip, tcp.port())).collect()
                }
                None => Vec::new(),
            };
            let setup = ShardSetup {
                index,
                advertised,
                advertised_tcp,
                turn_ips: config.turn_ips.clone(),
                slot_config: config.slots.clone(),
                peers: peers.clone(),
                cross: cross_tx.clone(),
                first_seq: config.first_seq,
                fault_injection: config.fault_injection,
                stats: stats.clone(),
                registry: Default::default(),
            };
            std::thread::Builder::new()
                .name(format!("stoa-sfu-{index}"))
                .spawn(move || run_shard(setup, runtime, std_socket, rx, cross_rx))
                .map_err(SfuError::Shard)?;
        }
        tracing::info!(addrs = ?local_addrs, shards, "media (UDP) listening");
        if let Some((listener, addr)) = tcp_listener {
            let route = move |ufrag: &str| shard_of_ufrag(ufrag).filter(|s| *s < shards);
            let to_shards = commands.clone();
            let deliver = move |shard: usize, accepted| to_shards[shard].try_send(Command::Tcp(accepted)).is_ok();
            crate::tcp::spawn_acceptor(listener, route, deliver, stats.tcp.clone(), crate::tcp::Limits::default())
                .map_err(|source| SfuError::Tcp { addr, source })?;
            tracing::info!(%addr, "media (ICE-TCP) listening");
        }
        let slots = config.slots.slots;
        Ok(Sfu { commands, next_peer: Arc::new(AtomicU64::new(0)), peers, local_addrs, tcp_addr, stats, slots })
    }

    /// The UDP address of the first shard (the others follow it).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs[0]
    }

    /// Every shard's UDP address.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The ICE-TCP listener's address, if it is on.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    fn shard_of(&self, peer: PeerId) -> usize {
        (peer.0 % self.commands.len() as u64) as usize
    }

    fn home_of(&self, room: RoomKey) -> usize {
        (room.0 % self.commands.len() as u64) as usize
    }

    fn send(&self, shard: usize, command: Command) {
        match self.commands[shard].try_send(command) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => count_drop(&self.stats.commands_dropped, "SFU commands"),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!(shard, "an SFU shard is gone; a command to it was dropped");
                self.stats.commands_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// How many peers (media connections) the SFU holds.
    pub fn peer_count(&self) -> usize {
        self.peers.iter().map(|p| p.load(Ordering::Relaxed)).sum()
    }

    /// How many shards are running (a shard that panicked is restarted; one that could not be is gone).
    pub fn shards_running(&self) -> usize {
        self.commands.iter().filter(|c| !c.is_closed()).count()
    }

    /// How many shards there are.
    pub fn shard_count(&self) -> usize {
        self.commands.len()
    }

    /// What went wrong so far: dropped messages, peer panics, shard restarts.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Opens a room on every shard; its events go to `events`.
    pub fn open_room(&self, room: RoomKey, events: mpsc::Sender<SfuEvent>) {
        for shard in 0..self.commands.len() {
            self.send(shard, Command::OpenRoom { room, events: events.clone() });
        }
    }

    /// Publishes a packet the server made (the room's mix, for WHEP players) in `room`, from `packet.source`,
    /// as if a peer had sent it: the slot mapper places it and every peer of the room gets it. `level` is
    /// its audio level in dBov (0 loudest, -127 silence), if known.
    pub fn inject(&self, room: RoomKey, packet: Tapped, level: Option<i8>) {
        self.send(self.home_of(room), Command::Inject { room, packet, level });
    }

    /// Delivers a packet that another SFU (a cluster's origin for this room) already forwarded into `slot`,
    /// as it came: no slot decision, no joining of frames (the origin made them), the timestamp kept, and
    /// `packet.source` carried as the CSRC. Every peer of `room` gets it, numbered by its own counter for
    /// the slot. A room fed this way is a mirror: its own peers never publish into it.
    pub fn relay(&self, room: RoomKey, slot: usize, packet: Tapped, level: Option<i8>) {
        self.send(self.home_of(room), Command::Relay { room, slot, packet, level });
    }

    /// Sends the packets `room`'s own publishers send to `uplink` (a mirror room's link to its origin),
    /// instead of placing them in the room's slots; `None` stops it.
    pub fn uplink(&self, room: RoomKey, uplink: Option<Uplink>) {
        self.send(self.home_of(room), Command::Uplink { room, uplink });
    }

    /// Lets a link peer (another node's link to `peer`'s room) publish for `sources`: each packet it sends
    /// whose CSRC is one of them is forwarded as if that source's own peer had sent it; every other is
    /// dropped. The sources it may no longer publish for free their slots at once.
    pub fn link_sources(&self, peer: PeerId, sources: Vec<SourceId>) {
        self.send(self.shard_of(peer), Command::LinkSources { peer, sources });
    }

    /// Slots per peer: how many receive streams a peer gets.
    pub fn slot_count(&self) -> usize {
        self.slots
    }

    /// Copies every packet the room hears (its speakers' packets, as forwarded into a slot) into `tap`, or
    /// stops copying with `None`. The copy is made on the room's home shard, once per packet.
    pub fn tap(&self, room: RoomKey, tap: Option<Tap>) {
        self.send(self.home_of(room), Command::Tap { room, tap });
    }

    /// Closes a room and every peer in it.
    pub fn close_room(&self, room: RoomKey) {
        for shard in 0..self.commands.len() {
            self.send(shard, Command::CloseRoom { room });
        }
    }

    /// A client's SDP offer, for a new peer in `room`. `source` identifies the publisher in slot events and
    /// in the CSRC of forwarded packets, which travel in the clear: it must be opaque (never an account ID)
    /// and unique among the room's peers. The answer comes back as [`SfuEvent::Answer`] for the returned
    /// peer.
    ///
    /// Publishers go to the room's home shard, where its slot decisions are made, so their packets cross no
    /// shard on the way in; listeners are spread over every shard.
    pub fn offer(&self, room: RoomKey, source: SourceId, sdp: String, forwarding: Forwarding) -> PeerId {
        let shards = self.commands.len() as u64;
        let n = self.next_peer.fetch_add(1, Ordering::Relaxed);
        let shard = if forwarding == Forwarding::On { self.home_of(room) as u64 } else { n % shards };
        // The shard is the ID modulo the shard count, so commands for the peer find it without a table.
        let peer = PeerId(n * shards + shard);
        self.send(shard as usize, Command::Offer { room, peer, source, sdp, forwarding });
        peer
    }

    /// How many 20 ms frames each packet to the room's audience carries (1: every frame as it comes). The
    /// stage always gets 20 ms packets.
    pub fn set_audience_frames(&self, room: RoomKey, frames: usize) {
        self.send(self.home_of(room), Command::AudienceFrames { room, frames });
    }

    /// Whether a peer's packets may be forwarded (an unmuted speaker).
    pub fn set_forwarding(&self, peer: PeerId, forwarding: Forwarding) {
        self.send(self.shard_of(peer), Command::SetForwarding { peer, forwarding });
    }

    /// Closes a peer: no more packets to or from it.
    pub fn close_peer(&self, peer: PeerId) {
        self.send(self.shard_of(peer), Command::ClosePeer { peer });
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
    source: SourceId,
    rtc: Rtc,
    forwarding: Forwarding,
    /// The mids the client receives on, one per slot, in offer order.
    slot_mids: Vec<Mid>,
    /// The Opus payload type the client chose.
    pt: Option<Pt>,
    /// The RED payload type over Opus, if the client negotiated RED.
    red: Option<Pt>,
    ufrag: String,
    /// Every path a packet of this peer came on.
    addrs: Vec<Path>,
    /// The deadline the timer heap holds for this peer, if any.
    scheduled: Option<Instant>,
    /// The deadline str0m last asked for.
    timeout: Instant,
    /// The SRTP keys its DTLS handshake exported, until the fast path is built from them.
    keys: Option<crate::srtp::Keys>,
    /// Where media goes: where the client last nominated (USE-CANDIDATE), or where str0m last sent it
    /// something other than STUN.
    dest: Option<Path>,
    /// A path whose last check nominated its pair, until str0m answers it.
    nominating: Option<Path>,
    /// The next SRTP index of each slot's stream to this peer, on either path.
    indexes: Indexes,
    fast: Fast,
    /// For another node's link to a room here: the sources it may publish for (its speakers, named by the
    /// CSRC of each packet it sends up). `None` for every other peer.
    link_sources: Option<Vec<SourceId>>,
}

/// Where a peer's packets come from or go to: a UDP address, or an ICE-TCP connection's remote address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Path {
    proto: Protocol,
    addr: SocketAddr,
}

impl Path {
    fn udp(addr: SocketAddr) -> Path {
        Path { proto: Protocol::Udp, addr }
    }
}

/// The shard a peer's ICE ufrag names: its first two characters (see [`Shard::offer`]).
fn shard_of_ufrag(ufrag: &str) -> Option<usize> {
    let digit = |b: u8| ALPHABET.iter().position(|a| *a == b);
    let bytes = ufrag.as_bytes();
    Some(digit(*bytes.first()?)? * ALPHABET.len() + digit(*bytes.get(1)?)?)
}

/// A ufrag for a new peer of `shard`: the shard in two characters, then 14 random ones.
fn ufrag_for(shard: usize) -> String {
    let n = ALPHABET.len();
    let mut ufrag = String::with_capacity(16);
    ufrag.push(ALPHABET[(shard / n) % n] as char);
    ufrag.push(ALPHABET[shard % n] as char);
    ufrag.push_str(&random_token(14));
    ufrag
}

/// How the packets of a peer's slots are written.
enum Fast {
    /// Through str0m, until the handshake's keys are known.
    Pending,
    /// Sealed by the shard itself.
    Ready(Box<FastOut>),
    /// Through str0m for good (an SRTP profile without the fast path).
    Unavailable,
}

/// The fast path of a peer whose handshake's keys are known, if its profile has one.
fn build_fast(rtc: &mut Rtc, slot_mids: &[Mid], keys: &crate::srtp::Keys) -> Option<FastOut> {
    let srtp = crate::srtp::SrtpOut::new(keys)?;
    let mut ssrcs = Vec::with_capacity(slot_mids.len());
    for mid in slot_mids {
        ssrcs.push(*rtc.direct_api().stream_tx_by_mid(*mid, None)?.ssrc());
    }
    let level_id =
        slot_mids.first().and_then(|m| rtc.media(*m)).and_then(|m| m.remote_extmap().id_of(Extension::AudioLevel));
    Some(FastOut::new(srtp, ssrcs, level_id))
}

struct RoomMedia {
    /// Per slot, the last packet of the stage's stream ([0]) and of the audience's joined one ([1]), with
    /// its slot timestamp: the redundant block of the next.
    red_last: Vec<[Option<Previous>; 2]>,
    peers: Vec<PeerId>,
    mapper: SlotMapper,
    events: mpsc::Sender<SfuEvent>,
    /// On the home shard: per slot, the frames waiting to be joined for the audience.
    audience: Vec<AudienceSlot>,
    audience_frames: usize,
    /// On the home shard: the room's mix's inbox, while it has one.
    tap: Option<Tap>,
    /// On the home shard of a mirror room: where its publishers' packets go, up to the origin.
    uplink: Option<Uplink>,
}

struct AudienceSlot {
    aggregator: Aggregator,
    waiting_since: Option<Instant>,
    /// The packet whose speaker and level the waiting frames go out with.
    last: Option<Packet>,
}

/// How long joined frames may wait for the rest of their packet before going out as they are: three frames'
/// worth and one spare, so a talk spurt's last frames are not held long after it ends.
const AUDIENCE_FLUSH: Duration = Duration::from_millis(80);

struct Shard {
    index: usize,
    /// Every shard's cross-shard inbox, this one's included.
    cross: Vec<mpsc::Sender<Cross>>,
    socket: UdpSocket,
    /// The UDP candidates' addresses (one per public IP).
    advertised: Vec<SocketAddr>,
    /// The ICE-TCP candidates' addresses; none when ICE-TCP is off.
    advertised_tcp: Vec<SocketAddr>,
    turn_ips: Vec<IpAddr>,
    slot_config: SlotConfig,
    peers: HashMap<PeerId, Peer>,
    by_addr: HashMap<Path, PeerId>,
    /// The ICE-TCP connections handed to this shard, by their remote address, with the peer they are for.
    conns: HashMap<SocketAddr, (crate::tcp::Conn, PeerId)>,
    /// Where their readers send frames.
    from_conns: mpsc::Sender<crate::tcp::FromConn>,
    /// Packets for ICE-TCP peers, queued like the UDP outbox and handed to their connections at a flush.
    tcp_outbox: Outbox,
    by_ufrag: HashMap<String, PeerId>,
    rooms: HashMap<RoomKey, RoomMedia>,
    timers: BinaryHeap<Reverse<(Instant, PeerId)>>,
    outbox: Outbox,
    /// Peers on str0m's path that a delivery wrote to, to drain once it is done (kept for its capacity).
    written: Vec<PeerId>,
    /// Peers whose str0m panicked during a delivery, to close once it is done.
    failed: Vec<PeerId>,
    first_seq: Option<u16>,
    fault_injection: bool,
    /// The shard's one DTLS certificate, generated once: every peer's handshake uses it, so a join does
    /// not pay for a key pair (the fingerprint in each answer is this certificate's).
    cert: Option<DtlsCert>,
    /// Where RED payloads are written (kept for its capacity).
    red_scratch: Vec<u8>,
    /// Packets publishers on this shard sent, to fan out once their `Rtc` is drained.
    pending: Vec<Packet>,
    refused: u64,
    refused_logged_at: Instant,
    /// When the first packet to forward in this batch was read, for the forwarding-latency histogram.
    forward_since: Option<Instant>,
    /// Peers held, per shard; this shard writes its own entry.
    gauge: Arc<[std::sync::atomic::AtomicUsize]>,
    stats: Arc<Stats>,
    registry: Arc<std::sync::Mutex<Registry>>,
}

/// What a shard's thread keeps outside the shard, so that a shard that panicked can start again: the rooms
/// it serves, and which peers it held, whose rooms are then told that those peers are gone. Touched when
/// a room opens or closes and when a peer comes or goes, never per packet.
#[derive(Default)]
struct Registry {
    rooms: HashMap<RoomKey, mpsc::Sender<SfuEvent>>,
    peers: HashMap<PeerId, RoomKey>,
}

impl Registry {
    fn lock(registry: &std::sync::Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
        registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Everything a shard's thread needs to (re)start its shard.
struct ShardSetup {
    index: usize,
    advertised: Vec<SocketAddr>,
    advertised_tcp: Vec<SocketAddr>,
    turn_ips: Vec<IpAddr>,
    slot_config: SlotConfig,
    peers: Arc<[std::sync::atomic::AtomicUsize]>,
    cross: Vec<mpsc::Sender<Cross>>,
    first_seq: Option<u16>,
    fault_injection: bool,
    stats: Arc<Stats>,
    registry: Arc<std::sync::Mutex<Registry>>,
}

/// A shard's thread: runs its shard, and if the shard panics despite the per-peer guards, reports it,
/// tells the rooms that its peers are gone, and starts a fresh shard on the same socket and queues.
fn run_shard(
    setup: ShardSetup,
    runtime: tokio::runtime::Runtime,
    socket: std::net::UdpSocket,
    mut commands: mpsc::Receiver<Command>,
    mut cross: mpsc::Receiver<Cross>,
) {
    raise_priority();
    let cert = crate::srtp::provider().dtls_provider.generate_certificate();
    loop {
        let std_socket = match socket.try_clone() {
            Ok(s) => s,
            Err(e) => return tracing::error!(shard = setup.index, error = %e, "an SFU shard cannot use its socket"),
        };
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(async {
                match UdpSocket::from_std(std_socket) {
                    Ok(socket) => {
                        let (shard, from_conns) = Shard::new(&setup, socket, cert.clone());
                        shard.run(&mut commands, &mut cross, from_conns).await
                    }
                    Err(e) => tracing::error!(shard = setup.index, error = %e, "an SFU shard cannot use its socket"),
                }
            })
        }));
        if run.is_ok() {
            return;
        }
        setup.stats.shard_restarts.fetch_add(1, Ordering::Relaxed);
        setup.peers[setup.index].store(0, Ordering::Relaxed);
        let registry = &mut *Registry::lock(&setup.registry);
        tracing::error!(
            shard = setup.index,
            peers = registry.peers.len(),
            "an SFU shard panicked: its peers are closed, and it starts again"
        );
        for (peer, room) in std::mem::take(&mut registry.peers) {
            if let Some(events) = registry.rooms.get(&room) {
                let message = "The media server had an internal error; reconnect to hear the room.".to_string();
                let _ = events.try_send(SfuEvent::Rejected { peer, error: PeerError::Internal, message });
            }
        }
    }
}

/// How many datagrams to read before flushing sends and looking at commands and timers again.
const READ_BATCH: usize = 256;

impl Shard {
    fn new(
        setup: &ShardSetup,
        socket: UdpSocket,
        cert: Option<DtlsCert>,
    ) -> (Shard, mpsc::Receiver<crate::tcp::FromConn>) {
        let (from_conns, from_conns_rx) = mpsc::channel(crate::tcp::SHARD_QUEUE);
        let mut shard = Shard {
            index: setup.index,
            cross: setup.cross.clone(),
            socket,
            advertised: setup.advertised.clone(),
            advertised_tcp: setup.advertised_tcp.clone(),
            turn_ips: setup.turn_ips.clone(),
            slot_config: setup.slot_config.clone(),
            peers: HashMap::new(),
            by_addr: HashMap::new(),
            conns: HashMap::new(),
            from_conns,
            tcp_outbox: Outbox::default(),
            red_scratch: Vec::new(),
            by_ufrag: HashMap::new(),
            rooms: HashMap::new(),
            timers: BinaryHeap::new(),
            outbox: Outbox::default(),
            written: Vec::new(),
            failed: Vec::new(),
            first_seq: setup.first_seq,
            fault_injection: setup.fault_injection,
            cert,
            pending: Vec::new(),
            refused: 0,
            refused_logged_at: Instant::now(),
            forward_since: None,
            gauge: setup.peers.clone(),
            stats: setup.stats.clone(),
            registry: setup.registry.clone(),
        };
        // A restarted shard serves the rooms its predecessor served (with none of their peers).
        let rooms: Vec<_> = Registry::lock(&setup.registry).rooms.iter().map(|(k, e)| (*k, e.clone())).collect();
        for (room, events) in rooms {
            shard.open_room(room, events);
        }
        (shard, from_conns_rx)
    }

    async fn run(
        mut self,
        commands: &mut mpsc::Receiver<Command>,
        cross: &mut mpsc::Receiver<Cross>,
        mut from_conns: mpsc::Receiver<crate::tcp::FromConn>,
    ) {
        let mut buf = vec![0u8; 2048];
        loop {
            let next_timer =
                [self.timers.peek().map(|Reverse((t, _))| *t), self.next_audience_flush()].into_iter().flatten().min();
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(c) => self.command(c),
                    None => return,
                },
                Some(message) = cross.recv() => self.cross(Instant::now(), message),
                Some(message) = from_conns.recv() => self.conn_message(Instant::now(), message),
                ready = self.socket.readable() => {
                    if ready.is_ok() {
                        self.read_ready(&mut buf);
                    }
                }
                _ = sleep_until(next_timer), if next_timer.is_some() => {}
            }
            self.fire_timers(Instant::now());
            self.flush_audience(Instant::now(), false);
            self.flush().await;
        }
    }

    fn read_ready(&mut self, buf: &mut [u8]) {
        for _ in 0..READ_BATCH {
            match self.socket.try_recv_from(buf) {
                Ok((n, source)) => {
                    let meter = self.meter();
                    ShardMeter::add(&meter.packets_in, 1);
                    ShardMeter::add(&meter.bytes_in, n as u64);
                    self.datagram(Instant::now(), source, &buf[..n])
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    // ICMP errors for an earlier send surface here on Linux; they concern one peer, not us.
                    tracing::debug!(error = %e, "UDP receive error");
                }
            }
        }
    }

    fn meter(&self) -> &ShardMeter {
        &self.stats.shards[self.index]
    }

    fn refuse(&mut self, now: Instant, source: SocketAddr, why: &str) {
        ShardMeter::add(&self.meter().refused, 1);
        self.refused += 1;
        tracing::debug!(%source, why, "refused a datagram");
        if now.duration_since(self.refused_logged_at) >= Duration::from_secs(10) {
            tracing::warn!(count = self.refused, "refused datagrams from unknown or invalid sources in the last 10 s");
            self.refused = 0;
            self.refused_logged_at = now;
        }
    }

    fn datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        self.input(now, Path::udp(source), data)
    }

    /// The local candidate a packet from `source` on `proto` came to: the advertised address of its family.
    fn destination(&self, proto: Protocol, source: SocketAddr) -> SocketAddr {
        let candidates = if proto == Protocol::Tcp { &self.advertised_tcp } else { &self.advertised };
        candidates.iter().find(|a| a.is_ipv4() == source.is_ipv4()).or(candidates.first()).copied().unwrap_or(source)
    }

    /// A packet from a peer, on UDP or ICE-TCP.
    fn input(&mut self, now: Instant, path: Path, data: &[u8]) {
        let source = path.addr;
        if self.fault_injection
            && let Some((ours, theirs)) = stun_username(data).and_then(|u| u.split_once(':'))
            && let Some(&peer_id) = self.by_ufrag.get(ours)
        {
            match theirs {
                "stoa-panic-shard" => panic!("fault injection: the shard panics"),
                "stoa-panic-peer" => {
                    let hit = catch_unwind(|| panic!("fault injection: a peer's str0m panics"));
                    return self.peer_panicked(peer_id, hit);
                }
                _ => {}
            }
        }
        let Ok(contents) = DatagramRecv::try_from(data) else {
            return self.refuse(now, source, "not STUN, DTLS, RTP or RTCP");
        };
        let destination = self.destination(path.proto, source);
        let input = Input::Receive(now, Receive { proto: path.proto, source, destination, contents });
        let peer_id = match self.by_addr.get(&path) {
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
        if stun_nominates(data) {
            // Media moves here once str0m has answered the check, which it does only if it is authentic.
            peer.nominating = Some(path);
        }
        match catch_unwind(AssertUnwindSafe(|| peer.rtc.handle_input(input))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(peer = peer_id.0, error = %e, "peer refused input"),
            Err(panic) => return self.peer_panicked(peer_id, Err(panic)),
        }
        if let std::collections::hash_map::Entry::Vacant(entry) = self.by_addr.entry(path) {
            entry.insert(peer_id);
            peer.addrs.push(path);
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
                match catch_unwind(AssertUnwindSafe(|| peer.rtc.handle_input(Input::Timeout(now)))) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::debug!(peer = peer_id.0, error = %e, "timeout input failed"),
                    Err(panic) => {
                        self.peer_panicked(peer_id, Err(panic));
                        continue;
                    }
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
        // One peer's str0m is run under a guard: if it panics, that peer is closed and the shard goes on.
        let polled = catch_unwind(AssertUnwindSafe(|| {
            let mut closed: Option<(PeerError, String)> = None;
            let mut connected = false;
            let peer = self.peers.get_mut(&peer_id)?;
            let mut rounds = 0;
            loop {
                match peer.rtc.poll_output() {
                    // A timeout that is already due (str0m asks for one after every written packet, to stamp
                    // its send queue) is handled at once rather than through the timer heap: one drain per
                    // forwarded packet instead of two, and no heap traffic.
                    Ok(Output::Timeout(t)) if t <= now && rounds < 4 => {
                        rounds += 1;
                        if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                            tracing::debug!(peer = peer_id.0, error = %e, "timeout input failed");
                        }
                    }
                    Ok(Output::Timeout(t)) => {
                        peer.timeout = t;
                        break;
                    }
                    Ok(Output::Transmit(t)) => {
                        // STUN answers go wherever a check came from; everything else goes to the nominated pair.
                        // A success answer to a nominating check moves the pair there: the client's path
                        // changed (a new network, a NAT that rebound), and the fast path follows at once.
                        let path = Path { proto: t.proto, addr: t.destination };
                        if t.contents.first().is_some_and(|b| *b >= 20) {
                            set_dest(&self.stats.shards[self.index], &self.turn_ips, peer, Some(path));
                        } else if peer.nominating == Some(path) && stun_is_success(&t.contents) {
                            peer.nominating = None;
                            if peer.dest != Some(path) {
                                tracing::debug!(peer = peer_id.0, "the client nominated a new path");
                            }
                            set_dest(&self.stats.shards[self.index], &self.turn_ips, peer, Some(path));
                        }
                        match t.proto {
                            Protocol::Udp => self.outbox.push(t.destination, &t.contents),
                            _ => self.tcp_outbox.push(t.destination, &t.contents),
                        }
                    }
                    Ok(Output::Event(event)) => match event {
                        // The stage, enforced here: nothing from a peer that may not publish is forwarded.
                        Event::RtpPacket(mut packet) if peer.forwarding == Forwarding::On => {
                            // A browser that negotiated RED sends its own (on the uplink too): the SFU
                            // forwards the primary Opus and adds its own redundancy per listener.
                            if Some(packet.header.payload_type) == peer.red {
                                let Some(primary) = crate::red::decode(&packet.payload).map(|r| Arc::from(r.primary))
                                else {
                                    continue;
                                };
                                packet.payload = primary;
                            }
                            self.forward_since.get_or_insert(now);
                            self.pending.push(Packet::received(peer.room, peer.source, packet));
                        }
                        // Another node's link: a packet of one of its speakers, named by the CSRC, forwarded
                        // only if that speaker may be heard now (the stage, enforced here for every node).
                        Event::RtpPacket(packet)
                            if packet.header.csrc_count > 0
                                && peer
                                    .link_sources
                                    .as_ref()
                                    .is_some_and(|s| s.contains(&SourceId(packet.header.csrc[0]))) =>
                        {
                            self.forward_since.get_or_insert(now);
                            let source = SourceId(packet.header.csrc[0]);
                            self.pending.push(Packet::received(peer.room, source, packet));
                        }
                        Event::RtpPacket(_) => ShardMeter::add(&self.stats.shards[self.index].refused_audience, 1),
                        Event::Connected => connected = true,
                        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                            closed = Some((PeerError::ConnectionFailed, "The media connection was lost.".into()));
                        }
                        _ => {}
                    },
                    Err(e) => {
                        tracing::info!(peer = peer_id.0, error = %e, "peer failed");
                        closed = Some((PeerError::ConnectionFailed, format!("The media connection failed: {e}.")));
                        break;
                    }
                }
            }
            if let Some(keys) = crate::srtp::take_captured() {
                peer.keys = Some(keys);
            }
            if !peer.rtc.is_alive() && closed.is_none() {
                closed = Some((PeerError::ConnectionFailed, "The media connection closed.".into()));
            }
            Some((closed, connected))
        }));
        let (closed, connected) = match polled {
            Ok(Some(outcome)) => outcome,
            Ok(None) => return,
            Err(panic) => return self.peer_panicked(peer_id, Err(panic)),
        };
        if connected {
            self.emit(peer_id, |peer| SfuEvent::Connected { peer });
        }
        match closed {
            Some((error, message)) => {
                self.emit(peer_id, |peer| SfuEvent::Rejected { peer, error, message });
                self.remove_peer(peer_id);
            }
            None => self.schedule(peer_id),
        }
    }

    /// A peer's str0m instance panicked (`hit` is the caught panic): the peer is closed with an error, and
    /// the shard and every other peer go on.
    fn peer_panicked(&mut self, peer_id: PeerId, hit: std::thread::Result<()>) {
        let why = hit.err().and_then(|p| {
            p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned())
        });
        self.stats.peer_panics.fetch_add(1, Ordering::Relaxed);
        tracing::error!(peer = peer_id.0, why = why.as_deref().unwrap_or("?"), "a media peer panicked; it is closed");
        let message = "The media connection hit a server error and was closed; reconnect to hear the room.";
        let error = PeerError::Internal;
        self.emit(peer_id, |peer| SfuEvent::Rejected { peer, error, message: message.into() });
        self.remove_peer(peer_id);
    }

    fn emit(&self, peer_id: PeerId, event: impl FnOnce(PeerId) -> SfuEvent) {
        let Some(peer) = self.peers.get(&peer_id) else { return };
        if let Some(room) = self.rooms.get(&peer.room)
            && room.events.try_send(event(peer_id)).is_err()
        {
            tracing::debug!(peer = peer_id.0, "room event queue full; event dropped");
        }
    }

    fn home_of(&self, room: RoomKey) -> usize {
        (room.0 % self.cross.len() as u64) as usize
    }

    /// Sends the packets publishers on this shard sent to their room's home shard — this one, usually,
    /// since publishers are placed there — for the slot decision and the fan-out.
    fn fan_out(&mut self, now: Instant) {
        for packet in std::mem::take(&mut self.pending) {
            let home = self.home_of(packet.room);
            if home == self.index {
                self.publish_at_home(now, packet);
            } else {
                if self.cross[home].try_send(Cross::Publish(packet)).is_err() {
                    count_drop(&self.stats.cross_dropped, "packets between SFU shards");
                }
            }
        }
    }

    /// On the room's home shard: the slot decision, made once per packet; then delivery to this shard's
    /// listeners and one message to each other shard.
    fn publish_at_home(&mut self, now: Instant, packet: Packet) {
        let Some(room) = self.rooms.get_mut(&packet.room) else { return };
        if let Some(uplink) = &room.uplink {
            // A mirror: its speakers are heard through the origin, which makes the slot decision.
            let level = packet.level;
            let up =
                Tapped { source: packet.source, seq: packet.seq, timestamp: packet.timestamp, payload: packet.payload };
            if uplink.try_send((up, level)).is_err() {
                count_drop(&self.stats.uplink_dropped, "packets up to a room's origin");
            }
            return;
        }
        let forward = room.mapper.packet(now, packet.source, packet.seq, packet.timestamp, packet.level);
        if let Some(holders) = room.mapper.take_change() {
            let _ = room.events.try_send(SfuEvent::Slots { holders });
        }
        let Some(forward) = forward else { return };
        if let Some(tap) = &room.tap {
            let copy = Tapped {
                source: packet.source,
                seq: packet.seq,
                timestamp: packet.timestamp,
                payload: packet.payload.clone(),
            };
            if let Err(std::sync::mpsc::TrySendError::Full(_)) = tap.try_send(copy) {
                count_drop(&self.stats.tap_dropped, "packets for a room's mix");
            }
        }
        let mut packet = packet;
        packet.previous = red_previous(&mut room.red_last, forward, 0, &packet.payload);
        self.deliver_joining(now, packet, forward);
    }

    /// Delivers a slot's packet on its room's home shard: to everyone while the audience gets 20 ms packets;
    /// else as it is to the stage and, joined with the slot's next frames, to the listeners. A mirror room
    /// (an edge's) comes here too, for the 20 ms stream its origin sends while the edge has speakers: it
    /// joins for its own listeners; the joined packets its link carries otherwise pass through unjoined.
    fn deliver_joining(&mut self, now: Instant, packet: Packet, forward: Forward) {
        let Some(room) = self.rooms.get_mut(&packet.room) else { return };
        // On a mirror, a packet the origin joined already (the link's usual stream) goes to everyone as it
        // is, in one delivery, as before the edge had speakers.
        let joined_already = room.uplink.is_some()
            && !room.audience.get(forward.slot).is_some_and(|a| a.aggregator.is_pending())
            && !crate::repacket::joinable(&packet.payload);
        if room.audience_frames <= 1 || joined_already {
            self.deliver_everywhere(now, &packet, forward, Audience::Everyone);
            return;
        }
        let mut out = Vec::new();
        if let Some(slot) = room.audience.get_mut(forward.slot) {
            let joined = slot.aggregator.push(forward.timestamp, packet.payload.clone());
            slot.waiting_since = if slot.aggregator.is_pending() { slot.waiting_since.or(Some(now)) } else { None };
            slot.last = Some(packet.clone());
            for j in joined {
                let f = Forward { slot: forward.slot, timestamp: j.timestamp };
                let previous = red_previous(&mut room.red_last, f, 1, &j.payload);
                let joined_packet = Packet { payload: j.payload, timestamp: j.timestamp, previous, ..packet.clone() };
                out.push((joined_packet, f));
            }
        }
        self.deliver_everywhere(now, &packet, forward, Audience::Stage);
        for (p, f) in out {
            self.deliver_everywhere(now, &p, f, Audience::Listeners);
        }
    }

    /// Delivers a forwarding decision on this shard and sends it to every other shard.
    fn deliver_everywhere(&mut self, now: Instant, packet: &Packet, forward: Forward, to: Audience) {
        for (shard, tx) in self.cross.iter().enumerate() {
            if shard != self.index && tx.try_send(Cross::Deliver(packet.clone(), forward, to)).is_err() {
                count_drop(&self.stats.cross_dropped, "packets between SFU shards");
            }
        }
        self.deliver(now, packet, forward, to);
    }

    /// When the next audience slot's waiting frames must go out (on this shard, if it is a room's home).
    fn next_audience_flush(&self) -> Option<Instant> {
        self.rooms
            .values()
            .flat_map(|r| r.audience.iter())
            .filter_map(|a| a.waiting_since)
            .min()
            .map(|t| t + AUDIENCE_FLUSH)
    }

    /// Sends audience frames that have waited long enough (all of them, with `all`) as they are.
    fn flush_audience(&mut self, now: Instant, all: bool) {
        let mut out = Vec::new();
        for room in self.rooms.values_mut() {
            for (index, slot) in room.audience.iter_mut().enumerate() {
                if !slot.waiting_since.is_some_and(|t| all || now >= t + AUDIENCE_FLUSH) {
                    continue;
                }
                slot.waiting_since = None;
                if let (Some(j), Some(last)) = (slot.aggregator.flush(), slot.last.clone()) {
                    let f = Forward { slot: index, timestamp: j.timestamp };
                    let previous = red_previous(&mut room.red_last, f, 1, &j.payload);
                    let packet = Packet { payload: j.payload, timestamp: j.timestamp, previous, ..last };
                    out.push((packet, f));
                }
            }
        }
        for (p, f) in out {
            self.deliver_everywhere(now, &p, f, Audience::Listeners);
        }
    }

    /// Writes a forwarded packet into the slot of the room's connected peers on this shard that it is for,
    /// never into the publisher's own. Each peer's copy is numbered by that peer's own counter for the slot.
    /// On the fast path this allocates nothing per peer: no copy of the room's peer list, and the sealed
    /// datagrams go into the outbox's reused arena.
    fn deliver(&mut self, now: Instant, packet: &Packet, forward: Forward, to: Audience) {
        let Shard { rooms, peers, outbox, tcp_outbox, written, failed, red_scratch, socket, stats, index, .. } = self;
        let Some(room) = rooms.get(&packet.room) else { return };
        // The RED payload, made once for the Opus payload type most listeners share, then reused.
        let mut red_made_for: Option<Option<u8>> = None;
        let level = packet.level.map(|l| (l, packet.voice.unwrap_or(false)));
        // Other nodes' links come first in the room's peers: their packets leave before this shard seals
        // for its own listeners, so that an edge's listeners do not wait for this fan-out and then their own.
        let links = room.peers.iter().take_while(|id| peers.get(id).is_some_and(|p| p.link_sources.is_some())).count();
        for (i, id) in room.peers.iter().enumerate() {
            if i == links && i > 0 && !outbox.is_empty() {
                let (queued, bytes) = (outbox.len(), outbox.queued_bytes());
                // Whatever would block stays queued, and goes with the rest; what went is counted now.
                if let Err(e) = outbox.send(&*socket) {
                    tracing::debug!(error = %e, "UDP send failed");
                }
                let meter = &stats.shards[*index];
                ShardMeter::add(&meter.packets_out, (queued - outbox.len()) as u64);
                ShardMeter::add(&meter.bytes_out, (bytes - outbox.queued_bytes()) as u64);
            }
            let Some(peer) = peers.get_mut(id) else { continue };
            // A link is on the stage's side while its node has someone who may be heard: that node's
            // speakers then get 20 ms packets, as speakers here do, and it joins for its own listeners.
            let stage = match &peer.link_sources {
                Some(sources) => !sources.is_empty(),
                None => peer.forwarding == Forwarding::On,
            };
            let wanted = match to {
                Audience::Everyone => true,
                Audience::Stage => stage,
                Audience::Listeners => !stage,
            };
            if !wanted || peer.source == packet.source || !peer.rtc.is_connected() {
                continue;
            }
            let (Some(&mid), Some(pt)) = (peer.slot_mids.get(forward.slot), peer.pt) else { continue };
            if matches!(peer.fast, Fast::Pending)
                && let Some(keys) = peer.keys.take()
            {
                tracing::debug!(peer = id.0, ?keys, "SRTP keys known: the fast path takes over");
                peer.fast = match build_fast(&mut peer.rtc, &peer.slot_mids, &keys) {
                    Some(fast) => Fast::Ready(Box::new(fast)),
                    None => Fast::Unavailable,
                };
            }
            // The index is used up whether or not the packet leaves: an index is never offered twice.
            let Some(index) = peer.indexes.take(forward.slot) else { continue };
            // With RED negotiated, the slot's previous packet rides along (when it fits a block header).
            let red = match (peer.red, &packet.previous) {
                (Some(red), Some((ts, data))) => {
                    if red_made_for.is_none_or(|made| made != Some(*pt)) {
                        let offset = forward.timestamp.wrapping_sub(*ts);
                        let fits = crate::red::encode(red_scratch, *pt, Some((offset, data)), &packet.payload);
                        red_made_for = Some(fits.then_some(*pt));
                    }
                    red_made_for.flatten().map(|_| red)
                }
                _ => None,
            };
            let (pt, payload): (Pt, &[u8]) = match red {
                Some(red) => (red, red_scratch),
                None => (pt, &packet.payload),
            };
            if let (Fast::Ready(fast), Some(dest)) = (&mut peer.fast, peer.dest) {
                let out = Outgoing { pt: *pt, timestamp: forward.timestamp, csrc: packet.source.0, level, payload };
                let queue = if dest.proto == Protocol::Udp { &mut *outbox } else { &mut *tcp_outbox };
                fast.write(queue, dest.addr, forward.slot, index, &out);
                continue;
            }
            let mut api = peer.rtc.direct_api();
            let Some(stream) = api.stream_tx_by_mid(mid, None) else { continue };
            // The CSRC names the speaker by their opaque source number, so a browser can tell who is
            // speaking in each slot from getContributingSources(), with no message per listener.
            let ext = ExtensionValues { audio_level: packet.level, voice_activity: packet.voice, ..Default::default() };
            let data = if red.is_some() { Arc::<[u8]>::from(payload) } else { packet.payload.clone() };
            let write =
                RtpWrite::new(pt, index.into(), forward.timestamp, now, data).ext_vals(ext).csrc(&[packet.source.0]);
            match catch_unwind(AssertUnwindSafe(|| stream.write_rtp(write))) {
                Ok(()) => written.push(*id),
                Err(_) => failed.push(*id),
            }
        }
        for i in 0..self.written.len() {
            let id = self.written[i];
            self.drain(now, id);
        }
        self.written.clear();
        while let Some(id) = self.failed.pop() {
            self.peer_panicked(id, Err(Box::new("write_rtp panicked")));
        }
    }

    fn cross(&mut self, now: Instant, message: Cross) {
        if matches!(message, Cross::Publish(_) | Cross::Deliver(..)) {
            self.forward_since.get_or_insert(now);
        }
        match message {
            Cross::Publish(packet) => self.publish_at_home(now, packet),
            Cross::Deliver(packet, forward, to) => self.deliver(now, &packet, forward, to),
            Cross::SourceGone { room, source } => self.source_gone(room, source),
        }
        self.fan_out(now);
    }

    /// A publisher stopped publishing or left: their slot frees at once, on the room's home shard.
    fn source_gone(&mut self, room: RoomKey, source: SourceId) {
        let home = self.home_of(room);
        if home != self.index {
            if self.cross[home].try_send(Cross::SourceGone { room, source }).is_err() {
                count_drop(&self.stats.cross_dropped, "messages between SFU shards");
            }
            return;
        }
        if let Some(media) = self.rooms.get_mut(&room) {
            media.mapper.remove_source(source);
            if let Some(holders) = media.mapper.take_change() {
                let _ = media.events.try_send(SfuEvent::Slots { holders });
            }
        }
    }

    /// Sends the outbox, waiting while the socket is full. Through `try_io`, so that a full socket clears
    /// tokio's readiness and the wait is a real wait, not a spin.
    async fn flush(&mut self) {
        let meter = &self.stats.shards[self.index];
        for outbox in [&self.outbox, &self.tcp_outbox] {
            if !outbox.is_empty() {
                ShardMeter::add(&meter.packets_out, outbox.len() as u64);
                ShardMeter::add(&meter.bytes_out, outbox.queued_bytes() as u64);
            }
        }
        if !self.tcp_outbox.is_empty() {
            let Shard { tcp_outbox, conns, stats, .. } = self;
            for (addr, data) in tcp_outbox.datagrams() {
                if let Some((conn, _)) = conns.get(&addr) {
                    conn.send(data, &stats.tcp);
                }
            }
            tcp_outbox.clear();
        }
        self.send_outbox().await;
        if let Some(since) = self.forward_since.take() {
            self.stats.shards[self.index].forwarded_after(since.elapsed());
        }
    }

    async fn send_outbox(&mut self) {
        let Shard { socket, outbox, .. } = self;
        while !outbox.is_empty() {
            let sent = socket.try_io(Interest::WRITABLE, || match outbox.send(&*socket) {
                Ok(true) => Ok(()),
                Ok(false) => Err(std::io::ErrorKind::WouldBlock.into()),
                Err(e) => Err(e),
            });
            match sent {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if socket.writable().await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "UDP send failed");
                    break;
                }
            }
        }
        outbox.clear();
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::OpenRoom { room, events } => {
                Registry::lock(&self.registry).rooms.insert(room, events.clone());
                self.open_room(room, events);
            }
            Command::AudienceFrames { room, frames } => {
                // What waits under the old setting goes out first, so no frame is lost to the change.
                self.flush_audience(Instant::now(), true);
                if let Some(media) = self.rooms.get_mut(&room) {
                    media.audience_frames = frames.clamp(1, 6);
                    for slot in &mut media.audience {
                        slot.aggregator = Aggregator::new(media.audience_frames);
                    }
                }
            }
            Command::CloseRoom { room } => {
                Registry::lock(&self.registry).rooms.remove(&room);
                if let Some(media) = self.rooms.remove(&room) {
                    for peer in media.peers {
                        self.remove_peer(peer);
                    }
                }
            }
            Command::Offer { room, peer, source, sdp, forwarding } => {
                self.offer(now, room, peer, source, &sdp, forwarding)
            }
            Command::SetForwarding { peer, forwarding } => {
                let Some(p) = self.peers.get_mut(&peer) else { return };
                p.forwarding = forwarding;
                if forwarding == Forwarding::Off {
                    // A demoted or muted speaker's slot frees at once, rather than after its idle time.
                    let (room, source) = (p.room, p.source);
                    self.source_gone(room, source);
                }
            }
            Command::ClosePeer { peer } => self.remove_peer(peer),
            Command::Tcp(accepted) => self.tcp_connection(now, accepted),
            Command::Inject { room, packet, level } => {
                let packet = Packet::from_tapped(room, packet, level, None);
                self.forward_since.get_or_insert(now);
                self.publish_at_home(now, packet);
            }
            Command::Relay { room, slot, packet, level } => {
                let Some(media) = self.rooms.get_mut(&room) else { return };
                if slot >= media.red_last.len() {
                    return;
                }
                let forward = Forward { slot, timestamp: packet.timestamp };
                let previous = red_previous(&mut media.red_last, forward, 0, &packet.payload);
                let packet = Packet::from_tapped(room, packet, level, previous);
                self.forward_since.get_or_insert(now);
                self.deliver_joining(now, packet, forward);
            }
            Command::Tap { room, tap } => {
                if let Some(media) = self.rooms.get_mut(&room) {
                    media.tap = tap;
                }
            }
            Command::Uplink { room, uplink } => {
                if let Some(media) = self.rooms.get_mut(&room) {
                    media.uplink = uplink;
                }
            }
            Command::LinkSources { peer, sources } => {
                let Some(p) = self.peers.get_mut(&peer) else { return };
                let before = p.link_sources.replace(sources.clone()).unwrap_or_default();
                // Links go first in the fan-out (see `deliver`).
                if let Some(media) = self.rooms.get_mut(&p.room)
                    && let Some(at) = media.peers.iter().position(|id| *id == peer)
                    && at > 0
                {
                    let id = media.peers.remove(at);
                    media.peers.insert(0, id);
                }
                // A speaker the link may no longer publish for frees their slot at once.
                let room = p.room;
                for gone in before.into_iter().filter(|s| !sources.contains(s)) {
                    self.source_gone(room, gone);
                }
            }
        }
    }

    /// Most ICE-TCP connections one peer may hold (a browser opens one per local address it tries).
    const CONNS_PER_PEER: usize = 4;

    /// A new ICE-TCP connection, whose first request names a peer of this shard: kept if that request is
    /// authentic (str0m checks its MESSAGE-INTEGRITY), closed otherwise.
    fn tcp_connection(&mut self, now: Instant, accepted: crate::tcp::Accepted) {
        let crate::tcp::Accepted { stream, remote, first } = accepted;
        let path = Path { proto: Protocol::Tcp, addr: remote };
        let peer_id = stun_local_ufrag(&first).and_then(|u| self.by_ufrag.get(u)).copied();
        let authentic = peer_id.and_then(|id| self.peers.get(&id)).is_some_and(|peer| {
            let destination = self.destination(Protocol::Tcp, remote);
            DatagramRecv::try_from(&first[..]).is_ok_and(|contents| {
                let receive = Receive { proto: Protocol::Tcp, source: remote, destination, contents };
                peer.rtc.accepts(&Input::Receive(now, receive))
            })
        });
        let held = peer_id.map_or(0, |id| self.conns.values().filter(|(_, p)| *p == id).count());
        let (Some(peer_id), true, true) = (peer_id, authentic, held < Self::CONNS_PER_PEER) else {
            self.stats.tcp.refused_by_shard.fetch_add(1, Ordering::Relaxed);
            return tracing::debug!(%remote, "an ICE-TCP connection was refused: unknown or unauthentic");
        };
        if self.conns.contains_key(&remote) {
            return;
        }
        let limits = crate::tcp::Limits::default();
        match crate::tcp::Conn::start(stream, remote, self.from_conns.clone(), self.stats.tcp.clone(), limits) {
            Ok(conn) => {
                self.conns.insert(remote, (conn, peer_id));
                self.input(now, path, &first);
            }
            Err(e) => tracing::debug!(%remote, error = %e, "an ICE-TCP connection could not be set up"),
        }
    }

    fn conn_message(&mut self, now: Instant, message: crate::tcp::FromConn) {
        match message {
            crate::tcp::FromConn::Frame(remote, data) => {
                if self.conns.contains_key(&remote) {
                    ShardMeter::add(&self.meter().packets_in, 1);
                    ShardMeter::add(&self.meter().bytes_in, data.len() as u64);
                    self.input(now, Path { proto: Protocol::Tcp, addr: remote }, &data);
                }
            }
            crate::tcp::FromConn::Closed(remote) => self.close_conn(remote),
        }
    }

    /// Forgets an ICE-TCP connection; its peer's media stops going there (ICE moves it, or the peer times
    /// out if it has no other path).
    fn close_conn(&mut self, remote: SocketAddr) {
        let Some((_conn, peer_id)) = self.conns.remove(&remote) else { return };
        let path = Path { proto: Protocol::Tcp, addr: remote };
        self.by_addr.remove(&path);
        if let Some(peer) = self.peers.get_mut(&peer_id) {
            peer.addrs.retain(|p| *p != path);
            if peer.dest == Some(path) {
                set_dest(&self.stats.shards[self.index], &self.turn_ips, peer, None);
            }
        }
    }

    fn open_room(&mut self, room: RoomKey, events: mpsc::Sender<SfuEvent>) {
        let audience = (0..self.slot_config.slots)
            .map(|_| AudienceSlot { aggregator: Aggregator::new(1), waiting_since: None, last: None })
            .collect();
        let mapper = SlotMapper::new(self.slot_config.clone());
        let red_last = vec![[None, None]; self.slot_config.slots];
        self.rooms.insert(
            room,
            RoomMedia {
                peers: Vec::new(),
                mapper,
                events,
                audience,
                audience_frames: 1,
                red_last,
                tap: None,
                uplink: None,
            },
        );
    }

    fn offer(
        &mut self,
        now: Instant,
        room: RoomKey,
        peer_id: PeerId,
        source: SourceId,
        sdp: &str,
        forwarding: Forwarding,
    ) {
        let Some(media) = self.rooms.get(&room) else { return };
        let reject = |error: PeerError, message: String| {
            let _ = media.events.try_send(SfuEvent::Rejected { peer: peer_id, error, message });
        };
        let offer = match SdpOffer::from_sdp_string(sdp) {
            Ok(o) => o,
            Err(e) => return reject(PeerError::InvalidSdp, format!("The offer is not valid SDP: {e}.")),
        };
        let ufrag = ufrag_for(self.index);
        let mut rtc_config = RtcConfig::new()
            .set_crypto_provider(crate::srtp::provider())
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .set_extension_map(extensions())
            .set_local_ice_credentials(IceCreds { ufrag: ufrag.clone(), pass: random_token(24) });
        // Opus with in-band FEC and DTX: the answer's `useinbandfec=1;usedtx=1` is what makes browsers send
        // FEC and stop sending during silence, so a quiet stage costs almost nothing. RED over it for a
        // client that offers it: its slots carry the previous packet's Opus too (see `red.rs`). No NACK: a
        // retransmitted uplink packet would be forwarded again, a duplicate (and late) for every listener.
        crate::red::add_opus(rtc_config.codec_config(), true, false);
        if let Some(cert) = &self.cert {
            rtc_config = rtc_config.set_dtls_cert(cert.clone());
        }
        let (udp, tcp) = (self.advertised.clone(), self.advertised_tcp.clone());
        // The offer is the client's input too: str0m reads it under a guard.
        let accepted = catch_unwind(AssertUnwindSafe(move || {
            let mut rtc = rtc_config.build(now);
            // UDP first, then ICE-TCP (passive: the client connects), which str0m gives a lower priority.
            let candidates = udp.iter().map(|a| Candidate::host(*a, "udp")).chain(
                tcp.iter().map(|a| Candidate::builder().tcp().host(*a).tcptype(str0m::net::TcpType::Passive).build()),
            );
            for candidate in candidates {
                let candidate = candidate
                    .map_err(|e| (PeerError::Internal, format!("The server cannot offer a candidate: {e}.")))?;
                rtc.add_local_candidate(candidate);
            }
            match rtc.sdp_api().accept_offer(offer) {
                Ok(answer) => Ok((rtc, answer)),
                Err(e) => Err((PeerError::InvalidSdp, format!("The offer cannot be accepted: {e}."))),
            }
        }));
        let (rtc, answer) = match accepted {
            Ok(Ok(accepted)) => accepted,
            Ok(Err((error, message))) => return reject(error, message),
            Err(_) => {
                self.stats.peer_panics.fetch_add(1, Ordering::Relaxed);
                tracing::error!(peer = peer_id.0, "reading an offer panicked");
                return reject(PeerError::InvalidSdp, "The offer cannot be accepted.".into());
            }
        };
        let mut peer = Peer {
            room,
            source,
            rtc,
            forwarding,
            slot_mids: Vec::new(),
            pt: None,
            red: None,
            ufrag: ufrag.clone(),
            addrs: Vec::new(),
            scheduled: None,
            timeout: now,
            keys: None,
            dest: None,
            nominating: None,
            indexes: Indexes::new(0, None),
            fast: Fast::Pending,
            link_sources: None,
        };
        // The negotiated media, in offer order (str0m emits no MediaAdded for an answerer); Opus must be there.
        let sdp = candidates_everywhere(&answer.to_sdp_string());
        for mid in sdp.lines().filter_map(|l| l.strip_prefix("a=mid:")).map(|m| Mid::from(m.trim())) {
            let Some(media) = peer.rtc.media(mid) else { continue };
            if media.kind() != MediaKind::Audio {
                continue;
            }
            if peer.pt.is_none() {
                // The Opus payload type (not RED's), and the RED one linked to it, if the client offered RED.
                let opus = peer
                    .rtc
                    .codec_config()
                    .params()
                    .iter()
                    .find(|p| p.spec().codec == Codec::Opus && media.remote_pts().contains(&p.pt()));
                peer.pt = opus.map(|p| p.pt());
                // RED is in use when the answer names it (str0m keeps it only if the offer had it too).
                peer.red =
                    opus.and_then(|p| p.red()).filter(|r| sdp.contains(&format!("a=rtpmap:{} red/48000/2", **r)));
            }
            // Whatever the client can receive on is a slot: its `recvonly` m-lines (our `sendonly`), and also a
            // `sendrecv` one, which is what a plain `addTrack(mic)` client offers.
            let receives = matches!(media.direction(), Direction::SendOnly | Direction::SendRecv);
            if receives && peer.slot_mids.len() < self.slot_config.slots {
                peer.slot_mids.push(mid);
            }
        }
        if peer.pt.is_none() {
            return reject(PeerError::NoOpus, "The offer has no Opus audio; Stoa carries Opus only.".into());
        }
        peer.indexes = Indexes::new(peer.slot_mids.len(), self.first_seq);
        self.by_ufrag.insert(ufrag, peer_id);
        self.peers.insert(peer_id, peer);
        self.gauge[self.index].fetch_add(1, Ordering::Relaxed);
        Registry::lock(&self.registry).peers.insert(peer_id, room);
        if let Some(media) = self.rooms.get_mut(&room) {
            media.peers.push(peer_id);
            let _ = media.events.try_send(SfuEvent::Answer { peer: peer_id, sdp });
        }
        // Like any mutation, accepting the offer is followed by draining the peer to its next timeout.
        self.drain(now, peer_id);
    }

    fn remove_peer(&mut self, peer_id: PeerId) {
        let Some(mut peer) = self.peers.remove(&peer_id) else { return };
        self.gauge[self.index].fetch_sub(1, Ordering::Relaxed);
        Registry::lock(&self.registry).peers.remove(&peer_id);
        // Under a guard too: the peer may be going because its str0m panicked.
        let _ = catch_unwind(AssertUnwindSafe(|| peer.rtc.disconnect()));
        self.by_ufrag.remove(&peer.ufrag);
        for path in &peer.addrs {
            self.by_addr.remove(path);
        }
        set_dest(&self.stats.shards[self.index], &self.turn_ips, &mut peer, None);
        self.conns.retain(|_, (_, owner)| *owner != peer_id);
        if let Some(media) = self.rooms.get_mut(&peer.room) {
            media.peers.retain(|p| *p != peer_id);
        }
        if peer.forwarding == Forwarding::On {
            self.source_gone(peer.room, peer.source);
        }
        for source in peer.link_sources.take().unwrap_or_default() {
            self.source_gone(peer.room, source);
        }
    }
}

/// The redundant block for a packet on `forward`'s slot and stream (0: the stage's, 1: the audience's):
/// the stream's previous packet, which this one then replaces.
fn red_previous(
    last: &mut [[Option<Previous>; 2]],
    forward: Forward,
    stream: usize,
    payload: &Arc<[u8]>,
) -> Option<Previous> {
    last.get_mut(forward.slot)?[stream].replace((forward.timestamp, payload.clone()))
}

/// Moves a peer's media to `dest`, keeping the shard's count of peers by transport.
fn set_dest(meter: &ShardMeter, turn_ips: &[IpAddr], peer: &mut Peer, dest: Option<Path>) {
    if peer.dest == dest {
        return;
    }
    let slot = |path: Path| match path.proto {
        Protocol::Udp if turn_ips.contains(&path.addr.ip()) => 2,
        Protocol::Udp => 0,
        _ => 1,
    };
    if let Some(old) = peer.dest {
        meter.peers_by_transport[slot(old)].fetch_sub(1, Ordering::Relaxed);
    }
    if let Some(new) = dest {
        meter.peers_by_transport[slot(new)].fetch_add(1, Ordering::Relaxed);
    }
    peer.dest = dest;
}

/// Repeats the answer's ICE candidates in every accepted m-section, each closed by `a=end-of-candidates`.
///
/// str0m writes them in the first bundled m-section only, which RFC 8843 allows, but some clients read a
/// bundle's candidates elsewhere: aiortc takes them from the last m-section, and never connects without
/// them. Repeating them costs a few lines and changes nothing for clients that read the first.
fn candidates_everywhere(sdp: &str) -> String {
    let candidates: Vec<&str> = sdp.lines().filter(|l| l.starts_with("a=candidate:")).collect();
    if candidates.is_empty() {
        return sdp.to_string();
    }
    let mut out = String::with_capacity(sdp.len() * 2);
    let mut section: Vec<&str> = Vec::new();
    let close = |section: &mut Vec<&str>, out: &mut String| {
        // A rejected m-section (port 0) carries no candidates.
        let accepted = section.first().is_some_and(|m| m.starts_with("m=") && m.split(' ').nth(1) != Some("0"));
        for line in section.iter().filter(|l| !l.starts_with("a=candidate:") && **l != "a=end-of-candidates") {
            out.push_str(line);
            out.push_str("\r\n");
        }
        if accepted {
            for line in candidates.iter().copied().chain(["a=end-of-candidates"]) {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        section.clear();
    };
    for line in sdp.lines() {
        if line.starts_with("m=") {
            close(&mut section, &mut out);
        }
        section.push(line);
    }
    close(&mut section, &mut out);
    out
}

/// Asks the kernel to run this shard thread ahead of ordinary work (nice -10): a shard's fan-out is what a
/// listener waits for, while the control plane, the database and anything else on the machine can wait a
/// few milliseconds. Best effort: without the privilege (CAP_SYS_NICE) the thread keeps its priority.
fn raise_priority() {
    // SAFETY: plain syscalls on the calling thread's own ID.
    let result = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, -10)
    };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "an SFU shard keeps its scheduling priority");
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// A random token of `len` characters for ICE credentials.
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn random_token(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_m_section_carries_the_candidates_and_their_end() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 7882 typ host\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n\
                   m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=mid:2\r\n";
        let out = candidates_everywhere(sdp);
        let sections: Vec<&str> = out.split("m=").skip(1).collect();
        assert_eq!(sections.len(), 3);
        for accepted in &sections[..2] {
            assert_eq!(accepted.matches("a=candidate:1 1 udp").count(), 1, "{accepted}");
            assert!(accepted.ends_with("a=end-of-candidates\r\n"), "{accepted}");
        }
        assert!(!sections[2].contains("a=candidate"), "a rejected m-section gets none");
        assert!(out.starts_with("v=0\r\n") && out.contains("a=group:BUNDLE 0 1\r\n"));
        assert_eq!(candidates_everywhere("v=0\r\n"), "v=0\r\n");
    }
}
