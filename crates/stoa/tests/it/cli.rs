//! The `stoa` binary as a user runs it: `stoa serve` prints the bootstrap invite, `stoa admin invite` works
//! beside a running server, and options come from flags, the environment or `stoa.toml`.

use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const STOA: &str = env!("CARGO_BIN_EXE_stoa");

/// A `stoa serve` child process, killed when dropped.
struct Serve {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Serve {
    fn start(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut cmd = Command::new(STOA);
        cmd.current_dir(cwd).args(args).stdout(Stdio::piped()).stderr(Stdio::null()).env_remove("RUST_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("stoa starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Serve { child, lines }
    }

    /// The next stdout line containing `needle`.
    fn line_with(&self, needle: &str) -> String {
        loop {
            let line =
                self.lines.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("no line with {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn admin_invite(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(STOA);
    cmd.current_dir(cwd).args(["admin", "invite"]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "stoa admin invite failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().last().expect("a last line").to_string()
}

async fn sign_up(invite_url: &str, username: &str) -> reqwest::StatusCode {
    let (base, code) = invite_url.split_once("/invite/").expect("an invite URL");
    stoa_client::tls::http()
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"invite": code, "username": username, "display_name": username, "password": "long enough"}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn serve_prints_an_invite_and_admin_invite_works_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = Serve::start(
        dir.path(),
        &["serve", "--data", data.to_str().unwrap(), "--http", "127.0.0.1:0", "--media-udp", "127.0.0.1:0"],
        &[],
    );
    let bootstrap = serve.line_with("/invite/");
    assert!(bootstrap.starts_with("http://127.0.0.1:"), "{bootstrap}");
    assert_eq!(sign_up(&bootstrap, "admin").await, reqwest::StatusCode::CREATED);

    // While the server runs on the same folder: a two-use invite, with the server's own host and port.
    let url = admin_invite(dir.path(), &["--data", data.to_str().unwrap(), "--uses", "2"], &[]);
    assert!(url.starts_with(bootstrap.split("/invite/").next().unwrap()), "{url} vs {bootstrap}");
    assert_eq!(sign_up(&url, "first").await, reqwest::StatusCode::CREATED);
    assert_eq!(sign_up(&url, "second").await, reqwest::StatusCode::CREATED);
    assert_eq!(sign_up(&url, "third").await, reqwest::StatusCode::BAD_REQUEST, "a two-use invite is spent");
}

#[tokio::test]
async fn options_come_from_the_environment_and_stoa_toml() {
    let dir = tempfile::tempdir().unwrap();
    // stoa.toml in the working directory sets the data folder and the quota...
    std::fs::write(dir.path().join("stoa.toml"), "data = \"from-toml\"\ninvite_quota = 1\n").unwrap();
    // ...and the environment sets the address.
    let serve = Serve::start(dir.path(), &[], &[("STOA_HTTP", "127.0.0.1:0"), ("STOA_MEDIA_UDP", "127.0.0.1:0")]);
    let bootstrap = serve.line_with("/invite/");
    assert!(dir.path().join("from-toml").join("stoa.db").exists(), "the data folder came from stoa.toml");
    let base = bootstrap.split("/invite/").next().unwrap().to_string();
    let resp = stoa_client::tls::http()
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"invite": bootstrap.rsplit('/').next().unwrap(), "username": "admin", "display_name": "A", "password": "long enough"}))
        .send()
        .await
        .unwrap();
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let create = || stoa_client::tls::http().post(format!("{base}/api/v1/invites")).bearer_auth(&token).send();
    assert_eq!(create().await.unwrap().status(), reqwest::StatusCode::CREATED);
    assert_eq!(create().await.unwrap().status(), reqwest::StatusCode::FORBIDDEN, "the quota of 1 came from stoa.toml");

    // Without flags, `admin invite` finds the data folder through stoa.toml too.
    let url = admin_invite(dir.path(), &[], &[]);
    assert!(url.starts_with(&base), "{url}");
    // The environment beats the file: STOA_DATA names a folder with no database, which is a clear error...
    let out = Command::new(STOA)
        .current_dir(dir.path())
        .args(["admin", "invite"])
        .env("STOA_DATA", "from-env")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no Stoa database in from-env"), "{err}");
    assert!(!dir.path().join("from-env").exists(), "nothing was created");
    // ...and a flag beats the environment.
    let url = admin_invite(dir.path(), &["--data", "from-toml"], &[("STOA_DATA", "from-env")]);
    assert!(url.starts_with(&base), "{url}");
}

#[test]
fn a_broken_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stoa.toml"), "no_such_option = 3\n").unwrap();
    let out = Command::new(STOA).current_dir(dir.path()).args(["admin", "invite"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stoa.toml is not a valid Stoa configuration") && err.contains("no_such_option"), "{err}");
}

#[test]
fn log_format_json_writes_one_json_object_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(STOA)
        .current_dir(dir.path())
        .args(["serve", "--log-format", "json", "--http", "127.0.0.1:0", "--media-udp", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    // The first lines, up to the one that says where the server listens.
    while seen.len() < 10 && !seen.iter().any(|m: &String| m.contains("listening") || m.contains("serving")) {
        let line = lines.next().expect("the server logs").unwrap();
        let object: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(object["timestamp"].is_string() && object["level"].is_string(), "{object}");
        seen.push(object["message"].as_str().unwrap_or_default().to_string());
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.iter().any(|m| m.contains("listening") || m.contains("serving")), "{seen:?}");
}

#[test]
fn bad_media_and_turn_options_stop_the_start_with_a_clear_error_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["serve", "--data", "data", "--http", "127.0.0.1:0", "--media-udp", "127.0.0.1:0"];
    for (extra, expected) in [
        (&["--turn-url", "turn:198.18.0.3:3478"][..], "--turn-url needs --turn-secret"),
        (&["--turn-secret", "s"][..], "--turn-secret needs at least one --turn-url"),
        (&["--turn-url", "stun:198.18.0.3", "--turn-secret", "s"][..], "must start with turn: or turns:"),
        (&["--turn-url", "turn:host:99999", "--turn-secret", "s"][..], "the port must be a number"),
        (&["--turn-url", "turn:host?transport=sctp", "--turn-secret", "s"][..], "?transport=udp or ?transport=tcp"),
        (&["--turn-url", "turn:host", "--turn-secret", " "][..], "--turn-secret is empty"),
        (&["--media-tcp", "nowhere"][..], "--media-tcp \"nowhere\" is not an address"),
        (&["--public-ip", "not-an-ip"][..], "not-an-ip"),
        (&["--push-allow-origin", "ftp://127.0.0.1:9000"][..], "--push-allow-origin takes an origin"),
        (&["--push-allow-origin", "http://127.0.0.1:9000/push/x"][..], "--push-allow-origin takes an origin"),
        (&["--push-contact", "admin@example.org"][..], "--push-contact is a mailto: or https:// address"),
    ] {
        let out = Command::new(STOA).current_dir(dir.path()).args(base).args(extra).output().unwrap();
        assert!(!out.status.success(), "{extra:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{extra:?}: {err}");
        assert!(!err.contains(" s\n") && !err.contains("panicked"), "{extra:?}: {err}");
        assert!(!dir.path().join("data").exists(), "{extra:?} created the data folder");
    }
}

#[test]
fn a_taken_media_tcp_port_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(STOA)
        .current_dir(dir.path())
        .args(["serve", "--data", "data", "--http", "127.0.0.1:0", "--media-udp", "127.0.0.1:0", "--media-tcp", &addr])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot use TCP {addr} for media")), "{err}");
}

fn admin(cwd: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(STOA).current_dir(cwd).arg("admin").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn admin_commands_act_on_a_running_server_within_a_second() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let serve =
        Serve::start(dir.path(), &["serve", "--data", d, "--http", "127.0.0.1:0", "--media-udp", "127.0.0.1:0"], &[]);
    let bootstrap = serve.line_with("/invite/");
    let base = bootstrap.split("/invite/").next().unwrap().to_string();
    let http = stoa_client::tls::http();
    let signup = |invite: String, name: &'static str| {
        http.post(format!("{base}/api/v1/auth/signup"))
            .json(&json!({"invite": invite, "username": name, "display_name": name, "password": "long enough"}))
            .send()
    };
    let code = |url: &str| url.rsplit('/').next().unwrap().to_string();
    let token_of = |v: serde_json::Value| v["token"].as_str().unwrap().to_string();
    let root = token_of(signup(code(&bootstrap), "root").await.unwrap().json().await.unwrap());
    let mallory = token_of(
        signup(code(&admin_invite(dir.path(), &["--data", d], &[])), "mallory").await.unwrap().json().await.unwrap(),
    );

