//! Rooms over real HTTP and WebSockets: visibility, blocks, moderation and the room's life.

use crate::common;

use common::{TestServer, test_config};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Asserts that `room` is hidden from `who`: absent from the hallway, 404 directly and on every sub-path,
/// and refused with 404 on the WebSocket.
async fn assert_hidden(who: &common::Client, room: &str) {
    assert!(!who.hallway().await.contains(&room.to_string()), "{} sees {room} in the hallway", who.username);
    for path in ["", "/audience"] {
        let (s, b) = who.get(&format!("/api/v1/rooms/{room}{path}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{} GET {path}: {b}", who.username);
        assert_eq!(b["error"]["code"], "not_found");
    }
    let (s, b) = who.join(room).await.map(|_| ()).expect_err("the join is refused");
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
}

async fn assert_visible(who: &common::Client, room: &str) {
    assert!(who.hallway().await.contains(&room.to_string()), "{} does not see {room} in the hallway", who.username);
    let (s, b) = who.get(&format!("/api/v1/rooms/{room}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn a_hidden_room_answers_exactly_like_a_room_that_never_existed() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (room, _ws) = server.room(&alice, "closed", &[]).await;
    let hidden = bob.get(&format!("/api/v1/rooms/{room}")).await;
    let missing = bob.get("/api/v1/rooms/zzzzzzzzzzzz").await;
    let malformed = bob.get("/api/v1/rooms/..%2Fetc").await;
    assert_eq!(hidden, missing);
    assert_eq!(hidden, malformed);
    assert_eq!(hidden.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn open_social_and_closed_visibility() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let friend = server.user("friend").await;
    let guest = server.user("guest").await;
    let stranger = server.user("stranger").await;
    alice.follow(&friend).await;

    let (open, _a) = server.room(&alice, "open", &[]).await;
    let (social, _b) = server.room(&alice, "social", &[]).await;
    let (closed, _c) = server.room(&alice, "closed", &["guest"]).await;

    // Open: any signed-in user.
    for who in [&friend, &guest, &stranger] {
        assert_visible(who, &open).await;
    }
    // Social: only users a moderator follows.
    assert_visible(&friend, &social).await;
    assert_hidden(&guest, &social).await;
    assert_hidden(&stranger, &social).await;
    // Closed: only the invited.
    assert_visible(&guest, &closed).await;
    assert_hidden(&friend, &closed).await;
    assert_hidden(&stranger, &closed).await;
    // The moderator sees all three.
    for room in [&open, &social, &closed] {
        assert_visible(&alice, room).await;
    }
    // Signed-out callers see nothing.
    let (s, b) = common::request(&server.base, None, reqwest::Method::GET, "/api/v1/rooms", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");

    // A moderator invites the stranger into the closed room; now they see it and can join.
    let (s, b) = alice.post(&format!("/api/v1/rooms/{closed}/invited"), json!({"usernames": ["stranger"]})).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_visible(&stranger, &closed).await;
    let mut ws = stranger.join(&closed).await.expect("an invited user joins");
    assert_eq!(ws.expect("joined").await["role"], "listener");
    // A listener cannot invite more people.
    let (s, b) = stranger.post(&format!("/api/v1/rooms/{closed}/invited"), json!({"usernames": ["friend"]})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_hidden(&friend, &closed).await;
}

#[tokio::test]
async fn a_user_blocked_by_any_moderator_can_neither_see_nor_join() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let carol = server.user("carol").await;
    let troll = server.user("troll").await;
    let (room, mut alice_ws) = server.room(&alice, "open", &[]).await;
    assert_visible(&troll, &room).await;

    // Carol joins, comes on stage, and is made a moderator; she blocks the troll.
    carol.block(&troll).await;
    let mut carol_ws = carol.join(&room).await.unwrap();
    carol_ws.expect("joined").await;
    alice_ws.send(json!({"type": "make_moderator", "user_id": carol.id})).await;
    assert_eq!(carol_ws.expect("role_changed").await["role"], "moderator");
    assert_hidden(&troll, &room).await;

    // Carol stops being a moderator: the room is visible to the troll again.
    alice_ws.send(json!({"type": "remove_moderator", "user_id": carol.id})).await;
    assert_eq!(carol_ws.expect("role_changed").await["role"], "speaker");
    assert_visible(&troll, &room).await;
}

#[tokio::test]
async fn a_blocked_listener_is_moved_out_when_the_blocker_becomes_moderator() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let carol = server.user("carol").await;
    let troll = server.user("troll").await;
    carol.block(&troll).await;
    let (room, mut alice_ws) = server.room(&alice, "open", &[]).await;
    let mut carol_ws = carol.join(&room).await.unwrap();
    carol_ws.expect("joined").await;
    let mut troll_ws = troll.join(&room).await.unwrap();
    troll_ws.expect("joined").await;

    alice_ws.send(json!({"type": "make_moderator", "user_id": carol.id})).await;
    let removed = troll_ws.expect("removed").await;
    assert_eq!(removed["reason"], "blocked_by_moderator");
    assert!(removed["message"].as_str().unwrap().contains("blocks you"), "{removed}");
    assert!(troll_ws.closed().await.is_empty(), "the socket closes after the removal");
    assert_hidden(&troll, &room).await;
}

#[tokio::test]
async fn hallway_ranks_rooms_with_followed_people_on_stage_first() {
    let server = TestServer::start().await;
    let viewer = server.user("viewer").await;
    let host_a = server.user("host_a").await;
    let host_b = server.user("host_b").await;
    let (room_a, _a) = server.room(&host_a, "open", &[]).await;
    let (room_b, _b) = server.room(&host_b, "open", &[]).await;
    viewer.follow(&host_b).await;
    assert_eq!(viewer.hallway().await, [room_b.clone(), room_a.clone()]);
    viewer.follow(&host_a).await;
    viewer.delete("/api/v1/users/host_b/follow").await;
    assert_eq!(viewer.hallway().await, [room_a, room_b]);
}

#[tokio::test]
async fn room_details_show_stage_roles_listener_count_and_hand_mode() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (room, mut alice_ws) = server.room(&alice, "open", &[]).await;
    let mut bob_ws = bob.join(&room).await.unwrap();
    let joined = bob_ws.expect("joined").await;
    assert_eq!(joined["room"]["listener_count"], 1, "the joiner sees the true count at once");
    assert_eq!(alice_ws.expect("listener_count").await["count"], 1, "others get the count within a second");
    let (_, info) = alice.get(&format!("/api/v1/rooms/{room}")).await;
    assert_eq!(info["title"], "alice's room");
    assert_eq!(info["visibility"], "open");
    assert_eq!(info["hand_mode"], "everyone");
    assert_eq!(info["listener_count"], 1);
    assert_eq!(
        info["stage"],
        json!([{"user": {"id": alice.id, "username": "alice", "display_name": "Alice"}, "role": "moderator", "muted": false}])
    );

    let (_, audience) = alice.get(&format!("/api/v1/rooms/{room}/audience")).await;
    assert_eq!(audience["total"], 1);
    assert_eq!(audience["members"][0]["user"]["username"], "bob");
}

#[tokio::test]
async fn every_moderation_action_over_the_websocket() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let (room, mut alice_ws) = server.room(&alice, "open", &[]).await;
    let mut bob_ws = bob.join(&room).await.unwrap();
    bob_ws.expect("joined").await;
    let mut carol_ws = carol.join(&room).await.unwrap();
    carol_ws.expect("joined").await;

    // Bob raises his hand; the moderator sees it, Carol (a listener) is not told.
    bob_ws.send(json!({"type": "raise_hand"})).await;
    assert_eq!(alice_ws.expect("hand_raised").await["user"]["username"], "bob");
    // Permission checks: a listener cannot invite to speak, or anything else a moderator does.
    assert_eq!(
        carol_ws.command_error(json!({"type": "invite_to_speak", "user_id": bob.id})).await.as_deref(),
        Some("forbidden")
    );
    assert_eq!(carol_ws.command_error(json!({"type": "end_room"})).await.as_deref(), Some("forbidden"));

    // Alice invites Bob; he accepts and is on stage.
    alice_ws.send(json!({"type": "invite_to_speak", "user_id": bob.id})).await;
    assert_eq!(bob_ws.expect("invited_to_speak").await["by"]["username"], "alice");
    bob_ws.send(json!({"type": "accept_invite"})).await;
    assert_eq!(bob_ws.expect("role_changed").await["role"], "speaker");
    let stage = carol_ws.expect("stage_changed").await;
    assert_eq!(stage["stage"].as_array().unwrap().len(), 2, "everyone sees the stage change: {stage}");

    // A speaker cannot remove anyone.
    assert_eq!(
        bob_ws.command_error(json!({"type": "remove", "user_id": carol.id})).await.as_deref(),
        Some("forbidden")
    );

    // Mute: Bob is told, and may unmute himself.
    alice_ws.send(json!({"type": "mute", "user_id": bob.id})).await;
    assert_eq!(bob_ws.expect("muted").await["by"]["username"], "alice");
    let stage = carol_ws.expect("stage_changed").await;
    assert_eq!(stage["stage"][1]["muted"], true);
    bob_ws.send(json!({"type": "set_muted", "muted": false})).await;
    assert_eq!(carol_ws.expect("stage_changed").await["stage"][1]["muted"], false);

    // Make moderator, and remove it again.
    alice_ws.send(json!({"type": "make_moderator", "user_id": bob.id})).await;
    assert_eq!(bob_ws.expect("role_changed").await["role"], "moderator");
    bob_ws.send(json!({"type": "remove_moderator", "user_id": bob.id})).await;
    assert_eq!(bob_ws.expect("role_changed").await["role"], "speaker");

    // Move to audience.
    alice_ws.send(json!({"type": "move_to_audience", "user_id": bob.id})).await;
    assert_eq!(bob_ws.expect("role_changed").await["role"], "listener");

    // Invitation declined.
    alice_ws.send(json!({"type": "invite_to_speak", "user_id": carol.id})).await;
    carol_ws.expect("invited_to_speak").await;
    carol_ws.send(json!({"type": "decline_invite"})).await;
    assert_eq!(alice_ws.expect("invite_declined").await["user_id"], carol.id);

    // Hand mode.
    alice_ws.send(json!({"type": "set_hand_mode", "mode": "off"})).await;
    assert_eq!(carol_ws.expect("hand_mode_changed").await["mode"], "off");
    assert_eq!(carol_ws.command_error(json!({"type": "raise_hand"})).await.as_deref(), Some("hands_off"));

    // Remove: Carol is out, and cannot rejoin.
    alice_ws.send(json!({"type": "remove", "user_id": carol.id})).await;
    assert_eq!(carol_ws.expect("removed").await["reason"], "removed_by_moderator");
    carol_ws.closed().await;
    let (s, b) = carol.join(&room).await.map(|_| ()).unwrap_err();
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(b["error"]["code"], "removed_from_room");
}

#[tokio::test]
async fn the_last_moderator_leaving_hands_the_room_to_the_longest_present_speaker() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let (room, mut alice_ws) = server.room(&alice, "open", &[]).await;
    let mut bob_ws = bob.join(&room).await.unwrap();
    bob_ws.expect("joined").await;
    let mut carol_ws = carol.join(&room).await.unwrap();
    carol_ws.expect("joined").await;
    // Carol comes on stage first, but Bob has been in the room longer.
    for (ws, who) in [(&mut carol_ws, &carol), (&mut bob_ws, &bob)] {
        alice_ws.send(json!({"type": "invite_to_speak", "user_id": who.id})).await;
        ws.expect("invited_to_speak").await;
        ws.send(json!({"type": "accept_invite"})).await;
        ws.expect("role_changed").await;
    }
    alice_ws.send(json!({"type": "leave"})).await;
    assert!(alice_ws.closed().await.iter().all(|e| e["type"] != "error"));
    assert_eq!(bob_ws.expect("role_changed").await["role"], "moderator");
    let (_, info) = carol.get(&format!("/api/v1/rooms/{room}")).await;
    let roles: Vec<(&str, &str)> = info["stage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user"]["username"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, [("bob", "moderator"), ("carol", "speaker")]);
}

#[tokio::test]
async fn the_room_ends_when_no_speaker_is_left_or_a_moderator_ends_it() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    // No speaker to inherit: the room ends for the listeners too.
    let (room, mut alice_ws) = server.room(&alice, "open", &[]).await;
    let mut bob_ws = bob.join(&room).await.unwrap();
    bob_ws.expect("joined").await;
    alice_ws.send(json!({"type": "leave"})).await;
    assert_eq!(bob_ws.expect("room_ended").await["reason"], "no_moderator");
    assert!(bob_ws.closed().await.is_empty());
    assert_eq!(bob.get(&format!("/api/v1/rooms/{room}")).await.0, StatusCode::NOT_FOUND);
    assert!(bob.hallway().await.is_empty());

    // A moderator ends the room for everyone.
    let (room, mut alice_ws) = server.room(&alice, "open", &[]).await;
    let mut bob_ws = bob.join(&room).await.unwrap();
    bob_ws.expect("joined").await;
    alice_ws.send(json!({"type": "end_room"})).await;
    assert_eq!(bob_ws.expect("room_ended").await["reason"], "ended_by_moderator");
    assert_eq!(alice_ws.expect("room_ended").await["reason"], "ended_by_moderator");
    assert_eq!(bob.join(&room).await.map(|_| ()).unwrap_err().0, StatusCode::NOT_FOUND);

    // An empty room ends.
    let (room, mut alice_ws) = server.room(&alice, "open", &[]).await;
    alice_ws.send(json!({"type": "leave"})).await;
    alice_ws.closed().await;
    assert_eq!(alice.get(&format!("/api/v1/rooms/{room}")).await.0, StatusCode::NOT_FOUND);
    let (_, health) = admin.get("/healthz").await;
    assert_eq!(health["live_rooms"], 0);
}

