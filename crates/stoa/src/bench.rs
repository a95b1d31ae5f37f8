//! `stoa bench`: loads one room with real WebRTC listeners (ICE, DTLS, SRTP) and rotating speakers, and
//! reports joins, loss, the server's added latency, and the CPU and memory of server and bench apart.
//!
//! Listeners count every packet from its RTP header (sequence numbers are in the clear in SRTP) and
//! decrypt one in 20, which proves the stream is valid SRTP without the bench spending more than the server.
//! They are spread over one thread per core. Speakers send synthetic 20 ms Opus frames that carry their send
//! time, so the latency is measured on one clock: from the speaker's send to a listener's receive.

use anyhow::{Context, bail};
use clap::Args;
use std::io::{BufRead, BufReader};

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stoa_client::{Api, Incoming, MediaPeer, Session};
use stoa_proto::{ClientCommand, ServerEvent};

/// `stoa bench` options.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// A running server to load, or the nodes of a cluster, comma-separated (`http://a:8080,http://b:8080`):
    /// the room starts on the first, where its speakers are, and the listeners are spread over all of them
    /// in turn. Without it, the bench starts its own `stoa serve` as a separate process on a fresh data
    /// folder, so that the server's CPU and memory are measured apart from the bench's.
    #[arg(long)]
    server: Option<String>,
    /// With --server: each node's `/metrics` address (`stoa serve --metrics`), comma-separated in the order
    /// of --server, to report each node's packets sent and CPU over the measuring window.
    #[arg(long, requires = "server")]
    metrics: Option<String>,
    /// With several --server: no listener joins through the first (the room's origin), so that what it
    /// sends is only its speakers' share and one stream per edge, however large the audience.
    #[arg(long, requires = "server")]
    listeners_on_edges: bool,
    /// With several --server: the speakers' sockets go to this one (0 is the first, where the room is made
    /// and which is its origin), so that what is measured is a speaker on an edge, heard through the link up
    /// to the origin and back down.
    #[arg(long, requires = "server", default_value_t = 0)]
    speakers_through: usize,
    /// With --server: a multi-use invite code (`stoa admin invite --uses N`) for the bench's accounts.
    #[arg(long, requires = "server")]
    invite: Option<String>,
    /// Listeners to join.
    #[arg(long, default_value_t = 200)]
    listeners: usize,
    /// Speakers on stage; one talks at a time, the others are silent with DTX.
    #[arg(long, default_value_t = 2)]
    speakers: usize,
    /// Seconds to measure, once every listener has joined.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds over which listeners join (a join storm).
    #[arg(long, default_value_t = 20.0)]
    join_window: f64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Opus for the speakers to send, looped: a .wav file (encoded with libopus) or an .ogg Opus file, as
    /// `stoa bot speak` takes. Without it they send synthetic 60-byte frames that carry their send time.
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// Instead of a room: send the audience's packet rate and sizes over plain UDP to as many loopback
    /// sockets (no WebRTC, no server), then as fast as possible, for this machine's ceiling. Uses only
    /// --listeners and --seconds.
    #[arg(long)]
    raw_udp: bool,
    /// Extra `stoa serve` options for the bench's own server, e.g. "--audience-frames-above 0".
    #[arg(long, allow_hyphen_values = true)]
    serve_args: Option<String>,
    /// Instead of a room: the hallway's latency for a user who follows --follows of --users accounts,
    /// against one who follows 5, with --rooms live rooms, over --requests requests each.
    #[arg(long)]
    hallway: bool,
    /// Instead of a room: a user with --users followers starts a room; the time until the last follower's
    /// notification is stored, and the latency of another user's requests (reads and writes) meanwhile
    /// against before, over --requests requests.
    #[arg(long)]
    fanout: bool,
    /// Instead of a room: search's latency (people, rooms and events) over --requests queries, with --users
    /// accounts and --events events in the database.
    #[arg(long)]
    search: bool,
    /// With --search: scheduled events in the database.
    #[arg(long, default_value_t = 10_000)]
    events: usize,
    /// With --hallway, --fanout or --search: accounts in the database (with --fanout, the star's followers).
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// With --hallway: how many accounts the heavy user follows.
    #[arg(long, default_value_t = 5_000)]
    follows: usize,
    /// With --hallway: live rooms, each hosted by an account the heavy user follows.
    #[arg(long, default_value_t = 50)]
    rooms: usize,
    /// With --hallway, --fanout or --search: requests measured (per user, per phase or in all).
    #[arg(long, default_value_t = 1_000)]
    requests: usize,
    /// Processes to spread the listeners over (0: as many as this machine's open-file limit needs, which is
    /// one, the bench itself, until a process cannot hold two sockets per listener).
    #[arg(long, default_value_t = 0)]
    listener_processes: usize,
    /// Listeners do not offer RED (audio/red), so the server sends them no redundancy: for comparing the
    /// packets and bytes redundancy costs.
    #[arg(long)]
    no_red: bool,
    /// Chat messages a second in the room during the second half of the measuring window (the first half
    /// is the quiet baseline), sent by extra participants; with --reaction-rate, the chat-and-reactions
    /// bench. The report then has both halves and their ratios.
    #[arg(long, default_value_t = 0.0)]
    chat_rate: f64,
    /// Reactions a second in the room during the second half of the window (see --chat-rate).
    #[arg(long, default_value_t = 0.0)]
    reaction_rate: f64,
    /// HLS players on the room's public listen link during the second half of the window (the room is made
    /// with its listen link on): each polls the playlist every 2 s and fetches each new segment, as hls.js
    /// does. The report has both halves, the HLS requests and errors, and each segment's age when fetched.
    #[arg(long, default_value_t = 0)]
    hls_listeners: usize,
    /// The HLS players play at low latency, as hls.js and Safari do with a playlist that has parts: a
    /// blocking reload for the hinted part, then that part, about twice a second.
    #[arg(long)]
    hls_low_latency: bool,
    /// The host turns on "Record a replay" for the second half of the window: the room's mix (decode,
    /// mix, encode) and its file. The report has both halves.
    #[arg(long)]
    replay: bool,
}

/// How often a speaker's turn passes to the next.
const TURN: Duration = Duration::from_secs(3);
/// One packet in this many is decrypted by a listener.
const SAMPLE: u32 = 20;

/// A synthetic Opus frame (CELT fullband, 20 ms, code 0) carrying its send time in microseconds since `epoch`.
fn frame(epoch: Instant) -> Vec<u8> {
    let mut p = vec![31 << 3];
    p.extend_from_slice(&(epoch.elapsed().as_micros() as u64).to_be_bytes());
    p.resize(60, 0x55);
    p
}

/// The send time carried by a forwarded packet: its first frame's, whether the packet holds one frame or several
/// (RFC 6716 §3.2).
fn sent_at(payload: &[u8]) -> Option<u64> {
    let first = match payload.first()? & 0x03 {
        0 => 1,
        3 => {
            let count = (payload.get(1)? & 0x3f) as usize;
            let mut at = 2;
            for _ in 0..count.saturating_sub(1) {
                at += if *payload.get(at)? >= 252 { 2 } else { 1 };
            }
            at
        }
        _ => return None,
    };
    Some(u64::from_be_bytes(payload.get(first..first + 8)?.try_into().ok()?))
}

/// Where a listener learns when a packet's first frame was sent.
#[derive(Clone)]
enum Clock {
    /// Synthetic frames carry their send time.
    Embedded,
    /// Frames from a file: each frame's fingerprint, with when it was last sent (microseconds since the
    /// epoch) and whether it had also been sent within the two seconds before (silence repeats, so such
    /// a frame cannot be timed).
    Table(Arc<Mutex<std::collections::HashMap<u64, (u64, bool)>>>),
}

