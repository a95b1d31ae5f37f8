//! [`Backchannel`] in SQL, for both backends (see `core.rs`). A block between two people hides each from
//! the other in every thread: in member lists, in messages, and in counts; it is one clause, [`unblocked`].

use super::backend::{Conn, DbRow, This};
use crate::StoreError;
use crate::backchannel::*;
use crate::common::json_ids;
use async_trait::async_trait;
use sqlx::Row;
use std::collections::HashMap;
use stoa_proto::{UserId, UserSummary};

/// No block stands between the user in column `a` and the one in `b` (SQL expressions).
fn unblocked(a: &str, b: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM blocks bk WHERE (bk.blocker = {a} AND bk.blocked = {b}) \
         OR (bk.blocker = {b} AND bk.blocked = {a}))"
    )
}

const MESSAGE_COLUMNS: &str = "m.id, m.thread_id, u.id, u.username, u.display_name, m.text, m.sent_at, \
     m.deleted_at IS NOT NULL FROM messages m JOIN users u ON u.id = m.sender_id";

fn message_from(row: &DbRow) -> MessageRow {
    let deleted: bool = row.get(7);
    MessageRow {
        id: row.get(0),
        thread: row.get(1),
        sender: UserSummary { id: UserId(row.get(2)), username: row.get(3), display_name: row.get(4) },
        text: if deleted { String::new() } else { row.get(5) },
        sent_at_ms: row.get(6),
        deleted,
    }
}

async fn blocked_between(conn: &mut Conn, a: UserId, b: UserId) -> Result<bool, StoreError> {
    let (blocked,): (bool,) =
        sqlx::query_as(&format!("SELECT NOT {}", unblocked("$1", "$2"))).bind(a.0).bind(b.0).fetch_one(conn).await?;
    Ok(blocked)
}

async fn count(conn: &mut Conn, sql: &str, a: i64, b: i64) -> Result<u32, StoreError> {
    let (n,): (i64,) = sqlx::query_as(sql).bind(a).bind(b).fetch_one(conn).await?;
    Ok(n as u32)
}

/// How many groups `user` is in (or has waiting in their Requests).
async fn groups_of(conn: &mut Conn, user: UserId) -> Result<u32, StoreError> {
    count(
        conn,
        "SELECT COUNT(*) FROM thread_members tm JOIN threads t ON t.id = tm.thread_id \
         WHERE tm.user_id = $1 AND t.kind = 'group' AND tm.state IN ('active', 'request') AND $2 = $2",
        user.0,
        0,
    )
    .await
}

/// Whether `from` may send one more message this minute.
async fn under_message_limit(conn: &mut Conn, from: UserId, now_ms: i64) -> Result<bool, StoreError> {
    let sent =
        count(conn, "SELECT COUNT(*) FROM messages WHERE sender_id = $1 AND sent_at > $2", from.0, now_ms - 60_000)
            .await?;
    Ok(sent < MESSAGES_PER_MINUTE)
}

/// A send's checks in one row (`$1` the thread, `$2` the sender, `$3` the start of the minute): the sender's
/// place in the thread, its kind, a block either way with the other person of a thread of two, that
/// person's suspension or deletion, the sender's messages this minute, the sender's name, and whether all
/// of it allows the message (`allowed`, which the backends' writes are guarded by). No row: the sender is
/// not in the thread.
fn send_look() -> String {
    format!(
        "SELECT l.*, (l.state IN ('active', 'request') AND (l.kind <> 'direct' OR NOT (l.blocked OR l.frozen)) \
           AND l.sent < {MESSAGES_PER_MINUTE}) AS allowed \
         FROM (SELECT s.state, s.kind, EXISTS (SELECT 1 FROM blocks bk WHERE (bk.blocker = $2 AND bk.blocked = s.other) \
                 OR (bk.blocker = s.other AND bk.blocked = $2)) AS blocked, \
               EXISTS (SELECT 1 FROM users o WHERE o.id = s.other \
                 AND (o.suspended_at IS NOT NULL OR o.deleted_at IS NOT NULL)) AS frozen, \
               (SELECT COUNT(*) FROM messages WHERE sender_id = $2 AND sent_at > $3) AS sent, \
               u.username, u.display_name \
             FROM (SELECT tm.state, t.kind, CASE WHEN t.kind = 'direct' THEN (SELECT o.user_id FROM thread_members o \
                     WHERE o.thread_id = t.id AND o.user_id <> $2) END AS other \
                   FROM thread_members tm JOIN threads t ON t.id = tm.thread_id \
                   WHERE tm.thread_id = $1 AND tm.user_id = $2) s JOIN users u ON u.id = $2) l"
    )
}

