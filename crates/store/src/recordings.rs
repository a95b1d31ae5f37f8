//! The store's part for the room's audio kept after it: replays, clips, and the windows attached to
//! reports. The audio itself is in files in the data folder; the store keeps who may hear each.

use crate::StoreError;
use async_trait::async_trait;
use stoa_proto::{RecordingKind, RoomId, UserId, UserSummary, Visibility};

/// A recording as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRecord {
    /// Its ID.
    pub id: String,
    /// Replay, clip or report window.
    pub kind: RecordingKind,
    /// The room.
    pub room: RoomId,
    /// The room's title.
    pub title: String,
    /// The room's visibility when it was made.
    pub visibility: Visibility,
    /// The room's host.
    pub host: UserSummary,
    /// Who made it.
    pub made_by: UserSummary,
    /// For a closed room: who could see it (its moderators and invited).
    pub allowed: Vec<UserId>,
    /// Its file's name in the recordings folder.
    pub file: String,
    /// When it starts, Unix milliseconds.
    pub started_at_ms: i64,
    /// How long; `None` while a replay is recorded.
    pub duration_ms: Option<i64>,
    /// The report it belongs to.
    pub report: Option<i64>,
    /// The store's ID of the club that hosted the room, if one did: who may hear it then depends on the
    /// club.
    pub club: Option<i64>,
}

/// A line of a replay's transcript: what one speaker said between pauses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    /// When it starts, in milliseconds from the replay's start.
    pub at_ms: i64,
    /// When it ends, likewise.
    pub end_ms: i64,
    /// Who said it.
    pub speaker: UserSummary,
    /// The words.
    pub text: String,
}

/// Replays, clips and report windows.
#[async_trait]
pub trait Recordings: Send + Sync {
    /// Adds a recording (a replay that starts, or a finished clip or window).
    async fn add_recording(&self, r: &RecordingRecord) -> Result<(), StoreError>;
    /// A replay finished: its length.
    async fn finish_recording(&self, id: &str, duration_ms: i64) -> Result<(), StoreError>;
    /// One recording.
    async fn recording(&self, id: &str) -> Result<Option<RecordingRecord>, StoreError>;
    /// A room's replays and clips, newest first.
    async fn recordings_of_room(&self, room: &RoomId, limit: u32) -> Result<Vec<RecordingRecord>, StoreError>;
    /// Replays and clips of the rooms a club hosted, newest first.
    async fn recordings_of_club(&self, club: i64, limit: u32) -> Result<Vec<RecordingRecord>, StoreError>;
    /// Replays of rooms a user hosted, newest first.
    async fn replays_of_host(&self, host: UserId, limit: u32) -> Result<Vec<RecordingRecord>, StoreError>;
    /// The window attached to a report.
    async fn report_recording(&self, report: i64) -> Result<Option<RecordingRecord>, StoreError>;
    /// Deletes a recording (the caller removes its file). A replay's clips are their makers' and stay.
    async fn delete_recording(&self, id: &str) -> Result<bool, StoreError>;
    /// Adds a line `speaker` said to a replay's transcript, `at_ms` to `end_ms` from its start.
    async fn add_transcript_line(
        &self,
        recording: &str,
        speaker: UserId,
        (at_ms, end_ms): (i64, i64),
        text: &str,
    ) -> Result<(), StoreError>;
    /// A replay's transcript, in order.
    async fn transcript(&self, recording: &str) -> Result<Vec<TranscriptLine>, StoreError>;
    /// Replays whose transcript has a line containing `text` (case aside, for ASCII letters), newest first,
    /// each with its first such line; the caller decides who may hear each.
    async fn search_transcripts(
        &self,
        text: &str,
        limit: u32,
    ) -> Result<Vec<(RecordingRecord, TranscriptLine)>, StoreError>;
    /// Replays that never finished (the server stopped while recording): their files are closed as they
    /// are, and their length is what the file holds.
    async fn unfinished_recordings(&self) -> Result<Vec<RecordingRecord>, StoreError>;
}
