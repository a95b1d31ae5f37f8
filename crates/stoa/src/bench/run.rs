//! The capacity bench, in phases: [`Setup::prepare`] reads the arguments and starts (or finds) the
//! server; [`cast`] makes the accounts, the room and its speakers; [`start_speakers`] sets them talking in
//! turns; [`start_load`] joins the listeners, chatters and listen-link players; [`measure`] reads the CPU
//! over the window; [`collect`] gathers the results, and `report.rs` turns them into figures.

use super::args::BenchArgs;
use super::chat::*;
use super::hls;
use super::listeners::*;
use super::measure::*;
use super::process::*;
use anyhow::{Context, bail};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use stoa_client::audio::Frame;
use stoa_client::{Api, Incoming, Session};
use stoa_proto::{ClientCommand, ServerEvent};
use tokio::task::JoinHandle;

/// How long each speaker talks in turn.
const TURN: Duration = Duration::from_secs(3);

/// What the arguments decide before anything is sent: the processes, the speakers' audio, the servers.
pub(super) struct Setup {
    /// The open-file limit this process (and its children) has.
    pub limit: u64,
    /// Processes the listeners are spread over.
    pub processes: usize,
    pub file_frames: Option<Arc<Vec<Frame>>>,
    pub clock: Clock,
    pub chatting: bool,
    pub chatters: usize,
    /// The bench's own server, unless `--server` names one.
    pub own: Option<OwnServer>,
    /// Another server's process to measure instead (`--janus-pid`).
    pub watched_pid: Option<u32>,
    pub bases: Vec<String>,
    pub base: String,
    pub metrics: Vec<String>,
    pub invite: String,
}

impl Setup {
    pub async fn prepare(args: &BenchArgs) -> anyhow::Result<Setup> {
        if args.listeners == 0 || args.speakers == 0 {
            bail!("a bench needs at least one listener and one speaker");
        }
        // Each listener holds a UDP socket and a WebSocket. What one process may open decides how many
        // processes hold them.
        // The bench's own server inherits the limit: a socket per listener and player, and room to spare.
        let limit =
            raise_file_limit(3 * (args.listeners + args.speakers) as u64 + 2 * args.hls_listeners as u64 + 1024);
        let processes = Setup::processes_for(args, limit);
        let per_process = (limit.saturating_sub(256) / 2).max(1) as usize;
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
        // A timeline reads the bench's own server's /metrics too.
        let own_metrics = match (&args.server, args.timeline > 0.0) {
            (None, true) => Some(free_local_port()?),
            _ => None,
        };
        let serve_args = match own_metrics {
            Some(addr) => Some(format!("{} --metrics {addr}", args.serve_args.as_deref().unwrap_or_default())),
            None => args.serve_args.clone(),
        };
        let own = match &args.server {
            Some(_) => None,
            None => Some(start_own_server(args.listeners + args.speakers + chatters + 1, serve_args.as_deref())?),
        };
        let bases: Vec<String> = match &args.server {
            Some(list) => {
                list.split(',').map(|s| s.trim().trim_end_matches('/').to_string()).filter(|s| !s.is_empty()).collect()
            }
            None => own.iter().map(|o| o.base.clone()).collect(),
        };
        let base = bases.first().cloned().context("--server names no server")?;
        let metrics: Vec<String> = match own_metrics {
            Some(addr) => vec![format!("http://{addr}/metrics")],
            None => args.metrics.iter().flat_map(|m| m.split(',')).map(|s| s.trim().to_string()).collect(),
        };
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
        let watched_pid = None;
        Ok(Setup {
            limit,
            processes,
            file_frames,
            clock,
            chatting,
            chatters,
            own,
            watched_pid,
            bases,
            base,
            metrics,
            invite,
        })
    }

    /// How many processes hold the listeners, when one process may open `limit` files.
    pub fn processes_for(args: &BenchArgs, limit: u64) -> usize {
        let per_process = (limit.saturating_sub(256) / 2).max(1) as usize;
        let processes = match args.listener_processes {
            0 if 2 * (args.listeners + args.speakers) as u64 + 256 <= limit => 1,
            0 => args.listeners.div_ceil(per_process).max(2),
            n => n.min(args.listeners),
        };
        if processes > 1 && args.listeners.div_ceil(processes) > per_process {
            eprintln!(
                "stoa bench: warning: {processes} processes of {} listeners each need more than the {limit} open \
                 files a process may have here; the listeners beyond that will fail to join (raise the hard \
                 `ulimit -n`)",
                args.listeners.div_ceil(processes)
            );
        }
        processes
    }

