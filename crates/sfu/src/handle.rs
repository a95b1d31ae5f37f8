//! The control plane's handle on the SFU: [`Sfu`] starts the shards and sends each the [`Command`]s for
//! its rooms and peers.

use crate::api::*;
use crate::driver::{Command, Cross, ShardSetup, run_shard};
use crate::peer::shard_of_ufrag;
use crate::slots::SourceId;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

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
            stoa_media::set_dont_fragment(&socket);
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
                audience_phases: config.audience_phases,
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
    /// as if a peer had sent it: the slot mapper places it and every peer of the room gets it.
    pub fn inject(&self, room: RoomKey, packet: Tapped) {
        self.send(self.home_of(room), Command::Inject { room, packet });
    }

    /// Delivers a packet that another SFU (a cluster's origin for this room) already forwarded into `slot`,
    /// as it came: no slot decision, no joining of frames (the origin made them), the timestamp kept, and
    /// `packet.source` carried as the CSRC. Every peer of `room` gets it, numbered by its own counter for
    /// the slot. A room fed this way is a mirror: its own peers never publish into it.
    pub fn relay(&self, room: RoomKey, slot: usize, packet: Tapped) {
        self.send(self.home_of(room), Command::Relay { room, slot, packet });
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
