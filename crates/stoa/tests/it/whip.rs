//! WHIP and WHEP with independent clients: GStreamer's webrtcbin (tests/gstreamer/whip.py; Debian
//! bookworm's `simple-whip-client` aborts at start, see there) publishes a 440 Hz tone into a room as its
//! host, and a listener bot hears it; aiortc plays the room's
//! mix over WHEP, with a token and, for a room whose listen link is on, without one. Bad offers, missing
//! tokens and listeners who are not on stage get clear errors, and the room goes on.

use crate::common;

use common::Bot;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use stoa_client::Api;
use stoa_proto::ClientCommand;

fn aiortc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/aiortc")
}

async fn pat(api: &Api, scopes: &[&str]) -> String {
    let made = api.post("/api/v1/tokens", json!({"name": "whip", "scopes": scopes})).await.unwrap();
    made["token"].as_str().unwrap().to_string()
}

async fn post_sdp(url: &str, token: Option<&str>, content_type: &str, body: &str) -> (u16, String) {
    let mut req = reqwest::Client::new().post(url).header("content-type", content_type).body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn whep(url: &str, token: Option<&str>) -> Value {
    let python = aiortc_dir().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/test, which installs it", python.display());
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(aiortc_dir().join("whep.py")).args(["--url", url, "--seconds", "2", "--loopback"]);
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.kill_on_drop(true).output())
        .await
        .expect("whep.py finishes within a minute")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "whep.py failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("one JSON line")
}

#[tokio::test]
async fn gstreamer_webrtcbin_publishes_a_tone_over_whip_that_the_room_hears() {
    let w = common::world().await;
    let host = w.user("host").await;
    let room = w.room(&host).await;
    let listener = w.user("listener").await;
    let ear = Bot::join(&listener, &room).await;
    let token = pat(&host, &["speak"]).await;
    let url = format!("{}/api/v1/rooms/{room}/whip", w.base);
    let host_id = host.get("/api/v1/me").await.unwrap()["id"].as_u64().unwrap() as u32;
    let r = gstreamer_whip(&url, &token, &["--seconds", "8"]).await;
    assert_eq!(r["status"], 201, "{r}");
    assert_eq!(r["content_type"], "application/sdp", "{r}");
    assert!(r["location"].as_str().unwrap().starts_with(&format!("/api/v1/rooms/{room}/whip/")), "{r}");
    assert_eq!(r["deleted"], 200, "{r}");
    assert!(
        ear.heard_from(host_id) > 150,
        "the room heard the WHIP publisher: {} packets; {r}",
        ear.heard_from(host_id)
    );
    let pcm = common::decode_heard(&ear.heard(), host_id);
    let hz = common::frequency(&pcm[pcm.len() / 4..]);
    assert!((hz - 440.0).abs() < 15.0, "the listener hears the WHIP publisher's 440 Hz: {hz:.0}");
}

/// Runs tests/gstreamer/whip.py with `args` and returns its JSON line.
async fn gstreamer_whip(url: &str, token: &str, args: &[&str]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/gstreamer/whip.py");
    let publisher = tokio::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .args(["--url", url, "--token", token, "--hz", "440", "--loopback"])
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), publisher)
        .await
        .expect("the publisher finishes within a minute")
        .expect("python3 with GStreamer's bindings runs (scripts/test installs them)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "whip.py failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("one JSON line")
}

