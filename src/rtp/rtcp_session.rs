//! One call's RTCP, sans-IO: receiver statistics of the caller's stream
//! ([`Reception`]), what the caller's reports say about ours (loss, jitter,
//! round-trip time from LSR/DLSR), and the compound reports we send (SR or
//! RR + SDES CNAME, and BYE at the end). Times come in as arguments: a
//! monotonic `Instant` for arrivals and delays, and the wall clock as an NTP
//! timestamp for SRs and round trips.

use std::time::{Duration, Instant};

use super::reception::Reception;
use super::rtcp::{self, ntp_middle, Packet, ReportBlock, RtcpError, SenderInfo};

/// What one RTCP datagram from the caller told us.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Received {
    /// Report blocks about our stream.
    pub about_us: Vec<ReportBlock>,
    /// Round trips measured from those blocks, in ms.
    pub rtt_ms: Vec<f64>,
    pub sender_report: bool,
    pub bye: bool,
}

/// The call's media quality as the record keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// RTP packets received from the caller (RFC 3550 A.3; duplicates count).
    pub rx_packets: u64,
    /// Packets the caller's sequence numbers say were sent.
    pub rx_expected: u64,
    /// Expected − received (negative with duplicates).
    pub rx_lost: i64,
    /// Interarrival jitter (A.8): the largest and the mean estimate over packets.
    pub rx_jitter_max_ms: f64,
    pub rx_jitter_mean_ms: f64,
    /// Report blocks from the caller about our stream.
    pub peer_reports: u32,
    /// The caller's latest cumulative count of our packets lost.
    pub peer_lost: Option<i64>,
    /// The worst fraction lost the caller reported for one interval, in %.
    pub peer_loss_max_pct: Option<f64>,
    /// The largest interarrival jitter the caller reported, in ms.
    pub peer_jitter_max_ms: Option<f64>,
    /// Mean round-trip time from the caller's LSR/DLSR, in ms.
    pub rtt_ms: Option<f64>,
    pub rtcp_sent: u32,
    pub rtcp_received: u32,
}

impl Summary {
    /// Percentage of the caller's packets that never arrived.
    pub fn rx_loss_pct(&self) -> Option<f64> {
        (self.rx_expected > 0).then(|| (self.rx_lost.max(0) as f64) * 100.0 / self.rx_expected as f64)
    }
}

/// Round trips above this are stale LSR echoes, not measurements.
const MAX_RTT: Duration = Duration::from_secs(60);

pub struct RtcpSession {
    cname: String,
    clock_rate: u32,
    epoch: Instant,
    source: Option<Reception>,
    /// Totals of the caller's earlier sources (SSRC or clock changes).
    earlier_received: u64,
    earlier_expected: u64,
    earlier_lost: i64,
    jitter_max_ms: f64,
    jitter_sum_ms: f64,
    jitter_samples: u64,
    /// The caller's last SR: middle 32 bits of its NTP time, and when it came.
    last_sr: Option<(u32, Instant)>,
    peer_reports: u32,
    peer_lost: Option<i64>,
    peer_fraction_max: Option<u8>,
    peer_jitter_max: Option<u32>,
    rtt_sum_ms: f64,
    rtt_samples: u32,
    sent: u32,
    received: u32,
}

impl RtcpSession {
    /// `cname`: our SDES CNAME; `clock_rate`: the negotiated codec's RTP clock.
    pub fn new(cname: String, clock_rate: u32, now: Instant) -> RtcpSession {
        RtcpSession {
            cname,
            clock_rate: clock_rate.max(1),
            epoch: now,
            source: None,
            earlier_received: 0,
            earlier_expected: 0,
            earlier_lost: 0,
            jitter_max_ms: 0.0,
            jitter_sum_ms: 0.0,
            jitter_samples: 0,
            last_sr: None,
            peer_reports: 0,
            peer_lost: None,
            peer_fraction_max: None,
            peer_jitter_max: None,
            rtt_sum_ms: 0.0,
            rtt_samples: 0,
            sent: 0,
            received: 0,
        }
    }

    /// The codec changed (re-INVITE): timestamps now run at `clock_rate`;
    /// the caller's stream is counted afresh from its next packet.
    pub fn set_clock_rate(&mut self, clock_rate: u32) {
        if clock_rate.max(1) != self.clock_rate {
            self.clock_rate = clock_rate.max(1);
            self.fold();
        }
    }

    fn fold(&mut self) {
        if let Some(s) = self.source.take() {
            self.earlier_received += u64::from(s.received());
            self.earlier_expected += u64::from(s.expected());
            self.earlier_lost += s.lost();
        }
    }