/// Stores a message, and moves the thread up the inbox and the sender's reading past it; returns the message
/// as stored. (A send to a thread that exists is one call, see `send_message`; this is for a thread's
/// first message, written in the transaction that makes or joins the thread.)
async fn insert_message(
    conn: &mut Conn,
    thread: i64,
    from: UserId,
    text: &str,
    now_ms: i64,
) -> Result<MessageRow, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO messages (thread_id, sender_id, text, sent_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(thread)
    .bind(from.0)
    .bind(text)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("UPDATE threads SET last_message_at = $2 WHERE id = $1")
        .bind(thread)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE thread_members SET last_read = $3 WHERE thread_id = $1 AND user_id = $2")
        .bind(thread)
        .bind(from.0)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query(&format!("SELECT {MESSAGE_COLUMNS} WHERE m.id = $1")).bind(id).fetch_one(&mut *conn).await?;
    Ok(message_from(&row))
}

/// Whether `user` follows `of`.
async fn follows(conn: &mut Conn, user: UserId, of: UserId) -> Result<bool, StoreError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM follows WHERE follower = $1 AND followee = $2")
        .bind(user.0)
        .bind(of.0)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

async fn suspended(conn: &mut Conn, user: UserId) -> Result<bool, StoreError> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM users WHERE id = $1 AND (suspended_at IS NOT NULL OR deleted_at IS NOT NULL)",
    )
    .bind(user.0)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// A deleted account leaves its threads as a stand-in ("Deleted account", the users row's): its messages go,
/// but those a report names, which the admins still need.
pub(crate) async fn forget_in_threads(conn: &mut Conn, user: UserId) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM messages WHERE sender_id = $1 AND id NOT IN \
         (SELECT message_id FROM reports WHERE message_id IS NOT NULL)",
    )
    .bind(user.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl This {
    /// The threads of `viewer` among `rows` (thread, kind, muted, state, unread, newest visible message),
    /// with their members and newest messages, in two more queries.
    async fn thread_rows(
        &self,
        viewer: UserId,
        rows: Vec<(i64, String, i64, String, i64, Option<i64>)>,
    ) -> Result<Vec<ThreadRow>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let threads = json_ids(rows.iter().map(|r| r.0));
        let members = sqlx::query(&format!(
            "SELECT tm.thread_id, u.id, u.username, u.display_name FROM thread_members tm JOIN users u ON u.id = tm.user_id \
             WHERE tm.thread_id IN {} AND tm.user_id <> $2 AND tm.state <> 'left' AND {} ORDER BY tm.joined_at, u.id",
            super::backend::ids(1),
            unblocked("tm.user_id", "$2")
        ))
        .bind(&threads)
        .bind(viewer.0)
        .fetch_all(self.pool())
        .await?;
        let mut by_thread: HashMap<i64, Vec<UserSummary>> = HashMap::new();
        for r in &members {
            by_thread.entry(r.get(0)).or_default().push(UserSummary {
                id: UserId(r.get(1)),
                username: r.get(2),
                display_name: r.get(3),
            });
        }
        let newest = json_ids(rows.iter().filter_map(|r| r.5));
        let messages = sqlx::query(&format!("SELECT {MESSAGE_COLUMNS} WHERE m.id IN {}", super::backend::ids(1)))
            .bind(&newest)
            .fetch_all(self.pool())
            .await?;
        let mut last: HashMap<i64, MessageRow> = messages.iter().map(message_from).map(|m| (m.id, m)).collect();
        Ok(rows
            .into_iter()
            .map(|(id, kind, muted, state, unread, newest)| ThreadRow {
                id,
                group: kind == "group",
                members: by_thread.remove(&id).unwrap_or_default(),
                last_message: newest.and_then(|n| last.remove(&n)),
                unread: unread as u32,
                muted: muted != 0,
                request: state == "request",
            })
            .collect())
    }

    /// `viewer`'s threads where `clause` holds (on `t` and `tm`, `$1` being the viewer and `$2` the extra
    /// bind), newest first.
    async fn threads_where(
        &self,
        viewer: UserId,
        clause: &str,
        extra: i64,
        limit: u32,
    ) -> Result<Vec<ThreadRow>, StoreError> {
        let visible = format!("m.thread_id = t.id AND m.id >= tm.first_message AND {}", unblocked("m.sender_id", "$1"));
        let rows: Vec<(i64, String, i64, String, i64, Option<i64>)> = sqlx::query_as(&format!(
            "SELECT t.id, t.kind, tm.muted, tm.state, \
               (SELECT COUNT(*) FROM messages m WHERE {visible} AND m.id > tm.last_read AND m.sender_id <> $1 \
                AND m.deleted_at IS NULL), \
               (SELECT MAX(m.id) FROM messages m WHERE {visible}) \
             FROM thread_members tm JOIN threads t ON t.id = tm.thread_id \
             WHERE tm.user_id = $1 AND {clause} ORDER BY t.last_message_at DESC, t.id DESC LIMIT $3"
        ))
        .bind(viewer.0)
        .bind(extra)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        self.thread_rows(viewer, rows).await
    }
}