    // Mallory is in a room when the command line suspends her.
    let room: serde_json::Value = http
        .post(format!("{base}/api/v1/rooms"))
        .bearer_auth(&root)
        .json(&json!({"title": "Town hall", "visibility": "open"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let room = room["id"].as_str().unwrap().to_string();
    let ws_url = |token: &str| {
        let mut req =
            format!("{}/api/v1/rooms/{room}/ws", base.replacen("http", "ws", 1)).into_client_request().unwrap();
        req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        req
    };
    let (_root_ws, _) = tokio_tungstenite::connect_async(ws_url(&root)).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&mallory)).await.unwrap();
    let (ok, out, err) = admin(dir.path(), &["suspend", "mallory", "--data", d, "--reason", "Raiding rooms."]);
    assert!(ok, "{err}");
    assert!(out.contains("suspended"), "{out}");
    let mut removed = None;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        if let Ok(text) = msg.to_text()
            && text.contains("\"removed\"")
        {
            removed = Some(text.to_string());
        }
    }
    let removed = removed.expect("the server threw her out");
    assert!(removed.contains("Raiding rooms."), "{removed}");
    let me = http.get(format!("{base}/api/v1/me")).bearer_auth(&mallory).send().await.unwrap();
    assert_eq!(me.status(), reqwest::StatusCode::UNAUTHORIZED);
    let (ok, out, _) = admin(dir.path(), &["user", "mallory", "--data", d]);
    assert!(ok && out.contains("SUSPENDED: Raiding rooms."), "{out}");
    let (ok, _, err) = admin(dir.path(), &["suspend", "nobody", "--data", d, "--reason", "x"]);
    assert!(!ok && err.contains("no user named nobody"), "{err}");

