//! A shard's fan-out: a speaker's packet to its room's home shard, the forwarder's decisions carried out,
//! and each delivery sealed for the peers of this shard it is for.

use super::*;

impl Shard {
    pub(super) fn home_of(&self, room: RoomKey) -> usize {
        (room.0 % self.cross.len() as u64) as usize
    }

    /// Sends the packets publishers on this shard sent to their room's home shard — this one, usually,
    /// since publishers are placed there — for the slot decision and the fan-out.
    pub(super) fn fan_out(&mut self, now: Instant) {
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
    pub(super) fn publish_at_home(&mut self, now: Instant, packet: Packet) {
        let Some(room) = self.rooms.get_mut(&packet.room) else { return };
        room.forwarder.publish(now, packet, &mut self.outs);
        self.carry_out(now);
    }

    /// Carries out the forwarders' decisions.
    pub(super) fn carry_out(&mut self, now: Instant) {
        let mut outs = std::mem::take(&mut self.outs);
        for out in outs.drain(..) {
            match out {
                Out::Deliver(packet, forward, to) => self.deliver_everywhere(now, &packet, forward, to),
                Out::Slots(room, holders) => {
                    if let Some(media) = self.rooms.get(&room) {
                        let _ = media.events.try_send(SfuEvent::Slots { holders });
                    }
                }
                Out::Tap(room, copy) => {
                    let tap = self.rooms.get(&room).and_then(|m| m.tap.as_ref());
                    if let Some(Err(std::sync::mpsc::TrySendError::Full(_))) = tap.map(|t| t.try_send(copy)) {
                        count_drop(&self.stats.tap_dropped, "packets for a room's mix");
                    }
                }
                Out::Up(room, up) => {
                    let uplink = self.rooms.get(&room).and_then(|m| m.uplink.as_ref());
                    if uplink.is_some_and(|u| u.try_send(up).is_err()) {
                        count_drop(&self.stats.uplink_dropped, "packets up to a room's origin");
                    }
                }
            }
        }
        self.outs = outs;
    }

    /// Delivers a forwarding decision on this shard and sends it to every other shard.
    pub(super) fn deliver_everywhere(&mut self, now: Instant, packet: &Packet, forward: Forward, to: Audience) {
        for (shard, tx) in self.cross.iter().enumerate() {
            if shard != self.index && tx.try_send(Cross::Deliver(packet.clone(), forward, to)).is_err() {
                count_drop(&self.stats.cross_dropped, "packets between SFU shards");
            }
        }
        self.deliver(now, packet, forward, to);
    }

    /// When the next audience slot's waiting frames must go out (on this shard, if it is a room's home).
    pub(super) fn next_audience_flush(&self) -> Option<Instant> {
        self.rooms.values().filter_map(|r| r.forwarder.next_flush()).min()
    }

    /// Sends audience frames that have waited long enough as they are.
    pub(super) fn flush_audience(&mut self, now: Instant) {
        for room in self.rooms.values_mut() {
            room.forwarder.flush(now, false, &mut self.outs);
        }
        self.carry_out(now);
    }

    /// Writes a forwarded packet into the slot of the room's connected peers on this shard that it is for,
    /// never into the publisher's own. Each peer's copy is numbered by that peer's own counter for the slot.
    /// On the fast path this allocates nothing per peer: no copy of the room's peer list, and the sealed
    /// datagrams go into the outbox's reused arena.
    pub(super) fn deliver(&mut self, now: Instant, packet: &Packet, forward: Forward, to: Audience) {
        let Shard { rooms, peers, outbox, tcp_outbox, written, failed, red_scratch, socket, stats, index, .. } = self;
        let Some(room) = rooms.get(&packet.room) else { return };
        let mut red = RedBlock::new(red_scratch);
        let level = packet.level.map(|l| (l, packet.voice.unwrap_or(false)));
        // Other nodes' links come first: their packets leave before this shard seals for its own listeners,
        // so that an edge's listeners do not wait for this fan-out and then their own.
        let mut links_sent = room.forwarder.links() == 0;
        for member in room.forwarder.recipients(packet.source, to) {
            if !member.link && !links_sent {
                links_sent = true;
                if !outbox.is_empty() {
                    send_now(outbox, socket, &stats.shards[*index]);
                }
            }
            let Some(peer) = peers.get_mut(&member.peer) else { continue };
            if !peer.connected {
                continue;
            }
            let (Some(&mid), Some(pt)) = (peer.slot_mids.get(forward.slot), peer.pt) else { continue };
            if matches!(peer.fast, Fast::Pending)
                && let Some(keys) = peer.keys.take()
            {
                tracing::debug!(peer = member.peer.0, ?keys, "SRTP keys known: the fast path takes over");
                peer.fast = match build_fast(&mut peer.rtc, &peer.slot_mids, &keys) {
                    Some(fast) => Fast::Ready(Box::new(fast)),
                    None => Fast::Unavailable,
                };
            }
            // The index is used up whether or not the packet leaves: an index is never offered twice.
            let Some(index) = peer.indexes.take(forward.slot) else { continue };
            // With RED negotiated, the slot's previous packet rides along (when it fits a block header).
            let block = red.for_peer(peer.red, pt, forward.timestamp, packet.previous.as_ref(), &packet.payload);
            let is_red = block.is_some();
            let (pt, payload): (Pt, &[u8]) = block.unwrap_or((pt, &packet.payload));
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
            let data = if is_red { Arc::<[u8]>::from(payload) } else { packet.payload.clone() };
            let write =
                RtpWrite::new(pt, index.into(), forward.timestamp, now, data).ext_vals(ext).csrc(&[packet.source.0]);
            match catch_unwind(AssertUnwindSafe(|| stream.write_rtp(write))) {
                Ok(()) => written.push(member.peer),
                Err(_) => failed.push(member.peer),
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

    pub(super) fn cross(&mut self, now: Instant, message: Cross) {
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
    pub(super) fn source_gone(&mut self, room: RoomKey, source: SourceId) {
        let home = self.home_of(room);
        if home != self.index {
            if self.cross[home].try_send(Cross::SourceGone { room, source }).is_err() {
                count_drop(&self.stats.cross_dropped, "messages between SFU shards");
            }
            return;
        }
        if let Some(media) = self.rooms.get_mut(&room) {
            media.forwarder.source_gone(source, &mut self.outs);
            self.carry_out(Instant::now());
        }
    }
}

/// Sends what the outbox holds now, without waiting: whatever would block stays queued and goes with the
/// rest at the flush. What went is counted now.
pub(super) fn send_now(outbox: &mut Outbox, socket: &UdpSocket, meter: &ShardMeter) {
    let (queued, bytes) = (outbox.len(), outbox.queued_bytes());
    if let Err(e) = outbox.send(socket) {
        tracing::debug!(error = %e, "UDP send failed");
    }
    ShardMeter::add(&meter.packets_out, (queued - outbox.len()) as u64);
    ShardMeter::add(&meter.bytes_out, (bytes - outbox.queued_bytes()) as u64);
}

/// A packet as a peer sent it, for `source` (the peer's own, or for a link the speaker its CSRC names).
pub(super) fn received(room: RoomKey, source: SourceId, packet: str0m::rtp::RtpPacket) -> Packet {
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

/// The RED payload of one forwarded packet, made once for the Opus payload type most receivers share and
/// reused for each of them (made again only for a receiver with another).
pub(crate) struct RedBlock<'a> {
    scratch: &'a mut Vec<u8>,
    /// The Opus payload type it was made for; `Some(None)` when it was tried and did not fit.
    made_for: Option<Option<u8>>,
}

impl<'a> RedBlock<'a> {
    /// Writes into `scratch`, kept by the caller for its capacity.
    pub fn new(scratch: &'a mut Vec<u8>) -> RedBlock<'a> {
        RedBlock { scratch, made_for: None }
    }

    /// For a receiver whose Opus payload type is `opus` and who negotiated `red` (or not): the payload type
    /// and payload to send, when the packet carries a `previous` one (slot timestamp, Opus) that fits a
    /// block header; `None` to send the plain Opus.
    pub fn for_peer(
        &mut self,
        red: Option<Pt>,
        opus: Pt,
        timestamp: u32,
        previous: Option<&(u32, std::sync::Arc<[u8]>)>,
        primary: &[u8],
    ) -> Option<(Pt, &[u8])> {
        let (red, (ts, data)) = (red?, previous?);
        if self.made_for.is_none_or(|made| made != Some(*opus)) {
            let fits = stoa_media::red::encode(self.scratch, *opus, Some((timestamp.wrapping_sub(*ts), data)), primary);
            self.made_for = Some(fits.then_some(*opus));
        }
        self.made_for.flatten().map(|_| (red, &self.scratch[..]))
    }
}
