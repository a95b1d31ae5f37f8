//! [`SqliteStore`]: the embedded default, one SQLite file in WAL mode.

use crate::{Account, Among, InviteRecord, NewAccount, Outgoing, Page, RoomRecord, Store, StoreError, random_code};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use stoa_proto::{Profile, RoomId, UserId, UserSummary, Visibility};

/// Invite codes: 12 characters of `[a-z0-9]`, about 62 bits, unguessable by trying.
const INVITE_CODE_LEN: usize = 12;

/// The store over one SQLite database file.
///
/// Every transaction here writes, and begins `IMMEDIATE`: it takes the write lock first, waiting its turn
/// under the busy timeout. A deferred transaction that reads and then writes fails at once with
/// `SQLITE_BUSY` in WAL mode if another connection wrote in between (its snapshot is stale), which the
/// notification worker's batches made common.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Taken by every write: SQLite has one writer at a time, and writers that queue here are woken the
    /// moment the one before commits, in order, where writers left to SQLite's busy handler sleep and poll
    /// (1, 2, 5, 10 ms...), which made a request that met a notification batch wait several milliseconds.
    /// Other processes (the admin CLI) still meet the busy handler.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl SqliteStore {
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The right to write, in turn.
    pub(crate) async fn write(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    /// For benchmarks and tests: accounts with these usernames and display names that cannot sign in (no
    /// password hash verifies), made in one transaction. Returns their IDs in order.
    #[doc(hidden)]
    pub async fn seed_users(&self, names: &[(String, String)]) -> Result<Vec<UserId>, StoreError> {
        let _write = self.write().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut ids = Vec::with_capacity(names.len());
        for (username, display_name) in names {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO users (username, display_name, password_hash, created_at) VALUES (?, ?, '!', ?) RETURNING id",
            )
            .bind(username)
            .bind(display_name)
            .bind(now())
            .fetch_one(&mut *tx)
            .await?;
            ids.push(UserId(id));
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// For benchmarks and tests: each of `followers` follows `followee`, in one transaction.
    #[doc(hidden)]
    pub async fn seed_follows(&self, followers: &[UserId], followee: UserId) -> Result<(), StoreError> {
        let _write = self.write().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for f in followers {
            sqlx::query("INSERT OR IGNORE INTO follows (follower, followee, created_at) VALUES (?, ?, ?)")
                .bind(f.0)
                .bind(followee.0)
                .bind(now())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A session unused for this long is over.
pub const SESSION_IDLE_SECS: i64 = 30 * 24 * 3600;
/// A session this old is over, however much it is used.
pub const SESSION_MAX_SECS: i64 = 365 * 24 * 3600;
/// How stale a session's last use may be before reading it writes the new time: an hour, so an active user
/// costs one write an hour rather than one per request, and the idle limit is still kept to the hour.
const SESSION_TOUCH_SECS: i64 = 3600;

pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub(crate) fn visibility_str(v: Visibility) -> &'static str {
    match v {
        Visibility::Open => "open",
        Visibility::Social => "social",
        Visibility::Closed => "closed",
    }
}

/// The one place a unique-key violation becomes a domain error.
fn on_unique(e: sqlx::Error, err: StoreError) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => err,
        _ => StoreError::Database(e),
    }
}

pub(crate) const ACCOUNT_COLUMNS: &str = "u.id, u.username, u.display_name, u.bio, u.is_admin, n.id, n.username, n.display_name, \
     u.avatar_version, u.links, CASE WHEN u.suspended_at IS NULL THEN NULL ELSE COALESCE(u.suspended_reason, '') END";
/// How many columns [`ACCOUNT_COLUMNS`] has; a query's own columns follow.
pub(crate) const ACCOUNT_COLUMN_COUNT: usize = 11;

/// The links column: a JSON array of strings (SQLite's `json_array` wrote it); anything else is no links.
fn parse_links(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// Where a user's avatar is served (256 px; `?size=64` for the small one). The version makes the address
/// change with each upload, so that it can be cached for good.
pub fn avatar_path(user: UserId, version: i64) -> String {
    format!("/avatars/{user}/{version}.jpg")
}

pub(crate) fn account_from_row(row: &sqlx::sqlite::SqliteRow) -> Account {
    let nominated_by = row.get::<Option<i64>, _>(5).map(|id| UserSummary {
        id: UserId(id),
        username: row.get(6),
        display_name: row.get(7),
    });
    Account {
        id: UserId(row.get(0)),
        username: row.get(1),
        display_name: row.get(2),
        bio: row.get(3),
        is_admin: row.get(4),
        nominated_by,
        avatar_version: row.get(8),
        links: parse_links(row.get::<&str, _>(9)),
        suspended: row.get(10),
    }
}

pub(crate) fn summary_from_row(row: &sqlx::sqlite::SqliteRow) -> UserSummary {
    UserSummary { id: UserId(row.get(0)), username: row.get(1), display_name: row.get(2) }
}

impl SqliteStore {
    /// Opens (creating if needed) `stoa.db` in `dir`, and applies the embedded migrations.
    pub async fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(dir.join("stoa.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL is durable across application crashes, and much faster than FULL.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // The admin CLI writes while the server runs; a writer waits for the other rather than failing.
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(SqliteStore { pool, writer: Default::default() })
    }

    async fn account_where(&self, clause: &str, bind: impl ToString) -> Result<Option<Account>, StoreError> {
        let sql =
            format!("SELECT {ACCOUNT_COLUMNS} FROM users u LEFT JOIN users n ON n.id = u.invited_by WHERE {clause}");
        let row = sqlx::query(&sql).bind(bind.to_string()).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(account_from_row))
    }

    async fn page(&self, sql: &str, user: UserId, cursor: Option<i64>, limit: u32) -> Result<Page, StoreError> {
        let limit = limit.clamp(1, 200);
        let rows = sqlx::query(sql)
            .bind(user.0)
            .bind(cursor.unwrap_or(i64::MAX))
            .bind(limit as i64 + 1)
            .fetch_all(&self.pool)
            .await?;
        let more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        Ok(Page {
            users: rows.iter().map(summary_from_row).collect(),
            next_cursor: if more { rows.last().map(|r| r.get::<i64, _>(3)) } else { None },
        })
    }

    /// What each of `selects` (a query on `?1`, the user, ending in `IN`) finds among `others`, `user` left
    /// out, in one statement per 500 of `others`: a point look-up per pair, so the cost follows `others`,
    /// never the size of `user`'s graph. One round trip to the database for all the sets, since a join
    /// storm asks this for every joiner.
    async fn among<const N: usize>(
        &self,
        selects: [&str; N],
        user: UserId,
        others: &[UserId],
    ) -> Result<[HashSet<UserId>; N], StoreError> {
        let mut others: Vec<i64> = others.iter().map(|u| u.0).filter(|o| *o != user.0).collect();
        others.sort_unstable();
        others.dedup();
        let mut found: [HashSet<UserId>; N] = std::array::from_fn(|_| HashSet::new());
        // SQLite takes at most 32,766 parameters a statement; 500 keeps each statement small.
        for chunk in others.chunks(500) {
            let list = (0..chunk.len()).map(|i| format!("?{}", i + 2)).collect::<Vec<_>>().join(",");
            let sql = selects
                .iter()
                .enumerate()
                .map(|(tag, select)| format!("SELECT {tag}, x FROM ({select} ({list}))"))
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            let mut query = sqlx::query_as::<_, (i64, i64)>(&sql).bind(user.0);
            for other in chunk {
                query = query.bind(*other);
            }
            for (tag, id) in query.fetch_all(&self.pool).await? {
                if let Some(set) = usize::try_from(tag).ok().and_then(|t| found.get_mut(t)) {
                    set.insert(UserId(id));
                }
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_admin_invite(&self, uses: u32) -> Result<String, StoreError> {
        let _write = self.write().await;
        let code = random_code(INVITE_CODE_LEN);
        sqlx::query("INSERT INTO invites (code, created_by, uses_left, created_at) VALUES (?, NULL, ?, ?)")
            .bind(&code)
            .bind(uses.max(1) as i64)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(code)
    }

    async fn bootstrap_invite(&self) -> Result<Option<String>, StoreError> {
        let _write = self.write().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&mut *tx).await?;
        if users > 0 {
            return Ok(None);
        }
        let existing: Option<(String,)> =
            sqlx::query_as("SELECT code FROM invites WHERE makes_admin = 1 AND uses_left > 0 LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
        let code = match existing {
            Some((code,)) => code,
            None => {
                let code = random_code(INVITE_CODE_LEN);
                sqlx::query(
                    "INSERT INTO invites (code, created_by, uses_left, makes_admin, created_at) VALUES (?, NULL, 1, 1, ?)",
                )
                .bind(&code)
                .bind(now())
                .execute(&mut *tx)
                .await?;
                code
            }
        };
        tx.commit().await?;
        Ok(Some(code))
    }

    async fn create_user_invite(&self, user: UserId, quota: u32) -> Result<String, StoreError> {
        let _write = self.write().await;
        // The count and the insert share one write transaction, so two requests at once cannot both take
        // the last invite of a quota.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE users SET id = id WHERE id = ?").bind(user.0).execute(&mut *tx).await?;
        let (made,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM invites WHERE created_by = ?")
            .bind(user.0)
            .fetch_one(&mut *tx)
            .await?;
        if made >= quota as i64 {
            return Err(StoreError::QuotaExhausted);
        }
        let code = random_code(INVITE_CODE_LEN);
        sqlx::query("INSERT INTO invites (code, created_by, uses_left, created_at) VALUES (?, ?, 1, ?)")
            .bind(&code)
            .bind(user.0)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(code)
    }

    async fn invites_of(&self, user: UserId) -> Result<Vec<InviteRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.code, u.id, u.username, u.display_name FROM invites i \
             LEFT JOIN users u ON u.invite_code = i.code \
             WHERE i.created_by = ? ORDER BY i.created_at DESC, i.rowid DESC",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| InviteRecord {
                code: r.get(0),
                used_by: r.get::<Option<i64>, _>(1).map(|id| UserSummary {
                    id: UserId(id),
                    username: r.get(2),
                    display_name: r.get(3),
                }),
            })
            .collect())
    }

    async fn sign_up(&self, new: NewAccount) -> Result<Account, StoreError> {
        let _write = self.write().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Spend the invite first: the conditional UPDATE takes the write lock, so two sign-ups racing for
        // the last use of a code cannot both succeed.
        let spent = sqlx::query(
            "UPDATE invites SET uses_left = uses_left - 1 WHERE code = ? AND uses_left > 0 \
             RETURNING created_by, makes_admin",
        )
        .bind(&new.invite)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(spent) = spent else {
            return Err(StoreError::InviteInvalid);
        };
        let invited_by: Option<i64> = spent.get(0);
        let makes_admin: bool = spent.get(1);
        let id: (i64,) = sqlx::query_as(
            "INSERT INTO users (username, display_name, password_hash, is_admin, invited_by, invite_code, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&new.username)
        .bind(&new.display_name)
        .bind(&new.password_hash)
        .bind(makes_admin)
        .bind(invited_by)
        .bind(&new.invite)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| on_unique(e, StoreError::UsernameTaken))?;
        tx.commit().await?;
        self.account(UserId(id.0)).await?.ok_or(StoreError::NoSuchUser)
    }

    async fn credentials(&self, username: &str) -> Result<Option<(Account, String)>, StoreError> {
        let Some(account) = self.account_where("u.username = ?", username).await? else {
            return Ok(None);
        };
        let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users WHERE id = ?")
            .bind(account.id.0)
            .fetch_one(&self.pool)
            .await?;
        Ok(Some((account, hash)))
    }

    async fn account(&self, id: UserId) -> Result<Option<Account>, StoreError> {
        self.account_where("u.id = ?", id.0).await
    }

    async fn update_account(
        &self,
        id: UserId,
        display_name: Option<&str>,
        bio: Option<&str>,
    ) -> Result<Account, StoreError> {
        let _write = self.write().await;
        sqlx::query("UPDATE users SET display_name = COALESCE(?, display_name), bio = COALESCE(?, bio) WHERE id = ?")
            .bind(display_name)
            .bind(bio)
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        self.account(id).await?.ok_or(StoreError::NoSuchUser)
    }

    async fn resolve_usernames(&self, usernames: &[String]) -> Result<Vec<UserSummary>, StoreError> {
        let mut out = Vec::with_capacity(usernames.len());
        for name in usernames {
            let row = sqlx::query("SELECT id, username, display_name FROM users WHERE username = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
            out.extend(row.as_ref().map(summary_from_row));
        }
        Ok(out)
    }

    async fn create_session(&self, user: UserId, token_hash: &str, user_agent: &str) -> Result<(), StoreError> {
        let _write = self.write().await;
        let now = now();
        // Expired sessions of this user go as a new one begins, so the table does not keep dead ones.
        sqlx::query("DELETE FROM sessions WHERE user_id = ? AND (last_used_at <= ? OR created_at <= ?)")
            .bind(user.0)
            .bind(now - SESSION_IDLE_SECS)
            .bind(now - SESSION_MAX_SECS)
            .execute(&self.pool)
            .await?;
        let agent: String = user_agent.chars().filter(|c| !c.is_control()).take(300).collect();
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_used_at, public_id, user_agent) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(now)
        .bind(now)
        .bind(random_code(16))
        .bind(agent)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session_account(&self, token_hash: &str) -> Result<Option<Account>, StoreError> {
        let now = now();
        // One statement for the session and its account: every authenticated request asks this.
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, s.created_at, s.last_used_at FROM sessions s JOIN users u ON u.id = s.user_id \
             LEFT JOIN users n ON n.id = u.invited_by \
             WHERE s.token_hash = ? AND u.suspended_at IS NULL AND u.deleted_at IS NULL"
        );
        let row = sqlx::query(&sql).bind(token_hash).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        let (created, used): (i64, i64) = (row.get(ACCOUNT_COLUMN_COUNT), row.get(ACCOUNT_COLUMN_COUNT + 1));
        if used <= now - SESSION_IDLE_SECS || created <= now - SESSION_MAX_SECS {
            let _write = self.write().await;
            sqlx::query("DELETE FROM sessions WHERE token_hash = ?").bind(token_hash).execute(&self.pool).await?;
            return Ok(None);
        }
        if used <= now - SESSION_TOUCH_SECS {
            let _write = self.write().await;
            sqlx::query("UPDATE sessions SET last_used_at = ? WHERE token_hash = ?")
                .bind(now)
                .bind(token_hash)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(account_from_row(&row)))
    }

    async fn delete_sessions_of(&self, user: UserId) -> Result<u64, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = ?").bind(user.0).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    async fn profile(&self, viewer: UserId, username: &str) -> Result<Option<Profile>, StoreError> {
        let Some(account) = self.account_where("u.username = ?", username).await? else {
            return Ok(None);
        };
        let id = account.id.0;
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM follows WHERE followee = ?1), \
               (SELECT COUNT(*) FROM follows WHERE follower = ?1), \
               EXISTS(SELECT 1 FROM follows WHERE follower = ?2 AND followee = ?1), \
               EXISTS(SELECT 1 FROM blocks WHERE blocker = ?2 AND blocked = ?1), \
               EXISTS(SELECT 1 FROM follows WHERE follower = ?1 AND followee = ?2)",
        )
        .bind(id)
        .bind(viewer.0)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(Profile {
            id: account.id,
            username: account.username,
            display_name: account.display_name,
            bio: account.bio,
            nominated_by: account.nominated_by,
            followers: row.get(0),
            following: row.get(1),
            you_follow: row.get(2),
            you_block: row.get(3),
            follows_you: row.get(4),
            avatar: (account.avatar_version > 0).then(|| avatar_path(account.id, account.avatar_version)),
            links: account.links,
        }))
    }

    async fn follow(&self, follower: UserId, followee: UserId) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let (blocked,): (bool,) = sqlx::query_as(
            "SELECT EXISTS(SELECT 1 FROM blocks WHERE (blocker = ?1 AND blocked = ?2) OR (blocker = ?2 AND blocked = ?1))",
        )
        .bind(follower.0)
        .bind(followee.0)
        .fetch_one(&mut *tx)
        .await?;
        if blocked {
            return Err(StoreError::Blocked);
        }
        let done = sqlx::query("INSERT OR IGNORE INTO follows (follower, followee, created_at) VALUES (?, ?, ?)")
            .bind(follower.0)
            .bind(followee.0)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn unfollow(&self, follower: UserId, followee: UserId) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query("DELETE FROM follows WHERE follower = ? AND followee = ?")
            .bind(follower.0)
            .bind(followee.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn block(&self, blocker: UserId, blocked: UserId) -> Result<(), StoreError> {
        let _write = self.write().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("INSERT OR IGNORE INTO blocks (blocker, blocked, created_at) VALUES (?, ?, ?)")
            .bind(blocker.0)
            .bind(blocked.0)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM follows WHERE (follower = ?1 AND followee = ?2) OR (follower = ?2 AND followee = ?1)")
            .bind(blocker.0)
            .bind(blocked.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn unblock(&self, blocker: UserId, blocked: UserId) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query("DELETE FROM blocks WHERE blocker = ? AND blocked = ?")
            .bind(blocker.0)
            .bind(blocked.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn followers(&self, user: UserId, cursor: Option<i64>, limit: u32) -> Result<Page, StoreError> {
        self.page(
            "SELECT u.id, u.username, u.display_name, f.id FROM follows f JOIN users u ON u.id = f.follower \
             WHERE f.followee = ? AND f.id < ? ORDER BY f.id DESC LIMIT ?",
            user,
            cursor,
            limit,
        )
        .await
    }

    async fn following(&self, user: UserId, cursor: Option<i64>, limit: u32) -> Result<Page, StoreError> {
        self.page(
            "SELECT u.id, u.username, u.display_name, f.id FROM follows f JOIN users u ON u.id = f.followee \
             WHERE f.follower = ? AND f.id < ? ORDER BY f.id DESC LIMIT ?",
            user,
            cursor,
            limit,
        )
        .await
    }

    async fn relations_among(&self, user: UserId, others: &[UserId]) -> Result<Among, StoreError> {
        let [followed_by, blocked_by, following] = self
            .among(
                [
                    "SELECT follower AS x FROM follows WHERE followee = ?1 AND follower IN",
                    "SELECT blocker AS x FROM blocks WHERE blocked = ?1 AND blocker IN",
                    "SELECT followee AS x FROM follows WHERE follower = ?1 AND followee IN",
                ],
                user,
                others,
            )
            .await?;
        Ok(Among { followed_by, blocked_by, following })
    }

    async fn outgoing_among(&self, user: UserId, others: &[UserId]) -> Result<Outgoing, StoreError> {
        let [following, blocking] = self
            .among(
                [
                    "SELECT followee AS x FROM follows WHERE follower = ?1 AND followee IN",
                    "SELECT blocked AS x FROM blocks WHERE blocker = ?1 AND blocked IN",
                ],
                user,
                others,
            )
            .await?;
        Ok(Outgoing { following, blocking })
    }

    async fn create_room(&self, room: &RoomRecord) -> Result<(), StoreError> {
        let _write = self.write().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("INSERT INTO rooms (id, title, visibility, creator, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&room.id.0)
            .bind(&room.title)
            .bind(visibility_str(room.visibility))
            .bind(room.creator.0)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn end_room(&self, room: &RoomId) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query("UPDATE rooms SET ended_at = ? WHERE id = ? AND ended_at IS NULL")
            .bind(now())
            .bind(&room.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn end_all_rooms(&self) -> Result<u64, StoreError> {
        let _write = self.write().await;
        let done =
            sqlx::query("UPDATE rooms SET ended_at = ? WHERE ended_at IS NULL").bind(now()).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn save_room_state(&self, room: &RoomId, state: &str) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query("UPDATE rooms SET lasting = ? WHERE id = ? AND ended_at IS NULL")
            .bind(state)
            .bind(&room.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn unended_rooms(&self) -> Result<Vec<(RoomId, Option<String>)>, StoreError> {
        let rows: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT id, lasting FROM rooms WHERE ended_at IS NULL").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|(id, lasting)| (RoomId(id), lasting)).collect())
    }

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT value FROM settings WHERE key = ?").bind(key).fetch_optional(&self.pool).await?;
        Ok(row.map(|(v,)| v))
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
