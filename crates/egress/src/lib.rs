//! Stoa's egress: the audience beyond the room.
//!
//! Every live room has an egress thread ([`RoomEgress`]). The room's home SFU shard copies each packet the
//! room hears into it (a reference count and a `try_send`); the thread places the packets on the room's
//! timeline ([`timeline`]) and keeps the last ten minutes of them, unmixed, for clips and for the window
//! attached to a report.
//!
//! While an output needs it, the thread also runs the room's mix ([`mix`]): every speaker's Opus decoded,
//! summed, limited, and encoded once, every 20 ms, for:
//!
//! - the replay, an Ogg Opus file in the data folder ([`ogg`]);
//! - the public listen link, HLS of 2 s AAC-LC segments made by an `ffmpeg` child ([`hls`], [`ffmpeg`]);
//! - an RTMP restream, also through `ffmpeg`;
//! - WHEP players: the mix's Opus is published into an SFU room of its own, where they listen.
//!
//! The mix starts with the first output and stops with the last. While someone in the room has captions on,
//! the thread also cuts each speaker's speech into utterances ([`captions`]) for the room's caption
//! engine. Nothing here runs on an SFU shard.

#![deny(missing_docs)]

pub mod captions;
pub mod ffmpeg;
pub mod hls;
pub mod mix;
pub mod ogg;
pub mod pool;
mod room;
pub mod timeline;
pub mod vtt;

pub use room::{EgressConfig, EgressError, EgressStatus, MIX_SOURCE, Recorded, RoomEgress, RtmpState, RtmpTarget};
