//! Ogg Opus out (RFC 7845), 20 ms mono frames at a time: the server's replays, clips and report windows,
//! and what a bot heard. Pages end about every second, so a player can seek by bisection with range
//! requests.

use std::io::Write;

/// The stream's serial number: one logical stream per file, so any value does.
const SERIAL: u32 = 0x5704_0001;
/// Frames per page: 50 frames of 20 ms, one second.
const PAGE_FRAMES: u64 = 50;
/// Samples per second: Opus in Ogg is always timed at 48 kHz.
const RATE: u32 = 48_000;
/// Samples in a 20 ms frame.
const FRAME: u64 = 960;

/// An Ogg Opus stream being written, one 20 ms Opus frame at a time.
pub struct OggOpusWriter<W: Write> {
    writer: ogg::PacketWriter<'static, W>,
    frames: u64,
    pre_skip: u16,
    /// A frame held back so that the last one can close the stream.
    held: Option<Vec<u8>>,
}

impl<W: Write> OggOpusWriter<W> {
    /// Starts a stream: the identification and comment headers, each on its own page. `pre_skip` is what
    /// the encoder's look-ahead costs at the start, in samples (a decoder drops these from the front); a
    /// title, if any, becomes the `TITLE` comment.
    pub fn new(out: W, title: Option<&str>, pre_skip: u16) -> std::io::Result<OggOpusWriter<W>> {
        let mut writer = ogg::PacketWriter::new(out);
        let mut head = b"OpusHead".to_vec();
        head.push(1); // version
        head.push(1); // channels
        head.extend_from_slice(&pre_skip.to_le_bytes());
        head.extend_from_slice(&RATE.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // mapping family
        writer.write_packet(head, SERIAL, ogg::PacketWriteEndInfo::EndPage, 0)?;
        let vendor = b"stoa";
        let mut tags = b"OpusTags".to_vec();
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor);
        let comments: Vec<String> =
            title.map(|t| format!("TITLE={}", t.chars().take(200).collect::<String>())).into_iter().collect();
        tags.extend_from_slice(&(comments.len() as u32).to_le_bytes());
        for comment in &comments {
            tags.extend_from_slice(&(comment.len() as u32).to_le_bytes());
            tags.extend_from_slice(comment.as_bytes());
        }
        writer.write_packet(tags, SERIAL, ogg::PacketWriteEndInfo::EndPage, 0)?;
        Ok(OggOpusWriter { writer, frames: 0, pre_skip, held: None })
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
        (self.frames + u64::from(self.held.is_some())) * FRAME * 1000 / u64::from(RATE)
    }

    fn write(&mut self, frame: Vec<u8>, last: bool) -> std::io::Result<()> {
        self.frames += 1;
        let granule = self.frames * FRAME + u64::from(self.pre_skip);
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