    /// Says what the bench is doing, unless the output is JSON.
    pub fn progress(args: &BenchArgs, s: &str) {
        if !args.json {
            eprintln!("stoa bench: {s}");
        }
    }
}

/// The room and the people in it: the speakers in their seats, and the others' credentials.
pub(super) struct Cast {
    pub room: String,
    pub speakers: Vec<Session>,
    pub listener_tokens: Vec<(usize, String)>,
    pub chatter_apis: Vec<Api>,
}

/// Makes the accounts (a few at a time: sign-up hashes a password, which is deliberately slow), the room,
/// and its speakers: the first is the host; the others are invited up.
pub(super) async fn cast(args: &BenchArgs, setup: &Setup) -> anyhow::Result<Cast> {
    use futures_util::StreamExt;
    Setup::progress(args, &format!("creating {} accounts", args.listeners + args.speakers + setup.chatters));
    let tag = format!("{:x}", std::process::id() % 0xfff);
    let names: Vec<String> = (0..args.speakers)
        .map(|i| format!("bs{tag}_{i}"))
        .chain((0..args.listeners).map(|i| format!("bl{tag}_{i}")))
        .chain((0..setup.chatters).map(|i| format!("bc{tag}_{i}")))
        .collect();
    let apis: Vec<Api> =
        futures_util::stream::iter(names.iter().map(|n| Api::sign_up(&setup.base, &setup.invite, n, "bench-password")))
            .buffered(8)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
    let (speaker_apis, rest) = apis.split_at(args.speakers);
    let (listener_apis, chatter_apis) = rest.split_at(args.listeners);
    let outputs = serde_json::json!({"listen_link": args.hls_listeners > 0});
    let body = if args.e2ee {
        // A closed, end-to-end encrypted room that invites everyone: its server forwards what it cannot read
        // (the bench's frames are not sealed, but the server's work is the same for any payload).
        serde_json::json!({"title": "Bench", "visibility": "closed", "e2ee": true, "invited": &names[1..]})
    } else {
        serde_json::json!({"title": "Bench", "visibility": "open", "outputs": outputs})
    };
    let room = speaker_apis[0].post("/api/v1/rooms", body).await?;
    let room = room["id"].as_str().context("no room id")?.to_string();
    // With --speakers-through, the speakers' sockets (and so their media) are on another node than the
    // room's origin.
    let through = |api: &Api| Api::with_token(&setup.bases[args.speakers_through], &api.token);
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
    let listener_tokens = listener_apis.iter().map(|a| a.token.clone()).enumerate().collect();
    Ok(Cast { room, speakers, listener_tokens, chatter_apis: chatter_apis.to_vec() })
}

/// The speakers at work, and what they sent.
pub(super) struct Sending {
    /// When the speaking began: turns and send times count from it.
    pub epoch: Instant,
    pub epoch_wall: SystemTime,
    /// Frames sent by whoever's turn it was, and every frame (keep-alives too).
    pub talking_sent: Arc<AtomicU64>,
    pub all_sent: Arc<AtomicU64>,
    pub stop: Arc<AtomicBool>,
    /// With --replay, when the host turns the replay on (the window's second half).
    pub replay_at: Arc<Mutex<Option<Instant>>>,
    pub tasks: Vec<JoinHandle<()>>,
}

impl Sending {
    /// Nothing sent yet, from now.
    pub fn starting_now() -> Sending {
        Sending {
            epoch: Instant::now(),
            epoch_wall: SystemTime::now(),
            talking_sent: Arc::new(AtomicU64::new(0)),
            all_sent: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            replay_at: Arc::new(Mutex::new(None)),
            tasks: Vec::new(),
        }
    }
}

/// Sets the speakers talking, 3 s each in turn; the others send DTX keep-alives.
pub(super) fn start_speakers(args: &BenchArgs, setup: &Setup, speakers: Vec<Session>) -> Sending {
    let sending = Sending::starting_now();
    let n_speakers = speakers.len();
    let tasks = speakers
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let speaker = Speaker {
                i,
                n_speakers,
                epoch: sending.epoch,
                talking_sent: sending.talking_sent.clone(),
                all_sent: sending.all_sent.clone(),
                stop: sending.stop.clone(),
                file_frames: setup.file_frames.clone(),
                clock: setup.clock.clone(),
                replay_at: (i == 0 && args.replay).then(|| sending.replay_at.clone()),
            };
            tokio::spawn(speaker.speak(s))
        })
        .collect();
    Sending { tasks, ..sending }
}

