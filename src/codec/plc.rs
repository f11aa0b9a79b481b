//! Packet-loss concealment for codecs that have none of their own (G.711),
//! after the idea of ITU-T G.711 Appendix I: a lost 20 ms frame is filled by
//! repeating the last pitch period of the audio before it, fading out from
//! 10 ms into the loss and reaching silence after 60 ms; the first frame
//! after a loss is cross-faded from the continued repetition into the real
//! audio so neither edge clicks. Without it a lost frame is 20 ms of silence
//! (what sori did before).

use super::{CodecError, Decoder, SAMPLES_PER_FRAME_8K};

/// Shortest and longest pitch period searched (8 kHz: 66–200 Hz voices).
const MIN_PITCH: usize = 40;
const MAX_PITCH: usize = 120;
/// Samples compared when searching the pitch period.
const CORR_LEN: usize = 80;
/// History kept: enough for the search window at the longest period.
const HISTORY: usize = MAX_PITCH + CORR_LEN;
/// Full level for this long into a loss, then a linear fade.
const HOLD: usize = 80;
/// Silence from this far into a loss on.
const FADE_END: usize = 480;
/// Cross-fade into the first good frame after a loss.
const RECOVER: usize = 40;

/// Concealment state of one stream.
#[derive(Debug, Clone)]
pub struct Plc {
    /// The last [`HISTORY`] samples played (real or concealed).
    history: Vec<i16>,
    /// Samples concealed in the current loss (0 = not in a loss).
    lost: usize,
    /// The period being repeated, and the position in it.
    period: Vec<i16>,
    pos: usize,
}

impl Default for Plc {
    fn default() -> Self {
        Plc { history: vec![0; HISTORY], lost: 0, period: Vec::new(), pos: 0 }
    }
}

impl Plc {
    pub fn new() -> Plc {
        Plc::default()
    }

    /// A frame that arrived: smoothed into after a loss, then remembered.
    pub fn good(&mut self, frame: &mut [i16]) {
        if self.lost > 0 && !self.period.is_empty() {
            let n = RECOVER.min(frame.len());
            for (i, s) in frame.iter_mut().take(n).enumerate() {
                let w = (i + 1) as f32 / (n + 1) as f32;
                let c = self.next_concealed() as f32;
                *s = (c * (1.0 - w) + *s as f32 * w).round() as i16;
            }
        }
        self.lost = 0;
        self.remember(frame);
    }

    /// Appends one 20 ms frame of concealment to `out`.
    pub fn conceal(&mut self, out: &mut Vec<i16>) {
        if self.lost == 0 {
            let p = pitch_period(&self.history);
            self.period = self.history[HISTORY - p..].to_vec();
            self.pos = 0;
        }
        let start = out.len();
        for _ in 0..SAMPLES_PER_FRAME_8K {
            let s = self.next_concealed();
            out.push(s);
        }
        let made = out[start..].to_vec();
        self.remember(&made);
    }

    /// The next repeated sample at the current fade, advancing the loss.
    fn next_concealed(&mut self) -> i16 {
        let gain = if self.lost < HOLD {
            1.0
        } else if self.lost < FADE_END {
            1.0 - (self.lost - HOLD) as f32 / (FADE_END - HOLD) as f32
        } else {
            0.0
        };
        let s = self.period.get(self.pos).copied().unwrap_or(0);
        self.pos = (self.pos + 1) % self.period.len().max(1);
        self.lost += 1;
        (s as f32 * gain).round() as i16
    }

    fn remember(&mut self, samples: &[i16]) {
        if samples.len() >= HISTORY {
            self.history.copy_from_slice(&samples[samples.len() - HISTORY..]);
        } else {
            self.history.drain(..samples.len());
            self.history.extend_from_slice(samples);
        }
    }
}

