//! Bodies of the API for the community's tools: the moderation log, reports, the admin console and
//! account settings.

use crate::{RoomId, UserSummary};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// A moderator's action in a room, as the moderation log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum ModerationAction {
    /// Invited a listener to speak.
    InviteToSpeak,
    /// Moved a speaker to the audience.
    MoveToAudience,
    /// Made someone a moderator.
    MakeModerator,
    /// Took someone's moderator role away.
    RemoveModerator,
    /// Muted a speaker.
    Mute,
    /// Removed someone from the room for good.
    Remove,
    /// Deleted a chat message (`detail`: its text).
    DeleteChat,
    /// Silenced someone's chat.
    SilenceChat,
    /// Let a silenced person chat again.
    UnsilenceChat,
    /// Changed who may chat (`detail`: the mode).
    ChatMode,
    /// Changed who may raise a hand (`detail`: the mode).
    HandMode,
    /// Ended the room.
    EndRoom,
    /// Changed what the room's mix goes to (`detail`: e.g. `recording on`, `clips off`, `listen_link on`).
    Outputs,
}

impl ModerationAction {
    /// Every action, for parsing what the store kept.
    pub const ALL: [ModerationAction; 13] = [
        ModerationAction::InviteToSpeak,
        ModerationAction::MoveToAudience,
        ModerationAction::MakeModerator,
        ModerationAction::RemoveModerator,
        ModerationAction::Mute,
        ModerationAction::Remove,
        ModerationAction::DeleteChat,
        ModerationAction::SilenceChat,
        ModerationAction::UnsilenceChat,
        ModerationAction::ChatMode,
        ModerationAction::HandMode,
        ModerationAction::Outputs,
        ModerationAction::EndRoom,
    ];

    /// The name the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            ModerationAction::InviteToSpeak => "invite_to_speak",
            ModerationAction::MoveToAudience => "move_to_audience",
            ModerationAction::MakeModerator => "make_moderator",
            ModerationAction::RemoveModerator => "remove_moderator",
            ModerationAction::Mute => "mute",
            ModerationAction::Remove => "remove",
            ModerationAction::DeleteChat => "delete_chat",
            ModerationAction::SilenceChat => "silence_chat",
            ModerationAction::UnsilenceChat => "unsilence_chat",
            ModerationAction::ChatMode => "chat_mode",
            ModerationAction::HandMode => "hand_mode",
            ModerationAction::EndRoom => "end_room",
            ModerationAction::Outputs => "outputs",
        }
    }

    /// The action of that name.
    pub fn parse(name: &str) -> Option<ModerationAction> {
        ModerationAction::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// One line of a room's moderation log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ModerationEntry {
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// The moderator (an admin ending the room from the console is recorded as that admin).
    pub actor: UserSummary,
    /// What they did.
    pub action: ModerationAction,
    /// To whom, when it was done to someone.
    pub target: Option<UserSummary>,
    /// The deleted message's text, or the new mode.
    pub detail: Option<String>,
}

/// `GET /api/v1/rooms/{id}/moderation`: the room's log, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ModerationLog {
    /// The entries.
    pub entries: Vec<ModerationEntry>,
}

/// A chat message as the record keeps it, deleted or not: what a report's context shows the admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ChatRecord {
    /// The author.
    pub user: UserSummary,
    /// The text.
    pub text: String,
    /// When it was sent, Unix milliseconds.
    pub sent_at_ms: i64,
    /// Who deleted it, if a moderator did.
    pub deleted_by: Option<UserSummary>,
}

/// Why someone reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum ReportReason {
    /// Harassment or bullying.
    Harassment,
    /// Hate speech.
    Hate,
    /// Spam or scams.
    Spam,
    /// Sexual content.
    Sexual,
    /// Violence or threats.
    Violence,
    /// Pretending to be someone else.
    Impersonation,
    /// Something else (say what in the text).
    Other,
}

impl ReportReason {
    /// Every reason.
    pub const ALL: [ReportReason; 7] = [
        ReportReason::Harassment,
        ReportReason::Hate,
        ReportReason::Spam,
        ReportReason::Sexual,
        ReportReason::Violence,
        ReportReason::Impersonation,
        ReportReason::Other,
    ];

