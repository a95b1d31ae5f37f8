//! The audience beyond the room, with real parts: a speaker's 440 Hz reaches the public listen link (HLS,
//! read by ffmpeg with no account), a clip, an RTMP server (nginx with libnginx-mod-rtmp, read back by
//! ffmpeg), and the replay (played back with a range request); bad targets and requests get clear errors,
//! and a full room offers its listen link.

use crate::common;

use common::{Bot, World, tone_frames};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use stoa_client::Api;
use stoa_proto::ClientCommand;

/// The dominant frequency of audio ffmpeg reads from `input` (a file or a URL), `seconds` of it.
async fn frequency_of(input: &str, seconds: u32) -> f64 {
    let samples = samples_of(input, seconds).await;
    assert!(samples.len() > 48_000, "at least a second of audio: {}", samples.len());
    common::frequency(&samples)
}

/// `seconds` of the audio ffmpeg reads from `input`, as 48 kHz mono samples.
async fn samples_of(input: &str, seconds: u32) -> Vec<i16> {
    let input = input.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("ffmpeg")
            .args(["-loglevel", "error", "-rw_timeout", "15000000", "-i", &input, "-t", &seconds.to_string()])
            .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
            .stdin(Stdio::null())
            .output()
            .expect("ffmpeg is installed (scripts/test installs it)")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "ffmpeg cannot read {}", String::from_utf8_lossy(&out.stderr));
    out.stdout.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

fn near_440(hz: f64) -> bool {
    (hz - 440.0).abs() < 15.0
}

async fn raw(method: reqwest::Method, url: &str, token: Option<&str>, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

use common::send as send_json;

/// Polls `f` until it gives `Some`, for up to `secs`.
async fn until<T, F: std::future::Future<Output = Option<T>>>(what: &str, secs: u64, mut f: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An nginx with the RTMP module, on a free port of this namespace's loopback.
struct Nginx {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start() -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::common::reserved_port(false);
        let d = dir.path().display();
        let conf = format!(
            "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n\
             daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log info;\n\
             events {{}}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
               application live {{ live on; record off; }} }} }}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (scripts/test installs it with libnginx-mod-rtmp)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, port, _dir: dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn speaking_room(w: &World, outputs: Value) -> (Api, String, Bot) {
    let host = w.user("host").await;
    let room =
        host.post("/api/v1/rooms", json!({"title": "Egress", "visibility": "open", "outputs": outputs})).await.unwrap();
    let room = room["id"].as_str().unwrap().to_string();
    let speaker = Bot::join_with(&host, &room, tone_frames(10.0)).await;
    speaker.sending(true);
    (host, room, speaker)
}

