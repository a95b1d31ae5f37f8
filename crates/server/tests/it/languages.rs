//! What the server writes in a person's language (issue 33 §3): the language set on the account (the web
//! client sets it to the one it shows), a shared link's Open Graph tags in the asker's `Accept-Language`,
//! and the calendar feed in its owner's language. Web push in the recipient's language is checked with the
//! push test (notifications.rs), decrypted.

use crate::common;
use crate::events::{get_text, read_ical};

use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_account_keeps_its_language_and_refuses_one_stoa_does_not_speak() {
    let server = common::TestServer::start().await;
    let ada = server.user("ada").await;
    let (_, me) = ada.get("/api/v1/me").await;
    assert_eq!(me["language"], "en", "English until the client says otherwise");
    for bad in ["de", "RU", "ru-RU", "", "ar;"] {
        let (s, b) = ada.patch("/api/v1/me", json!({ "language": bad })).await;
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_language")), "{bad:?}");
    }
    let (_, me) = ada.get("/api/v1/me").await;
    assert_eq!(me["language"], "en", "a refused language changes nothing");
    let (s, me) = ada.patch("/api/v1/me", json!({ "language": "ar" })).await;
    assert_eq!((s, me["language"].as_str()), (StatusCode::OK, Some("ar")));
    // Other fields are left as they were, and a change of name keeps the language.
    let (_, me) = ada.patch("/api/v1/me", json!({ "display_name": "Ada L." })).await;
    assert_eq!((me["display_name"].as_str(), me["language"].as_str()), (Some("Ada L."), Some("ar")));
}

#[tokio::test]
async fn a_shared_link_unfolds_in_the_askers_language() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let (_, room) = host.post("/api/v1/rooms", json!({"title": "Чай", "visibility": "open"})).await;
    let id = room["id"].as_str().unwrap().to_string();
    let _ws = host.join(&id).await.unwrap();
    let page = |accept: &'static str| {
        let url = format!("{}/room/{id}", server.base);
        async move {
            let resp = reqwest::Client::new().get(url).header("accept-language", accept).send().await.unwrap();
            resp.text().await.unwrap()
        }
    };
    // The host is on stage and nobody listens: each language's form for 0 (Arabic has its own).
    let html = page("ru-RU,ru;q=0.9,en;q=0.8").await;
    assert!(html.contains("content=\"ru_RU\""), "{html}");
    assert!(html.contains("В эфире Stoa: Host · 0 слушателей"), "{html}");
    let html = page("de;q=0.9, ar-EG;q=0.8").await;
    assert!(html.contains("content=\"ar_AR\""), "{html}");
    assert!(html.contains("مباشر على Stoa مع Host · لا مستمعين"), "{html}");
    let html = page("fr-FR, de").await;
    assert!(html.contains("content=\"en_US\"") && html.contains("Live on Stoa with Host · 0 listening"), "{html}");
}

#[tokio::test]
async fn a_calendar_feed_is_written_in_its_owners_language() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let (s, _) = host.patch("/api/v1/me", json!({ "language": "ru" })).await;
    assert_eq!(s, StatusCode::OK);
    let t = (time::OffsetDateTime::now_utc() + time::Duration::days(2)).replace_nanosecond(0).unwrap();
    let starts = t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (s, ev) = host
        .post(
            "/api/v1/events",
            json!({"title": "Пятница", "description": "", "starts_at": starts, "visibility": "open"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ev}");
    let (_, feed) = host.post_empty("/api/v1/me/calendar").await;
    // A calendar app fetches the feed without a session or a language of its own.
    let (_, _, text) = get_text(feed["url"].as_str().unwrap(), None).await;
    let cal = read_ical(&text);
    let url = format!("{}/event/{}", server.base, ev["id"].as_str().unwrap());
    assert_eq!(cal["events"][0]["description"], format!("Ведущие в Stoa: Host. {url}"), "{text}");
    assert_eq!(cal["calendar"]["X-WR-CALNAME"], "Stoa: Host");
}
