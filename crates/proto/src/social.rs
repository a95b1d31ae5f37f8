//! Bodies of the API for finding and being found: scheduled events and RSVPs, calendar feeds,
//! notifications and web push, pings, search and suggestions.

use crate::{EventId, RoomId, RoomInfo, UserSummary, Visibility};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// `POST /api/v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct CreateEventRequest {
    /// 1 to 100 characters.
    pub title: String,
    /// Up to 1,000 characters.
    #[serde(default)]
    pub description: String,
    /// When it starts: RFC 3339 (`2026-12-01T18:00:00Z`; an offset is converted to UTC), in the future and at
    /// most 60 days ahead.
    pub starts_at: String,
    /// Who may see the event and its room: the rules of rooms, with the hosts as moderators.
    pub visibility: Visibility,
    /// Up to 10 usernames asked to co-host; each must accept.
    #[serde(default)]
    pub cohosts: Vec<String>,
    /// For a closed event, the usernames who may see it.
    #[serde(default)]
    pub invited: Vec<String>,
    /// The handle of a club to host the event (the caller must be one of its leaders, admins or owner):
    /// then `social` means the club's followers and members, and `closed` its members (and the invited).
    #[serde(default)]
    pub club: Option<String>,
}

/// `PATCH /api/v1/events/{id}`: the fields to change; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct UpdateEventRequest {
    /// A new title.
    pub title: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new start time (RFC 3339).
    pub starts_at: Option<String>,
}

/// Where an event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum EventState {
    /// Not started yet.
    Scheduled,
    /// Started: its room is live.
    Live,
    /// Started, and its room has ended.
    Ended,
    /// Its start time passed by more than 2 hours and nobody started it.
    Missed,
    /// A host cancelled it.
    Cancelled,
}

/// One of an event's hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct EventHost {
    /// Who.
    pub user: UserSummary,
    /// Whether they accepted (the creator always has).
    pub accepted: bool,
}

/// A scheduled event as the caller sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct EventInfo {
    /// The ID.
    pub id: EventId,
    /// The title.
    pub title: String,
    /// The description.
    pub description: String,
    /// When it starts, RFC 3339 in UTC.
    pub starts_at: String,
    /// Who may see it.
    pub visibility: Visibility,
    /// The creator first, then the co-hosts; those who have not accepted are shown to hosts only.
    pub hosts: Vec<EventHost>,
    /// Where it stands.
    pub state: EventState,
    /// The live room, while the event is live.
    pub room_id: Option<RoomId>,
    /// How many people RSVPed: for hosts only.
    pub rsvp_count: Option<u32>,
    /// Whether the caller RSVPed.
    pub you_rsvped: bool,
    /// Whether the caller hosts it (accepted).
    pub you_host: bool,
    /// Whether the caller is asked to co-host and has not answered.
    pub you_are_asked: bool,
    /// The page to share: `https://HOST/event/ID`.
    pub url: String,
    /// The club that hosts it, if one does.
    #[serde(default)]
    pub club: Option<Box<crate::RoomClub>>,
}

/// A list of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct EventList {
    /// The events.
    pub events: Vec<EventInfo>,
}

/// `GET /api/v1/events/{id}/rsvps`: who RSVPed, newest first, for hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct RsvpPage {
    /// How many in all.
    pub total: u32,
    /// This page.
    pub users: Vec<UserSummary>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<i64>,
}

