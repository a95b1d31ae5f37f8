//! [`Community`] in SQL, for both backends (see `core.rs`).

use super::backend::{DbRow, This};
use super::core::insert_admin_log;
use super::core::{ACCOUNT_COLUMN_COUNT, ACCOUNT_COLUMNS, account_from_row, summary_from_row};
use crate::StoreError;
use crate::common::now;
use crate::community::*;
use async_trait::async_trait;
use sqlx::Row;
use stoa_proto::{
    AccountExport, AdminLogEntry, AdminUser, ChatRecord, EventId, ExportedEvent, ExportedMessage, ExportedReport,
    InviteInfo, Invitee, ModerationAction, ModerationEntry, Report, ReportReason, RoomId, Scope, SessionInfo,
    TokenInfo, UserId, UserSummary,
};

/// A user summary from three columns starting at `at`, if its ID is not NULL.
fn summary_at(row: &DbRow, at: usize) -> Option<UserSummary> {
    let id: Option<i64> = row.get(at);
    id.map(|id| UserSummary { id: UserId(id), username: row.get(at + 1), display_name: row.get(at + 2) })
}

/// The columns [`report_from_row`] reads, from `reports r`.
const REPORT_COLUMNS: &str = "r.id, a.id, a.username, a.display_name, r.room_id, r.room_title, \
     t.id, t.username, t.display_name, r.reason, r.text, r.created_at, r.resolved_at, \
     z.id, z.username, z.display_name, r.resolution_note, r.club, r.message_id \
     FROM reports r JOIN users a ON a.id = r.reporter LEFT JOIN users t ON t.id = r.target \
     LEFT JOIN users z ON z.id = r.resolved_by";

fn report_from_row(row: &DbRow) -> Report {
    Report {
        id: row.get(0),
        reporter: summary_at(row, 1).unwrap_or_else(|| UserSummary {
            id: UserId(0),
            username: String::new(),
            display_name: String::new(),
        }),
        room_id: RoomId(row.get(4)),
        room_title: row.get(5),
        target: summary_at(row, 6),
        reason: ReportReason::parse(row.get::<&str, _>(9)).unwrap_or(ReportReason::Other),
        text: row.get(10),
        created_at_ms: row.get(11),
        resolved_at_ms: row.get(12),
        resolved_by: summary_at(row, 13),
        resolution_note: row.get(16),
        club: row.get(17),
        message_id: row.get(18),
    }
}

fn admin_log_from_row(row: &DbRow) -> AdminLogEntry {
    AdminLogEntry {
        id: row.get(0),
        admin: summary_at(row, 1),
        action: row.get(4),
        subject: row.get(5),
        detail: row.get(6),
        created_at: row.get(7),
        subject_username: row.get(8),
    }
}

const ADMIN_LOG_COLUMNS: &str = "l.id, u.id, u.username, u.display_name, l.action, l.subject, l.detail, l.created_at, \
     CASE WHEN l.action IN ('suspend', 'unsuspend', 'make_admin', 'revoke_admin') \
     THEN (SELECT s.username FROM users s WHERE s.id = CAST(l.subject AS INTEGER)) END \
     FROM admin_log l LEFT JOIN users u ON u.id = l.admin";

/// A browser's user agent as a person reads it: "Chrome on Linux". Unknown parts are left out.
pub fn device_name(agent: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("stoa", "Stoa command line"),
    ]
    .iter()
    .find(|(needle, _)| agent.contains(needle))
    .map(|(_, name)| *name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| agent.contains(needle))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_string(),
        (None, Some(s)) => s.to_string(),
        (None, None) if agent.is_empty() => "Unknown device".to_string(),
        (None, None) => agent.chars().take(60).collect(),
    }
}

