//! The small bench CI runs: 200 real WebRTC listeners for 10 s against this build's own `stoa serve`. It
//! checks that every listener joined, that nothing was lost, and that the accounting adds up; it asserts no
//! wall-clock figure (those belong in BENCHMARKS.md).

use std::process::Command;

use crate::common;

/// Runs `stoa bench ARGS --json`, which must succeed, and returns its one JSON object.
fn bench(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_stoa"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .expect("stoa bench runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    eprintln!("{r}");
    r
}

/// The listeners here are spread over two worker processes (`stoa bench-listeners`), as a 10,000-listener
/// bench is where one process may not open two sockets per listener; the threshold test below runs them in
/// the bench's own process.
#[test]
fn two_hundred_listeners_all_join_lose_nothing_and_the_accounting_adds_up() {
    let r = bench(&[
        "--listeners",
        "200",
        "--speakers",
        "2",
        "--seconds",
        "10",
        // Listeners start joining over the window's first 80 %: the rest is slack for a join that takes a
        // while on a loaded machine (the full suite runs browsers beside it; joins of over 1 s were seen),
        // so that every listener is connected before the measurement begins.
        "--join-window",
        "15",
        "--listener-processes",
        "2",
    ]);
    assert_eq!(r["listener_processes"], 2);
    assert_eq!(r["joined"], 200, "every listener joined: {r}");
    assert_eq!(r["loss_pct"], 0.0, "no loss: {r}");
    assert_eq!(r["packets_received"], r["packets_expected"]);
    // Each listener received what the speakers sent in the window: every talking frame, and at most the
    // silent keep-alives of a speaker still holding a slot on top; a frame or two may fall either side of
    // the window's edges.
    let (talking, all) = (r["frames_sent_talking"].as_u64().unwrap(), r["frames_sent_all"].as_u64().unwrap());
    assert!(talking > 0);
    let (min, max) = (r["packets_received_min"].as_u64().unwrap(), r["packets_received_max"].as_u64().unwrap());
    // Packets still in flight at the window's opening (sent before it, counted on arrival inside it) are
    // not matched by those in flight at its close when the latency differs between the two, as it does
    // right after a join storm on a loaded machine: up to a p99 latency's worth of 20 ms frames.
    let in_flight = (r["latency_p99_ms"].as_f64().unwrap() / 20.0).ceil() as u64;
    assert!(
        min + 3 + in_flight >= talking && max <= all + 3 + in_flight,
        "per listener {min}..={max}, speakers sent {talking} talking of {all}: {r}"
    );
    assert!(
        r["packets_decrypted"].as_u64().unwrap() * 25 >= r["packets_received"].as_u64().unwrap(),
        "one packet in 20 decrypted: {r}"
    );
    for key in [
        "latency_p50_ms",
        "latency_p99_ms",
        "server_cpu_pct",
        "server_rss_mb",
        "bench_cpu_pct",
        "server_pps_out",
        "join_p50_ms",
        "join_p99_ms",
    ] {
        assert!(r[key].as_f64().is_some_and(|v| v.is_finite() && v >= 0.0), "{key} is reported: {r}");
    }
}

/// The bench's accounting at the joining threshold (here 40, as many as the listeners): every listener
/// gets joined packets, and what it expects (received + gaps) is exactly what the server sent it. This is
/// not the regression test for the 32 % loss a bench at `--listeners 500` once reported (it passes on the
/// code before that fix too): that bug was room-wide sequence numbers jumping when the audience crossed the
/// threshold, and the tests that fail on it are the per-listener index tests
/// (`an_index_is_never_handed_out_twice_and_starts_with_a_rollover_count_of_zero` in crates/sfu, and
/// `srtp::joined_packets_switching_on_and_off_lose_no_audio` here).
#[test]
fn at_the_joining_threshold_nothing_is_lost_and_the_accounting_follows_the_joined_packets() {
    joined_audience_loses_nothing("--audience-frames-above 40");
}

/// The same with the audience in three phases (`--audience-phases`): each listener's stream is its phase's,
/// with its own sequence, RED and short first packets per talk spurt, and still nothing is lost and every
/// frame arrives, three to a packet.
#[test]
fn an_audience_in_phases_loses_nothing_and_gets_joined_packets() {
    joined_audience_loses_nothing("--audience-frames-above 40 --audience-phases 3");
}

fn joined_audience_loses_nothing(serve_args: &str) {
    let r = bench(&[
        "--listeners",
        "40",
        "--speakers",
        "2",
        "--seconds",
        "6",
        "--join-window",
        "5",
        "--serve-args",
        serve_args,
    ]);
    assert_eq!(r["joined"], 40, "every listener joined: {r}");
    assert_eq!(r["loss_pct"], 0.0, "no loss: {r}");
    assert_eq!(r["packets_received"], r["packets_expected"]);
    // The audience got joined packets: about a third as many packets as frames, never fewer.
    let (talking, all) = (r["frames_sent_talking"].as_u64().unwrap(), r["frames_sent_all"].as_u64().unwrap());
    let (min, max) = (r["packets_received_min"].as_u64().unwrap(), r["packets_received_max"].as_u64().unwrap());
    assert!(min * 3 + 9 >= talking, "every talking frame arrived, three to a packet: {min} for {talking}: {r}");
    assert!(max <= all / 2, "joined packets, not one per frame: {max} for {all}: {r}");
}

