//! The link from an edge's SFU to a room's origin SFU, in a cluster: one WebRTC peer per room and edge,
//! str0m to str0m, as Jitsi's relays are. The edge is the client: it offers one receive m-line per slot, the
//! origin answers as for any listener (so the stage stays enforced there, and its slot and joining
//! decisions are made once), and every packet that arrives on slot `i` is handed to the edge's own mirror
//! room ([`Sfu::relay`]) for slot `i`, with the speaker's CSRC and audio level, as it came.
//!
//! The link also carries the edge's own speakers up: one send m-line, on which every packet a speaker on
//! this node sends (handed over by the mirror room, [`Sfu::uplink`]) goes to the origin with the speaker's
//! source as its CSRC. The origin forwards a packet only if that source may be heard
//! ([`Sfu::link_sources`]), and it comes back down in the origin's slots like anyone's.
//!
//! The link is DTLS-SRTP like any peer: authenticated by the fingerprints exchanged over the (signed)
//! cluster bus, and encrypted.

use crate::slots::{SourceId, is_voice};
use crate::{RoomKey, Sfu, Tapped};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::Pt;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// How long a link may stay disconnected before it is given up (and made again by its owner).
const GIVE_UP: Duration = Duration::from_secs(5);
/// How long ICE and DTLS may take at the start.
const CONNECT: Duration = Duration::from_secs(10);

/// Why a link stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The socket could not be used.
    #[error("link socket: {0}")]
    Io(#[from] std::io::Error),
    /// The offer could not be made, or the answer not taken.
    #[error("link negotiation: {0}")]
    Sdp(String),
    /// The origin stopped answering.
    #[error("the link to the origin was lost")]
    Lost,
}

/// A link being made: its offer is sent to the origin, whose answer [`Link::run`] takes.
pub struct Link {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    slot_mids: Vec<Mid>,
    /// Where this node's speakers' packets go up.
    up_mid: Mid,
}

/// Packets of this node's speakers, for the origin: what [`Sfu::uplink`] fills.
pub type UplinkQueue = mpsc::Receiver<Tapped>;

/// Packets waiting to go up a link: a second of a full stage's.
pub const UPLINK_QUEUE: usize = 1024;

