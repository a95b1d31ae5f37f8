//! Replays, clips and report windows: the per-room replay worker that starts and stops the egress's
//! recorder and records it in the store, the space recordings may take, who may hear a recording, and the
//! cleanup of replays a stopped server left open.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use stoa_egress::RoomEgress;
use stoa_proto::{RecordingKind, RoomId, UserId, UserSummary, Visibility};
use stoa_store::{RecordingRecord, Store, StoreError};
use tokio::sync::mpsc;

/// Replay starts and stops that may wait for a room's replay worker (a moderator's toggles).
const REPLAY_QUEUE: usize = 32;
/// How often a replay being recorded checks that the space for recordings is not full.
const QUOTA_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// How much space recordings may take on this server's disk: all of them (`--recordings-max-bytes`), and
/// the replays and clips of rooms one person hosted (`--recordings-max-bytes-per-host`). When either is
/// full, a replay stops (and its room is told) and a clip is refused; nothing is deleted to make room.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    /// Bytes for every recording on this server.
    pub total: u64,
    /// Bytes for the recordings of rooms one person hosted.
    pub per_host: u64,
}

impl Quota {
    /// Which of the two is full for `host`, as the sentence to tell the room; `None` while there is room.
    pub async fn full(&self, store: &dyn Store, dir: &Path, host: UserId) -> Option<&'static str> {
        if folder_bytes(dir).await >= self.total {
            return Some("The server's space for recordings is full: the replay stopped.");
        }
        let mut host_bytes = 0;
        for r in store.replays_of_host(host, 10_000).await.unwrap_or_default() {
            host_bytes += tokio::fs::metadata(dir.join(&r.file)).await.map_or(0, |m| m.len());
        }
        (host_bytes >= self.per_host).then_some("The host's space for recordings is full: the replay stopped.")
    }
}

/// The bytes of every file in the recordings folder.
async fn folder_bytes(dir: &Path) -> u64 {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else { return 0 };
    let mut total = 0;
    while let Ok(Some(entry)) = entries.next_entry().await {
        total += entry.metadata().await.map_or(0, |m| m.len());
    }
    total
}

/// A fresh recording ID: 16 URL-safe characters, unguessable (a clip's link is shared).
pub fn new_id() -> String {
    stoa_store::random_code(16)
}

/// The file of a recording in the recordings folder.
pub fn file_of(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.opus"))
}

/// What the room task asks of its replay worker.
#[derive(Debug)]
pub enum ReplayOp {
    /// Start recording.
    Start {
        /// The room's title.
        title: String,
        /// Its visibility.
        visibility: Visibility,
        /// The host (the first moderator).
        host: UserSummary,
        /// Who turned it on.
        made_by: UserSummary,
        /// For a closed room, who may hear it.
        allowed: Vec<UserId>,
        /// The club that hosts the room.
        club: Option<i64>,
    },
    /// Stop recording.
    Stop,
    /// A caption line said while recording, for the replay's transcript (Unix milliseconds).
    Line {
        /// Who said it.
        speaker: UserId,
        /// The words.
        text: String,
        /// When they started.
        start_ms: u64,
        /// When they ended.
        end_ms: u64,
    },
}

