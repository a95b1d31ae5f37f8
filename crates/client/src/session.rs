//! A [`Session`]: one user in one room, with the room's WebSocket and a WebRTC peer to the SFU.
//!
//! The peer offers one audio m-line to send on (used while its user is an unmuted speaker) and one per
//! receive slot. [`Session::next`] is cancel-safe, so a bot can `select!` it against its own timers.

use crate::api::Api;
use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use stoa_proto::{ClientCommand, ClientMessage, Role, RoomInfo, ServerEvent, UserId, UserSummary};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Ssrc};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// What a session hears.
#[derive(Debug)]
pub enum Incoming {
    /// An event from the room.
    Event(ServerEvent),
    /// An audio packet in one of the receive slots.
    Audio {
        /// Which slot (0-based, in offer order).
        slot: usize,
        /// The packet (boxed: it is large, and most of what a session yields is packets).
        packet: Box<RtpPacket>,
        /// When it arrived.
        at: Instant,
        /// With RED, the redundant copies of earlier packets it carried: each one's RTP timestamp and Opus
        /// (the packet's own payload is then its primary Opus).
        redundant: Vec<(u32, Vec<u8>)>,
    },
    /// The room's socket closed.
    Closed,
}

/// Counts of the RTP packets a session received, read from their headers (in the clear in SRTP), so a load
/// generator can count every packet while decrypting only a sample.
#[derive(Debug, Clone, Default)]
pub struct RtpCount {
    /// Packets received.
    pub packets: u64,
    /// Bytes of RTP (headers and encrypted payload).
    pub bytes: u64,
    /// Packets missing from each stream's sequence numbers.
    pub lost: u64,
    /// When the first packet arrived.
    pub first_at: Option<Instant>,
    /// Each stream's source (SSRC) and its last sequence number, the first few in place: a listener has
    /// a handful, and a bench's thousands of listeners each take this on every packet, so a short list in
    /// the count itself costs less than a look-up elsewhere in memory.
    streams: [(u32, u16); INLINE_STREAMS],
    inline: u8,
    more: Vec<(u32, u16)>,
}

const INLINE_STREAMS: usize = 4;

impl RtpCount {
    /// Counts one RTP datagram (which must be RTP: see [`is_rtp`]) from its clear header.
    pub fn count(&mut self, datagram: &[u8], at: Instant) {
        let ssrc = u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]);
        let seq = u16::from_be_bytes([datagram[2], datagram[3]]);
        self.packets += 1;
        self.bytes += datagram.len() as u64;
        self.first_at.get_or_insert(at);
        let inline = &mut self.streams[..self.inline as usize];
        let last = match inline.iter_mut().chain(self.more.iter_mut()).find(|(s, _)| *s == ssrc) {
            Some((_, last)) => last,
            None if (self.inline as usize) < INLINE_STREAMS => {
                self.streams[self.inline as usize] = (ssrc, seq);
                self.inline += 1;
                return;
            }
            None => {
                self.more.push((ssrc, seq));
                return;
            }
        };
        let step = seq.wrapping_sub(*last);
        // A step of 1 is the next packet; a larger forward step (under half the space) skips lost ones;
        // anything else is a late or repeated packet, which loses nothing.
        if (2..0x8000).contains(&step) {
            self.lost += u64::from(step - 1);
        }
        if (1..0x8000).contains(&step) {
            *last = seq;
        }
    }
}

/// Whether a datagram is RTP (not RTCP, STUN or DTLS): version 2, and not an RTCP packet type (RFC 5761).
pub fn is_rtp(d: &[u8]) -> bool {
    d.len() >= 12 && d[0] & 0xc0 == 0x80 && !(192..=223).contains(&d[1])
}

/// Which paths a session's media may take. ICE picks the best of those that work: UDP, then ICE-TCP,
/// then a TURN relay (the server's `joined` event names the TURN servers and the credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    /// Straight UDP to the server's UDP candidates.
    pub udp: bool,
    /// ICE-TCP to the server's passive TCP candidates.
    pub tcp: bool,
    /// A UDP relay on the TURN servers the server names, reached over UDP or TCP as their URLs say.
    pub turn: bool,
    /// Offer RED (`audio/red`, RFC 2198), as browsers do: the server then sends each packet with the
    /// previous one's Opus, which covers a lost packet.
    pub red: bool,
}

