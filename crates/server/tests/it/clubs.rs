//! Clubs over real HTTP: made, found in any case and edited by their admins; joined openly, by approval or
//! by invitation; roles and their powers; bans; hand-overs and succession; the limits and their bypasses;
//! blocks; tokens' scopes.

use crate::common;

use common::{Client, TestServer, request};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn code(body: &Value) -> Option<&str> {
    body["error"]["code"].as_str()
}

async fn make(owner: &Client, handle: &str, policy: &str) -> Value {
    let (s, b) = owner.post("/api/v1/clubs", json!({"handle": handle, "name": "The Club", "policy": policy})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b
}

async fn usernames(client: &Client, path: &str) -> Vec<String> {
    let (s, b) = client.get(path).await;
    assert_eq!(s, StatusCode::OK, "{path}: {b}");
    b["members"].as_array().unwrap().iter().map(|m| m["user"]["username"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_club_is_made_found_in_any_case_edited_by_its_admins_and_bad_input_changes_nothing() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;

    for (body, expected) in [
        (json!({"handle": "ab", "name": "N", "policy": "open"}), "invalid_handle"),
        (json!({"handle": "has space", "name": "N", "policy": "open"}), "invalid_handle"),
        (json!({"handle": "ok_handle", "name": "  ", "policy": "open"}), "invalid_name"),
        (
            json!({"handle": "ok_handle", "name": "N", "policy": "open", "description": "x".repeat(1001)}),
            "invalid_description",
        ),
        (json!({"handle": "ok_handle", "name": "N", "policy": "open", "rules": "x".repeat(2001)}), "invalid_rules"),
        (json!({"handle": "ok_handle", "name": "N", "policy": "secret"}), "invalid_body"),
        (json!({"handle": "ok_handle", "name": "N", "policy": "open", "owner": 1}), "invalid_body"),
    ] {
        let (s, b) = ann.post("/api/v1/clubs", body.clone()).await;
        assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, Some(expected)), "{body}");
    }
    let (s, _) = ann.get("/api/v1/clubs/ok_handle").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was made");

    let club = ann
        .post(
            "/api/v1/clubs",
            json!({"handle": "  Rust_Audio ", "name": " Rust Audio ", "description": "Rust and sound", "policy": "open"}),
        )
        .await;
    assert_eq!(club.0, StatusCode::CREATED, "{}", club.1);
    assert_eq!(club.1["handle"], "rust_audio");
    assert_eq!(club.1["name"], "Rust Audio");
    assert_eq!(club.1["owner"]["username"], "ann");
    assert_eq!(club.1["members"], 1);
    assert_eq!(club.1["you"], json!({"standing": "member", "role": "owner", "following": false}));
    let (s, b) = bob.post("/api/v1/clubs", json!({"handle": "RUST_AUDIO", "name": "Mine", "policy": "open"})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, Some("handle_taken")), "a handle is unique in any case");

    let (s, seen) = bob.get("/api/v1/clubs/Rust_AUDIO").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(seen["description"], "Rust and sound");
    assert_eq!(seen["you"], json!({"standing": null, "role": null, "following": false}));

    // Only its admins edit it; bad input changes nothing.
    let (s, b) = bob.patch("/api/v1/clubs/rust_audio", json!({"name": "Taken over"})).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("not_club_admin")));
    let (s, b) = ann.patch("/api/v1/clubs/rust_audio", json!({"name": "", "rules": "Be kind"})).await;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, Some("invalid_name")));
    let (s, b) = ann.patch("/api/v1/clubs/rust_audio", json!({"rules": "Be kind", "policy": "approval"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["rules"].as_str(), b["policy"].as_str(), b["name"].as_str()),
        (Some("Be kind"), Some("approval"), Some("Rust Audio"))
    );

    // Following.
    let (s, b) = bob.post_empty("/api/v1/clubs/rust_audio/follow").await;
    assert_eq!((s, b["followers"].as_i64(), b["you"]["following"].as_bool()), (StatusCode::OK, Some(1), Some(true)));
    let (_, b) = bob.delete("/api/v1/clubs/rust_audio/follow").await;
    assert_eq!(b["followers"], 0);

    let (s, b) = bob.get("/api/v1/clubs/no_such_club").await;
    assert_eq!((s, b["error"]["message"].as_str()), (StatusCode::NOT_FOUND, Some("There is no such club.")));
}

