//! Stoa's persistence, behind one trait: [`Store`].
//!
//! The store keeps what outlives a process: accounts, invites, sessions, follows, blocks and the record of
//! rooms. It knows nothing of rooms in flight — who is on stage, whose hand is up — which live in each room's
//! task. [`SqliteStore`] is the embedded default: one file in the data folder, in WAL mode, so that the admin
//! CLI can write while the server runs. A Postgres implementation would implement the same trait.

#![deny(missing_docs)]

mod backchannel;
mod clubs;
mod common;
mod community;
/// Copying a SQLite server's data into Postgres.
pub mod migrate;
mod postgres;
mod recordings;
mod social;
mod sqlite;
mod webhooks;

mod on_postgres;
mod on_sqlite;

use async_trait::async_trait;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use stoa_proto::{Profile, RoomId, UserId, UserSummary, Visibility};
use thiserror::Error;

pub use backchannel::*;
pub use clubs::*;
pub use common::{SESSION_IDLE_SECS, SESSION_MAX_SECS, USERNAME_RESERVED_SECS, avatar_path};
pub use community::*;
pub use postgres::PgStore;
pub use recordings::*;
pub use social::*;
pub use sqlite::SqliteStore;
pub use webhooks::*;

/// What can go wrong in the store. Each variant but [`StoreError::Database`] is the user's to fix.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The invite code does not exist or has no uses left.
    #[error("invite code is unknown or already used")]
    InviteInvalid,
    /// Another account has this username (in any case).
    #[error("username is taken")]
    UsernameTaken,
    /// Another club has this handle (in any case).
    #[error("the club's handle is taken")]
    HandleTaken,
    /// The user has created as many invites as the quota allows.
    #[error("invite quota exhausted")]
    QuotaExhausted,
    /// A block stands between the two users.
    #[error("a block prevents this")]
    Blocked,
    /// No such user.
    #[error("no such user")]
    NoSuchUser,
    /// Too many of these in too short a time.
    #[error("too many; try again later")]
    RateLimited,
    /// The only admin cannot delete their account, nor stop being an admin.
    #[error("this is the server's last admin: make someone else an admin first")]
    LastAdmin,
    /// The database was migrated by a newer build than this one: it is left untouched.
    #[error(
        "the database is at schema version {found}, newer than this build of Stoa ({version}) knows (up to \
         {known}): run a Stoa newer than {version}, or restore a backup made with this version"
    )]
    TooNew {
        /// The newest migration the database has.
        found: i64,
        /// The newest this build has.
        known: i64,
        /// This build's version.
        version: &'static str,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// `--database` is not a Postgres URL.
    #[error("{0:?} is not a database Stoa can use: give a postgres:// URL, or none for SQLite in the data folder")]
    UnknownDatabase(String),
    /// A copy between databases could not be made (see [`migrate`]).
    #[error("{0}")]
    Migration(String),
    /// The database could not be migrated.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the database could not be reached (down, restarting, refusing connections, or the pool
    /// exhausted), rather than refusing this request: the server answers 503 and the client tries again.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::Protocol(_) => true,
                // Postgres's connection exceptions (08...), operator intervention (57P..: shut down,
                // restarting, connections terminated) and a database not accepting connections (55000,
                // 3D000).
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "55000" || c == "3D000"),
                _ => false,
            },
            _ => false,
        }
    }
}

/// A signed-up user, as the store knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The ID.
    pub id: UserId,
    /// The lower-case username.
    pub username: String,
    /// The display name.
    pub display_name: String,
    /// The bio.
    pub bio: String,
    /// Whether this is a server admin.
    pub is_admin: bool,
    /// Who invited them.
    pub nominated_by: Option<UserSummary>,
    /// Their avatar's version, bumped at each upload; 0 for none.
    pub avatar_version: i64,
    /// Links on their profile (at most two).
    pub links: Vec<String>,
    /// Why they are suspended, if they are.
    pub suspended: Option<String>,
    /// The language they read Stoa in (`en`, `ru` or `ar`), for what the server writes to them.
    pub language: String,
}