/// Starts a room's replay worker: it carries out the ops in order (so a quick on-off-on is three files in
/// order, never a race), and when the room task lets go of it, stops the room's egress.
///
/// While a replay records, the worker checks the [`Quota`] every [`QUOTA_CHECK`]; when it is full, the
/// replay stops and the room (`inbox`) is told.
pub fn replay_worker(
    store: Arc<dyn Store>,
    egress: RoomEgress,
    room: RoomId,
    dir: PathBuf,
    (webhooks, public_url): (crate::webhooks::WebhookSender, Arc<str>),
    (inbox, quota): (mpsc::Sender<crate::live::RoomInput>, Quota),
) -> mpsc::Sender<ReplayOp> {
    let (tx, mut rx) = mpsc::channel(REPLAY_QUEUE);
    tokio::spawn(async move {
        // The replay recording now: its ID, its host, and when it started (Unix milliseconds).
        let mut current: Option<(String, UserId, i64)> = None;
        let mut check = tokio::time::interval(QUOTA_CHECK);
        let full = |message: &'static str| {
            let inbox = inbox.clone();
            async move {
                let stopped =
                    crate::live::RoomInput::RecordingStopped { reason: "quota_full", message: message.into() };
                let _ = inbox.send(stopped).await;
            }
        };
        loop {
            let op = tokio::select! {
                op = rx.recv() => match op {
                    Some(op) => op,
                    None => break,
                },
                _ = check.tick(), if current.is_some() => {
                    let Some((id, host, _)) = current.clone() else { continue };
                    if let Some(message) = quota.full(store.as_ref(), &dir, host).await {
                        tracing::warn!(%room, replay = %id, "the space for recordings is full; the replay stops");
                        current = None;
                        finish(&store, &egress, &room, &dir, &id).await;
                        ready(&store, &webhooks, &public_url, &id).await;
                        full(message).await;
                    }
                    continue;
                }
            };
            match op {
                ReplayOp::Start { title, visibility, host, made_by, allowed, club } => {
                    if current.is_some() {
                        continue;
                    }
                    if let Some(message) = quota.full(store.as_ref(), &dir, host.id).await {
                        tracing::warn!(%room, "the space for recordings is full; the replay does not start");
                        full(message).await;
                        continue;
                    }
                    let host_id = host.id;
                    let id = new_id();
                    let started_at_ms = crate::clock::now_ms();
                    let path = file_of(&dir, &id);
                    let record = RecordingRecord {
                        id: id.clone(),
                        kind: RecordingKind::Replay,
                        room: room.clone(),
                        title: title.clone(),
                        visibility,
                        host,
                        made_by,
                        allowed,
                        file: format!("{id}.opus"),
                        started_at_ms,
                        duration_ms: None,
                        report: None,
                        club,
                    };
                    if let Err(e) = store.add_recording(&record).await {
                        tracing::error!(%room, error = %e, "cannot record the replay in the store");
                        continue;
                    }
                    match egress.record(Some((path, title))).await {
                        Ok(_) => {
                            tracing::info!(%room, replay = %id, "replay recording");
                            current = Some((id, host_id, started_at_ms));
                        }
                        Err(e) => {
                            tracing::error!(%room, error = %e, "cannot start the replay");
                            let _ = store.delete_recording(&id).await;
                        }
                    }
                }
                ReplayOp::Line { speaker, text, start_ms, end_ms } => {
                    let Some((id, _, started)) = &current else { continue };
                    let from = |ms: u64| (ms as i64 - started).max(0);
                    let span = (from(start_ms), from(end_ms));
                    if let Err(e) = store.add_transcript_line(id, speaker, span, &text).await {
                        tracing::warn!(%room, replay = %id, error = %e, "a transcript line was not kept");
                    }
                }
                ReplayOp::Stop => {
                    let Some((id, ..)) = current.take() else { continue };
                    finish(&store, &egress, &room, &dir, &id).await;
                    ready(&store, &webhooks, &public_url, &id).await;
                }
            }
        }
        if let Some((id, ..)) = current.take() {
            finish(&store, &egress, &room, &dir, &id).await;
            ready(&store, &webhooks, &public_url, &id).await;
        }
        egress.stop();
    });
    tx
}

/// Tells webhooks that a replay is ready.
async fn ready(store: &Arc<dyn Store>, webhooks: &crate::webhooks::WebhookSender, public_url: &str, id: &str) {
    if let Ok(Some(r)) = store.recording(id).await {
        webhooks.emit(recording_event(public_url, &r));
    }
}

/// A `recording.ready` event's data.
pub fn recording_event(public_url: &str, r: &RecordingRecord) -> stoa_proto::HookData {
    stoa_proto::HookData::RecordingReady {
        recording: stoa_proto::HookRecording {
            id: r.id.clone(),
            kind: r.kind,
            room_id: r.room.0.clone(),
            title: r.title.clone(),
            duration_ms: r.duration_ms,
            page: format!("{}/r/{}", public_url.trim_end_matches('/'), r.id),
            visibility: r.visibility,
        },
        host: stoa_proto::HookUser { id: r.host.id, username: r.host.username.clone() },
    }
}

