//! The store's part for finding and being found: scheduled events and RSVPs, calendar feeds,
//! notifications and their fan-out, web push subscriptions, search, suggestions and profiles' extras.

use crate::StoreError;
use async_trait::async_trait;
use stoa_proto::{EventId, NotificationKind, RoomId, UserId, UserSummary, Visibility};

/// A new scheduled event.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Its (random) ID.
    pub id: EventId,
    /// The title.
    pub title: String,
    /// The description.
    pub description: String,
    /// When it starts, Unix seconds.
    pub starts_at: i64,
    /// Who may see it.
    pub visibility: Visibility,
    /// Who creates it: its first host, accepted.
    pub creator: UserId,
    /// Those asked to co-host, in order.
    pub cohosts: Vec<UserId>,
    /// For a closed event, who may see it.
    pub invited: Vec<UserId>,
    /// The store's ID of the club that hosts it.
    pub club: Option<i64>,
}

/// A stored event, as one viewer may see it.
#[derive(Debug, Clone)]
pub struct EventRow {
    /// The ID.
    pub id: EventId,
    /// The title.
    pub title: String,
    /// The description.
    pub description: String,
    /// When it starts, Unix seconds.
    pub starts_at: i64,
    /// Who may see it.
    pub visibility: Visibility,
    /// The creator.
    pub creator: UserId,
    /// The hosts in order, creator first, each with whether they accepted.
    pub hosts: Vec<(UserSummary, bool)>,
    /// How many RSVPed.
    pub rsvp_count: u32,
    /// When it was cancelled, if it was.
    pub cancelled_at: Option<i64>,
    /// The room it was started as, if it was.
    pub room_id: Option<RoomId>,
    /// Whether that room has ended.
    pub room_ended: bool,
    /// RFC 5545's SEQUENCE: bumped by every change a calendar shows.
    pub sequence: i64,
    /// When it was created, Unix seconds.
    pub created_at: i64,
    /// When it last changed, Unix seconds.
    pub updated_at: i64,
    /// Whether the viewer RSVPed.
    pub viewer_rsvped: bool,
    /// The club that hosts it: its ID, handle and name.
    pub club: Option<(i64, String, String)>,
}

impl EventRow {
    /// Whether `user` is a host who accepted.
    pub fn is_host(&self, user: UserId) -> bool {
        self.hosts.iter().any(|(u, accepted)| u.id == user && *accepted)
    }
    /// Whether `user` is asked to co-host and has not answered.
    pub fn is_asked(&self, user: UserId) -> bool {
        self.hosts.iter().any(|(u, accepted)| u.id == user && !*accepted)
    }
}

/// Who may see a room, for a fan-out about it: the room's [`stoa_proto::Visibility`] with its moderators,
/// invited and removed users, as the room rules read them.
#[derive(Debug, Clone)]
pub struct RoomAudience {
    /// The room.
    pub room: RoomId,
    /// Its title.
    pub title: String,
    /// Open, social or closed.
    pub visibility: Visibility,
    /// Its moderators now.
    pub moderators: Vec<UserId>,
    /// Invited to it (closed rooms).
    pub invited: Vec<UserId>,
    /// Removed from it.
    pub removed: Vec<UserId>,
    /// The store's ID of the club that hosts it, if one does.
    pub club: Option<i64>,
}

/// Whom a fan-out tells.
#[derive(Debug, Clone)]
pub enum Audience {
    /// The actor's followers who may see the room.
    FollowersSeeing(RoomAudience),
    /// The members and followers of the club that hosts the room, who may see it.
    ClubSeeing {
        /// The room.
        room: RoomAudience,
        /// The club's ID.
        club: i64,
        /// The club's handle.
        handle: String,
    },
    /// Those who RSVPed to the event and may still see it.
    Rsvps {
        /// The event.
        event: EventId,
        /// The room it started as, for `event_started`.
        room: Option<RoomId>,
    },
}

/// A fan-out: one notification to many people, written a batch at a time.
#[derive(Debug, Clone)]
pub struct FanOut {
    /// What it is about.
    pub kind: NotificationKind,
    /// Who did it.
    pub actor: UserId,
    /// The title of what it is about.
    pub title: String,
    /// Whom it tells.
    pub audience: Audience,
}

/// One notification to one person.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Whom it tells.
    pub user: UserId,
    /// What it is about.
    pub kind: NotificationKind,
    /// Who did it.
    pub actor: Option<UserId>,
    /// The room it is about.
    pub room: Option<RoomId>,
    /// The event it is about.
    pub event: Option<EventId>,
    /// The title of what it is about.
    pub title: String,
    /// The handle of the club it is about.
    pub club: Option<String>,
}