#[async_trait]
impl Backchannel for This {
    async fn start_thread(
        &self,
        from: UserId,
        others: &[UserId],
        text: &str,
        now_ms: i64,
    ) -> Result<Result<(i64, MessageRow), Refusal>, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        for other in others {
            if blocked_between(&mut tx, from, *other).await? {
                return Ok(Err(Refusal::Blocked));
            }
        }
        if !under_message_limit(&mut tx, from, now_ms).await? {
            return Ok(Err(Refusal::TooManyMessages));
        }
        let direct = others.len() == 1;
        let pair = direct.then(|| {
            let (a, b) = (from.0.min(others[0].0), from.0.max(others[0].0));
            format!("{a}:{b}")
        });
        if let Some(pair) = &pair {
            let existing: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM threads WHERE pair = $1").bind(pair).fetch_optional(&mut *tx).await?;
            if let Some((thread,)) = existing {
                // The pair's one thread: writing in it again is no new thread. The writer is back in it if
                // they had declined it; the other stays where they were, and is not told otherwise.
                if suspended(&mut tx, others[0]).await? {
                    return Ok(Err(Refusal::Frozen));
                }
                sqlx::query("UPDATE thread_members SET state = 'active' WHERE thread_id = $1 AND user_id = $2")
                    .bind(thread)
                    .bind(from.0)
                    .execute(&mut *tx)
                    .await?;
                let message = insert_message(&mut tx, thread, from, text, now_ms).await?;
                tx.commit().await?;
                return Ok(Ok((thread, message)));
            }
            if suspended(&mut tx, others[0]).await? {
                return Ok(Err(Refusal::Frozen));
            }
        }
        let hour_ago = now_ms / 1000 - 3600;
        let made =
            count(&mut tx, "SELECT COUNT(*) FROM threads WHERE created_by = $1 AND created_at > $2", from.0, hour_ago)
                .await?;
        if made >= THREADS_PER_HOUR {
            return Ok(Err(Refusal::TooManyThreads));
        }
        let mut strangers = Vec::new();
        for other in others {
            strangers.push(!follows(&mut tx, *other, from).await?);
        }
        if strangers.iter().any(|s| *s) {
            let to_strangers = count(
                &mut tx,
                "SELECT COUNT(*) FROM threads WHERE created_by = $1 AND created_at > $2 AND to_strangers = 1",
                from.0,
                hour_ago,
            )
            .await?;
            if to_strangers >= THREADS_TO_STRANGERS_PER_HOUR {
                return Ok(Err(Refusal::TooManyToStrangers));
            }
        }
        if !direct {
            for person in std::iter::once(&from).chain(others) {
                let groups = groups_of(&mut tx, *person).await?;
                if groups >= GROUPS_PER_PERSON {
                    return Ok(Err(Refusal::TooManyGroups));
                }
            }
        }
        let (thread,): (i64,) = sqlx::query_as(
            "INSERT INTO threads (kind, pair, created_by, to_strangers, created_at, last_message_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(if direct { "direct" } else { "group" })
        .bind(pair)
        .bind(from.0)
        .bind(i64::from(strangers.iter().any(|s| *s)))
        .bind(now_ms / 1000)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        let states = std::iter::once((from, "active"))
            .chain(others.iter().zip(&strangers).map(|(o, s)| (*o, if *s { "request" } else { "active" })));
        for (person, state) in states {
            sqlx::query("INSERT INTO thread_members (thread_id, user_id, state, joined_at) VALUES ($1, $2, $3, $4)")
                .bind(thread)
                .bind(person.0)
                .bind(state)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
        }
        let message = insert_message(&mut tx, thread, from, text, now_ms).await?;
        tx.commit().await?;
        Ok(Ok((thread, message)))
    }

