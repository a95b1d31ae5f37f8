//! Cross-site requests against the real server: a form another site posts with the victim's cookie, a
//! WebSocket another site opens with it, and the bypasses of the login limiter. Each is refused and changes
//! nothing; the same requests from the server's own pages, or with a token, go through.

use crate::common;

use common::{TestServer, post, test_config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A request as a browser sends it: the session cookie, and the `Origin` of the page that made it.
async fn browser(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    origin: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", server.base))
        .header("cookie", format!("stoa_session={token}"))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_cross_site_form_is_refused_and_changes_nothing() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let evil = Some("https://evil.example");
    let ours = server.base.clone();
    // Bodyless POSTs and DELETEs: an invite, a follow, a block, a logout.
    for (method, path) in [
        (reqwest::Method::POST, "/api/v1/invites".to_string()),
        (reqwest::Method::POST, format!("/api/v1/users/{}/follow", bob.username)),
        (reqwest::Method::POST, format!("/api/v1/users/{}/block", bob.username)),
        (reqwest::Method::POST, "/api/v1/auth/logout".to_string()),
    ] {
        let (s, b) = browser(&server, method.clone(), &path, &alice.token, evil).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} from another site: {b}");
        assert_eq!(b["error"]["code"], "cross_origin");
        let (s, _) = browser(&server, method.clone(), &path, &alice.token, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} with the cookie and no Origin");
    }
    // Nothing changed: no invite, no follow, no block, and the session still works.
    let (_, invites) = alice.get("/api/v1/invites").await;
    assert_eq!(invites["invites"].as_array().unwrap().len(), 0, "{invites}");
    let (_, following) = alice.get(&format!("/api/v1/users/{}/following", alice.username)).await;
    assert_eq!(following["users"].as_array().map_or(0, |a| a.len()), 0, "{following}");
    assert_eq!(alice.get("/api/v1/me").await.0, StatusCode::OK, "the forged logout did not sign alice out");

    // The same requests from the server's own page go through, and so do token-authenticated ones.
    let (s, b) = browser(&server, reqwest::Method::POST, "/api/v1/invites", &alice.token, Some(&ours)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = alice.post_empty(&format!("/api/v1/users/{}/follow", bob.username)).await;
    assert!(s.is_success(), "a bearer token needs no Origin: {s} {b}");
    // An origin that differs only by scheme or port is another site.
    let port = ours.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    for near in [ours.replace("http://", "https://"), format!("http://127.0.0.1:{}", port.wrapping_add(1))] {
        let (s, _) = browser(&server, reqwest::Method::POST, "/api/v1/invites", &alice.token, Some(&near)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{near}");
    }
    // A forged login: another site posts credentials so the victim's browser signs in as the attacker.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", server.base))
        .header("origin", "https://evil.example")
        .json(&json!({"username": "bob", "password": "bob-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("set-cookie").is_none());
}

/// Opens a room's WebSocket the way a browser page does: with the cookie, and `origin` if given.
async fn cookie_socket(server: &TestServer, room: &str, token: &str, origin: Option<&str>) -> Result<(), StatusCode> {
    let url = format!("{}/api/v1/rooms/{room}/ws", server.base.replacen("http", "ws", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("cookie", format!("stoa_session={token}").parse().unwrap());
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => Ok(()),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status()),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn a_cross_site_websocket_and_one_with_no_origin_are_refused() {
    let server = TestServer::start().await;
    let host = server.user("host").await;
    let alice = server.user("alice").await;
    let (room, _ws) = server.room(&host, "open", &[]).await;
    // The Host header is ours in every case: the check must not compare Origin with it.
    assert_eq!(
        cookie_socket(&server, &room, &alice.token, Some("https://evil.example")).await,
        Err(StatusCode::FORBIDDEN)
    );
    assert_eq!(cookie_socket(&server, &room, &alice.token, None).await, Err(StatusCode::FORBIDDEN));
    let (_, audience) = host.get(&format!("/api/v1/rooms/{room}/audience")).await;
    assert_eq!(audience["total"], 0, "the refused sockets joined nobody: {audience}");
    assert_eq!(cookie_socket(&server, &room, &alice.token, Some(&server.base)).await, Ok(()));
    // A client with a token and no Origin (a bot, the CLI) is not a browser, and is let in.
    alice.join(&room).await.expect("a bearer-token socket");
}

#[tokio::test]
async fn spaced_cased_and_overlong_usernames_share_one_account_delay() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        stoa_server::ServerConfig { auth_attempts_per_user: 3, auth_attempts_per_ip: 100, ..test_config(dir.path()) };
    let server = TestServer::start_with(dir, config).await;
    server.user("alice").await;
    let login =
        |u: &str| post(&server.base, None, "/api/v1/auth/login", json!({"username": u, "password": "wrong password"}));
    for spelled in ["alice", " alice", "ALICE\t"] {
        assert_eq!(login(spelled).await.0, StatusCode::UNAUTHORIZED, "{spelled:?}");
    }
    // However it is spelled, the account now waits: a second, then two.
    for (spelled, seconds) in [("\talice ", 1), ("Alice", 2)] {
        let started = std::time::Instant::now();
        assert_eq!(login(spelled).await.0, StatusCode::UNAUTHORIZED);
        assert!(started.elapsed() >= std::time::Duration::from_secs(seconds), "{spelled:?} is the same account");
    }
    // A 60 KB username (refused as a username, but counted) neither grows the server's memory per attempt
    // nor answers anything but a wrong password.
    let long = "a".repeat(60_000);
    for _ in 0..3 {
        assert_eq!(login(&long).await.0, StatusCode::UNAUTHORIZED);
    }
    // And the right password, however spelled, gets in after the delay.
    let (s, _) =
        post(&server.base, None, "/api/v1/auth/login", json!({"username": " Alice ", "password": "alice-password"}))
            .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn cross_site_writes_to_events_notifications_and_profiles_are_refused() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let t = (time::OffsetDateTime::now_utc() + time::Duration::days(1)).replace_nanosecond(0).unwrap();
    let starts = t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (_, ev) =
        bob.post("/api/v1/events", json!({"title": "Bob's talk", "starts_at": starts, "visibility": "open"})).await;
    let id = ev["id"].as_str().unwrap().to_string();
    let (_, mine) =
        alice.post("/api/v1/events", json!({"title": "Alice's talk", "starts_at": starts, "visibility": "open"})).await;
    let mine = mine["id"].as_str().unwrap().to_string();
    let evil = Some("https://evil.example");
    for (method, path) in [
        (reqwest::Method::POST, format!("/api/v1/events/{id}/rsvp")),
        (reqwest::Method::POST, format!("/api/v1/events/{mine}/start")),
        (reqwest::Method::DELETE, format!("/api/v1/events/{mine}")),
        (reqwest::Method::POST, "/api/v1/me/calendar".to_string()),
        (reqwest::Method::POST, "/api/v1/notifications/read".to_string()),
        (reqwest::Method::PUT, "/api/v1/me/avatar".to_string()),
        (reqwest::Method::POST, "/api/v1/push/subscriptions".to_string()),
    ] {
        let (s, b) = browser(&server, method.clone(), &path, &alice.token, evil).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} from another site: {b}");
        assert_eq!(b["error"]["code"], "cross_origin");
    }
    let (_, ev) = alice.get(&format!("/api/v1/events/{id}")).await;
    assert_eq!(ev["you_rsvped"], false, "no RSVP was made");
    let (_, mine) = alice.get(&format!("/api/v1/events/{mine}")).await;
    assert_eq!(mine["state"], "scheduled", "neither started nor cancelled");
}

/// The community's writes: another site cannot delete the victim's account, change their password, sign
/// their sessions out, make or revoke their access tokens, file reports in their name, or use an admin's
/// cookie to suspend someone, end a room or change the settings.
#[tokio::test]
async fn cross_site_writes_to_the_account_reports_and_the_admin_console_are_refused() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let bob = server.user("bob").await;
    let (room, _ws) = server.room(&admin, "open", &[]).await;
    let (_, sessions) = admin.get("/api/v1/account/sessions").await;
    let session = sessions["sessions"][0]["id"].as_str().unwrap().to_string();
    let evil = Some("https://evil.example");
    for (method, path) in [
        (reqwest::Method::POST, "/api/v1/account/delete".to_string()),
        (reqwest::Method::POST, "/api/v1/account/password".to_string()),
        (reqwest::Method::DELETE, format!("/api/v1/account/sessions/{session}")),
        (reqwest::Method::POST, format!("/api/v1/rooms/{room}/reports")),
        (reqwest::Method::POST, "/api/v1/admin/users/bob/suspend".to_string()),
        (reqwest::Method::POST, format!("/api/v1/admin/rooms/{room}/end")),
        (reqwest::Method::PUT, "/api/v1/admin/settings".to_string()),
        (reqwest::Method::POST, "/api/v1/admin/reports/1/resolve".to_string()),
        (reqwest::Method::POST, "/api/v1/tokens".to_string()),
        (reqwest::Method::DELETE, "/api/v1/tokens/1".to_string()),
    ] {
        let (s, b) = browser(&server, method.clone(), &path, &admin.token, evil).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} from another site: {b}");
        assert_eq!(b["error"]["code"], "cross_origin");
    }
    let (s, _) = admin.get("/api/v1/me").await;
    assert_eq!(s, StatusCode::OK, "the account and the session are intact");
    let (_, user) = admin.get("/api/v1/admin/users/bob").await;
    assert_eq!(user["suspended"], Value::Null, "bob was not suspended");
    let (s, _) = bob.get("/api/v1/me").await;
    assert_eq!(s, StatusCode::OK);
    let (_, rooms) = admin.get("/api/v1/admin/rooms").await;
    assert_eq!(rooms["rooms"][0]["id"], room.as_str(), "the room is live");
    let (_, settings) = admin.get("/api/v1/admin/settings").await;
    assert_eq!(settings["room_capacity"], 5000);
    let (_, tokens) = admin.get("/api/v1/tokens").await;
    assert_eq!(tokens["tokens"], json!([]), "no token was made");
}
