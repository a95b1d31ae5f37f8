//! Media through the networks people are on, built from network namespaces: the test's own thread is the
//! server's host (198.18.0.1), a router namespace joins it to a client namespace (198.19.0.2) and masquerades
//! (a NAT), and `nft` rules in the router make the client's network hard:
//!
//! - behind a NAT: a `stoa bot` listener and a Chromium listener hear the speaker's 440 Hz over UDP;
//! - behind a firewall that drops all UDP: both hear it over ICE-TCP, and a bot allowed only UDP hears
//!   nothing (so the firewall is real);
//! - allowed nothing but TCP to the web server and to coturn's port: both hear it through coturn (Debian's
//!   `turnserver`, started here with a generated shared secret), with the credentials of the `joined` event.
//!
//! The speaker is a `stoa bot` on the server's host. Every process is a child of this test and dies with it;
//! the namespaces go with their last process.

use crate::common;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STOA: &str = env!("CARGO_BIN_EXE_stoa");
const SERVER_IP: &str = "198.18.0.1";
/// coturn's address, on the server's host too, but its own: a peer whose media comes from it is relayed.
const TURN_IP: &str = "198.18.0.3";

/// A network namespace held open by a sleeping child, entered with `nsenter`.
struct Ns {
    holder: Child,
}

impl Ns {
    fn new() -> Ns {
        let holder = Command::new("unshare").args(["--net", "sleep", "3600"]).spawn().expect("unshare is installed");
        let ns = Ns { holder };
        // The child's namespace changes once `unshare` has run in it.
        let ours = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_link(ns.path()).ok().is_none_or(|theirs| theirs == ours) {
            assert!(Instant::now() < deadline, "the namespace holder never unshared");
            std::thread::sleep(Duration::from_millis(10));
        }
        ns.sh("ip link set lo up");
        ns
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }

    fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.pid())
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path())).arg(program);
        c
    }

    fn sh(&self, script: &str) {
        let out = self.command("sh").args(["-ec", script]).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn here(script: &str) {
    let out = Command::new("sh").args(["-ec", script]).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Moves this thread (and every process it starts from now on) into a network namespace of its own: the
/// server's host. The test's other threads are not touched.
fn become_the_server_host() {
    // SAFETY: unshare(2) with CLONE_NEWNET changes only the calling thread's network namespace.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "cannot make a network namespace (run as root, as scripts/test does): {}",
        std::io::Error::last_os_error()
    );
    here("ip link set lo up");
}

/// The router and the client's host, joined to this thread's namespace.
struct Network {
    router: Ns,
    client: Ns,
}

impl Network {
    /// Puts `rules` (nft statements, `;`-separated) in the router's forward chain.
    fn firewall(&self, rules: &str) {
        let commands: Vec<String> = rules
            .split(';')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| format!("add rule ip stoa forward {r}"))
            .collect();
        self.nft(&commands.join("\n"));
    }

    fn nft(&self, rules: &str) {
        let mut nft =
            self.router.command("nft").args(["-f", "-"]).stdin(Stdio::piped()).spawn().expect("nft is installed");
        std::io::Write::write_all(nft.stdin.as_mut().unwrap(), rules.as_bytes()).unwrap();
        drop(nft.stdin.take());
        assert!(nft.wait().unwrap().success(), "nft refused the rules:\n{rules}");
    }
}

/// A router that masquerades the client's network (a NAT) and forwards everything until told otherwise.
fn network() -> Network {
    let (router, client) = (Ns::new(), Ns::new());
    here(&format!(
        "ip link add s0 type veth peer name pub netns {router}
         ip addr add {SERVER_IP}/24 dev s0
         ip addr add {TURN_IP}/24 dev s0
         ip link set s0 up",
        router = router.pid()
    ));
    router.sh(&format!(
        "ip addr add 198.18.0.254/24 dev pub
         ip link set pub up
         ip link add lan type veth peer name c0 netns {client}
         ip addr add 198.19.0.1/24 dev lan
         ip link set lan up
         sysctl -qw net.ipv4.ip_forward=1",
        client = client.pid()
    ));
    client.sh("ip addr add 198.19.0.2/24 dev c0
         ip link set c0 up
         ip route add default via 198.19.0.1");
    let net = Network { router, client };
    net.nft(
        "table ip stoa {
           chain forward { type filter hook forward priority 0; policy accept; }
           chain postrouting { type nat hook postrouting priority 100; oifname \"pub\" masquerade; }
         }",
    );
    net
}

/// A child killed when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Server {
    _process: Reaped,
    base: String,
    metrics: String,
    data: PathBuf,
}

