//! The forwarding rules as transcripts: each test is a script of what happens to a room (at a time in
//! milliseconds) with, indented under each step, what the forwarder decides. The test replays the steps
//! and compares what it gets with the whole script, so a change of behaviour shows as a diff of the
//! transcript.
//!
//! Steps:
//! - `slots N`: the room has N slots (before anyone joins);
//! - `join NAME@SHARD speaker|listener`: a peer joins on that shard (shard 0 is the room's home);
//! - `link NAME A,B` (or `-`): the peer is another node's link, publishing for those speakers;
//! - `mute NAME`, `unmute NAME`, `leave NAME`;
//! - `frames N`: the audience gets N frames a packet;
//! - `phases N`: the room's audience is split into N phases (before anyone joins; 1 by default);
//! - `mirror`, `tap`: the room is an edge's mirror; the room's mix takes copies;
//! - `pkt NAME [LEVEL]`: a 20 ms packet of NAME's (their next), at LEVEL dBov (-20 when not given);
//! - `relay SLOT NAME [joined]`: a packet the origin placed in SLOT (three frames, with `joined`);
//! - `flush`: the driver's timer for waiting audience frames fires.
//!
//! A line starting with `#` is a comment.
//!
//! Decisions: `slots A - -` (who holds each slot), `tap A#SEQ`, `up A#SEQ`, and a delivery,
//! `slotN A#SEQ[xFRAMES] everyone|stage|listeners -> NAME@SHARD ...` with its recipients in the order they
//! are sent to, shard by shard.

use super::*;
use std::collections::HashMap;

const SHARDS: usize = 2;

struct World {
    t0: Instant,
    shards: Vec<Forwarder>,
    /// Every name seen, a peer's and its source's: the index is the peer ID, the index + 1 the source.
    names: Vec<String>,
    seqs: HashMap<SourceId, u64>,
    links: HashMap<PeerId, Vec<SourceId>>,
}

impl World {
    fn new(slots: usize) -> World {
        World::with_phases(slots, 1)
    }

    fn with_phases(slots: usize, phases: usize) -> World {
        let config = SlotConfig { slots, ..SlotConfig::default() };
        let shards = (0..SHARDS).map(|_| Forwarder::new(RoomKey(1), &config, phases)).collect();
        World { t0: Instant::now(), shards, names: Vec::new(), seqs: HashMap::new(), links: HashMap::new() }
    }