/// The lag in `MIN_PITCH..=MAX_PITCH` at which the last `CORR_LEN` samples
/// best match the audio before them (normalised cross-correlation).
fn pitch_period(h: &[i16]) -> usize {
    let tail = &h[h.len() - CORR_LEN..];
    let energy_tail: f64 = tail.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    if energy_tail < 1.0 {
        return MAX_PITCH;
    }
    let mut best = (f64::MIN, MAX_PITCH);
    for lag in MIN_PITCH..=MAX_PITCH {
        let past = &h[h.len() - CORR_LEN - lag..h.len() - lag];
        let (mut dot, mut energy) = (0f64, 0f64);
        for (&a, &b) in tail.iter().zip(past) {
            dot += f64::from(a) * f64::from(b);
            energy += f64::from(b) * f64::from(b);
        }
        let score = dot / (energy * energy_tail).sqrt().max(1.0);
        if score > best.0 {
            best = (score, lag);
        }
    }
    best.1
}

/// A decoder with [`Plc`] in place of its own concealment.
pub struct WithPlc<D> {
    inner: D,
    plc: Plc,
}

impl<D: Decoder> WithPlc<D> {
    pub fn new(inner: D) -> Self {
        WithPlc { inner, plc: Plc::new() }
    }
}

impl<D: Decoder> Decoder for WithPlc<D> {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        let start = out.len();
        self.inner.decode(payload, out)?;
        self.plc.good(&mut out[start..]);
        Ok(())
    }

    fn conceal(&mut self, out: &mut Vec<i16>) {
        self.plc.conceal(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(period: usize, n: usize, from: usize) -> Vec<i16> {
        (from..from + n)
            .map(|i| (8000.0 * (2.0 * std::f32::consts::PI * i as f32 / period as f32).sin()) as i16)
            .collect()
    }

    #[test]
    fn finds_the_period_of_a_voiced_sound() {
        for period in [45, 64, 100, 117] {
            let h = tone(period, HISTORY, 0);
            let p = pitch_period(&h);
            assert!(p == period || p == 2 * period, "period {period}: found {p}");
        }
        assert_eq!(pitch_period(&[0; HISTORY]), MAX_PITCH, "silence: any period");
    }

    #[test]
    fn a_lost_frame_continues_the_waveform_then_fades_to_silence() {
        let mut plc = Plc::new();
        let mut frame = tone(80, 160, 0);
        plc.good(&mut frame);
        let mut out = Vec::new();
        plc.conceal(&mut out);
        // The first 10 ms are the tone going on (phase continues at 160).
        let expected = tone(80, 80, 160);
        for (a, b) in out[..80].iter().zip(&expected) {
            assert!((i32::from(*a) - i32::from(*b)).abs() < 200, "{a} vs {b}");
        }
        let rms = |v: &[i16]| (v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        assert!(rms(&out[120..]) < rms(&out[..80]), "fading");
        for _ in 0..3 {
            plc.conceal(&mut out);
        }
        assert_eq!(out.len(), 4 * 160);
        assert!(out[FADE_END..].iter().all(|&s| s == 0), "silent after 60 ms");
    }

    #[test]
    fn recovery_is_cross_faded_and_later_frames_untouched() {
        let mut plc = Plc::new();
        plc.good(&mut tone(80, 160, 0));
        let mut out = Vec::new();
        plc.conceal(&mut out);
        let real = tone(80, 160, 320);
        let mut next = real.clone();
        plc.good(&mut next);
        assert_ne!(next[..RECOVER], real[..RECOVER], "blended");
        assert_eq!(next[RECOVER..], real[RECOVER..]);
        let mut again = tone(80, 160, 480);
        let copy = again.clone();
        plc.good(&mut again);
        assert_eq!(again, copy, "no loss, no change");
    }

    #[test]
    fn wraps_a_decoder() {
        let mut dec = WithPlc::new(super::super::g711::UlawDecoder);
        let mut out = Vec::new();
        dec.decode(&[0x80; 160], &mut out).expect("decode");
        dec.conceal(&mut out);
        assert_eq!(out.len(), 320);
        assert!(out[160..240].iter().any(|&s| s != 0), "loud audio is continued, not silenced");
        assert!(dec.decode(&[], &mut out).is_err());
    }
}
