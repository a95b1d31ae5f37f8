//! Ogg Opus out (RFC 7845): the replay's file, written as the room goes, and the clips and report windows,
//! written at once. Pages end about every second, so a player can seek by bisection with range requests.

use crate::mix::{FRAME, RATE};
use std::io::Write;

/// The stream's serial number: one logical stream per file, so any value does.
const SERIAL: u32 = 0x5704_0001;
/// Frames per page: 50 frames of 20 ms, one second.
const PAGE_FRAMES: u64 = 50;
/// What the encoder's look-ahead costs at the start, in samples (libopus at 48 kHz: 312; a decoder drops
/// these from the front).
const PRE_SKIP: u16 = 312;

/// An Ogg Opus stream being written, one 20 ms Opus frame at a time.
pub struct OggOpusWriter<W: Write> {
    writer: ogg::PacketWriter<'static, W>,
    frames: u64,
    /// A frame held back so that the last one can close the stream.
    held: Option<Vec<u8>>,
}

impl<W: Write> OggOpusWriter<W> {
    /// Starts a stream: the identification and comment headers, each on its own page.
    pub fn new(out: W, title: &str) -> std::io::Result<OggOpusWriter<W>> {
        let mut writer = ogg::PacketWriter::new(out);
        let mut head = b"OpusHead".to_vec();
        head.push(1); // version
        head.push(1); // channels
        head.extend_from_slice(&PRE_SKIP.to_le_bytes());
        head.extend_from_slice(&RATE.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // mapping family
        writer.write_packet(head, SERIAL, ogg::PacketWriteEndInfo::EndPage, 0)?;
        let vendor = b"stoa";
        let mut tags = b"OpusTags".to_vec();
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor);
        let comment = format!("TITLE={}", title.chars().take(200).collect::<String>());
        tags.extend_from_slice(&1u32.to_le_bytes());
        tags.extend_from_slice(&(comment.len() as u32).to_le_bytes());
        tags.extend_from_slice(comment.as_bytes());
        writer.write_packet(tags, SERIAL, ogg::PacketWriteEndInfo::EndPage, 0)?;
        Ok(OggOpusWriter { writer, frames: 0, held: None })
    }

    /// Adds one 20 ms Opus frame.
    pub fn push(&mut self, frame: &[u8]) -> std::io::Result<()> {
        if let Some(previous) = self.held.replace(frame.to_vec()) {
            self.write(previous, false)?;
        }
        Ok(())
    }

    /// Milliseconds written so far.
    pub fn millis(&self) -> u64 {
        (self.frames + u64::from(self.held.is_some())) * FRAME as u64 * 1000 / u64::from(RATE)
    }

    fn write(&mut self, frame: Vec<u8>, last: bool) -> std::io::Result<()> {
        self.frames += 1;
        let granule = self.frames * FRAME as u64 + u64::from(PRE_SKIP);
        let end = if last {
            ogg::PacketWriteEndInfo::EndStream
        } else if self.frames.is_multiple_of(PAGE_FRAMES) {
            ogg::PacketWriteEndInfo::EndPage
        } else {
            ogg::PacketWriteEndInfo::NormalPacket
        };
        self.writer.write_packet(frame, SERIAL, end, granule)
    }

    /// Closes the stream (a stream with no frames gets one of silence, so it is still valid) and returns
    /// the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        // An Opus frame of 20 ms of silence (TOC 0xF8: CELT fullband 20 ms, mono, one frame; no payload).
        let last = self.held.take().unwrap_or_else(|| vec![0xF8]);
        self.write(last, true)?;
        let mut out = self.writer.into_inner();
        out.flush()?;
        Ok(out)
    }
}

/// A whole stream in memory, from a run of 20 ms Opus frames.
pub fn ogg_opus_bytes(frames: &[Vec<u8>], title: &str) -> Vec<u8> {
    let run = || -> std::io::Result<Vec<u8>> {
        let mut w = OggOpusWriter::new(Vec::new(), title)?;
        for f in frames {
            w.push(f)?;
        }
        w.finish()
    };
    // Writing to a Vec cannot fail.
    run().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_reads_back_frame_for_frame_with_its_granules() {
        let frames: Vec<Vec<u8>> = (0..120u8).map(|i| vec![0xF8, i]).collect();
        let bytes = ogg_opus_bytes(&frames, "A room");
        let mut reader = ogg::PacketReader::new(std::io::Cursor::new(bytes));
        let head = reader.read_packet().unwrap().unwrap();
        assert!(head.data.starts_with(b"OpusHead"));
        let tags = reader.read_packet().unwrap().unwrap();
        assert!(tags.data.windows(12).any(|w| w == b"TITLE=A room"));
        let mut n = 0;
        let mut last = None;
        while let Some(p) = reader.read_packet().unwrap() {
            assert_eq!(p.data, frames[n]);
            n += 1;
            last = Some(p);
        }
        assert_eq!(n, 120);
        let last = last.unwrap();
        assert!(last.last_in_stream());
        assert_eq!(last.absgp_page(), 120 * 960 + 312);
        // An empty stream is still a stream.
        assert!(!ogg_opus_bytes(&[], "").is_empty());
    }
}
