//! The store's part for clubs: the club, the people it knows (members in roles, pending requests and
//! invitations, bans) and its followers. What each role may do is decided in one place, [`may`]; the store
//! keeps the bounds that must hold across nodes (clubs made a day, requests and invitations pending).

use crate::StoreError;
use async_trait::async_trait;
use stoa_proto::{ClubPolicy, ClubRole, ClubStanding, UserId, UserSummary};

/// Clubs one account may make in a day, whoever owns them afterwards.
pub const CLUBS_PER_DAY: u32 = 3;
/// Clubs one account may own at once.
pub const CLUBS_OWNED: u32 = 10;
/// Requests to join that one person may have waiting, across clubs.
pub const CLUB_REQUESTS_PER_PERSON: u32 = 20;
/// Requests to join one club may have waiting.
pub const CLUB_REQUESTS_PER_CLUB: u32 = 1000;
/// Invitations one club may have waiting.
pub const CLUB_INVITATIONS_PER_CLUB: u32 = 200;
/// Invitations one person may have waiting, across clubs.
pub const CLUB_INVITATIONS_PER_PERSON: u32 = 50;

/// A new club.
#[derive(Debug, Clone)]
pub struct NewClub {
    /// The lower-case handle.
    pub handle: String,
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
    /// The rules.
    pub rules: String,
    /// How people join.
    pub policy: ClubPolicy,
    /// Who makes it: its owner.
    pub owner: UserId,
}

/// A club as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClubRow {
    /// The ID (internal: the API names clubs by handle).
    pub id: i64,
    /// The lower-case handle.
    pub handle: String,
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
    /// The rules.
    pub rules: String,
    /// How people join.
    pub policy: ClubPolicy,
    /// The owner.
    pub owner: UserSummary,
    /// The avatar's version; 0 for none.
    pub avatar_version: i64,
    /// Why it is suspended, if it is.
    pub suspended: Option<String>,
    /// When it was made, Unix seconds.
    pub created_at: i64,
    /// How many members.
    pub members: i64,
    /// How many followers.
    pub followers: i64,
}

/// One person's place in a club.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Membership {
    /// Member, requested, invited or banned, if any.
    pub standing: Option<ClubStanding>,
    /// The role, for a member.
    pub role: Option<ClubRole>,
    /// Whether they follow the club.
    pub following: bool,
}

impl Membership {
    /// Their role if they are a member.
    pub fn member_role(&self) -> Option<ClubRole> {
        (self.standing == Some(ClubStanding::Member)).then_some(self.role).flatten()
    }
}

/// What a club's people may do to it and to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClubAction {
    /// Change its name, description, rules and policy.
    Edit,
    /// Answer requests, invite, withdraw invitations.
    ManageMembership,
    /// Remove or ban someone of this role (or, for `None`, someone who is not a member).
    Remove(Option<ClubRole>),
    /// Give someone of the first role the second.
    SetRole(ClubRole, ClubRole),
    /// Hand the club over.
    Transfer,
    /// Start the club's rooms and schedule its events.
    Host,
    /// Join its members-only rooms.
    EnterMembersOnly,
}

/// Whether a member in `role` (`None`: not a member) may do `action`. The one place the roles' powers are
/// written: admins manage membership and the roles of leaders and members; only the owner makes or unmakes
/// admins, removes them, and hands the club over; no one changes the owner's role but by a transfer.
pub fn may(role: Option<ClubRole>, action: ClubAction) -> bool {
    use ClubRole::*;
    let Some(role) = role else { return false };
    match action {
        ClubAction::Edit | ClubAction::ManageMembership => role <= Admin,
        ClubAction::Remove(None) => role <= Admin,
        ClubAction::Remove(Some(target)) => match target {
            Owner => false,
            Admin => role == Owner,
            Leader | Member => role <= Admin,
        },
        ClubAction::SetRole(from, to) => match (from, to) {
            (Owner, _) | (_, Owner) => false,
            (Admin, _) | (_, Admin) => role == Owner,
            _ => role <= Admin,
        },
        ClubAction::Transfer => role == Owner,
        ClubAction::Host => role <= Leader,
        ClubAction::EnterMembersOnly => true,
    }
}

