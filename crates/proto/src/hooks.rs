//! What a webhook delivery carries: its `data`, one shape per event. A delivery's body is
//! `{"type": EVENT, "timestamp": RFC3339, "data": ...}`; these are the `data`s, with their fields in the
//! order the JSON has them.

use crate::{RecordingKind, ReportReason, UserId, Visibility};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A person, as webhooks name them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HookUser {
    /// Their ID.
    pub id: UserId,
    /// Their username.
    pub username: String,
}

/// A room, as webhooks name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HookRoom {
    /// Its ID.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Who may see it.
    pub visibility: Visibility,
}

/// A scheduled event, as webhooks name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HookEvent {
    /// Its ID.
    pub id: String,
    /// When it starts, Unix seconds.
    pub starts_at: i64,
    /// Its title.
    pub title: String,
    /// Who may see it.
    pub visibility: Visibility,
}

/// A recording, as webhooks name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HookRecording {
    /// How long, in milliseconds.
    pub duration_ms: Option<i64>,
    /// Its ID.
    pub id: String,
    /// Replay or clip.
    pub kind: RecordingKind,
    /// Its page.
    pub page: String,
    /// The room it was made in.
    pub room_id: String,
    /// The room's title.
    pub title: String,
    /// Who may hear it: the room's visibility.
    pub visibility: Visibility,
}

/// A report, as webhooks name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HookReport {
    /// Its ID.
    pub id: i64,
    /// Why.
    pub reason: ReportReason,
    /// The room it was filed in.
    pub room_id: String,
    /// Whom it is about; none for the room itself.
    pub target: Option<UserId>,
}

/// The `data` of each webhook event, by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum HookData {
    /// `room.started`.
    RoomStarted {
        /// Who started it.
        host: HookUser,
        /// The room.
        room: HookRoom,
    },
    /// `room.ended`.
    RoomEnded {
        /// The room.
        room: HookRoom,
    },
    /// `event.scheduled`.
    EventScheduled {
        /// Who scheduled it.
        by: HookUser,
        /// The event.
        event: HookEvent,
    },
    /// `recording.ready`.
    RecordingReady {
        /// The room's host.
        host: HookUser,
        /// The recording.
        recording: HookRecording,
    },
    /// `report.filed`.
    ReportFiled {
        /// The report.
        report: HookReport,
        /// Who filed it.
        reporter: HookUser,
    },
}

impl HookData {
    /// The event's name, the delivery's `type` (one of [`crate::WEBHOOK_EVENTS`]).
    pub fn event(&self) -> &'static str {
        match self {
            HookData::RoomStarted { .. } => "room.started",
            HookData::RoomEnded { .. } => "room.ended",
            HookData::EventScheduled { .. } => "event.scheduled",
            HookData::RecordingReady { .. } => "recording.ready",
            HookData::ReportFiled { .. } => "report.filed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_events_data_has_the_shape_receivers_read() {
        let user = HookUser { id: UserId(7), username: "ada".into() };
        let room = HookRoom { id: "abcdefghijkl".into(), title: "Tea".into(), visibility: Visibility::Open };
        let cases = [
            (
                HookData::RoomStarted { host: user.clone(), room: room.clone() },
                json!({"host": {"id": 7, "username": "ada"}, "room": {"id": "abcdefghijkl", "title": "Tea", "visibility": "open"}}),
            ),
            (
                HookData::RoomEnded { room },
                json!({"room": {"id": "abcdefghijkl", "title": "Tea", "visibility": "open"}}),
            ),
            (
                HookData::ReportFiled {
                    report: HookReport { id: 3, reason: ReportReason::Spam, room_id: "r".into(), target: None },
                    reporter: user.clone(),
                },
                json!({"report": {"id": 3, "reason": "spam", "room_id": "r", "target": null}, "reporter": {"id": 7, "username": "ada"}}),
            ),
            (
                HookData::EventScheduled {
                    by: user,
                    event: HookEvent {
                        id: "e".into(),
                        starts_at: 9,
                        title: "Talk".into(),
                        visibility: Visibility::Social,
                    },
                },
                json!({"by": {"id": 7, "username": "ada"}, "event": {"id": "e", "starts_at": 9, "title": "Talk", "visibility": "social"}}),
            ),
        ];
        for (data, expected) in cases {
            assert_eq!(serde_json::to_value(&data).unwrap(), expected, "{}", data.event());
        }
    }
}
