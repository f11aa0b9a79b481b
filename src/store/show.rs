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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CallRecord, TurnRecord};

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