    fn id(&mut self, name: &str) -> (PeerId, SourceId) {
        let i = match self.names.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.names.push(name.to_string());
                self.names.len() - 1
            }
        };
        (PeerId(i as u64), SourceId(i as u32 + 1))
    }

    fn name_of(&self, source: SourceId) -> &str {
        &self.names[source.0 as usize - 1]
    }

    fn member(&self, peer: PeerId) -> Option<(usize, Member)> {
        self.shards.iter().enumerate().find_map(|(i, f)| f.members().iter().find(|m| m.peer == peer).map(|m| (i, *m)))
    }

    /// The packet NAME sends next: sequence numbers from 1, a 20 ms CELT frame each.
    fn next_packet(&mut self, name: &str, level: i8) -> Packet {
        let (_, source) = self.id(name);
        let seq = self.seqs.entry(source).or_insert(0);
        *seq += 1;
        Packet::from_tapped(
            RoomKey(1),
            Tapped {
                source,
                seq: *seq,
                timestamp: (*seq as u32).wrapping_mul(960),
                level: Some(level),
                payload: vec![31 << 3, *seq as u8, 0xaa].into(),
            },
        )
    }

    fn step(&mut self, ms: u64, words: &[&str], out: &mut Vec<Out>) {
        let now = self.t0 + Duration::from_millis(ms);
        match words {
            ["slots", n] => *self = World::new(n.parse().unwrap()),
            ["phases", n] => *self = World::with_phases(3, n.parse().unwrap()),
            ["join", at, role] => {
                let (name, shard) = at.split_once('@').unwrap();
                let (peer, source) = self.id(name);
                let stage = *role == "speaker";
                self.shards[shard.parse::<usize>().unwrap()].join(Member { peer, source, stage, link: false, lane: 0 });
            }
            ["link", name, sources] => {
                let (peer, _) = self.id(name);
                let sources: Vec<SourceId> = sources.split(',').filter(|s| *s != "-").map(|s| self.id(s).1).collect();
                let (shard, _) = self.member(peer).unwrap();
                self.shards[shard].set_member(peer, !sources.is_empty(), true);
                let before = self.links.insert(peer, sources.clone()).unwrap_or_default();
                for gone in before.into_iter().filter(|s| !sources.contains(s)) {
                    self.shards[0].source_gone(gone, out);
                }
            }
            ["mute" | "unmute", name] => {
                let (peer, source) = self.id(name);
                let (shard, m) = self.member(peer).unwrap();
                let stage = words[0] == "unmute";
                self.shards[shard].set_member(peer, stage, m.link);
                if !stage {
                    self.shards[0].source_gone(source, out);
                }
            }
            ["leave", name] => {
                let (peer, source) = self.id(name);
                let (shard, m) = self.member(peer).unwrap();
                self.shards[shard].leave(peer);
                if m.stage {
                    self.shards[0].source_gone(source, out);
                }
            }
            ["frames", n] => self.shards[0].set_audience_frames(now, n.parse().unwrap(), out),
            ["mirror"] => self.shards[0].mirror = true,
            ["tap"] => self.shards[0].tapped = true,
            ["pkt", name, level @ ..] => {
                let level = level.first().map_or(-20, |l| l.parse().unwrap());
                let packet = self.next_packet(name, level);
                self.shards[0].publish(now, packet, out);
            }
            ["relay", slot, name, joined @ ..] => {
                let mut packet = self.next_packet(name, -20);
                if joined == ["joined"] {
                    packet.payload = vec![(31 << 3) | 3, 0x83, 1, 1, 7, 8, 9].into();
                }
                self.shards[0].relay(now, slot.parse().unwrap(), packet, out);
            }
            ["flush"] => self.shards[0].flush(now, false, out),
            other => panic!("no such step: {other:?}"),
        }
    }

    fn render(&self, out: &Out) -> String {
        let packet = |p: &Packet| {
            let frames = if p.payload[0] & 3 == 3 { format!("x{}", p.payload[1] & 0x3f) } else { String::new() };
            format!("{}#{}{frames}", self.name_of(p.source), p.seq)
        };
        match out {
            Out::Deliver(p, forward, to) => {
                let to_name = match to {
                    Audience::Listeners { phase: 0, of: 1 } => "listeners".to_string(),
                    Audience::Listeners { phase, of } => format!("listeners({phase}/{of})"),
                    _ => format!("{to:?}").to_lowercase(),
                };
                let mut line = format!("slot{} {} {to_name} ->", forward.slot, packet(p));
                for (i, shard) in self.shards.iter().enumerate() {
                    for m in shard.recipients(p.source, *to) {
                        line += &format!(" {}@{i}", self.names[m.peer.0 as usize]);
                    }
                }
                line
            }
            Out::Slots(_, holders) => {
                let names: Vec<&str> = holders.iter().map(|h| h.map_or("-", |s| self.name_of(s))).collect();
                format!("slots {}", names.join(" "))
            }
            Out::Tap(_, t) => format!("tap {}#{}", self.name_of(t.source), t.seq),
            Out::Up(_, t) => format!("up {}#{}", self.name_of(t.source), t.seq),
        }
    }
}

/// Replays the steps of `script` and asserts that the decisions are the ones written under them.
fn transcript(script: &str) {
    let mut world = World::new(3);
    let mut got = String::new();
    let mut out = Vec::new();
    for line in script.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()) {
        if line.starts_with("  ") || line.starts_with('#') {
            continue;
        }
        got += line.trim();
        got += "\n";
        let mut words = line.split_whitespace();
        let ms: u64 = words.next().unwrap().parse().expect("a step starts with its time in ms");
        let words: Vec<&str> = words.collect();
        world.step(ms, &words, &mut out);
        for o in out.drain(..) {
            got += &format!("  {}\n", world.render(&o));
        }
    }
    let want: String = script
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| if l.starts_with("  ") { format!("  {}\n", l.trim()) } else { format!("{}\n", l.trim()) })
        .collect();
    assert!(got == want, "the transcript differs.\n--- written:\n{want}--- got:\n{got}");
}

