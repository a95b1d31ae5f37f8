//! `stoa bench --e2ee-rekey`: how long an end-to-end encrypted room takes to change its key. It seeds
//! `people` accounts with sessions, starts its own `stoa serve`, and has one of them (the host, the room's
//! moderator and so its keyholder) start a closed E2EE room that invites the others. Every participant is
//! a real client (room socket, WebRTC peer, its own device key, `stoa_client::e2ee`); the host's device
//! makes and wraps each epoch's key as a browser's would. Then, `rounds` times, someone leaves, and the
//! bench times, from the moment they left, each remaining participant's taking of the next epoch: the
//! round's figure is when the last of them holds it. The one who left comes back before the next round.

use super::measure::{percentile, tree_usage};
use super::process::{raise_file_limit, start_own_server_on};
use super::social::{PASSWORD, print, real_accounts};
use anyhow::Context;
use serde_json::json;
use std::time::{Duration, Instant};
use stoa_client::e2ee::E2ee;
use stoa_client::{Api, Incoming, Session};
use stoa_proto::{ClientCommand, ServerEvent};
use stoa_store::{SqliteStore, Store};
use tokio::sync::mpsc;

/// An epoch a participant took: who (by index), which, when.
type Taken = (usize, u32, Instant);

/// One participant: joins, announces its device, answers the room (as the keyholder, with the epoch's
/// keys), and reports each epoch it takes, until told to leave.
async fn participant(
    api: Api,
    room: String,
    index: usize,
    taken: mpsc::UnboundedSender<Taken>,
    mut leave: mpsc::Receiver<()>,
) {
    let Ok(mut session) = Session::join(&api, &room, 3).await else {
        eprintln!("stoa bench: participant {index} could not join");
        return;
    };
    let mut device = E2ee::new(&room, session.you.id);
    if session.command(device.announce()).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            _ = leave.recv() => {
                let _ = session.command(ClientCommand::Leave).await;
                return;
            }
            incoming = session.next() => match incoming {
                Incoming::Event(event) => {
                    let epochs = device.epochs;
                    if let Some(answer) = device.on_event(&event)
                        && session.command(answer).await.is_err()
                    {
                        return;
                    }
                    if let (ServerEvent::E2eeEpoch { epoch, .. } | ServerEvent::E2eeKey { epoch, .. }, true) =
                        (&event, device.epochs > epochs)
                    {
                        let _ = taken.send((index, *epoch, Instant::now()));
                    }
                }
                Incoming::Closed => return,
                Incoming::Audio { .. } => {}
            },
        }
    }
}

/// The epoch everyone present holds, if they all hold the same one.
fn everyone(held: &[u32], present: &[bool]) -> Option<u32> {
    let newest = held.iter().zip(present).filter(|(_, p)| **p).map(|(e, _)| *e).max().unwrap_or(0);
    (newest > 0 && held.iter().zip(present).all(|(e, p)| !p || *e == newest)).then_some(newest)
}

/// Waits until everyone present holds the same epoch, and nothing newer comes for 300 ms.
async fn settle(held: &mut [u32], present: &[bool], taken: &mut mpsc::UnboundedReceiver<Taken>) -> anyhow::Result<u32> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let settled = everyone(held, present);
        let wait = if settled.is_some() { Duration::from_millis(300) } else { Duration::from_secs(1) };
        match tokio::time::timeout(wait, taken.recv()).await {
            Ok(Some((i, epoch, _))) => held[i] = held[i].max(epoch),
            Ok(None) => anyhow::bail!("the participants are gone"),
            Err(_) => {
                if let Some(e) = settled {
                    return Ok(e);
                }
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the room never settled on one key");
    }
}

