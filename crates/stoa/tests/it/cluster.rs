//! Three nodes of a cluster on one Postgres and a real `nats-server` (Debian's, started here): a room runs
//! on node A, and people whose WebSockets are on B and C are in it as if they were on A. They hear A's
//! speaker at 440 Hz, one of them is invited up from C and heard by the others, every node's hallway shows
//! the room with the whole audience, a removal holds on every node, and a message not signed with the
//! cluster's key is refused. Any node serves any request: an avatar, the listen link, a notification
//! stream, and the web client in Chromium. Without NATS, a node says so (503). Then, as three `stoa serve`
//! processes: `kill -9` of a node and of the room's owner. Runs in the test command's Postgres pass
//! (STOA_TEST_POSTGRES).

use crate::common;

use common::{Bot, Reaped, WAIT, decode_heard, eventually, frequency, tone_frames};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use stoa_client::Api;
use stoa_proto::{ClientCommand, ServerEvent, UserId};
use stoa_server::{Running, ServerConfig};

/// A `nats-server` on a free loopback port, killed when dropped.
struct Nats {
    _child: Reaped,
    url: String,
}

fn nats() -> Nats {
    nats_on(crate::common::reserved_port(false))
}

fn nats_on(port: u16) -> Nats {
    // Debian puts it in /usr/sbin, which not every PATH has.
    let program =
        if std::path::Path::new("/usr/sbin/nats-server").exists() { "/usr/sbin/nats-server" } else { "nats-server" };
    let child = Command::new(program)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server is installed by the test command (Debian's nats-server)");
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    Nats { _child: Reaped(child), url: format!("nats://127.0.0.1:{port}") }
}

async fn node(name: &str, database: &str, nats: &str, dir: &std::path::Path) -> Running {
    node_with(name, database, nats, dir, |_| {}).await
}

async fn node_with(
    name: &str,
    database: &str,
    nats: &str,
    dir: &std::path::Path,
    change: impl FnOnce(&mut ServerConfig),
) -> Running {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let config = ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        data,
        database: Some(database.to_string()),
        auth_attempts_per_ip: 10_000,
        auth_attempts_per_user: 10_000,
        // The limits on costly writes have tests of their own.
        rooms_per_hour: 10_000,
        live_rooms_per_account: 10_000,
        invitations_per_hour: 100_000,
        media_shards: 2,
        cluster: Some(stoa_server::cluster::ClusterConfig { nats: nats.to_string(), node: name.to_string() }),
        ..ServerConfig::default()
    };
    let mut config = config;
    change(&mut config);
    stoa_server::start(config).await.unwrap()
}

/// The same person, through another node.
fn via(api: &Api, running: &Running) -> Api {
    Api::with_token(&format!("http://{}", running.addr), &api.token)
}