/// What asking to join did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    /// Now a member (the club is open, or they were invited).
    Joined,
    /// Already a member.
    AlreadyMember,
    /// Waiting for an admin: a request made now.
    Requested,
    /// Waiting for an admin: the request made before.
    StillWaiting,
    /// Banned: refused.
    Banned,
    /// The club takes members by invitation only.
    InvitationOnly,
    /// The person has as many requests waiting as they may.
    TooManyOfYours,
    /// The club has as many requests waiting as it takes.
    TooManyForClub,
}

/// What an invitation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteOutcome {
    /// Invited.
    Invited,
    /// They had asked to join: now a member.
    Joined,
    /// Already a member, or already invited.
    Already,
    /// They are banned: unban them first.
    Banned,
    /// A block stands between the admin and them.
    Blocked,
    /// The club has as many invitations waiting as it may.
    TooManyForClub,
    /// They have as many invitations waiting as they may hold.
    TooManyForPerson,
}

/// What leaving did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveOutcome {
    /// They were not a member, nor waiting.
    Nothing,
    /// Left (or withdrew a request, or declined an invitation).
    Left,
    /// The owner left: the club is now this person's (the longest-standing admin, else leader, else member).
    NewOwner(UserId),
    /// The owner was its last member: the club is gone.
    ClubDeleted,
}

/// A user's ties to some clubs: see [`Clubs::club_ties`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClubTiesRow {
    /// Their standing in the clubs where they have one.
    pub standing: Vec<(i64, ClubStanding)>,
    /// The clubs they follow.
    pub following: Vec<i64>,
}

/// One page of a club's people.
#[derive(Debug, Clone)]
pub struct ClubPeople {
    /// Who, their standing and role, and since when (Unix seconds).
    pub people: Vec<(UserSummary, ClubStanding, Option<ClubRole>, i64)>,
    /// The cursor of the next page.
    pub next_cursor: Option<i64>,
}

/// A club in someone's list, with their place in it.
#[derive(Debug, Clone)]
pub struct ClubOfRow {
    /// The club.
    pub club: ClubRow,
    /// Their standing.
    pub standing: ClubStanding,
    /// Their role, for a member.
    pub role: Option<ClubRole>,
}

