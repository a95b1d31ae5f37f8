//! Issue 34's rooms, end to end through the real server, with `stoa bot` and the client library: a closed
//! room made end-to-end encrypted, a speaker bot that seals every frame (and, as the moderator, makes every
//! epoch's key), a listener bot with a device key that hears 440 Hz, one without that records nothing
//! usable, matching safety codes, a suspended member who cannot open what is said after the next epoch,
//! and the clear refusals of what needs the room's audio.

use crate::common::{self, Bot};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use stoa_client::Api;
use stoa_client::e2ee::E2ee;
use stoa_proto::UserId;

const STOA: &str = env!("CARGO_BIN_EXE_stoa");

fn bot(args: &[&str]) -> std::process::Child {
    Command::new(STOA).arg("bot").args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

async fn finish(child: std::process::Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap()
}

async fn id_of(api: &Api) -> UserId {
    let me: serde_json::Value = api.get("/api/v1/me").await.unwrap();
    UserId(me["id"].as_i64().unwrap())
}

/// A member in the test's own process: the client library's bot, with a device of its own fed the room's
/// events.
struct Member {
    bot: Bot,
    device: E2ee,
    /// The kinds of the events seen, for a failure's message.
    seen: Vec<String>,
}

impl Member {
    async fn join(api: &Api, room: &str) -> Member {
        let bot = Bot::join(api, room).await;
        let device = E2ee::new(room, id_of(api).await);
        bot.command(device.announce());
        Member { bot, device, seen: Vec::new() }
    }

    fn pump(&mut self) {
        for event in self.bot.events_so_far() {
            let kind = serde_json::to_value(&event).ok().and_then(|v| v["type"].as_str().map(str::to_string));
            self.seen.push(kind.unwrap_or_default());
            self.device.on_event(&event);
        }
    }

    /// Waits until this member has taken more than `epochs` keys.
    async fn wait_key(&mut self, epochs: u32) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.device.epochs <= epochs {
            assert!(
                Instant::now() < deadline,
                "no new key in time; refused: {:?}; events: {:?}",
                self.device.refused,
                self.seen
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.pump();
        }
    }
}

#[tokio::test]
async fn an_e2ee_room_is_heard_only_by_devices_holding_its_key_and_the_server_refuses_what_needs_its_audio() {
    let w = common::world().await;
    let dir = tempfile::tempdir().unwrap();
    let tone = dir.path().join("tone.wav");
    common::write_tone(&tone, 440.0, 30.0);
    let host = w.user("host").await;
    let (ear, deaf, mallory_api, witness_api, stranger) = (
        w.user("ear").await,
        w.user("deaf").await,
        w.user("mallory").await,
        w.user("witness").await,
        w.user("stranger").await,
    );

    // Only a closed room may be end-to-end encrypted, and with nothing that needs its audio.
    let refused = |title: &str, visibility: &str, outputs: serde_json::Value| {
        let host = host.clone();
        let body = serde_json::json!({"title": title, "visibility": visibility, "e2ee": true, "outputs": outputs});
        async move { host.post("/api/v1/rooms", body).await.unwrap_err().to_string() }
    };
    let open = refused("Open", "open", serde_json::json!({})).await;
    assert!(open.contains("400") && open.contains("Only a closed room can be end-to-end encrypted"), "{open}");
    let recorded = refused("Rec", "closed", serde_json::json!({"recording": true})).await;
    assert!(recorded.contains("400") && recorded.contains("cannot record"), "{recorded}");
    let room = host
        .post(
            "/api/v1/rooms",
            serde_json::json!({"title": "Sealed", "visibility": "closed", "e2ee": true,
                "invited": ["ear", "deaf", "mallory", "witness"]}),
        )
        .await
        .unwrap();
    assert_eq!(room["e2ee"], true);
    let room = room["id"].as_str().unwrap().to_string();

    // The host's bot speaks 440 Hz, sealed; as the room's moderator its device makes every epoch's key.
    let speaker = bot(&[
        "speak",
        "--server",
        &w.base,
        "--token",
        &host.token,
        "--room",
        &room,
        "--file",
        tone.to_str().unwrap(),
        "--seconds",
        "25",
    ]);
    let mut mallory = Member::join(&mallory_api, &room).await;
    let mut witness = Member::join(&witness_api, &room).await;
    mallory.wait_key(0).await;
    witness.wait_key(0).await;

    // What needs the room's audio is refused, with its reason, to a member; a stranger learns nothing.
    let clip = post_empty(&w.base, &witness_api.token, &format!("/api/v1/rooms/{room}/clips")).await;
    assert_eq!(clip.0, 409, "{}", clip.1);
    assert!(clip.1.contains("e2ee_room"), "{}", clip.1);
    let whep = sdp_post(&w.base, &witness_api.token, &format!("/api/v1/rooms/{room}/whep")).await;
    assert_eq!(whep.0, 409, "{}", whep.1);
    assert!(whep.1.contains("e2ee_room"), "{}", whep.1);
    let restream = host
        .post(
            &format!("/api/v1/rooms/{room}/restream"),
            serde_json::json!({"url": "rtmp://127.0.0.1/live", "stream_key": "k"}),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        restream.contains("409") && restream.contains("cannot record"),
        "the restream, to its moderator: {restream}"
    );
    let stranger_clip = post_empty(&w.base, &stranger.token, &format!("/api/v1/rooms/{room}/clips")).await;
    assert_eq!(stranger_clip.0, 404, "a stranger is told nothing: {}", stranger_clip.1);

    // Two listener bots at once: one with a device key, one without.
    let (heard, unheard) = (dir.path().join("heard.ogg"), dir.path().join("unheard.ogg"));
    let listen = |token: &str, out: &std::path::Path, extra: &[&str]| {
        let mut args =
            vec!["listen", "--server", &w.base, "--token", token, "--room", &room, "--seconds", "5", "--json"];
        args.extend(["--out", out.to_str().unwrap()]);
        args.extend(extra);
        bot(&args)
    };
    let (ear_bot, deaf_bot) = (listen(&ear.token, &heard, &[]), listen(&deaf.token, &unheard, &["--no-device-key"]));
    let (ear_out, deaf_out) = (finish(ear_bot).await, finish(deaf_bot).await);
    assert!(ear_out.status.success(), "{}", String::from_utf8_lossy(&ear_out.stderr));
    assert!(deaf_out.status.success(), "{}", String::from_utf8_lossy(&deaf_out.stderr));
    let ear_stats: serde_json::Value = serde_json::from_slice(&ear_out.stdout).unwrap();
    let deaf_stats: serde_json::Value = serde_json::from_slice(&deaf_out.stdout).unwrap();
    assert!(ear_stats["e2ee"]["epochs"].as_u64().unwrap() >= 1, "{ear_stats}");
    let hz = common::frequency_of_file(&heard);
    assert!((hz - 440.0).abs() <= 5.0, "the member's bot hears 440 Hz: {hz:.1} ({ear_stats})");
    assert!(
        deaf_stats["packets_received"].as_u64().unwrap() >= 100,
        "the keyless bot was sent the packets: {deaf_stats}"
    );
    let noise = common::frequency_of_file(&unheard);
    assert!((noise - 440.0).abs() > 20.0, "without a key, no 440 Hz: {noise:.1} ({deaf_stats})");
    let ear_code = ear_stats["e2ee"]["safety_code"].as_str().unwrap().to_string();

    // The suspended member is taken out of the room; once the next epoch is taken, nothing said under it
    // opens on her device, while the witness's opens every frame.
    mallory.pump();
    witness.pump();
    let before = witness.device.epochs;
    let admin_suspends =
        w.admin.post("/api/v1/admin/users/mallory/suspend", serde_json::json!({"reason": "test"})).await;
    admin_suspends.unwrap();
    witness.wait_key(before).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let from = witness.bot.heard_count();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after: Vec<Vec<u8>> = witness.bot.heard()[from..].iter().map(|h| h.payload.clone()).collect();
    assert!(after.len() >= 50, "the witness heard the speaker after the change: {}", after.len());
    let opened_by_witness = after.iter().filter(|p| witness.device.open(p).is_some()).count();
    let opened_by_mallory = after.iter().filter(|p| mallory.device.open(p).is_some()).count();
    assert_eq!(opened_by_witness, after.len(), "a member opens every frame");
    assert_eq!(opened_by_mallory, 0, "the suspended member opens none");

    // The witness leaves and comes back: a new device key's epoch, newer than any it held.
    let (old_epoch, old_code) = (witness.device.epoch, witness.device.code.clone());
    witness.bot.command(stoa_proto::ClientCommand::Leave);
    let mut back = Member::join(&witness_api, &room).await;
    back.wait_key(0).await;
    assert!(back.device.epoch > old_epoch, "a new key on return: {} after {old_epoch}", back.device.epoch);
    assert_ne!(back.device.code, old_code, "and a new code");
    let back_code = back.device.code.clone().unwrap();

    let spoken = finish(speaker).await;
    let log = String::from_utf8_lossy(&spoken.stderr).to_string();
    assert!(spoken.status.success(), "{log}");
    let host_codes: Vec<&str> = log.lines().filter_map(|l| l.split("safety code ").nth(1)).collect();
    assert!(host_codes.contains(&ear_code.as_str()), "the ear's code {ear_code} is one the host saw: {host_codes:?}");
    let witness_code = witness.device.code.clone().unwrap();
    assert!(host_codes.contains(&witness_code.as_str()), "and the witness's {witness_code}: {host_codes:?}");
    assert!(host_codes.contains(&back_code.as_str()), "and the returned witness's {back_code}: {host_codes:?}");
}

/// A POST with no body; the status and the body.
async fn post_empty(base: &str, token: &str, path: &str) -> (u16, String) {
    let r = reqwest::Client::new().post(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A WHEP offer; the status and the body.
async fn sdp_post(base: &str, token: &str, path: &str) -> (u16, String) {
    let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("content-type", "application/sdp")
        .body(offer)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The server's view of an end-to-end encrypted room: the test's own host is the keyholder, with epoch keys
/// it chose, so it knows exactly what must never reach the server. After a member comes and goes (three
/// epochs), every byte of the room's sockets (both members' events), the data folder (SQLite and its WAL)
/// and the server's debug log is searched for each key, raw and in hex and base64: none is there, while the
/// device keys and wrapped blobs the room relayed are (the search finds what is there).
#[tokio::test]
async fn the_server_holds_only_public_keys_and_wrapped_blobs_in_its_sockets_store_and_logs() {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use stoa_e2ee::EpochKey;
    use stoa_e2ee::wrap::{DeviceKey, wrap};
    use stoa_proto::{ClientCommand, ServerEvent};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let http = common::reserved_port(false);
    let mut server = Command::new(STOA)
        .args(["serve", "--data"])
        .arg(&data)
        .args(["--http", &format!("127.0.0.1:{http}"), "--media-udp", "127.0.0.1:0", "--media-tcp", "off"])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let (invite_tx, invite_rx) = std::sync::mpsc::channel();
    let banner = dir.path().join("stdout.log");
    let banner_file = banner.clone();
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let mut out = std::fs::File::create(banner_file).unwrap();
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(code) = line.contains("/invite/").then(|| line.rsplit('/').next().map(str::to_string)).flatten()
            {
                let _ = invite_tx.send(code);
            }
            let _ = writeln!(out, "{line}");
        }
    });
    let invite = invite_rx.recv_timeout(Duration::from_secs(60)).expect("the server prints its first invite");
    let base = format!("http://127.0.0.1:{http}");
    let host = Api::sign_up(&base, &invite, "host", "host-password").await.unwrap();
    let code = host.post("/api/v1/invites", serde_json::json!({})).await.unwrap()["code"].as_str().unwrap().to_string();
    let member_api = Api::sign_up(&base, &code, "member", "member-password").await.unwrap();
    let room = host
        .post(
            "/api/v1/rooms",
            serde_json::json!({"title": "Sealed", "visibility": "closed", "e2ee": true, "invited": ["member"]}),
        )
        .await
        .unwrap();
    let room = room["id"].as_str().unwrap().to_string();

    // The host's device, kept by the test: it makes each epoch's key from bytes the test chose.
    let mut host_bot = Bot::join(&host, &room).await;
    let host_device = DeviceKey::random();
    host_bot.command(ClientCommand::DeviceKey { public_key: URL_SAFE_NO_PAD.encode(host_device.public()) });
    let mut member = Member::join(&member_api, &room).await;
    let (mut secrets, mut socket_text) = (Vec::<[u8; 32]>::new(), String::new());
    let mut relayed = Vec::<String>::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut left = false;
    while secrets.len() < 3 {
        assert!(Instant::now() < deadline, "three epochs in time: {}", secrets.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
        for event in host_bot.events_so_far() {
            socket_text.push_str(&serde_json::to_string(&event).unwrap());
            if let ServerEvent::E2eeRekey { epoch, members } = event {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret).unwrap();
                secrets.push(secret);
                let key = EpochKey::from_bytes(epoch, secret);
                let wrapped: Vec<String> = members
                    .iter()
                    .map(|m| {
                        let device: [u8; 32] = URL_SAFE_NO_PAD.decode(&m.device_key).unwrap().try_into().unwrap();
                        URL_SAFE_NO_PAD.encode(wrap(&key, &room, &host_device, &device))
                    })
                    .collect();
                relayed.extend(wrapped.iter().cloned());
                host_bot.command(ClientCommand::E2eeKeys { epoch, wrapped });
            }
        }
        if !left {
            for event in member.bot.events_so_far() {
                socket_text.push_str(&serde_json::to_string(&event).unwrap());
                member.device.on_event(&event);
            }
            // Once the member holds the second epoch's key, it leaves: the third epoch is the host's alone.
            if member.device.epochs >= 1 && secrets.len() >= 2 {
                member.bot.command(ClientCommand::Leave);
                left = true;
            }
        }
    }
    // Let the last answer be relayed and logged, then stop the server so its files are whole.
    tokio::time::sleep(Duration::from_millis(500)).await;
    socket_text.extend(host_bot.events_so_far().iter().map(|e| serde_json::to_string(e).unwrap()));
    // SIGTERM: the server stops cleanly (checkpointing SQLite's WAL).
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let _ = tokio::task::spawn_blocking(move || server.wait()).await;

    let mut haystacks: Vec<(String, Vec<u8>)> = vec![("the room sockets".into(), socket_text.into_bytes())];
    haystacks.push(("the server's log".into(), std::fs::read(&log).unwrap()));
    haystacks.push(("the server's output".into(), std::fs::read(&banner).unwrap()));
    haystacks.extend(files_under(&data));
    assert!(
        haystacks.len() >= 4,
        "the data folder holds the database: {:?}",
        haystacks.iter().map(|h| &h.0).collect::<Vec<_>>()
    );
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    for (i, secret) in secrets.iter().enumerate() {
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let forms = [
            secret.to_vec(),
            hex.into_bytes(),
            STANDARD.encode(secret).into_bytes(),
            URL_SAFE_NO_PAD.encode(secret).into_bytes(),
        ];
        for (name, hay) in &haystacks {
            for form in &forms {
                assert!(
                    !contains(hay, &form[..16.min(form.len())]),
                    "epoch {}'s key (or its start) is in {name}",
                    i + 1
                );
            }
        }
    }
    // What the server did relay is found where the search looks: the blobs, and the member's device key.
    let sockets = &haystacks[0].1;
    assert!(relayed.iter().all(|w| contains(sockets, w.as_bytes())), "every wrapped blob passed through the sockets");
    let member_key = match member.device.announce() {
        ClientCommand::DeviceKey { public_key } => public_key,
        _ => unreachable!(),
    };
    assert!(contains(sockets, member_key.as_bytes()), "the member's device key was listed");
}

/// Every file under `folder`, by path, with its bytes.
fn files_under(folder: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let (mut files, mut folders) = (Vec::new(), vec![folder.to_path_buf()]);
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().map(Result::unwrap) {
            if entry.file_type().unwrap().is_dir() {
                folders.push(entry.path());
            } else {
                files.push((entry.path().display().to_string(), std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    files
}
