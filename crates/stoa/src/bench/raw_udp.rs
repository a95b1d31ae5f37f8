//! `stoa bench --raw-udp`: this machine's ceiling for the audience's traffic, with no WebRTC at all.
//!
//! It sends what the SFU would send to `listeners` listeners (one talker, the same packet size and rate,
//! 60 ms packets above the same room size) over plain UDP on loopback to as many sockets, from one sender
//! thread per core batching with `sendmmsg`, received by one thread per core as the bench's listeners are.
//! Two phases of `seconds` each:
//!
//! - **paced**: the SFU's packet rate, for the CPU that the kernel alone spends carrying it;
//! - **ceiling**: as fast as the senders can go, for the most packets per second this machine delivers.
//!
//! The SFU's `server_pps_out` divided by `ceiling_pps` is the share of the kernel's ceiling it reaches.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The audience's packet for a room of `listeners`: its size in bytes and its interval, as the SFU sends it
/// by default (RTP header with CSRC and level 24 bytes, tag 16, and one 60-byte frame or three joined).
pub fn audience_packet(listeners: usize) -> (usize, Duration) {
    if listeners > 500 {
        (24 + 16 + 2 + 2 + 3 * 59, Duration::from_millis(60))
    } else {
        (24 + 16 + 60, Duration::from_millis(20))
    }
}

struct Phase {
    sent: u64,
    received: u64,
    cpu_pct: f64,
    /// The sending threads' own CPU: on loopback, the sender carries each packet to the receiving socket,
    /// so this is what a server's kernel side costs at the least for the same packets.
    sender_cpu_pct: f64,
}

/// The calling thread's CPU time, in seconds.
fn thread_cpu() -> f64 {
    // SAFETY: clock_gettime on a local timespec.
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// Runs both phases and returns the report.
pub fn run(listeners: usize, seconds: f64) -> anyhow::Result<serde_json::Value> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (size, interval) = audience_packet(listeners);
    let mut receivers = Vec::with_capacity(listeners);
    for _ in 0..listeners {
        let s = UdpSocket::bind("127.0.0.1:0")?;
        s.set_nonblocking(true)?;
        receivers.push(s);
    }
    let addrs: Vec<SocketAddr> = receivers.iter().map(|s| s.local_addr()).collect::<Result<_, _>>()?;
    let target_pps = listeners as f64 / interval.as_secs_f64();

    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut receiver_threads = Vec::new();
    let mut shares: Vec<Vec<UdpSocket>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in receivers.into_iter().enumerate() {
        shares[i % threads].push(s);
    }
    for share in shares {
        let (received, stop) = (received.clone(), stop.clone());
        receiver_threads.push(std::thread::spawn(move || receive(share, &received, &stop)));
    }

    let paced = phase(&addrs, size, Some(interval), seconds, threads, &received)?;
    let ceiling = phase(&addrs, size, None, seconds, threads, &received)?;
    stop.store(true, Ordering::Relaxed);
    // Wake each receiver thread's sockets so they notice the stop.
    let waker = UdpSocket::bind("127.0.0.1:0")?;
    for a in &addrs {
        let _ = waker.send_to(&[0], a);
    }
    for t in receiver_threads {
        let _ = t.join();
    }
    let lost = paced.sent.saturating_sub(paced.received);
    Ok(serde_json::json!({
        "mode": "raw_udp",
        "listeners": listeners,
        "seconds": seconds,
        "threads": threads,
        "packet_bytes": size,
        "paced_pps_target": target_pps,
        "paced_pps_received": paced.received as f64 / seconds,
        "paced_loss_pct": if paced.sent == 0 { 0.0 } else { lost as f64 * 100.0 / paced.sent as f64 },
        "paced_cpu_pct": paced.cpu_pct,
        "paced_sender_cpu_pct": paced.sender_cpu_pct,
        "paced_sender_cpu_pct_per_kpps": paced.sender_cpu_pct / (paced.received as f64 / seconds / 1000.0),
        "ceiling_pps_sent": ceiling.sent as f64 / seconds,
        "ceiling_pps": ceiling.received as f64 / seconds,
        "ceiling_cpu_pct": ceiling.cpu_pct,
    }))
}

