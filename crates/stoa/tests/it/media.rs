//! Live audio through the real server: real UDP on loopback, str0m peers on both ends.
//!
//! Every peer binds and advertises 127.0.0.1 only, so no packet leaves this machine.

use crate::common;

use common::{Bot, Heard, eventually, hears_more, world, world_with};
use std::time::Duration;
use stoa_proto::{ClientCommand, ServerEvent, UserId};

#[tokio::test]
async fn a_speakers_packets_reach_two_listeners_in_order_with_matching_payloads() {
    let w = world().await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let host = Bot::join(&host_api, &room).await;
    let a = Bot::join(&w.user("alice").await, &room).await;
    let b = Bot::join(&w.user("bob").await, &room).await;

    host.sending(true);
    eventually("100 packets sent", || host.sent.lock().unwrap().len() >= 100).await;
    host.sending(false);
    let sent = host.sent.lock().unwrap().clone();
    eventually("both listeners heard everything sent", || {
        a.heard_from(host.id) >= sent.len() && b.heard_from(host.id) >= sent.len()
    })
    .await;
    for listener in [&a, &b] {
        let heard: Vec<Heard> = listener.heard();
        let payloads: Vec<Vec<u8>> = heard.iter().map(|h| h.payload.clone()).collect();
        assert_eq!(payloads, sent, "the same payloads, in the same order, none missing or extra");
        for pair in heard.windows(2) {
            assert_eq!(pair[1].seq, pair[0].seq + 1, "one continuous stream");
        }
        assert!(heard.iter().all(|h| h.speaker == Some(host.id)), "the CSRC stands for the speaker");
        // RTP headers travel in the clear: the CSRC is an opaque number, never the account's ID.
        let source = heard[0].source.unwrap();
        assert!(heard.iter().all(|h| h.source == Some(source)));
        assert_ne!(source, host.id, "no account ID in the clear");
    }
    assert_eq!(host.heard_from(host.id), 0, "nobody hears their own voice");
}

#[tokio::test]
async fn a_listener_that_sends_anyway_is_never_heard() {
    let w = world().await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let host = Bot::join(&host_api, &room).await;
    let sneaky = Bot::join(&w.user("sneaky").await, &room).await;
    let ear = Bot::join(&w.user("ear").await, &room).await;
    // The host speaks too: their packets, which do arrive, bound the silence from the listener.
    host.sending(true);
    sneaky.sending(true);
    eventually("the listener sent 100 packets", || sneaky.sent.lock().unwrap().len() >= 100).await;
    hears_more(&ear, host.id, 25).await;
    assert_eq!(ear.heard_from(sneaky.id), 0, "a listener's packets are never forwarded");
    assert_eq!(ear.heard_count(), ear.heard_from(host.id), "only the host was heard");
}

#[tokio::test]
async fn promotion_is_heard_and_demotion_falls_silent() {
    let w = world().await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let mut host = Bot::join(&host_api, &room).await;
    let mut bob = Bot::join(&w.user("bob").await, &room).await;
    let mut ear = Bot::join(&w.user("ear").await, &room).await;
    // The host speaks throughout: their packets bound each silence asserted below.
    host.sending(true);
    bob.sending(true);
    hears_more(&ear, host.id, 15).await;
    assert_eq!(ear.heard_from(bob.id), 0, "not heard while in the audience");

    host.bring_on_stage(&mut bob).await;
    eventually("bob is heard once on stage", || ear.heard_from(bob.id) > 10).await;

    host.command(ClientCommand::MoveToAudience { user_id: UserId(bob.id as i64) });
    ear.expect(
        "stage_changed without bob",
        |e| matches!(e, ServerEvent::StageChanged { stage } if stage.iter().all(|m| m.user.id.0 as u32 != bob.id)),
    )
    .await;
    // Packets of bob's already in flight when the demotion landed arrive with the host's next ten; after
    // that, thirty more of the host's and none of bob's.
    hears_more(&ear, host.id, 10).await;
    let after_demotion = ear.heard_from(bob.id);
    hears_more(&ear, host.id, 30).await;
    assert_eq!(ear.heard_from(bob.id), after_demotion, "nothing from bob is forwarded after the demotion");
    assert!(bob.sent.lock().unwrap().len() > 60, "bob kept sending all along");

    // A moderator's mute stops the forwarding too; unmuting restores it.
    host.bring_on_stage(&mut bob).await;
    eventually("bob is heard again", || ear.heard_from(bob.id) > after_demotion + 10).await;
    host.command(ClientCommand::Mute { user_id: UserId(bob.id as i64) });
    bob.expect("muted", |e| matches!(e, ServerEvent::Muted { .. })).await;
    hears_more(&ear, host.id, 10).await;
    let after_mute = ear.heard_from(bob.id);
    hears_more(&ear, host.id, 25).await;
    assert_eq!(ear.heard_from(bob.id), after_mute, "a muted speaker is not forwarded");
    bob.command(ClientCommand::SetMuted { muted: false });
    eventually("bob is heard after unmuting", || ear.heard_from(bob.id) > after_mute + 10).await;
    let _ = &mut host;
}

