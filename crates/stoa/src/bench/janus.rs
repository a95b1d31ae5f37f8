//! `stoa bench --janus`: the same listeners, window and figures as the capacity bench, against Janus's
//! streaming plugin instead of a Stoa room, so that the two servers' cost per packet is compared under the
//! same load in one sitting (`scripts/bench-janus` runs both, alternated).
//!
//! The stream is one speaker's: 20 ms synthetic Opus frames that carry their send time, sent as plain RTP to
//! the mountpoint's port (Janus's streaming plugin reads RTP, not WebRTC). Each listener is a str0m peer
//! that answers Janus's offer over its HTTP API (create, attach, watch, the offer's event, start), then is
//! driven by the bench's media loops exactly as a Stoa listener is: every packet counted from its clear RTP
//! header, one in 20 decrypted and timed.

use super::args::BenchArgs;
use super::listeners::{Clock, frame};
use super::process::raise_file_limit;
use super::run::{Cast, Sending, Setup};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use stoa_client::{JoinPhases, MediaPeer};

/// The Janus session a listener holds, destroyed when it leaves.
pub(crate) struct JanusSession {
    http: reqwest::Client,
    url: String,
}

impl JanusSession {
    pub(crate) async fn leave(self) {
        let _ = call(&self.http, &self.url, json!({"janus": "destroy", "transaction": "d"})).await;
    }
}

/// One request to Janus's HTTP API: its answer, or Janus's error as an error.
async fn call(http: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    let answer: Value = http.post(url).json(&body).send().await?.error_for_status()?.json().await?;
    if answer["janus"] == "error" {
        bail!("Janus refused {}: {}", body["janus"], answer["error"]["reason"]);
    }
    Ok(answer)
}

/// Joins Janus at `base` (its HTTP API, e.g. `http://198.18.0.1:8088/janus`) as a viewer of `mountpoint`:
/// a session and a handle on the streaming plugin, `watch`, Janus's offer, then str0m's answer with `start`.
/// The phases are timed as a Stoa join's: the handle made, the offer received, the answer accepted.
pub(crate) async fn join(
    http: &reqwest::Client,
    base: &str,
    mountpoint: &str,
) -> anyhow::Result<(MediaPeer, JoinPhases, JanusSession)> {
    let began = Instant::now();
    let mut phases = JoinPhases::default();
    let id: u64 = mountpoint.parse().context("a Janus mountpoint is a number")?;
    let created = call(http, base, json!({"janus": "create", "transaction": "c"})).await?;
    let session_url = format!("{base}/{}", created["data"]["id"].as_u64().context("Janus made no session")?);
    let session = JanusSession { http: http.clone(), url: session_url.clone() };
    let attach = json!({"janus": "attach", "plugin": "janus.plugin.streaming", "transaction": "a"});
    let attached = call(http, &session_url, attach).await?;
    let handle_url = format!("{session_url}/{}", attached["data"]["id"].as_u64().context("Janus made no handle")?);
    phases.upgraded = began.elapsed();
    let watch = json!({"janus": "message", "transaction": "w", "body": {"request": "watch", "id": id}});
    call(http, &handle_url, watch).await?;
    // The offer comes as an event on the session's long poll.
    let deadline = Instant::now() + Duration::from_secs(60);
    let offer = loop {
        anyhow::ensure!(Instant::now() < deadline, "Janus sent no offer within a minute");
        let event: Value = http.get(format!("{session_url}?maxev=1")).send().await?.json().await?;
        if let Some(error) = event["plugindata"]["data"]["error"].as_str() {
            bail!("Janus's streaming plugin refused to stream: {error}");
        }
        if event["jsep"]["type"] == "offer" {
            break event["jsep"]["sdp"].as_str().context("an offer without SDP")?.to_string();
        }
    };
    phases.welcomed = began.elapsed();
    let local_ip = stoa_client::session::local_ip_towards(base).await?;
    let (rtc, socket, local, answer) = answer_offer(local_ip, &offer)?;
    let start = json!({"janus": "message", "transaction": "s", "body": {"request": "start"},
        "jsep": {"type": "answer", "sdp": answer}});
    call(http, &handle_url, start).await?;
    phases.answered = began.elapsed();
    Ok((MediaPeer { rtc, socket, local }, phases, session))
}

