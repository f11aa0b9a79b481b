//! Process-wide counters, rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Metrics {
    pub calls_total: AtomicU64,
    pub calls_active: AtomicI64,
    pub calls_rejected: AtomicU64,
    pub calls_transferred: AtomicU64,
    /// Answered calls ended because no RTP came from the caller (`[rtp] no_media_s`).
    pub calls_no_media: AtomicU64,
    pub sip_in: AtomicU64,
    pub sip_out: AtomicU64,
    /// Messages dropped unanswered because their User-Agent is a scanner.
    pub sip_scanner_dropped: AtomicU64,
    /// Requests dropped unanswered because their source is over its rate.
    pub sip_rate_limited: AtomicU64,
    pub rtp_sent: AtomicU64,
    /// Packets sent more than 5 ms after their 20 ms slot.
    pub rtp_late: AtomicU64,
    pub rtp_received: AtomicU64,
    pub rtp_invalid: AtomicU64,
    /// SRTP/SRTCP packets refused: wrong tag, replayed, too old, too short.
    pub srtp_refused: AtomicU64,
    pub dtmf_digits: AtomicU64,
    /// RTCP datagrams received from callers / sent to them / unreadable.
    pub rtcp_received: AtomicU64,
    pub rtcp_sent: AtomicU64,
    pub rtcp_invalid: AtomicU64,
    /// Callers' packets that never arrived (RFC 3550 expected − received), summed at call end.
    pub rtp_lost: AtomicU64,
    /// What callers' receiver reports say about sori's stream: loss per
    /// interval (%), interarrival jitter (ms); and round trips measured from them (ms).
    pub rtcp_reported_loss: Histogram,
    pub rtcp_reported_jitter: Histogram,
    pub rtcp_rtt: Histogram,
    /// Interarrival jitter of callers' streams as sori measured it (per call, the largest; ms).
    pub rtp_jitter: Histogram,
    /// RTP send lateness against the 20 ms slot: ≤1, ≤2, ≤5, ≤10, ≤20 ms, more.
    pub rtp_lateness: [AtomicU64; 6],
    /// Calls + transactions held by the SIP endpoint (0 when idle).
    pub sip_state_entries: AtomicI64,
    /// Requests refused 403 / challenged 401 by inbound access control.
    pub sip_forbidden: AtomicU64,
    pub sip_challenged: AtomicU64,
    /// Each `[[trunk]]`'s registration (`server::trunks`).
    pub trunks: std::sync::Mutex<Vec<super::trunks::TrunkStatus>>,
    /// Said instead of a reply (`dialog::trouble`): hold phrase, apology,
    /// transfer (rendered with the engines' figures, `speech::render_metrics`).
    pub fallback_hold: AtomicU64,
    pub fallback_sorry: AtomicU64,
    pub fallback_transfer: AtomicU64,
    /// Caller turns whose transcription failed; replies whose synthesis failed.
    pub stt_failures: AtomicU64,
    pub tts_failures: AtomicU64,
    /// Speculative transcriptions cancelled because the caller talked on.
    pub stt_cancelled: AtomicU64,
    /// Caller turns heard again whole because the caller went on right
    /// after their end (`[vad] rehear_resumed`).
    pub turns_heard_whole: AtomicU64,
}

pub const LATENESS_BOUNDS_MS: [u64; 5] = [1, 2, 5, 10, 20];

