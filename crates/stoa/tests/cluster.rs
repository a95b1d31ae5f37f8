//! Three nodes of a cluster on one Postgres and a real `nats-server` (Debian's, started here): a room runs
//! on node A, and people whose WebSockets are on B and C are in it as if they were on A. They hear A's
//! speaker at 440 Hz, one of them is invited up from C and heard by the others, every node's hallway shows
//! the room with the whole audience, a removal holds on every node, and a message not signed with the
//! cluster's key is refused. Runs in the test command's Postgres pass (STOA_TEST_POSTGRES).

mod common;

use common::{Bot, WAIT, decode_heard, eventually, frequency, tone_frames};
use serde_json::json;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use stoa_client::Api;
use stoa_proto::{ClientCommand, ServerEvent, UserId};
use stoa_server::{Running, ServerConfig};

/// A `nats-server` on a free loopback port, killed when dropped.
struct Nats {
    child: Child,
    url: String,
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nats() -> Nats {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
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
    Nats { child, url: format!("nats://127.0.0.1:{port}") }
}

async fn node(name: &str, database: &str, nats: &str, dir: &std::path::Path) -> Running {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let config = ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        data,
        database: Some(database.to_string()),
        auth_attempts_per_ip: 10_000,
        auth_attempts_per_user: 10_000,
        media_shards: 2,
        cluster: Some(stoa_server::cluster::ClusterConfig { nats: nats.to_string(), node: name.to_string() }),
        ..ServerConfig::default()
    };
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
    for name in ["host", "bea", "cyd", "dee"] {
        people.push(Api::sign_up(&base_a, &invite, name, &format!("{name}-password")).await.unwrap());
    }
    let [host, bea, cyd, dee]: [Api; 4] = people.try_into().unwrap();

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

    // The room starts on A, and its host speaks there.
    let room = host.post("/api/v1/rooms", json!({"title": "Across nodes", "visibility": "open"})).await.unwrap();
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

    // The host invites the listener on C up; A's and B's people hear them.
    speaker.bring_on_stage(&mut listener_c).await;
    listener_c.sending(true);
    eventually("the listener on B hears the speaker from C", || listener_b.heard_from(listener_c.id) >= 100).await;
    eventually("A's host hears the speaker from C", || speaker.heard_from(listener_c.id) >= 100).await;
    // Decoded from the new speaker's first packet on (what came before is the host alone).
    let from_c: Vec<_> = listener_b.heard().into_iter().filter(|h| h.speaker == Some(listener_c.id)).collect();
    let hz = frequency(&decode_heard(&from_c, listener_c.id));
    assert!((hz - 440.0).abs() <= 5.0, "the speaker from C is heard at 440 Hz on B, not {hz:.1}");

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
    assert!(hallway_count(&via(&bea, &c), &room).await.is_some(), "the room still runs");
    let before = listener_b.heard_from(speaker.id);
    eventually("the room still carries its speaker", || listener_b.heard_from(speaker.id) > before + 50).await;
}