impl Transports {
    /// Every path, as a browser would try them.
    pub const ALL: Transports = Transports { udp: true, tcp: true, turn: true, red: true };
    /// UDP only (a load generator's thousands of listeners).
    pub const UDP: Transports = Transports { udp: true, tcp: false, turn: false, red: true };
}

/// What the session's helper tasks (ICE-TCP connections, TURN relays) hand to it.
pub(crate) enum NetIn {
    /// A packet for str0m, as if received on `destination`.
    Packet { proto: Protocol, source: SocketAddr, destination: SocketAddr, data: Vec<u8> },
    /// An ICE-TCP connection is up: a new local candidate.
    TcpUp { local: SocketAddr, out: mpsc::Sender<Vec<u8>> },
    /// A TURN relay is allocated: a new local candidate.
    RelayUp(crate::turn::Relay),
}

impl NetIn {
    pub(crate) fn packet(proto: Protocol, source: SocketAddr, destination: SocketAddr, data: Vec<u8>) -> NetIn {
        NetIn::Packet { proto, source, destination, data }
    }
}

/// One user in one room.
pub struct Session {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    /// What the helper tasks send; they hold clones of `net_tx`.
    net_rx: mpsc::Receiver<NetIn>,
    net_tx: mpsc::Sender<NetIn>,
    /// ICE-TCP connections: the local address, and the writer's queue.
    tcp: Vec<(SocketAddr, mpsc::Sender<Vec<u8>>)>,
    relays: Vec<crate::turn::Relay>,
    /// The TURN servers of the `joined` event.
    ice_servers: Vec<stoa_proto::IceServer>,
    send_mid: Mid,
    slot_mids: Vec<Mid>,
    slot_of_ssrc: HashMap<Ssrc, usize>,
    pt: Option<Pt>,
    /// The RED payload type, if RED was negotiated.
    red_pt: Option<Pt>,
    timeout: Instant,
    queue: VecDeque<Incoming>,
    transmits: Vec<(Protocol, SocketAddr, SocketAddr, Vec<u8>)>,
    buf: Vec<u8>,
    next_seq: u64,
    /// Whether str0m had input since it was last drained.
    dirty: bool,
    /// The path media last went out on.
    last_path: Option<&'static str>,
    /// The one timer for str0m's next timeout, moved rather than made anew on every wake.
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// The speaker behind each source number (CSRC) seen in `slots` events.
    speakers: HashMap<u32, UserId>,
    /// Who this session is.
    pub you: UserSummary,
    /// Its role when it joined; kept up to date from `role_changed` events seen by [`Session::next`].
    pub role: Role,
    /// The room when it joined.
    pub room: RoomInfo,
    /// How long each step of the join took.
    pub phases: JoinPhases,
    /// The paths media may take.
    transports: Transports,
}

/// What a new media peer is made of: the `Rtc`, its socket and address, its send and receive m-lines, and
/// the offer with its pending state.
type NewPeer = (Rtc, UdpSocket, SocketAddr, Mid, Vec<Mid>, str0m::change::SdpOffer, SdpPendingOffer);

/// A new media peer on `socket`: one m-line to send on and `slots` to receive, offered.
fn new_peer(socket: std::net::UdpSocket, slots: usize, transports: Transports) -> anyhow::Result<NewPeer> {
    socket.set_nonblocking(true)?;
    let socket = UdpSocket::from_std(socket)?;
    // Room for a few seconds of the room's packets while this process is busy (a bench's thousands of
    // listeners share its cores): the kernel's default holds about a hundred datagrams.
    stoa_media::set_socket_buffers(&socket, 1 << 20);
    let local = socket.local_addr()?;
    let mut rtc = rtc_config_with(transports.red).build(Instant::now());
    if transports.udp {
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
    }
    let mut sdp = rtc.sdp_api();
    let send_mid = sdp.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let slot_mids: Vec<Mid> =
        (0..slots).map(|_| sdp.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None)).collect();
    let (offer, pending) = sdp.apply().context("cannot build an offer")?;
    Ok((rtc, socket, local, send_mid, slot_mids, offer, pending))
}

