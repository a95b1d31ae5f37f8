//! Live captions' engine: each speaker's utterances (from the room's egress, `stoa_egress::captions`) go to
//! an OpenAI-compatible transcription endpoint (`POST …/v1/audio/transcriptions`, a multipart form with the
//! WAV as `file`, answered with `{"text": …}`), as whisper.cpp's server, faster-whisper servers and hosted
//! services speak it. The operator names the endpoint (`--captions-url`); nothing is sent anywhere else.
//!
//! A slow or failing engine never holds a room up: a room queues a few utterances and drops the rest, the
//! server has a fixed number in flight, and every drop and failure is counted.
//!
//! Without an engine of their own, an operator may turn on the local fallback (`--captions-local`):
//! Debian's pocketsphinx behind the same interface (`transcribe.py`, built into the binary), run as a
//! child process on loopback the way the mix runs ffmpeg. Nothing is fetched at run time; its captions are
//! labelled as of low accuracy, which they are.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Utterances in flight to the engine, server-wide; one that finds none free is dropped.
pub const IN_FLIGHT: usize = 8;
/// How long the engine has for one utterance.
const TIMEOUT: Duration = Duration::from_secs(20);
/// The longest answer kept (a runaway engine's).
const TEXT_MAX: usize = 2_000;

/// Where captions come from, and what became of the utterances sent.
#[derive(Debug)]
pub struct CaptionEngine {
    url: reqwest::Url,
    model: String,
    key: Option<String>,
    http: reqwest::Client,
    slots: Arc<tokio::sync::Semaphore>,
    /// Utterances transcribed.
    pub transcribed: AtomicU64,
    /// Utterances dropped: the room's queue or the server's slots were full.
    pub dropped: Arc<AtomicU64>,
    /// Utterances the engine failed on (an error, a timeout, an answer without text).
    pub failed: AtomicU64,
    /// Whether its captions are to be labelled as of low accuracy (the local engine's).
    pub low_accuracy: bool,
    /// The local engine's process, stopped with the engine.
    _child: Option<tokio::process::Child>,
}

/// How long the local engine has to load its model and listen.
const LOCAL_START: Duration = Duration::from_secs(30);

impl CaptionEngine {
    /// The local fallback: Debian's pocketsphinx (python3-pocketsphinx and pocketsphinx-en-us) behind the
    /// OpenAI-compatible interface, as a child process on a loopback port. An error says what is missing.
    pub async fn local() -> Result<CaptionEngine, String> {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(include_str!("transcribe.py"))
            .args(["--vocabulary", "general"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run Debian's python3 (/usr/bin/python3): {e}"))?;
        let stdout = child.stdout.take();
        let mut line = String::new();
        let read = async {
            let mut lines = tokio::io::BufReader::new(stdout?);
            lines.read_line(&mut line).await.ok()
        };
        let _ = tokio::time::timeout(LOCAL_START, read).await;
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            return Err("the local caption engine did not start: it needs python3-pocketsphinx and \
                        pocketsphinx-en-us (Debian); its error is in the log above"
                .into());
        };
        let mut engine = CaptionEngine::new(&format!("{url}/v1/audio/transcriptions"), "pocketsphinx", None)?;
        engine.low_accuracy = true;
        engine._child = Some(child);
        Ok(engine)
    }

    /// An engine at `url` (http or https), asked for `model`, with an optional bearer `key`.
    pub fn new(url: &str, model: &str, key: Option<String>) -> Result<CaptionEngine, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("the captions URL {url:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!("the captions URL must be http or https with a host, not {url}"));
        }
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(CaptionEngine {
            url,
            model: model.to_string(),
            key,
            http,
            slots: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
            transcribed: AtomicU64::new(0),
            dropped: Arc::default(),
            failed: AtomicU64::new(0),
            low_accuracy: false,
            _child: None,
        })
    }

    /// A place to send one utterance, if one is free now.
    pub fn slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let permit = self.slots.clone().try_acquire_owned().ok();
        if permit.is_none() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        permit
    }

    /// The words in `wav`, as the engine heard them (empty: none).
    pub async fn transcribe(&self, wav: Vec<u8>) -> Result<String, String> {
        let result = self.ask(wav).await;
        let counter = if result.is_ok() { &self.transcribed } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    async fn ask(&self, wav: Vec<u8>) -> Result<String, String> {
        let boundary = format!("stoa-{:016x}", crate::random::u64());
        let mut body = Vec::with_capacity(wav.len() + 512);
        for (name, value) in [("model", self.model.as_str()), ("response_format", "json")] {
            body.extend_from_slice(
                format!("--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"utterance.wav\"\r\n\
                 content-type: audio/wav\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&wav);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut req = self
            .http
            .post(self.url.clone())
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body);
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.map_err(|e| format!("the caption engine: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("the caption engine answered {}", resp.status()));
        }
        let answer: serde_json::Value = resp.json().await.map_err(|e| format!("the caption engine's answer: {e}"))?;
        let text = answer["text"].as_str().ok_or("the caption engine's answer has no text")?;
        Ok(text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(TEXT_MAX).collect())
    }
}