/// `POST /api/v1/me/calendar`: the caller's personal calendar feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct CalendarFeed {
    /// The feed's secret address (`https://HOST/cal/TOKEN.ics`), shown once; a new one revokes the old.
    pub url: String,
    /// The same as `webcal://`, which calendar apps open as a subscription.
    pub webcal_url: String,
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Someone you follow started a room.
    RoomStarted,
    /// Someone you follow came on stage in a room you may see.
    OnStage,
    /// An event you RSVPed to started.
    EventStarted,
    /// An event you RSVPed to changed (title, description or time).
    EventChanged,
    /// An event you RSVPed to was cancelled.
    EventCancelled,
    /// You are asked to co-host an event.
    CohostInvite,
    /// Someone followed you.
    Followed,
    /// Someone in a room pinged you to join.
    Pinged,
    /// You were invited to a closed room.
    RoomInvite,
    /// Someone asks to join a club you are an admin of.
    ClubRequest,
    /// A club's admin invited you to it.
    ClubInvite,
    /// Your request to join a club was approved.
    ClubApproved,
    /// A club you belong to or follow started a room.
    ClubRoomStarted,
    /// Someone wrote to you privately (pushed only: the backchannel has its own counts, not the bell's).
    Message,
}

impl NotificationKind {
    /// Every kind, in the order settings show them.
    pub const ALL: [NotificationKind; 14] = [
        NotificationKind::RoomStarted,
        NotificationKind::OnStage,
        NotificationKind::EventStarted,
        NotificationKind::EventChanged,
        NotificationKind::EventCancelled,
        NotificationKind::CohostInvite,
        NotificationKind::Followed,
        NotificationKind::Pinged,
        NotificationKind::RoomInvite,
        NotificationKind::ClubRequest,
        NotificationKind::ClubInvite,
        NotificationKind::ClubApproved,
        NotificationKind::ClubRoomStarted,
        NotificationKind::Message,
    ];

    /// The `snake_case` name, as on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::RoomStarted => "room_started",
            NotificationKind::OnStage => "on_stage",
            NotificationKind::EventStarted => "event_started",
            NotificationKind::EventChanged => "event_changed",
            NotificationKind::EventCancelled => "event_cancelled",
            NotificationKind::CohostInvite => "cohost_invite",
            NotificationKind::Followed => "followed",
            NotificationKind::Pinged => "pinged",
            NotificationKind::RoomInvite => "room_invite",
            NotificationKind::ClubRequest => "club_request",
            NotificationKind::ClubInvite => "club_invite",
            NotificationKind::ClubApproved => "club_approved",
            NotificationKind::ClubRoomStarted => "club_room_started",
            NotificationKind::Message => "message",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<NotificationKind> {
        NotificationKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct Notification {
    /// Its ID; newer ones have larger IDs.
    pub id: i64,
    /// What it is about.
    pub kind: NotificationKind,
    /// Who did it, if someone did.
    pub actor: Option<UserSummary>,
    /// The room it is about.
    pub room_id: Option<RoomId>,
    /// The event it is about.
    pub event_id: Option<EventId>,
    /// The club it is about, by handle.
    pub club: Option<String>,
    /// The room's, event's or club's title (name) when it was told.
    pub title: String,
    /// When, RFC 3339 in UTC.
    pub created_at: String,
    /// Whether it was marked read.
    pub read: bool,
    /// Where clicking it goes, a path on this server (`/room/ID`, `/event/ID`, `/u/NAME`, `/c/HANDLE`).
    pub link: String,
    /// One sentence that says it all: "Ada started a room: Coffee".
    pub text: String,
}

/// `GET /api/v1/notifications`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct NotificationPage {
    /// This page.
    pub notifications: Vec<Notification>,
    /// How many are unread in all.
    pub unread: u32,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    pub next_cursor: Option<i64>,
}

/// `POST /api/v1/notifications/read`: marks notifications read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct MarkReadRequest {
    /// These notifications (at most 200); with neither field, all of them.
    #[serde(default)]
    pub ids: Vec<i64>,
    /// Every notification up to and including this ID.
    pub up_to: Option<i64>,
}

/// What the per-user stream (`GET /api/v1/notifications/stream`, Server-Sent Events) sends: once on
/// connecting, then at every change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct NotificationUpdate {
    /// How many are unread.
    pub unread: u32,
    /// The newest notification, if any.
    pub latest: Option<Notification>,
    /// The backchannel's unread threads and Requests.
    #[serde(default)]
    pub messages: crate::InboxCounts,
}

