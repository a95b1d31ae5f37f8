//! Share links: an open room's or event's preview and Open Graph tags for anyone, signed in or not; hidden
//! ones are a 404 with no tags, exactly like an ID that never existed.

use crate::common;

use reqwest::StatusCode;
use serde_json::json;

async fn page(base: &str, path: &str) -> String {
    let resp = reqwest::Client::new().get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "the app's page for {path}");
    resp.text().await.unwrap()
}

#[tokio::test]
async fn open_rooms_and_events_preview_and_unfold_for_anyone_and_hidden_ones_do_not_exist() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let (s, room) = host.post("/api/v1/rooms", json!({"title": "Tea & \"talk\" <live>", "visibility": "open"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let open = room["id"].as_str().unwrap().to_string();
    let mut _ws = host.join(&open).await.unwrap();
    let (_, social) = host.post("/api/v1/rooms", json!({"title": "Friends only", "visibility": "social"})).await;
    let social = social["id"].as_str().unwrap().to_string();

    // Signed out: the open room's preview and tags.
    let (s, preview) =
        common::request(&server.base, None, reqwest::Method::GET, &format!("/api/v1/rooms/{open}/preview"), None).await;
    assert_eq!(s, StatusCode::OK, "{preview}");
    assert_eq!(preview["title"], "Tea & \"talk\" <live>");
    assert_eq!(preview["people"][0]["username"], "host");
    assert!(preview["url"].as_str().unwrap().ends_with(&format!("/room/{open}")));
    let html = page(&server.base, &format!("/room/{open}")).await;
    assert!(
        html.contains("<meta property=\"og:title\" content=\"Tea &amp; &quot;talk&quot; &lt;live&gt;\" />"),
        "{html}"
    );
    assert!(html.contains("name=\"twitter:card\""));
    assert!(html.contains("Live on Stoa with Host"));

    // Hidden or unknown: the same 404, and a page without tags.
    let (s1, b1) =
        common::request(&server.base, None, reqwest::Method::GET, &format!("/api/v1/rooms/{social}/preview"), None)
            .await;
    let (s2, b2) =
        common::request(&server.base, None, reqwest::Method::GET, "/api/v1/rooms/abcdefghijkl/preview", None).await;
    assert_eq!((s1, &b1), (StatusCode::NOT_FOUND, &b2));
    assert_eq!(s2, StatusCode::NOT_FOUND);
    for path in [format!("/room/{social}"), "/room/abcdefghijkl".into(), "/room/../etc".into()] {
        assert!(!page(&server.base, &path).await.contains("og:title"), "{path}");
    }

    // Events: open ones preview and unfold; closed and cancelled ones do not.
    let t = (time::OffsetDateTime::now_utc() + time::Duration::days(2)).replace_nanosecond(0).unwrap();
    let starts = t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let mut ids = Vec::new();
    for visibility in ["open", "closed", "open"] {
        let (_, ev) = host.post("/api/v1/events", json!({"title": "Friday talk", "description": "On tea.", "starts_at": starts, "visibility": visibility})).await;
        ids.push(ev["id"].as_str().unwrap().to_string());
    }
    host.delete(&format!("/api/v1/events/{}", ids[2])).await;
    let (s, p) =
        common::request(&server.base, None, reqwest::Method::GET, &format!("/api/v1/events/{}/preview", ids[0]), None)
            .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (p["title"].as_str(), p["description"].as_str(), p["starts_at"].as_str()),
        (Some("Friday talk"), Some("On tea."), Some(starts.as_str()))
    );
    assert!(page(&server.base, &format!("/event/{}", ids[0])).await.contains("og:title\" content=\"Friday talk\""));
    for id in &ids[1..] {
        let (s, b) =
            common::request(&server.base, None, reqwest::Method::GET, &format!("/api/v1/events/{id}/preview"), None)
                .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
        assert!(!page(&server.base, &format!("/event/{id}")).await.contains("og:title"));
    }
}

#[tokio::test]
async fn the_pages_policy_lets_it_connect_to_this_server_and_no_other_host() {
    let server = common::TestServer::start().await;
    let resp = reqwest::get(format!("{}/", server.base)).await.unwrap();
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
    let connect = csp.split(';').find(|d| d.trim().starts_with("connect-src")).unwrap().trim().to_string();
    let ws = server.base.replacen("http://", "ws://", 1);
    assert_eq!(connect, format!("connect-src 'self' {ws}"), "{csp}");
}
