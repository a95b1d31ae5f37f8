//! What `stoa_room::may_see` needs about one viewer, gathered in one place: their relations to the people
//! who matter (a room's moderators, its stage) and their ties to the clubs that host the rooms in question.
//! Every surface that shows or admits to a room (the hallway, a room, its socket, search, pings, WHEP)
//! asks here, so that a club's members-only room is hidden alike everywhere.

use crate::AppState;
use stoa_proto::{ClubStanding, UserId};
use stoa_room::{ClubTies, Relations};
use stoa_store::StoreError;

/// `viewer`'s relations to `people`, and their ties to `clubs`; with whom among `people` they follow.
pub async fn relations(
    state: &AppState,
    viewer: UserId,
    people: &[UserId],
    clubs: impl IntoIterator<Item = i64>,
) -> Result<(Relations, std::collections::HashSet<UserId>), StoreError> {
    let among = state.store.relations_among(viewer, people).await?;
    let mut clubs: Vec<i64> = clubs.into_iter().collect();
    clubs.sort_unstable();
    clubs.dedup();
    let mut ties = ClubTies::default();
    if !clubs.is_empty() {
        let row = state.store.club_ties(viewer, &clubs).await?;
        for (club, standing) in row.standing {
            match standing {
                ClubStanding::Member => ties.member.insert(club),
                ClubStanding::Banned => ties.banned.insert(club),
                ClubStanding::Requested | ClubStanding::Invited => false,
            };
        }
        ties.following.extend(row.following);
    }
    Ok((
        Relations { followed_by: among.followed_by, blocked_by: among.blocked_by, clubs: Box::new(ties) },
        among.following,
    ))
}