/// How long a join's signaling took, each step from the start of the join.
#[derive(Debug, Clone, Copy, Default)]
pub struct JoinPhases {
    /// The room's WebSocket is open (TCP and the HTTP upgrade).
    pub upgraded: Duration,
    /// The room's `joined` event arrived.
    pub welcomed: Duration,
    /// The server's SDP answer arrived.
    pub answered: Duration,
}

/// The audio configuration both ends use: Opus with in-band FEC and DTX, and the RFC 6464 audio level.
/// Every peer of this process shares one DTLS configuration and one certificate (a bench joins thousands
/// of peers; each would otherwise make a key pair and rerun the crypto self-tests).
pub fn rtc_config() -> RtcConfig {
    rtc_config_with(true)
}

/// [`rtc_config`], offering RED or not.
pub fn rtc_config_with(red: bool) -> RtcConfig {
    stoa_media::offerer_config(red)
}

impl Session {
    /// Joins room `room` over its WebSocket, then connects media with `slots` receive slots. Fails with the
    /// server's own message when the join or the offer is refused.
    pub async fn join(api: &Api, room: &str, slots: usize) -> anyhow::Result<Session> {
        Self::join_with(api, room, slots, Transports::UDP).await
    }

    /// [`Session::join`], with media on any of `transports`.
    pub async fn join_with(api: &Api, room: &str, slots: usize, transports: Transports) -> anyhow::Result<Session> {
        Self::join_on(api, room, slots, transports, None).await
    }

    /// [`Session::join_with`], with its media on `socket` if given (a UDP socket bound to the address to
    /// offer), or else on a new socket on the address that reaches the server.
    pub async fn join_on(
        api: &Api,
        room: &str,
        slots: usize,
        transports: Transports,
        socket: Option<std::net::UdpSocket>,
    ) -> anyhow::Result<Session> {
        let began = Instant::now();
        let mut phases = JoinPhases::default();
        let url = format!("{}/api/v1/rooms/{room}/ws", api.base.replacen("http", "ws", 1));
        let mut request = url.as_str().into_client_request()?;
        request.headers_mut().insert("authorization", format!("Bearer {}", api.token).parse()?);
        // A small read buffer: tungstenite zeroes the unused part of it on every read attempt, and a session
        // polls its socket on every packet (the default 128 KiB made that the bench's largest cost).
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let tls = tokio_tungstenite::Connector::Rustls(crate::tls::config());
        let (mut ws, _) =
            // Nagle off (`true`): a command written behind another not yet acknowledged would wait for the
            // server's delayed ACK, 40 ms.
            match tokio_tungstenite::connect_async_tls_with_config(request, Some(config), true, Some(tls)).await {
                Ok(ok) => ok,
                Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                    let body: serde_json::Value =
                        resp.body().as_ref().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
                    let message = body["error"]["message"].as_str().unwrap_or("refused").to_string();
                    bail!("cannot join the room ({}): {message}", resp.status());
                }
                Err(e) => return Err(e).context("cannot open the room's WebSocket"),
            };
        phases.upgraded = began.elapsed();
        let (you, role, room_info, ice_servers) = loop {
            match next_event(&mut ws).await? {
                Some(ServerEvent::Joined { you, role, room, ice_servers, .. }) => break (you, role, room, ice_servers),
                Some(_) => continue,
                None => bail!("the room closed the socket before welcoming us"),
            }
        };
        phases.welcomed = began.elapsed();

