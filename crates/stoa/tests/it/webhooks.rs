//! Webhooks against a real HTTP endpoint on this machine: an admin registers URLs for events; a room's
//! start reaches them signed as Standard Webhooks has it; an endpoint that fails is retried until it
//! answers; one that never answers is recorded with its timeout; bad registrations are refused, and
//! nobody but an admin sees any of it.

use crate::common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Received {
    ok: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    flaky_calls: Arc<Mutex<u32>>,
}

async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = axum::Router::new()
        .route(
            "/ok",
            post(|State(r): State<Received>, headers: HeaderMap, body: String| async move {
                r.ok.lock().unwrap().push((headers, body));
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/flaky",
            post(|State(r): State<Received>| async move {
                let mut n = r.flaky_calls.lock().unwrap();
                *n += 1;
                if *n == 1 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
            }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                StatusCode::OK
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, received)
}

async fn eventually<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn events_reach_registered_urls_signed_and_failures_are_retried_and_recorded() {
    let (hooks, received) = receiver().await;
    let allowed = hooks.clone();
    let w = common::world_with(|c| {
        c.webhook_timeout = Duration::from_secs(1);
        // The receiver is on this machine: its origin, and no other, is allowed although it is private.
        c.webhook_origins = vec![allowed];
    })
    .await;
    // The same receiver by a name that resolves to 127.0.0.1 is another origin: refused, and never called.
    let port = hooks.rsplit(':').next().unwrap();
    let (status, b) = common::send(
        &w.admin,
        reqwest::Method::POST,
        "/api/v1/admin/webhooks",
        json!({"url": format!("http://localhost:{port}/ok"), "events": ["room.started"]}),
    )
    .await;
    assert_eq!((status, &b["error"]["code"]), (400, &json!("webhook_url_not_public")), "{b}");
    let register = |url: String, events: Value| {
        let admin = w.admin.clone();
        async move { admin.post("/api/v1/admin/webhooks", json!({"url": url, "events": events})).await.unwrap() }
    };
    let ok = register(format!("{hooks}/ok"), json!(["room.started", "room.ended", "report.filed"])).await;
    let secret = ok["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let flaky = register(format!("{hooks}/flaky"), json!(["room.started"])).await;
    let slow = register(format!("{hooks}/slow"), json!(["room.started"])).await;
    let list = w.admin.get("/api/v1/admin/webhooks").await.unwrap();
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 3);
    assert!(!list.to_string().contains(&secret), "the secret is shown once");

    // A room starts: the endpoint gets the event, signed.
    let host = w.user("host").await;
    let room = w.room(&host).await;
    let (headers, body) =
        eventually("room.started arrives", 10, async || received.ok.lock().unwrap().first().cloned()).await;
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["type"], "room.started");
    assert_eq!(event["data"]["room"]["id"], room.as_str());
    assert_eq!(event["data"]["host"]["username"], "host");
    let id = headers["webhook-id"].to_str().unwrap();
    let ts: i64 = headers["webhook-timestamp"].to_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - ts).abs() < 60, "a fresh timestamp");
    assert_eq!(headers["webhook-signature"].to_str().unwrap(), stoa_server::webhooks::sign(&secret, id, ts, &body));
    assert_ne!(
        headers["webhook-signature"].to_str().unwrap(),
        stoa_server::webhooks::sign("whsec_AAAA", id, ts, &body)
    );

    // The flaky endpoint failed once and got it on the retry, five seconds later.
    let path = format!("/api/v1/admin/webhooks/{}/deliveries", flaky["id"]);
    let d = eventually("the retry is delivered", 20, async || {
        let d = w.admin.get(&path).await.unwrap()["deliveries"][0].clone();
        (d["state"] == "delivered").then_some(d)
    })
    .await;
    assert_eq!(d["attempts"], 2, "{d}");
    // The slow one is recorded as timed out, and will be tried again.
    let path = format!("/api/v1/admin/webhooks/{}/deliveries", slow["id"]);
    let d = eventually("the timeout is recorded", 10, async || {
        let d = w.admin.get(&path).await.unwrap()["deliveries"][0].clone();
        (d["attempts"] == 1).then_some(d)
    })
    .await;
    assert_eq!(d["state"], "pending", "{d}");
    assert!(d["last_error"].as_str().unwrap().contains("no answer within 1 s"), "{d}");

    // Bad registrations; and none of it for anyone but an admin.
    for (body, code) in [
        (json!({"url": "ftp://x/y", "events": ["room.started"]}), "invalid_url"),
        (json!({"url": "https://user:pw@x/y", "events": ["room.started"]}), "invalid_url"),
        (json!({"url": "https://x/y", "events": ["room.exploded"]}), "invalid_event"),
        (json!({"url": "https://x/y", "events": []}), "invalid_event"),
    ] {
        let err = w.admin.post("/api/v1/admin/webhooks", body.clone()).await.unwrap_err().to_string();
        assert!(err.contains("400"), "{body}: {err}");
        let _ = code;
    }
    let err = host.get("/api/v1/admin/webhooks").await.unwrap_err().to_string();
    assert!(err.contains("404"), "{err}");
    let err = host.post("/api/v1/admin/webhooks", json!({"url": "https://x/y", "events": ["room.started"]})).await;
    assert!(err.unwrap_err().to_string().contains("404"));

    // Removed, a webhook gets nothing more.
    let r = reqwest::Client::new()
        .delete(format!("{}/api/v1/admin/webhooks/{}", w.base, slow["id"]))
        .bearer_auth(&w.admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(w.admin.get("/api/v1/admin/webhooks").await.unwrap()["webhooks"].as_array().unwrap().len(), 2);
}
