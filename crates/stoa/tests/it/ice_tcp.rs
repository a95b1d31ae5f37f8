//! ICE-TCP on the real server: a listener allowed only TCP hears the speaker's 440 Hz, counted as a TCP
//! peer, while a flood of bad TCP connections (silent, a 65,535-byte frame with nothing behind it,
//! garbage, STUN for a peer that does not exist) is refused, counted, and disturbs no one.

use crate::common;

use common::{Bot, hears_more, tone_frames};
use stoa_client::Transports;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn metric(text: &str, name: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn a_tcp_only_listener_hears_the_room_and_bad_connections_disturb_no_one() {
    let w = common::world_with(|c| {
        c.media_tcp = Some("127.0.0.1:0".parse().unwrap());
        c.metrics = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let tcp_addr = w.running.media_tcp_addr.expect("ICE-TCP is on");
    let metrics = format!("http://{}/metrics", w.running.metrics_addr.unwrap());
    let host = w.user("host").await;
    let room = w.room(&host).await;
    let speaker = Bot::join(&host, &room).await;
    speaker.sending(true);
    let tcp_only = Transports { udp: false, tcp: true, turn: false, red: true };
    let over_tcp = Bot::join_over(&w.user("tcp").await, &room, tone_frames(1.0), tcp_only).await;
    let over_udp = Bot::join(&w.user("udp").await, &room).await;
    hears_more(&over_tcp, speaker.id, 100).await;
    let pcm = common::decode_heard(&over_tcp.heard(), speaker.id);
    let hz = common::frequency(&pcm);
    assert!((hz - 440.0).abs() < 10.0, "over ICE-TCP the listener hears {hz:.0} Hz");
    let before = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    assert_eq!(metric(&before, "stoa_media_peers{transport=\"tcp\"}"), 1.0, "{before}");
    assert_eq!(metric(&before, "stoa_media_peers{transport=\"udp\"}"), 2.0, "{before}");

    // The flood: 25 of each kind, all at once.
    let mut held = Vec::new();
    for i in 0..100 {
        let mut c = TcpStream::connect(tcp_addr).await.unwrap();
        match i % 4 {
            0 => {}
            1 => c.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap(),
            2 => c.write_all(&[0, 12, b'G', b'E', b'T', b' ', b'/', 0, 0, 0, 0, 0, 0, 0]).await.unwrap(),
            _ => {
                let mut stun = vec![0x00, 0x01, 0, 16, 0x21, 0x12, 0xa4, 0x42];
                stun.extend_from_slice(&[9; 12]);
                stun.extend_from_slice(&[0x00, 0x06, 0, 12]);
                stun.extend_from_slice(b"aaNoSuch:who");
                let mut framed = (stun.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&stun);
                c.write_all(&framed).await.unwrap();
            }
        }
        held.push(c);
    }
    // Both listeners go on hearing the room meanwhile.
    hears_more(&over_tcp, speaker.id, 100).await;
    hears_more(&over_udp, speaker.id, 100).await;
    let after = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    let refused = metric(&after, "stoa_media_tcp_refused_total");
    assert!(refused >= 50.0, "garbage and unknown peers are refused at once and counted: {refused}\n{after}");
    assert_eq!(metric(&after, "stoa_media_peers{transport=\"tcp\"}"), 1.0, "{after}");
    assert!(metric(&after, "stoa_media_tcp_connections_total") >= 101.0, "{after}");
    drop(held);
}