#[tokio::test]
async fn a_speakers_440_hz_reaches_the_listen_link_a_clip_an_rtmp_server_and_the_replay() {
    let w = common::world().await;
    let (host, room, mut speaker) =
        speaking_room(&w, json!({"recording": true, "clips": true, "listen_link": true})).await;
    let listener = w.user("listener").await;
    let mut ear = Bot::join(&listener, &room).await;

    // The listen link: no account. The page's facts, then the playlist, which starts the stream.
    let info: Value = raw(reqwest::Method::GET, &format!("{}/api/v1/rooms/{room}/listen", w.base), None, &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["title"], "Egress");
    let playlist_url = format!("{}{}", w.base, info["playlist_url"].as_str().unwrap());
    let playlist = raw(reqwest::Method::GET, &playlist_url, None, &[]).await;
    assert_eq!(playlist.status(), 200);
    assert_eq!(playlist.headers()["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(playlist.headers()["cache-control"], "public, max-age=1");
    let text = playlist.text().await.unwrap();
    assert!(text.starts_with("#EXTM3U") && text.contains("#EXTINF:2.005,"), "{text}");
    let segment = text.lines().rfind(|l| l.ends_with(".aac")).unwrap().to_string();
    let seg = raw(reqwest::Method::GET, &format!("{}/listen/{room}/{segment}", w.base), None, &[]).await;
    assert_eq!(seg.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(seg.bytes().await.unwrap().starts_with(b"ID3"));
    // ffmpeg, as any HLS player, hears the tone.
    let hz = frequency_of(&playlist_url, 4).await;
    assert!(near_440(hz), "HLS carries the speaker's 440 Hz: {hz:.0} Hz");
    // A segment that does not exist is a clear 404.
    let missing = raw(reqwest::Method::GET, &format!("{}/listen/{room}/nope-99999.aac", w.base), None, &[]).await;
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("no such segment"));

    // Low-latency HLS: the playlist lists parts and hints at the next; a blocking reload for the hinted
    // part waits until it is listed, and the part itself is there for the asking.
    let text = raw(reqwest::Method::GET, &playlist_url, None, &[]).await.text().await.unwrap();
    assert!(text.contains("#EXT-X-PART-INF:PART-TARGET=0.512\n"), "{text}");
    assert!(text.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES"), "{text}");
    let hint = text.lines().last().unwrap().split("URI=\"").nth(1).unwrap().trim_end_matches('"').to_string();
    let (seq, part) = hint.trim_end_matches(".aac").split_once('-').unwrap().1.split_once('.').unwrap();
    let blocking = format!("{playlist_url}?_HLS_msn={seq}&_HLS_part={part}");
    let reloaded = raw(reqwest::Method::GET, &blocking, None, &[]).await;
    assert_eq!(reloaded.status(), 200);
    assert_eq!(reloaded.headers()["cache-control"], "public, max-age=6");
    let reloaded = reloaded.text().await.unwrap();
    assert!(reloaded.contains(&format!("URI=\"{hint}\",INDEPENDENT=YES")), "the hinted part is listed: {reloaded}");
    let part_bytes = raw(reqwest::Method::GET, &format!("{}/listen/{room}/{hint}", w.base), None, &[]).await;
    assert_eq!(part_bytes.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(part_bytes.bytes().await.unwrap().starts_with(b"ID3"));
    // The parts of the newest complete segment, each decoded on its own, are the tone.
    let newest = reloaded.lines().rfind(|l| l.ends_with(".aac")).unwrap().trim_end_matches(".aac").to_string();
    let mut pcm = Vec::new();
    for i in 0..4 {
        pcm.extend(samples_of(&format!("{}/listen/{room}/{newest}.{i}.aac", w.base), 1).await);
    }
    assert!(pcm.len() > 80_000, "four parts are about 2 s: {}", pcm.len());
    let hz = common::frequency(&pcm);
    assert!(near_440(hz), "the parts carry the speaker's 440 Hz: {hz:.0} Hz");
    for (query, code) in [
        (format!("_HLS_msn={}", seq.parse::<u64>().unwrap() + 10), "too_far_ahead"),
        ("_HLS_msn=soon".into(), "invalid_query"),
        ("_HLS_part=1".into(), "invalid_query"),
    ] {
        let r = raw(reqwest::Method::GET, &format!("{playlist_url}?{query}"), None, &[]).await;
        assert_eq!(r.status(), 400, "{query}");
        assert!(r.text().await.unwrap().contains(code), "{query}");
    }

    // A clip of the last 30 seconds, by a listener: its own page, its audio public (an open room).
    let (status, clip) =
        send_json(&listener, reqwest::Method::POST, &format!("/api/v1/rooms/{room}/clips"), json!({})).await;
    assert_eq!(status, 201, "{clip}");
    assert_eq!(clip["kind"], "clip");
    let clip_audio = format!("{}{}", w.base, clip["audio_url"].as_str().unwrap());
    let pcm = samples_of(&clip_audio, 31).await;
    assert!(pcm.len() > 5 * 48_000 && pcm.len() <= 30 * 48_000, "up to 30 seconds: {}", pcm.len());
    // The room is younger than 30 s: its last seconds are the tone (what came before it, silence).
    let hz = common::frequency(&pcm[pcm.len() - 4 * 48_000..]);
    assert!(near_440(hz), "the clip ends with the tone: {hz:.0} Hz");
    let (status, again) =
        send_json(&listener, reqwest::Method::POST, &format!("/api/v1/rooms/{room}/clips"), json!({})).await;
    assert_eq!(status, 429, "one clip every ten seconds: {again}");

    // The restream: to a real RTMP server, read back by ffmpeg.
    let nginx = Nginx::start();
    let (status, started) = send_json(
        &host,
        reqwest::Method::POST,
        &format!("/api/v1/rooms/{room}/restream"),
        // By name: the server resolves it, checks it, and has ffmpeg connect to the address it checked.
        json!({"url": format!("rtmp://localhost:{}/live", nginx.port), "stream_key": "secret-key"}),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    assert!(!started.to_string().contains("secret-key"), "the key is never shown: {started}");
    // It is one of the room's outputs: everyone in the room is told, and the moderation log keeps it.
    let restreaming = |on: bool| move |e: &stoa_proto::ServerEvent| matches!(e, stoa_proto::ServerEvent::OutputsChanged { outputs } if outputs.restream == on);
    ear.expect("outputs_changed with the restream on", restreaming(true)).await;
    let logged = until("the restream is in the moderation log", 20, || async {
        let log = host.get(&format!("/api/v1/rooms/{room}/moderation")).await.unwrap();
        log.to_string().contains("restream on").then_some(log)
    })
    .await;
    assert!(logged.to_string().contains("outputs"), "{logged}");
    let live = until("the restream is live", 20, || async {
        let s = host.get(&format!("/api/v1/rooms/{room}/restream")).await.unwrap();
        (s["state"] == "live").then_some(s)
    })
    .await;
    assert_eq!(live["url"], format!("rtmp://localhost:{}/live", nginx.port), "the name as given: {live}");
    let hz = frequency_of(&format!("rtmp://127.0.0.1:{}/live/secret-key", nginx.port), 4).await;
    assert!(near_440(hz), "nginx-rtmp carries the speaker's 440 Hz: {hz:.0} Hz");
    // A listener may not touch it.
    let (status, _) =
        send_json(&listener, reqwest::Method::DELETE, &format!("/api/v1/rooms/{room}/restream"), json!({})).await;
    assert_eq!(status, 403);
    let (status, _) =
        send_json(&host, reqwest::Method::DELETE, &format!("/api/v1/rooms/{room}/restream"), json!({})).await;
    assert_eq!(status, 204);
    ear.expect("outputs_changed with the restream off", restreaming(false)).await;
    let s = host.get(&format!("/api/v1/rooms/{room}/restream")).await.unwrap();
    assert_eq!(s["state"], "off", "{s}");

    // The replay: recording from the start; turned off, it is listed with its length and plays.
    speaker.command(ClientCommand::SetOutputs {
        recording: Some(false),
        clips: None,
        listen_link: None,
        captions: None,
    });
    speaker
        .expect(
            "outputs_changed",
            |e| matches!(e, stoa_proto::ServerEvent::OutputsChanged { outputs } if !outputs.recording),
        )
        .await;
    let replay = until("the replay is finished", 10, || async {
        let list = listener.get(&format!("/api/v1/rooms/{room}/recordings")).await.unwrap();
        list["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == "replay" && r["duration_ms"].is_i64())
            .cloned()
    })
    .await;
    assert!(replay["duration_ms"].as_i64().unwrap() > 5_000, "{replay}");
    assert_eq!(replay["can_delete"], false, "a listener cannot delete it");
    let on_profile = listener.get("/api/v1/users/host/recordings").await.unwrap();
    assert_eq!(on_profile["recordings"][0]["id"], replay["id"]);
    let audio = format!("{}{}", w.base, replay["audio_url"].as_str().unwrap());
    // Seeking: a range request answers that range.
    let part = raw(reqwest::Method::GET, &audio, Some(&listener.token), &[("range", "bytes=0-99")]).await;
    assert_eq!(part.status(), 206);
    assert!(part.headers()["content-range"].to_str().unwrap().starts_with("bytes 0-99/"));
    assert_eq!(part.bytes().await.unwrap().len(), 100);
    let beyond = raw(reqwest::Method::GET, &audio, Some(&listener.token), &[("range", "bytes=99999999-")]).await;
    assert_eq!(beyond.status(), 416);
    // A replay is for those who could see the room: not for someone with no account.
    assert_eq!(raw(reqwest::Method::GET, &audio, None, &[]).await.status(), 404);
    let file = tempfile::NamedTempFile::with_suffix(".opus").unwrap();
    let bytes = raw(reqwest::Method::GET, &audio, Some(&listener.token), &[]).await.bytes().await.unwrap();
    std::fs::write(file.path(), &bytes).unwrap();
    let pcm = samples_of(file.path().to_str().unwrap(), 120).await;
    let ms = replay["duration_ms"].as_i64().unwrap();
    assert!((pcm.len() as i64 * 1000 / 48_000 - ms).abs() < 200, "{} samples for {ms} ms", pcm.len());
    // The replay began with the room, before the speaker's first word: its second half is the tone.
    let hz = common::frequency(&pcm[pcm.len() / 2..]);
    assert!(near_440(hz), "the replay is the tone: {hz:.0} Hz");
    // Its host deletes it; the file and the listing go.
    let (status, _) = send_json(
        &listener,
        reqwest::Method::DELETE,
        &format!("/api/v1/recordings/{}", replay["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(status, 403);
    // An admin's token without the `admin` scope has no admin power: it cannot delete another's replay.
    let (status, made) = send_json(
        &w.admin,
        reqwest::Method::POST,
        "/api/v1/tokens",
        json!({"name": "ops", "scopes": ["rooms:read", "rooms:write"]}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let admins_token = stoa_client::Api::with_token(&w.base, made["token"].as_str().unwrap());
    let (status, _) = send_json(
        &admins_token,
        reqwest::Method::DELETE,
        &format!("/api/v1/recordings/{}", replay["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "an admin's rooms:write token deleted another's replay");
    let (status, _) = send_json(
        &host,
        reqwest::Method::DELETE,
        &format!("/api/v1/recordings/{}", replay["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(raw(reqwest::Method::GET, &audio, Some(&host.token), &[]).await.status(), 404);
    drop(nginx);
}

#[tokio::test]
async fn bad_targets_and_requests_get_clear_errors_and_the_room_goes_on() {
    let w = common::world().await;
    let (host, room, _speaker) = speaking_room(&w, json!({})).await;
    let listener = w.user("listener").await;
    let mut ear = Bot::join(&listener, &room).await;
    let path = format!("/api/v1/rooms/{room}/restream");
    for body in [
        json!({"url": "http://127.0.0.1/live", "stream_key": "k"}),
        json!({"url": "rtmp:///live", "stream_key": "k"}),
        json!({"url": "rtmp://127.0.0.1/live", "stream_key": ""}),
        json!({"url": "rtmp://127.0.0.1/live", "stream_key": "k; rm -rf /"}),
        json!({"url": "rtmp://127.0.0.1/live"}),
    ] {
        let (status, answer) = send_json(&host, reqwest::Method::POST, &path, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    // A server that refuses the connection: the restream fails, and says why.
    let closed = crate::common::reserved_port(false);
    let (status, _) = send_json(
        &host,
        reqwest::Method::POST,
        &path,
        json!({"url": format!("rtmp://127.0.0.1:{closed}/live"), "stream_key": "key"}),
    )
    .await;
    assert_eq!(status, 202);
    let failed = until("the restream fails", 20, || async {
        let s = host.get(&path).await.unwrap();
        (s["state"] == "failed").then_some(s)
    })
    .await;
    assert!(failed["error"].as_str().unwrap().starts_with("could not connect"), "{failed}");
    // The room is told that its restream stopped, and why.
    let stopped =
        ear.expect("restream_stopped", |e| matches!(e, stoa_proto::ServerEvent::RestreamStopped { .. })).await;
    assert!(format!("{stopped:?}").contains("could not connect"), "{stopped:?}");
    // A host that is not public (127.0.0.1 and `localhost` are allowed in this world, `ip6-localhost` and
    // ::1 are not) is refused before ffmpeg starts, with the same words.
    let local = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = local.local_addr().unwrap().port();
    let (status, answer) = send_json(
        &host,
        reqwest::Method::POST,
        &path,
        json!({"url": format!("rtmp://[::1]:{port}/live"), "stream_key": "key"}),
    )
    .await;
    assert_eq!((status, &answer["error"]["code"]), (400, &json!("could_not_connect")), "{answer}");
    local.set_nonblocking(true).unwrap();
    assert!(local.accept().is_err(), "nothing reached the local listener");
    // Clips are off unless the hosts allow them; the listen link is off unless they turn it on.
    let (status, answer) =
        send_json(&listener, reqwest::Method::POST, &format!("/api/v1/rooms/{room}/clips"), json!({})).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "clips_off");
    for url in
        [format!("/api/v1/rooms/{room}/listen"), format!("/listen/{room}/index.m3u8"), "/listen/nope/index.m3u8".into()]
    {
        let r = raw(reqwest::Method::GET, &format!("{}{url}", w.base), None, &[]).await;
        assert_eq!(r.status(), 404, "{url}");
    }
    // A recording that does not exist, and a malformed ID, are the same 404.
    for id in ["AAAAAAAAAAAAAAAA", "../../etc/passwd", "%00"] {
        let r =
            raw(reqwest::Method::GET, &format!("{}/api/v1/recordings/{id}/audio", w.base), Some(&listener.token), &[])
                .await;
        assert_eq!(r.status(), 404, "{id}");
    }
    // A social room cannot have a listen link.
    let (status, answer) = send_json(
        &host,
        reqwest::Method::POST,
        "/api/v1/rooms",
        json!({"title": "Friends", "visibility": "social", "outputs": {"listen_link": true}}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "listen_link_open_only");
    // Through all of it, the room went on: the listener still hears the speaker.
    let before = ear.heard_count();
    common::eventually("the listener still hears", || ear.heard_count() > before + 50).await;
}

#[tokio::test]
async fn a_full_room_offers_its_listen_link_to_a_newcomer() {
    let w = common::world_with(|c| c.room_capacity = 3).await;
    let (_host, room, _speaker) = speaking_room(&w, json!({"listen_link": true})).await;
    let a = w.user("first").await;
    let b = w.user("second").await;
    let _a = Bot::join(&a, &room).await;
    let _b = Bot::join(&b, &room).await;
    let late = w.user("late").await;
    let err = stoa_client::Session::join_with(&late, &room, 3, stoa_client::Transports::UDP).await.err().expect("full");
    let text = format!("{err:#}");
    assert!(text.contains(&format!("/listen/{room}")), "the listen link is offered: {text}");
    // And the room page counts those who listen there.
    let info = late.get(&format!("/api/v1/rooms/{room}")).await.unwrap();
    assert_eq!(info["outputs"]["listen_link"], true);
    assert!(info["public_listeners"].is_u64());
}

#[tokio::test]
async fn a_report_gets_the_rooms_sound_around_it_and_only_admins_hear_it() {
    let w = common::world().await;
    let (_host, room, speaker) = speaking_room(&w, json!({})).await;
    let reporter = w.user("reporter").await;
    let _ear = Bot::join(&reporter, &room).await;
    // A few seconds of the tone before the report.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (status, receipt) = send_json(
        &reporter,
        reqwest::Method::POST,
        &format!("/api/v1/rooms/{room}/reports"),
        json!({"user_id": speaker.id, "reason": "harassment"}),
    )
    .await;
    assert_eq!(status, 201, "{receipt}");
    let report = receipt["id"].as_i64().unwrap();
    let audio = format!("{}/api/v1/admin/reports/{report}/audio", w.base);
    // The window is five minutes either side; the room ending first closes it with what there is.
    tokio::time::sleep(Duration::from_secs(2)).await;
    speaker.command(ClientCommand::EndRoom);
    let bytes = until("the report's audio is attached", 20, || async {
        let r = raw(reqwest::Method::GET, &audio, Some(&w.admin.token), &[]).await;
        if r.status() == 200 { Some(r.bytes().await.unwrap()) } else { None }
    })
    .await;
    let file = tempfile::NamedTempFile::with_suffix(".opus").unwrap();
    std::fs::write(file.path(), &bytes).unwrap();
    let pcm = samples_of(file.path().to_str().unwrap(), 700).await;
    // From five minutes before the report, or the room's start if that is later, to the room's end, a few
    // seconds after the report.
    assert!(pcm.len() > 6 * 48_000 && pcm.len() < 60 * 48_000, "{} samples", pcm.len());
    let hz = common::frequency(&pcm[pcm.len() - 5 * 48_000..]);
    assert!(near_440(hz), "the speaker's tone is in the report's window: {hz:.0} Hz");
    // Nobody else hears it, the reporter included; the recording lists never show it.
    let r = raw(reqwest::Method::GET, &audio, Some(&reporter.token), &[]).await;
    assert_eq!(r.status(), 404);
    let list = reporter.get(&format!("/api/v1/rooms/{room}/recordings")).await.unwrap();
    assert_eq!(list["recordings"].as_array().unwrap().len(), 0, "{list}");
}