#[tokio::test]
async fn healthz_tells_only_an_admin_how_many_rooms_live() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    // A closed room that only alice can see.
    let (_room, _ws) = server.room(&alice, "closed", &[]).await;
    let (s, anonymous) = common::request(&server.base, None, reqwest::Method::GET, "/healthz", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(anonymous, json!({"status": "ok"}), "nothing but the status for a stranger");
    assert_eq!(bob.get("/healthz").await.1, json!({"status": "ok"}), "nor for a user who cannot see the room");
    assert_eq!(alice.get("/healthz").await.1, json!({"status": "ok"}), "a plain user gets no counts at all");
    let (_, health) = admin.get("/healthz").await;
    assert_eq!((health["live_rooms"].as_u64(), health["media_peers"].as_u64()), (Some(1), Some(0)), "{health}");
}

#[tokio::test]
async fn a_full_room_refuses_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = stoa_server::ServerConfig { room_capacity: 2, ..test_config(dir.path()) };
    let server = TestServer::start_with(dir, config).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let (room, _alice_ws) = server.room(&alice, "open", &[]).await;
    let mut bob_ws = bob.join(&room).await.unwrap();
    bob_ws.expect("joined").await;
    let (s, b) = carol.join(&room).await.map(|_| ()).unwrap_err();
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["error"]["code"], "room_full");
    assert!(b["error"]["message"].as_str().unwrap().contains("full"));
}

