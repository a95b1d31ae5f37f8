//! The Debian package (issue 32 §3): built with cargo-deb around this build's binary, installed with
//! `dpkg -i`, its user, folders and owners checked, its unit verified and rated by `systemd-analyze`, the
//! unit's `ExecStart` run as the `stoa` user (systemd is not PID 1 here) until the first invite answers over
//! HTTP, then `dpkg --purge`d, leaving only what Debian's policy keeps (the system user).
//!
//! It installs into this machine, as root (as the test command runs here and in CI), and purges what it
//! installed even when it fails.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STOA: &str = env!("CARGO_BIN_EXE_stoa");

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?} does not run: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// Purges the package when dropped, so that a failed test leaves the machine as it was.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "stoa"]).output();
    }
}

fn owner(path: &str) -> (String, String, u32) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let name = |id: u32, db: &str| {
        let line = run(Command::new("getent").args([db, &id.to_string()]));
        line.split(':').next().unwrap_or_default().to_string()
    };
    (name(meta.uid(), "passwd"), name(meta.gid(), "group"), meta.mode() & 0o7777)
}

#[test]
fn the_debian_package_installs_runs_as_its_user_and_purges_clean() {
    assert_eq!(unsafe { libc_geteuid() }, 0, "the package test installs into the machine: run it as root");
    // cargo-deb packages `target/release/stoa`: here, this build's binary under a target folder of its own.
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("target");
    std::fs::create_dir_all(target.join("release")).unwrap();
    std::fs::copy(STOA, target.join("release/stoa")).unwrap();
    let deb = work.path().join("stoa.deb");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    run(Command::new("cargo")
        .args(["deb", "--no-build", "--fast", "--manifest-path"])
        .arg(&manifest)
        .arg("--output")
        .arg(&deb)
        .env("CARGO_TARGET_DIR", &target));

    let _ = Command::new("dpkg").args(["--purge", "stoa"]).output();
    let installed = Installed;
    run(Command::new("dpkg").arg("-i").arg(&deb));
    // Its user, its folders and their owners.
    let user = run(Command::new("getent").args(["passwd", "stoa"]));
    assert!(user.contains(":/var/lib/stoa:") && user.trim_end().ends_with("nologin"), "a system user: {user}");
    assert_eq!(owner("/var/lib/stoa"), ("stoa".into(), "stoa".into(), 0o750));
    assert_eq!(owner("/etc/stoa/stoa.toml"), ("root".into(), "stoa".into(), 0o640));
    assert_eq!(owner("/usr/bin/stoa").0, "root");
    // The unit: verified, and rated OK or better.
    let unit = "/lib/systemd/system/stoa.service";
    run(Command::new("systemd-analyze").args(["verify", unit]));
    let rating = run(Command::new("systemd-analyze").args(["security", "--offline=true", unit]));
    let overall = rating.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_default().to_string();
    assert!(["OK", "SAFE", "PERFECT"].iter().any(|r| overall.contains(r)), "{overall}");

    // The unit's ExecStart, as its user, in its working folder, until the first invite answers.
    let text = std::fs::read_to_string(unit).unwrap();
    let exec = text.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("an ExecStart");
    let mut argv = exec.split_whitespace();
    // As the unit's user, the server itself (not a `runuser` in front of it, whose kill would leave the
    // server running after the test).
    let ids: Vec<u32> = user.split(':').skip(2).take(2).map(|n| n.parse().unwrap()).collect();
    let mut server = Command::new(argv.next().unwrap());
    std::os::unix::process::CommandExt::uid(&mut server, ids[0]);
    std::os::unix::process::CommandExt::gid(&mut server, ids[1]);
    let mut server = server
        .args(argv)
        .current_dir("/var/lib/stoa")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut invite = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    for line in BufReader::new(server.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(at) = line.find("http://")
            && line.contains("/invite/")
        {
            invite = Some(line[at..].split_whitespace().next().unwrap().to_string());
            break;
        }
        assert!(Instant::now() < deadline, "no invite printed");
    }
    let invite = invite.expect("the server prints its first invite");
    let status = http_status(&invite);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(status, Some(200), "the first invite answers over HTTP: {invite}");
    assert!(Path::new("/var/lib/stoa/stoa.db").is_file(), "its data is in /var/lib/stoa");

    // Purged: nothing left but the system user.
    run(Command::new("dpkg").args(["--purge", "stoa"]));
    drop(installed);
    for gone in ["/usr/bin/stoa", "/etc/stoa", "/var/lib/stoa", unit, "/usr/share/doc/stoa"] {
        assert!(!Path::new(gone).exists(), "{gone} is left after the purge");
    }
}

/// The status of a plain HTTP/1.0 GET of `url` (`http://HOST:PORT/PATH`).
fn http_status(url: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/')?;
    let mut conn = std::net::TcpStream::connect(host).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(conn, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    answer.split_whitespace().nth(1)?.parse().ok()
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
