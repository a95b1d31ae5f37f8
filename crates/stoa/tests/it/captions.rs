//! Live captions (issue 33 §1) through a real recognizer behind the real interface: Debian's pocketsphinx,
//! wrapped as an OpenAI-compatible transcription server (`tests/captions/transcribe.py`), hears what a bot
//! speaks from espeak-ng, and the room sends the words as `caption` events naming the speaker.

use crate::common::{self, Bot};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use stoa_client::audio;
use stoa_proto::{ClientCommand, ServerEvent, UserId};

/// The transcription server, stopped when dropped.
struct Engine {
    child: Child,
    url: String,
}

impl Engine {
    fn start(vocabulary: &str) -> Engine {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/captions/transcribe.py");
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

/// `text` as espeak-ng says it, then a second of silence (the pause that ends an utterance), as 20 ms Opus
/// frames: a bot sending them in a loop says it again and again.
fn spoken(text: &str, dir: &Path) -> Vec<audio::Frame> {
    let wav = dir.join("said.wav");
    let status = Command::new("espeak-ng").args(["-v", "en-us", "-w"]).arg(&wav).arg(text).status();
    assert!(status.is_ok_and(|s| s.success()), "espeak-ng speaks (scripts/test installs it)");
    let mut pcm = audio::load_wav(&wav).unwrap();
    pcm.extend(std::iter::repeat_n(0, 48_000));
    audio::encode(&pcm).unwrap()
}

const SAID: &str = "green square blue triangle";

/// A listener who turns captions on gets what the speaker says, as words naming the speaker; a listener
/// who did not gets no caption at all; turned off, they stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speakers_words_come_as_captions_naming_them_to_those_who_turned_captions_on() {
    let engine = Engine::start("shapes");
    let w = common::world_with(|c| c.captions_url = Some(engine.url.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let host = w.user("host").await;
    let room = w.room(&host).await;
    let mut moderator = Bot::join(&host, &room).await;
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
