//! `stoa bot` as a user runs it, with personal access tokens: a speaker's 440 Hz WAV, recorded by a listener
//! bot, decodes with ffmpeg to 440 Hz; a listener who tries to speak is not heard; `--require-speaker` refuses clearly.

use crate::common;

use std::process::{Command, Stdio};

const STOA: &str = env!("CARGO_BIN_EXE_stoa");

fn bot(args: &[&str]) -> std::process::Child {
    Command::new(STOA).arg("bot").args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Waits for a child off the async runtime, which keeps serving the in-process server meanwhile.
async fn finish(child: std::process::Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_listener_bot_records_the_440_hz_a_speaker_bot_sends_and_a_sneaky_listener_is_not_heard() {
    let w = common::world().await;
    let dir = tempfile::tempdir().unwrap();
    let tone = dir.path().join("tone.wav");
    common::write_tone(&tone, 440.0, 8.0);
    let host = w.user("host").await;
    let sneaky = w.user("sneaky").await;
    let ear = w.user("ear").await;
    let room = w.room(&host).await;
    let out = dir.path().join("heard.ogg");
    // The bots need no password: personal access tokens, one that may speak and one that may listen.
    let pat = |api: &stoa_client::Api, scope: &'static str| {
        let api = api.clone();
        async move {
            let made = api.post("/api/v1/tokens", serde_json::json!({"name": "bot", "scopes": [scope]})).await.unwrap();
            made["token"].as_str().unwrap().to_string()
        }
    };
    let (host_pat, ear_pat) = (pat(&host, "speak").await, pat(&ear, "listen").await);

    let speaker = bot(&[
        "speak",
        "--server",
        &w.base,
        "--token",
        &host_pat,
        "--room",
        &room,
        "--file",
        tone.to_str().unwrap(),
        "--seconds",
        "7",
    ]);
    // A listener sends too, ignoring the stage; the server must forward none of it.
    let sneak = bot(&[
        "speak",
        "--server",
        &w.base,
        "--username",
        "sneaky",
        "--password",
        "sneaky-password",
        "--room",
        &room,
        "--file",
        tone.to_str().unwrap(),
        "--seconds",
        "7",
        "--ignore-stage",
    ]);
    let listener = bot(&[
        "listen",
        "--server",
        &w.base,
        "--token",
        &ear_pat,
        "--room",
        &room,
        "--seconds",
        "4",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let listened = finish(listener).await;
    assert!(listened.status.success(), "{}", String::from_utf8_lossy(&listened.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&listened.stdout).expect("one JSON object");
    for s in [speaker, sneak] {
        let o = finish(s).await;
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    assert!(stats["packets_received"].as_u64().unwrap() >= 100, "{stats}");
    assert_eq!(stats["packets_lost"], 0, "{stats}");
    let me: serde_json::Value = host.get("/api/v1/me").await.unwrap();
    let sneaky_me: serde_json::Value = sneaky.get("/api/v1/me").await.unwrap();
    let per_speaker = stats["packets_per_speaker"].as_object().unwrap();
    assert!(per_speaker.contains_key(&me["id"].to_string()), "the host was heard: {stats}");
    assert!(!per_speaker.contains_key(&sneaky_me["id"].to_string()), "the listener was not: {stats}");
    let hz = common::frequency_of_file(&out);
    assert!((hz - 440.0).abs() <= 5.0, "440 Hz in, {hz:.1} Hz out");
}

#[tokio::test]
async fn require_speaker_refuses_a_listener_with_a_clear_message() {
    let w = common::world().await;
    let dir = tempfile::tempdir().unwrap();
    let tone = dir.path().join("tone.wav");
    common::write_tone(&tone, 440.0, 1.0);
    let host = w.user("host").await;
    let room = w.room(&host).await;
    let _host_bot = common::Bot::join(&host, &room).await;
    let guest = w.user("guest").await;
    let o = finish(bot(&[
        "speak",
        "--server",
        &w.base,
        "--token",
        &guest.token,
        "--room",
        &room,
        "--file",
        tone.to_str().unwrap(),
        "--require-speaker",
    ]))
    .await;
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("you are a listener in this room"), "{err}");
}
