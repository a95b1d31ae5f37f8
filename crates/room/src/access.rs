//! Who may see and join a room: Clubhouse's rules for open, social and closed rooms, and blocks.
//!
//! This is a pure function of the room's [`Access`] facts and the viewer's [`Relations`], used both by the
//! room itself at join time and by the hallway, which filters many rooms for one viewer.

use std::collections::HashSet;
use stoa_proto::{UserId, Visibility};

/// What the social graph says about one user, as far as some others are concerned: loaded by the glue for
/// the people whose relations matter (a room's moderators for the hallway, its stage for a join), never the
/// user's whole graph.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Relations {
    /// Those of the others who follow this user.
    pub followed_by: HashSet<UserId>,
    /// Those of the others who block this user.
    pub blocked_by: HashSet<UserId>,
}

/// The facts about a room that decide who may see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Access {
    /// Open, social or closed.
    pub visibility: Visibility,
    /// The current moderators.
    pub moderators: Vec<UserId>,
    /// Users invited to a closed room.
    pub invited: HashSet<UserId>,
    /// Users a moderator removed; they no longer see the room.
    pub removed: HashSet<UserId>,
}

/// Whether `viewer`, with `relations`, may see (and so join) a room with `access`.
///
/// - A user blocked by any moderator may not, whatever the visibility.
/// - A user a moderator removed may not.
/// - A moderator always may.
/// - Open rooms: anyone. Social rooms: users followed by at least one moderator. Closed rooms: invited users.
pub fn may_see(access: &Access, viewer: UserId, relations: &Relations) -> bool {
    if access.moderators.iter().any(|m| relations.blocked_by.contains(m)) || access.removed.contains(&viewer) {
        return false;
    }
    if access.moderators.contains(&viewer) {
        return true;
    }
    match access.visibility {
        Visibility::Open => true,
        Visibility::Social => access.moderators.iter().any(|m| relations.followed_by.contains(m)),
        Visibility::Closed => access.invited.contains(&viewer),
    }
}
