//! Bodies of the clubs' API: a club, its members and their roles, joining, requests, invitations and
//! following.

use crate::UserSummary;
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// How people become members of a club.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum ClubPolicy {
    /// Anyone may join.
    Open,
    /// Anyone may ask; an admin approves.
    Approval,
    /// Only those an admin invites.
    Invitation,
}

/// A member's role, from the most powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum ClubRole {
    /// Made the club or was handed it: one per club. Everything an admin may, and makes or unmakes admins.
    Owner,
    /// Manages membership (requests, invitations, removals, bans) and the roles of leaders and members.
    Admin,
    /// May start the club's rooms and schedule its events.
    Leader,
    /// May join the club's members-only rooms.
    Member,
}

/// Where a person stands with a club.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum ClubStanding {
    /// A member, in the role given beside it.
    Member,
    /// Asked to join; an admin has not answered.
    Requested,
    /// Invited; has not answered.
    Invited,
    /// Banned by the club's admins.
    Banned,
}

/// `POST /api/v1/clubs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct CreateClubRequest {
    /// The handle: 3 to 20 of `[a-z0-9_]`, unique in any case (folded to lower case).
    pub handle: String,
    /// The name shown.
    pub name: String,
    /// What the club is about.
    #[serde(default)]
    pub description: String,
    /// The club's rules.
    #[serde(default)]
    pub rules: String,
    /// How people become members.
    pub policy: ClubPolicy,
}

/// `PATCH /api/v1/clubs/{handle}`: what is given changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct UpdateClubRequest {
    /// The name shown.
    pub name: Option<String>,
    /// What the club is about.
    pub description: Option<String>,
    /// The club's rules.
    pub rules: Option<String>,
    /// How people become members.
    pub policy: Option<ClubPolicy>,
}

/// The caller's place in a club.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ClubViewer {
    /// Member, requested, invited or banned; absent if none.
    pub standing: Option<ClubStanding>,
    /// The caller's role, if a member.
    pub role: Option<ClubRole>,
    /// Whether the caller follows the club.
    pub following: bool,
}

/// A club as the caller sees it: `GET /api/v1/clubs/{handle}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Club {
    /// The unique, lower-case handle.
    pub handle: String,
    /// The name shown.
    pub name: String,
    /// What the club is about.
    pub description: String,
    /// The club's rules.
    pub rules: String,
    /// How people become members.
    pub policy: ClubPolicy,
    /// Its owner.
    pub owner: UserSummary,
    /// How many members it has.
    pub members: i64,
    /// How many people follow it.
    pub followers: i64,
    /// Its avatar (256 px JPEG; add `?size=64` for 64 px), absent if it has none.
    pub avatar: Option<String>,
    /// When it was made, Unix seconds.
    pub created_at: i64,
    /// The caller's place in it.
    pub you: ClubViewer,
}

/// A club in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ClubSummary {
    /// The handle.
    pub handle: String,
    /// The name shown.
    pub name: String,
    /// Its avatar, if any.
    pub avatar: Option<String>,
    /// How people become members.
    pub policy: ClubPolicy,
    /// How many members it has.
    pub members: i64,
}

/// A club and the listed person's place in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ClubOf {
    /// The club.
    pub club: ClubSummary,
    /// Member or invited (a person sees their own invitations and requests; others see memberships only).
    pub standing: ClubStanding,
    /// The role, for a member.
    pub role: Option<ClubRole>,
}

/// `GET /api/v1/users/{username}/clubs` and `GET /api/v1/me/clubs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ClubList {
    /// The clubs, the oldest membership first.
    pub clubs: Vec<ClubOf>,
}

/// One person in a club's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ClubMember {
    /// Who.
    pub user: UserSummary,
    /// Member, requested, invited or banned (the list asked for).
    pub standing: ClubStanding,
    /// The role, for a member.
    pub role: Option<ClubRole>,
    /// Since when, Unix seconds.
    pub since: i64,
}

/// A page of a club's members (or, for its admins, requests, invitations or bans), in order of arrival.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ClubMemberPage {
    /// This page.
    pub members: Vec<ClubMember>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<i64>,
}

/// `POST /api/v1/clubs/{handle}/invitations`, `.../transfer`, `.../bans`: whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct ClubPersonRequest {
    /// Their username.
    pub username: String,
}

/// `PUT /api/v1/clubs/{handle}/members/{username}/role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct SetClubRoleRequest {
    /// Admin, leader or member (a club has one owner: hand it over with `transfer`).
    pub role: ClubRole,
}

/// `POST /api/v1/clubs/{handle}/requests/{username}`: an admin's answer to a request to join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct AnswerClubRequest {
    /// Let them in, or not (they are not told of a refusal).
    pub approve: bool,
}

/// What `POST /api/v1/clubs/{handle}/join` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ClubJoined {
    /// `member` (joined, or accepted an invitation) or `requested` (waiting for an admin).
    pub standing: ClubStanding,
}

/// The club a room is hosted by, as the room shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct RoomClub {
    /// The club's handle.
    pub handle: String,
    /// The club's name.
    pub name: String,
}

/// A club as the server's admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct AdminClub {
    /// The club.
    pub club: ClubSummary,
    /// Its owner.
    pub owner: UserSummary,
    /// How many follow it.
    pub followers: i64,
    /// Why it is suspended, if it is.
    pub suspended: Option<String>,
    /// When it was made, Unix seconds.
    pub created_at: i64,
}

/// `GET /api/v1/admin/clubs`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct AdminClubs {
    /// This page.
    pub clubs: Vec<AdminClub>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<i64>,
}

/// `POST /api/v1/clubs/{handle}/reports`: a club reported to the server's admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct ClubReportRequest {
    /// Why.
    pub reason: crate::ReportReason,
    /// Up to 1,000 characters more.
    #[serde(default)]
    pub text: String,
}
