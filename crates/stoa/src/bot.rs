//! `stoa bot`: speak into a room from a file, or listen and record, from the command line.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use stoa_client::audio::{self, Recorder};
use stoa_client::e2ee::E2ee;
use stoa_client::{Api, Incoming, Session};
use stoa_proto::{ClientCommand, Role, ServerEvent};

/// How to reach the server and as whom.
#[derive(Args, Debug, Clone)]
pub struct Connect {
    /// The server's URL, e.g. http://127.0.0.1:8080. For a cluster, several separated by commas: the bot
    /// joins through the first, and when its socket closes it rejoins through the next, and so on.
    #[arg(long, env = "STOA_SERVER", value_delimiter = ',', required = true)]
    server: Vec<String>,
    /// Which of the servers the next rejoin goes through.
    #[arg(skip)]
    next_server: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// A bearer token (from sign-up or login).
    #[arg(long, env = "STOA_TOKEN", required_unless_present = "username", conflicts_with = "username")]
    token: Option<String>,
    /// Sign in with this username instead of a token.
    #[arg(long, requires = "password")]
    username: Option<String>,
    /// The password for --username.
    #[arg(long, env = "STOA_PASSWORD")]
    password: Option<String>,
    /// The room's ID.
    #[arg(long)]
    room: String,
    /// Also trust the certificates in this PEM file, for a server with a private CA or a self-signed
    /// certificate (the web PKI's roots are always trusted).
    #[arg(long, env = "STOA_CA_CERT", value_name = "FILE")]
    ca_cert: Option<std::path::PathBuf>,
    /// The media paths to try, best first: udp (straight to the server), tcp (ICE-TCP, when the network
    /// drops UDP), turn (a relay on the server's TURN servers) [default: all three, as a browser does].
    #[arg(long = "transport", value_delimiter = ',', value_enum, value_name = "PATHS")]
    transports: Vec<Path>,
    /// Do not offer RED (audio/red): without it the server sends no redundancy, and a lost packet is lost.
    #[arg(long)]
    no_red: bool,
    /// In an end-to-end encrypted room, give the room no device key: no epoch's key is wrapped for this
    /// bot, so it cannot speak, and records what it is sent as it comes (to check that it is unusable).
    #[arg(long)]
    no_device_key: bool,
}

/// A media path `stoa bot` may take.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Udp,
    Tcp,
    Turn,
}

impl Connect {
    fn transports(&self) -> stoa_client::Transports {
        let red = !self.no_red;
        if self.transports.is_empty() {
            return stoa_client::Transports { red, ..stoa_client::Transports::ALL };
        }
        stoa_client::Transports {
            udp: self.transports.contains(&Path::Udp),
            tcp: self.transports.contains(&Path::Tcp),
            turn: self.transports.contains(&Path::Turn),
            red,
        }
    }
}

impl Connect {
    async fn api(&self) -> anyhow::Result<Api> {
        if let Some(ca) = &self.ca_cert {
            stoa_client::tls::trust(std::slice::from_ref(ca))?;
        }
        match (&self.token, &self.username, &self.password) {
            (Some(token), _, _) => Ok(Api::with_token(&self.server[0], token)),
            (None, Some(user), Some(pass)) => Api::login(&self.server[0], user, pass).await,
            _ => bail!("give --token, or --username with --password"),
        }
    }
}

