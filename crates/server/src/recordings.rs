//! Recordings as the HTTP side handles them: removing a deleted one's file (here or on the node that has it)
//! and attaching a report's ten minutes. The rest is `stoa_live::recordings`.

use crate::AppState;
use stoa_egress::RoomEgress;
pub use stoa_live::recordings::*;
use stoa_proto::{RecordingKind, RoomId, Visibility};
use stoa_store::RecordingRecord;

/// Removes a deleted recording's file: from this node's disk, or in a cluster from the disk of the node that
/// recorded it (which that node does when told).
pub async fn remove_file(state: &AppState, file: &str) {
    match tokio::fs::remove_file(state.recordings_dir().join(file)).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && state.cluster.is_some() => {
            if let Some(cluster) = &state.cluster {
                cluster.deleted(file);
            }
        }
        Err(e) => tracing::warn!(%file, error = %e, "cannot remove a deleted recording's file"),
    }
}

/// Attaches the room's audio around a report: five minutes before it and five after, mixed from the
/// room's ring once the five minutes after have passed (or the room ended). Nothing is written to disk
/// unless a report is filed.
pub fn attach_report_window(state: &AppState, egress: RoomEgress, report: i64, room: RoomId, title: String) {
    let (store, dir) = (state.store.clone(), state.recordings_dir());
    tokio::spawn(async move {
        let bytes = match egress.window(300, 300, &title).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(report, error = %e, "no audio for the report");
                return;
            }
        };
        if matches!(store.report_recording(report).await, Ok(Some(_))) {
            return; // a repeat of the same report already has its window
        }
        let Ok(Some(r)) = store.report(report).await else { return };
        let id = new_id();
        if let Err(e) = tokio::fs::write(file_of(&dir, &id), &bytes).await {
            tracing::error!(report, error = %e, "cannot write the report's audio");
            return;
        }
        let duration_ms = ogg_bytes_duration_ms(&bytes).unwrap_or(0);
        let record = RecordingRecord {
            id: id.clone(),
            kind: RecordingKind::Report,
            room,
            title,
            visibility: Visibility::Closed,
            host: r.reporter.clone(),
            made_by: r.reporter,
            allowed: Vec::new(),
            file: format!("{id}.opus"),
            started_at_ms: r.created_at_ms - 300_000,
            duration_ms: Some(duration_ms),
            report: Some(report),
            club: None,
        };
        match store.add_recording(&record).await {
            Ok(()) => tracing::info!(report, recording = %id, "the report's audio is attached"),
            Err(e) => tracing::error!(report, error = %e, "cannot record the report's audio"),
        }
    });
}
