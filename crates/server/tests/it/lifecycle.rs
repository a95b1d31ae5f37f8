//! The server's own life: restarts on the same data folder, slow clients, the OpenAPI document.

use crate::common;

use common::{TestServer, post};
use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn accounts_and_follows_survive_a_restart() {
    let mut server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    alice.follow(&bob).await;
    let (room, _ws) = server.room(&alice, "open", &[]).await;
    server.stop().await;

    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    // The same data folder and database.
    let config = server.config.clone();
    let restarted = TestServer::start_with(dir, config).await;
    assert!(restarted.running.as_ref().unwrap().bootstrap_invite.is_none(), "no bootstrap invite once accounts exist");
    let (s, b) =
        post(&restarted.base, None, "/api/v1/auth/login", json!({"username": "alice", "password": "alice-password"}))
            .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let alice = common::Client { base: restarted.base.clone(), token: b["token"].as_str().unwrap().into(), ..alice };
    let (_, profile) = alice.get("/api/v1/users/bob").await;
    assert_eq!(profile["you_follow"], true);
    assert_eq!(profile["followers"], 1);
    // The live room survives the restart, with alice still its moderator, until the grace runs out.
    let (status, info) = alice.get(&format!("/api/v1/rooms/{room}")).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["stage"][0]["user"]["username"], "alice");
    assert_eq!(info["stage"][0]["role"], "moderator");
    let mut ws = alice.join(&room).await.expect("alice rejoins her room");
    assert_eq!(ws.expect("joined").await["role"], "moderator", "with her role back");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_and_others_carry_on() {
    // Alice's flood is far past the command budget a real client gets: this test is about Bob.
    let dir = tempfile::tempdir().unwrap();
    let config = stoa_server::ServerConfig { room_commands_per_second: 1_000_000, ..common::test_config(dir.path()) };
    let server = TestServer::start_with(dir, config).await;
    let alice = server.user("alice").await;
    alice.patch("/api/v1/me", json!({"display_name": "A".repeat(50)})).await;
    let bob = server.user("bob").await;
    let (room, mut alice_ws) = server.room(&alice, "open", &[]).await;
    let mut bob_ws = bob.join_with_receive_buffer(&room, Some(4096)).await.unwrap();
    bob_ws.expect("joined").await;
    // Bob stops reading, while Alice floods the room with stage changes (mute, unmute), each a broadcast:
    // several megabytes, more than the kernel's buffers between the server and Bob hold. Only Bob's bounded
    // queue fills; the room cuts him off instead of waiting for him.
    const FLOOD: usize = 30_000;
    for i in 0..FLOOD {
        let command = json!({"type": "set_muted", "muted": i % 2 == 0}).to_string();
        alice_ws.stream.feed(tokio_tungstenite::tungstenite::Message::Text(command.into())).await.unwrap();
    }
    alice_ws.stream.flush().await.unwrap();
    // Alice is still served: her ping is answered after all her events.
    assert_eq!(alice_ws.command_error(json!({"type": "ping"})).await, None);
    // Bob, reading at last, finds his socket ends with a `too_slow` removal, well short of every event.
    let events = bob_ws.closed().await;
    assert!(events.len() < FLOOD, "bob was cut off ({} events)", events.len());
    let last = events.last().expect("bob got events before the cut");
    assert_eq!(last["type"], "removed", "{last}");
    assert_eq!(last["reason"], "too_slow");
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let server = TestServer::start().await;
    let (s, doc) = common::request(&server.base, None, reqwest::Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/signup",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/ice-servers",
        "/api/v1/invites",
        "/api/v1/users/{username}",
        "/api/v1/users/{username}/follow",
        "/api/v1/users/{username}/block",
        "/api/v1/users/{username}/followers",
        "/api/v1/users/{username}/following",
        "/api/v1/rooms",
        "/api/v1/rooms/{id}",
        "/api/v1/rooms/{id}/audience",
        "/api/v1/rooms/{id}/invited",
        "/api/v1/rooms/{id}/ws",
        "/api/v1/rooms/{id}/ping",
        "/api/v1/events",
        "/api/v1/events/{id}",
        "/api/v1/events/{id}/rsvp",
        "/api/v1/events/{id}/rsvps",
        "/api/v1/events/{id}/cohost",
        "/api/v1/events/{id}/start",
        "/api/v1/events/{id}/calendar.ics",
        "/api/v1/users/{username}/events",
        "/api/v1/me/calendar",
        "/api/v1/me/avatar",
        "/cal/{file}",
        "/avatars/{user}/{file}",
        "/api/v1/notifications",
        "/api/v1/notifications/read",
        "/api/v1/notifications/stream",
        "/api/v1/push/subscriptions",
        "/api/v1/push/settings",
        "/api/v1/search",
        "/api/v1/suggestions",
        "/api/v1/clubs",
        "/api/v1/clubs/{handle}",
        "/api/v1/clubs/{handle}/join",
        "/api/v1/clubs/{handle}/membership",
        "/api/v1/clubs/{handle}/members",
        "/api/v1/clubs/{handle}/members/{username}/role",
        "/api/v1/clubs/{handle}/requests/{username}",
        "/api/v1/clubs/{handle}/invitations",
        "/api/v1/clubs/{handle}/bans",
        "/api/v1/clubs/{handle}/transfer",
        "/api/v1/me/clubs",
        "/api/v1/threads",
        "/api/v1/threads/{id}/messages",
        "/api/v1/messages/{id}",
        "/healthz",
    ] {
        assert!(paths.contains_key(path), "missing {path}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in ["SignupRequest", "RoomInfo", "ClientCommand", "ServerEvent", "ErrorBody"] {
        assert!(schemas.contains_key(schema), "missing schema {schema}");
    }
    // The limits the server enforces are in the document, as JSON Schema keywords, from the same constants.
    let signup = &schemas["SignupRequest"]["properties"];
    assert_eq!(
        (signup["username"]["minLength"].as_u64(), signup["username"]["maxLength"].as_u64()),
        (Some(3), Some(20))
    );
    assert!(signup["username"]["pattern"].is_string(), "{}", signup["username"]);
    assert_eq!(signup["password"]["minLength"], stoa_proto::limits::PASSWORD.min);
    assert_eq!(signup["password"]["maxLength"], stoa_proto::limits::PASSWORD.max);
    assert_eq!(schemas["CreateRoomRequest"]["properties"]["title"]["maxLength"], 100);
    assert_eq!(schemas["UpdateMeRequest"]["properties"]["bio"]["maxLength"], 300);
    assert_eq!(schemas["CreateEventRequest"]["properties"]["description"]["maxLength"], 1000);
    assert_eq!(schemas["CreateClubRequest"]["properties"]["description"]["maxLength"], 1000);
    assert_eq!(schemas["CreateClubRequest"]["properties"]["handle"]["maxLength"], 20);
    let params = doc["paths"]["/api/v1/users/{username}/followers"]["get"]["parameters"].as_array().unwrap();
    let limit = params.iter().find(|p| p["name"] == "limit").expect("a limit parameter");
    assert_eq!((limit["schema"]["minimum"].as_u64(), limit["schema"]["maximum"].as_u64()), (Some(1), Some(200)));
    // And the server holds to them: just past each bound is refused.
    let alice = server.user("alice").await;
    for bad in [0, 201] {
        let (s, b) = alice.get(&format!("/api/v1/users/alice/followers?limit={bad}")).await;
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_limit")), "limit={bad}");
    }
    assert_eq!(alice.get("/api/v1/users/alice/followers?limit=200").await.0, StatusCode::OK);
    let (s, _) = alice.post("/api/v1/rooms", serde_json::json!({"title": "x".repeat(101), "visibility": "open"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, health) = common::request(&server.base, None, reqwest::Method::GET, "/healthz", None).await;
    assert_eq!((s, health["status"].as_str()), (StatusCode::OK, Some("ok")));
}
