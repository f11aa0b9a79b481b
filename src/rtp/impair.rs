//! A bad network as a sans-IO model: what happens to each packet of one
//! direction of a media stream. Seeded and deterministic, so a test relay
//! (real UDP sockets on loopback) and the offline STT evaluation (a
//! simulated clock) apply exactly the same impairment.
//!
//! Per packet, in this order:
//! * one-way silence drops everything (`silent`);
//! * loss: independent (`loss`), or bursty with a two-state Gilbert–Elliott
//!   chain ([`Burst`]) whose bad state loses packets in runs;
//! * delay: `delay_ms` plus a uniform draw in `0..=jitter_ms`, so with a
//!   jitter larger than the packet spacing packets overtake each other;
//!   `reorder` holds a packet back by a further `reorder_ms` (explicit
//!   reordering, independent of jitter);
//! * duplication: with probability `duplicate` a second copy follows,
//!   with its own delay draw.
//!
//! [`Channel`] puts the model in front of a queue: push packets as they are
//! sent, poll those whose arrival time has come. Time is generic (a real
//! `Instant` in the relay, a `Duration` since start in the evaluation).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Add;
use std::time::Duration;

/// Gilbert–Elliott burst loss: a good and a bad state, each with its own
/// loss probability, and per-packet transition probabilities between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    /// P(good → bad) per packet.
    pub p_enter: f64,
    /// P(bad → good) per packet (1 / mean burst length).
    pub p_leave: f64,
    /// Loss probability in the good state.
    pub loss_good: f64,
    /// Loss probability in the bad state.
    pub loss_bad: f64,
}

impl Burst {
    /// Bursts of `mean_len` lost packets on average (every packet in the bad
    /// state lost, none in the good one) with `loss` of all packets lost in
    /// the long run: the stationary share of the bad state is `loss`.
    pub fn with_mean(loss: f64, mean_len: f64) -> Burst {
        let loss = loss.clamp(0.0, 0.99);
        let p_leave = 1.0 / mean_len.max(1.0);
        Burst { p_enter: p_leave * loss / (1.0 - loss), p_leave, loss_good: 0.0, loss_bad: 1.0 }
    }
}

/// What the network does to one direction.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Impairment {
    /// Independent loss probability (0..=1); ignored when `burst` is set.
    pub loss: f64,
    /// Burst loss instead of independent loss.
    pub burst: Option<Burst>,
    /// Fixed one-way delay.
    pub delay_ms: u64,
    /// Extra delay drawn uniformly from `0..=jitter_ms` per packet.
    pub jitter_ms: u64,
    /// Probability that a packet is held back a further `reorder_ms`.
    pub reorder: f64,
    pub reorder_ms: u64,
    /// Probability that a packet arrives twice.
    pub duplicate: f64,
    /// Drop every packet (one-way audio).
    pub silent: bool,
}

impl Impairment {
    /// A clean network.
    pub fn none() -> Impairment {
        Impairment::default()
    }

    /// Whether this impairment changes anything at all.
    pub fn is_clean(&self) -> bool {
        let lossless = self.burst.map_or(self.loss <= 0.0, |b| b.loss_good <= 0.0 && b.loss_bad <= 0.0);
        lossless
            && !self.silent
            && self.delay_ms == 0
            && self.jitter_ms == 0
            && (self.reorder <= 0.0 || self.reorder_ms == 0)
            && self.duplicate <= 0.0
    }
}

/// Counters of what the model did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Packets offered.
    pub packets: u64,
    /// Packets dropped (loss or silence).
    pub lost: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Packets given the explicit reorder hold-back.
    pub held_back: u64,
}

/// The seeded per-direction state: random numbers and the burst chain.
#[derive(Debug, Clone)]
pub struct Impairer {
    cfg: Impairment,
    rng: SplitMix64,
    bad: bool,
    stats: ImpairStats,
}

impl Impairer {
    pub fn new(cfg: Impairment, seed: u64) -> Impairer {
        Impairer { cfg, rng: SplitMix64(seed), bad: false, stats: ImpairStats::default() }
    }

    pub fn config(&self) -> &Impairment {
        &self.cfg
    }

