//! Search (people, live rooms, events; only what the caller may see), suggestions, and a fan-out to
//! thousands of followers that leaves everyone else's requests alone.

use crate::common;

use reqwest::StatusCode;
use serde_json::json;

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn search_finds_people_rooms_and_events_by_prefix_and_hides_what_the_caller_may_not_see() {
    let server = common::TestServer::start().await;
    let me = server.user("searcher").await;
    let ada = server.user("ada_lovelace").await;
    let (s, b) = ada.patch("/api/v1/me", json!({"display_name": "Countess Ada"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let grace = server.user("grace").await;
    grace.patch("/api/v1/me", json!({"display_name": "Grace Hopper"})).await;
    let hider = server.user("hopper_fan").await;
    hider.block(&me).await;

    // People: part of a username or display name, any case, several words all matching.
    let (_, r) = me.get("/api/v1/search?q=lovel").await;
    assert_eq!(names(&r["people"]), ["ada_lovelace"]);
    let (_, r) = me.get("/api/v1/search?q=COUNT").await;
    assert_eq!(names(&r["people"]), ["ada_lovelace"]);
    let (_, r) = me.get("/api/v1/search?q=grace%20hop").await;
    assert_eq!(names(&r["people"]), ["grace"]);
    let (_, r) = me.get("/api/v1/search?q=hopper").await;
    assert_eq!(names(&r["people"]), ["grace"], "someone who blocks the searcher is not found");
    // Renaming is searchable at once.
    ada.patch("/api/v1/me", json!({"display_name": "Byron"})).await;
    let (_, r) = me.get("/api/v1/search?q=countess").await;
    assert_eq!(r["people"], json!([]));

    // Rooms: live, by title words, visible only.
    let (room, _ws) = server.room(&grace, "open", &[]).await;
    let (closed, _ws2) = server.room(&ada, "closed", &[]).await;
    let (_, r) = me.get("/api/v1/search?q=grace%27s%20ro").await; // "grace", "s", "ro"
    assert_eq!(r["rooms"][0]["id"], room.as_str());
    let (_, r) = me.get("/api/v1/search?q=room").await;
    assert!(r["rooms"].as_array().unwrap().iter().all(|x| x["id"] != closed.as_str()), "{r}");

    // Events by title or description.
    let t = (time::OffsetDateTime::now_utc() + time::Duration::days(1)).replace_nanosecond(0).unwrap();
    let starts = t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (s, ev) = grace
        .post("/api/v1/events", json!({"title": "Compilers", "description": "On the first compiler, A-0.", "starts_at": starts, "visibility": "open"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ev}");
    let (_, r) = me.get("/api/v1/search?q=compil").await;
    assert_eq!(r["events"][0]["id"], ev["id"]);
    let (_, r) = me.get("/api/v1/search?q=first%20compiler").await;
    assert_eq!(r["events"][0]["id"], ev["id"], "the description is searched");

    // FTS5's own syntax is just text; bad queries are clear errors.
    for q in ["%22", "AND", "NEAR(a%20b)", "*", "a%22%20OR%20%22b"] {
        let (s, b) = me.get(&format!("/api/v1/search?q={q}")).await;
        assert_eq!(s, StatusCode::OK, "{q}: {b}");
    }
    for q in ["", &"x".repeat(101)] {
        let (s, b) = me.get(&format!("/api/v1/search?q={q}")).await;
        assert_eq!((s, b["error"]["code"].as_str().unwrap()), (StatusCode::BAD_REQUEST, "invalid_query"));
    }
    let (s, _) = me.get("/api/v1/search").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn suggestions_are_friends_of_friends_and_the_inviter_most_followed_first_never_the_blocked() {
    let server = common::TestServer::start().await;
    let me = server.user("me_myself").await;
    let friend = server.user("friend").await;
    let popular = server.user("popular").await;
    let niche = server.user("niche").await;
    let blocked = server.user("blocked").await;
    me.follow(&friend).await;
    friend.follow(&popular).await;
    friend.follow(&niche).await;
    friend.follow(&blocked).await;
    niche.follow(&popular).await;
    me.block(&blocked).await;
    let (s, r) = me.get("/api/v1/suggestions").await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let people: Vec<String> =
        r["people"].as_array().unwrap().iter().map(|p| p["user"]["username"].as_str().unwrap().to_string()).collect();
    assert_eq!(people, ["popular", "niche"], "most-followed first, never the blocked or the followed");
    assert_eq!(r["people"][0]["followers"], 2);
    assert_eq!(r["people"][0]["followed_by_your_follows"], 1);

    // Whoever invited you is suggested.
    let (_, inv) = friend.post_empty("/api/v1/invites").await;
    let code = inv["code"].as_str().unwrap();
    let (s, b) = common::post(
        &server.base,
        None,
        "/api/v1/auth/signup",
        json!({"invite": code, "username": "newbie", "display_name": "Newbie", "password": "newbie-password"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let newbie = common::Client {
        base: server.base.clone(),
        token: b["token"].as_str().unwrap().into(),
        id: b["user"]["id"].as_i64().unwrap(),
        username: "newbie".into(),
    };
    let (_, r) = newbie.get("/api/v1/suggestions").await;
    assert_eq!(r["people"][0]["user"]["username"], "friend");
    assert_eq!(r["people"][0]["invited_you"], true);
}

#[tokio::test]
async fn a_room_start_tells_thousands_of_followers_in_batches_once_each() {
    let server = common::TestServer::start().await;
    let star = server.user("star").await;
    let store = server.store().await;
    // 2,500 followers: three batches, the last one partial.
    let names: Vec<(String, String)> = (0..2500).map(|i| (format!("fan{i}"), format!("Fan {i}"))).collect();
    let fans = store.seed_users(&names).await.unwrap();
    store.seed_follows(&fans, stoa_proto::UserId(star.id)).await.unwrap();
    let started = std::time::Instant::now();
    let (room, _ws) = server.room(&star, "open", &[]).await;
    let room_id = stoa_proto::RoomId(room);
    // Everyone is told, once.
    loop {
        let n = store.notifications_about_room(&room_id).await.unwrap();
        if n == 2500 {
            break;
        }
        assert!(n < 2500, "{n} notifications for 2,500 followers");
        assert!(started.elapsed() < common::EVENT_TIMEOUT, "only {n} told in time");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Once an hour: the star coming on stage again is no news to anyone.
    let mut ws = star.join(&room_id.0).await.unwrap();
    ws.expect("joined").await;
    let fan = server.user("late_fan").await;
    fan.follow(&star).await;
    server.settle(&star).await;
    assert_eq!(store.notifications_about_room(&room_id).await.unwrap(), 2500);
}