#[tokio::test]
async fn people_join_an_open_club_ask_one_that_approves_and_need_an_invitation_for_the_rest() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let cat = server.user("cat").await;
    make(&ann, "open_club", "open").await;
    make(&ann, "asking_club", "approval").await;
    make(&ann, "invited_club", "invitation").await;

    // Open: in at once.
    let (s, b) = bob.post_empty("/api/v1/clubs/open_club/join").await;
    assert_eq!((s, b["standing"].as_str()), (StatusCode::OK, Some("member")));
    assert_eq!(usernames(&cat, "/api/v1/clubs/open_club/members").await, ["ann", "bob"]);

    // By approval: a request the admins see, approve or refuse without telling.
    let (_, b) = bob.post_empty("/api/v1/clubs/asking_club/join").await;
    assert_eq!(b["standing"], "requested");
    let (_, b) = cat.post_empty("/api/v1/clubs/asking_club/join").await;
    assert_eq!(b["standing"], "requested");
    let (s, b) = bob.get("/api/v1/clubs/asking_club/requests").await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("not_club_admin")), "only admins see requests");
    assert_eq!(usernames(&ann, "/api/v1/clubs/asking_club/requests").await, ["bob", "cat"]);
    let told = ann.wait_for_notification("club_request", |n| n["actor"]["username"] == "bob").await;
    assert_eq!((told["club"].as_str(), told["link"].as_str()), (Some("asking_club"), Some("/c/asking_club/requests")));
    assert_eq!(told["text"], "Bob asks to join The Club");
    let (s, _) = ann.post("/api/v1/clubs/asking_club/requests/bob", json!({"approve": true})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let told = bob.wait_for_notification("club_approved", |n| n["club"] == "asking_club").await;
    assert_eq!(told["link"], "/c/asking_club");
    let (s, _) = ann.post("/api/v1/clubs/asking_club/requests/cat", json!({"approve": false})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = ann.post("/api/v1/clubs/asking_club/requests/cat", json!({"approve": true})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a refused request is gone");
    let (_, b) = cat.get("/api/v1/clubs/asking_club").await;
    assert_eq!(b["you"]["standing"], Value::Null, "the refused person is not told, and may ask again");
    assert_eq!(usernames(&ann, "/api/v1/clubs/asking_club/members").await, ["ann", "bob"]);
    let (_, b) = cat.post_empty("/api/v1/clubs/asking_club/join").await;
    assert_eq!(b["standing"], "requested");
    let (s, _) = cat.delete("/api/v1/clubs/asking_club/membership").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "a request is withdrawn");
    assert!(usernames(&ann, "/api/v1/clubs/asking_club/requests").await.is_empty());

    // By invitation: asking is refused; an invitation shows in the person's list and joining accepts it.
    let (s, b) = bob.post_empty("/api/v1/clubs/invited_club/join").await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("invitation_only")));
    let (s, b) = bob.post("/api/v1/clubs/invited_club/invitations", json!({"username": "cat"})).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("not_club_admin")), "members do not invite");
    let (s, b) = ann.post("/api/v1/clubs/invited_club/invitations", json!({"username": "bob"})).await;
    assert_eq!((s, b["standing"].as_str()), (StatusCode::CREATED, Some("invited")));
    let told = bob.wait_for_notification("club_invite", |n| n["club"] == "invited_club").await;
    assert_eq!(told["text"], "Ann invited you to join The Club");
    let (s, b) = ann.post("/api/v1/clubs/invited_club/invitations", json!({"username": "bob"})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, Some("already_in_club")));
    let (s, b) = ann.post("/api/v1/clubs/invited_club/invitations", json!({"username": "nobody_here"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (_, mine) = bob.get("/api/v1/me/clubs").await;
    let standings: Vec<(&str, &str)> = mine["clubs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["club"]["handle"].as_str().unwrap(), c["standing"].as_str().unwrap()))
        .collect();
    assert_eq!(standings, [("open_club", "member"), ("asking_club", "member"), ("invited_club", "invited")]);
    let (_, theirs) = cat.get("/api/v1/users/bob/clubs").await;
    assert_eq!(theirs["clubs"].as_array().unwrap().len(), 2, "others see memberships, not invitations: {theirs}");
    let (_, b) = bob.post_empty("/api/v1/clubs/invited_club/join").await;
    assert_eq!(b["standing"], "member");

    // An invitation withdrawn, or declined, is gone.
    ann.post("/api/v1/clubs/invited_club/invitations", json!({"username": "cat"})).await;
    assert_eq!(usernames(&ann, "/api/v1/clubs/invited_club/invitations").await, ["cat"]);
    let (s, _) = ann.delete("/api/v1/clubs/invited_club/invitations/cat").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = cat.post_empty("/api/v1/clubs/invited_club/join").await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("invitation_only")));
    ann.post("/api/v1/clubs/invited_club/invitations", json!({"username": "cat"})).await;
    cat.delete("/api/v1/clubs/invited_club/membership").await;
    let (_, b) = cat.get("/api/v1/clubs/invited_club").await;
    assert_eq!(b["you"]["standing"], Value::Null);

    // An invitation to someone who asked lets them in.
    cat.post_empty("/api/v1/clubs/asking_club/join").await;
    let (_, b) = ann.post("/api/v1/clubs/asking_club/invitations", json!({"username": "cat"})).await;
    assert_eq!(b["standing"], "member");

    // The account's export lists its clubs.
    let (_, export) = bob.get("/api/v1/account/export").await;
    let clubs: Vec<&str> =
        export["clubs"].as_array().unwrap().iter().map(|c| c["club"]["handle"].as_str().unwrap()).collect();
    assert_eq!(clubs, ["open_club", "asking_club", "invited_club"]);
}

#[tokio::test]
async fn admins_manage_members_only_the_owner_makes_admins_and_bans_keep_people_out() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let cat = server.user("cat").await;
    let dan = server.user("dan").await;
    let eve = server.user("eve").await;
    make(&ann, "crew", "open").await;
    for c in [&bob, &cat, &dan] {
        c.post_empty("/api/v1/clubs/crew/join").await;
    }
    let role = |c: &Client, who: &str, role: &str| {
        let (c, path) = (c.clone(), format!("/api/v1/clubs/crew/members/{who}/role"));
        let role = role.to_string();
        async move { c.put(&path, json!({"role": role})).await }
    };

    // Members give no roles; only the owner makes admins; an admin makes leaders, not admins.
    assert_eq!(code(&role(&bob, "cat", "leader").await.1), Some("not_allowed"));
    assert_eq!(role(&ann, "bob", "admin").await.0, StatusCode::NO_CONTENT);
    assert_eq!(role(&bob, "cat", "leader").await.0, StatusCode::NO_CONTENT);
    assert_eq!(code(&role(&bob, "dan", "admin").await.1), Some("not_allowed"));
    assert_eq!(code(&role(&bob, "ann", "member").await.1), Some("not_allowed"), "nobody demotes the owner");
    assert_eq!(code(&role(&ann, "bob", "owner").await.1), Some("invalid_role"));
    assert_eq!(role(&ann, "eve", "leader").await.0, StatusCode::NOT_FOUND, "not a member");
    let (_, b) = cat.get("/api/v1/clubs/crew").await;
    assert_eq!(b["you"]["role"], "leader");

    // An admin removes members, not other admins nor the owner.
    let (s, b) = cat.delete("/api/v1/clubs/crew/members/dan").await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("not_allowed")), "a leader removes no one");
    let (s, _) = bob.delete("/api/v1/clubs/crew/members/dan").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = bob.delete("/api/v1/clubs/crew/members/ann").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A removed member may come back to an open club; a banned one, member or not, may not.
    let (_, b) = dan.post_empty("/api/v1/clubs/crew/join").await;
    assert_eq!(b["standing"], "member");
    let (s, _) = bob.post("/api/v1/clubs/crew/bans", json!({"username": "dan"})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = bob.post("/api/v1/clubs/crew/bans", json!({"username": "eve"})).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "someone who never joined can be banned");
    for c in [&dan, &eve] {
        let (s, b) = c.post_empty("/api/v1/clubs/crew/join").await;
        assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("banned_from_club")));
    }
    let (s, b) = ann.post("/api/v1/clubs/crew/invitations", json!({"username": "dan"})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, Some("banned_from_club")), "nor invited");
    // Leaving does not lift a ban.
    dan.delete("/api/v1/clubs/crew/membership").await;
    assert_eq!(usernames(&bob, "/api/v1/clubs/crew/bans").await, ["dan", "eve"]);
    assert_eq!(usernames(&bob, "/api/v1/clubs/crew/members").await, ["ann", "bob", "cat"]);
    let (s, _) = bob.post("/api/v1/clubs/crew/bans", json!({"username": "ann"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "the owner cannot be banned");
    let (s, _) = bob.delete("/api/v1/clubs/crew/bans/eve").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, b) = eve.post_empty("/api/v1/clubs/crew/join").await;
    assert_eq!(b["standing"], "member");

    // Hand-over: only the owner, only to a member; the old owner stays an admin.
    let (s, _) = bob.post("/api/v1/clubs/crew/transfer", json!({"username": "bob"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = ann.post("/api/v1/clubs/crew/transfer", json!({"username": "dan"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a banned person is not a member");
    let (s, _) = ann.post("/api/v1/clubs/crew/transfer", json!({"username": "cat"})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, b) = ann.get("/api/v1/clubs/crew").await;
    assert_eq!((b["owner"]["username"].as_str(), b["you"]["role"].as_str()), (Some("cat"), Some("admin")));

    // The owner leaves: the longest-standing admin takes over (ann, who joined before bob).
    cat.delete("/api/v1/clubs/crew/membership").await;
    let (_, b) = eve.get("/api/v1/clubs/crew").await;
    assert_eq!(b["owner"]["username"], "ann");
    // The last member leaves: the club is gone, and its handle free.
    make(&eve, "solo", "open").await;
    eve.delete("/api/v1/clubs/solo/membership").await;
    let (s, _) = ann.get("/api/v1/clubs/solo").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    make(&ann, "solo", "open").await;
}

#[tokio::test]
async fn clubs_made_a_day_count_clubs_handed_over_and_join_requests_are_limited_per_hour() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    for i in 0..3 {
        let club = make(&ann, &format!("club_{i}"), "approval").await;
        assert_eq!(club["handle"], format!("club_{i}"));
    }
    let (s, b) = ann.post("/api/v1/clubs", json!({"handle": "club_3", "name": "N", "policy": "open"})).await;
    assert_eq!((s, code(&b)), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_clubs")));
    // Bypass: hand the clubs over, then make more. The day's count is of clubs made, not owned.
    for i in 0..3 {
        bob.post_empty(&format!("/api/v1/clubs/club_{i}/join")).await;
        ann.post(&format!("/api/v1/clubs/club_{i}/requests/bob"), json!({"approve": true})).await;
        let (s, _) = ann.post(&format!("/api/v1/clubs/club_{i}/transfer"), json!({"username": "bob"})).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    let (s, b) = ann.post("/api/v1/clubs", json!({"handle": "club_3", "name": "N", "policy": "open"})).await;
    assert_eq!((s, code(&b)), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_clubs")), "handing over is no way round");
    let (s, _) = ann.get("/api/v1/clubs/club_3").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A request withdrawn and made again tells the admins again: an hourly limit stops the loop.
    let cat = server.user("cat").await;
    make(&cat, "asked_often", "approval").await;
    let mut refused = None;
    for i in 0..40 {
        let (s, b) = bob.post_empty("/api/v1/clubs/asked_often/join").await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((i, code(&b).map(str::to_string)));
            break;
        }
        assert_eq!(b["standing"], "requested");
        bob.delete("/api/v1/clubs/asked_often/membership").await;
    }
    // Thirty an hour, counting bob's three requests to join ann's clubs above.
    assert_eq!(refused, Some((27, Some("rate_limited".to_string()))));
}

#[tokio::test]
async fn blocks_stop_invitations_and_hide_the_blocker_from_the_member_list() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let cat = server.user("cat").await;
    make(&ann, "quiet", "open").await;
    bob.post_empty("/api/v1/clubs/quiet/join").await;
    bob.block(&cat).await;
    assert_eq!(usernames(&cat, "/api/v1/clubs/quiet/members").await, ["ann"], "bob blocks cat: cat does not see bob");
    assert_eq!(usernames(&ann, "/api/v1/clubs/quiet/members").await, ["ann", "bob"]);
    make(&ann, "closed_door", "invitation").await;
    cat.block(&ann).await;
    let (s, b) = ann.post("/api/v1/clubs/closed_door/invitations", json!({"username": "cat"})).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("blocked")));
    let (_, b) = cat.get("/api/v1/me/clubs").await;
    assert_eq!(b["clubs"], json!([]));
}

#[tokio::test]
async fn a_read_token_sees_clubs_and_changes_none_and_a_deleted_owner_is_succeeded() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    make(&ann, "readers", "open").await;
    let (_, made) = bob.post("/api/v1/tokens", json!({"name": "r", "scopes": ["rooms:read"]})).await;
    let token = made["token"].as_str().unwrap();
    let (s, _) = request(&server.base, Some(token), Method::GET, "/api/v1/clubs/readers", None).await;
    assert_eq!(s, StatusCode::OK);
    for (method, path, body) in [
        (Method::POST, "/api/v1/clubs/readers/join", None),
        (Method::POST, "/api/v1/clubs", Some(json!({"handle": "by_token", "name": "N", "policy": "open"}))),
        (Method::POST, "/api/v1/clubs/readers/follow", None),
    ] {
        let (s, b) = request(&server.base, Some(token), method, path, body).await;
        assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("missing_scope")), "{path}");
    }
    let (_, b) = ann.get("/api/v1/clubs/readers").await;
    assert_eq!((b["members"].as_i64(), b["followers"].as_i64()), (Some(1), Some(0)));

    bob.post_empty("/api/v1/clubs/readers/join").await;
    let (s, b) = ann.post("/api/v1/account/delete", json!({"password": "ann-password"})).await;
    assert!(s.is_success(), "{b}");
    let (_, b) = bob.get("/api/v1/clubs/readers").await;
    assert_eq!((b["owner"]["username"].as_str(), b["you"]["role"].as_str()), (Some("bob"), Some("owner")));
    assert_eq!(b["members"], 1);
}

#[tokio::test]
async fn search_finds_clubs_by_handle_name_and_description_and_suggestions_follow_the_people_you_follow() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let (s, _) = ann
        .post(
            "/api/v1/clubs",
            json!({"handle": "night_owls", "name": "Late Talkers", "description": "Jazz after midnight", "policy": "open"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    make(&ann, "daybreak", "open").await;
    for q in ["owls", "night", "late talk", "jazz", "midni"] {
        let (_, found) = bob.get(&format!("/api/v1/search?q={q}")).await;
        let handles: Vec<&str> =
            found["clubs"].as_array().unwrap().iter().map(|c| c["handle"].as_str().unwrap()).collect();
        assert_eq!(handles, ["night_owls"], "{q}");
    }
    // An edit is found at once, and the old words no longer are.
    ann.patch("/api/v1/clubs/night_owls", json!({"description": "Blues"})).await;
    let (_, found) = bob.get("/api/v1/search?q=jazz").await;
    assert_eq!(found["clubs"], json!([]));
    let (_, found) = bob.get("/api/v1/search?q=blues").await;
    assert_eq!(found["clubs"][0]["handle"], "night_owls");

    // Suggestions: the clubs of the people bob follows, until he joins or follows them.
    let (_, s) = bob.get("/api/v1/suggestions").await;
    assert_eq!(s["clubs"], json!([]));
    bob.follow(&ann).await;
    let (_, s) = bob.get("/api/v1/suggestions").await;
    let suggested: Vec<(&str, i64)> = s["clubs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["club"]["handle"].as_str().unwrap(), c["members_you_follow"].as_i64().unwrap()))
        .collect();
    assert_eq!(suggested, [("night_owls", 1), ("daybreak", 1)]);
    bob.post_empty("/api/v1/clubs/daybreak/follow").await;
    bob.post_empty("/api/v1/clubs/night_owls/join").await;
    let (_, s) = bob.get("/api/v1/suggestions").await;
    assert_eq!(s["clubs"], json!([]));
}

#[tokio::test]
async fn an_open_clubs_link_unfolds_for_anyone_and_no_other_club_shows_a_thing() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    ann.post(
        "/api/v1/clubs",
        json!({"handle": "open_door", "name": "Open <Door>", "description": "All welcome", "policy": "open"}),
    )
    .await;
    make(&ann, "by_ask", "approval").await;
    make(&ann, "by_card", "invitation").await;
    let (s, preview) = request(&server.base, None, Method::GET, "/api/v1/clubs/open_door/preview", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (preview["title"].as_str(), preview["people"][0]["username"].as_str()),
        (Some("Open <Door>"), Some("ann"))
    );
    let page = reqwest::get(format!("{}/c/open_door", server.base)).await.unwrap().text().await.unwrap();
    assert!(page.contains("<meta property=\"og:title\" content=\"Open &lt;Door&gt;\" />"), "{page}");
    assert!(page.contains("All welcome · A club on Stoa"), "{page}");
    for handle in ["by_ask", "by_card", "no_such_club"] {
        let (s, _) = request(&server.base, None, Method::GET, &format!("/api/v1/clubs/{handle}/preview"), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{handle}");
        let page = reqwest::get(format!("{}/c/{handle}", server.base)).await.unwrap().text().await.unwrap();
        assert!(!page.contains("og:title"), "{handle}");
    }
}

#[tokio::test]
async fn a_clubs_admins_set_its_avatar_processed_as_a_persons_and_no_one_else_can() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    make(&ann, "pictured", "open").await;
    bob.post_empty("/api/v1/clubs/pictured/join").await;
    let put = |c: &Client, body: Vec<u8>| {
        let (c, base) = (c.clone(), server.base.clone());
        async move {
            let resp = reqwest::Client::new()
                .put(format!("{base}/api/v1/clubs/pictured/avatar"))
                .bearer_auth(&c.token)
                .header("content-type", "image/png")
                .body(body)
                .send()
                .await
                .unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap_or_default())
        }
    };
    let (s, b) = put(&bob, crate::profiles::png(300, 200)).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("not_club_admin")));
    let (s, b) = put(&ann, b"not an image".to_vec()).await;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, Some("not_an_image")));
    let (s, club) = put(&ann, crate::profiles::png(300, 200)).await;
    assert_eq!(s, StatusCode::OK, "{club}");
    let url = club["avatar"].as_str().unwrap().to_string();
    assert_eq!(url, "/club-avatars/pictured/1.jpg");
    let (_, listed) = bob.get("/api/v1/me/clubs").await;
    assert_eq!(listed["clubs"][0]["club"]["avatar"], url.as_str());
    for (size, expect) in [("", 256), ("?size=64", 64)] {
        let resp = reqwest::Client::new()
            .get(format!("{}{url}{size}", server.base))
            .bearer_auth(&bob.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let img = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), (expect, expect));
    }
    let (s, club) = ann.delete("/api/v1/clubs/pictured/avatar").await;
    assert_eq!((s, &club["avatar"]), (StatusCode::OK, &Value::Null));
    let resp =
        reqwest::Client::new().get(format!("{}{url}", server.base)).bearer_auth(&bob.token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