    fn units_per_ms(&self) -> f64 {
        f64::from(self.clock_rate) / 1000.0
    }

    /// One RTP packet from the caller. `timed` is false for RFC 4733 events
    /// (their timestamp stays at the event's start).
    pub fn on_rtp(&mut self, ssrc: u32, seq: u16, ts: u32, now: Instant, timed: bool) {
        let since = now.saturating_duration_since(self.epoch);
        let arrival = (since.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32;
        if self.source.as_ref().is_some_and(|s| s.ssrc() != ssrc) {
            self.fold();
        }
        let per_ms = self.units_per_ms();
        let src = self.source.get_or_insert_with(|| Reception::new(ssrc, seq));
        src.on_packet(seq, ts, arrival, timed);
        if timed {
            let j = src.jitter() / per_ms;
            self.jitter_max_ms = self.jitter_max_ms.max(j);
            self.jitter_sum_ms += j;
            self.jitter_samples += 1;
        }
    }

    /// One RTCP datagram from the caller; `our_ssrc` names our stream in
    /// its report blocks, `ntp_now` is the wall clock for round trips.
    pub fn on_rtcp(&mut self, buf: &[u8], our_ssrc: u32, now: Instant, ntp_now: u64) -> Result<Received, RtcpError> {
        let packets = rtcp::parse_compound(buf)?;
        self.received += 1;
        let mut got = Received::default();
        for p in packets {
            let blocks = match p {
                Packet::SenderReport { ssrc, info, reports } => {
                    if ssrc != our_ssrc {
                        self.last_sr = Some((ntp_middle(info.ntp), now));
                        got.sender_report = true;
                    }
                    reports
                }
                Packet::ReceiverReport { reports, .. } => reports,
                Packet::Bye { .. } => {
                    got.bye = true;
                    continue;
                }
                Packet::Sdes(_) | Packet::Other(_) => continue,
            };
            for b in blocks.into_iter().filter(|b| b.ssrc == our_ssrc) {
                self.peer_reports += 1;
                self.peer_lost = Some(i64::from(b.cumulative_lost));
                self.peer_fraction_max = Some(self.peer_fraction_max.unwrap_or(0).max(b.fraction_lost));
                self.peer_jitter_max = Some(self.peer_jitter_max.unwrap_or(0).max(b.jitter));
                if let Some(ms) = rtt_ms(b.lsr, b.dlsr, ntp_now) {
                    self.rtt_sum_ms += ms;
                    self.rtt_samples += 1;
                    got.rtt_ms.push(ms);
                }
                got.about_us.push(b);
            }
        }
        Ok(got)
    }

    /// The report block about the caller's stream, if it sent any.
    fn block(&mut self, now: Instant) -> Option<ReportBlock> {
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => (lsr, (now.saturating_duration_since(at).as_secs_f64() * 65536.0) as u32),
            None => (0, 0),
        };
        let src = self.source.as_mut()?;
        (src.received() > 0).then(|| src.report(lsr, dlsr))
    }

    /// Appends our report to `out`: an SR when `sender` is given (we sent
    /// media since the last report), else an RR; then SDES CNAME. One block
    /// about the caller's stream once it has sent some.
    pub fn report(&mut self, our_ssrc: u32, sender: Option<SenderInfo>, now: Instant, out: &mut Vec<u8>) {
        let block: Vec<ReportBlock> = self.block(now).into_iter().collect();
        match sender {
            Some(info) => rtcp::write_sr(out, our_ssrc, &info, &block),
            None => rtcp::write_rr(out, our_ssrc, &block),
        }
        rtcp::write_sdes_cname(out, our_ssrc, &self.cname);
        self.sent += 1;
    }

    /// The last report of the call, with a BYE (RFC 3550 §6.6).
    pub fn goodbye(&mut self, our_ssrc: u32, sender: Option<SenderInfo>, now: Instant, out: &mut Vec<u8>) {
        self.report(our_ssrc, sender, now, out);
        rtcp::write_bye(out, our_ssrc, Some("call ended"));
    }

