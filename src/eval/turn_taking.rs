//! How the call's end-of-turn rule did on a corpus, from the ends of turn
//! [`super::as_call`] recorded: ends inside a clip (the caller went on),
//! replies the caller would have heard start while still speaking, and how
//! long after the caller's last word the real end was detected.

use std::collections::BTreeMap;
use std::time::Duration;

use super::as_call::TurnEnd;
use crate::audio::Completeness;

#[derive(Default)]
pub struct TurnTaking {
    clips: usize,
    paused_clips: usize,
    /// Clips with an end inside, and with a reply heard early; (all, paused).
    cut: (usize, usize),
    heard_early: (usize, usize),
    ends_inside: usize,
    by_hint: BTreeMap<&'static str, usize>,
    /// The clip's final end: detected this long after the last voiced frame, by hint.
    final_wait: Vec<(&'static str, f64)>,
    /// Its reply would start this long after the last voiced frame, and
    /// whether it was held (a reply asking for more).
    reply_wait: Vec<(bool, f64)>,
}

/// A hint's name as the tables print it.
pub fn hint_name(h: Option<Completeness>) -> &'static str {
    match h {
        Some(Completeness::Complete) => "Complete",
        Some(Completeness::Incomplete) => "Incomplete",
        Some(Completeness::Unknown) => "Unknown",
        None => "none",
    }
}

