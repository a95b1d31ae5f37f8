//! An independent client: aiortc (Python) listens to a room as a new user's client would, and hears the
//! speaker's 440 Hz. aiortc reads a BUNDLE's ICE candidates from its last m-section, so it connects only
//! if the server's answer carries them in every m-section (RFC 8843 allows them in the first only).
//!
//! Needs tests/aiortc/.venv (aiortc, websockets, numpy); scripts/test installs it.

use crate::common;

use common::{Bot, world};
use std::path::PathBuf;
use std::time::Duration;

fn aiortc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/aiortc")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiortc_listening_with_three_slots_connects_and_hears_440_hz() {
    let python = aiortc_dir().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/test, which installs it", python.display());
    let w = world().await;
    let host = w.user("host").await;
    let room = w.room(&host).await;
    let speaker = Bot::join_with(&host, &room, common::tone_frames(10.0)).await;
    speaker.wait_connected().await;
    speaker.sending(true);
    let listener = w.user("aiolistener").await;

    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(&python)
            .arg(aiortc_dir().join("listen.py"))
            .args(["--base", &w.base, "--token", &listener.token, "--room", &room, "--seconds", "2", "--loopback"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("aiortc finishes within a minute")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "listen.py failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("one JSON line");
    assert_eq!(r["connected"], true, "aiortc's ICE never connected: {r}");
    assert!(r["frames"].as_u64().unwrap() >= 50, "aiortc heard too little: {r}");
    let hz = r["hz"].as_f64().unwrap();
    assert!((hz - 440.0).abs() < 10.0, "aiortc heard {hz} Hz, not 440: {r}");
}
