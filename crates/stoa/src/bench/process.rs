//! The processes a bench runs: its own `stoa serve`, its worker processes (a plan in on stdin, results out
//! on stdout), the open-file limit they inherit, and the nodes' `/metrics` it reads.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) struct OwnServer {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) invite: String,
    pub(crate) _data: tempfile::TempDir,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_own_server(accounts: usize, extra: Option<&str>) -> anyhow::Result<OwnServer> {
    start_own_server_on(tempfile::tempdir()?, accounts, extra, false)
}

/// A loopback address with a port free right now, for the bench's own server's `/metrics`.
pub(crate) fn free_local_port() -> anyhow::Result<std::net::SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Starts `stoa serve` on a data folder that may already hold data (the hallway bench seeds it first).
pub(crate) fn start_own_server_on(
    data: tempfile::TempDir,
    accounts: usize,
    extra: Option<&str>,
    seeded: bool,
) -> anyhow::Result<OwnServer> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(&exe);
    cmd.args(["serve", "--http", "127.0.0.1:0", "--media-udp", "127.0.0.1:0"])
        .arg("--data")
        .arg(data.path())
        .args(["--auth-attempts-per-ip", "100000000", "--auth-attempts-per-user", "1000", "--room-capacity", "100000"])
        // The hallway bench starts a room per host, all from this one address.
        .args(["--rooms-per-hour", "100000", "--max-live-rooms", "100000"])
        // A closed room's bench invites its whole audience.
        .args(["--invitations-per-hour", "100000000"])
        .env("RUST_LOG", "warn,str0m=error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(extra) = extra {
        cmd.args(extra.split_whitespace());
    }
    let mut child = cmd.spawn().context("cannot start stoa serve")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut base = None;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("Stoa is listening on ") {
            base = rest.split_whitespace().next().map(str::to_string);
            if seeded {
                // A data folder that already has accounts gets no bootstrap invite to wait for.
                break;
            }
        }
        if line.contains("/invite/") {
            break;
        }
    }
    let base = base.context("stoa serve did not say where it listens")?;
    // Keep reading the server's stdout so that nothing it prints later meets a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let out = Command::new(&exe)
        .args(["admin", "invite", "--uses", &accounts.to_string(), "--data"])
        .arg(data.path())
        .output()?;
    let url = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
    let invite = url.rsplit('/').next().unwrap_or_default().to_string();
    if invite.is_empty() {
        bail!("stoa admin invite failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(OwnServer { child, base, invite, _data: data })
}

/// A worker process of the bench (`stoa bench-listeners`, `stoa bench-hls`): a plan as JSON on its standard
/// input, its results as JSON on its standard output.
pub(crate) struct Worker {
    pub(crate) child: tokio::process::Child,
    pub pid: u32,
    /// What it is, for errors.
    pub(crate) what: &'static str,
}

impl Worker {
    pub fn start(subcommand: &str, what: &'static str, plan: &impl serde::Serialize) -> anyhow::Result<Worker> {
        use tokio::io::AsyncWriteExt;
        let exe = std::env::current_exe().context("cannot find the stoa binary to start the bench's workers")?;
        let mut child = tokio::process::Command::new(exe)
            .arg(subcommand)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let pid = child.id().with_context(|| format!("{what} exited at once"))?;
        let mut stdin = child.stdin.take().context("no stdin")?;
        let plan = serde_json::to_vec(plan)?;
        tokio::spawn(async move {
            // Dropping stdin after the plan ends the worker's read.
            let _ = stdin.write_all(&plan).await;
        });
        Ok(Worker { child, pid, what })
    }

    /// In the worker: its plan, from standard input.
    pub async fn read_plan<T: serde::de::DeserializeOwned + Send + 'static>(what: &'static str) -> anyhow::Result<T> {
        tokio::task::spawn_blocking(|| serde_json::from_reader(std::io::stdin().lock()))
            .await?
            .with_context(|| format!("{what} (JSON) on standard input"))
    }

    /// In the worker: its results, to standard output.
    pub async fn write_results(results: &impl serde::Serialize) -> anyhow::Result<()> {
        let out = serde_json::to_vec(results)?;
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&out)?;
            stdout.flush()
        })
        .await??;
        Ok(())
    }

    pub async fn finish<T: serde::de::DeserializeOwned>(self) -> anyhow::Result<T> {
        let output = self.child.wait_with_output().await?;
        if !output.status.success() {
            bail!("{} failed ({})", self.what, output.status);
        }
        serde_json::from_slice(&output.stdout).with_context(|| format!("the results of {}", self.what))
    }
}

/// Raises this process's open-file limit towards `want` (its children, the bench's own server and its
/// listener processes, inherit it): the soft limit up to the hard one, and the hard one too where the
/// process may (CAP_SYS_RESOURCE). Returns the limit it has now.
pub(crate) fn raise_file_limit(want: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return want;
        }
        if limit.rlim_cur >= want {
            return limit.rlim_cur;
        }
        let raised = libc::rlimit { rlim_cur: want, rlim_max: limit.rlim_max.max(want) };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            return want;
        }
        let soft = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &soft) == 0 { limit.rlim_max } else { limit.rlim_cur }
    }
}

/// What a node's `/metrics` says of its media plane and CPU.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeMeter {
    pub(crate) packets_sent: f64,
    pub(crate) cpu_seconds: f64,
    pub(crate) media_peers: f64,
    /// Everything a `*drop*` counter counted (queues that shed work, commands and packets dropped).
    pub(crate) drops: f64,
}

/// Every node's meters, in order (`None` where a node did not answer).
pub(crate) async fn scrape_nodes(urls: &[String]) -> Vec<Option<NodeMeter>> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("an HTTP client");
    let mut out = Vec::new();
    for url in urls {
        let text = match http.get(url).send().await {
            Ok(resp) => resp.text().await.ok(),
            Err(_) => None,
        };
        out.push(text.map(|t| parse_meter(&t)));
    }
    out
}

/// Reads the few lines the bench needs from a Prometheus text page.
pub(crate) fn parse_meter(text: &str) -> NodeMeter {
    let mut meter = NodeMeter { packets_sent: 0.0, cpu_seconds: 0.0, media_peers: 0.0, drops: 0.0 };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        match name {
            "stoa_media_packets_sent_total" => meter.packets_sent = value,
            "process_cpu_seconds_total" => meter.cpu_seconds = value,
            n if n.starts_with("stoa_media_peers{") => meter.media_peers += value,
            n if n.starts_with("stoa_") && n.split('{').next().is_some_and(|m| m.contains("drop")) => {
                meter.drops += value
            }
            _ => {}
        }
    }
    meter
}
