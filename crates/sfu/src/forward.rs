//! Who hears a packet: the SFU's forwarding decisions, without sockets or clocks.
//!
//! A [`Forwarder`] is one room's forwarding state on one shard: the room's peers on that shard (links to
//! other nodes first), and on the room's home shard its slot mapper, the redundancy each slot stream
//! carries, and the audience's frames waiting to be joined. Time is a parameter of every call. Each call
//! appends what to do to a list of [`Out`]s, and the driver carries them out: it seals and sends, copies to
//! the mix, sends up a mirror's link, and tells the room of slot changes.
//!
//! The rules, each a test below:
//! - a speaker's packet takes a slot as the [`SlotMapper`] decides, and every peer of the room hears it
//!   but its own speaker;
//! - the stage (speakers, and links whose node has speakers) gets 20 ms packets; with joining on, the
//!   audience gets the same frames joined, and frames that wait too long go out as they are;
//! - with phases (up to one per joined frame), the audience is split into phases whose packets end on
//!   different frames: with three frames and three phases, each 20 ms a third of the audience is sent
//!   to, not all of it every 60 ms, which cuts the burst, and so the wait of its last listener, by three; a
//!   link is always in phase 0;
//! - a mirror (an edge's copy of a room) sends its own speakers' packets up to the origin, never into its
//!   own slots, and passes the origin's joined packets through as they are;
//! - links come first in the fan-out, so another node's listeners do not wait for this node's;
//! - a muted, demoted or departed speaker frees their slot at once; a silent one after a second.

use crate::api::{PeerId, RoomKey, Tapped};
use crate::repacket::Aggregator;
use crate::slots::{Forward, SlotConfig, SlotMapper, SourceId};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long joined frames may wait for the rest of their packet before going out as they are: three frames'
/// worth and one spare, so a talk spurt's last frames are not held long after it ends.
pub(crate) const AUDIENCE_FLUSH: Duration = Duration::from_millis(80);

/// A publisher's packet, as it travels within and between shards.
#[derive(Debug, Clone)]
pub(crate) struct Packet {
    pub room: RoomKey,
    pub source: SourceId,
    pub seq: u64,
    pub timestamp: u32,
    pub level: Option<i8>,
    pub voice: Option<bool>,
    pub payload: Arc<[u8]>,
    /// The slot stream's previous packet, for RED: set on the home shard.
    pub previous: Option<Previous>,
}

/// A slot stream's previous packet: its slot timestamp and its Opus.
pub(crate) type Previous = (u32, Arc<[u8]>);

impl Packet {
    /// A packet the server did not read from a speaker's peer (made here, or relayed from an origin).
    pub fn from_tapped(room: RoomKey, packet: Tapped) -> Packet {
        Packet {
            room,
            source: packet.source,
            seq: packet.seq,
            timestamp: packet.timestamp,
            level: packet.level,
            voice: packet.level.map(crate::slots::is_voice),
            payload: packet.payload,
            previous: None,
        }
    }

    /// The packet as the room heard it, for its mix or its origin.
    fn tapped(&self) -> Tapped {
        Tapped {
            source: self.source,
            seq: self.seq,
            timestamp: self.timestamp,
            level: self.level,
            payload: self.payload.clone(),
        }
    }
}

/// Which peers of a room a forwarded packet is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// Everyone (when the audience gets 20 ms packets too).
    Everyone,
    /// The stage only: its 20 ms packets, when the audience gets joined ones.
    Stage,
    /// Everyone but the stage in phase `phase` of `of`: joined packets.
    Listeners { phase: u8, of: u8 },
}

impl Audience {
    fn includes(self, member: &Member) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Stage => member.stage,
            Audience::Listeners { phase, of } => !member.stage && member.phase(of) == phase,
        }
    }
}

/// How many lanes members are dealt into, one after another as they join: a multiple of every phase count
/// (1 to 6), so that each count splits the members evenly.
const LANES: u8 = 60;

/// A peer of the room on this shard, as forwarding sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member {
    pub peer: PeerId,
    /// The peer's own source: it never hears its own packets.
    pub source: SourceId,
    /// On the stage's side: an unmuted speaker, or a link whose node has someone who may be heard.
    pub stage: bool,
    /// Another node's link to this room.
    pub link: bool,
    /// Dealt by the forwarder as the member joins (see [`Member::phase`]).
    pub lane: u8,
}

impl Member {
    /// The member's phase of `of`, for the audience's joined packets. A link is in phase 0: it passes the
    /// joined packets on as they are, and must hear one phase's only.
    pub fn phase(&self, of: u8) -> u8 {
        if self.link || of <= 1 { 0 } else { self.lane % of }
    }
}

/// What the driver is to do.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    /// Send `packet` into `forward`'s slot, to the members of its room `to` names, on every shard.
    Deliver(Packet, Forward, Audience),
    /// Who holds each slot changed.
    Slots(RoomKey, Vec<Option<SourceId>>),
    /// A copy for the room's mix.
    Tap(RoomKey, Tapped),
    /// A mirror's speaker's packet, for its link up to the origin.
    Up(RoomKey, Tapped),
}

