//! SRTP in long and changing rooms, end to end: the real server, real UDP, str0m peers as the listeners
//! (their SRTP receiver estimates each packet's rollover count as RFC 3711 says, and refuses replays).
//!
//! Each test guards against a defect of the forwarding fast path, when a room-wide counter numbered every
//! peer's packets:
//! - a listener who joined after a slot's 65,536th packet heard nothing (its first index had a rollover
//!   count above 0);
//! - a speaker who was muted or moved to the audience in a room with joined packets went back from the
//!   stage's index to the audience's, under the same key: AES-GCM nonces reused, and silence until the
//!   audience's index caught up;
//! - joined packets switching on and off made a listener's stream jump.

use crate::common;

use common::{Bot, Heard, eventually, world_with};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use stoa_proto::{ClientCommand, ServerEvent, UserId};

/// Frames in an Opus packet (RFC 6716 §3.2): code 0 one, codes 1 and 2 two, code 3 as counted.
fn frames(payload: &[u8]) -> usize {
    match payload[0] & 0x03 {
        0 => 1,
        3 => usize::from(payload[1] & 0x3f),
        _ => 2,
    }
}

/// Asserts that what a peer received on each slot has strictly increasing indexes (never repeated, never
/// back) and, with `contiguous`, no gap either.
fn assert_indexes_only_go_forward(heard: &[Heard], contiguous: bool, who: &str) {
    let mut last: HashMap<usize, u64> = HashMap::new();
    for h in heard {
        if let Some(prev) = last.insert(h.slot, h.seq) {
            assert!(h.seq > prev, "{who}: index {} after {prev} on slot {}", h.seq, h.slot);
            if contiguous {
                assert_eq!(h.seq, prev + 1, "{who}: a gap on slot {} after {prev}", h.slot);
            }
        }
    }
}

#[tokio::test]
async fn a_listener_who_joins_after_the_sequence_wraps_hears_every_packet() {
    // Every stream starts 6 packets before the 16-bit wrap: the room's 22nd minute, in a second.
    let w = world_with(|c| c.media_first_seq = Some(65_530)).await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let host = Bot::join(&host_api, &room).await;
    let early = Bot::join(&w.user("early").await, &room).await;
    host.sending(true);
    eventually("the early listener hears past the wrap", || early.heard_from(host.id) >= 50).await;
    assert!(early.heard().iter().any(|h| h.seq > 65_536), "the early listener's stream wrapped");

    let late = Bot::join(&w.user("late").await, &room).await;
    let from = host.sent.lock().unwrap().len();
    eventually("the late listener hears 2 s of the host", || late.heard_from(host.id) >= 100).await;
    host.sending(false);
    let sent = host.sent.lock().unwrap().clone();
    let heard = late.heard();
    assert!(heard.iter().any(|h| h.seq > 65_536), "the late listener's stream wrapped too");
    assert_indexes_only_go_forward(&heard, true, "late");
    // Everything sent after the late listener was connected reached it, in order, none lost to a failed
    // authentication.
    let payloads: Vec<&Vec<u8>> = heard.iter().map(|h| &h.payload).collect();
    // (The bot's frames repeat every 2 s; the late listener's first packet was sent around `from`.)
    let near = from.saturating_sub(40);
    let start = sent[near..].iter().position(|p| p == payloads[0]).map(|i| i + near).expect("a sent payload");
    let expected: Vec<&Vec<u8>> = sent[start..start + payloads.len()].iter().collect();
    assert_eq!(payloads, expected);
}

/// Waits until `bot` has heard 10 more packets of the kind `joined` says (joined 60 ms packets, or single
/// 20 ms frames) from `speaker` than it had, and returns how long that took.
async fn hears_kind(bot: &Bot, speaker: u32, joined: bool) -> Duration {
    let is_kind = |h: &Heard| h.speaker == Some(speaker) && (frames(&h.payload) == 3) == joined;
    let before = bot.heard().iter().filter(|h| is_kind(h)).count();
    let start = Instant::now();
    let what = if joined { "joined packets" } else { "20 ms packets" };
    eventually(what, || bot.heard().iter().filter(|h| is_kind(h)).count() >= before + 10).await;
    start.elapsed()
}

#[tokio::test]
async fn a_speaker_muted_unmuted_demoted_and_promoted_never_sees_an_index_repeat_or_go_back() {
    // Joined packets for the audience from the first listener; the stage keeps 20 ms packets.
    let w = world_with(|c| {
        c.audience_frames = 3;
        c.audience_frames_above = 0;
    })
    .await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let mut host = Bot::join(&host_api, &room).await;
    let mut bob = Bot::join(&w.user("bob").await, &room).await;
    let ear = Bot::join(&w.user("ear").await, &room).await;
    host.sending(true);
    hears_kind(&bob, host.id, true).await;

    host.bring_on_stage(&mut bob).await;
    hears_kind(&bob, host.id, false).await;
    let bob_id = UserId(i64::from(bob.id));
    for step in ["mute", "unmute", "demote", "promote"] {
        match step {
            "mute" | "unmute" => bob.command(ClientCommand::SetMuted { muted: step == "mute" }),
            "demote" => host.command(ClientCommand::MoveToAudience { user_id: bob_id }),
            _ => host.bring_on_stage(&mut bob).await,
        }
        if step != "promote" {
            bob.expect("stage_changed", |e| matches!(e, ServerEvent::StageChanged { .. })).await;
        }
        // "At once": the new stream's packets arrive within moments of the change, not once the index of
        // the stream the peer left has been caught up with (or never, had the index gone back).
        let joined = matches!(step, "mute" | "demote");
        let took = hears_kind(&bob, host.id, joined).await;
        assert!(took < Duration::from_secs(2), "after {step}, bob heard the new stream only after {took:?}");
    }
    host.sending(false);
    assert_indexes_only_go_forward(&bob.heard(), false, "bob");
    assert_indexes_only_go_forward(&ear.heard(), true, "ear");
}

#[tokio::test]
async fn joined_packets_switching_on_and_off_lose_no_audio() {
    // Joined packets from two listeners: the second listener's arrival turns them on, its leaving off.
    let w = world_with(|c| {
        c.audience_frames = 3;
        c.audience_frames_above = 2;
    })
    .await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let host = Bot::join(&host_api, &room).await;
    let ear = Bot::join(&w.user("ear").await, &room).await;
    host.sending(true);
    hears_kind(&ear, host.id, false).await;
    let second = Bot::join(&w.user("second").await, &room).await;
    hears_kind(&ear, host.id, true).await;
    second.command(ClientCommand::Leave);
    hears_kind(&ear, host.id, false).await;
    host.sending(false);
    let sent = host.sent.lock().unwrap().len();
    // Every frame the host sent, from the first the listener heard, reaches it: in 20 ms packets, in
    // joined ones, across both switches.
    eventually("the last frames arrive", || {
        let heard = ear.heard();
        let first = heard.first().map(|h| h.payload.clone());
        let offset = first.and_then(|f| host.sent.lock().unwrap().iter().position(|p| *p == f)).unwrap_or(0);
        heard.iter().map(|h| frames(&h.payload)).sum::<usize>() == sent - offset
    })
    .await;
    assert_indexes_only_go_forward(&ear.heard(), true, "ear");
}
