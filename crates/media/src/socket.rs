//! Socket buffers: media comes in bursts, which should queue in the kernel rather than be dropped.

use std::os::fd::AsRawFd;

/// Sets a socket's receive and send buffers to `bytes`. As root, past `net.core.rmem_max`/`wmem_max`
/// (SO_*BUFFORCE); otherwise up to those limits. Failure is not fatal: the kernel's defaults still work.
pub fn set_socket_buffers(socket: &impl AsRawFd, bytes: usize) {
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