impl Clock {
    fn sent(&self, payload: &[u8]) -> Option<u64> {
        match self {
            Clock::Embedded => sent_at(payload),
            Clock::Table(table) => {
                let (at, ambiguous) = *table.lock().unwrap().get(&fingerprint(first_frame(payload)?))?;
                (!ambiguous).then_some(at)
            }
        }
    }

    fn record(&self, payload: &[u8], at_us: u64) {
        if let (Clock::Table(table), Some(frame)) = (self, first_frame(payload)) {
            let mut table = table.lock().unwrap();
            let entry = table.entry(fingerprint(frame)).or_insert((0, false));
            *entry = (at_us, entry.0 != 0 && at_us.saturating_sub(entry.0) < 2_000_000);
        }
    }
}

fn fingerprint(frame: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    frame.hash(&mut h);
    h.finish()
}

/// The first frame's data (without the TOC byte) of an Opus packet of one frame (code 0) or of several
/// (code 3, as the SFU joins them for the audience).
fn first_frame(payload: &[u8]) -> Option<&[u8]> {
    match payload.first()? & 0x03 {
        0 => payload.get(1..),
        3 => {
            let count_byte = *payload.get(1)?;
            let count = (count_byte & 0x3f) as usize;
            if count == 0 || count_byte & 0x40 != 0 {
                return None;
            }
            if count_byte & 0x80 == 0 {
                let each = payload.len().checked_sub(2)? / count;
                return payload.get(2..2 + each);
            }
            let mut at = 2;
            let mut first_len = None;
            for _ in 0..count - 1 {
                let b = *payload.get(at)? as usize;
                let (len, used) = if b >= 252 { (b + 4 * *payload.get(at + 1)? as usize, 2) } else { (b, 1) };
                first_len.get_or_insert(len);
                at += used;
            }
            let len = first_len.unwrap_or(payload.len() - at);
            payload.get(at..at + len)
        }
        _ => None,
    }
}

