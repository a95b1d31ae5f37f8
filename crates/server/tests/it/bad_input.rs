//! Bad input gets a clear JSON error with the right status, and changes nothing.

use crate::common;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn raw(
    server: &TestServer,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", server.base)).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let text = resp.text().await.unwrap();
    assert!(ct.starts_with("application/json"), "{status} answered {ct:?}: {text}");
    let value: Value = serde_json::from_str(&text).unwrap();
    assert!(value["error"]["code"].is_string() && value["error"]["message"].is_string(), "{text}");
    (status, value)
}

#[tokio::test]
async fn malformed_bodies_are_400_and_change_nothing() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let t = Some(alice.token.as_str());
    let json_ct = Some("application/json");
    // (path, method, content type, body, expected status, expected code)
    type Case<'a> = (&'a str, reqwest::Method, Option<&'a str>, Vec<u8>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            "/api/v1/rooms",
            reqwest::Method::POST,
            json_ct,
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "/api/v1/rooms",
            reqwest::Method::POST,
            json_ct,
            br#"{"title": 5}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "/api/v1/rooms",
            reqwest::Method::POST,
            json_ct,
            br#"{"title":"x","visibility":"secret"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "/api/v1/rooms",
            reqwest::Method::POST,
            json_ct,
            br#"{"title":"","visibility":"open"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_title",
        ),
        (
            "/api/v1/rooms",
            reqwest::Method::POST,
            json_ct,
            br#"{"title":"x","visibility":"closed","invited":["ghost"]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "unknown_user",
        ),
        (
            "/api/v1/rooms",
            reqwest::Method::POST,
            Some("text/plain"),
            br#"{"title":"x","visibility":"open"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "/api/v1/rooms",
            reqwest::Method::POST,
            json_ct,
            [0xff, 0xfe, 0x00].to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        ("/api/v1/me", reqwest::Method::PATCH, json_ct, b"[]".to_vec(), StatusCode::BAD_REQUEST, "invalid_body"),
        (
            "/api/v1/users/alice/followers?limit=lots",
            reqwest::Method::GET,
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        ("/api/v1/nothing/here", reqwest::Method::GET, None, vec![], StatusCode::NOT_FOUND, "not_found"),
        ("/api/v1/rooms", reqwest::Method::PUT, None, vec![], StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
    ];
    for (path, method, ct, body, status, code) in cases {
        let (s, b) = raw(&server, t, method.clone(), path, ct, body).await;
        assert_eq!((s, b["error"]["code"].as_str().unwrap()), (status, code), "{method} {path}: {b}");
    }
    assert!(alice.hallway().await.is_empty(), "no refused request created a room");
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let huge = json!({"title": "x".repeat(100_000), "visibility": "open"}).to_string().into_bytes();
    let (s, b) =
        raw(&server, Some(&alice.token), reqwest::Method::POST, "/api/v1/rooms", Some("application/json"), huge).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert_eq!(b["error"]["code"], "body_too_large");
    let huge =
        json!({"invite": server.invite, "username": "big", "display_name": "B", "password": "p".repeat(200_000)})
            .to_string()
            .into_bytes();
    let (s, _) = raw(&server, None, reqwest::Method::POST, "/api/v1/auth/signup", Some("application/json"), huge).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(alice.hallway().await.is_empty());
}

#[tokio::test]
async fn bad_tokens_are_401() {
    let server = TestServer::start().await;
    for token in ["", "nonsense", &"a".repeat(64), "💥"] {
        let (s, b) = raw(&server, Some(token), reqwest::Method::GET, "/api/v1/me", None, vec![]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{token:?}: {b}");
    }
}

#[tokio::test]
async fn websocket_garbage_is_answered_with_an_error_and_the_socket_stays_useful() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let (_room, mut ws) = server.room(&alice, "open", &[]).await;
    for garbage in ["", "{", "[1,2]", r#"{"type":"launch"}"#, r#"{"type":"mute"}"#, r#"{"type":"mute","user_id":"x"}"#]
    {
        ws.send_raw(garbage).await;
        let ev = ws.expect("error").await;
        assert_eq!(ev["code"], "invalid_message", "{garbage:?}: {ev}");
    }
    ws.stream.send(tokio_tungstenite::tungstenite::Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert_eq!(ws.expect("error").await["code"], "invalid_message");
    // Commands at unknown people are refused without effect.
    assert_eq!(ws.command_error(json!({"type": "mute", "user_id": 424242})).await.as_deref(), Some("not_in_room"));
    assert_eq!(ws.command_error(json!({"type": "ping"})).await, None, "the socket still works");
}

#[tokio::test]
async fn a_plain_get_on_the_websocket_address_is_a_json_error() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let (room, _ws) = server.room(&alice, "open", &[]).await;
    let (s, b) =
        raw(&server, Some(&alice.token), reqwest::Method::GET, &format!("/api/v1/rooms/{room}/ws"), None, vec![]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["code"], "websocket_required");
    let (s, _) = raw(&server, None, reqwest::Method::GET, &format!("/api/v1/rooms/{room}/ws"), None, vec![]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "authentication comes before the upgrade");
}

use futures_util::SinkExt;

/// Regression: a number as a message's `"type"` was read as the variant's index: a moderator's
/// `{"type":13}` ended the room and `{"type":0}` raised a hand.
#[tokio::test]
async fn numeric_message_types_are_refused_and_end_nothing() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let (room, mut ws) = server.room(&alice, "open", &[]).await;
    for numeric in [r#"{"type":13}"#, r#"{"type":0}"#, r#"{"type":13,"id":5}"#] {
        ws.send_raw(numeric).await;
        let ev = ws.expect("error").await;
        assert_eq!(ev["code"], "invalid_message", "{numeric}: {ev}");
    }
    assert_eq!(ws.command_error(json!({"type": "ping"})).await, None, "the socket still works");
    let (s, info) = alice.get(&format!("/api/v1/rooms/{room}")).await;
    assert_eq!(s, StatusCode::OK, "the room did not end: {info}");
}

/// A client that offers media in a loop makes the server build a WebRTC peer (and a DTLS handshake) each
/// time: offers are limited to one a second per connection, and the rest are refused with an error.
#[tokio::test]
async fn offers_are_rate_limited_per_connection() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let (_room, mut ws) = server.room(&alice, "open", &[]).await;
    // Not valid SDP, so that the one that reaches the SFU comes back as its own error.
    ws.send(json!({"type": "offer", "sdp": "v=0"})).await;
    assert_eq!(ws.expect("error").await["code"], "invalid_sdp", "the first offer reached the media plane");
    for _ in 0..3 {
        ws.send(json!({"type": "offer", "sdp": "v=0"})).await;
        let ev = ws.expect("error").await;
        assert_eq!(ev["code"], "rate_limited", "{ev}");
    }
    assert_eq!(ws.command_error(json!({"type": "ping"})).await, None, "the socket still works");
}