#[tokio::test]
async fn a_second_connection_takes_over_the_first() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let (room, mut first) = server.room(&alice, "open", &[]).await;
    let mut second = alice.join(&room).await.unwrap();
    assert_eq!(second.expect("joined").await["role"], "moderator", "the new connection keeps the role");
    assert_eq!(first.expect("removed").await["reason"], "replaced");
    assert!(first.closed().await.is_empty());
    assert_eq!(second.command_error(json!({"type": "set_hand_mode", "mode": "off"})).await, None);
}

#[tokio::test]
async fn a_listener_joining_is_not_broadcast() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let (room, mut alice_ws) = server.room(&alice, "open", &[]).await;
    let mut joined = vec![];
    for i in 0..5 {
        let user = server.user(&format!("listener{i}")).await;
        let mut ws = user.join(&room).await.unwrap();
        ws.expect("joined").await;
        joined.push(ws);
    }
    // Within a second or so the moderator learns the count; no event names any listener.
    loop {
        let ev = alice_ws.next().await.expect("open");
        assert_eq!(ev["type"], "listener_count", "only counts reach the room: {ev}");
        if ev["count"] == 5 {
            break;
        }
    }
}

#[tokio::test]
async fn a_listener_counts_as_followed_once_someone_who_follows_them_comes_on_stage() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let carol = server.user("carol").await;
    let dave = server.user("dave").await;
    carol.follow(&dave).await;
    let (room, mut alice_ws) = server.room(&alice, "open", &[]).await;
    alice_ws.send(json!({"type": "set_hand_mode", "mode": "followed_by_speakers"})).await;
    let mut dave_ws = dave.join(&room).await.unwrap();
    dave_ws.expect("joined").await;
    assert_eq!(dave_ws.command_error(json!({"type": "raise_hand"})).await.as_deref(), Some("not_followed_by_speakers"));

    // Carol, who follows Dave, joins after him and comes on stage: the room looks up her follows then.
    let mut carol_ws = carol.join(&room).await.unwrap();
    carol_ws.expect("joined").await;
    alice_ws.send(json!({"type": "invite_to_speak", "user_id": carol.id})).await;
    carol_ws.expect("invited_to_speak").await;
    carol_ws.send(json!({"type": "accept_invite"})).await;
    carol_ws.expect("role_changed").await;
    let followed = || async {
        let (_, page) = alice.get(&format!("/api/v1/rooms/{room}/audience")).await;
        page["members"][0]["followed_by_speakers"] == true
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !followed().await {
        assert!(tokio::time::Instant::now() < deadline, "the look-up of Carol's follows never landed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    dave_ws.send(json!({"type": "raise_hand"})).await;
    assert_eq!(alice_ws.expect("hand_raised").await["user"]["username"], "dave");

    // Carol steps down: her follows stop counting.
    dave_ws.send(json!({"type": "lower_hand"})).await;
    carol_ws.send(json!({"type": "move_to_audience", "user_id": carol.id})).await;
    carol_ws.expect("role_changed").await;
    assert_eq!(dave_ws.command_error(json!({"type": "raise_hand"})).await.as_deref(), Some("not_followed_by_speakers"));
}

#[tokio::test]
async fn starting_rooms_is_limited_per_account_per_address_and_per_server_and_followers_hear_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = stoa_server::ServerConfig {
        rooms_per_hour: 4,
        live_rooms_per_account: 2,
        max_live_rooms: 5,
        ..test_config(dir.path())
    };
    let server = TestServer::start_with(dir, config).await;
    let ada = server.user("ada").await;
    let fan = server.user("fan").await;
    fan.follow(&ada).await;
    let start = |who: &common::Client, title: &str| {
        let (who, title) = (who.clone(), title.to_string());
        async move { who.post("/api/v1/rooms", json!({"title": title, "visibility": "open"})).await }
    };
    // A token of ada's is ada: it shares her limits.
    let (_, made) = ada.post("/api/v1/tokens", json!({"name": "t", "scopes": ["rooms:write", "listen"]})).await;
    let mut with_token = ada.clone();
    with_token.token = made["token"].as_str().unwrap().to_string();
    let (s, first) = start(&ada, "One").await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let (s, _) = start(&with_token, "Two").await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = start(&ada, "Three").await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("too_many_live_rooms")), "{b}");
    // Ending one makes room for another; the refused attempt counted toward the hour all the same.
    let mut ws = ada.join(first["id"].as_str().unwrap()).await.unwrap();
    ws.expect("joined").await;
    ws.send(json!({"type": "end_room"})).await;
    ws.expect("room_ended").await;
    let (s, b) = start(&with_token, "Four").await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = start(&ada, "Five").await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")), "{b}");
    // The fan was told that ada started a room once, not once per room.
    server.settle(&fan).await;
    let told: Vec<Value> =
        fan.notifications().await.into_iter().filter(|n| n["kind"] == "room_started").collect::<Vec<_>>();
    assert_eq!(told.len(), 1, "{told:?}");
    // The server's own cap: five live rooms at most, whoever starts them.
    let mut others = Vec::new();
    for i in 0..4 {
        let other = server.user(&format!("other{i}")).await;
        let (s, b) = start(&other, "Theirs").await;
        if i < 3 {
            assert_eq!(s, StatusCode::CREATED, "{b}");
        } else {
            assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("server_full")), "{b}");
        }
        others.push(other);
    }
    let (_, hallway) = fan.get("/api/v1/rooms").await;
    assert_eq!(hallway["rooms"].as_array().unwrap().len(), 5, "{hallway}");
}

