//! A real browser as a speaker: headless Debian Chromium, driven by playwright-core, publishes a 440 Hz WAV
//! through a minimal page (tests/browser/publish.mjs), and a bot listener hears 440 Hz.
//!
//! Needs /usr/bin/chromium and tests/browser/node_modules; scripts/test installs both.

use crate::common;

use common::{Bot, eventually, world};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Starts tests/browser/publish.mjs: Chromium signs in as `username` and joins `room` in `mode` (`slots` or
/// `plain`) with `wav` as its microphone, for `seconds`. Its stdout gives one JSON line once connected, and
/// one with packet counts before it exits.
fn publisher(
    base: &str,
    room: &str,
    username: &str,
    mode: &str,
    wav: &std::path::Path,
    seconds: u32,
) -> (tokio::process::Child, tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) {
    let mut node = tokio::process::Command::new("node")
        .arg("publish.mjs")
        .current_dir(browser_dir())
        .env("BASE", base)
        .env("ROOM", room)
        .env("USERNAME", username)
        .env("PASSWORD", format!("{username}-password"))
        .env("WAV", wav)
        .env("SECONDS", seconds.to_string())
        .env("MODE", mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let lines = BufReader::new(node.stdout.take().unwrap()).lines();
    (node, lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_publishes_440_hz_and_a_bot_listener_hears_it() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed: run scripts/test, which installs it"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "playwright-core is needed: run scripts/test, which installs it"
    );
    let w = world().await;
    let host = w.user("host").await;
    let room = w.room(&host).await;
    let ear = Bot::join(&w.user("ear").await, &room).await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tone.wav");
    common::write_tone(&wav, 440.0, 10.0);

    let (mut node, mut lines) = publisher(&w.base, &room, "host", "slots", &wav, 5);
    let first =
        tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.expect("chromium connects in time");
    let result: serde_json::Value = serde_json::from_str(&first.unwrap().expect("a result line")).unwrap();
    assert_eq!(result["connection"], "connected", "{result}");
    assert_eq!(result["role"], "moderator", "the room's host is on stage");

    let host_id = host.get("/api/v1/me").await.unwrap()["id"].as_u64().unwrap() as u32;
    eventually("the bot hears three seconds of Chromium", || ear.heard_from(host_id) >= 150).await;
    let counts =
        tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.unwrap().unwrap().expect("counts");
    let counts: serde_json::Value = serde_json::from_str(&counts).unwrap();
    assert!(counts["sent"].as_u64().unwrap() > 100, "{counts}");
    let status = tokio::time::timeout(Duration::from_secs(60), node.wait()).await.unwrap().unwrap();
    assert!(status.success(), "the browser script failed");

    let heard = ear.heard();
    let pcm = common::decode_heard(&heard, host_id);
    let hz = common::frequency(&pcm);
    assert!((hz - 440.0).abs() <= 5.0, "440 Hz in Chromium's microphone, {hz:.1} Hz heard");
}

/// An independent client's usual shape: one `sendrecv` transceiver with the microphone (`addTrack`), not
/// Stoa's slots. As a listener it still hears the speaker, on that one m-line. The room is set to join
/// frames for its audience from the first listener, so this is also Chromium playing 60 ms code 3 packets:
/// it must hear the 440 Hz tone, with next to nothing concealed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_sendrecv_browser_client_hears_the_room_in_joined_packets() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed: run scripts/test, which installs it"
    );
    let w = common::world_with(|c| {
        c.audience_frames = 3;
        c.audience_frames_above = 0;
    })
    .await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let host = Bot::join_with(&host_api, &room, common::tone_frames(2.0)).await;
    host.sending(true);
    w.user("plain").await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tone.wav");
    common::write_tone(&wav, 660.0, 10.0);
    let (mut node, mut lines) = publisher(&w.base, &room, "plain", "plain", &wav, 3);
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.unwrap().unwrap().unwrap();
    let result: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!((result["connection"].as_str(), result["role"].as_str()), (Some("connected"), Some("listener")));
    let counts =
        tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.unwrap().unwrap().expect("counts");
    let counts: serde_json::Value = serde_json::from_str(&counts).unwrap();
    eprintln!("chromium, listening to joined packets: {counts}");
    // 3 s of connection and 1.5 s of analysis at one packet per 60 ms: about 75 packets, not 225.
    let received = counts["received"].as_u64().unwrap();
    assert!((40..=130).contains(&received), "the plain client heard the host, in joined packets: {counts}");
    let hz = counts["peakHz"].as_f64().unwrap();
    assert!((hz - 440.0).abs() <= 10.0, "Chromium plays the joined packets as the 440 Hz sent: {counts}");
    let concealed = counts["concealed"].as_f64().unwrap() / counts["samples"].as_f64().unwrap().max(1.0);
    assert!(concealed < 0.05, "no glitches: {:.1}% of samples concealed ({counts})", concealed * 100.0);
    assert!(tokio::time::timeout(Duration::from_secs(60), node.wait()).await.unwrap().unwrap().success());
    assert!(host.heard_count() == 0, "and, a listener, was not heard itself");
}

/// Regression: a browser that joined a room after its streams' sequence numbers had wrapped heard nothing.
/// The room's counter handed it a first packet whose rollover count was above 0, while Chromium (as RFC
/// 3711 says) assumes 0 for a new stream, so every packet failed authentication. Every stream here starts
/// 6 packets before the wrap, which stands for the 22nd minute of a room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_joining_after_the_sequence_wraps_hears_the_room() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed: run scripts/test, which installs it"
    );
    let w = common::world_with(|c| c.media_first_seq = Some(65_530)).await;
    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let host = Bot::join_with(&host_api, &room, common::tone_frames(2.0)).await;
    let early = Bot::join(&w.user("early").await, &room).await;
    host.sending(true);
    eventually("the room's streams wrap", || early.heard().iter().any(|h| h.seq > 65_600)).await;

    w.user("late").await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tone.wav");
    common::write_tone(&wav, 660.0, 10.0);
    let (mut node, mut lines) = publisher(&w.base, &room, "late", "plain", &wav, 3);
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.unwrap().unwrap().unwrap();
    let result: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(result["connection"], "connected", "{result}");
    let counts =
        tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.unwrap().unwrap().expect("counts");
    let counts: serde_json::Value = serde_json::from_str(&counts).unwrap();
    eprintln!("chromium, joining after the wrap: {counts}");
    assert!(counts["received"].as_u64().unwrap() >= 100, "Chromium decrypted the host's packets: {counts}");
    let hz = counts["peakHz"].as_f64().unwrap();
    assert!((hz - 440.0).abs() <= 10.0, "Chromium plays the 440 Hz sent: {counts}");
    assert!(tokio::time::timeout(Duration::from_secs(60), node.wait()).await.unwrap().unwrap().success());
}