    pub fn summary(&self) -> Summary {
        let (mut received, mut expected, mut lost) = (self.earlier_received, self.earlier_expected, self.earlier_lost);
        if let Some(s) = &self.source {
            received += u64::from(s.received());
            expected += u64::from(s.expected());
            lost += s.lost();
        }
        let per_ms = self.units_per_ms();
        Summary {
            rx_packets: received,
            rx_expected: expected,
            rx_lost: lost,
            rx_jitter_max_ms: self.jitter_max_ms,
            rx_jitter_mean_ms: if self.jitter_samples > 0 {
                self.jitter_sum_ms / self.jitter_samples as f64
            } else {
                0.0
            },
            peer_reports: self.peer_reports,
            peer_lost: self.peer_lost,
            peer_loss_max_pct: self.peer_fraction_max.map(|f| f64::from(f) * 100.0 / 256.0),
            peer_jitter_max_ms: self.peer_jitter_max.map(|j| f64::from(j) / per_ms),
            rtt_ms: (self.rtt_samples > 0).then(|| self.rtt_sum_ms / f64::from(self.rtt_samples)),
            rtcp_sent: self.sent,
            rtcp_received: self.received,
        }
    }
}

/// RFC 3550 §6.4.1: round trip = A − LSR − DLSR in 1/65536 s, where A is
/// when the report arrived (middle 32 bits of our NTP clock). None when the
/// peer has no SR of ours to echo (LSR 0) or the result is not plausible.
fn rtt_ms(lsr: u32, dlsr: u32, ntp_now: u64) -> Option<f64> {
    if lsr == 0 {
        return None;
    }
    let rtt = ntp_middle(ntp_now).wrapping_sub(lsr).wrapping_sub(dlsr) as i32;
    let limit = (MAX_RTT.as_secs() * 65536) as i32;
    (0..limit).contains(&rtt).then(|| f64::from(rtt) * 1000.0 / 65536.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::rtcp::{parse_compound, write_rr, write_sr};

    const OURS: u32 = 0x5051;
    const CALLER: u32 = 0xCA11;

    #[test]
    fn report_carries_the_callers_loss_and_parses_back() {
        let t0 = Instant::now();
        let mut s = RtcpSession::new("sori@test".into(), 8000, t0);
        for i in 0..100u16 {
            if i % 20 == 7 {
                continue; // 5 lost
            }
            let at = t0 + Duration::from_millis(20 * u64::from(i));
            s.on_rtp(CALLER, 1000 + i, 160 * u32::from(i), at, true);
        }
        let info = SenderInfo { ntp: 42 << 32, rtp_ts: 1, packets: 100, octets: 16_000 };
        let mut out = Vec::new();
        s.report(OURS, Some(info), t0 + Duration::from_secs(2), &mut out);
        let pk = parse_compound(&out).expect("our report parses");
        let Packet::SenderReport { ssrc, info: got, reports } = &pk[0] else { panic!("SR first: {pk:?}") };
        assert_eq!((*ssrc, *got), (OURS, info));
        assert_eq!(reports.len(), 1);
        assert_eq!((reports[0].ssrc, reports[0].cumulative_lost, reports[0].highest_seq), (CALLER, 5, 1099));
        assert_eq!(reports[0].fraction_lost, (5 * 256 / 100) as u8);
        assert_eq!(reports[0].lsr, 0, "no SR from the caller yet");
        assert_eq!(pk[1], Packet::Sdes(vec![(OURS, Some("sori@test".into()))]));
        let sum = s.summary();
        assert_eq!((sum.rx_packets, sum.rx_expected, sum.rx_lost), (95, 100, 5));
        assert_eq!(sum.rx_loss_pct(), Some(5.0));
        assert!(sum.rx_jitter_max_ms < 0.01, "a steady stream: {}", sum.rx_jitter_max_ms);
        // Without media sent, an RR.
        out.clear();
        s.goodbye(OURS, None, t0 + Duration::from_secs(3), &mut out);
        let pk = parse_compound(&out).expect("parse");
        assert!(matches!(pk[0], Packet::ReceiverReport { ssrc: OURS, .. }));
        assert!(matches!(pk[2], Packet::Bye { .. }));
        assert_eq!(s.summary().rtcp_sent, 2);
    }

    #[test]
    fn round_trip_from_the_callers_rr_answering_our_sr() {
        let t0 = Instant::now();
        let mut s = RtcpSession::new("c".into(), 8000, t0);
        // We sent an SR at NTP T; the caller held it 250 ms and its RR
        // arrives 330 ms after T: the network round trip is 80 ms.
        let t_ntp: u64 = (3_900_000_000u64 << 32) | (1 << 31);
        let lsr = ntp_middle(t_ntp);
        let rr = ReportBlock {
            ssrc: OURS,
            fraction_lost: 64,
            cumulative_lost: 12,
            highest_seq: 500,
            jitter: 160,
            lsr,
            dlsr: (0.250 * 65536.0) as u32,
        };
        let mut buf = Vec::new();
        write_rr(&mut buf, CALLER, &[rr, ReportBlock { ssrc: 999, ..rr }]);
        let arrive = t_ntp + ((330u64 << 32) / 1000);
        let got = s.on_rtcp(&buf, OURS, t0, arrive).expect("parse");
        assert_eq!(got.about_us.len(), 1, "the block about another source is not ours");
        assert!((got.rtt_ms[0] - 80.0).abs() < 0.1, "{:?}", got.rtt_ms);
        let sum = s.summary();
        assert_eq!((sum.peer_reports, sum.peer_lost), (1, Some(12)));
        assert_eq!(sum.peer_loss_max_pct, Some(25.0));
        assert_eq!(sum.peer_jitter_max_ms, Some(20.0));
        assert!((sum.rtt_ms.expect("rtt") - 80.0).abs() < 0.1);
        // An RR with LSR 0 (no SR of ours seen) gives no round trip.
        buf.clear();
        write_rr(&mut buf, CALLER, &[ReportBlock { lsr: 0, ..rr }]);
        assert!(s.on_rtcp(&buf, OURS, t0, arrive).expect("parse").rtt_ms.is_empty());
        assert!(s.on_rtcp(&[0x80, 201, 0, 9], OURS, t0, arrive).is_err(), "garbage is an error");
    }

    #[test]
    fn our_report_echoes_the_callers_sr_with_the_delay_since() {
        let t0 = Instant::now();
        let mut s = RtcpSession::new("c".into(), 8000, t0);
        s.on_rtp(CALLER, 1, 0, t0, true);
        s.on_rtp(CALLER, 2, 160, t0 + Duration::from_millis(20), true);
        let their = SenderInfo { ntp: 0x1234_5678_9ABC_DEF0, ..Default::default() };
        let mut buf = Vec::new();
        write_sr(&mut buf, CALLER, &their, &[]);
        assert!(s.on_rtcp(&buf, OURS, t0, 0).expect("parse").sender_report);
        let mut out = Vec::new();
        s.report(OURS, None, t0 + Duration::from_millis(500), &mut out);
        let Packet::ReceiverReport { reports, .. } = &parse_compound(&out).expect("parse")[0] else { panic!() };
        assert_eq!(reports[0].lsr, 0x5678_9ABC);
        assert_eq!(reports[0].dlsr, 32768, "half a second in 1/65536 s");
    }

    #[test]
    fn random_datagrams_never_panic_and_our_reports_always_parse() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5e55);
        let t0 = Instant::now();
        let mut s = RtcpSession::new("c".into(), 8000, t0);
        let mut good = Vec::new();
        write_rr(&mut good, CALLER, &[ReportBlock { ssrc: OURS, lsr: 1, ..Default::default() }]);
        for i in 0..20_000u64 {
            let now = t0 + Duration::from_millis(i);
            if rng.gen_bool(0.5) {
                // RTP with random sequence jumps, timestamps and SSRC changes.
                let ssrc = if rng.gen_bool(0.01) { rng.gen() } else { CALLER };
                s.on_rtp(ssrc, rng.gen(), rng.gen(), now, rng.gen_bool(0.9));
            } else {
                let mut buf = good.clone();
                for _ in 0..rng.gen_range(0..4) {
                    let k = rng.gen_range(0..buf.len());
                    buf[k] = rng.gen();
                }
                buf.truncate(rng.gen_range(0..=buf.len()));
                let _ = s.on_rtcp(&buf, OURS, now, rng.gen());
            }
            if i % 97 == 0 {
                let mut out = Vec::new();
                s.report(OURS, Some(SenderInfo::default()), now, &mut out);
                parse_compound(&out).expect("our report parses");
            }
        }
        let sum = s.summary();
        assert!(sum.rx_jitter_mean_ms <= sum.rx_jitter_max_ms + 1e-9);
    }

    #[test]
    fn a_new_ssrc_keeps_the_earlier_totals() {
        let t0 = Instant::now();
        let mut s = RtcpSession::new("c".into(), 8000, t0);
        for i in (0..10u16).filter(|i| *i != 4) {
            s.on_rtp(1, i, 160 * u32::from(i), t0, true);
        }
        for i in 0..5u16 {
            s.on_rtp(2, 5000 + i, 0, t0, true);
        }
        let sum = s.summary();
        assert_eq!((sum.rx_packets, sum.rx_expected, sum.rx_lost), (14, 15, 1));
    }
}
