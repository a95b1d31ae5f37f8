//! The capacity bench's figures, from what its phases gathered (`run.rs`).

use super::args::BenchArgs;
use super::chat::ChatStats;
use super::hls::HlsReport;
use super::listeners::ListenerResult;
use super::measure::percentile;
use super::run::{Measured, Setup};
use std::sync::atomic::Ordering;

/// Sorted, the values `f` gives for the listeners that have one.
fn sorted(results: &[ListenerResult], f: impl Fn(&ListenerResult) -> Option<f64>) -> Vec<f64> {
    let mut v: Vec<f64> = results.iter().filter_map(f).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The report: joins, loss, latency, and what the server and the bench spent over the window; with
/// several servers, each one's share; with a second half (chat, players, the replay), each half apart.
pub(super) fn report(
    args: &BenchArgs,
    setup: &Setup,
    measured: &Measured,
    results: &[ListenerResult],
    hls_report: Option<HlsReport>,
    chat_stats: &ChatStats,
) -> serde_json::Value {
    let joins = sorted(results, |r| r.join_ms);
    let (upgraded, welcomed) = (sorted(results, |r| r.upgraded_ms), sorted(results, |r| r.welcomed_ms));
    let (answered, connected) = (sorted(results, |r| r.answered_ms), sorted(results, |r| r.connected_ms));
    let ice = sorted(results, |r| r.ice_ms);
    // The whole window (with chat, both halves).
    let mut latencies: Vec<f64> =
        results.iter().flat_map(|r| r.latencies_ms.iter().chain(&r.latencies_ms_b).copied()).collect();
    latencies.sort_by(f64::total_cmp);
    let received: u64 = results.iter().map(|r| r.packets + r.packets_b).sum();
    let lost: u64 = results.iter().map(|r| r.lost + r.lost_b).sum();
    let expected = received + lost;
    let seconds = args.seconds;
    let (server_cpu_pct, server_rss_mb) = match (measured.server_start, measured.server_end) {
        (Some((a, _)), Some((b, rss))) => ((b - a) / seconds * 100.0, rss),
        _ => (f64::NAN, f64::NAN),
    };
    // What the joins cost the server: its CPU over the join window, less what the media took meanwhile.
    // Listeners join evenly over the first 80 % of the window, so the media ran at 60 % of the measured
    // window's rate on average.
    let join_cpu_s = match (measured.server_join_start, measured.server_start) {
        (Some((a, _)), Some((b, _))) => b - a,
        _ => f64::NAN,
    };
    let join_media_s = 0.6 * server_cpu_pct / 100.0 * args.join_window;
    let mut report = serde_json::json!({
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
        "join_window_server_cpu_s": join_cpu_s,
        "join_server_cpu_ms_per_listener": (join_cpu_s - join_media_s) * 1000.0 / joins.len().max(1) as f64,
        "packets_expected": expected,
        "packets_received": received,
        "loss_pct": if expected == 0 { 0.0 } else { lost as f64 * 100.0 / expected as f64 },
        "latency_p50_ms": percentile(&latencies, 0.5),
        "latency_p99_ms": percentile(&latencies, 0.99),
        "server_cpu_pct": server_cpu_pct,
        "server_rss_mb": server_rss_mb,
        "server_pps_out": received as f64 / seconds,
        "bench_cpu_pct": measured.bench_cpu_s / seconds * 100.0,
        "frames_sent_talking": measured.talking_window,
        "frames_sent_all": measured.all_window,
        "packets_received_min":
            results.iter().filter(|r| r.join_ms.is_some()).map(|r| r.packets + r.packets_b).min().unwrap_or(0),
        "packets_received_max": results.iter().map(|r| r.packets + r.packets_b).max().unwrap_or(0),
        "packets_decrypted": results.iter().map(|r| r.decrypted).sum::<u64>(),
        "bytes_received": results.iter().map(|r| r.bytes).sum::<u64>(),
        "listener_processes": setup.processes,
        "speakers_through": args.speakers_through,
        "red": !args.no_red,
        "server": "stoa",
        // The server's cost per packet delivered: % of a core per 1,000 packets a second that listeners got.
        "server_cpu_pct_per_kpps": server_cpu_pct / (received as f64 / seconds / 1000.0),
    });
    if setup.bases.len() > 1 || !setup.metrics.is_empty() {
        report["nodes"] = nodes(setup, measured, results, seconds).into();
    }
    if args.timeline > 0.0 {
        report["timeline"] = timeline(args, measured, results).into();
        let drops = |m: &[Option<super::process::NodeMeter>]| m.iter().flatten().map(|n| n.drops).sum::<f64>();
        report["metrics_drops_in_window"] = (drops(&measured.nodes_end) - drops(&measured.nodes_start)).into();
    }
    if setup.chatting || args.hls_listeners > 0 || args.replay {
        halves(&mut report, args, setup, measured, results, joins.len(), hls_report, chat_stats);
    }
    report
}

/// The window in intervals of `--timeline` seconds: the server's CPU over each, its RSS at each one's end,
/// and the latency's p50 and p99 of the packets timed in it.
fn timeline(args: &BenchArgs, measured: &Measured, results: &[ListenerResult]) -> Vec<serde_json::Value> {
    let intervals = (args.seconds / args.timeline).ceil() as usize;
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); intervals];
    for r in results {
        for (latency, at) in r.latencies_ms.iter().zip(&r.latency_interval) {
            if let Some(bucket) = latencies.get_mut(*at as usize) {
                bucket.push(*latency);
            }
        }
    }
    let mut samples = measured.timeline.clone();
    samples.resize(intervals.saturating_sub(1), None);
    samples.push(measured.server_end);
    let mut before = measured.server_start;
    let mut out = Vec::new();
    for (i, (sample, lat)) in samples.into_iter().zip(latencies.iter_mut()).enumerate() {
        lat.sort_by(f64::total_cmp);
        let seconds = ((i + 1) as f64 * args.timeline).min(args.seconds) - i as f64 * args.timeline;
        let cpu = match (before, sample) {
            (Some((a, _)), Some((b, _))) => (b - a) / seconds * 100.0,
            _ => f64::NAN,
        };
        out.push(serde_json::json!({
            "t_s": ((i + 1) as f64 * args.timeline).min(args.seconds),
            "server_cpu_pct": cpu,
            "server_rss_mb": sample.map_or(f64::NAN, |s| s.1),
            "latency_p50_ms": percentile(lat, 0.5),
            "latency_p99_ms": percentile(lat, 0.99),
            "packets_timed": lat.len(),
        }));
        if sample.is_some() {
            before = sample;
        }
    }
    out
}

