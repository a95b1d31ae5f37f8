//! Recordings kept on another node. A replay, a clip or a report's audio is written to the data folder of
//! the node whose egress made it, and the store says who may hear it; a request for it may land on any node.
//! That node checks the store as usual, and if the file is not on its own disk reads it from whichever node
//! has it: it asks on `stoa.files`, every node with the file may answer, and the first answer is taken. A
//! file is read in chunks of [`CHUNK`] bytes (a NATS message carries at most 1 MB), one request per chunk, as
//! the response is streamed.

use super::Cluster;
use super::protocol::{Chunk, Deleted, FILES, FILES_DELETED, Opened, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The most bytes one answer carries (raw, after the envelope's head).
pub const CHUNK: u64 = 512 * 1024;
/// How long to wait for a node that has the file.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Reads this node serves to others at once; past it, a request goes unanswered here (and times out).
const CONCURRENT: usize = 32;

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
        let payload = self.seal(FILES, &Read { file: file.to_string(), offset }, &[]);
        let request = async_nats::client::Request::new().payload(payload).timeout(Some(TIMEOUT));
        let message = self.client.send_request(FILES.to_string(), request).await.ok()?;
        let Opened { head: chunk, raw, .. } = self.open::<Chunk>(&message.subject, &message.payload)?;
        (raw.len() as u64 <= CHUNK).then(|| (chunk.len, raw.to_vec()))
    }
}

impl Cluster {
    /// Tells every node that a recording's file is deleted: the one that has it removes it.
    pub fn deleted(&self, file: &str) {
        if plain(file) {
            self.send(FILES_DELETED.to_string(), &Deleted { file: file.to_string() }, &[]);
        }
    }
}

/// Removes a deleted recording's file if it is on this node's disk.
pub(crate) async fn remove(cluster: &Cluster, message: &async_nats::Message) {
    let Some(Opened { from, head: deleted, .. }) = cluster.open::<Deleted>(&message.subject, &message.payload) else {
        return;
    };
    let dir = &cluster.recordings;
    if *from == *cluster.node() || !plain(&deleted.file) {
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
    let Some(Opened { head: read, .. }) = cluster.open::<Read>(&message.subject, &message.payload) else { return };
    let dir = &cluster.recordings;
    if !plain(&read.file) {
        return;
    }
    let Some((len, bytes)) = read_local(&dir.join(&read.file), read.offset).await else { return };
    let payload = cluster.seal(reply.as_str(), &Chunk { len }, &bytes);
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
