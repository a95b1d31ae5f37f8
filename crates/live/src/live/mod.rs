//! Live rooms: one task per room owning a [`stoa_room::Room`], a directory to find them, and the
//! WebSocket connections that talk to them.
//!
//! Architecture invariant: a room's live state has exactly one owner, its task. Everything else reaches it
//! through the task's channel, or reads the snapshot the task publishes after each change.

pub mod budget;
mod connection;
mod directory;
mod input;
mod node_name;
mod nodes;
mod offers;
mod task;

pub use connection::{Departure, serve_connection};
pub use directory::{Directory, RoomHandle, Snapshot};
pub use input::{BROADCAST_QUEUE, INBOX, PERSONAL_QUEUE};
pub use input::{Caller, JoinOutcome, Outbound, RestreamRefused, RoomInput, RoomReply, RoomRequest, ask, tell};
pub use nodes::{EdgeOffer, Edges, NodeName, Nodes, RoomRoute, RoomStart, Routing};
pub use task::{AudiencePackets, RoomSettings, new_room_key, spawn_room};
