//! ICE-TCP: media over TCP for clients whose network drops UDP (RFC 6544 passive candidates, RFC 4571
//! framing: each STUN, DTLS, RTP or RTCP packet is preceded by its length in two bytes).
//!
//! One listener serves every shard. A new connection's first frame must be a STUN binding request whose
//! USERNAME names one of the shards' peers (the shard is written into each peer's ufrag); the connection is
//! then handed to that shard, which checks the request's integrity like any other and owns the socket from
//! then on. Until then a connection costs the acceptor a task, a few bytes and at most [`HANDSHAKE`] of
//! time, and at most [`MAX_HANDSHAKES`] wait at once.
//!
//! In a shard each connection has a reader task, which hands whole frames to the shard through one bounded
//! queue, and a writer task with a bounded queue of its own: a slow or silent client fills its own queue,
//! whose newest frames are then dropped (and counted), and never stalls the shard or anyone else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};

pub use stoa_media::framing::{frame, read_frame};

/// How long a new connection has to send its first complete frame.
pub const HANDSHAKE: Duration = Duration::from_secs(10);
/// Connections waiting for their first frame at once; more are closed at once.
pub const MAX_HANDSHAKES: usize = 1024;
/// How long a connection may send nothing before it is closed. Browsers check consent every 5 s or so.
pub const IDLE: Duration = Duration::from_secs(30);
/// Frames waiting to be written to one connection: a second of a large room's packets. Past it frames are
/// dropped, as a congested UDP path would drop them.
pub const WRITE_QUEUE: usize = 256;
/// How long one write may wait for a client that does not read before its connection is closed.
pub const WRITE_STALL: Duration = Duration::from_secs(10);
/// Frames from all of a shard's connections waiting for the shard. A reader waits when it is full, which
/// slows that client's TCP, not the shard.
pub const SHARD_QUEUE: usize = 4096;

/// ICE-TCP's limits: the constants above, or smaller ones in tests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// [`HANDSHAKE`].
    pub handshake: Duration,
    /// [`MAX_HANDSHAKES`].
    pub max_handshakes: usize,
    /// [`IDLE`].
    pub idle: Duration,
    /// [`WRITE_STALL`].
    pub write_stall: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { handshake: HANDSHAKE, max_handshakes: MAX_HANDSHAKES, idle: IDLE, write_stall: WRITE_STALL }
    }
}

/// What ICE-TCP counts, for the logs and `/metrics`.
#[derive(Debug, Default)]
pub struct TcpStats {
    /// Connections accepted by the listener.
    pub accepted: AtomicU64,
    /// Connections closed before they were handed to a shard: silent, garbage, a half frame, an unknown
    /// ufrag, or over the handshake limit.
    pub refused: AtomicU64,
    /// Connections a shard refused: the first request failed its integrity check, or the peer already has
    /// as many connections as it may.
    pub refused_by_shard: AtomicU64,
    /// Frames dropped because a connection's write queue was full.
    pub queue_drops: AtomicU64,
    /// Connections closed because their client did not read for [`WRITE_STALL`] or sent nothing for [`IDLE`].
    pub stalled: AtomicU64,
}

/// A connection whose first frame named a peer of the shard it is handed to.
#[derive(Debug)]
pub struct Accepted {
    /// The socket.
    pub stream: std::net::TcpStream,
    /// The client's address.
    pub remote: SocketAddr,
    /// The first frame (a STUN binding request), without its length.
    pub first: Vec<u8>,
}

/// What a shard hears from its connections.
#[derive(Debug)]
pub enum FromConn {
    /// A frame, without its length.
    Frame(SocketAddr, Vec<u8>),
    /// The connection closed (by the client, an error, or a timeout).
    Closed(SocketAddr),
}

