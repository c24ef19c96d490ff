//! UDP sockets with large kernel buffers, for SIP. The kernel's default receive buffer
//! (about 208 kB on Linux) fills within milliseconds at a thousand calls a second whenever
//! the process waits for a core, and every datagram past it is dropped: a lost INVITE
//! response or BYE. [`bind_sip`] asks for [`SIP_BUFFER_BYTES`] of receive and send buffer;
//! the kernel caps the request at `net.core.rmem_max` / `net.core.wmem_max`, which is not an
//! error: the size actually granted is logged at debug level.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Receive and send buffer asked for on the SIP socket.
pub const SIP_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// The buffer sizes the kernel granted (as it reports them: Linux doubles the request to
/// account for its bookkeeping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffers {
    /// SO_RCVBUF.
    pub receive: usize,
    /// SO_SNDBUF.
    pub send: usize,
}

/// Binds the SIP socket at `addr` with [`SIP_BUFFER_BYTES`] buffers, non-blocking, for tokio
/// (call it inside a runtime).
pub fn bind_sip(addr: SocketAddr) -> io::Result<tokio::net::UdpSocket> {
    bind_udp(addr, SIP_BUFFER_BYTES).map(|(socket, _)| socket)
}

/// Binds a non-blocking UDP socket at `addr` asking for `buffer` bytes of receive and send
/// buffer, for tokio (call it inside a runtime); returns it with the sizes granted.
pub fn bind_udp(addr: SocketAddr, buffer: usize) -> io::Result<(tokio::net::UdpSocket, Buffers)> {
    let (socket, buffers) = bind_std(addr, buffer)?;
    let socket = tokio::net::UdpSocket::from_std(socket)
        .map_err(|e| io::Error::new(e.kind(), format!("registering UDP {addr} with tokio: {e}")))?;
    Ok((socket, buffers))
}

/// Binds a non-blocking standard UDP socket at `addr` asking for `buffer` bytes of receive
/// and send buffer; returns it with the sizes granted. A buffer the kernel refuses or caps is
/// logged, never an error.
pub fn bind_std(addr: SocketAddr, buffer: usize) -> io::Result<(std::net::UdpSocket, Buffers)> {
    let context = |what: &str, e: io::Error| {
        io::Error::new(e.kind(), format!("{what} UDP socket {addr}: {e}"))
    };
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| context("creating", e))?;
    if let Err(e) = socket.set_recv_buffer_size(buffer) {
        tracing::warn!(%addr, buffer, error = %e, "could not enlarge the UDP receive buffer");
    }
    if let Err(e) = socket.set_send_buffer_size(buffer) {
        tracing::warn!(%addr, buffer, error = %e, "could not enlarge the UDP send buffer");
    }
    socket.set_nonblocking(true).map_err(|e| context("making non-blocking the", e))?;
    socket.bind(&addr.into()).map_err(|e| context("binding", e))?;
    let buffers = Buffers {
        receive: socket.recv_buffer_size().unwrap_or(0),
        send: socket.send_buffer_size().unwrap_or(0),
    };
    tracing::debug!(
        %addr,
        asked = buffer,
        receive = buffers.receive,
        send = buffers.send,
        "UDP socket buffers granted (capped by net.core.rmem_max and wmem_max)"
    );
    Ok((socket.into(), buffers))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's cap on SO_RCVBUF requests, where Linux tells it.
    fn rmem_max() -> Option<usize> {
        std::fs::read_to_string("/proc/sys/net/core/rmem_max").ok()?.trim().parse().ok()
    }

    #[test]
    fn the_buffer_is_enlarged_up_to_the_kernel_cap_and_the_socket_works() {
        let asked = 1024 * 1024;
        let (socket, buffers) =
            bind_std("127.0.0.1:0".parse().expect("literal address"), asked).expect("bind");
        let plain = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let default = Socket::from(plain).recv_buffer_size().expect("SO_RCVBUF");
        if let Some(cap) = rmem_max() {
            assert!(
                buffers.receive >= asked.min(cap),
                "granted {} for {asked} asked (cap {cap}, default {default})",
                buffers.receive
            );
        }
        assert!(buffers.receive >= default, "never smaller than the default");
        assert!(buffers.send > 0);

        // Non-blocking: an empty socket says so at once instead of waiting.
        let mut buf = [0u8; 16];
        let empty = socket.recv_from(&mut buf).expect_err("nothing was sent");
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
        let addr = socket.local_addr().expect("bound address");
        socket.send_to(b"ping", addr).expect("send to self");
        let mut got = None;
        for _ in 0..100 {
            match socket.recv_from(&mut buf) {
                Ok((n, _)) => {
                    got = buf.get(..n).map(<[u8]>::to_vec);
                    break;
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
        assert_eq!(got.as_deref(), Some(&b"ping"[..]));
    }

    #[tokio::test]
    async fn the_sip_socket_is_a_tokio_socket() {
        let a = bind_sip("127.0.0.1:0".parse().expect("literal address")).expect("bind");
        let b = bind_sip("127.0.0.1:0".parse().expect("literal address")).expect("bind");
        let to = b.local_addr().expect("bound address");
        a.send_to(b"OPTIONS", to).await.expect("send");
        let mut buf = [0u8; 16];
        let (n, from) = b.recv_from(&mut buf).await.expect("receive");
        assert_eq!(buf.get(..n), Some(&b"OPTIONS"[..]));
        assert_eq!(from, a.local_addr().expect("bound address"));
    }
}