    async fn send_message(
        &self,
        thread: i64,
        from: UserId,
        text: &str,
        now_ms: i64,
    ) -> Result<Result<MessageRow, Refusal>, StoreError> {
        // The busiest write there is, so the checks and the writes are one call to the database, under the
        // write lock (see `send_at_once` in each backend): on SQLite each statement of a transaction was a
        // round trip to the connection's thread with the lock held, and at 1,000 messages a second the
        // lock's turns were what held the rate.
        static SEND: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| super::backend::send_sql(&send_look()));
        let query = sqlx::query(SEND.as_str())
            .bind(thread)
            .bind(from.0)
            .bind(now_ms - 60_000)
            .bind(text.to_string())
            .bind(now_ms);
        let rows = self.send_at_once(query).await?;
        let Some(look) = rows.first() else { return Ok(Err(Refusal::NotInThread)) };
        let (state, kind): (String, String) = (look.get(0), look.get(1));
        let (blocked, frozen, sent): (bool, bool, i64) = (look.get(2), look.get(3), look.get(4));
        // Written: the message's ID (the checks' row then is as it reads after the write, on SQLite).
        let id: Option<i64> = look.get(8);
        if let Some(id) = id {
            let sender = UserSummary { id: from, username: look.get(5), display_name: look.get(6) };
            return Ok(Ok(MessageRow {
                id,
                thread,
                sender,
                text: text.to_string(),
                sent_at_ms: now_ms,
                deleted: false,
            }));
        }
        if !matches!(state.as_str(), "active" | "request") {
            Ok(Err(Refusal::NotInThread))
        } else if kind == "direct" && blocked {
            Ok(Err(Refusal::Blocked))
        } else if kind == "direct" && frozen {
            Ok(Err(Refusal::Frozen))
        } else if sent >= i64::from(MESSAGES_PER_MINUTE) {
            Ok(Err(Refusal::TooManyMessages))
        } else {
            // The SQL's `allowed` and the reasons above disagree: a bug, and nothing was written.
            Err(StoreError::Database(sqlx::Error::Protocol("a send was allowed and not written".into())))
        }
    }

    async fn pair_thread(&self, a: UserId, b: UserId) -> Result<Option<i64>, StoreError> {
        let pair = format!("{}:{}", a.0.min(b.0), a.0.max(b.0));
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM threads WHERE pair = $1").bind(pair).fetch_optional(self.pool()).await?;
        Ok(row.map(|(id,)| id))
    }

    async fn add_to_group(
        &self,
        thread: i64,
        by: UserId,
        people: &[UserId],
        now_ms: i64,
    ) -> Result<Result<(), Refusal>, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let mine: Option<(String,)> = sqlx::query_as(
            "SELECT t.kind FROM thread_members tm JOIN threads t ON t.id = tm.thread_id \
             WHERE tm.thread_id = $1 AND tm.user_id = $2 AND tm.state IN ('active', 'request')",
        )
        .bind(thread)
        .bind(by.0)
        .fetch_optional(&mut *tx)
        .await?;
        if mine.as_ref().is_none_or(|(kind,)| kind != "group") {
            return Ok(Err(Refusal::NotInThread));
        }
        let members = count(
            &mut tx,
            "SELECT COUNT(*) FROM thread_members WHERE thread_id = $1 AND state <> 'left' AND $2 = $2",
            thread,
            0,
        )
        .await?;
        let mut new = Vec::new();
        for person in people {
            let there: Option<(String,)> =
                sqlx::query_as("SELECT state FROM thread_members WHERE thread_id = $1 AND user_id = $2")
                    .bind(thread)
                    .bind(person.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            if there.is_some_and(|(s,)| s != "left") || new.contains(person) || *person == by {
                continue;
            }
            if blocked_between(&mut tx, by, *person).await? {
                return Ok(Err(Refusal::Blocked));
            }
            let groups = groups_of(&mut tx, *person).await?;
            if groups >= GROUPS_PER_PERSON {
                return Ok(Err(Refusal::TooManyGroups));
            }
            new.push(*person);
        }
        if members as usize + new.len() > stoa_proto::limits::GROUP_MEMBERS {
            return Ok(Err(Refusal::GroupFull));
        }
        let (next,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) + 1 FROM messages WHERE thread_id = $1")
            .bind(thread)
            .fetch_one(&mut *tx)
            .await?;
        for person in new {
            let state = if follows(&mut tx, person, by).await? { "active" } else { "request" };
            sqlx::query(
                "INSERT INTO thread_members (thread_id, user_id, state, first_message, last_read, joined_at) \
                 VALUES ($1, $2, $3, $4, $4 - 1, $5) ON CONFLICT (thread_id, user_id) DO UPDATE \
                 SET state = $3, first_message = $4, last_read = $4 - 1, joined_at = $5",
            )
            .bind(thread)
            .bind(person.0)
            .bind(state)
            .bind(next)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn thread_audience(&self, thread: i64) -> Result<Vec<(UserId, bool)>, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT user_id, muted FROM thread_members WHERE thread_id = $1 AND state IN ('active', 'request')",
        )
        .bind(thread)
        .fetch_all(&mut *self.bulk_reader().await?)
        .await?;
        Ok(rows.into_iter().map(|(u, muted)| (UserId(u), muted != 0)).collect())
    }

    async fn threads_of(&self, viewer: UserId, requests: bool, limit: u32) -> Result<Vec<ThreadRow>, StoreError> {
        let clause = if requests { "tm.state = 'request' AND $2 = $2" } else { "tm.state = 'active' AND $2 = $2" };
        self.threads_where(viewer, clause, 0, limit.clamp(1, 200)).await
    }

    async fn thread_of(&self, viewer: UserId, thread: i64) -> Result<Option<ThreadRow>, StoreError> {
        Ok(self.threads_where(viewer, "tm.state IN ('active', 'request') AND t.id = $2", thread, 1).await?.pop())
    }

    async fn thread_news(&self, viewer: UserId, since_ms: i64, limit: u32) -> Result<Vec<MessageRow>, StoreError> {
        // New messages: only the viewer's threads with news since then (`threads.last_message_at`), each read
        // by its (thread, sent_at) index. Deleted ones: by the deletion's index, which is nearly empty.
        const COLUMNS: &str = "m.id, m.thread_id, u.id, u.username, u.display_name, m.text, m.sent_at, \
             m.deleted_at IS NOT NULL";
        const MINE: &str = "tm.user_id = $1 AND tm.state IN ('active', 'request') AND m.id >= tm.first_message";
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM thread_members tm JOIN threads t ON t.id = tm.thread_id \
             JOIN messages m ON m.thread_id = tm.thread_id JOIN users u ON u.id = m.sender_id \
             WHERE {MINE} AND t.last_message_at >= $2 AND m.sent_at >= $2 AND {blocks} \
             UNION \
             SELECT {COLUMNS} FROM messages m JOIN thread_members tm ON tm.thread_id = m.thread_id \
             JOIN users u ON u.id = m.sender_id WHERE m.deleted_at >= $2 AND {MINE} AND {blocks} \
             ORDER BY 1 LIMIT $3",
            blocks = unblocked("m.sender_id", "$1"),
        ))
        .bind(viewer.0)
        .bind(since_ms)
        .bind(i64::from(limit.clamp(1, 200)))
        .fetch_all(&mut *self.bulk_reader().await?)
        .await?;
        Ok(rows.iter().map(message_from).collect())
    }

    async fn messages_of(
        &self,
        viewer: UserId,
        thread: i64,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Option<Vec<MessageRow>>, StoreError> {
        let member: Option<(i64,)> = sqlx::query_as(
            "SELECT first_message FROM thread_members WHERE thread_id = $1 AND user_id = $2 \
             AND state IN ('active', 'request')",
        )
        .bind(thread)
        .bind(viewer.0)
        .fetch_optional(self.pool())
        .await?;
        let Some((first,)) = member else { return Ok(None) };
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} WHERE m.thread_id = $1 AND m.id >= $2 AND m.id < $3 AND {} \
             ORDER BY m.id DESC LIMIT $5",
            unblocked("m.sender_id", "$4")
        ))
        .bind(thread)
        .bind(first)
        .bind(before.unwrap_or(i64::MAX))
        .bind(viewer.0)
        .bind(i64::from(limit.clamp(1, 200)))
        .fetch_all(self.pool())
        .await?;
        Ok(Some(rows.iter().map(message_from).collect()))
    }

    async fn answer_thread(&self, viewer: UserId, thread: i64, answer: ThreadAnswer) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let sql = match answer {
            ThreadAnswer::Accept => {
                "UPDATE thread_members SET state = 'active' WHERE thread_id = $1 AND user_id = $2 AND state = 'request'"
            }
            ThreadAnswer::Decline => {
                "UPDATE thread_members SET state = 'declined' WHERE thread_id = $1 AND user_id = $2 AND state = 'request'"
            }
            ThreadAnswer::Leave => {
                "UPDATE thread_members SET state = 'left' WHERE thread_id = $1 AND user_id = $2 \
                 AND state IN ('active', 'request') AND thread_id IN (SELECT id FROM threads WHERE kind = 'group')"
            }
        };
        let done = sqlx::query(sql).bind(thread).bind(viewer.0).execute(self.pool()).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn mute_thread(&self, viewer: UserId, thread: i64, muted: bool) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query(
            "UPDATE thread_members SET muted = $3 WHERE thread_id = $1 AND user_id = $2 AND state IN ('active', 'request')",
        )
        .bind(thread)
        .bind(viewer.0)
        .bind(i64::from(muted))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn read_thread(&self, viewer: UserId, thread: i64, up_to: i64) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query(
            "UPDATE thread_members SET last_read = $3 WHERE thread_id = $1 AND user_id = $2 \
             AND state IN ('active', 'request') AND last_read < $3 \
             AND $3 <= (SELECT COALESCE(MAX(id), 0) FROM messages WHERE thread_id = $1)",
        )
        .bind(thread)
        .bind(viewer.0)
        .bind(up_to)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_message(&self, viewer: UserId, message: i64) -> Result<Option<i64>, StoreError> {
        let _write = self.write().await;
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE messages SET deleted_at = $3 WHERE id = $1 AND sender_id = $2 AND deleted_at IS NULL \
             RETURNING thread_id",
        )
        .bind(message)
        .bind(viewer.0)
        .bind(crate::common::now() * 1000)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(t,)| t))
    }

    async fn visible_message(&self, viewer: UserId, message: i64) -> Result<Option<MessageRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} JOIN thread_members tm ON tm.thread_id = m.thread_id AND tm.user_id = $2 \
             WHERE m.id = $1 AND tm.state IN ('active', 'request') AND m.id >= tm.first_message AND {}",
            unblocked("m.sender_id", "$2")
        ))
        .bind(message)
        .bind(viewer.0)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(message_from))
    }

    async fn messages_around(&self, message: i64, n: u32) -> Result<Vec<MessageRow>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} WHERE m.thread_id = (SELECT thread_id FROM messages WHERE id = $1) \
             AND m.id BETWEEN \
               COALESCE((SELECT MIN(id) FROM (SELECT id FROM messages WHERE thread_id = (SELECT thread_id FROM messages WHERE id = $1) \
                 AND id <= $1 ORDER BY id DESC LIMIT $2) AS b), $1) \
             AND COALESCE((SELECT MAX(id) FROM (SELECT id FROM messages WHERE thread_id = (SELECT thread_id FROM messages WHERE id = $1) \
                 AND id >= $1 ORDER BY id LIMIT $2) AS a), $1) \
             ORDER BY m.id"
        );
        let rows = sqlx::query(&sql).bind(message).bind(i64::from(n) + 1).fetch_all(self.pool()).await?;
        // For the admins: the text as written, deleted or not.
        Ok(rows.iter().map(|r| MessageRow { text: r.get(5), ..message_from(r) }).collect())
    }

    async fn own_messages(&self, user: UserId) -> Result<Vec<MessageRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} WHERE m.sender_id = $1 AND m.deleted_at IS NULL ORDER BY m.id"
        ))
        .bind(user.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(message_from).collect())
    }

    async fn inbox_counts(&self, viewer: UserId) -> Result<(u32, u32), StoreError> {
        let (unread, requests): (i64, i64) = sqlx::query_as(&format!(
            "SELECT \
               (SELECT COUNT(*) FROM thread_members tm WHERE tm.user_id = $1 AND tm.state = 'active' AND tm.muted = 0 \
                AND EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = tm.thread_id AND m.id > tm.last_read \
                  AND m.id >= tm.first_message AND m.sender_id <> $1 AND m.deleted_at IS NULL AND {})), \
               (SELECT COUNT(*) FROM thread_members tm WHERE tm.user_id = $1 AND tm.state = 'request')",
            unblocked("m.sender_id", "$1")
        ))
        .bind(viewer.0)
        .fetch_one(&mut *self.bulk_reader().await?)
        .await?;
        Ok((unread as u32, requests as u32))
    }
}