#[async_trait]
impl Community for This {
    async fn append_room_log(&self, entries: &[RoomLogEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        for entry in entries {
            match entry {
                RoomLogEntry::Chat { room, msg_id, user, text, at_ms } => {
                    sqlx::query(
                        "INSERT INTO chat_messages (room_id, msg_id, user_id, text, sent_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&room.0)
                    .bind(*msg_id as i64)
                    .bind(user.0)
                    .bind(text)
                    .bind(at_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                RoomLogEntry::Moderation { room, actor, action, target, detail, at_ms } => {
                    let mut detail = detail.clone();
                    if *action == ModerationAction::DeleteChat
                        && let Some(msg_id) = detail.as_deref().and_then(|d| d.parse::<i64>().ok())
                    {
                        // The newest message of that number in the room is the one deleted (numbers start
                        // again after a restart); the log keeps its text.
                        let text: Option<(String,)> = sqlx::query_as(
                            "UPDATE chat_messages SET deleted_at = $1, deleted_by = $2 WHERE id = \
                             (SELECT max(id) FROM chat_messages WHERE room_id = $3 AND msg_id = $4) RETURNING text",
                        )
                        .bind(at_ms)
                        .bind(actor.0)
                        .bind(&room.0)
                        .bind(msg_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                        detail = text.map(|(t,)| t);
                    }
                    sqlx::query(
                        "INSERT INTO moderation_log (room_id, actor, action, target, detail, at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&room.0)
                    .bind(actor.0)
                    .bind(action.as_str())
                    .bind(target.map(|t| t.0))
                    .bind(detail)
                    .bind(at_ms)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn moderation_log(
        &self,
        room: &RoomId,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<ModerationEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.at, a.id, a.username, a.display_name, m.action, t.id, t.username, t.display_name, m.detail \
             FROM moderation_log m JOIN users a ON a.id = m.actor LEFT JOIN users t ON t.id = m.target \
             WHERE m.room_id = $1 AND m.at BETWEEN $2 AND $3 ORDER BY m.at, m.id LIMIT $4",
        )
        .bind(&room.0)
        .bind(from_ms)
        .bind(to_ms)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(ModerationEntry {
                    at_ms: r.get(0),
                    actor: summary_at(r, 1)?,
                    action: ModerationAction::parse(r.get::<&str, _>(4))?,
                    target: summary_at(r, 5),
                    detail: r.get(8),
                })
            })
            .collect())
    }

    async fn prune_chat(&self, before_ms: i64) -> Result<u64, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query(
            "DELETE FROM chat_messages WHERE sent_at < $1 AND NOT EXISTS (SELECT 1 FROM reports r \
             WHERE r.room_id = chat_messages.room_id AND chat_messages.sent_at BETWEEN r.created_at - $2 \
             AND r.created_at + $3)",
        )
        .bind(before_ms)
        .bind(REPORT_CONTEXT_MS)
        .bind(REPORT_CONTEXT_MS)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    async fn chat_log(
        &self,
        room: &RoomId,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<ChatRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id, u.username, u.display_name, c.text, c.sent_at, d.id, d.username, d.display_name \
             FROM chat_messages c JOIN users u ON u.id = c.user_id LEFT JOIN users d ON d.id = c.deleted_by \
             WHERE c.room_id = $1 AND c.sent_at BETWEEN $2 AND $3 ORDER BY c.sent_at, c.id LIMIT $4",
        )
        .bind(&room.0)
        .bind(from_ms)
        .bind(to_ms)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(ChatRecord {
                    user: summary_at(r, 0)?,
                    text: r.get(3),
                    sent_at_ms: r.get(4),
                    deleted_by: summary_at(r, 5),
                })
            })
            .collect())
    }

    async fn create_report(&self, report: &NewReport, now_ms: i64) -> Result<(i64, bool), StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let existing: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM reports WHERE reporter = $1 AND room_id = $2 AND target IS NOT DISTINCT FROM $3 \
             AND club IS NOT DISTINCT FROM $4 AND message_id IS NOT DISTINCT FROM $5 AND resolved_at IS NULL",
        )
        .bind(report.reporter.0)
        .bind(&report.room.0)
        .bind(report.target.map(|t| t.0))
        .bind(report.club.as_deref())
        .bind(report.message)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((id,)) = existing {
            return Ok((id, false));
        }
        let (recent,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM reports WHERE reporter = $1 AND created_at > $2")
            .bind(report.reporter.0)
            .bind(now_ms - 3_600_000)
            .fetch_one(&mut *tx)
            .await?;
        if recent >= REPORTS_PER_HOUR {
            return Err(StoreError::RateLimited);
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO reports (reporter, room_id, room_title, target, reason, text, created_at, club, message_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(report.reporter.0)
        .bind(&report.room.0)
        .bind(&report.room_title)
        .bind(report.target.map(|t| t.0))
        .bind(report.reason.as_str())
        .bind(&report.text)
        .bind(now_ms)
        .bind(report.club.as_deref())
        .bind(report.message)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((id, true))
    }

    async fn reports(&self, open: bool, cursor: Option<i64>, limit: u32) -> Result<Vec<Report>, StoreError> {
        let state = if open { "r.resolved_at IS NULL" } else { "r.resolved_at IS NOT NULL" };
        let sql = format!("SELECT {REPORT_COLUMNS} WHERE {state} AND r.id < $1 ORDER BY r.id DESC LIMIT $2");
        let rows = sqlx::query(&sql).bind(cursor.unwrap_or(i64::MAX)).bind(limit as i64).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(report_from_row).collect())
    }

    async fn report(&self, id: i64) -> Result<Option<Report>, StoreError> {
        let sql = format!("SELECT {REPORT_COLUMNS} WHERE r.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(report_from_row))
    }

    async fn reports_against(&self, user: UserId, limit: u32) -> Result<Vec<Report>, StoreError> {
        let sql = format!("SELECT {REPORT_COLUMNS} WHERE r.target = $1 ORDER BY r.id DESC LIMIT $2");
        let rows = sqlx::query(&sql).bind(user.0).bind(limit as i64).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(report_from_row).collect())
    }

    async fn resolve_report(&self, id: i64, admin: Option<UserId>, note: &str) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE reports SET resolved_at = $1, resolved_by = $2, resolution_note = $3 WHERE id = $4 AND resolved_at IS NULL",
        )
        .bind(now() * 1000)
        .bind(admin.map(|a| a.0))
        .bind(note)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_admin_log(&mut tx, admin, admin_action::RESOLVE_REPORT, &id.to_string(), note).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn suspend(&self, user: UserId, admin: Option<UserId>, reason: &str) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET suspended_at = $1, suspended_reason = $2 WHERE id = $3 AND suspended_at IS NULL \
             AND deleted_at IS NULL",
        )
        .bind(now())
        .bind(reason)
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.0).execute(&mut *tx).await?;
        insert_admin_log(&mut tx, admin, admin_action::SUSPEND, &user.0.to_string(), reason).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn unsuspend(&self, user: UserId, admin: Option<UserId>) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET suspended_at = NULL, suspended_reason = NULL WHERE id = $1 AND suspended_at IS NOT NULL",
        )
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_admin_log(&mut tx, admin, admin_action::UNSUSPEND, &user.0.to_string(), "").await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn log_admin(
        &self,
        admin: Option<UserId>,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<i64, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let id = insert_admin_log(&mut tx, admin, action, subject, detail).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn admin_log_after(&self, after: i64, limit: u32) -> Result<Vec<AdminLogEntry>, StoreError> {
        let sql = format!("SELECT {ADMIN_LOG_COLUMNS} WHERE l.id > $1 ORDER BY l.id LIMIT $2");
        let rows = sqlx::query(&sql).bind(after).bind(limit as i64).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(admin_log_from_row).collect())
    }

    async fn admin_log(&self, limit: u32) -> Result<Vec<AdminLogEntry>, StoreError> {
        let sql = format!("SELECT {ADMIN_LOG_COLUMNS} ORDER BY l.id DESC LIMIT $1");
        let rows = sqlx::query(&sql).bind(limit as i64).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(admin_log_from_row).collect())
    }

    async fn admin_user(&self, user: UserId) -> Result<Option<AdminUser>, StoreError> {
        let row = sqlx::query(
            "SELECT id, username, display_name, is_admin, created_at, \
             CASE WHEN suspended_at IS NULL THEN NULL ELSE COALESCE(suspended_reason, '') END, deleted_at IS NOT NULL, \
             (SELECT COUNT(*) FROM reports WHERE target = users.id) FROM users WHERE id = $1",
        )
        .bind(user.0)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        // Up the tree: a recursive walk of `invited_by`, bounded in case of a cycle no sign-up can make.
        let chain = sqlx::query(
            "WITH RECURSIVE up(id, depth) AS (SELECT invited_by, 1 FROM users WHERE id = $1 \
               UNION ALL SELECT u.invited_by, up.depth + 1 FROM users u JOIN up ON u.id = up.id \
               WHERE up.depth < 1000) \
             SELECT u.id, u.username, u.display_name FROM up JOIN users u ON u.id = up.id ORDER BY up.depth DESC",
        )
        .bind(user.0)
        .fetch_all(self.pool())
        .await?;
        let invitees = sqlx::query(
            "SELECT u.id, u.username, u.display_name, \
             (SELECT COUNT(*) FROM users c WHERE c.invited_by = u.id), u.suspended_at IS NOT NULL \
             FROM users u WHERE u.invited_by = $1 ORDER BY u.id",
        )
        .bind(user.0)
        .fetch_all(self.pool())
        .await?;
        Ok(Some(AdminUser {
            user: summary_from_row(&row),
            is_admin: row.get(3),
            created_at: row.get(4),
            suspended: row.get(5),
            deleted: row.get(6),
            invited_by: chain.iter().map(summary_from_row).collect(),
            invitees: invitees
                .iter()
                .map(|r| Invitee {
                    user: summary_from_row(r),
                    invitees: r.get::<i64, _>(3) as u32,
                    suspended: r.get(4),
                })
                .collect(),
            reports_against: row.get::<i64, _>(7) as u32,
        }))
    }

    async fn set_admin(&self, user: UserId, admin: bool) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        if !admin {
            // A server always keeps an admin: the last one (suspended ones do not count) stays.
            let (others,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM users WHERE is_admin AND id != $1 AND deleted_at IS NULL AND suspended_at IS NULL",
            )
            .bind(user.0)
            .fetch_one(&mut *tx)
            .await?;
            let (is_admin,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE id = $1 AND is_admin")
                .bind(user.0)
                .fetch_one(&mut *tx)
                .await?;
            if is_admin > 0 && others == 0 {
                return Err(StoreError::LastAdmin);
            }
        }
        let done =
            sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2 AND is_admin != $3 AND deleted_at IS NULL")
                .bind(admin)
                .bind(user.0)
                .bind(admin)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let action = if admin { admin_action::MAKE_ADMIN } else { admin_action::REVOKE_ADMIN };
        insert_admin_log(&mut tx, None, action, &user.0.to_string(), "").await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn user_id_by_name(&self, username: &str) -> Result<Option<UserId>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE username = lower($1)")
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(id,)| UserId(id)))
    }

    async fn sessions_of(&self, user: UserId, current: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT public_id, user_agent, created_at, last_used_at, token_hash = $1 FROM sessions \
             WHERE user_id = $2 AND public_id IS NOT NULL ORDER BY created_at DESC, rowid DESC",
        )
        .bind(current)
        .bind(user.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| SessionInfo {
                id: r.get(0),
                device: device_name(r.get::<&str, _>(1)),
                created_at: r.get(2),
                last_seen: r.get(3),
                current: r.get(4),
            })
            .collect())
    }

    async fn revoke_session(&self, user: UserId, public_id: &str) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND public_id = $2")
            .bind(user.0)
            .bind(public_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_password(&self, user: UserId, hash: &str, keep: &str) -> Result<u64, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        let revoked = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash != $2")
            .bind(user.0)
            .bind(keep)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(revoked.rows_affected())
    }

    async fn export(&self, user: UserId, at: i64) -> Result<Option<AccountExport>, StoreError> {
        use crate::Store as _;
        let Some(account) = self.account(user).await? else { return Ok(None) };
        let pool = self.pool();
        let people = |sql: &'static str| async move {
            let rows = sqlx::query(sql).bind(user.0).fetch_all(pool).await?;
            Ok::<_, StoreError>(rows.iter().map(summary_from_row).collect::<Vec<_>>())
        };
        let following = people(
            "SELECT u.id, u.username, u.display_name FROM follows f JOIN users u ON u.id = f.followee \
             WHERE f.follower = $1 ORDER BY f.id",
        )
        .await?;
        let followers = people(
            "SELECT u.id, u.username, u.display_name FROM follows f JOIN users u ON u.id = f.follower \
             WHERE f.followee = $1 ORDER BY f.id",
        )
        .await?;
        let blocking = people(
            "SELECT u.id, u.username, u.display_name FROM blocks b JOIN users u ON u.id = b.blocked \
             WHERE b.blocker = $1 ORDER BY b.created_at",
        )
        .await?;
        let events_of = |sql: &'static str| async move {
            let rows = sqlx::query(sql).bind(user.0).fetch_all(pool).await?;
            Ok::<_, StoreError>(
                rows.iter()
                    .map(|r| ExportedEvent {
                        id: EventId(r.get(0)),
                        title: r.get(1),
                        description: r.get(2),
                        starts_at: r.get(3),
                    })
                    .collect::<Vec<_>>(),
            )
        };
        let events = events_of(
            "SELECT e.id, e.title, e.description, e.starts_at FROM event_hosts h JOIN events e ON e.id = h.event_id \
             WHERE h.user_id = $1 ORDER BY e.starts_at",
        )
        .await?;
        let rsvps = events_of(
            "SELECT e.id, e.title, e.description, e.starts_at FROM rsvps x JOIN events e ON e.id = x.event_id \
             WHERE x.user_id = $1 ORDER BY e.starts_at",
        )
        .await?;
        let invites = self
            .invites_of(user)
            .await?
            .into_iter()
            .map(|i| InviteInfo { url: format!("/invite/{}", i.code), code: i.code, used_by: i.used_by })
            .collect();
        let messages = sqlx::query(
            "SELECT room_id, text, sent_at, deleted_at IS NOT NULL FROM chat_messages WHERE user_id = $1 ORDER BY id",
        )
        .bind(user.0)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| ExportedMessage { room_id: RoomId(r.get(0)), text: r.get(1), sent_at_ms: r.get(2), deleted: r.get(3) })
        .collect();
        let reports =
            sqlx::query("SELECT room_id, reason, text, created_at FROM reports WHERE reporter = $1 ORDER BY id")
                .bind(user.0)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| ExportedReport {
                    room_id: RoomId(r.get(0)),
                    reason: ReportReason::parse(r.get::<&str, _>(1)).unwrap_or(ReportReason::Other),
                    text: r.get(2),
                    created_at_ms: r.get(3),
                })
                .collect();
        let (created_at,): (i64,) =
            sqlx::query_as("SELECT created_at FROM users WHERE id = $1").bind(user.0).fetch_one(pool).await?;
        Ok(Some(AccountExport {
            exported_at: at,
            profile: account.me(),
            created_at,
            following,
            followers,
            blocking,
            events,
            rsvps,
            invites,
            messages,
            reports,
            clubs: Vec::new(),
            threads: Vec::new(),
            private_messages: Vec::new(),
        }))
    }

    async fn create_api_token(
        &self,
        user: UserId,
        name: &str,
        token_hash: &str,
        scopes: &[Scope],
        expires_at: Option<i64>,
    ) -> Result<TokenInfo, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let (held,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_tokens WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(&mut *tx)
            .await?;
        if held >= TOKENS_PER_USER {
            return Err(StoreError::RateLimited);
        }
        let now = now();
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO api_tokens (user_id, name, token_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user.0)
        .bind(name)
        .bind(token_hash)
        .bind(crate::common::scope_text(scopes))
        .bind(now)
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(TokenInfo {
            id,
            name: name.to_string(),
            scopes: crate::common::parse_scopes(&crate::common::scope_text(scopes)),
            created_at: now,
            expires_at,
            last_used_at: None,
        })
    }

    async fn api_tokens_of(&self, user: UserId) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, scopes, created_at, expires_at, last_used_at FROM api_tokens WHERE user_id = $1 \
             ORDER BY id DESC",
        )
        .bind(user.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| TokenInfo {
                id: r.get(0),
                name: r.get(1),
                scopes: crate::common::parse_scopes(r.get::<&str, _>(2)),
                created_at: r.get(3),
                expires_at: r.get(4),
                last_used_at: r.get(5),
            })
            .collect())
    }

    async fn revoke_api_token(&self, user: UserId, id: i64) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id = $2")
            .bind(user.0)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn api_token_account(
        &self,
        token_hash: &str,
    ) -> Result<Option<(crate::Account, Vec<Scope>, Option<i64>)>, StoreError> {
        let now = now();
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, t.scopes, t.last_used_at, t.expires_at FROM api_tokens t JOIN users u ON u.id = t.user_id \
             LEFT JOIN users n ON n.id = u.invited_by WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2) \
             AND u.suspended_at IS NULL AND u.deleted_at IS NULL"
        );
        let row = sqlx::query(&sql).bind(token_hash).bind(now).fetch_optional(&mut *self.reader().await?).await?;
        let Some(row) = row else { return Ok(None) };
        let scopes = crate::common::parse_scopes(row.get::<&str, _>(ACCOUNT_COLUMN_COUNT));
        let used: Option<i64> = row.get(ACCOUNT_COLUMN_COUNT + 1);
        if used.is_none_or(|u| u <= now - 3600) {
            let _write = self.write().await;
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(token_hash)
                .execute(self.pool())
                .await?;
        }
        let expires_at: Option<i64> = row.get(ACCOUNT_COLUMN_COUNT + 2);
        Ok(Some((account_from_row(&row), scopes, expires_at)))
    }

    async fn delete_account(&self, user: UserId) -> Result<Vec<String>, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let row: Option<(bool, i64)> = sqlx::query_as(
            "SELECT is_admin, (SELECT COUNT(*) FROM users WHERE is_admin AND deleted_at IS NULL) FROM users \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((is_admin, admins)) = row else { return Err(StoreError::NoSuchUser) };
        if is_admin && admins <= 1 {
            return Err(StoreError::LastAdmin);
        }
        let now = now();
        let id = user.0;
        // The replays of rooms they hosted and the clips they made go with them (their voice in others'
        // replays stays); the caller removes the files.
        let files: Vec<(String,)> = sqlx::query_as(
            "SELECT file FROM recordings WHERE (kind = 'replay' AND host_id = $1) OR (kind = 'clip' AND made_by = $1)",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        // What they said in others' replays goes with them.
        sqlx::query("DELETE FROM transcript_lines WHERE speaker_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query(
            "DELETE FROM recordings WHERE (kind = 'replay' AND host_id = $1) OR (kind = 'clip' AND made_by = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // Their chat goes, except what an admin needs for a report: the messages within a report's context.
        let statements = [
            "DELETE FROM chat_messages WHERE user_id = $1 AND NOT EXISTS (SELECT 1 FROM reports r \
               WHERE r.room_id = chat_messages.room_id AND chat_messages.sent_at BETWEEN r.created_at - 600000 \
               AND r.created_at + 600000)", // REPORT_CONTEXT_MS
            "DELETE FROM sessions WHERE user_id = $1",
            "DELETE FROM api_tokens WHERE user_id = $1",
            "DELETE FROM follows WHERE follower = $1 OR followee = $1",
            "DELETE FROM blocks WHERE blocker = $1 OR blocked = $1",
            "DELETE FROM rsvps WHERE user_id = $1",
            "DELETE FROM event_invited WHERE user_id = $1",
            // Their own upcoming events are cancelled; co-hosting elsewhere ends.
            "UPDATE events SET cancelled_at = $2, updated_at = $2, sequence = sequence + 1 \
               WHERE creator = $1 AND cancelled_at IS NULL AND room_id IS NULL",
            "DELETE FROM event_hosts WHERE user_id = $1 AND event_id NOT IN (SELECT id FROM events WHERE creator = $1)",
            "DELETE FROM calendar_tokens WHERE user_id = $1",
            "DELETE FROM notifications WHERE user_id = $1",
            "DELETE FROM push_subscriptions WHERE user_id = $1",
            "DELETE FROM push_muted_kinds WHERE user_id = $1",
            "UPDATE invites SET uses_left = 0 WHERE created_by = $1",
            "UPDATE users SET former_username = username, username = '~deleted-' || id, display_name = 'Deleted account', bio = '', \
               password_hash = '!', is_admin = FALSE, avatar_version = 0, links = '[]', \
               suspended_at = NULL, suspended_reason = NULL, deleted_at = $2 WHERE id = $1",
        ];
        super::clubs::forget_in_clubs(&mut tx, user).await?;
        super::backchannel::forget_in_threads(&mut tx, user).await?;
        // The stand-in is not to be found by search.
        for sql in statements.into_iter().chain(super::backend::FORGET_IN_SEARCH) {
            // SQLite refuses more arguments than a statement takes.
            let query = sqlx::query(sql).bind(id);
            let query = if sql.contains("$2") { query.bind(now) } else { query };
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(files.into_iter().map(|(f,)| f).collect())
    }
}
