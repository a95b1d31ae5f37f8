//! Bodies of the backchannel's API: private threads, one to one or a small group, their messages, and the
//! Requests a person has not accepted yet.

use crate::UserSummary;
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// `POST /api/v1/threads`: a thread with one person (the one thread of the two, made or found) or with a
/// group of up to nine others, and its first message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct NewThreadRequest {
    /// The other people, by username: one for a thread of two, up to nine for a group.
    pub usernames: Vec<String>,
    /// The first message: 1 to 1,000 characters of plain text.
    pub text: String,
}

/// `POST /api/v1/threads/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// 1 to 1,000 characters of plain text; links are shown as links and never fetched by the server.
    pub text: String,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Message {
    /// Its ID; later messages have larger IDs.
    pub id: i64,
    /// The thread.
    pub thread_id: i64,
    /// Who wrote it.
    pub sender: UserSummary,
    /// What they wrote; empty once deleted.
    pub text: String,
    /// When, Unix milliseconds.
    pub sent_at_ms: i64,
    /// Whether its writer deleted it (for everyone).
    pub deleted: bool,
}

/// A thread as one of its members sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Thread {
    /// Its ID.
    pub id: i64,
    /// A group (up to ten people), or two.
    pub group: bool,
    /// The other members the caller may see (never one who blocks them or whom they block), in the order
    /// they joined.
    pub members: Vec<UserSummary>,
    /// The newest message the caller may see.
    pub last_message: Option<Message>,
    /// Messages from others after the caller's last read.
    pub unread: u32,
    /// Whether the caller muted it (no push, no count).
    pub muted: bool,
    /// Whether it is in the caller's Requests: someone they do not follow wrote first, and they have not
    /// accepted.
    pub request: bool,
}

/// `GET /api/v1/threads`: the newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ThreadList {
    /// The threads.
    pub threads: Vec<Thread>,
}

/// `GET /api/v1/threads/{id}/messages`: the newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct MessagePage {
    /// This page.
    pub messages: Vec<Message>,
    /// Pass as `before` for the next (older) page; absent on the last.
    pub next_before: Option<i64>,
}

/// `PUT /api/v1/threads/{id}/mute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct MuteRequest {
    /// Muted or not.
    pub muted: bool,
}

/// `POST /api/v1/threads/{id}/read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct ReadUpToRequest {
    /// The newest message read.
    pub up_to: i64,
}

/// The backchannel's counts, in the bell's stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct InboxCounts {
    /// Threads (not muted, not in Requests) with messages the person has not read.
    pub unread_threads: u32,
    /// Threads waiting in Requests.
    pub requests: u32,
}

/// `POST /api/v1/messages/{id}/reports`: a private message reported to the server's admins, who see it with
/// the ten messages before and after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct MessageReportRequest {
    /// Why.
    pub reason: crate::ReportReason,
    /// Up to 1,000 characters more.
    #[serde(default)]
    pub text: String,
    /// Also block the message's writer, in the same step.
    #[serde(default)]
    pub block: bool,
}

/// `POST /api/v1/threads/{id}/members`: people added to a group (up to ten members in all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct AddMembersRequest {
    /// Their usernames.
    pub usernames: Vec<String>,
}
