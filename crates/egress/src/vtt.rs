//! Live captions on the listen link: a WebVTT subtitle rendition beside the HLS audio (RFC 8216 §3.1.4,
//! §4.3.4.1): a multivariant playlist naming both, a subtitle playlist whose segments match the audio's one
//! for one, and each segment's cues, timed on the audio's own clock through `X-TIMESTAMP-MAP`.

use std::fmt::Write;

/// A caption line on the stream's clock (90 kHz, as the audio's ID3 timestamps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// When it shows.
    pub start: u64,
    /// When it goes.
    pub end: u64,
    /// What it says.
    pub text: String,
}

/// The multivariant playlist: the audio (`index.m3u8`) with its captions (`subs.m3u8`).
pub fn multivariant() -> String {
    "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\
     #EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"captions\",NAME=\"Captions\",DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,URI=\"subs.m3u8\"\n\
     #EXT-X-STREAM-INF:BANDWIDTH=80000,CODECS=\"mp4a.40.2\",SUBTITLES=\"captions\"\nindex.m3u8\n"
        .to_string()
}

/// The subtitle playlist: a WebVTT segment for each audio segment listed (`stream`, and each one's sequence
/// number and seconds).
pub fn playlist(stream: &str, segments: &[(u64, f64)]) -> String {
    let first = segments.first().map_or(0, |s| s.0);
    let mut out = format!("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{first}\n");
    for (seq, duration) in segments {
        let _ = writeln!(out, "#EXTINF:{duration:.3},\n{stream}-{seq}.vtt");
    }
    out
}

/// One WebVTT segment: the cues that show during `[from, to)` on the stream's clock, whose zero is
/// `origin` (the stream's first timestamp, which `X-TIMESTAMP-MAP` ties to the audio's).
pub fn segment<'a>(origin: u64, from: u64, to: u64, cues: impl Iterator<Item = &'a Cue>) -> String {
    let mut out = format!("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{origin},LOCAL:00:00:00.000\n");
    for cue in cues.filter(|c| c.start < to && c.end > from) {
        let _ = write!(
            out,
            "\n{} --> {}\n{}\n",
            clock(cue.start.saturating_sub(origin)),
            clock(cue.end.saturating_sub(origin)),
            escape(&cue.text)
        );
    }
    out
}

/// 90 kHz ticks as WebVTT's `HH:MM:SS.mmm`.
fn clock(ticks: u64) -> String {
    let ms = ticks / 90;
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// A cue's text as WebVTT reads it: markup characters escaped, one line (a blank line would end the cue).
fn escape(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_has_the_cues_that_show_in_it_on_the_audios_clock_with_their_markup_escaped() {
        let origin = 900_000;
        let cues = [
            Cue { start: origin + 90_000, end: origin + 270_000, text: "Sam: one <b>two</b>\n\nthree & -->".into() },
            Cue { start: origin + 900_000, end: origin + 1_080_000, text: "later".into() },
        ];
        let vtt = segment(origin, origin, origin + 180_450, cues.iter());
        assert_eq!(
            vtt,
            "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n\n\
             00:00:01.000 --> 00:00:03.000\nSam: one &lt;b&gt;two&lt;/b&gt; three &amp; --&gt;\n"
        );
        assert_eq!(clock(90_000 * 3_725 + 45), "01:02:05.000");
        let list = playlist("ab12", &[(7, 2.005), (8, 2.005)]);
        assert!(
            list.contains("#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.005,\nab12-7.vtt\n#EXTINF:2.005,\nab12-8.vtt\n"),
            "{list}"
        );
        assert!(multivariant().contains("SUBTITLES=\"captions\"\nindex.m3u8"));
    }
}
