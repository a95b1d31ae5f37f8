//! The community's tools over real HTTP and WebSockets: the moderation log, reports with their context,
//! the admin console's API (suspensions, ending rooms, the tree of invites, live settings), and account
//! settings (password, sessions, export, deletion).

use crate::common;

use common::{Client, TestServer, post};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// Polls `f` until it gives `Some`, for what is written in the background (the rooms' record, the tail).
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut f: impl FnMut() -> F) -> T {
    for _ in 0..200 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never happened");
}

async fn login(server: &TestServer, username: &str, password: &str) -> (StatusCode, Value) {
    post(&server.base, None, "/api/v1/auth/login", json!({"username": username, "password": password})).await
}

fn actions(log: &Value) -> Vec<String> {
    log["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn every_moderator_action_is_logged_shown_to_moderators_and_kept_for_admins() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let (room, mut hws) = server.room(&host, "open", &[]).await;
    let mut bws = bob.join(&room).await.unwrap();
    bws.expect("joined").await;
    let mut cws = carol.join(&room).await.unwrap();
    cws.expect("joined").await;

    hws.send(json!({"type": "invite_to_speak", "user_id": bob.id})).await;
    bws.expect("invited_to_speak").await;
    bws.send(json!({"type": "accept_invite"})).await;
    bws.expect("role_changed").await;
    hws.send(json!({"type": "mute", "user_id": bob.id})).await;
    bws.expect("muted").await;
    cws.send(json!({"type": "send_chat", "text": "spam spam spam"})).await;
    let id = cws.expect("chat_message").await["message"]["id"].clone();
    hws.send(json!({"type": "delete_chat", "message_id": id})).await;
    cws.expect("chat_deleted").await;
    hws.send(json!({"type": "silence_chat", "user_id": carol.id, "silenced": true})).await;
    cws.expect("chat_silenced").await;
    hws.send(json!({"type": "set_hand_mode", "mode": "off"})).await;
    cws.expect("hand_mode_changed").await;
    hws.send(json!({"type": "move_to_audience", "user_id": bob.id})).await;
    bws.expect("role_changed").await;
    hws.send(json!({"type": "remove", "user_id": carol.id})).await;
    cws.closed().await;

    let path = format!("/api/v1/rooms/{room}/moderation");
    let expected =
        ["invite_to_speak", "mute", "delete_chat", "silence_chat", "hand_mode", "move_to_audience", "remove"];
    let log = eventually("the log is written", || async {
        let (s, log) = host.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{log}");
        (actions(&log).len() == expected.len()).then_some(log)
    })
    .await;
    assert_eq!(actions(&log), expected);
    let deletion = &log["entries"][2];
    assert_eq!(deletion["actor"]["username"], "host");
    assert_eq!(deletion["target"]["username"], "carol", "the author is the one it was done to");
    assert_eq!(deletion["detail"], "spam spam spam", "the deleted text is kept for the record");
    assert_eq!(log["entries"][4]["detail"], "off");
    // A listener is not shown the log: the same 404 as a room they cannot see.
    let (s, b) = bob.get(&path).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    // Ended: moderators no longer see it, admins still do, with the end recorded.
    hws.send(json!({"type": "end_room"})).await;
    hws.closed().await;
    let log = eventually("the end is logged", || async {
        let (s, log) = admin.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{log}");
        (actions(&log).last().map(String::as_str) == Some("end_room")).then_some(log)
    })
    .await;
    assert_eq!(actions(&log).len(), expected.len() + 1);
    let (s, _) = host.get(&path).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_report_keeps_its_context_and_an_admin_resolves_it() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let dave = server.user("dave").await;
    let (room, mut hws) = server.room(&host, "open", &[]).await;
    let mut bws = bob.join(&room).await.unwrap();
    bws.expect("joined").await;
    let mut cws = carol.join(&room).await.unwrap();
    cws.expect("joined").await;
    bws.send(json!({"type": "send_chat", "text": "you are all idiots"})).await;
    let id = hws.expect("chat_message").await["message"]["id"].clone();
    hws.send(json!({"type": "delete_chat", "message_id": id})).await;
    cws.expect("chat_deleted").await;

    let reports = format!("/api/v1/rooms/{room}/reports");
    // Bad reports change nothing.
    let bad = [
        (json!({"user_id": dave.id, "reason": "spam"}), StatusCode::BAD_REQUEST, "not_in_room"),
        (json!({"user_id": carol.id, "reason": "spam"}), StatusCode::BAD_REQUEST, "self"),
        (json!({"user_id": bob.id, "reason": "boring"}), StatusCode::BAD_REQUEST, "invalid_body"),
        (
            json!({"user_id": bob.id, "reason": "other", "text": "x".repeat(1001)}),
            StatusCode::BAD_REQUEST,
            "invalid_text",
        ),
        (json!({"user_id": bob.id, "reason": "other", "text": "\u{7}"}), StatusCode::BAD_REQUEST, "invalid_text"),
    ];
    for (body, status, code) in bad {
        let (s, b) = carol.post(&reports, body.clone()).await;
        assert_eq!((s, b["error"]["code"].as_str()), (status, Some(code)), "{body}");
    }
    // Someone not in the room cannot report in it.
    let (s, b) = dave.post(&reports, json!({"user_id": bob.id, "reason": "spam"})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_in_room")));
    // A hidden room's reports are as hidden as the room.
    let (s, _) = carol.post("/api/v1/rooms/aaaaaaaaaaaa/reports", json!({"reason": "spam"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = admin.get("/api/v1/admin/reports").await;
    assert_eq!(s, StatusCode::OK);

    let (s, receipt) = carol
        .post(&reports, json!({"user_id": bob.id, "reason": "harassment", "text": "insults everyone", "block": true}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{receipt}");
    assert_eq!(receipt["blocked"], true);
    assert!(receipt["message"].as_str().unwrap().contains("admins"));
    let (_, profile) = carol.get("/api/v1/users/bob").await;
    assert_eq!(profile["you_block"], true, "{profile}");
    let (s, again) = carol.post(&reports, json!({"user_id": bob.id, "reason": "harassment"})).await;
    assert_eq!((s, &again["id"]), (StatusCode::CREATED, &receipt["id"]), "one open report per person and room");
    let (s, on_room) = host.post(&reports, json!({"reason": "spam"})).await;
    assert_eq!(s, StatusCode::CREATED, "{on_room}");

    // The console: only for admins, a 404 for everyone else (signed in or not).
    for path in ["/api/v1/admin/reports", "/api/v1/admin/settings", "/api/v1/admin/users/bob", "/api/v1/admin/log"] {
        let (s, b) = carol.get(path).await;
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{path}");
        let (s, _) = common::request(&server.base, None, reqwest::Method::GET, path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    let (s, _) = carol.post(&format!("/api/v1/admin/reports/{}/resolve", receipt["id"]), json!({"note": "x"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (_, list) = admin.get("/api/v1/admin/reports").await;
    let ids: Vec<&Value> = list["reports"].as_array().unwrap().iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, [&on_room["id"], &receipt["id"]], "newest first");
    let detail_path = format!("/api/v1/admin/reports/{}", receipt["id"]);
    let detail = eventually("the context is recorded", || async {
        let (s, d) = admin.get(&detail_path).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        (!d["chat"].as_array().unwrap().is_empty() && !d["moderation"].as_array().unwrap().is_empty()).then_some(d)
    })
    .await;
    assert_eq!(detail["report"]["reason"], "harassment");
    assert_eq!(detail["report"]["target"]["username"], "bob");
    assert_eq!(detail["report"]["reporter"]["username"], "carol");
    assert_eq!(detail["chat"][0]["text"], "you are all idiots", "deleted messages stay in the context");
    assert_eq!(detail["chat"][0]["deleted_by"]["username"], "host");
    assert_eq!(detail["moderation"][0]["action"], "delete_chat");

    let resolve = format!("/api/v1/admin/reports/{}/resolve", receipt["id"]);
    let (s, b) = admin.post(&resolve, json!({"note": "  "})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_note")));
    let (s, _) = admin.post(&resolve, json!({"note": "Warned bob."})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = admin.post(&resolve, json!({"note": "again"})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("already_resolved")));
    let (_, resolved) = admin.get("/api/v1/admin/reports?state=resolved").await;
    assert_eq!(resolved["reports"][0]["resolution_note"], "Warned bob.");
    assert_eq!(resolved["reports"][0]["resolved_by"]["username"], "operator");
    let (_, log) = admin.get("/api/v1/admin/log").await;
    assert_eq!(log["entries"][0]["action"], "resolve_report");
    assert_eq!(log["entries"][0]["subject_username"], Value::Null, "a report is not a person");
    let (s, _) = admin.get("/api/v1/admin/reports?state=maybe").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_suspended_user_is_thrown_out_signed_out_and_told_why_until_unsuspended() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let (room, mut hws) = server.room(&host, "open", &[]).await;
    let mut bws = bob.join(&room).await.unwrap();
    bws.expect("joined").await;
    let (s, second) = login(&server, "bob", "bob-password").await;
    assert_eq!(s, StatusCode::OK);

    let (s, b) = admin.post("/api/v1/admin/users/bob/suspend", json!({"reason": ""})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_reason")));
    let (s, b) = admin.post("/api/v1/admin/users/operator/suspend", json!({"reason": "x"})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("self")));
    let (s, _) = admin.post("/api/v1/admin/users/nobody/suspend", json!({"reason": "x"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = host.post("/api/v1/admin/users/bob/suspend", json!({"reason": "x"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not an admin: nothing here");

    let (s, user) = admin.post("/api/v1/admin/users/bob/suspend", json!({"reason": "Spam in three rooms."})).await;
    assert_eq!(s, StatusCode::OK, "{user}");
    assert_eq!(user["suspended"], "Spam in three rooms.");
    // Out of the room, told why.
    let events = bws.closed().await;
    let removed = events.iter().find(|e| e["type"] == "removed").expect("told");
    assert_eq!(removed["reason"], "suspended");
    assert!(removed["message"].as_str().unwrap().contains("Spam in three rooms."), "{removed}");
    hws.send(json!({"type": "ping"})).await;
    hws.expect("pong").await;
    // Every session is over, and signing in says why (only with the right password).
    for token in [bob.token.as_str(), second["token"].as_str().unwrap()] {
        let (s, _) = common::request(&server.base, Some(token), reqwest::Method::GET, "/api/v1/me", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, b) = login(&server, "bob", "bob-password").await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("account_suspended")));
    assert!(b["error"]["message"].as_str().unwrap().contains("Spam in three rooms."));
    let (s, b) = login(&server, "bob", "wrong-password").await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")));
    let (s, _) = admin.post("/api/v1/admin/users/bob/suspend", json!({"reason": "again"})).await;
    assert_eq!(s, StatusCode::CONFLICT);

    let (_, log) = admin.get("/api/v1/admin/log").await;
    assert_eq!(
        (log["entries"][0]["action"].as_str(), log["entries"][0]["subject_username"].as_str()),
        (Some("suspend"), Some("bob"))
    );
    let (s, user) = admin.post_empty("/api/v1/admin/users/bob/unsuspend").await;
    assert_eq!((s, &user["suspended"]), (StatusCode::OK, &Value::Null));
    let (s, _) = login(&server, "bob", "bob-password").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = admin.post_empty("/api/v1/admin/users/bob/unsuspend").await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn suspending_a_rooms_only_moderator_hands_the_room_over_as_when_they_leave() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let (room, mut hws) = server.room(&host, "open", &[]).await;
    let mut bws = bob.join(&room).await.unwrap();
    bws.expect("joined").await;
    hws.send(json!({"type": "invite_to_speak", "user_id": bob.id})).await;
    bws.expect("invited_to_speak").await;
    bws.send(json!({"type": "accept_invite"})).await;
    bws.expect("role_changed").await;
    let (s, _) = admin.post("/api/v1/admin/users/host/suspend", json!({"reason": "Abuse."})).await;
    assert_eq!(s, StatusCode::OK);
    let role = bws.expect("role_changed").await;
    assert_eq!(role["role"], "moderator", "the longest-present speaker inherits the room");
}

#[tokio::test]
async fn admins_end_any_room_and_change_settings_live() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::test_config(dir.path());
    let mut server = TestServer::start_with(dir, config).await;
    let admin = server.admin().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    // A closed room the admin cannot see in the hallway: the console lists it, and ends it.
    let (room, mut hws) = server.room(&host, "closed", &["bob"]).await;
    let mut bws = bob.join(&room).await.unwrap();
    bws.expect("joined").await;
    let (_, rooms) = admin.get("/api/v1/admin/rooms").await;
    assert_eq!(rooms["rooms"][0]["id"], room.as_str());
    let (s, _) = host.post_empty(&format!("/api/v1/admin/rooms/{room}/end")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = admin.post_empty("/api/v1/admin/rooms/zzzzzzzzzzzz/end").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = admin.post_empty(&format!("/api/v1/admin/rooms/{room}/end")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    for ws in [&mut hws, &mut bws] {
        let ended = ws.expect("room_ended").await;
        assert_eq!(ended["reason"], "ended_by_admin");
    }
    let log = eventually("the end is in the room's log", || async {
        let (_, log) = admin.get(&format!("/api/v1/rooms/{room}/moderation")).await;
        (!log["entries"].as_array().unwrap().is_empty()).then_some(log)
    })
    .await;
    assert_eq!(log["entries"][0]["actor"]["username"], "operator");

    // Settings: bad values change nothing; good ones apply at once, to live rooms too.
    let (_, before) = admin.get("/api/v1/admin/settings").await;
    assert_eq!(before, json!({"invite_quota": 2, "room_capacity": 5000}));
    for bad in [json!({"invite_quota": 1, "room_capacity": 1}), json!({"invite_quota": 20000, "room_capacity": 10})] {
        let (s, b) = admin.put("/api/v1/admin/settings", bad).await;
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_settings")));
    }
    let (s, _) = host.put("/api/v1/admin/settings", json!({"invite_quota": 9, "room_capacity": 9})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, live_room) = host.post("/api/v1/rooms", json!({"title": "Live", "visibility": "open"})).await;
    let live_room = live_room["id"].as_str().unwrap().to_string();
    let mut hws = host.join(&live_room).await.unwrap();
    hws.expect("joined").await;
    let (s, after) = admin.put("/api/v1/admin/settings", json!({"invite_quota": 1, "room_capacity": 2})).await;
    assert_eq!((s, &after), (StatusCode::OK, &json!({"invite_quota": 1, "room_capacity": 2})));
    let (s, _) = bob.post_empty("/api/v1/invites").await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = bob.post_empty("/api/v1/invites").await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("invite_quota_exhausted")));
    let mut bws = bob.join(&live_room).await.unwrap();
    bws.expect("joined").await;
    let full = eventually("the live room takes the new capacity", || async {
        match carol.join(&live_room).await {
            Err((status, body)) => Some((status, body)),
            Ok(_) => None,
        }
    })
    .await;
    assert_eq!((full.0, full.1["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("room_full")));

    // The database keeps them: they outlive a restart, over the flags' defaults.
    drop((hws, bws));
    server.stop().await;
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    // The same data folder and database.
    let config = server.config.clone();
    let server = TestServer::start_with(dir, config).await;
    let (s, b) = post(
        &server.base,
        None,
        "/api/v1/auth/login",
        json!({"username": "operator", "password": "operator-password"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let token = b["token"].as_str().unwrap();
    let (_, settings) =
        common::request(&server.base, Some(token), reqwest::Method::GET, "/api/v1/admin/settings", None).await;
    assert_eq!(settings, json!({"invite_quota": 1, "room_capacity": 2}));
}

#[tokio::test]
async fn the_tree_of_invites_walks_up_and_down_from_anyone() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let alice = server.user("alice").await;
    let (_, invite) = alice.post_empty("/api/v1/invites").await;
    let (s, b) = post(
        &server.base,
        None,
        "/api/v1/auth/signup",
        json!({
            "invite": invite["code"], "username": "bob", "display_name": "Bob", "password": "bob-password",
        }),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let bob = Client {
        base: server.base.clone(),
        token: b["token"].as_str().unwrap().into(),
        id: b["user"]["id"].as_i64().unwrap(),
        username: "bob".into(),
    };
    let (_, invite) = bob.post_empty("/api/v1/invites").await;
    let (s, _) = post(
        &server.base,
        None,
        "/api/v1/auth/signup",
        json!({
            "invite": invite["code"], "username": "carol", "display_name": "Carol", "password": "carol-password",
        }),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);

    let (s, carol) = admin.get("/api/v1/admin/users/carol").await;
    assert_eq!(s, StatusCode::OK, "{carol}");
    let chain: Vec<&str> =
        carol["invited_by"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(chain, ["alice", "bob"], "alice came with an admin invite, so the chain starts with her");
    let (_, alice_view) = admin.get("/api/v1/admin/users/alice").await;
    assert_eq!(alice_view["invitees"][0]["user"]["username"], "bob");
    assert_eq!(alice_view["invitees"][0]["invitees"], 1);
    let (_, operator) = admin.get("/api/v1/admin/users/operator").await;
    assert_eq!(operator["is_admin"], true);
    assert_eq!(operator["invited_by"], json!([]));
}

#[tokio::test]
async fn account_settings_password_sessions_export_and_deletion() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    bob.follow(&host).await;
    let (_, invite) = bob.post_empty("/api/v1/invites").await;
    // A second session, from a phone.
    let phone = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", server.base))
        .header("user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1")
        .json(&json!({"username": "bob", "password": "bob-password"}))
        .send()
        .await
        .unwrap();
    let phone: Value = phone.json().await.unwrap();
    let phone_token = phone["token"].as_str().unwrap().to_string();
    let (_, sessions) = bob.get("/api/v1/account/sessions").await;
    let sessions = sessions["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions[0]["device"], "Safari on iPhone");
    assert_eq!((sessions[0]["current"].as_bool(), sessions[1]["current"].as_bool()), (Some(false), Some(true)));
    assert!(sessions.iter().all(|s| s["id"].as_str().unwrap().len() == 16 && s["last_seen"].as_i64().unwrap() > 0));
    // Another user cannot revoke it; its owner can.
    let phone_id = sessions[0]["id"].as_str().unwrap();
    let (s, _) = host.delete(&format!("/api/v1/account/sessions/{phone_id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = bob.delete(&format!("/api/v1/account/sessions/{phone_id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = common::request(&server.base, Some(&phone_token), reqwest::Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The password: the current one is checked; a new one signs every other session out.
    let (_, other) = login(&server, "bob", "bob-password").await;
    let other = other["token"].as_str().unwrap().to_string();
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let (s, b) = bob.post("/api/v1/account/password", change("wrong-password", "new-password-1")).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("wrong_password")));
    let (s, b) = bob.post("/api/v1/account/password", change("bob-password", "short")).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("weak_password")));
    let (s, _) = bob.post("/api/v1/account/password", change("bob-password", "new-password-1")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = common::request(&server.base, Some(&other), reqwest::Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "other sessions are signed out");
    let (s, _) = bob.get("/api/v1/me").await;
    assert_eq!(s, StatusCode::OK, "this one stays");
    assert_eq!(login(&server, "bob", "bob-password").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&server, "bob", "new-password-1").await.0, StatusCode::OK);

    // Chat, then a report on bob that keeps its context after he deletes his account.
    let (room, mut hws) = server.room(&host, "open", &[]).await;
    let mut bws = bob.join(&room).await.unwrap();
    bws.expect("joined").await;
    bws.send(json!({"type": "send_chat", "text": "my words"})).await;
    hws.expect("chat_message").await;
    let (s, report) =
        host.post(&format!("/api/v1/rooms/{room}/reports"), json!({"user_id": bob.id, "reason": "spam"})).await;
    assert_eq!(s, StatusCode::CREATED, "{report}");

    // The export: everything of bob's, as a JSON file.
    let export = eventually("the message is recorded", || async {
        let (s, e) = bob.get("/api/v1/account/export").await;
        assert_eq!(s, StatusCode::OK, "{e}");
        (!e["messages"].as_array().unwrap().is_empty()).then_some(e)
    })
    .await;
    assert_eq!(export["profile"]["username"], "bob");
    assert_eq!(export["following"][0]["username"], "host");
    assert_eq!(export["invites"][0]["code"], invite["code"]);
    assert_eq!(export["messages"][0]["text"], "my words");
    let raw = reqwest::Client::new()
        .get(format!("{}/api/v1/account/export", server.base))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["content-disposition"], "attachment; filename=\"stoa-bob.json\"");

    // Deletion: the password again; then the account is an anonymous stand-in.
    let (s, _) = bob.post("/api/v1/account/delete", json!({"password": "bob-password"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = bob.post("/api/v1/account/delete", json!({"password": "new-password-1"})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let removed = bws.closed().await;
    assert!(removed.iter().any(|e| e["type"] == "removed" && e["reason"] == "account_deleted"), "{removed:?}");
    let (s, _) = bob.get("/api/v1/me").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&server, "bob", "new-password-1").await.0, StatusCode::UNAUTHORIZED);
    let (s, _) = host.get("/api/v1/users/bob").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, found) = host.get("/api/v1/search?q=bob").await;
    assert_eq!(found["people"], json!([]), "{found}");
    let (_, found) = host.get("/api/v1/search?q=deleted").await;
    assert_eq!(found["people"], json!([]), "the stand-in is not found either: {found}");
    let (_, followers) = host.get("/api/v1/users/host/followers").await;
    assert_eq!(followers["users"], json!([]));
    // The report keeps the stand-in, and the message it needs.
    let (_, detail) = admin.get(&format!("/api/v1/admin/reports/{}", report["id"])).await;
    assert_eq!(detail["report"]["target"]["display_name"], "Deleted account");
    assert!(detail["report"]["target"]["username"].as_str().unwrap().starts_with("~deleted-"));
    assert_eq!(detail["chat"][0]["text"], "my words");
    // The username stays reserved for 30 days (the store's test moves the clock past them).
    let (s, b) = post(
        &server.base,
        None,
        "/api/v1/auth/signup",
        json!({
            "invite": server.invite, "username": "bob", "display_name": "New Bob", "password": "bob-password",
        }),
    )
    .await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("username_taken")), "{b}");

    // The only admin cannot delete their account.
    let (s, b) = admin.post("/api/v1/account/delete", json!({"password": "operator-password"})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("last_admin")));
}

#[tokio::test]
async fn a_repeated_report_is_the_first_one_and_counts_toward_the_hourly_limit() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let (room, _hws) = server.room(&host, "open", &[]).await;
    let mut bws = bob.join(&room).await.unwrap();
    bws.expect("joined").await;
    let mut cws = carol.join(&room).await.unwrap();
    cws.expect("joined").await;
    let reports = format!("/api/v1/rooms/{room}/reports");
    let (s, first) = carol.post(&reports, json!({"user_id": bob.id, "reason": "spam"})).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let (_, made) = carol.post("/api/v1/tokens", json!({"name": "t", "scopes": ["rooms:write"]})).await;
    let mut with_token = carol.clone();
    with_token.token = made["token"].as_str().unwrap().to_string();
    // Nineteen repeats, from the session and from a token: each is the first report, and each counts.
    for i in 1..20 {
        let who = if i % 2 == 0 { &carol } else { &with_token };
        let (s, again) = who.post(&reports, json!({"user_id": bob.id, "reason": "spam"})).await;
        assert_eq!((s, &again["id"]), (StatusCode::CREATED, &first["id"]), "repeat {i}: {again}");
    }
    for who in [&carol, &with_token] {
        let (s, b) = who.post(&reports, json!({"user_id": bob.id, "reason": "spam"})).await;
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")), "{b}");
    }
    let (s, b) = carol.post(&reports, json!({"reason": "spam"})).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "a report on the room is within the same limit: {b}");
    let (_, list) = admin.get("/api/v1/admin/reports").await;
    assert_eq!(list["reports"].as_array().unwrap().len(), 1, "{list}");
}
