//! [`Store`] in SQL, for both backends: this file is compiled once for SQLite and once for Postgres (see
//! `lib.rs`), each time against its own `super::backend`, so that the two cannot drift. The SQL here is the
//! dialect both accept: `$N` parameters, `ON CONFLICT`, `RETURNING`, truth values as booleans; what differs
//! (full-text search, lists of IDs, how a write transaction begins) comes from the backend.

use super::backend::{Conn, DbRow, This};
use crate::common::*;
use crate::{Account, Among, InviteRecord, NewAccount, Outgoing, Page, RoomRecord, Store, StoreError, random_code};
use async_trait::async_trait;
use sqlx::Row;
use std::collections::HashSet;
use stoa_proto::{Profile, RoomId, UserId, UserSummary};

pub(crate) const ACCOUNT_COLUMNS: &str = "u.id, u.username, u.display_name, u.bio, u.is_admin, n.id, n.username, n.display_name, \
     u.avatar_version, u.links, CASE WHEN u.suspended_at IS NULL THEN NULL ELSE COALESCE(u.suspended_reason, '') END, \
     u.language";
/// How many columns [`ACCOUNT_COLUMNS`] has; a query's own columns follow.
pub(crate) const ACCOUNT_COLUMN_COUNT: usize = 12;

pub(crate) fn account_from_row(row: &DbRow) -> Account {
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
        language: row.get(11),
    }
}

pub(crate) fn summary_from_row(row: &DbRow) -> UserSummary {
    UserSummary { id: UserId(row.get(0)), username: row.get(1), display_name: row.get(2) }
}