    pub fn stats(&self) -> ImpairStats {
        self.stats
    }

    /// The fate of the next packet: the delay of each copy that arrives
    /// (none: lost; two: duplicated).
    pub fn fate(&mut self) -> Vec<Duration> {
        self.stats.packets += 1;
        if self.cfg.silent || self.lost() {
            self.stats.lost += 1;
            return Vec::new();
        }
        let mut copies = vec![self.delay()];
        if self.cfg.duplicate > 0.0 && self.rng.chance(self.cfg.duplicate) {
            self.stats.duplicated += 1;
            copies.push(self.delay());
        }
        copies
    }

    fn lost(&mut self) -> bool {
        match self.cfg.burst {
            Some(b) => {
                let flip = if self.bad { b.p_leave } else { b.p_enter };
                if self.rng.chance(flip) {
                    self.bad = !self.bad;
                }
                self.rng.chance(if self.bad { b.loss_bad } else { b.loss_good })
            }
            None => self.cfg.loss > 0.0 && self.rng.chance(self.cfg.loss),
        }
    }

    fn delay(&mut self) -> Duration {
        let mut ms = self.cfg.delay_ms;
        if self.cfg.jitter_ms > 0 {
            ms += self.rng.below(self.cfg.jitter_ms + 1);
        }
        if self.cfg.reorder > 0.0 && self.rng.chance(self.cfg.reorder) {
            self.stats.held_back += 1;
            ms += self.cfg.reorder_ms;
        }
        Duration::from_millis(ms)
    }
}

/// An impaired one-way channel: packets in at their send time, out at their
/// arrival time (FIFO among packets due at the same instant).
#[derive(Debug)]
pub struct Channel<T, P> {
    impairer: Impairer,
    queue: BinaryHeap<Reverse<(T, u64, Slot<P>)>>,
    order: u64,
}

/// Heap entry payload; compared by nothing (the key is time and order).
#[derive(Debug)]
struct Slot<P>(P);

impl<P> PartialEq for Slot<P> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<P> Eq for Slot<P> {}
impl<P> PartialOrd for Slot<P> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<P> Ord for Slot<P> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T, P> Channel<T, P>
where
    T: Copy + Ord + Add<Duration, Output = T>,
    P: Clone,
{
    pub fn new(cfg: Impairment, seed: u64) -> Self {
        Channel { impairer: Impairer::new(cfg, seed), queue: BinaryHeap::new(), order: 0 }
    }

    /// A packet sent at `now`.
    pub fn push(&mut self, now: T, packet: P) {
        for delay in self.impairer.fate() {
            self.order += 1;
            self.queue.push(Reverse((now + delay, self.order, Slot(packet.clone()))));
        }
    }

    /// The next packet that has arrived by `now`.
    pub fn poll(&mut self, now: T) -> Option<P> {
        match self.queue.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.queue.pop().map(|Reverse((_, _, Slot(p)))| p),
            _ => None,
        }
    }

    /// When the next packet arrives.
    pub fn poll_timeout(&self) -> Option<T> {
        self.queue.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Packets still in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    pub fn stats(&self) -> ImpairStats {
        self.impairer.stats()
    }
}

