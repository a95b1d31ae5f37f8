//! `stoa bench`: loads one room with real WebRTC listeners (ICE, DTLS, SRTP) and rotating speakers, and
//! reports joins, loss, the server's added latency, and the CPU and memory of server and bench apart.
//!
//! Listeners count every packet from its RTP header (sequence numbers are in the clear in SRTP) and
//! decrypt one in 20, which proves the stream is valid SRTP without the bench spending more than the server.
//! They are spread over one thread per core. Speakers send synthetic 20 ms Opus frames that carry their send
//! time, so the latency is measured on one clock: from the speaker's send to a listener's receive.

use anyhow::bail;

use std::time::Instant;
use stoa_client::Api;

mod args;
mod backchannel;
mod captions;
mod chat;
mod datagrams;
mod e2ee;
pub(crate) mod hls;
mod janus;
mod janus_api;
mod listeners;
mod measure;
mod media_loop;
mod process;
pub(crate) mod raw_udp;
mod report;
mod run;
pub(crate) mod social;

pub use args::BenchArgs;
pub use listeners::listeners_worker;
use measure::*;
use process::*;

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
        return social::fanout(args.users, args.requests, args.club, args.json).await;
    }
    if args.backchannel {
        let plan = backchannel::Plan {
            people: args.users,
            rate: args.message_rate,
            seconds: args.seconds,
            requests: args.requests,
            json: args.json,
        };
        return backchannel::backchannel(plan).await;
    }
    if args.e2ee_rekey {
        return e2ee::rekey(args.users, args.requests, args.json).await;
    }
    if args.captions {
        let Some(file) = args.file.clone() else { bail!("--captions needs --file, a WAV of speech") };
        let plan = captions::Plan {
            speakers: args.speakers,
            seconds: args.seconds,
            file,
            serve_args: args.serve_args.clone(),
            json: args.json,
        };
        return captions::captions(plan).await;
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
    if args.janus.is_some() {
        let report = janus::run(&args).await?;
        print_report(&report, args.json);
        return Ok(());
    }
    let setup = run::Setup::prepare(&args).await?;
    let mut cast = run::cast(&args, &setup).await?;
    let sending = run::start_speakers(&args, &setup, std::mem::take(&mut cast.speakers));
    let (load, times) = run::start_load(&args, &setup, cast, &sending).await?;
    let measured = run::measure(&args, &setup, &load, &sending, &times).await;
    let (results, hls_report, chat_stats) = run::collect(&args, load, sending).await?;
    let report = report::report(&args, &setup, &measured, &results, hls_report, &chat_stats);
    print_report(&report, args.json);
    Ok(())
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