impl Account {
    /// The account as others see it in lists.
    pub fn summary(&self) -> UserSummary {
        UserSummary { id: self.id, username: self.username.clone(), display_name: self.display_name.clone() }
    }

    /// The account as its owner sees it.
    pub fn me(&self) -> stoa_proto::Me {
        stoa_proto::Me {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            bio: self.bio.clone(),
            is_admin: self.is_admin,
            nominated_by: self.nominated_by.clone(),
            avatar: (self.avatar_version > 0).then(|| avatar_path(self.id, self.avatar_version)),
            links: self.links.clone(),
            language: self.language.clone(),
        }
    }
}

/// What signing up needs, with the password already hashed.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The invite code to spend.
    pub invite: String,
    /// The lower-case username.
    pub username: String,
    /// The display name.
    pub display_name: String,
    /// An argon2id PHC string.
    pub password_hash: String,
}

/// An invite a user created, and who used it.
#[derive(Debug, Clone)]
pub struct InviteRecord {
    /// The code.
    pub code: String,
    /// Who signed up with it.
    pub used_by: Option<UserSummary>,
}

/// The record of a room, kept after it ends.
#[derive(Debug, Clone)]
pub struct RoomRecord {
    /// The ID.
    pub id: RoomId,
    /// The title.
    pub title: String,
    /// Open, social or closed.
    pub visibility: Visibility,
    /// Who created it.
    pub creator: UserId,
}

/// How one user relates to some others: see [`Store::relations_among`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Among {
    /// Those of the others who follow the user.
    pub followed_by: HashSet<UserId>,
    /// Those of the others who block the user.
    pub blocked_by: HashSet<UserId>,
    /// Those of the others whom the user follows.
    pub following: HashSet<UserId>,
}

/// Whom one user follows and blocks among some others: see [`Store::outgoing_among`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outgoing {
    /// Those of the others whom the user follows.
    pub following: HashSet<UserId>,
    /// Those of the others whom the user blocks.
    pub blocking: HashSet<UserId>,
}

/// One page of users, newest relation first.
#[derive(Debug, Clone)]
pub struct Page {
    /// The users.
    pub users: Vec<UserSummary>,
    /// The cursor for the next page, if there is one.
    pub next_cursor: Option<i64>,
}

