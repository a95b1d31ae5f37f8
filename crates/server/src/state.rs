//! [`AppState`]: what every request handler shares.

use crate::limits::{self, RateLimiter};
use crate::{ServerConfig, auth, cluster, community, live, metrics, notify, recordings, webhooks};
use std::path::PathBuf;
use std::sync::Arc;
use stoa_store::Store;
use tokio::sync::watch;

/// Shared by every request handler: one pointer, so that a request's extractors and layers clone it with
/// one atomic increment (the listen link takes thousands of requests a second).
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppStateInner {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// The configuration.
    pub config: Arc<ServerConfig>,
    /// The base of invite links.
    pub public_url: Arc<str>,
    /// The live rooms.
    pub rooms: live::Directory,
    /// The rate limits: sign-ups and logins per address, and the costly writes.
    pub limiter: Arc<RateLimiter>,
    /// Failed logins per account, which delay the next attempts.
    pub failed_logins: Arc<limits::FailedLogins>,
    /// Where passwords are hashed and checked.
    pub hashing: Arc<auth::HashPool>,
    /// The media plane.
    pub sfu: stoa_sfu::Sfu,
    /// What the control plane counts, for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Whether the server is stopping (for `/readyz`).
    pub stopping: watch::Receiver<bool>,
    /// Notifications: the background fan-out, the per-user streams and web push.
    pub notifier: notify::Notifier,
    /// The settings admins change live (invite quota, room capacity).
    pub live: Arc<community::LiveSettings>,
    /// Where rooms' chat and moderation are recorded.
    pub room_log: community::RoomLog,
    /// The tail of the admins' log, to wake after an action.
    pub admin_tail: Arc<community::AdminTail>,
    /// What rooms' egress threads take: the ffmpeg found at start, if any.
    pub egress: Arc<stoa_egress::EgressConfig>,
    /// Where live captions come from, if this server has an engine (`--captions-url`).
    pub captions: Option<Arc<stoa_live::captions::CaptionEngine>>,
    /// Where events for webhooks are emitted.
    pub webhooks: webhooks::WebhookSender,
    /// The cluster this node is in, if any.
    pub cluster: Option<cluster::Cluster>,
    /// How rooms reach other nodes: the cluster's routing, or none (picked once at start).
    pub routing: live::Routing,
}

impl AppState {
    /// The link to share for an invite code.
    pub fn invite_url(&self, code: &str) -> String {
        format!("{}/invite/{code}", self.public_url.trim_end_matches('/'))
    }

    /// What every room task takes from the configuration.
    pub fn room_settings(&self) -> live::RoomSettings {
        live::RoomSettings {
            audience_packets: live::AudiencePackets {
                frames: self.config.audience_frames,
                above: self.config.audience_frames_above,
            },
            turn: self.config.turn.clone().map(Arc::new),
            notifier: self.notifier.clone(),
            room_log: self.room_log.clone(),
            egress: self.egress.clone(),
            recordings: self.recordings_dir(),
            recording_quota: self.recording_quota(),
            webhooks: self.webhooks.clone(),
            public_url: self.public_url.clone(),
            routing: self.routing.clone(),
            captions: self.captions.clone(),
        }
    }

    /// How much space recordings may take.
    pub fn recording_quota(&self) -> recordings::Quota {
        recordings::Quota {
            total: self.config.recordings_max_bytes,
            per_host: self.config.recordings_max_bytes_per_host,
        }
    }

    /// Where replays, clips and report windows are kept.
    pub fn recordings_dir(&self) -> PathBuf {
        self.config.data.join("recordings")
    }
}