        let socket = match socket {
            Some(socket) => socket,
            None => std::net::UdpSocket::bind(SocketAddr::new(local_ip_towards(&api.base).await?, 0))?,
        };
        let (rtc, socket, local, send_mid, slot_mids, offer, pending) = new_peer(socket, slots, transports)?;
        let (net_tx, net_rx) = mpsc::channel(1024);
        let now = Instant::now();
        let mut session = Session {
            ws,
            rtc,
            socket,
            local,
            net_rx,
            net_tx,
            tcp: Vec::new(),
            relays: Vec::new(),
            ice_servers,
            send_mid,
            slot_mids,
            slot_of_ssrc: HashMap::new(),
            pt: None,
            red_pt: None,
            timeout: now,
            queue: VecDeque::new(),
            transmits: Vec::new(),
            buf: vec![0; 2048],
            next_seq: 1,
            dirty: true,
            last_path: None,
            sleep: Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(now))),
            speakers: HashMap::new(),
            transports,
            you,
            role,
            room: room_info,
            phases,
        };
        session.negotiate(offer, pending).await?;
        session.phases.answered = began.elapsed();
        Ok(session)
    }

    /// Sends the offer and takes the server's answer (the room's other events meanwhile are kept for
    /// [`Session::next`]), then starts the media paths.
    async fn negotiate(&mut self, offer: str0m::change::SdpOffer, pending: SdpPendingOffer) -> anyhow::Result<()> {
        self.command(ClientCommand::Offer { sdp: offer.to_sdp_string() }).await?;
        let answer_sdp = loop {
            match next_event(&mut self.ws).await? {
                Some(ServerEvent::Answer { sdp }) => break sdp,
                Some(ServerEvent::Error { code, message, .. }) => {
                    bail!("the server refused our media ({code}): {message}")
                }
                Some(other) => self.queue.push_back(Incoming::Event(other)),
                None => bail!("the room closed the socket before answering our offer"),
            }
        };
        self.accept(pending, &answer_sdp)?;
        self.drain();
        self.flush().await;
        Ok(())
    }

    /// Takes the server's answer to the pending offer and starts the media paths it offers.
    fn accept(&mut self, pending: SdpPendingOffer, answer_sdp: &str) -> anyhow::Result<()> {
        let answer = SdpAnswer::from_sdp_string(answer_sdp).context("the server's answer is not valid SDP")?;
        self.rtc.sdp_api().accept_answer(pending, answer).context("cannot accept the server's answer")?;
        self.start_paths(answer_sdp, self.transports);
        let opus = self.rtc.codec_config().params().iter().find(|p| p.spec().codec == Codec::Opus).copied();
        self.pt = opus.map(|p| p.pt());
        self.red_pt = opus.and_then(|p| p.red()).filter(|r| answer_sdp.contains(&format!("a=rtpmap:{} red/", **r)));
        self.dirty = true;
        Ok(())
    }

    /// Starts the other paths the answer offers and `transports` allow: a connection to each passive TCP
    /// candidate, and a relay on each TURN server (with channels to the UDP candidates). Each becomes a
    /// local candidate when it is up; ICE then checks it like any other.
    fn start_paths(&mut self, answer: &str, transports: Transports) {
        let candidates = answer_candidates(answer);
        if transports.tcp {
            for remote in candidates.iter().filter(|(tcp, _)| *tcp).map(|(_, a)| *a) {
                let net = self.net_tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(remote)).await {
                        Ok(Ok(stream)) => run_tcp_path(stream, remote, net).await,
                        _ => tracing::debug!(%remote, "no ICE-TCP connection to the server"),
                    }
                });
            }
        }
        if transports.turn {
            let peers: Vec<SocketAddr> = candidates.iter().filter(|(tcp, _)| !*tcp).map(|(_, a)| *a).collect();
            for server in self.ice_servers.clone() {
                let (net, peers) = (self.net_tx.clone(), peers.clone());
                tokio::spawn(async move {
                    for turn in crate::turn::TurnServer::from_ice_server(&server).await {
                        let (net, peers) = (net.clone(), peers.clone());
                        tokio::spawn(async move {
                            let at = turn.addr;
                            let inbox = net.clone();
                            let deliver = move |peer, relayed, data| {
                                let _ = inbox.try_send(NetIn::packet(Protocol::Udp, peer, relayed, data));
                            };
                            match crate::turn::allocate(turn, peers, deliver).await {
                                Ok(relay) => {
                                    let _ = net.send(NetIn::RelayUp(relay)).await;
                                }
                                Err(e) => tracing::info!(server = %at, error = %e, "no TURN relay"),
                            }
                        });
                    }
                });
            }
        }
    }

    fn net_in(&mut self, item: NetIn) {
        self.dirty = true;
        match item {
            NetIn::Packet { proto, source, destination, data } => {
                if let Ok(contents) = data.as_slice().try_into() {
                    let input = Input::Receive(Instant::now(), Receive { proto, source, destination, contents });
                    if let Err(e) = self.rtc.handle_input(input) {
                        tracing::debug!(error = %e, "media input refused");
                    }
                }
            }
            NetIn::TcpUp { local, out } => {
                match Candidate::builder().tcp().host(local).tcptype(str0m::net::TcpType::Active).build() {
                    Ok(c) => {
                        self.rtc.add_local_candidate(c);
                        self.tcp.push((local, out));
                    }
                    Err(e) => tracing::debug!(error = %e, "an ICE-TCP candidate was refused"),
                }
            }
            NetIn::RelayUp(relay) => match Candidate::relayed(relay.relayed, self.local, "udp") {
                Ok(c) => {
                    tracing::debug!(relayed = %relay.relayed, "a TURN relay is a candidate");
                    self.rtc.add_local_candidate(c);
                    self.relays.push(relay);
                }
                Err(e) => tracing::debug!(error = %e, "a relayed candidate was refused"),
            },
        }
    }

    /// Which path media flows on now: `udp`, `tcp` or `turn` (none before ICE has chosen).
    pub fn transport(&self) -> Option<&'static str> {
        self.last_path
    }

    /// Splits the session into its room socket and its media peer, for a caller that drives many peers'
    /// media from one loop of its own (the bench). The peer's socket is non-blocking; the caller feeds the
    /// `Rtc` its datagrams and timeouts and sends what it outputs.
    pub fn into_media(self) -> anyhow::Result<(Signaling, MediaPeer)> {
        let socket = self.socket.into_std()?;
        socket.set_nonblocking(true)?;
        Ok((Signaling { ws: self.ws }, MediaPeer { rtc: self.rtc, socket, local: self.local }))
    }

    /// Sends a command on the room's socket.
    pub async fn command(&mut self, command: ClientCommand) -> anyhow::Result<()> {
        let text = serde_json::to_string(&ClientMessage { id: None, command })?;
        self.ws.send(Message::Text(text.into())).await.context("the room's socket closed")
    }

    /// Whether ICE and DTLS are up.
    pub fn is_connected(&self) -> bool {
        self.rtc.is_connected()
    }

    /// The local UDP address of the media socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends one Opus packet on the send m-line. The server forwards it only while this user is an unmuted
    /// speaker. Returns false before media is connected.
    pub async fn send_audio(&mut self, payload: &[u8], timestamp: u32, level: Option<i8>) -> bool {
        let (Some(pt), true) = (self.pt, self.rtc.is_connected()) else { return false };
        let seq = self.next_seq;
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(self.send_mid, None) else { return false };
        let ext = ExtensionValues { audio_level: level, voice_activity: level.map(|l| l > -50), ..Default::default() };
        stream.write_rtp(
            RtpWrite::new(pt, seq.into(), timestamp, Instant::now(), std::sync::Arc::<[u8]>::from(payload))
                .ext_vals(ext),
        );
        self.next_seq += 1;
        self.drain();
        self.flush().await;
        true
    }

    /// The speaker a packet's CSRC stands for, as the room's `slots` events told. Packets carry an opaque
    /// source number, never a user ID; the first packets of a new speaker may arrive before the event.
    pub fn speaker(&self, csrc: u32) -> Option<UserId> {
        self.speakers.get(&csrc).copied()
    }

    /// The next thing that happens: a room event or an audio packet. Cancel-safe.
    pub async fn next(&mut self) -> Incoming {
        loop {
            if self.dirty {
                self.drain();
                self.flush().await;
            }
            if let Some(item) = self.queue.pop_front() {
                match &item {
                    Incoming::Event(ServerEvent::RoleChanged { role }) => self.role = *role,
                    Incoming::Event(ServerEvent::Slots { slots, sources }) => {
                        // Source numbers are per media connection, so the map only grows with the room's
                        // churn; a bound keeps a session in a long room from growing without end.
                        if self.speakers.len() > 4096 {
                            self.speakers.clear();
                        }
                        for (user, source) in slots.iter().zip(sources) {
                            if let (Some(user), Some(source)) = (user, source) {
                                self.speakers.insert(*source, *user);
                            }
                        }
                    }
                    _ => {}
                }
                return item;
            }
            let timeout = tokio::time::Instant::from_std(self.timeout);
            if self.sleep.deadline() != timeout {
                self.sleep.as_mut().reset(timeout);
            }
            tokio::select! {
                event = next_event(&mut self.ws) => match event {
                    Ok(Some(event)) => self.queue.push_back(Incoming::Event(event)),
                    Ok(None) | Err(_) => return Incoming::Closed,
                },
                Some(item) = self.net_rx.recv() => self.net_in(item),
                received = self.socket.recv_from(&mut self.buf) => {
                    self.dirty = true;
                    if let Ok((n, source)) = received
                        && let Ok(contents) = self.buf[..n].try_into()
                    {
                        let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: self.local, contents });
                        if let Err(e) = self.rtc.handle_input(input) {
                            tracing::debug!(error = %e, "media input refused");
                        }
                    }
                }
                _ = &mut self.sleep => {
                    let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
                    self.dirty = true;
                }
            }
        }
    }

    fn drain(&mut self) {
        self.dirty = false;
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.timeout = t;
                    return;
                }
                Ok(Output::Transmit(t)) => self.transmits.push((t.proto, t.source, t.destination, t.contents.into())),
                Ok(Output::Event(Event::RtpPacket(mut packet))) => {
                    let mut redundant = Vec::new();
                    if Some(packet.header.payload_type) == self.red_pt {
                        let Some(red) = stoa_media::red::decode(&packet.payload) else { continue };
                        let ts = packet.header.timestamp;
                        redundant = red.redundant.iter().map(|(off, d)| (ts.wrapping_sub(*off), d.to_vec())).collect();
                        let primary: std::sync::Arc<[u8]> = red.primary.into();
                        packet.payload = primary;
                        if let Some(pt) = self.pt {
                            packet.header.payload_type = pt;
                        }
                    }
                    let ssrc = packet.header.ssrc;
                    let slot = match self.slot_of_ssrc.get(&ssrc) {
                        Some(s) => Some(*s),
                        None => {
                            let mid = self.rtc.direct_api().stream_rx(&ssrc).map(|s| s.mid());
                            let slot = mid.and_then(|m| self.slot_mids.iter().position(|x| *x == m));
                            if let Some(s) = slot {
                                self.slot_of_ssrc.insert(ssrc, s);
                            }
                            slot
                        }
                    };
                    if let Some(slot) = slot {
                        let at = Instant::now();
                        self.queue.push_back(Incoming::Audio { slot, packet: Box::new(packet), at, redundant });
                    }
                }
                Ok(Output::Event(_)) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "media failed");
                    self.timeout = Instant::now() + std::time::Duration::from_secs(3600);
                    return;
                }
            }
        }
    }

    async fn flush(&mut self) {
        for (proto, source, dest, data) in self.transmits.drain(..) {
            // Media (not STUN: its first byte is 0 or 1) shows which path ICE chose.
            let media = data.first().is_some_and(|b| *b >= 20);
            if proto == Protocol::Tcp {
                if let Some((_, out)) = self.tcp.iter().find(|(local, _)| *local == source)
                    && let Some(framed) = stoa_media::framing::frame(&data)
                {
                    let _ = out.try_send(framed);
                }
                if media {
                    self.last_path = Some("tcp");
                }
            } else if let Some(relay) = self.relays.iter().find(|r| r.relayed == source) {
                relay.send(dest, data);
                if media {
                    self.last_path = Some("turn");
                }
            } else {
                let _ = self.socket.send_to(&data, dest).await;
                if media {
                    self.last_path = Some("udp");
                }
            }
        }
    }
}

