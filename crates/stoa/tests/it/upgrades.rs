//! Upgrades that lose nothing: every data folder under `tests/fixtures/` (each made by a released build with
//! `scripts/make-fixture.py`, and described by its `FIXTURE.json`) opens with this build, and everything in
//! it is there: people and their passwords, follows, the event, the access token, the report, the replay's
//! exact bytes, and from 0.2.0 the club and a conversation with its reported message. A database newer than
//! this build is refused at start, naming both versions, and left as it was.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use stoa_client::Api;
use stoa_server::ServerConfig;

pub(crate) fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/fixtures is there")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("FIXTURE.json").is_file())
        .collect();
    found.sort();
    found
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub(crate) fn config(data: PathBuf) -> ServerConfig {
    ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        media_tcp: None,
        data,
        ..ServerConfig::default()
    }
}

async fn get(base: &str, token: &str, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_fixture_opens_with_everything_in_it() {
    let fixtures = fixtures();
    assert!(!fixtures.is_empty(), "no fixture under tests/fixtures");
    for fixture in fixtures {
        let expect: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("FIXTURE.json")).unwrap()).unwrap();
        let name = fixture.file_name().unwrap().to_string_lossy().to_string();
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&fixture.join("data"), dir.path());
        let running = stoa_server::start(config(dir.path().to_path_buf())).await.unwrap_or_else(|e| {
            panic!("the {name} fixture does not open: {e:#}");
        });
        check(&name, &format!("http://{}", running.addr), &expect).await;
        drop(running);
    }
}

/// Everything `expect` (a fixture's `FIXTURE.json`) names is there on the server at `base`, and it takes
/// writes.
pub(crate) async fn check(name: &str, base: &str, expect: &Value) {
    let base = base.to_string();
    let login = |who: &str| {
        let base = base.clone();
        let who = who.to_string();
        async move { Api::login(&base, &who, &format!("{who}-password")).await.unwrap() }
    };
    let (operator, ann, bob, cat) =
        (login("operator").await, login("ann").await, login("bob").await, login("cat").await);
    assert_eq!(operator.get("/api/v1/me").await.unwrap()["is_admin"], true, "{name}: the admin is still one");
    for (who, api) in [("ann", &ann), ("bob", &bob), ("cat", &cat)] {
        let me = api.get("/api/v1/me").await.unwrap();
        assert_eq!(me["id"], expect["people"][who]["id"], "{name}: {who} is the same person");
    }
    // Follows, both ways.
    for pair in expect["follows"].as_array().unwrap() {
        let (a, b) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        let api = [("ann", &ann), ("bob", &bob), ("cat", &cat)].into_iter().find(|(w, _)| *w == a).unwrap().1;
        let profile = api.get(&format!("/api/v1/users/{b}")).await.unwrap();
        assert_eq!(profile["you_follow"], true, "{name}: {a} still follows {b}");
    }
    // The event, as scheduled.
    let event = cat.get(&format!("/api/v1/events/{}", expect["event"]["id"].as_str().unwrap())).await.unwrap();
    assert_eq!(
        (&event["title"], &event["starts_at"]),
        (&expect["event"]["title"], &expect["event"]["starts_at"]),
        "{name}"
    );
    // The access token still signs Bob in, with its scopes; one letter off, it does not.
    let token = expect["token"]["token"].as_str().unwrap();
    let (status, me) = get(&base, token, "/api/v1/me").await;
    assert_eq!((status, me["username"].as_str()), (200, Some("bob")), "{name}: the token works");
    let mut forged = token.to_string();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    assert_eq!(get(&base, &forged, "/api/v1/me").await.0, 401, "{name}");
    // The report, for the admins.
    let report = operator.get(&format!("/api/v1/admin/reports/{}", expect["report"]["id"])).await.unwrap();
    assert_eq!(report["report"]["target"]["username"], "bob", "{name}: {report}");
    // The replay, byte for byte.
    let replay = expect["replay"]["id"].as_str().unwrap();
    let resp = reqwest::Client::new()
        .get(format!("{base}/api/v1/recordings/{replay}/audio"))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{name}: the replay is served");
    let audio = resp.bytes().await.unwrap();
    assert_eq!(audio.len() as u64, expect["replay"]["bytes"].as_u64().unwrap(), "{name}");
    assert_eq!(hex(&Sha256::digest(&audio)), expect["replay"]["sha256"].as_str().unwrap(), "{name}");
    // From 0.2.0: the club, and the conversation with its reported message.
    if let Some(club) = expect.get("club") {
        let page = cat.get(&format!("/api/v1/clubs/{}", club["handle"].as_str().unwrap())).await.unwrap();
        assert_eq!(page["members"], 2, "{name}: {page}");
        let thread = expect["thread"]["id"].as_i64().unwrap();
        let messages = bob.get(&format!("/api/v1/threads/{thread}/messages")).await.unwrap();
        let texts: Vec<&Value> = messages["messages"].as_array().unwrap().iter().map(|m| &m["text"]).collect();
        let want: Vec<&Value> = expect["thread"]["texts"].as_array().unwrap().iter().collect();
        assert_eq!(texts, want, "{name}");
        let flagged = operator.get(&format!("/api/v1/admin/reports/{}", expect["thread"]["report"])).await.unwrap();
        assert_eq!(flagged["report"]["target"]["username"], "bob", "{name}: {flagged}");
    }
    // And the upgraded folder takes writes: a new room, a new follow.
    cat.post("/api/v1/users/bob/follow", json!({})).await.unwrap();
    cat.post("/api/v1/rooms", json!({"title": "After the upgrade", "visibility": "open"})).await.unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
