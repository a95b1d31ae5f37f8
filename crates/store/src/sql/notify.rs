//! Notifications in SQL, for both backends: a batch stored for the people who pass the room's, the event's
//! or the club's rules, told once an hour about one room (or club), read back with their actors.

use super::backend::{self, DbRow, This};
use super::social::visible;
use crate::StoreError;
use crate::common::{json_ids, now, visibility_str};
use crate::social::*;
use sqlx::Row;
use stoa_proto::{EventId, NotificationKind, RoomId, UserId, UserSummary};

pub(super) fn notification_from_row(row: &DbRow) -> NotificationRow {
    let actor = row.get::<Option<i64>, _>(3).map(|id| UserSummary {
        id: UserId(id),
        username: row.get::<Option<String>, _>(9).unwrap_or_default(),
        display_name: row.get::<Option<String>, _>(10).unwrap_or_default(),
    });
    NotificationRow {
        id: row.get(0),
        user: UserId(row.get(1)),
        kind: NotificationKind::parse(row.get::<&str, _>(2)).unwrap_or(NotificationKind::Followed),
        actor,
        room: row.get::<Option<String>, _>(4).map(RoomId),
        event: row.get::<Option<String>, _>(5).map(EventId),
        title: row.get(6),
        created_at: row.get(7),
        read: row.get::<Option<i64>, _>(8).is_some(),
        club: row.get(11),
        thread: None,
    }
}

/// `SELECT` of notifications with their actors, for [`notification_from_row`].
pub(super) const NOTIFICATION_SELECT: &str = "SELECT n.id, n.user_id, n.kind, n.actor, n.room_id, n.event_id, n.title, n.created_at, \
     n.read_at, a.username, a.display_name, n.club FROM notifications n LEFT JOIN users a ON a.id = n.actor";

/// Kinds about a room: a person is told about one room at most once an hour, whatever the kind.
fn about_room(kind: NotificationKind) -> bool {
    matches!(
        kind,
        NotificationKind::RoomStarted
            | NotificationKind::ClubRoomStarted
            | NotificationKind::OnStage
            | NotificationKind::EventStarted
            | NotificationKind::Pinged
            | NotificationKind::RoomInvite
    )
}

/// What a batch of notifications says.
pub(super) struct Told<'a> {
    pub(super) kind: NotificationKind,
    pub(super) actor: Option<UserId>,
    pub(super) room: Option<&'a RoomId>,
    pub(super) event: Option<&'a EventId>,
    /// The club's handle, for news of a club.
    pub(super) club: Option<&'a str>,
    pub(super) title: &'a str,
}