/// Accepts connections on `listener` on a thread of its own, reads each one's first frame, and hands it to
/// `deliver` with the shard that `route` finds from the request's local ufrag. Runs until the process ends.
pub fn spawn_acceptor(
    listener: std::net::TcpListener,
    route: impl Fn(&str) -> Option<usize> + Send + Sync + 'static,
    deliver: impl Fn(usize, Accepted) -> bool + Send + Sync + 'static,
    stats: Arc<TcpStats>,
    limits: Limits,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let route = Arc::new(route);
    let deliver = Arc::new(deliver);
    std::thread::Builder::new().name("stoa-sfu-tcp".into()).spawn(move || {
        runtime.block_on(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => return tracing::error!(error = %e, "ICE-TCP cannot use its listener"),
            };
            let pending = Arc::new(Semaphore::new(limits.max_handshakes));
            loop {
                let (stream, remote) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors, or a connection reset before it was accepted: wait a little.
                        tracing::debug!(error = %e, "ICE-TCP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                stats.accepted.fetch_add(1, Ordering::Relaxed);
                let Ok(permit) = pending.clone().try_acquire_owned() else {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let (route, deliver, stats) = (route.clone(), deliver.clone(), stats.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    let handed = handshake(stream, remote, limits.handshake, &*route, &*deliver).await;
                    if !handed {
                        stats.refused.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%remote, "ICE-TCP connection refused before its first request");
                    }
                });
            }
        })
    })?;
    Ok(())
}

async fn handshake(
    mut stream: TcpStream,
    remote: SocketAddr,
    timeout: Duration,
    route: &(dyn Fn(&str) -> Option<usize> + Send + Sync),
    deliver: &(dyn Fn(usize, Accepted) -> bool + Send + Sync),
) -> bool {
    let mut first = Vec::new();
    match tokio::time::timeout(timeout, read_frame(&mut stream, &mut first)).await {
        Ok(Ok(true)) => {}
        _ => return false,
    }
    let Some(shard) = crate::net::stun_local_ufrag(&first).and_then(route) else { return false };
    let _ = stream.set_nodelay(true);
    match stream.into_std() {
        Ok(stream) => deliver(shard, Accepted { stream, remote, first }),
        Err(_) => false,
    }
}

/// A shard's side of one connection: its writer's queue and its reader's task.
pub struct Conn {
    out: mpsc::Sender<Vec<u8>>,
    reader: tokio::task::AbortHandle,
    writer: tokio::task::AbortHandle,
}

