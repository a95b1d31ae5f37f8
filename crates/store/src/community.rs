//! The store's part for keeping a community healthy: the record of rooms' chat and moderation, reports,
//! suspensions, the admins' log and tree of invites, and account settings (sessions, password, export,
//! deletion).

use crate::StoreError;
use async_trait::async_trait;
use stoa_proto::{
    AccountExport, AdminLogEntry, AdminUser, ChatRecord, ModerationAction, ModerationEntry, Report, ReportReason,
    RoomId, Scope, SessionInfo, TokenInfo, UserId,
};

/// One entry of a room's record, as the room task hands it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomLogEntry {
    /// A chat message was broadcast.
    Chat {
        /// The room.
        room: RoomId,
        /// The room's number for it.
        msg_id: u64,
        /// The author.
        user: UserId,
        /// The text.
        text: String,
        /// When, Unix milliseconds.
        at_ms: i64,
    },
    /// A moderator acted.
    Moderation {
        /// The room.
        room: RoomId,
        /// The moderator.
        actor: UserId,
        /// What they did.
        action: ModerationAction,
        /// To whom.
        target: Option<UserId>,
        /// For a deletion, the room's number of the message; for a mode, the mode.
        detail: Option<String>,
        /// When, Unix milliseconds.
        at_ms: i64,
    },
}

/// A new report.
#[derive(Debug, Clone)]
pub struct NewReport {
    /// Who reports.
    pub reporter: UserId,
    /// In which room.
    pub room: RoomId,
    /// The room's title now.
    pub room_title: String,
    /// Whom; `None` for the room itself.
    pub target: Option<UserId>,
    /// Why.
    pub reason: ReportReason,
    /// What more they say.
    pub text: String,
    /// For a report on a club, its handle (and `room` is empty, `room_title` the club's name).
    pub club: Option<String>,
    /// For a report on a private message, its ID (and `room` is empty, `target` its writer).
    pub message: Option<i64>,
}

/// How many reports one person may file in an hour.
pub const REPORTS_PER_HOUR: i64 = 20;
/// A report's context: the room's record from this long before it to this long after.
pub const REPORT_CONTEXT_MS: i64 = 10 * 60 * 1000;
/// Personal access tokens one person may hold.
pub const TOKENS_PER_USER: i64 = 50;
/// How long chat messages are kept (but those a report needs, which stay with it).
pub const CHAT_RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;

/// Admin actions in the admins' log, which the server tails to carry out in live rooms.
pub mod admin_action {
    /// A user suspended (subject: the user's ID).
    pub const SUSPEND: &str = "suspend";
    /// A user unsuspended (subject: the user's ID).
    pub const UNSUSPEND: &str = "unsuspend";
    /// A live room ended (subject: the room).
    pub const END_ROOM: &str = "end_room";
    /// A report resolved (subject: its number).
    pub const RESOLVE_REPORT: &str = "resolve_report";
    /// The live settings changed (detail: the new values).
    pub const SETTINGS: &str = "settings";
    /// A user made an admin (subject: the user's ID).
    pub const MAKE_ADMIN: &str = "make_admin";
    /// A user's admin role taken away (subject: the user's ID).
    pub const REVOKE_ADMIN: &str = "revoke_admin";
    /// A webhook registered (subject: its ID; detail: its URL).
    pub const ADD_WEBHOOK: &str = "add_webhook";
    /// A webhook removed (subject: its ID).
    pub const REMOVE_WEBHOOK: &str = "remove_webhook";
    /// A club suspended (subject: the club's ID; detail: the reason): its live rooms end.
    pub const SUSPEND_CLUB: &str = "suspend_club";
    /// A club's suspension lifted (subject: the club's ID).
    pub const UNSUSPEND_CLUB: &str = "unsuspend_club";
}

