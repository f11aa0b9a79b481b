//! One call as text for `sori calls ID`: the record, then each turn (what
//! the caller said, what sori did and answered, how long each stage took).

use std::fmt::Write;

use super::query::CallDetail;

pub fn call_text(d: &CallDetail) -> String {
    let c = &d.call;
    let mut out = String::new();
    let dur = c.ended_ms.map(|e| format!("{:.1} s", (e - c.answered_ms.unwrap_or(c.started_ms)) as f64 / 1000.0));
    let _ = writeln!(out, "call {}", c.call_id);
    let _ = writeln!(out, "  from {}  to {}  via {} {}", c.from_uri, c.to_uri, c.transport, c.remote_addr);
    if let Some(h) = &c.hotline {
        let _ = writeln!(out, "  hotline {h}");
    }
    let _ = writeln!(
        out,
        "  started {}  duration {}  codec {}  outcome {}  cause {}",
        c.started_ms,
        dur.as_deref().unwrap_or("(in progress)"),
        c.codec.as_deref().unwrap_or("-"),
        c.outcome.as_deref().unwrap_or("-"),
        c.hangup_cause.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, "  dtmf {:?}  menu {:?}  barge-ins {}", c.dtmf, c.menu_path, c.barge_ins);
    if let Some(r) = &c.recording {
        let _ = writeln!(out, "  recording {r}");
    }
    if let Some(q) = &c.quality {
        quality_text(&mut out, q);
    }
    if d.turns.is_empty() {
        let _ = writeln!(out, "  (no spoken turns)");
    }
    for t in &d.turns {
        let _ = writeln!(
            out,
            "\n  #{} {:.1}–{:.1} s",
            t.idx + 1,
            t.speech_start_ms as f64 / 1000.0,
            t.speech_end_ms as f64 / 1000.0
        );
        let _ = writeln!(out, "    caller: {}", t.transcript);
        let kb = t.kb_id.as_deref().map(|k| format!(" {k}")).unwrap_or_default();
        let barge = if t.barged_in { "  [interrupted]" } else { "" };
        let _ = writeln!(out, "    sori ({}{kb}, {}): {}{barge}", t.action, t.answer_source, t.reply);
        let _ = writeln!(
            out,
            "    stt {} ms (waited {}), llm {} ms, tts {} ms, respond {} ms",
            t.stt_ms, t.stt_wait_ms, t.llm_ms, t.tts_ms, t.respond_ms
        );
    }
    out
}

fn quality_text(out: &mut String, q: &super::MediaQuality) {
    let pct = q.rx_loss_pct.map(|p| format!(" ({p:.1} %)")).unwrap_or_default();
    let _ = writeln!(
        out,
        "  media from caller: {} packets, {} lost{pct}, jitter max {:.1} ms, mean {:.1} ms",
        q.rx_packets, q.rx_lost, q.rx_jitter_max_ms, q.rx_jitter_mean_ms
    );
    if q.peer_reports == 0 {
        let _ = writeln!(out, "  caller's RTCP: no reports about sori's stream");
    } else {
        let opt = |v: Option<f64>, unit: &str| v.map(|v| format!("{v:.1}{unit}")).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "  caller's RTCP: {} reports, {} of sori's packets lost, worst interval {}, jitter max {}, rtt {}",
            q.peer_reports,
            q.peer_lost.map_or("-".into(), |l| l.to_string()),
            opt(q.peer_loss_max_pct, " %"),
            opt(q.peer_jitter_max_ms, " ms"),
            opt(q.rtt_ms, " ms")
        );
    }
    let _ = writeln!(out, "  rtcp sent {} received {}", q.rtcp_sent, q.rtcp_received);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CallRecord, MediaQuality, TurnRecord};

    #[test]
    fn shows_media_quality_from_rtp_and_rtcp() {
        let q = MediaQuality {
            rx_packets: 95,
            rx_lost: 5,
            rx_loss_pct: Some(5.0),
            rx_jitter_max_ms: 3.46,
            peer_reports: 2,
            peer_lost: Some(7),
            peer_loss_max_pct: Some(10.15625),
            rtt_ms: Some(12.5),
            rtcp_sent: 3,
            ..Default::default()
        };
        let d = CallDetail { call: CallRecord { quality: Some(q), ..Default::default() }, turns: vec![] };
        let t = call_text(&d);
        assert!(t.contains("95 packets, 5 lost (5.0 %), jitter max 3.5 ms"), "{t}");
        assert!(
            t.contains("2 reports, 7 of sori's packets lost, worst interval 10.2 %, jitter max -, rtt 12.5 ms"),
            "{t}"
        );
        let d = CallDetail { call: CallRecord::default(), turns: vec![] };
        assert!(!call_text(&d).contains("media from caller"));
    }

    #[test]
    fn shows_the_record_and_each_turn() {
        let d = CallDetail {
            call: CallRecord {
                call_id: "abc".into(),
                started_ms: 1000,
                answered_ms: Some(1000),
                ended_ms: Some(13_500),
                outcome: Some("completed".into()),
                ..Default::default()
            },
            turns: vec![TurnRecord {
                transcript: "홍역 증상이 뭐예요".into(),
                action: "answer".into(),
                kb_id: Some("measles".into()),
                reply: "홍역은 …".into(),
                answer_source: "retrieval".into(),
                barged_in: true,
                ..Default::default()
            }],
        };
        let t = call_text(&d);
        assert!(t.contains("duration 12.5 s") && t.contains("outcome completed"), "{t}");
        assert!(
            t.contains("caller: 홍역 증상이 뭐예요") && t.contains("answer measles") && t.contains("[interrupted]"),
            "{t}"
        );
    }
}
