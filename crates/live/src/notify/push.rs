//! Web push: RFC 8030 delivery, RFC 8291 message encryption and RFC 8292 VAPID, with `web-push-native`.
//!
//! The server's VAPID key is made on first start and kept in the store's settings, so that subscriptions
//! outlive restarts. Stored notifications reach [`Push::send`] a batch at a time; a task of its own looks up
//! the subscriptions of those who have not turned the kind off, encrypts each message for its subscription,
//! and posts it, [`CONCURRENCY`] at a time. A push service that answers 404 or 410 has forgotten the
//! subscription, and so do we.

use crate::notify::{NotifyStats, PUSH_TIMEOUT, to_wire};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use stoa_proto::{NotificationKind, PushPayload, PushSubscriptionRequest};
use stoa_store::{NotificationRow, PushTarget, Store, StoreError};
use tokio::sync::mpsc;
use web_push_native::jwt_simple::algorithms::{ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair};
use web_push_native::jwt_simple::claims::Claims;
use web_push_native::{Auth, WebPushBuilder, p256};

/// Messages in flight to push services at once.
const CONCURRENCY: usize = 32;
/// Batches of stored notifications waiting to be pushed. A batch is at most one fan-out batch; past this
/// many, pushes are dropped and counted (the notifications themselves are stored and shown in the app).
const QUEUE: usize = 256;
/// Where the VAPID key is kept.
const KEY_SETTING: &str = "vapid_private_key";
/// The longest endpoint accepted.
const MAX_ENDPOINT: usize = 2048;

/// Web push. Cheap to clone.
#[derive(Clone)]
pub struct Push {
    inner: Arc<Inner>,
    tx: mpsc::Sender<Vec<NotificationRow>>,
    /// What it counts (shared with the notifier).
    pub stats: Arc<NotifyStats>,
}

struct Inner {
    key: ES256KeyPair,
    public_key: String,
    contact: String,
    allowed_origins: Vec<String>,
}

/// Why a subscription is refused.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// The endpoint is not a URL this server will post to.
    #[error("{0}")]
    Endpoint(&'static str),
    /// A key does not decode.
    #[error("{0}")]
    Keys(&'static str),
}

impl Push {
    /// Loads (or makes and keeps) the VAPID key and starts the sender. `allowed_origins` are origins
    /// (`http://127.0.0.1:9000`) accepted although they are not public HTTPS, for a push service on the
    /// operator's own network; `contact` is VAPID's `sub` (a `mailto:` or `https:` URL).
    pub async fn start(
        store: Arc<dyn Store>,
        contact: String,
        allowed_origins: Vec<String>,
        http: crate::outbound::Outbound,
    ) -> Result<Push, StoreError> {
        let key = match store.setting(KEY_SETTING).await?.and_then(|k| URL_SAFE_NO_PAD.decode(k).ok()) {
            Some(bytes) => ES256KeyPair::from_bytes(&bytes).ok(),
            None => None,
        };
        let key = match key {
            Some(key) => key,
            None => {
                let key = ES256KeyPair::generate();
                store.set_setting(KEY_SETTING, &URL_SAFE_NO_PAD.encode(key.to_bytes())).await?;
                key
            }
        };
        let public_key = URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed());
        let allowed_origins =
            allowed_origins.into_iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect();
        let inner = Arc::new(Inner { key, public_key, contact, allowed_origins });
        let stats = Arc::new(NotifyStats::default());
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(rx, store, inner.clone(), http, stats.clone()));
        Ok(Push { inner, tx, stats })
    }

    /// The VAPID public key, base64url, for the browser's `applicationServerKey`.
    pub fn public_key(&self) -> &str {
        &self.inner.public_key
    }

    /// Pushes these stored notifications to their people's browsers, in the background.
    pub fn send(&self, stored: Vec<NotificationRow>) {
        if self.tx.try_send(stored).is_err() {
            self.stats.push_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Checks a subscription from a browser: an endpoint this server will post to, and keys that decode.
    pub fn check(&self, sub: &PushSubscriptionRequest) -> Result<(), SubscriptionError> {
        check_endpoint(&sub.endpoint, &self.inner.allowed_origins)?;
        decode_keys(&sub.keys.p256dh, &sub.keys.auth).map(|_| ())
    }
}

fn check_endpoint(endpoint: &str, allowed: &[String]) -> Result<(), SubscriptionError> {
    if endpoint.len() > MAX_ENDPOINT {
        return Err(SubscriptionError::Endpoint("The push endpoint is too long."));
    }
    let url =
        reqwest::Url::parse(endpoint).map_err(|_| SubscriptionError::Endpoint("The push endpoint is not a URL."))?;
    let origin = url.origin().ascii_serialization().to_ascii_lowercase();
    if allowed.contains(&origin) {
        return Ok(());
    }
    if url.scheme() != "https" || !url.username().is_empty() || url.password().is_some() {
        return Err(SubscriptionError::Endpoint("A push endpoint is an https:// URL of a push service."));
    }
    // Only public hosts: an endpoint is a URL the server posts to, and must not reach into its own network.
    let private = match url.host() {
        Some(url::Host::Ipv4(ip)) => !crate::outbound::is_public(ip.into()),
        Some(url::Host::Ipv6(ip)) => !crate::outbound::is_public(ip.into()),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost"
                || d.ends_with(".localhost")
                || d.ends_with(".local")
                || d.ends_with(".internal")
                || !d.contains('.')
        }
        None => true,
    };
    if private {
        return Err(SubscriptionError::Endpoint("A push endpoint must be on a public host."));
    }
    Ok(())
}

