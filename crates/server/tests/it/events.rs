//! Scheduled events: schedule, co-hosts, RSVP, start, edit and cancel, who may see them, and their
//! calendars read back with an independent iCalendar parser.

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};

/// RFC 3339 for `secs` from now.
pub(crate) fn in_secs(secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    t.replace_nanosecond(0).unwrap().format(&time::format_description::well_known::Rfc3339).unwrap()
}

async fn schedule(host: &common::Client, body: Value) -> Value {
    let (s, b) = host.post("/api/v1/events", body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b
}

/// Reads an iCalendar text with Python's `icalendar` (tests/ical/read.py).
pub(crate) fn read_ical(text: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cal.ics");
    std::fs::write(&file, text).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new(root.join("tests/aiortc/.venv/bin/python"))
        .arg(root.join("tests/ical/read.py"))
        .arg(&file)
        .output()
        .expect("the test's Python is installed by scripts/test");
    assert!(out.status.success(), "icalendar cannot read it: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) async fn get_text(url: &str, token: Option<&str>) -> (StatusCode, String, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

#[tokio::test]
async fn an_event_is_scheduled_rsvped_and_started_and_everyone_who_rsvped_is_told() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let cohost = server.user("cohost").await;
    let fan = server.user("fan").await;
    let ev = schedule(
        &host,
        json!({"title": "Friday talk", "description": "About rooms,\nand; more", "starts_at": in_secs(86400),
               "visibility": "open", "cohosts": ["CoHost"]}),
    )
    .await;
    let id = ev["id"].as_str().unwrap().to_string();
    assert_eq!(ev["state"], "scheduled");
    assert_eq!(ev["you_host"], true);
    assert_eq!(ev["rsvp_count"], 0);
    assert!(ev["url"].as_str().unwrap().ends_with(&format!("/event/{id}")));
    // The co-host is asked, and others do not see an unanswered co-host.
    let asked = cohost.wait_for_notification("cohost_invite", |n| n["event_id"] == id).await;
    assert_eq!(asked["link"], format!("/event/{id}"));
    assert_eq!(asked["text"], "Host asks you to co-host Friday talk");
    let (_, seen) = fan.get(&format!("/api/v1/events/{id}")).await;
    assert_eq!(seen["hosts"].as_array().unwrap().len(), 1, "{seen}");
    let (s, b) = cohost.post_empty(&format!("/api/v1/events/{id}/cohost")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["you_host"], true);
    let (_, seen) = fan.get(&format!("/api/v1/events/{id}")).await;
    assert_eq!(seen["hosts"][1]["user"]["username"], "cohost");
    assert_eq!(seen["rsvp_count"], Value::Null, "only hosts see the count");

    // RSVP, and the hosts see who.
    let (s, b) = fan.post_empty(&format!("/api/v1/events/{id}/rsvp")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["you_rsvped"], true);
    let (s, page) = host.get(&format!("/api/v1/events/{id}/rsvps?limit=1")).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1);
    assert_eq!(page["users"][0]["username"], "fan");
    let (s, b) = fan.get(&format!("/api/v1/events/{id}/rsvps")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (_, upcoming) = fan.get("/api/v1/events").await;
    assert_eq!(upcoming["events"][0]["id"], id.as_str());

    // The co-host starts it; the creator, a host too, comes in as a moderator.
    let (s, room) = cohost.post_empty(&format!("/api/v1/events/{id}/start")).await;
    assert_eq!(s, StatusCode::CREATED, "{room}");
    let room_id = room["id"].as_str().unwrap().to_string();
    assert_eq!(room["title"], "Friday talk");
    let told = fan.wait_for_notification("event_started", |n| n["event_id"] == id).await;
    assert_eq!(told["room_id"], room_id.as_str());
    assert_eq!(told["link"], format!("/room/{room_id}"));
    let (_, live) = fan.get(&format!("/api/v1/events/{id}")).await;
    assert_eq!(live["state"], "live");
    assert_eq!(live["room_id"], room_id.as_str());
    let mut ws = host.join(&room_id).await.unwrap();
    assert_eq!(ws.expect("joined").await["role"], "listener");
    assert_eq!(ws.expect("role_changed").await["role"], "moderator");
    // Starting twice is refused.
    let (s, b) = host.post_empty(&format!("/api/v1/events/{id}/start")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
}

#[tokio::test]
async fn bad_events_are_refused_with_a_clear_error_and_change_nothing() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let blocker = server.user("blocker").await;
    blocker.block(&host).await;
    let base = json!({"title": "T", "starts_at": in_secs(3600), "visibility": "open"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, code) in [
        (with("starts_at", json!(in_secs(-60))), "start_in_past"),
        (with("starts_at", json!(in_secs(61 * 86400))), "start_too_far"),
        (with("starts_at", json!("tomorrow at six")), "invalid_start"),
        (with("title", json!("  ")), "invalid_title"),
        (with("description", json!("x".repeat(1001))), "invalid_description"),
        (with("cohosts", json!(["blocker"])), "cohost_blocked"),
        (with("cohosts", json!(["nobody_here"])), "unknown_user"),
        (with("cohosts", json!((0..11).map(|i| format!("u{i}")).collect::<Vec<_>>())), "too_many_cohosts"),
    ] {
        let (s, b) = host.post("/api/v1/events", body).await;
        assert!(s.is_client_error(), "{b}");
        assert_eq!(b["error"]["code"], code, "{b}");
    }
    let (_, upcoming) = host.get("/api/v1/events").await;
    assert_eq!(upcoming["events"], json!([]), "nothing was created");
    // A description of exactly 1,000 characters, 60 days ahead, is fine.
    let ok = with("description", json!("y".repeat(1000)));
    let mut ok = ok;
    ok["starts_at"] = json!(in_secs(60 * 86400 - 60));
    schedule(&host, ok).await;
}

#[tokio::test]
async fn hidden_events_never_leak() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let guest = server.user("guest").await;
    let outsider = server.user("outsider").await;
    let friend = server.user("friend").await;
    host.follow(&friend).await;
    let closed = schedule(
        &host,
        json!({"title": "Secret planning", "starts_at": in_secs(7200), "visibility": "closed", "invited": ["guest"]}),
    )
    .await;
    let closed = closed["id"].as_str().unwrap().to_string();
    let social =
        schedule(&host, json!({"title": "Friends only", "starts_at": in_secs(7200), "visibility": "social"})).await;
    let social = social["id"].as_str().unwrap().to_string();

    let never = "abcdefghijkl";
    for id in [closed.as_str(), never, "short", "../../etc"] {
        let (s, b) = outsider.get(&format!("/api/v1/events/{id}")).await;
        assert_eq!((s, &b["error"]["code"]), (StatusCode::NOT_FOUND, &json!("not_found")), "{id}: {b}");
        let (s2, b2) = outsider.post_empty(&format!("/api/v1/events/{id}/rsvp")).await;
        assert_eq!(s2, StatusCode::NOT_FOUND);
        assert_eq!(b2, b, "an RSVP to a hidden event answers as to one that never existed");
    }
    let (s, _) = outsider.get(&format!("/api/v1/events/{social}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "social: only people the host follows");
    let (s, _) = friend.get(&format!("/api/v1/events/{social}")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = guest.get(&format!("/api/v1/events/{closed}")).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = outsider.get("/api/v1/events").await;
    assert_eq!(list["events"], json!([]));
    let (_, found) = outsider.get("/api/v1/search?q=secret").await;
    assert_eq!(found["events"], json!([]));
    let (_, found) = guest.get("/api/v1/search?q=secret").await;
    assert_eq!(found["events"][0]["id"], closed.as_str());
    let (_, hosted) = outsider.get("/api/v1/users/host/events").await;
    assert_eq!(hosted["events"], json!([]));
    let (_, hosted) = friend.get("/api/v1/users/host/events").await;
    assert_eq!(hosted["events"].as_array().unwrap().len(), 1);

    // The guest RSVPs; once the host blocks them, the event is gone for them everywhere, their feed included.
    let (s, _) = guest.post_empty(&format!("/api/v1/events/{closed}/rsvp")).await;
    assert_eq!(s, StatusCode::OK);
    let (_, feed) = guest.post_empty("/api/v1/me/calendar").await;
    let url = feed["url"].as_str().unwrap().to_string();
    let (_, _, text) = get_text(&url, None).await;
    assert_eq!(read_ical(&text)["events"].as_array().unwrap().len(), 1);
    host.block(&guest).await;
    let (_, _, text) = get_text(&url, None).await;
    assert_eq!(read_ical(&text)["events"], json!([]));
    let (s, _) = guest.get(&format!("/api/v1/events/{closed}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn calendars_are_valid_icalendar_and_follow_edits_and_cancellations() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let fan = server.user("fan").await;
    let starts = in_secs(2 * 86400);
    let ev = schedule(
        &host,
        json!({"title": "Late show, with guests; live", "description": "Line one\nLine two, with a comma and a very long tail that goes on well past the seventy-five octets a line may hold — ünïcödé too",
               "starts_at": starts, "visibility": "open"}),
    )
    .await;
    let id = ev["id"].as_str().unwrap().to_string();
    fan.post_empty(&format!("/api/v1/events/{id}/rsvp")).await;

    // One event's file.
    let (s, ct, text) = get_text(&format!("{}/api/v1/events/{id}/calendar.ics", server.base), Some(&fan.token)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/calendar"), "{ct}");
    assert!(text.lines().all(|l| l.len() <= 76), "lines fold at 75 octets");
    let cal = read_ical(&text);
    let event = &cal["events"][0];
    assert_eq!(event["summary"], "Late show, with guests; live");
    assert!(event["description"].as_str().unwrap().starts_with("Line one\nLine two, with a comma"), "{event}");
    assert!(event["description"].as_str().unwrap().contains("ünïcödé"));
    let start = time::OffsetDateTime::parse(&starts, &time::format_description::well_known::Rfc3339).unwrap();
    let parsed =
        time::OffsetDateTime::parse(event["start"].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
            .unwrap();
    assert_eq!(parsed, start, "the start, in UTC");
    assert_eq!(event["status"], "CONFIRMED");
    assert!(event["url"].as_str().unwrap().ends_with(&format!("/event/{id}")));

    // The personal feed, as a calendar app fetches it: no session, a secret address.
    let (s, feed) = fan.post_empty("/api/v1/me/calendar").await;
    assert_eq!(s, StatusCode::OK, "{feed}");
    let url = feed["url"].as_str().unwrap().to_string();
    assert!(feed["webcal_url"].as_str().unwrap().starts_with("webcal://"));
    let (s, _, text) = get_text(&url, None).await;
    assert_eq!(s, StatusCode::OK);
    let cal = read_ical(&text);
    assert_eq!(cal["calendar"]["X-WR-CALNAME"], "Stoa: Fan");
    assert_eq!(cal["events"][0]["sequence"], 0);

    // An edit reaches the feed with a higher SEQUENCE, and the fan is told.
    let (s, b) = host.patch(&format!("/api/v1/events/{id}"), json!({"title": "Later show"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let told = fan.wait_for_notification("event_changed", |n| n["event_id"] == id).await;
    assert_eq!(told["title"], "Later show");
    let cal = read_ical(&get_text(&url, None).await.2);
    assert_eq!(cal["events"][0]["summary"], "Later show");
    assert_eq!(cal["events"][0]["sequence"], 1);
    // Only hosts edit.
    let (s, _) = fan.patch(&format!("/api/v1/events/{id}"), json!({"title": "Mine now"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Cancelled: the feed says so, and the fan is told.
    let (s, b) = host.delete(&format!("/api/v1/events/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["state"], "cancelled");
    fan.wait_for_notification("event_cancelled", |n| n["event_id"] == id).await;
    let cal = read_ical(&get_text(&url, None).await.2);
    assert_eq!(cal["events"][0]["status"], "CANCELLED");
    let (s, _) = fan.post_empty(&format!("/api/v1/events/{id}/rsvp")).await;
    assert_eq!(s, StatusCode::CONFLICT, "no RSVP to a cancelled event");

    // A new address revokes the old; revoking ends both.
    let (_, again) = fan.post_empty("/api/v1/me/calendar").await;
    let (s, _, _) = get_text(&url, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the old address is revoked");
    let url2 = again["url"].as_str().unwrap().to_string();
    assert_eq!(get_text(&url2, None).await.0, StatusCode::OK);
    let (s, _) = fan.delete("/api/v1/me/calendar").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, ct, body) = get_text(&url2, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(ct.starts_with("application/json"), "{ct}: {body}");
}

#[tokio::test]
async fn an_event_nobody_started_within_two_hours_shows_as_missed_and_takes_no_rsvp() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let fan = server.user("fan").await;
    // Scheduled three hours ago (the API refuses a past start, so it goes into the store directly).
    let store = server.store().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    for (id, ago) in [("missedevent1", 3 * 3600), ("lateevent001", 3600)] {
        store
            .create_event(&stoa_store::NewEvent {
                id: stoa_proto::EventId(id.into()),
                title: format!("Event {id}"),
                description: String::new(),
                starts_at: now - ago,
                visibility: stoa_proto::Visibility::Open,
                creator: stoa_proto::UserId(host.id),
                cohosts: Vec::new(),
                invited: Vec::new(),
                club: None,
            })
            .await
            .unwrap();
    }
    let (_, ev) = fan.get("/api/v1/events/missedevent1").await;
    assert_eq!(ev["state"], "missed");
    let (s, b) = fan.post_empty("/api/v1/events/missedevent1/rsvp").await;
    assert_eq!((s, b["error"]["code"].as_str().unwrap()), (StatusCode::CONFLICT, "event_over"));
    let (s, _) = host.post_empty("/api/v1/events/missedevent1/start").await;
    assert_eq!(s, StatusCode::CONFLICT, "a missed event is not started hours late");
    // An hour late is still on: it is upcoming, and a host may start it.
    let (_, ev) = fan.get("/api/v1/events/lateevent001").await;
    assert_eq!(ev["state"], "scheduled");
    let (_, list) = fan.get("/api/v1/events").await;
    let ids: Vec<_> =
        list["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["lateevent001"], "the missed one is no longer upcoming");
    let (s, _) = host.post_empty("/api/v1/events/lateevent001/start").await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn scheduling_is_limited_to_ten_events_a_minute_whatever_their_visibility() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let starts = in_secs(3600);
    for i in 0..10 {
        let visibility = ["open", "social", "closed"][i % 3];
        schedule(&host, json!({"title": format!("Talk {i}"), "starts_at": starts, "visibility": visibility})).await;
    }
    for visibility in ["open", "closed"] {
        let (s, b) = host
            .post("/api/v1/events", json!({"title": "One more", "starts_at": starts, "visibility": visibility}))
            .await;
        assert_eq!((s, b["error"]["code"].as_str().unwrap()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    }
    // A refused request does not count against the budget of anyone else.
    let other = server.user("other").await;
    schedule(&other, json!({"title": "Mine", "starts_at": starts, "visibility": "open"})).await;
    let (_, list) = host.get("/api/v1/users/host/events").await;
    assert_eq!(list["events"].as_array().unwrap().len(), 10, "the refused ones were not created");
}
