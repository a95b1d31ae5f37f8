//! The rules of a live Stoa room, as a sans-IO state machine.
//!
//! A [`Room`] never touches a socket, a task or the clock. The glue (the room task in `stoa-server`) feeds
//! it inputs — a join, a command from a connection, a dropped connection, a timeout — each with the current
//! time, and then drains [`Output`]s: events for one connection or for everyone, connections to close, and
//! the room's end. The glue asks [`Room::poll_timeout`] when to call [`Room::handle_timeout`] next.
//!
//! Because time is a parameter, the tests below drive rooms through whole lives without a sleep.
//!
//! What a room knows of the social graph is what the glue hands it at join time ([`Relations`]): who
//! follows the joiner and who blocks them. With that, every rule (social rooms, blocks, the hand mode that
//! admits only listeners followed by the speakers, the audience order) is decided here, synchronously.
//!
//! # Built for large audiences
//! A listener joining or leaving produces no event for anybody: the audience size goes out as a
//! [`ServerEvent::ListenerCount`] at most once a second, and less often in a room of over 1,000 listeners
//! (a millisecond per listener, at most 10 s), so that the count's frames stay about a thousand a second
//! whatever the audience. Events about hands go to the moderators and the
//! hand's owner only. Only stage changes are broadcast.

#![deny(missing_docs)]

mod access;
mod error;
mod room;

pub use access::{Access, ClubTag, ClubTies, Relations, may_see};
pub use error::{CommandError, JoinError};
pub use room::{ConnId, E2EE_CAPACITY, KEYHOLDER_TIMEOUT, Lasting, Output, Room, RoomConfig};
