//! [`Social`] in SQL, for both backends (see `core.rs`).

use super::backend::{self, DbRow, This};
use super::core::summary_from_row;
use super::notify::{NOTIFICATION_SELECT, Told, notification_from_row};
use crate::common::{json_ids, now, visibility_str};
use crate::social::*;
use crate::{Page, StoreError};
use async_trait::async_trait;
use sqlx::Row;
use std::collections::HashMap;
use stoa_proto::{EventId, NotificationKind, RoomId, UserId, UserSummary, Visibility};

/// Whether the user `viewer` (an SQL expression) may see the event `e`: the rules of rooms with the hosts
/// who accepted as moderators. Blocked by a host: never. A host, or one asked to co-host: always. Open: anyone;
/// social: followed by a host; closed: invited. An event a club hosts: never to those the club banned, nor
/// while the club is suspended; social: the club's followers and members; closed: its members and the
/// invited.
pub(super) fn visible(viewer: &str) -> String {
    format!(
        "(NOT EXISTS (SELECT 1 FROM event_hosts vh JOIN blocks vb ON vb.blocker = vh.user_id AND vb.blocked = {viewer} \
                      WHERE vh.event_id = e.id AND vh.accepted) \
          AND (e.club_id IS NULL OR (NOT EXISTS (SELECT 1 FROM club_members vcb WHERE vcb.club_id = e.club_id \
                      AND vcb.user_id = {viewer} AND vcb.state = 'banned') \
               AND NOT EXISTS (SELECT 1 FROM clubs vcs WHERE vcs.id = e.club_id AND vcs.suspended_at IS NOT NULL))) \
          AND (EXISTS (SELECT 1 FROM event_hosts vh WHERE vh.event_id = e.id AND vh.user_id = {viewer}) \
               OR e.visibility = 'open' \
               OR (e.club_id IS NULL AND e.visibility = 'social' AND EXISTS (SELECT 1 FROM event_hosts vh JOIN follows vf \
                      ON vf.follower = vh.user_id AND vf.followee = {viewer} WHERE vh.event_id = e.id AND vh.accepted)) \
               OR (e.visibility = 'closed' AND EXISTS (SELECT 1 FROM event_invited vi WHERE vi.event_id = e.id AND vi.user_id = {viewer})) \
               OR (e.club_id IS NOT NULL AND e.visibility IN ('social', 'closed') AND EXISTS (SELECT 1 FROM club_members vcm \
                      WHERE vcm.club_id = e.club_id AND vcm.user_id = {viewer} AND vcm.state = 'member')) \
               OR (e.club_id IS NOT NULL AND e.visibility = 'social' AND EXISTS (SELECT 1 FROM club_follows vcf \
                      WHERE vcf.club_id = e.club_id AND vcf.user_id = {viewer}))))"
    )
}

/// An event that is upcoming or live at `$2`: not cancelled, and started with its room live, or not
/// started and not yet missed (2 hours past its start).
const CURRENT: &str = "(e.cancelled_at IS NULL AND ((e.room_id IS NOT NULL AND r.ended_at IS NULL) \
                        OR (e.room_id IS NULL AND e.starts_at > $2 - 7200)))";

/// Events that may be current at `$2`, found through indexes: those starting after 2 hours ago, and those
/// whose room is live (an event that runs long).
const RECENT: &str = "e.rowid IN (SELECT rowid FROM events WHERE starts_at > $2 - 7200 \
     UNION ALL SELECT e2.rowid FROM rooms r2 JOIN events e2 ON e2.room_id = r2.id WHERE r2.ended_at IS NULL)";

/// The columns [`event_from_row`] reads; the viewer is `$1`.
const EVENT_COLUMNS: &str = "e.id, e.title, e.description, e.starts_at, e.visibility, e.creator, \
     (SELECT COUNT(*) FROM rsvps x WHERE x.event_id = e.id), e.cancelled_at, e.room_id, r.ended_at IS NOT NULL, \
     e.sequence, e.created_at, e.updated_at, EXISTS (SELECT 1 FROM rsvps x WHERE x.event_id = e.id AND x.user_id = $1), \
     e.club_id, (SELECT ec.handle FROM clubs ec WHERE ec.id = e.club_id), (SELECT ec.name FROM clubs ec WHERE ec.id = e.club_id)";