/// The keys of a push subscription, as the browser's `PushSubscription.toJSON()` gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct PushKeys {
    /// The subscription's P-256 public key, base64url (65 bytes uncompressed).
    pub p256dh: String,
    /// The authentication secret, base64url (16 bytes).
    pub auth: String,
}

/// `POST /api/v1/push/subscriptions`: the browser's `PushSubscription.toJSON()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct PushSubscriptionRequest {
    /// The push service's URL for this subscription (https, or http on loopback for tests).
    pub endpoint: String,
    /// Its keys.
    pub keys: PushKeys,
}

/// Whether one kind of notification is pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct PushKindSetting {
    /// The kind.
    pub kind: NotificationKind,
    /// Whether it is pushed.
    pub push: bool,
}

/// `GET`/`PUT /api/v1/push/settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct PushSettings {
    /// The server's VAPID public key (base64url), for `pushManager.subscribe({applicationServerKey})`.
    pub vapid_public_key: String,
    /// How many push subscriptions (browsers) the caller has.
    pub subscriptions: u32,
    /// Each kind and whether it is pushed.
    pub kinds: Vec<PushKindSetting>,
}

/// `PUT /api/v1/push/settings`: the kinds to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct UpdatePushSettings {
    /// The kinds and whether each is pushed.
    pub kinds: Vec<PushKindSetting>,
}

/// What a push message carries (encrypted for the subscription): the notification, for the service worker
/// to show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct PushPayload {
    /// The notification's title line.
    pub title: String,
    /// Its text.
    pub body: String,
    /// Where clicking goes.
    pub link: String,
    /// The notification's ID.
    pub id: i64,
    /// Its kind.
    pub kind: NotificationKind,
}

/// `POST /api/v1/rooms/{id}/ping`: asks a follower to join the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct PingRequest {
    /// Whom, by username. They must follow the caller.
    pub username: String,
}

/// `GET /api/v1/search?q=`: what the caller may see that matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct SearchResults {
    /// People, by username or display name.
    pub people: Vec<UserSummary>,
    /// Live rooms, by title.
    pub rooms: Vec<RoomInfo>,
    /// Upcoming and live events, by title and description.
    pub events: Vec<EventInfo>,
    /// Clubs, by handle, name and description.
    #[serde(default)]
    pub clubs: Vec<crate::ClubSummary>,
    /// Replays whose transcript has the words, that the caller may hear.
    #[serde(default)]
    pub replays: Vec<crate::TranscriptMatch>,
}

/// Someone suggested to follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct Suggestion {
    /// Who.
    pub user: UserSummary,
    /// How many people follow them.
    pub followers: u32,
    /// How many of the people the caller follows follow them.
    pub followed_by_your_follows: u32,
    /// Whether they invited the caller.
    pub invited_you: bool,
}

/// `GET /api/v1/suggestions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct Suggestions {
    /// People to follow, most-followed first.
    pub people: Vec<Suggestion>,
    /// Clubs that people the caller follows belong to, and the caller neither belongs to nor follows: the
    /// most such people first.
    #[serde(default)]
    pub clubs: Vec<ClubSuggestion>,
}

/// A club suggested to join or follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct ClubSuggestion {
    /// The club.
    pub club: crate::ClubSummary,
    /// How many of the people the caller follows are members.
    pub members_you_follow: u32,
}

/// `GET /api/v1/rooms/{id}/preview` and `GET /api/v1/events/{id}/preview`: what anyone, signed in or not,
/// may see of an open room or event through its share link. Hidden ones answer 404, as everywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct Preview {
    /// The title.
    pub title: String,
    /// For an event, its description; empty for a room.
    pub description: String,
    /// The people on stage (a room) or the hosts (an event).
    pub people: Vec<UserSummary>,
    /// A room's audience size; absent for an event.
    pub listener_count: Option<u32>,
    /// An event's start, RFC 3339 in UTC; absent for a room.
    pub starts_at: Option<String>,
    /// The address to share.
    pub url: String,
}
