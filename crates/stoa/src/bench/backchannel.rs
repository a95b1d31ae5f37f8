//! `stoa bench --backchannel`: private messages among many people, each with a tab open. It seeds a fresh
//! data folder with `people` accounts in pairs of friends (each pair follows each other and has a
//! conversation), starts its own `stoa serve`, opens every person's notification stream (the tab), and
//! then sends `rate` messages a second among them over HTTP, as the web client does. Each message carries
//! its number; the time from the start of its POST to its arrival on its reader's stream is its latency.
//! Meanwhile another user, in no conversation, loads the hallway and joins a room (WebSocket, SDP and media
//! set-up) again and again; their times with the messages flowing are set against their times before, with
//! the same streams open.

use super::measure::{percentile, self_cpu, tree_usage};
use super::process::{raise_file_limit, start_own_server_on};
use super::social::{PASSWORD, print, real_accounts, summary};
use anyhow::Context;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use stoa_client::{Api, Session};
use stoa_store::{Backchannel, SqliteStore, Store};

/// What the bench was asked.
pub(crate) struct Plan {
    pub(crate) people: usize,
    pub(crate) rate: f64,
    pub(crate) seconds: f64,
    pub(crate) requests: usize,
    pub(crate) json: bool,
}

/// What the streams and the senders counted.
struct Tally {
    /// Each message's send time, microseconds from `epoch`, by its number (0: not sent).
    sent_at: Vec<AtomicU64>,
    epoch: Instant,
    /// (number, milliseconds) of each message its reader's stream brought.
    heard: std::sync::Mutex<Vec<(u32, f64)>>,
    /// Messages a tab was told more than once.
    duplicates: AtomicU64,
    streams_open: AtomicUsize,
    streams_failed: AtomicUsize,
    sent: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    /// Messages not sent because as many were already waiting for the server as the bench allows.
    backlogged: AtomicU64,
    send_ms: std::sync::Mutex<Vec<f64>>,
}

impl Tally {
    fn new(total: usize) -> Tally {
        Tally {
            sent_at: (0..total).map(|_| AtomicU64::new(0)).collect(),
            epoch: Instant::now(),
            heard: std::sync::Mutex::new(Vec::with_capacity(total)),
            duplicates: AtomicU64::new(0),
            streams_open: AtomicUsize::new(0),
            streams_failed: AtomicUsize::new(0),
            sent: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            backlogged: AtomicU64::new(0),
            send_ms: std::sync::Mutex::new(Vec::with_capacity(total)),
        }
    }
}

const TEXT: &str = "a line of about a hundred characters, as friends write to each other in a conversation.";