fn phase(
    addrs: &[SocketAddr],
    size: usize,
    interval: Option<Duration>,
    seconds: f64,
    threads: usize,
    received: &Arc<AtomicU64>,
) -> anyhow::Result<Phase> {
    let sent = Arc::new(AtomicU64::new(0));
    let cpu_start = super::measure::self_cpu();
    let received_start = received.load(Ordering::Relaxed);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut senders = Vec::new();
    for t in 0..threads {
        let mine: Vec<SocketAddr> = addrs.iter().copied().skip(t).step_by(threads).collect();
        let sent = sent.clone();
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        senders.push(std::thread::spawn(move || {
            let start = thread_cpu();
            send(&socket, &mine, size, interval, end, &sent);
            thread_cpu() - start
        }));
    }
    let sender_cpu: f64 = senders.into_iter().filter_map(|s| s.join().ok()).sum();
    // Let what is in flight arrive before reading the counters.
    std::thread::sleep(Duration::from_millis(200));
    let cpu = super::measure::self_cpu() - cpu_start;
    Ok(Phase {
        sent: sent.load(Ordering::Relaxed),
        received: received.load(Ordering::Relaxed) - received_start,
        cpu_pct: cpu / seconds * 100.0,
        sender_cpu_pct: sender_cpu / seconds * 100.0,
    })
}

/// Sends one packet to every destination per `interval` (or back to back without one) until `end`, in
/// `sendmmsg` batches of up to 64, as the SFU's shards do.
fn send(
    socket: &UdpSocket,
    dests: &[SocketAddr],
    size: usize,
    interval: Option<Duration>,
    end: Instant,
    sent: &AtomicU64,
) {
    const BATCH: usize = 64;
    let payload = vec![0x80u8; size];
    let names: Vec<libc::sockaddr_in> = dests
        .iter()
        .map(|a| {
            let SocketAddr::V4(v4) = a else { unreachable!("loopback IPv4 only") };
            libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from(*v4.ip()).to_be() },
                sin_zero: [0; 8],
            }
        })
        .collect();
    let mut next = Instant::now();
    while Instant::now() < end {
        for chunk in names.chunks(BATCH) {
            let mut iovs: Vec<libc::iovec> = chunk
                .iter()
                .map(|_| libc::iovec { iov_base: payload.as_ptr() as *mut _, iov_len: payload.len() })
                .collect();
            let mut msgs: Vec<libc::mmsghdr> = chunk
                .iter()
                .zip(iovs.iter_mut())
                .map(|(name, iov)| {
                    // SAFETY: an all-zero mmsghdr is a valid empty message header.
                    let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                    m.msg_hdr.msg_name = name as *const _ as *mut _;
                    m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                    m.msg_hdr.msg_iov = iov;
                    m.msg_hdr.msg_iovlen = 1;
                    m
                })
                .collect();
            let mut done = 0;
            while done < msgs.len() {
                // SAFETY: the headers point into `names`, `iovs` and `payload`, which outlive the call.
                let n = unsafe {
                    libc::sendmmsg(socket.as_raw_fd(), msgs[done..].as_mut_ptr(), (msgs.len() - done) as u32, 0)
                };
                if n <= 0 {
                    break;
                }
                done += n as usize;
            }
            sent.fetch_add(done as u64, Ordering::Relaxed);
        }
        if let Some(interval) = interval {
            next += interval;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
}

/// Counts every datagram on `sockets`, waiting for them with epoll, until `stop`.
fn receive(sockets: Vec<UdpSocket>, received: &AtomicU64, stop: &AtomicBool) {
    // SAFETY: plain epoll calls on descriptors owned by `sockets`, which outlive the loop; the event buffer is
    // valid for `events.len()` entries.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epoll < 0 {
        return;
    }
    for (i, s) in sockets.iter().enumerate() {
        let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: i as u64 };
        unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut event) };
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let ready = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, 100) };
        let mut count = 0u64;
        for event in events.iter().take(ready.max(0) as usize) {
            let socket = &sockets[event.u64 as usize];
            while socket.recv(&mut buf).is_ok() {
                count += 1;
            }
        }
        received.fetch_add(count, Ordering::Relaxed);
    }
    unsafe { libc::close(epoll) };
}
