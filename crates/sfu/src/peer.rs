//! One peer: its str0m instance and what the shard keeps beside it, and how a client's offer becomes one.

use crate::api::*;
use crate::downlink::{FastOut, Indexes};
use crate::slots::SourceId;
use std::net::{IpAddr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::Instant;
use str0m::change::SdpOffer;
use str0m::crypto::dtls::DtlsCert;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::Protocol;
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, IceCreds, Rtc, RtcConfig};

/// The RTP header extension IDs Stoa negotiates. Only the audio level: no transport-wide sequence numbers,
/// since listeners' downlinks run without bandwidth estimation.
fn extensions() -> ExtensionMap {
    let mut map = ExtensionMap::empty();
    map.set(1, Extension::AudioLevel);
    map
}

pub(crate) struct Peer {
    pub room: RoomKey,
    pub source: SourceId,
    /// Boxed: str0m's state is kilobytes, and the shard's map of peers (walked on every packet) holds the
    /// rest in place, with room to grow.
    pub rtc: Box<Rtc>,
    pub forwarding: Forwarding,
    /// The mids the client receives on, one per slot, in offer order.
    pub slot_mids: Vec<Mid>,
    /// The Opus payload type the client chose.
    pub pt: Option<Pt>,
    /// The RED payload type over Opus, if the client negotiated RED.
    pub red: Option<Pt>,
    pub ufrag: String,
    /// Every path a packet of this peer came on.
    pub addrs: Vec<Path>,
    /// The deadline the timer heap holds for this peer, if any.
    pub scheduled: Option<Instant>,
    /// The deadline str0m last asked for.
    pub timeout: Instant,
    /// The SRTP keys its DTLS handshake exported, until the fast path is built from them.
    pub keys: Option<crate::srtp::Keys>,
    /// Where media goes: where the client last nominated (USE-CANDIDATE), or where str0m last sent it
    /// something other than STUN.
    pub dest: Option<Path>,
    /// A path whose last check nominated its pair, until str0m answers it.
    pub nominating: Option<Path>,
    /// The next SRTP index of each slot's stream to this peer, on either path.
    pub indexes: Indexes,
    pub fast: Fast,
    /// Whether ICE and DTLS are up, as of the last time its str0m was driven.
    pub connected: bool,
    /// For another node's link to a room here: the sources it may publish for (its speakers, named by the
    /// CSRC of each packet it sends up). `None` for every other peer.
    pub link_sources: Option<Vec<SourceId>>,
}

impl Peer {
    pub fn new(room: RoomKey, source: SourceId, rtc: Rtc, forwarding: Forwarding, ufrag: String, now: Instant) -> Peer {
        Peer {
            room,
            source,
            rtc: Box::new(rtc),
            forwarding,
            slot_mids: Vec::new(),
            pt: None,
            red: None,
            ufrag,
            addrs: Vec::new(),
            scheduled: None,
            timeout: now,
            keys: None,
            dest: None,
            nominating: None,
            indexes: Indexes::new(0, None),
            fast: Fast::Pending,
            connected: false,
            link_sources: None,
        }
    }

    /// Whether the peer is on the stage's side: an unmuted speaker, or a link whose node has someone who
    /// may be heard (that node's speakers then get 20 ms packets, as speakers here do, and it joins for its
    /// own listeners).
    pub fn on_stage(&self) -> bool {
        match &self.link_sources {
            Some(sources) => !sources.is_empty(),
            None => self.forwarding == Forwarding::On,
        }
    }
}

/// Where a peer's packets come from or go to: a UDP address, or an ICE-TCP connection's remote address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Path {
    pub proto: Protocol,
    pub addr: SocketAddr,
}

impl Path {
    pub fn udp(addr: SocketAddr) -> Path {
        Path { proto: Protocol::Udp, addr }
    }
}

/// The shard a peer's ICE ufrag names: its first two characters (see [`accept`]).
pub(crate) fn shard_of_ufrag(ufrag: &str) -> Option<usize> {
    let digit = |b: u8| ALPHABET.iter().position(|a| *a == b);
    let bytes = ufrag.as_bytes();
    Some(digit(*bytes.first()?)? * ALPHABET.len() + digit(*bytes.get(1)?)?)
}

/// A ufrag for a new peer of `shard`: the shard in two characters, then 14 random ones.
fn ufrag_for(shard: usize) -> String {
    let n = ALPHABET.len();
    let mut ufrag = String::with_capacity(16);
    ufrag.push(ALPHABET[(shard / n) % n] as char);
    ufrag.push(ALPHABET[shard % n] as char);
    ufrag.push_str(&random_token(14));
    ufrag
}

/// How the packets of a peer's slots are written.
pub(crate) enum Fast {
    /// Through str0m, until the handshake's keys are known.
    Pending,
    /// Sealed by the shard itself.
    Ready(Box<FastOut>),
    /// Through str0m for good (an SRTP profile without the fast path).
    Unavailable,
}

