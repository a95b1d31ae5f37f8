//! Webhooks: events sent to the URLs admins register, signed as the Standard Webhooks convention has it,
//! and retried with backoff for about a day.
//!
//! Emitting an event never waits: it goes into a bounded queue (a full queue drops it, counted and
//! logged), from which one task writes a delivery per subscribed webhook to the store. Another task
//! sends what is due, a few at a time, each with a timeout, and records every attempt. A URL that times
//! out or refuses costs that task's time, never a room's.
//!
//! Each request carries `webhook-id` (`msg_` and the delivery's ID, the same on every retry),
//! `webhook-timestamp` (Unix seconds of this attempt), and `webhook-signature`: `v1,` and the base64
//! HMAC-SHA256, keyed with the base64-decoded part of the secret after `whsec_`, of
//! `{webhook-id}.{webhook-timestamp}.{body}`.

use base64::Engine;
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use stoa_proto::HookData;
use stoa_store::{Attempt, DueDelivery, Store};
use tokio::sync::{Notify, mpsc};

/// Events that may wait to be written: a burst of room starts and ends across a busy server.
const QUEUE: usize = 4096;
/// Deliveries sent at once.
const CONCURRENT: usize = 8;
/// When each retry comes after a failed attempt (Standard Webhooks' schedule): the last, ten hours after
/// the one before, is about a day after the event.
const RETRIES: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// Where the rest of the server emits events. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    tx: mpsc::Sender<HookData>,
    dropped: Arc<AtomicU64>,
    outbound: crate::outbound::Outbound,
}

impl WebhookSender {
    /// The clients deliveries go out with, to check a new webhook's URL as its deliveries will be.
    pub fn outbound(&self) -> &crate::outbound::Outbound {
        &self.outbound
    }

    /// Emits an event, for every webhook that takes it. Never waits.
    pub fn emit(&self, data: HookData) {
        if self.tx.try_send(data).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_multiple_of(100) {
                tracing::warn!(dropped = n, "webhook events: a full queue dropped an event");
            }
        }
    }
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> Result<String, getrandom::Error> {
    Ok(format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(crate::random::bytes::<32>())))
}

/// The `webhook-signature` value for a delivery.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = base64::engine::general_purpose::STANDARD.decode(key).unwrap_or_else(|_| key.as_bytes().to_vec());
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// How long a finished delivery is kept, for the admins' list.
const KEEP_DONE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often finished deliveries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// A claim lasts the attempt's timeout and this much more (the batch's other attempts, the store's write).
const CLAIM_MARGIN: Duration = Duration::from_secs(60);

/// Starts the writer and the sender; `timeout` bounds each request. Each delivery is claimed in the store
/// before it is sent, so that in a cluster no two nodes send it.
pub fn start(store: Arc<dyn Store>, http: crate::outbound::Outbound, timeout: Duration) -> WebhookSender {
    let outbound = http.clone();
    let (tx, mut rx) = mpsc::channel::<HookData>(QUEUE);
    let due = Arc::new(Notify::new());
    let (writer_store, writer_due) = (store.clone(), due.clone());
    tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            let event = data.event();
            let now = crate::clock::now_ms();
            let body = serde_json::json!({
                "type": event,
                "timestamp": crate::clock::rfc3339(now / 1000),
                "data": data,
            });
            match writer_store.enqueue_deliveries(event, &body.to_string(), now).await {
                Ok(0) => {}
                Ok(_) => writer_due.notify_one(),
                Err(e) => tracing::error!(event, error = %e, "cannot queue a webhook delivery"),
            }
        }
    });
    tokio::spawn(async move {
        let mut last_prune = std::time::Instant::now() - PRUNE_EVERY;
        loop {
            let now = crate::clock::now_ms();
            if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = std::time::Instant::now();
                match store.prune_deliveries(now - KEEP_DONE.as_millis() as i64).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(pruned = n, "forgot webhook deliveries older than 30 days"),
                    Err(e) => tracing::warn!(error = %e, "cannot prune webhook deliveries"),
                }
            }
            // Claimed for longer than an attempt may take, so no other node sends them meanwhile.
            let until = now + (timeout + CLAIM_MARGIN).as_millis() as i64;
            let batch = match store.claim_deliveries(now, until, 64).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read due webhook deliveries");
                    Vec::new()
                }
            };
            let full = batch.len() == 64;
            futures_util::stream::iter(batch)
                .for_each_concurrent(CONCURRENT, |d| {
                    let (store, http) = (store.clone(), http.clone());
                    async move {
                        let attempt = deliver(&http, &d, timeout).await;
                        if let Err(e) = store.record_attempt(d.id, &attempt, crate::clock::now_ms()).await {
                            tracing::error!(delivery = d.id, error = %e, "cannot record a webhook attempt");
                        }
                    }
                })
                .await;
            if !full {
                let _ = tokio::time::timeout(Duration::from_secs(1), due.notified()).await;
            }
        }
    });
    WebhookSender { tx, dropped: Arc::default(), outbound }
}

async fn deliver(http: &crate::outbound::Outbound, d: &DueDelivery, timeout: Duration) -> Attempt {
    let retry_at = RETRIES.get(d.attempts as usize).map(|after| crate::clock::now_ms() + after.as_millis() as i64);
    // Checked at every delivery, after DNS and at the address connected to: a webhook reaches no private
    // address unless its origin is allowed (`--webhook-allow-origin`), and follows no redirect.
    let http = match http.client_for(&d.url).await {
        Ok(client) => client,
        Err(e) => {
            tracing::info!(delivery = d.id, url = %d.url, error = %e, "webhook delivery refused");
            return Attempt::Failed { status: None, error: e.to_string(), next_at: retry_at };
        }
    };
    let id = format!("msg_{}", d.id);
    let timestamp = crate::clock::now_ms() / 1000;
    let signature = sign(&d.secret, &id, timestamp, &d.payload);
    let sent = http
        .post(&d.url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .header("user-agent", "Stoa-Webhooks/1")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.payload.clone())
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => Attempt::Delivered { status: resp.status().as_u16() },
        Ok(resp) => Attempt::Failed {
            status: Some(resp.status().as_u16()),
            error: format!("the endpoint answered {}", resp.status()),
            next_at: retry_at,
        },
        Err(e) => {
            let error = if e.is_timeout() {
                format!("no answer within {} s", timeout.as_secs_f32())
            } else if e.is_connect() {
                "the connection was refused or could not be made".to_string()
            } else {
                format!("the request failed: {e}")
            };
            tracing::info!(delivery = d.id, url = %d.url, %error, "webhook delivery failed");
            Attempt::Failed { status: None, error, next_at: retry_at }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification (its reference libraries' test vector).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(new_secret().unwrap().starts_with("whsec_"));
    }
}
