//! The operator's view: `/metrics` in Prometheus' text format on its own listener (and not on the public
//! port), counting a real room's people, media peers, packets, the stage's refusals, latencies and HTTP
//! requests; `/healthz` with the store and the media shards; `/readyz`.

use crate::common;

use common::{Bot, eventually, hears_more, world_with};
use std::collections::HashMap;

/// The samples of an exposition, by name with labels as written (`name{a="b"}`).
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_live_room_and_stay_off_the_public_port() {
    let w = world_with(|c| c.metrics = Some("127.0.0.1:0".parse().unwrap())).await;
    let metrics = format!("http://{}/metrics", w.running.metrics_addr.expect("a metrics listener"));
    let http = stoa_client::tls::http();
    let scrape = || async {
        let resp = http.get(&metrics).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        samples(&resp.text().await.unwrap())
    };
    let before = scrape().await;
    assert_eq!(before["stoa_live_rooms"], 0.0);

    let host_api = w.user("host").await;
    let room = w.room(&host_api).await;
    let host = Bot::join(&host_api, &room).await;
    let sneaky = Bot::join(&w.user("sneaky").await, &room).await;
    let ear = Bot::join(&w.user("ear").await, &room).await;
    host.sending(true);
    sneaky.sending(true);
    eventually("the listener sent 50 packets", || sneaky.sent.lock().unwrap().len() >= 50).await;
    hears_more(&ear, host.id, 25).await;

    // Garbage to the media port is refused and counted.
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..10 {
        junk.send_to(b"definitely not webrtc", w.running.media_addr).unwrap();
    }
    // The shard counts them when it reads them, which may be after this task's next scrape: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let m = loop {
        let m = scrape().await;
        if m["stoa_media_packets_refused_total"] >= 10.0 {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "the garbage, never refused: {m:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(m["stoa_live_rooms"], 1.0);
    assert_eq!(m["stoa_participants{role=\"moderator\"}"], 1.0);
    assert_eq!(m["stoa_participants{role=\"listener\"}"], 2.0);
    assert_eq!(m["stoa_media_peers{transport=\"udp\"}"], 3.0);
    assert!(m["stoa_media_packets_received_total"] > 100.0, "{m:?}");
    assert!(m["stoa_media_packets_sent_total"] >= 25.0, "{m:?}");
    assert!(m["stoa_media_bytes_sent_total"] > m["stoa_media_packets_sent_total"], "{m:?}");
    assert!(m["stoa_media_audience_packets_refused_total"] >= 25.0, "the listener's audio, refused: {m:?}");
    assert!(m["stoa_media_forward_seconds_count"] >= 25.0, "{m:?}");
    assert_eq!(m["stoa_media_forward_seconds_bucket{le=\"+Inf\"}"], m["stoa_media_forward_seconds_count"]);
    assert_eq!(m["stoa_join_seconds_count"], 3.0, "three media connections came up: {m:?}");
    assert_eq!(m["stoa_http_requests_total{route=\"/api/v1/rooms\",status=\"201\"}"], 1.0, "{m:?}");
    assert!(m["stoa_http_requests_total{route=\"/api/v1/rooms/{id}/ws\",status=\"101\"}"] >= 3.0, "{m:?}");
    assert!(m["process_resident_memory_bytes"] > 1e6 && m.contains_key("process_cpu_seconds_total"));

    // The public port has no metrics.
    let public = http.get(format!("{}/metrics", w.base)).send().await.unwrap().text().await.unwrap();
    assert!(!public.contains("stoa_live_rooms"), "metrics are not on the public port");

    // Health: whole, with details for the admin only; ready.
    let health = w.health().await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["store"], "ok");
    assert_eq!(health["media_shards"], health["media_shards_running"]);
    let anonymous: serde_json::Value =
        http.get(format!("{}/healthz", w.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(anonymous, serde_json::json!({"status": "ok"}), "nothing but the status for strangers");
    let ready = http.get(format!("{}/readyz", w.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"ready": true}));
    drop((host, sneaky, ear));
}
