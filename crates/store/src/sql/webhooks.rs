//! [`Webhooks`] in SQL, for both backends (see `core.rs`).

use super::backend::{DbRow, This};
use crate::StoreError;
use crate::webhooks::*;
use async_trait::async_trait;
use sqlx::Row;
use stoa_proto::{UserId, Webhook, WebhookDelivery};

fn webhook_from(row: &DbRow) -> Webhook {
    let events: String = row.get(2);
    Webhook {
        id: row.get(0),
        url: row.get(1),
        events: events.split_whitespace().map(String::from).collect(),
        created_at_ms: row.get(3),
        secret: None,
    }
}

#[async_trait]
impl Webhooks for This {
    async fn create_webhook(
        &self,
        url: &str,
        events: &[String],
        secret: &str,
        by: UserId,
    ) -> Result<Webhook, StoreError> {
        let _write = self.write().await;
        let now = crate::common::now() * 1000;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhooks (url, events, secret, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(url)
        .bind(events.join(" "))
        .bind(secret)
        .bind(by.0)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(Webhook {
            id,
            url: url.to_string(),
            events: events.to_vec(),
            created_at_ms: now,
            secret: Some(secret.to_string()),
        })
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let rows =
            sqlx::query("SELECT id, url, events, created_at FROM webhooks ORDER BY id").fetch_all(self.pool()).await?;
        Ok(rows.iter().map(webhook_from).collect())
    }

    async fn delete_webhook(&self, id: i64) -> Result<bool, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1").bind(id).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn enqueue_deliveries(&self, event: &str, payload: &str, now_ms: i64) -> Result<u64, StoreError> {
        let _write = self.write().await;
        // Event names are single words: matched as one of the space-separated list.
        let done = sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, event, payload, created_at, next_at) \
             SELECT id, $1, $2, $3, $3 FROM webhooks WHERE ' ' || events || ' ' LIKE '% ' || $1 || ' %'",
        )
        .bind(event)
        .bind(payload)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    async fn claim_deliveries(&self, now_ms: i64, until_ms: i64, limit: u32) -> Result<Vec<DueDelivery>, StoreError> {
        let _write = self.write().await;
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT d.id, w.url, w.secret, d.payload, d.attempts FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id WHERE d.state = 'pending' AND d.next_at <= $1 \
             ORDER BY d.next_at, d.id LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for r in &rows {
            // The claim re-checks that the row is still due: of two nodes reading the same row, the second's
            // update (after the first's commits) finds it claimed and changes nothing.
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET next_at = $1 WHERE id = $2 AND state = 'pending' AND next_at <= $3",
            )
            .bind(until_ms)
            .bind(r.get::<i64, _>(0))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                claimed.push(DueDelivery {
                    id: r.get(0),
                    url: r.get(1),
                    secret: r.get(2),
                    payload: r.get(3),
                    attempts: r.get(4),
                });
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn prune_deliveries(&self, before_ms: i64) -> Result<u64, StoreError> {
        let _write = self.write().await;
        let done = sqlx::query("DELETE FROM webhook_deliveries WHERE state != 'pending' AND done_at < $1")
            .bind(before_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    async fn record_attempt(&self, id: i64, attempt: &Attempt, now_ms: i64) -> Result<(), StoreError> {
        let _write = self.write().await;
        let q = match attempt {
            Attempt::Delivered { status } => sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, state = 'delivered', last_status = $1, \
                 last_error = NULL, done_at = $2 WHERE id = $3",
            )
            .bind(i64::from(*status))
            .bind(now_ms)
            .bind(id),
            Attempt::Failed { status, error, next_at } => sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $1, last_error = $2, \
                 state = CASE WHEN $3 IS NULL THEN 'failed' ELSE 'pending' END, next_at = coalesce($4, next_at), \
                 done_at = CASE WHEN $5 IS NULL THEN $6 ELSE NULL END WHERE id = $7",
            )
            .bind(status.map(i64::from))
            .bind(error)
            .bind(*next_at)
            .bind(*next_at)
            .bind(*next_at)
            .bind(now_ms)
            .bind(id),
        };
        q.execute(self.pool()).await?;
        Ok(())
    }

    async fn deliveries(&self, webhook: i64, limit: u32) -> Result<Vec<WebhookDelivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, event, state, attempts, last_status, last_error, created_at FROM webhook_deliveries \
             WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(webhook)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| WebhookDelivery {
                id: r.get(0),
                event: r.get(1),
                state: r.get(2),
                attempts: r.get(3),
                last_status: r.get(4),
                last_error: r.get(5),
                created_at_ms: r.get(6),
            })
            .collect())
    }
}
