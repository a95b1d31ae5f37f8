//! Notifications: who is told what, live on the per-user stream; blocks and visibility; no one told twice
//! about a room within an hour; pings and their limit; and web push to a local push service that decrypts
//! what it gets with the subscription's keys.

use crate::common;

use axum::body::Bytes;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn the_bell_counts_live_lists_newest_first_and_marks_read() {
    let server = common::TestServer::start().await;
    let ada = server.user("ada").await;
    let bob = server.user("bob").await;
    let cy = server.user("cyd").await;
    let mut stream = ada.stream().await;
    let first = stream.next_update().await;
    assert_eq!(first, json!({"unread": 0, "latest": null, "messages": {"unread_threads": 0, "requests": 0}}));
    bob.follow(&ada).await;
    let update = stream.next_update().await;
    assert_eq!(update["unread"], 1);
    assert_eq!(update["latest"]["kind"], "followed");
    assert_eq!(update["latest"]["text"], "Bob followed you");
    assert_eq!(update["latest"]["link"], "/u/bob");
    cy.follow(&ada).await;
    let update = stream.next_update().await;
    assert_eq!(update["unread"], 2);
    // Following again after unfollowing within the hour tells nobody twice.
    bob.delete("/api/v1/users/ada/follow").await;
    bob.follow(&ada).await;
    server.settle(&ada).await;
    let list = ada.notifications().await;
    let kinds: Vec<_> = list.iter().map(|n| n["actor"]["username"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds[1..], ["cyd".to_string(), "bob".to_string()], "newest first, bob once: {kinds:?}");
    // Paged.
    let (_, page) = ada.get("/api/v1/notifications?limit=1").await;
    assert_eq!(page["notifications"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_i64().unwrap();
    let (_, next) = ada.get(&format!("/api/v1/notifications?limit=1&cursor={cursor}")).await;
    assert!(next["notifications"][0]["id"].as_i64().unwrap() < cursor);
    // Marked read: one, then all; the stream follows.
    let id = list[2]["id"].as_i64().unwrap();
    let (s, b) = ada.post("/api/v1/notifications/read", json!({"ids": [id]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["unread"], 2);
    let (_, b) = ada.post("/api/v1/notifications/read", json!({})).await;
    assert_eq!(b["unread"], 0);
    loop {
        if stream.next_update().await["unread"] == 0 {
            break;
        }
    }
    // Someone else's notification cannot be marked.
    let (_, b) = bob.post("/api/v1/notifications/read", json!({"ids": [id]})).await;
    assert_eq!(b["unread"], 0);
    let (s, b) = ada.post("/api/v1/notifications/read", json!({"ids": "all"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
}

#[tokio::test]
async fn followers_are_told_of_a_room_they_may_see_once_an_hour_and_never_about_a_blocker() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let fan = server.user("fan").await;
    let stranger = server.user("stranger").await;
    let blocked = server.user("blocked").await;
    let speaker = server.user("speaker").await;
    for f in [&fan, &stranger, &blocked] {
        f.follow(&host).await;
    }
    fan.follow(&speaker).await;
    host.follow(&fan).await;
    host.block(&blocked).await;

    // A social room: only followers the host follows back may see it.
    let (room, mut ws) = server.room(&host, "social", &[]).await;
    let told = fan.wait_for_notification("room_started", |n| n["room_id"] == room.as_str()).await;
    assert_eq!(told["text"], "Host started a room: host's room");
    assert_eq!(told["link"], format!("/room/{room}"));
    server.settle(&stranger).await;
    server.settle(&blocked).await;
    assert!(stranger.notifications().await.iter().all(|n| n["room_id"] != room.as_str()), "cannot see it");
    assert!(blocked.notifications().await.iter().all(|n| n["actor"]["id"] != host.id), "never told about a blocker");

    // The speaker comes on stage: the fan, already told about this room, is not told again; another
    // follower of the speaker who may see the room is.
    let other = server.user("other").await;
    other.follow(&speaker).await;
    host.follow(&other).await;
    host.follow(&speaker).await;
    let mut sws = speaker.join(&room).await.unwrap();
    sws.expect("joined").await;
    ws.send(json!({"type": "invite_to_speak", "user_id": speaker.id})).await;
    sws.expect("invited_to_speak").await;
    sws.send(json!({"type": "accept_invite"})).await;
    sws.expect("role_changed").await;
    let told = other.wait_for_notification("on_stage", |n| n["room_id"] == room.as_str()).await;
    assert_eq!(told["text"], "Speaker is speaking in host's room");
    server.settle(&fan).await;
    let about: Vec<_> = fan.notifications().await.into_iter().filter(|n| n["room_id"] == room.as_str()).collect();
    assert_eq!(about.len(), 1, "told once about one room: {about:?}");

    // A closed room: the invited are told they are invited, and nobody else.
    let invited = server.user("invited").await;
    invited.follow(&host).await;
    let (closed, _ws2) = server.room(&host, "closed", &["invited"]).await;
    let told = invited.wait_for_notification("room_invite", |n| n["room_id"] == closed.as_str()).await;
    assert_eq!(told["actor"]["username"], "host");
    server.settle(&fan).await;
    assert!(fan.notifications().await.iter().all(|n| n["room_id"] != closed.as_str()));
}

#[tokio::test]
async fn pings_reach_followers_only_ten_a_minute_and_invite_in_closed_rooms() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let fan = server.user("fan").await;
    let stranger = server.user("stranger").await;
    fan.follow(&host).await;
    let (room, _ws) = server.room(&host, "open", &[]).await;
    let ping = |who: &common::Client, room: &str, name: &str| {
        let (who, room, name) = (who.clone(), room.to_string(), name.to_string());
        async move { who.post(&format!("/api/v1/rooms/{room}/ping"), json!({"username": name})).await }
    };
    let (s, b) = ping(&host, &room, "fan").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let told = fan.wait_for_notification("pinged", |n| n["room_id"] == room.as_str()).await;
    assert_eq!(told["text"], "Host pinged you to join host's room");
    assert_eq!(told["link"], format!("/room/{room}"));
    let (s, b) = ping(&host, &room, "stranger").await;
    assert_eq!((s, b["error"]["code"].as_str().unwrap()), (StatusCode::FORBIDDEN, "not_a_follower"));
    let (s, b) = ping(&host, &room, "nobody_at_all").await;
    assert_eq!((s, b["error"]["code"].as_str().unwrap()), (StatusCode::BAD_REQUEST, "unknown_user"));
    let (s, _) = ping(&stranger, &room, "host").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "the stranger is not in the room");
    let (s, _) = ping(&host, "abcdefghijkl", "fan").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Ten a minute, counted across rooms: a second room does not reset the budget.
    for _ in 0..9 {
        let (s, b) = ping(&host, &room, "fan").await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    }
    let (s, b) = ping(&host, &room, "fan").await;
    assert_eq!((s, b["error"]["code"].as_str().unwrap()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    let (room2, _ws2) = server.room(&host, "open", &[]).await;
    let (s, _) = ping(&host, &room2, "fan").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    server.settle(&fan).await;
    let pings = fan.notifications().await.into_iter().filter(|n| n["kind"] == "pinged").count();
    assert_eq!(pings, 1, "pinged about one room once within the hour");

    // A closed room: a listener may not ping; a moderator's ping invites.
    let mod2 = server.user("mod2").await;
    let guest = server.user("guest").await;
    let listener = server.user("listener").await;
    guest.follow(&mod2).await;
    guest.follow(&listener).await;
    let (closed, _ws3) = server.room(&mod2, "closed", &["listener"]).await;
    let mut lws = listener.join(&closed).await.unwrap();
    lws.expect("joined").await;
    assert_eq!(guest.join(&closed).await.err().unwrap().0, StatusCode::NOT_FOUND);
    let (s, b) = ping(&listener, &closed, "guest").await;
    assert_eq!((s, b["error"]["code"].as_str().unwrap()), (StatusCode::FORBIDDEN, "forbidden"));
    let (s, b) = ping(&mod2, &closed, "guest").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    guest.wait_for_notification("pinged", |n| n["room_id"] == closed.as_str()).await;
    let mut gws = guest.join(&closed).await.expect("the ping invited them");
    gws.expect("joined").await;
}

/// A local push service: records what it gets, answers 201, or 410 once told the subscription is gone.
#[derive(Clone, Default)]
pub(crate) struct PushService {
    pub(crate) got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    gone: Arc<Mutex<bool>>,
    pub(crate) arrived: Arc<tokio::sync::Notify>,
}

pub(crate) async fn push_service() -> (String, PushService) {
    let service = PushService::default();
    let s = service.clone();
    let app = axum::Router::new().route(
        "/push/{id}",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                s.got.lock().unwrap().push((headers, body));
                s.arrived.notify_one();
                if *s.gone.lock().unwrap() { StatusCode::GONE } else { StatusCode::CREATED }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (origin, service)
}

#[tokio::test]
async fn web_push_is_encrypted_for_the_subscription_signed_with_vapid_and_dropped_when_gone() {
    let (origin, service) = push_service().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.push_origins = vec![origin.clone()];
    let server = common::TestServer::start_with(dir, config).await;
    let ada = server.user("ada").await;
    let bob = server.user("bob").await;

    // The browser's side of a subscription: a P-256 key pair and a 16-byte secret.
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let ua = web_push_native::p256::SecretKey::from_slice(&secret).unwrap();
    let public = URL_SAFE_NO_PAD.encode(ua.public_key().to_sec1_bytes());
    let mut auth = [0u8; 16];
    getrandom::fill(&mut auth).unwrap();
    let endpoint = format!("{origin}/push/ada-1");
    let sub = json!({"endpoint": endpoint, "keys": {"p256dh": public, "auth": URL_SAFE_NO_PAD.encode(auth)}});

    // Malformed subscriptions are refused and change nothing.
    for (bad, why) in [
        (json!({"endpoint": "http://push.example.com/x", "keys": sub["keys"]}), "plain http"),
        (json!({"endpoint": "https://10.0.0.1/x", "keys": sub["keys"]}), "a private address"),
        (json!({"endpoint": endpoint, "keys": {"p256dh": "AAAA", "auth": sub["keys"]["auth"]}}), "a bad key"),
        (json!({"endpoint": endpoint, "keys": {"p256dh": public, "auth": "c2hvcnQ"}}), "a short secret"),
        (json!({"endpoint": endpoint}), "no keys"),
    ] {
        let (s, b) = ada.post("/api/v1/push/subscriptions", bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{why}: {b}");
    }
    let (_, settings) = ada.get("/api/v1/push/settings").await;
    assert_eq!(settings["subscriptions"], 0);
    let vapid = settings["vapid_public_key"].as_str().unwrap().to_string();
    assert_eq!(URL_SAFE_NO_PAD.decode(&vapid).unwrap().len(), 65);

    let (s, b) = ada.post("/api/v1/push/subscriptions", sub.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    bob.follow(&ada).await;
    let (headers, body) = loop {
        if let Some(got) = service.got.lock().unwrap().first().cloned() {
            break got;
        }
        tokio::time::timeout(common::EVENT_TIMEOUT, service.arrived.notified()).await.expect("a push arrives");
    };
    assert_eq!(headers["content-encoding"], "aes128gcm");
    let authorization = headers["authorization"].to_str().unwrap();
    assert!(authorization.starts_with("vapid t=") && authorization.contains(&format!("k={vapid}")), "{authorization}");
    // RFC 8292 §2: the JWT's audience is the push resource's origin, its port included.
    let jwt = authorization.strip_prefix("vapid t=").unwrap().split(',').next().unwrap();
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["aud"], origin.as_str(), "{claims}");
    assert!(headers.contains_key("ttl"));
    let plain =
        web_push_native::decrypt(body.to_vec(), &ua, web_push_native::Auth::from_slice(&auth)).expect("decrypts");
    let payload: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(payload["body"], "Bob followed you");
    assert_eq!(payload["kind"], "followed");
    assert_eq!(payload["link"], "/u/bob");

    // A kind turned off is not pushed (and still shown in the app).
    let (s, b) = ada.put("/api/v1/push/settings", json!({"kinds": [{"kind": "followed", "push": false}]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b["kinds"].as_array().unwrap().iter().any(|k| k["kind"] == "followed" && k["push"] == false));
    let cy = server.user("cyd").await;
    cy.follow(&ada).await;
    // Then one that is pushed: the push queue is in order, so once it arrives the muted one was passed over.
    ada.follow(&bob).await;
    let (room, _ws) = server.room(&bob, "open", &[]).await;
    let pushed = wait_for_push(&service, 2).await;
    let plain = web_push_native::decrypt(pushed.to_vec(), &ua, web_push_native::Auth::from_slice(&auth)).unwrap();
    let payload: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(payload["kind"], "room_started", "the muted follow was not pushed");
    assert_eq!(payload["link"], format!("/room/{room}"));

    // Ada reads Stoa in Arabic now: what is pushed to her is written in it (issue 33 §3).
    let (s, _) = ada.patch("/api/v1/me", json!({"language": "ar"})).await;
    assert_eq!(s, StatusCode::OK);
    let eve = server.user("eve").await;
    ada.follow(&eve).await;
    let (_room3, _ws3) = server.room(&eve, "open", &[]).await;
    let pushed = wait_for_push(&service, 3).await;
    let plain = web_push_native::decrypt(pushed.to_vec(), &ua, web_push_native::Auth::from_slice(&auth)).unwrap();
    let payload: Value = serde_json::from_slice(&plain).unwrap();
    assert!(payload["body"].as_str().unwrap().starts_with("فتح Eve غرفة: "), "{payload}");

    // The push service says the subscription is gone: it is removed.
    *service.gone.lock().unwrap() = true;
    let dee = server.user("dee").await;
    ada.follow(&dee).await;
    let (_room2, _ws2) = server.room(&dee, "open", &[]).await;
    wait_for_push(&service, 4).await;
    for _ in 0..200 {
        let (_, settings) = ada.get("/api/v1/push/settings").await;
        if settings["subscriptions"] == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the subscription the push service called gone was kept");
}

/// Waits until the push service has `n` messages, and returns the last.
async fn wait_for_push(service: &PushService, n: usize) -> Bytes {
    loop {
        if let Some((_, body)) = service.got.lock().unwrap().get(n - 1).cloned() {
            return body;
        }
        tokio::time::timeout(common::EVENT_TIMEOUT, service.arrived.notified()).await.expect("a push arrives");
    }
}

#[tokio::test]
async fn one_person_holds_at_most_eight_streams_and_a_closed_one_frees_its_place() {
    let server = common::TestServer::start().await;
    let ada = server.user("ada").await;
    let bob = server.user("bob").await;
    let mut open = Vec::new();
    for _ in 0..8 {
        let mut s = ada.stream().await;
        s.next_update().await;
        open.push(s);
    }
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/notifications/stream", server.base))
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams");
    // Someone else is not affected, and closing one of ada's lets her open another.
    bob.stream().await.next_update().await;
    drop(open.pop());
    let mut again = None;
    for _ in 0..100 {
        let resp = reqwest::Client::new()
            .get(format!("{}/api/v1/notifications/stream", server.base))
            .bearer_auth(&ada.token)
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::OK {
            again = Some(resp);
            break;
        }
        // The server notices the closed stream when its connection goes.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a closed stream's place is freed");
}

#[tokio::test]
async fn an_rsvp_to_an_event_that_became_hidden_is_not_told_it_started() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let fan = server.user("fan").await;
    let other = server.user("other").await;
    let t = (time::OffsetDateTime::now_utc() + time::Duration::hours(1)).replace_nanosecond(0).unwrap();
    let starts = t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (_, ev) = host
        .post("/api/v1/events", json!({"title": "Open then hidden", "starts_at": starts, "visibility": "open"}))
        .await;
    let id = ev["id"].as_str().unwrap().to_string();
    fan.post_empty(&format!("/api/v1/events/{id}/rsvp")).await;
    other.post_empty(&format!("/api/v1/events/{id}/rsvp")).await;
    host.block(&fan).await;
    let (s, _) = host.post_empty(&format!("/api/v1/events/{id}/start")).await;
    assert_eq!(s, StatusCode::CREATED);
    other.wait_for_notification("event_started", |n| n["event_id"] == id.as_str()).await;
    server.settle(&fan).await;
    assert!(fan.notifications().await.iter().all(|n| n["event_id"] != id.as_str()), "the blocked RSVP is not told");
}