fn decode_keys(p256dh: &str, auth: &str) -> Result<(p256::PublicKey, Auth), SubscriptionError> {
    let bad_key = SubscriptionError::Keys("The subscription's p256dh key is not a P-256 public key in base64url.");
    let public = URL_SAFE_NO_PAD
        .decode(p256dh.trim_end_matches('='))
        .map_err(|_| SubscriptionError::Keys("The subscription's p256dh key is not base64url."))?;
    let public = p256::PublicKey::from_sec1_bytes(&public).map_err(|_| bad_key)?;
    let auth = URL_SAFE_NO_PAD
        .decode(auth.trim_end_matches('='))
        .map_err(|_| SubscriptionError::Keys("The subscription's auth secret is not base64url."))?;
    if auth.len() != 16 {
        return Err(SubscriptionError::Keys("The subscription's auth secret is not 16 bytes."));
    }
    Ok((public, Auth::clone_from_slice(&auth)))
}

async fn run(
    mut rx: mpsc::Receiver<Vec<NotificationRow>>,
    store: Arc<dyn Store>,
    inner: Arc<Inner>,
    http: crate::outbound::Outbound,
    stats: Arc<NotifyStats>,
) {
    while let Some(batch) = rx.recv().await {
        // One look-up per kind in the batch (a fan-out batch has one kind).
        let mut kinds: Vec<NotificationKind> = batch.iter().map(|n| n.kind).collect();
        kinds.dedup();
        for kind in kinds {
            let rows: Vec<&NotificationRow> = batch.iter().filter(|n| n.kind == kind).collect();
            let users: Vec<_> = rows.iter().map(|n| n.user).collect();
            let targets = match store.push_targets(&users, kind).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read push subscriptions");
                    continue;
                }
            };
            let sends = targets.into_iter().filter_map(|t| {
                let row = rows.iter().find(|n| n.user == t.user)?;
                Some(deliver(&store, &inner, &http, &stats, t, row))
            });
            futures_util::stream::iter(sends).for_each_concurrent(CONCURRENCY, |f| f).await;
        }
    }
}

/// How long a push request's VAPID signature is good for (RFC 8292 §2: at most 24 hours).
const VAPID_VALIDITY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The VAPID `Authorization` header for a push to `endpoint` (RFC 8292 §2, §3): a JWT whose `aud` is the
/// push resource's origin, its port included when it is not the scheme's default, signed with the server's
/// key, and that key.
fn vapid(inner: &Inner, endpoint: &str) -> Option<String> {
    let url = reqwest::Url::parse(endpoint).ok()?;
    let claims = Claims::create(VAPID_VALIDITY.into())
        .with_audience(url.origin().ascii_serialization())
        .with_subject(&inner.contact);
    let token = inner.key.sign(claims).ok()?;
    Some(format!("vapid t={token}, k={}", inner.public_key))
}

