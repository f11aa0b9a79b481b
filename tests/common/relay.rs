//! A UDP impairment relay for media on loopback (this kernel has no netem):
//! it sits between a caller and sori's RTP port and applies
//! [`sori::rtp::impair`] to each direction — loss, burst loss, jitter,
//! reordering, duplication, one-way silence.
//!
//! ```text
//! caller RTP ──▶ caller_side ─[to_sori]──▶ sori_side ──▶ sori's RTP port
//! caller RTP ◀── caller_side ◀─[to_caller]─ sori_side ◀── sori's RTP port
//! ```
//! The caller sends its RTP to `caller_side` and names `sori_side` in its
//! SDP, so sori sends there from the start; sori's symmetric-RTP latch then
//! sees the caller's packets coming from `sori_side` too and stays on it.
//! sori's address is learnt from its first packet (or [`Relay::set_sori`]).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sori::rtp::impair::{Channel, ImpairStats, Impairment};

/// What the relay did, per direction.
#[derive(Debug, Clone, Copy, Default)]
pub struct RelayStats {
    pub to_sori: ImpairStats,
    pub to_caller: ImpairStats,
    /// Datagrams sent on to sori / to the caller (copies included).
    pub delivered_to_sori: u64,
    pub delivered_to_caller: u64,
}

#[derive(Default)]
struct Shared {
    sori: Option<SocketAddr>,
    stats: RelayStats,
}

pub struct Relay {
    /// Where the caller sends its RTP.
    pub caller_side: SocketAddr,
    /// Where sori sends (the caller's SDP names this address).
    pub sori_side: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    /// A relay for a caller receiving RTP at `caller`, impairing each
    /// direction with its own model (seeded from `seed`).
    pub fn start(caller: SocketAddr, to_sori: Impairment, to_caller: Impairment, seed: u64) -> Relay {
        let a = UdpSocket::bind("127.0.0.1:0").expect("bind relay caller side");
        let b = UdpSocket::bind("127.0.0.1:0").expect("bind relay sori side");
        a.set_nonblocking(true).expect("nonblocking");
        b.set_nonblocking(true).expect("nonblocking");
        let (caller_side, sori_side) = (a.local_addr().expect("addr"), b.local_addr().expect("addr"));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut up: Channel<Instant, Vec<u8>> = Channel::new(to_sori, seed);
                let mut down: Channel<Instant, Vec<u8>> = Channel::new(to_caller, seed.wrapping_add(0x5EED));
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    while let Ok((n, _)) = a.recv_from(&mut buf) {
                        up.push(now, buf[..n].to_vec());
                    }
                    while let Ok((n, src)) = b.recv_from(&mut buf) {
                        shared.lock().expect("relay state").sori.get_or_insert(src);
                        down.push(now, buf[..n].to_vec());
                    }
                    let now = Instant::now();
                    let mut s = shared.lock().expect("relay state");
                    while let Some(p) = up.poll(now) {
                        if let Some(to) = s.sori {
                            let _ = b.send_to(&p, to);
                            s.stats.delivered_to_sori += 1;
                        }
                    }
                    while let Some(p) = down.poll(now) {
                        let _ = a.send_to(&p, caller);
                        s.stats.delivered_to_caller += 1;
                    }
                    s.stats.to_sori = up.stats();
                    s.stats.to_caller = down.stats();
                    drop(s);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        Relay { caller_side, sori_side, shared, stop, thread: Some(thread) }
    }

    /// sori's RTP address (from its SDP answer), before its first packet.
    pub fn set_sori(&self, addr: SocketAddr) {
        self.shared.lock().expect("relay state").sori = Some(addr);
    }

    pub fn stats(&self) -> RelayStats {
        self.shared.lock().expect("relay state").stats
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
