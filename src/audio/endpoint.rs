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
//! - The utterance runs from `pre_roll` before the onset (so the first
//!   syllable, which the VAD sees late, is kept) to `post_roll` after the
//!   last voiced frame.

use std::collections::VecDeque;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    pub start_threshold: f32,
    pub stop_threshold: f32,
    pub min_speech: Duration,
    pub trailing_silence: Duration,
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
            early_silence: Duration::from_millis(150),
            pre_roll: Duration::from_millis(250),
            post_roll: Duration::from_millis(150),
            max_utterance: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `trailing_silence` after the last voiced frame: the caller finished.
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
    Candidate { onset: Duration },
    Speech { onset: Duration, last_voiced_end: Duration, paused: bool },
}

#[derive(Debug)]
pub struct Endpointer {
    cfg: EndpointConfig,
    state: State,
    events: VecDeque<EndpointEvent>,
}

impl Endpointer {
    pub fn new(cfg: EndpointConfig) -> Endpointer {
        Endpointer { cfg, state: State::Idle, events: VecDeque::new() }
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// True between `SpeechStart` and `SpeechEnd`.
    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::Speech { .. })
    }

    /// Onset of a speech candidate or confirmed speech, if any: audio from
    /// `onset - pre_roll` on must stay in the capture buffer.
    pub fn pending_onset(&self) -> Option<Duration> {
        match self.state {
            State::Idle => None,
            State::Candidate { onset } | State::Speech { onset, .. } => Some(onset),
        }
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
            State::Speech { onset, last_voiced_end, paused } => {
                let voiced = prob >= c.stop_threshold;
                let last = if voiced { end } else { last_voiced_end };
                let utterance_start = onset.saturating_sub(c.pre_roll);
                let silent = end.saturating_sub(last);
                if silent >= c.trailing_silence {
                    let utterance_end = (last + c.post_roll).min(end);
                    self.events.push_back(EndpointEvent::SpeechEnd {
                        at: end,
                        utterance_start,
                        utterance_end,
                        reason: EndReason::Silence,
                    });
                    State::Idle
                } else if end.saturating_sub(onset) >= c.max_utterance {
                    self.events.push_back(EndpointEvent::SpeechEnd {
                        at: end,
                        utterance_start,
                        utterance_end: end,
                        reason: EndReason::MaxLength,
                    });
                    State::Idle
                } else {
                    let early = c.early_silence.max(c.post_roll);
                    let mut paused = paused && !voiced;
                    if !paused && !c.early_silence.is_zero() && silent >= early {
                        self.events.push_back(EndpointEvent::Pause {
                            at: end,
                            utterance_start,
                            utterance_end: last + c.post_roll,
                        });
                        paused = true;
                    }
                    State::Speech { onset, last_voiced_end: last, paused }
                }
            }
        };
    }

    fn confirm(&mut self, onset: Duration, end: Duration) -> State {
        if end.saturating_sub(onset) >= self.cfg.min_speech {
            self.events.push_back(EndpointEvent::SpeechStart { at: onset });
            State::Speech { onset, last_voiced_end: end, paused: false }
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
}
