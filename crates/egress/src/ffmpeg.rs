//! `ffmpeg` as a child process, for the outputs whose codecs and protocols Stoa does not carry itself: AAC
//! for HLS (the codec iPhone Safari plays natively) and RTMP. Documented in the README; `stoa serve` checks
//! for it at start and says what goes without it.
//!
//! The mix hands a child 20 ms of PCM at a time through a bounded queue, written to its stdin by a thread
//! of its own: a child that stalls loses PCM (counted), and never holds up the mix.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// PCM frames that may wait for a child's stdin: one second.
const PCM_QUEUE: usize = 50;
/// How long a child has to finish after its input closes before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// Whether `program` runs as an ffmpeg with the encoders Stoa uses; its version line if so.
pub fn check(program: &Path) -> Result<String, String> {
    let out = Command::new(program)
        .args(["-hide_banner", "-encoders"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let encoders = String::from_utf8_lossy(&out.stdout);
    if !encoders.lines().any(|l| l.split_whitespace().nth(1) == Some("aac")) {
        return Err(format!("{} has no AAC encoder", program.display()));
    }
    let version = Command::new(program)
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    Ok(String::from_utf8_lossy(&version.stdout).lines().next().unwrap_or("ffmpeg").to_string())
}

/// Where a child's stdout goes, chunk by chunk.
pub type OnStdout = Box<dyn FnMut(&[u8]) + Send>;

/// What a child's stderr and exit are handed to.
pub trait Watcher: Send + 'static {
    /// One line of the child's stderr.
    fn line(&mut self, line: &str);
    /// The child ended, with its exit code (`None`: killed by a signal).
    fn exited(&mut self, code: Option<i32>);
}

/// A running ffmpeg fed with 48 kHz mono PCM.
pub struct Child {
    pcm: Option<SyncSender<Vec<u8>>>,
    child: Arc<Mutex<std::process::Child>>,
    dropped: u64,
}

impl Child {
    /// Starts `program` with `args` (which read s16le PCM from `pipe:0`). Its stdout, if `stdout` is given,
    /// is read in chunks on a thread of its own.
    pub fn spawn(
        program: &PathBuf,
        args: &[String],
        stdout: Option<OnStdout>,
        mut watcher: impl Watcher,
    ) -> std::io::Result<Child> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(if stdout.is_some() { Stdio::piped() } else { Stdio::null() })
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().expect("piped");
        let (tx, rx) = sync_channel::<Vec<u8>>(PCM_QUEUE);
        std::thread::Builder::new().name("ffmpeg-in".into()).spawn(move || {
            for chunk in rx {
                if stdin.write_all(&chunk).is_err() {
                    break;
                }
            }
        })?;
        if let (Some(mut on_out), Some(mut out)) = (stdout, child.stdout.take()) {
            std::thread::Builder::new().name("ffmpeg-out".into()).spawn(move || {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = out.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    on_out(&buf[..n]);
                }
            })?;
        }
        let stderr = child.stderr.take().expect("piped");
        let child = Arc::new(Mutex::new(child));
        let waited = child.clone();
        std::thread::Builder::new().name("ffmpeg-err".into()).spawn(move || {
            for line in std::io::BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end();
                if !line.is_empty() {
                    watcher.line(line);
                }
            }
            // stderr closed: the child is ending.
            let code = loop {
                match waited.lock().unwrap_or_else(|e| e.into_inner()).try_wait() {
                    Ok(Some(status)) => break status.code(),
                    Ok(None) => {}
                    Err(_) => break None,
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            watcher.exited(code);
        })?;
        Ok(Child { pcm: Some(tx), child, dropped: 0 })
    }

    /// Hands the child 20 ms of PCM; false if its queue was full (the frame is dropped) or it is gone.
    pub fn send(&mut self, pcm: &[i16]) -> bool {
        let Some(tx) = &self.pcm else { return false };
        let bytes = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        match tx.try_send(bytes) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// PCM frames dropped because the child fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Drop for Child {
    /// Closes the child's input, so it finishes what it has; a child still running after a grace period
    /// is killed.
    fn drop(&mut self) {
        self.pcm = None;
        let child = self.child.clone();
        let _ = std::thread::Builder::new().name("ffmpeg-stop".into()).spawn(move || {
            let deadline = std::time::Instant::now() + GRACE;
            while std::time::Instant::now() < deadline {
                match child.lock().unwrap_or_else(|e| e.into_inner()).try_wait() {
                    Ok(None) => {}
                    _ => return,
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.lock().unwrap_or_else(|e| e.into_inner()).kill();
        });
    }
}

/// The arguments that make AAC-LC in ADTS on stdout from PCM on stdin, for HLS.
pub fn hls_args(bitrate_kbps: u32) -> Vec<String> {
    let mut args = pcm_input();
    args.extend(
        ["-c:a", "aac", "-b:a", &format!("{bitrate_kbps}k"), "-f", "adts", "-flush_packets", "1", "pipe:1"]
            .map(String::from),
    );
    args
}

/// The arguments that send the mix to an RTMP server: AAC-LC audio and, since YouTube and Twitch refuse a
/// stream without video, a still black picture at two frames a second (a few kilobits).
pub fn rtmp_args(url: &str, tc_url: Option<&str>) -> Vec<String> {
    let mut args = vec!["-loglevel".to_string(), "info".into(), "-nostats".into()];
    args.extend(pcm_input().into_iter().skip(2));
    args.extend(
        [
            "-re",
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=640x360:r=2",
            "-map",
            "1:v",
            "-map",
            "0:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "stillimage",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "4",
            "-b:v",
            "64k",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ar",
            "44100",
            "-f",
            "flv",
        ]
        .map(String::from),
    );
    if let Some(tc_url) = tc_url {
        args.extend(["-rtmp_tcurl".to_string(), tc_url.to_string()]);
    }
    args.push(url.to_string());
    args
}

fn pcm_input() -> Vec<String> {
    ["-loglevel", "error", "-hide_banner", "-nostdin", "-f", "s16le", "-ar", "48000", "-ac", "1", "-i", "pipe:0"]
        .map(String::from)
        .to_vec()
}
