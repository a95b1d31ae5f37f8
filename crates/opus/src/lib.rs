//! libopus, vendored (see `build.rs`), behind the few calls Stoa's bots make: an encoder for WAV files and
//! recordings, and a decoder for what listeners hear. The API follows the `opus` crate's names, so that
//! the code reads the same.

#![deny(missing_docs)]

use std::ffi::{c_char, c_int};
use std::fmt;

#[repr(C)]
struct OpusEncoder {
    _private: [u8; 0],
}

#[repr(C)]
struct OpusDecoder {
    _private: [u8; 0],
}

unsafe extern "C" {
    fn opus_encoder_create(fs: i32, channels: c_int, application: c_int, error: *mut c_int) -> *mut OpusEncoder;
    fn opus_encode(st: *mut OpusEncoder, pcm: *const i16, frame_size: c_int, data: *mut u8, max: i32) -> i32;
    fn opus_encoder_ctl(st: *mut OpusEncoder, request: c_int, ...) -> c_int;
    fn opus_encoder_destroy(st: *mut OpusEncoder);
    fn opus_decoder_create(fs: i32, channels: c_int, error: *mut c_int) -> *mut OpusDecoder;
    fn opus_decode(
        st: *mut OpusDecoder,
        data: *const u8,
        len: i32,
        pcm: *mut i16,
        frame_size: c_int,
        fec: c_int,
    ) -> c_int;
    fn opus_decoder_destroy(st: *mut OpusDecoder);
    fn opus_strerror(error: c_int) -> *const c_char;
    fn opus_get_version_string() -> *const c_char;
}

const OPUS_SET_INBAND_FEC_REQUEST: c_int = 4012;
const OPUS_SET_PACKET_LOSS_PERC_REQUEST: c_int = 4014;
const OPUS_GET_LOOKAHEAD_REQUEST: c_int = 4027;

/// A libopus error code, with its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error(c_int);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: opus_strerror returns a static NUL-terminated string for any code.
        let text = unsafe { std::ffi::CStr::from_ptr(opus_strerror(self.0)) };
        write!(f, "libopus: {}", text.to_string_lossy())
    }
}

impl std::error::Error for Error {}

fn check(code: c_int) -> Result<c_int, Error> {
    if code < 0 { Err(Error(code)) } else { Ok(code) }
}

/// Mono or stereo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    /// One channel.
    Mono = 1,
    /// Two channels, interleaved.
    Stereo = 2,
}

/// What the encoder is tuned for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Application {
    /// Speech.
    Voip = 2048,
    /// Music and general audio.
    Audio = 2049,
}

/// The version of the libopus compiled in.
pub fn version() -> String {
    // SAFETY: a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(opus_get_version_string()) }.to_string_lossy().into_owned()
}

/// An Opus encoder.
pub struct Encoder {
    st: *mut OpusEncoder,
    channels: usize,
}

// SAFETY: the encoder state is owned by this value alone and libopus keeps no thread-local state.
unsafe impl Send for Encoder {}

impl Encoder {
    /// An encoder at `rate` Hz (8,000 to 48,000).
    pub fn new(rate: u32, channels: Channels, application: Application) -> Result<Encoder, Error> {
        let mut error = 0;
        // SAFETY: plain values in, a pointer out; `error` outlives the call.
        let st = unsafe { opus_encoder_create(rate as i32, channels as c_int, application as c_int, &mut error) };
        check(error)?;
        if st.is_null() {
            return Err(Error(-7));
        }
        Ok(Encoder { st, channels: channels as usize })
    }

    /// Turns in-band forward error correction on or off.
    pub fn set_inband_fec(&mut self, on: bool) -> Result<(), Error> {
        // SAFETY: a live encoder and the request's documented argument type (opus_int32).
        check(unsafe { opus_encoder_ctl(self.st, OPUS_SET_INBAND_FEC_REQUEST, c_int::from(on)) }).map(|_| ())
    }

    /// The packet loss the encoder expects, in percent (it sizes its FEC to it).
    pub fn set_packet_loss_perc(&mut self, percent: i32) -> Result<(), Error> {
        // SAFETY: as above.
        check(unsafe { opus_encoder_ctl(self.st, OPUS_SET_PACKET_LOSS_PERC_REQUEST, percent as c_int) }).map(|_| ())
    }

