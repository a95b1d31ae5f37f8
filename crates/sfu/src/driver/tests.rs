use super::*;
use crate::downlink::{FastOut, Indexes};
use crate::srtp::{Keys, SrtpOut};
use str0m::RtcConfig;
use str0m::media::Mid;

/// A shard on a real socket, with `listeners` connected listeners in one room, each on the fast path.
fn shard_with_listeners(listeners: u32) -> (Shard, RoomKey) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let (cross, _) = mpsc::channel(1);
    let setup = ShardSetup {
        index: 0,
        advertised: vec![socket.local_addr().unwrap()],
        advertised_tcp: Vec::new(),
        turn_ips: Vec::new(),
        slot_config: SlotConfig::default(),
        audience_phases: 1,
        peers: Arc::new([std::sync::atomic::AtomicUsize::new(0)]),
        cross: vec![cross],
        first_seq: None,
        fault_injection: false,
        stats: Arc::new(Stats { shards: Box::new([ShardMeter::default()]), ..Default::default() }),
        registry: Default::default(),
    };
    let cert = crate::srtp::provider().dtls_provider.generate_certificate();
    let (mut shard, _) = Shard::new(&setup, UdpSocket::from_std(socket).unwrap(), cert.clone());
    let room = RoomKey(1);
    let (events, _) = mpsc::channel(1);
    shard.open_room(room, events);
    let now = Instant::now();
    let dest = Path::udp("127.0.0.1:9".parse().unwrap());
    for i in 0..listeners {
        let mut config = RtcConfig::new();
        if let Some(cert) = &cert {
            config = config.set_dtls_cert(cert.clone());
        }
        let id = PeerId(u64::from(i));
        let source = SourceId(1000 + i);
        let mut peer = Peer::new(room, source, config.build(now), Forwarding::Off, format!("u{i}"), now);
        peer.connected = true;
        peer.pt = Some(Pt::from(111));
        peer.slot_mids = (0..3).map(|m| Mid::from(m.to_string().as_str())).collect();
        peer.indexes = Indexes::new(3, None);
        let srtp = SrtpOut::new(&Keys::for_test(i as u8)).unwrap();
        peer.fast = Fast::Ready(Box::new(FastOut::new(srtp, vec![i, i + 1, i + 2], Some(1))));
        peer.dest = Some(dest);
        shard.peers.insert(id, peer);
        shard.rooms.get_mut(&room).unwrap().forwarder.join(Member {
            peer: id,
            source,
            stage: false,
            link: false,
            lane: 0,
        });
    }
    (shard, room)
}

/// The regression that `Shard::deliver` cloned the room's peer list and allocated a buffer for every
/// listener of every packet: once the outbox has its working size, delivering a packet to a room's
/// listeners allocates nothing, to 10 listeners or to 5,000.
#[tokio::test(flavor = "current_thread")]
async fn delivering_a_packet_allocates_nothing_per_listener() {
    for listeners in [10, 5_000] {
        let (mut shard, room) = shard_with_listeners(listeners);
        let packet = Packet {
            room,
            source: SourceId(7),
            seq: 1,
            timestamp: 960,
            level: Some(-20),
            voice: Some(true),
            payload: vec![0x5a; 60].into(),
            previous: Some((0, vec![0x5b; 60].into())),
        };
        let forward = Forward { slot: 1, timestamp: 960 };
        let deliver = |shard: &mut Shard| {
            shard.outbox.clear();
            let before = crate::counting::allocations();
            shard.deliver(Instant::now(), &packet, forward, Audience::Everyone);
            let allocated = crate::counting::allocations() - before;
            assert_eq!(shard.outbox.len(), listeners as usize, "every listener gets the packet");
            allocated
        };
        deliver(&mut shard);
        assert_eq!(deliver(&mut shard), 0, "to {listeners} listeners");
    }
}