/// `stoa bot` subcommands.
#[derive(Subcommand, Debug)]
pub enum BotCommand {
    /// Stream an audio file into a room, in real time, while holding a speaker's place.
    Speak {
        #[command(flatten)]
        connect: Connect,
        /// A .wav file (encoded with libopus) or an .ogg Opus file.
        #[arg(long)]
        file: PathBuf,
        /// Start again at the end of the file, until stopped.
        #[arg(long = "loop")]
        looping: bool,
        /// Exit with an error if not a speaker on arrival, instead of raising a hand and waiting.
        #[arg(long)]
        require_speaker: bool,
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<f64>,
        /// Send audio even while not a speaker (to check that the server forwards none of it).
        #[arg(long)]
        ignore_stage: bool,
    },
    /// Join as a listener and record what is heard into an Ogg Opus file.
    Listen {
        #[command(flatten)]
        connect: Connect,
        /// How long to listen.
        #[arg(long)]
        seconds: f64,
        /// Where to write the recording (.ogg).
        #[arg(long)]
        out: PathBuf,
        /// Print the statistics as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a bot command.
pub async fn run(command: BotCommand) -> anyhow::Result<()> {
    match command {
        BotCommand::Speak { connect, file, looping, require_speaker, seconds, ignore_stage } => {
            speak(connect, file, looping, require_speaker, seconds, ignore_stage).await
        }
        BotCommand::Listen { connect, seconds, out, json } => listen(connect, seconds, out, json).await,
    }
}

/// Joins the room again after its socket closed (a server restart, a network cut, a node of a cluster
/// killed): after the delay the server suggested (or half a second), then with exponential backoff to 10 s;
/// each wait is jittered by ±50 %, so that an audience cut off at once does not come back at once. With
/// several servers (a cluster), each round tries every one of them, starting with the next. Gives up at
/// `deadline` (or after two minutes).
async fn rejoin(
    api: &Api,
    connect: &Connect,
    first: Option<Duration>,
    deadline: Option<Instant>,
) -> anyhow::Result<Session> {
    let deadline = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(120));
    let mut delay = first.unwrap_or(Duration::from_millis(500));
    loop {
        tokio::time::sleep(jittered(delay)).await;
        for _ in 0..connect.server.len() {
            let at = connect.next_server.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let api = Api::with_token(&connect.server[at % connect.server.len()], &api.token);
            match Session::join_with(&api, &connect.room, 3, connect.transports()).await {
                Ok(session) => return Ok(session),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(e) => tracing::debug!(error = %e, server = %api.base, "rejoining failed; trying again"),
            }
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// `d` times a random factor between 0.5 and 1.5.
fn jittered(d: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    d.mul_f64(0.5 + (random % 1000) as f64 / 1000.0)
}

/// In an end-to-end encrypted room (unless told not to), this bot's device, announced to the room.
async fn device(connect: &Connect, session: &mut Session) -> anyhow::Result<Option<E2ee>> {
    if !session.room.e2ee || connect.no_device_key {
        return Ok(None);
    }
    let e2ee = E2ee::new(&connect.room, session.you.id);
    session.command(e2ee.announce()).await?;
    eprintln!("stoa bot: the room is end-to-end encrypted; this device's key announced");
    Ok(Some(e2ee))
}

/// Lets the device see a room event, and sends what it answers (as the keyholder, an epoch's keys).
async fn keys(e2ee: &mut Option<E2ee>, session: &mut Session, incoming: &Incoming) -> anyhow::Result<()> {
    let (Some(e2ee), Incoming::Event(event)) = (e2ee.as_mut(), incoming) else { return Ok(()) };
    let epochs = e2ee.epochs;
    match event {
        ServerEvent::E2eeRekey { epoch, members } => {
            eprintln!("stoa bot: making epoch {epoch}'s key for {} device(s)", members.len());
        }
        ServerEvent::Error { code, message, .. } => eprintln!("stoa bot: the room refused: {code}: {message}"),
        _ => {}
    }
    if let Some(answer) = e2ee.on_event(event) {
        session.command(answer).await?;
    }
    if e2ee.epochs > epochs {
        eprintln!("stoa bot: new key; safety code {}", e2ee.code.as_deref().unwrap_or("?"));
    }
    Ok(())
}

fn on_stage(role: Role) -> bool {
    role != Role::Listener
}

async fn speak(
    connect: Connect,
    file: PathBuf,
    looping: bool,
    require_speaker: bool,
    seconds: Option<f64>,
    ignore_stage: bool,
) -> anyhow::Result<()> {
    let frames = audio::load(&file)?;
    if frames.is_empty() {
        bail!("{} holds no audio", file.display());
    }
    let api = connect.api().await?;
    let mut session = Session::join_with(&api, &connect.room, 3, connect.transports()).await?;
    let mut e2ee = device(&connect, &mut session).await?;
    let mut retry_after = None;
    if !on_stage(session.role) {
        if require_speaker {
            let _ = session.command(ClientCommand::Leave).await;
            bail!("you are a listener in this room, not a speaker; a moderator must invite you to speak first");
        }
        session.command(ClientCommand::RaiseHand).await?;
        eprintln!("stoa bot: in the audience; hand raised, waiting to be invited to speak");
    }
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs_f64(s));
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut index, mut timestamp, mut last_sent) = (0usize, 0u32, None::<Instant>);
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        tokio::select! {
            _ = ticker.tick() => {
                if index >= frames.len() {
                    if !looping {
                        break;
                    }
                    index = 0;
                }
                let frame = &frames[index];
                index += 1;
                timestamp = timestamp.wrapping_add(audio::FRAME as u32);
                // DTX: silence is not sent, but for a keep-alive every 400 ms.
                let keep_alive = last_sent.is_none_or(|t| t.elapsed() >= Duration::from_millis(400));
                // In an end-to-end encrypted room every frame is sealed, and nothing goes out before a key.
                let payload = match e2ee.as_mut() {
                    Some(e) => e.seal(&frame.payload),
                    None if session.room.e2ee && !ignore_stage => None,
                    None => Some(frame.payload.to_vec()),
                };
                if let Some(payload) = payload
                    && (on_stage(session.role) || ignore_stage) && (!frame.is_silent() || keep_alive)
                    && session.send_audio(&payload, timestamp, Some(frame.level)).await
                {
                    last_sent = Some(Instant::now());
                }
            }
            incoming = session.next() => { keys(&mut e2ee, &mut session, &incoming).await?; match incoming {
                Incoming::Event(ServerEvent::InvitedToSpeak { by }) => {
                    eprintln!("stoa bot: {} invited us to speak; accepting", by.display_name);
                    session.command(ClientCommand::AcceptInvite).await?;
                }
                Incoming::Event(ServerEvent::RoleChanged { role }) => eprintln!("stoa bot: now {role:?}"),
                Incoming::Event(ServerEvent::RoomEnded { reason }) => {
                    eprintln!("stoa bot: the room ended ({reason})");
                    return Ok(());
                }
                Incoming::Event(ServerEvent::Removed { message, .. }) => bail!("{message}"),
                Incoming::Event(ServerEvent::ServerRestarting { retry_after_ms }) => {
                    retry_after = Some(Duration::from_millis(retry_after_ms.into()));
                }
                Incoming::Closed => {
                    eprintln!("stoa bot: the room's socket closed; reconnecting");
                    session = rejoin(&api, &connect, retry_after.take(), deadline).await?;
                    if let Some(e) = &e2ee {
                        session.command(e.announce()).await?;
                    }
                    eprintln!("stoa bot: back in the room as {:?}", session.role);
                }
                _ => {}
            }},
        }
    }
    let _ = session.command(ClientCommand::Leave).await;
    Ok(())
}

async fn listen(connect: Connect, seconds: f64, out: PathBuf, json: bool) -> anyhow::Result<()> {
    let api = connect.api().await?;
    let mut session = Session::join_with(&api, &connect.room, 3, connect.transports()).await?;
    let mut e2ee = device(&connect, &mut session).await?;
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(seconds);
    let (mut retry_after, mut sessions) = (None, 1u32);
    let mut recorder = Recorder::new(start);
    let mut ended = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            incoming = session.next() => { keys(&mut e2ee, &mut session, &incoming).await?; match incoming {
                Incoming::Audio { slot, packet, at, redundant } => {
                    let csrc = (packet.header.csrc_count > 0).then_some(packet.header.csrc[0]);
                    let payload = match e2ee.as_mut() {
                        Some(e) => match e.open(&packet.payload) {
                            Some(opus) => opus,
                            None => continue,
                        },
                        None => packet.payload.to_vec(),
                    };
                    recorder.push(slot, *packet.seq_no, packet.header.timestamp, csrc, &payload, at);
                    for (timestamp, opus) in redundant {
                        recorder.push_redundant(slot, timestamp, &opus);
                    }
                }
                Incoming::Event(ServerEvent::RoomEnded { reason }) => {
                    ended = Some(reason);
                    break;
                }
                Incoming::Event(ServerEvent::Removed { message, .. }) => {
                    ended = Some(message);
                    break;
                }
                Incoming::Event(ServerEvent::ServerRestarting { retry_after_ms }) => {
                    retry_after = Some(Duration::from_millis(retry_after_ms.into()));
                }
                Incoming::Closed => {
                    // A restart (or a network cut): join again, and go on recording.
                    let until = Some(deadline.into_std());
                    match tokio::time::timeout_at(deadline, rejoin(&api, &connect, retry_after.take(), until)).await {
                        Ok(Ok(s)) => {
                            session = s;
                            sessions += 1;
                            recorder.new_session();
                            if let Some(e) = &e2ee {
                                session.command(e.announce()).await?;
                            }
                        }
                        Ok(Err(e)) => {
                            ended = Some(format!("the room's socket closed, and rejoining failed: {e}"));
                            break;
                        }
                        Err(_) => break,
                    }
                }
                _ => {}
            }},
        }
    }
    let _ = session.command(ClientCommand::Leave).await;
    audio::write_ogg_opus(&out, &recorder.pcm()).with_context(|| format!("cannot write {}", out.display()))?;
    let stats = recorder.stats();
    // Packets name their speaker by an opaque source number; the room's `slots` events say whose it is.
    let mut by_user: std::collections::BTreeMap<String, u64> = Default::default();
    for (source, packets) in &recorder.per_speaker {
        let key = session.speaker(*source).map_or_else(|| format!("source {source}"), |u| u.to_string());
        *by_user.entry(key).or_default() += packets;
    }
    let per_speaker: serde_json::Map<String, serde_json::Value> =
        by_user.iter().map(|(k, v)| (k.clone(), (*v).into())).collect();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "seconds": start.elapsed().as_secs_f64(),
                "packets_received": stats.received,
                "packets_lost": stats.lost,
                "bytes": stats.bytes,
                "jitter_ms": stats.jitter_ms,
                "slots_used": stats.slots_used,
                "packets_per_speaker": per_speaker,
                "frames_expected": stats.frames_expected,
                "frames_received": stats.frames_received,
                "frames_recovered": stats.frames_recovered,
                "frames_lost": stats.frames_lost,
                "transport": session.transport(),
                "sessions": sessions,
                "ended": ended,
                "e2ee": session.room.e2ee.then(|| serde_json::json!({
                    "device_key": e2ee.is_some(),
                    "epochs": e2ee.as_ref().map_or(0, |e| e.epochs),
                    "safety_code": e2ee.as_ref().and_then(|e| e.code.clone()),
                    "unopened": e2ee.as_ref().map_or(0, |e| e.unopened),
                    "refused": e2ee.as_ref().and_then(|e| e.refused.clone()),
                })),
            })
        );
    } else {
        println!(
            "heard {} packets ({} lost, {} bytes, jitter {:.1} ms) in {} slot(s) over {}; wrote {}",
            stats.received,
            stats.lost,
            stats.bytes,
            stats.jitter_ms,
            stats.slots_used,
            session.transport().unwrap_or("nothing"),
            out.display()
        );
        println!(
            "  frames: {} expected, {} played from real data ({} of them recovered from redundancy), {} lost",
            stats.frames_expected, stats.frames_received, stats.frames_recovered, stats.frames_lost
        );
        for (speaker, packets) in &by_user {
            println!("  user {speaker}: {packets} packets");
        }
        match &e2ee {
            Some(e) => println!(
                "  end-to-end encrypted: {} key(s) taken, safety code {}, {} frame(s) did not open",
                e.epochs,
                e.code.as_deref().unwrap_or("(none)"),
                e.unopened
            ),
            None if session.room.e2ee => println!("  end-to-end encrypted, and this bot gave no device key"),
            None => {}
        }
        if let Some(reason) = ended {
            println!("stopped early: {reason}");
        }
    }
    Ok(())
}