/// Stoa's persistence.
#[async_trait]
pub trait Store: Social + Community + Clubs + Backchannel + Recordings + Webhooks + Send + Sync + 'static {
    /// Creates an invite that no user's quota pays for (the admin CLI's), good for `uses` sign-ups.
    async fn create_admin_invite(&self, uses: u32) -> Result<String, StoreError>;
    /// On a database with no account yet, the one-time invite that makes the first account an admin
    /// (created once, then the same code until it is used). `None` once anyone has signed up.
    async fn bootstrap_invite(&self) -> Result<Option<String>, StoreError>;
    /// Creates a single-use invite paid for by `user`'s quota.
    async fn create_user_invite(&self, user: UserId, quota: u32) -> Result<String, StoreError>;
    /// The invites `user` created, newest first.
    async fn invites_of(&self, user: UserId) -> Result<Vec<InviteRecord>, StoreError>;

    /// Spends an invite and creates the account, atomically.
    async fn sign_up(&self, new: NewAccount) -> Result<Account, StoreError>;
    /// An account and its password hash, by username in any case.
    async fn credentials(&self, username: &str) -> Result<Option<(Account, String)>, StoreError>;
    /// An account by ID.
    async fn account(&self, id: UserId) -> Result<Option<Account>, StoreError>;
    /// Changes the display name and/or bio.
    async fn update_account(
        &self,
        id: UserId,
        display_name: Option<&str>,
        bio: Option<&str>,
    ) -> Result<Account, StoreError>;
    /// Accounts by username; unknown names are left out.
    async fn resolve_usernames(&self, usernames: &[String]) -> Result<Vec<UserSummary>, StoreError>;

    /// Records a session by the hash of its token, with the device's user agent.
    async fn create_session(&self, user: UserId, token_hash: &str, user_agent: &str) -> Result<(), StoreError>;
    /// The account a session token hash belongs to, if the session has not expired (30 days unused, or a
    /// year after it began) and the account is neither suspended nor deleted; using it counts as use.
    async fn session_account(&self, token_hash: &str) -> Result<Option<Account>, StoreError>;
    /// How `user` relates to each of `others`, and to no one else: which of them follow `user`, block
    /// `user`, and are followed by `user`. Its cost grows with `others`, not with `user`'s social graph (a
    /// point look-up per pair), so the hallway costs the same for someone who follows five people or five
    /// thousand.
    async fn relations_among(&self, user: UserId, others: &[UserId]) -> Result<Among, StoreError>;
    /// Which of `others` `user` follows and which `user` blocks, and no one else: what a room needs when
    /// `user` comes on stage. Its cost grows with `others`, not with `user`'s social graph.
    async fn outgoing_among(&self, user: UserId, others: &[UserId]) -> Result<Outgoing, StoreError>;
    /// Revokes a session.
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
    /// Revokes every session of a user ("sign out everywhere"). Returns how many there were.
    async fn delete_sessions_of(&self, user: UserId) -> Result<u64, StoreError>;

    /// `username`'s profile as `viewer` sees it.
    async fn profile(&self, viewer: UserId, username: &str) -> Result<Option<Profile>, StoreError>;
    /// `follower` follows `followee`. Refused with [`StoreError::Blocked`] if either blocks the other.
    /// Returns whether the follow is new.
    async fn follow(&self, follower: UserId, followee: UserId) -> Result<bool, StoreError>;
    /// `follower` stops following `followee`.
    async fn unfollow(&self, follower: UserId, followee: UserId) -> Result<(), StoreError>;
    /// `blocker` blocks `blocked`, and the follows between them in both directions are removed.
    async fn block(&self, blocker: UserId, blocked: UserId) -> Result<(), StoreError>;
    /// `blocker` unblocks `blocked`.
    async fn unblock(&self, blocker: UserId, blocked: UserId) -> Result<(), StoreError>;
    /// Who follows `user`, newest first; `cursor` from the previous page.
    async fn followers(&self, user: UserId, cursor: Option<i64>, limit: u32) -> Result<Page, StoreError>;
    /// Whom `user` follows, newest first.
    async fn following(&self, user: UserId, cursor: Option<i64>, limit: u32) -> Result<Page, StoreError>;

    /// Records a new room.
    async fn create_room(&self, room: &RoomRecord) -> Result<(), StoreError>;
    /// Records a room's end.
    async fn end_room(&self, room: &RoomId) -> Result<(), StoreError>;
    /// How many rooms `creator` started that have not ended.
    async fn live_rooms_of(&self, creator: UserId) -> Result<u32, StoreError>;
    /// Marks every room not yet ended as ended. Returns how many.
    async fn end_all_rooms(&self) -> Result<u64, StoreError>;
    /// Keeps a live room's lasting state (opaque to the store: the room's own JSON).
    async fn save_room_state(&self, room: &RoomId, state: &str) -> Result<(), StoreError>;
    /// The rooms not ended, with their lasting state if any was written: what a restart brings back.
    async fn unended_rooms(&self) -> Result<Vec<(RoomId, Option<String>)>, StoreError>;
    /// Takes or renews the lease on a live room for `node` until `until_ms` (Unix milliseconds): granted if
    /// the room has no owner, is already `node`'s, or its owner's lease ran out before `now_ms`. False if
    /// another node holds it, or the room ended.
    async fn claim_room(&self, room: &RoomId, node: &str, now_ms: i64, until_ms: i64) -> Result<bool, StoreError>;
    /// Renews every lease `node` holds until `until_ms`; returns the rooms it still holds.
    async fn renew_leases(&self, node: &str, until_ms: i64) -> Result<Vec<RoomId>, StoreError>;
    /// The node that holds a live room's lease and until when, if any does.
    async fn room_owner(&self, room: &RoomId) -> Result<Option<(String, i64)>, StoreError>;
    /// The rooms not ended that `node` may take over: its own, those without an owner, and those whose
    /// owner's lease ran out before `now_ms`; with their lasting state.
    async fn orphaned_rooms(&self, node: &str, now_ms: i64) -> Result<Vec<(RoomId, Option<String>)>, StoreError>;

    /// For benchmarks and tests: accounts with these usernames and display names that cannot sign in (no
    /// password hash verifies), made in one transaction. Returns their IDs in order.
    #[doc(hidden)]
    async fn seed_users(&self, names: &[(String, String)]) -> Result<Vec<UserId>, StoreError>;
    /// For benchmarks and tests: each of `followers` follows `followee`, in one transaction.
    #[doc(hidden)]
    async fn seed_follows(&self, followers: &[UserId], followee: UserId) -> Result<(), StoreError>;

    /// A server setting.
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets a server setting.
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// A server setting, set to `value` first if it has none: of several nodes racing to set it, the first
    /// wins and all read the same.
    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError>;
}