/// Clubs.
#[async_trait]
pub trait Clubs: Send + Sync {
    /// Makes a club owned by `new.owner`. [`StoreError::HandleTaken`] if another club has the handle (in any
    /// case); [`StoreError::RateLimited`] past [`CLUBS_PER_DAY`] made by the owner in a day, or
    /// [`CLUBS_OWNED`] owned.
    async fn create_club(&self, new: &NewClub) -> Result<ClubRow, StoreError>;
    /// A club by handle, in any case (suspended ones included: the caller decides who sees them), with its
    /// counts of members and followers.
    async fn club(&self, handle: &str) -> Result<Option<ClubRow>, StoreError>;
    /// The same without the counts (both 0): what a check needs, in constant time however large the club.
    async fn club_head(&self, handle: &str) -> Result<Option<ClubRow>, StoreError>;
    /// `user`'s place in a club.
    async fn membership(&self, club: i64, user: UserId) -> Result<Membership, StoreError>;
    /// Changes what is given.
    async fn update_club(
        &self,
        club: i64,
        name: Option<&str>,
        description: Option<&str>,
        rules: Option<&str>,
        policy: Option<ClubPolicy>,
    ) -> Result<(), StoreError>;
    /// `user` joins a club, or asks to, by its policy now.
    async fn join_club(&self, club: i64, user: UserId) -> Result<JoinOutcome, StoreError>;
    /// `user` leaves, withdraws a request or declines an invitation. An owner who leaves is succeeded.
    async fn leave_club(&self, club: i64, user: UserId) -> Result<LeaveOutcome, StoreError>;
    /// An admin's answer to `user`'s request: true if there was one.
    async fn answer_club_request(&self, club: i64, user: UserId, approve: bool) -> Result<bool, StoreError>;
    /// `by` invites `user`.
    async fn invite_to_club(&self, club: i64, by: UserId, user: UserId) -> Result<InviteOutcome, StoreError>;
    /// Withdraws `user`'s invitation: true if there was one.
    async fn withdraw_club_invitation(&self, club: i64, user: UserId) -> Result<bool, StoreError>;
    /// Gives a member (not the owner) a role other than owner: true if they are such a member.
    async fn set_club_role(&self, club: i64, user: UserId, role: ClubRole) -> Result<bool, StoreError>;
    /// Removes `user` (a member, or anyone waiting); with `ban`, bans them as well, members or not. True if
    /// anything changed.
    async fn remove_from_club(&self, club: i64, user: UserId, ban: bool) -> Result<bool, StoreError>;
    /// Lifts a ban: true if there was one.
    async fn unban_from_club(&self, club: i64, user: UserId) -> Result<bool, StoreError>;
    /// Hands the club to `to`, a member; the owner becomes an admin. False if `to` is not a member.
    async fn transfer_club(&self, club: i64, to: UserId) -> Result<bool, StoreError>;
    /// `user` follows the club (true if new), or stops.
    async fn follow_club(&self, club: i64, user: UserId, follow: bool) -> Result<bool, StoreError>;
    /// A page of the club's people of one standing, in order of arrival, leaving out anyone who blocks
    /// `viewer`.
    async fn club_people(
        &self,
        club: i64,
        standing: ClubStanding,
        viewer: UserId,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<ClubPeople, StoreError>;
    /// `user`'s standing in each of `clubs` where they have one, and which of them they follow: what the
    /// rooms those clubs host need to decide whether `user` may see them.
    async fn club_ties(&self, user: UserId, clubs: &[i64]) -> Result<ClubTiesRow, StoreError>;
    /// Clubs whose handle, name or description match `fts` (the route's full-text query, as for people),
    /// best first, suspended ones left out.
    async fn search_clubs(&self, fts: &str, limit: u32) -> Result<Vec<ClubRow>, StoreError>;
    /// Clubs that people `viewer` follows are members of and `viewer` is not in (nor banned from, nor
    /// following), with how many such people each: the most first. Suspended clubs left out.
    async fn suggested_clubs(&self, viewer: UserId, limit: u32) -> Result<Vec<(ClubRow, u32)>, StoreError>;
    /// Suspends a club (`Some(reason)`) or lifts its suspension (`None`), and writes the admins' log, in one
    /// transaction. False if it already was (or was not) suspended.
    async fn suspend_club(&self, club: i64, admin: Option<UserId>, reason: Option<&str>) -> Result<bool, StoreError>;
    /// Every club, suspended ones included, newest first: the admins' list.
    async fn all_clubs(&self, cursor: Option<i64>, limit: u32) -> Result<Vec<ClubRow>, StoreError>;
    /// Sets a club's avatar (a JPEG per size); returns its new version.
    async fn set_club_avatar(&self, club: i64, images: &[(u32, Vec<u8>)]) -> Result<i64, StoreError>;
    /// Removes a club's avatar.
    async fn clear_club_avatar(&self, club: i64) -> Result<(), StoreError>;
    /// A club's avatar at one size.
    async fn club_avatar_image(&self, club: i64, size: u32) -> Result<Option<Vec<u8>>, StoreError>;
    /// For benchmarks and tests: each of `users` follows the club, in one transaction.
    #[doc(hidden)]
    async fn seed_club_follows(&self, club: i64, users: &[UserId]) -> Result<(), StoreError>;
    /// The club's owner and admins.
    async fn club_admins(&self, club: i64) -> Result<Vec<UserId>, StoreError>;
    /// The clubs `user` is a member of, and with `own` also those they are invited to or asked to join,
    /// oldest first; suspended clubs left out.
    async fn clubs_of(&self, user: UserId, own: bool) -> Result<Vec<ClubOfRow>, StoreError>;
}
