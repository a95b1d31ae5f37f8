//! `stoa`: the one binary. `stoa serve` (or no subcommand) runs the server; `stoa admin` manages it.

mod admin;
mod backup;
mod bench;
mod bot;
mod config;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::ServeArgs;
use std::process::ExitCode;

/// Stoa: live audio rooms anyone can host.
///
/// Every option can also be set as an environment variable (shown with each) or as a key in `stoa.toml`
/// (the option's name with `_` for `-`, e.g. `invite_quota = 5`). A flag beats the environment, which beats
/// the file, which beats the default.
#[derive(Parser, Debug)]
#[command(name = "stoa", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
    /// How logs are written to standard error: `text` for people, `json` for log collectors (one object a
    /// line).
    #[arg(long, global = true, value_enum, default_value = "text", env = "STOA_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default when no subcommand is given).
    Serve(Box<ServeArgs>),
    /// Manage a server's data folder; works while the server runs.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Speak into a room from a file, or listen and record.
    #[command(subcommand)]
    Bot(bot::BotCommand),
    /// Load a room with real WebRTC listeners and report joins, loss, latency, CPU and memory.
    Bench(bench::BenchArgs),
    /// A process of `stoa bench` listeners, started by the bench itself (a plan on stdin, results on stdout).
    #[command(hide = true)]
    BenchListeners,
    /// A process of `stoa bench --hls-listeners` players, started by the bench itself.
    #[command(hide = true)]
    BenchHls,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stoa: {}", explain(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, each said once: error types that wrap another often print it already.
fn explain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

/// Large allocations straight from the kernel, and back to it when freed.
///
/// glibc raises its mmap threshold each time a large block is freed, after which blocks of that size come
/// from the heap and are seldom returned. Each argon2id hash takes a 19 MiB block, so a burst of sign-ups
/// and logins would leave the server holding hundreds of megabytes it no longer uses. Setting the threshold
/// turns that adjustment off; 1 MiB keeps every smaller, frequent allocation on the fast heap path.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_blocks_to_the_kernel() {
    // SAFETY: mallopt only changes allocator tunables; it is safe to call before any thread is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        // Fixing the mmap threshold also fixes the trim threshold at 128 KiB, and then a busy thread's heap
        // is shrunk and grown again many times a second (page faults and mprotect on the HTTP workers
        // under thousands of listen-link requests). 16 MiB of slack a heap keeps that off the hot path.
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_blocks_to_the_kernel() {}

/// A server holds a socket for each connection, so its open-file limit is raised from the soft limit to
/// the hard one, as nginx and Go's runtime do: the usual soft default of 1,024 would refuse the 1,025th
/// listener or listen-link player.
fn raise_open_file_limit() {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                tracing::warn!(soft = limit.rlim_cur, "cannot raise the open-file limit");
            }
        }
    }
}

fn try_main() -> anyhow::Result<()> {
    return_large_blocks_to_the_kernel();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // The server logs at info; tools (bots, admin) keep quiet unless something is wrong.
        // str0m warns about ordinary browser offers (e.g. Chrome's RED payload type we do not use);
        // its errors still show.
        let default =
            if matches!(cli.command, None | Some(Command::Serve(_))) { "info,str0m=error" } else { "warn,str0m=error" };
        tracing_subscriber::EnvFilter::new(default)
    });
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    // The bench's HLS players run on one thread: many small exchanges, cheapest without waking other workers.
    let runtime = match cli.command {
        Some(Command::BenchHls) => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        _ => tokio::runtime::Runtime::new(),
    }
    .context("cannot start the async runtime")?;
    match cli.command {
        None => runtime.block_on(serve(cli.serve)),
        Some(Command::Serve(args)) => runtime.block_on(serve(*args)),
        Some(Command::Admin(command)) => runtime.block_on(admin::run(command)),
        Some(Command::Bot(command)) => runtime.block_on(bot::run(command)),
        Some(Command::Bench(args)) => runtime.block_on(bench::run(args)),
        Some(Command::BenchListeners) => runtime.block_on(bench::listeners_worker()),
        Some(Command::BenchHls) => runtime.block_on(bench::hls::worker()),
    }
}

/// The delay clients are asked to wait before reconnecting when the server stops: about what a restart
/// takes. They add jitter of their own.
const RESTART_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    raise_open_file_limit();
    let data = config.data.clone();
    let cluster = config.cluster.clone();
    let running = stoa_server::start(config).await.context("cannot start the server")?;
    // The banner is best effort: a closed stdout (a parent that stopped reading) must not stop the server.
    let tcp = running.media_tcp_addr.map(|a| format!(" and TCP {a}")).unwrap_or_default();
    let mut banner = format!(
        "Stoa is listening on {} (media on UDP {}{tcp}, data in {})\n",
        running.public_url,
        running.media_addr,
        data.display()
    );
    if let Some(c) = &cluster {
        banner.push_str(&format!("Node {} of a cluster, on NATS {}\n", c.node, stoa_server::cluster::redact(&c.nats)));
    }
    if let Some(metrics) = running.metrics_addr {
        banner.push_str(&format!("Metrics (Prometheus) on http://{metrics}/metrics\n"));
    }
    if let Some(http) = running.http_addr {
        banner.push_str(&format!("HTTPS on {}; plain HTTP on {http} redirects there\n", running.addr));
    }
    if let Some(url) = &running.bootstrap_invite {
        banner.push_str(&format!(
            "\nNo account exists yet. Open this one-time invite to create the admin account:\n{url}\n\n"
        ));
    }
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    tokio::select! {
        result = shutdown_signal() => {
            result?;
            // Rooms outlive the process (their state is in the store): clients are told to come back.
            tracing::info!("stopping; live rooms come back with the next start");
            running.restart_stop(RESTART_RETRY_AFTER).await.context("server failed while stopping")?;
        }
    }
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}