pub(crate) fn parse_visibility(s: &str) -> Visibility {
    match s {
        "open" => Visibility::Open,
        "social" => Visibility::Social,
        _ => Visibility::Closed,
    }
}

fn event_from_row(row: &DbRow) -> EventRow {
    EventRow {
        id: EventId(row.get(0)),
        title: row.get(1),
        description: row.get(2),
        starts_at: row.get(3),
        visibility: parse_visibility(row.get::<&str, _>(4)),
        creator: UserId(row.get(5)),
        hosts: Vec::new(),
        rsvp_count: row.get::<i64, _>(6) as u32,
        cancelled_at: row.get(7),
        room_id: row.get::<Option<String>, _>(8).map(RoomId),
        room_ended: row.get(9),
        sequence: row.get(10),
        created_at: row.get(11),
        updated_at: row.get(12),
        viewer_rsvped: row.get(13),
        club: match (row.get::<Option<i64>, _>(14), row.get::<Option<String>, _>(15), row.get::<Option<String>, _>(16))
        {
            (Some(id), Some(handle), Some(name)) => Some((id, handle, name)),
            _ => None,
        },
    }
}

impl This {
    /// Fills in the hosts of `events`, in one query.
    async fn with_hosts(&self, mut events: Vec<EventRow>) -> Result<Vec<EventRow>, StoreError> {
        if events.is_empty() {
            return Ok(events);
        }
        let ids: Vec<String> = events.iter().map(|e| format!("\"{}\"", e.id.0)).collect();
        let rows = sqlx::query(&format!(
            "SELECT h.event_id, u.id, u.username, u.display_name, h.accepted FROM event_hosts h \
             JOIN users u ON u.id = h.user_id WHERE h.event_id IN {} ORDER BY h.event_id, h.position",
            backend::texts(1)
        ))
        .bind(format!("[{}]", ids.join(",")))
        .fetch_all(self.pool())
        .await?;
        let mut hosts: HashMap<String, Vec<(UserSummary, bool)>> = HashMap::new();
        for row in rows {
            let user = UserSummary { id: UserId(row.get(1)), username: row.get(2), display_name: row.get(3) };
            hosts.entry(row.get(0)).or_default().push((user, row.get(4)));
        }
        for event in &mut events {
            event.hosts = hosts.remove(&event.id.0).unwrap_or_default();
        }
        Ok(events)
    }

    /// Events (with `r`, their room) `viewer` may see, filtered by `clause` with `$2` = now and `$3` the
    /// extra bind, ordered by `order`.
    async fn events_where(
        &self,
        viewer: UserId,
        now: i64,
        clause: &str,
        extra: Option<String>,
        order: &str,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events e LEFT JOIN rooms r ON r.id = e.room_id \
             WHERE {clause} AND {} ORDER BY {order} LIMIT {}",
            visible("$1"),
            limit.clamp(1, 200)
        );
        let mut query = sqlx::query(&sql).bind(viewer.0).bind(now);
        if let Some(extra) = extra {
            query = query.bind(extra);
        }
        let events = query.fetch_all(self.pool()).await?.iter().map(event_from_row).collect();
        self.with_hosts(events).await
    }
}

