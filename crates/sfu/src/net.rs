//! Socket-level helpers: batched sends with `sendmmsg`, and reading the ufrag out of a STUN request.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// Sends many datagrams (each to its own destination) with as few system calls as possible. Returns how
/// many were sent; stops early when the socket would block.
pub fn send_batch(socket: &impl AsRawFd, batch: &[(SocketAddr, Vec<u8>)]) -> std::io::Result<usize> {
    if batch.is_empty() {
        return Ok(0);
    }
    let fd = socket.as_raw_fd();
    let mut sent = 0;
    // A bounded chunk keeps the arrays on the stack-friendly side and under the kernel's UIO_MAXIOV.
    for chunk in batch.chunks(256) {
        let mut addrs: Vec<libc::sockaddr_storage> = Vec::with_capacity(chunk.len());
        let mut iovs: Vec<libc::iovec> = Vec::with_capacity(chunk.len());
        for (addr, data) in chunk {
            addrs.push(sockaddr(addr));
            iovs.push(libc::iovec { iov_base: data.as_ptr() as *mut _, iov_len: data.len() });
        }
        let mut msgs: Vec<libc::mmsghdr> = Vec::with_capacity(chunk.len());
        for (i, (addr, _)) in chunk.iter().enumerate() {
            // SAFETY: a zeroed msghdr is valid; the pointers below point into `addrs` and `iovs`, which
            // outlive the sendmmsg call and are not moved while it runs.
            let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
            hdr.msg_name = &mut addrs[i] as *mut _ as *mut libc::c_void;
            hdr.msg_namelen = match addr {
                SocketAddr::V4(_) => std::mem::size_of::<libc::sockaddr_in>() as u32,
                SocketAddr::V6(_) => std::mem::size_of::<libc::sockaddr_in6>() as u32,
            };
            hdr.msg_iov = &mut iovs[i];
            hdr.msg_iovlen = 1;
            msgs.push(libc::mmsghdr { msg_hdr: hdr, msg_len: 0 });
        }
        let mut offset = 0;
        while offset < msgs.len() {
            // SAFETY: `msgs[offset..]` is a valid array of initialised mmsghdr whose pointers are live.
            let n = unsafe { libc::sendmmsg(fd, msgs[offset..].as_mut_ptr(), (msgs.len() - offset) as u32, 0) };
            if n < 0 {
                let err = std::io::Error::last_os_error();
                match err.kind() {
                    // The caller waits until the socket is writable and sends the rest.
                    std::io::ErrorKind::WouldBlock => return Ok(sent),
                    std::io::ErrorKind::Interrupted => continue,
                    // One bad destination (unreachable, refused) must not stop the rest: skip it.
                    _ => {
                        offset += 1;
                        sent += 1;
                        continue;
                    }
                }
            }
            offset += n as usize;
            sent += n as usize;
        }
    }
    Ok(sent)
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

/// Sets a socket's receive and send buffers to `bytes`. As root, past `net.core.rmem_max`/`wmem_max`
/// (SO_*BUFFORCE); otherwise up to those limits. Failure is not fatal: the kernel's defaults still work.
pub fn set_buffers(socket: &impl AsRawFd, bytes: usize) {
    let fd = socket.as_raw_fd();
    let value = bytes as libc::c_int;
    for (force, plain) in [(libc::SO_RCVBUFFORCE, libc::SO_RCVBUF), (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)] {
        for option in [force, plain] {
            // SAFETY: fd is a live socket; the option value is a c_int of the size given.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    option,
                    &value as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
        }
    }
}

/// The local (our) ufrag of a STUN binding request, from its USERNAME attribute `ours:theirs`. `None` for
/// anything that is not a well-formed STUN message with a USERNAME. Never reads past the datagram.
pub fn stun_local_ufrag(datagram: &[u8]) -> Option<&str> {
    const MAGIC: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
    const USERNAME: u16 = 0x0006;
    if datagram.len() < 20 || datagram[0] & 0xc0 != 0 || datagram[4..8] != MAGIC {
        return None;
    }
    let len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    let attrs = datagram.get(20..20 + len)?;
    let mut at = 0;
    while at + 4 <= attrs.len() {
        let kind = u16::from_be_bytes([attrs[at], attrs[at + 1]]);
        let alen = u16::from_be_bytes([attrs[at + 2], attrs[at + 3]]) as usize;
        let value = attrs.get(at + 4..at + 4 + alen)?;
        if kind == USERNAME {
            let username = std::str::from_utf8(value).ok()?;
            return username.split(':').next();
        }
        at += 4 + alen.div_ceil(4) * 4;
    }
    None
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
        for cut in 0..msg.len() {
            let _ = stun_local_ufrag(&msg[..cut]);
        }
        assert_eq!(stun_local_ufrag(&[0xff; 40]), None);
        assert_eq!(stun_local_ufrag(b""), None);
    }
}