/// `stoa bench --backchannel`.
pub(crate) async fn backchannel(plan: Plan) -> anyhow::Result<()> {
    anyhow::ensure!(plan.people >= 2 && plan.people.is_multiple_of(2), "--users must be an even number, at least 2");
    anyhow::ensure!(plan.rate > 0.0 && plan.seconds > 0.0, "--message-rate and --seconds must be above 0");
    raise_file_limit(plan.people as u64 * 2 + 4096);
    // Installs the TLS provider that every reqwest client of this process needs built.
    drop(stoa_client::tls::http());
    let data = tempfile::tempdir()?;
    let seeded = Instant::now();
    let (tokens, threads) = seed(data.path(), plan.people, plan.json).await?;
    let seeded = seeded.elapsed();
    let own = start_own_server_on(data, 1, Some("--reconnect-grace-secs 3600"), true)?;
    let base = own.base.clone();
    let pid = own.child.id();
    let total = (plan.rate * plan.seconds).ceil() as usize;
    let tally = Arc::new(Tally::new(total));

    let load = idle_runtime()?;
    let streams = open_tabs(&load, &tokens, &base, &tally, plan.people, plan.json).await?;

    // Someone in no conversation: the hallway and a room's join, before and during.
    let host = Api::login(&base, "host", PASSWORD).await?;
    let room = host.post("/api/v1/rooms", json!({"title": "Everyone else's room", "visibility": "open"})).await?;
    let room = room["id"].as_str().context("no room ID")?.to_string();
    let other = Api::login(&base, "other", PASSWORD).await?;
    for _ in 0..10 {
        others(&other, &room).await?;
    }
    let (mut hallway_before, mut join_before) = (Vec::new(), Vec::new());
    let quiet_cpu = tree_usage(pid).map_or(0.0, |u| u.0);
    let quiet_start = Instant::now();
    for _ in 0..plan.requests {
        let (h, j) = others(&other, &room).await?;
        hallway_before.push(h);
        join_before.push(j);
    }
    let quiet_cores = (tree_usage(pid).map_or(0.0, |u| u.0) - quiet_cpu) / quiet_start.elapsed().as_secs_f64();

    // The messages, paced; and the other user's requests meanwhile, from a second in.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (tally, tokens, threads, base, stop) =
            (tally.clone(), tokens.clone(), threads.clone(), base.clone(), stop.clone());
        let (people, rate) = (plan.people, plan.rate);
        load.spawn(async move { send_all(&tally, &tokens, &threads, &base, people, rate, total, &stop).await })
    };
    let (busy_cpu, bench_cpu) = (tree_usage(pid).map_or(0.0, |u| u.0), self_cpu());
    let busy_start = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (mut hallway_during, mut join_during) = (Vec::new(), Vec::new());
    while hallway_during.len() < plan.requests && !sender.is_finished() {
        let (h, j) = others(&other, &room).await?;
        hallway_during.push(h);
        join_during.push(j);
    }
    let busy_cores = (tree_usage(pid).map_or(0.0, |u| u.0) - busy_cpu) / busy_start.elapsed().as_secs_f64();
    let bench_cores = (self_cpu() - bench_cpu) / busy_start.elapsed().as_secs_f64();
    let sending_s = sender.await??;
    stop.store(true, Ordering::Relaxed);
    // The last ones' readers: up to 5 s more.
    let sent = tally.sent.load(Ordering::Relaxed) as usize;
    let until = Instant::now() + Duration::from_secs(5);
    while tally.heard.lock().map_or(0, |h| h.len()) < sent && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for s in &streams {
        s.abort();
    }
    let rss_mb = tree_usage(pid).map_or(0.0, |u| u.1);

    let messages = messages_report(&tally, sent, sending_s)?;
    let mut send_ms = std::mem::take(&mut *tally.send_ms.lock().map_err(|_| anyhow::anyhow!("a sender panicked"))?);
    let (hallway_before, hallway_during) = (summary(&mut hallway_before), summary(&mut hallway_during));
    let (join_before, join_during) = (summary(&mut join_before), summary(&mut join_during));
    let ratio = |during: &Value, before: &Value| {
        during["p99_ms"].as_f64().unwrap_or(0.0) / before["p99_ms"].as_f64().unwrap_or(1.0).max(1e-9)
    };
    let report = json!({
        "mode": "backchannel",
        "people": plan.people,
        "tabs_open": tally.streams_open.load(Ordering::Relaxed),
        "message_rate": plan.rate,
        "seed_s": seeded.as_secs_f64(),
        "sending_s": sending_s,
        "messages": messages,
        "send_request": summary(&mut send_ms),
        "hallway_before": hallway_before,
        "hallway_during": hallway_during,
        "join_before": join_before,
        "join_during": join_during,
        "hallway_p99_ratio": ratio(&hallway_during, &hallway_before),
        "join_p99_ratio": ratio(&join_during, &join_before),
        "server_cores_quiet": quiet_cores,
        "server_cores_during": busy_cores,
        "bench_cores_during": bench_cores,
        "server_rss_mb": rss_mb,
    });
    drop(own);
    load.shutdown_background();
    print(&report, plan.json)
}

/// What the tabs heard of the messages: how many, and how long each took from its send to its reader's tab.
fn messages_report(tally: &Tally, sent: usize, sending_s: f64) -> anyhow::Result<Value> {
    let heard = std::mem::take(&mut *tally.heard.lock().map_err(|_| anyhow::anyhow!("a tab panicked"))?);
    let mut latencies: Vec<f64> = heard.iter().map(|(_, ms)| *ms).collect();
    latencies.sort_by(f64::total_cmp);
    Ok(json!({
        "sent": sent,
        "achieved_rate": sent as f64 / sending_s.max(1e-9),
        "refused": tally.refused.load(Ordering::Relaxed),
        "failed": tally.failed.load(Ordering::Relaxed),
        "backlogged": tally.backlogged.load(Ordering::Relaxed),
        "heard": latencies.len(),
        "missing": sent.saturating_sub(latencies.len()),
        "duplicates": tally.duplicates.load(Ordering::Relaxed),
        "p50_ms": percentile(&latencies, 0.5),
        "p99_ms": percentile(&latencies, 0.99),
        "max_ms": latencies.last().copied().unwrap_or(0.0),
    }))
}