    /// The name the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportReason::Harassment => "harassment",
            ReportReason::Hate => "hate",
            ReportReason::Spam => "spam",
            ReportReason::Sexual => "sexual",
            ReportReason::Violence => "violence",
            ReportReason::Impersonation => "impersonation",
            ReportReason::Other => "other",
        }
    }

    /// The reason of that name.
    pub fn parse(name: &str) -> Option<ReportReason> {
        ReportReason::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// `POST /api/v1/rooms/{id}/reports`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ReportRequest {
    /// The person reported, who must be in the room; absent to report the room itself.
    pub user_id: Option<crate::UserId>,
    /// Why.
    pub reason: ReportReason,
    /// Up to 1,000 characters more.
    #[serde(default)]
    pub text: String,
    /// Also block the person reported, in the same step.
    #[serde(default)]
    pub block: bool,
}

/// The answer to a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ReportReceipt {
    /// The report's number.
    pub id: i64,
    /// Whether the person reported is now blocked.
    pub blocked: bool,
    /// A sentence for the reporter.
    pub message: String,
}

/// A report, as the admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Report {
    /// Its number.
    pub id: i64,
    /// Who reported.
    pub reporter: UserSummary,
    /// The room.
    pub room_id: RoomId,
    /// The room's title when reported.
    pub room_title: String,
    /// The person reported; absent for a report on the room.
    pub target: Option<UserSummary>,
    /// Why.
    pub reason: ReportReason,
    /// What the reporter wrote.
    pub text: String,
    /// When, Unix milliseconds.
    pub created_at_ms: i64,
    /// When an admin resolved it.
    pub resolved_at_ms: Option<i64>,
    /// Who resolved it (absent when done from the command line).
    pub resolved_by: Option<UserSummary>,
    /// The admin's note.
    pub resolution_note: Option<String>,
    /// For a report on a club: its handle (`room_id` is then empty and `room_title` the club's name).
    #[serde(default)]
    pub club: Option<String>,
    /// For a report on a private message: its ID (`room_id` is then empty, `target` its writer, and the
    /// report's context is the ten messages before and after it).
    #[serde(default)]
    pub message_id: Option<i64>,
}

/// A report with its context: the room's chat and moderation log from 10 minutes before it to 10 after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ReportDetail {
    /// The report.
    pub report: Report,
    /// The chat, oldest first, deleted messages included.
    pub chat: Vec<ChatRecord>,
    /// The moderation log, oldest first.
    pub moderation: Vec<ModerationEntry>,
    /// Other reports on the same person, newest first (at most 20).
    pub earlier_reports: Vec<Report>,
}

/// `GET /api/v1/admin/reports`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ReportList {
    /// The reports, newest first.
    pub reports: Vec<Report>,
    /// The cursor of the next page.
    pub next_cursor: Option<i64>,
}

/// `POST /api/v1/admin/reports/{id}/resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ResolveReportRequest {
    /// 1 to 1,000 characters: what was done and why.
    pub note: String,
}

/// `POST /api/v1/admin/users/{username}/suspend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct SuspendRequest {
    /// 1 to 1,000 characters, shown to the person when they try to sign in.
    pub reason: String,
}

/// A person as the admin console shows them, with where they sit in the tree of invites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct AdminUser {
    /// Who.
    pub user: UserSummary,
    /// Whether they are an admin.
    pub is_admin: bool,
    /// When they signed up, Unix seconds.
    pub created_at: i64,
    /// Why they are suspended, if they are.
    pub suspended: Option<String>,
    /// Whether the account was deleted (then `user` is its anonymous stand-in).
    pub deleted: bool,
    /// Who invited whom, from the first account down to this person's inviter.
    pub invited_by: Vec<UserSummary>,
    /// Whom this person invited, oldest first.
    pub invitees: Vec<Invitee>,
    /// Reports on this person.
    pub reports_against: u32,
}

/// Someone a person invited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Invitee {
    /// Who.
    pub user: UserSummary,
    /// How many they invited in turn.
    pub invitees: u32,
    /// Whether they are suspended.
    pub suspended: bool,
}

