//! RFC 2198 redundancy (`audio/red`) for the audience: each packet carries the previous packet's Opus too,
//! so a listener who loses one packet plays it from the next one. The packet count does not grow (what
//! limits a large room is packets per second, not bytes), and one lost packet in a row costs nothing.
//!
//! A RED payload is a header per block — 4 bytes for each redundant block (F=1, the block's payload type,
//! its timestamp offset back from the packet's, 14 bits, and its length, 10 bits), 1 byte for the primary
//! (F=0, payload type) — then the blocks' data in the same order.

use str0m::format::{Codec, CodecConfig, FormatParams, PayloadParams};
use str0m::media::{Frequency, Pt};

/// The Opus payload type Stoa offers and answers.
pub const OPUS_PT: u8 = 111;
/// The RED payload type Stoa offers (the one Chromium uses).
pub const RED_PT: u8 = 63;

/// Adds Opus (in-band FEC, DTX, 10 ms minimum) to `config`, with `red` RFC 2198 RED over it, and with
/// `nack` NACK feedback (kept in an answer only for an offer that has it: browsers mostly do not, for audio).
pub fn add_opus(config: &mut CodecConfig, red: bool, nack: bool) {
    let format =
        FormatParams { min_p_time: Some(10), use_inband_fec: Some(true), use_dtx: Some(true), ..Default::default() };
    config.add_config(Pt::new_with_value(OPUS_PT), None, Codec::Opus, Frequency::FORTY_EIGHT_KHZ, Some(2), format);
    if !red && !nack {
        return;
    }
    // str0m links a RED payload type to a primary one only through its own `enable_opus`, whose Opus
    // lacks DTX, and sets NACK on audio nowhere; its parameters are plain data (serde), so both are set
    // on ours that way.
    let Some(opus) = config.params().last().copied() else { return };
    let linked = serde_json::to_value(opus).ok().and_then(|mut v| {
        let fields = v.as_object_mut()?;
        if red {
            fields.insert("red".into(), serde_json::json!(RED_PT));
        }
        fields.insert("fb_nack".into(), serde_json::json!(nack));
        serde_json::from_value::<PayloadParams>(v).ok()
    });
    if let Some(linked) = linked {
        let mut params: Vec<PayloadParams> = config.params().to_vec();
        params.pop();
        params.push(linked);
        let distances = config.red_distances().to_vec();
        *config = CodecConfig::new_from_payload_params(params);
        config.set_red_distances(&distances);
    }
}

/// The largest timestamp offset and block length a redundant block header can say.
const MAX_OFFSET: u32 = (1 << 14) - 1;
const MAX_LEN: usize = (1 << 10) - 1;

/// Writes a RED payload into `out` (cleared first): `previous` (its timestamp offset back from this
/// packet's, and its Opus) as the redundant block when it fits in a block header, then `primary`. Returns
/// whether the redundant block went in.
pub fn encode(out: &mut Vec<u8>, opus_pt: u8, previous: Option<(u32, &[u8])>, primary: &[u8]) -> bool {
    out.clear();
    let previous = previous.filter(|(offset, data)| (1..=MAX_OFFSET).contains(offset) && data.len() <= MAX_LEN);
    if let Some((offset, data)) = previous {
        let word = (offset << 10) | data.len() as u32;
        out.push(0x80 | (opus_pt & 0x7f));
        out.extend_from_slice(&word.to_be_bytes()[1..]);
    }
    out.push(opus_pt & 0x7f);
    if let Some((_, data)) = previous {
        out.extend_from_slice(data);
    }
    out.extend_from_slice(primary);
    previous.is_some()
}

/// A decoded RED payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Red<'a> {
    /// The redundant blocks, oldest first: (timestamp offset back from the packet's, data).
    pub redundant: Vec<(u32, &'a [u8])>,
    /// The primary block.
    pub primary: &'a [u8],
}

