//! `stoa admin backup` and `restore` through the binary: a backup made while a room is live, chat flows and
//! follows are written restores into a fresh folder that a server opens with its people and replay; an
//! offline one restores every row of every table; and a damaged archive, a newer one's refusal, and a
//! folder that is not empty are refused with nothing restored.

use crate::common::Bot;
use crate::upgrades::{config, copy_dir};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use stoa_client::Api;
use stoa_proto::ClientCommand;

const STOA: &str = env!("CARGO_BIN_EXE_stoa");

fn admin(args: &[&str]) -> std::process::Output {
    std::process::Command::new(STOA).arg("admin").args(args).output().expect("stoa runs")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every table's rows, in order, as text: two databases hold the same data if these are equal.
async fn tables(db: &Path) -> Vec<(String, Vec<String>)> {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(db).read_only(true).connect().await.unwrap();
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut out = Vec::new();
    for (name,) in names {
        // Each row as its quoted SQL literals, in rowid order (virtual FTS tables included).
        let cols: Vec<(String,)> = sqlx::query_as(&format!("SELECT name FROM pragma_table_info('{name}')"))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        if cols.is_empty() {
            continue;
        }
        let expr = cols.iter().map(|(c,)| format!("quote(\"{c}\")")).collect::<Vec<_>>().join(" || '|' || ");
        let rows: Vec<(String,)> =
            sqlx::query_as(&format!("SELECT {expr} FROM \"{name}\" ORDER BY 1")).fetch_all(&mut conn).await.unwrap();
        out.push((name, rows.into_iter().map(|(r,)| r).collect()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_made_during_a_live_room_restores_whole_and_a_damaged_one_is_refused() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/v0.2.0");
    let expect: Value = serde_json::from_str(&std::fs::read_to_string(fixture.join("FIXTURE.json")).unwrap()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let live = work.path().join("live");
    copy_dir(&fixture.join("data"), &live);
    let running = stoa_server::start(config(live.clone())).await.unwrap();
    let base = format!("http://{}", running.addr);
    let login = |who: &'static str| {
        let base = base.clone();
        async move { Api::login(&base, who, &format!("{who}-password")).await.unwrap() }
    };
    let (ann, bob, cat) = (login("ann").await, login("bob").await, login("cat").await);

    // A live room with chat flowing, and follows written back and forth, while the backup runs.
    let room =
        ann.post("/api/v1/rooms", json!({"title": "Live during the backup", "visibility": "open"})).await.unwrap();
    let room = room["id"].as_str().unwrap().to_string();
    let host = Bot::join(&ann, &room).await;
    let listener = Bot::join(&bob, &room).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(keep_writing(listener, cat.clone(), stop.clone(), writes.clone()));
    while writes.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let during = work.path().join("during.tar");
    let out = admin(&["backup", "--data", path(&live), "--out", path(&during)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = writes.load(Ordering::Relaxed);
    while writes.load(Ordering::Relaxed) < before + 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _listener = writer.await.unwrap();
    drop(host);

    // Restored, it opens: its people sign in, and the replay is the same bytes.
    let restored = work.path().join("restored");
    let out = admin(&["restore", path(&during), "--data", path(&restored)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = stoa_server::start(config(restored.clone())).await.unwrap();
    let base2 = format!("http://{}", again.addr);
    let ann2 = Api::login(&base2, "ann", "ann-password").await.unwrap();
    assert_eq!(ann2.get("/api/v1/me").await.unwrap()["id"], expect["people"]["ann"]["id"]);
    let replay = expect["replay"]["id"].as_str().unwrap();
    let audio = reqwest::Client::new()
        .get(format!("{base2}/api/v1/recordings/{replay}/audio"))
        .bearer_auth(&ann2.token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let sha: String = Sha256::digest(&audio).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sha, expect["replay"]["sha256"].as_str().unwrap(), "the replay, byte for byte");
    // And by ear: the fixture's speaker sent a 440 Hz tone.
    let file = work.path().join("replay.opus");
    std::fs::write(&file, &audio).unwrap();
    let heard = crate::common::frequency_of_file(&file);
    assert!((heard - 440.0).abs() < 5.0, "the restored replay plays {heard:.0} Hz, not 440");
    drop(again);

    // Stopped, backed up and restored: every row of every table is the same.
    drop(running);
    let offline = work.path().join("offline.tar");
    let out = admin(&["backup", "--data", path(&live), "--out", path(&offline)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let whole = work.path().join("whole");
    assert!(admin(&["restore", path(&offline), "--data", path(&whole)]).status.success());
    let (a, b) = (tables(&live.join("stoa.db")).await, tables(&whole.join("stoa.db")).await);
    assert_eq!(
        a.iter().map(|(n, r)| (n.clone(), r.len())).collect::<Vec<_>>(),
        b.iter().map(|(n, r)| (n.clone(), r.len())).collect::<Vec<_>>(),
        "row counts per table"
    );
    assert_eq!(a, b, "every row, field by field");
    assert!(a.iter().any(|(n, r)| n == "chat_messages" && !r.is_empty()), "the chat is in it");

    refusals(work.path(), &offline, &whole);
}

/// Chat in the room and a follow written and unwritten, over and over until `stop`; counts the writes.
async fn keep_writing(listener: Bot, cat: Api, stop: Arc<AtomicBool>, writes: Arc<AtomicU64>) -> Bot {
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        listener.command(ClientCommand::SendChat { text: format!("Chat line {i}") });
        let path = "/api/v1/users/bob/follow";
        let done = if i.is_multiple_of(2) {
            cat.post(path, json!({})).await.is_ok()
        } else {
            let url = format!("{}{path}", cat.base);
            reqwest::Client::new()
                .delete(url)
                .bearer_auth(&cat.token)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        };
        if done {
            writes.fetch_add(1, Ordering::Relaxed);
        }
        i += 1;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    listener
}

/// Refused, with nothing restored: a truncated archive, a flipped byte, a folder that is not empty (`whole`,
/// restored already), and a backup a newer Stoa made.
fn refusals(work: &Path, offline: &Path, whole: &Path) {
    // Refused, with nothing restored: a truncated archive, a flipped byte, a folder that is not empty.
    let bytes = std::fs::read(offline).unwrap();
    let truncated = work.join("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let mut flipped_bytes = bytes.clone();
    flipped_bytes[bytes.len() / 3] ^= 0x01;
    let flipped = work.join("flipped.tar");
    std::fs::write(&flipped, &flipped_bytes).unwrap();
    for bad in [&truncated, &flipped] {
        let target = work.join("refused");
        let out = admin(&["restore", path(bad), "--data", path(&target)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("damaged"), "{}: {err}", bad.display());
        assert!(!target.exists() || std::fs::read_dir(&target).unwrap().next().is_none(), "nothing restored");
    }
    let out = admin(&["restore", path(offline), "--data", path(whole)]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not empty"));

    // A backup a newer Stoa made (its manifest says so; every file intact) is refused, naming both.
    let newer = work.join("newer.tar");
    {
        let mut from = tar::Archive::new(std::fs::File::open(offline).unwrap());
        let mut to = tar::Builder::new(std::fs::File::create(&newer).unwrap());
        for entry in from.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().to_string();
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut body).unwrap();
            if name == "MANIFEST.json" {
                let mut manifest: Value = serde_json::from_slice(&body).unwrap();
                manifest["stoa_version"] = "99.0.0".into();
                body = serde_json::to_vec(&manifest).unwrap();
            }
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o600);
            header.set_cksum();
            to.append_data(&mut header, &name, body.as_slice()).unwrap();
        }
        to.finish().unwrap();
    }
    let target = work.join("from-the-future");
    let out = admin(&["restore", path(&newer), "--data", path(&target)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("99.0.0") && err.contains(env!("CARGO_PKG_VERSION")), "{err}");
    assert!(!target.exists() || std::fs::read_dir(&target).unwrap().next().is_none(), "nothing restored");
}