/// The fast path of a peer whose handshake's keys are known, if its profile has one.
pub(crate) fn build_fast(rtc: &mut Rtc, slot_mids: &[Mid], keys: &crate::srtp::Keys) -> Option<FastOut> {
    let srtp = crate::srtp::SrtpOut::new(keys)?;
    let mut ssrcs = Vec::with_capacity(slot_mids.len());
    for mid in slot_mids {
        ssrcs.push(*rtc.direct_api().stream_tx_by_mid(*mid, None)?.ssrc());
    }
    let level_id =
        slot_mids.first().and_then(|m| rtc.media(*m)).and_then(|m| m.remote_extmap().id_of(Extension::AudioLevel));
    Some(FastOut::new(srtp, ssrcs, level_id))
}

/// Moves a peer's media to `dest`, keeping the shard's count of peers by transport.
pub(crate) fn set_dest(meter: &ShardMeter, turn_ips: &[IpAddr], peer: &mut Peer, dest: Option<Path>) {
    if peer.dest == dest {
        return;
    }
    let slot = |path: Path| match path.proto {
        Protocol::Udp if turn_ips.contains(&path.addr.ip()) => 2,
        Protocol::Udp => 0,
        _ => 1,
    };
    if let Some(old) = peer.dest {
        meter.peers_by_transport[slot(old)].fetch_sub(1, Ordering::Relaxed);
    }
    if let Some(new) = dest {
        meter.peers_by_transport[slot(new)].fetch_add(1, Ordering::Relaxed);
    }
    peer.dest = dest;
}