/// The room socket of a session split by [`Session::into_media`].
pub struct Signaling {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Signaling {
    /// Reads (and drops, unparsed: thousands of bench listeners read every chat message) the room's events
    /// until `deadline` or until the socket closes.
    pub async fn hold_until(&mut self, deadline: Instant) {
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return,
                frame = self.ws.next() => match frame {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => {}
                },
            }
        }
    }

    /// Leaves the room.
    pub async fn leave(&mut self) {
        let text =
            serde_json::to_string(&ClientMessage { id: None, command: ClientCommand::Leave }).unwrap_or_default();
        let _ = self.ws.send(Message::Text(text.into())).await;
    }
}

/// The media half of a session split by [`Session::into_media`].
pub struct MediaPeer {
    /// The peer, connected or connecting.
    pub rtc: Rtc,
    /// Its UDP socket, non-blocking.
    pub socket: std::net::UdpSocket,
    /// The socket's local address.
    pub local: SocketAddr,
}

async fn next_event(ws: &mut WebSocketStream<MaybeTlsStream<TcpStream>>) -> anyhow::Result<Option<ServerEvent>> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => match serde_json::from_str(&text) {
                Ok(event) => return Ok(Some(event)),
                Err(e) => tracing::debug!(error = %e, "an event this client does not know"),
            },
            Some(Ok(Message::Close(_))) | None => return Ok(None),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// The candidates of an SDP answer: whether each is TCP, and its address.
