//! Personal access tokens over real HTTP and WebSockets: shown once, scoped, revocable, never able to manage
//! the account, and a `listen` token never gets on stage.

use crate::common;

use common::{TestServer, request};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn with(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    request(&server.base, Some(token), method, path, body).await
}

#[tokio::test]
async fn tokens_are_shown_once_scoped_revocable_and_cannot_manage_the_account() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let bob = server.user("bob").await;

    // Bad requests change nothing.
    for (body, code) in [
        (json!({"name": "", "scopes": ["rooms:read"]}), "invalid_name"),
        (json!({"name": "x", "scopes": []}), "invalid_scopes"),
        (json!({"name": "x", "scopes": ["rooms:everything"]}), "invalid_body"),
        (json!({"name": "x", "scopes": ["listen"], "expires_in_days": 0}), "invalid_expiry"),
        (json!({"name": "x", "scopes": ["listen"], "expires_in_days": 366}), "invalid_expiry"),
    ] {
        let (s, b) = bob.post("/api/v1/tokens", body.clone()).await;
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{body}");
    }
    let (s, b) = bob.post("/api/v1/tokens", json!({"name": "x", "scopes": ["admin"]})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_admin")));
    let (_, list) = bob.get("/api/v1/tokens").await;
    assert_eq!(list["tokens"], json!([]));

    let (s, made) =
        bob.post("/api/v1/tokens", json!({"name": "Reader", "scopes": ["rooms:read"], "expires_in_days": 30})).await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let reader = made["token"].as_str().unwrap().to_string();
    assert!(reader.starts_with("stoa_pat_") && reader.len() == 73, "{reader}");
    assert_eq!(made["info"]["scopes"], json!(["rooms:read"]));
    assert!(made["info"]["expires_at"].as_i64().unwrap() > made["info"]["created_at"].as_i64().unwrap() + 29 * 86_400);

    // Reads go; writes need rooms:write; the account, tokens and sign-out never take a token.
    let (s, _) = with(&server, &reader, Method::GET, "/api/v1/rooms", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, me) = with(&server, &reader, Method::GET, "/api/v1/me", None).await;
    assert_eq!((s, me["username"].as_str()), (StatusCode::OK, Some("bob")));
    let (s, b) =
        with(&server, &reader, Method::POST, "/api/v1/rooms", Some(json!({"title": "T", "visibility": "open"}))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("missing_scope")));
    for (method, path, body) in [
        (Method::GET, "/api/v1/account/sessions", None),
        (Method::GET, "/api/v1/account/export", None),
        (Method::POST, "/api/v1/account/delete", Some(json!({"password": "bob-password"}))),
        (Method::POST, "/api/v1/tokens", Some(json!({"name": "more", "scopes": ["rooms:write"]}))),
        (Method::GET, "/api/v1/tokens", None),
        (Method::POST, "/api/v1/auth/logout-everywhere", None),
    ] {
        let (s, b) = with(&server, &reader, method.clone(), path, body).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("token_not_allowed")),
            "{method} {path}"
        );
    }
    let (s, _) = bob.get("/api/v1/me").await;
    assert_eq!(s, StatusCode::OK, "the session was not signed out");
    let (_, list) = bob.get("/api/v1/tokens").await;
    assert_eq!(list["tokens"][0]["name"], "Reader");
    assert!(list["tokens"][0]["last_used_at"].as_i64().is_some(), "its use is recorded: {list}");
    assert!(list["tokens"][0].get("token").is_none(), "the secret is never shown again");

    // Malformed or unknown tokens are 401; a revoked one too, at once.
    for bad in ["stoa_pat_", "stoa_pat_zz", &format!("stoa_pat_{}", "0".repeat(64))] {
        let (s, _) = with(&server, bad, Method::GET, "/api/v1/me", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{bad}");
    }
    let id = made["info"]["id"].as_i64().unwrap();
    let (s, _) = admin.delete(&format!("/api/v1/tokens/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "someone else's token is not theirs to revoke");
    let (s, _) = bob.delete(&format!("/api/v1/tokens/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = with(&server, &reader, Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The admin console: an admin's token needs the admin scope, else the console is not there.
    let (_, plain) = admin.post("/api/v1/tokens", json!({"name": "ops", "scopes": ["rooms:read"]})).await;
    let (s, _) = with(&server, plain["token"].as_str().unwrap(), Method::GET, "/api/v1/admin/settings", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, ops) = admin.post("/api/v1/tokens", json!({"name": "ops", "scopes": ["admin", "rooms:read"]})).await;
    let ops = ops["token"].as_str().unwrap().to_string();
    let (s, _) = with(&server, &ops, Method::GET, "/api/v1/admin/settings", None).await;
    assert_eq!(s, StatusCode::OK);

    // A suspended person's tokens stop working with their sessions.
    let (_, writer) = bob.post("/api/v1/tokens", json!({"name": "w", "scopes": ["rooms:read", "rooms:write"]})).await;
    let writer = writer["token"].as_str().unwrap().to_string();
    let (s, _) =
        with(&server, &ops, Method::POST, "/api/v1/admin/users/bob/suspend", Some(json!({"reason": "Spam."}))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = with(&server, &writer, Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_listen_token_hears_the_room_but_never_gets_on_stage_and_a_speak_token_does() {
    let server = TestServer::start().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let (room, mut hws) = server.room(&host, "open", &[]).await;
    let token = |scopes: Value| {
        let bob = bob.clone();
        async move {
            let (s, made) = bob.post("/api/v1/tokens", json!({"name": "bot", "scopes": scopes})).await;
            assert_eq!(s, StatusCode::CREATED, "{made}");
            let mut as_bot = bob.clone();
            as_bot.token = made["token"].as_str().unwrap().to_string();
            as_bot
        }
    };
    // Without listen or speak, no socket.
    let reader = token(json!(["rooms:read"])).await;
    let Err((s, b)) = reader.join(&room).await else { panic!("a rooms:read token joined") };
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("missing_scope")));

    let listener = token(json!(["listen"])).await;
    let mut ws = listener.join(&room).await.unwrap();
    ws.expect("joined").await;
    assert_eq!(ws.command_error(json!({"type": "raise_hand"})).await.as_deref(), Some("missing_scope"));
    hws.send(json!({"type": "invite_to_speak", "user_id": bob.id})).await;
    ws.expect("invited_to_speak").await;
    assert_eq!(ws.command_error(json!({"type": "accept_invite"})).await.as_deref(), Some("missing_scope"));
    hws.send(json!({"type": "ping"})).await;
    hws.expect("pong").await;
    let (_, info) = host.get(&format!("/api/v1/rooms/{room}")).await;
    assert_eq!(info["stage"].as_array().unwrap().len(), 1, "bob is not on stage: {info}");

    // A speak token (a new connection takes over bob's place) may accept.
    let speaker = token(json!(["speak"])).await;
    let mut ws = speaker.join(&room).await.unwrap();
    ws.expect("joined").await;
    hws.send(json!({"type": "invite_to_speak", "user_id": bob.id})).await;
    ws.expect("invited_to_speak").await;
    ws.send(json!({"type": "accept_invite"})).await;
    assert_eq!(ws.expect("role_changed").await["role"], "speaker");
}

/// Every room command a moderator might send, with what it needs: `None` for every connection, else the
/// scope.
fn room_commands(other: i64) -> Vec<(Value, Option<&'static str>)> {
    vec![
        (json!({"type": "ping"}), None),
        (json!({"type": "raise_hand"}), Some("speak")),
        (json!({"type": "lower_hand"}), Some("speak")),
        (json!({"type": "accept_invite"}), Some("speak")),
        (json!({"type": "decline_invite"}), Some("speak")),
        (json!({"type": "set_muted", "muted": true}), Some("speak")),
        (json!({"type": "invite_to_speak", "user_id": other}), Some("rooms:write")),
        (json!({"type": "move_to_audience", "user_id": other}), Some("rooms:write")),
        (json!({"type": "make_moderator", "user_id": other}), Some("rooms:write")),
        (json!({"type": "remove_moderator", "user_id": other}), Some("rooms:write")),
        (json!({"type": "mute", "user_id": other}), Some("rooms:write")),
        (json!({"type": "remove", "user_id": other}), Some("rooms:write")),
        (json!({"type": "set_hand_mode", "mode": "off"}), Some("rooms:write")),
        (json!({"type": "send_chat", "text": "hello"}), Some("rooms:write")),
        (json!({"type": "delete_chat", "message_id": 1}), Some("rooms:write")),
        (json!({"type": "silence_chat", "user_id": other, "silenced": true}), Some("rooms:write")),
        (json!({"type": "set_chat_mode", "mode": "off"}), Some("rooms:write")),
        (json!({"type": "set_outputs", "clips": true}), Some("rooms:write")),
        (json!({"type": "react", "reaction": "clap"}), Some("rooms:write")),
        (json!({"type": "end_room"}), Some("rooms:write")),
    ]
}

#[tokio::test]
async fn a_moderators_token_does_in_the_room_only_what_its_scopes_allow() {
    let server = TestServer::start().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let (room, _hws) = server.room(&host, "open", &[]).await;
    let mut bws = bob.join(&room).await.unwrap();
    bws.expect("joined").await;
    for (scopes, may) in [
        (json!(["listen"]), json!({"speak": false, "write": false})),
        (json!(["listen", "speak"]), json!({"speak": true, "write": false})),
    ] {
        let (s, made) = host.post("/api/v1/tokens", json!({"name": "bot", "scopes": scopes})).await;
        assert_eq!(s, StatusCode::CREATED, "{made}");
        let mut as_bot = host.clone();
        as_bot.token = made["token"].as_str().unwrap().to_string();
        // The host, the room's moderator, comes back with the token: the new connection takes their place.
        let mut ws = as_bot.join(&room).await.unwrap();
        let joined = ws.expect("joined").await;
        assert_eq!(joined["role"], "moderator");
        assert_eq!(joined["may"], may, "the joined event says what this connection may do");
        for (command, needs) in room_commands(bob.id) {
            let allowed = match needs {
                None => true,
                Some(scope) => scopes.as_array().unwrap().iter().any(|s| s == scope),
            };
            if allowed {
                continue;
            }
            assert_eq!(
                ws.command_error(command.clone()).await.as_deref(),
                Some("missing_scope"),
                "{scopes} must refuse {command}"
            );
        }
        // Nothing happened: the room is live, bob is still in the audience, and nobody was told anything.
        let (s, info) = host.get(&format!("/api/v1/rooms/{room}")).await;
        assert_eq!(s, StatusCode::OK, "the room still runs: {info}");
        assert_eq!(info["stage"].as_array().unwrap().len(), 1, "{info}");
        assert_eq!(bws.command_error(json!({"type": "ping"})).await, None);
    }
    // With rooms:write, the same moderator ends the room.
    let (_, made) = host.post("/api/v1/tokens", json!({"name": "bot", "scopes": ["listen", "rooms:write"]})).await;
    let mut as_bot = host.clone();
    as_bot.token = made["token"].as_str().unwrap().to_string();
    let mut ws = as_bot.join(&room).await.unwrap();
    assert_eq!(ws.expect("joined").await["may"], json!({"speak": false, "write": true}));
    ws.send(json!({"type": "end_room"})).await;
    assert_eq!(bws.expect("room_ended").await["reason"], "ended_by_moderator");
}

#[tokio::test]
async fn an_admins_ordinary_token_has_no_admin_power() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let host = server.user("host").await;
    let (room, _hws) = server.room(&host, "closed", &[]).await;
    let (s, _) = admin.get(&format!("/api/v1/rooms/{room}/moderation")).await;
    assert_eq!(s, StatusCode::OK, "the admin's session reads any room's moderation log");
    let (_, made) =
        admin.post("/api/v1/tokens", json!({"name": "ops", "scopes": ["rooms:read", "rooms:write", "listen"]})).await;
    let token = made["token"].as_str().unwrap().to_string();
    let (s, b) = with(&server, &token, Method::GET, &format!("/api/v1/rooms/{room}/moderation"), None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{b}");
    let (s, me) = with(&server, &token, Method::GET, "/api/v1/me", None).await;
    assert_eq!((s, &me["is_admin"]), (StatusCode::OK, &json!(false)), "{me}");
}
