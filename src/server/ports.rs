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

/// Raises the soft limit on open files so every RTP and RTCP port of
/// `min..=max` can be open at once with room for the rest (SIP, HTTP, the
/// store, models): two sockets per call when callers do not multiplex RTCP.
/// The common soft default of 1,024 would cap a 1,000-port range at about
/// 450 calls. Returns the soft limit in force; never lowers it.
pub fn raise_fd_limit(min: u16, max: u16) -> u64 {
    let want = u64::from(max.saturating_sub(min)) + 1 + 512;
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    let soft = lim.rlim_cur;
    if soft >= want {
        return soft;
    }
    let target = want.min(lim.rlim_max);
    if target > soft {
        let new = libc::rlimit { rlim_cur: target, rlim_max: lim.rlim_max };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            tracing::info!(from = soft, to = target, "raised the open-files limit for RTP/RTCP sockets");
        }
    }
    if target < want {
        tracing::warn!(limit = target, want, "open-files hard limit is below what the RTP port range needs");
    }
    // SAFETY: as above.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        soft
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

    #[test]
    fn the_open_files_limit_covers_the_port_range_where_the_hard_limit_allows() {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes the struct.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        let soft = raise_fd_limit(20_000, 20_999);
        assert!(soft >= (1000 + 512u64).min(lim.rlim_max), "{soft}");
        assert!(soft >= lim.rlim_cur, "never lowered");
    }
}