/// A stored notification.
#[derive(Debug, Clone)]
pub struct NotificationRow {
    /// The ID.
    pub id: i64,
    /// Whom it tells.
    pub user: UserId,
    /// What it is about.
    pub kind: NotificationKind,
    /// Who did it.
    pub actor: Option<UserSummary>,
    /// The room.
    pub room: Option<RoomId>,
    /// The event.
    pub event: Option<EventId>,
    /// The title.
    pub title: String,
    /// When, Unix seconds.
    pub created_at: i64,
    /// Whether it was read.
    pub read: bool,
    /// The handle of the club it is about.
    pub club: Option<String>,
    /// For a private message's push (never stored): its thread.
    pub thread: Option<i64>,
}

/// A web push subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    /// Whose.
    pub user: UserId,
    /// The push service's URL.
    pub endpoint: String,
    /// The browser's public key, base64url.
    pub p256dh: String,
    /// The authentication secret, base64url.
    pub auth: String,
    /// The language its user reads Stoa in.
    pub language: String,
}

/// Someone to suggest.
#[derive(Debug, Clone)]
pub struct SuggestionRow {
    /// Who.
    pub user: UserSummary,
    /// Their followers.
    pub followers: u32,
    /// How many of the viewer's follows follow them.
    pub via: u32,
    /// Whether they invited the viewer.
    pub invited_viewer: bool,
}

/// How long the same person is not told again about the same room (or followed again by the same
/// person): an hour.
pub const DEDUPE_SECS: i64 = 3600;

/// The store's part for events, notifications, push, search and suggestions.
#[async_trait]
pub trait Social: Send + Sync {
    /// Records a new event with its hosts and, if closed, its invited users.
    async fn create_event(&self, event: &NewEvent) -> Result<(), StoreError>;
    /// An event as `viewer` may see it; `None` if it does not exist or is hidden from them.
    async fn event(&self, viewer: UserId, id: &EventId) -> Result<Option<EventRow>, StoreError>;
    /// An open event, as anyone (signed in or not) may see it through its share link; `None` for any other.
    async fn open_event(&self, id: &EventId) -> Result<Option<EventRow>, StoreError>;
    /// Who is invited to a closed event.
    async fn event_invited(&self, id: &EventId) -> Result<Vec<UserId>, StoreError>;
    /// Changes an event's title, description and/or start, bumping its sequence.
    async fn update_event(
        &self,
        id: &EventId,
        title: Option<&str>,
        description: Option<&str>,
        starts_at: Option<i64>,
    ) -> Result<(), StoreError>;
    /// Cancels an event that has not started. Returns false if it had started or was cancelled already.
    async fn cancel_event(&self, id: &EventId) -> Result<bool, StoreError>;
    /// Records that an event started as `room`. Returns false if it had already started or was cancelled
    /// (two hosts pressing start at once get one room).
    async fn start_event(&self, id: &EventId, room: &RoomId) -> Result<bool, StoreError>;
    /// A co-host accepts (true) or declines (false) hosting. Returns false if they were not asked.
    async fn answer_cohost(&self, id: &EventId, user: UserId, accept: bool) -> Result<bool, StoreError>;
    /// `user` RSVPs. Returns whether this is new.
    async fn rsvp(&self, id: &EventId, user: UserId) -> Result<bool, StoreError>;
    /// `user` takes their RSVP back.
    async fn unrsvp(&self, id: &EventId, user: UserId) -> Result<(), StoreError>;
    /// Who RSVPed, newest first: the total and a page.
    async fn rsvps(&self, id: &EventId, cursor: Option<i64>, limit: u32) -> Result<(u32, crate::Page), StoreError>;
    /// The upcoming and live events `viewer` may see, those they host first, then those their follows
    /// host, then those they RSVPed to, then the most-RSVPed; each group by start time.
    async fn upcoming(&self, viewer: UserId, now: i64, limit: u32) -> Result<Vec<EventRow>, StoreError>;
    /// The upcoming and live events `host` hosts that `viewer` may see, by start time.
    async fn hosted_by(&self, viewer: UserId, host: UserId, now: i64, limit: u32) -> Result<Vec<EventRow>, StoreError>;
    /// The upcoming and live events a club hosts that `viewer` may see, by start time.
    async fn club_events(&self, viewer: UserId, club: i64, now: i64, limit: u32) -> Result<Vec<EventRow>, StoreError>;
    /// Upcoming and live events `viewer` may see whose title or description match an FTS5 query, best
    /// first.
    async fn search_events(&self, viewer: UserId, fts: &str, now: i64, limit: u32)
    -> Result<Vec<EventRow>, StoreError>;