pub(crate) struct OwnServer {
    child: Child,
    pub(crate) base: String,
    invite: String,
    _data: tempfile::TempDir,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_own_server(accounts: usize, extra: Option<&str>) -> anyhow::Result<OwnServer> {
    start_own_server_on(tempfile::tempdir()?, accounts, extra, false)
}

/// `stoa bench --hallway`: seeds a data folder with `users` accounts, one of whom follows `follows` of them
/// (the hosts of `rooms` open rooms among them) and another 5, starts `stoa serve` on it, and times the
/// hallway for both, one request at a time. The hallway's cost should not grow with whom the caller
/// follows: the ratio of the two is the figure.
async fn hallway(args: &BenchArgs) -> anyhow::Result<()> {
    use stoa_store::{NewAccount, Store};
    let data = tempfile::tempdir()?;
    let password = "bench-password";
    let seeded = Instant::now();
    {
        let store = stoa_store::SqliteStore::open(data.path()).await?;
        let invite = store.create_admin_invite(args.users as u32 + 10).await?;
        let hash = stoa_server::auth::hash_password(password).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut ids = Vec::with_capacity(args.users);
        for i in 0..args.users {
            let new = NewAccount {
                invite: invite.clone(),
                username: format!("user{i}"),
                display_name: format!("User {i}"),
                password_hash: hash.clone(),
            };
            ids.push(store.sign_up(new).await?.id);
            if !args.json && i % 10_000 == 0 {
                eprint!("\rstoa bench: seeding {i} of {} accounts  ", args.users);
            }
        }
        // user0 follows user1..=follows (the hosts are user1..=rooms); the last user follows 5 of them.
        for &id in ids.iter().skip(1).take(args.follows) {
            store.follow(ids[0], id).await?;
        }
        for &id in ids.iter().skip(1).take(5) {
            store.follow(ids[args.users - 1], id).await?;
        }
    }
    let seeded = seeded.elapsed();
    let own = start_own_server_on(data, 1, Some("--reconnect-grace-secs 3600"), true)?;
    for host in 1..=args.rooms {
        let api = Api::login(&own.base, &format!("user{host}"), password).await?;
        api.post("/api/v1/rooms", serde_json::json!({"title": format!("Room {host}"), "visibility": "open"})).await?;
    }
    let mut report = serde_json::json!({
        "mode": "hallway",
        "users": args.users,
        "rooms": args.rooms,
        "requests": args.requests,
        "seed_s": seeded.as_secs_f64(),
    });
    for (who, follows) in [(0, args.follows), (args.users - 1, 5)] {
        let api = Api::login(&own.base, &format!("user{who}"), password).await?;
        let mut times = Vec::with_capacity(args.requests);
        let mut seen = 0;
        for _ in 0..args.requests {
            let start = Instant::now();
            let hallway = api.get("/api/v1/rooms").await?;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            seen = hallway["rooms"].as_array().map_or(0, |r| r.len());
        }
        times.sort_by(f64::total_cmp);
        let key = if follows == 5 { "light" } else { "heavy" };
        report[key] = serde_json::json!({
            "follows": follows,
            "rooms_seen": seen,
            "p50_ms": percentile(&times, 0.5),
            "p99_ms": percentile(&times, 0.99),
        });
    }
    report["p99_ratio_heavy_to_light"] =
        (report["heavy"]["p99_ms"].as_f64().unwrap_or(0.0) / report["light"]["p99_ms"].as_f64().unwrap_or(1.0)).into();
    if args.json {
        println!("{report}");
    } else {
        eprintln!();
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
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

/// CPU seconds (user + system) and resident memory of a process, from /proc.
fn proc_usage(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let hz = 100.0; // USER_HZ on Linux
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse::<f64>().ok()?;
    Some((ticks / hz, rss_kb / 1024.0))
}

pub(crate) fn self_cpu() -> f64 {
    proc_usage(std::process::id()).map_or(0.0, |(cpu, _)| cpu)
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct ListenerResult {
    /// From the WebSocket's start to the first RTP packet.
    join_ms: Option<f64>,
    /// From the WebSocket's start to its upgrade, the room's `joined` event, and the server's SDP answer.
    upgraded_ms: Option<f64>,
    welcomed_ms: Option<f64>,
    answered_ms: Option<f64>,
    /// From the WebSocket's start to ICE being up, and to ICE and DTLS being up.
    ice_ms: Option<f64>,
    connected_ms: Option<f64>,
    packets: u64,
    bytes: u64,
    lost: u64,
    latencies_ms: Vec<f64>,
    decrypted: u64,
    /// With chat, the window's second half: `packets`, `lost` and `latencies_ms` are then the first half's.
    #[serde(default)]
    packets_b: u64,
    #[serde(default)]
    lost_b: u64,
    #[serde(default)]
    latencies_ms_b: Vec<f64>,
    /// Which of the bench's servers it joined through (an index into `--server`'s list).
    #[serde(default)]
    server: usize,
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the bench.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.hallway {
        return hallway(&args).await;
    }
    if args.fanout {
        return crate::bench_social::fanout(args.users, args.requests, args.json).await;
    }
    if args.search {
        return crate::bench_social::search(args.users, args.events, args.requests, args.json).await;
    }
    if args.raw_udp {
        if args.listeners == 0 || args.seconds <= 0.0 {
            bail!("a raw UDP bench needs at least one listener and some seconds");
        }
        if !args.json {
            eprintln!(
                "stoa bench: raw UDP to {} loopback sockets, {} s paced, then {} s flat out",
                args.listeners, args.seconds, args.seconds
            );
        }
        let (listeners, seconds) = (args.listeners, args.seconds);
        let report = tokio::task::spawn_blocking(move || crate::raw_udp::run(listeners, seconds)).await??;
        print_report(&report, args.json);
        return Ok(());
    }
    if args.listeners == 0 || args.speakers == 0 {
        bail!("a bench needs at least one listener and one speaker");
    }
    // Each listener holds a UDP socket and a WebSocket. What one process may open decides how many
    // processes hold them.
    // The bench's own server inherits the limit: a socket per listener and player, and room to spare.
    let limit = raise_file_limit(3 * (args.listeners + args.speakers) as u64 + 2 * args.hls_listeners as u64 + 1024);
    let per_process = (limit.saturating_sub(256) / 2).max(1) as usize;
    let processes = match args.listener_processes {
        0 if 2 * (args.listeners + args.speakers) as u64 + 256 <= limit => 1,
        0 => args.listeners.div_ceil(per_process).max(2),
        n => n.min(args.listeners),
    };
    if processes > 1 && args.listeners.div_ceil(processes) > per_process {
        eprintln!(
            "stoa bench: warning: {processes} processes of {} listeners each need more than the {limit} open files \
             a process may have here; the listeners beyond that will fail to join (raise the hard `ulimit -n`)",
            args.listeners.div_ceil(processes)
        );
    }
    // A bad file fails here, before any account is made.
    let file_frames = match &args.file {
        Some(_) if processes > 1 => {
            bail!("--file times frames in one process: use at most {per_process} listeners with it")
        }
        Some(path) => {
            let frames = stoa_client::audio::load(path)?;
            if frames.iter().all(|f| f.is_silent()) {
                bail!("{} holds no sound to speak", path.display());
            }
            Some(Arc::new(frames))
        }
        None => None,
    };
    let clock = if file_frames.is_some() { Clock::Table(Default::default()) } else { Clock::Embedded };
    if !(0.0..=20.0).contains(&args.chat_rate) || !(0.0..=1000.0).contains(&args.reaction_rate) {
        bail!("--chat-rate is 0 to 20 a second (the room's limit), --reaction-rate 0 to 1000");
    }
    let chatting = args.chat_rate > 0.0 || args.reaction_rate > 0.0;
    // Each chatter sends a message every 2 s at most (one a second is the limit per person) and gives a
    // reaction a second at most (five per half second is the limit).
    let chatters = if chatting {
        ((args.chat_rate * 2.0).ceil() as usize).max(args.reaction_rate.ceil() as usize).max(1)
    } else {
        0
    };
    let own = match &args.server {
        Some(_) => None,
        None => Some(start_own_server(args.listeners + args.speakers + chatters + 1, args.serve_args.as_deref())?),
    };
    let bases: Vec<String> = match &args.server {
        Some(list) => {
            list.split(',').map(|s| s.trim().trim_end_matches('/').to_string()).filter(|s| !s.is_empty()).collect()
        }
        None => own.iter().map(|o| o.base.clone()).collect(),
    };
    let base = bases.first().cloned().context("--server names no server")?;
    let metrics: Vec<String> = args.metrics.iter().flat_map(|m| m.split(',')).map(|s| s.trim().to_string()).collect();
    if args.listeners_on_edges && bases.len() < 2 {
        bail!("--listeners-on-edges needs at least two servers in --server: the origin, then its edges");
    }
    if args.speakers_through >= bases.len() {
        bail!(
            "--speakers-through {} names no server: --server lists {} (0 is the first)",
            args.speakers_through,
            bases.len()
        );
    }
    if !metrics.is_empty() && metrics.len() != bases.len() {
        bail!(
            "--metrics names {} addresses for {} servers: one per server, in the same order",
            metrics.len(),
            bases.len()
        );
    }
    let invite = args
        .invite
        .clone()
        .or_else(|| own.as_ref().map(|o| o.invite.clone()))
        .context("--invite is needed with --server")?;
    let progress = |s: &str| {
        if !args.json {
            eprintln!("stoa bench: {s}");
        }
    };

    // Accounts, a few at a time: sign-up hashes a password, which is deliberately slow.
    progress(&format!("creating {} accounts", args.listeners + args.speakers + chatters));
    let tag = format!("{:x}", std::process::id() % 0xfff);
    let names: Vec<String> = (0..args.speakers)
        .map(|i| format!("bs{tag}_{i}"))
        .chain((0..args.listeners).map(|i| format!("bl{tag}_{i}")))
        .chain((0..chatters).map(|i| format!("bc{tag}_{i}")))
        .collect();
    use futures_util::StreamExt;
    let apis: Vec<Api> =
        futures_util::stream::iter(names.iter().map(|n| Api::sign_up(&base, &invite, n, "bench-password")))
            .buffered(8)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
    let (speaker_apis, rest) = apis.split_at(args.speakers);
    let (listener_apis, chatter_apis) = rest.split_at(args.listeners);
    let outputs = serde_json::json!({"listen_link": args.hls_listeners > 0});
    let room = speaker_apis[0]
        .post("/api/v1/rooms", serde_json::json!({"title": "Bench", "visibility": "open", "outputs": outputs}))
        .await?;
    let room = room["id"].as_str().context("no room id")?.to_string();

    // Speakers: the first is the host; the others are invited up.
    let epoch = Instant::now();
    let epoch_wall = std::time::SystemTime::now();
    // With --speakers-through, the speakers' sockets (and so their media) are on another node than the
    // room's origin.
    let through = |api: &Api| Api::with_token(&bases[args.speakers_through], &api.token);
    // Another node learns of the new room from the origin's news a moment later: wait for it there, so that
    // the join does not race the news and find no room.
    let deadline = Instant::now() + Duration::from_secs(5);
    while args.speakers_through > 0 && through(&speaker_apis[0]).get(&format!("/api/v1/rooms/{room}")).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "node {} never listed the room", args.speakers_through + 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut host = Session::join(&through(&speaker_apis[0]), &room, 3).await?;
    let mut speakers = Vec::new();
    for api in &speaker_apis[1..] {
        let mut s = Session::join(&through(api), &room, 3).await?;
        host.command(ClientCommand::InviteToSpeak { user_id: s.you.id }).await?;
        loop {
            match s.next().await {
                Incoming::Event(ServerEvent::InvitedToSpeak { .. }) => s.command(ClientCommand::AcceptInvite).await?,
                Incoming::Event(ServerEvent::RoleChanged { .. }) => break,
                Incoming::Closed => bail!("a speaker's socket closed"),
                _ => {}
            }
        }
        speakers.push(s);
    }
    speakers.insert(0, host);
    let talking_sent = Arc::new(AtomicU64::new(0));
    let all_sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let n_speakers = speakers.len();
    let mut speaker_tasks = Vec::new();
    // With --replay, the host turns the replay on when the window's second half begins.
    let replay_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    for (i, mut s) in speakers.into_iter().enumerate() {
        let (talking_sent, all_sent, stop) = (talking_sent.clone(), all_sent.clone(), stop.clone());
        let (file_frames, clock) = (file_frames.clone(), clock.clone());
        let replay_at = (i == 0 && args.replay).then(|| replay_at.clone());
        speaker_tasks.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(20));
            let (mut ts, mut last_sent, mut index) = (0u32, None::<Instant>, 0usize);
            while !stop.load(Ordering::Relaxed) {
                if let Some(at) = &replay_at {
                    let due = at.lock().unwrap_or_else(|e| e.into_inner()).is_some_and(|t| Instant::now() >= t);
                    if due {
                        *at.lock().unwrap_or_else(|e| e.into_inner()) = None;
                        let record =
                            ClientCommand::SetOutputs { recording: Some(true), clips: None, listen_link: None };
                        let _ = s.command(record).await;
                    }
                }
                tokio::select! {
                    _ = ticker.tick() => {
                        ts = ts.wrapping_add(960);
                        let turn = (epoch.elapsed().as_millis() / TURN.as_millis()) as usize % n_speakers;
                        let from_file = file_frames.as_ref().map(|f| {
                            index = (index + 1) % f.len();
                            f[index].clone()
                        });
                        if turn == i && let Some(f) = from_file.as_ref().filter(|f| !f.is_silent()) {
                            let at = epoch.elapsed().as_micros() as u64;
                            clock.record(&f.payload, at);
                            if s.send_audio(&f.payload, ts, Some(f.level)).await {
                                talking_sent.fetch_add(1, Ordering::Relaxed);
                                all_sent.fetch_add(1, Ordering::Relaxed);
                                last_sent = Some(Instant::now());
                            }
                        } else if turn == i && from_file.is_none() {
                            if s.send_audio(&frame(epoch), ts, Some(-10)).await {
                                talking_sent.fetch_add(1, Ordering::Relaxed);
                                all_sent.fetch_add(1, Ordering::Relaxed);
                            }
                        } else if last_sent.is_none_or(|t| t.elapsed() >= Duration::from_millis(400)) {
                            // DTX: a silent keep-alive every 400 ms, which the SFU does not forward.
                            // The speaker who talked last still holds a slot, so these reach the audience.
                            if s.send_audio(&[31 << 3, 0], ts, Some(-127)).await {
                                all_sent.fetch_add(1, Ordering::Relaxed);
                            }
                            last_sent = Some(Instant::now());
                        }
                    }
                    _ = s.next() => {}
                }
            }
        }));
    }

