//! RTP port allocation from the configured range (even ports, RFC 3550;
//! the odd port above for RTCP when the caller does not multiplex it).

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

    /// Binds a UDP socket on the next free even port, and with `rtcp` its
    /// odd neighbour for RTCP (RFC 3550 §11: RTCP on the RTP port + 1, for
    /// callers that do not multiplex it). Ports are released when the sockets
    /// are dropped; the rotation spreads reuse over the range.
    pub fn bind(&self, ip: IpAddr, rtcp: bool) -> std::io::Result<(UdpSocket, Option<UdpSocket>)> {
        let slots = ((self.max - self.min) / 2 + 1) as u32;
        for _ in 0..slots {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % slots;
            let port = self.min + (i * 2) as u16;
            let Ok(s) = UdpSocket::bind(SocketAddr::new(ip, port)) else { continue };
            let pair = if rtcp {
                match port.checked_add(1).map(|p| UdpSocket::bind(SocketAddr::new(ip, p))) {
                    Some(Ok(c)) => Some(c),
                    _ => continue,
                }
            } else {
                None
            };
            s.set_nonblocking(true)?;
            if let Some(c) = &pair {
                c.set_nonblocking(true)?;
            }
            return Ok((s, pair));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_an_even_port_and_its_rtcp_neighbour_skipping_taken_pairs() {
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        // Find a free pair of pairs, then take the first pair's RTCP port.
        let (min, hold) = (0..200)
            .map(|k| 41_000 + 4 * k)
            .find_map(|p| UdpSocket::bind((ip, p + 1)).ok().map(|h| (p, h)))
            .expect("a free port");
        let ports = RtpPorts::new(min, min + 2);
        let (rtp, rtcp) = ports.bind(ip, true).expect("second pair");
        let port = rtp.local_addr().expect("addr").port();
        assert_eq!(port, min + 2, "the pair whose odd port is taken is skipped");
        assert_eq!(rtcp.expect("rtcp").local_addr().expect("addr").port(), port + 1);
        drop(hold);
        let (rtp2, none) = ports.bind(ip, false).expect("rtp only");
        assert_eq!((rtp2.local_addr().expect("addr").port(), none.is_none()), (min, true));
    }
}
