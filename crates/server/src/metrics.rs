//! `/metrics`: the operator's view, in Prometheus' text format (version 0.0.4), on a listener of its own
//! (`--metrics ADDR`), never on the public port: the counts it shows (rooms, participants) are for the
//! people who run the server, and hidden rooms are counted there like any other.
//!
//! Counters that the hot paths write are atomics owned where they are written (the SFU's per-shard meters,
//! the TLS listener's handshake counts); this module only reads and formats them at scrape time.

use crate::AppState;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use stoa_live::metrics::JOIN_BUCKETS_MS;

/// What the control plane counts.
#[derive(Default)]
pub struct Metrics {
    /// HTTP requests by route (the router's pattern, so that IDs do not make new series) and status.
    http: Mutex<HashMap<String, HashMap<u16, u64>>>,
    /// What the room tasks count.
    pub rooms: std::sync::Arc<stoa_live::metrics::RoomMetrics>,
    /// The HTTPS listener's handshake counts, when it serves HTTPS.
    tls: Option<std::sync::Arc<crate::tls::TlsStats>>,
    /// The bounded work pools, by name, whose refused jobs are counted.
    pools: Vec<(&'static str, stoa_egress::pool::WorkPool)>,
}

impl Metrics {
    /// Counters for a server whose HTTPS listener counts its handshakes in `tls`, if it serves HTTPS, and
    /// whose bounded work pools are `pools`.
    pub fn new(
        tls: Option<std::sync::Arc<crate::tls::TlsStats>>,
        pools: Vec<(&'static str, stoa_egress::pool::WorkPool)>,
    ) -> Metrics {
        Metrics { tls, pools, ..Metrics::default() }
    }

    /// Counts one request; a route's name is allocated once, on its first request.
    fn request(&self, route: &str, status: u16) {
        let mut http = self.http.lock().unwrap_or_else(|p| p.into_inner());
        let statuses = match http.get_mut(route) {
            Some(statuses) => statuses,
            None => http.entry(route.to_string()).or_default(),
        };
        *statuses.entry(status).or_default() += 1;
    }
}

/// Counts every request of the application by route and status.
pub async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    state.metrics.request(route.as_ref().map_or("unmatched", |p| p.as_str()), response.status().as_u16());
    response
}

/// The metrics listener's application: `GET /metrics`.
pub fn router(state: AppState) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(state)
}

async fn scrape(State(state): State<AppState>) -> Response {
    let text = render(&state);
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], text)
        .into_response()
}

/// Writes one metric's HELP and TYPE lines.
fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a label value (Prometheus: backslash, double quote and newline).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Writes a cumulative histogram from per-bucket counts (the last bucket is +Inf).
fn histogram(out: &mut String, name: &str, bounds: &[f64], counts: &[u64], sum: f64) {
    let mut total = 0;
    for (i, count) in counts.iter().enumerate() {
        total += count;
        let le = bounds.get(i).map_or("+Inf".to_string(), |b| b.to_string());
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {total}");
    }
    let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {total}");
}

