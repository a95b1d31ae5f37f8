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

use crate::api::*;
use crate::downlink::Outgoing;
use crate::forward::{Audience, Forwarder, Member, Out, Packet};
use crate::net::{Outbox, stun_is_success, stun_local_ufrag, stun_nominates, stun_username};
use crate::peer::{Fast, Offering, Path, Peer, Refused, build_fast, set_dest};
use crate::slots::{Forward, SlotConfig, SourceId};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use str0m::crypto::dtls::DtlsCert;
use str0m::media::Pt;
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Event, IceConnectionState, Input, Output};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub(crate) mod fanout;
mod io;

/// What the control plane asks of the SFU.
#[derive(Debug)]
pub(crate) enum Command {
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
    },
    /// A packet another SFU already placed in `slot` (the origin of a cluster's room), delivered as it is
    /// to every peer of this mirror room.
    Relay {
        room: RoomKey,
        slot: usize,
        packet: Tapped,
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

/// What shards tell each other. A packet crosses shards at most twice — a publisher's packet to its room's
/// home shard, and the home shard's forwarding decision to each other shard — one message per shard, never
/// one per listener. The channels are lock-free queues; no lock is taken per packet.
#[derive(Debug)]
pub(crate) enum Cross {
    /// A publisher's packet, for its room's home shard (which owns the room's slot mapper).
    Publish(Packet),
    /// A forwarding decision, for some of the peers on another shard.
    Deliver(Packet, Forward, Audience),
    /// A publisher on another shard stopped publishing or left.
    SourceGone { room: RoomKey, source: SourceId },
}

/// A room on this shard: its forwarding state, and where the room's events, mix and uplink go.
struct RoomMedia {
    forwarder: Forwarder,
    events: mpsc::Sender<SfuEvent>,
    /// On the home shard: the room's mix's inbox, while it has one.
    tap: Option<Tap>,
    /// On the home shard of a mirror room: where its publishers' packets go, up to the origin.
    uplink: Option<Uplink>,
}

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
    audience_phases: usize,
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
    /// The forwarders' decisions, to carry out (kept for its capacity).
    outs: Vec<Out>,
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
pub(crate) struct Registry {
    rooms: HashMap<RoomKey, mpsc::Sender<SfuEvent>>,
    peers: HashMap<PeerId, RoomKey>,
}

impl Registry {
    fn lock(registry: &std::sync::Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
        registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Everything a shard's thread needs to (re)start its shard.
pub(crate) struct ShardSetup {
    pub index: usize,
    pub advertised: Vec<SocketAddr>,
    pub advertised_tcp: Vec<SocketAddr>,
    pub turn_ips: Vec<IpAddr>,
    pub slot_config: SlotConfig,
    pub audience_phases: usize,
    pub peers: Arc<[std::sync::atomic::AtomicUsize]>,
    pub cross: Vec<mpsc::Sender<Cross>>,
    pub first_seq: Option<u16>,
    pub fault_injection: bool,
    pub stats: Arc<Stats>,
    pub registry: Arc<std::sync::Mutex<Registry>>,
}

/// A shard's thread: runs its shard, and if the shard panics despite the per-peer guards, reports it,
/// tells the rooms that its peers are gone, and starts a fresh shard on the same socket and queues.
pub(crate) fn run_shard(
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
            audience_phases: setup.audience_phases,
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
            outs: Vec::new(),
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
            self.flush_audience(Instant::now());
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
                if let Some(media) = self.rooms.get_mut(&room) {
                    media.forwarder.set_audience_frames(now, frames, &mut self.outs);
                    self.carry_out(now);
                }
            }
            Command::CloseRoom { room } => {
                Registry::lock(&self.registry).rooms.remove(&room);
                if let Some(media) = self.rooms.remove(&room) {
                    for member in media.forwarder.members() {
                        self.remove_peer(member.peer);
                    }
                }
            }
            Command::Offer { room, peer, source, sdp, forwarding } => {
                self.offer(now, room, peer, source, &sdp, forwarding)
            }
            Command::SetForwarding { peer, forwarding } => {
                let Some(p) = self.peers.get_mut(&peer) else { return };
                p.forwarding = forwarding;
                self.sync_member(peer);
                let Some(p) = self.peers.get(&peer) else { return };
                if forwarding == Forwarding::Off {
                    // A demoted or muted speaker's slot frees at once, rather than after its idle time.
                    let (room, source) = (p.room, p.source);
                    self.source_gone(room, source);
                }
            }
            Command::ClosePeer { peer } => self.remove_peer(peer),
            Command::Tcp(accepted) => self.tcp_connection(now, accepted),
            Command::Inject { room, packet } => {
                let packet = Packet::from_tapped(room, packet);
                self.forward_since.get_or_insert(now);
                self.publish_at_home(now, packet);
            }
            Command::Relay { room, slot, packet } => {
                let Some(media) = self.rooms.get_mut(&room) else { return };
                self.forward_since.get_or_insert(now);
                media.forwarder.relay(now, slot, Packet::from_tapped(room, packet), &mut self.outs);
                self.carry_out(now);
            }
            Command::Tap { room, tap } => {
                if let Some(media) = self.rooms.get_mut(&room) {
                    media.forwarder.tapped = tap.is_some();
                    media.tap = tap;
                }
            }
            Command::Uplink { room, uplink } => {
                if let Some(media) = self.rooms.get_mut(&room) {
                    media.forwarder.mirror = uplink.is_some();
                    media.uplink = uplink;
                }
            }
            Command::LinkSources { peer, sources } => {
                let Some(p) = self.peers.get_mut(&peer) else { return };
                let before = p.link_sources.replace(sources.clone()).unwrap_or_default();
                let room = p.room;
                self.sync_member(peer);
                // A speaker the link may no longer publish for frees their slot at once.
                for gone in before.into_iter().filter(|s| !sources.contains(s)) {
                    self.source_gone(room, gone);
                }
            }
        }
    }

    /// Tells the peer's room's forwarder which side the peer is on now.
    fn sync_member(&mut self, peer_id: PeerId) {
        let Some(peer) = self.peers.get(&peer_id) else { return };
        if let Some(media) = self.rooms.get_mut(&peer.room) {
            media.forwarder.set_member(peer_id, peer.on_stage(), peer.link_sources.is_some());
        }
    }

    fn open_room(&mut self, room: RoomKey, events: mpsc::Sender<SfuEvent>) {
        let forwarder = Forwarder::new(room, &self.slot_config, self.audience_phases);
        self.rooms.insert(room, RoomMedia { forwarder, events, tap: None, uplink: None });
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
        let offering = Offering {
            shard: self.index,
            udp: &self.advertised,
            tcp: &self.advertised_tcp,
            cert: self.cert.as_ref(),
            slots: self.slot_config.slots,
            first_seq: self.first_seq,
        };
        let (peer, sdp) = match crate::peer::accept(now, &offering, room, source, sdp, forwarding) {
            Ok(accepted) => accepted,
            Err(Refused { error, message, panicked }) => {
                if panicked {
                    self.stats.peer_panics.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(peer = peer_id.0, "reading an offer panicked");
                }
                let _ = media.events.try_send(SfuEvent::Rejected { peer: peer_id, error, message });
                return;
            }
        };
        self.by_ufrag.insert(peer.ufrag.clone(), peer_id);
        self.peers.insert(peer_id, peer);
        self.gauge[self.index].fetch_add(1, Ordering::Relaxed);
        Registry::lock(&self.registry).peers.insert(peer_id, room);
        if let Some(media) = self.rooms.get_mut(&room) {
            let stage = forwarding == Forwarding::On;
            media.forwarder.join(Member { peer: peer_id, source, stage, link: false, lane: 0 });
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
            media.forwarder.leave(peer_id);
        }
        if peer.forwarding == Forwarding::On {
            self.source_gone(peer.room, peer.source);
        }
        for source in peer.link_sources.take().unwrap_or_default() {
            self.source_gone(peer.room, source);
        }
    }
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

#[cfg(test)]
mod tests;
