//! The store's part for webhooks: the URLs admins register, and each delivery with its attempts.

use crate::StoreError;
use async_trait::async_trait;
use stoa_proto::{UserId, Webhook, WebhookDelivery};

/// A delivery due to be attempted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// Its ID.
    pub id: i64,
    /// Where it goes.
    pub url: String,
    /// The webhook's signing secret.
    pub secret: String,
    /// The JSON body.
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered {
        /// Its status.
        status: u16,
    },
    /// Anything else; retried at `next_at` (Unix ms), or given up on when `None`.
    Failed {
        /// The answer's status, if there was one.
        status: Option<u16>,
        /// What went wrong.
        error: String,
        /// When to try again.
        next_at: Option<i64>,
    },
}

/// Webhooks and their deliveries.
#[async_trait]
pub trait Webhooks: Send + Sync {
    /// Registers a webhook.
    async fn create_webhook(
        &self,
        url: &str,
        events: &[String],
        secret: &str,
        by: UserId,
    ) -> Result<Webhook, StoreError>;
    /// Every webhook, oldest first (without secrets).
    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError>;
    /// Removes a webhook and its deliveries.
    async fn delete_webhook(&self, id: i64) -> Result<bool, StoreError>;
    /// Queues `payload` for every webhook that takes `event`, due at once; returns how many.
    async fn enqueue_deliveries(&self, event: &str, payload: &str, now_ms: i64) -> Result<u64, StoreError>;
    /// Claims the deliveries due by `now_ms`, oldest first: each is this caller's until `until_ms` (no other
    /// node of a cluster gets it meanwhile), by when its attempt is recorded, or it is due again.
    async fn claim_deliveries(&self, now_ms: i64, until_ms: i64, limit: u32) -> Result<Vec<DueDelivery>, StoreError>;
    /// Forgets the deliveries that ended (delivered, or every retry spent) before `before_ms`; returns how
    /// many.
    async fn prune_deliveries(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// Records an attempt.
    async fn record_attempt(&self, id: i64, attempt: &Attempt, now_ms: i64) -> Result<(), StoreError>;
    /// A webhook's deliveries, newest first.
    async fn deliveries(&self, webhook: i64, limit: u32) -> Result<Vec<WebhookDelivery>, StoreError>;
}