struct AudienceSlot {
    /// One per phase of the audience.
    phases: Vec<Phase>,
    /// The packet whose speaker and level the waiting frames go out with.
    last: Option<Packet>,
}

struct Phase {
    aggregator: Aggregator,
    waiting_since: Option<Instant>,
}

impl AudienceSlot {
    /// `phases` (at most `frames`) spread evenly over the frames of a packet.
    fn new(frames: usize, phases: usize) -> AudienceSlot {
        let phases = phases.clamp(1, frames.max(1));
        let aggregator = |p| match phases {
            1 => Aggregator::new(frames),
            _ => Aggregator::phased(frames, p * frames / phases),
        };
        let phase = |p| Phase { aggregator: aggregator(p), waiting_since: None };
        AudienceSlot { phases: (0..phases).map(phase).collect(), last: None }
    }

    fn is_pending(&self) -> bool {
        self.phases.iter().any(|p| p.aggregator.is_pending())
    }
}

/// Per slot, the last packet of each of its streams, with its slot timestamp: [0] the stage's, [1 + p]
/// phase p's of the audience's.
type RedLast = [Option<Previous>; 1 + crate::repacket::MAX_FRAMES];

/// One room's forwarding state on one shard (see the module's documentation).
pub(crate) struct Forwarder {
    room: RoomKey,
    /// Links first.
    members: Vec<Member>,
    mapper: SlotMapper,
    /// Per slot, the last packet of each stream: the redundant block of the next.
    red_last: Vec<RedLast>,
    /// On the home shard: per slot, the frames waiting to be joined for the audience.
    audience: Vec<AudienceSlot>,
    audience_frames: usize,
    /// Into how many phases the audience is split (at most `audience_frames`).
    audience_phases: usize,
    /// The lane the next member to join is dealt.
    next_lane: u8,
    /// Whether the room's mix takes a copy of each packet heard.
    pub tapped: bool,
    /// Whether this room is a mirror, whose speakers are heard through its origin.
    pub mirror: bool,
}

impl Forwarder {
    pub fn new(room: RoomKey, config: &SlotConfig, audience_phases: usize) -> Forwarder {
        Forwarder {
            room,
            members: Vec::new(),
            mapper: SlotMapper::new(config.clone()),
            red_last: vec![Default::default(); config.slots],
            audience: (0..config.slots).map(|_| AudienceSlot::new(1, 1)).collect(),
            audience_frames: 1,
            audience_phases: audience_phases.clamp(1, crate::repacket::MAX_FRAMES),
            next_lane: 0,
            tapped: false,
            mirror: false,
        }
    }

    /// The room's peers on this shard, links first.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// How many of [`Self::members`] are links (they come first).
    pub fn links(&self) -> usize {
        self.members.iter().take_while(|m| m.link).count()
    }