/// The server's settings that admins change live (`GET`/`PUT /api/v1/admin/settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct AdminSettings {
    /// Invites each user may create (0 to 10,000).
    pub invite_quota: u32,
    /// Participants a room holds, stage included (2 to 100,000); applies to live rooms at once.
    pub room_capacity: u32,
}

/// A live room in the admin console: every room, hidden or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct AdminRooms {
    /// The rooms.
    pub rooms: Vec<crate::RoomInfo>,
}

/// One entry of the admins' own log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct AdminLogEntry {
    /// Its number.
    pub id: i64,
    /// Who did it; absent for the command line.
    pub admin: Option<UserSummary>,
    /// What: `suspend`, `unsuspend`, `end_room`, `resolve_report` or `settings`.
    pub action: String,
    /// To what: a user's ID, a room or a report's number.
    pub subject: String,
    /// When the subject is a person, their username now.
    pub subject_username: Option<String>,
    /// The reason, note or new value.
    pub detail: String,
    /// When, Unix seconds.
    pub created_at: i64,
}

/// `GET /api/v1/admin/log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct AdminLog {
    /// Newest first.
    pub entries: Vec<AdminLogEntry>,
}

/// One of the caller's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct SessionInfo {
    /// Its ID, to revoke it by.
    pub id: String,
    /// The device, as its browser named itself ("Chrome on Linux").
    pub device: String,
    /// When it signed in, Unix seconds.
    pub created_at: i64,
    /// When it was last used, Unix seconds, to the hour.
    pub last_seen: i64,
    /// Whether it is the session asking.
    pub current: bool,
}

/// `GET /api/v1/account/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct SessionList {
    /// Newest first.
    pub sessions: Vec<SessionInfo>,
}

/// `POST /api/v1/account/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ChangePasswordRequest {
    /// The password now.
    pub current_password: String,
    /// The new one: 8 to 1,024 characters.
    pub new_password: String,
}

/// `POST /api/v1/account/delete`: the password again, so that an unattended screen cannot do it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct DeleteAccountRequest {
    /// The password.
    pub password: String,
}

/// `GET /api/v1/account/export`: everything of the caller's, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct AccountExport {
    /// When it was made, Unix seconds.
    pub exported_at: i64,
    /// The profile.
    pub profile: crate::Me,
    /// When they signed up, Unix seconds.
    pub created_at: i64,
    /// Whom they follow.
    pub following: Vec<UserSummary>,
    /// Who follows them.
    pub followers: Vec<UserSummary>,
    /// Whom they block.
    pub blocking: Vec<UserSummary>,
    /// Events they host or were asked to co-host.
    pub events: Vec<ExportedEvent>,
    /// Events they RSVPed to (IDs and titles).
    pub rsvps: Vec<ExportedEvent>,
    /// The invites they made, and who used each.
    pub invites: Vec<crate::InviteInfo>,
    /// Their chat messages, oldest first.
    pub messages: Vec<ExportedMessage>,
    /// Reports they filed.
    pub reports: Vec<ExportedReport>,
    /// Their clubs, with the invitations and requests still waiting.
    #[serde(default)]
    pub clubs: Vec<crate::ClubOf>,
    /// Their private conversations (those in their inbox and Requests).
    #[serde(default)]
    pub threads: Vec<crate::Thread>,
    /// The private messages they wrote, oldest first.
    #[serde(default)]
    pub private_messages: Vec<crate::Message>,
}

/// An event in an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ExportedEvent {
    /// The ID.
    pub id: crate::EventId,
    /// The title.
    pub title: String,
    /// The description.
    pub description: String,
    /// When it starts, Unix seconds.
    pub starts_at: i64,
}

/// A chat message in an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ExportedMessage {
    /// The room.
    pub room_id: RoomId,
    /// The text.
    pub text: String,
    /// When, Unix milliseconds.
    pub sent_at_ms: i64,
    /// Whether a moderator deleted it.
    pub deleted: bool,
}