    // Clubs: listed, and suspended from the command line, which ends their live rooms on the server.
    let made = http
        .post(format!("{base}/api/v1/clubs"))
        .bearer_auth(&root)
        .json(&json!({"handle": "townies", "name": "Townies", "policy": "open"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), reqwest::StatusCode::CREATED);
    let club_room: serde_json::Value = http
        .post(format!("{base}/api/v1/rooms"))
        .bearer_auth(&root)
        .json(&json!({"title": "Townies live", "visibility": "open", "club": "townies"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let club_room = club_room["id"].as_str().unwrap().to_string();
    let (ok, out, err) = admin(dir.path(), &["clubs", "--data", d]);
    assert!(ok && out.contains("townies") && !out.contains("SUSPENDED"), "{out}{err}");
    let (ok, out, err) = admin(dir.path(), &["suspend-club", "townies", "--data", d, "--reason", "Spam."]);
    assert!(ok && out.contains("suspended"), "{out}{err}");
    let (ok, out, _) = admin(dir.path(), &["clubs", "--data", d]);
    assert!(ok && out.contains("SUSPENDED: Spam."), "{out}");
    let mut ended = false;
    for _ in 0..50 {
        let r = http.get(format!("{base}/api/v1/rooms/{club_room}")).bearer_auth(&root).send().await.unwrap();
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ended, "the suspended club's room ended");
    let (ok, _, err) = admin(dir.path(), &["suspend-club", "nothere", "--data", d, "--reason", "x"]);
    assert!(!ok && err.contains("no club nothere"), "{err}");

    // Settings: the server takes them within a second.
    let (ok, out, err) = admin(dir.path(), &["settings", "--data", d, "--invite-quota", "0"]);
    assert!(ok && out.contains("invite_quota = 0"), "{out}{err}");
    let (ok, _, err) = admin(dir.path(), &["settings", "--data", d, "--room-capacity", "1"]);
    assert!(!ok && err.contains("capacity"), "{err}");
    let mut refused = false;
    for _ in 0..50 {
        let r = http.post(format!("{base}/api/v1/invites")).bearer_auth(&root).send().await.unwrap();
        if r.status() == reqwest::StatusCode::FORBIDDEN {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "an invite quota of 0 refuses invites");

    // Ending the room from the command line closes it on the server.
    let (ok, _, err) = admin(dir.path(), &["end-room", &room, "--data", d]);
    assert!(ok, "{err}");
    let mut gone = false;
    for _ in 0..50 {
        let r = http.get(format!("{base}/api/v1/rooms/{room}")).bearer_auth(&root).send().await.unwrap();
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the room ended");
    let (ok, out, _) = admin(dir.path(), &["unsuspend", "mallory", "--data", d]);
    assert!(ok && out.contains("can sign in again"), "{out}");
}
