//! Rooms survive a restart. A real `stoa serve` holds a room where a `stoa bot` speaks 440 Hz to a bot
//! listener and a Chromium listener; the server is killed (`kill -9`) and started again on the same data
//! folder and ports, then stopped with SIGTERM and started again. Each time, within 5 s of the start, all
//! three are back in the same roles (the room came back from the store, and the clients reconnected by
//! themselves), the listeners hear 440 Hz again, and accounts, follows and invites are all still there.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const STOA: &str = env!("CARGO_BIN_EXE_stoa");

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port(udp: bool) -> u16 {
    crate::common::reserved_port(udp)
}

/// `stoa serve` on fixed ports and a data folder; returns once it printed its banner (and, on a fresh
/// folder, the bootstrap invite).
fn serve(data: &Path, http: u16, udp: u16, fresh: bool) -> (Reaped, Option<String>) {
    let mut child = Command::new(STOA)
        .args(["serve", "--data"])
        .arg(data)
        .args(["--http", &format!("127.0.0.1:{http}"), "--media-udp", &format!("127.0.0.1:{udp}")])
        .args(["--media-tcp", "off", "--media-shards", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut invite = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("/invite/") {
            invite = line.rsplit('/').next().map(str::to_string);
            break;
        }
        // A restart on a used folder prints no invite: the banner's first line is the signal.
        if line.starts_with("Stoa is listening") && !fresh {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (Reaped(child), invite)
}

fn tone(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..48_000 * 4 {
        w.write_sample(((i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin() * 12_000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

fn next_line(out: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    line.trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_comes_back_after_kill_9_and_after_sigterm_with_everyone_in_their_roles() {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let (http, udp) = (free_port(false), free_port(true));
    let base = format!("http://127.0.0.1:{http}");
    let (server, bootstrap) = serve(&data, http, udp, true);
    let mut server = Some(server);
    let bootstrap = bootstrap.expect("a fresh server prints an invite");

    let admin = stoa_client::Api::sign_up(&base, &bootstrap, "operator", "operator-password").await.unwrap();
    let invite = admin.post("/api/v1/invites", serde_json::json!({})).await.unwrap();
    let code = invite["code"].as_str().unwrap().to_string();
    let host = stoa_client::Api::sign_up(&base, &code, "host", "host-password").await.unwrap();
    let more = host.post("/api/v1/invites", serde_json::json!({})).await.unwrap();
    let code2 = more["code"].as_str().unwrap().to_string();
    let ear = stoa_client::Api::sign_up(&base, &code2, "ear", "ear-password").await.unwrap();
    ear.post("/api/v1/users/host/follow", serde_json::json!({})).await.unwrap();
    let eye_invite =
        host.post("/api/v1/invites", serde_json::json!({})).await.unwrap()["code"].as_str().unwrap().to_string();
    let room = host
        .post("/api/v1/rooms", serde_json::json!({"title": "Through restarts", "visibility": "open"}))
        .await
        .unwrap();
    let room = room["id"].as_str().unwrap().to_string();

    let wav = dir.path().join("tone.wav");
    tone(&wav);
    let _speaker = Reaped(
        Command::new(STOA)
            .args(["bot", "speak", "--server", &base, "--token", &host.token, "--room", &room, "--loop"])
            .arg("--file")
            .arg(&wav)
            .args(["--seconds", "120", "--transport", "udp"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let heard = dir.path().join("heard.ogg");
    let listener = Command::new(STOA)
        .args(["bot", "listen", "--server", &base, "--token", &ear.token, "--room", &room])
        .args(["--seconds", "45", "--json", "--transport", "udp", "--out"])
        .arg(&heard)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    let mut chromium = Reaped(
        Command::new("node")
            .arg("restart.mjs")
            .current_dir(&browser)
            .env("INVITE", format!("{base}/invite/{eye_invite}"))
            .env("USERNAME", "eye")
            .env("TITLE", "Through restarts")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut chromium_out = BufReader::new(chromium.0.stdout.take().unwrap());
    let mut chromium_in = chromium.0.stdin.take().unwrap();
    let line = tokio::task::block_in_place(|| next_line(&mut chromium_out));
    if line != "heard" {
        eprintln!("health: {}", admin.get("/healthz").await.unwrap());
        eprintln!("room: {}", admin.get(&format!("/api/v1/rooms/{room}")).await.unwrap());
    }
    assert_eq!(line, "heard", "Chromium hears the room before any restart (see its output above)");

    // All three in the room, in their roles: the host a moderator on stage, two listeners, three media peers.
    let everyone_back = |admin: stoa_client::Api, room: String| async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = admin.get("/healthz").await.unwrap_or_default();
            let info = admin.get(&format!("/api/v1/rooms/{room}")).await.unwrap_or_default();
            let host_moderates = info["stage"]
                .as_array()
                .is_some_and(|s| s.iter().any(|m| m["user"]["username"] == "host" && m["role"] == "moderator"));
            if health["media_peers"] == 3 && info["listener_count"] == 2 && host_moderates {
                return;
            }
            assert!(Instant::now() < deadline, "not everyone came back: {health} {info}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    everyone_back(admin.clone(), room.clone()).await;

    for how in ["kill -9", "SIGTERM"] {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut old = server.take().unwrap();
        if how == "kill -9" {
            old.0.kill().unwrap();
        } else {
            // SAFETY: signalling our own child by its PID.
            unsafe { libc::kill(old.0.id() as i32, libc::SIGTERM) };
            let stopped = Instant::now();
            let status = tokio::task::block_in_place(|| old.0.wait()).unwrap();
            assert!(status.success(), "a SIGTERM stop is clean: {status:?}");
            assert!(stopped.elapsed() < Duration::from_secs(10), "stopped in {:?}", stopped.elapsed());
        }
        drop(old);
        let (restarted, _) = tokio::task::block_in_place(|| serve(&data, http, udp, false));
        server = Some(restarted);
        let started = Instant::now();
        everyone_back(admin.clone(), room.clone()).await;
        let back = started.elapsed();
        eprintln!("after {how}: everyone back {back:?} after the start");
        assert!(back <= Duration::from_secs(5), "after {how}, everyone was back only after {back:?}");
        writeln!(chromium_in, "restarted").unwrap();
        let line = tokio::task::block_in_place(|| next_line(&mut chromium_out));
        assert!(line.starts_with("back "), "Chromium hears 440 Hz again after {how}: {line:?}");
        // Nothing was lost: the accounts sign in, the follow and the room's record are there.
        let followers = admin.get("/api/v1/users/host/followers").await.unwrap();
        assert!(followers.to_string().contains("\"ear\""), "{followers}");
        stoa_client::Api::login(&base, "ear", "ear-password").await.unwrap();
    }
    drop(chromium_in);

    let out = tokio::task::block_in_place(|| listener.wait_with_output()).unwrap();
    assert!(out.status.success(), "the bot listener failed");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("bot listener: {report}");
    assert_eq!(report["sessions"], 3, "the bot joined again after each restart: {report}");
    // The recording's last seconds, after the second restart, are the speaker's 440 Hz.
    let pcm = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(&heard)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .unwrap()
        .stdout;
    let samples: Vec<i16> = pcm.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let tail = &samples[samples.len() - 48_000 * 3..samples.len() - 48_000];
    let crossings = tail.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    let hz = crossings as f64 / 2.0 / 2.0;
    assert!((hz - 440.0).abs() < 20.0, "the bot hears {hz:.0} Hz at the end");
}
