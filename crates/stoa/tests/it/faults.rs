//! One client's bad luck stays with that client: a panic in one peer's WebRTC stack closes that peer with
//! an error and nothing else, and a shard that panics anyway is reported and started again. The panics are
//! injected (the server's test-only `media_fault_injection`), since no known input panics str0m today.

use crate::common;

use common::{Bot, eventually, world_with};
use futures_util::{SinkExt, StreamExt};
use std::time::Instant;
use stoa_proto::ServerEvent;
use str0m::media::{Direction, MediaKind};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Joins `room` over a raw WebSocket, offers media, and returns the socket, the server's ICE ufrag for
/// this peer and the server's media address, from the answer.
async fn raw_peer(w: &common::World, name: &str, room: &str) -> (Socket, String, std::net::SocketAddr) {
    let api = w.user(name).await;
    let url = format!("{}/api/v1/rooms/{room}/ws", api.base.replacen("http", "ws", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {}", api.token).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut rtc = stoa_client::session::rtc_config().build(Instant::now());
    let mut sdp = rtc.sdp_api();
    sdp.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, _pending) = sdp.apply().unwrap();
    let offer = serde_json::json!({"type": "offer", "sdp": offer.to_sdp_string()});
    ws.send(Message::Text(offer.to_string().into())).await.unwrap();
    loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else { continue };
        let ev: serde_json::Value = serde_json::from_str(&t).unwrap();
        if ev["type"] == "answer" {
            let sdp = ev["sdp"].as_str().unwrap();
            let ufrag = sdp.lines().find_map(|l| l.strip_prefix("a=ice-ufrag:")).unwrap().trim().to_string();
            let candidate = sdp.lines().find_map(|l| l.strip_prefix("a=candidate:")).unwrap();
            let fields: Vec<&str> = candidate.split(' ').collect();
            let addr = format!("{}:{}", fields[4], fields[5]).parse().unwrap();
            return (ws, ufrag, addr);
        }
    }
}

/// A STUN binding request with the given USERNAME (no integrity: the injected fault fires before that is
/// checked).
fn stun_request(username: &str) -> Vec<u8> {
    let mut attr = vec![0x00, 0x06, 0, username.len() as u8];
    attr.extend_from_slice(username.as_bytes());
    attr.resize(attr.len().div_ceil(4) * 4, 0);
    let mut msg = vec![0x00, 0x01, 0, attr.len() as u8, 0x21, 0x12, 0xa4, 0x42];
    msg.extend_from_slice(&[9; 12]);
    msg.extend_from_slice(&attr);
    msg
}

/// Waits on a raw socket for an `error` event and returns its code.
async fn error_code(ws: &mut Socket) -> String {
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.expect("an error event");
        let Some(Ok(Message::Text(t))) = msg else { continue };
        let ev: serde_json::Value = serde_json::from_str(&t).unwrap();
        if ev["type"] == "error" {
            return ev["code"].as_str().unwrap().to_string();
        }
    }
}

#[tokio::test]
async fn a_panic_in_one_peer_closes_that_peer_alone() {
    let w = world_with(|c| c.media_fault_injection = true).await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let host = Bot::join(&host_api, &room).await;
    let ear = Bot::join(&w.user("ear").await, &room).await;
    host.sending(true);
    eventually("the ear hears the host", || ear.heard_from(host.id) > 10).await;
    let (mut victim, ufrag, media) = raw_peer(&w, "victim", &room).await;
    w.media_peers_become(3).await;

    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp.send_to(&stun_request(&format!("{ufrag}:stoa-panic-peer")), media).await.unwrap();
    assert_eq!(error_code(&mut victim).await, "internal", "the victim is told its media failed");
    w.media_peers_become(2).await;
    let before = ear.heard_from(host.id);
    eventually("the others still hear the host", || ear.heard_from(host.id) > before + 25).await;
    assert_eq!(w.health().await["media_peers"], 2);
}

#[tokio::test]
async fn a_shard_that_panics_is_restarted_and_its_rooms_work_again() {
    // One shard, so that the panic takes every peer of the room with it.
    let w = world_with(|c| {
        c.media_fault_injection = true;
        c.media_shards = 1;
    })
    .await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let host = Bot::join(&host_api, &room).await;
    let mut ear = Bot::join(&w.user("ear").await, &room).await;
    host.sending(true);
    eventually("the ear hears the host", || ear.heard_from(host.id) > 10).await;
    let (_victim, ufrag, media) = raw_peer(&w, "victim", &room).await;

    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp.send_to(&stun_request(&format!("{ufrag}:stoa-panic-shard")), media).await.unwrap();
    // Every peer of the dead shard is told, and the count is true again.
    ear.expect("the error for the lost peer", |e| matches!(e, ServerEvent::Error { code, .. } if code == "internal"))
        .await;
    w.media_peers_become(0).await;
    drop((host, ear));

    // The restarted shard serves the same room: new connections are heard.
    let host = Bot::join(&host_api, &room).await;
    let ear = Bot::join(&w.user("ear2").await, &room).await;
    host.sending(true);
    eventually("a new listener hears the host again", || ear.heard_from(host.id) > 25).await;
}
