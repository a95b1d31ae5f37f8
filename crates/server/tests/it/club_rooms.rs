//! Rooms a club hosts: started by its leaders, moderated by its admins, and seen by whom the club's rules
//! say: a members-only room is a 404 to everyone else on every surface, a followers' room is for the
//! club's followers and members, and a club's ban keeps people out of all of its rooms.

use crate::common;

use common::{Client, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Everything a person could learn a live room from, as they see it: the room, its audience, its
/// preview, its recordings, whether it is in the hallway and in search, and whether its socket lets them in.
async fn sees(client: &Client, room: &str, title_word: &str) -> Vec<(&'static str, bool)> {
    let ok = |s: StatusCode| s == StatusCode::OK;
    let in_list = |b: &Value, key: &str| {
        b[key].as_array().is_some_and(|rooms| rooms.iter().any(|r| r["id"] == room || r["room_id"] == room))
    };
    let (s, _) = client.get(&format!("/api/v1/rooms/{room}")).await;
    let (a, _) = client.get(&format!("/api/v1/rooms/{room}/audience")).await;
    let (p, _) = client.get(&format!("/api/v1/rooms/{room}/preview")).await;
    let (_, hallway) = client.get("/api/v1/rooms").await;
    let (_, found) = client.get(&format!("/api/v1/search?q={title_word}")).await;
    let joined = client.join(room).await.is_ok();
    vec![
        ("room", ok(s)),
        ("audience", ok(a)),
        ("preview", ok(p)),
        ("hallway", in_list(&hallway, "rooms")),
        ("search", in_list(&found, "rooms")),
        ("socket", joined),
    ]
}

fn all(seen: bool) -> Vec<(&'static str, bool)> {
    ["room", "audience", "preview", "hallway", "search", "socket"].into_iter().map(|k| (k, seen)).collect()
}

/// A club `inner` (by approval) owned by ann: bob a member, cat a follower, eve banned (and following),
/// gus an admin; dan has nothing to do with the club, but he and ann follow each other.
async fn the_club(server: &TestServer) -> [Client; 6] {
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let cat = server.user("cat").await;
    let dan = server.user("dan").await;
    let eve = server.user("eve").await;
    let gus = server.user("gus").await;
    let (s, b) =
        ann.post("/api/v1/clubs", json!({"handle": "inner", "name": "Inner Circle", "policy": "approval"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    for c in [&bob, &gus] {
        ann.post("/api/v1/clubs/inner/invitations", json!({"username": c.username})).await;
        c.post_empty("/api/v1/clubs/inner/join").await;
    }
    ann.put("/api/v1/clubs/inner/members/gus/role", json!({"role": "admin"})).await;
    cat.post_empty("/api/v1/clubs/inner/follow").await;
    eve.post_empty("/api/v1/clubs/inner/follow").await;
    let (s, _) = ann.post("/api/v1/clubs/inner/bans", json!({"username": "eve"})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Dan and ann follow each other: by the rules of a room no club hosts, dan would see ann's social rooms.
    dan.follow(&ann).await;
    ann.follow(&dan).await;
    [ann, bob, cat, dan, eve, gus]
}

#[tokio::test]
async fn a_members_only_room_is_a_404_to_everyone_else_on_every_surface() {
    let server = TestServer::start().await;
    let [ann, bob, cat, dan, eve, gus] = the_club(&server).await;

    // Only the club's leaders, admins and owner start its rooms.
    let room =
        |club: &str, visibility: &str, title: &str| json!({"title": title, "visibility": visibility, "club": club});
    let (s, b) = bob.post("/api/v1/rooms", room("inner", "closed", "Nope")).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_club_leader")));
    let (s, _) = dan.post("/api/v1/rooms", room("inner", "open", "Nope")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = ann.post("/api/v1/rooms", room("no_such_club", "open", "Nope")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, info) = ann.post("/api/v1/rooms", room("inner", "closed", "Secretive")).await;
    assert_eq!(s, StatusCode::CREATED, "{info}");
    assert_eq!(info["club"], json!({"handle": "inner", "name": "Inner Circle"}));
    let id = info["id"].as_str().unwrap().to_string();
    let mut host = ann.join(&id).await.unwrap();
    host.expect("joined").await;

    assert_eq!(
        sees(&bob, &id, "Secretive").await,
        all(true).into_iter().map(|(k, v)| (k, v && k != "preview")).collect::<Vec<_>>(),
        "a member sees it (no public preview)"
    );
    for stranger in [&cat, &dan, &eve] {
        assert_eq!(sees(stranger, &id, "Secretive").await, all(false), "{} sees nothing", stranger.username);
    }
    // The club's admin comes in as a moderator.
    let mut admin = gus.join(&id).await.unwrap();
    admin.expect("joined").await;
    assert_eq!(admin.expect("role_changed").await["role"], "moderator");

    // The news went to the club's members, not to its followers nor to the host's followers.
    let told = bob.wait_for_notification("club_room_started", |n| n["room_id"] == id.as_str()).await;
    assert_eq!(told["club"], "inner");
    server.settle(&dan).await;
    server.settle(&cat).await;
    for c in [&cat, &dan, &eve] {
        assert!(c.notifications().await.iter().all(|n| n["room_id"] != id.as_str()), "{} was told", c.username);
    }

    // A member removed from the club while in its members-only room is put out of it at once.
    let mut member = bob.join(&id).await.unwrap();
    member.expect("joined").await;
    let (s, _) = ann.delete("/api/v1/clubs/inner/members/bob").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let removed = member.expect("removed").await;
    assert!(removed["message"].as_str().unwrap().contains("no longer a member of Inner Circle"), "{removed}");
    let (s, _) = bob.get(&format!("/api/v1/rooms/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_followers_room_is_for_the_clubs_followers_and_members_and_a_ban_keeps_one_out_of_every_room() {
    let server = TestServer::start().await;
    let [ann, bob, cat, dan, eve, _gus] = the_club(&server).await;
    let (s, info) =
        ann.post("/api/v1/rooms", json!({"title": "Gathering", "visibility": "social", "club": "inner"})).await;
    assert_eq!(s, StatusCode::CREATED, "{info}");
    let id = info["id"].as_str().unwrap().to_string();
    let mut host = ann.join(&id).await.unwrap();
    host.expect("joined").await;
    let member_view: Vec<_> = all(true).into_iter().map(|(k, v)| (k, v && k != "preview")).collect();
    assert_eq!(sees(&bob, &id, "Gathering").await, member_view, "a member");
    assert_eq!(sees(&cat, &id, "Gathering").await, member_view, "a follower");
    assert_eq!(sees(&dan, &id, "Gathering").await, all(false), "the host's follower, a stranger to the club");
    assert_eq!(sees(&eve, &id, "Gathering").await, all(false), "a banned follower");
    cat.wait_for_notification("club_room_started", |n| n["room_id"] == id.as_str()).await;
    server.settle(&dan).await;
    assert!(dan.notifications().await.iter().all(|n| n["room_id"] != id.as_str()), "the host's follower was told");

    // An open room of the club: anyone but the banned.
    let (_, info) =
        ann.post("/api/v1/rooms", json!({"title": "Townhall", "visibility": "open", "club": "inner"})).await;
    let open = info["id"].as_str().unwrap().to_string();
    let mut host2 = ann.join(&open).await.unwrap();
    host2.expect("joined").await;
    assert_eq!(sees(&dan, &open, "Townhall").await, all(true));
    // The club's ban keeps eve out of its open rooms too (the public preview of an open room is anyone's).
    let banned: Vec<_> = all(false).into_iter().map(|(k, v)| (k, v || k == "preview")).collect();
    assert_eq!(sees(&eve, &open, "Townhall").await, banned);
}

#[tokio::test]
async fn a_suspended_club_is_hidden_from_all_but_the_admins_and_its_live_rooms_end() {
    let server = TestServer::start().await;
    let operator = server.admin().await;
    let [ann, bob, ..] = the_club(&server).await;
    let (_, info) =
        ann.post("/api/v1/rooms", json!({"title": "Last call", "visibility": "closed", "club": "inner"})).await;
    let id = info["id"].as_str().unwrap().to_string();
    let mut host = ann.join(&id).await.unwrap();
    host.expect("joined").await;

    // Reported first: once, however often; the admins see it with the club's handle.
    let (s, first) = bob.post("/api/v1/clubs/inner/reports", json!({"reason": "spam", "text": "Ads"})).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let (_, again) = bob.post("/api/v1/clubs/inner/reports", json!({"reason": "spam"})).await;
    assert_eq!(again["id"], first["id"]);
    let (s, b) = bob.post("/api/v1/clubs/inner/reports", json!({"reason": "spam", "text": "x".repeat(1001)})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_text")));
    let (_, reports) = operator.get("/api/v1/admin/reports").await;
    let reports = reports["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!((reports[0]["club"].as_str(), reports[0]["room_title"].as_str()), (Some("inner"), Some("Inner Circle")));

    let (s, _) = bob.post("/api/v1/admin/clubs/inner/suspend", json!({"reason": "spam"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the admin console is not for members");
    let (s, b) = operator.post("/api/v1/admin/clubs/inner/suspend", json!({"reason": "spam"})).await;
    assert_eq!((s, b["suspended"].as_str()), (StatusCode::OK, Some("spam")), "{b}");
    let (s, _) = operator.post("/api/v1/admin/clubs/inner/suspend", json!({"reason": "again"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    host.expect("room_ended").await;

    for c in [&ann, &bob] {
        let (s, _) = c.get("/api/v1/clubs/inner").await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{}", c.username);
        let (_, mine) = c.get("/api/v1/me/clubs").await;
        assert_eq!(mine["clubs"], json!([]));
        let (_, found) = c.get("/api/v1/search?q=inner").await;
        assert_eq!(found["clubs"], json!([]));
    }
    let (s, _) = ann.post("/api/v1/rooms", json!({"title": "Again", "visibility": "open", "club": "inner"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = operator.get("/api/v1/clubs/inner").await;
    assert_eq!(s, StatusCode::OK, "the server's admins still see it: {b}");
    let (_, list) = operator.get("/api/v1/admin/clubs").await;
    assert_eq!(list["clubs"][0]["club"]["handle"], "inner");

    let (s, _) = operator.post_empty("/api/v1/admin/clubs/inner/unsuspend").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = bob.get("/api/v1/clubs/inner").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_clubs_events_follow_its_rules_and_its_page_lists_what_each_may_see() {
    let server = TestServer::start().await;
    let [ann, bob, cat, dan, eve, gus] = the_club(&server).await;
    let event = |title: &str, visibility: &str| json!({"title": title, "starts_at": crate::events::in_secs(86_400), "visibility": visibility, "club": "inner"});
    let (s, b) = bob.post("/api/v1/events", event("Not mine", "open")).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_club_leader")));
    let (s, closed) = ann.post("/api/v1/events", event("Members meetup", "closed")).await;
    assert_eq!(s, StatusCode::CREATED, "{closed}");
    assert_eq!(closed["club"]["handle"], "inner");
    let (_, social) = ann.post("/api/v1/events", event("Followers meetup", "social")).await;
    let (closed, social) = (closed["id"].as_str().unwrap().to_string(), social["id"].as_str().unwrap().to_string());

    let titles = |c: &Client, path: &'static str| {
        let c = c.clone();
        async move {
            let (_, b) = c.get(path).await;
            let mut t: Vec<String> =
                b["events"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap().to_string()).collect();
            t.sort();
            t
        }
    };
    for (who, expected) in [
        (&bob, vec!["Followers meetup", "Members meetup"]),
        (&gus, vec!["Followers meetup", "Members meetup"]),
        (&cat, vec!["Followers meetup"]),
        (&dan, vec![]),
        (&eve, vec![]),
    ] {
        assert_eq!(titles(who, "/api/v1/clubs/inner/events").await, expected, "{}'s club page", who.username);
        assert_eq!(titles(who, "/api/v1/events").await, expected, "{}'s upcoming events", who.username);
        for (id, title) in [(&closed, "Members meetup"), (&social, "Followers meetup")] {
            let (s, _) = who.get(&format!("/api/v1/events/{id}")).await;
            assert_eq!(s == StatusCode::OK, expected.contains(&title), "{} and {title}", who.username);
            let (s, _) = who.get(&format!("/api/v1/events/{id}/preview")).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "no public preview of a club's hidden event");
        }
    }

    // Started, the closed event's room is the club's members-only room, with the club's admin a moderator.
    let (s, room) = ann.post_empty(&format!("/api/v1/events/{closed}/start")).await;
    assert_eq!(s, StatusCode::CREATED, "{room}");
    assert_eq!(room["club"]["handle"], "inner");
    let id = room["id"].as_str().unwrap().to_string();
    let mut host = ann.join(&id).await.unwrap();
    host.expect("joined").await;
    let rooms = |c: &Client| {
        let c = c.clone();
        async move {
            let (_, b) = c.get("/api/v1/clubs/inner/rooms").await;
            b["rooms"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(rooms(&bob).await, std::slice::from_ref(&id));
    assert!(rooms(&cat).await.is_empty() && rooms(&dan).await.is_empty());
    assert_eq!(sees(&dan, &id, "Members").await, all(false));
    let mut admin = gus.join(&id).await.unwrap();
    admin.expect("joined").await;
    assert_eq!(admin.expect("role_changed").await["role"], "moderator");
}
