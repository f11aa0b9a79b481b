//! Barge-in: decides, while sori is speaking, that the caller is talking
//! over it and playback must stop. Sans-IO: feed each VAD frame with its
//! stream time, speech probability and level.
//!
//! Budget (../shared/DESIGN.md): playback stops ≤ 200 ms after the caller
//! starts. Silero itself confirms speech about 50 ms after it becomes
//! audible (measured on espeak-ng Korean through μ-law), so the decision
//! needs `min_speech` of sustained speech (default 96 ms: three 32 ms
//! frames) whose mean probability is at least `min_mean_prob`: clicks and
//! blips of one or two frames (≤ 64 ms) never cut sori off, nor do weak
//! murmurs; a 128 ms rule measured 178 ms from audible onset to decision,
//! too close to the budget once the player's 20 ms tick and fade are added.
//! The remaining budget covers frame granularity, the 8→16 kHz filter
//! (3 ms) and the fade.
//! `min_level_dbfs` ignores faint speech such as sori's own voice leaking
//! back through the line (hybrid echo is typically 20–30 dB down).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct BargeInConfig {
    pub threshold: f32,
    pub min_speech: Duration,
    pub min_mean_prob: f32,
    pub min_level_dbfs: f32,
}

impl Default for BargeInConfig {
    fn default() -> Self {
        BargeInConfig {
            threshold: 0.5,
            min_speech: Duration::from_millis(96),
            min_mean_prob: 0.7,
            min_level_dbfs: -45.0,
        }
    }
}

/// Stop sori's playback now (fade out, cancel pending speech). `speech_start`
/// is where the caller's speech began; `at` is the end of the deciding frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopPlayback {
    pub at: Duration,
    pub speech_start: Duration,
}

#[derive(Debug)]
pub struct BargeIn {
    cfg: BargeInConfig,
    playing: bool,
    run_start: Option<Duration>,
    run_prob: (f32, u32),
    fired: bool,
}

impl BargeIn {
    pub fn new(cfg: BargeInConfig) -> BargeIn {
        BargeIn { cfg, playing: false, run_start: None, run_prob: (0.0, 0), fired: false }
    }

    /// Tells the detector whether sori is speaking. Starting a new prompt
    /// re-arms it; while nothing plays no decision is made.
    pub fn set_playing(&mut self, playing: bool) {
        if playing && !self.playing {
            self.fired = false;
        }
        self.playing = playing;
    }

    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// One VAD frame. Speech is tracked even while idle, so speech that began
    /// just before a prompt started still counts from its real onset.
    pub fn handle_frame(&mut self, at: Duration, len: Duration, prob: f32, level_dbfs: f32) -> Option<StopPlayback> {
        let voiced = prob >= self.cfg.threshold && level_dbfs >= self.cfg.min_level_dbfs;
        if !voiced {
            self.run_start = None;
            self.run_prob = (0.0, 0);
            return None;
        }
        let start = *self.run_start.get_or_insert(at);
        self.run_prob = (self.run_prob.0 + prob, self.run_prob.1 + 1);
        let mean = self.run_prob.0 / self.run_prob.1 as f32;
        let end = at + len;
        if self.playing
            && !self.fired
            && end.saturating_sub(start) >= self.cfg.min_speech
            && mean >= self.cfg.min_mean_prob
        {
            self.fired = true;
            self.playing = false;
            return Some(StopPlayback { at: end, speech_start: start });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Duration = Duration::from_millis(32);

    fn feed(b: &mut BargeIn, frames: &[(f32, f32)]) -> Vec<(usize, StopPlayback)> {
        let mut out = Vec::new();
        for (i, (p, db)) in frames.iter().enumerate() {
            if let Some(s) = b.handle_frame(F * i as u32, F, *p, *db) {
                out.push((i, s));
            }
        }
        out
    }

    fn frames(parts: &[(f32, f32, usize)]) -> Vec<(f32, f32)> {
        parts.iter().flat_map(|(p, db, n)| std::iter::repeat_n((*p, *db), *n)).collect()
    }

    #[test]
    fn sustained_speech_stops_playback_within_budget() {
        let mut b = BargeIn::new(BargeInConfig::default());
        b.set_playing(true);
        let ev = feed(&mut b, &frames(&[(0.02, -60.0, 10), (0.9, -20.0, 20)]));
        assert_eq!(ev.len(), 1, "{ev:?}");
        let (i, s) = ev[0];
        assert_eq!(s.speech_start, F * 10);
        assert_eq!(i, 12, "three frames of speech decide");
        assert_eq!(s.at - s.speech_start, Duration::from_millis(96));
        assert!(!b.is_playing());
    }

    #[test]
    fn coughs_and_blips_do_not_interrupt() {
        let mut b = BargeIn::new(BargeInConfig::default());
        b.set_playing(true);
        // 32 and 64 ms bursts, and a weak 96 ms murmur, separated by silence.
        let f = frames(&[
            (0.9, -15.0, 1),
            (0.1, -60.0, 5),
            (0.95, -12.0, 2),
            (0.0, -70.0, 5),
            (0.6, -18.0, 3),
            (0.1, -60.0, 5),
        ]);
        assert!(feed(&mut b, &f).is_empty());
        assert!(b.is_playing());
    }

    #[test]
    fn faint_echo_of_our_own_voice_does_not_interrupt() {
        let mut b = BargeIn::new(BargeInConfig::default());
        b.set_playing(true);
        assert!(feed(&mut b, &frames(&[(0.9, -52.0, 30)])).is_empty());
    }

    #[test]
    fn nothing_fires_when_sori_is_silent_and_it_fires_once_per_prompt() {
        let mut b = BargeIn::new(BargeInConfig::default());
        assert!(feed(&mut b, &frames(&[(0.9, -20.0, 20)])).is_empty());
        b.set_playing(true);
        // Speech already running when the prompt starts: decided on the next frame.
        let s = b.handle_frame(F * 20, F, 0.9, -20.0).expect("fires");
        assert_eq!(s.speech_start, Duration::ZERO);
        assert!(b.handle_frame(F * 21, F, 0.9, -20.0).is_none());
        b.set_playing(false);
        b.set_playing(true);
        assert!(b.handle_frame(F * 22, F, 0.9, -20.0).is_some(), "re-armed by a new prompt");
    }
}