#[tokio::test]
async fn a_whip_publisher_that_vanishes_without_a_delete_has_its_session_ended() {
    let w = common::world().await;
    let host = w.user("host").await;
    let room = w.room(&host).await;
    let token = pat(&host, &["speak"]).await;
    let url = format!("{}/api/v1/rooms/{room}/whip", w.base);
    // It publishes for 3 s and is gone, as OBS is when it crashes or its network drops: no DELETE.
    let r = gstreamer_whip(&url, &token, &["--seconds", "3", "--no-delete", "--ecdsa"]).await;
    assert_eq!(r["status"], 201, "{r}");
    assert_eq!(r["deleted"], Value::Null, "{r}");
    let session = format!("{}{}", w.base, r["location"].as_str().unwrap());
    let trickle = || async {
        reqwest::Client::new()
            .patch(&session)
            .bearer_auth(&token)
            .header("content-type", "application/trickle-ice-sdpfrag")
            .body("a=end-of-candidates\r\n")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    // The session was there when the publisher left...
    assert_eq!(trickle().await, 204);
    // ...and ends once the media server sees its ICE stop, without anyone deleting it.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let status = trickle().await;
        if status == 404 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the WHIP session outlived its media: {status}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The host can publish again at once, on a new session.
    let r = gstreamer_whip(&url, &token, &["--seconds", "1", "--ecdsa"]).await;
    assert_eq!(r["status"], 201, "{r}");
    assert_eq!(r["deleted"], 200, "{r}");
}

#[tokio::test]
async fn aiortc_plays_the_rooms_mix_over_whep_with_a_token_and_on_a_public_link_without() {
    let w = common::world().await;
    let host = w.user("host").await;
    let made = host
        .post("/api/v1/rooms", json!({"title": "WHEP", "visibility": "open", "outputs": {"listen_link": false}}))
        .await
        .unwrap();
    let room = made["id"].as_str().unwrap().to_string();
    let mut speaker = Bot::join_with(&host, &room, common::tone_frames(10.0)).await;
    speaker.sending(true);
    let fan = w.user("fan").await;
    let listen = pat(&fan, &["listen"]).await;
    let url = format!("{}/api/v1/rooms/{room}/whep", w.base);
    let r = whep(&url, Some(&listen)).await;
    assert_eq!(r["status"], 201, "{r}");
    assert_eq!(r["content_type"], "application/sdp", "{r}");
    assert_eq!(r["connected"], true, "{r}");
    assert!(r["frames"].as_u64().unwrap() >= 50, "{r}");
    assert!((r["hz"].as_f64().unwrap() - 440.0).abs() < 10.0, "the mix over WHEP is the tone: {r}");
    assert_eq!(r["deleted"], 200, "{r}");
    // Without a token, a room without its listen link is not there.
    let r = whep(&url, None).await;
    assert_eq!(r["status"], 404, "{r}");
    // With its listen link on, anyone may play it.
    speaker.command(stoa_proto::ClientCommand::SetOutputs {
        recording: None,
        clips: None,
        listen_link: Some(true),
        captions: None,
    });
    let listen_link_on = |e: &stoa_proto::ServerEvent| matches!(e, stoa_proto::ServerEvent::OutputsChanged { outputs } if outputs.listen_link);
    speaker.expect("outputs_changed with the listen link on", listen_link_on).await;
    let r = whep(&url, None).await;
    assert_eq!(r["status"], 201, "{r}");
    assert!((r["hz"].as_f64().unwrap() - 440.0).abs() < 10.0, "{r}");
}

#[tokio::test]
async fn bad_offers_missing_tokens_and_listeners_get_clear_errors() {
    let w = common::world().await;
    let host = w.user("host").await;
    let room = w.room(&host).await;
    let speaker = Bot::join_with(&host, &room, common::tone_frames(10.0)).await;
    speaker.sending(true);
    let listener = w.user("listener").await;
    let ear = Bot::join(&listener, &room).await;
    let whip = format!("{}/api/v1/rooms/{room}/whip", w.base);
    let host_pat = pat(&host, &["speak"]).await;
    let audio = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=sendonly\r\n";
    let video = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
    let pcmu =
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n";
    for (token, ctype, body, status, code) in [
        (None, "application/sdp", audio, 401, "unauthorized"),
        (Some(host_pat.as_str()), "text/plain", audio, 415, "unsupported_media_type"),
        (Some(host_pat.as_str()), "application/sdp", "hello", 400, "invalid_sdp"),
        (Some(host_pat.as_str()), "application/sdp", video, 400, "no_audio"),
        (Some(host_pat.as_str()), "application/sdp", pcmu, 400, "no_opus"),
        (Some(listener.token.as_str()), "application/sdp", audio, 403, "not_on_stage"),
    ] {
        let (got, body) = post_sdp(&whip, token, ctype, body).await;
        assert_eq!(got, status, "{code}: {body}");
        assert!(body.contains(code), "{code}: {body}");
    }
    // A token that may only listen cannot publish, and one that may only speak cannot listen: RFC 6750's
    // 403 and challenge, never a 404 that would say the room is not there.
    let listen_only = pat(&host, &["listen"]).await;
    let speak_only = pat(&host, &["speak"]).await;
    let whep = format!("{}/api/v1/rooms/{room}/whep", w.base);
    for (url, token) in [(&whip, &listen_only), (&whep, &speak_only)] {
        let resp = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/sdp")
            .body(audio)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{url}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer error=\"insufficient_scope\"", "{url}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("insufficient_scope"), "{body}");
    }
    // A room that does not exist, or a closed one the caller is not invited to, is the same 404.
    let closed =
        host.post("/api/v1/rooms", json!({"title": "Closed", "visibility": "closed", "invited": []})).await.unwrap();
    let outsider = w.user("outsider").await;
    for room in ["nosuchroom12", closed["id"].as_str().unwrap()] {
        let (got, body) =
            post_sdp(&format!("{}/api/v1/rooms/{room}/whep", w.base), Some(&outsider.token), "application/sdp", audio)
                .await;
        assert_eq!(got, 404, "{room}: {body}");
    }
    // Sessions that do not exist.
    let r = reqwest::Client::new().delete(format!("{whip}/nosuchsession")).bearer_auth(&host_pat).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // The room went on through all of it.
    let before = ear.heard_count();
    common::eventually("the listener still hears", || ear.heard_count() > before + 50).await;
}

/// Whether the server still holds the WHEP session at `url`: a trickle PATCH answers 204 for a session it
/// holds and 404 for one that ended.
pub(crate) async fn session_known(url: &str, token: Option<&str>) -> bool {
    let mut req = reqwest::Client::new().patch(url).header("content-type", "application/trickle-ice-sdpfrag");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.body("a=ice-ufrag:x").send().await.unwrap().status().as_u16() == 204
}

/// A real WebRTC offer to listen (str0m's, as the Rust client makes them); its ICE never completes, so the
/// session it opens lasts until the server ends it.
fn listening_offer() -> String {
    let mut rtc = stoa_client::session::rtc_config().build(std::time::Instant::now());
    let mut sdp = rtc.sdp_api();
    sdp.add_media(str0m::media::MediaKind::Audio, str0m::media::Direction::RecvOnly, None, None, None);
    let (offer, _pending) = sdp.apply().unwrap();
    offer.to_sdp_string()
}

#[tokio::test]
async fn whep_sessions_are_capped_per_account_and_end_when_their_token_is_revoked() {
    let w = common::world().await;
    let host = w.user("host").await;
    let room = w.room(&host).await;
    let listener = w.user("listener").await;
    let made = listener.post("/api/v1/tokens", json!({"name": "player", "scopes": ["listen"]})).await.unwrap();
    let (token, id) = (made["token"].as_str().unwrap().to_string(), made["info"]["id"].as_i64().unwrap());
    let url = format!("{}/api/v1/rooms/{room}/whep", w.base);
    let offer = |token: String| {
        let url = url.clone();
        async move {
            let resp = reqwest::Client::new()
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/sdp")
                .body(listening_offer())
                .send()
                .await
                .unwrap();
            let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_string());
            (resp.status().as_u16(), location, resp.text().await.unwrap())
        }
    };
    // Offers at once, from the token and the session: four sessions for the account, the rest refused.
    let answers = futures_util::future::join_all(
        (0..6).map(|i| offer(if i % 2 == 0 { token.clone() } else { listener.token.clone() })),
    )
    .await;
    let created: Vec<&(u16, Option<String>, String)> = answers.iter().filter(|(s, _, _)| *s == 201).collect();
    assert_eq!(created.len(), 4, "{answers:?}");
    for (status, _, body) in answers.iter().filter(|(s, _, _)| *s != 201) {
        assert_eq!(*status, 429, "{body}");
        assert!(body.contains("too_many_sessions"), "{body}");
    }
    // Revoking the token ends its sessions: theirs are gone, the session's stay.
    let revoked = reqwest::Client::new()
        .delete(format!("{}/api/v1/tokens/{id}", w.base))
        .bearer_auth(&listener.token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    // At least one of the four was the token's (three of the six offers were the session's).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = offer(listener.token.clone()).await;
        if status == 201 {
            break;
        }
        assert_eq!(status, 429, "{body}");
        assert!(std::time::Instant::now() < deadline, "the revoked token's WHEP sessions never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Removed from the room by a moderator, the listener loses it: every WHEP session of theirs ends.
    let mut theirs: Vec<String> = answers.iter().skip(1).step_by(2).filter_map(|(_, l, _)| l.clone()).collect();
    let me = listener.get("/api/v1/me").await.unwrap()["id"].as_i64().unwrap();
    let _ear = Bot::join(&listener, &room).await;
    let moderator = Bot::join(&host, &room).await;
    moderator.command(ClientCommand::Remove { user_id: stoa_proto::UserId(me) });
    theirs.retain(|l| !l.is_empty());
    assert!(!theirs.is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for location in theirs {
        while session_known(&format!("{}{location}", w.base), Some(&listener.token)).await {
            assert!(std::time::Instant::now() < deadline, "a removed listener's WHEP session lives on: {location}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn a_player_without_an_account_loses_the_room_when_its_listen_link_is_turned_off() {
    let w = common::world().await;
    let host = w.user("host").await;
    let made = host
        .post("/api/v1/rooms", json!({"title": "Public", "visibility": "open", "outputs": {"listen_link": true}}))
        .await
        .unwrap();
    let room = made["id"].as_str().unwrap().to_string();
    let moderator = Bot::join(&host, &room).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/rooms/{room}/whep", w.base))
        .header("content-type", "application/sdp")
        .body(listening_offer())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "a player without an account may listen while the link is on");
    let location = format!("{}{}", w.base, resp.headers()["location"].to_str().unwrap());
    let known = || session_known(&location, None);
    assert!(known().await);
    moderator.command(ClientCommand::SetOutputs {
        recording: None,
        clips: None,
        listen_link: Some(false),
        captions: None,
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while known().await {
        assert!(std::time::Instant::now() < deadline, "the player kept the room after its link went off");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A members-only room of the club `circle` that `owner` makes, with `member` in the club and playing the
/// room over WHEP at `base` (the room's node): the room's moderator (keeping it live), its ID, the
/// member's `listen` token and the player's session URL.
pub(crate) async fn a_members_only_player(owner: &Api, member: &Api, base: &str) -> (Bot, String, String, String) {
    owner.post("/api/v1/clubs", json!({"handle": "circle", "name": "Circle", "policy": "open"})).await.unwrap();
    member.post("/api/v1/clubs/circle/join", json!({})).await.unwrap();
    let made = owner
        .post("/api/v1/rooms", json!({"title": "Members only", "visibility": "closed", "club": "circle"}))
        .await
        .unwrap();
    let room = made["id"].as_str().unwrap().to_string();
    let moderator = Bot::join(owner, &room).await;
    let token = pat(member, &["listen"]).await;
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/rooms/{room}/whep"))
        .bearer_auth(&token)
        .header("content-type", "application/sdp")
        .body(listening_offer())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "a member may play the members-only room");
    let location = format!("{base}{}", resp.headers()["location"].to_str().unwrap());
    assert!(session_known(&location, Some(&token)).await);
    (moderator, room, token, location)
}

/// A member removed from a club loses its members-only room everywhere, a WHEP player of theirs included:
/// the room's own snapshot does not change for someone who only plays it, so the club's removal ends it.
#[tokio::test]
async fn a_member_removed_from_the_club_loses_their_whep_player_in_its_members_only_room() {
    let w = common::world().await;
    let owner = w.user("owner").await;
    let member = w.user("member").await;
    let (_moderator, room, token, location) = a_members_only_player(&owner, &member, &w.base).await;
    let url = format!("{}/api/v1/rooms/{room}/whep", w.base);
    let resp = reqwest::Client::new()
        .delete(format!("{}/api/v1/clubs/circle/members/member", w.base))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while session_known(&location, Some(&token)).await {
        assert!(std::time::Instant::now() < deadline, "a removed member's WHEP player kept the members-only room");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = post_sdp(&url, Some(&token), "application/sdp", &listening_offer()).await;
    assert_eq!(status, 404, "and cannot play it again");
}
