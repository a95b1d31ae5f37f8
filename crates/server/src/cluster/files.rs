//! Recordings kept on another node. A replay, a clip or a report's audio is written to the data folder of
//! the node whose egress made it, and the store says who may hear it; a request for it may land on any node.
//! That node checks the store as usual, and if the file is not on its own disk reads it from whichever node
//! has it: it asks on `stoa.files`, every node with the file may answer, and the first answer is taken. A
//! file is read in chunks of [`CHUNK`] bytes (a NATS message carries at most 1 MB), one request per chunk, as
//! the response is streamed.

use super::Cluster;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The subject every node reads file requests on.
pub(crate) const SUBJECT: &str = "stoa.files";
/// The subject every node reads deletions on: a recording deleted through any node leaves the disk of the
/// node that has its file.
pub(crate) const DELETED: &str = "stoa.files.deleted";
/// The most bytes one answer carries (base64 makes it 683 KB on the wire).
pub const CHUNK: u64 = 512 * 1024;
/// How long to wait for a node that has the file.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Reads this node serves to others at once; past it, a request goes unanswered here (and times out).
const CONCURRENT: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
struct Read {
    /// The file's name in the recordings folder, as the store has it.
    file: String,
    offset: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Deleted {
    /// The file's name in the recordings folder.
    file: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Chunk {
    /// The whole file's length.
    len: u64,
    /// Base64 of the bytes from the offset asked for, at most [`CHUNK`].
    bytes: String,
}

/// A plain file name: no folder, no way out of the recordings folder.
fn plain(file: &str) -> bool {
    !file.is_empty()
        && file.len() <= 128
        && file.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        && !file.starts_with('.')
}

impl Cluster {
    /// Reads up to [`CHUNK`] bytes of a recording from `offset`, from whichever node has it: the file's
    /// length and the bytes, or `None` if no node answered.
    pub async fn read_remote(&self, file: &str, offset: u64) -> Option<(u64, Vec<u8>)> {
        if !plain(file) {
            return None;
        }
        let payload = self.seal(SUBJECT, Read { file: file.to_string(), offset });
        let request = async_nats::client::Request::new().payload(payload).timeout(Some(TIMEOUT));
        let message = self.client.send_request(SUBJECT.to_string(), request).await.ok()?;
        let (_, chunk) = self.open::<Chunk>(&message.subject, &message.payload)?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(chunk.bytes).ok()?;
        (bytes.len() as u64 <= CHUNK).then_some((chunk.len, bytes))
    }
}

impl Cluster {
    /// Tells every node that a recording's file is deleted: the one that has it removes it.
    pub fn deleted(&self, file: &str) {
        if plain(file) {
            self.send(DELETED.to_string(), Deleted { file: file.to_string() });
        }
    }
}

/// Removes a deleted recording's file if it is on this node's disk.
pub(crate) async fn remove(cluster: &Cluster, message: &async_nats::Message) {
    let Some((from, deleted)) = cluster.open::<Deleted>(&message.subject, &message.payload) else { return };
    let dir = &cluster.recordings;
    if from == cluster.node() || !plain(&deleted.file) {
        return;
    }
    match tokio::fs::remove_file(dir.join(&deleted.file)).await {
        Ok(()) => tracing::info!(file = %deleted.file, %from, "a recording deleted through another node is removed"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(file = %deleted.file, error = %e, "cannot remove a deleted recording's file"),
    }
}

/// Answers one read if the file is on this node's disk; says nothing otherwise (another node may have it).
pub(crate) async fn serve(cluster: Cluster, limit: Arc<tokio::sync::Semaphore>, message: async_nats::Message) {
    let Ok(_permit) = limit.try_acquire() else { return };
    let Some(reply) = message.reply.clone() else { return };
    let Some((_, read)) = cluster.open::<Read>(&message.subject, &message.payload) else { return };
    let dir = &cluster.recordings;
    if !plain(&read.file) {
        return;
    }
    let Some((len, bytes)) = read_local(&dir.join(&read.file), read.offset).await else { return };
    let chunk = Chunk { len, bytes: base64::engine::general_purpose::STANDARD.encode(bytes) };
    let payload = cluster.seal(reply.as_str(), chunk);
    let _ = cluster.client.publish(reply, payload).await;
}

/// The semaphore that bounds the reads this node serves.
pub(crate) fn limit() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(CONCURRENT))
}

async fn read_local(path: &Path, offset: u64) -> Option<(u64, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = tokio::fs::File::open(path).await.ok()?;
    let len = file.metadata().await.ok()?.len();
    if offset > len {
        return None;
    }
    file.seek(std::io::SeekFrom::Start(offset)).await.ok()?;
    let mut bytes = Vec::with_capacity(CHUNK.min(len - offset) as usize);
    file.take(CHUNK).read_to_end(&mut bytes).await.ok()?;
    Some((len, bytes))
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn only_plain_names_are_read() {
        assert!(plain("abc123.opus"));
        assert!(plain("report-12_a.opus"));
        for bad in ["", "../x.opus", "a/b.opus", ".hidden", "/etc/passwd", "a\\b", "x y"] {
            assert!(!plain(bad), "{bad}");
        }
    }
}