    /// The encoder's lookahead, in samples (the pre-skip of an Ogg Opus file).
    pub fn get_lookahead(&mut self) -> Result<i32, Error> {
        let mut value: i32 = 0;
        // SAFETY: a live encoder; the request writes one opus_int32 through the pointer, which outlives it.
        check(unsafe { opus_encoder_ctl(self.st, OPUS_GET_LOOKAHEAD_REQUEST, &mut value as *mut i32) })?;
        Ok(value)
    }

    /// Encodes one frame of interleaved samples (2.5 to 60 ms) into `out`; returns the packet's length.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, Error> {
        let frame = (pcm.len() / self.channels) as c_int;
        let max = out.len().min(i32::MAX as usize) as i32;
        // SAFETY: `pcm` holds `frame` samples per channel and `out` `max` bytes; both outlive the call.
        let n = unsafe { opus_encode(self.st, pcm.as_ptr(), frame, out.as_mut_ptr(), max) };
        check(n).map(|n| n as usize)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_encoder_create, destroyed once.
        unsafe { opus_encoder_destroy(self.st) }
    }
}

/// An Opus decoder.
pub struct Decoder {
    st: *mut OpusDecoder,
    channels: usize,
}

// SAFETY: as for the encoder.
unsafe impl Send for Decoder {}

impl Decoder {
    /// A decoder at `rate` Hz.
    pub fn new(rate: u32, channels: Channels) -> Result<Decoder, Error> {
        let mut error = 0;
        // SAFETY: plain values in, a pointer out.
        let st = unsafe { opus_decoder_create(rate as i32, channels as c_int, &mut error) };
        check(error)?;
        if st.is_null() {
            return Err(Error(-7));
        }
        Ok(Decoder { st, channels: channels as usize })
    }

    /// Decodes a packet into `pcm` (room for its frames: up to 120 ms); returns the samples per channel.
    /// An empty packet (or `fec`) asks for concealment or the FEC copy of a lost one.
    pub fn decode(&mut self, packet: &[u8], pcm: &mut [i16], fec: bool) -> Result<usize, Error> {
        let frame = (pcm.len() / self.channels) as c_int;
        let (data, len) =
            if packet.is_empty() { (std::ptr::null(), 0) } else { (packet.as_ptr(), packet.len() as i32) };
        // SAFETY: `packet` and `pcm` outlive the call; libopus reads `len` bytes and writes at most
        // `frame` samples per channel.
        let n = unsafe { opus_decode(self.st, data, len, pcm.as_mut_ptr(), frame, c_int::from(fec)) };
        check(n).map(|n| n as usize)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_decoder_create, destroyed once.
        unsafe { opus_decoder_destroy(self.st) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_440_hz_tone_encodes_and_decodes_back_to_440_hz() {
        assert!(version().contains("1.3.1"), "{}", version());
        let mut encoder = Encoder::new(48_000, Channels::Mono, Application::Voip).unwrap();
        encoder.set_inband_fec(true).unwrap();
        encoder.set_packet_loss_perc(5).unwrap();
        assert!(encoder.get_lookahead().unwrap() > 0);
        let mut decoder = Decoder::new(48_000, Channels::Mono).unwrap();
        let mut heard = Vec::new();
        for f in 0..100 {
            let frame: Vec<i16> = (0..960)
                .map(|i| (((f * 960 + i) as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin() * 12_000.0) as i16)
                .collect();
            let mut packet = [0u8; 1500];
            let n = encoder.encode(&frame, &mut packet).unwrap();
            let mut pcm = [0i16; 5760];
            let got = decoder.decode(&packet[..n], &mut pcm, false).unwrap();
            assert_eq!(got, 960);
            heard.extend_from_slice(&pcm[..got]);
        }
        let middle = &heard[48_000 / 2..];
        let crossings = middle.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        let hz = crossings as f64 / 2.0 / (middle.len() as f64 / 48_000.0);
        assert!((hz - 440.0).abs() < 5.0, "{hz}");
        assert!(decoder.decode(&[0xff, 0xff, 0xff], &mut [0i16; 5760], false).is_err(), "garbage is an error");
        assert!(Encoder::new(12_345, Channels::Mono, Application::Voip).is_err(), "a bad rate is an error");
    }
}