/// Each server's listeners apart (the latency through an edge against the origin's own), and with
/// --metrics what each node sent and spent.
fn nodes(setup: &Setup, measured: &Measured, results: &[ListenerResult], seconds: f64) -> Vec<serde_json::Value> {
    let mut nodes = Vec::new();
    for (n, server) in setup.bases.iter().enumerate() {
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
        match (measured.nodes_start.get(n).copied().flatten(), measured.nodes_end.get(n).copied().flatten()) {
            (Some(a), Some(b)) => {
                node["pps_out"] = ((b.packets_sent - a.packets_sent) / seconds).into();
                node["cpu_pct"] = ((b.cpu_seconds - a.cpu_seconds) / seconds * 100.0).into();
                // At the window's start, when every listener has joined and none has left.
                node["media_peers"] = a.media_peers.into();
            }
            _ if !setup.metrics.is_empty() => node["error"] = "its /metrics did not answer".into(),
            _ => {}
        }
        nodes.push(node);
    }
    nodes
}

/// The window's quiet first half and its busy second half (chat, listen-link players, or the replay).
#[allow(clippy::too_many_arguments)]
fn halves(
    report: &mut serde_json::Value,
    args: &BenchArgs,
    setup: &Setup,
    measured: &Measured,
    results: &[ListenerResult],
    joined: usize,
    hls_report: Option<HlsReport>,
    chat_stats: &ChatStats,
) {
    let half = args.seconds / 2.0;
    let cpu = |a: Option<(f64, f64)>, b: Option<(f64, f64)>| match (a, b) {
        (Some((a, _)), Some((b, _))) => (b - a) / half * 100.0,
        _ => f64::NAN,
    };
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
        cpu(measured.server_start, measured.server_mid),
    );
    let busy = phase_report(
        results.iter().map(|r| r.packets_b).sum(),
        results.iter().map(|r| r.lost_b).sum(),
        &mut lat_b,
        cpu(measured.server_mid, measured.server_end),
    );
    let ratio =
        busy["server_cpu_pct"].as_f64().unwrap_or(f64::NAN) / quiet["server_cpu_pct"].as_f64().unwrap_or(f64::NAN);
    let chatting = setup.chatting;
    report["quiet"] = quiet;
    report[if chatting { "chat" } else { "busy" }] = busy;
    report[if chatting { "chat_cpu_ratio" } else { "busy_cpu_ratio" }] = ratio.into();
    if let Some(mut hls) = hls_report {
        hls.ages_ms.sort_by(f64::total_cmp);
        hls.request_ms.sort_by(f64::total_cmp);
        report["hls"] = serde_json::json!({
            "players": args.hls_listeners,
            "low_latency": args.hls_low_latency,
            "part_requests_per_s": hls.parts as f64 / half,
            "players_cpu_pct": cpu(measured.hls_start, measured.hls_end),
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
    report["chatters"] = setup.chatters.into();
    report["chat_sent"] = chat_stats.sent.load(Ordering::Relaxed).into();
    report["chat_refused"] = chat_stats.refused.load(Ordering::Relaxed).into();
    report["reactions_sent"] = chat_stats.reactions.load(Ordering::Relaxed).into();
    report["chat_seen_by_a_chatter"] = chat_stats.seen.load(Ordering::Relaxed).into();
    report["reaction_counts_seen_by_a_chatter"] = chat_stats.counts_seen.load(Ordering::Relaxed).into();
}
