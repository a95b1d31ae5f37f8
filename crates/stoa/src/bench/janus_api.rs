//! Janus's HTTP API, as a bench listener uses it: a session, a handle on the streaming plugin, `watch`,
//! Janus's offer, and a str0m peer's answer with `start` (`stoa bench --janus`, in `janus.rs`).

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
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
