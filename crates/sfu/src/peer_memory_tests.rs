//! What a connected listener's media state holds on the heap (issue 30 §3). The SFU keeps one `Peer` per
//! listener for as long as they listen, so its size is the server's memory per listener.

use super::*;
use str0m::change::SdpAnswer;
use str0m::net::Receive;
use str0m::{Event, Input, Output};

/// Listeners connected through the SFU's own `accept`, each by a str0m client offering what Stoa's web
/// client offers (one `sendonly` and three `recvonly` audio m-lines), over ICE, DTLS and SRTP in memory on
/// this thread, then run for two seconds of reports. Returns the server peers, the clients gone.
fn connected_listeners(count: usize) -> Vec<Peer> {
    let server_addr: SocketAddr = "127.0.0.1:7882".parse().unwrap();
    let cert = crate::srtp::provider().dtls_provider.generate_certificate();
    let offering = Offering { shard: 0, udp: &[server_addr], tcp: &[], cert: cert.as_ref(), slots: 3, first_seq: None };
    let start = Instant::now();
    (0..count)
        .map(|i| {
            let client_addr = SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16));
            let mut client = RtcConfig::new().set_crypto_provider(crate::srtp::provider()).build(start);
            client.add_local_candidate(Candidate::host(client_addr, "udp").unwrap());
            let mut api = client.sdp_api();
            api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
            for _ in 0..3 {
                api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
            }
            let (offer, pending) = api.apply().unwrap();
            let (mut peer, answer) =
                accept(start, &offering, RoomKey(1), SourceId(i as u32), &offer.to_sdp_string(), Forwarding::Off)
                    .unwrap_or_else(|r| panic!("{}", r.message));
            client.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap()).unwrap();
            let mut now = start;
            let (mut client_up, mut server_up) = (false, false);
            // Until both ends are connected and two seconds more have passed, each side's output is the
            // other's input, and time moves to the earlier of their next timeouts.
            while !(client_up && server_up) || now < start + std::time::Duration::from_secs(2) {
                let mut next = now + std::time::Duration::from_millis(50);
                let mut datagrams = Vec::new();
                for (rtc, up) in [(&mut client, &mut client_up), (&mut *peer.rtc, &mut server_up)] {
                    loop {
                        match rtc.poll_output().unwrap() {
                            Output::Timeout(t) => {
                                next = next.min(t.max(now));
                                break;
                            }
                            Output::Transmit(t) => datagrams.push(t),
                            Output::Event(Event::Connected) => *up = true,
                            Output::Event(_) => {}
                        }
                    }
                }
                for t in datagrams {
                    let to = if t.destination == server_addr { &mut *peer.rtc } else { &mut client };
                    to.handle_input(Input::Receive(now, Receive::try_from(&t).unwrap())).unwrap();
                }
                now = next.max(now + std::time::Duration::from_millis(1));
                client.handle_input(Input::Timeout(now)).unwrap();
                peer.rtc.handle_input(Input::Timeout(now)).unwrap();
                assert!(now < start + std::time::Duration::from_secs(30), "listener {i} never connected");
            }
            peer
        })
        .collect()
}

/// The regression that each listener's media state held 55 KB (now 34 KB): buffers for what an SFU that seals its
/// own packets never sends or resends (a resend cache per stream, a 2 KB padding packet per stream, the
/// SRTP contexts' unused ciphers and decryption buffer), a bandwidth estimator and SCTP association never
/// used, a DTLS 1.3 server's size for a DTLS 1.2 one, and the handshake's transcript kept for the whole
/// call.
#[test]
fn a_connected_listener_holds_under_40_kib() {
    const LISTENERS: usize = 20;
    // A first one, so that what is made once per thread (tables, the DTLS scratch buffer) is not counted.
    drop(connected_listeners(1));
    let before = crate::counting::live_bytes();
    let peers = connected_listeners(LISTENERS);
    let held = (crate::counting::live_bytes() - before) as usize / LISTENERS;
    assert_eq!(peers.len(), LISTENERS);
    assert!(peers.iter().all(|p| p.rtc.is_connected()));
    assert!(held < 40 * 1024, "each connected listener holds {held} bytes");
}