    // Chatters: in the room from the start, talking only in the window's second half.
    let mut chatter_sessions = Vec::new();
    for api in chatter_apis {
        chatter_sessions.push(Session::join(api, &room, 3).await?);
    }

    // Listeners join within the window: in this process, or spread over worker processes when one process
    // may not open enough sockets for all of them.
    let start_join = Instant::now();
    let measure_from = start_join + Duration::from_secs_f64(args.join_window);
    let measure_to = measure_from + Duration::from_secs_f64(args.seconds);
    // With chat (or HLS players, or the replay), the window's first half is the quiet baseline and its
    // second half carries the chat (or the players, or the mix).
    let egress_half = args.hls_listeners > 0 || args.replay;
    let measure_mid = (chatting || egress_half).then(|| measure_from + Duration::from_secs_f64(args.seconds / 2.0));
    if let Some(mid) = measure_mid {
        *replay_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(mid);
    }
    // The HLS players run in a process of their own from the window's middle to its end.
    let hls_worker = match (measure_mid, args.hls_listeners > 0) {
        (Some(mid), true) => {
            let url = reqwest::Url::parse(&base).context("the server's address")?;
            if url.scheme() != "http" {
                bail!("--hls-listeners speaks plain HTTP: give the server's http:// address (or bench its own)");
            }
            let host = url.host_str().context("the server's address has no host")?.to_string();
            let port = url.port_or_known_default().unwrap_or(80);
            let plan = crate::bench_hls::HlsPlan {
                addr: format!("{host}:{port}"),
                host: format!("{host}:{port}"),
                room: room.clone(),
                players: args.hls_listeners,
                low_latency: args.hls_low_latency,
                // A socket each, unless that would take more open files than the server (which also holds
                // the listeners' sockets) may have here: then players share connections, as behind a proxy.
                connections: args.hls_listeners.min(hls_connection_cap(limit, args.listeners + args.speakers)),
                start_us: wall_at(mid),
                stop_us: wall_at(measure_to),
            };
            Some(Worker::start("bench-hls", "the HLS players' process", &plan)?)
        }
        _ => None,
    };
    let chat_stats = Arc::new(ChatStats::default());
    let mut chatter_tasks = Vec::new();
    for (i, mut session) in chatter_sessions.into_iter().enumerate() {
        let stats = chat_stats.clone();
        let (n, chat_rate, reaction_rate) = (chatters as f64, args.chat_rate, args.reaction_rate);
        let (stop, mid_at) = (stop.clone(), measure_mid);
        chatter_tasks.push(tokio::spawn(async move {
            chatter(&mut session, i, n, chat_rate, reaction_rate, mid_at, stop, &stats).await;
        }));
    }
    let tokens: Vec<(usize, String)> = listener_apis.iter().map(|a| a.token.clone()).enumerate().collect();
    let plan = |listeners: Vec<(usize, String)>| ListenerPlan {
        bases: bases.clone(),
        skip_first: args.listeners_on_edges,
        room: room.clone(),
        listeners,
        total: args.listeners,
        join_window: args.join_window,
        epoch_us: wall_us(epoch_wall),
        start_join_us: wall_at(start_join),
        measure_from_us: wall_at(measure_from),
        measure_to_us: wall_at(measure_to),
        measure_mid_us: measure_mid.map(wall_at),
        red: !args.no_red,
    };
    let mut workers = Vec::new();
    let local = if processes == 1 {
        progress(&format!("{} listeners joining over {:.0} s", args.listeners, args.join_window));
        let (plan, clock) = (plan(tokens), clock.clone());
        Some(tokio::task::spawn_blocking(move || run_listeners(plan, clock)))
    } else {
        progress(&format!(
            "{} listeners joining over {:.0} s from {processes} processes",
            args.listeners, args.join_window
        ));
        for p in 0..processes {
            let mine = tokens.iter().filter(|(i, _)| i % processes == p).cloned().collect();
            workers.push(Worker::start("bench-listeners", "a listener process", &plan(mine))?);
        }
        None
    };

    // Measure: the server's and the bench's CPU over the measuring window only.
    tokio::time::sleep_until(tokio::time::Instant::from_std(measure_from)).await;
    let pid = own.as_ref().map(|o| o.child.id());
    let server_start = pid.and_then(tree_usage);
    let nodes_start = scrape_nodes(&metrics).await;
    // Each worker's CPU, or none when its /proc entry could not be read: a worker counts only when it was
    // read at both ends (one missed at the end once made the figure negative).
    let workers_cpu =
        |workers: &[Worker]| -> Vec<Option<f64>> { workers.iter().map(|w| proc_usage(w.pid).map(|u| u.0)).collect() };
    let (self_start, workers_start) = (self_cpu(), workers_cpu(&workers));
    let hls_pid = hls_worker.as_ref().map(|w| w.pid);
    let hls_start = hls_pid.and_then(proc_usage);
    let sent_start = (talking_sent.load(Ordering::Relaxed), all_sent.load(Ordering::Relaxed));
    let mut server_mid = None;
    while Instant::now() < measure_to {
        if let Some(mid) = measure_mid
            && server_mid.is_none()
            && Instant::now() >= mid
        {
            server_mid = pid.and_then(tree_usage);
        }
        let next = measure_mid.filter(|m| server_mid.is_none() && *m > Instant::now()).unwrap_or(measure_to);
        tokio::time::sleep(Duration::from_millis(500).min(next.saturating_duration_since(Instant::now()))).await;
        if !args.json {
            let done = (Instant::now() - measure_from).as_secs_f64() / args.seconds;
            eprint!(
                "\rstoa bench: measuring [{:<30}] {:>3.0}%  ",
                "#".repeat((done.min(1.0) * 30.0) as usize),
                done.min(1.0) * 100.0
            );
        }
    }
    let server_end = pid.and_then(tree_usage);
    let nodes_end = scrape_nodes(&metrics).await;
    let workers_spent: f64 =
        workers_start.iter().zip(workers_cpu(&workers)).filter_map(|(start, end)| Some(end? - (*start)?)).sum();
    let (bench_start, bench_end) = (self_start, self_cpu() + workers_spent);
    let hls_end = hls_pid.and_then(proc_usage);
    let talking_window = talking_sent.load(Ordering::Relaxed) - sent_start.0;
    let all_window = all_sent.load(Ordering::Relaxed) - sent_start.1;
    stop.store(true, Ordering::Relaxed);
    let mut results = match local {
        Some(local) => local.await?,
        None => Vec::new(),
    };
    for worker in workers {
        results.extend(worker.finish::<Vec<ListenerResult>>().await?);
    }
    let hls_report = match hls_worker {
        Some(w) => Some(w.finish::<crate::bench_hls::HlsReport>().await?),
        None => None,
    };
    for t in speaker_tasks.into_iter().chain(chatter_tasks) {
        let _ = t.await;
    }
    if !args.json {
        eprintln!();
    }

