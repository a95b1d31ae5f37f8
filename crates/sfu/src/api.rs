//! The SFU's public types: what the control plane names, sends and is told, and what the media plane counts.

use crate::slots::{SlotConfig, SourceId};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
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
    /// Into how many phases a room's audience is split when it gets joined packets (at most the frames a
    /// packet joins; 1, one phase, by default). See `forward.rs`: each phase's packets end on other frames,
    /// so every 20 ms one phase is sent to, which shortens the fan-out burst and the wait of its last
    /// listener, for more wake-ups of the media threads.
    pub audience_phases: usize,
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
            audience_phases: 1,
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
    /// Who holds each slot changed. Each entry is a publisher's source, as given at [`crate::Sfu::offer`].
    Slots {
        /// The holders, one per slot.
        holders: Vec<Option<SourceId>>,
    },
}

/// A mirror room's way up: every packet its own publishers send, for the link to the room's origin.
/// Bounded; a full queue drops (and counts) packets, never waits.
pub type Uplink = mpsc::Sender<Tapped>;

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
    /// Its RFC 6464 audio level in dBov (0 loudest, -127 silence), if known.
    pub level: Option<i8>,
    /// The Opus frame.
    pub payload: Arc<[u8]>,
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
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn forwarded_after(&self, wait: Duration) {
        let us = wait.as_micros() as u64;
        let bucket = FORWARD_BUCKETS_US.iter().position(|b| us <= *b).unwrap_or(FORWARD_BUCKETS_US.len());
        Self::add(&self.forward_buckets[bucket], 1);
        Self::add(&self.forward_sum_us, us);
    }
}

/// Counts a refused message and logs it: the first, then every 1,000th, so a flood does not flood the log.
pub(crate) fn count_drop(counter: &AtomicU64, what: &str) {
    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
    if n == 1 || n.is_multiple_of(1000) {
        tracing::warn!(dropped = n, "{what}: a full queue dropped a message");
    }
}