impl This {
    /// Stores the notifications of one batch: `users` (a JSON array) who pass the checks. `room`, if
    /// any, is what dedupe looks at.
    pub(super) async fn insert_for(
        &self,
        users_json: &str,
        told: Told<'_>,
        filter: &str,
        filter_binds: &[String],
    ) -> Result<Vec<NotificationRow>, StoreError> {
        let _write = self.write().await;
        let Told { kind, actor, room, event, club, title } = told;
        let now = now();
        // A person is told about a room once an hour whatever the kind; about being followed, once an
        // hour per follower.
        let dedupe = if room.is_some() && about_room(kind) {
            // The news of a room (started, someone on stage, an event started) is told once an hour
            // whatever its kind; a ping or an invitation is someone's deliberate act, told once an hour
            // of its own kind, even to someone who heard the news.
            match kind {
                NotificationKind::Pinged => {
                    "AND NOT EXISTS (SELECT 1 FROM notifications d WHERE d.user_id = j.value AND d.room_id = $4 \
                     AND d.kind = 'pinged' AND d.created_at > $7 - 3600)"
                }
                NotificationKind::RoomInvite => {
                    "AND NOT EXISTS (SELECT 1 FROM notifications d WHERE d.user_id = j.value AND d.room_id = $4 \
                     AND d.kind = 'room_invite' AND d.created_at > $7 - 3600)"
                }
                // That someone started a room is told once an hour per host, however many rooms they start.
                // That a club started a room is told once an hour per club, however many it starts.
                NotificationKind::ClubRoomStarted => {
                    "AND NOT EXISTS (SELECT 1 FROM notifications d WHERE d.user_id = j.value AND d.room_id = $4 \
                     AND d.kind IN ('room_started', 'on_stage', 'event_started', 'club_room_started') AND d.created_at > $7 - 3600) \
                     AND NOT EXISTS (SELECT 1 FROM notifications d WHERE d.user_id = j.value AND d.club = $8 \
                     AND d.kind = 'club_room_started' AND d.created_at > $7 - 3600)"
                }
                NotificationKind::RoomStarted => {
                    "AND NOT EXISTS (SELECT 1 FROM notifications d WHERE d.user_id = j.value AND d.room_id = $4 \
                     AND d.kind IN ('room_started', 'on_stage', 'event_started', 'club_room_started') AND d.created_at > $7 - 3600) \
                     AND NOT EXISTS (SELECT 1 FROM notifications d WHERE d.user_id = j.value AND d.actor = $3 \
                     AND d.kind = 'room_started' AND d.created_at > $7 - 3600)"
                }
                _ => {
                    "AND NOT EXISTS (SELECT 1 FROM notifications d WHERE d.user_id = j.value AND d.room_id = $4 \
                     AND d.kind IN ('room_started', 'on_stage', 'event_started', 'club_room_started') AND d.created_at > $7 - 3600)"
                }
            }
        } else if kind == NotificationKind::Followed {
            "AND NOT EXISTS (SELECT 1 FROM notifications d WHERE d.user_id = j.value AND d.kind = 'followed' AND d.actor = $3 AND d.created_at > $7 - 3600)"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO notifications (user_id, kind, actor, room_id, event_id, title, created_at, club) \
             SELECT j.value, $2, $3, $4, $5, $6, $7, $8 FROM {ids} j \
             WHERE ($3 IS NULL OR (j.value != $3 AND NOT EXISTS (SELECT 1 FROM blocks b \
                 WHERE (b.blocker = j.value AND b.blocked = $3) OR (b.blocker = $3 AND b.blocked = j.value)))) \
             {dedupe} {filter} RETURNING id",
            ids = backend::ids(1)
        );
        let mut query = sqlx::query_as::<_, (i64,)>(&sql)
            .bind(users_json)
            .bind(kind.as_str())
            .bind(actor.map(|a| a.0))
            .bind(room.map(|r| r.0.as_str()))
            .bind(event.map(|e| e.0.as_str()))
            .bind(title)
            .bind(now)
            .bind(club);
        for b in filter_binds {
            query = query.bind(b);
        }
        let ids: Vec<i64> = query.fetch_all(self.pool()).await?.into_iter().map(|(id,)| id).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("{NOTIFICATION_SELECT} WHERE n.id IN {} ORDER BY n.id", backend::ids(1));
        let rows = sqlx::query(&sql).bind(json_ids(ids)).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(notification_from_row).collect())
    }

    pub(super) async fn fan_out_batch(
        &self,
        fan_out: &FanOut,
        cursor: i64,
        batch: u32,
    ) -> Result<(Vec<NotificationRow>, Option<i64>), StoreError> {
        let batch = batch.clamp(1, 10_000) as i64;
        let (source, key) = match &fan_out.audience {
            Audience::FollowersSeeing(_) => (
                "SELECT id, follower FROM follows WHERE followee = CAST($1 AS INTEGER) AND id > $2 ORDER BY id LIMIT $3",
                fan_out.actor.0.to_string(),
            ),
            // A club's followers (a cursor of zero or more, their rows' IDs), then its members (a negative
            // cursor, minus one less their rows' IDs): each an index range, never a scan of the whole club
            // per batch. A member who follows is told once (the club's news is told once an hour).
            Audience::ClubSeeing { club, .. } if cursor >= 0 => (
                "SELECT id, user_id FROM club_follows WHERE club_id = CAST($1 AS INTEGER) AND id > $2 ORDER BY id LIMIT $3",
                club.to_string(),
            ),
            Audience::ClubSeeing { club, .. } => (
                "SELECT -id - 1, user_id FROM club_members WHERE club_id = CAST($1 AS INTEGER) AND state = 'member' \
                 AND id > -$2 - 1 ORDER BY id LIMIT $3",
                club.to_string(),
            ),
            Audience::Rsvps { event, .. } => {
                ("SELECT id, user_id FROM rsvps WHERE event_id = $1 AND id > $2 ORDER BY id LIMIT $3", event.0.clone())
            }
        };
        let rows: Vec<(i64, i64)> =
            sqlx::query_as(source).bind(key).bind(cursor).bind(batch).fetch_all(self.pool()).await?;
        let mut next = (rows.len() as i64 == batch).then(|| rows.last().map(|r| r.0)).flatten();
        if next.is_none() && cursor >= 0 && matches!(fan_out.audience, Audience::ClubSeeing { .. }) {
            // The followers are done: the members next, from the start.
            next = Some(-1);
        }
        if rows.is_empty() {
            return Ok((Vec::new(), next));
        }
        let users = json_ids(rows.iter().map(|r| r.1));
        let stored = match &fan_out.audience {
            Audience::FollowersSeeing(room) => {
                let (filter, binds) = room_rules(room);
                let told = Told {
                    kind: fan_out.kind,
                    actor: Some(fan_out.actor),
                    room: Some(&room.room),
                    event: None,
                    club: None,
                    title: &fan_out.title,
                };
                self.insert_for(&users, told, &filter, &binds).await?
            }
            Audience::ClubSeeing { room, handle, .. } => {
                let (filter, binds) = room_rules(room);
                let told = Told {
                    kind: fan_out.kind,
                    actor: Some(fan_out.actor),
                    room: Some(&room.room),
                    event: None,
                    club: Some(handle),
                    title: &fan_out.title,
                };
                self.insert_for(&users, told, &filter, &binds).await?
            }
            Audience::Rsvps { event, room } => {
                let filter = format!("AND EXISTS (SELECT 1 FROM events e WHERE e.id = $5 AND {})", visible("j.value"));
                let told = Told {
                    kind: fan_out.kind,
                    actor: Some(fan_out.actor),
                    room: room.as_ref(),
                    event: Some(event),
                    club: None,
                    title: &fan_out.title,
                };
                self.insert_for(&users, told, &filter, &[]).await?
            }
        };
        Ok((stored, next))
    }
}

