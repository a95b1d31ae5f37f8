//! Socket-level helpers: an outbox sent in batches with `sendmmsg`, and reading the ufrag (and a
//! nomination) out of a STUN request.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// Datagrams waiting to be sent, each to its own destination, in one reusable arena: the bytes of every
/// datagram back to back, and where each starts. Both vectors keep their capacity across flushes, so once a
/// shard has seen its largest fan-out, queueing a datagram allocates nothing, whatever the audience's size.
#[derive(Debug, Default)]
pub struct Outbox {
    bytes: Vec<u8>,
    items: Vec<(SocketAddr, usize, usize)>,
    /// How many of `items` went out already (a flush the socket cut short resumes here).
    sent: usize,
}

impl Outbox {
    /// Queues a copy of `data` for `dest`.
    pub fn push(&mut self, dest: SocketAddr, data: &[u8]) {
        self.push_with(dest, |buf| {
            buf.extend_from_slice(data);
            true
        });
    }

    /// Queues a datagram that `write` appends to the arena; if `write` returns false, whatever it appended is
    /// dropped and nothing is queued. Returns whether a datagram was queued.
    pub fn push_with(&mut self, dest: SocketAddr, write: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
        let start = self.bytes.len();
        if !write(&mut self.bytes) || self.bytes.len() == start {
            self.bytes.truncate(start);
            return false;
        }
        self.items.push((dest, start, self.bytes.len() - start));
        true
    }

    /// How many datagrams are queued and not yet sent.
    pub fn len(&self) -> usize {
        self.items.len() - self.sent
    }

    /// The bytes of the datagrams queued and not yet sent.
    pub fn queued_bytes(&self) -> usize {
        self.items[self.sent..].iter().map(|&(_, _, len)| len).sum()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The queued datagrams, in order.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.items[self.sent..].iter().map(|&(addr, start, len)| (addr, &self.bytes[start..start + len]))
    }

    /// Forgets every queued datagram, keeping the capacity.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
        self.sent = 0;
    }

    /// Sends what is queued with as few system calls as possible (`sendmmsg`, in chunks built on the stack).
    /// Returns `Ok(true)` when everything went (and the outbox is cleared), `Ok(false)` when the socket would
    /// block: the caller waits until it is writable and calls again.
    pub fn send(&mut self, socket: &impl AsRawFd) -> std::io::Result<bool> {
        const CHUNK: usize = 64;
        let fd = socket.as_raw_fd();
        while self.sent < self.items.len() {
            let chunk = &self.items[self.sent..self.items.len().min(self.sent + CHUNK)];
            // SAFETY: these are plain C structs for which all-zero is a valid value.
            let mut addrs: [libc::sockaddr_storage; CHUNK] = unsafe { std::mem::zeroed() };
            let mut iovs: [libc::iovec; CHUNK] = unsafe { std::mem::zeroed() };
            let mut msgs: [libc::mmsghdr; CHUNK] = unsafe { std::mem::zeroed() };
            for (i, &(addr, start, len)) in chunk.iter().enumerate() {
                addrs[i] = sockaddr(&addr);
                iovs[i] = libc::iovec { iov_base: self.bytes[start..].as_ptr() as *mut _, iov_len: len };
            }
            for (i, (addr, _, _)) in chunk.iter().enumerate() {
                msgs[i].msg_hdr.msg_name = &mut addrs[i] as *mut _ as *mut libc::c_void;
                msgs[i].msg_hdr.msg_namelen = match addr {
                    SocketAddr::V4(_) => std::mem::size_of::<libc::sockaddr_in>() as u32,
                    SocketAddr::V6(_) => std::mem::size_of::<libc::sockaddr_in6>() as u32,
                };
                msgs[i].msg_hdr.msg_iov = &mut iovs[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: the first `chunk.len()` entries of `msgs` are initialised and point into `addrs`,
            // `iovs` and `self.bytes`, all of which outlive the call and are not moved while it runs.
            let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), chunk.len() as u32, 0) };
            if n < 0 {
                let err = std::io::Error::last_os_error();
                match err.kind() {
                    std::io::ErrorKind::WouldBlock => return Ok(false),
                    std::io::ErrorKind::Interrupted => continue,
                    // One bad destination (unreachable, refused) must not stop the rest: skip it.
                    _ => self.sent += 1,
                }
                continue;
            }
            self.sent += (n as usize).max(1).min(chunk.len());
        }
        self.clear();
        Ok(true)
    }
}

fn sockaddr(addr: &SocketAddr) -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain data; zero is a valid value for it.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage, which is designed to hold any sockaddr.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
        }
    }
    storage
}