    if let Ok(path) = std::env::var("STOA_BENCH_DUMP") {
        let lines: Vec<String> = results
            .iter()
            .map(|r| {
                serde_json::json!([r.upgraded_ms, r.welcomed_ms, r.answered_ms, r.ice_ms, r.connected_ms, r.join_ms])
                    .to_string()
            })
            .collect();
        std::fs::write(path, lines.join("\n"))?;
    }
    let mut joins: Vec<f64> = results.iter().filter_map(|r| r.join_ms).collect();
    joins.sort_by(f64::total_cmp);
    let phase = |f: fn(&ListenerResult) -> Option<f64>| {
        let mut v: Vec<f64> = results.iter().filter_map(f).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (upgraded, welcomed) = (phase(|r| r.upgraded_ms), phase(|r| r.welcomed_ms));
    let (answered, connected) = (phase(|r| r.answered_ms), phase(|r| r.connected_ms));
    let ice = phase(|r| r.ice_ms);
    // The whole window (with chat, both halves).
    let mut latencies: Vec<f64> =
        results.iter().flat_map(|r| r.latencies_ms.iter().chain(&r.latencies_ms_b).copied()).collect();
    latencies.sort_by(f64::total_cmp);
    let received: u64 = results.iter().map(|r| r.packets + r.packets_b).sum();
    let lost: u64 = results.iter().map(|r| r.lost + r.lost_b).sum();
    let expected = received + lost;
    let seconds = args.seconds;
    let (server_cpu_pct, server_rss_mb) = match (server_start, server_end) {
        (Some((a, _)), Some((b, rss))) => ((b - a) / seconds * 100.0, rss),
        _ => (f64::NAN, f64::NAN),
    };
    let report = serde_json::json!({
        "listeners": args.listeners,
        "speakers": args.speakers,
        "seconds": seconds,
        "joined": joins.len(),
        "join_p50_ms": percentile(&joins, 0.5),
        "join_p99_ms": percentile(&joins, 0.99),
        "join_upgraded_p50_ms": percentile(&upgraded, 0.5),
        "join_upgraded_p99_ms": percentile(&upgraded, 0.99),
        "join_welcomed_p50_ms": percentile(&welcomed, 0.5),
        "join_welcomed_p99_ms": percentile(&welcomed, 0.99),
        "join_answered_p50_ms": percentile(&answered, 0.5),
        "join_answered_p99_ms": percentile(&answered, 0.99),
        "join_ice_p50_ms": percentile(&ice, 0.5),
        "join_ice_p99_ms": percentile(&ice, 0.99),
        "join_connected_p50_ms": percentile(&connected, 0.5),
        "join_connected_p99_ms": percentile(&connected, 0.99),
        "packets_expected": expected,
        "packets_received": received,
        "loss_pct": if expected == 0 { 0.0 } else { lost as f64 * 100.0 / expected as f64 },
        "latency_p50_ms": percentile(&latencies, 0.5),
        "latency_p99_ms": percentile(&latencies, 0.99),
        "server_cpu_pct": server_cpu_pct,
        "server_rss_mb": server_rss_mb,
        "server_pps_out": received as f64 / seconds,
        "bench_cpu_pct": (bench_end - bench_start) / seconds * 100.0,
        "frames_sent_talking": talking_window,
        "frames_sent_all": all_window,
        "packets_received_min":
            results.iter().filter(|r| r.join_ms.is_some()).map(|r| r.packets + r.packets_b).min().unwrap_or(0),
        "packets_received_max": results.iter().map(|r| r.packets + r.packets_b).max().unwrap_or(0),
        "packets_decrypted": results.iter().map(|r| r.decrypted).sum::<u64>(),
        "bytes_received": results.iter().map(|r| r.bytes).sum::<u64>(),
        "listener_processes": processes,
        "speakers_through": args.speakers_through,
        "red": !args.no_red,
    });
    let mut report = report;
    if bases.len() > 1 || !metrics.is_empty() {
        // Each server's listeners apart (the latency through an edge against the origin's own), and with
        // --metrics what each node sent and spent.
        let mut nodes = Vec::new();
        for (n, server) in bases.iter().enumerate() {
            let mine: Vec<&ListenerResult> = results.iter().filter(|r| r.server == n).collect();
            let mut latencies: Vec<f64> =
                mine.iter().flat_map(|r| r.latencies_ms.iter().chain(&r.latencies_ms_b).copied()).collect();
            latencies.sort_by(f64::total_cmp);
            let mut node = serde_json::json!({
                "server": server,
                "listeners": mine.len(),
                "joined": mine.iter().filter(|r| r.join_ms.is_some()).count(),
                "latency_p50_ms": percentile(&latencies, 0.5),
                "latency_p99_ms": percentile(&latencies, 0.99),
            });
            match (nodes_start.get(n).copied().flatten(), nodes_end.get(n).copied().flatten()) {
                (Some(a), Some(b)) => {
                    node["pps_out"] = ((b.packets_sent - a.packets_sent) / seconds).into();
                    node["cpu_pct"] = ((b.cpu_seconds - a.cpu_seconds) / seconds * 100.0).into();
                    // At the window's start, when every listener has joined and none has left.
                    node["media_peers"] = a.media_peers.into();
                }
                _ if !metrics.is_empty() => node["error"] = "its /metrics did not answer".into(),
                _ => {}
            }
            nodes.push(node);
        }
        report["nodes"] = nodes.into();
    }
    if measure_mid.is_some() {
        let half = seconds / 2.0;
        let cpu = |a: Option<(f64, f64)>, b: Option<(f64, f64)>| match (a, b) {
            (Some((a, _)), Some((b, _))) => (b - a) / half * 100.0,
            _ => f64::NAN,
        };
        let joined = joins.len();
        let phase_report = |packets: u64, lost: u64, lat: &mut Vec<f64>, cpu: f64| {
            lat.sort_by(f64::total_cmp);
            let expected = packets + lost;
            serde_json::json!({
                "server_cpu_pct": cpu,
                "loss_pct": if expected == 0 { 0.0 } else { lost as f64 * 100.0 / expected as f64 },
                "latency_p50_ms": percentile(lat, 0.5),
                "latency_p99_ms": percentile(lat, 0.99),
                "packets_received": packets,
                // What each listener got a second: a drop here with no loss means packets the server never
                // forwarded (a speaker's packets it could not read in time), which sequence gaps do not show.
                "packets_per_listener_s": packets as f64 / joined.max(1) as f64 / half,
            })
        };
        let mut lat_a: Vec<f64> = results.iter().flat_map(|r| r.latencies_ms.iter().copied()).collect();
        let mut lat_b: Vec<f64> = results.iter().flat_map(|r| r.latencies_ms_b.iter().copied()).collect();
        let quiet = phase_report(
            results.iter().map(|r| r.packets).sum(),
            results.iter().map(|r| r.lost).sum(),
            &mut lat_a,
            cpu(server_start, server_mid),
        );
        let busy = phase_report(
            results.iter().map(|r| r.packets_b).sum(),
            results.iter().map(|r| r.lost_b).sum(),
            &mut lat_b,
            cpu(server_mid, server_end),
        );
        let ratio =
            busy["server_cpu_pct"].as_f64().unwrap_or(f64::NAN) / quiet["server_cpu_pct"].as_f64().unwrap_or(f64::NAN);
        report["quiet"] = quiet;
        report[if chatting { "chat" } else { "busy" }] = busy;
        report[if chatting { "chat_cpu_ratio" } else { "busy_cpu_ratio" }] = ratio.into();
        if let Some(mut hls) = hls_report {
            hls.ages_ms.sort_by(f64::total_cmp);
            hls.request_ms.sort_by(f64::total_cmp);
            let players_cpu = match (hls_start, hls_end) {
                (Some((a, _)), Some((b, _))) => (b - a) / half * 100.0,
                _ => f64::NAN,
            };
            report["hls"] = serde_json::json!({
                "players": args.hls_listeners,
                "low_latency": args.hls_low_latency,
                "part_requests_per_s": hls.parts as f64 / half,
                "players_cpu_pct": players_cpu,
                "connections": hls.connections,
                "playlist_requests_per_s": hls.playlists as f64 / half,
                "segment_requests_per_s": hls.segments as f64 / half,
                "errors": hls.errors,
                "error_samples": hls.error_samples,
                "retried": hls.retried,
                "request_p50_ms": percentile(&hls.request_ms, 0.5),
                "request_p99_ms": percentile(&hls.request_ms, 0.99),
                "segment_ages_measured": hls.ages_ms.len(),
                "segment_age_at_fetch_p50_ms": percentile(&hls.ages_ms, 0.5),
                "segment_age_at_fetch_p95_ms": percentile(&hls.ages_ms, 0.95),
            });
        }
        report["replay"] = args.replay.into();
        report["chat_rate"] = args.chat_rate.into();
        report["reaction_rate"] = args.reaction_rate.into();
        report["chatters"] = chatters.into();
        report["chat_sent"] = chat_stats.sent.load(Ordering::Relaxed).into();
        report["chat_refused"] = chat_stats.refused.load(Ordering::Relaxed).into();
        report["reactions_sent"] = chat_stats.reactions.load(Ordering::Relaxed).into();
        report["chat_seen_by_a_chatter"] = chat_stats.seen.load(Ordering::Relaxed).into();
        report["reaction_counts_seen_by_a_chatter"] = chat_stats.counts_seen.load(Ordering::Relaxed).into();
    }
    print_report(&report, args.json);
    Ok(())
}

/// What a node's `/metrics` says of its media plane and CPU.
#[derive(Debug, Clone, Copy)]
struct NodeMeter {
    packets_sent: f64,
    cpu_seconds: f64,
    media_peers: f64,
}

/// Every node's meters, in order (`None` where a node did not answer).
async fn scrape_nodes(urls: &[String]) -> Vec<Option<NodeMeter>> {
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
fn parse_meter(text: &str) -> NodeMeter {
    let mut meter = NodeMeter { packets_sent: 0.0, cpu_seconds: 0.0, media_peers: 0.0 };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        match name {
            "stoa_media_packets_sent_total" => meter.packets_sent = value,
            "process_cpu_seconds_total" => meter.cpu_seconds = value,
            n if n.starts_with("stoa_media_peers{") => meter.media_peers += value,
            _ => {}
        }
    }
    meter
}

/// How many listen-link connections the bench's server can take besides its listeners' sockets, within the
/// open-file limit it inherits (at least 1,000).
fn hls_connection_cap(limit: u64, peers: usize) -> usize {
    (limit.saturating_sub(3 * peers as u64 + 1024) as usize).max(1000)
}

/// A process's CPU seconds and memory with its children's (the server's ffmpeg encoders) added.
fn tree_usage(pid: u32) -> Option<(f64, f64)> {
    let (mut cpu, mut rss) = proc_usage(pid)?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        let ppid = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(pid)
            && let Some((c, r)) = proc_usage(child)
        {
            cpu += c;
            rss += r;
        }
    }
    Some((cpu, rss))
}