/// One speaker's part.
struct Speaker {
    i: usize,
    n_speakers: usize,
    epoch: Instant,
    talking_sent: Arc<AtomicU64>,
    all_sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    file_frames: Option<Arc<Vec<Frame>>>,
    clock: Clock,
    replay_at: Option<Arc<Mutex<Option<Instant>>>>,
}

impl Speaker {
    async fn speak(self, mut s: Session) {
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        let (mut ts, mut last_sent, mut index) = (0u32, None::<Instant>, 0usize);
        while !self.stop.load(Ordering::Relaxed) {
            if let Some(at) = &self.replay_at {
                let due = at.lock().unwrap_or_else(|e| e.into_inner()).is_some_and(|t| Instant::now() >= t);
                if due {
                    *at.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    let record = ClientCommand::SetOutputs {
                        recording: Some(true),
                        clips: None,
                        listen_link: None,
                        captions: None,
                    };
                    let _ = s.command(record).await;
                }
            }
            tokio::select! {
                _ = ticker.tick() => {
                    ts = ts.wrapping_add(960);
                    let turn = (self.epoch.elapsed().as_millis() / TURN.as_millis()) as usize % self.n_speakers;
                    let from_file = self.file_frames.as_ref().map(|f| {
                        index = (index + 1) % f.len();
                        f[index].clone()
                    });
                    if turn == self.i && let Some(f) = from_file.as_ref().filter(|f| !f.is_silent()) {
                        let at = self.epoch.elapsed().as_micros() as u64;
                        self.clock.record(&f.payload, at);
                        if s.send_audio(&f.payload, ts, Some(f.level)).await {
                            self.talking_sent.fetch_add(1, Ordering::Relaxed);
                            self.all_sent.fetch_add(1, Ordering::Relaxed);
                            last_sent = Some(Instant::now());
                        }
                    } else if turn == self.i && from_file.is_none() {
                        if s.send_audio(&frame(self.epoch), ts, Some(-10)).await {
                            self.talking_sent.fetch_add(1, Ordering::Relaxed);
                            self.all_sent.fetch_add(1, Ordering::Relaxed);
                        }
                    } else if last_sent.is_none_or(|t| t.elapsed() >= Duration::from_millis(400)) {
                        // DTX: a silent keep-alive every 400 ms, which the SFU does not forward.
                        // The speaker who talked last still holds a slot, so these reach the audience.
                        if s.send_audio(&[31 << 3, 0], ts, Some(-127)).await {
                            self.all_sent.fetch_add(1, Ordering::Relaxed);
                        }
                        last_sent = Some(Instant::now());
                    }
                }
                _ = s.next() => {}
            }
        }
    }
}

/// The bench's timeline: listeners join from `start_join`, and the window runs `measure_from` to
/// `measure_to`; with chat, listen-link players or the replay, its second half from `measure_mid` carries
/// them and its first half is the quiet baseline.
pub(super) struct Times {
    pub start_join: Instant,
    pub measure_from: Instant,
    pub measure_to: Instant,
    pub measure_mid: Option<Instant>,
}

impl Times {
    pub fn from_now(args: &BenchArgs, setup: &Setup) -> Times {
        let start_join = Instant::now();
        let measure_from = start_join + Duration::from_secs_f64(args.join_window);
        let measure_to = measure_from + Duration::from_secs_f64(args.seconds);
        let egress_half = args.hls_listeners > 0 || args.replay;
        let measure_mid =
            (setup.chatting || egress_half).then(|| measure_from + Duration::from_secs_f64(args.seconds / 2.0));
        Times { start_join, measure_from, measure_to, measure_mid }
    }
}

/// The audience under way: listeners (here, or in worker processes), listen-link players and chatters.
pub(super) struct Load {
    pub local: Option<JoinHandle<Vec<ListenerResult>>>,
    pub workers: Vec<Worker>,
    pub hls_worker: Option<Worker>,
    pub chat_stats: Arc<ChatStats>,
    pub chatter_tasks: Vec<JoinHandle<()>>,
}

