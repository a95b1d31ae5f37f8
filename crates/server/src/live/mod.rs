//! Live rooms: one task per room owning a [`stoa_room::Room`], a directory to find them, and the
//! WebSocket connections that talk to them.
//!
//! Architecture invariant: a room's live state has exactly one owner, its task. Everything else reaches it
//! through the task's channel, or reads the snapshot the task publishes after each change.

pub mod budget;
mod connection;
mod directory;
mod offers;
mod task;

pub use connection::{Departure, serve_connection};
pub use directory::{Directory, RoomHandle, Snapshot};
pub use task::{AudiencePackets, JoinOutcome, Outbound, RoomInput, RoomSettings, new_room_key, spawn_room};
pub(crate) use task::{BROADCAST_QUEUE, INBOX, PERSONAL_QUEUE};