/// What the chatters did and saw.
#[derive(Default)]
struct ChatStats {
    sent: AtomicU64,
    refused: AtomicU64,
    reactions: AtomicU64,
    /// Chat messages the first chatter received (each is broadcast to everyone once).
    seen: AtomicU64,
    /// Reactions counted in the `reactions` events the first chatter received.
    counts_seen: AtomicU64,
}

/// One chatter: from `from` until stopped, a message every `n / chat_rate` seconds and a reaction every
/// `n / reaction_rate` seconds, staggered by its place `i` among `n`, so that the room gets the rates.
#[allow(clippy::too_many_arguments)]
async fn chatter(
    session: &mut Session,
    i: usize,
    n: f64,
    chat_rate: f64,
    reaction_rate: f64,
    from: Option<Instant>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    stats: &ChatStats,
) {
    use stoa_proto::Reaction;
    let start = from.unwrap_or_else(Instant::now);
    let every = |rate: f64| (rate > 0.0).then(|| Duration::from_secs_f64(n / rate));
    let (chat_every, react_every) = (every(chat_rate), every(reaction_rate));
    let offset = |d: Duration| d.mul_f64(i as f64 / n);
    let mut next_chat = chat_every.map(|d| start + offset(d));
    let mut next_react = react_every.map(|d| start + offset(d));
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let due = [next_chat, next_react].into_iter().flatten().min().unwrap_or(start + Duration::from_secs(3600));
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {
                let now = Instant::now();
                if let (Some(at), Some(d)) = (next_chat, chat_every) && now >= at {
                    k += 1;
                    let text = format!("Bench chatter {i}, message {k}: a line of about a hundred characters, as people write in a room.");
                    if session.command(ClientCommand::SendChat { text }).await.is_ok() {
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    // Late (a busy machine): on from now, never a burst to catch up, which the room's
                    // limits would refuse.
                    next_chat = Some((at + d).max(now + d / 2));
                }
                if let (Some(at), Some(d)) = (next_react, react_every) && now >= at {
                    let reaction = Reaction::ALL[(i + k as usize) % Reaction::ALL.len()];
                    if session.command(ClientCommand::React { reaction }).await.is_ok() {
                        stats.reactions.fetch_add(1, Ordering::Relaxed);
                    }
                    next_react = Some((at + d).max(now + d / 2));
                }
            }
            event = session.next() => match event {
                Incoming::Event(ServerEvent::ChatMessage { .. }) if i == 0 => {
                    stats.seen.fetch_add(1, Ordering::Relaxed);
                }
                Incoming::Event(ServerEvent::Reactions { counts }) if i == 0 => {
                    stats.counts_seen.fetch_add(counts.iter().map(|c| u64::from(c.count)).sum(), Ordering::Relaxed);
                }
                Incoming::Event(ServerEvent::Error { code, .. }) if code.starts_with("chat") => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                }
                Incoming::Closed => return,
                _ => {}
            }
        }
    }
}

fn print_report(report: &serde_json::Value, json: bool) {
    if json {
        println!("{report}");
    } else {
        for (k, v) in report.as_object().into_iter().flatten() {
            println!("{k:>22}  {v}");
        }
    }
}

/// What one process of listeners needs: the bench's own, or a worker's (`stoa bench-listeners`, started
/// when one process may not open two sockets for every listener). Times are on the wall clock, in
/// microseconds since the Unix epoch, so that every process places them alike.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ListenerPlan {
    /// The servers: listener `i` joins through `bases[i % bases.len()]`.
    bases: Vec<String>,
    /// Whether listeners skip the first server (`--listeners-on-edges`): then listener `i` joins through
    /// `bases[1 + i % (bases.len() - 1)]`.
    #[serde(default)]
    skip_first: bool,
    room: String,
    /// This process's listeners: each one's place among all the listeners (which decides when it joins)
    /// and its session token.
    listeners: Vec<(usize, String)>,
    /// Listeners in all processes.
    total: usize,
    join_window: f64,
    epoch_us: u64,
    start_join_us: u64,
    measure_from_us: u64,
    measure_to_us: u64,
    /// Where the window's quiet first half ends, with chat.
    #[serde(default)]
    measure_mid_us: Option<u64>,
    /// Whether listeners offer RED.
    #[serde(default = "yes")]
    red: bool,
}

impl ListenerPlan {
    /// Which server listener `i` joins through.
    fn server_of(&self, i: usize) -> usize {
        match self.bases.len() {
            0 | 1 => 0,
            n if self.skip_first => 1 + i % (n - 1),
            n => i % n,
        }
    }
}

fn yes() -> bool {
    true
}