#[tokio::test]
async fn a_client_flooding_hand_toggles_is_told_then_cut_off_and_the_moderators_hear_a_few() {
    let server = TestServer::start().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let (room, mut hws) = server.room(&host, "open", &[]).await;
    let mut bws = bob.join(&room).await.unwrap();
    bws.expect("joined").await;
    for i in 0..200 {
        let kind = if i % 2 == 0 { "raise_hand" } else { "lower_hand" };
        bws.send(json!({"type": kind})).await;
    }
    let events = bws.closed().await;
    let errors: Vec<&Value> = events.iter().filter(|e| e["type"] == "error").collect();
    assert_eq!(errors.first().map(|e| e["code"].clone()), Some(json!("too_many_commands")), "{events:?}");
    let last = events.last().unwrap();
    assert_eq!((&last["type"], &last["reason"]), (&json!("removed"), &json!("too_many_commands")), "{last}");
    // The moderator heard a handful of hands, not a hundred; the room goes on.
    hws.send(json!({"type": "ping"})).await;
    let mut hands = 0;
    loop {
        let ev = hws.next().await.unwrap();
        match ev["type"].as_str() {
            Some("hand_raised") => hands += 1,
            Some("pong") => break,
            _ => {}
        }
    }
    assert!(hands <= 3, "{hands} hands reached the moderator");
    let mut again = bob.join(&room).await.unwrap();
    again.expect("joined").await;
}

