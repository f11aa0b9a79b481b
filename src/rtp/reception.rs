//! Receiver statistics for one RTP source, as RFC 3550 appendix A computes
//! them: sequence-number tracking with wrap-around and restarts (A.1), the
//! expected / lost counts and the fraction lost per report interval (A.3),
//! and the interarrival jitter estimate in timestamp units (A.8). Sans-IO:
//! arrival times are passed in, in the stream's timestamp units.

use super::rtcp::ReportBlock;

/// A.1's bounds: a jump ahead of more than this many packets, or behind by
/// more than `MAX_MISORDER`, is a restart candidate rather than loss.
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
/// Packets in sequence a new source needs before it counts (A.1).
const MIN_SEQUENTIAL: u32 = 2;
const SEQ_MOD: u32 = 1 << 16;

/// Statistics of one source (SSRC).
#[derive(Debug, Clone)]
pub struct Reception {
    ssrc: u32,
    max_seq: u16,
    /// Shifted count of sequence number cycles (multiples of 65536).
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Relative transit time of the previous packet (None before the first).
    transit: Option<u32>,
    /// The A.8 estimate, kept unrounded.
    jitter: f64,
}

impl Reception {
    /// A new source seen with its first packet's sequence number; the
    /// packet itself is then given to [`on_packet`](Self::on_packet).
    pub fn new(ssrc: u32, seq: u16) -> Reception {
        let mut r = Reception {
            ssrc,
            max_seq: seq.wrapping_sub(1),
            cycles: 0,
            base_seq: 0,
            bad_seq: SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter: 0.0,
        };
        r.init_seq(seq);
        r.max_seq = seq.wrapping_sub(1);
        r.probation = MIN_SEQUENTIAL;
        r
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// A.1 `update_seq`: takes a packet's sequence number; false when the
    /// packet does not count (probation, or a jump being confirmed).
    ///
    /// One deviation: the packets of probation are counted once the source
    /// is valid (base is the first of them), so a call's received count is
    /// every packet that arrived, not all but the first.
    fn update_seq(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq.wrapping_sub(MIN_SEQUENTIAL as u16 - 1));
                    self.max_seq = seq;
                    self.received = MIN_SEQUENTIAL;
                    return true;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return false;
        }
        if udelta < MAX_DROPOUT {
            // In order, with a permissible gap.
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(SEQ_MOD);
            }
            self.max_seq = seq;
        } else if udelta <= (SEQ_MOD as u16).wrapping_sub(MAX_MISORDER) {
            // A very large jump: the sender restarted, or this is garbage.
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets: a restart; start over.
                self.init_seq(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (SEQ_MOD - 1);
                return false;
            }
        }
        // else: a duplicate or reordered packet.
        self.received += 1;
        true
    }

    /// One packet: its sequence number, RTP timestamp, and arrival time in
    /// the same timestamp units (wrapping). `timed` is false for packets
    /// whose timestamp does not advance with time (RFC 4733 events repeat
    /// theirs), which count for loss but not for jitter.
    pub fn on_packet(&mut self, seq: u16, ts: u32, arrival: u32, timed: bool) {
        if !self.update_seq(seq) || !timed {
            return;
        }
        // A.8: D(i-1, i) = (R_i - R_{i-1}) - (S_i - S_{i-1}) = transit_i - transit_{i-1}.
        let transit = arrival.wrapping_sub(ts);
        if let Some(prev) = self.transit {
            let d = f64::from((transit.wrapping_sub(prev) as i32).unsigned_abs());
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
    }

    /// The extended highest sequence number received.
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets counted as received (duplicates included, as in A.3).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Packets expected from the sequence numbers (0 during probation).
    pub fn expected(&self) -> u32 {
        if self.probation > 0 {
            return 0;
        }
        self.extended_max().wrapping_sub(self.base_seq).wrapping_add(1)
    }

    /// Cumulative number lost: expected − received (negative with duplicates).
    pub fn lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }

    /// The interarrival jitter in timestamp units.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// A.3: the report block about this source, with the fraction lost
    /// since the previous call (which starts the next interval).
    /// `lsr`/`dlsr` are the last-SR fields the caller computed.
    pub fn report(&mut self, lsr: u32, dlsr: u32) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            highest_seq: self.extended_max(),
            jitter: self.jitter as u32,
            lsr,
            dlsr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds packets `seqs` 20 ms apart with PCMU timestamps, arriving on time.
    fn feed(r: &mut Reception, seqs: impl IntoIterator<Item = u16>) {
        for s in seqs {
            let ts = u32::from(s).wrapping_mul(160);
            r.on_packet(s, ts, ts.wrapping_add(1000), true);
        }
    }

    #[test]
    fn counts_every_packet_and_the_skipped_ones_as_lost() {
        let mut r = Reception::new(1, 100);
        feed(&mut r, (100..200).filter(|s| s % 10 != 5));
        assert_eq!(r.received(), 90);
        assert_eq!(r.expected(), 100);
        assert_eq!(r.lost(), 10);
        let b = r.report(0, 0);
        assert_eq!((b.cumulative_lost, b.highest_seq), (10, 199));
        assert_eq!(b.fraction_lost, (10 * 256 / 100) as u8, "10 % is 25/256");
    }

    #[test]
    fn sequence_wrap_adds_a_cycle_and_keeps_loss_exact() {
        let start = 65_500u16;
        let mut r = Reception::new(1, start);
        // 200 packets across 65535 → 0, 65530 and 3 lost.
        let seqs: Vec<u16> = (0..200u16).map(|i| start.wrapping_add(i)).filter(|&s| s != 65_530 && s != 3).collect();
        feed(&mut r, seqs);
        assert_eq!(r.extended_max(), (1 << 16) + u32::from(start.wrapping_add(199)));
        assert_eq!(r.expected(), 200);
        assert_eq!((r.received(), r.lost()), (198, 2));
    }

    #[test]
    fn fraction_lost_is_per_interval() {
        let mut r = Reception::new(1, 0);
        feed(&mut r, 0..50);
        assert_eq!(r.report(0, 0).fraction_lost, 0);
        // Next interval: 50 expected, 25 received.
        feed(&mut r, (50..100).filter(|s| s % 2 == 1));
        let b = r.report(0, 0);
        assert_eq!((b.fraction_lost, b.cumulative_lost), (128, 25));
        // Nothing new: no loss this interval, the cumulative stays.
        let b = r.report(0, 0);
        assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 25));
    }

    #[test]
    fn duplicates_make_loss_negative_and_reordering_is_not_loss() {
        let mut r = Reception::new(1, 0);
        feed(&mut r, [0, 1, 2, 4, 3, 5, 5, 6]);
        assert_eq!((r.expected(), r.received(), r.lost()), (7, 8, -1));
    }

    #[test]
    fn a_restarted_sender_is_followed_after_two_sequential_packets() {
        let mut r = Reception::new(1, 10);
        feed(&mut r, 10..20);
        // The sender jumps to 40000: the first packet there does not count.
        feed(&mut r, [40_000]);
        assert_eq!(r.received(), 10);
        feed(&mut r, [40_001, 40_002]);
        assert_eq!((r.expected(), r.received(), r.lost()), (2, 2, 0), "counting starts over at the restart");
    }

    #[test]
    fn probation_keeps_a_lone_packet_from_counting() {
        let mut r = Reception::new(1, 7);
        feed(&mut r, [7]);
        assert_eq!((r.expected(), r.received()), (0, 0));
        feed(&mut r, [8]);
        assert_eq!((r.expected(), r.received()), (2, 2));
    }

    #[test]
    fn jitter_follows_the_rfc_3550_a8_formula_on_a_worked_example() {
        // PCMU, 160 timestamp units (20 ms) apart; arrivals at 0, 20, 45, 60,
        // 80 ms = 0, 160, 360, 480, 640 units. Transit from the second packet
        // (the first is in probation): 0, 40, 0, 0. |D|: 40, 40, 0 →
        // J = 40/16 = 2.5, 2.5 + 37.5/16 = 4.84375, 4.84375 − 4.84375/16 = 4.541015625.
        let mut r = Reception::new(9, 0);
        let arrivals = [0u32, 160, 360, 480, 640];
        for (i, a) in arrivals.iter().enumerate() {
            r.on_packet(i as u16, 160 * i as u32, *a, true);
        }
        assert!((r.jitter() - 4.541_015_625).abs() < 1e-9, "{}", r.jitter());
        assert_eq!(r.report(0, 0).jitter, 4);
        // Events repeat their timestamp: they do not move the estimate.
        r.on_packet(5, 0, 800, false);
        assert!((r.jitter() - 4.541_015_625).abs() < 1e-9);
        assert_eq!(r.received(), 6);
    }

    #[test]
    fn jitter_survives_timestamp_and_arrival_wrap() {
        let mut r = Reception::new(1, 0);
        let ts0 = u32::MAX - 400;
        let arr0 = u32::MAX - 10;
        for i in 0..10u32 {
            r.on_packet(i as u16, ts0.wrapping_add(160 * i), arr0.wrapping_add(160 * i), true);
        }
        assert!(r.jitter().abs() < 1e-12, "a steady stream has no jitter across the wrap");
    }
}