async fn finish(store: &Arc<dyn Store>, egress: &RoomEgress, room: &RoomId, dir: &Path, id: &str) {
    match egress.record(None).await {
        Ok(Some(done)) => {
            if let Err(e) = store.finish_recording(id, done.millis as i64).await {
                tracing::error!(%room, error = %e, "cannot record the replay's end");
            }
            tracing::info!(%room, replay = %id, seconds = done.millis / 1000, "replay recorded");
        }
        Ok(None) | Err(_) => {
            // The egress lost the recorder (a full disk): what the file holds is the replay.
            let ms = ogg_duration_ms(&file_of(dir, id)).unwrap_or(0);
            let _ = store.finish_recording(id, ms).await;
        }
    }
}

/// Closes the replays a stopped server left open: their length is what their file holds; a replay whose
/// file is gone is forgotten. A node of a cluster (`clustered`) closes only those whose file is on its own
/// disk: the others are another node's, which may be recording them now, and which closes them itself when
/// it starts again.
pub async fn close_unfinished(store: &dyn Store, dir: &Path, clustered: bool) -> Result<(), StoreError> {
    for r in store.unfinished_recordings().await? {
        let path = dir.join(&r.file);
        match ogg_duration_ms(&path) {
            Some(ms) => store.finish_recording(&r.id, ms).await?,
            None if clustered && !path.exists() => {}
            None => {
                store.delete_recording(&r.id).await?;
            }
        }
    }
    Ok(())
}

/// The length of an Ogg Opus file: the last page's granule position, less the pre-skip, at 48 kHz.
fn ogg_duration_ms(path: &Path) -> Option<i64> {
    use std::io::{Read, Seek, SeekFrom};
    // The last page is all that is needed, and an Ogg page is at most 65,307 bytes: the file's tail.
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(70_000))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    ogg_bytes_duration_ms(&tail)
}

/// The length of Ogg Opus bytes (see `ogg_duration_ms`).
pub fn ogg_bytes_duration_ms(bytes: &[u8]) -> Option<i64> {
    let at = bytes.windows(4).rposition(|w| w == b"OggS")?;
    let granule = i64::from_le_bytes(bytes.get(at + 6..at + 14)?.try_into().ok()?);
    Some(((granule - 312).max(0)) / 48)
}

/// Whether `viewer` may hear a recording: its room's visibility, as the room was when it was made. An
/// open room's clip is for anyone with its link (clips are made to share); an open room's replay, for
/// anyone signed in; a social room's, for the host and those the host follows; a closed room's, for its
/// moderators and invited. Report windows are for admins alone. Admins may hear every one.
pub async fn may_hear(
    store: &dyn Store,
    viewer: Option<&stoa_store::Account>,
    r: &RecordingRecord,
) -> Result<bool, StoreError> {
    if viewer.is_some_and(|v| v.is_admin) {
        return Ok(true);
    }
    if r.kind == RecordingKind::Report {
        return Ok(false);
    }
    if r.kind == RecordingKind::Clip && r.visibility == Visibility::Open {
        return Ok(true);
    }
    let Some(viewer) = viewer else { return Ok(false) };
    if viewer.id == r.host.id || viewer.id == r.made_by.id {
        return Ok(true);
    }
    if let Some(club) = r.club {
        // A club's room: as `stoa_room::may_see` has it, by the viewer's standing in the club now.
        let ties = store.club_ties(viewer.id, &[club]).await?;
        let standing = ties.standing.first().map(|(_, s)| *s);
        let member = standing == Some(stoa_proto::ClubStanding::Member);
        return Ok(match (standing, r.visibility) {
            (Some(stoa_proto::ClubStanding::Banned), _) => false,
            (_, Visibility::Open) => true,
            (_, Visibility::Social) => member || !ties.following.is_empty(),
            (_, Visibility::Closed) => member || r.allowed.contains(&viewer.id),
        });
    }
    Ok(match r.visibility {
        Visibility::Open => true,
        Visibility::Social => {
            let among = store.relations_among(viewer.id, &[r.host.id]).await?;
            among.followed_by.contains(&r.host.id) && !among.blocked_by.contains(&r.host.id)
        }
        Visibility::Closed => r.allowed.contains(&viewer.id),
    })
}