#[tokio::test]
async fn a_full_space_for_recordings_stops_the_replay_tells_the_room_and_refuses_clips() {
    let dir = tempfile::tempdir().unwrap();
    let config = stoa_server::ServerConfig { recordings_max_bytes: 1 << 20, ..test_config(dir.path()) };
    let server = TestServer::start_with(dir, config).await;
    let host = server.user("host").await;
    let (s, room) = host
        .post(
            "/api/v1/rooms",
            json!({"title": "Recorded", "visibility": "open", "outputs": {"recording": true, "clips": true}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{room}");
    let id = room["id"].as_str().unwrap();
    let mut ws = host.join(id).await.unwrap();
    assert_eq!(ws.expect("joined").await["room"]["outputs"]["recording"], true);
    // Other recordings fill the space while this one records: it stops, and the room is told why.
    let folder = server.dir.path().join("recordings");
    std::fs::write(folder.join("others.opus"), vec![0u8; 2 << 20]).unwrap();
    let stopped = ws.expect("recording_stopped").await;
    assert_eq!(stopped["reason"], "quota_full", "{stopped}");
    assert_eq!(ws.expect("outputs_changed").await["outputs"]["recording"], false);
    // Turned on again, it stops at once; nothing was deleted to make room.
    let files = || std::fs::read_dir(&folder).unwrap().count();
    let before = files();
    ws.send(json!({"type": "set_outputs", "recording": true})).await;
    assert_eq!(ws.expect("recording_stopped").await["reason"], "quota_full");
    assert_eq!(files(), before, "no recording was deleted, and none was begun");
    assert!(folder.join("others.opus").exists());
    let (s, b) = host.post_empty(&format!("/api/v1/rooms/{id}/clips")).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::INSUFFICIENT_STORAGE, Some("recordings_full")), "{b}");
}