/// The room rules for each person told (`j.value`), as `stoa_room::may_see` has them: not removed, not
/// blocked by a moderator, not banned by the hosting club; open: anyone; social: followed by a moderator,
/// or for a club's room its followers and members; closed: invited, or for a club's room its members too.
/// Parameters 9 to 13.
fn room_rules(room: &RoomAudience) -> (String, Vec<String>) {
    let filter = format!(
        "AND j.value NOT IN {removed} \
         AND NOT EXISTS (SELECT 1 FROM blocks mb WHERE mb.blocked = j.value AND mb.blocker IN {moderators}) \
         AND NOT EXISTS (SELECT 1 FROM club_members cb WHERE cb.club_id = CAST($13 AS INTEGER) \
                         AND cb.user_id = j.value AND cb.state = 'banned') \
         AND ($12 = 'open' \
              OR (CAST($13 AS INTEGER) = 0 AND $12 = 'social' AND EXISTS (SELECT 1 FROM follows mf \
                  WHERE mf.followee = j.value AND mf.follower IN {moderators})) \
              OR (CAST($13 AS INTEGER) = 0 AND $12 = 'closed' AND j.value IN {invited}) \
              OR (CAST($13 AS INTEGER) <> 0 AND $12 IN ('social', 'closed') AND EXISTS (SELECT 1 FROM club_members cm \
                  WHERE cm.club_id = CAST($13 AS INTEGER) AND cm.user_id = j.value AND cm.state = 'member')) \
              OR (CAST($13 AS INTEGER) <> 0 AND $12 = 'social' AND EXISTS (SELECT 1 FROM club_follows cf \
                  WHERE cf.club_id = CAST($13 AS INTEGER) AND cf.user_id = j.value)) \
              OR (CAST($13 AS INTEGER) <> 0 AND $12 = 'closed' AND j.value IN {invited}))",
        moderators = backend::ids(9),
        invited = backend::ids(10),
        removed = backend::ids(11),
    );
    let binds = vec![
        json_ids(room.moderators.iter().map(|u| u.0)),
        json_ids(room.invited.iter().map(|u| u.0)),
        json_ids(room.removed.iter().map(|u| u.0)),
        visibility_str(room.visibility).to_string(),
        room.club.unwrap_or(0).to_string(),
    ];
    (filter, binds)
}