impl Link {
    /// A link from `local_ip` (an address of this node that reaches the origin's media address), with
    /// `slots` receive slots. Returns it and the SDP offer for the origin.
    pub async fn new(local_ip: IpAddr, slots: usize) -> Result<(Link, String), LinkError> {
        let socket = UdpSocket::bind(SocketAddr::new(local_ip, 0)).await?;
        crate::net::set_buffers(&socket, crate::net::SOCKET_BUFFER);
        let local = socket.local_addr()?;
        let mut rtc = config().build(Instant::now());
        let candidate = Candidate::host(local, "udp").map_err(|e| LinkError::Sdp(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let mut sdp = rtc.sdp_api();
        let slot_mids: Vec<Mid> =
            (0..slots.max(1)).map(|_| sdp.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None)).collect();
        // Last, so that the origin's slots are the first m-lines, as for any client.
        let up_mid = sdp.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let (offer, pending) = sdp.apply().ok_or_else(|| LinkError::Sdp("no offer".into()))?;
        Ok((Link { rtc, socket, local, pending: Some(pending), slot_mids, up_mid }, offer.to_sdp_string()))
    }

    /// Takes the origin's answer, carries the origin's slots into `room` of `sfu` and this node's speakers'
    /// packets from `up` to the origin, until the link is lost (or the task running it is dropped), and says
    /// why it stopped. `up` outlives the link: the next one takes it over.
    pub async fn run(mut self, answer: &str, sfu: &Sfu, room: RoomKey, up: &mut UplinkQueue) -> LinkError {
        match self.carry(answer, sfu, room, up).await {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    /// Writes one of this node's speakers' packets up to the origin, named by its source.
    fn send_up(&mut self, pt: Pt, seq: &mut u64, packet: Tapped) {
        if !self.rtc.is_connected() {
            return;
        }
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(self.up_mid, None) else { return };
        let level = packet.level;
        let ext = ExtensionValues { audio_level: level, voice_activity: level.map(is_voice), ..Default::default() };
        // The link's own numbering: each speaker's packets keep their order in it, which is all the
        // origin's slot decisions need; the timestamp is the speaker's own.
        let write = RtpWrite::new(pt, (*seq).into(), packet.timestamp, Instant::now(), packet.payload)
            .ext_vals(ext)
            .csrc(&[packet.source.0]);
        stream.write_rtp(write);
        *seq += 1;
    }

    async fn carry(
        &mut self,
        answer: &str,
        sfu: &Sfu,
        room: RoomKey,
        up: &mut UplinkQueue,
    ) -> Result<std::convert::Infallible, LinkError> {
        let parsed = SdpAnswer::from_sdp_string(answer).map_err(|e| LinkError::Sdp(e.to_string()))?;
        let pending = self.pending.take().ok_or_else(|| LinkError::Sdp("the answer came twice".into()))?;
        self.rtc.sdp_api().accept_answer(pending, parsed).map_err(|e| LinkError::Sdp(e.to_string()))?;
        let pt = self.rtc.codec_config().params().iter().find(|p| p.spec().codec == Codec::Opus).map(|p| p.pt());
        let pt = pt.ok_or_else(|| LinkError::Sdp("the origin's answer has no Opus".into()))?;
        // Packets queued while no link was up are stale: what goes up starts now.
        while up.try_recv().is_ok() {}
        let mut up_seq: u64 = 1;
        let mut slot_of_ssrc: HashMap<u32, usize> = HashMap::new();
        let mut buf = vec![0u8; 2048];
        let started = Instant::now();
        let mut connected = false;
        let mut lost_since: Option<Instant> = None;
        loop {
            // Everything str0m has to say, up to its next timeout.
            let timeout = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Transmit(t)) => {
                        let _ = self.socket.send_to(&t.contents, t.destination).await;
                    }
                    Ok(Output::Event(Event::IceConnectionStateChange(state))) => match state {
                        IceConnectionState::Disconnected => {
                            lost_since.get_or_insert(Instant::now());
                        }
                        IceConnectionState::Connected | IceConnectionState::Completed => lost_since = None,
                        _ => {}
                    },
                    Ok(Output::Event(Event::Connected)) => connected = true,
                    Ok(Output::Event(Event::RtpPacket(packet))) => {
                        let ssrc = *packet.header.ssrc;
                        let slot = match slot_of_ssrc.get(&ssrc) {
                            Some(s) => Some(*s),
                            None => {
                                let mid = self.rtc.direct_api().stream_rx(&packet.header.ssrc).map(|s| s.mid());
                                let slot = mid.and_then(|m| self.slot_mids.iter().position(|x| *x == m));
                                if let Some(s) = slot {
                                    slot_of_ssrc.insert(ssrc, s);
                                }
                                slot
                            }
                        };
                        let header = &packet.header;
                        // The origin names each packet's speaker by their opaque source, as its CSRC.
                        let (Some(slot), true) = (slot, header.csrc_count > 0) else { continue };
                        let tapped = Tapped {
                            source: SourceId(header.csrc[0]),
                            seq: *packet.seq_no,
                            timestamp: header.timestamp,
                            level: header.ext_vals.audio_level,
                            payload: packet.payload,
                        };
                        sfu.relay(room, slot, tapped);
                    }
                    Ok(Output::Event(_)) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "the link to the origin failed");
                        return Err(LinkError::Lost);
                    }
                }
            };
            let now = Instant::now();
            if !connected && now - started > CONNECT {
                return Err(LinkError::Lost);
            }
            if lost_since.is_some_and(|t| now - t > GIVE_UP) || !self.rtc.is_alive() {
                return Err(LinkError::Lost);
            }
            let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(timeout.max(now)));
            tokio::select! {
                Some(packet) = up.recv() => {
                    self.send_up(pt, &mut up_seq, packet);
                }
                received = self.socket.recv_from(&mut buf) => {
                    let (n, source) = received?;
                    if let Ok(contents) = buf[..n].try_into() {
                        let receive = Receive { proto: Protocol::Udp, source, destination: self.local, contents };
                        if let Err(e) = self.rtc.handle_input(Input::Receive(Instant::now(), receive)) {
                            tracing::debug!(error = %e, "link input refused");
                        }
                    }
                }
                _ = sleep => {
                    let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
                }
            }
        }
    }
}

