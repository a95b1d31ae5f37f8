//! [`Recordings`] in SQL, for both backends (see `core.rs`).

use super::backend::{DbRow, This};
use crate::StoreError;
use crate::common::visibility_str;
use crate::recordings::*;
use async_trait::async_trait;
use sqlx::Row;
use stoa_proto::{RecordingKind, RoomId, UserId, UserSummary, Visibility};

const COLUMNS: &str = "r.id, r.kind, r.room_id, r.title, r.visibility, h.id, h.username, h.display_name, \
     m.id, m.username, m.display_name, r.allowed, r.file, r.started_at, r.duration_ms, r.report_id, r.club_id \
     FROM recordings r JOIN users h ON h.id = r.host_id JOIN users m ON m.id = r.made_by";

fn kind_str(k: RecordingKind) -> &'static str {
    match k {
        RecordingKind::Replay => "replay",
        RecordingKind::Clip => "clip",
        RecordingKind::Report => "report",
    }
}

fn from_row(row: &DbRow) -> RecordingRecord {
    let kind = match row.get::<String, _>(1).as_str() {
        "clip" => RecordingKind::Clip,
        "report" => RecordingKind::Report,
        _ => RecordingKind::Replay,
    };
    let visibility = match row.get::<String, _>(4).as_str() {
        "open" => Visibility::Open,
        "social" => Visibility::Social,
        _ => Visibility::Closed,
    };
    let allowed: String = row.get(11);
    RecordingRecord {
        id: row.get(0),
        kind,
        room: RoomId(row.get(2)),
        title: row.get(3),
        visibility,
        host: UserSummary { id: UserId(row.get(5)), username: row.get(6), display_name: row.get(7) },
        made_by: UserSummary { id: UserId(row.get(8)), username: row.get(9), display_name: row.get(10) },
        allowed: allowed.split_whitespace().filter_map(|x| x.parse().ok()).map(UserId).collect(),
        file: row.get(12),
        started_at_ms: row.get(13),
        duration_ms: row.get(14),
        report: row.get(15),
        club: row.get(16),
    }
}

/// A transcript line from `at_ms, end_ms, speaker id, username, display name, text` at column `first`.
fn line_from_row(row: &DbRow, first: usize) -> TranscriptLine {
    TranscriptLine {
        at_ms: row.get(first),
        end_ms: row.get(first + 1),
        speaker: UserSummary {
            id: UserId(row.get(first + 2)),
            username: row.get(first + 3),
            display_name: row.get(first + 4),
        },
        text: row.get(first + 5),
    }
}

#[async_trait]
impl Recordings for This {
    async fn add_recording(&self, r: &RecordingRecord) -> Result<(), StoreError> {
        let _write = self.write().await;
        let allowed: Vec<String> = r.allowed.iter().map(|u| u.0.to_string()).collect();
        sqlx::query(
            "INSERT INTO recordings (id, kind, room_id, title, visibility, host_id, made_by, allowed, file, \
             started_at, duration_ms, report_id, club_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&r.id)
        .bind(kind_str(r.kind))
        .bind(&r.room.0)
        .bind(&r.title)
        .bind(visibility_str(r.visibility))
        .bind(r.host.id.0)
        .bind(r.made_by.id.0)
        .bind(allowed.join(" "))
        .bind(&r.file)
        .bind(r.started_at_ms)
        .bind(r.duration_ms)
        .bind(r.report)
        .bind(r.club)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn finish_recording(&self, id: &str, duration_ms: i64) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query("UPDATE recordings SET duration_ms = $1 WHERE id = $2")
            .bind(duration_ms)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn recording(&self, id: &str) -> Result<Option<RecordingRecord>, StoreError> {
        let row =
            sqlx::query(&format!("SELECT {COLUMNS} WHERE r.id = $1")).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(from_row))
    }

    async fn recordings_of_room(&self, room: &RoomId, limit: u32) -> Result<Vec<RecordingRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} WHERE r.room_id = $1 AND r.kind IN ('replay', 'clip') ORDER BY r.started_at DESC LIMIT $2"
        ))
        .bind(&room.0)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(from_row).collect())
    }

    async fn recordings_of_club(&self, club: i64, limit: u32) -> Result<Vec<RecordingRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} WHERE r.club_id = $1 AND r.kind IN ('replay', 'clip') ORDER BY r.started_at DESC LIMIT $2"
        ))
        .bind(club)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(from_row).collect())
    }

    async fn replays_of_host(&self, host: UserId, limit: u32) -> Result<Vec<RecordingRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} WHERE r.host_id = $1 AND r.kind = 'replay' ORDER BY r.started_at DESC LIMIT $2"
        ))
        .bind(host.0)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(from_row).collect())
    }

    async fn report_recording(&self, report: i64) -> Result<Option<RecordingRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} WHERE r.report_id = $1 AND r.kind = 'report' LIMIT 1"))
            .bind(report)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(from_row))
    }

    async fn delete_recording(&self, id: &str) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query("DELETE FROM recordings WHERE id = $1").bind(id).execute(self.pool()).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn add_transcript_line(
        &self,
        recording: &str,
        speaker: UserId,
        (at_ms, end_ms): (i64, i64),
        text: &str,
    ) -> Result<(), StoreError> {
        let _write = self.write().await;
        sqlx::query(
            "INSERT INTO transcript_lines (recording_id, at_ms, end_ms, speaker_id, text) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(recording)
        .bind(at_ms)
        .bind(end_ms)
        .bind(speaker.0)
        .bind(text)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn transcript(&self, recording: &str) -> Result<Vec<TranscriptLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.at_ms, t.end_ms, u.id, u.username, u.display_name, t.text FROM transcript_lines t \
             JOIN users u ON u.id = t.speaker_id WHERE t.recording_id = $1 ORDER BY t.at_ms",
        )
        .bind(recording)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(|row| line_from_row(row, 0)).collect())
    }

    async fn search_transcripts(
        &self,
        text: &str,
        limit: u32,
    ) -> Result<Vec<(RecordingRecord, TranscriptLine)>, StoreError> {
        // LIKE's own wildcards in the words are taken as they are.
        let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let (select, from) = COLUMNS.split_once(" FROM ").unwrap_or((COLUMNS, ""));
        let rows = sqlx::query(&format!(
            "SELECT {select}, t.at_ms, t.end_ms, s.id, s.username, s.display_name, t.text FROM {from} \
             JOIN transcript_lines t ON t.recording_id = r.id JOIN users s ON s.id = t.speaker_id \
             WHERE r.kind = 'replay' AND LOWER(t.text) LIKE $1 ESCAPE '\\' \
             AND t.at_ms = (SELECT MIN(o.at_ms) FROM transcript_lines o WHERE o.recording_id = r.id \
                            AND LOWER(o.text) LIKE $1 ESCAPE '\\') \
             ORDER BY r.started_at DESC LIMIT $2"
        ))
        .bind(format!("%{escaped}%"))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(|row| (from_row(row), line_from_row(row, 17))).collect())
    }

    async fn unfinished_recordings(&self) -> Result<Vec<RecordingRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} WHERE r.duration_ms IS NULL")).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(from_row).collect())
    }
}
