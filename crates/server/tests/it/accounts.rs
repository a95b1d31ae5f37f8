//! Accounts, invites, sessions and the social graph, over real HTTP.

use crate::common;

use common::{TestServer, post, request, test_config};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_bootstrap_invite_makes_the_first_account_an_admin_and_works_once() {
    let server = TestServer::start().await;
    let url = server.running.as_ref().unwrap().bootstrap_invite.clone().expect("a fresh database prints an invite");
    let code = url.rsplit('/').next().unwrap();
    assert!(url.starts_with(&server.base), "{url}");
    let signup =
        |name: &str| json!({"invite": code, "username": name, "display_name": "Root", "password": "correct horse"});
    let (s, b) = post(&server.base, None, "/api/v1/auth/signup", signup("root")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["user"]["is_admin"], true);
    assert_eq!(b["user"]["nominated_by"], serde_json::Value::Null);
    let (s, b) = post(&server.base, None, "/api/v1/auth/signup", signup("second")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b["error"]["code"], "invalid_invite");
}

#[tokio::test]
async fn invite_quota_is_enforced_and_codes_are_single_use() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let (s, first) = alice.post_empty("/api/v1/invites").await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert!(first["url"].as_str().unwrap().ends_with(&format!("/invite/{}", first["code"].as_str().unwrap())));
    let (s, _) = alice.post_empty("/api/v1/invites").await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = alice.post_empty("/api/v1/invites").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "one more than the quota of 2 is refused");
    assert_eq!(b["error"]["code"], "invite_quota_exhausted");
    assert!(b["error"]["message"].as_str().unwrap().contains("2"), "{b}");

    let (_, list) = alice.get("/api/v1/invites").await;
    assert_eq!(list["remaining"], 0);
    assert_eq!(list["quota"], 2);
    assert_eq!(list["invites"].as_array().unwrap().len(), 2);

    // Bob signs up with Alice's invite; the code is then spent.
    let code = first["code"].as_str().unwrap();
    let (s, bob) = post(
        &server.base,
        None,
        "/api/v1/auth/signup",
        json!({"invite": code, "username": "bob", "display_name": "Bob", "password": "bobbobbob"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{bob}");
    assert_eq!(bob["user"]["nominated_by"]["username"], "alice");
    let (s, b) = post(
        &server.base,
        None,
        "/api/v1/auth/signup",
        json!({"invite": code, "username": "carol", "display_name": "Carol", "password": "carolcarol"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a used code is refused");
    assert_eq!(b["error"]["code"], "invalid_invite");
    let (s, b) = post(
        &server.base,
        None,
        "/api/v1/auth/signup",
        json!({"invite": "nosuchcode12", "username": "carol", "display_name": "Carol", "password": "carolcarol"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "an unknown code is refused");
    assert_eq!(b["error"]["code"], "invalid_invite");

    let (_, list) = alice.get("/api/v1/invites").await;
    let used: Vec<_> =
        list["invites"].as_array().unwrap().iter().filter(|i| i["used_by"]["username"] == "bob").collect();
    assert_eq!(used.len(), 1, "the list shows who used which invite: {list}");

    // The profile shows who nominated Bob.
    let (_, profile) = alice.get("/api/v1/users/bob").await;
    assert_eq!(profile["nominated_by"]["username"], "alice");
}

#[tokio::test]
async fn a_configured_quota_applies() {
    let dir = tempfile::tempdir().unwrap();
    let config = stoa_server::ServerConfig { invite_quota: 1, ..test_config(dir.path()) };
    let server = TestServer::start_with(dir, config).await;
    let alice = server.user("alice").await;
    assert_eq!(alice.post_empty("/api/v1/invites").await.0, StatusCode::CREATED);
    assert_eq!(alice.post_empty("/api/v1/invites").await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sign_up_validates_its_fields() {
    let server = TestServer::start().await;
    server.user("taken").await;
    let cases = [
        ("ab", "Name", "password1", StatusCode::BAD_REQUEST, "invalid_username"),
        ("has space", "Name", "password1", StatusCode::BAD_REQUEST, "invalid_username"),
        ("waytoolongusername_123", "Name", "password1", StatusCode::BAD_REQUEST, "invalid_username"),
        ("good_name", "", "password1", StatusCode::BAD_REQUEST, "invalid_display_name"),
        ("good_name", "Name", "short", StatusCode::BAD_REQUEST, "weak_password"),
        ("TAKEN", "Name", "password1", StatusCode::CONFLICT, "username_taken"),
    ];
    for (username, display, password, status, code) in cases {
        let (s, b) = post(
            &server.base,
            None,
            "/api/v1/auth/signup",
            json!({"invite": server.invite, "username": username, "display_name": display, "password": password}),
        )
        .await;
        assert_eq!(
            (s, b["error"]["code"].as_str().unwrap()),
            (status, code),
            "{username:?} {display:?} {password:?}: {b}"
        );
    }
    // Upper case folds to lower case.
    let (s, b) = post(
        &server.base,
        None,
        "/api/v1/auth/signup",
        json!({"invite": server.invite, "username": "MiXeD_1", "display_name": "M", "password": "password1"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(b["user"]["username"], "mixed_1");
}

#[tokio::test]
async fn login_logout_and_the_session_cookie() {
    let server = TestServer::start().await;
    server.user("alice").await;
    let (s, b) =
        post(&server.base, None, "/api/v1/auth/login", json!({"username": "alice", "password": "wrong password"}))
            .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["error"]["code"], "invalid_credentials");
    let (s, _) =
        post(&server.base, None, "/api/v1/auth/login", json!({"username": "nobody", "password": "whatever1"})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "an unknown user gets the same answer as a wrong password");

    // Login sets an HttpOnly, SameSite=Lax cookie holding the same token.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"username": "ALICE", "password": "alice-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    assert!(cookie.starts_with(&format!("stoa_session={token}")));

    // The cookie alone authenticates.
    let me = reqwest::Client::new()
        .get(format!("{}/api/v1/me", server.base))
        .header("cookie", format!("stoa_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<serde_json::Value>().await.unwrap()["username"], "alice");

    // Logout revokes the token.
    let (s, _) = request(&server.base, Some(&token), reqwest::Method::POST, "/api/v1/auth/logout", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = request(&server.base, Some(&token), reqwest::Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn me_can_be_edited() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let (s, b) =
        alice.patch("/api/v1/me", json!({"display_name": "Alice Liddell", "bio": "Down the rabbit hole."})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["display_name"], "Alice Liddell");
    let (_, b) = alice.get("/api/v1/me").await;
    assert_eq!(b["bio"], "Down the rabbit hole.");
    let (s, b) = alice.patch("/api/v1/me", json!({"bio": "x".repeat(301)})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (_, b) = alice.get("/api/v1/me").await;
    assert_eq!(b["bio"], "Down the rabbit hole.", "a refused change changes nothing");
}

#[tokio::test]
async fn bad_passwords_slow_an_account_without_locking_its_owner_out_and_addresses_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        stoa_server::ServerConfig { auth_attempts_per_user: 8, auth_attempts_per_ip: 40, ..test_config(dir.path()) };
    let server = TestServer::start_with(dir, config).await;
    server.user("victim").await;
    let login = |u: &str, password: &str| {
        post(&server.base, None, "/api/v1/auth/login", json!({"username": u, "password": password}))
    };
    // Ten bad passwords, as a guesser would try them.
    for _ in 0..10 {
        assert_eq!(login("victim", "wrong password").await.0, StatusCode::UNAUTHORIZED);
    }
    // The owner is not locked out: the right password gets in, after the account's delay.
    let started = std::time::Instant::now();
    let (s, b) = login("victim", "victim-password").await;
    assert_eq!(s, StatusCode::OK, "the owner signs in after ten bad passwords: {b}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "the attempt waited for the account's delay");
    // Their success clears the delay.
    let started = std::time::Instant::now();
    assert_eq!(login("victim", "victim-password").await.0, StatusCode::OK);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    // One address is limited whatever the usernames it tries.
    let mut refused = None;
    for i in 0..40 {
        let (s, b) = login(&format!("other{i}"), "wrong password").await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(b["error"]["code"], "rate_limited");
            refused = Some(i);
            break;
        }
    }
    assert!(refused.is_some_and(|i| i <= 40 - 12), "the per-address limit: {refused:?}");
}

#[tokio::test]
async fn follows_blocks_and_paged_lists() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut fans = vec![];
    for i in 0..5 {
        let fan = server.user(&format!("fan{i}")).await;
        fan.follow(&alice).await;
        fans.push(fan);
    }
    bob.follow(&alice).await;
    alice.follow(&bob).await;

    let (_, p) = bob.get("/api/v1/users/alice").await;
    assert_eq!((p["followers"].as_i64(), p["following"].as_i64()), (Some(6), Some(1)));
    assert_eq!(
        (p["you_follow"].as_bool(), p["follows_you"].as_bool(), p["you_block"].as_bool()),
        (Some(true), Some(true), Some(false))
    );

    // Followers, newest first, 4 to a page.
    let (_, page1) = bob.get("/api/v1/users/alice/followers?limit=4").await;
    let names: Vec<&str> = page1["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["bob", "fan4", "fan3", "fan2"]);
    let cursor = page1["next_cursor"].as_i64().expect("a second page");
    let (_, page2) = bob.get(&format!("/api/v1/users/alice/followers?limit=4&cursor={cursor}")).await;
    let names: Vec<&str> = page2["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["fan1", "fan0"]);
    assert!(page2["next_cursor"].is_null());
    let (_, following) = alice.get("/api/v1/users/alice/following").await;
    assert_eq!(following["users"][0]["username"], "bob");

    // Blocking removes the follows in both directions, and the blocked user cannot follow back.
    alice.block(&bob).await;
    let (_, p) = alice.get("/api/v1/users/bob").await;
    assert_eq!(
        (p["you_block"].as_bool(), p["you_follow"].as_bool(), p["follows_you"].as_bool()),
        (Some(true), Some(false), Some(false))
    );
    let (s, b) = bob.post_empty("/api/v1/users/alice/follow").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(b["error"]["code"], "blocked");
    let (_, p) = bob.get("/api/v1/users/alice").await;
    assert_eq!(p["followers"], 5, "the refused follow changed nothing");

    // Unblocking allows following again; the old follows are not restored.
    let (s, _) = alice.delete("/api/v1/users/bob/block").await;
    assert_eq!(s, StatusCode::OK);
    bob.follow(&alice).await;
    let (_, p) = alice.get("/api/v1/users/bob").await;
    assert_eq!((p["follows_you"].as_bool(), p["you_follow"].as_bool()), (Some(true), Some(false)));
    let (s, _) = bob.delete("/api/v1/users/alice/follow").await;
    assert_eq!(s, StatusCode::OK);

    // Oneself and unknown users.
    assert_eq!(alice.post_empty("/api/v1/users/alice/follow").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(alice.post_empty("/api/v1/users/nobody/block").await.0, StatusCode::NOT_FOUND);
    assert_eq!(alice.get("/api/v1/users/nobody").await.0, StatusCode::NOT_FOUND);
}

/// Behind a trusted proxy each client has its own login budget, named by `X-Forwarded-For`; from anyone
/// else the header is ignored, so a client cannot buy a fresh budget by writing a new address in it.
#[tokio::test]
async fn the_login_limit_keys_on_the_client_behind_a_trusted_proxy_and_ignores_spoofed_headers() {
    let attempt = |base: String, forwarded: &'static str, user: &'static str| async move {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/auth/login"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"username": user, "password": "wrong password"}))
            .send()
            .await
            .unwrap()
            .status()
    };
    for (trusted, expect_second_client) in [(true, StatusCode::UNAUTHORIZED), (false, StatusCode::TOO_MANY_REQUESTS)] {
        let dir = tempfile::tempdir().unwrap();
        let config = stoa_server::ServerConfig {
            auth_attempts_per_ip: 2,
            // The tests connect from 127.0.0.1: here, that is the proxy.
            trusted_proxies: if trusted { vec!["127.0.0.0/8".parse().unwrap()] } else { vec![] },
            ..test_config(dir.path())
        };
        let server = TestServer::start_with(dir, config).await;
        let base = server.base.clone();
        assert_eq!(attempt(base.clone(), "198.51.100.1", "u1").await, StatusCode::UNAUTHORIZED);
        assert_eq!(attempt(base.clone(), "198.51.100.1", "u2").await, StatusCode::UNAUTHORIZED);
        assert_eq!(attempt(base.clone(), "198.51.100.1", "u3").await, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            attempt(base.clone(), "198.51.100.2", "u4").await,
            expect_second_client,
            "another client behind the proxy (trusted: {trusted})"
        );
    }
}
