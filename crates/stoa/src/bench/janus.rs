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
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

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
