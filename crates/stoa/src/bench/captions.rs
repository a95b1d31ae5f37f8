//! `stoa bench --captions`: live captions' delay and cost. It starts its own `stoa serve` (name the caption
//! engine with `--serve-args "--captions-url URL"`, or `--captions-local`), puts `--speakers` speakers on a
//! room's stage, each saying the `--file` WAV and pausing 1.5 s, again and again (silence is not sent, as a
//! browser's DTX does not), and a reader in the room. Three phases of `--seconds`: nobody has captions on,
//! the reader has them on, nobody again. It reports the server's CPU in each phase, the difference per
//! speaker, and each caption's delay: from the send of its phrase's last frame of speech to its arrival at
//! the reader (the pause that ends a line, 400 ms, is part of it).

use super::measure::{percentile, tree_usage};
use super::process::start_own_server_on;
use anyhow::{Context, bail};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stoa_client::audio::Frame;
use stoa_client::{Api, Incoming, Session};
use stoa_proto::{ClientCommand, Role, ServerEvent, UserId};

/// Silence after each phrase, in 20 ms frames: 1.5 s.
const PAUSE: usize = 75;
const PASSWORD: &str = "bench-password";

/// What the bench was asked.
pub(crate) struct Plan {
    pub(crate) speakers: usize,
    pub(crate) seconds: f64,
    pub(crate) file: std::path::PathBuf,
    pub(crate) serve_args: Option<String>,
    pub(crate) json: bool,
}

/// When each speaker's phrases ended (their last frame of speech sent), by speaker.
type Ends = Arc<Mutex<Vec<(UserId, Instant)>>>;

pub(crate) async fn captions(plan: Plan) -> anyhow::Result<()> {
    if plan.speakers == 0 || plan.seconds <= 0.0 {
        bail!("the captions bench needs at least one speaker and some seconds");
    }
    let speech =
        stoa_client::audio::load(&plan.file).with_context(|| format!("cannot read {}", plan.file.display()))?;
    let spoken = speech.iter().rposition(|f| !f.is_silent()).context("the file is silent")? + 1;
    let data = tempfile::tempdir()?;
    let own = start_own_server_on(data, plan.speakers + 2, plan.serve_args.as_deref(), false)?;
    let pid = own.child.id();
    let host = Api::sign_up(&own.base, &own.invite, "host", PASSWORD).await?;
    let room = host.post("/api/v1/rooms", json!({"title": "Captions", "visibility": "open"})).await?;
    let room = room["id"].as_str().context("no room ID")?.to_string();
    let mut moderator = Session::join(&host, &room, 3).await?;
    let ends: Ends = Arc::default();
    let mut speakers = Vec::new();
    for n in 0..plan.speakers {
        let api = Api::sign_up(&own.base, &own.invite, &format!("speaker{n}"), PASSWORD).await?;
        let session = Session::join(&api, &room, 3).await?;
        let id = session.you.id;
        moderator.command(ClientCommand::InviteToSpeak { user_id: id }).await?;
        speakers.push(tokio::spawn(speak(session, speech.clone(), spoken, ends.clone())));
    }
    let reader_api = Api::sign_up(&own.base, &own.invite, "reader", PASSWORD).await?;
    let mut reader = Session::join(&reader_api, &room, 3).await?;
    // Until every speaker is on stage.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut on_stage = reader.room.stage.len();
    while on_stage < plan.speakers + 1 {
        anyhow::ensure!(Instant::now() < deadline, "the speakers did not come on stage");
        if let Incoming::Event(ServerEvent::StageChanged { stage }) =
            tokio::time::timeout(Duration::from_secs(1), reader.next()).await.unwrap_or(Incoming::Closed)
        {
            on_stage = stage.iter().filter(|m| m.role != Role::Listener).count();
        }
    }
    let mut delays = Vec::new();
    let mut phases = Vec::new();
    for on in [false, true, false] {
        reader.command(ClientCommand::SetCaptions { on }).await?;
        let (cpu, started) = (tree_usage(pid).map_or(0.0, |u| u.0), Instant::now());
        let until = started + Duration::from_secs_f64(plan.seconds);
        while let Ok(incoming) = tokio::time::timeout_at(until.into(), reader.next()).await {
            match incoming {
                Incoming::Event(ServerEvent::Caption { speaker, .. }) if on => {
                    let now = Instant::now();
                    let end = ends
                        .lock()
                        .map_err(|_| anyhow::anyhow!("a speaker panicked"))?
                        .iter()
                        .rev()
                        .find(|(s, t)| *s == speaker && *t <= now)
                        .map(|(_, t)| *t);
                    if let Some(end) = end {
                        delays.push(now.duration_since(end).as_secs_f64() * 1000.0);
                    }
                }
                Incoming::Closed => bail!("the reader's socket closed"),
                _ => {}
            }
        }
        phases.push((tree_usage(pid).map_or(0.0, |u| u.0) - cpu) / started.elapsed().as_secs_f64());
    }
    for s in speakers {
        s.abort();
    }
    delays.sort_by(f64::total_cmp);
    let off = (phases[0] + phases[2]) / 2.0;
    let report = json!({
        "speakers": plan.speakers,
        "seconds_per_phase": plan.seconds,
        "server_cores_captions_off_before": phases[0],
        "server_cores_captions_on": phases[1],
        "server_cores_captions_off_after": phases[2],
        "server_cores_per_captioned_speaker": (phases[1] - off) / plan.speakers as f64,
        "captions": delays.len(),
        "delay_p50_ms": percentile(&delays, 0.5),
        "delay_p95_ms": percentile(&delays, 0.95),
    });
    if plan.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// One speaker: accepts the invitation to speak, then says the phrase and pauses, again and again, sending
/// only frames of speech and a keep-alive every 400 ms; each phrase's end goes into `ends`.
async fn speak(mut session: Session, speech: Vec<Frame>, spoken: usize, ends: Ends) -> anyhow::Result<()> {
    let me = session.you.id;
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let (mut index, mut timestamp, mut last_sent) = (0usize, 0u32, Instant::now());
    let silence = stoa_client::audio::encode(&[0; 960])?.remove(0);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if session.role == Role::Listener {
                    continue;
                }
                let at = index % (spoken + PAUSE);
                index += 1;
                timestamp = timestamp.wrapping_add(960);
                let frame = if at < spoken { &speech[at] } else { &silence };
                if (!frame.is_silent() || last_sent.elapsed() >= Duration::from_millis(400))
                    && session.send_audio(&frame.payload, timestamp, Some(frame.level)).await
                {
                    last_sent = Instant::now();
                }
                if at + 1 == spoken {
                    ends.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.push((me, Instant::now()));
                }
            }
            incoming = session.next() => match incoming {
                Incoming::Event(ServerEvent::InvitedToSpeak { .. }) => session.command(ClientCommand::AcceptInvite).await?,
                Incoming::Closed => return Ok(()),
                _ => {}
            },
        }
    }
}