/// A link's configuration: as any offering peer's, without RED (the mirror adds its own for its listeners).
fn config() -> RtcConfig {
    offerer_config(false)
}

pub use stoa_media::offerer_config;

/// The local address that routes to `remote`: the one to bind a link's socket to.
pub fn local_ip_towards(remote: SocketAddr) -> std::io::Result<IpAddr> {
    let probe = std::net::UdpSocket::bind(SocketAddr::new(
        if remote.is_ipv4() { IpAddr::from([0, 0, 0, 0]) } else { IpAddr::from([0u16; 8]) },
        0,
    ))?;
    probe.connect(remote)?;
    Ok(probe.local_addr()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Forwarding, SfuConfig, SfuEvent};

    /// A packet of `source` as a mirror hands it up, loud enough to claim a slot.
    fn spoken(source: u32, n: u64) -> Tapped {
        let payload: std::sync::Arc<[u8]> = vec![0xf8; 40].into();
        Tapped { source: SourceId(source), seq: n, timestamp: (n * 960) as u32, level: Some(-10), payload }
    }

    /// The origin's side of the stage for other nodes' speakers: a link's packets are forwarded only for the
    /// sources the origin lets it publish for, and stop the moment it takes one back. What the origin
    /// forwards is read from the room's tap.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_link_is_heard_only_for_the_speakers_the_origin_lets_it_send() {
        let config = SfuConfig { udp: SocketAddr::from(([127, 0, 0, 1], 0)), shards: 2, ..Default::default() };
        let sfu = Sfu::start(config).unwrap();
        let (origin, mirror) = (RoomKey(1), RoomKey(2));
        let (tx, mut events) = tokio::sync::mpsc::channel(64);
        sfu.open_room(origin, tx);
        let (mirror_tx, _mirror_events) = tokio::sync::mpsc::channel(64);
        sfu.open_room(mirror, mirror_tx);
        let (tap, heard) = std::sync::mpsc::sync_channel(4096);
        sfu.tap(origin, Some(tap));

        let (link, offer) = Link::new(IpAddr::from([127, 0, 0, 1]), sfu.slot_count()).await.unwrap();
        let peer = sfu.offer(origin, SourceId(7), offer, Forwarding::Off);
        let answer = loop {
            match events.recv().await.unwrap() {
                SfuEvent::Answer { sdp, .. } => break sdp,
                SfuEvent::Rejected { message, .. } => panic!("the origin refused the link: {message}"),
                _ => {}
            }
        };
        sfu.link_sources(peer, vec![SourceId(42)]);
        let (up_tx, mut up) = mpsc::channel(UPLINK_QUEUE);
        let carried = sfu.clone();
        let running = tokio::spawn(async move { link.run(&answer, &carried, mirror, &mut up).await });
        while !matches!(events.recv().await.unwrap(), SfuEvent::Connected { .. }) {}

        // Speaker 42 may be heard, 43 may not (a listener on the edge, or someone the edge made up).
        let mut n = 0;
        for _ in 0..60 {
            for source in [42, 43] {
                up_tx.send(spoken(source, n)).await.unwrap();
                n += 1;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let forwarded: Vec<u32> = heard.try_iter().map(|p| p.source.0).collect();
        assert!(forwarded.len() >= 40, "the allowed speaker is forwarded: {} packets", forwarded.len());
        assert!(forwarded.iter().all(|s| *s == 42), "only source 42 is forwarded: {forwarded:?}");

        // Taken off the stage: nothing of theirs is forwarded any more, though the edge keeps sending.
        sfu.link_sources(peer, vec![]);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = heard.try_iter().count();
        for _ in 0..30 {
            up_tx.send(spoken(42, n)).await.unwrap();
            n += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(heard.try_iter().count(), 0, "a speaker the origin took back is not forwarded");
        running.abort();
    }
}