/// The whole exposition.
pub fn render(state: &AppState) -> String {
    let mut out = String::with_capacity(8192);
    let snapshots = state.rooms.snapshots();
    head(&mut out, "stoa_live_rooms", "gauge", "Live rooms, hidden ones included.");
    let _ = writeln!(out, "stoa_live_rooms {}", snapshots.len());
    head(&mut out, "stoa_notification_streams", "gauge", "Users with a notification stream (the bell) open.");
    let _ = writeln!(out, "stoa_notification_streams {}", state.notifier.hub.connected());
    let (mut moderators, mut speakers, mut listeners) = (0u64, 0u64, 0u64);
    for s in &snapshots {
        for member in &s.info.stage {
            match member.role {
                stoa_proto::Role::Moderator => moderators += 1,
                _ => speakers += 1,
            }
        }
        listeners += u64::from(s.info.listener_count);
    }
    head(&mut out, "stoa_participants", "gauge", "People in live rooms, by role.");
    for (role, n) in [("moderator", moderators), ("speaker", speakers), ("listener", listeners)] {
        let _ = writeln!(out, "stoa_participants{{role=\"{role}\"}} {n}");
    }
    let sfu = state.sfu.stats();
    let sum = |f: fn(&stoa_sfu::ShardMeter) -> &AtomicU64| -> u64 {
        sfu.shards.iter().map(|m| f(m).load(Ordering::Relaxed)).sum()
    };
    head(
        &mut out,
        "stoa_media_peers",
        "gauge",
        "Media (WebRTC) connections, by the transport of their current path (pending: not connected yet).",
    );
    let mut on_a_path = 0;
    for (i, transport) in stoa_sfu::Transport::ALL.iter().enumerate() {
        let n: u64 = sfu.shards.iter().map(|m| m.peers_by_transport[i].load(Ordering::Relaxed)).sum();
        on_a_path += n;
        let _ = writeln!(out, "stoa_media_peers{{transport=\"{}\"}} {n}", transport.label());
    }
    let pending = (state.sfu.peer_count() as u64).saturating_sub(on_a_path);
    let _ = writeln!(out, "stoa_media_peers{{transport=\"pending\"}} {pending}");
    let tcp = &sfu.tcp;
    for (name, help, value) in [
        ("stoa_media_packets_received_total", "Datagrams the media plane received.", sum(|m| &m.packets_in)),
        ("stoa_media_bytes_received_total", "Bytes the media plane received.", sum(|m| &m.bytes_in)),
        ("stoa_media_packets_sent_total", "Datagrams the media plane sent.", sum(|m| &m.packets_out)),
        ("stoa_media_bytes_sent_total", "Bytes the media plane sent.", sum(|m| &m.bytes_out)),
        (
            "stoa_media_packets_refused_total",
            "Datagrams refused: not WebRTC, from an unknown source, or with wrong credentials.",
            sum(|m| &m.refused),
        ),
        (
            "stoa_media_audience_packets_refused_total",
            "Audio from listeners, never forwarded (the stage, enforced).",
            sum(|m| &m.refused_audience),
        ),
        (
            "stoa_media_commands_dropped_total",
            "Commands to a media shard refused by its full queue.",
            sfu.commands_dropped.load(Ordering::Relaxed),
        ),
        (
            "stoa_media_cross_shard_dropped_total",
            "Messages between media shards refused by a full queue.",
            sfu.cross_dropped.load(Ordering::Relaxed),
        ),
        ("stoa_media_peer_panics_total", "Media peers closed after a panic.", sfu.peer_panics.load(Ordering::Relaxed)),
        (
            "stoa_media_shard_restarts_total",
            "Media shards restarted after a panic.",
            sfu.shard_restarts.load(Ordering::Relaxed),
        ),
        ("stoa_media_tcp_connections_total", "ICE-TCP connections accepted.", tcp.accepted.load(Ordering::Relaxed)),
        (
            "stoa_media_tcp_refused_total",
            "ICE-TCP connections closed before or at their first request: silent, garbage, a frame cut short, \
             an unknown or unauthentic request, or over the limits.",
            tcp.refused.load(Ordering::Relaxed) + tcp.refused_by_shard.load(Ordering::Relaxed),
        ),
        (
            "stoa_media_tcp_stalled_total",
            "ICE-TCP connections closed because their client stopped reading or sending.",
            tcp.stalled.load(Ordering::Relaxed),
        ),
        (
            "stoa_media_tcp_queue_drops_total",
            "Packets dropped because an ICE-TCP connection's write queue was full.",
            tcp.queue_drops.load(Ordering::Relaxed),
        ),
        (
            "stoa_notifications_stored_total",
            "Notifications stored (each one person told one thing).",
            state.notifier.stats.stored.load(Ordering::Relaxed),
        ),
        (
            "stoa_notification_jobs_dropped_total",
            "Notification jobs dropped because the worker's queue was full.",
            state.notifier.stats.dropped_jobs.load(Ordering::Relaxed),
        ),
        (
            "stoa_notification_jobs_failed_total",
            "Notification jobs that failed in the store.",
            state.notifier.stats.failed_jobs.load(Ordering::Relaxed),
        ),
        (
            "stoa_push_sent_total",
            "Web push messages a push service accepted.",
            state.notifier.stats.pushed.load(Ordering::Relaxed),
        ),
        (
            "stoa_push_failed_total",
            "Web push messages that failed (refused, unreachable, or bad keys).",
            state.notifier.stats.push_failed.load(Ordering::Relaxed),
        ),
        (
            "stoa_push_gone_total",
            "Push subscriptions removed because their push service said they are gone.",
            state.notifier.stats.push_gone.load(Ordering::Relaxed),
        ),
        (
            "stoa_push_dropped_total",
            "Batches of web push dropped because the push queue was full.",
            state.notifier.stats.push_dropped.load(Ordering::Relaxed),
        ),
        (
            "stoa_captions_transcribed_total",
            "Utterances the caption engine transcribed.",
            state.captions.as_ref().map_or(0, |c| c.transcribed.load(Ordering::Relaxed)),
        ),
        (
            "stoa_captions_dropped_total",
            "Utterances dropped because a room's queue or the server's slots for the caption engine were full.",
            state.captions.as_ref().map_or(0, |c| c.dropped.load(Ordering::Relaxed)),
        ),
        (
            "stoa_captions_failed_total",
            "Utterances the caption engine failed on (an error, a timeout, an answer without text).",
            state.captions.as_ref().map_or(0, |c| c.failed.load(Ordering::Relaxed)),
        ),
        (
            "stoa_room_log_dropped_total",
            "Chat and moderation records dropped because the writer's queue was full.",
            state.room_log.dropped.load(Ordering::Relaxed),
        ),
        (
            "stoa_ws_queue_drops_total",
            "Room sockets cut off because the client stopped reading its events.",
            state.metrics.rooms.ws_queue_drops.load(Ordering::Relaxed),
        ),
    ] {
        head(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    head(&mut out, "stoa_work_refused_total", "counter", "Jobs refused because a bounded pool's queue was full.");
    for (pool, value) in state.metrics.pools.iter().map(|(name, pool)| (name, pool.refused())) {
        let _ = writeln!(out, "stoa_work_refused_total{{pool=\"{pool}\"}} {value}");
    }
    if let Some(tls) = &state.metrics.tls {
        head(&mut out, "stoa_tls_handshakes_total", "counter", "TLS handshakes on the HTTPS listener, by result.");
        let _ =
            writeln!(out, "stoa_tls_handshakes_total{{result=\"ok\"}} {}", tls.handshakes_done.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "stoa_tls_handshakes_total{{result=\"failed\"}} {}",
            tls.handshakes_failed.load(Ordering::Relaxed)
        );
    }

    head(
        &mut out,
        "stoa_media_forward_seconds",
        "histogram",
        "How long forwarded audio waits in a media shard, from reading a batch's first packet to sending the batch.",
    );
    let mut counts = [0u64; 10];
    for m in sfu.shards.iter() {
        for (c, b) in counts.iter_mut().zip(&m.forward_buckets) {
            *c += b.load(Ordering::Relaxed);
        }
    }
    let bounds: Vec<f64> = stoa_sfu::FORWARD_BUCKETS_US.iter().map(|us| *us as f64 / 1e6).collect();
    histogram(&mut out, "stoa_media_forward_seconds", &bounds, &counts, sum(|m| &m.forward_sum_us) as f64 / 1e6);

    head(&mut out, "stoa_join_seconds", "histogram", "From a media offer to its connection being up (ICE and DTLS).");
    let counts: Vec<u64> = state.metrics.rooms.join_buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
    let bounds: Vec<f64> = JOIN_BUCKETS_MS.iter().map(|ms| *ms as f64 / 1e3).collect();
    histogram(
        &mut out,
        "stoa_join_seconds",
        &bounds,
        &counts,
        state.metrics.rooms.join_sum_ms.load(Ordering::Relaxed) as f64 / 1e3,
    );

    head(&mut out, "stoa_http_requests_total", "counter", "HTTP requests, by route and status.");
    let mut http: Vec<((String, u16), u64)> = state
        .metrics
        .http
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .flat_map(|(route, statuses)| statuses.iter().map(|(status, n)| ((route.clone(), *status), *n)))
        .collect();
    http.sort();
    for ((route, status), n) in http {
        let _ = writeln!(out, "stoa_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}", label(&route));
    }

    if let Some((cpu, rss)) = process_usage() {
        head(&mut out, "process_cpu_seconds_total", "counter", "CPU time of the server process (user and system).");
        let _ = writeln!(out, "process_cpu_seconds_total {cpu}");
        head(&mut out, "process_resident_memory_bytes", "gauge", "Resident memory of the server process.");
        let _ = writeln!(out, "process_resident_memory_bytes {rss}");
    }
    out
}

/// This process's CPU seconds and resident bytes, from /proc (Linux).
fn process_usage() -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces) start after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let rss_kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some((ticks / 100.0, rss_kb * 1024))
}
