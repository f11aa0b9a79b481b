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
    pub dtmf_digits: AtomicU64,
    /// RTP send lateness against the 20 ms slot: ≤1, ≤2, ≤5, ≤10, ≤20 ms, more.
    pub rtp_lateness: [AtomicU64; 6],
    /// Calls + transactions held by the SIP endpoint (0 when idle).
    pub sip_state_entries: AtomicI64,
}

pub const LATENESS_BOUNDS_MS: [u64; 5] = [1, 2, 5, 10, 20];

impl Metrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    pub fn observe_lateness(&self, late: std::time::Duration) {
        let ms = late.as_secs_f64() * 1000.0;
        let i = LATENESS_BOUNDS_MS.iter().position(|b| ms <= *b as f64).unwrap_or(LATENESS_BOUNDS_MS.len());
        self.rtp_lateness[i].fetch_add(1, Relaxed);
    /// Said instead of a reply (`dialog::trouble`): hold phrase, apology,
    /// transfer (rendered with the engines' figures, `speech::render_metrics`).
    pub fallback_hold: AtomicU64,
    pub fallback_sorry: AtomicU64,
    pub fallback_transfer: AtomicU64,
    /// Caller turns whose transcription failed; replies whose synthesis failed.
    pub stt_failures: AtomicU64,
    pub tts_failures: AtomicU64,
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
            "sori_dtmf_digits_total",
            "DTMF digits received (RFC 4733 and SIP INFO).",
            self.dtmf_digits.load(Relaxed),
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
        let _ = writeln!(
            s,
            "# HELP sori_sip_state_entries Calls and transactions held by the SIP layer.\n# TYPE sori_sip_state_entries gauge\nsori_sip_state_entries {}",
            self.sip_state_entries.load(Relaxed)
        );
        s
    }
}
