//! `stoa bench`: loads one room with real WebRTC listeners (ICE, DTLS, SRTP) and rotating speakers, and
//! reports joins, loss, the server's added latency, and the CPU and memory of server and bench apart.
//!
//! Listeners count every packet from its RTP header (sequence numbers are in the clear in SRTP) and
//! decrypt one in 20, which proves the stream is valid SRTP without the bench spending more than the server.
//! They are spread over one thread per core. Speakers send synthetic 20 ms Opus frames that carry their send
//! time, so the latency is measured on one clock: from the speaker's send to a listener's receive.

use anyhow::{Context, bail};
use clap::Args;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use stoa_client::{Api, Incoming, Session};
use stoa_proto::{ClientCommand, ServerEvent};

mod chat;
pub(crate) mod hls;
mod listeners;
mod measure;
mod process;
pub(crate) mod raw_udp;
pub(crate) mod social;

use chat::*;
pub use listeners::listeners_worker;
use listeners::*;
use measure::*;
use process::*;

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

/// Runs the bench.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.hallway {
        return hallway(&args).await;
    }
    if args.fanout {
        return social::fanout(args.users, args.requests, args.json).await;
    }
    if args.search {
        return social::search(args.users, args.events, args.requests, args.json).await;
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
        let report = tokio::task::spawn_blocking(move || raw_udp::run(listeners, seconds)).await??;
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
            let plan = hls::HlsPlan {
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
        Some(w) => Some(w.finish::<hls::HlsReport>().await?),
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

/// How many listen-link connections the bench's server can take besides its listeners' sockets, within the
/// open-file limit it inherits (at least 1,000).
fn hls_connection_cap(limit: u64, peers: usize) -> usize {
    (limit.saturating_sub(3 * peers as u64 + 1024) as usize).max(1000)
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
