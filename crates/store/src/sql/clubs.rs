//! [`Clubs`] in SQL, for both backends (see `core.rs`). Each change that a bound or a succession depends on
//! runs in one write transaction, so that racing requests (on one node or several) cannot pass a bound.

use super::backend::{Conn, DbRow, This};
use crate::StoreError;
use crate::clubs::*;
use crate::common::{json_ids, now, on_unique};
use crate::community::admin_action;
use async_trait::async_trait;
use sqlx::Row;
use stoa_proto::{ClubPolicy, ClubRole, ClubStanding, UserId, UserSummary};

const COLUMNS: &str = "c.id, c.handle, c.name, c.description, c.rules, c.policy, u.id, u.username, u.display_name, \
     c.avatar_version, c.suspended_reason, c.created_at, \
     (SELECT COUNT(*) FROM club_members m WHERE m.club_id = c.id AND m.state = 'member'), \
     (SELECT COUNT(*) FROM club_follows f WHERE f.club_id = c.id) \
     FROM clubs c JOIN users u ON u.id = c.owner_id";

/// [`COLUMNS`] without the counts, which grow with the club.
const HEAD_COLUMNS: &str = "c.id, c.handle, c.name, c.description, c.rules, c.policy, u.id, u.username, u.display_name, \
     c.avatar_version, c.suspended_reason, c.created_at, CAST(0 AS BIGINT), CAST(0 AS BIGINT) \
     FROM clubs c JOIN users u ON u.id = c.owner_id";

pub(crate) fn policy_str(p: ClubPolicy) -> &'static str {
    match p {
        ClubPolicy::Open => "open",
        ClubPolicy::Approval => "approval",
        ClubPolicy::Invitation => "invitation",
    }
}

fn policy_of(s: &str) -> ClubPolicy {
    match s {
        "open" => ClubPolicy::Open,
        "approval" => ClubPolicy::Approval,
        _ => ClubPolicy::Invitation,
    }
}

fn role_str(r: ClubRole) -> &'static str {
    match r {
        ClubRole::Owner => "owner",
        ClubRole::Admin => "admin",
        ClubRole::Leader => "leader",
        ClubRole::Member => "member",
    }
}

fn role_of(s: &str) -> ClubRole {
    match s {
        "owner" => ClubRole::Owner,
        "admin" => ClubRole::Admin,
        "leader" => ClubRole::Leader,
        _ => ClubRole::Member,
    }
}

fn standing_str(s: ClubStanding) -> &'static str {
    match s {
        ClubStanding::Member => "member",
        ClubStanding::Requested => "requested",
        ClubStanding::Invited => "invited",
        ClubStanding::Banned => "banned",
    }
}

fn standing_of(s: &str) -> ClubStanding {
    match s {
        "member" => ClubStanding::Member,
        "requested" => ClubStanding::Requested,
        "invited" => ClubStanding::Invited,
        _ => ClubStanding::Banned,
    }
}

fn club_from(row: &DbRow, at: usize) -> ClubRow {
    ClubRow {
        id: row.get(at),
        handle: row.get(at + 1),
        name: row.get(at + 2),
        description: row.get(at + 3),
        rules: row.get(at + 4),
        policy: policy_of(&row.get::<String, _>(at + 5)),
        owner: UserSummary { id: UserId(row.get(at + 6)), username: row.get(at + 7), display_name: row.get(at + 8) },
        avatar_version: row.get(at + 9),
        suspended: row.get(at + 10),
        created_at: row.get(at + 11),
        members: row.get(at + 12),
        followers: row.get(at + 13),
    }
}

/// A person's row in a club: (row ID, standing, role).
async fn standing_in(conn: &mut Conn, club: i64, user: UserId) -> Result<Option<(i64, String, String)>, StoreError> {
    Ok(sqlx::query_as("SELECT id, state, role FROM club_members WHERE club_id = $1 AND user_id = $2")
        .bind(club)
        .bind(user.0)
        .fetch_optional(conn)
        .await?)
}

async fn count(conn: &mut Conn, sql: &str, a: i64) -> Result<u32, StoreError> {
    let (n,): (i64,) = sqlx::query_as(sql).bind(a).fetch_one(conn).await?;
    Ok(n as u32)
}