#[test]
fn the_raw_udp_ceiling_carries_the_audience_rate_and_reports_a_ceiling_above_it() {
    let r = bench(&["--raw-udp", "--listeners", "600", "--seconds", "2"]);
    assert_eq!(r["mode"], "raw_udp");
    // Above 500 listeners the audience gets 60 ms packets of three joined frames.
    assert_eq!(r["packet_bytes"], 24 + 16 + 2 + 2 + 3 * 59);
    let target = r["paced_pps_target"].as_f64().unwrap();
    assert!((target - 10_000.0).abs() < 1.0, "600 listeners x one packet per 60 ms: {r}");
    assert!(r["paced_pps_received"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["ceiling_pps"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["ceiling_pps"].as_f64().unwrap() <= r["ceiling_pps_sent"].as_f64().unwrap(), "{r}");
}

#[test]
fn speakers_can_send_a_files_opus_and_its_frames_are_timed_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tone.wav");
    common::write_tone(&wav, 440.0, 3.0);
    let wav = wav.to_str().unwrap();
    let r = bench(&["--listeners", "40", "--speakers", "2", "--seconds", "4", "--join-window", "3", "--file", wav]);
    assert_eq!(r["joined"], 40, "{r}");
    assert_eq!(r["loss_pct"], 0.0, "{r}");
    assert!(r["packets_received_min"].as_u64().unwrap() > 0, "{r}");
    assert!(r["latency_p50_ms"].as_f64().unwrap() > 0.0, "the file's frames are timed: {r}");

    let missing = Command::new(env!("CARGO_BIN_EXE_stoa"))
        .args(["bench", "--listeners", "1", "--file", "/nonexistent.wav", "--json"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nonexistent"), "a clear error names the file");
}

/// `stoa bench --hallway` runs end to end on a small database: both users see every open room, and the
/// latencies are reported (their figures, at 100,000 accounts, belong in BENCHMARKS.md).
#[test]
fn the_hallway_bench_seeds_a_database_and_times_both_users() {
    let r = bench(&["--hallway", "--users", "300", "--follows", "100", "--rooms", "4", "--requests", "20"]);
    for who in ["heavy", "light"] {
        assert_eq!(r[who]["rooms_seen"], 4, "{who} sees every open room: {r}");
        assert!(r[who]["p99_ms"].as_f64().is_some_and(|v| v > 0.0), "{r}");
    }
    assert_eq!(r["heavy"]["follows"], 100);
}

/// `stoa bench --fanout` runs end to end: every follower is told, and the room's start and the other
/// user's requests are timed (the figures at 100,000 followers belong in BENCHMARKS.md).
#[test]
fn the_fanout_bench_tells_every_follower_and_times_the_others_requests() {
    let r = bench(&["--fanout", "--users", "1200", "--requests", "40"]);
    assert_eq!(r["followers"], 1200, "{r}");
    assert!(r["last_notification_stored_s"].as_f64().is_some_and(|v| v > 0.0), "{r}");
    assert!(r["room_start_ms"].as_f64().is_some_and(|v| v > 0.0), "{r}");
    assert_eq!(r["other_requests_before"]["requests"], 40);
    assert!(r["other_requests_during"]["requests"].as_u64().is_some_and(|n| n > 0), "{r}");
}

/// `stoa bench --backchannel` runs end to end, and every message reaches its reader's open tab once. Each
/// of the 20 people writes every 10 s for 16 s, so that a tab's next message comes long after its last: the
/// regression test for a stream that forgot what it had told after 6 s and told it again at the next wake
/// (the 10,000-people run heard 31,059 of 20,000).
#[test]
fn the_backchannel_bench_brings_every_message_to_its_readers_tab_once() {
    let r = bench(&["--backchannel", "--users", "20", "--message-rate", "2", "--seconds", "16", "--requests", "10"]);
    let m = &r["messages"];
    assert_eq!(r["tabs_open"], 20, "{r}");
    assert_eq!((m["sent"].as_u64(), m["refused"].as_u64(), m["failed"].as_u64()), (Some(32), Some(0), Some(0)), "{r}");
    assert_eq!(
        (m["heard"].as_u64(), m["missing"].as_u64(), m["duplicates"].as_u64()),
        (Some(32), Some(0), Some(0)),
        "{r}"
    );
    assert!(m["p99_ms"].as_f64().is_some_and(|v| v > 0.0), "{r}");
    assert_eq!(r["join_before"]["requests"], 10, "{r}");
    assert!(r["hallway_during"]["requests"].as_u64().is_some_and(|n| n > 0), "{r}");
}

/// `stoa bench --search` runs end to end on a small database and finds something for its queries.
#[test]
fn the_search_bench_seeds_people_and_events_and_times_queries() {
    let r = bench(&["--search", "--users", "2000", "--events", "200", "--requests", "64"]);
    assert_eq!(r["search"]["requests"], 64, "{r}");
    assert!(r["results_per_query"].as_f64().is_some_and(|v| v > 1.0), "queries find people and events: {r}");
    assert_eq!(r["by_query"].as_object().unwrap().len(), 8);
}

/// `stoa bench --chat-rate --reaction-rate`: the window's halves are reported apart (quiet, then chat), the
/// chat goes out at the asked rate without refusals, every message reaches a participant once, and the
/// reactions arrive as counts that add up to what was given.
#[test]
fn the_chat_bench_measures_a_quiet_half_and_a_chatty_half() {
    let r = bench(&[
        "--listeners",
        "60",
        "--seconds",
        "8",
        "--join-window",
        "4",
        "--chat-rate",
        "10",
        "--reaction-rate",
        "20",
    ]);
    assert_eq!(r["joined"], 60, "{r}");
    for half in ["quiet", "chat"] {
        assert!(r[half]["packets_received"].as_u64().is_some_and(|n| n > 0), "{half}: {r}");
        assert!(r[half]["server_cpu_pct"].as_f64().is_some_and(|c| c > 0.0), "{half}: {r}");
    }
    assert_eq!(r["chatters"], 20);
    let sent = r["chat_sent"].as_u64().unwrap();
    assert!((30..=50).contains(&sent), "about 10 a second for 4 s: {r}");
    assert_eq!(r["chat_refused"], 0, "{r}");
    // Each message reaches a participant once; those sent in the last instant may still be on their way.
    let seen = r["chat_seen_by_a_chatter"].as_u64().unwrap();
    assert!(seen <= sent && seen + 5 >= sent, "every message is broadcast once to everyone: {r}");
    let given = r["reactions_sent"].as_u64().unwrap();
    let counted = r["reaction_counts_seen_by_a_chatter"].as_u64().unwrap();
    assert!(given >= 60 && counted + 20 >= given && counted <= given, "counts add up to what was given: {r}");
}

/// `stoa bench --hls-listeners`: in the window's second half, players in their own process (`stoa bench-hls`)
/// poll the room's listen link, a connection each; their playlists and segments are counted, with no error,
/// each segment's delay is measured, and the WebRTC room goes on.
#[test]
fn the_hls_bench_polls_the_listen_link_from_players_of_its_own() {
    let r = bench(&[
        "--listeners",
        "20",
        "--speakers",
        "1",
        "--seconds",
        "16",
        "--join-window",
        "3",
        "--hls-listeners",
        "40",
    ]);
    assert_eq!(r["joined"], 20, "{r}");
    let hls = &r["hls"];
    assert_eq!(hls["players"], 40, "{r}");
    assert_eq!(hls["connections"], 40, "a connection each: {r}");
    assert_eq!(hls["errors"], 0, "{r}");
    assert!(hls["playlist_requests_per_s"].as_f64().is_some_and(|n| n > 10.0), "{r}");
    assert!(hls["segment_requests_per_s"].as_f64().is_some_and(|n| n > 5.0), "{r}");
    assert!(hls["segment_age_at_fetch_p50_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{r}");
    assert!(hls["players_cpu_pct"].as_f64().is_some_and(|c| c > 0.0), "{r}");
    for half in ["quiet", "busy"] {
        assert!(r[half]["packets_received"].as_u64().is_some_and(|n| n > 0), "{half}: {r}");
        assert_eq!(r[half]["loss_pct"], 0.0, "{half}: {r}");
    }
}

/// `stoa bench --hls-listeners --hls-low-latency`: the players reload the playlist with blocking requests
/// for the hinted part and fetch each part, with no error, and each part's delay is measured.
#[test]
fn the_hls_bench_plays_at_low_latency_with_blocking_reloads_and_parts() {
    let r = bench(&[
        "--listeners",
        "10",
        "--speakers",
        "1",
        "--seconds",
        "14",
        "--join-window",
        "3",
        "--hls-listeners",
        "20",
        "--hls-low-latency",
    ]);
    let hls = &r["hls"];
    assert_eq!(hls["low_latency"], true, "{r}");
    assert_eq!(hls["errors"], 0, "{r}");
    // Twenty players, about two parts a second each once the stream's first segment is made, which a loaded
    // machine may take a few of the half's 7 s to do (answered by 503 and Retry-After, which they wait out).
    assert!(hls["part_requests_per_s"].as_f64().is_some_and(|n| n > 5.0), "{r}");
    assert!(hls["playlist_requests_per_s"].as_f64().is_some_and(|n| n > 10.0), "{r}");
    // Every part fetched says how old its newest audio is; on an idle machine a part that a blocking reload
    // announced is fetched within the millisecond it was made, so an age of 0 ms is a good one.
    assert!(hls["segment_ages_measured"].as_u64().is_some_and(|n| n > 0), "{r}");
    assert!(hls["segment_age_at_fetch_p95_ms"].as_f64().is_some_and(|ms| (0.0..2000.0).contains(&ms)), "{r}");
}
