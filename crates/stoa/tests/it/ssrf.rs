//! Outbound requests to addresses users and admins choose never reach into the server's own network. A
//! real `stoa serve` runs in a mount namespace of its own whose `/etc/hosts` points public-looking names
//! (push.example.org, hooks.example.org, rtmp.example.org) at 127.0.0.1, where a trap listens and counts
//! every connection. A web push to such a name, a push service that redirects to the trap, a webhook on
//! such a name and restreams to such a name or to 127.0.0.1:22 are all refused, and the trap hears nothing.

use crate::common;

use common::{Reaped, send};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use stoa_client::Api;

const STOA: &str = env!("CARGO_BIN_EXE_stoa");

/// A listener that counts the connections made to it.
fn trap() -> (u16, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicU32::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if conn.is_ok() {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (port, hits)
}

/// A push service on an allowed origin that answers every message with a redirect to `to`.
async fn redirecting_push_service(to: String) -> (String, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let app = axum::Router::new().fallback(move || {
        let (counted, to) = (counted.clone(), to.clone());
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            (axum::http::StatusCode::TEMPORARY_REDIRECT, [(axum::http::header::LOCATION, to)])
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (origin, calls)
}

/// `stoa serve` with `hosts` as its /etc/hosts; its base URL, metrics URL and bootstrap invite.
fn serve(dir: &std::path::Path, hosts: &str, push_origin: &str) -> (Reaped, String, String, String) {
    let hosts_file = dir.join("hosts");
    std::fs::write(&hosts_file, hosts).unwrap();
    let data = dir.join("data");
    let script = format!(
        "mount --bind {} /etc/hosts && exec {STOA} serve --data {} --http 127.0.0.1:0 --media-udp 127.0.0.1:0 \
         --media-tcp off --media-shards 1 --metrics 127.0.0.1:0 --push-allow-origin {push_origin}",
        hosts_file.display(),
        data.display()
    );
    let mut child = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("unshare runs (the tests run as root)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base, mut metrics, mut invite) = (None, None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Stoa is listening on ") {
            base = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(rest) = line.strip_prefix("Metrics (Prometheus) on ") {
            metrics = Some(rest.trim().to_string());
        }
        if line.contains("/invite/") {
            invite = line.rsplit('/').next().map(str::to_string);
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (Reaped(child), base.expect("a banner"), metrics.expect("metrics"), invite.expect("an invite"))
}

async fn metric(url: &str, name: &str) -> f64 {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

async fn until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn push_webhooks_and_restreams_never_reach_a_private_address() {
    let (trap_port, trap_hits) = trap();
    let (push_origin, redirected) = redirecting_push_service(format!("http://127.0.0.1:{trap_port}/stolen")).await;
    let dir = tempfile::tempdir().unwrap();
    let hosts = "127.0.0.1 localhost\n127.0.0.1 push.example.org hooks.example.org rtmp.example.org\n";
    let (_server, base, metrics, invite) = serve(dir.path(), hosts, &push_origin);
    let admin = Api::sign_up(&base, &invite, "operator", "operator-password").await.unwrap();
    let invite = async || admin.post("/api/v1/invites", json!({})).await.unwrap()["code"].as_str().unwrap().to_string();
    let ada = Api::sign_up(&base, &invite().await, "ada", "ada-password").await.unwrap();
    let failed = "stoa_push_failed_total";

    // Web push to a public-looking name that resolves to 127.0.0.1: accepted as a subscription (its host
    // is a name), refused at delivery after DNS.
    let keys = json!({
        "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        "auth": "BTBZMqHH6r4Tts7J_aSIgg"
    });
    let (status, b) = send(
        &ada,
        reqwest::Method::POST,
        "/api/v1/push/subscriptions",
        json!({"endpoint": format!("https://push.example.org:{trap_port}/p/1"), "keys": keys}),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    let before = metric(&metrics, failed).await;
    admin.post("/api/v1/users/ada/follow", json!({})).await.unwrap();
    until("the push to push.example.org is refused", async || metric(&metrics, failed).await > before).await;

    // A push service that redirects to 127.0.0.1: the redirect is not followed.
    let bob = Api::sign_up(&base, &invite().await, "bob", "bob-password").await.unwrap();
    let (status, b) = send(
        &bob,
        reqwest::Method::POST,
        "/api/v1/push/subscriptions",
        json!({"endpoint": format!("{push_origin}/p/2"), "keys": keys}),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    let before = metric(&metrics, failed).await;
    admin.post("/api/v1/users/bob/follow", json!({})).await.unwrap();
    until("the push service's redirect is answered", async || {
        redirected.load(Ordering::SeqCst) > 0 && metric(&metrics, failed).await > before
    })
    .await;

    // A webhook on such a name is refused when it is registered.
    let (status, b) = send(
        &admin,
        reqwest::Method::POST,
        "/api/v1/admin/webhooks",
        json!({"url": format!("http://hooks.example.org:{trap_port}/x"), "events": ["room.started"]}),
    )
    .await;
    assert_eq!((status, &b["error"]["code"]), (400, &json!("webhook_url_not_public")), "{b}");

    // Restreams to such a name, and to a local port, are refused before ffmpeg starts, in words that say
    // nothing about the port.
    let room = admin.post("/api/v1/rooms", json!({"title": "Here", "visibility": "open"})).await.unwrap();
    let path = format!("/api/v1/rooms/{}/restream", room["id"].as_str().unwrap());
    for url in [format!("rtmp://rtmp.example.org:{trap_port}/live"), "rtmp://127.0.0.1:22/live".to_string()] {
        let (status, b) = send(&admin, reqwest::Method::POST, &path, json!({"url": url, "stream_key": "k"})).await;
        assert_eq!((status, &b["error"]["code"]), (400, &json!("could_not_connect")), "{url}: {b}");
        assert_eq!(b["error"]["message"], "Stoa could not connect to that RTMP server.");
    }
    assert_eq!(trap_hits.load(Ordering::SeqCst), 0, "something reached the trap on 127.0.0.1");
}