async fn hallway_count(api: &Api, room: &str) -> Option<u64> {
    let hallway = api.get("/api/v1/rooms").await.ok()?;
    hallway["rooms"].as_array()?.iter().find(|r| r["id"] == room).map(|r| r["listener_count"].as_u64().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_on_one_node_is_joined_heard_and_moderated_through_the_others() {
    let database = stoa_store::test_database().expect("the Postgres pass of the test command sets STOA_TEST_POSTGRES");
    let nats = nats();
    let dir = tempfile::tempdir().unwrap();
    let a = node("a", &database, &nats.url, dir.path()).await;
    let b = node("b", &database, &nats.url, dir.path()).await;
    let c = node("c", &database, &nats.url, dir.path()).await;
    let base_a = format!("http://{}", a.addr);

    // People sign up on A; their sessions are in Postgres, so every node knows them.
    let bootstrap = a.bootstrap_invite.clone().unwrap();
    let bootstrap = bootstrap.rsplit('/').next().unwrap();
    let admin = Api::sign_up(&base_a, bootstrap, "operator", "operator-password").await.unwrap();
    let store = stoa_store::open(dir.path(), Some(&database)).await.unwrap();
    let invite = store.create_admin_invite(1000).await.unwrap();
    let mut people = Vec::new();
    for name in ["host", "bea", "cyd", "dee", "eve"] {
        people.push(Api::sign_up(&base_a, &invite, name, &format!("{name}-password")).await.unwrap());
    }
    let [host, bea, cyd, dee, eve]: [Api; 5] = people.try_into().unwrap();

    // Every node hears every other.
    let admin_b = via(&admin, &b);
    let deadline = Instant::now() + WAIT;
    loop {
        let health = admin_b.get("/healthz").await.unwrap();
        let nodes = health["cluster"]["nodes"].as_array().map_or(0, |n| n.len());
        if nodes == 3 {
            assert_eq!(health["cluster"]["node"], "b");
            assert_eq!(health["cluster"]["nats"], "ok");
            break;
        }
        assert!(Instant::now() < deadline, "the nodes never heard each other: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Any node serves any request: an avatar uploaded through A is served by C.
    const PNG_1X1: [u8; 70] = [
        137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 31, 21,
        196, 137, 0, 0, 0, 13, 73, 68, 65, 84, 120, 218, 99, 100, 248, 207, 80, 15, 0, 3, 134, 1, 128, 90, 52, 125,
        107, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
    ];
    let http = reqwest::Client::new();
    let me: serde_json::Value = http
        .put(format!("http://{}/api/v1/me/avatar", a.addr))
        .bearer_auth(&host.token)
        .header("content-type", "image/png")
        .body(PNG_1X1.to_vec())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let avatar = me["avatar"].as_str().expect("the avatar is set").to_string();
    let served = http.get(format!("http://{}{avatar}", c.addr)).bearer_auth(&bea.token).send().await.unwrap();
    assert_eq!(served.status().as_u16(), 200, "node C serves an avatar uploaded through A");
    assert_eq!(served.headers()["content-type"], "image/jpeg");

    // The room starts on A, and its host speaks there.
    let room = host
        .post(
            "/api/v1/rooms",
            json!({"title": "Across nodes", "visibility": "open",
                "outputs": {"listen_link": true, "clips": true, "recording": true}}),
        )
        .await
        .unwrap();
    let room = room["id"].as_str().unwrap().to_string();
    let mut speaker = Bot::join_with(&host, &room, tone_frames(2.0)).await;
    speaker.sending(true);

    // B's and C's hallways show it.
    for node in [&b, &c] {
        let api = via(&bea, node);
        let deadline = Instant::now() + WAIT;
        while hallway_count(&api, &room).await.is_none() {
            assert!(Instant::now() < deadline, "node {} never listed the room", node.addr);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Listeners join through B and C: the room is A's, their sockets are not.
    let listener_b = Bot::join(&via(&bea, &b), &room).await;
    let mut listener_c = Bot::join(&via(&cyd, &c), &room).await;
    let third = Bot::join(&via(&dee, &b), &room).await;
    for (name, listener) in [("B", &listener_b), ("C", &listener_c)] {
        eventually(&format!("the listener on {name} hears A's speaker"), || listener.heard_from(speaker.id) >= 100)
            .await;
        let hz = frequency(&decode_heard(&listener.heard(), speaker.id));
        assert!((hz - 440.0).abs() <= 5.0, "the listener on {name} hears 440 Hz, not {hz:.1}");
    }

    // The cascade: A sends the room's media once per edge node (one link peer each for B and C, next to
    // its own speaker), and B and C fan it out to the listeners whose sockets are theirs.
    let deadline = Instant::now() + WAIT;
    loop {
        let mut peers = Vec::new();
        for node in [&a, &b, &c] {
            peers.push(via(&admin, node).get("/healthz").await.unwrap()["media_peers"].as_u64().unwrap_or(0));
        }
        if peers == [3, 2, 1] {
            break;
        }
        assert!(Instant::now() < deadline, "media peers on A, B, C: {peers:?}, not one link per edge");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The listen link works through any node: the playlist through C, a segment through B, both made by
    // A's egress.
    let deadline = Instant::now() + Duration::from_secs(20);
    let playlist = loop {
        let resp = http.get(format!("http://{}/listen/{room}/index.m3u8", c.addr)).send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        if status == 200 && text.contains(".aac") {
            break text;
        }
        assert!(status == 503 || status == 200, "the playlist through C: {status} {text}");
        assert!(Instant::now() < deadline, "the listen link never started: {status} {text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let name = playlist.lines().find(|l| !l.starts_with('#') && l.ends_with(".aac")).unwrap();
    let segment = http.get(format!("http://{}/listen/{room}/{name}", b.addr)).send().await.unwrap();
    assert_eq!(segment.status().as_u16(), 200);
    assert_eq!(segment.headers()["content-type"], "audio/aac");
    assert!(segment.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(segment.bytes().await.unwrap().len() > 1000, "a segment carries audio");

    // A clip is made by A's egress and written to A's disk; B and C serve it too, whole and by range
    // (streamed from A over NATS in chunks), to anyone who may hear it.
    let clip = via(&host, &a).post(&format!("/api/v1/rooms/{room}/clips"), json!({})).await.unwrap();
    let audio = format!("/api/v1/recordings/{}/audio", clip["id"].as_str().unwrap());
    let fetch = |node: &Running, range: Option<&str>| {
        let mut request = http.get(format!("http://{}{audio}", node.addr)).bearer_auth(&bea.token);
        if let Some(range) = range {
            request = request.header("range", range);
        }
        request.send()
    };
    let on_a = fetch(&a, None).await.unwrap().bytes().await.unwrap();
    assert!(on_a.len() > 1000 && on_a.starts_with(b"OggS"), "the clip on A is Ogg audio");
    for node in [&b, &c] {
        let whole = fetch(node, None).await.unwrap();
        assert_eq!(whole.status().as_u16(), 200);
        assert_eq!(whole.headers()["content-type"], "audio/ogg");
        assert_eq!(whole.bytes().await.unwrap(), on_a, "node {} serves A's clip as it is", node.addr);
    }
    let part = fetch(&c, Some("bytes=100-599")).await.unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.headers()["content-range"].to_str().unwrap(), format!("bytes 100-599/{}", on_a.len()));
    assert_eq!(part.bytes().await.unwrap(), on_a[100..600], "a range of A's clip through C");
    let past = fetch(&b, Some(&format!("bytes={}-", on_a.len() + 10))).await.unwrap();
    assert_eq!(past.status().as_u16(), 416, "a range past the end, through B");
    // A long recording crosses in several chunks of 512 KB: A's file, made 1.3 MB, whole and across a
    // chunk's edge.
    let file = dir.path().join("a/recordings").join(format!("{}.opus", clip["id"].as_str().unwrap()));
    let long: Vec<u8> = (0..1_300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&file, &long).unwrap();
    assert_eq!(fetch(&b, None).await.unwrap().bytes().await.unwrap(), long, "1.3 MB through B");
    let across = fetch(&c, Some("bytes=500000-1100000")).await.unwrap();
    assert_eq!(across.status().as_u16(), 206);
    assert_eq!(across.bytes().await.unwrap(), long[500_000..=1_100_000], "a range across chunks through C");

    // A clip deleted through B leaves A's disk, where its file is.
    let deleted = http.delete(format!("http://{}/api/v1/recordings/{}", b.addr, clip["id"].as_str().unwrap()));
    assert_eq!(deleted.bearer_auth(&host.token).send().await.unwrap().status().as_u16(), 204);
    eventually("the clip deleted through B is gone from A's disk", || !file.exists()).await;
    assert_eq!(fetch(&c, None).await.unwrap().status().as_u16(), 404, "nor served by any node");

    // A node that starts while A records the room's replay leaves the replay alone: its file is on A's disk
    // (a node closes only the unfinished replays whose files are its own).
    let recordings = via(&bea, &b).get(&format!("/api/v1/rooms/{room}/recordings")).await.unwrap();
    let replay = recordings["recordings"].as_array().unwrap().iter().find(|r| r["kind"] == "replay").cloned();
    let replay = replay.unwrap_or_else(|| panic!("the replay is listed while it records: {recordings}"));
    assert!(replay["duration_ms"].is_null(), "it is still recording: {replay}");
    let d = node("d", &database, &nats.url, dir.path()).await;
    let still = via(&bea, &d).get(&format!("/api/v1/recordings/{}", replay["id"].as_str().unwrap())).await;
    assert!(still.is_ok_and(|r| r["duration_ms"].is_null()), "the replay A records survives D's start");
    drop(d);

    // The audience, counted by the room wherever its people's sockets are, is the same on every node.
    for node in [&a, &b, &c] {
        let api = via(&bea, node);
        let deadline = Instant::now() + WAIT;
        while hallway_count(&api, &room).await != Some(3) {
            assert!(
                Instant::now() < deadline,
                "node {} never counted 3 listeners: {:?}",
                node.addr,
                hallway_count(&api, &room).await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Eve, who follows the host, has her notifications open on C; the host pings her from A, and her
    // stream on C hears of it.
    via(&eve, &b).post("/api/v1/users/host/follow", json!({})).await.unwrap();
    let mut stream = reqwest::Client::new()
        .get(format!("http://{}/api/v1/notifications/stream", c.addr))
        .bearer_auth(&eve.token)
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    while !seen.contains("\n\n") {
        seen.push_str(&String::from_utf8_lossy(&stream.chunk().await.unwrap().unwrap()));
    }
    assert!(seen.contains("\"unread\":0"), "{seen}");
    via(&host, &a).post(&format!("/api/v1/rooms/{room}/ping"), json!({"username": "eve"})).await.unwrap();
    let woke = tokio::time::timeout(WAIT, async {
        let mut more = String::new();
        while !more.contains("pinged") {
            more.push_str(&String::from_utf8_lossy(&stream.chunk().await.unwrap().unwrap()));
        }
        more
    })
    .await
    .expect("the ping made on A reaches the stream on C");
    assert!(woke.contains("\"unread\":1"), "{woke}");

    // The backchannel: Bea writes to Eve through B; Eve's tab on C hears of it at once, and A reads it.
    let sent =
        via(&bea, &b).post("/api/v1/threads", json!({"usernames": ["eve"], "text": "Psst, from B"})).await.unwrap();
    let thread = sent["id"].as_i64().unwrap();
    let woke = tokio::time::timeout(WAIT, async {
        let mut more = String::new();
        while !more.contains("\"requests\":1") {
            more.push_str(&String::from_utf8_lossy(&stream.chunk().await.unwrap().unwrap()));
        }
        more
    })
    .await
    .expect("a message sent through B reaches the tab on C");
    assert!(woke.contains("\"requests\":1"), "{woke}");
    let page = via(&eve, &a).get(&format!("/api/v1/threads/{thread}/messages")).await.unwrap();
    assert_eq!(page["messages"][0]["text"], "Psst, from B");
    drop(stream);

    // The host invites the listener on C up; A's and B's people hear them.
    speaker.bring_on_stage(&mut listener_c).await;
    listener_c.sending(true);
    eventually("the listener on B hears the speaker from C", || listener_b.heard_from(listener_c.id) >= 100).await;
    eventually("A's host hears the speaker from C", || speaker.heard_from(listener_c.id) >= 100).await;
    // Decoded from the new speaker's first packet on (what came before is the host alone).
    let from_c: Vec<_> = listener_b.heard().into_iter().filter(|h| h.speaker == Some(listener_c.id)).collect();
    let hz = frequency(&decode_heard(&from_c, listener_c.id));
    assert!((hz - 440.0).abs() <= 5.0, "the speaker from C is heard at 440 Hz on B, not {hz:.1}");
    // C's speaker is served by C, as when they listened: their packets go up C's link to A, which
    // forwards them once per edge like anyone's. A carries its speaker and the two links, B its two
    // listeners, C its speaker.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut peers = Vec::new();
        for node in [&a, &b, &c] {
            peers.push(via(&admin, node).get("/healthz").await.unwrap()["media_peers"].as_u64().unwrap_or(0));
        }
        if peers == [3, 2, 1] {
            break;
        }
        assert!(Instant::now() < deadline, "media peers on A, B, C with a speaker on C: {peers:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = listener_c.heard_from(speaker.id);
    eventually("C's speaker still hears A's host", || listener_c.heard_from(speaker.id) > before + 50).await;
    assert_eq!(listener_c.heard_from(listener_c.id), 0, "no one hears themselves back through the link");

    // The stage holds for a speaker on another node: moved back to the audience, C's person keeps sending,
    // and no one hears it.
    speaker.command(ClientCommand::MoveToAudience { user_id: UserId(listener_c.id as i64) });
    listener_c.expect("role_changed", |e| matches!(e, ServerEvent::RoleChanged { .. })).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (on_b, on_a) = (listener_b.heard_from(listener_c.id), speaker.heard_from(listener_c.id));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(listener_b.heard_from(listener_c.id), on_b, "B hears nothing from C's person back in the audience");
    assert_eq!(speaker.heard_from(listener_c.id), on_a, "A hears nothing from C's person back in the audience");
    listener_c.sending(false);

    // The host removes the third person (on B); they cannot come back through C either.
    speaker.command(ClientCommand::Remove { user_id: UserId(third.id as i64) });
    let mut third = third;
    third.expect("removed", |e| matches!(e, ServerEvent::Removed { .. })).await;
    let again = stoa_client::Session::join_with(&via(&dee, &c), &room, 3, stoa_client::Transports::UDP).await;
    let refused = again.err().expect("a removed person cannot rejoin through another node").to_string();
    assert!(refused.contains("403") && refused.contains("removed"), "{refused}");

    // A message for the room not signed with the cluster's key changes nothing, and is counted.
    let raw = async_nats::connect(&nats.url).await.unwrap();
    let forged = json!({"n": "b", "t": 0, "r": 1, "b": {"AdminEnd": {"admin": null}}}).to_string();
    let mut payload = vec![0u8; 32];
    payload.extend_from_slice(forged.as_bytes());
    raw.publish(format!("stoa.room.{room}.in"), payload.into()).await.unwrap();
    raw.flush().await.unwrap();
    let admin_a = via(&admin, &a);
    let deadline = Instant::now() + WAIT;
    while admin_a.get("/healthz").await.unwrap()["cluster"]["refused"].as_u64().unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the forged message was never refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nor does a forged link: an offer for the room's media from outside the cluster gets no answer and
    // no peer on A, so no one outside can take the room's packets (or send any up a link).
    let peers_on_a = admin_a.get("/healthz").await.unwrap()["media_peers"].as_u64();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    let forged_link = json!({"n": "b", "t": now_ms, "r": 2, "b": {"Link": {"sdp": offer}}}).to_string();
    let mut payload = vec![7u8; 32];
    payload.extend_from_slice(forged_link.as_bytes());
    let answer =
        tokio::time::timeout(Duration::from_secs(3), raw.request(format!("stoa.room.{room}.in"), payload.into())).await;
    assert!(answer.is_err(), "a forged link offer got an answer: {answer:?}");
    let health = admin_a.get("/healthz").await.unwrap();
    assert!(health["cluster"]["refused"].as_u64().unwrap_or(0) >= 2, "the forged link was refused: {health}");
    assert_eq!(health["media_peers"].as_u64(), peers_on_a, "a forged link made no peer on A");
    assert!(hallway_count(&via(&bea, &c), &room).await.is_some(), "the room still runs");
    let before = listener_b.heard_from(speaker.id);
    eventually("the room still carries its speaker", || listener_b.heard_from(speaker.id) > before + 50).await;

    // The web client, as a new user would run it, entirely through B: it signs up, finds the room in B's
    // hallway, joins it (relayed to A) and hears 440 Hz (its media is served by B's mirror of the room).
    let browser = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    let mut chromium = Command::new("node")
        .arg("restart.mjs")
        .current_dir(&browser)
        .env("INVITE", format!("http://{}/invite/{invite}", b.addr))
        .env("USERNAME", "webby")
        .env("TITLE", "Across nodes")
        .env("SPEAK_HZ", "660")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(chromium.stdout.take().unwrap());
    let mut line = String::new();
    tokio::task::block_in_place(|| out.read_line(&mut line)).unwrap();
    assert_eq!(line.trim(), "heard", "Chromium, through node B, hears A's speaker (see its output above)");
    // It raises its hand, the host invites it up, and its packets go up B's link to A: B's listener hears
    // its 660 Hz, through A.
    let raised = speaker
        .expect("hand_raised", |e| matches!(e, ServerEvent::HandRaised { user } if user.username == "webby"))
        .await;
    let ServerEvent::HandRaised { user: webby } = raised else { unreachable!() };
    speaker.command(ClientCommand::InviteToSpeak { user_id: webby.id });
    line.clear();
    tokio::task::block_in_place(|| out.read_line(&mut line)).unwrap();
    assert_eq!(line.trim(), "speaking", "Chromium, through node B, goes on stage (see its output above)");
    let webby = webby.id.0 as u32;
    eventually("B's listener hears the browser that went on stage through B", || listener_b.heard_from(webby) >= 100)
        .await;
    let from_web: Vec<_> = listener_b.heard().into_iter().filter(|h| h.speaker == Some(webby)).collect();
    let hz = frequency(&decode_heard(&from_web, webby));
    assert!((hz - 660.0).abs() <= 5.0, "the browser on stage through B is heard at 660 Hz, not {hz:.1}");
    drop(chromium.stdin.take());
    let _ = tokio::task::block_in_place(|| chromium.wait());

    // Two nodes claim one room: the lease decides. C claims it as if A's lease had run out (A cut off from
    // Postgres for longer than the lease): at its next renewal A finds the lease gone, tells its people to
    // come back and stops the room without ending it, and C brings it back from the store.
    let later = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 + 60_000;
    let room_id = stoa_proto::RoomId(room.clone());
    assert!(store.claim_room(&room_id, "c", later, later + 4_000).await.unwrap());
    speaker.expect("server_restarting", |e| matches!(e, ServerEvent::ServerRestarting { .. })).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let on_a = via(&admin, &a).get("/healthz").await.unwrap()["live_rooms"].clone();
        let on_c = via(&admin, &c).get("/healthz").await.unwrap()["live_rooms"].clone();
        if on_a == 0 && on_c == 1 && hallway_count(&via(&bea, &b), &room).await.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the room never moved to C: A runs {on_a}, C runs {on_c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.room_owner(&room_id).await.unwrap().map(|(n, _)| n).as_deref(), Some("c"));

    // NATS goes away: B cannot reach the room, and says so (503, try again) rather than "no such room"; its
    // health says degraded.
    drop(raw);
    let nats_url = nats.url.clone();
    drop(nats);
    let deadline = Instant::now() + WAIT;
    let refused = loop {
        let again = stoa_client::Session::join_with(&via(&bea, &b), &room, 3, stoa_client::Transports::UDP).await;
        match again {
            Err(e) if e.to_string().contains("503") => break e.to_string(),
            _ => assert!(Instant::now() < deadline, "B never noticed that NATS was gone"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(refused.contains("cannot be reached"), "{refused}");
    let resp = reqwest::Client::new()
        .get(format!("http://{}/healthz", b.addr))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let health: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(health["cluster"]["nats"], "unavailable", "{health}");

    // NATS is back on the same address: the nodes reconnect by themselves, and B relays again.
    let port: u16 = nats_url.rsplit(':').next().unwrap().parse().unwrap();
    let _nats = nats_on(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let again = stoa_client::Session::join_with(&via(&bea, &b), &room, 3, stoa_client::Transports::UDP).await;
        if again.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "B never relayed again after NATS came back: {:?}", again.err());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Frames in an Opus packet (RFC 6716 §3.2): code 0 one, codes 1 and 2 two, code 3 as counted.
fn frames_in(payload: &[u8]) -> u32 {
    match payload[0] & 0x03 {
        0 => 1,
        3 => u32::from(payload.get(1).copied().unwrap_or(0) & 0x3f),
        _ => 2,
    }
}

/// In a room large enough for joined audience packets, a speaker whose socket is on an edge hears the stage
/// in 20 ms packets, as a speaker on the origin does, and the edge's listeners keep getting joined 60 ms
/// ones: while the edge has a speaker, the origin sends its link the stage's stream, and the edge joins it
/// for its own listeners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_speaker_hears_the_stage_in_20_ms_packets_and_the_edges_listeners_get_joined_ones() {
    let database = stoa_store::test_database().expect("the Postgres pass of the test command sets STOA_TEST_POSTGRES");
    let nats = nats();
    let dir = tempfile::tempdir().unwrap();
    // Joined packets from the first listener, to see them without hundreds of listeners.
    let joining = |c: &mut ServerConfig| {
        c.audience_frames = 3;
        c.audience_frames_above = 0;
    };
    let a = node_with("a", &database, &nats.url, dir.path(), joining).await;
    let b = node_with("b", &database, &nats.url, dir.path(), joining).await;
    let base_a = format!("http://{}", a.addr);
    let store = stoa_store::open(dir.path(), Some(&database)).await.unwrap();
    let invite = store.create_admin_invite(10).await.unwrap();
    let host = Api::sign_up(&base_a, &invite, "host", "host-password").await.unwrap();
    let ear = Api::sign_up(&base_a, &invite, "ear", "ear-password").await.unwrap();
    let sam = Api::sign_up(&base_a, &invite, "sam", "sam-password").await.unwrap();
    let room = host.post("/api/v1/rooms", json!({"title": "Joined", "visibility": "open"})).await.unwrap();
    let room = room["id"].as_str().unwrap().to_string();
    let mut speaker = Bot::join_with(&host, &room, tone_frames(2.0)).await;
    speaker.sending(true);
    let deadline = Instant::now() + WAIT;
    while hallway_count(&via(&ear, &b), &room).await.is_none() {
        assert!(Instant::now() < deadline, "B never listed the room");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listener = Bot::join(&via(&ear, &b), &room).await;
    let mut edge = Bot::join_with(&via(&sam, &b), &room, tone_frames(2.0)).await;
    for bot in [&listener, &edge] {
        eventually("B's people hear A's host", || bot.heard_from(speaker.id) >= 30).await;
    }
    let from = |bot: &Bot, who: u32, after: Instant| -> Vec<u32> {
        bot.heard().iter().filter(|h| h.speaker == Some(who) && h.at > after).map(|h| frames_in(&h.payload)).collect()
    };
    let joined = |frames: &[u32]| frames.iter().filter(|f| **f == 3).count();
    let before = from(&edge, speaker.id, Instant::now() - Duration::from_secs(60));
    assert!(joined(&before) * 10 >= before.len() * 9, "an edge listener gets joined packets: {before:?}");

    // Sam, on B, goes on stage and speaks: they hear the host in 20 ms packets; Ear, on B, still gets
    // joined ones, of both speakers.
    speaker.bring_on_stage(&mut edge).await;
    edge.sending(true);
    eventually("B's listener hears the speaker on B", || listener.heard_from(edge.id) >= 30).await;
    let settled = Instant::now();
    let (host_heard, ear_heard) = (edge.heard_from(speaker.id), listener.heard_from(speaker.id));
    eventually("the speaker on B hears 1 s more of the host", || edge.heard_from(speaker.id) >= host_heard + 50).await;
    eventually("B's listener hears more of both", || {
        listener.heard_from(speaker.id) >= ear_heard + 15 && listener.heard_from(edge.id) >= 45
    })
    .await;
    let stage = from(&edge, speaker.id, settled);
    assert!(stage.iter().all(|f| *f == 1), "the speaker on B hears the host in single 20 ms frames: {stage:?}");
    for who in [speaker.id, edge.id] {
        let audience = from(&listener, who, settled);
        assert!(
            joined(&audience) * 10 >= audience.len() * 9,
            "B's listener hears {who} in joined packets: {audience:?}"
        );
    }
    // Decoded from the speaker's first packet on.
    let from_edge: Vec<_> = listener.heard().into_iter().filter(|h| h.speaker == Some(edge.id)).collect();
    let hz = frequency(&decode_heard(&from_edge, edge.id));
    assert!((hz - 440.0).abs() <= 5.0, "B's joined packets of the speaker on B decode to 440 Hz, not {hz:.1}");
    assert_eq!(edge.heard_from(edge.id), 0, "the speaker on B does not hear themselves");
}

/// `stoa serve` as one node of the cluster on ports of its own choosing (port 0: no other process can take
/// them between a test's choice and the node's bind); returns once it printed its banner. Its log goes to
/// `<dir>/<name>.log`, whose tail a failing test prints.
fn serve_node(name: &str, database: &str, nats: &str, dir: &std::path::Path) -> Node {
    serve_node_with(name, database, nats, dir, &[])
}

fn serve_node_with(name: &str, database: &str, nats: &str, dir: &std::path::Path, extra: &[&str]) -> Node {
    let data = dir.join(name);
    let log = dir.join(format!("{name}.log"));
    let mut child = Command::new(STOA)
        .args(["serve", "--data"])
        .arg(&data)
        .args(["--database", database, "--nats", nats, "--node-name", name])
        .args(["--http", "127.0.0.1:0", "--media-udp", "127.0.0.1:0"])
        .args(["--media-tcp", "off", "--media-shards", "1"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut metrics) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Stoa is listening on ") {
            url = rest.split_whitespace().next().map(str::to_string);
        } else if let Some(rest) = line.strip_prefix("Metrics (Prometheus) on ") {
            metrics = Some(rest.trim().to_string());
        }
        // The banner ends with the metrics line when there is one.
        if url.is_some() && (metrics.is_some() || !extra.contains(&"--metrics")) {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let node =
        Node { name: name.to_string(), child: Reaped(child), url: url.clone().unwrap_or_default(), metrics, log };
    assert!(url.is_some(), "node {name} stopped before it listened");
    node
}

/// A `stoa serve` node of a test's cluster, killed (-9) when dropped; when dropped by a failing test, it
/// first prints whether it still ran and the end of its log.
struct Node {
    name: String,
    child: Reaped,
    url: String,
    metrics: Option<String>,
    log: std::path::PathBuf,
}

impl Node {
    /// Whether the node still runs (or how it ended), and the end of its log: what a failed test prints.
    fn report(&mut self) -> String {
        let state = match self.child.0.try_wait() {
            Ok(None) => "running".to_string(),
            Ok(Some(status)) => format!("ended: {status}"),
            Err(e) => format!("unknown: {e}"),
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(25)..].join("\n");
        format!("--- node {} ({state}), the end of its log:\n{tail}", self.name)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.report());
        }
    }
}

const STOA: &str = env!("CARGO_BIN_EXE_stoa");

/// Private messages across nodes (in a file of its own: this one is long enough).
#[path = "cluster_push.rs"]
mod push;

/// A club's members-only room on a cluster, played over WHEP.
#[path = "cluster_whep.rs"]
mod whep;

/// Silences of at least a third of a second in a 48 kHz recording, as (start, length) in seconds.
fn silences(samples: &[i16]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut quiet_since = None;
    for (i, window) in samples.chunks(480).enumerate() {
        let loud = window.iter().any(|s| s.unsigned_abs() > 500);
        match (loud, quiet_since) {
            (false, None) => quiet_since = Some(i),
            (true, Some(from)) => {
                if i - from >= 33 {
                    out.push((from as f64 / 100.0, (i - from) as f64 / 100.0));
                }
                quiet_since = None;
            }
            _ => {}
        }
    }
    out
}

fn decode_ogg(path: &std::path::Path) -> Vec<i16> {
    let pcm = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(path)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .unwrap()
        .stdout;
    pcm.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_s_listeners_come_back_within_5_s_and_a_killed_origin_s_room_is_taken_over() {
    let database = stoa_store::test_database().expect("the Postgres pass of the test command sets STOA_TEST_POSTGRES");
    let nats = nats();
    let dir = tempfile::tempdir().unwrap();
    let mut a = Some(serve_node("a", &database, &nats.url, dir.path()));
    let mut b = Some(serve_node("b", &database, &nats.url, dir.path()));
    let c = serve_node("c", &database, &nats.url, dir.path());
    let urls: Vec<String> = [&a, &b].iter().map(|n| n.as_ref().unwrap().url.clone()).chain([c.url.clone()]).collect();

    let store = stoa_store::open(dir.path(), Some(&database)).await.unwrap();
    let bootstrap = store.bootstrap_invite().await.unwrap().unwrap();
    let admin = Api::sign_up(&urls[0], &bootstrap, "operator", "operator-password").await.unwrap();
    let invite = store.create_admin_invite(10).await.unwrap();
    let host = Api::sign_up(&urls[0], &invite, "host", "host-password").await.unwrap();
    let ear_b = Api::sign_up(&urls[0], &invite, "ear_b", "ear-b-password").await.unwrap();
    let ear_c = Api::sign_up(&urls[0], &invite, "ear_c", "ear-c-password").await.unwrap();
    let room = host.post("/api/v1/rooms", json!({"title": "Through failures", "visibility": "open"})).await.unwrap();
    let room = room["id"].as_str().unwrap().to_string();

    // Every node lists the room before anyone joins through it.
    for url in &urls {
        let api = Api::with_token(url, &ear_b.token);
        let deadline = Instant::now() + WAIT;
        while hallway_count(&api, &room).await.is_none() {
            assert!(Instant::now() < deadline, "{url} never listed the room");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let wav = dir.path().join("tone.wav");
    common::write_tone(&wav, 440.0, 4.0);
    let bot = |api: &Api, servers: [usize; 3], args: &[&str]| {
        let servers: Vec<&str> = servers.iter().map(|&i| urls[i].as_str()).collect();
        Command::new(STOA)
            .args(["bot"])
            .args(args)
            .args(["--server", &servers.join(","), "--token", &api.token, "--room", &room, "--transport", "udp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    };
    let _speaker =
        Reaped(bot(&host, [0, 1, 2], &["speak", "--loop", "--seconds", "120", "--file", wav.to_str().unwrap()]));
    let (heard_b, heard_c) = (dir.path().join("b.ogg"), dir.path().join("c.ogg"));
    let listen = |path: &std::path::Path| {
        vec![
            "listen".to_string(),
            "--seconds".into(),
            "40".into(),
            "--json".into(),
            "--out".into(),
            path.display().to_string(),
        ]
    };
    let listen_b: Vec<String> = listen(&heard_b);
    let listen_c: Vec<String> = listen(&heard_c);
    let ear_b_bot = bot(&ear_b, [1, 0, 2], &listen_b.iter().map(String::as_str).collect::<Vec<_>>());
    let ear_c_bot = bot(&ear_c, [2, 1, 0], &listen_c.iter().map(String::as_str).collect::<Vec<_>>());

    // Everyone is in, and all media is on A, the room's owner.
    let admin_on = |i: usize| Api::with_token(&urls[i], &admin.token);
    let all_in = |i: usize| {
        let admin = admin_on(i);
        let room = room.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let health = admin.get("/healthz").await.unwrap_or_default();
                let info = admin.get(&format!("/api/v1/rooms/{room}")).await.unwrap_or_default();
                let host_moderates = info["stage"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|m| m["user"]["username"] == "host" && m["role"] == "moderator"));
                if health["media_peers"] == 3
                    && health["live_rooms"] == 1
                    && info["listener_count"] == 2
                    && host_moderates
                {
                    return Instant::now();
                }
                assert!(Instant::now() < deadline, "not everyone is on node {i}: {health} {info}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    all_in(0).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // kill -9 B: the listener whose socket was on B comes back through another node.
    drop(b.take());
    all_in(0).await;
    tokio::time::sleep(Duration::from_secs(4)).await;

    // kill -9 A, the owner: C takes the room over from the store, and everyone comes back to it.
    drop(a.take());
    let killed_a = Instant::now();
    let back = all_in(2).await;
    eprintln!("after kill -9 of the owner, the room was back on C after {:?}", back - killed_a);

    for (name, child, path, sessions) in [("B", ear_b_bot, &heard_b, 3), ("C", ear_c_bot, &heard_c, 2)] {
        let out = tokio::task::block_in_place(|| child.wait_with_output()).unwrap();
        assert!(out.status.success(), "the listener first on {name} failed");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        eprintln!("listener first on {name}: {report}");
        assert_eq!(report["sessions"], sessions, "the listener first on {name} rejoined after each loss: {report}");
        let samples = decode_ogg(path);
        let tail = &samples[samples.len() - 48_000 * 3..samples.len() - 48_000];
        let hz = frequency(tail);
        assert!((hz - 440.0).abs() < 20.0, "the listener first on {name} hears 440 Hz at the end, not {hz:.0}");
        let gaps = silences(&samples[48_000..]);
        eprintln!("listener first on {name}: silences {gaps:?}");
        // The longest silence is the owner's death (the room came back on C); every other one (B's death,
        // a rejoin's blip) was over within 5 s.
        let longest = gaps.iter().map(|g| g.1).fold(0.0, f64::max);
        assert!(longest > 0.0, "the owner's death left a silence");
        for (_, length) in gaps.iter().filter(|g| g.1 < longest) {
            assert!(*length < 5.0, "the listener first on {name} was back only after {length:.1} s: {gaps:?}");
        }
        assert!(longest < 20.0, "the listener first on {name} heard the room again after {longest:.1} s");
    }
}

/// `stoa bench --server A,B,C --metrics … ARGS` on three new `stoa serve` nodes: its report, once each
/// node's listeners joined and heard.
async fn bench_on_three_nodes(args: &[&str]) -> serde_json::Value {
    let database = stoa_store::test_database().expect("the Postgres pass of the test command sets STOA_TEST_POSTGRES");
    let nats = nats();
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--metrics", "127.0.0.1:0", "--auth-attempts-per-ip", "100000"];
    let nodes: Vec<Node> = ["a", "b", "c"]
        .into_iter()
        .map(|name| serve_node_with(name, &database, &nats.url, dir.path(), &extra))
        .collect();
    let servers: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let metrics: Vec<String> =
        nodes.iter().map(|n| n.metrics.clone().expect("a node started with --metrics")).collect();
    let store = stoa_store::open(dir.path(), Some(&database)).await.unwrap();
    let invite = store.create_admin_invite(100).await.unwrap();
    let out = tokio::task::block_in_place(|| {
        Command::new(STOA)
            .args(["bench", "--server", &servers.join(","), "--metrics", &metrics.join(",")])
            .args(["--invite", &invite, "--listeners", "30", "--speakers", "2", "--seconds", "6"])
            .args(["--join-window", "6", "--json"])
            .args(args)
            .stderr(Stdio::inherit())
            .output()
            .unwrap()
    });
    assert!(out.status.success(), "stoa bench failed");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["joined"], 30, "{report}");
    let nodes_report = report["nodes"].as_array().expect("a report per node");
    assert_eq!(nodes_report.len(), 3, "{report}");
    for node in nodes_report {
        assert_eq!(node["joined"], 10, "a third of the listeners joined through each node: {report}");
        assert!(node["latency_p50_ms"].as_f64().unwrap() > 0.0, "each node's listeners heard: {report}");
    }
    drop(nodes);
    report
}

/// `stoa bench --server A,B,C --metrics …` on three `stoa serve` nodes: the room starts on A, its listeners
/// are spread over the three, and each node's report shows the cascade: A's media peers are its speakers,
/// its third of the listeners and one link per edge, and A sends about what an edge sends rather than the
/// whole audience's packets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bench_spreads_its_listeners_over_the_nodes_and_the_origin_sends_once_per_edge() {
    let report = bench_on_three_nodes(&[]).await;
    let nodes_report = report["nodes"].as_array().unwrap();
    // A: 2 speakers, 10 listeners, a link each for B and C. B and C: their 10 listeners.
    let peers: Vec<f64> = nodes_report.iter().map(|n| n["media_peers"].as_f64().unwrap()).collect();
    assert_eq!(peers, [14.0, 10.0, 10.0], "{report}");
    // Without the cascade A would send to all 30 listeners, three times what an edge sends.
    let pps: Vec<f64> = nodes_report.iter().map(|n| n["pps_out"].as_f64().unwrap()).collect();
    assert!(pps[1] > 0.0 && pps[2] > 0.0, "{report}");
    assert!(pps[0] < 1.6 * pps[1].max(pps[2]), "the origin sends per edge, not per listener: {pps:?}");
}

/// `stoa bench --speakers-through 1`: the speakers' sockets are on B, an edge, and every node's listeners
/// hear them through B's link up to A and back down: the speakers' media peers are on B, A has only its
/// listeners and the two links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bench_s_speakers_on_an_edge_are_heard_on_every_node_through_the_origin() {
    let report = bench_on_three_nodes(&["--speakers-through", "1"]).await;
    assert_eq!(report["speakers_through"], 1, "{report}");
    let peers: Vec<f64> =
        report["nodes"].as_array().unwrap().iter().map(|n| n["media_peers"].as_f64().unwrap()).collect();
    assert_eq!(peers, [12.0, 12.0, 10.0], "{report}");
}
