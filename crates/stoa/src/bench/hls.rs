//! The HLS players of `stoa bench --hls-listeners N`, in a process of their own (`stoa bench-hls`), so that
//! their CPU is counted apart from the bench's WebRTC listeners and they do not share a runtime with them.
//!
//! Each player is what a browser tab with hls.js is to the server: one keep-alive HTTP/1.1 connection of its
//! own, the playlist every target duration (2 s), and each segment new in it, once. The requests are written
//! and the responses parsed by hand (httparse), so that a player costs the bench little more than the
//! kernel's work for its socket, and the server's share of the machine is what is measured.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// What a worker is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HlsPlan {
    /// Where to connect: `host:port`.
    pub addr: String,
    /// The `Host` header.
    pub host: String,
    pub room: String,
    pub players: usize,
    /// Low-latency players: blocking reloads and parts, instead of a poll every 2 s and whole segments.
    pub low_latency: bool,
    /// How many connections they share (as players behind one proxy share its connections): one each when
    /// a process may open that many sockets.
    pub connections: usize,
    /// When the first player starts (µs since the Unix epoch); the others follow over one poll period.
    pub start_us: u64,
    /// When they all stop.
    pub stop_us: u64,
}

/// What a worker's players did.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct HlsReport {
    pub playlists: u64,
    pub segments: u64,
    pub parts: u64,
    /// Answers a player waits out and asks again: 503 with `Retry-After` (the stream is starting, or the
    /// part asked for came late), as hls.js does.
    pub retried: u64,
    /// Everything else that was not a 200: what went wrong, the first few kept to say why.
    pub errors: u64,
    pub error_samples: Vec<String>,
    /// Connections opened (one per player, more if the server closed some).
    pub connections: u64,
    /// Each fetched segment's age: from its newest audio's mix to its arrival (ms).
    pub ages_ms: Vec<f64>,
    /// Each request's time, from writing it to its last byte (ms).
    pub request_ms: Vec<f64>,
}

const POLL: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn at(wall_us: u64) -> Instant {
    let now_wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let target = Duration::from_micros(wall_us);
    let now = Instant::now();
    if target >= now_wall { now + (target - now_wall) } else { now.checked_sub(now_wall - target).unwrap_or(now) }
}

/// `stoa bench-hls`: reads an [`HlsPlan`] as JSON on standard input, runs its players until the plan's
/// stop, and writes an [`HlsReport`] as JSON on standard output.
pub async fn worker() -> anyhow::Result<()> {
    let plan: HlsPlan = super::process::Worker::read_plan("stoa bench-hls reads an HLS plan").await?;
    super::process::raise_file_limit(plan.connections as u64 + 256);
    let (start, stop) = (at(plan.start_us), at(plan.stop_us));
    let connections: Vec<Arc<Mutex<Option<Conn>>>> =
        (0..plan.connections.clamp(1, plan.players.max(1))).map(|_| Arc::default()).collect();
    let mut tasks = Vec::with_capacity(plan.players);
    for i in 0..plan.players {
        // Spread over one poll period, as players that came at different times are.
        let begin = start + POLL.mul_f64(i as f64 / plan.players.max(1) as f64);
        let (plan, conn) = (plan.clone(), connections[i % connections.len()].clone());
        tasks.push(tokio::spawn(async move {
            if plan.low_latency {
                low_latency_player(&plan, &conn, begin, stop).await
            } else {
                player(&plan, &conn, begin, stop).await
            }
        }));
    }
    let mut report = HlsReport::default();
    for t in tasks {
        if let Ok(r) = t.await {
            report.playlists += r.playlists;
            report.segments += r.segments;
            report.parts += r.parts;
            report.retried += r.retried;
            report.errors += r.errors;
            report.error_samples.extend(r.error_samples);
            report.connections += r.connections;
            report.ages_ms.extend(r.ages_ms);
            report.request_ms.extend(r.request_ms);
        }
    }
    super::process::Worker::write_results(&report).await
}

/// One player, from `begin` until `stop`.
async fn player(plan: &HlsPlan, conn: &Mutex<Option<Conn>>, begin: Instant, stop: Instant) -> HlsReport {
    let mut report = HlsReport::default();
    let playlist = format!("/listen/{}/index.m3u8", plan.room);
    let mut last: Option<String> = None;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::from_std(begin), POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if Instant::now() >= stop {
            break;
        }
        let asked = Instant::now();
        let text = match get(&mut *conn.lock().await, plan, &playlist, &mut report).await {
            Ok(r) if r.status == 200 => String::from_utf8(r.body).unwrap_or_default(),
            other => {
                report.failed(&playlist, other);
                continue;
            }
        };
        report.request_ms.push(asked.elapsed().as_secs_f64() * 1000.0);
        report.playlists += 1;
        let Some(newest) = text.lines().rfind(|l| l.ends_with(".aac")).map(str::to_string) else { continue };
        if last.as_deref() == Some(newest.as_str()) {
            continue;
        }
        let asked = Instant::now();
        let path = format!("/listen/{}/{newest}", plan.room);
        match get(&mut *conn.lock().await, plan, &path, &mut report).await {
            Ok(r) if r.status == 200 => {
                report.request_ms.push(asked.elapsed().as_secs_f64() * 1000.0);
                report.segments += 1;
                if let Some(age) = r.age_ms {
                    report.ages_ms.push(age);
                }
            }
            other => report.failed(&path, other),
        }
        last = Some(newest);
    }
    report
}

