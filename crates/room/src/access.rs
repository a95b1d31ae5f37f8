//! Who may see and join a room: Clubhouse's rules for open, social and closed rooms, for rooms a club hosts,
//! and blocks.
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
    /// This user's ties to the clubs that host the rooms in question (boxed: relations travel in the room's
    /// inputs, and are mostly empty of clubs).
    #[serde(default)]
    pub clubs: Box<ClubTies>,
}

/// One user's ties to some clubs (by the store's club ID): loaded for the clubs of the rooms in question.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClubTies {
    /// Clubs the user is a member of.
    pub member: HashSet<i64>,
    /// Clubs the user follows.
    pub following: HashSet<i64>,
    /// Clubs that banned the user.
    pub banned: HashSet<i64>,
}

/// The club that hosts a room.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClubTag {
    /// The store's ID of the club.
    pub id: i64,
    /// Its handle.
    pub handle: String,
    /// Its name.
    pub name: String,
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
    /// The club that hosts the room, if one does.
    pub club: Option<i64>,
}

/// Whether `viewer`, with `relations`, may see (and so join) a room with `access`.
///
/// - A user blocked by any moderator may not, whatever the visibility.
/// - A user a moderator removed, or the hosting club banned, may not.
/// - A moderator always may.
/// - Open rooms: anyone. Social rooms: users followed by at least one moderator. Closed rooms: invited users.
/// - A club's rooms: open, anyone; social, the club's followers and members; closed, its members and
///   whoever the room invited.
pub fn may_see(access: &Access, viewer: UserId, relations: &Relations) -> bool {
    if access.moderators.iter().any(|m| relations.blocked_by.contains(m)) || access.removed.contains(&viewer) {
        return false;
    }
    if access.club.is_some_and(|c| relations.clubs.banned.contains(&c)) {
        return false;
    }
    if access.moderators.contains(&viewer) {
        return true;
    }
    let ties = &relations.clubs;
    match (access.visibility, access.club) {
        (Visibility::Open, _) => true,
        (Visibility::Social, None) => access.moderators.iter().any(|m| relations.followed_by.contains(m)),
        (Visibility::Social, Some(c)) => ties.member.contains(&c) || ties.following.contains(&c),
        (Visibility::Closed, None) => access.invited.contains(&viewer),
        (Visibility::Closed, Some(c)) => ties.member.contains(&c) || access.invited.contains(&viewer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clubs_rooms_follow_the_clubs_ties_and_its_ban() {
        let (host, member, follower, stranger, banned, guest) =
            (UserId(1), UserId(2), UserId(3), UserId(4), UserId(5), UserId(6));
        let access = |visibility| Access {
            visibility,
            moderators: vec![host],
            invited: [guest].into(),
            removed: HashSet::new(),
            club: Some(7),
        };
        let ties = |who: UserId| {
            let mut relations = Relations::default();
            // Everyone is followed by the host: the rules of rooms no club hosts would let all into a social room.
            relations.followed_by.insert(host);
            match who {
                UserId(2) => relations.clubs.member.insert(7),
                UserId(3) => relations.clubs.following.insert(7),
                UserId(5) => relations.clubs.banned.insert(7) && relations.clubs.following.insert(7),
                _ => false,
            };
            relations
        };
        let seen =
            |visibility| [member, follower, stranger, banned, guest].map(|u| may_see(&access(visibility), u, &ties(u)));
        assert_eq!(seen(Visibility::Open), [true, true, true, false, true]);
        assert_eq!(seen(Visibility::Social), [true, true, false, false, false]);
        assert_eq!(seen(Visibility::Closed), [true, false, false, false, true]);
        assert!(may_see(&access(Visibility::Closed), host, &ties(host)), "a moderator always may");
    }
}