/// A runtime for the people's load, its threads under SCHED_IDLE.
fn idle_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // The people's tabs and writes run on threads of their own under SCHED_IDLE: on this one machine they
    // stand in for clients elsewhere, and must not take the CPU from the server or from the other user
    // whose requests are measured (the main runtime, at the usual priority). Nice 19 was not enough: a
    // thread of the usual priority that wakes waits for a niced one's slice to end, where it preempts an
    // idle-policy thread at once.
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-load")
        .on_thread_start(|| {
            // SAFETY: sched_setscheduler on the calling thread (0), with a parameter it only reads.
            unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &libc::sched_param { sched_priority: 0 }) };
        })
        .enable_all()
        .build()?)
}

/// Opens every person's tab on `load`, and waits until each has its first event.
async fn open_tabs(
    load: &tokio::runtime::Runtime,
    tokens: &[String],
    base: &str,
    tally: &Arc<Tally>,
    people: usize,
    json: bool,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    // Every person's tab: their notification stream, opened a few hundred at a time.
    let tabs = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    let opening = Arc::new(tokio::sync::Semaphore::new(200));
    let mut streams = Vec::with_capacity(people);
    for (i, token) in tokens.iter().enumerate() {
        let permit = opening.clone().acquire_owned().await?;
        let (tabs, base, token, tally) = (tabs.clone(), base.to_string(), token.clone(), tally.clone());
        streams.push(load.spawn(async move { tab(&tabs, &base, &token, i, &tally, permit).await }));
        if !json && i % 1000 == 0 {
            eprint!("\rstoa bench: opening {i} of {} tabs  ", people);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while tally.streams_open.load(Ordering::Relaxed) + tally.streams_failed.load(Ordering::Relaxed) < people {
        anyhow::ensure!(Instant::now() < deadline, "the tabs did not all open in 2 minutes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::ensure!(tally.streams_failed.load(Ordering::Relaxed) == 0, "some tabs could not open their stream");
    Ok(streams)
}

/// Seeds `people` accounts (`p0`, `p1`, …) with a session each, in pairs that follow each other and have
/// a conversation, and the host and the other user. Returns the tokens and each pair's thread.
async fn seed(path: &std::path::Path, people: usize, json: bool) -> anyhow::Result<(Arc<Vec<String>>, Arc<Vec<i64>>)> {
    let store = SqliteStore::open(path).await?;
    real_accounts(&store, &["host", "other"]).await?;
    let names: Vec<(String, String)> = (0..people).map(|i| (format!("p{i}"), format!("Person {i}"))).collect();
    let mut ids = Vec::with_capacity(people);
    for chunk in names.chunks(10_000) {
        ids.extend(store.seed_users(chunk).await?);
    }
    let mut tokens = Vec::with_capacity(people);
    for (i, id) in ids.iter().enumerate() {
        // A session token is 64 hex characters.
        let token = stoa_server::auth::token_hash(&format!("bench-{i}-{}", stoa_store::random_code(24)));
        store.create_session(*id, &stoa_server::auth::token_hash(&token), "stoa bench").await?;
        tokens.push(token);
        if !json && i % 1000 == 0 {
            eprint!("\rstoa bench: seeding {i} of {people} people  ");
        }
    }
    let mut threads = Vec::with_capacity(people / 2);
    let now = stoa_server::clock::now_ms();
    for (k, pair) in ids.chunks(2).enumerate() {
        store.follow(pair[0], pair[1]).await?;
        store.follow(pair[1], pair[0]).await?;
        let started = store.start_thread(pair[0], &[pair[1]], "Hello, friend", now).await?;
        let (thread, _) = started.map_err(|r| anyhow::anyhow!("cannot seed a conversation: {r:?}"))?;
        threads.push(thread);
        if !json && k % 1000 == 0 {
            eprint!("\rstoa bench: seeding {k} of {} conversations  ", people / 2);
        }
    }
    Ok((Arc::new(tokens), Arc::new(threads)))
}

/// One person's tab: their stream, read until the bench ends; each message from their friend is timed.
async fn tab(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    me: usize,
    tally: &Tally,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let resp = http.get(format!("{base}/api/v1/notifications/stream")).bearer_auth(token).send().await;
    let mut resp = match resp {
        Ok(r) if r.status().is_success() => r,
        other => {
            if tally.streams_failed.fetch_add(1, Ordering::Relaxed) == 0 {
                let why = match other {
                    Ok(r) => format!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
                    Err(e) => e.to_string(),
                };
                eprintln!("stoa bench: a tab's stream did not open: {why}");
            }
            return;
        }
    };
    let mut permit = Some(permit);
    let mut buf = String::new();
    let friend = format!("p{}", me ^ 1);
    let mut seen = std::collections::HashSet::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let now = tally.epoch.elapsed().as_micros() as u64;
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if permit.take().is_some() {
                // The first event: the tab is open.
                tally.streams_open.fetch_add(1, Ordering::Relaxed);
            }
            if !frame.lines().any(|l| l == "event: message") {
                continue;
            }
            let data: String = frame.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
            let Ok(m) = serde_json::from_str::<Value>(&data) else { continue };
            if m["sender"]["username"].as_str() != Some(friend.as_str()) {
                continue;
            }
            let Some(n) = m["text"].as_str().and_then(|t| t.strip_prefix('m')?.split(' ').next()?.parse::<u32>().ok())
            else {
                continue;
            };
            if !seen.insert(n) {
                tally.duplicates.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let at = tally.sent_at.get(n as usize).map_or(0, |s| s.load(Ordering::Relaxed));
            if at > 0
                && let Ok(mut heard) = tally.heard.lock()
            {
                heard.push((n, now.saturating_sub(at) as f64 / 1000.0));
            }
        }
    }
}

/// Sends `total` messages at `rate` a second: message `n` from person `n * 7919 mod people` to their
/// friend, so that each person writes once every `people / rate` seconds. Returns the seconds it took.
#[allow(clippy::too_many_arguments)]
async fn send_all(
    tally: &Arc<Tally>,
    tokens: &Arc<Vec<String>>,
    threads: &Arc<Vec<i64>>,
    base: &str,
    people: usize,
    rate: f64,
    total: usize,
    stop: &AtomicBool,
) -> anyhow::Result<f64> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let in_flight = Arc::new(tokio::sync::Semaphore::new(2_000));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep_until(tokio::time::Instant::from_std(start + Duration::from_secs_f64(n as f64 / rate)))
            .await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            tally.backlogged.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let who = (n * 7919) % people;
        let (http, tally, url) =
            (http.clone(), tally.clone(), format!("{base}/api/v1/threads/{}/messages", threads[who / 2]));
        let token = tokens[who].clone();
        tasks.spawn(async move {
            let began = Instant::now();
            tally.sent_at[n].store(tally.epoch.elapsed().as_micros().max(1) as u64, Ordering::Relaxed);
            let resp = http.post(url).bearer_auth(token).json(&json!({"text": format!("m{n} {TEXT}")})).send().await;
            match resp {
                Ok(r) if r.status().is_success() => {
                    tally.sent.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut t) = tally.send_ms.lock() {
                        t.push(began.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                Ok(r) if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                    tally.sent_at[n].store(0, Ordering::Relaxed);
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    tally.sent_at[n].store(0, Ordering::Relaxed);
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    let took = start.elapsed().as_secs_f64();
    while tasks.join_next().await.is_some() {}
    Ok(took)
}

/// One round of the other user's: the hallway, then a join of the room (its WebSocket, the welcome and the
/// media's offer and answer), left at once. Their times, in milliseconds.
async fn others(other: &Api, room: &str) -> anyhow::Result<(f64, f64)> {
    let t = Instant::now();
    other.get("/api/v1/rooms").await?;
    let hallway = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let mut session = Session::join(other, room, 3).await?;
    let join = t.elapsed().as_secs_f64() * 1000.0;
    session.command(stoa_proto::ClientCommand::Leave).await?;
    Ok((hallway, join))
}