    /// Sets `user`'s calendar feed token (by its hash), replacing any other.
    async fn set_calendar_token(&self, user: UserId, token_hash: &str) -> Result<(), StoreError>;
    /// Revokes `user`'s calendar feed. Returns whether there was one.
    async fn revoke_calendar_token(&self, user: UserId) -> Result<bool, StoreError>;
    /// Whose feed a token hash opens.
    async fn calendar_owner(&self, token_hash: &str) -> Result<Option<UserId>, StoreError>;
    /// The events `user` hosts or RSVPed to and may see, starting after `since`, cancelled ones included.
    async fn calendar_events(&self, user: UserId, since: i64) -> Result<Vec<EventRow>, StoreError>;

    /// Stores notifications to single people: one is left out if the two block each other, or (for a
    /// room, a follow) the person was told the same within [`DEDUPE_SECS`]. Returns the stored ones.
    async fn notify(&self, notifications: &[NewNotification]) -> Result<Vec<NotificationRow>, StoreError>;
    /// One batch of a fan-out: takes up to `batch` of the audience after `cursor`, stores the notification
    /// for those who may be told, and returns them with the cursor for the next batch (`None` when done).
    async fn fan_out(
        &self,
        fan_out: &FanOut,
        cursor: i64,
        batch: u32,
    ) -> Result<(Vec<NotificationRow>, Option<i64>), StoreError>;
    /// `user`'s notifications, newest first, older than `cursor`.
    async fn notifications(
        &self,
        user: UserId,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Vec<NotificationRow>, StoreError>;
    /// How many of `user`'s notifications are unread.
    async fn unread_count(&self, user: UserId) -> Result<u32, StoreError>;
    /// Marks `user`'s notifications read: `ids`, and all up to `up_to`; all if neither is given.
    async fn mark_read(&self, user: UserId, ids: &[i64], up_to: Option<i64>) -> Result<u64, StoreError>;
    /// How many notifications are stored about `room` (for the fan-out measurement).
    async fn notifications_about_room(&self, room: &RoomId) -> Result<u64, StoreError>;

    /// Adds (or moves to `target.user`) a push subscription.
    async fn add_push_subscription(&self, target: &PushTarget) -> Result<(), StoreError>;
    /// Removes a push subscription by its endpoint, for `user` (or for anyone when `None`, as when the
    /// push service says it is gone). Returns whether there was one.
    async fn remove_push_subscription(&self, endpoint: &str, user: Option<UserId>) -> Result<bool, StoreError>;
    /// The push subscriptions of `users` who have not turned `kind` off.
    async fn push_targets(&self, users: &[UserId], kind: NotificationKind) -> Result<Vec<PushTarget>, StoreError>;
    /// How many push subscriptions `user` has.
    async fn push_subscription_count(&self, user: UserId) -> Result<u32, StoreError>;
    /// The kinds `user` turned off for push.
    async fn push_muted(&self, user: UserId) -> Result<Vec<NotificationKind>, StoreError>;
    /// Turns push of `kind` on or off for `user`.
    async fn set_push_muted(&self, user: UserId, kind: NotificationKind, muted: bool) -> Result<(), StoreError>;

    /// People whose username or display name match an FTS5 query, best first, leaving out those who block
    /// `viewer`.
    async fn search_people(&self, viewer: UserId, fts: &str, limit: u32) -> Result<Vec<UserSummary>, StoreError>;
    /// People `viewer` may like to follow: followed by those they follow, and who invited them; never
    /// someone they follow, block or are blocked by; most-followed first.
    async fn suggestions(&self, viewer: UserId, limit: u32) -> Result<Vec<SuggestionRow>, StoreError>;

    /// Sets `user`'s links.
    async fn set_links(&self, user: UserId, links: &[String]) -> Result<(), StoreError>;
    /// Sets the language `user` reads Stoa in (a code the caller checked).
    async fn set_language(&self, user: UserId, language: &str) -> Result<(), StoreError>;
    /// Removes `user`'s avatar (version 0) and its images.
    async fn clear_avatar(&self, user: UserId) -> Result<(), StoreError>;
    /// Keeps `user`'s avatar images (a JPEG per size in pixels), replacing any, and bumps the avatar's
    /// version, in one transaction; returns the version.
    async fn set_avatar(&self, user: UserId, images: &[(u32, Vec<u8>)]) -> Result<i64, StoreError>;
    /// One of `user`'s avatar images, by size.
    async fn avatar_image(&self, user: UserId, size: u32) -> Result<Option<Vec<u8>>, StoreError>;
}