    /// The members `to` names who may hear a packet from `source`: never its own speaker.
    pub fn recipients(&self, source: SourceId, to: Audience) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(move |m| to.includes(m) && m.source != source)
    }

    /// A peer joins (its `lane` is dealt here), or changes side (keeping its lane).
    pub fn join(&mut self, mut member: Member) {
        match self.members.iter().position(|m| m.peer == member.peer) {
            Some(i) => member.lane = self.members.remove(i).lane,
            None => {
                member.lane = self.next_lane;
                self.next_lane = (self.next_lane + 1) % LANES;
            }
        }
        if member.link {
            self.members.insert(0, member);
        } else {
            self.members.push(member);
        }
    }

    pub fn leave(&mut self, peer: PeerId) {
        self.members.retain(|m| m.peer != peer);
    }

    /// A peer's side changed: a speaker muted or unmuted, a link's node gained or lost its speakers.
    pub fn set_member(&mut self, peer: PeerId, stage: bool, link: bool) {
        if let Some(m) = self.members.iter().find(|m| m.peer == peer).copied() {
            self.join(Member { stage, link, ..m });
        }
    }

    /// How many frames each packet to the audience joins. What waits under the old setting goes out first.
    pub fn set_audience_frames(&mut self, now: Instant, frames: usize, out: &mut Vec<Out>) {
        self.flush(now, true, out);
        self.audience_frames = frames.clamp(1, crate::repacket::MAX_FRAMES);
        for slot in &mut self.audience {
            *slot = AudienceSlot::new(self.audience_frames, self.audience_phases);
        }
    }

    /// A speaker's packet, on the room's home shard: the slot decision, made once per packet.
    pub fn publish(&mut self, now: Instant, mut packet: Packet, out: &mut Vec<Out>) {
        if self.mirror {
            // Its speakers are heard through the origin, which makes the slot decision.
            return out.push(Out::Up(self.room, packet.tapped()));
        }
        let forward = self.mapper.packet(now, packet.source, packet.seq, packet.timestamp, packet.level);
        if let Some(holders) = self.mapper.take_change() {
            out.push(Out::Slots(self.room, holders));
        }
        let Some(forward) = forward else { return };
        if self.tapped {
            out.push(Out::Tap(self.room, packet.tapped()));
        }
        packet.previous = self.red_previous(forward, 0, &packet.payload);
        self.deliver_joining(now, packet, forward, out);
    }

    /// A packet another SFU (the origin of this mirror) already placed in `slot`: no slot decision.
    pub fn relay(&mut self, now: Instant, slot: usize, mut packet: Packet, out: &mut Vec<Out>) {
        if slot >= self.red_last.len() {
            return;
        }
        let forward = Forward { slot, timestamp: packet.timestamp };
        packet.previous = self.red_previous(forward, 0, &packet.payload);
        self.deliver_joining(now, packet, forward, out);
    }

    /// A speaker stopped publishing or left: their slot frees at once.
    pub fn source_gone(&mut self, source: SourceId, out: &mut Vec<Out>) {
        self.mapper.remove_source(source);
        if let Some(holders) = self.mapper.take_change() {
            out.push(Out::Slots(self.room, holders));
        }
    }

    /// When waiting audience frames must go out, if any wait.
    pub fn next_flush(&self) -> Option<Instant> {
        let waiting = self.audience.iter().flat_map(|a| &a.phases).filter_map(|p| p.waiting_since);
        waiting.min().map(|t| t + AUDIENCE_FLUSH)
    }

    /// Sends audience frames that have waited long enough (all of them, with `all`) as they are.
    pub fn flush(&mut self, now: Instant, all: bool, out: &mut Vec<Out>) {
        let of = self.audience.first().map_or(1, |a| a.phases.len()) as u8;
        for index in 0..self.audience.len() {
            for p in 0..self.audience[index].phases.len() {
                let slot = &mut self.audience[index];
                let phase = &mut slot.phases[p];
                if !phase.waiting_since.is_some_and(|t| all || now >= t + AUDIENCE_FLUSH) {
                    continue;
                }
                phase.waiting_since = None;
                if let (Some(j), Some(last)) = (phase.aggregator.flush(), slot.last.clone()) {
                    let f = Forward { slot: index, timestamp: j.timestamp };
                    let previous = self.red_previous(f, 1 + p, &j.payload);
                    let packet = Packet { payload: j.payload, timestamp: j.timestamp, previous, ..last };
                    out.push(Out::Deliver(packet, f, Audience::Listeners { phase: p as u8, of }));
                }
            }
        }
    }

    /// To everyone while the audience gets 20 ms packets; else as it is to the stage and, joined with the
    /// slot's next frames, to the listeners. A mirror comes here too, for the 20 ms stream its origin sends
    /// while the mirror has speakers: it joins for its own listeners; the joined packets its link carries
    /// otherwise pass through as they are.
    fn deliver_joining(&mut self, now: Instant, packet: Packet, forward: Forward, out: &mut Vec<Out>) {
        let joined_already = self.mirror
            && !self.audience.get(forward.slot).is_some_and(AudienceSlot::is_pending)
            && !crate::repacket::joinable(&packet.payload);
        if self.audience_frames <= 1 || joined_already {
            return out.push(Out::Deliver(packet, forward, Audience::Everyone));
        }
        let Some(slot) = self.audience.get_mut(forward.slot) else { return };
        let of = slot.phases.len() as u8;
        let before = slot.last.replace(packet.clone());
        out.push(Out::Deliver(packet.clone(), forward, Audience::Stage));
        for p in 0..slot.phases.len() {
            let phase = &mut self.audience[forward.slot].phases[p];
            let joined = phase.aggregator.push(forward.timestamp, packet.payload.clone());
            let pending = phase.aggregator.is_pending();
            phase.waiting_since = if pending { phase.waiting_since.or(Some(now)) } else { None };
            let count = joined.len();
            for (i, j) in joined.into_iter().enumerate() {
                // Only the last joined packet can hold this one, and only if nothing is left waiting; frames
                // that waited from before go out as the packet they came with (its speaker, when the slot
                // changed hands meanwhile).
                let with = if i + 1 == count && !pending { &packet } else { before.as_ref().unwrap_or(&packet) };
                let f = Forward { slot: forward.slot, timestamp: j.timestamp };
                let previous = self.red_previous(f, 1 + p, &j.payload);
                let joined_packet = Packet { payload: j.payload, timestamp: j.timestamp, previous, ..with.clone() };
                out.push(Out::Deliver(joined_packet, f, Audience::Listeners { phase: p as u8, of }));
            }
        }
    }

    /// The redundant block for a packet on `forward`'s slot and stream (0: the stage's, 1 + p: the
    /// audience's phase p's): the stream's previous packet, which this one then replaces.
    fn red_previous(&mut self, forward: Forward, stream: usize, payload: &Arc<[u8]>) -> Option<Previous> {
        self.red_last.get_mut(forward.slot)?[stream].replace((forward.timestamp, payload.clone()))
    }
}

#[cfg(test)]
#[path = "forward_tests.rs"]
mod tests;
