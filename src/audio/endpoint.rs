//! End-of-turn detection as a sans-IO state machine: feed one VAD
//! probability per frame with its stream time, drain events.
//!
//! Times are stream (audio-clock) offsets, not wall time: the caller counts
//! samples, so tests run on a fake clock and the utterance boundaries map
//! straight onto sample indices of the capture buffer.
//!
//! - Start: a frame at or above `start_threshold` opens a candidate; it
//!   becomes speech once frames stay at or above `stop_threshold`
//!   (hysteresis) for `min_speech`. Shorter blips are forgotten.
//! - End: `trailing_silence` after the last voiced frame, or `max_utterance`
//!   after the start.
//! - Pause: `early_silence` after the last voiced frame (before the end),
//!   the audio so far is offered for a speculative transcription. If the
//!   turn then ends without more voice, the end's utterance is the same audio
//!   (same bounds), so its transcript is already on its way.
//! - Hint: once the paused audio is transcribed, the call task may say how
//!   finished it sounds ([`Endpointer::set_turn_hint`], from
//!   [`super::korean_end::classify`]). A `Complete` turn ends after
//!   `complete_silence` (at once if that much silence has already passed), an
//!   `Incomplete` one waits `incomplete_silence`; without a hint, or with
//!   `Unknown`, `trailing_silence` applies. Voice after the pause drops the
//!   hint: the turn goes on and its next pause gets a new one.
//!   [`Endpointer::expect_turn_hint`] says a transcript of the pause is on its
//!   way: the turn then stays open until it comes (at most
//!   `incomplete_silence`). The reply needs that transcript anyway, so the
//!   wait costs no latency, and a caller who goes on meanwhile is not cut off.
//! - The utterance runs from `pre_roll` before the onset (so the first
//!   syllable, which the VAD sees late, is kept) to `post_roll` after the
//!   last voiced frame.
//! - Resume: a caller who goes on right after their turn was judged over had
//!   not finished ([`crate::dialog::talked_on`]). [`Endpointer::resume_from`]
//!   moves the start of the speech in progress back to that turn's start, so
//!   its pauses and end carry the whole turn, the pause inside it included,
//!   and it is transcribed as one (whisper hears half a sentence worse).

use std::collections::VecDeque;
use std::time::Duration;

pub use super::korean_end::Completeness;

#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    pub start_threshold: f32,
    pub stop_threshold: f32,
    pub min_speech: Duration,
    pub trailing_silence: Duration,
    /// Silence that ends a turn hinted `Complete` (a finished sentence).
    pub complete_silence: Duration,
    /// Silence a turn hinted `Incomplete` (stopped mid-phrase) waits for.
    pub incomplete_silence: Duration,
    /// Silence after which a [`EndpointEvent::Pause`] is emitted; zero = never.
    /// At least `post_roll`, so the paused audio is the whole utterance.
    pub early_silence: Duration,
    pub pre_roll: Duration,
    pub post_roll: Duration,
    pub max_utterance: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            start_threshold: 0.5,
            stop_threshold: 0.35,
            min_speech: Duration::from_millis(160),
            trailing_silence: Duration::from_millis(500),
            complete_silence: Duration::from_millis(300),
            incomplete_silence: Duration::from_millis(1400),
            early_silence: Duration::from_millis(150),
            pre_roll: Duration::from_millis(250),
            post_roll: Duration::from_millis(150),
            max_utterance: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Enough silence after the last voiced frame (`trailing_silence`, or
    /// the hinted turn's `complete_silence` / `incomplete_silence`).
    Silence,
    /// The utterance hit `max_utterance`; it is cut and a new one may follow.
    MaxLength,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointEvent {
    /// Speech confirmed; `at` is its onset (start of the first voiced frame).
    SpeechStart { at: Duration },
    /// Turn over at `at`; the audio to transcribe is `utterance_start..utterance_end`.
    SpeechEnd { at: Duration, utterance_start: Duration, utterance_end: Duration, reason: EndReason },
    /// The caller paused for `early_silence`: if the turn ends without more
    /// voice, its `SpeechEnd` will carry exactly these bounds.
    Pause { at: Duration, utterance_start: Duration, utterance_end: Duration },
}

#[derive(Debug, Clone, Copy)]
enum State {
    Idle,
    Candidate {
        onset: Duration,
    },
    /// `hint` is about the audio up to `last_voiced_end` (this pause).
    Speech {
        onset: Duration,
        last_voiced_end: Duration,
        paused: bool,
        hint: Option<Hint>,
    },
}

/// What is known about how finished the paused audio sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    /// Its transcript is on the way.
    Pending,
    Known(Completeness),
}

