//! The bench's listeners' UDP: datagrams read in batches with `recvmmsg`, each with the kernel's arrival
//! time and the address it was sent to, and sent from any of this host's loopback addresses.
//!
//! On loopback, a media loop's listeners share one socket: each listener has its own address in
//! 127.0.0.0/8 (all of which is this host's) on the socket's port, so the server sees a peer per address as
//! it would see hosts, while the bench reads every listener's packets with one call per batch instead of an
//! `epoll` wake-up and a `recvmsg` for each packet.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime};

/// Datagrams read in one call at most.
pub(crate) const BATCH: usize = 64;
const SIZE: usize = 2048;
/// Room for the two control messages asked for (arrival time and packet information), aligned.
const CONTROL: usize = 64;

/// The first address of listeners' own loopback addresses: listener `i` is on `LISTENER_NET + i`.
const LISTENER_NET: u32 = u32::from_be_bytes([127, 16, 0, 0]);

/// Listener `place`'s loopback address, or `None` past the end of 127.0.0.0/8.
pub(crate) fn listener_ip(place: usize) -> Option<Ipv4Addr> {
    let ip = LISTENER_NET.checked_add(u32::try_from(place).ok()?)?;
    (ip < u32::from_be_bytes([127, 255, 255, 255])).then(|| Ipv4Addr::from(ip))
}

/// Which listener's place a loopback address is, if it is a listener's.
pub(crate) fn listener_place(ip: Ipv4Addr) -> Option<usize> {
    u32::from(ip).checked_sub(LISTENER_NET).map(|p| p as usize).filter(|_| ip.is_loopback())
}

/// One datagram of a batch.
pub(crate) struct Datagram<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) source: SocketAddr,
    /// The address it was sent to (IPv4 only).
    pub(crate) destination: Option<Ipv4Addr>,
    /// When the kernel took it in.
    pub(crate) stamp: Option<SystemTime>,
}

/// Buffers for one `recvmmsg` of up to [`BATCH`] datagrams. The headers point into the vectors' heap
/// buffers, which stay where they are when the batch moves.
pub(crate) struct Batch {
    data: Vec<[u8; SIZE]>,
    names: Vec<libc::sockaddr_storage>,
    controls: Vec<[u64; CONTROL / 8]>,
    iovs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    len: usize,
}

impl Batch {
    pub(crate) fn new() -> Batch {
        // SAFETY: all-zero sockaddr_storage and mmsghdr values are valid empty ones.
        let mut b = Batch {
            data: vec![[0; SIZE]; BATCH],
            names: vec![unsafe { std::mem::zeroed() }; BATCH],
            controls: vec![[0; CONTROL / 8]; BATCH],
            iovs: Vec::with_capacity(BATCH),
            headers: Vec::with_capacity(BATCH),
            len: 0,
        };
        for k in 0..BATCH {
            let iov = libc::iovec { iov_base: b.data[k].as_mut_ptr() as *mut libc::c_void, iov_len: SIZE };
            b.iovs.push(iov);
        }
        for k in 0..BATCH {
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = &mut b.names[k] as *mut _ as *mut libc::c_void;
            h.msg_hdr.msg_iov = &mut b.iovs[k];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = b.controls[k].as_mut_ptr() as *mut libc::c_void;
            b.headers.push(h);
        }
        b
    }

    /// Reads what `socket` holds, up to a batch, without waiting; returns how many datagrams were read.
    pub(crate) fn recv(&mut self, socket: &UdpSocket) -> usize {
        for h in &mut self.headers {
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            h.msg_hdr.msg_controllen = CONTROL as _;
            h.msg_len = 0;
        }
        // SAFETY: every header points into this batch's own buffers, with their true lengths; they live as
        // long as `self`, which the call borrows mutably.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        self.len = n.max(0) as usize;
        self.len
    }

    /// Datagram `k` of the last read; `None` if its sender's address is not IP.
    pub(crate) fn get(&self, k: usize) -> Option<Datagram<'_>> {
        let h = &self.headers[..self.len][k];
        let data = &self.data[k][..h.msg_len as usize];
        let source = socket_addr(&self.names[k])?;
        let (mut stamp, mut destination) = (None, None);
        // SAFETY: the control messages are read within the length the kernel reported for this header.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&h.msg_hdr);
            while !cmsg.is_null() {
                match ((*cmsg).cmsg_level, (*cmsg).cmsg_type) {
                    (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                        let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec);
                        stamp = Some(SystemTime::UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
                    }
                    (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                        let info = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::in_pktinfo);
                        destination = Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
                    }
                    _ => {}
                }
                cmsg = libc::CMSG_NXTHDR(&h.msg_hdr, cmsg);
            }
        }
        Some(Datagram { data, source, destination, stamp })
    }
}

