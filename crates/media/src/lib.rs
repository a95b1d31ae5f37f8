//! Media helpers Stoa's SFU and its clients share, so that a client needs nothing of the SFU's internals:
//!
//! - [`red`]: Opus and RFC 2198 redundancy, set up on a str0m codec config, and RED payloads written and read;
//! - [`framing`]: RFC 4571, how ICE-TCP carries datagrams over a stream;
//! - [`ogg`]: Ogg Opus out, for recordings and what a bot heard;
//! - [`dtls`]: a DTLS provider on one shared configuration (with a hook for the SFU's SRTP keys);
//! - [`offerer_config`]: the configuration of a peer that offers to an SFU;
//! - [`set_socket_buffers`]: socket buffers large enough for bursts; [`set_dont_fragment`]: DF on, no IP ID.

pub mod dtls;
pub mod framing;
mod offer;
pub mod ogg;
pub mod red;
mod socket;

pub use offer::offerer_config;
pub use socket::{set_dont_fragment, set_socket_buffers};