impl TurnTaking {
    /// One clip's ends of turn (`paused`: it had a pause inserted;
    /// `post_roll`: how far a turn's audio runs past its last voiced frame).
    /// Returns the ends inside it for the cases file ("Unknown>heard: 선생님,…").
    pub fn add(&mut self, ends: &[TurnEnd], paused: bool, post_roll: Duration) -> String {
        self.clips += 1;
        self.paused_clips += paused as usize;
        let inside: Vec<&TurnEnd> = ends.iter().filter(|e| e.went_on.is_some()).collect();
        let early = inside.iter().any(|e| e.reply_heard_early());
        let count = |n: &mut (usize, usize), yes: bool| {
            n.0 += yes as usize;
            n.1 += (yes && paused) as usize;
        };
        count(&mut self.cut, !inside.is_empty());
        count(&mut self.heard_early, early);
        self.ends_inside += inside.len();
        for e in &inside {
            *self.by_hint.entry(hint_name(e.hint)).or_default() += 1;
        }
        if let Some(last) = ends.iter().rev().find(|e| e.went_on.is_none()) {
            let voiced_end = last.span.1.saturating_sub(post_roll);
            self.final_wait
                .push((hint_name(last.hint), last.decided.saturating_sub(voiced_end).as_secs_f64() * 1000.0));
            if let Some(at) = last.reply_at() {
                self.reply_wait.push((last.held_until.is_some(), at.saturating_sub(voiced_end).as_secs_f64() * 1000.0));
            }
        }
        inside
            .iter()
            .map(|e| {
                let heard = if e.reply_heard_early() { ">heard" } else { "" };
                let held = if e.held_until.is_some() { "~held" } else { "" };
                format!("{}{held}{heard}: {}", hint_name(e.hint), e.hint_text.replace(['\t', '\n', ','], " "))
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn print(&self) {
        let (n, p) = (self.clips, self.paused_clips);
        let share = |x: usize| 100.0 * x as f64 / n.max(1) as f64;
        println!(
            "turn-taking: ends of turn inside a clip (the caller went on within 1.5 s): {} in {} of {n} clips \
             ({:.1} %; with an inserted pause {}/{p}, without {}/{})",
            self.ends_inside,
            self.cut.0,
            share(self.cut.0),
            self.cut.1,
            self.cut.0 - self.cut.1,
            n - p
        );
        let hints: Vec<String> = self.by_hint.iter().map(|(h, k)| format!("{h} {k}")).collect();
        println!("  the hint those ends went by: {}", if hints.is_empty() { "-".into() } else { hints.join(", ") });
        println!(
            "  a reply heard starting while the caller was still speaking: {} of {n} clips = {:.1} % \
             (with an inserted pause {}/{p}, without {}/{})",
            self.heard_early.0,
            share(self.heard_early.0),
            self.heard_early.1,
            self.heard_early.0 - self.heard_early.1,
            n - p
        );
        let mut all: Vec<f64> = self.final_wait.iter().map(|w| w.1).collect();
        let mut by = BTreeMap::<&str, Vec<f64>>::new();
        for (h, w) in &self.final_wait {
            by.entry(h).or_default().push(*w);
        }
        let parts: Vec<String> =
            by.iter_mut().map(|(h, v)| format!("{h} {} p50 {:.0}", v.len(), super::pct(v, 0.5))).collect();
        println!(
            "  the clip's end of turn detected after its last voiced frame: p50 {:.0} ms, p95 {:.0} ms ({})",
            super::pct(&mut all.clone(), 0.5),
            super::pct(&mut all, 0.95),
            parts.join("; ")
        );
        if !self.reply_wait.is_empty() {
            let mut all: Vec<f64> = self.reply_wait.iter().map(|w| w.1).collect();
            let part = |held: bool| {
                let mut v: Vec<f64> = self.reply_wait.iter().filter(|w| w.0 == held).map(|w| w.1).collect();
                if v.is_empty() {
                    "0".to_string()
                } else {
                    format!("{} p50 {:.0} ms", v.len(), super::pct(&mut v, 0.5))
                }
            };
            println!(
                "  its reply would start after the last voiced frame (transcript in hand): p50 {:.0} ms, p95 {:.0} ms \
                 (replies that answer {}; that ask for more, held {})",
                super::pct(&mut all.clone(), 0.5),
                super::pct(&mut all, 0.95),
                part(false),
                part(true)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    #[test]
    fn ends_inside_and_early_replies_are_counted_per_clip() {
        let end = |hint, decided, ready, went_on| TurnEnd {
            span: (ms(0), ms(2150)),
            decided: ms(decided),
            hint,
            hint_text: "열이 나요".into(),
            ready,
            went_on,
            went_on_from: None,
            text: None,
            held_until: None,
        };
        let mut t = TurnTaking::default();
        // Cut at a Complete ending, the reply ready before the caller went on.
        let cut = [
            end(Some(Completeness::Complete), 2300, Some(ms(2400)), Some(ms(2900))),
            end(Some(Completeness::Complete), 5300, Some(ms(5300)), None),
        ];
        assert_eq!(t.add(&cut, true, ms(150)), "Complete>heard: 열이 나요");
        // Cut by the plain rule, the caller back before the transcript: not heard.
        let slow =
            [end(None, 2500, None, Some(ms(2800))), end(Some(Completeness::Unknown), 6000, Some(ms(6100)), None)];
        assert_eq!(t.add(&slow, false, ms(150)), "none: 열이 나요");
        // Whole.
        assert_eq!(t.add(&[end(Some(Completeness::Incomplete), 3100, Some(ms(3100)), None)], false, ms(150)), "");
        assert_eq!((t.clips, t.paused_clips, t.cut, t.heard_early, t.ends_inside), (3, 1, (2, 1), (1, 1), 2));
        assert_eq!(t.by_hint.get("Complete"), Some(&1));
        // The final ends: 5300 - 2000, 6000 - 2000, 3100 - 2000.
        let waits: Vec<f64> = t.final_wait.iter().map(|w| w.1).collect();
        assert_eq!(waits, vec![3300.0, 4000.0, 1100.0]);
        // Their replies: when the transcript was in hand.
        let replies: Vec<(bool, f64)> = t.reply_wait.clone();
        assert_eq!(replies, vec![(false, 3300.0), (false, 4100.0), (false, 1100.0)]);
        // A reply asking for more held until the caller was quiet long enough.
        let mut held = end(Some(Completeness::Complete), 2300, Some(ms(2400)), None);
        held.held_until = Some(ms(3400));
        t.add(&[held], false, ms(150));
        assert_eq!(t.reply_wait.last(), Some(&(true, 1400.0)));
    }
}