/// Joins the chatters, then sets the window's times from now, starts the listen link's players, and the
/// listeners join within the window: in this process, or spread over worker processes when one process may
/// not open enough sockets for all.
pub(super) async fn start_load(
    args: &BenchArgs,
    setup: &Setup,
    cast: Cast,
    sending: &Sending,
) -> anyhow::Result<(Load, Times)> {
    // Chatters: in the room from the start, talking only in the window's second half.
    let mut chatter_sessions = Vec::new();
    for api in &cast.chatter_apis {
        chatter_sessions.push(Session::join(api, &cast.room, 3).await?);
    }
    let times = Times::from_now(args, setup);
    if let Some(mid) = times.measure_mid {
        *sending.replay_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(mid);
    }
    // The HLS players run in a process of their own from the window's middle to its end.
    let hls_worker = match (times.measure_mid, args.hls_listeners > 0) {
        (Some(mid), true) => Some(start_players(args, setup, &cast.room, mid, times.measure_to)?),
        _ => None,
    };
    let chat_stats = Arc::new(ChatStats::default());
    let mut chatter_tasks = Vec::new();
    for (i, mut session) in chatter_sessions.into_iter().enumerate() {
        let stats = chat_stats.clone();
        let (n, chat_rate, reaction_rate) = (setup.chatters as f64, args.chat_rate, args.reaction_rate);
        let (stop, mid_at) = (sending.stop.clone(), times.measure_mid);
        chatter_tasks.push(tokio::spawn(async move {
            chatter(&mut session, i, n, chat_rate, reaction_rate, mid_at, stop, &stats).await;
        }));
    }
    let plan = |listeners: Vec<(usize, String)>| ListenerPlan {
        bases: setup.bases.clone(),
        skip_first: args.listeners_on_edges,
        room: cast.room.clone(),
        listeners,
        total: args.listeners,
        join_window: args.join_window,
        epoch_us: wall_us(sending.epoch_wall),
        start_join_us: wall_at(times.start_join),
        measure_from_us: wall_at(times.measure_from),
        measure_to_us: wall_at(times.measure_to),
        measure_mid_us: times.measure_mid.map(wall_at),
        red: !args.no_red,
        janus: args.janus.is_some(),
        timeline_s: args.timeline,
    };
    let mut workers = Vec::new();
    let processes = setup.processes;
    let local = if processes == 1 {
        Setup::progress(args, &format!("{} listeners joining over {:.0} s", args.listeners, args.join_window));
        let (plan, clock) = (plan(cast.listener_tokens), setup.clock.clone());
        Some(tokio::task::spawn_blocking(move || run_listeners(plan, clock)))
    } else {
        Setup::progress(
            args,
            &format!("{} listeners joining over {:.0} s from {processes} processes", args.listeners, args.join_window),
        );
        for p in 0..processes {
            let mine = cast.listener_tokens.iter().filter(|(i, _)| i % processes == p).cloned().collect();
            workers.push(Worker::start("bench-listeners", "a listener process", &plan(mine))?);
        }
        None
    };
    Ok((Load { local, workers, hls_worker, chat_stats, chatter_tasks }, times))
}

/// The listen link's players, in a process of their own, from `from` to `to`.
fn start_players(args: &BenchArgs, setup: &Setup, room: &str, from: Instant, to: Instant) -> anyhow::Result<Worker> {
    let url = reqwest::Url::parse(&setup.base).context("the server's address")?;
    if url.scheme() != "http" {
        bail!("--hls-listeners speaks plain HTTP: give the server's http:// address (or bench its own)");
    }
    let host = url.host_str().context("the server's address has no host")?.to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let plan = hls::HlsPlan {
        addr: format!("{host}:{port}"),
        host: format!("{host}:{port}"),
        room: room.to_string(),
        players: args.hls_listeners,
        low_latency: args.hls_low_latency,
        // A socket each, unless that would take more open files than the server (which also holds the
        // listeners' sockets) may have here: then players share connections, as behind a proxy.
        connections: args.hls_listeners.min(hls_connection_cap(setup.limit, args.listeners + args.speakers)),
        start_us: wall_at(from),
        stop_us: wall_at(to),
    };
    Worker::start("bench-hls", "the HLS players' process", &plan)
}

/// How many listen-link connections the bench's server can take besides its listeners' sockets, within the
/// open-file limit it inherits (at least 1,000).
fn hls_connection_cap(limit: u64, peers: usize) -> usize {
    (limit.saturating_sub(3 * peers as u64 + 1024) as usize).max(1000)
}

/// What the window measured of the processes: CPU (and the server's RSS) at its start, middle and end.
pub(super) struct Measured {
    /// With `--timeline`: the server's CPU and RSS at the end of each interval.
    pub timeline: Vec<Option<(f64, f64)>>,
    /// The server's CPU and RSS when the listeners began to join (the window's start is the joins' end).
    pub server_join_start: Option<(f64, f64)>,
    pub server_start: Option<(f64, f64)>,
    pub server_mid: Option<(f64, f64)>,
    pub server_end: Option<(f64, f64)>,
    pub nodes_start: Vec<Option<NodeMeter>>,
    pub nodes_end: Vec<Option<NodeMeter>>,
    /// The bench's own CPU seconds over the window, its worker processes included.
    pub bench_cpu_s: f64,
    pub hls_start: Option<(f64, f64)>,
    pub hls_end: Option<(f64, f64)>,
    /// Frames sent within the window: by whoever's turn it was, and all.
    pub talking_window: u64,
    pub all_window: u64,
}

