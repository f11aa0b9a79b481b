//! The media clock: one OS thread sends every call's outgoing RTP on a 20 ms
//! grid. Calls are spread over the 20 one-millisecond phases of the grid, so
//! each wake-up serves a small batch, and the thread sleeps on absolute
//! deadlines (sub-millisecond precision, unlike async timers rounded to
//! whole milliseconds). Per call it costs one encode and one `sendto` per
//! 20 ms — no task wake-up.

use std::net::SocketAddr;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::metrics::Metrics;
use super::player::{Frame, Player};
use crate::codec::{Encoder, SAMPLES_PER_FRAME_8K};
use crate::rtp::packet::RtpSender;

const FRAME: Duration = Duration::from_millis(20);
const PHASES: usize = 20;
const LATE: Duration = Duration::from_millis(5);

/// What a call sends; shared between the call task (which queues prompts,
/// changes codec or destination) and the media clock (which sends).
pub struct Outbound {
    pub player: Player,
    pub encoder: Option<Box<dyn Encoder>>,
    pub sender: Option<RtpSender>,
    pub remote: Option<SocketAddr>,
    /// Sending allowed (answered, not on hold, not hung up).
    pub sending: bool,
    /// When the call is recorded: every frame sent, until the call task takes it.
    pub tap: Option<Vec<i16>>,
    /// SRTP: protects every packet sent (our SDES key), RTCP included.
    pub srtp: Option<crate::rtp::srtp::Srtp>,
}

impl Outbound {
    pub fn new() -> Outbound {
        Outbound {
            player: Player::default(),
            encoder: None,
            sender: None,
            remote: None,
            sending: false,
            tap: None,
            srtp: None,
        }
    }
}

impl Default for Outbound {
    fn default() -> Self {
        Self::new()
    }
}

struct Stream {
    out: Arc<Mutex<Outbound>>,
    socket: Arc<UdpSocket>,
    finished: mpsc::UnboundedSender<()>,
    due: Instant,
}

struct Registration(Stream);

/// Handle to the media clock thread.
pub struct Pacer {
    tx: Mutex<std_mpsc::Sender<Registration>>,
}

impl Pacer {
    pub fn start(metrics: Arc<Metrics>) -> std::io::Result<Pacer> {
        let (tx, rx) = std_mpsc::channel();
        std::thread::Builder::new().name("sori-media-clock".into()).spawn(move || run(rx, metrics))?;
        Ok(Pacer { tx: Mutex::new(tx) })
    }

    /// Starts sending `out` on `socket` from the next free slot. The stream
    /// is dropped by the clock once the caller drops its `out` handle.
    /// `finished` gets a message each time the prompt queue runs dry.
    pub fn add(&self, out: Arc<Mutex<Outbound>>, socket: Arc<UdpSocket>, finished: mpsc::UnboundedSender<()>) {
        let reg = Registration(Stream { out, socket, finished, due: Instant::now() });
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(reg);
        }
    }
}

fn run(rx: std_mpsc::Receiver<Registration>, metrics: Arc<Metrics>) {
    let mut phases: Vec<Vec<Stream>> = (0..PHASES).map(|_| Vec::new()).collect();
    let start = Instant::now();
    let mut tick: u64 = 0;
    let mut pcm = [0i16; SAMPLES_PER_FRAME_8K];
    let mut payload = Vec::with_capacity(256);
    let mut packet = Vec::with_capacity(300);
    loop {
        let wake = start + Duration::from_millis(tick);
        let now = Instant::now();
        if wake > now {
            std::thread::sleep(wake - now);
        }
        let phase = (tick % PHASES as u64) as usize;
        // New streams join the least loaded phase, first due one frame from now.
        loop {
            match rx.try_recv() {
                Ok(Registration(mut s)) => {
                    let (best, _) = phases.iter().enumerate().min_by_key(|(_, v)| v.len()).unwrap_or((0, &phases[0]));
                    let ahead = (best + PHASES - phase) % PHASES;
                    s.due =
                        wake + Duration::from_millis(ahead as u64) + if ahead == 0 { FRAME } else { Duration::ZERO };
                    phases[best].push(s);
                }
                Err(std_mpsc::TryRecvError::Empty) => break,
                Err(std_mpsc::TryRecvError::Disconnected) => {
                    if phases.iter().all(|p| p.is_empty()) {
                        return;
                    }
                    break;
                }
            }
        }
        let bucket = &mut phases[phase];
        bucket.retain(|s| Arc::strong_count(&s.out) > 1);
        if bucket.capacity() > 64 && bucket.len() * 4 < bucket.capacity() {
            bucket.shrink_to_fit();
        }
        for s in bucket.iter_mut() {
            if s.due > wake + Duration::from_millis(1) {
                continue; // joined this phase after this tick's slot
            }
            let due = s.due;
            s.due += FRAME;
            let Ok(mut out) = s.out.lock() else { continue };
            if !out.sending {
                if let Some(snd) = out.sender.as_mut() {
                    snd.skip();
                }
                continue;
            }
            if out.player.next_frame(&mut pcm) == Frame::Finished {
                let _ = s.finished.send(());
            }
            let Outbound { encoder, sender, remote, tap, srtp, .. } = &mut *out;
            let (Some(enc), Some(snd), Some(dst)) = (encoder.as_mut(), sender.as_mut(), *remote) else { continue };
            payload.clear();
            if enc.encode(&pcm, &mut payload).is_err() {
                continue;
            }
            if let Some(tap) = tap.as_mut() {
                tap.extend_from_slice(&pcm);
            }
            snd.next_packet(&payload, &mut packet);
            if let Some(srtp) = srtp.as_mut() {
                if srtp.protect_rtp(&mut packet).is_err() {
                    continue;
                }
            }
            drop(out);
            if s.socket.try_send_to(&packet, dst).is_ok() {
                let late = Instant::now().saturating_duration_since(due);
                Metrics::inc(&metrics.rtp_sent);
                metrics.observe_lateness(late);
                if late > LATE {
                    Metrics::inc(&metrics.rtp_late);
                }
            }
        }
        tick += 1;
        // After a stall (suspend, overload) do not replay hundreds of missed
        // ticks in a burst: skip whole frames, keeping phases aligned.
        let behind = Instant::now().saturating_duration_since(start + Duration::from_millis(tick));
        if behind > Duration::from_millis(200) {
            let skip = (behind.as_millis() as u64 / PHASES as u64) * PHASES as u64;
            tick += skip;
            for s in phases.iter_mut().flatten() {
                s.due += Duration::from_millis(skip);
                if let Ok(mut out) = s.out.lock() {
                    if let Some(snd) = out.sender.as_mut() {
                        (0..skip / PHASES as u64).for_each(|_| snd.skip());
                    }
                }
            }
        }
    }
}