/// Repeats the answer's ICE candidates in every accepted m-section, each closed by `a=end-of-candidates`.
///
/// str0m writes them in the first bundled m-section only, which RFC 8843 allows, but some clients read a
/// bundle's candidates elsewhere: aiortc takes them from the last m-section, and never connects without
/// them. Repeating them costs a few lines and changes nothing for clients that read the first.
fn candidates_everywhere(sdp: &str) -> String {
    let candidates: Vec<&str> = sdp.lines().filter(|l| l.starts_with("a=candidate:")).collect();
    if candidates.is_empty() {
        return sdp.to_string();
    }
    let mut out = String::with_capacity(sdp.len() * 2);
    let mut section: Vec<&str> = Vec::new();
    let close = |section: &mut Vec<&str>, out: &mut String| {
        // A rejected m-section (port 0) carries no candidates.
        let accepted = section.first().is_some_and(|m| m.starts_with("m=") && m.split(' ').nth(1) != Some("0"));
        for line in section.iter().filter(|l| !l.starts_with("a=candidate:") && **l != "a=end-of-candidates") {
            out.push_str(line);
            out.push_str("\r\n");
        }
        if accepted {
            for line in candidates.iter().copied().chain(["a=end-of-candidates"]) {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        section.clear();
    };
    for line in sdp.lines() {
        if line.starts_with("m=") {
            close(&mut section, &mut out);
        }
        section.push(line);
    }
    close(&mut section, &mut out);
    out
}

/// A random token of `len` characters for ICE credentials.
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn random_token(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// What a shard offers every new peer.
pub(crate) struct Offering<'a> {
    pub shard: usize,
    /// The UDP and ICE-TCP candidates' addresses.
    pub udp: &'a [SocketAddr],
    pub tcp: &'a [SocketAddr],
    /// The shard's one DTLS certificate.
    pub cert: Option<&'a DtlsCert>,
    /// Slots per peer.
    pub slots: usize,
    /// Where slot streams start their sequence numbers, for tests of the wrap.
    pub first_seq: Option<u16>,
}

/// Why an offer was refused.
pub(crate) struct Refused {
    pub error: PeerError,
    pub message: String,
    /// Whether str0m panicked reading it.
    pub panicked: bool,
}

/// What every peer's str0m starts from, made once per thread (a shard) and certificate: str0m's default
/// codecs, which `clear_codecs` throws away, and Opus's parameters (see `add_opus`) cost each join more
/// than copying the result does.
fn base_config(cert: Option<&DtlsCert>) -> RtcConfig {
    thread_local! {
        static BASE: std::cell::RefCell<Option<(Option<Vec<u8>>, RtcConfig)>> = const { std::cell::RefCell::new(None) };
    }
    let key = cert.map(|c| c.certificate.clone());
    BASE.with_borrow_mut(|base| {
        if let Some((k, config)) = base.as_ref()
            && *k == key
        {
            return config.clone();
        }
        let mut config = RtcConfig::new()
            .set_crypto_provider(crate::srtp::provider())
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .set_extension_map(extensions());
        // Opus with in-band FEC and DTX: the answer's `useinbandfec=1;usedtx=1` is what makes browsers send
        // FEC and stop sending during silence, so a quiet stage costs almost nothing. RED over it for a
        // client that offers it: its slots carry the previous packet's Opus too (see `red.rs`). No NACK: a
        // retransmitted uplink packet would be forwarded again, a duplicate (and late) for every listener.
        stoa_media::red::add_opus(config.codec_config(), true, false);
        if let Some(cert) = cert {
            config = config.set_dtls_cert(cert.clone());
        }
        *base = Some((key, config.clone()));
        config
    })
}

/// A client's SDP offer, answered: the new peer and the answer's SDP.
pub(crate) fn accept(
    now: Instant,
    offering: &Offering,
    room: RoomKey,
    source: SourceId,
    sdp: &str,
    forwarding: Forwarding,
) -> Result<(Peer, String), Refused> {
    let refuse = |error: PeerError, message: String| Refused { error, message, panicked: false };
    let offer = SdpOffer::from_sdp_string(sdp)
        .map_err(|e| refuse(PeerError::InvalidSdp, format!("The offer is not valid SDP: {e}.")))?;
    let ufrag = ufrag_for(offering.shard);
    let rtc_config =
        base_config(offering.cert).set_local_ice_credentials(IceCreds { ufrag: ufrag.clone(), pass: random_token(24) });
    let (udp, tcp) = (offering.udp, offering.tcp);
    // The offer is the client's input too: str0m reads it under a guard.
    let accepted = catch_unwind(AssertUnwindSafe(move || {
        let mut rtc = rtc_config.build(now);
        // UDP first, then ICE-TCP (passive: the client connects), which str0m gives a lower priority.
        let candidates = udp.iter().map(|a| Candidate::host(*a, "udp")).chain(
            tcp.iter().map(|a| Candidate::builder().tcp().host(*a).tcptype(str0m::net::TcpType::Passive).build()),
        );
        for candidate in candidates {
            let candidate = candidate
                .map_err(|e| refuse(PeerError::Internal, format!("The server cannot offer a candidate: {e}.")))?;
            rtc.add_local_candidate(candidate);
        }
        match rtc.sdp_api().accept_offer(offer) {
            Ok(answer) => Ok((rtc, answer)),
            Err(e) => Err(refuse(PeerError::InvalidSdp, format!("The offer cannot be accepted: {e}."))),
        }
    }));
    let (rtc, answer) = match accepted {
        Ok(accepted) => accepted?,
        Err(_) => {
            let message = "The offer cannot be accepted.".to_string();
            return Err(Refused { error: PeerError::InvalidSdp, message, panicked: true });
        }
    };
    let mut peer = Peer::new(room, source, rtc, forwarding, ufrag, now);
    // The negotiated media, in offer order (str0m emits no MediaAdded for an answerer); Opus must be there.
    let sdp = candidates_everywhere(&answer.to_sdp_string());
    for mid in sdp.lines().filter_map(|l| l.strip_prefix("a=mid:")).map(|m| Mid::from(m.trim())) {
        let Some(media) = peer.rtc.media(mid) else { continue };
        if media.kind() != MediaKind::Audio {
            continue;
        }
        if peer.pt.is_none() {
            // The Opus payload type (not RED's), and the RED one linked to it, if the client offered RED.
            let opus = peer
                .rtc
                .codec_config()
                .params()
                .iter()
                .find(|p| p.spec().codec == Codec::Opus && media.remote_pts().contains(&p.pt()));
            peer.pt = opus.map(|p| p.pt());
            // RED is in use when the answer names it (str0m keeps it only if the offer had it too).
            peer.red = opus.and_then(|p| p.red()).filter(|r| sdp.contains(&format!("a=rtpmap:{} red/48000/2", **r)));
        }
        // Whatever the client can receive on is a slot: its `recvonly` m-lines (our `sendonly`), and also a
        // `sendrecv` one, which is what a plain `addTrack(mic)` client offers.
        let receives = matches!(media.direction(), Direction::SendOnly | Direction::SendRecv);
        if receives && peer.slot_mids.len() < offering.slots {
            peer.slot_mids.push(mid);
        }
    }
    if peer.pt.is_none() {
        return Err(refuse(PeerError::NoOpus, "The offer has no Opus audio; Stoa carries Opus only.".into()));
    }
    peer.indexes = Indexes::new(peer.slot_mids.len(), offering.first_seq);
    Ok((peer, sdp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_m_section_carries_the_candidates_and_their_end() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 7882 typ host\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n\
                   m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=mid:2\r\n";
        let out = candidates_everywhere(sdp);
        let sections: Vec<&str> = out.split("m=").skip(1).collect();
        assert_eq!(sections.len(), 3);
        for accepted in &sections[..2] {
            assert_eq!(accepted.matches("a=candidate:1 1 udp").count(), 1, "{accepted}");
            assert!(accepted.ends_with("a=end-of-candidates\r\n"), "{accepted}");
        }
        assert!(!sections[2].contains("a=candidate"), "a rejected m-section gets none");
        assert!(out.starts_with("v=0\r\n") && out.contains("a=group:BUNDLE 0 1\r\n"));
        assert_eq!(candidates_everywhere("v=0\r\n"), "v=0\r\n");
    }
}

#[cfg(test)]
#[path = "peer_memory_tests.rs"]
mod memory_tests;