fn wall_us(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// The wall-clock time of an instant of this process.
fn wall_at(at: Instant) -> u64 {
    let (now, wall) = (Instant::now(), wall_us(std::time::SystemTime::now()));
    match at.checked_duration_since(now) {
        Some(ahead) => wall + ahead.as_micros() as u64,
        None => wall.saturating_sub(now.duration_since(at).as_micros() as u64),
    }
}

/// This process's instant at a wall-clock time.
fn instant_at(wall: u64) -> Instant {
    let (now, now_wall) = (Instant::now(), wall_us(std::time::SystemTime::now()));
    if wall >= now_wall {
        now + Duration::from_micros(wall - now_wall)
    } else {
        now.checked_sub(Duration::from_micros(now_wall - wall)).unwrap_or(now)
    }
}

/// Joins a plan's listeners and measures them until its window closes: one thread per core with a runtime
/// for the listeners' room sockets (busy only while joining), and one media loop per core that owns their
/// peers. Blocks until the window has closed and every listener has left.
fn run_listeners(plan: ListenerPlan, clock: Clock) -> Vec<ListenerResult> {
    let epoch_wall = std::time::UNIX_EPOCH + Duration::from_micros(plan.epoch_us);
    let epoch = instant_at(plan.epoch_us);
    let start_join = instant_at(plan.start_join_us);
    let (measure_from, measure_to) = (instant_at(plan.measure_from_us), instant_at(plan.measure_to_us));
    let measure_mid = plan.measure_mid_us.map(instant_at);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results: Arc<Mutex<Vec<ListenerResult>>> = Arc::new(Mutex::new(Vec::new()));
    let joined = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for t in 0..threads {
        let mine: Vec<(usize, usize, Api)> = plan
            .listeners
            .iter()
            .enumerate()
            .filter(|(k, _)| k % threads == t)
            .map(|(_, (i, token))| (*i, plan.server_of(*i), Api::with_token(&plan.bases[plan.server_of(*i)], token)))
            .collect();
        let (peers_tx, peers_rx) = std::sync::mpsc::channel::<Joined>();
        let window = Window { epoch, epoch_wall, measure_from, measure_mid, measure_to, clock: clock.clone() };
        let (loop_results, loop_joined) = (results.clone(), joined.clone());
        handles.push(std::thread::spawn(move || {
            let r = media_loop(peers_rx, window, &loop_joined);
            loop_results.lock().unwrap().extend(r);
        }));
        let (room, results) = (plan.room.clone(), results.clone());
        let transports = stoa_client::Transports { red: plan.red, ..stoa_client::Transports::UDP };
        let (listeners, join_window) = (plan.total, plan.join_window);
        handles.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            rt.block_on(async move {
                let mut tasks = Vec::new();
                for (i, server, api) in mine {
                    let (room, results, peers_tx) = (room.clone(), results.clone(), peers_tx.clone());
                    tasks.push(tokio::spawn(async move {
                        let delay = Duration::from_secs_f64(join_window * 0.8 * i as f64 / listeners as f64);
                        tokio::time::sleep_until(tokio::time::Instant::from_std(start_join + delay)).await;
                        let began = Instant::now();
                        let split = match Session::join_with(&api, &room, 3, transports).await {
                            Ok(s) => {
                                let phases = s.phases;
                                s.into_media().map(|(signaling, peer)| (signaling, peer, phases))
                            }
                            Err(e) => Err(e),
                        };
                        let Ok((mut signaling, peer, phases)) = split else {
                            results.lock().unwrap().push(ListenerResult { server, ..Default::default() });
                            return;
                        };
                        if peers_tx.send(Joined { peer, began, phases, server }).is_err() {
                            return;
                        }
                        signaling.hold_until(measure_to).await;
                        signaling.leave().await;
                    }));
                }
                drop(peers_tx);
                for t in tasks {
                    let _ = t.await;
                }
            });
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    std::mem::take(&mut *results.lock().unwrap())
}

/// `stoa bench-listeners`: a worker of the bench. Reads a [`ListenerPlan`] as JSON on standard input, runs
/// it, and writes its listeners' results as JSON on standard output.
pub async fn listeners_worker() -> anyhow::Result<()> {
    let plan: ListenerPlan = Worker::read_plan("stoa bench-listeners reads a listener plan").await?;
    raise_file_limit(2 * plan.listeners.len() as u64 + 256);
    let results = tokio::task::spawn_blocking(move || run_listeners(plan, Clock::Embedded)).await?;
    Worker::write_results(&results).await
}

/// A worker process of the bench (`stoa bench-listeners`, `stoa bench-hls`): a plan as JSON on its standard
/// input, its results as JSON on its standard output.
pub(crate) struct Worker {
    child: tokio::process::Child,
    pub pid: u32,
    /// What it is, for errors.
    what: &'static str,
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

/// A listener whose room socket is open and whose media peer is handed to a media loop.
struct Joined {
    peer: MediaPeer,
    /// When it began to join (the WebSocket's start), for the join time.
    began: Instant,
    /// How long the signaling's steps took.
    phases: stoa_client::JoinPhases,
    /// Which server it joined through.
    server: usize,
}

/// The bench's clock and measuring window.
#[derive(Clone)]
struct Window {
    clock: Clock,
    epoch: Instant,
    /// The wall clock at `epoch`, to place the kernel's arrival timestamps on the bench's clock.
    epoch_wall: std::time::SystemTime,
    measure_from: Instant,
    /// With chat: where the window's second half begins.
    measure_mid: Option<Instant>,
    measure_to: Instant,
}

struct Listener {
    peer: MediaPeer,
    began: Instant,
    count: stoa_client::RtpCount,
    seen: u32,
    timeout: Instant,
    /// Counts when the measuring window opened.
    base: Option<(u64, u64, u64)>,
    /// Counts at the window's middle, with chat.
    mid: Option<(u64, u64, u64)>,
    result: ListenerResult,
}

/// Drives the media of this core's listeners until the window closes: one epoll set over their sockets and
/// one timer heap, every RTP packet counted from its clear header where it lands, and only one in
/// [`SAMPLE`] (plus everything that is not RTP, and the peers' timeouts) handed to str0m. So a listener
/// costs the bench a receive and a header read per packet, which is less than the server spends sealing it.
fn media_loop(peers: std::sync::mpsc::Receiver<Joined>, window: Window, joined: &AtomicU64) -> Vec<ListenerResult> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::os::fd::AsRawFd;
    use str0m::net::{Protocol, Receive};
    use str0m::{Event, Input, Output};

    // SAFETY: epoll on descriptors owned by `listeners`, which outlive their registration; the event buffer
    // is valid for its length.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epoll < 0 {
        return Vec::new();
    }
    let mut listeners: Vec<Listener> = Vec::new();
    let mut timers: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut buf = vec![0u8; 2048];
    let mut open = true;
    let mut based = false;
    let mut mid_based = false;

    // Feeds one input (or none, for a timeout) to a listener's peer and drains it.
    fn drive(
        l: &mut Listener,
        index: usize,
        input: Option<(SocketAddr, &[u8])>,
        arrived_us: Option<f64>,
        window: &Window,
        timers: &mut BinaryHeap<Reverse<(Instant, usize)>>,
    ) {
        let now = Instant::now();
        let result = match input {
            Some((source, data)) => match data.try_into() {
                Ok(contents) => l.peer.rtc.handle_input(Input::Receive(
                    now,
                    Receive { proto: Protocol::Udp, source, destination: l.peer.local, contents },
                )),
                Err(_) => return,
            },
            None => l.peer.rtc.handle_input(Input::Timeout(now)),
        };
        if result.is_err() {
            return;
        }
        loop {
            match l.peer.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    if t != l.timeout {
                        l.timeout = t;
                        timers.push(Reverse((t, index)));
                    }
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    let _ = l.peer.socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::RtpPacket(packet))) => {
                    l.result.decrypted += 1;
                    // With RED, the speaker's frame is the primary block, after the previous packet's copy.
                    let payload: &[u8] = if *packet.header.payload_type == stoa_client::red::RED_PT {
                        stoa_client::red::decode(&packet.payload).map_or(&[], |red| red.primary)
                    } else {
                        &packet.payload
                    };
                    if l.base.is_some()
                        && now < window.measure_to
                        && let Some(sent) = window.clock.sent(payload)
                    {
                        // When the server's packet reached the listener's socket (the kernel's timestamp), so
                        // that the bench's own queueing is not counted as the server's latency.
                        let received =
                            arrived_us.unwrap_or_else(|| now.duration_since(window.epoch).as_micros() as f64);
                        let latency = (received - sent as f64) / 1000.0;
                        if window.measure_mid.is_some_and(|mid| now >= mid) {
                            l.result.latencies_ms_b.push(latency);
                        } else {
                            l.result.latencies_ms.push(latency);
                        }
                    }
                }
                Ok(Output::Event(Event::IceConnectionStateChange(
                    str0m::IceConnectionState::Connected | str0m::IceConnectionState::Completed,
                ))) => {
                    l.result.ice_ms.get_or_insert(now.duration_since(l.began).as_secs_f64() * 1000.0);
                }
                Ok(Output::Event(Event::Connected)) => {
                    l.result.connected_ms = Some(now.duration_since(l.began).as_secs_f64() * 1000.0);
                }
                Ok(Output::Event(_)) => {}
                Err(_) => {
                    l.timeout = now + Duration::from_secs(3600);
                    return;
                }
            }
        }
    }

    loop {
        let now = Instant::now();
        if now >= window.measure_to {
            break;
        }
        while open {
            match peers.try_recv() {
                Ok(Joined { peer, began, phases, server }) => {
                    let index = listeners.len();
                    let on: libc::c_int = 1;
                    // SAFETY: a valid socket and an int option.
                    unsafe {
                        libc::setsockopt(
                            peer.socket.as_raw_fd(),
                            libc::SOL_SOCKET,
                            libc::SO_TIMESTAMPNS,
                            &on as *const _ as *const libc::c_void,
                            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                        )
                    };
                    let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: index as u64 };
                    unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, peer.socket.as_raw_fd(), &mut event) };
                    listeners.push(Listener {
                        peer,
                        began,
                        count: Default::default(),
                        seen: 0,
                        timeout: now,
                        base: based.then_some((0, 0, 0)),
                        mid: None,
                        result: ListenerResult {
                            upgraded_ms: Some(phases.upgraded.as_secs_f64() * 1000.0),
                            welcomed_ms: Some(phases.welcomed.as_secs_f64() * 1000.0),
                            answered_ms: Some(phases.answered.as_secs_f64() * 1000.0),
                            server,
                            ..Default::default()
                        },
                    });
                    drive(&mut listeners[index], index, None, None, &window, &mut timers);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => open = false,
            }
        }
        if now >= window.measure_from && !based {
            based = true;
            for l in listeners.iter_mut() {
                l.base = Some((l.count.packets, l.count.bytes, l.count.lost));
            }
        }
        if window.measure_mid.is_some_and(|mid| now >= mid) && !mid_based {
            mid_based = true;
            for l in listeners.iter_mut() {
                l.mid = Some((l.count.packets, l.count.bytes, l.count.lost));
            }
        }
        let next_timer = timers.peek().map(|Reverse((t, _))| *t);
        let wake = [
            Some(window.measure_to),
            Some(window.measure_from).filter(|t| *t > now),
            window.measure_mid.filter(|t| *t > now),
            next_timer,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now);
        // Rounded up: a timer due in half a millisecond must not turn the loop into a spin.
        let mut wait_ms = wake.saturating_duration_since(now).as_micros().div_ceil(1000).min(20) as i32;
        if open {
            wait_ms = wait_ms.min(5);
        }
        let ready = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, wait_ms) };
        for event in events.iter().take(ready.max(0) as usize) {
            let index = event.u64 as usize;
            loop {
                let l = &mut listeners[index];
                let Some((n, source, stamp)) = recv_stamped(&l.peer.socket, &mut buf) else { break };
                let at = Instant::now();
                if stoa_client::is_rtp(&buf[..n]) {
                    l.count.count(&buf[..n], at);
                    if l.result.join_ms.is_none() {
                        l.result.join_ms = Some(at.duration_since(l.began).as_secs_f64() * 1000.0);
                        joined.fetch_add(1, Ordering::Relaxed);
                    }
                    l.seen += 1;
                    if !l.seen.is_multiple_of(SAMPLE) {
                        continue;
                    }
                }
                let arrived_us =
                    stamp.and_then(|t| t.duration_since(window.epoch_wall).ok()).map(|d| d.as_micros() as f64);
                drive(l, index, Some((source, &buf[..n])), arrived_us, &window, &mut timers);
            }
        }
        let now = Instant::now();
        while let Some(Reverse((t, index))) = timers.peek().copied() {
            if t > now {
                break;
            }
            timers.pop();
            if listeners[index].timeout == t {
                drive(&mut listeners[index], index, None, None, &window, &mut timers);
            }
        }
    }
    unsafe { libc::close(epoll) };
    listeners
        .into_iter()
        .map(|mut l| {
            let (packets, bytes, lost) = l.base.unwrap_or((l.count.packets, l.count.bytes, l.count.lost));
            l.result.packets = l.count.packets - packets;
            l.result.bytes = l.count.bytes - bytes;
            l.result.lost = l.count.lost - lost;
            if let Some((mid_packets, _, mid_lost)) = l.mid {
                // The first half is from the window's start (or the join) to the middle; the second after.
                let (mid_packets, mid_lost) = (mid_packets.max(packets), mid_lost.max(lost));
                l.result.packets_b = l.count.packets - mid_packets;
                l.result.lost_b = l.count.lost - mid_lost;
                l.result.packets = mid_packets - packets;
                l.result.lost = mid_lost - lost;
            }
            l.result
        })
        .collect()
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