/// Socket buffers for the media port. A burst of datagrams (a join storm, a flood of garbage) must wait in
/// the kernel while the shard works, not be dropped there: 8 MiB holds tens of thousands of packets.
pub const SOCKET_BUFFER: usize = 8 * 1024 * 1024;

pub use stoa_media::set_socket_buffers as set_buffers;

/// The attributes of a well-formed STUN message with the given method and class bits (`0x0001`: a
/// binding request), as (type, value) pairs. `None` for anything else. Never reads past the datagram.
fn stun_attributes(datagram: &[u8], message_type: u16) -> Option<impl Iterator<Item = (u16, &[u8])>> {
    const MAGIC: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
    if datagram.len() < 20 || datagram[0] & 0xc0 != 0 || datagram[4..8] != MAGIC {
        return None;
    }
    if u16::from_be_bytes([datagram[0], datagram[1]]) != message_type {
        return None;
    }
    let len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    let attrs = datagram.get(20..20 + len)?;
    let mut at = 0;
    Some(std::iter::from_fn(move || {
        if at + 4 > attrs.len() {
            return None;
        }
        let kind = u16::from_be_bytes([attrs[at], attrs[at + 1]]);
        let alen = u16::from_be_bytes([attrs[at + 2], attrs[at + 3]]) as usize;
        let value = attrs.get(at + 4..at + 4 + alen)?;
        at += 4 + alen.div_ceil(4) * 4;
        Some((kind, value))
    }))
}

const BINDING_REQUEST: u16 = 0x0001;

/// The local (our) ufrag of a STUN binding request, from its USERNAME attribute `ours:theirs`. `None` for
/// anything that is not a well-formed STUN binding request with a USERNAME.
pub fn stun_local_ufrag(datagram: &[u8]) -> Option<&str> {
    stun_username(datagram)?.split(':').next()
}

/// The USERNAME attribute (`ours:theirs`) of a STUN binding request.
pub fn stun_username(datagram: &[u8]) -> Option<&str> {
    const USERNAME: u16 = 0x0006;
    let (_, value) = stun_attributes(datagram, BINDING_REQUEST)?.find(|(kind, _)| *kind == USERNAME)?;
    std::str::from_utf8(value).ok()
}

/// Whether a datagram is a STUN binding request that nominates its candidate pair (USE-CANDIDATE, RFC 8445
/// §7.1.2). As an ICE-lite agent, the server sends media where the client last nominated: this is how a
/// client moves its media to a new path (a new network, a NAT that rebound its port).
pub fn stun_nominates(datagram: &[u8]) -> bool {
    const USE_CANDIDATE: u16 = 0x0025;
    stun_attributes(datagram, BINDING_REQUEST).is_some_and(|mut attrs| attrs.any(|(kind, _)| kind == USE_CANDIDATE))
}

/// Whether a datagram is a STUN binding success response (what str0m sends to a check it accepted).
pub fn stun_is_success(datagram: &[u8]) -> bool {
    datagram.len() >= 20 && datagram[0] == 0x01 && datagram[1] == 0x01
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stun_ufrag_is_read_and_garbage_is_refused() {
        let mut msg = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42];
        msg.extend_from_slice(&[7; 12]);
        let user = b"srvfrag1:clnt";
        let mut attr = vec![0x00, 0x06, 0, user.len() as u8];
        attr.extend_from_slice(user);
        attr.extend_from_slice(&[0; 3]);
        msg[3] = attr.len() as u8;
        msg.extend_from_slice(&attr);
        assert_eq!(stun_local_ufrag(&msg), Some("srvfrag1"));
        assert!(!stun_nominates(&msg), "no USE-CANDIDATE");
        let mut nominating = msg.clone();
        nominating.extend_from_slice(&[0x00, 0x25, 0, 0]);
        nominating[3] += 4;
        assert!(stun_nominates(&nominating));
        assert_eq!(stun_local_ufrag(&nominating), Some("srvfrag1"));
        for cut in 0..nominating.len() {
            let _ = stun_nominates(&nominating[..cut]);
        }
        let mut response = nominating.clone();
        response[1] = 0x01;
        response[0] = 0x01;
        assert!(!stun_nominates(&response) && stun_local_ufrag(&response).is_none(), "only requests");
        assert!(stun_is_success(&response));
        for cut in 0..msg.len() {
            let _ = stun_local_ufrag(&msg[..cut]);
        }
        assert_eq!(stun_local_ufrag(&[0xff; 40]), None);
        assert_eq!(stun_local_ufrag(b""), None);
    }
}
