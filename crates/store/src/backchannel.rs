//! The store's part for the backchannel: private threads of two or of a small group, their messages,
//! Requests, and the bounds that must hold across nodes (messages a minute, new threads an hour, groups a
//! person is in), each counted in the write transaction that adds one.

use crate::StoreError;
use async_trait::async_trait;
use stoa_proto::{UserId, UserSummary};

/// Messages one person may send in a minute.
pub const MESSAGES_PER_MINUTE: u32 = 30;
/// New threads one person may start in an hour.
pub const THREADS_PER_HOUR: u32 = 20;
/// Of those, threads with someone who does not follow them (which land in Requests).
pub const THREADS_TO_STRANGERS_PER_HOUR: u32 = 5;
/// Groups one person may be in.
pub const GROUPS_PER_PERSON: u32 = 50;

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// Its ID.
    pub id: i64,
    /// The thread.
    pub thread: i64,
    /// Who wrote it.
    pub sender: UserSummary,
    /// The text; empty once deleted.
    pub text: String,
    /// When, Unix milliseconds.
    pub sent_at_ms: i64,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// A thread as one member sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRow {
    /// Its ID.
    pub id: i64,
    /// A group, or two people.
    pub group: bool,
    /// The other members this member may see (not blocked either way; not those who left), by arrival.
    pub members: Vec<UserSummary>,
    /// The newest message this member may see.
    pub last_message: Option<MessageRow>,
    /// Messages from others after this member's last read.
    pub unread: u32,
    /// Whether this member muted it.
    pub muted: bool,
    /// Whether it is in this member's Requests.
    pub request: bool,
}

/// Why the backchannel refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A block stands between the sender and someone in it.
    Blocked,
    /// Too many messages this minute.
    TooManyMessages,
    /// Too many new threads this hour.
    TooManyThreads,
    /// Too many new threads with people who do not follow the sender this hour.
    TooManyToStrangers,
    /// Someone in it (the sender, or another) is in as many groups as they may be.
    TooManyGroups,
    /// Not a thread the sender may write in (not a member, or left, or a group's member count is full).
    NotInThread,
    /// A thread of two whose other member is suspended.
    Frozen,
    /// A group holds ten people at most.
    GroupFull,
}

/// Private threads and their messages.
#[async_trait]
pub trait Backchannel: Send + Sync {
    /// Starts a thread of `from` with `others` (one: the pair's one thread, made or found; several: a new
    /// group) with a first message. Each other person finds it in their Requests unless they follow
    /// `from`. Returns the thread and the message.
    async fn start_thread(
        &self,
        from: UserId,
        others: &[UserId],
        text: &str,
        now_ms: i64,
    ) -> Result<Result<(i64, MessageRow), Refusal>, StoreError>;
    /// `from` writes in a thread they are in (writing from Requests accepts it).
    async fn send_message(
        &self,
        thread: i64,
        from: UserId,
        text: &str,
        now_ms: i64,
    ) -> Result<Result<MessageRow, Refusal>, StoreError>;
    /// The thread of two of `a` and `b`, if there is one.
    async fn pair_thread(&self, a: UserId, b: UserId) -> Result<Option<i64>, StoreError>;
    /// Who is to hear of a thread's news: its members who have not left or declined, each with whether they
    /// muted it.
    async fn thread_audience(&self, thread: i64) -> Result<Vec<(UserId, bool)>, StoreError>;
    /// `viewer`'s threads, newest first: their inbox, or with `requests` their Requests.
    async fn threads_of(&self, viewer: UserId, requests: bool, limit: u32) -> Result<Vec<ThreadRow>, StoreError>;
    /// One thread as `viewer` sees it: `None` unless they are in it (active, or in their Requests).
    async fn thread_of(&self, viewer: UserId, thread: i64) -> Result<Option<ThreadRow>, StoreError>;
    /// A page of a thread's messages that `viewer` may read, newest first, older than `before`.
    async fn messages_of(
        &self,
        viewer: UserId,
        thread: i64,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Option<Vec<MessageRow>>, StoreError>;
    /// `viewer` accepts a thread from their Requests, declines it (it leaves their lists; nobody is told), or
    /// leaves a group. False if that does not apply.
    async fn answer_thread(&self, viewer: UserId, thread: i64, answer: ThreadAnswer) -> Result<bool, StoreError>;
    /// `by`, in a group, adds people to it: each finds it in their Requests unless they follow `by`, and reads
    /// only what comes after. Refused past ten members, across a block with `by`, or past a person's groups.
    async fn add_to_group(
        &self,
        thread: i64,
        by: UserId,
        people: &[UserId],
        now_ms: i64,
    ) -> Result<Result<(), Refusal>, StoreError>;
    /// Mutes or unmutes a thread for `viewer`.
    async fn mute_thread(&self, viewer: UserId, thread: i64, muted: bool) -> Result<bool, StoreError>;
    /// `viewer` read up to a message.
    async fn read_thread(&self, viewer: UserId, thread: i64, up_to: i64) -> Result<bool, StoreError>;
    /// `viewer` deletes their own message, for everyone. Returns its thread.
    async fn delete_message(&self, viewer: UserId, message: i64) -> Result<Option<i64>, StoreError>;
    /// A message `viewer` may read (to report it).
    async fn visible_message(&self, viewer: UserId, message: i64) -> Result<Option<MessageRow>, StoreError>;
    /// For the admins: a message with up to `n` before and `n` after it in its thread, oldest first, with
    /// their texts as written (deleted ones too).
    async fn messages_around(&self, message: i64, n: u32) -> Result<Vec<MessageRow>, StoreError>;
    /// The messages `user` wrote and did not delete, oldest first: their export.
    async fn own_messages(&self, user: UserId) -> Result<Vec<MessageRow>, StoreError>;
    /// `viewer`'s unread threads (not muted, not in Requests) and Requests.
    async fn inbox_counts(&self, viewer: UserId) -> Result<(u32, u32), StoreError>;
    /// What a live stream of `viewer`'s tells them: up to `limit` messages they may read that were sent, or
    /// deleted, at or after `since_ms`, oldest first. The stream asks with a look-back and drops what it
    /// already told, so that a message committed late (Postgres's IDs are not in commit order) or stamped by
    /// another node's clock is not missed.
    async fn thread_news(&self, viewer: UserId, since_ms: i64, limit: u32) -> Result<Vec<MessageRow>, StoreError>;
}

/// What a member does with a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAnswer {
    /// Takes it from their Requests into their inbox.
    Accept,
    /// Drops it from their Requests; the others are not told.
    Decline,
    /// Leaves a group.
    Leave,
}