#[async_trait]
impl Social for This {
    async fn create_event(&self, event: &NewEvent) -> Result<(), StoreError> {
        let _write = self.write().await;
        let now = now();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO events (id, title, description, starts_at, visibility, creator, created_at, updated_at, club_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&event.id.0)
        .bind(&event.title)
        .bind(&event.description)
        .bind(event.starts_at)
        .bind(visibility_str(event.visibility))
        .bind(event.creator.0)
        .bind(now)
        .bind(now)
        .bind(event.club)
        .execute(&mut *tx)
        .await?;
        let hosts = std::iter::once(event.creator).chain(event.cohosts.iter().copied().filter(|c| *c != event.creator));
        for (position, host) in hosts.enumerate() {
            sqlx::query(
                "INSERT INTO event_hosts (event_id, user_id, accepted, position) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&event.id.0)
            .bind(host.0)
            .bind(position == 0)
            .bind(position as i64)
            .execute(&mut *tx)
            .await?;
        }
        for user in &event.invited {
            sqlx::query("INSERT INTO event_invited (event_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&event.id.0)
                .bind(user.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn event(&self, viewer: UserId, id: &EventId) -> Result<Option<EventRow>, StoreError> {
        let events = self.events_where(viewer, now(), "e.id = $3", Some(id.0.clone()), "e.id", 1).await?;
        Ok(events.into_iter().next())
    }

    async fn open_event(&self, id: &EventId) -> Result<Option<EventRow>, StoreError> {
        // Viewer 0 is nobody: an open event is the one visibility that needs no relation to anyone.
        let events = self
            .events_where(UserId(0), now(), "e.id = $3 AND e.visibility = 'open'", Some(id.0.clone()), "e.id", 1)
            .await?;
        Ok(events.into_iter().next())
    }

    async fn event_invited(&self, id: &EventId) -> Result<Vec<UserId>, StoreError> {
        let rows: Vec<(i64,)> = sqlx::query_as("SELECT user_id FROM event_invited WHERE event_id = $1")
            .bind(&id.0)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(|(u,)| UserId(u)).collect())
    }

    async fn update_event(
        &self,
        id: &EventId,
        title: Option<&str>,
        description: Option<&str>,
        starts_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query(
            "UPDATE events SET title = COALESCE($2, title), description = COALESCE($3, description), \
             starts_at = COALESCE($4, starts_at), sequence = sequence + 1, updated_at = $5 WHERE id = $1",
        )
        .bind(&id.0)
        .bind(title)
        .bind(description)
        .bind(starts_at)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn cancel_event(&self, id: &EventId) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query(
            "UPDATE events SET cancelled_at = $2, sequence = sequence + 1, updated_at = $2 \
             WHERE id = $1 AND cancelled_at IS NULL AND room_id IS NULL",
        )
        .bind(&id.0)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn start_event(&self, id: &EventId, room: &RoomId) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query(
            "UPDATE events SET room_id = $2, started_at = $3, updated_at = $3 \
             WHERE id = $1 AND cancelled_at IS NULL AND room_id IS NULL",
        )
        .bind(&id.0)
        .bind(&room.0)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn answer_cohost(&self, id: &EventId, user: UserId, accept: bool) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let sql = if accept {
            "UPDATE event_hosts SET accepted = TRUE WHERE event_id = $1 AND user_id = $2 AND position > 0"
        } else {
            "DELETE FROM event_hosts WHERE event_id = $1 AND user_id = $2 AND position > 0"
        };
        let done = sqlx::query(sql).bind(&id.0).bind(user.0).execute(self.pool()).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn rsvp(&self, id: &EventId, user: UserId) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let done =
            sqlx::query("INSERT INTO rsvps (event_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(&id.0)
                .bind(user.0)
                .bind(now())
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn unrsvp(&self, id: &EventId, user: UserId) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query("DELETE FROM rsvps WHERE event_id = $1 AND user_id = $2")
            .bind(&id.0)
            .bind(user.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn rsvps(&self, id: &EventId, cursor: Option<i64>, limit: u32) -> Result<(u32, Page), StoreError> {
        let (total,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM rsvps WHERE event_id = $1").bind(&id.0).fetch_one(self.pool()).await?;
        let limit = limit.clamp(1, 200);
        let rows = sqlx::query(
            "SELECT u.id, u.username, u.display_name, x.id FROM rsvps x JOIN users u ON u.id = x.user_id \
             WHERE x.event_id = $1 AND x.id < $2 ORDER BY x.id DESC LIMIT $3",
        )
        .bind(&id.0)
        .bind(cursor.unwrap_or(i64::MAX))
        .bind(limit as i64 + 1)
        .fetch_all(self.pool())
        .await?;
        let more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        let page = Page {
            users: rows.iter().map(summary_from_row).collect(),
            next_cursor: if more { rows.last().map(|r| r.get::<i64, _>(3)) } else { None },
        };
        Ok((total as u32, page))
    }

    async fn upcoming(&self, viewer: UserId, now: i64, limit: u32) -> Result<Vec<EventRow>, StoreError> {
        // The groups: 0 hosts (or asked), 1 hosted by someone the viewer follows, 2 RSVPed, 3 the rest by
        // RSVPs. Within a group, the soonest first.
        let order = "CASE \
               WHEN EXISTS (SELECT 1 FROM event_hosts g WHERE g.event_id = e.id AND g.user_id = $1) THEN 0 \
               WHEN EXISTS (SELECT 1 FROM event_hosts g JOIN follows gf ON gf.followee = g.user_id AND gf.follower = $1 \
                            WHERE g.event_id = e.id AND g.accepted) THEN 1 \
               WHEN EXISTS (SELECT 1 FROM rsvps g WHERE g.event_id = e.id AND g.user_id = $1) THEN 2 \
               ELSE 3 END, \
             CASE WHEN EXISTS (SELECT 1 FROM event_hosts g WHERE g.event_id = e.id AND g.user_id = $1) \
                    OR EXISTS (SELECT 1 FROM event_hosts g JOIN follows gf ON gf.followee = g.user_id AND gf.follower = $1 \
                               WHERE g.event_id = e.id AND g.accepted) \
                    OR EXISTS (SELECT 1 FROM rsvps g WHERE g.event_id = e.id AND g.user_id = $1) \
                  THEN 0 ELSE -(SELECT COUNT(*) FROM rsvps g WHERE g.event_id = e.id) END, \
             e.starts_at, e.id";
        // Events start at most 60 days ahead, so the index on starts_at bounds the scan.
        self.events_where(viewer, now, &format!("{RECENT} AND {CURRENT}"), None, order, limit).await
    }

    async fn hosted_by(&self, viewer: UserId, host: UserId, now: i64, limit: u32) -> Result<Vec<EventRow>, StoreError> {
        self.events_where(
            viewer,
            now,
            &format!(
                "EXISTS (SELECT 1 FROM event_hosts hb WHERE hb.event_id = e.id AND hb.user_id = CAST($3 AS INTEGER) \
                 AND hb.accepted) AND {RECENT} AND {CURRENT}"
            ),
            Some(host.0.to_string()),
            "e.starts_at, e.id",
            limit,
        )
        .await
    }

    async fn club_events(&self, viewer: UserId, club: i64, now: i64, limit: u32) -> Result<Vec<EventRow>, StoreError> {
        self.events_where(
            viewer,
            now,
            &format!("e.club_id = CAST($3 AS INTEGER) AND {RECENT} AND {CURRENT}"),
            Some(club.to_string()),
            "e.starts_at, e.id",
            limit,
        )
        .await
    }

    async fn search_events(
        &self,
        viewer: UserId,
        fts: &str,
        now: i64,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        // The 200 best text matches (bm25 over the matches of a query, which ten thousand events keep to
        // hundreds), then those current and visible to the viewer, in the matches' order.
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM {} m \
             JOIN events e ON e.rowid = m.hit LEFT JOIN rooms r ON r.id = e.room_id \
             WHERE {CURRENT} AND {} ORDER BY m.score, e.starts_at LIMIT {}",
            backend::events_matching(3, 200),
            visible("$1"),
            limit.clamp(1, 200)
        );
        let rows = sqlx::query(&sql).bind(viewer.0).bind(now).bind(backend::fts(fts)).fetch_all(self.pool()).await?;
        self.with_hosts(rows.iter().map(event_from_row).collect()).await
    }

    async fn set_calendar_token(&self, user: UserId, token_hash: &str) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query(
            "INSERT INTO calendar_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET token_hash = $2, created_at = $3",
        )
        .bind(user.0)
        .bind(token_hash)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn revoke_calendar_token(&self, user: UserId) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let done =
            sqlx::query("DELETE FROM calendar_tokens WHERE user_id = $1").bind(user.0).execute(self.pool()).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn calendar_owner(&self, token_hash: &str) -> Result<Option<UserId>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT user_id FROM calendar_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(id,)| UserId(id)))
    }

    async fn calendar_events(&self, user: UserId, since: i64) -> Result<Vec<EventRow>, StoreError> {
        self.events_where(
            user,
            since,
            "e.starts_at > $2 AND (EXISTS (SELECT 1 FROM event_hosts c WHERE c.event_id = e.id AND c.user_id = $1 AND c.accepted) \
                  OR EXISTS (SELECT 1 FROM rsvps c WHERE c.event_id = e.id AND c.user_id = $1))",
            None,
            "e.starts_at, e.id",
            200,
        )
        .await
    }

    async fn notify(&self, notifications: &[NewNotification]) -> Result<Vec<NotificationRow>, StoreError> {
        let mut stored = Vec::new();
        for n in notifications {
            let users = json_ids([n.user.0]);
            stored.extend(
                self.insert_for(
                    &users,
                    Told {
                        kind: n.kind,
                        actor: n.actor,
                        room: n.room.as_ref(),
                        event: n.event.as_ref(),
                        club: n.club.as_deref(),
                        title: &n.title,
                    },
                    "",
                    &[],
                )
                .await?,
            );
        }
        Ok(stored)
    }

    async fn fan_out(
        &self,
        fan_out: &FanOut,
        cursor: i64,
        batch: u32,
    ) -> Result<(Vec<NotificationRow>, Option<i64>), StoreError> {
        self.fan_out_batch(fan_out, cursor, batch).await
    }

    async fn notifications(
        &self,
        user: UserId,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        let sql = format!("{NOTIFICATION_SELECT} WHERE n.user_id = $1 AND n.id < $2 ORDER BY n.id DESC LIMIT $3");
        let rows = sqlx::query(&sql)
            .bind(user.0)
            .bind(cursor.unwrap_or(i64::MAX))
            .bind(limit.clamp(1, 200) as i64)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.iter().map(notification_from_row).collect())
    }

    async fn unread_count(&self, user: UserId) -> Result<u32, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
            .bind(user.0)
            .fetch_one(&mut *self.reader().await?)
            .await?;
        Ok(n as u32)
    }

    async fn mark_read(&self, user: UserId, ids: &[i64], up_to: Option<i64>) -> Result<u64, StoreError> {
        let _write = self.write().await;
        let all = ids.is_empty() && up_to.is_none();
        let done = sqlx::query(&format!(
            "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL \
             AND ($5 OR id IN {} OR id <= $4)",
            backend::ids(3)
        ))
        .bind(user.0)
        .bind(now())
        .bind(json_ids(ids.iter().copied()))
        .bind(up_to.unwrap_or(-1))
        .bind(all)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    async fn notifications_about_room(&self, room: &RoomId) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM notifications WHERE room_id = $1")
            .bind(&room.0)
            .fetch_one(self.pool())
            .await?;
        Ok(n as u64)
    }

    async fn add_push_subscription(&self, target: &PushTarget) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query(
            "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (endpoint) DO UPDATE SET user_id = $1, p256dh = $3, auth = $4, created_at = $5",
        )
        .bind(target.user.0)
        .bind(&target.endpoint)
        .bind(&target.p256dh)
        .bind(&target.auth)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn remove_push_subscription(&self, endpoint: &str, user: Option<UserId>) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query("DELETE FROM push_subscriptions WHERE endpoint = $1 AND ($2 IS NULL OR user_id = $2)")
            .bind(endpoint)
            .bind(user.map(|u| u.0))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn push_targets(&self, users: &[UserId], kind: NotificationKind) -> Result<Vec<PushTarget>, StoreError> {
        let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(&format!(
            "SELECT p.user_id, p.endpoint, p.p256dh, p.auth, u.language FROM push_subscriptions p \
             JOIN users u ON u.id = p.user_id WHERE p.user_id IN {} \
             AND NOT EXISTS (SELECT 1 FROM push_muted_kinds m WHERE m.user_id = p.user_id AND m.kind = $2)",
            backend::ids(1)
        ))
        .bind(json_ids(users.iter().map(|u| u.0)))
        .bind(kind.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(user, endpoint, p256dh, auth, language)| PushTarget {
                user: UserId(user),
                endpoint,
                p256dh,
                auth,
                language,
            })
            .collect())
    }

    async fn push_subscription_count(&self, user: UserId) -> Result<u32, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM push_subscriptions WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(self.pool())
            .await?;
        Ok(n as u32)
    }

