//! Revocation reaches live connections: a password change, signing out everywhere, a session revoked by
//! its ID, a token revoked, a token that expires and a suspension each close, within a second, the room
//! sockets and notification streams that rode on what they revoked, with a `removed` event that says why.
//! What rode on other credentials stays open.

use crate::common;

use common::{Client, TestServer, post};
use reqwest::StatusCode;
use serde_json::json;

/// Signs `who` in again: another session of the same account.
async fn another_session(server: &TestServer, who: &Client) -> Client {
    let (s, b) = post(
        &server.base,
        None,
        "/api/v1/auth/login",
        json!({"username": who.username, "password": format!("{}-password", who.username)}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    Client { token: b["token"].as_str().unwrap().to_string(), ..who.clone() }
}

/// A personal access token of `who`'s, as a client.
async fn token(who: &Client, scopes: serde_json::Value) -> (Client, i64) {
    let (s, made) = who.post("/api/v1/tokens", json!({"name": "bot", "scopes": scopes})).await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    (Client { token: made["token"].as_str().unwrap().to_string(), ..who.clone() }, made["info"]["id"].as_i64().unwrap())
}

/// Waits for `ws` to be told `reason` and closed.
async fn removed_for(ws: &mut common::Ws, reason: &str) {
    let events = ws.closed().await;
    let last = events.last().unwrap_or_else(|| panic!("closed without a word, expecting {reason}"));
    assert_eq!((&last["type"], &last["reason"]), (&json!("removed"), &json!(reason)), "{events:?}");
}

#[tokio::test]
async fn a_password_change_closes_the_other_sessions_sockets_and_streams_at_once() {
    let server = TestServer::start().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let (room, _hws) = server.room(&host, "open", &[]).await;
    let mut ws = bob.join(&room).await.unwrap();
    ws.expect("joined").await;
    let mut stream = bob.stream().await;
    stream.next_update().await;
    let laptop = another_session(&server, &bob).await;
    let (s, b) = laptop
        .post(
            "/api/v1/account/password",
            json!({"current_password": "bob-password", "new_password": "a new password!"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    removed_for(&mut ws, "signed_out").await;
    let revoked = stream.last_before_end("revoked").await.expect("the stream says why it ended");
    assert_eq!(revoked["reason"], "signed_out");
    // The session that changed the password goes on, sockets included.
    let mut ws = laptop.join(&room).await.unwrap();
    ws.expect("joined").await;
    assert_eq!(ws.command_error(json!({"type": "ping"})).await, None);
}

#[tokio::test]
async fn signing_out_everywhere_revoking_a_session_or_a_token_and_expiry_close_what_rode_on_them() {
    let server = TestServer::start().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let (room, mut hws) = server.room(&host, "open", &[]).await;

    // A token revoked: its socket closes; bob's session socket in another room is untouched.
    let (bot, id) = token(&bob, json!(["listen"])).await;
    let mut ws = bot.join(&room).await.unwrap();
    ws.expect("joined").await;
    let (s, _) = bob.delete(&format!("/api/v1/tokens/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    removed_for(&mut ws, "token_revoked").await;

    // A token that expires: created to expire in two seconds, its socket closes then.
    let store = server.store().await;
    let secret = format!("stoa_pat_{}", "ab".repeat(32));
    let hash = stoa_server::auth::token_hash(&secret);
    let soon = stoa_server::clock::now_ms() / 1000 + 2;
    store
        .create_api_token(stoa_proto::UserId(bob.id), "soon", &hash, &[stoa_proto::Scope::Listen], Some(soon))
        .await
        .unwrap();
    let expiring = Client { token: secret, ..bob.clone() };
    let mut ws = expiring.join(&room).await.unwrap();
    ws.expect("joined").await;
    removed_for(&mut ws, "token_expired").await;

    // A session revoked by its ID.
    let phone = another_session(&server, &bob).await;
    let mut ws = phone.join(&room).await.unwrap();
    ws.expect("joined").await;
    let (_, list) = bob.get("/api/v1/account/sessions").await;
    let theirs = list["sessions"].as_array().unwrap().iter().find(|s| s["current"] != true).unwrap()["id"].clone();
    let (s, b) = bob.delete(&format!("/api/v1/account/sessions/{}", theirs.as_str().unwrap())).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    removed_for(&mut ws, "signed_out").await;

    // Signing out everywhere, this session included.
    let mut ws = bob.join(&room).await.unwrap();
    ws.expect("joined").await;
    let mut stream = bob.stream().await;
    stream.next_update().await;
    let (s, _) = bob.post_empty("/api/v1/auth/logout-everywhere").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    removed_for(&mut ws, "signed_out").await;
    assert_eq!(stream.last_before_end("revoked").await.map(|r| r["reason"].clone()), Some(json!("signed_out")));
    // The host, whose credentials nobody touched, is still in the room.
    assert_eq!(hws.command_error(json!({"type": "ping"})).await, None);
}

#[tokio::test]
async fn a_suspension_closes_a_tokens_socket_and_stream() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let (room, _hws) = server.room(&host, "open", &[]).await;
    let (bot, _) = token(&bob, json!(["listen", "rooms:read"])).await;
    let mut ws = bot.join(&room).await.unwrap();
    ws.expect("joined").await;
    let mut stream = bot.stream().await;
    stream.next_update().await;
    let (s, b) = admin.post("/api/v1/admin/users/bob/suspend", json!({"reason": "Spam."})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    removed_for(&mut ws, "suspended").await;
    stream.last_before_end("update").await;
}