fn serve(dir: &Path, extra: &[&str]) -> Server {
    let data = dir.join("data");
    let mut child = Command::new(STOA)
        .args(["serve", "--data"])
        .arg(&data)
        .args(["--http", &format!("{SERVER_IP}:0"), "--media-udp", &format!("{SERVER_IP}:0")])
        .args(["--metrics", &format!("{SERVER_IP}:0")])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base, mut metrics) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Stoa is listening on ") {
            base = rest.split(' ').next().map(str::to_string);
            assert!(line.contains(" and TCP "), "ICE-TCP is on by default: {line}");
        }
        if let Some(rest) = line.strip_prefix("Metrics (Prometheus) on ") {
            metrics = Some(rest.to_string());
        }
        if line.contains("/invite/") {
            break;
        }
    }
    // Keep reading, so that the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { _process: Reaped(child), base: base.unwrap(), metrics: metrics.unwrap(), data }
}

/// coturn on the server's host, with the shared secret Stoa makes credentials from.
fn coturn(dir: &Path, secret: &str) -> Reaped {
    let child = Command::new("turnserver")
        .args(["-n", "--no-cli", "--no-tls", "--no-dtls", "--log-file", "stdout", "--simple-log"])
        .args(["--listening-ip", TURN_IP, "--relay-ip", TURN_IP, "--listening-port", "3478"])
        .args(["--min-port", "50000", "--max-port", "50100", "--realm", "stoa.test"])
        .args(["--use-auth-secret", "--static-auth-secret", secret])
        .arg("--pidfile")
        .arg(dir.join("turnserver.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("coturn's turnserver is installed (scripts/test installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect((TURN_IP, 3478)).is_err() {
        assert!(Instant::now() < deadline, "coturn never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    Reaped(child)
}

/// What one scenario runs: the setup, then a Rust listener and a Chromium listener in the client's namespace.
struct Scenario {
    firewall: &'static str,
    turn: bool,
    /// The path both listeners must end up on: `udp`, `tcp` or `turn` (the bot's word for it).
    expect: &'static str,
    /// Also run a listener allowed only UDP, which must hear nothing.
    udp_control: bool,
    /// Drop this percentage of the UDP packets to the client: the listeners must play at least
    /// [`played_at_least`] of the frames from real data, and a listener without RED is measured beside them.
    loss: u32,
}

/// The share of frames a listener must play from real data (its own packet or a redundant copy) with
/// `loss` % of its downlink dropped at random: the targets.
fn played_at_least(loss: u32) -> f64 {
    if loss <= 5 { 0.99 } else { 0.97 }
}

fn run(s: Scenario) {
    become_the_server_host();
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let secret = "a-test-secret-shared-with-coturn";
    let turn_url = format!("turn:{TURN_IP}:3478?transport=udp,turn:{TURN_IP}:3478?transport=tcp");
    let _coturn = s.turn.then(|| coturn(dir.path(), secret));
    let turn_args = ["--turn-url", turn_url.as_str(), "--turn-secret", secret];
    let server = serve(dir.path(), if s.turn { &turn_args } else { &[] });
    let http_port = server.base.rsplit(':').next().unwrap().to_string();
    net.firewall(&s.firewall.replace("$HTTP", &http_port));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (host, invite, room) = runtime.block_on(async {
        use stoa_store::Store;
        let store = stoa_store::SqliteStore::open(&server.data).await.unwrap();
        let invite = store.create_admin_invite(100).await.unwrap();
        let bootstrap = store.bootstrap_invite().await.unwrap().unwrap();
        let _admin =
            stoa_client::Api::sign_up(&server.base, &bootstrap, "operator", "operator-password").await.unwrap();
        let host = stoa_client::Api::sign_up(&server.base, &invite, "host", "host-password").await.unwrap();
        stoa_client::Api::sign_up(&server.base, &invite, "ear", "ear-password").await.unwrap();
        stoa_client::Api::sign_up(&server.base, &invite, "deaf", "deaf-password").await.unwrap();
        let room = host
            .post("/api/v1/rooms", serde_json::json!({"title": "Hard networks", "visibility": "open"}))
            .await
            .unwrap();
        (host, invite, room["id"].as_str().unwrap().to_string())
    });

    let tone = dir.path().join("tone.wav");
    write_tone(&tone);
    let _speaker = Reaped(
        Command::new(STOA)
            .args(["bot", "speak", "--server", &server.base, "--token", &host.token, "--room", &room])
            .arg("--file")
            .arg(&tone)
            .args(["--loop", "--seconds", "120", "--transport", "udp"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let heard = dir.path().join("heard.ogg");
    // Under loss, longer: enough frames that the targets are not at the mercy of chance.
    let seconds = if s.loss > 0 { "15" } else { "8" };
    let listen = |who: &str, out: &Path, extra: &[&str]| {
        let mut c = net.client.command(STOA);
        c.args(["bot", "listen", "--server", &server.base, "--username", who, "--password"])
            .arg(format!("{who}-password"))
            .args(["--room", &room, "--seconds", seconds, "--json", "--out"])
            .arg(out)
            .args(extra);
        c.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap()
    };
    let ear = listen("ear", &heard, &[]);
    let listening_until = Instant::now() + Duration::from_secs(7);
    let deaf = dir.path().join("deaf.ogg");
    let control = if s.loss > 0 {
        Some(listen("deaf", &deaf, &["--no-red"]))
    } else {
        s.udp_control.then(|| listen("deaf", &deaf, &["--transport", "udp"]))
    };
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    let browser = |username: &str, no_red: bool| {
        net.client
            .command("node")
            .arg("networks.mjs")
            .current_dir(&browser_dir)
            .env("INVITE", format!("{}/invite/{invite}", server.base))
            .env("USERNAME", username)
            .env("TITLE", "Hard networks")
            .env("MEASURE_SECS", if s.loss > 0 { "10" } else { "0" })
            .env("NO_RED", if no_red { "1" } else { "0" })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    };
    let chromium = browser("eye", false);
    // Under loss, a Chromium whose offer has no RED too, to measure what redundancy saves.
    let chromium_plain = (s.loss > 0).then(|| browser("blind", true));

    // The operator sees the paths: the peers by transport, sampled while the listeners listen.
    let mut most = std::collections::HashMap::<String, f64>::new();
    while Instant::now() < listening_until {
        let metrics = runtime.block_on(async { reqwest::get(&server.metrics).await.unwrap().text().await.unwrap() });
        for line in metrics.lines() {
            if let Some((t, n)) = line.strip_prefix("stoa_media_peers{transport=\"").and_then(|r| r.split_once("\"} "))
            {
                let n: f64 = n.parse().unwrap();
                let e = most.entry(t.to_string()).or_default();
                *e = e.max(n);
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("most peers by transport: {most:?}");
    assert!(most.get("udp").copied().unwrap_or(0.0) >= 1.0, "the speaker's UDP path is counted: {most:?}");
    if s.expect != "udp" {
        assert!(
            most.get(s.expect).copied().unwrap_or(0.0) >= 1.0,
            "the listeners' {} path is counted: {most:?}",
            s.expect
        );
    }

    let ear = ear.wait_with_output().unwrap();
    assert!(ear.status.success(), "the bot listener failed");
    let report: serde_json::Value = serde_json::from_slice(&ear.stdout).unwrap();
    eprintln!("bot listener: {report}");
    assert_eq!(report["transport"], s.expect, "the bot's media path: {report}");
    assert!(report["packets_received"].as_u64().unwrap() > 100, "the bot heard the room: {report}");
    let hz = common::frequency_of_file(&heard);
    assert!((hz - 440.0).abs() < 15.0, "the bot heard {hz:.0} Hz, not 440");
    let played =
        |r: &serde_json::Value| r["frames_received"].as_f64().unwrap() / r["frames_expected"].as_f64().unwrap();
    if s.loss > 0 {
        eprintln!(
            "RESULT loss {}%: with RED {:.4} of frames played from real data ({} recovered of {})",
            s.loss,
            played(&report),
            report["frames_recovered"],
            report["frames_expected"]
        );
        assert!(report["frames_recovered"].as_u64().unwrap() > 0, "RED recovered frames: {report}");
        assert!(played(&report) >= played_at_least(s.loss), "with {}% loss: {report}", s.loss);
    }

    if let Some(control) = control {
        let control = control.wait_with_output().unwrap();
        let report: serde_json::Value = serde_json::from_slice(&control.stdout).unwrap_or_default();
        if s.loss > 0 {
            eprintln!(
                "RESULT loss {}%: without RED {:.4} of frames played ({} lost of {})",
                s.loss,
                played(&report),
                report["frames_lost"],
                report["frames_expected"]
            );
            assert_eq!(report["frames_recovered"], 0, "no redundancy without RED: {report}");
        } else {
            assert_eq!(report["packets_received"], 0, "a listener allowed only UDP hears nothing here: {report}");
        }
    }

    let chromium = chromium.wait_with_output().unwrap();
    assert!(chromium.status.success(), "the Chromium listener failed (see its output above)");
    let seen: serde_json::Value = serde_json::from_slice(&chromium.stdout).unwrap();
    eprintln!("Chromium listener: {seen}");
    if s.loss > 0 {
        eprintln!(
            "RESULT loss {}%: Chromium concealed {} of samples (RED negotiated: {})",
            s.loss, seen["concealed"], seen["red"]
        );
        assert_eq!(seen["red"], true, "Chromium negotiates RED: {seen}");
    }
    if let Some(plain) = chromium_plain {
        let plain = plain.wait_with_output().unwrap();
        assert!(plain.status.success(), "the Chromium listener without RED failed (see its output above)");
        let seen: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
        eprintln!("RESULT loss {}%: Chromium without RED concealed {} of samples", s.loss, seen["concealed"]);
        assert_eq!(seen["red"], false, "the munged offer has no RED: {seen}");
    }
    let path = &seen["path"];
    match s.expect {
        "udp" => assert_eq!(path["protocol"], "udp", "{seen}"),
        // Seen from behind the NAT, Chromium's own end of the TCP pair is peer-reflexive.
        "tcp" => assert_eq!((&path["protocol"], &path["remoteProtocol"]), (&"tcp".into(), &"tcp".into()), "{seen}"),
        _ => assert_eq!((&path["candidateType"], &path["relayProtocol"]), (&"relay".into(), &"tcp".into()), "{seen}"),
    }
}

fn write_tone(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..48_000 * 4 {
        let v = (i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin() * 12_000.0;
        w.write_sample(v as i16).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn a_listener_behind_a_nat_hears_the_room_over_udp() {
    run(Scenario { firewall: "", turn: false, expect: "udp", udp_control: false, loss: 0 });
}

#[test]
fn a_listener_whose_network_drops_udp_hears_the_room_over_ice_tcp() {
    run(Scenario { firewall: "ip protocol udp drop;", turn: false, expect: "tcp", udp_control: true, loss: 0 });
}

#[test]
fn a_listener_allowed_only_tcp_to_the_web_and_to_coturn_hears_the_room_through_turn() {
    run(Scenario {
        firewall: "ct state established,related accept; \
                   iifname \"lan\" ip daddr 198.18.0.3 tcp dport 3478 accept; \
                   iifname \"lan\" ip daddr 198.18.0.1 tcp dport $HTTP accept; \
                   iifname \"lan\" drop;",
        turn: true,
        expect: "turn",
        udp_control: true,
        loss: 0,
    });
}

#[test]
fn with_5_percent_of_the_downlink_lost_a_listener_plays_99_percent_of_frames_from_real_data() {
    let firewall = "oifname \"lan\" ip protocol udp numgen random mod 100 < 5 drop;";
    run(Scenario { firewall, turn: false, expect: "udp", udp_control: false, loss: 5 });
}

#[test]
fn with_10_percent_of_the_downlink_lost_a_listener_plays_97_percent_of_frames_from_real_data() {
    let firewall = "oifname \"lan\" ip protocol udp numgen random mod 100 < 10 drop;";
    run(Scenario { firewall, turn: false, expect: "udp", udp_control: false, loss: 10 });
}