    async fn push_muted(&self, user: UserId) -> Result<Vec<NotificationKind>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT kind FROM push_muted_kinds WHERE user_id = $1")
            .bind(user.0)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().filter_map(|(k,)| NotificationKind::parse(k)).collect())
    }

    async fn set_push_muted(&self, user: UserId, kind: NotificationKind, muted: bool) -> Result<(), StoreError> {
        let _write = self.write().await;
        let sql = if muted {
            "INSERT INTO push_muted_kinds (user_id, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM push_muted_kinds WHERE user_id = $1 AND kind = $2"
        };
        sqlx::query(sql).bind(user.0).bind(kind.as_str()).execute(self.pool()).await?;
        Ok(())
    }

    async fn search_people(&self, viewer: UserId, fts: &str, limit: u32) -> Result<Vec<UserSummary>, StoreError> {
        // Type-ahead: the first 2,000 accounts that match every word (FTS5's prefix index finds them without
        // ranking all matches, which for a one-letter query is most of the database and cost 140 ms at
        // 100,000 accounts), minus those who block the viewer; then those whose username starts with the
        // first word, then whose display name does, then the shortest names.
        let first = fts.trim_start_matches('"').split('"').next().unwrap_or("").to_string();
        let rows = sqlx::query(&format!(
            "SELECT u.id, u.username, u.display_name FROM {} m JOIN users u ON u.id = m.hit \
             WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = u.id AND b.blocked = $1) \
             ORDER BY substr(u.username, 1, length($4)) = $4 DESC, \
                      substr(lower(u.display_name), 1, length($4)) = $4 DESC, \
                      length(u.username), u.id LIMIT $3",
            backend::people_matching(2, 2000)
        ))
        .bind(viewer.0)
        .bind(backend::fts(fts))
        .bind(limit.clamp(1, 50) as i64)
        .bind(first)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(summary_from_row).collect())
    }

    async fn suggestions(&self, viewer: UserId, limit: u32) -> Result<Vec<SuggestionRow>, StoreError> {
        // Friends of friends through at most the viewer's 500 newest follows, so the cost is bounded
        // whatever the graph; plus who invited the viewer.
        let rows = sqlx::query(
            "WITH mine AS (SELECT followee FROM follows WHERE follower = $1 ORDER BY id DESC LIMIT 500), \
                  cand AS (SELECT f.followee AS id, COUNT(*) AS via FROM follows f \
                           WHERE f.follower IN (SELECT followee FROM mine) GROUP BY f.followee \
                           UNION ALL SELECT invited_by, 0 FROM users WHERE id = $1 AND invited_by IS NOT NULL), \
                  picked AS (SELECT id, CAST(SUM(via) AS BIGINT) AS via FROM cand GROUP BY id) \
             SELECT u.id, u.username, u.display_name, \
                    (SELECT COUNT(*) FROM follows c WHERE c.followee = u.id) AS followers, p.via, \
                    u.id = (SELECT invited_by FROM users WHERE id = $1) \
             FROM picked p JOIN users u ON u.id = p.id \
             WHERE u.id != $1 \
               AND NOT EXISTS (SELECT 1 FROM follows x WHERE x.follower = $1 AND x.followee = u.id) \
               AND NOT EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker = $1 AND b.blocked = u.id) OR (b.blocker = u.id AND b.blocked = $1)) \
             ORDER BY followers DESC, p.via DESC, u.id LIMIT $2",
        )
        .bind(viewer.0)
        .bind(limit.clamp(1, 50) as i64)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| SuggestionRow {
                user: summary_from_row(r),
                followers: r.get::<i64, _>(3) as u32,
                via: r.get::<i64, _>(4) as u32,
                invited_viewer: r.get::<Option<bool>, _>(5).unwrap_or(false),
            })
            .collect())
    }

    async fn set_links(&self, user: UserId, links: &[String]) -> Result<(), StoreError> {
        let _write = self.write().await;
        // serde writes the JSON, so no link can break out of it.
        let links = serde_json::to_string(links).unwrap_or_else(|_| "[]".to_string());
        sqlx::query("UPDATE users SET links = $1 WHERE id = $2").bind(links).bind(user.0).execute(self.pool()).await?;
        Ok(())
    }

    async fn set_language(&self, user: UserId, language: &str) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query("UPDATE users SET language = $1 WHERE id = $2")
            .bind(language)
            .bind(user.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn clear_avatar(&self, user: UserId) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET avatar_version = 0 WHERE id = $1").bind(user.0).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM avatars WHERE user_id = $1").bind(user.0).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_avatar(&self, user: UserId, images: &[(u32, Vec<u8>)]) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM avatars WHERE user_id = $1").bind(user.0).execute(&mut *tx).await?;
        for (size, jpeg) in images {
            sqlx::query("INSERT INTO avatars (user_id, size, jpeg) VALUES ($1, $2, $3)")
                .bind(user.0)
                .bind(i64::from(*size))
                .bind(jpeg.as_slice())
                .execute(&mut *tx)
                .await?;
        }
        let (v,): (i64,) = sqlx::query_as(
            "UPDATE users SET avatar_version = avatar_version + 1 WHERE id = $1 RETURNING avatar_version",
        )
        .bind(user.0)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(v)
    }

    async fn avatar_image(&self, user: UserId, size: u32) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT jpeg FROM avatars WHERE user_id = $1 AND size = $2")
            .bind(user.0)
            .bind(i64::from(size))
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(jpeg,)| jpeg))
    }
}