fn answer_candidates(sdp: &str) -> Vec<(bool, SocketAddr)> {
    let mut out = Vec::new();
    for line in sdp.lines().filter_map(|l| l.strip_prefix("a=candidate:")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(proto), Some(ip), Some(port)) = (f.get(2), f.get(4), f.get(5)) else { continue };
        let (Ok(ip), Ok(port)) = (ip.parse::<IpAddr>(), port.parse::<u16>()) else { continue };
        let entry = (proto.eq_ignore_ascii_case("tcp"), SocketAddr::new(ip, port));
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    out
}

/// Runs an ICE-TCP connection: announces it, then hands its frames to the session and writes what the
/// session queues (RFC 4571 framing both ways).
async fn run_tcp_path(stream: TcpStream, remote: SocketAddr, net: mpsc::Sender<NetIn>) {
    let _ = stream.set_nodelay(true);
    let Ok(local) = stream.local_addr() else { return };
    let (mut read, mut write) = stream.into_split();
    let (out, mut queue) = mpsc::channel::<Vec<u8>>(256);
    if net.send(NetIn::TcpUp { local, out }).await.is_err() {
        return;
    }
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Some(frame) = queue.recv().await {
            if write.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    let mut buf = Vec::new();
    while let Ok(true) = stoa_media::framing::read_frame(&mut read, &mut buf).await {
        if net.send(NetIn::packet(Protocol::Tcp, remote, local, std::mem::take(&mut buf))).await.is_err() {
            break;
        }
    }
    writer.abort();
}

/// The local IP address that routes to the server, without sending anything: a connected UDP socket's
/// local address. On loopback that is 127.0.0.1, so tests never gather other interfaces.
pub async fn local_ip_towards(base: &str) -> anyhow::Result<IpAddr> {
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let authority = rest.split('/').next().unwrap_or_default();
    // A URL without a port means the scheme's.
    let has_port = authority.rsplit_once(':').is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        && !authority.ends_with(']');
    let hostport = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{}", if scheme == "https" { 443 } else { 80 })
    };
    let server = tokio::net::lookup_host(hostport).await?.next().context("cannot resolve the server's address")?;
    let probe = std::net::UdpSocket::bind(if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
    probe.connect(server)?;
    Ok(probe.local_addr()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
        let mut d = vec![0x80, 111];
        d.extend_from_slice(&seq.to_be_bytes());
        d.extend_from_slice(&[0; 4]);
        d.extend_from_slice(&ssrc.to_be_bytes());
        d
    }

    #[test]
    fn a_count_finds_gaps_in_each_of_many_streams_and_forgives_late_packets() {
        let (mut c, at) = (RtpCount::default(), Instant::now());
        // Six streams, more than are kept in place, each starting near the wrap.
        for ssrc in 1..=6u32 {
            for seq in [65_534u16, 65_535, 2, 3, 1, 3] {
                c.count(&rtp(ssrc, seq), at);
            }
        }
        // Per stream: 0 and 1 missing (2 lost); the late 1 and the repeated 3 lose nothing.
        assert_eq!((c.packets, c.lost), (36, 12));
        assert_eq!(c.bytes, 36 * 12);
        assert_eq!(c.first_at, Some(at));
    }
}