#[tokio::test]
async fn a_removed_user_is_cut_off_and_the_end_of_a_room_closes_every_peer() {
    let w = world().await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let host = Bot::join(&host_api, &room).await;
    let mut gone = Bot::join(&w.user("gone").await, &room).await;
    let stays = Bot::join(&w.user("stays").await, &room).await;
    w.media_peers_become(3).await;
    host.sending(true);
    eventually("both hear the host", || gone.heard_from(host.id) > 10 && stays.heard_from(host.id) > 10).await;

    host.command(ClientCommand::Remove { user_id: UserId(gone.id as i64) });
    gone.expect("removed", |e| matches!(e, ServerEvent::Removed { .. })).await;
    w.media_peers_become(2).await;
    // What was in flight lands with the next ten packets the others hear; then the others hear 25 more and
    // the removed user none.
    hears_more(&stays, host.id, 10).await;
    let cut = gone.heard_from(host.id);
    hears_more(&stays, host.id, 25).await;
    assert_eq!(gone.heard_from(host.id), cut, "the removed user gets no more media");

    // The end of the room closes every peer: with none left, the SFU has nobody to send anything to.
    host.command(ClientCommand::EndRoom);
    w.media_peers_become(0).await;
}

#[tokio::test]
async fn five_speakers_in_turn_fill_at_most_three_slots_and_all_are_heard() {
    let w = world().await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let mut host = Bot::join(&host_api, &room).await;
    let mut speakers = Vec::new();
    for i in 0..5 {
        let mut s = Bot::join(&w.user(&format!("speaker{i}")).await, &room).await;
        host.bring_on_stage(&mut s).await;
        speakers.push(s);
    }
    let ear = Bot::join(&w.user("ear").await, &room).await;
    for s in &speakers {
        s.sending(true);
        let id = s.id;
        eventually("the speaker is heard in their turn", || ear.heard_from(id) >= 25).await;
        s.sending(false);
        // A pause between turns, longer than a slot's idle time, as in a real conversation.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let heard = ear.heard();
    let slots: std::collections::BTreeSet<usize> = heard.iter().map(|h| h.slot).collect();
    assert!(slots.len() <= 3, "at most three streams: {slots:?}");
    for s in &speakers {
        assert!(ear.heard_from(s.id) >= 25, "speaker {} was heard", s.id);
    }
}

#[tokio::test]
async fn an_offer_without_opus_is_refused_to_that_client_alone() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let w = world().await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let mut host = Bot::join(&host_api, &room).await;
    let pcmu_only = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\n";
    let api = w.user("pcmu").await;
    let url = format!("{}/api/v1/rooms/{room}/ws", api.base.replacen("http", "ws", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {}", api.token).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    for garbage in [pcmu_only, "not sdp at all"] {
        // A connection may offer once a second (the server's offer limit).
        tokio::time::sleep(Duration::from_millis(1000)).await;
        ws.send(Message::Text(serde_json::json!({"type": "offer", "sdp": garbage}).to_string().into())).await.unwrap();
        let code = loop {
            let msg = tokio::time::timeout(common::WAIT, ws.next()).await.unwrap().unwrap().unwrap();
            let Message::Text(t) = msg else { continue };
            let ev: serde_json::Value = serde_json::from_str(&t).unwrap();
            if ev["type"] == "error" {
                break ev["code"].as_str().unwrap().to_string();
            }
        };
        assert!(code == "no_opus" || code == "invalid_sdp", "{code}");
    }
    // On the same socket, a good offer is answered, and the answer asks for in-band FEC and DTX, so browser
    // speakers send FEC and fall quiet in silence.
    let mut rtc = stoa_client::session::rtc_config().build(std::time::Instant::now());
    rtc.add_local_candidate(str0m::Candidate::host("127.0.0.1:9".parse().unwrap(), "udp").unwrap());
    let mut sdp = rtc.sdp_api();
    sdp.add_media(str0m::media::MediaKind::Audio, str0m::media::Direction::SendOnly, None, None, None);
    let (offer, _pending) = sdp.apply().unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    ws.send(Message::Text(serde_json::json!({"type": "offer", "sdp": offer.to_sdp_string()}).to_string().into()))
        .await
        .unwrap();
    let answer = loop {
        let msg = tokio::time::timeout(common::WAIT, ws.next()).await.unwrap().unwrap().unwrap();
        let Message::Text(t) = msg else { continue };
        let ev: serde_json::Value = serde_json::from_str(&t).unwrap();
        assert_ne!(ev["type"], "error", "{ev}");
        if ev["type"] == "answer" {
            break ev["sdp"].as_str().unwrap().to_string();
        }
    };
    let fmtp = answer.lines().find(|l| l.starts_with("a=fmtp:")).expect("an Opus fmtp line");
    assert!(fmtp.contains("usedtx=1") && fmtp.contains("useinbandfec=1"), "{fmtp}");
    // The host noticed nothing: no error reached it, and its own media still works.
    host.command(ClientCommand::Ping);
    host.expect("pong", |e| matches!(e, ServerEvent::Pong)).await;
    assert!(host.heard_count() == 0);
}

/// Datagrams that look like each protocol on the port, cut short or filled with noise, and plain noise.
fn garbage(i: u64, rng: &mut u64) -> Vec<u8> {
    let mut next = || {
        // xorshift: fast, deterministic, good enough for noise.
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    };
    let len = (next() % 1200) as usize;
    let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
    match i % 5 {
        // RTP-looking: version 2, cut anywhere.
        0 if !d.is_empty() => d[0] = 0x80 | (d[0] & 0x3f),
        // STUN-looking: a binding request with the magic cookie and a random (unknown) username.
        1 if d.len() >= 20 => {
            d[0] = 0;
            d[1] = 1;
            d[4..8].copy_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        }
        // DTLS-looking: a handshake record header.
        2 if d.len() >= 3 => {
            d[0] = 22;
            d[1] = 0xfe;
            d[2] = 0xfd;
        }
        // Truncated to a few bytes.
        3 => d.truncate((next() % 13) as usize),
        _ => {}
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_garbage_datagrams_neither_crash_the_server_nor_disturb_a_live_stream() {
    let w = world().await;
    let media = w.running.media_addr;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let host = Bot::join(&host_api, &room).await;
    let ear = Bot::join(&w.user("ear").await, &room).await;
    host.sending(true);
    eventually("the stream is live", || ear.heard_from(host.id) > 20).await;
    let before = ear.heard_from(host.id);

    // A million datagrams from one socket, paced in bursts so the flood lasts a few seconds while the
    // stream runs.
    let blaster = std::thread::spawn(move || {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut rng = 0x9e3779b97f4a7c15u64;
        let start = std::time::Instant::now();
        for i in 0..1_000_000u64 {
            let _ = socket.send_to(&garbage(i, &mut rng), media);
            if i % 10_000 == 9_999 {
                // About 150,000 datagrams a second at most.
                let due = Duration::from_micros(i * 1_000_000 / 150_000);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        start.elapsed()
    });
    let took = tokio::task::spawn_blocking(move || blaster.join().unwrap()).await.unwrap();
    let during = ear.heard_from(host.id) - before;
    host.sending(false);
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(w.health().await["status"], "ok", "the server still answers");
    // The stream went on: at 50 packets a second, the flood's duration minus a generous margin.
    let expected = (took.as_secs_f64() * 50.0) as usize;
    assert!(during + 25 >= expected, "heard {during} packets during a {took:?} flood; expected about {expected}");
    let heard = ear.heard();
    let seqs: Vec<u64> = heard.iter().filter(|h| h.speaker == Some(host.id)).map(|h| h.seq).collect();
    let lost = (seqs.last().unwrap() - seqs.first().unwrap() + 1) as usize - seqs.len();
    assert_eq!(lost, 0, "no packet of the live stream was lost to the flood");
}

#[tokio::test]
async fn a_dtls_failure_is_refused_to_that_client_alone() {
    use futures_util::{SinkExt, StreamExt};
    use std::time::Instant;
    use str0m::media::{Direction, MediaKind};
    use str0m::net::{Protocol, Receive};
    use str0m::{Candidate, Input, Output};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let w = world().await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let mut host = Bot::join(&host_api, &room).await;
    host.sending(true);
    let ear = Bot::join(&w.user("ear").await, &room).await;
    let api = w.user("forger").await;
    let url = format!("{}/api/v1/rooms/{room}/ws", api.base.replacen("http", "ws", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {}", api.token).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();

    // A real peer, whose offer claims a certificate fingerprint that is not its own.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let mut rtc = stoa_client::session::rtc_config().build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
    let mut sdp = rtc.sdp_api();
    sdp.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    sdp.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, pending) = sdp.apply().unwrap();
    let forged: String = offer
        .to_sdp_string()
        .lines()
        .map(|l| match l.strip_prefix("a=fingerprint:sha-256 ") {
            Some(fp) => format!("a=fingerprint:sha-256 {}{}", if fp.starts_with('0') { "1" } else { "0" }, &fp[1..]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        + "\r\n";
    ws.send(Message::Text(serde_json::json!({"type": "offer", "sdp": forged}).to_string().into())).await.unwrap();

    let mut buf = vec![0u8; 2048];
    let mut pending = Some(pending);
    let mut answered = false;
    let deadline = tokio::time::Instant::now() + common::WAIT;
    let error_code = loop {
        let timeout = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Ok(_) => {}
                Err(_) => break Instant::now() + Duration::from_secs(1),
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => panic!("no error event for the forged fingerprint"),
            msg = ws.next() => {
                let Some(Ok(Message::Text(t))) = msg else { continue };
                let ev: serde_json::Value = serde_json::from_str(&t).unwrap();
                match ev["type"].as_str() {
                    Some("answer") => {
                        answered = true;
                        let answer = str0m::change::SdpAnswer::from_sdp_string(ev["sdp"].as_str().unwrap()).unwrap();
                        rtc.sdp_api().accept_answer(pending.take().unwrap(), answer).unwrap();
                    }
                    Some("error") => break ev["code"].as_str().unwrap().to_string(),
                    _ => {}
                }
            }
            r = socket.recv_from(&mut buf) => {
                let (n, source) = r.unwrap();
                if let Ok(contents) = buf[..n].try_into() {
                    let _ = rtc.handle_input(Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: local, contents }));
                }
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(timeout)) => {
                let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            }
        }
    };
    assert_eq!(error_code, "connection_failed");
    assert!(answered, "the offer itself was fine; the DTLS handshake is what failed");
    // The forger's peer is gone, and nobody else noticed anything.
    w.media_peers_become(2).await;
    let before = ear.heard_from(host.id);
    eventually("the others still hear the host", || ear.heard_from(host.id) > before + 10).await;
    host.command(ClientCommand::Ping);
    host.expect("pong, and no error", |e| {
        assert!(!matches!(e, ServerEvent::Error { .. }), "the host got an error: {e:?}");
        matches!(e, ServerEvent::Pong)
    })
    .await;
}

#[tokio::test]
async fn a_large_rooms_audience_gets_joined_60_ms_packets_and_the_stage_keeps_20_ms() {
    // Joining from the first listener, to see it without thousands of them.
    let w = world_with(|c| {
        c.audience_frames = 3;
        c.audience_frames_above = 0;
    })
    .await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let mut host = Bot::join(&host_api, &room).await;
    let mut speaker = Bot::join(&w.user("speaker").await, &room).await;
    host.bring_on_stage(&mut speaker).await;
    let ear = Bot::join(&w.user("ear").await, &room).await;
    host.sending(true);
    eventually("the audience hears 2 s of the host", || ear.heard_from(host.id) >= 33).await;
    let sent_before = host.sent.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    host.sending(false);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let heard = ear.heard();
    let from_host: Vec<&Heard> = heard.iter().filter(|h| h.speaker == Some(host.id)).collect();
    let joined = from_host.iter().filter(|h| h.payload[0] & 0x03 == 3 && h.payload[1] & 0x3f == 3).count();
    assert!(
        joined * 10 >= from_host.len() * 9,
        "the audience's packets carry three frames: {joined} of {}",
        from_host.len()
    );
    // Frames in an Opus packet (RFC 6716 §3.2): code 0 one, codes 1 and 2 two, code 3 as counted.
    let frames = |p: &[u8]| match p[0] & 0x03 {
        0 => 1,
        3 => u32::from(p[1] & 0x3f),
        _ => 2,
    };
    for pair in from_host.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "the joined stream is continuous");
        // A frame the encoder made in another Opus mode cannot share a packet, and goes out alone.
        let spacing = 960 * frames(&pair[0].payload);
        assert_eq!(pair[1].timestamp.wrapping_sub(pair[0].timestamp), spacing, "packets follow each other in time");
    }
    let sent = host.sent.lock().unwrap().len();
    assert!(sent > sent_before, "the host kept sending");
    let stage = speaker.heard();
    let stage_from_host: Vec<&Heard> = stage.iter().filter(|h| h.speaker == Some(host.id)).collect();
    assert!(stage_from_host.iter().all(|h| h.payload[0] & 0x03 == 0), "the stage gets single 20 ms frames");
    assert!(stage_from_host.len() >= from_host.len() * 25 / 10, "about three times the audience's packets");
    let hz = common::frequency(&common::decode_heard(&heard, host.id));
    assert!((hz - 440.0).abs() <= 5.0, "joined packets decode to the 440 Hz sent: {hz:.1}");
}
