//! TURN credentials: every participant gets their own, made from the shared secret by coturn's REST
//! scheme, in the room's `joined` event and from `GET /api/v1/ice-servers`; a signed-out caller gets none.

use crate::common;

use base64::Engine;
use common::TestServer;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use stoa_server::turn::TurnConfig;

fn password(secret: &str, username: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn each_participant_gets_expiring_credentials_of_their_own_and_a_signed_out_caller_gets_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    let urls = vec!["turn:turn.example.org:3478?transport=udp".to_string(), "turns:turn.example.org".to_string()];
    config.turn = Some(TurnConfig { urls: urls.clone(), secret: "sesame".into(), ttl: Duration::from_secs(3600) });
    let server = TestServer::start_with(dir, config).await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;

    let (status, body) = common::request(&server.base, None, reqwest::Method::GET, "/api/v1/ice-servers", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"]["message"].as_str().is_some(), "a clear error: {body}");

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (status, body) = ann.get("/api/v1/ice-servers").await;
    assert_eq!(status, StatusCode::OK);
    let entry = &body["ice_servers"][0];
    assert_eq!(entry["urls"], json!(urls));
    let username = entry["username"].as_str().unwrap();
    let (expiry, label) = username.split_once(':').unwrap();
    // The username crosses the network in the clear: an opaque label, never the account's ID, new each time.
    assert!(label.len() == 24 && label.bytes().all(|b| b.is_ascii_hexdigit()), "{label}");
    let (_, again) = ann.get("/api/v1/ice-servers").await;
    assert_ne!(again["ice_servers"][0]["username"], entry["username"], "a new label with every credential");
    let expiry: u64 = expiry.parse().unwrap();
    assert!((now + 3590..=now + 3610).contains(&expiry), "expires a TTL from now: {expiry} vs {now}");
    assert_eq!(entry["credential"], password("sesame", username), "HMAC-SHA1 of the username, base64");

    let (status, room) = ann.post("/api/v1/rooms", json!({"title": "Turn", "visibility": "open"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = room["id"].as_str().unwrap();
    for who in [&ann, &bob] {
        let mut ws = who.join(id).await.unwrap();
        let joined = ws.expect("joined").await;
        let entry = &joined["ice_servers"][0];
        let username = entry["username"].as_str().unwrap();
        assert!(!username.ends_with(&format!(":{}", who.id)), "{}'s ID is not in it: {joined}", who.username);
        assert_eq!(entry["credential"], password("sesame", username));
    }
}

#[tokio::test]
async fn without_turn_the_list_is_empty() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    assert_eq!(ann.get("/api/v1/ice-servers").await, (StatusCode::OK, json!({"ice_servers": []})));
    let (_, room) = ann.post("/api/v1/rooms", json!({"title": "Plain", "visibility": "open"})).await;
    let mut ws = ann.join(room["id"].as_str().unwrap()).await.unwrap();
    assert_eq!(ws.expect("joined").await["ice_servers"], json!([]));
}
