//! A shard's peers' input: datagrams and ICE-TCP frames to the right `str0m::Rtc`, its timers, and its
//! output drained to the outbox, under a guard per peer.

use super::fanout::received;
use super::*;

impl Shard {
    /// Most ICE-TCP connections one peer may hold (a browser opens one per local address it tries).
    pub(super) const CONNS_PER_PEER: usize = 4;

    pub(super) fn refuse(&mut self, now: Instant, source: SocketAddr, why: &str) {
        ShardMeter::add(&self.meter().refused, 1);
        self.refused += 1;
        tracing::debug!(%source, why, "refused a datagram");
        if now.duration_since(self.refused_logged_at) >= Duration::from_secs(10) {
            tracing::warn!(count = self.refused, "refused datagrams from unknown or invalid sources in the last 10 s");
            self.refused = 0;
            self.refused_logged_at = now;
        }
    }

    pub(super) fn datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        self.input(now, Path::udp(source), data)
    }

    /// The local candidate a packet from `source` on `proto` came to: the advertised address of its family.
    pub(super) fn destination(&self, proto: Protocol, source: SocketAddr) -> SocketAddr {
        let candidates = if proto == Protocol::Tcp { &self.advertised_tcp } else { &self.advertised };
        candidates.iter().find(|a| a.is_ipv4() == source.is_ipv4()).or(candidates.first()).copied().unwrap_or(source)
    }

    /// A packet from a peer, on UDP or ICE-TCP.
    pub(super) fn input(&mut self, now: Instant, path: Path, data: &[u8]) {
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

    pub(super) fn fire_timers(&mut self, now: Instant) {
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

    pub(super) fn schedule(&mut self, peer_id: PeerId) {
        let Some(peer) = self.peers.get_mut(&peer_id) else { return };
        if peer.scheduled.is_none_or(|s| peer.timeout < s) {
            peer.scheduled = Some(peer.timeout);
            self.timers.push(Reverse((peer.timeout, peer_id)));
        }
    }

    /// Drains one peer's output to its next timeout (str0m's single-mutation invariant), queueing its
    /// datagrams and collecting the packets it received for fan-out.
    pub(super) fn drain(&mut self, now: Instant, peer_id: PeerId) {
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
                                let Some(primary) =
                                    stoa_media::red::decode(&packet.payload).map(|r| Arc::from(r.primary))
                                else {
                                    continue;
                                };
                                packet.payload = primary;
                            }
                            self.forward_since.get_or_insert(now);
                            self.pending.push(received(peer.room, peer.source, packet));
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
                            self.pending.push(received(peer.room, source, packet));
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
            peer.connected = peer.rtc.is_connected();
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
    pub(super) fn peer_panicked(&mut self, peer_id: PeerId, hit: std::thread::Result<()>) {
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

    pub(super) fn emit(&self, peer_id: PeerId, event: impl FnOnce(PeerId) -> SfuEvent) {
        let Some(peer) = self.peers.get(&peer_id) else { return };
        if let Some(room) = self.rooms.get(&peer.room)
            && room.events.try_send(event(peer_id)).is_err()
        {
            tracing::debug!(peer = peer_id.0, "room event queue full; event dropped");
        }
    }

    /// A new ICE-TCP connection, whose first request names a peer of this shard: kept if that request is
    /// authentic (str0m checks its MESSAGE-INTEGRITY), closed otherwise.
    pub(super) fn tcp_connection(&mut self, now: Instant, accepted: crate::tcp::Accepted) {
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

    pub(super) fn conn_message(&mut self, now: Instant, message: crate::tcp::FromConn) {
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
    pub(super) fn close_conn(&mut self, remote: SocketAddr) {
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
}
