//! RTP port allocation from the configured range (even ports, RFC 3550).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct RtpPorts {
    min: u16,
    max: u16,
    next: AtomicU32,
}

impl RtpPorts {
    pub fn new(min: u16, max: u16) -> RtpPorts {
        RtpPorts { min, max, next: AtomicU32::new(0) }
    }

    /// Binds a UDP socket on the next free even port. Ports are released
    /// when the socket is dropped; the rotation spreads reuse over the range.
    pub fn bind(&self, ip: IpAddr) -> std::io::Result<UdpSocket> {
        let slots = ((self.max - self.min) / 2 + 1) as u32;
        for _ in 0..slots {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % slots;
            let port = self.min + (i * 2) as u16;
            if let Ok(s) = UdpSocket::bind(SocketAddr::new(ip, port)) {
                s.set_nonblocking(true)?;
                return Ok(s);
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("no free RTP port in {}-{}", self.min, self.max),
        ))
    }
}

/// The local address the kernel would use to reach `peer` (no packet is sent).
pub fn local_ip_towards(peer: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if peer.is_ipv4() { "0.0.0.0:0".parse().ok()? } else { "[::]:0".parse().ok()? };
    let s = UdpSocket::bind(bind).ok()?;
    s.connect(SocketAddr::new(peer, 9)).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}