fn socket_addr(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    // SAFETY: the family says which of the address structures the storage holds.
    unsafe {
        match name.ss_family as libc::c_int {
            libc::AF_INET => {
                let a = &*(name as *const _ as *const libc::sockaddr_in);
                Some(SocketAddr::from((Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)), u16::from_be(a.sin_port))))
            }
            libc::AF_INET6 => {
                let a = &*(name as *const _ as *const libc::sockaddr_in6);
                Some(SocketAddr::from((std::net::Ipv6Addr::from(a.sin6_addr.s6_addr), u16::from_be(a.sin6_port))))
            }
            _ => None,
        }
    }
}

fn set_int(socket: &impl AsRawFd, level: libc::c_int, option: libc::c_int, value: libc::c_int) -> std::io::Result<()> {
    // SAFETY: a live socket and an int option of its true size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            option,
            &value as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Asks the kernel for each datagram's arrival time (and, with `destination`, the address it was sent to).
pub(crate) fn stamp_arrivals(socket: &UdpSocket, destination: bool) -> std::io::Result<()> {
    set_int(socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    if destination {
        set_int(socket, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
    }
    Ok(())
}

/// A non-blocking UDP socket on `addr` that others may share the port of (`SO_REUSEADDR`): the shared
/// socket on the wildcard address, and each listener's own socket on its address while it joins.
pub(crate) fn bind_shared(addr: SocketAddrV4) -> std::io::Result<UdpSocket> {
    // SAFETY: a new socket, owned from here by the UdpSocket; the address is a sockaddr_in of its size.
    let socket = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        <UdpSocket as std::os::fd::FromRawFd>::from_raw_fd(fd)
    };
    set_int(&socket, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    let name = sockaddr_in(addr);
    // SAFETY: as above.
    let rc = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            &name as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(socket)
}

fn sockaddr_in(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*addr.ip()).to_be() },
        sin_zero: [0; 8],
    }
}

/// Sends `data` to `to` from `socket` (bound to the wildcard address) with `from` as its source address.
pub(crate) fn send_from(socket: &UdpSocket, from: Ipv4Addr, to: SocketAddr, data: &[u8]) {
    let SocketAddr::V4(to) = to else { return };
    let mut name = sockaddr_in(to);
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    let mut control = [0u64; CONTROL / 8];
    // SAFETY: the header points at locals that outlive the call, with their true lengths; the one control
    // message is written within `control`, which CMSG_SPACE of an in_pktinfo fits.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = &mut name as *mut _ as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<libc::in_pktinfo>() as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::IPPROTO_IP;
        (*cmsg).cmsg_type = libc::IP_PKTINFO;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::in_pktinfo>() as u32) as _;
        let info = libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: libc::in_addr { s_addr: u32::from(from).to_be() },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::in_pktinfo, info);
        libc::sendmsg(socket.as_raw_fd(), &msg, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_socket_reads_each_listeners_datagrams_with_its_address_and_sends_from_it() {
        let shared = bind_shared(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        stamp_arrivals(&shared, true).unwrap();
        let port = shared.local_addr().unwrap().port();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a, b) = (listener_ip(0).unwrap(), listener_ip(70_000).unwrap());
        assert_eq!(b, Ipv4Addr::new(127, 17, 17, 112));
        // While a listener's own socket is open, its datagrams go there, not to the shared socket.
        let own = bind_shared(SocketAddrV4::new(a, port)).unwrap();
        peer.send_to(b"first", (a, port)).unwrap();
        peer.send_to(b"second", (b, port)).unwrap();
        drop(own);
        peer.send_to(b"third", (a, port)).unwrap();
        let mut batch = Batch::new();
        let mut got = Vec::new();
        while got.len() < 2 {
            for k in 0..batch.recv(&shared) {
                let d = batch.get(k).unwrap();
                assert!(d.stamp.is_some());
                assert_eq!(d.source, peer.local_addr().unwrap());
                got.push((d.destination.unwrap(), d.data.to_vec()));
            }
        }
        assert_eq!(got, vec![(b, b"second".to_vec()), (a, b"third".to_vec())]);
        // What a listener sends leaves from its own address and the shared port.
        send_from(&shared, b, peer.local_addr().unwrap(), b"back");
        let mut buf = [0; 16];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"back"[..], SocketAddr::from((b, port))));
        assert_eq!(listener_ip(usize::MAX), None);
        assert_eq!(listener_place(b), Some(70_000));
        assert_eq!(listener_place(Ipv4Addr::LOCALHOST), None);
    }
}