/// Reads a RED payload. `None` if the headers run past the payload or promise more than it holds.
pub fn decode(payload: &[u8]) -> Option<Red<'_>> {
    let mut at = 0;
    let mut headers = Vec::new();
    loop {
        let first = *payload.get(at)?;
        if first & 0x80 == 0 {
            at += 1;
            break;
        }
        let b = payload.get(at + 1..at + 4)?;
        let word = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        headers.push((word >> 10, (word & 0x3ff) as usize));
        at += 4;
    }
    let mut redundant = Vec::with_capacity(headers.len());
    for (offset, len) in headers {
        redundant.push((offset, payload.get(at..at + len)?));
        at += len;
    }
    Some(Red { redundant, primary: payload.get(at..)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_red_payload_round_trips_and_what_does_not_fit_goes_without_redundancy() {
        let mut out = Vec::new();
        assert!(encode(&mut out, 111, Some((960, b"prev")), b"primary"));
        assert_eq!(&out[..5], &[0x80 | 111, 0x0f, 0x00, 0x04, 111], "F=1, ts offset 960, length 4; then F=0");
        assert_eq!(decode(&out), Some(Red { redundant: vec![(960, &b"prev"[..])], primary: b"primary" }));
        assert!(!encode(&mut out, 111, None, b"primary"));
        assert_eq!(out, [&[111u8][..], b"primary"].concat());
        assert!(!encode(&mut out, 111, Some((0, b"x")), b"p"), "no offset: no block");
        assert!(!encode(&mut out, 111, Some((20_000, b"x")), b"p"), "an offset past 14 bits");
        assert!(!encode(&mut out, 111, Some((960, &[0; 1024])), b"p"), "a block past 10 bits");
        assert_eq!(decode(&out).unwrap().primary, b"p");
    }

    #[test]
    fn garbage_is_refused_never_read_past() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[0x80 | 111, 0, 0]), None, "a cut header");
        assert_eq!(decode(&[0x80 | 111, 0x0f, 0x00, 0x10, 111, 1, 2]), None, "a block longer than the rest");
        for len in 0..12 {
            let mut out = Vec::new();
            encode(&mut out, 111, Some((960, b"abcd")), b"efgh");
            let _ = decode(&out[..len]);
        }
    }

    #[test]
    fn the_answer_links_red_to_opus_and_keeps_dtx() {
        let mut config = CodecConfig::empty();
        add_opus(&mut config, true, true);
        let opus = config.params()[0];
        assert_eq!(opus.pt(), Pt::new_with_value(OPUS_PT));
        assert_eq!(opus.red(), Some(Pt::new_with_value(RED_PT)));
        assert!(opus.fb_nack());
        assert_eq!(opus.spec().format.use_dtx, Some(true));
        let mut plain = CodecConfig::empty();
        add_opus(&mut plain, false, false);
        assert_eq!(plain.params()[0].red(), None);
        assert!(!plain.params()[0].fb_nack());
    }
}

/// An SDP offer with RED taken out (its payload types from every `m=` line, and their `rtpmap`, `fmtp` and
/// `rtcp-fb` lines), so that the answer negotiates plain Opus: an end-to-end encrypted room's packets are
/// sealed on the speaker's device, and the server cannot build redundancy out of them.
pub fn without_red(sdp: &str) -> String {
    let red: Vec<&str> = sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|rest| rest.split_once(' '))
        .filter(|(_, codec)| codec.trim().to_ascii_lowercase().starts_with("red/"))
        .map(|(pt, _)| pt)
        .collect();
    if red.is_empty() {
        return sdp.to_string();
    }
    let about_red = |line: &str| {
        ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"].iter().any(|p| {
            line.strip_prefix(p).and_then(|rest| rest.split([' ', '\r']).next()).is_some_and(|pt| red.contains(&pt))
        })
    };
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if about_red(line) {
            continue;
        }
        if line.starts_with("m=") {
            let (body, end) = line.find(['\r', '\n']).map_or((line, ""), |i| line.split_at(i));
            let kept: Vec<&str> =
                body.split(' ').enumerate().filter(|(i, w)| *i < 3 || !red.contains(w)).map(|(_, w)| w).collect();
            out.push_str(&kept.join(" "));
            out.push_str(end);
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod without_red_tests {
    #[test]
    fn an_offer_loses_red_and_keeps_everything_else() {
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 63 111 9\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n\
                     a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10\r\n\
                     a=rtpmap:9 G722/8000\r\nm=audio 9 UDP/TLS/RTP/SAVPF 63 111\r\na=rtpmap:63 red/48000/2\r\n";
        let plain = super::without_red(offer);
        assert_eq!(
            plain,
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 9\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\n\
             a=fmtp:111 minptime=10\r\na=rtpmap:9 G722/8000\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        );
        assert_eq!(super::without_red(&plain), plain, "an offer without RED is left as it is");
    }
}
