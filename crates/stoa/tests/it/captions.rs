//! Live captions (issue 33 §1) through a real recognizer behind the real interface: Debian's pocketsphinx,
//! wrapped as an OpenAI-compatible transcription server (`crates/live/src/captions/transcribe.py`), hears what a bot
//! speaks from espeak-ng, and the room sends the words as `caption` events naming the speaker.

use crate::common::{self, Bot};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use stoa_client::audio;
use stoa_proto::{ClientCommand, ServerEvent, UserId};
use stoa_server::ServerConfig;

/// The transcription server, stopped when dropped.
struct Engine {
    child: Child,
    url: String,
}

impl Engine {
    fn start(vocabulary: &str) -> Engine {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../live/src/captions/transcribe.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args(["--vocabulary", vocabulary])
            .stdout(Stdio::piped())
            .spawn()
            .expect("Debian's python3 runs the transcription server (scripts/test installs python3-pocketsphinx)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.split_whitespace().last().expect("the server says where it listens").to_string();
        Engine { child, url: format!("{base}/v1/audio/transcriptions") }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` as espeak-ng says it, then `pause` seconds of silence (a second ends an utterance), as 20 ms Opus
/// frames: a bot sending them in a loop says it again and again.
fn spoken_with(text: &str, pause: f32, dir: &Path) -> Vec<audio::Frame> {
    let wav = dir.join("said.wav");
    let status = Command::new("espeak-ng").args(["-v", "en-us", "-w"]).arg(&wav).arg(text).status();
    assert!(status.is_ok_and(|s| s.success()), "espeak-ng speaks (scripts/test installs it)");
    let mut pcm = audio::load_wav(&wav).unwrap();
    pcm.extend(std::iter::repeat_n(0, (48_000.0 * pause) as usize));
    audio::encode(&pcm).unwrap()
}

fn spoken(text: &str, dir: &Path) -> Vec<audio::Frame> {
    spoken_with(text, 1.0, dir)
}

/// A server that `tune` sets up for captions, an open room on it held live by its host's moderator bot,
/// and a folder for what the speakers say.
async fn captioned_room(tune: impl FnOnce(&mut ServerConfig)) -> (common::World, String, Bot, tempfile::TempDir) {
    let w = common::world_with(tune).await;
    let host = w.user("host").await;
    let room = w.room(&host).await;
    let moderator = Bot::join(&host, &room).await;
    (w, room, moderator, tempfile::tempdir().unwrap())
}

const SAID: &str = "green square blue triangle";

/// A listener who turns captions on gets what the speaker says, as words naming the speaker; a listener
/// who did not gets no caption at all; turned off, they stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speakers_words_come_as_captions_naming_them_to_those_who_turned_captions_on() {
    let engine = Engine::start("shapes");
    let (w, room, mut moderator, dir) = captioned_room(|c| {
        c.captions_url = Some(engine.url.clone());
        c.metrics = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let mut speaker = Bot::join_with(&w.user("speaker").await, &room, spoken(SAID, dir.path())).await;
    moderator.bring_on_stage(&mut speaker).await;
    let mut reader = Bot::join(&w.user("reader").await, &room).await;
    let mut other = Bot::join(&w.user("other").await, &room).await;
    reader.command(ClientCommand::SetCaptions { on: true });
    speaker.sending(true);
    let caption = reader.expect("caption", |e| matches!(e, ServerEvent::Caption { .. })).await;
    let ServerEvent::Caption { speaker: who, text, start_ms, end_ms, is_final } = caption else { unreachable!() };
    assert_eq!(who, UserId(i64::from(speaker.id)), "the caption names who said it");
    eprintln!("caption: {text:?}, {} ms", end_ms - start_ms);
    let heard: Vec<&str> = text.split_whitespace().collect();
    let right = SAID.split_whitespace().filter(|w| heard.contains(w)).count();
    assert!(right >= 3, "the words said, as the engine heard them: {text:?}");
    assert!(
        is_final && start_ms < end_ms && end_ms - start_ms < 8_000,
        "a final line with its time: {start_ms}..{end_ms}"
    );
    assert!(
        !other.events_so_far().iter().any(|e| matches!(e, ServerEvent::Caption { .. })),
        "nobody gets captions without turning them on"
    );
    // The operator sees what the engine did.
    let metrics = format!("http://{}/metrics", w.running.metrics_addr.unwrap());
    let text = reqwest::get(metrics).await.unwrap().text().await.unwrap();
    let count = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    assert!(count("stoa_captions_transcribed_total ") >= 1, "a transcribed line is counted");
    assert_eq!(count("stoa_captions_failed_total "), 0);
    // Off again: the next lines do not come.
    reader.command(ClientCommand::SetCaptions { on: false });
    reader.command(ClientCommand::Ping);
    reader.expect("pong", |e| matches!(e, ServerEvent::Pong)).await;
    other.command(ClientCommand::SetCaptions { on: true });
    other.expect("caption", |e| matches!(e, ServerEvent::Caption { .. })).await;
    assert!(
        !reader.events_so_far().iter().any(|e| matches!(e, ServerEvent::Caption { .. })),
        "captions turned off stop coming"
    );
}

/// A server without a caption engine says so when captions are asked for.
#[tokio::test]
async fn without_an_engine_asking_for_captions_gets_a_clear_error() {
    let w = common::world().await;
    let host = w.user("host").await;
    let room = w.room(&host).await;
    let mut bot = Bot::join(&host, &room).await;
    bot.command(ClientCommand::SetCaptions { on: true });
    let error = bot.expect("error", |e| matches!(e, ServerEvent::Error { .. })).await;
    assert!(matches!(error, ServerEvent::Error { code, .. } if code == "no_captions"));
}

/// The next event, whatever it is.
async fn next(bot: &mut Bot) -> ServerEvent {
    bot.expect("any", |_| true).await
}

/// A speaker moved to the audience mid-sentence: what they said since their last pause is dropped, so the
/// first caption is the next speaker's. Then the moderators turn captions off: they stop for everyone, and
/// asking for them gets a clear error, until they are allowed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speaker_moved_mid_sentence_is_not_transcribed_and_moderators_can_turn_captions_off() {
    // The general model: it finds words in any speech, where the shapes grammar may find none in half a
    // sentence, and this test is about whose words come, not which.
    let engine = Engine::start("general");
    let (w, room, mut moderator, dir) = captioned_room(|c| c.captions_url = Some(engine.url.clone())).await;
    // Talking without a pause: no line of theirs ends before 8 s.
    let endless = spoken_with(&[SAID; 4].join(" "), 0.0, dir.path());
    let mut first = Bot::join_with(&w.user("first").await, &room, endless).await;
    let mut second = Bot::join_with(&w.user("second").await, &room, spoken("red circle", dir.path())).await;
    let mut reader = Bot::join(&w.user("reader").await, &room).await;
    reader.command(ClientCommand::SetCaptions { on: true });
    moderator.bring_on_stage(&mut first).await;
    first.sending(true);
    common::eventually("the reader hears a second of the first speaker", || reader.heard_from(first.id) >= 50).await;
    // A line the first speaker finished before the move (a busy machine can stall their sender long enough
    // to make a pause) is theirs to keep; it ended on the server's clock before the move was sent. The line
    // in progress at the move would end at the move, after this instant less the egress's 60 ms delay.
    let moved_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    moderator.command(ClientCommand::MoveToAudience { user_id: UserId(i64::from(first.id)) });
    moderator.bring_on_stage(&mut second).await;
    second.sending(true);
    let first_id = UserId(i64::from(first.id));
    let (speaker, text) = loop {
        let caption = reader.expect("caption", |e| matches!(e, ServerEvent::Caption { .. })).await;
        let ServerEvent::Caption { speaker, text, end_ms, .. } = caption else { unreachable!() };
        if speaker == first_id && end_ms + 60 < moved_at {
            eprintln!("the first speaker finished {text:?} {} ms before the move", moved_at - end_ms);
            continue;
        }
        break (speaker, text);
    };
    assert_eq!(speaker, UserId(i64::from(second.id)), "the moved speaker's unfinished words were dropped: {text:?}");

    // The moderators turn captions off.
    let off = ClientCommand::SetOutputs { recording: None, clips: None, listen_link: None, captions: Some(false) };
    moderator.command(off);
    loop {
        if let ServerEvent::OutputsChanged { outputs } = next(&mut reader).await
            && !outputs.captions
        {
            break;
        }
    }
    // A line already on its way (the personal queue) may come after the broadcast; a ping's answer, in
    // that same queue, comes after it.
    reader.command(ClientCommand::Ping);
    reader.expect("pong", |e| matches!(e, ServerEvent::Pong)).await;
    reader.command(ClientCommand::SetCaptions { on: true });
    loop {
        match next(&mut reader).await {
            ServerEvent::Caption { .. } => panic!("a caption came after the moderators turned captions off"),
            ServerEvent::Error { code, .. } if code == "captions_off" => break,
            _ => {}
        }
    }
    // Allowed again, they come again to whoever asks.
    let on = ClientCommand::SetOutputs { recording: None, clips: None, listen_link: None, captions: Some(true) };
    moderator.command(on);
    reader
        .expect("outputs_changed", |e| matches!(e, ServerEvent::OutputsChanged { outputs } if outputs.captions))
        .await;
    reader.command(ClientCommand::SetCaptions { on: true });
    reader.expect("caption", |e| matches!(e, ServerEvent::Caption { .. })).await;
}

/// The listen link carries captions as WebVTT subtitles beside its audio: the room's listen page names a
/// multivariant playlist with a subtitle rendition, whose segments come to hold what the speaker said,
/// under their name, on the audio's clock; with captions turned off by the moderators, there is none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listen_link_carries_the_captions_as_webvtt_subtitles() {
    let engine = Engine::start("shapes");
    let (w, room, mut moderator, dir) = captioned_room(|c| c.captions_url = Some(engine.url.clone())).await;
    moderator.command(ClientCommand::SetOutputs {
        recording: None,
        clips: None,
        listen_link: Some(true),
        captions: None,
    });
    moderator
        .expect("outputs_changed", |e| matches!(e, ServerEvent::OutputsChanged { outputs } if outputs.listen_link))
        .await;
    let mut speaker = Bot::join_with(&w.user("speaker").await, &room, spoken(SAID, dir.path())).await;
    moderator.bring_on_stage(&mut speaker).await;
    speaker.sending(true);

    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", w.base);
        async move { http.get(url).send().await.unwrap() }
    };
    let info: serde_json::Value = get(format!("/api/v1/rooms/{room}/listen")).await.json().await.unwrap();
    assert_eq!(info["captions_url"], format!("/listen/{room}/main.m3u8"));
    let main = get(format!("/listen/{room}/main.m3u8")).await.text().await.unwrap();
    assert!(
        main.contains("TYPE=SUBTITLES") && main.contains("URI=\"subs.m3u8\"") && main.contains("\nindex.m3u8\n"),
        "{main}"
    );

    // A player: the audio's playlist (which starts the stream), then the subtitles' segments.
    let deadline = std::time::Instant::now() + common::WAIT;
    let cue = loop {
        assert!(std::time::Instant::now() < deadline, "no caption reached the listen link's subtitles");
        let _ = get(format!("/listen/{room}/index.m3u8")).await;
        let subs = get(format!("/listen/{room}/subs.m3u8")).await;
        if subs.status() == 200 {
            let list = subs.text().await.unwrap();
            let mut found = None;
            for name in list.lines().filter(|l| l.ends_with(".vtt")) {
                let vtt = get(format!("/listen/{room}/{name}")).await;
                assert_eq!(vtt.headers()["content-type"], "text/vtt; charset=utf-8");
                let text = vtt.text().await.unwrap();
                assert!(text.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n"), "{text}");
                if text.contains("square blue") {
                    found = Some(text);
                }
            }
            if let Some(text) = found {
                break text;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert!(cue.contains(" --> ") && cue.contains("speaker: "), "a timed cue under the speaker's name: {cue}");

    // Captions off: the listen link has none.
    let off = ClientCommand::SetOutputs { recording: None, clips: None, listen_link: None, captions: Some(false) };
    moderator.command(off);
    moderator
        .expect("outputs_changed", |e| matches!(e, ServerEvent::OutputsChanged { outputs } if !outputs.captions))
        .await;
    assert_eq!(get(format!("/listen/{room}/main.m3u8")).await.status(), 404);
    let info: serde_json::Value = get(format!("/api/v1/rooms/{room}/listen")).await.json().await.unwrap();
    assert!(info.get("captions_url").is_none(), "{info}");
}

/// Without an engine of the operator's, `--captions-local` runs Debian's pocketsphinx as a child process:
/// a speaker's words come as captions naming them (what words, at its accuracy, is not the point), and the
/// listen page is told they are of low accuracy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_engine_captions_a_speaker_and_is_labelled_low_accuracy() {
    let (w, room, mut moderator, dir) = captioned_room(|c| c.captions_local = true).await;
    moderator.command(ClientCommand::SetOutputs {
        recording: None,
        clips: None,
        listen_link: Some(true),
        captions: None,
    });
    let mut speaker =
        Bot::join_with(&w.user("speaker").await, &room, spoken("please raise your hand", dir.path())).await;
    moderator.bring_on_stage(&mut speaker).await;
    let mut reader = Bot::join(&w.user("reader").await, &room).await;
    reader.command(ClientCommand::SetCaptions { on: true });
    speaker.sending(true);
    let caption =
        reader.expect("caption", |e| matches!(e, ServerEvent::Caption { text, .. } if !text.is_empty())).await;
    assert!(matches!(caption, ServerEvent::Caption { speaker: who, .. } if who == UserId(i64::from(speaker.id))));
    let info: serde_json::Value =
        reqwest::get(format!("{}/api/v1/rooms/{room}/listen", w.base)).await.unwrap().json().await.unwrap();
    assert_eq!(info["captions_low_accuracy"], true, "{info}");
}

/// A replay keeps its transcript (issue 33 §1): while a closed room records, its speaker's words are
/// transcribed though nobody turned captions on, and kept with the replay, placed on its time and naming
/// the speaker. Its host reads the transcript and finds the replay by its words; someone who may not hear
/// the replay gets the same 404 as for one that does not exist, and finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_keeps_its_transcript_which_only_those_who_may_hear_it_read_and_find() {
    let engine = Engine::start("shapes");
    let w = common::world_with(|c| c.captions_url = Some(engine.url.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let host = w.user("host").await;
    let speaker_api = w.user("speaker").await;
    let stranger = w.user("stranger").await;
    let room = host
        .post("/api/v1/rooms", serde_json::json!({"title": "Shapes", "visibility": "closed", "invited": ["speaker"]}))
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut moderator = Bot::join(&host, &room).await;
    moderator.command(ClientCommand::SetOutputs {
        recording: Some(true),
        clips: None,
        listen_link: None,
        captions: None,
    });
    moderator
        .expect("recording on", |e| matches!(e, ServerEvent::OutputsChanged { outputs } if outputs.recording))
        .await;
    let mut speaker = Bot::join_with(&speaker_api, &room, spoken(SAID, dir.path())).await;
    moderator.bring_on_stage(&mut speaker).await;
    speaker.sending(true);

    let replay = host.get(&format!("/api/v1/rooms/{room}/recordings")).await.unwrap()["recordings"][0]["id"]
        .as_str()
        .expect("the replay is listed while it records")
        .to_string();
    let transcript = format!("/api/v1/recordings/{replay}/transcript");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let line = loop {
        let lines = host.get(&transcript).await.unwrap()["lines"].clone();
        if let Some(line) = lines.as_array().and_then(|l| l.first()).cloned() {
            break line;
        }
        assert!(std::time::Instant::now() < deadline, "no line reached the replay's transcript");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    eprintln!("transcript: {line}");
    assert_eq!(line["speaker"]["username"], "speaker");
    let (at, end) = (line["at_ms"].as_i64().unwrap(), line["end_ms"].as_i64().unwrap());
    assert!((0..end).contains(&at) && end < 30_000, "the line is placed on the replay's time: {at}..{end} ms");
    let text = line["text"].as_str().unwrap().to_string();
    let shapes = ["green", "square", "blue", "triangle"];
    let word = text.split_whitespace().find(|w| shapes.contains(w)).expect("the line holds what the speaker said");
    assert!(
        !moderator.events_so_far().iter().any(|e| matches!(e, ServerEvent::Caption { .. })),
        "nobody turned captions on, so no caption event went out"
    );

    // The host finds the replay by a word said in it; the stranger neither finds nor reads it.
    let found = host.get(&format!("/api/v1/search?q={word}")).await.unwrap();
    assert_eq!(found["replays"][0]["recording"]["id"], replay.as_str(), "{found}");
    assert!(found["replays"][0]["line"]["text"].as_str().unwrap().contains(word));
    let found = stranger.get(&format!("/api/v1/search?q={word}")).await.unwrap();
    assert_eq!(found["replays"], serde_json::json!([]), "{found}");
    let hidden = stranger.get(&transcript).await.unwrap_err().to_string();
    let missing = stranger.get("/api/v1/recordings/nosuchreplay/transcript").await.unwrap_err().to_string();
    assert_eq!(
        hidden.replace(&replay, "ID"),
        missing.replace("nosuchreplay", "ID"),
        "a hidden transcript is not there"
    );
}