/// A str0m peer on a new socket that answers `offer`: its answer's SDP.
fn answer_offer(
    local_ip: IpAddr,
    offer: &str,
) -> anyhow::Result<(str0m::Rtc, std::net::UdpSocket, SocketAddr, String)> {
    let socket = std::net::UdpSocket::bind(SocketAddr::new(local_ip, 0))?;
    socket.set_nonblocking(true)?;
    stoa_media::set_socket_buffers(&socket, 1 << 20);
    let local = socket.local_addr()?;
    let mut rtc = stoa_client::session::rtc_config_with(false).build(Instant::now());
    rtc.add_local_candidate(str0m::Candidate::host(local, "udp")?);
    let offer = str0m::change::SdpOffer::from_sdp_string(offer).context("Janus's offer")?;
    let answer = rtc.sdp_api().accept_offer(offer).context("cannot answer Janus's offer")?;
    Ok((rtc, socket, local, answer.to_sdp_string()))
}

/// Sends one speaker's stream to the mountpoint's RTP port: a synthetic frame every 20 ms, as the capacity
/// bench's speaker does when it is its turn.
fn feed(rtp: SocketAddr, sending: &Sending) -> tokio::task::JoinHandle<()> {
    let (epoch, stop) = (sending.epoch, sending.stop.clone());
    let (talking, all) = (sending.talking_sent.clone(), sending.all_sent.clone());
    tokio::spawn(async move {
        let bind: SocketAddr =
            if rtp.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
        let Ok(socket) = tokio::net::UdpSocket::bind(bind).await else { return };
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        let (mut seq, mut ts, ssrc) = (0u16, 0u32, 0x5354_4f41u32);
        while !stop.load(Ordering::Relaxed) {
            ticker.tick().await;
            let mut packet = vec![0x80, 111];
            packet.extend_from_slice(&seq.to_be_bytes());
            packet.extend_from_slice(&ts.to_be_bytes());
            packet.extend_from_slice(&ssrc.to_be_bytes());
            packet.extend_from_slice(&frame(epoch));
            if socket.send_to(&packet, rtp).await.is_ok() {
                talking.fetch_add(1, Ordering::Relaxed);
                all.fetch_add(1, Ordering::Relaxed);
            }
            (seq, ts) = (seq.wrapping_add(1), ts.wrapping_add(960));
        }
    })
}

/// Runs the bench against Janus: the feed, the listeners, the window, and the capacity bench's report with
/// `"server": "janus"`.
pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<Value> {
    let url = args.janus.clone().context("--janus names no server")?.trim_end_matches('/').to_string();
    let rtp: SocketAddr = args
        .janus_rtp
        .as_deref()
        .context("--janus needs --janus-rtp, the mountpoint's RTP address")?
        .parse()
        .context("--janus-rtp is an address and port, e.g. 198.18.0.1:5002")?;
    if args.listeners == 0 {
        bail!("a bench needs at least one listener");
    }
    let limit = raise_file_limit(3 * args.listeners as u64 + 1024);
    let setup = Setup {
        limit,
        processes: Setup::processes_for(args, limit),
        file_frames: None,
        clock: Clock::Embedded,
        chatting: false,
        chatters: 0,
        own: None,
        watched_pid: args.janus_pid,
        bases: vec![url.clone()],
        base: url,
        metrics: Vec::new(),
        invite: String::new(),
    };
    let sending = Sending::starting_now();
    let sending = Sending { tasks: vec![feed(rtp, &sending)], ..sending };
    let cast = Cast {
        room: args.janus_mountpoint.to_string(),
        speakers: Vec::new(),
        listener_tokens: (0..args.listeners).map(|i| (i, String::new())).collect(),
        chatter_apis: Vec::new(),
    };
    let (load, times) = super::run::start_load(args, &setup, cast, &sending).await?;
    let measured = super::run::measure(args, &setup, &load, &sending, &times).await;
    let (results, _, chat_stats) = super::run::collect(args, load, sending).await?;
    let mut report = super::report::report(args, &setup, &measured, &results, None, &chat_stats);
    report["server"] = "janus".into();
    report["speakers"] = 1.into();
    report["red"] = false.into();
    Ok(report)
}