impl Conn {
    /// Starts the reader and writer tasks of an accepted connection on the current (shard's) runtime. The
    /// reader sends frames to `to_shard`.
    pub fn start(
        stream: std::net::TcpStream,
        remote: SocketAddr,
        to_shard: mpsc::Sender<FromConn>,
        stats: Arc<TcpStats>,
        limits: Limits,
    ) -> std::io::Result<Conn> {
        stream.set_nonblocking(true)?;
        let stream = TcpStream::from_std(stream)?;
        let (mut read, mut write) = stream.into_split();
        let (out, mut queue) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
        let reader_stats = stats.clone();
        let reader_tx = to_shard.clone();
        let reader = tokio::spawn(async move {
            let mut buf = Vec::new();
            loop {
                match tokio::time::timeout(limits.idle, read_frame(&mut read, &mut buf)).await {
                    Ok(Ok(true)) => {
                        if reader_tx.send(FromConn::Frame(remote, std::mem::take(&mut buf))).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => break,
                    Err(_) => {
                        reader_stats.stalled.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            let _ = reader_tx.send(FromConn::Closed(remote)).await;
        })
        .abort_handle();
        let writer = tokio::spawn(async move {
            while let Some(frame) = queue.recv().await {
                match tokio::time::timeout(limits.write_stall, write.write_all(&frame)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break,
                    Err(_) => {
                        stats.stalled.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            let _ = to_shard.send(FromConn::Closed(remote)).await;
        })
        .abort_handle();
        Ok(Conn { out, reader, writer })
    }

    /// Queues a packet; if the connection's queue is full it is dropped (counted), never waited for.
    pub fn send(&self, data: &[u8], stats: &TcpStats) {
        let Some(framed) = frame(data) else { return };
        if self.out.try_send(framed).is_err() {
            stats.queue_drops.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn frames_round_trip_and_a_short_frame_is_an_error() {
        let framed = frame(b"hello").unwrap();
        assert_eq!(framed, [0, 5, b'h', b'e', b'l', b'l', b'o']);
        let mut buf = Vec::new();
        let mut reader = &framed[..];
        assert!(read_frame(&mut reader, &mut buf).await.unwrap());
        assert_eq!(buf, b"hello");
        assert!(!read_frame(&mut reader, &mut buf).await.unwrap(), "a clean end");
        let mut cut = &[0xff, 0xff, 1, 2, 3][..];
        assert!(read_frame(&mut cut, &mut buf).await.is_err(), "a length with too little behind it");
        assert!(frame(&vec![0; 65_536]).is_none());
        assert_eq!(frame(&vec![0; 65_535]).unwrap().len(), 65_537);
    }

    fn binding_request(ufrag: &str) -> Vec<u8> {
        let user = format!("{ufrag}:client");
        let mut msg = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42];
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&[0x00, 0x06, 0, user.len() as u8]);
        msg.extend_from_slice(user.as_bytes());
        msg.resize(msg.len().div_ceil(4) * 4, 0);
        msg[3] = (msg.len() - 20) as u8;
        msg
    }

    /// Whether the server closed `stream` within `within` (a read sees the end, or a reset).
    async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 16];
        matches!(tokio::time::timeout(within, stream.read(&mut buf)).await, Ok(Ok(0)) | Ok(Err(_)))
    }

    #[tokio::test]
    async fn the_acceptor_drops_silent_cut_short_garbage_unknown_and_surplus_connections_and_hands_over_the_rest() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(TcpStats::default());
        let (tx, mut handed) = mpsc::unbounded_channel();
        let limits = Limits { handshake: Duration::from_millis(400), max_handshakes: 3, ..Limits::default() };
        let route = |ufrag: &str| (ufrag == "known").then_some(1);
        let deliver = move |shard, accepted: Accepted| tx.send((shard, accepted.first)).is_ok();
        spawn_acceptor(listener, route, deliver, stats.clone(), limits).unwrap();

        // Garbage and an unknown ufrag are closed at once.
        let mut garbage = TcpStream::connect(addr).await.unwrap();
        garbage.write_all(&frame(b"GET / HTTP/1.1\r\n\r\n").unwrap()).await.unwrap();
        assert!(closed_within(&mut garbage, Duration::from_secs(2)).await, "garbage is closed");
        let mut unknown = TcpStream::connect(addr).await.unwrap();
        unknown.write_all(&frame(&binding_request("stranger")).unwrap()).await.unwrap();
        assert!(closed_within(&mut unknown, Duration::from_secs(2)).await, "an unknown ufrag is closed");

        // Three wait (silent, or a 65,535-byte frame with nothing behind it); a fourth is over the limit.
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut cut = TcpStream::connect(addr).await.unwrap();
        cut.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
        let mut third = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut surplus = TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut surplus, Duration::from_millis(300)).await, "over the limit: closed at once");
        for s in [&mut silent, &mut cut, &mut third] {
            assert!(closed_within(s, Duration::from_secs(3)).await, "dropped after the handshake time");
        }

        // With the slots free again, a request for a known peer is handed to its shard, first frame and all.
        let mut good = TcpStream::connect(addr).await.unwrap();
        good.write_all(&frame(&binding_request("known")).unwrap()).await.unwrap();
        let (shard, first) = tokio::time::timeout(Duration::from_secs(2), handed.recv()).await.unwrap().unwrap();
        assert_eq!((shard, first), (1, binding_request("known")));
        assert_eq!(stats.accepted.load(Ordering::Relaxed), 7);
        assert_eq!(stats.refused.load(Ordering::Relaxed), 6);
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_costs_dropped_frames_then_its_connection_never_the_senders_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, remote) = listener.accept().await.unwrap();
        let stats = Arc::new(TcpStats::default());
        let (to_shard, mut from_conns) = mpsc::channel(16);
        let limits = Limits { write_stall: Duration::from_millis(500), ..Limits::default() };
        let conn = Conn::start(server.into_std().unwrap(), remote, to_shard, stats.clone(), limits).unwrap();
        // The client never reads: 20 MB queued at once must return at once, dropping what does not fit.
        let started = std::time::Instant::now();
        for _ in 0..20_000 {
            conn.send(&[0x80; 1000], &stats);
        }
        assert!(started.elapsed() < Duration::from_secs(1), "sending never waits: {:?}", started.elapsed());
        assert!(stats.queue_drops.load(Ordering::Relaxed) > 10_000, "a full queue drops");
        // Kept up, once the kernel's buffers are full the writer stalls, gives up, and the shard hears that
        // the connection is gone.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let closed = loop {
            assert!(std::time::Instant::now() < deadline, "the stalled connection was never closed");
            for _ in 0..256 {
                conn.send(&[0x80; 1000], &stats);
            }
            match tokio::time::timeout(Duration::from_millis(20), from_conns.recv()).await {
                Ok(message) => break message,
                Err(_) => continue,
            }
        };
        assert!(matches!(closed, Some(FromConn::Closed(a)) if a == remote));
        assert_eq!(stats.stalled.load(Ordering::Relaxed), 1);
        drop(client);
    }
}