/// Opens the store: the Postgres database at `database` (`postgres://...`) if one is given, else SQLite in
/// the data folder `data`. Either way the embedded migrations are applied first.
pub async fn open(data: &Path, database: Option<&str>) -> Result<Arc<dyn Store>, StoreError> {
    match database {
        None => Ok(Arc::new(SqliteStore::open(data).await?)),
        Some(url) if is_postgres_url(url) => Ok(Arc::new(PgStore::connect(url).await?)),
        Some(other) => Err(StoreError::UnknownDatabase(redact(other))),
    }
}

/// [`open`] with the migrations in `migrations` instead of the embedded ones: for the test of a migration
/// that fails.
#[doc(hidden)]
pub async fn open_with_migrations(
    data: &Path,
    database: Option<&str>,
    migrations: &Path,
) -> Result<Arc<dyn Store>, StoreError> {
    let migrator = sqlx::migrate::Migrator::new(migrations).await.map_err(sqlx::Error::from)?;
    match database {
        None => Ok(Arc::new(SqliteStore::open_migrated(data, migrator).await?)),
        Some(url) if is_postgres_url(url) => Ok(Arc::new(PgStore::connect_migrated(url, migrator).await?)),
        Some(other) => Err(StoreError::UnknownDatabase(redact(other))),
    }
}

/// Whether `url` names a Postgres database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A database URL fit for logs and errors: its password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// A fresh random code of `len` characters from `[a-z0-9]`, from the operating system's generator.
pub fn random_code(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    // 256 is not a multiple of 36, so the modulo is very slightly biased; for 12+ characters the codes
    // still carry over 60 bits of entropy, which is what matters for unguessable invite and room IDs.
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// For tests: when `STOA_TEST_POSTGRES` names a Postgres server's socket folder (as the test command sets it,
/// see `scripts/with-postgres`), a fresh, empty database on it, by URL; else `None`, for SQLite. Each call
/// makes a new database, so that tests never share one.
#[doc(hidden)]
pub fn test_database() -> Option<String> {
    let socket = std::env::var("STOA_TEST_POSTGRES").ok().filter(|s| !s.is_empty())?;
    let url = |db: &str| format!("postgres://postgres@localhost/{db}?host={socket}");
    let name = format!("stoa_test_{}", random_code(12));
    let admin = url("postgres");
    let create = format!("CREATE DATABASE {name}");
    // Callers may be inside a runtime or not: a thread of its own with its own runtime serves both.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("the test Postgres answers");
            sqlx::query(&create).execute(&mut conn).await.expect("a test database is created");
        })
    })
    .join()
    .expect("the test database's thread");
    Some(url(&name))
}