/// One low-latency player, from `begin` until `stop`: the playlist, then over and over a blocking reload
/// for the part the last one hinted at (answered once that part is made) and that part, as hls.js does.
async fn low_latency_player(plan: &HlsPlan, conn: &Mutex<Option<Conn>>, begin: Instant, stop: Instant) -> HlsReport {
    let mut report = HlsReport::default();
    let playlist = format!("/listen/{}/index.m3u8", plan.room);
    tokio::time::sleep_until(tokio::time::Instant::from_std(begin)).await;
    // The part asked for, by its name and its (segment, part) numbers.
    let mut want: Option<(String, u64, u32)> = None;
    while Instant::now() < stop {
        let path = match &want {
            Some((_, msn, part)) => format!("{playlist}?_HLS_msn={msn}&_HLS_part={part}"),
            None => playlist.clone(),
        };
        let asked = Instant::now();
        let text = match get(&mut *conn.lock().await, plan, &path, &mut report).await {
            Ok(r) if r.status == 200 => String::from_utf8(r.body).unwrap_or_default(),
            other => {
                report.failed(&path, other);
                want = None;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        report.request_ms.push(asked.elapsed().as_secs_f64() * 1000.0);
        report.playlists += 1;
        if let Some((name, ..)) = want.take() {
            let asked = Instant::now();
            let path = format!("/listen/{}/{name}", plan.room);
            match get(&mut *conn.lock().await, plan, &path, &mut report).await {
                Ok(r) if r.status == 200 => {
                    report.request_ms.push(asked.elapsed().as_secs_f64() * 1000.0);
                    report.parts += 1;
                    if let Some(age) = r.age_ms {
                        report.ages_ms.push(age);
                    }
                }
                other => report.failed(&path, other),
            }
        }
        want = text.lines().rfind(|l| l.starts_with("#EXT-X-PRELOAD-HINT:")).and_then(hinted);
        if want.is_none() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    report
}

/// The hinted part's name and numbers, from `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="STREAM-SEQ.PART.aac"`.
fn hinted(line: &str) -> Option<(String, u64, u32)> {
    let name = line.split("URI=\"").nth(1)?.trim_end_matches('"');
    let (seq, part) = name.strip_suffix(".aac")?.split_once('-')?.1.split_once('.')?;
    Some((name.to_string(), seq.parse().ok()?, part.parse().ok()?))
}

/// A keep-alive connection and what it has read past the last response.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

struct Got {
    status: u16,
    age_ms: Option<f64>,
    retry_after: bool,
    body: Vec<u8>,
}

impl HlsReport {
    /// Counts a request that got no 200: a retry if the server asked for one, an error otherwise.
    fn failed(&mut self, path: &str, got: anyhow::Result<Got>) {
        const SAMPLES: usize = 5;
        match got {
            Ok(g) if g.status == 503 && g.retry_after => self.retried += 1,
            other => {
                self.errors += 1;
                if self.error_samples.len() < SAMPLES {
                    self.error_samples.push(match other {
                        Ok(g) => format!("{path}: {} {}", g.status, String::from_utf8_lossy(&g.body)),
                        Err(e) => format!("{path}: {e:#}"),
                    });
                }
            }
        }
    }
}

/// One GET on the player's connection (opened first if it is not). Any failure closes the connection; the
/// next request opens another.
async fn get(conn: &mut Option<Conn>, plan: &HlsPlan, path: &str, report: &mut HlsReport) -> anyhow::Result<Got> {
    let result = tokio::time::timeout(REQUEST_TIMEOUT, async {
        if conn.is_none() {
            let stream = TcpStream::connect(&plan.addr).await?;
            stream.set_nodelay(true)?;
            report.connections += 1;
            *conn = Some(Conn { stream, buf: Vec::with_capacity(4096) });
        }
        let Some(c) = conn.as_mut() else { bail!("no connection") };
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: stoa-bench-hls\r\n\r\n", plan.host);
        c.stream.write_all(request.as_bytes()).await?;
        exchange(c).await
    })
    .await;
    match result {
        Ok(Ok((got, keep))) => {
            if !keep {
                *conn = None;
            }
            Ok(got)
        }
        Ok(Err(e)) => {
            *conn = None;
            Err(e)
        }
        Err(_) => {
            *conn = None;
            bail!("timed out")
        }
    }
}

/// Reads one response (headers, then a `Content-Length` body). Returns it and whether the connection stays.
async fn exchange(c: &mut Conn) -> anyhow::Result<(Got, bool)> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 24];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = response.parse(&c.buf)? {
            let status = response.code.unwrap_or(0);
            let mut length = None;
            let mut age_ms = None;
            let mut keep = true;
            let mut retry_after = false;
            for h in response.headers.iter() {
                let value = std::str::from_utf8(h.value).unwrap_or("");
                if h.name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                } else if h.name.eq_ignore_ascii_case("x-stoa-audio-age-ms") {
                    age_ms = value.trim().parse::<f64>().ok();
                } else if h.name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                    keep = false;
                } else if h.name.eq_ignore_ascii_case("retry-after") {
                    retry_after = true;
                }
            }
            let length = length.context("a response without Content-Length")?;
            while c.buf.len() < head + length {
                read_more(c).await?;
            }
            let body = c.buf[head..head + length].to_vec();
            c.buf.drain(..head + length);
            return Ok((Got { status, age_ms, retry_after, body }, keep));
        }
        read_more(c).await?;
    }
}

async fn read_more(c: &mut Conn) -> anyhow::Result<()> {
    let mut chunk = [0u8; 16384];
    let n = c.stream.read(&mut chunk).await?;
    if n == 0 {
        bail!("the server closed the connection");
    }
    c.buf.extend_from_slice(&chunk[..n]);
    Ok(())
}