/// A report in an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ExportedReport {
    /// The room.
    pub room_id: RoomId,
    /// Why.
    pub reason: ReportReason,
    /// What they wrote.
    pub text: String,
    /// When, Unix milliseconds.
    pub created_at_ms: i64,
}

/// What a suspended person is told when they try to sign in (the body of the 403).
pub const SUSPENDED_CODE: &str = "account_suspended";

/// What a personal access token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema, TS)]
pub enum Scope {
    /// Read: the hallway, rooms, events, profiles, notifications, search.
    #[serde(rename = "rooms:read")]
    RoomsRead,
    /// Write: start rooms, schedule events, follow, chat, report.
    #[serde(rename = "rooms:write")]
    RoomsWrite,
    /// Join rooms as a listener (the room's WebSocket), and hear them.
    #[serde(rename = "listen")]
    Listen,
    /// Join rooms and go on stage when invited: publish audio.
    #[serde(rename = "speak")]
    Speak,
    /// The admin console's API (for an admin's token).
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 5] = [Scope::RoomsRead, Scope::RoomsWrite, Scope::Listen, Scope::Speak, Scope::Admin];

    /// The name the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::RoomsRead => "rooms:read",
            Scope::RoomsWrite => "rooms:write",
            Scope::Listen => "listen",
            Scope::Speak => "speak",
            Scope::Admin => "admin",
        }
    }

    /// The scope of that name.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct CreateTokenRequest {
    /// 1 to 50 characters, to tell tokens apart ("OBS on the studio Mac").
    pub name: String,
    /// At least one.
    pub scopes: Vec<Scope>,
    /// Days until it expires, 1 to 365; absent for a token that does not expire.
    pub expires_in_days: Option<u32>,
}

/// A personal access token, as its owner sees it later (the secret is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct TokenInfo {
    /// Its ID, to revoke it by.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// When it was made, Unix seconds.
    pub created_at: i64,
    /// When it expires, Unix seconds.
    pub expires_at: Option<i64>,
    /// When it was last used, Unix seconds, to the hour.
    pub last_used_at: Option<i64>,
}

/// The answer to `POST /api/v1/tokens`: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct TokenCreated {
    /// The token.
    pub info: TokenInfo,
    /// The secret: `Authorization: Bearer stoa_pat_...`. Stoa keeps only its hash.
    pub token: String,
}

/// `GET /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct TokenList {
    /// Newest first.
    pub tokens: Vec<TokenInfo>,
}

/// The events a webhook can be sent.
pub const WEBHOOK_EVENTS: [&str; 5] =
    ["room.started", "room.ended", "event.scheduled", "recording.ready", "report.filed"];

/// `POST /api/v1/admin/webhooks`: a URL to send events to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct NewWebhook {
    /// `https://` (or `http://`) URL that takes a JSON POST.
    pub url: String,
    /// Which events: `room.started`, `room.ended`, `event.scheduled`, `recording.ready`, `report.filed`.
    pub events: Vec<String>,
}

/// A registered webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Webhook {
    /// Its ID.
    pub id: i64,
    /// Where events go.
    pub url: String,
    /// Which events.
    pub events: Vec<String>,
    /// When it was registered, in milliseconds since 1970.
    pub created_at_ms: i64,
    /// The signing secret (`whsec_` and base64): only in the answer that registers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// `GET /api/v1/admin/webhooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct WebhookList {
    /// The webhooks, oldest first.
    pub webhooks: Vec<Webhook>,
}

/// One delivery of an event to a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct WebhookDelivery {
    /// Its ID (the `webhook-id` header is `msg_` and this).
    pub id: i64,
    /// The event.
    pub event: String,
    /// `pending` (being retried), `delivered`, or `failed` (every retry spent, over about a day).
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last answer's HTTP status, if there was one.
    pub last_status: Option<i64>,
    /// The last error (a timeout, a refused connection, a non-2xx answer).
    pub last_error: Option<String>,
    /// When the event happened, in milliseconds since 1970.
    pub created_at_ms: i64,
}

/// `GET /api/v1/admin/webhooks/{id}/deliveries`: the newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct WebhookDeliveries {
    /// The deliveries.
    pub deliveries: Vec<WebhookDelivery>,
}