/// Makes `user`'s row a member's in `role`, keeping its place in the order of arrival when they had one.
async fn make_member(conn: &mut Conn, club: i64, user: UserId, role: ClubRole) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO club_members (club_id, user_id, state, role, since) VALUES ($1, $2, 'member', $3, $4) \
         ON CONFLICT (club_id, user_id) DO UPDATE SET state = 'member', role = $3, since = $4",
    )
    .bind(club)
    .bind(user.0)
    .bind(role_str(role))
    .bind(now())
    .execute(conn)
    .await?;
    Ok(())
}

/// The owner is gone (left, or deleted their account): the longest-standing admin, else leader, else member
/// takes the club; with no one left, the club goes.
pub(crate) async fn succeed_owner(conn: &mut Conn, club: i64) -> Result<LeaveOutcome, StoreError> {
    let next: Option<(i64,)> = sqlx::query_as(
        "SELECT user_id FROM club_members WHERE club_id = $1 AND state = 'member' AND role <> 'owner' \
         ORDER BY CASE role WHEN 'admin' THEN 0 WHEN 'leader' THEN 1 ELSE 2 END, id LIMIT 1",
    )
    .bind(club)
    .fetch_optional(&mut *conn)
    .await?;
    match next {
        Some((user,)) => {
            sqlx::query("UPDATE club_members SET role = 'owner' WHERE club_id = $1 AND user_id = $2")
                .bind(club)
                .bind(user)
                .execute(&mut *conn)
                .await?;
            sqlx::query("UPDATE clubs SET owner_id = $2 WHERE id = $1")
                .bind(club)
                .bind(user)
                .execute(&mut *conn)
                .await?;
            Ok(LeaveOutcome::NewOwner(UserId(user)))
        }
        None => {
            for sql in [
                "DELETE FROM club_members WHERE club_id = $1",
                "DELETE FROM club_follows WHERE club_id = $1",
                "DELETE FROM club_avatars WHERE club_id = $1",
                "DELETE FROM clubs WHERE id = $1",
            ] {
                sqlx::query(sql).bind(club).execute(&mut *conn).await?;
            }
            Ok(LeaveOutcome::ClubDeleted)
        }
    }
}

/// A deleted account leaves every club: its follows, requests, invitations and bans go, and the clubs it
/// owned pass on (see [`succeed_owner`]).
pub(crate) async fn forget_in_clubs(conn: &mut Conn, user: UserId) -> Result<(), StoreError> {
    let owned: Vec<(i64,)> =
        sqlx::query_as("SELECT id FROM clubs WHERE owner_id = $1").bind(user.0).fetch_all(&mut *conn).await?;
    sqlx::query("DELETE FROM club_members WHERE user_id = $1").bind(user.0).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM club_follows WHERE user_id = $1").bind(user.0).execute(&mut *conn).await?;
    for (club,) in owned {
        succeed_owner(conn, club).await?;
    }
    Ok(())
}

