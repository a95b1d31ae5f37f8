//! Ogg Opus out (RFC 7845, the writer is `stoa_media::ogg`'s): the replay's file, written as the room goes,
//! and the clips and report windows, written at once.

pub use stoa_media::ogg::OggOpusWriter;

/// What libopus's look-ahead costs at the start at 48 kHz, in samples: 312.
pub const PRE_SKIP: u16 = 312;

/// A whole stream in memory, from a run of 20 ms Opus frames.
pub fn ogg_opus_bytes(frames: &[Vec<u8>], title: &str) -> Vec<u8> {
    let run = || -> std::io::Result<Vec<u8>> {
        let mut w = OggOpusWriter::new(Vec::new(), Some(title), PRE_SKIP)?;
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