/// SplitMix64: tiny, seedable, good enough for test traffic.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliver(cfg: Impairment, seed: u64, n: u32) -> (Vec<u32>, ImpairStats) {
        let mut ch: Channel<Duration, u32> = Channel::new(cfg, seed);
        let mut out = Vec::new();
        for i in 0..n {
            let now = Duration::from_millis(20 * u64::from(i));
            ch.push(now, i);
            while let Some(p) = ch.poll(now) {
                out.push(p);
            }
        }
        while let Some(p) = ch.poll(Duration::MAX) {
            out.push(p);
        }
        (out, ch.stats())
    }

    #[test]
    fn clean_channel_delivers_everything_in_order() {
        assert!(Impairment::none().is_clean());
        assert!(Impairment { reorder_ms: 100, ..Default::default() }.is_clean(), "a hold-back never applied");
        assert!(!Impairment { silent: true, ..Default::default() }.is_clean());
        assert!(!Impairment { burst: Some(Burst::with_mean(0.05, 3.0)), ..Default::default() }.is_clean());
        let (out, s) = deliver(Impairment::none(), 1, 500);
        assert_eq!(out, (0..500).collect::<Vec<_>>());
        assert_eq!((s.lost, s.duplicated), (0, 0));
    }

    #[test]
    fn same_seed_same_fate_other_seed_other_fate() {
        let cfg = Impairment { loss: 0.1, jitter_ms: 60, duplicate: 0.02, ..Default::default() };
        assert_eq!(deliver(cfg, 7, 1000), deliver(cfg, 7, 1000));
        assert_ne!(deliver(cfg, 7, 1000).0, deliver(cfg, 8, 1000).0);
    }

    #[test]
    fn loss_rate_is_close_to_the_setting() {
        let (out, s) = deliver(Impairment { loss: 0.1, ..Default::default() }, 3, 20_000);
        let rate = s.lost as f64 / 20_000.0;
        assert!((0.09..0.11).contains(&rate), "{rate}");
        assert_eq!(out.len() as u64, 20_000 - s.lost);
    }

    #[test]
    fn jitter_beyond_the_spacing_reorders() {
        let (out, _) = deliver(Impairment { jitter_ms: 60, ..Default::default() }, 4, 2000);
        let reordered = out.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(reordered > 100, "{reordered}");
        let mut sorted = out.clone();
        sorted.sort();
        assert_eq!(sorted, (0..2000).collect::<Vec<_>>(), "nothing lost or doubled");
        // Within 20 ms of jitter nothing can overtake (uniform 0..=20 ms, 20 ms apart: ties keep order).
        let (out, _) = deliver(Impairment { jitter_ms: 19, ..Default::default() }, 4, 2000);
        assert!(out.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn explicit_reordering_holds_packets_back() {
        let cfg = Impairment { reorder: 0.05, reorder_ms: 50, ..Default::default() };
        let (out, s) = deliver(cfg, 5, 2000);
        assert!(s.held_back > 50);
        assert!(out.windows(2).filter(|w| w[1] < w[0]).count() as u64 >= s.held_back / 2);
    }

    #[test]
    fn duplicates_arrive_twice() {
        let (out, s) = deliver(Impairment { duplicate: 0.1, ..Default::default() }, 6, 5000);
        assert!(s.duplicated > 400 && s.duplicated < 600, "{}", s.duplicated);
        assert_eq!(out.len() as u64, 5000 + s.duplicated);
    }

    #[test]
    fn burst_loss_comes_in_runs_with_the_set_average() {
        let cfg = Impairment { burst: Some(Burst::with_mean(0.1, 4.0)), ..Default::default() };
        let (out, s) = deliver(cfg, 9, 50_000);
        let rate = s.lost as f64 / 50_000.0;
        assert!((0.08..0.12).contains(&rate), "{rate}");
        // Runs of missing packets: mean length near 4 (independent loss: ~1.1).
        let gaps: Vec<u32> = out.windows(2).map(|w| w[1] - w[0] - 1).filter(|&g| g > 0).collect();
        let mean = gaps.iter().sum::<u32>() as f64 / gaps.len() as f64;
        assert!((3.0..5.0).contains(&mean), "{mean}");
    }

    #[test]
    fn silence_drops_everything() {
        let (out, s) = deliver(Impairment { silent: true, ..Default::default() }, 1, 100);
        assert!(out.is_empty());
        assert_eq!(s.lost, 100);
    }

    #[test]
    fn poll_timeout_is_the_next_arrival() {
        let mut ch: Channel<Duration, u8> = Channel::new(Impairment { delay_ms: 30, ..Default::default() }, 1);
        assert_eq!(ch.poll_timeout(), None);
        ch.push(Duration::from_millis(10), 1);
        assert_eq!(ch.poll_timeout(), Some(Duration::from_millis(40)));
        assert_eq!(ch.poll(Duration::from_millis(39)), None);
        assert_eq!(ch.poll(Duration::from_millis(40)), Some(1));
        assert_eq!(ch.in_flight(), 0);
    }
}
