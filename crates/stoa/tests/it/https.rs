//! `stoa serve --tls-cert --tls-key`: HTTPS with a self-signed certificate, as a new user runs it. Chromium
//! (tests/browser/https.mjs) signs up, speaks and listens over HTTPS and WSS at a name that is not
//! localhost; the Rust client and `stoa bot` trust the certificate with `--ca-cert` and hear 440 Hz; plain
//! HTTP redirects to the public HTTPS URL; HSTS is sent; garbage on the TLS port disturbs nobody; and a
//! certificate that cannot be used stops the start with a clear error before anything listens.
//!
//! Needs /usr/bin/chromium and tests/browser/node_modules; scripts/test installs both.

use crate::common;

use common::{Bot, decode_heard, eventually, frequency};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use stoa_client::Api;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const STOA: &str = env!("CARGO_BIN_EXE_stoa");

/// A self-signed certificate for `stoa.test` and 127.0.0.1: (certificate file, key file).
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["stoa.test".to_string(), "127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

fn serve(data: &Path, cert: &Path, key: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(STOA);
    cmd.arg("serve")
        .arg("--data")
        .arg(data)
        .args(["--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--media-udp", "127.0.0.1:0"])
        .args(["--metrics", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .env("RUST_LOG", "warn,str0m=error")
        .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_self_signed_certificate_carries_chromium_the_rust_client_and_stoa_bot() {
    let browser = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    assert!(Path::new("/usr/bin/chromium").exists(), "Debian's chromium is needed: run scripts/test");
    assert!(browser.join("node_modules/playwright-core").exists(), "playwright-core is needed: run scripts/test");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());

    let mut server = serve(&dir.path().join("data"), &cert, &key).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(server.stdout.take().unwrap()).lines();
    let (mut listening, mut plain, mut bootstrap) = (String::new(), String::new(), String::new());
    let mut metrics = String::new();
    while bootstrap.is_empty() {
        let line = tokio::time::timeout(Duration::from_secs(30), out.next_line()).await.unwrap().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("Stoa is listening on ") {
            listening = rest.split_whitespace().next().unwrap().to_string();
        } else if let Some(rest) = line.strip_prefix("Metrics (Prometheus) on ") {
            metrics = rest.trim().to_string();
        } else if line.starts_with("HTTPS on ") {
            plain = line.split("plain HTTP on ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
        } else if line.contains("/invite/") {
            bootstrap = line.trim().to_string();
        }
    }
    // Without --public-url, the public URL is the certificate's name and the HTTPS port.
    assert!(listening.starts_with("https://stoa.test:"), "{listening}");
    assert!(bootstrap.starts_with(&format!("{listening}/invite/")), "{bootstrap}");
    let port = listening.rsplit(':').next().unwrap().to_string();
    let direct = format!("https://127.0.0.1:{port}");

    // The Rust client trusts the self-signed certificate because it was told to, and sees HSTS.
    stoa_client::tls::trust(std::slice::from_ref(&cert)).unwrap();
    let http = stoa_client::tls::http();
    let health = http.get(format!("{direct}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["strict-transport-security"], "max-age=31536000");

    // Plain HTTP sends every path to the same path on the public HTTPS URL, whatever Host it was asked for.
    let redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let moved =
        redirect.get(format!("http://{plain}/room/abc?x=1")).header("host", "evil.example").send().await.unwrap();
    assert_eq!(moved.status(), 308);
    assert_eq!(moved.headers()["location"], format!("{listening}/room/abc?x=1"));
    assert!(moved.headers().get("strict-transport-security").is_none(), "HSTS is for HTTPS responses only");
    // An HTTP/1.0 client (no Host header at all) is redirected the same way.
    let mut old = tokio::net::TcpStream::connect(&plain).await.unwrap();
    old.write_all(b"GET /hallway HTTP/1.0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), old.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.0 308") || answer.starts_with("HTTP/1.1 308"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains(&format!("location: {listening}/hallway")), "{answer}");

    // Garbage, and a client that opens a connection and says nothing, disturb nobody.
    let mut garbage = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.unwrap();
    garbage.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), garbage.read_to_end(&mut sink)).await;
    assert!(!String::from_utf8_lossy(&sink).contains("200 OK"), "plain HTTP on the TLS port is not served");
    let _silent = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.unwrap();
    assert_eq!(http.get(format!("{direct}/healthz")).send().await.unwrap().status(), 200);
    let counted = http.get(&metrics).send().await.unwrap().text().await.unwrap();
    let failed = counted.lines().find_map(|l| l.strip_prefix("stoa_tls_handshakes_total{result=\"failed\"} "));
    assert!(failed.is_some_and(|n| n.parse::<u64>().unwrap() >= 1), "the garbage handshake is counted:\n{counted}");

    // Chromium signs up, starts a room and speaks; a friend hears it (all in https.mjs).
    let mut node = tokio::process::Command::new("node")
        .arg("https.mjs")
        .current_dir(&browser)
        .env("BOOTSTRAP", &bootstrap)
        .env("CERT", &cert)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut node_out = BufReader::new(node.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(120), node_out.next_line())
        .await
        .expect("Chromium's friend hears the room in time")
        .unwrap()
        .expect("https.mjs reports the room (see its output above)");
    let shared: serde_json::Value = serde_json::from_str(&line).unwrap();
    let room = shared["room"].as_str().unwrap().to_string();
    let invite = shared["invite"].as_str().unwrap().rsplit('/').next().unwrap().to_string();

    // The Rust client, over HTTPS and WSS, hears Chromium's 440 Hz.
    let ear = Api::sign_up(&direct, &invite, "ear", "ear-password").await.unwrap();
    let listener = Bot::join(&ear, &room).await;
    let admin = ear.get("/api/v1/users/admin").await.unwrap()["id"].as_u64().unwrap() as u32;
    eventually("the Rust client hears three seconds of Chromium", || listener.heard_from(admin) >= 150).await;
    let hz = frequency(&decode_heard(&listener.heard(), admin));
    assert!((hz - 440.0).abs() < 5.0, "the Rust client hears {hz} Hz");

    // `stoa bot listen --ca-cert` too.
    let ogg = dir.path().join("bot.ogg");
    let bot = tokio::process::Command::new(STOA)
        .args(["bot", "listen", "--server", &direct, "--username", "ear", "--password", "ear-password"])
        .args(["--room", &room, "--seconds", "3", "--json", "--out"])
        .arg(&ogg)
        .arg("--ca-cert")
        .arg(&cert)
        .output()
        .await
        .unwrap();
    assert!(bot.status.success(), "stoa bot listen: {}", String::from_utf8_lossy(&bot.stderr));
    let report: serde_json::Value = serde_json::from_slice(&bot.stdout).unwrap();
    assert!(report["packets_received"].as_u64().unwrap() > 100, "{report}");

    // Without --ca-cert, the bot refuses the self-signed certificate.
    let untrusting = tokio::process::Command::new(STOA)
        .args(["bot", "listen", "--server", &direct, "--username", "ear", "--password", "ear-password"])
        .args(["--room", &room, "--seconds", "1", "--out"])
        .arg(&ogg)
        .output()
        .await
        .unwrap();
    assert!(!untrusting.status.success(), "a certificate nobody vouched for is refused");

    node.stdin.take().unwrap().write_all(b"done\n").await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), node.wait()).await.unwrap().unwrap();
    assert!(status.success(), "https.mjs failed; see its output above");
    drop(listener);
}

/// `stoa serve` with this certificate and key: its exit status and standard error, after checking that
/// it exits by itself.
async fn refused_start(dir: &Path, cert: &Path, key: &Path) -> String {
    let data = dir.join("refused-data");
    let out = tokio::time::timeout(Duration::from_secs(30), serve(&data, cert, key).output())
        .await
        .expect("a server with an unusable certificate stops by itself")
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "it printed no banner: {}", String::from_utf8_lossy(&out.stdout));
    assert!(!data.exists(), "it did not create the data folder before failing");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[tokio::test]
async fn an_unusable_certificate_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let missing = dir.path().join("missing.pem");
    let err = refused_start(dir.path(), &cert, &missing).await;
    assert!(err.contains("cannot read") && err.contains("missing.pem"), "{err}");

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key").unwrap();
    let err = refused_start(dir.path(), &cert, &garbage).await;
    assert!(err.contains("no usable PEM private key"), "{err}");
    let err = refused_start(dir.path(), &garbage, &key).await;
    assert!(err.contains("holds no PEM certificate"), "{err}");

    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (_, other_key) = self_signed(&other);
    let err = refused_start(dir.path(), &cert, &other_key).await;
    assert!(err.contains("does not match"), "{err}");

    // --https without a certificate is a mistake, not plain HTTP on port 443.
    let bare = tokio::process::Command::new(STOA).args(["serve", "--https", "127.0.0.1:0"]).output().await.unwrap();
    assert!(!bare.status.success());
    assert!(String::from_utf8_lossy(&bare.stderr).contains("--https needs a certificate"));

    // Half a pair is refused by the command line.
    let half = tokio::process::Command::new(STOA).arg("serve").arg("--tls-cert").arg(&cert).output().await.unwrap();
    assert!(!half.status.success());
    assert!(String::from_utf8_lossy(&half.stderr).contains("--tls-key"));
}
