//! A Rust client for Stoa: the HTTP API ([`Api`]), a room's WebSocket and a str0m WebRTC peer in one
//! [`Session`], and the audio plumbing a bot needs ([`audio`]: WAV and Ogg Opus in, Ogg Opus out).
//!
//! `stoa bot` is a command line over this crate.

pub mod api;
pub mod audio;
pub mod e2ee;
pub mod session;
pub mod turn;

pub mod tls;

/// RED (RFC 2198) payloads, as the SFU writes them.
pub use stoa_media::red;

pub use api::Api;
pub use session::{Incoming, JoinPhases, MediaPeer, RtpCount, Session, Signaling, Transports, is_rtp};