async fn deliver(
    store: &Arc<dyn Store>,
    inner: &Inner,
    http: &crate::outbound::Outbound,
    stats: &NotifyStats,
    target: PushTarget,
    row: &NotificationRow,
) {
    // Written in the language of the person it goes to, as they read Stoa.
    let wire = to_wire(row, crate::texts::Lang::stored(&target.language));
    let payload = PushPayload { title: "Stoa".into(), body: wire.text, link: wire.link, id: wire.id, kind: wire.kind };
    let body = serde_json::to_vec(&payload).unwrap_or_default();
    let request = (|| {
        let (public, auth) = decode_keys(&target.p256dh, &target.auth).ok()?;
        let uri: axum::http::Uri = target.endpoint.parse().ok()?;
        let request = WebPushBuilder::new(uri, public, auth).with_valid_duration(VAPID_VALIDITY).build(body).ok()?;
        Some((request, vapid(inner, &target.endpoint)?))
    })();
    let Some((request, vapid)) = request else {
        stats.push_failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    // The endpoint's host is checked (after DNS, at the address connected to) on every delivery, not only
    // at subscription: a name that resolved to a public address then may not now.
    let http = match http.client_for(&target.endpoint).await {
        Ok(client) => client,
        Err(e) => {
            stats.push_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "a push endpoint is not on a public host; nothing was sent");
            return;
        }
    };
    let mut out = http.post(&target.endpoint).timeout(PUSH_TIMEOUT).header("Urgency", "high");
    for (name, value) in request.headers() {
        out = out.header(name.as_str(), value.as_bytes());
    }
    out = out.header("Authorization", vapid);
    match out.body(request.into_body()).send().await {
        Ok(resp) if resp.status().is_success() => {
            stats.pushed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(resp) if resp.status().as_u16() == 404 || resp.status().as_u16() == 410 => {
            stats.push_gone.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = store.remove_push_subscription(&target.endpoint, None).await {
                tracing::error!(error = %e, "cannot remove a push subscription");
            }
        }
        Ok(resp) => {
            stats.push_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(status = resp.status().as_u16(), "a push service refused a message");
        }
        Err(e) => {
            stats.push_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "cannot reach a push service");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_public_https_unless_allowed() {
        let allowed = vec!["http://127.0.0.1:9000".to_string()];
        for bad in [
            "http://push.example.com/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://[::1]/x",
            "https://localhost/x",
            "https://198.18.0.1/x",
            "https://user:pw@push.example.com/x",
            "not a url",
            "http://127.0.0.1:9001/x",
        ] {
            assert!(check_endpoint(bad, &allowed).is_err(), "{bad} was accepted");
        }
        for good in [
            "https://fcm.googleapis.com/fcm/send/abc",
            "https://updates.push.services.mozilla.com/wpush/v2/x",
            "http://127.0.0.1:9000/sub/1",
        ] {
            assert!(check_endpoint(good, &allowed).is_ok(), "{good} was refused");
        }
    }

    #[test]
    fn vapids_audience_is_the_push_resources_origin_with_its_port() {
        let key = ES256KeyPair::generate();
        let public_key = URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed());
        let inner = Inner { key, public_key, contact: "mailto:ops@example.org".into(), allowed_origins: vec![] };
        for (endpoint, aud) in [
            ("http://127.0.0.1:9000/push/1", "http://127.0.0.1:9000"),
            ("https://push.example.org/x", "https://push.example.org"),
            ("https://push.example.org:443/x", "https://push.example.org"),
            ("https://push.example.org:8443/x", "https://push.example.org:8443"),
        ] {
            let header = vapid(&inner, endpoint).unwrap();
            let token = header.strip_prefix("vapid t=").unwrap().split(',').next().unwrap();
            let claims = inner
                .key
                .public_key()
                .verify_token::<web_push_native::jwt_simple::claims::NoCustomClaims>(token, None)
                .unwrap();
            let audiences = claims.audiences.unwrap().into_set();
            assert_eq!(audiences.into_iter().collect::<Vec<_>>(), vec![aud.to_string()], "{endpoint}");
            assert!(header.ends_with(&format!(", k={}", inner.public_key)));
        }
    }
}