/// Reads the server's and the bench's CPU over the measuring window only.
pub(super) async fn measure(
    args: &BenchArgs,
    setup: &Setup,
    load: &Load,
    sending: &Sending,
    times: &Times,
) -> Measured {
    let pid = setup.own.as_ref().map(|o| o.child.id()).or(setup.watched_pid);
    let server_join_start = pid.and_then(tree_usage);
    tokio::time::sleep_until(tokio::time::Instant::from_std(times.measure_from)).await;
    let server_start = pid.and_then(tree_usage);
    let nodes_start = scrape_nodes(&setup.metrics).await;
    // Each worker's CPU, or none when its /proc entry could not be read: a worker counts only when it was
    // read at both ends (one missed at the end once made the figure negative).
    let workers_cpu =
        |workers: &[Worker]| -> Vec<Option<f64>> { workers.iter().map(|w| proc_usage(w.pid).map(|u| u.0)).collect() };
    let (self_start, workers_start) = (self_cpu(), workers_cpu(&load.workers));
    let hls_pid = load.hls_worker.as_ref().map(|w| w.pid);
    let hls_start = hls_pid.and_then(proc_usage);
    let sent_start = (sending.talking_sent.load(Ordering::Relaxed), sending.all_sent.load(Ordering::Relaxed));
    let mut server_mid = None;
    let mut timeline = Vec::new();
    let every = (args.timeline > 0.0).then(|| Duration::from_secs_f64(args.timeline));
    while Instant::now() < times.measure_to {
        if let Some(every) = every {
            let next = times.measure_from + every.mul_f64((timeline.len() + 1) as f64);
            if Instant::now() >= next && next <= times.measure_to {
                timeline.push(pid.and_then(tree_usage));
            }
        }
        if let Some(mid) = times.measure_mid
            && server_mid.is_none()
            && Instant::now() >= mid
        {
            server_mid = pid.and_then(tree_usage);
        }
        let next_interval = every.map(|e| times.measure_from + e.mul_f64((timeline.len() + 1) as f64));
        let next = times
            .measure_mid
            .filter(|m| server_mid.is_none() && *m > Instant::now())
            .unwrap_or(times.measure_to)
            .min(next_interval.unwrap_or(times.measure_to));
        tokio::time::sleep(Duration::from_millis(500).min(next.saturating_duration_since(Instant::now()))).await;
        if !args.json {
            let done = (Instant::now() - times.measure_from).as_secs_f64() / args.seconds;
            eprint!(
                "\rstoa bench: measuring [{:<30}] {:>3.0}%  ",
                "#".repeat((done.min(1.0) * 30.0) as usize),
                done.min(1.0) * 100.0
            );
        }
    }
    let server_end = pid.and_then(tree_usage);
    let nodes_end = scrape_nodes(&setup.metrics).await;
    let workers_spent: f64 =
        workers_start.iter().zip(workers_cpu(&load.workers)).filter_map(|(start, end)| Some(end? - (*start)?)).sum();
    let bench_cpu_s = self_cpu() + workers_spent - self_start;
    let hls_end = hls_pid.and_then(proc_usage);
    Measured {
        timeline,
        server_join_start,
        server_start,
        server_mid,
        server_end,
        nodes_start,
        nodes_end,
        bench_cpu_s,
        hls_start,
        hls_end,
        talking_window: sending.talking_sent.load(Ordering::Relaxed) - sent_start.0,
        all_window: sending.all_sent.load(Ordering::Relaxed) - sent_start.1,
    }
}

/// Stops the speakers and chatters, and gathers every listener's results and the players' report.
pub(super) async fn collect(
    args: &BenchArgs,
    load: Load,
    sending: Sending,
) -> anyhow::Result<(Vec<ListenerResult>, Option<hls::HlsReport>, Arc<ChatStats>)> {
    sending.stop.store(true, Ordering::Relaxed);
    let mut results = match load.local {
        Some(local) => local.await?,
        None => Vec::new(),
    };
    for worker in load.workers {
        results.extend(worker.finish::<Vec<ListenerResult>>().await?);
    }
    let hls_report = match load.hls_worker {
        Some(w) => Some(w.finish::<hls::HlsReport>().await?),
        None => None,
    };
    for t in sending.tasks.into_iter().chain(load.chatter_tasks) {
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
    Ok((results, hls_report, load.chat_stats))
}
