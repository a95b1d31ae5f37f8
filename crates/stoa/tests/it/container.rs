//! The OCI image (issue 32 §3): `scripts/build-image` makes it with podman from this build's binary on a
//! Debian base made by debootstrap; run on the test's network, it serves its first invite over HTTP as an
//! unprivileged user, and is removed afterwards (the base stays cached for the next build).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const STOA: &str = env!("CARGO_BIN_EXE_stoa");

fn podman(args: &[&str]) -> std::process::Output {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/container/containers.conf");
    Command::new("podman")
        .args(args)
        .env("CONTAINERS_CONF", conf)
        .output()
        .expect("podman runs (scripts/test installs it)")
}

/// Removes the container and the image when dropped, failed or not.
struct Cleanup {
    name: String,
    tag: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", &self.name]);
        let _ = podman(&["rmi", "-f", &self.tag]);
    }
}

#[test]
fn the_oci_image_builds_and_serves_its_first_invite_as_an_unprivileged_user() {
    let unique = format!("{}", std::process::id());
    let (name, tag) = (format!("stoa-test-{unique}"), format!("localhost/stoa:test-{unique}"));
    let cleanup = Cleanup { name: name.clone(), tag: tag.clone() };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-image");
    let built = Command::new(&script).args([STOA, &tag]).output().unwrap();
    assert!(built.status.success(), "build-image failed: {}", String::from_utf8_lossy(&built.stderr));

    // On the test's own network, on ports of its own (the options after the image reach `stoa serve`).
    let port = crate::common::reserved_port(false);
    let http = format!("127.0.0.1:{port}");
    let run = podman(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        &tag,
        "--http",
        &http,
        "--media-udp",
        "127.0.0.1:0",
        "--media-tcp",
        "off",
    ]);
    assert!(run.status.success(), "podman run failed: {}", String::from_utf8_lossy(&run.stderr));
    let deadline = Instant::now() + Duration::from_secs(60);
    let invite = loop {
        let logs = podman(&["logs", &name]);
        let text = String::from_utf8_lossy(&logs.stdout).to_string();
        if let Some(url) = text.split_whitespace().find(|w| w.starts_with("http://") && w.contains("/invite/")) {
            break url.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no invite from the container: {text}{}",
            String::from_utf8_lossy(&logs.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let path = invite.split_once("/invite/").map(|(_, code)| format!("/invite/{code}")).unwrap();
    assert_eq!(http_status(&http, &path), Some(200), "the first invite answers over HTTP: {invite}");
    let id = podman(&["exec", &name, "id", "-u"]);
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim(), "10001", "the server runs unprivileged");
    drop(cleanup);
    assert!(!podman(&["image", "exists", &tag]).status.success(), "the test's image is removed");
}

/// The status of a plain HTTP/1.0 GET of `path` at `host`.
fn http_status(host: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(host).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    answer.split_whitespace().nth(1)?.parse().ok()
}