/// A Prometheus histogram with up to 7 bounds (the rest of the 8 buckets is +Inf).
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; 8],
    /// Sum of the observations in thousandths.
    sum_milli: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, bounds: &[f64], v: f64) {
        let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
        let i = bounds.iter().take(7).position(|b| v <= *b).unwrap_or(bounds.len().min(7));
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_milli.fetch_add((v * 1000.0) as u64, Relaxed);
    }

    fn render(&self, s: &mut String, name: &str, help: &str, bounds: &[f64]) {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (i, b) in bounds.iter().take(7).enumerate() {
            cum += self.counts[i].load(Relaxed);
            let _ = writeln!(s, "{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        cum += self.counts[bounds.len().min(7)].load(Relaxed);
        let sum = self.sum_milli.load(Relaxed) as f64 / 1000.0;
        let _ = writeln!(s, "{name}_bucket{{le=\"+Inf\"}} {cum}\n{name}_sum {sum}\n{name}_count {cum}");
    }
}

pub const RTCP_LOSS_BOUNDS_PCT: [f64; 7] = [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0];
pub const JITTER_BOUNDS_MS: [f64; 7] = [2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0];
pub const RTT_BOUNDS_MS: [f64; 7] = [10.0, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0];

impl Metrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    pub fn observe_lateness(&self, late: std::time::Duration) {
        let ms = late.as_secs_f64() * 1000.0;
        let i = LATENESS_BOUNDS_MS.iter().position(|b| ms <= *b as f64).unwrap_or(LATENESS_BOUNDS_MS.len());
        self.rtp_lateness[i].fetch_add(1, Relaxed);
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter("sori_calls_total", "Calls offered (INVITEs that created a call).", self.calls_total.load(Relaxed));
        counter("sori_calls_rejected_total", "Calls refused (488, 503).", self.calls_rejected.load(Relaxed));
        counter(
            "sori_calls_transferred_total",
            "Calls handed to an agent by REFER.",
            self.calls_transferred.load(Relaxed),
        );
        counter(
            "sori_calls_no_media_total",
            "Answered calls ended because no RTP came from the caller for [rtp] no_media_s.",
            self.calls_no_media.load(Relaxed),
        );
        counter("sori_sip_messages_received_total", "SIP messages received.", self.sip_in.load(Relaxed));
        counter("sori_sip_messages_sent_total", "SIP messages sent.", self.sip_out.load(Relaxed));
        counter(
            "sori_sip_scanner_dropped_total",
            "SIP messages dropped unanswered: scanner User-Agent.",
            self.sip_scanner_dropped.load(Relaxed),
        );
        counter(
            "sori_sip_rate_limited_total",
            "SIP requests dropped unanswered: source over its INVITE/REGISTER/OPTIONS rate.",
            self.sip_rate_limited.load(Relaxed),
        );
        counter("sori_rtp_packets_sent_total", "RTP packets sent.", self.rtp_sent.load(Relaxed));
        counter(
            "sori_rtp_packets_late_total",
            "RTP packets sent more than 5 ms after their slot.",
            self.rtp_late.load(Relaxed),
        );
        counter("sori_rtp_packets_received_total", "RTP packets received.", self.rtp_received.load(Relaxed));
        counter(
            "sori_rtp_packets_invalid_total",
            "Datagrams on RTP ports that were not valid RTP.",
            self.rtp_invalid.load(Relaxed),
        );
        counter(
            "sori_srtp_packets_refused_total",
            "SRTP/SRTCP packets refused (authentication failed, replayed, too old, too short).",
            self.srtp_refused.load(Relaxed),
        );
        counter(
            "sori_dtmf_digits_total",
            "DTMF digits received (RFC 4733 and SIP INFO).",
            self.dtmf_digits.load(Relaxed),
        );
        counter(
            "sori_rtcp_packets_received_total",
            "RTCP datagrams received from callers.",
            self.rtcp_received.load(Relaxed),
        );
        counter(
            "sori_rtcp_packets_sent_total",
            "RTCP datagrams (SR/RR + SDES) sent to callers.",
            self.rtcp_sent.load(Relaxed),
        );
        counter(
            "sori_rtcp_packets_invalid_total",
            "RTCP datagrams that did not parse.",
            self.rtcp_invalid.load(Relaxed),
        );
        counter(
            "sori_rtp_packets_lost_total",
            "Callers' RTP packets that never arrived (RFC 3550 expected - received, at call end).",
            self.rtp_lost.load(Relaxed),
        );
        let _ = writeln!(
            s,
            "# HELP sori_calls_active Calls in progress.\n# TYPE sori_calls_active gauge\nsori_calls_active {}",
            self.calls_active.load(Relaxed)
        );
        let _ = writeln!(s, "# HELP sori_rtp_send_lateness_ms RTP send time after the packet's 20 ms slot.\n# TYPE sori_rtp_send_lateness_ms histogram");
        let mut cum = 0;
        for (i, b) in LATENESS_BOUNDS_MS.iter().enumerate() {
            cum += self.rtp_lateness[i].load(Relaxed);
            let _ = writeln!(s, "sori_rtp_send_lateness_ms_bucket{{le=\"{b}\"}} {cum}");
        }
        cum += self.rtp_lateness[LATENESS_BOUNDS_MS.len()].load(Relaxed);
        let _ =
            writeln!(s, "sori_rtp_send_lateness_ms_bucket{{le=\"+Inf\"}} {cum}\nsori_rtp_send_lateness_ms_count {cum}");
        self.rtcp_reported_loss.render(
            &mut s,
            "sori_rtcp_reported_loss_percent",
            "Loss of sori's stream per report interval, as callers' RTCP reports it.",
            &RTCP_LOSS_BOUNDS_PCT,
        );
        self.rtcp_reported_jitter.render(
            &mut s,
            "sori_rtcp_reported_jitter_ms",
            "Interarrival jitter of sori's stream, as callers' RTCP reports it.",
            &JITTER_BOUNDS_MS,
        );
        self.rtcp_rtt.render(
            &mut s,
            "sori_rtcp_rtt_ms",
            "Round-trip time from callers' RTCP (LSR/DLSR).",
            &RTT_BOUNDS_MS,
        );
        self.rtp_jitter.render(
            &mut s,
            "sori_rtp_jitter_ms",
            "Largest interarrival jitter of each caller's stream (RFC 3550 A.8), per call.",
            &JITTER_BOUNDS_MS,
        );
        if let Some(rss) = resident_bytes() {
            let _ = writeln!(
                s,
                "# HELP sori_process_resident_memory_bytes Resident set size.\n# TYPE sori_process_resident_memory_bytes gauge\nsori_process_resident_memory_bytes {rss}"
            );
        }
        let _ = writeln!(
            s,
            "# HELP sori_vad_frames_total Silero VAD frames: inferred, or skipped by the silence gate.\n# TYPE sori_vad_frames_total counter\nsori_vad_frames_total{{result=\"inferred\"}} {}\nsori_vad_frames_total{{result=\"gated\"}} {}",
            crate::audio::vad::VAD_FRAMES_INFERRED.load(Relaxed),
            crate::audio::vad::VAD_FRAMES_GATED.load(Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP sori_sip_state_entries Calls and transactions held by the SIP layer.\n# TYPE sori_sip_state_entries gauge\nsori_sip_state_entries {}",
            self.sip_state_entries.load(Relaxed)
        );
        super::trunks::render_metrics(self, &mut s);
        s
    }
}

/// Resident set size of this process in bytes (Linux).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}
