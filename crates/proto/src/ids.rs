//! Typed IDs, so that a user's ID can never be passed where a room's is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use ts_rs::TS;
use utoipa::ToSchema;

/// A user's numeric ID. Stable for the life of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema, TS)]
#[schema(value_type = i64)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A room's ID: random and unguessable, so that the ID of a hidden room cannot be found by counting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema, TS)]
#[schema(value_type = String, example = "r7k2m9q4x8c1")]
pub struct RoomId(pub String);

impl RoomId {
    /// Whether `s` has the shape of a room ID (12 characters of `[a-z0-9]`). Anything else cannot name a
    /// room, and is answered like an unknown room.
    pub fn is_well_formed(s: &str) -> bool {
        s.len() == 12 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A scheduled event's ID: random and unguessable like a room's, so that a hidden event cannot be found by
/// counting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema, TS)]
#[schema(value_type = String, example = "e4n8w2k7p1z3")]
pub struct EventId(pub String);

impl EventId {
    /// Whether `s` has the shape of an event ID (12 characters of `[a-z0-9]`); anything else is answered like
    /// an unknown event.
    pub fn is_well_formed(s: &str) -> bool {
        RoomId::is_well_formed(s)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