impl This {
    async fn account_named(&self, username: &str) -> Result<Option<Account>, StoreError> {
        // Usernames are kept in lower case; SQLite's NOCASE column would forgive a caller that forgot, and
        // Postgres's plain text would not.
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM users u LEFT JOIN users n ON n.id = u.invited_by WHERE u.username = lower($1)"
        );
        let row = sqlx::query(&sql).bind(username).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(account_from_row))
    }

    async fn page(&self, sql: &str, user: UserId, cursor: Option<i64>, limit: u32) -> Result<Page, StoreError> {
        let limit = limit.clamp(1, 200);
        let rows = sqlx::query(sql)
            .bind(user.0)
            .bind(cursor.unwrap_or(i64::MAX))
            .bind(limit as i64 + 1)
            .fetch_all(self.pool())
            .await?;
        let more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        Ok(Page {
            users: rows.iter().map(summary_from_row).collect(),
            next_cursor: if more { rows.last().map(|r| r.get::<i64, _>(3)) } else { None },
        })
    }

    /// What each of `selects` (a query on `$1`, the user, ending in `IN`) finds among `others`, `user` left
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
            let list = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect::<Vec<_>>().join(",");
            let sql = selects
                .iter()
                .enumerate()
                .map(|(tag, select)| format!("SELECT CAST({tag} AS BIGINT), x FROM ({select} ({list})) s{tag}"))
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            let mut query = sqlx::query_as::<_, (i64, i64)>(&sql).bind(user.0);
            for other in chunk {
                query = query.bind(*other);
            }
            let rows = query.fetch_all(&mut *self.reader().await?).await?;
            for (tag, id) in rows {
                if let Some(set) = usize::try_from(tag).ok().and_then(|t| found.get_mut(t)) {
                    set.insert(UserId(id));
                }
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl Store for This {
    /// For benchmarks and tests: accounts with these usernames and display names that cannot sign in (no
    /// password hash verifies), made in one transaction. Returns their IDs in order.
    async fn seed_users(&self, names: &[(String, String)]) -> Result<Vec<UserId>, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let mut ids = Vec::with_capacity(names.len());
        for (username, display_name) in names {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO users (username, display_name, password_hash, created_at) VALUES ($1, $2, '!', $3) RETURNING id",
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
    async fn seed_follows(&self, followers: &[UserId], followee: UserId) -> Result<(), StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        for f in followers {
            sqlx::query(
                "INSERT INTO follows (follower, followee, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(f.0)
            .bind(followee.0)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn create_admin_invite(&self, uses: u32) -> Result<String, StoreError> {
        let _write = self.write().await;
        let code = random_code(INVITE_CODE_LEN);
        sqlx::query("INSERT INTO invites (code, created_by, uses_left, created_at) VALUES ($1, NULL, $2, $3)")
            .bind(&code)
            .bind(uses.max(1) as i64)
            .bind(now())
            .execute(self.pool())
            .await?;
        Ok(code)
    }

    async fn bootstrap_invite(&self) -> Result<Option<String>, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&mut *tx).await?;
        if users > 0 {
            return Ok(None);
        }
        let existing: Option<(String,)> =
            sqlx::query_as("SELECT code FROM invites WHERE makes_admin AND uses_left > 0 LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
        let code = match existing {
            Some((code,)) => code,
            None => {
                let code = random_code(INVITE_CODE_LEN);
                sqlx::query(
                    "INSERT INTO invites (code, created_by, uses_left, makes_admin, created_at) VALUES ($1, NULL, 1, TRUE, $2)",
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
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET id = id WHERE id = $1").bind(user.0).execute(&mut *tx).await?;
        let (made,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM invites WHERE created_by = $1")
            .bind(user.0)
            .fetch_one(&mut *tx)
            .await?;
        if made >= quota as i64 {
            return Err(StoreError::QuotaExhausted);
        }
        let code = random_code(INVITE_CODE_LEN);
        sqlx::query("INSERT INTO invites (code, created_by, uses_left, created_at) VALUES ($1, $2, 1, $3)")
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
             WHERE i.created_by = $1 ORDER BY i.created_at DESC, i.rowid DESC",
        )
        .bind(user.0)
        .fetch_all(self.pool())
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
        let mut tx = self.begin_write().await?;
        // Spend the invite first: the conditional UPDATE takes the write lock, so two sign-ups racing for
        // the last use of a code cannot both succeed.
        let spent = sqlx::query(
            "UPDATE invites SET uses_left = uses_left - 1 WHERE code = $1 AND uses_left > 0 \
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
        // A deleted account's username is not to be had for a while.
        let (reserved,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM users WHERE former_username = $1 AND deleted_at > $2")
                .bind(&new.username)
                .bind(now() - crate::USERNAME_RESERVED_SECS)
                .fetch_one(&mut *tx)
                .await?;
        if reserved > 0 {
            return Err(StoreError::UsernameTaken);
        }
        let id: (i64,) = sqlx::query_as(
            "INSERT INTO users (username, display_name, password_hash, is_admin, invited_by, invite_code, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
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
        let Some(account) = self.account_named(username).await? else {
            return Ok(None);
        };
        let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
            .bind(account.id.0)
            .fetch_one(self.pool())
            .await?;
        Ok(Some((account, hash)))
    }

    async fn account(&self, id: UserId) -> Result<Option<Account>, StoreError> {
        let sql =
            format!("SELECT {ACCOUNT_COLUMNS} FROM users u LEFT JOIN users n ON n.id = u.invited_by WHERE u.id = $1");
        let row = sqlx::query(&sql).bind(id.0).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(account_from_row))
    }

    async fn update_account(
        &self,
        id: UserId,
        display_name: Option<&str>,
        bio: Option<&str>,
    ) -> Result<Account, StoreError> {
        let _write = self.write().await;
        sqlx::query(
            "UPDATE users SET display_name = COALESCE($1, display_name), bio = COALESCE($2, bio) WHERE id = $3",
        )
        .bind(display_name)
        .bind(bio)
        .bind(id.0)
        .execute(self.pool())
        .await?;
        self.account(id).await?.ok_or(StoreError::NoSuchUser)
    }

    async fn resolve_usernames(&self, usernames: &[String]) -> Result<Vec<UserSummary>, StoreError> {
        let mut out = Vec::with_capacity(usernames.len());
        for name in usernames {
            let row = sqlx::query("SELECT id, username, display_name FROM users WHERE username = lower($1)")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
            out.extend(row.as_ref().map(summary_from_row));
        }
        Ok(out)
    }

    async fn create_session(&self, user: UserId, token_hash: &str, user_agent: &str) -> Result<(), StoreError> {
        let _write = self.write().await;
        let now = now();
        // Expired sessions of this user go as a new one begins, so the table does not keep dead ones.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND (last_used_at <= $2 OR created_at <= $3)")
            .bind(user.0)
            .bind(now - SESSION_IDLE_SECS)
            .bind(now - SESSION_MAX_SECS)
            .execute(self.pool())
            .await?;
        let agent: String = user_agent.chars().filter(|c| !c.is_control()).take(300).collect();
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_used_at, public_id, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(now)
        .bind(now)
        .bind(random_code(16))
        .bind(agent)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn session_account(&self, token_hash: &str) -> Result<Option<Account>, StoreError> {
        let now = now();
        // One statement for the session and its account: every authenticated request asks this.
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, s.created_at, s.last_used_at FROM sessions s JOIN users u ON u.id = s.user_id \
             LEFT JOIN users n ON n.id = u.invited_by \
             WHERE s.token_hash = $1 AND u.suspended_at IS NULL AND u.deleted_at IS NULL"
        );
        let row = sqlx::query(&sql).bind(token_hash).fetch_optional(&mut *self.reader().await?).await?;
        let Some(row) = row else { return Ok(None) };
        let (created, used): (i64, i64) = (row.get(ACCOUNT_COLUMN_COUNT), row.get(ACCOUNT_COLUMN_COUNT + 1));
        if used <= now - SESSION_IDLE_SECS || created <= now - SESSION_MAX_SECS {
            let _write = self.write().await;
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(self.pool()).await?;
            return Ok(None);
        }
        if used <= now - SESSION_TOUCH_SECS {
            let _write = self.write().await;
            sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(token_hash)
                .execute(self.pool())
                .await?;
        }
        Ok(Some(account_from_row(&row)))
    }

    async fn delete_sessions_of(&self, user: UserId) -> Result<u64, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.0).execute(self.pool()).await?;
        Ok(done.rows_affected())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(self.pool()).await?;
        Ok(())
    }

    async fn profile(&self, viewer: UserId, username: &str) -> Result<Option<Profile>, StoreError> {
        let Some(account) = self.account_named(username).await? else {
            return Ok(None);
        };
        let id = account.id.0;
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM follows WHERE followee = $1), \
               (SELECT COUNT(*) FROM follows WHERE follower = $1), \
               EXISTS(SELECT 1 FROM follows WHERE follower = $2 AND followee = $1), \
               EXISTS(SELECT 1 FROM blocks WHERE blocker = $2 AND blocked = $1), \
               EXISTS(SELECT 1 FROM follows WHERE follower = $1 AND followee = $2)",
        )
        .bind(id)
        .bind(viewer.0)
        .fetch_one(self.pool())
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
        let mut tx = self.begin_write().await?;
        let (blocked,): (bool,) = sqlx::query_as(
            "SELECT EXISTS(SELECT 1 FROM blocks WHERE (blocker = $1 AND blocked = $2) OR (blocker = $2 AND blocked = $1))",
        )
        .bind(follower.0)
        .bind(followee.0)
        .fetch_one(&mut *tx)
        .await?;
        if blocked {
            return Err(StoreError::Blocked);
        }
        let done = sqlx::query(
            "INSERT INTO follows (follower, followee, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
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
        sqlx::query("DELETE FROM follows WHERE follower = $1 AND followee = $2")
            .bind(follower.0)
            .bind(followee.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn block(&self, blocker: UserId, blocked: UserId) -> Result<(), StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO blocks (blocker, blocked, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(blocker.0)
            .bind(blocked.0)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM follows WHERE (follower = $1 AND followee = $2) OR (follower = $2 AND followee = $1)")
            .bind(blocker.0)
            .bind(blocked.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn unblock(&self, blocker: UserId, blocked: UserId) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query("DELETE FROM blocks WHERE blocker = $1 AND blocked = $2")
            .bind(blocker.0)
            .bind(blocked.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn followers(&self, user: UserId, cursor: Option<i64>, limit: u32) -> Result<Page, StoreError> {
        self.page(
            "SELECT u.id, u.username, u.display_name, f.id FROM follows f JOIN users u ON u.id = f.follower \
             WHERE f.followee = $1 AND f.id < $2 ORDER BY f.id DESC LIMIT $3",
            user,
            cursor,
            limit,
        )
        .await
    }

    async fn following(&self, user: UserId, cursor: Option<i64>, limit: u32) -> Result<Page, StoreError> {
        self.page(
            "SELECT u.id, u.username, u.display_name, f.id FROM follows f JOIN users u ON u.id = f.followee \
             WHERE f.follower = $1 AND f.id < $2 ORDER BY f.id DESC LIMIT $3",
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
                    "SELECT follower AS x FROM follows WHERE followee = $1 AND follower IN",
                    "SELECT blocker AS x FROM blocks WHERE blocked = $1 AND blocker IN",
                    "SELECT followee AS x FROM follows WHERE follower = $1 AND followee IN",
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
                    "SELECT followee AS x FROM follows WHERE follower = $1 AND followee IN",
                    "SELECT blocked AS x FROM blocks WHERE blocker = $1 AND blocked IN",
                ],
                user,
                others,
            )
            .await?;
        Ok(Outgoing { following, blocking })
    }

    async fn create_room(&self, room: &RoomRecord) -> Result<(), StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO rooms (id, title, visibility, creator, created_at) VALUES ($1, $2, $3, $4, $5)")
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
        sqlx::query("UPDATE rooms SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(now())
            .bind(&room.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn live_rooms_of(&self, creator: UserId) -> Result<u32, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM rooms WHERE creator = $1 AND ended_at IS NULL")
            .bind(creator.0)
            .fetch_one(self.pool())
            .await?;
        Ok(n as u32)
    }

    async fn end_all_rooms(&self) -> Result<u64, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query("UPDATE rooms SET ended_at = $1 WHERE ended_at IS NULL")
            .bind(now())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    async fn save_room_state(&self, room: &RoomId, state: &str) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query("UPDATE rooms SET lasting = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(state)
            .bind(&room.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn claim_room(&self, room: &RoomId, node: &str, now_ms: i64, until_ms: i64) -> Result<bool, StoreError> {
        // One statement, atomic on both engines: two nodes racing for a lapsed room cannot both win.
        let done = sqlx::query(
            "UPDATE rooms SET owner = $1, lease_until = $2 WHERE id = $3 AND ended_at IS NULL \
             AND (owner IS NULL OR owner = $1 OR lease_until IS NULL OR lease_until < $4)",
        )
        .bind(node)
        .bind(until_ms)
        .bind(&room.0)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn renew_leases(&self, node: &str, until_ms: i64) -> Result<Vec<RoomId>, StoreError> {
        // Only rooms still the node's: one whose lease lapsed and that another node claimed stays theirs.
        let rows: Vec<(String,)> =
            sqlx::query_as("UPDATE rooms SET lease_until = $1 WHERE owner = $2 AND ended_at IS NULL RETURNING id")
                .bind(until_ms)
                .bind(node)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|(id,)| RoomId(id)).collect())
    }

    async fn room_owner(&self, room: &RoomId) -> Result<Option<(String, i64)>, StoreError> {
        let row: Option<(Option<String>, Option<i64>)> =
            sqlx::query_as("SELECT owner, lease_until FROM rooms WHERE id = $1 AND ended_at IS NULL")
                .bind(&room.0)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.and_then(|(owner, until)| Some((owner?, until.unwrap_or(0)))))
    }

    async fn orphaned_rooms(&self, node: &str, now_ms: i64) -> Result<Vec<(RoomId, Option<String>)>, StoreError> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT id, lasting FROM rooms WHERE ended_at IS NULL \
             AND ((owner IS NULL AND created_at < $3) OR owner = $1 OR lease_until < $2)",
        )
        .bind(node)
        .bind(now_ms)
        // A room just recorded has no owner for the moment until its node claims it: not an orphan.
        .bind(now_ms / 1000 - 30)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(id, lasting)| (RoomId(id), lasting)).collect())
    }

    async fn unended_rooms(&self) -> Result<Vec<(RoomId, Option<String>)>, StoreError> {
        let rows: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT id, lasting FROM rooms WHERE ended_at IS NULL").fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(|(id, lasting)| (RoomId(id), lasting)).collect())
    }

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(self.pool()).await?;
        Ok(row.map(|(v,)| v))
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT(key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(self.pool())
            .await?;
        let (value,): (String,) =
            sqlx::query_as("SELECT value FROM settings WHERE key = $1").bind(key).fetch_one(self.pool()).await?;
        Ok(value)
    }
}

pub(super) async fn insert_admin_log(
    tx: &mut Conn,
    admin: Option<UserId>,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO admin_log (admin, action, subject, detail, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(admin.map(|a| a.0))
    .bind(action)
    .bind(subject)
    .bind(detail)
    .bind(now())
    .fetch_one(tx)
    .await?;
    Ok(id)
}