/// Strips the common indentation of a raw string, keeping the decisions' extra two spaces.
fn script(s: &str) -> String {
    let indent = s.lines().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    s.lines().map(|l| l.get(indent..).unwrap_or("")).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_speaker_on_another_shard_is_heard_on_every_shard_but_not_by_themselves() {
    transcript(&script(
        "
        0 join ann@0 speaker
        # bob speaks from shard 1: his packet crosses to the home shard, which decides for every shard.
        0 join bob@1 speaker
        0 join cat@0 listener
        0 join dan@1 listener
        0 pkt bob
          slots bob - -
          slot0 bob#1 everyone -> ann@0 cat@0 dan@1
        20 pkt ann
          slots bob ann -
          slot1 ann#1 everyone -> cat@0 bob@1 dan@1
        40 pkt bob
          slot0 bob#2 everyone -> ann@0 cat@0 dan@1
        ",
    ));
}

#[test]
fn joining_switches_on_at_the_threshold_the_stage_keeps_20_ms_and_a_late_frame_is_flushed() {
    transcript(&script(
        "
        0 join ann@0 speaker
        0 join bob@1 speaker
        0 join cat@1 listener
        0 pkt ann
          slots ann - -
          slot0 ann#1 everyone -> bob@1 cat@1
        20 frames 3
        20 pkt ann
          slot0 ann#2 stage -> bob@1
        40 pkt ann
          slot0 ann#3 stage -> bob@1
        60 pkt ann
          slot0 ann#4 stage -> bob@1
          slot0 ann#4x3 listeners -> cat@1
        80 pkt ann
          slot0 ann#5 stage -> bob@1
        # ann#5 waits for two more frames, 80 ms at most.
        120 flush
        170 flush
          slot0 ann#5 listeners -> cat@1
        180 frames 1
        180 pkt ann
          slot0 ann#6 everyone -> bob@1 cat@1
        ",
    ));
}

#[test]
fn a_mirror_sends_its_speakers_up_and_passes_the_origins_joined_packets_through() {
    transcript(&script(
        "
        0 mirror
        0 frames 3
        0 join eve@0 speaker
        0 join fay@1 listener
        # The mirror's own speaker goes up to the origin, never into the mirror's slots.
        0 pkt eve
          up eve#1
        # What the origin already joined passes through to everyone; its 20 ms stream is joined here.
        0 relay 1 ann joined
          slot1 ann#1x3 everyone -> eve@0 fay@1
        20 relay 0 eve
          slot0 eve#2 stage ->
        40 relay 0 eve
          slot0 eve#3 stage ->
        60 relay 0 eve
          slot0 eve#4 stage ->
          slot0 eve#4x3 listeners -> fay@1
        ",
    ));
}

#[test]
fn links_come_first_and_hear_the_stage_only_while_their_node_has_speakers() {
    transcript(&script(
        "
        0 frames 3
        0 join ann@0 speaker
        0 join cat@0 listener
        0 join edge@0 listener
        0 link edge zed
        0 pkt ann
          slots ann - -
          slot0 ann#1 stage -> edge@0
        # The edge's speaker zed, through its link: the origin decides the slot, and the edge hears it
        # back, since the edge's listeners hear the origin's slots (zed's own peer there is skipped).
        0 pkt zed
          slots ann zed -
          slot1 zed#1 stage -> edge@0 ann@0
        # The edge has no speaker any more: its link hears the audience's joined stream.
        20 link edge -
          slots ann - -
        20 pkt ann
          slot0 ann#2 stage ->
        40 pkt ann
          slot0 ann#3 stage ->
          slot0 ann#3x3 listeners -> edge@0 cat@0
        ",
    ));
}

#[test]
fn a_muted_speaker_frees_the_slot_at_once_and_hears_the_audience_stream() {
    transcript(&script(
        "
        0 frames 2
        0 join ann@0 speaker
        0 join bob@0 speaker
        0 tap
        0 pkt ann
          slots ann - -
          tap ann#1
          slot0 ann#1 stage -> bob@0
        0 pkt bob
          slots ann bob -
          tap bob#1
          slot1 bob#1 stage -> ann@0
        20 mute ann
          slots - bob -
        20 pkt bob
          tap bob#2
          slot1 bob#2 stage ->
          slot1 bob#2x2 listeners -> ann@0
        40 unmute ann
        40 pkt ann
          slots ann bob -
          tap ann#2
          slot0 ann#2 stage -> bob@0
          slot0 ann#1 listeners ->
        60 leave bob
          slots ann - -
        ",
    ));
}

#[test]
fn a_silent_holder_keeps_the_slot_for_a_second_then_a_newcomer_takes_it() {
    transcript(&script(
        "
        0 slots 1
        0 join ann@0 speaker
        0 join bob@0 speaker
        0 pkt ann
          slots ann
          slot0 ann#1 everyone -> bob@0
        20 pkt ann -127
          slot0 ann#2 everyone -> bob@0
        # ann's smoothed loudness is still voice at 20 ms; bob is not louder by the margin, so he waits.
        500 pkt bob -40
        1000 pkt bob -40
        1100 pkt bob -40
          slots bob
          slot0 bob#3 everyone -> ann@0
        ",
    ));
}

#[test]
fn each_slot_streams_redundancy_is_its_own_previous_packet() {
    let mut world = World::new(3);
    let mut out = Vec::new();
    world.step(0, &["join", "ann@0", "speaker"], &mut out);
    world.step(0, &["frames", "2"], &mut out);
    for ms in [0, 20, 40] {
        world.step(ms, &["pkt", "ann"], &mut out);
    }
    let delivered: Vec<(Audience, Option<u32>)> = out
        .iter()
        .filter_map(|o| match o {
            Out::Deliver(p, _, to) => Some((*to, p.previous.as_ref().map(|(ts, _)| *ts))),
            _ => None,
        })
        .collect();
    // The stage's stream carries the packet before (its slot timestamp); the audience's joined stream has
    // no previous packet for its first, and the stage's packets never stand in for it.
    let stage: Vec<Option<u32>> = delivered.iter().filter(|(to, _)| *to == Audience::Stage).map(|(_, p)| *p).collect();
    assert_eq!(stage.len(), 3);
    assert_eq!(stage[0], None);
    assert!(stage[1].is_some() && stage[2] > stage[1]);
    let listeners: Vec<Option<u32>> =
        delivered.iter().filter(|(to, _)| matches!(to, Audience::Listeners { .. })).map(|(_, p)| *p).collect();
    assert_eq!(listeners, [None], "one joined packet so far, with nothing before it");
}

#[test]
fn the_audience_is_split_into_phases_and_each_20_ms_one_phase_is_sent_to() {
    transcript(&script(
        "
        0 phases 3
        0 frames 3
        0 join ann@0 speaker
        0 join l1@0 listener
        0 join l2@0 listener
        0 join l3@0 listener
        0 join l4@1 listener
        0 join l5@1 listener
        0 join l6@1 listener
        # Lanes are dealt per shard in the order peers join: ann 0, l1 1, l2 2, l3 3 on shard 0; l4 0, l5 1,
        # l6 2 on shard 1. After the first short packets, each listener hears every third frame's packet, and
        # each 20 ms a third of the audience is sent to. (A joined packet is named by its last frame.)
        0 pkt ann
          slots ann - -
          slot0 ann#1 stage ->
          slot0 ann#1 listeners(1/3) -> l1@0 l5@1
        20 pkt ann
          slot0 ann#2 stage ->
          slot0 ann#2x2 listeners(0/3) -> l3@0 l4@1
        40 pkt ann
          slot0 ann#3 stage ->
          slot0 ann#3x3 listeners(2/3) -> l2@0 l6@1
        60 pkt ann
          slot0 ann#4 stage ->
          slot0 ann#4x3 listeners(1/3) -> l1@0 l5@1
        80 pkt ann
          slot0 ann#5 stage ->
          slot0 ann#5x3 listeners(0/3) -> l3@0 l4@1
        ",
    ));
}