/// The store's part for moderation, reports, administration and account settings.
#[async_trait]
pub trait Community: Send + Sync {
    /// Keeps entries of rooms' records, in one transaction.
    async fn append_room_log(&self, entries: &[RoomLogEntry]) -> Result<(), StoreError>;
    /// A room's moderation log between two times (Unix ms), oldest first, at most `limit` entries.
    async fn moderation_log(
        &self,
        room: &RoomId,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<ModerationEntry>, StoreError>;
    /// Deletes the chat messages sent before `before_ms`, except those within a report's context. Returns
    /// how many went.
    async fn prune_chat(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// A room's chat between two times (Unix ms), oldest first, deleted messages included.
    async fn chat_log(
        &self,
        room: &RoomId,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<ChatRecord>, StoreError>;

    /// Files a report, or returns the open one the same person filed on the same person in the same room.
    /// The answer is the report's ID and whether it is new. Refused with [`StoreError::RateLimited`] past
    /// [`REPORTS_PER_HOUR`] new ones.
    async fn create_report(&self, report: &NewReport, now_ms: i64) -> Result<(i64, bool), StoreError>;
    /// Reports, newest first: the open ones, or the resolved ones; `cursor` is the last ID of the page before.
    async fn reports(&self, open: bool, cursor: Option<i64>, limit: u32) -> Result<Vec<Report>, StoreError>;
    /// One report.
    async fn report(&self, id: i64) -> Result<Option<Report>, StoreError>;
    /// Reports on a person, newest first.
    async fn reports_against(&self, user: UserId, limit: u32) -> Result<Vec<Report>, StoreError>;
    /// Resolves an open report with a note, and logs it. Returns false if there is no such open report.
    async fn resolve_report(&self, id: i64, admin: Option<UserId>, note: &str) -> Result<bool, StoreError>;

    /// Suspends a user: they are signed out everywhere and cannot sign in. Logged. Returns false if they
    /// already were.
    async fn suspend(&self, user: UserId, admin: Option<UserId>, reason: &str) -> Result<bool, StoreError>;
    /// Lifts a suspension. Logged. Returns false if there was none.
    async fn unsuspend(&self, user: UserId, admin: Option<UserId>) -> Result<bool, StoreError>;
    /// Logs an admin action that has no other record (ending a room, changing settings). Returns its ID.
    async fn log_admin(
        &self,
        admin: Option<UserId>,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<i64, StoreError>;
    /// The admins' log after `after` (an ID), oldest first: what the server tails.
    async fn admin_log_after(&self, after: i64, limit: u32) -> Result<Vec<AdminLogEntry>, StoreError>;
    /// The newest entries of the admins' log, newest first.
    async fn admin_log(&self, limit: u32) -> Result<Vec<AdminLogEntry>, StoreError>;
    /// A person as the console shows them, by username (deleted accounts by their stand-in's ID).
    async fn admin_user(&self, user: UserId) -> Result<Option<AdminUser>, StoreError>;
    /// Makes a user an admin, or not. Logged. Returns whether anything changed.
    async fn set_admin(&self, user: UserId, admin: bool) -> Result<bool, StoreError>;
    /// A user's ID by username, deleted accounts included as `~deleted-ID`.
    async fn user_id_by_name(&self, username: &str) -> Result<Option<UserId>, StoreError>;

    /// The user's sessions, newest first; `current` is the hash of the asking session's token.
    async fn sessions_of(&self, user: UserId, current: &str) -> Result<Vec<SessionInfo>, StoreError>;
    /// Revokes one of the user's sessions by its public ID. Returns whether there was one.
    async fn revoke_session(&self, user: UserId, public_id: &str) -> Result<bool, StoreError>;
    /// Sets a new password hash and revokes every session but `keep` (a token hash), in one transaction.
    async fn set_password(&self, user: UserId, hash: &str, keep: &str) -> Result<u64, StoreError>;
    /// Everything of a user's, for them to take away.
    async fn export(&self, user: UserId, now: i64) -> Result<Option<AccountExport>, StoreError>;
    /// Keeps a new personal access token (by its hash) for `user`. Refused with [`StoreError::RateLimited`]
    /// past [`TOKENS_PER_USER`].
    async fn create_api_token(
        &self,
        user: UserId,
        name: &str,
        token_hash: &str,
        scopes: &[Scope],
        expires_at: Option<i64>,
    ) -> Result<TokenInfo, StoreError>;
    /// The user's tokens, newest first.
    async fn api_tokens_of(&self, user: UserId) -> Result<Vec<TokenInfo>, StoreError>;
    /// Revokes (deletes) one of the user's tokens. Returns whether there was one.
    async fn revoke_api_token(&self, user: UserId, id: i64) -> Result<bool, StoreError>;
    /// The account, scopes and expiry (Unix seconds) of a token hash, if the token has not expired and the
    /// account is neither suspended nor deleted; using it counts as use (kept to the hour).
    async fn api_token_account(
        &self,
        token_hash: &str,
    ) -> Result<Option<(crate::Account, Vec<Scope>, Option<i64>)>, StoreError>;
    /// Deletes an account: its personal data goes and an anonymous stand-in keeps its place in the
    /// records (moderation log, reports, the tree of invites). Refused with [`StoreError::LastAdmin`] for
    /// the only admin. The replays of rooms they hosted and the clips they made go too: the answer is their
    /// files, for the caller to remove. Their username stays reserved for [`crate::USERNAME_RESERVED_SECS`].
    async fn delete_account(&self, user: UserId) -> Result<Vec<String>, StoreError>;
}