#[async_trait]
impl Clubs for This {
    async fn create_club(&self, new: &NewClub) -> Result<ClubRow, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let now = now();
        let made_today = count(
            &mut tx,
            &format!("SELECT COUNT(*) FROM clubs WHERE created_by = $1 AND created_at > {}", now - 86_400),
            new.owner.0,
        )
        .await?;
        let owned = count(&mut tx, "SELECT COUNT(*) FROM clubs WHERE owner_id = $1", new.owner.0).await?;
        if made_today >= CLUBS_PER_DAY || owned >= CLUBS_OWNED {
            return Err(StoreError::RateLimited);
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO clubs (handle, name, description, rules, policy, owner_id, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING id",
        )
        .bind(&new.handle)
        .bind(&new.name)
        .bind(&new.description)
        .bind(&new.rules)
        .bind(policy_str(new.policy))
        .bind(new.owner.0)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| on_unique(e, StoreError::HandleTaken))?;
        make_member(&mut tx, id, new.owner, ClubRole::Owner).await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} WHERE c.id = $1")).bind(id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(club_from(&row, 0))
    }

    async fn club(&self, handle: &str) -> Result<Option<ClubRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} WHERE c.handle = $1"))
            .bind(handle.to_ascii_lowercase())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(|r| club_from(r, 0)))
    }

    async fn club_head(&self, handle: &str) -> Result<Option<ClubRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {HEAD_COLUMNS} WHERE c.handle = $1"))
            .bind(handle.to_ascii_lowercase())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(|r| club_from(r, 0)))
    }

    async fn membership(&self, club: i64, user: UserId) -> Result<Membership, StoreError> {
        let row: Option<(Option<String>, Option<String>, i64)> = sqlx::query_as(
            "SELECT (SELECT state FROM club_members WHERE club_id = $1 AND user_id = $2), \
                    (SELECT role FROM club_members WHERE club_id = $1 AND user_id = $2), \
                    (SELECT COUNT(*) FROM club_follows WHERE club_id = $1 AND user_id = $2)",
        )
        .bind(club)
        .bind(user.0)
        .fetch_optional(self.pool())
        .await?;
        let Some((state, role, following)) = row else { return Ok(Membership::default()) };
        let standing = state.as_deref().map(standing_of);
        let role = role.as_deref().map(role_of).filter(|_| standing == Some(ClubStanding::Member));
        Ok(Membership { standing, role, following: following > 0 })
    }

    async fn update_club(
        &self,
        club: i64,
        name: Option<&str>,
        description: Option<&str>,
        rules: Option<&str>,
        policy: Option<ClubPolicy>,
    ) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query(
            "UPDATE clubs SET name = COALESCE($2, name), description = COALESCE($3, description), \
             rules = COALESCE($4, rules), policy = COALESCE($5, policy) WHERE id = $1",
        )
        .bind(club)
        .bind(name)
        .bind(description)
        .bind(rules)
        .bind(policy.map(policy_str))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn join_club(&self, club: i64, user: UserId) -> Result<JoinOutcome, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let policy: Option<(String,)> =
            sqlx::query_as("SELECT policy FROM clubs WHERE id = $1").bind(club).fetch_optional(&mut *tx).await?;
        let Some((policy,)) = policy else { return Ok(JoinOutcome::InvitationOnly) };
        let outcome = match standing_in(&mut tx, club, user).await?.map(|(_, s, _)| standing_of(&s)) {
            Some(ClubStanding::Member) => JoinOutcome::AlreadyMember,
            Some(ClubStanding::Requested) => JoinOutcome::StillWaiting,
            Some(ClubStanding::Banned) => JoinOutcome::Banned,
            Some(ClubStanding::Invited) => {
                make_member(&mut tx, club, user, ClubRole::Member).await?;
                JoinOutcome::Joined
            }
            None => match policy_of(&policy) {
                ClubPolicy::Open => {
                    make_member(&mut tx, club, user, ClubRole::Member).await?;
                    JoinOutcome::Joined
                }
                ClubPolicy::Invitation => JoinOutcome::InvitationOnly,
                ClubPolicy::Approval => {
                    let mine = count(
                        &mut tx,
                        "SELECT COUNT(*) FROM club_members WHERE user_id = $1 AND state = 'requested'",
                        user.0,
                    )
                    .await?;
                    let theirs = count(
                        &mut tx,
                        "SELECT COUNT(*) FROM club_members WHERE club_id = $1 AND state = 'requested'",
                        club,
                    )
                    .await?;
                    if mine >= CLUB_REQUESTS_PER_PERSON {
                        JoinOutcome::TooManyOfYours
                    } else if theirs >= CLUB_REQUESTS_PER_CLUB {
                        JoinOutcome::TooManyForClub
                    } else {
                        sqlx::query(
                            "INSERT INTO club_members (club_id, user_id, state, role, since) \
                             VALUES ($1, $2, 'requested', 'member', $3)",
                        )
                        .bind(club)
                        .bind(user.0)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                        JoinOutcome::Requested
                    }
                }
            },
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn leave_club(&self, club: i64, user: UserId) -> Result<LeaveOutcome, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let outcome = match standing_in(&mut tx, club, user).await? {
            None => LeaveOutcome::Nothing,
            Some((_, state, _)) if state == "banned" => LeaveOutcome::Nothing,
            Some((id, state, role)) => {
                sqlx::query("DELETE FROM club_members WHERE id = $1").bind(id).execute(&mut *tx).await?;
                if state == "member" && role == "owner" {
                    succeed_owner(&mut tx, club).await?
                } else {
                    LeaveOutcome::Left
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn answer_club_request(&self, club: i64, user: UserId, approve: bool) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let Some((id, state, _)) = standing_in(&mut tx, club, user).await? else { return Ok(false) };
        if state != "requested" {
            return Ok(false);
        }
        if approve {
            make_member(&mut tx, club, user, ClubRole::Member).await?;
        } else {
            sqlx::query("DELETE FROM club_members WHERE id = $1").bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn invite_to_club(&self, club: i64, by: UserId, user: UserId) -> Result<InviteOutcome, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let (blocked,): (bool,) = sqlx::query_as(
            "SELECT EXISTS(SELECT 1 FROM blocks WHERE (blocker = $1 AND blocked = $2) OR (blocker = $2 AND blocked = $1))",
        )
        .bind(by.0)
        .bind(user.0)
        .fetch_one(&mut *tx)
        .await?;
        if blocked {
            return Ok(InviteOutcome::Blocked);
        }
        let outcome = match standing_in(&mut tx, club, user).await?.map(|(_, s, _)| standing_of(&s)) {
            Some(ClubStanding::Member | ClubStanding::Invited) => InviteOutcome::Already,
            Some(ClubStanding::Banned) => InviteOutcome::Banned,
            Some(ClubStanding::Requested) => {
                make_member(&mut tx, club, user, ClubRole::Member).await?;
                InviteOutcome::Joined
            }
            None => {
                let club_pending =
                    count(&mut tx, "SELECT COUNT(*) FROM club_members WHERE club_id = $1 AND state = 'invited'", club)
                        .await?;
                let person_pending = count(
                    &mut tx,
                    "SELECT COUNT(*) FROM club_members WHERE user_id = $1 AND state = 'invited'",
                    user.0,
                )
                .await?;
                if club_pending >= CLUB_INVITATIONS_PER_CLUB {
                    InviteOutcome::TooManyForClub
                } else if person_pending >= CLUB_INVITATIONS_PER_PERSON {
                    InviteOutcome::TooManyForPerson
                } else {
                    sqlx::query(
                        "INSERT INTO club_members (club_id, user_id, state, role, invited_by, since) \
                         VALUES ($1, $2, 'invited', 'member', $3, $4)",
                    )
                    .bind(club)
                    .bind(user.0)
                    .bind(by.0)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                    InviteOutcome::Invited
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn withdraw_club_invitation(&self, club: i64, user: UserId) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query("DELETE FROM club_members WHERE club_id = $1 AND user_id = $2 AND state = 'invited'")
            .bind(club)
            .bind(user.0)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_club_role(&self, club: i64, user: UserId, role: ClubRole) -> Result<bool, StoreError> {
        if role == ClubRole::Owner {
            return Ok(false);
        }
        let _write = self.write().await;
        let done = sqlx::query(
            "UPDATE club_members SET role = $3 WHERE club_id = $1 AND user_id = $2 AND state = 'member' AND role <> 'owner'",
        )
        .bind(club)
        .bind(user.0)
        .bind(role_str(role))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn remove_from_club(&self, club: i64, user: UserId, ban: bool) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let row = standing_in(&mut tx, club, user).await?;
        if row.as_ref().is_some_and(|(_, _, role)| role == "owner") {
            return Ok(false);
        }
        let changed = match (row, ban) {
            (Some((_, state, _)), true) if state == "banned" => false,
            (_, true) => {
                sqlx::query(
                    "INSERT INTO club_members (club_id, user_id, state, role, since) VALUES ($1, $2, 'banned', 'member', $3) \
                     ON CONFLICT (club_id, user_id) DO UPDATE SET state = 'banned', role = 'member', since = $3",
                )
                .bind(club)
                .bind(user.0)
                .bind(now())
                .execute(&mut *tx)
                .await?;
                true
            }
            (Some((id, state, _)), false) if state != "banned" => {
                sqlx::query("DELETE FROM club_members WHERE id = $1").bind(id).execute(&mut *tx).await?;
                true
            }
            _ => false,
        };
        tx.commit().await?;
        Ok(changed)
    }

    async fn unban_from_club(&self, club: i64, user: UserId) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query("DELETE FROM club_members WHERE club_id = $1 AND user_id = $2 AND state = 'banned'")
            .bind(club)
            .bind(user.0)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn transfer_club(&self, club: i64, to: UserId) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        match standing_in(&mut tx, club, to).await? {
            Some((_, state, role)) if state == "member" && role != "owner" => {}
            _ => return Ok(false),
        }
        sqlx::query(
            "UPDATE club_members SET role = 'admin' WHERE club_id = $1 AND state = 'member' AND role = 'owner'",
        )
        .bind(club)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE club_members SET role = 'owner' WHERE club_id = $1 AND user_id = $2")
            .bind(club)
            .bind(to.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE clubs SET owner_id = $2 WHERE id = $1").bind(club).bind(to.0).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn follow_club(&self, club: i64, user: UserId, follow: bool) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let done = if follow {
            sqlx::query(
                "INSERT INTO club_follows (club_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(club)
            .bind(user.0)
            .bind(now())
            .execute(self.pool())
            .await?
        } else {
            sqlx::query("DELETE FROM club_follows WHERE club_id = $1 AND user_id = $2")
                .bind(club)
                .bind(user.0)
                .execute(self.pool())
                .await?
        };
        Ok(done.rows_affected() > 0)
    }

    async fn club_people(
        &self,
        club: i64,
        standing: ClubStanding,
        viewer: UserId,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<ClubPeople, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, u.id, u.username, u.display_name, m.state, m.role, m.since FROM club_members m \
             JOIN users u ON u.id = m.user_id \
             WHERE m.club_id = $1 AND m.state = $2 AND m.id > $3 \
               AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = u.id AND b.blocked = $4) \
             ORDER BY m.id LIMIT $5",
        )
        .bind(club)
        .bind(standing_str(standing))
        .bind(cursor.unwrap_or(0))
        .bind(viewer.0)
        .bind(i64::from(limit) + 1)
        .fetch_all(self.pool())
        .await?;
        let more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        let people = rows
            .iter()
            .map(|r| {
                let standing = standing_of(&r.get::<String, _>(4));
                let role = (standing == ClubStanding::Member).then(|| role_of(&r.get::<String, _>(5)));
                (
                    UserSummary { id: UserId(r.get(1)), username: r.get(2), display_name: r.get(3) },
                    standing,
                    role,
                    r.get(6),
                )
            })
            .collect();
        Ok(ClubPeople { people, next_cursor: rows.last().filter(|_| more).map(|r| r.get(0)) })
    }

    async fn club_ties(&self, user: UserId, clubs: &[i64]) -> Result<ClubTiesRow, StoreError> {
        if clubs.is_empty() {
            return Ok(ClubTiesRow::default());
        }
        let list = json_ids(clubs.iter().copied());
        let standing: Vec<(i64, String)> = sqlx::query_as(&format!(
            "SELECT club_id, state FROM club_members WHERE user_id = $1 AND club_id IN {}",
            super::backend::ids(2)
        ))
        .bind(user.0)
        .bind(&list)
        .fetch_all(self.pool())
        .await?;
        let following: Vec<(i64,)> = sqlx::query_as(&format!(
            "SELECT club_id FROM club_follows WHERE user_id = $1 AND club_id IN {}",
            super::backend::ids(2)
        ))
        .bind(user.0)
        .bind(&list)
        .fetch_all(self.pool())
        .await?;
        Ok(ClubTiesRow {
            standing: standing.into_iter().map(|(c, s)| (c, standing_of(&s))).collect(),
            following: following.into_iter().map(|(c,)| c).collect(),
        })
    }

    async fn search_clubs(&self, fts: &str, limit: u32) -> Result<Vec<ClubRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} JOIN {} m ON m.hit = c.id WHERE c.suspended_at IS NULL ORDER BY m.score, c.id LIMIT $2",
            super::backend::clubs_matching(1, 200)
        ))
        .bind(super::backend::fts(fts))
        .bind(i64::from(limit.clamp(1, 50)))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(|r| club_from(r, 0)).collect())
    }

    async fn suggested_clubs(&self, viewer: UserId, limit: u32) -> Result<Vec<(ClubRow, u32)>, StoreError> {
        // From the people the viewer follows (at most the 2,000 most recent), to their clubs.
        let rows = sqlx::query(&format!(
            "SELECT s.n, {COLUMNS} JOIN (SELECT m.club_id AS club, COUNT(*) AS n FROM \
               (SELECT followee FROM follows WHERE follower = $1 ORDER BY id DESC LIMIT 2000) f \
               JOIN club_members m ON m.user_id = f.followee AND m.state = 'member' GROUP BY m.club_id) s \
             ON s.club = c.id \
             WHERE c.suspended_at IS NULL \
               AND NOT EXISTS (SELECT 1 FROM club_members x WHERE x.club_id = c.id AND x.user_id = $1) \
               AND NOT EXISTS (SELECT 1 FROM club_follows x WHERE x.club_id = c.id AND x.user_id = $1) \
             ORDER BY s.n DESC, c.id LIMIT $2"
        ))
        .bind(viewer.0)
        .bind(i64::from(limit.clamp(1, 50)))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(|r| (club_from(r, 1), r.get::<i64, _>(0) as u32)).collect())
    }

    async fn suspend_club(&self, club: i64, admin: Option<UserId>, reason: Option<&str>) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let done = match reason {
            Some(reason) => {
                sqlx::query(
                    "UPDATE clubs SET suspended_at = $2, suspended_reason = $3 WHERE id = $1 AND suspended_at IS NULL",
                )
                .bind(club)
                .bind(now())
                .bind(reason)
                .execute(&mut *tx)
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE clubs SET suspended_at = NULL, suspended_reason = NULL WHERE id = $1 AND suspended_at IS NOT NULL",
                )
                .bind(club)
                .execute(&mut *tx)
                .await?
            }
        };
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let action = if reason.is_some() { admin_action::SUSPEND_CLUB } else { admin_action::UNSUSPEND_CLUB };
        super::core::insert_admin_log(&mut tx, admin, action, &club.to_string(), reason.unwrap_or("")).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn all_clubs(&self, cursor: Option<i64>, limit: u32) -> Result<Vec<ClubRow>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} WHERE c.id < $1 ORDER BY c.id DESC LIMIT $2"))
            .bind(cursor.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(|r| club_from(r, 0)).collect())
    }

    async fn set_club_avatar(&self, club: i64, images: &[(u32, Vec<u8>)]) -> Result<i64, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM club_avatars WHERE club_id = $1").bind(club).execute(&mut *tx).await?;
        for (size, jpeg) in images {
            sqlx::query("INSERT INTO club_avatars (club_id, size, jpeg) VALUES ($1, $2, $3)")
                .bind(club)
                .bind(i64::from(*size))
                .bind(jpeg.as_slice())
                .execute(&mut *tx)
                .await?;
        }
        let (v,): (i64,) = sqlx::query_as(
            "UPDATE clubs SET avatar_version = avatar_version + 1 WHERE id = $1 RETURNING avatar_version",
        )
        .bind(club)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(v)
    }

    async fn clear_club_avatar(&self, club: i64) -> Result<(), StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE clubs SET avatar_version = 0 WHERE id = $1").bind(club).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM club_avatars WHERE club_id = $1").bind(club).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn club_avatar_image(&self, club: i64, size: u32) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT jpeg FROM club_avatars WHERE club_id = $1 AND size = $2")
            .bind(club)
            .bind(i64::from(size))
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(jpeg,)| jpeg))
    }

    async fn seed_club_follows(&self, club: i64, users: &[UserId]) -> Result<(), StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO club_follows (club_id, user_id, created_at) SELECT $1, value, $3 FROM {} j WHERE true \
             ON CONFLICT DO NOTHING",
            super::backend::ids(2)
        ))
        .bind(club)
        .bind(json_ids(users.iter().map(|u| u.0)))
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn club_admins(&self, club: i64) -> Result<Vec<UserId>, StoreError> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT user_id FROM club_members WHERE club_id = $1 AND state = 'member' AND role IN ('owner', 'admin') \
             ORDER BY id",
        )
        .bind(club)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(id,)| UserId(id)).collect())
    }

    async fn clubs_of(&self, user: UserId, own: bool) -> Result<Vec<ClubOfRow>, StoreError> {
        let states = if own { "('member', 'invited', 'requested')" } else { "('member')" };
        let rows = sqlx::query(&format!(
            "SELECT m.state, m.role, {COLUMNS} JOIN club_members m ON m.club_id = c.id \
             WHERE m.user_id = $1 AND m.state IN {states} AND c.suspended_at IS NULL ORDER BY m.id"
        ))
        .bind(user.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let standing = standing_of(&r.get::<String, _>(0));
                let role = (standing == ClubStanding::Member).then(|| role_of(&r.get::<String, _>(1)));
                ClubOfRow { club: club_from(r, 2), standing, role }
            })
            .collect())
    }
}