/// One datagram from a non-blocking socket, with its sender and the kernel's arrival time (SO_TIMESTAMPNS),
/// or `None` when there is nothing to read.
fn recv_stamped(
    socket: &std::net::UdpSocket,
    buf: &mut [u8],
) -> Option<(usize, SocketAddr, Option<std::time::SystemTime>)> {
    use std::os::fd::AsRawFd;
    // SAFETY: every pointer in the message header points into locals that outlive the call, with their
    // true lengths; the control messages are read only within the length the kernel reports.
    unsafe {
        let mut name: libc::sockaddr_storage = std::mem::zeroed();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
        let mut control = [0u64; 8];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = &mut name as *mut _ as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&control);
        let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, 0);
        if n < 0 {
            return None;
        }
        let source = match name.ss_family as libc::c_int {
            libc::AF_INET => {
                let a = &*(&name as *const _ as *const libc::sockaddr_in);
                SocketAddr::from((std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)), u16::from_be(a.sin_port)))
            }
            libc::AF_INET6 => {
                let a = &*(&name as *const _ as *const libc::sockaddr_in6);
                SocketAddr::from((std::net::Ipv6Addr::from(a.sin6_addr.s6_addr), u16::from_be(a.sin6_port)))
            }
            _ => return None,
        };
        let mut stamp = None;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec);
                stamp = Some(std::time::UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        Some((n as usize, source, stamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_times_survive_joining() {
        let epoch = Instant::now() - Duration::from_secs(5);
        let f = frame(epoch);
        let t = sent_at(&f).unwrap();
        assert!((5_000_000..6_000_000).contains(&t));
        // A code 3 packet of three such frames, as the SFU joins them: the first frame's time comes out.
        let mut joined = vec![(31 << 3) | 3, 0x80 | 3, (f.len() - 1) as u8, (f.len() - 1) as u8];
        for _ in 0..3 {
            joined.extend_from_slice(&f[1..]);
        }
        assert_eq!(sent_at(&joined), Some(t));
    }
}