/// `stoa bench --e2ee-rekey`.
pub(crate) async fn rekey(people: usize, rounds: usize, json_out: bool) -> anyhow::Result<()> {
    anyhow::ensure!(people >= 3, "--users must be at least 3: the host, someone who leaves, and someone who stays");
    raise_file_limit(people as u64 * 4 + 4096);
    drop(stoa_client::tls::http());
    let data = tempfile::tempdir()?;
    let store = SqliteStore::open(data.path()).await?;
    real_accounts(&store, &["host"]).await?;
    let names: Vec<(String, String)> = (0..people - 1).map(|i| (format!("p{i}"), format!("Person {i}"))).collect();
    let ids = store.seed_users(&names).await?;
    let mut tokens = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let token = stoa_server::auth::token_hash(&format!("bench-{i}-{}", stoa_store::random_code(24)));
        store.create_session(*id, &stoa_server::auth::token_hash(&token), "stoa bench").await?;
        tokens.push(token);
    }
    drop(store);
    let own = start_own_server_on(data, 1, None, true)?;
    let pid = own.child.id();
    let host = Api::login(&own.base, "host", PASSWORD).await?;
    let invited: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    let room = host
        .post("/api/v1/rooms", json!({"title": "Sealed", "visibility": "closed", "e2ee": true, "invited": invited}))
        .await?;
    let room = room["id"].as_str().context("no room ID")?.to_string();

    let (taken_tx, mut taken) = mpsc::unbounded_channel::<Taken>();
    let mut leaves = Vec::with_capacity(people);
    let mut apis = vec![host];
    apis.extend(tokens.iter().map(|t| Api::with_token(&own.base, t)));
    for (i, api) in apis.iter().enumerate() {
        let (tx, rx) = mpsc::channel(1);
        leaves.push(tx);
        tokio::spawn(participant(api.clone(), room.clone(), i, taken_tx.clone(), rx));
        if i == 0 {
            // The host first: the room's keyholder.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Everyone in, holding one epoch.
    let mut held = vec![0u32; people];
    let mut present = vec![true; people];
    settle(&mut held, &present, &mut taken).await?;
    if !json_out {
        eprintln!("stoa bench: {people} participants hold one key");
    }

    let cpu_start = tree_usage(pid).map_or(0.0, |u| u.0);
    let (mut last_times, mut each_times) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let who = 1 + round % (people - 1);
        let before = everyone(&held, &present).unwrap_or(0);
        let left_at = Instant::now();
        leaves[who].send(()).await.ok();
        present[who] = false;
        // Every remaining participant's first epoch after the departure.
        let mut waiting: Vec<usize> = (0..people).filter(|i| present[*i]).collect();
        let deadline = left_at + Duration::from_secs(60);
        while !waiting.is_empty() {
            anyhow::ensure!(Instant::now() < deadline, "round {round}: {} never took the new key", waiting.len());
            let Ok(Some((i, epoch, at))) = tokio::time::timeout(Duration::from_secs(1), taken.recv()).await else {
                continue;
            };
            held[i] = held[i].max(epoch);
            if epoch > before
                && let Some(k) = waiting.iter().position(|w| *w == i)
            {
                waiting.swap_remove(k);
                each_times.push(at.duration_since(left_at).as_secs_f64() * 1000.0);
                if waiting.is_empty() {
                    last_times.push(at.duration_since(left_at).as_secs_f64() * 1000.0);
                }
            }
        }
        // They come back (a new epoch again), and the room settles before the next round.
        let (tx, rx) = mpsc::channel(1);
        leaves[who] = tx;
        tokio::spawn(participant(apis[who].clone(), room.clone(), who, taken_tx.clone(), rx));
        present[who] = true;
        held[who] = 0;
        settle(&mut held, &present, &mut taken).await?;
        if !json_out {
            eprint!("\rstoa bench: round {} of {rounds}  ", round + 1);
        }
    }
    let cpu_s = tree_usage(pid).map_or(0.0, |u| u.0) - cpu_start;
    for tx in &leaves {
        let _ = tx.try_send(());
    }
    last_times.sort_by(f64::total_cmp);
    each_times.sort_by(f64::total_cmp);
    let report = json!({
        "mode": "e2ee_rekey",
        "participants": people,
        "rounds": rounds,
        "everyone_holds_new_key_ms": {
            "p50": percentile(&last_times, 0.5), "p99": percentile(&last_times, 0.99),
            "max": last_times.last().copied().unwrap_or(0.0),
        },
        "each_participant_ms": { "p50": percentile(&each_times, 0.5), "p99": percentile(&each_times, 0.99) },
        "server_cpu_s_per_round": cpu_s / rounds.max(1) as f64,
    });
    drop(own);
    print(&report, json_out)
}