#[derive(Debug)]
pub struct Endpointer {
    cfg: EndpointConfig,
    state: State,
    /// Start of the turn the speech in progress goes on ([`Endpointer::resume_from`]).
    resumed: Option<Duration>,
    events: VecDeque<EndpointEvent>,
    /// End of the latest frame (the stream time now).
    now: Duration,
}

impl Endpointer {
    pub fn new(cfg: EndpointConfig) -> Endpointer {
        Endpointer { cfg, state: State::Idle, resumed: None, events: VecDeque::new(), now: Duration::ZERO }
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// True between `SpeechStart` and `SpeechEnd`.
    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::Speech { .. })
    }

    /// Onset of a speech candidate or confirmed speech, if any (its audio
    /// is kept from [`Endpointer::utterance_start`]).
    fn pending_onset(&self) -> Option<Duration> {
        match self.state {
            State::Idle => None,
            State::Candidate { onset } | State::Speech { onset, .. } => Some(onset),
        }
    }

    /// Where the utterance of the speech in progress (or candidate) starts:
    /// `pre_roll` before its onset, or the start of the turn it goes on
    /// ([`Endpointer::resume_from`]). Its audio must stay in the capture
    /// buffer.
    pub fn utterance_start(&self) -> Option<Duration> {
        self.pending_onset().map(|onset| self.start(onset))
    }

    /// One VAD frame starting at `at`, lasting `len`, with speech probability `prob`.
    pub fn handle_frame(&mut self, at: Duration, len: Duration, prob: f32) {
        let end = at + len;
        let c = &self.cfg;
        self.state = match self.state {
            State::Idle if prob >= c.start_threshold => self.confirm(at, end),
            State::Idle => State::Idle,
            State::Candidate { onset } if prob >= c.stop_threshold => self.confirm(onset, end),
            State::Candidate { .. } => State::Idle,
            State::Speech { onset, last_voiced_end, paused, hint } => {
                let voiced = prob >= c.stop_threshold;
                let last = if voiced { end } else { last_voiced_end };
                // Voice after the pause: the hint was about shorter audio.
                let hint = if voiced { None } else { hint };
                let silent = end.saturating_sub(last);
                if silent >= self.silence_needed(hint) {
                    self.finish(onset, last, end)
                } else if end.saturating_sub(self.resumed.unwrap_or(onset)) >= c.max_utterance {
                    self.events.push_back(EndpointEvent::SpeechEnd {
                        at: end,
                        utterance_start: self.start(onset),
                        utterance_end: end,
                        reason: EndReason::MaxLength,
                    });
                    State::Idle
                } else {
                    let early = c.early_silence.max(c.post_roll);
                    let mut paused = paused && !voiced;
                    if !paused && !c.early_silence.is_zero() && silent >= early {
                        let (utterance_start, utterance_end) = self.bounds(onset, last);
                        self.events.push_back(EndpointEvent::Pause { at: end, utterance_start, utterance_end });
                        paused = true;
                    }
                    State::Speech { onset, last_voiced_end: last, paused, hint }
                }
            }
        };
        if matches!(self.state, State::Idle) {
            self.resumed = None;
        }
        self.now = end;
    }

    /// Where the utterance of speech that began at `onset` starts: its
    /// pre-roll, or the start of the turn it goes on.
    fn start(&self, onset: Duration) -> Duration {
        self.resumed.unwrap_or_else(|| onset.saturating_sub(self.cfg.pre_roll))
    }

    /// The audio a pause (and the end that follows it) carries.
    fn bounds(&self, onset: Duration, last_voiced_end: Duration) -> (Duration, Duration) {
        (self.start(onset), last_voiced_end + self.cfg.post_roll)
    }

    /// The speech in progress goes on the turn whose utterance started at
    /// `start` (earlier than this speech): its pauses and end carry the
    /// audio from there. False, and nothing changes, when no speech is in
    /// progress, `start` is not before it, or the whole would be longer than
    /// `max_utterance`.
    pub fn resume_from(&mut self, start: Duration) -> bool {
        let Some(onset) = self.pending_onset() else { return false };
        let own = onset.saturating_sub(self.cfg.pre_roll);
        if start >= own || self.now.saturating_sub(start) >= self.cfg.max_utterance {
            return false;
        }
        self.resumed = Some(start);
        true
    }

    /// Silence that ends the turn, given what its transcript so far says.
    fn silence_needed(&self, hint: Option<Hint>) -> Duration {
        match hint {
            Some(Hint::Known(Completeness::Complete)) => self.cfg.complete_silence,
            Some(Hint::Known(Completeness::Incomplete) | Hint::Pending) => self.cfg.incomplete_silence,
            Some(Hint::Known(Completeness::Unknown)) | None => self.cfg.trailing_silence,
        }
    }

    /// A transcript of the pause `span` is on its way: keep the turn open
    /// until [`Endpointer::set_turn_hint`] brings it (at most
    /// `incomplete_silence`). Ignored unless the caller is still silent
    /// since that pause and no hint came yet.
    pub fn expect_turn_hint(&mut self, span: (Duration, Duration)) {
        if let State::Speech { onset, last_voiced_end, paused: true, hint: None } = self.state {
            if self.bounds(onset, last_voiced_end) == span {
                self.state = State::Speech { onset, last_voiced_end, paused: true, hint: Some(Hint::Pending) };
            }
        }
    }

    /// Ends the turn at `end` for silence after `last`.
    fn finish(&mut self, onset: Duration, last: Duration, end: Duration) -> State {
        let (utterance_start, utterance_end) = self.bounds(onset, last);
        self.events.push_back(EndpointEvent::SpeechEnd {
            at: end,
            utterance_start,
            utterance_end: utterance_end.min(end),
            reason: EndReason::Silence,
        });
        self.resumed = None;
        State::Idle
    }

    /// How finished the audio of the pause `span` (its `Pause` bounds)
    /// sounds. Ignored unless the caller is still silent since that pause.
    /// May end the turn at once (poll events after it): a `Complete` hint
    /// that arrives after `complete_silence` has passed.
    pub fn set_turn_hint(&mut self, span: (Duration, Duration), hint: Completeness) {
        let State::Speech { onset, last_voiced_end, paused: true, .. } = self.state else { return };
        if self.bounds(onset, last_voiced_end) != span {
            return;
        }
        let hint = Some(Hint::Known(hint));
        self.state = if self.now.saturating_sub(last_voiced_end) >= self.silence_needed(hint) {
            self.finish(onset, last_voiced_end, self.now)
        } else {
            State::Speech { onset, last_voiced_end, paused: true, hint }
        };
    }

    fn confirm(&mut self, onset: Duration, end: Duration) -> State {
        if end.saturating_sub(onset) >= self.cfg.min_speech {
            self.events.push_back(EndpointEvent::SpeechStart { at: onset });
            State::Speech { onset, last_voiced_end: end, paused: false, hint: None }
        } else {
            State::Candidate { onset }
        }
    }

    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }

    /// Forgets any speech in progress (e.g. the call is put on hold).
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.resumed = None;
        self.events.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Duration = Duration::from_millis(32);

    /// Feeds `probs` as consecutive 32 ms frames from t = 0; returns the
    /// start/end events with the index of the frame that produced them.
    fn run(ep: &mut Endpointer, probs: &[f32]) -> Vec<(usize, EndpointEvent)> {
        run_all(ep, probs).into_iter().filter(|(_, e)| !matches!(e, EndpointEvent::Pause { .. })).collect()
    }

    /// As [`run`], pauses included.
    fn run_all(ep: &mut Endpointer, probs: &[f32]) -> Vec<(usize, EndpointEvent)> {
        let mut out = Vec::new();
        for (i, p) in probs.iter().enumerate() {
            ep.handle_frame(F * i as u32, F, *p);
            while let Some(e) = ep.poll_event() {
                out.push((i, e));
            }
        }
        out
    }

    fn seq(parts: &[(f32, usize)]) -> Vec<f32> {
        parts.iter().flat_map(|(p, n)| std::iter::repeat_n(*p, *n)).collect()
    }

    /// As [`run_all`]; each pause's audio is "transcribed" `delay` frames
    /// later and its span hinted `hint`, as the call task does.
    fn run_hinted(ep: &mut Endpointer, probs: &[f32], hint: Completeness, delay: usize) -> Vec<(usize, EndpointEvent)> {
        feed(ep, probs, hint, Some(delay), false)
    }

    /// Feeds `probs`; each pause's span is hinted `hint` `delay` frames later
    /// (never when `delay` is None); with `expect`, the endpointer is told at
    /// once that the pause's transcript is on its way.
    fn feed(
        ep: &mut Endpointer,
        probs: &[f32],
        hint: Completeness,
        delay: Option<usize>,
        expect: bool,
    ) -> Vec<(usize, EndpointEvent)> {
        let mut out = Vec::new();
        let mut due: VecDeque<(usize, (Duration, Duration))> = VecDeque::new();
        for (i, p) in probs.iter().enumerate() {
            ep.handle_frame(F * i as u32, F, *p);
            while let Some(e) = ep.poll_event() {
                if let EndpointEvent::Pause { utterance_start, utterance_end, .. } = e {
                    if expect {
                        ep.expect_turn_hint((utterance_start, utterance_end));
                    }
                    if let Some(d) = delay {
                        due.push_back((i + d, (utterance_start, utterance_end)));
                    }
                }
                out.push((i, e));
            }
            while due.front().is_some_and(|(at, _)| *at == i) {
                let Some((_, span)) = due.pop_front() else { break };
                ep.set_turn_hint(span, hint);
                while let Some(e) = ep.poll_event() {
                    out.push((i, e));
                }
            }
        }
        out
    }

    fn ends(ev: &[(usize, EndpointEvent)]) -> Vec<(usize, Duration, Duration)> {
        ev.iter()
            .filter_map(|(i, e)| match e {
                EndpointEvent::SpeechEnd { at, utterance_end, reason: EndReason::Silence, .. } => {
                    Some((*i, *at, *utterance_end))
                }
                _ => None,
            })
            .collect()
    }

    /// 320 ms of silence, 960 ms of speech (last voiced frame ends at
    /// 1280 ms), then `silent` frames of silence.
    fn turn(silent: usize) -> Vec<f32> {
        seq(&[(0.0, 10), (0.9, 30), (0.0, silent)])
    }

    const LAST_VOICED: Duration = Duration::from_millis(1280);

    #[test]
    fn a_complete_turn_ends_after_the_shorter_silence() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        // The transcript is back 2 frames after the 150 ms pause (frame 44).
        let ev = run_hinted(&mut ep, &turn(60), Completeness::Complete, 2);
        let e = ends(&ev);
        assert_eq!(e.len(), 1, "{ev:?}");
        // 300 ms after 1280 ms: the frame ending at 1600 ms (index 49).
        assert_eq!((e[0].0, e[0].1), (49, Duration::from_millis(1600)));
        let pause_end = ev.iter().find_map(|(_, e)| match e {
            EndpointEvent::Pause { utterance_end, .. } => Some(*utterance_end),
            _ => None,
        });
        assert_eq!(pause_end, Some(e[0].2), "the pause's transcript is the turn's");
        // Without a hint the same turn ends at 500 ms (frame 55).
        let mut ep = Endpointer::new(EndpointConfig::default());
        assert_eq!(ends(&run_all(&mut ep, &turn(60)))[0].0, 55);
    }

    #[test]
    fn a_late_complete_hint_ends_the_turn_at_once() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        // Pause at frame 44; the transcript takes 8 frames: silence is 416 ms
        // (> 300 ms) when it comes, so the turn ends right then.
        let ev = run_hinted(&mut ep, &turn(60), Completeness::Complete, 8);
        let e = ends(&ev);
        assert_eq!(e.len(), 1, "{ev:?}");
        assert_eq!((e[0].0, e[0].1), (52, F * 53));
        assert_eq!(e[0].2, LAST_VOICED + Duration::from_millis(150));
        assert!(!ep.in_speech());
    }

    #[test]
    fn an_incomplete_turn_waits_longer() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        let ev = run_hinted(&mut ep, &turn(80), Completeness::Incomplete, 2);
        let e = ends(&ev);
        assert_eq!(e.len(), 1, "{ev:?}");
        // 1400 ms after 1280 ms: the frame ending at 2688 ms (index 83), not 55.
        assert_eq!((e[0].0, e[0].1), (83, Duration::from_millis(2688)));
    }

    #[test]
    fn an_unknown_turn_keeps_the_plain_silence() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        let ev = run_hinted(&mut ep, &turn(60), Completeness::Unknown, 2);
        assert_eq!(ends(&ev).iter().map(|e| e.0).collect::<Vec<_>>(), vec![55], "{ev:?}");
    }

    #[test]
    fn speech_after_an_incomplete_pause_continues_the_same_turn() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        // An 800 ms pause (longer than the plain 500 ms) mid-sentence, then
        // the rest of the sentence, hinted Complete at its own pause.
        let probs = seq(&[(0.0, 10), (0.9, 30), (0.0, 25), (0.9, 20), (0.0, 30)]);
        let mut ev = Vec::new();
        let mut hints = [Completeness::Incomplete, Completeness::Complete].into_iter();
        for (i, p) in probs.iter().enumerate() {
            ep.handle_frame(F * i as u32, F, *p);
            while let Some(e) = ep.poll_event() {
                if let EndpointEvent::Pause { utterance_start, utterance_end, .. } = e {
                    ep.set_turn_hint((utterance_start, utterance_end), hints.next().unwrap_or(Completeness::Unknown));
                }
                ev.push((i, e));
            }
        }
        let starts = ev.iter().filter(|(_, e)| matches!(e, EndpointEvent::SpeechStart { .. })).count();
        let e = ends(&ev);
        assert_eq!((starts, e.len()), (1, 1), "one turn: {ev:?}");
        // The second phrase's last voiced frame ends at 85 × 32 = 2720 ms;
        // its Complete hint ends the turn 300 ms later (the frame ending at 3040 ms).
        assert_eq!(e[0].1, Duration::from_millis(3040));
        assert_eq!(e[0].2, Duration::from_millis(2720 + 150));
    }

    #[test]
    fn a_hint_for_audio_that_went_on_is_ignored() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        // Pause (frame 44), voice again from frame 47: the first pause's
        // transcript arrives at the second phrase's own pause (frame 71)
        // and must not count.
        let probs = seq(&[(0.0, 10), (0.9, 30), (0.0, 7), (0.9, 20), (0.0, 40)]);
        let mut first = None;
        let mut ev = Vec::new();
        for (i, p) in probs.iter().enumerate() {
            ep.handle_frame(F * i as u32, F, *p);
            while let Some(e) = ep.poll_event() {
                if let (None, EndpointEvent::Pause { utterance_start, utterance_end, .. }) = (first, e) {
                    first = Some((utterance_start, utterance_end));
                }
                ev.push((i, e));
            }
            if i == 75 {
                ep.set_turn_hint(first.expect("a pause"), Completeness::Complete);
            }
        }
        // Last voiced frame of the second phrase ends at 67 × 32 = 2144 ms;
        // the plain 500 ms applies.
        let e = ends(&ev);
        assert_eq!(e.len(), 1, "{ev:?}");
        assert_eq!(e[0].1, Duration::from_millis(2144 + 512));
    }

    /// Feeds `probs`; at each pause expects a transcript and delivers
    /// `hint` for it `delay` frames later (never when `delay` is None).
    fn run_pending(
        ep: &mut Endpointer,
        probs: &[f32],
        hint: Completeness,
        delay: Option<usize>,
    ) -> Vec<(usize, EndpointEvent)> {
        feed(ep, probs, hint, delay, true)
    }

    #[test]
    fn a_transcript_on_its_way_holds_the_turn_open_until_it_comes() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        // Pause at frame 44; the transcript takes 15 frames (silence 640 ms,
        // past the plain 500 ms at frame 55): the turn ends when it comes.
        let ev = run_pending(&mut ep, &turn(80), Completeness::Complete, Some(15));
        let e = ends(&ev);
        assert_eq!(e.len(), 1, "{ev:?}");
        assert_eq!((e[0].0, e[0].1), (59, F * 60));
        // Unknown: also ended on arrival (past 500 ms).
        let mut ep = Endpointer::new(EndpointConfig::default());
        let e = ends(&run_pending(&mut ep, &turn(80), Completeness::Unknown, Some(15)));
        assert_eq!(e.iter().map(|e| e.0).collect::<Vec<_>>(), vec![59]);
        // A quick Complete transcript still ends it after 300 ms.
        let mut ep = Endpointer::new(EndpointConfig::default());
        let e = ends(&run_pending(&mut ep, &turn(80), Completeness::Complete, Some(1)));
        assert_eq!(e.iter().map(|e| e.0).collect::<Vec<_>>(), vec![49]);
    }

    #[test]
    fn a_transcript_that_never_comes_ends_the_turn_at_the_longest_silence() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        let e = ends(&run_pending(&mut ep, &turn(80), Completeness::Complete, None));
        // 1400 ms after 1280 ms: frame 83.
        assert_eq!(e.iter().map(|e| e.0).collect::<Vec<_>>(), vec![83]);
    }

    #[test]
    fn a_caller_going_on_while_the_transcript_is_on_its_way_keeps_one_turn() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        // A 700 ms pause (longer than the plain 500 ms), transcripts slower than
        // that (25 frames): the turn is not cut; its end is the second pause's.
        let probs = seq(&[(0.0, 10), (0.9, 30), (0.0, 22), (0.9, 20), (0.0, 60)]);
        let ev = run_pending(&mut ep, &probs, Completeness::Complete, Some(25));
        let starts = ev.iter().filter(|(_, e)| matches!(e, EndpointEvent::SpeechStart { .. })).count();
        let e = ends(&ev);
        assert_eq!((starts, e.len()), (1, 1), "{ev:?}");
        // Second phrase's last voiced frame ends at 82 × 32 = 2624 ms.
        assert_eq!(e[0].2, Duration::from_millis(2624 + 150));
    }

    #[test]
    fn one_utterance_with_pre_roll_and_trailing_silence() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        // 1 s silence, 1.28 s speech, 1 s silence.
        let ev = run(&mut ep, &seq(&[(0.02, 31), (0.9, 40), (0.05, 31)]));
        let onset = F * 31;
        assert_eq!(ev.len(), 2, "{ev:?}");
        // Start confirmed after min_speech (160 ms = 5 frames): frame 35.
        assert_eq!(ev[0], (35, EndpointEvent::SpeechStart { at: onset }));
        let last_voiced = F * 71;
        // 500 ms of silence = 16 frames after the last voiced one (frame 70).
        let (i, EndpointEvent::SpeechEnd { at, utterance_start, utterance_end, reason }) = ev[1] else {
            panic!("{ev:?}")
        };
        assert_eq!(i, 86);
        assert_eq!(at, F * 87);
        assert_eq!(reason, EndReason::Silence);
        assert_eq!(utterance_start, onset - Duration::from_millis(250));
        assert_eq!(utterance_end, last_voiced + Duration::from_millis(150));
        assert!(!ep.in_speech());
    }

    #[test]
    fn blips_shorter_than_min_speech_are_ignored() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        // Clicks and coughs: 1–4 frames (32–128 ms) of speech-like probability.
        let ev = run(&mut ep, &seq(&[(0.0, 10), (0.95, 1), (0.0, 10), (0.8, 4), (0.1, 20), (0.7, 2), (0.0, 30)]));
        assert!(ev.is_empty(), "{ev:?}");
    }

    #[test]
    fn hysteresis_keeps_speech_through_dips_above_stop_threshold() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        // Probability wanders between 0.4 and 0.9 inside the turn: one utterance.
        let mut probs = seq(&[(0.0, 5), (0.9, 6)]);
        for i in 0..60 {
            probs.push(if i % 3 == 0 { 0.4 } else { 0.9 });
        }
        probs.extend(seq(&[(0.0, 20)]));
        let ev = run(&mut ep, &probs);
        assert_eq!(ev.len(), 2, "{ev:?}");
        // A candidate that only reaches the stop threshold never starts.
        let mut ep = Endpointer::new(EndpointConfig::default());
        assert!(run(&mut ep, &seq(&[(0.45, 50)])).is_empty());
    }

    #[test]
    fn short_pause_inside_a_turn_does_not_end_it() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        // 320 ms pause (< 500 ms) between two phrases.
        let ev = run(&mut ep, &seq(&[(0.0, 5), (0.9, 20), (0.1, 10), (0.9, 20), (0.0, 20)]));
        let ends = ev.iter().filter(|(_, e)| matches!(e, EndpointEvent::SpeechEnd { .. })).count();
        assert_eq!(ends, 1, "{ev:?}");
    }

    #[test]
    fn long_speech_is_cut_at_max_utterance_and_resumes() {
        let cfg = EndpointConfig { max_utterance: Duration::from_secs(2), ..EndpointConfig::default() };
        let mut ep = Endpointer::new(cfg);
        let ev = run(&mut ep, &seq(&[(0.9, 100), (0.0, 20)]));
        let kinds: Vec<_> = ev.iter().map(|(_, e)| e).collect();
        assert!(matches!(kinds[0], EndpointEvent::SpeechStart { at } if *at == Duration::ZERO));
        assert!(
            matches!(kinds[1], EndpointEvent::SpeechEnd { reason: EndReason::MaxLength, utterance_end, utterance_start, .. }
                if utterance_end.saturating_sub(*utterance_start) <= Duration::from_millis(2032)),
            "{kinds:?}"
        );
        assert!(matches!(kinds[2], EndpointEvent::SpeechStart { .. }));
        assert!(matches!(kinds[3], EndpointEvent::SpeechEnd { reason: EndReason::Silence, .. }));
        assert_eq!(kinds.len(), 4);
    }

    #[test]
    fn pre_roll_is_clamped_at_stream_start() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        let ev = run(&mut ep, &seq(&[(0.9, 10), (0.0, 20)]));
        assert!(
            matches!(ev[1].1, EndpointEvent::SpeechEnd { utterance_start, .. } if utterance_start == Duration::ZERO)
        );
    }

    #[test]
    fn a_pause_offers_the_same_audio_the_end_will_carry() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        let ev = run_all(&mut ep, &seq(&[(0.0, 10), (0.9, 30), (0.0, 20)]));
        let pauses: Vec<_> = ev.iter().filter(|(_, e)| matches!(e, EndpointEvent::Pause { .. })).collect();
        assert_eq!(pauses.len(), 1, "{ev:?}");
        let (pi, EndpointEvent::Pause { utterance_start: ps, utterance_end: pe, .. }) = *pauses[0] else { panic!() };
        let (ei, EndpointEvent::SpeechEnd { utterance_start, utterance_end, .. }) = *ev.last().unwrap() else {
            panic!("{ev:?}")
        };
        assert_eq!((ps, pe), (utterance_start, utterance_end));
        // 150 ms of silence (5 frames of 32 ms) after the last voiced frame (39).
        assert_eq!(pi, 39 + 5);
        assert!(ei > pi);
    }

    #[test]
    fn voice_after_a_pause_moves_the_end_and_allows_a_new_pause() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        // 320 ms pause inside the turn, then more speech.
        let ev = run_all(&mut ep, &seq(&[(0.0, 5), (0.9, 20), (0.1, 10), (0.9, 20), (0.0, 20)]));
        let bounds: Vec<_> = ev
            .iter()
            .filter_map(|(_, e)| match e {
                EndpointEvent::Pause { utterance_end, .. } => Some(("pause", *utterance_end)),
                EndpointEvent::SpeechEnd { utterance_end, .. } => Some(("end", *utterance_end)),
                _ => None,
            })
            .collect();
        assert_eq!(bounds.len(), 3, "{ev:?}");
        assert_ne!(bounds[0].1, bounds[2].1, "the first pause's audio is stale");
        assert_eq!(bounds[1], ("pause", bounds[2].1));
        assert_eq!(bounds[2].0, "end");
    }

    #[test]
    fn no_pause_events_when_early_silence_is_zero() {
        let cfg = EndpointConfig { early_silence: Duration::ZERO, ..EndpointConfig::default() };
        let mut ep = Endpointer::new(cfg);
        let ev = run_all(&mut ep, &seq(&[(0.0, 10), (0.9, 30), (0.0, 20)]));
        assert!(ev.iter().all(|(_, e)| !matches!(e, EndpointEvent::Pause { .. })), "{ev:?}");
    }

    #[test]
    fn speech_that_goes_on_an_earlier_turn_carries_it_from_its_start() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        // A turn, 800 ms of silence (it ends after 500), speech again that
        // goes on it, then after a while a new turn.
        let probs = seq(&[(0.0, 10), (0.9, 30), (0.0, 25), (0.9, 20), (0.0, 30), (0.9, 20), (0.0, 30)]);
        let (mut first, mut resumed, mut speech) = (None, None, 0);
        let mut out = Vec::new();
        for (i, p) in probs.iter().enumerate() {
            ep.handle_frame(F * i as u32, F, *p);
            while let Some(e) = ep.poll_event() {
                match e {
                    EndpointEvent::SpeechEnd { utterance_start, .. } if first.is_none() => {
                        first = Some(utterance_start);
                        assert!(!ep.resume_from(utterance_start), "no speech in progress");
                    }
                    EndpointEvent::SpeechStart { .. } => {
                        speech += 1;
                        if speech == 2 {
                            resumed = first.map(|s| ep.resume_from(s));
                        }
                    }
                    _ => {}
                }
                out.push(e);
            }
        }
        let first = first.expect("the first turn ended");
        assert_eq!(first, Duration::from_millis(320 - 250));
        assert_eq!(resumed, Some(true));
        let bounds: Vec<(Duration, Duration)> = out
            .iter()
            .filter_map(|e| match e {
                EndpointEvent::Pause { utterance_start, utterance_end, .. }
                | EndpointEvent::SpeechEnd { utterance_start, utterance_end, .. } => {
                    Some((*utterance_start, *utterance_end))
                }
                _ => None,
            })
            .collect();
        let ms = Duration::from_millis;
        // Pause and end of the first turn; pause and end of the whole, which
        // ends where the second phrase does (85 × 32 = 2720 ms); then the
        // third phrase (from 115 × 32 = 3680 ms) on its own.
        let whole = (first, ms(2720 + 150));
        let third = (ms(3680 - 250), ms(4320 + 150));
        assert_eq!(bounds, vec![(first, ms(1430)), (first, ms(1430)), whole, whole, third, third], "{out:?}");
    }

    #[test]
    fn a_turn_goes_on_only_from_before_the_speech_and_within_the_longest_turn() {
        let cfg = EndpointConfig { max_utterance: Duration::from_millis(2000), ..Default::default() };
        let mut ep = Endpointer::new(cfg);
        run(&mut ep, &seq(&[(0.0, 10), (0.9, 10)]));
        // Speech from 320 ms: its own start is 70 ms.
        assert!(!ep.resume_from(Duration::from_millis(70)), "not before it");
        assert!(!ep.resume_from(Duration::from_millis(500)), "not after it");
        // 640 ms now: a turn from 0 would already be 640 ms of 2000.
        assert!(ep.resume_from(Duration::ZERO));
        // Cut at max_utterance counted from where the whole turn starts.
        let ev = run(&mut ep, &seq(&[(0.9, 80)]));
        let cut = ev.iter().find_map(|(_, e)| match e {
            EndpointEvent::SpeechEnd { utterance_start, utterance_end, reason: EndReason::MaxLength, .. } => {
                Some((*utterance_start, *utterance_end))
            }
            _ => None,
        });
        assert_eq!(cut, Some((Duration::ZERO, Duration::from_millis(2016))), "{ev:?}");
        let mut ep =
            Endpointer::new(EndpointConfig { max_utterance: Duration::from_millis(2000), ..Default::default() });
        run(&mut ep, &seq(&[(0.0, 60), (0.9, 10)]));
        assert!(!ep.resume_from(Duration::ZERO), "2240 ms from 0: longer than a turn may be");
    }
}
