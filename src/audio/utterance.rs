//! Per-call listening: 8 kHz telephone frames in; VAD, end-of-turn and
//! barge-in decisions and finished 16 kHz utterances out.
//!
//! [`Listener`] is sans-IO like the rest of `audio`: the call task pushes each
//! decoded 20 ms frame (160 samples at 8 kHz) and drains [`ListenerEvent`]s.
//! Its clock is the sample count, so its times are stream offsets from the
//! first pushed sample (plus the fixed 3 ms delay of the 8→16 kHz filter).

use std::collections::VecDeque;
use std::time::Duration;

use super::bargein::{BargeIn, BargeInConfig, StopPlayback};
use super::endpoint::{Completeness, EndReason, EndpointConfig, EndpointEvent, Endpointer};
use super::vad::{level_dbfs, Vad, VAD_FRAME, VAD_RATE};

/// Streaming 2× upsampler (8 → 16 kHz): a half-band FIR in polyphase form.
/// Even outputs are the input delayed; odd outputs interpolate midway with a
/// Kaiser-windowed sinc of 2·[`HALF_TAPS`] taps. Passband flat to 3.4 kHz
/// (telephone band), images above ~4.6 kHz attenuated by ~70 dB; good
/// enough to hand to Whisper. Delay: [`HALF_TAPS`] input samples (3 ms).
pub struct Upsampler2x {
    /// The interpolating phase's 2·[`HALF_TAPS`] taps, in window order.
    taps: [f32; 2 * HALF_TAPS],
    buf: Vec<f32>,
}

pub const HALF_TAPS: usize = 24;

impl Default for Upsampler2x {
    fn default() -> Self {
        Self::new()
    }
}

impl Upsampler2x {
    pub fn new() -> Upsampler2x {
        let beta = 7.0f64;
        let n = (2 * HALF_TAPS) as f64;
        let mut taps = [0f32; HALF_TAPS];
        let mut sum = 0.0;
        for (k, t) in taps.iter_mut().enumerate() {
            let x = k as f64 + 0.5; // distance (input samples) from the midpoint
            let sinc = (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x);
            // Kaiser window over the 2K taps, position measured from the centre.
            let r = x / (n / 2.0);
            let w = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(beta);
            *t = (sinc * w) as f32;
            sum += 2.0 * sinc * w;
        }
        // Unity gain at DC for the interpolated phase.
        taps.iter_mut().for_each(|t| *t /= sum as f32);
        // Symmetric: window sample k-1-j and k+j both take taps[j].
        let mut full = [0f32; 2 * HALF_TAPS];
        for (j, t) in taps.iter().enumerate() {
            full[HALF_TAPS - 1 - j] = *t;
            full[HALF_TAPS + j] = *t;
        }
        Upsampler2x { taps: full, buf: vec![0.0; 2 * HALF_TAPS - 1] }
    }

    /// Delay in output (16 kHz) samples.
    pub const fn delay() -> usize {
        2 * HALF_TAPS
    }

    /// Appends 2 × `input.len()` samples to `out`.
    ///
    /// Silence in with silence in the filter is silence out, without the
    /// filter (an idle line: most of every call). Otherwise each
    /// interpolated sample is a dot product over 8 lanes, which the compiler
    /// turns into vector instructions.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let k = HALF_TAPS;
        if input.iter().all(|&x| x == 0.0) && self.buf.iter().all(|&x| x == 0.0) {
            out.resize(out.len() + 2 * input.len(), 0.0);
            return;
        }
        self.buf.extend_from_slice(input);
        let windows = self.buf.len() + 1 - 2 * k;
        out.reserve(2 * windows);
        for s in 0..windows {
            let w = &self.buf[s..s + 2 * k];
            let mut lanes = [0.0f32; 8];
            for (wc, tc) in w.chunks_exact(8).zip(self.taps.chunks_exact(8)) {
                for l in 0..8 {
                    lanes[l] += wc[l] * tc[l];
                }
            }
            out.push(w[k - 1]);
            out.push(lanes.iter().sum());
        }
        self.buf.drain(..windows);
    }
}

fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)) * (x / (2.0 * k));
        sum += term;
        k += 1.0;
    }
    sum
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListenerConfig {
    pub endpoint: EndpointConfig,
    pub bargein: BargeInConfig,
}

/// A finished caller turn, ready for speech-to-text.
#[derive(Debug, Clone)]
pub struct Utterance {
    /// Stream offsets of the audio (pre-roll included).
    pub start: Duration,
    pub end: Duration,
    pub reason: EndReason,
    /// 16 kHz mono.
    pub audio: Vec<i16>,
}

impl Utterance {
    /// The audio from stream time `from` to `to` (clamped to this utterance).
    pub fn piece_audio(&self, (from, to): (Duration, Duration)) -> Vec<i16> {
        let base = to_samples(self.start);
        let a = (to_samples(from).saturating_sub(base) as usize).min(self.audio.len());
        let b = (to_samples(to).saturating_sub(base) as usize).clamp(a, self.audio.len());
        self.audio[a..b].to_vec()
    }
}

#[derive(Debug, Clone)]
pub enum ListenerEvent {
    /// The caller started talking (onset time). Cancel "no input" timers.
    SpeechStart { at: Duration },
    /// The caller talks over sori: fade out playback and drop queued speech.
    StopPlayback(StopPlayback),
    /// The caller's turn is over: transcribe it.
    Utterance(Utterance),
    /// The caller paused: the turn so far, for a speculative transcription.
    /// If the turn ends without more voice, the `Utterance` that follows has
    /// the same `start`/`end` and the same audio.
    Pause(Utterance),
}

/// Per-call listener: about 20 KB while idle (pre-roll ring), up to
/// `max_utterance` of 16 kHz i16 (480 KB for 15 s) while the caller talks,
/// and the latest turn's audio for [`RESUMABLE`] after it.
pub struct Listener {
    vad: Box<dyn Vad>,
    up: Upsampler2x,
    endpoint: Endpointer,
    barge: BargeIn,
    /// 16 kHz samples not yet given to the VAD (< one frame).
    pending: Vec<f32>,
    /// The 8 kHz frame as floats, and its 16 kHz version (reused buffers).
    input: Vec<f32>,
    scratch: Vec<f32>,
    /// 16 kHz audio kept for utterances; `capture[0]` is sample `capture_from`.
    capture: VecDeque<i16>,
    capture_from: u64,
    /// Index of the next sample the VAD will see.
    vad_pos: u64,
    /// The latest turn that ended for silence (its utterance's bounds): its
    /// audio is kept [`RESUMABLE`] after its end, in case the caller goes on
    /// ([`Listener::resume_turn`]).
    last_turn: Option<(Duration, Duration)>,
    events: VecDeque<ListenerEvent>,
    last_prob: f32,
}

/// How long after a turn's end its audio is kept for a caller who goes on:
/// longer than the call's own windows for that ([`crate::dialog::talked_on`]:
/// 1.5 s after the end with no reply heard yet, or 1 s into a reply that may
/// take a second or two to start).
pub const RESUMABLE: Duration = Duration::from_secs(4);

fn to_time(samples: u64) -> Duration {
    Duration::from_micros(samples * 1_000_000 / VAD_RATE as u64)
}

fn to_samples(t: Duration) -> u64 {
    (t.as_micros() as u64) * VAD_RATE as u64 / 1_000_000
}

impl Listener {
    pub fn new(vad: Box<dyn Vad>, cfg: ListenerConfig) -> Listener {
        Listener {
            vad,
            up: Upsampler2x::new(),
            endpoint: Endpointer::new(cfg.endpoint),
            barge: BargeIn::new(cfg.bargein),
            pending: Vec::with_capacity(VAD_FRAME + 320),
            input: Vec::with_capacity(160),
            scratch: Vec::with_capacity(640),
            capture: VecDeque::new(),
            capture_from: 0,
            vad_pos: 0,
            last_turn: None,
            events: VecDeque::new(),
            last_prob: 0.0,
        }
    }

    /// Tells the barge-in detector whether sori is speaking to the caller.
    pub fn set_playing(&mut self, playing: bool) {
        self.barge.set_playing(playing);
    }

    /// True while the caller is in a turn (after `SpeechStart`).
    pub fn in_speech(&self) -> bool {
        self.endpoint.in_speech()
    }

    /// True from the first voiced frame of possible speech, before
    /// `SpeechStart` confirms it (`min_speech` later) or it passes as a blip.
    pub fn voice_started(&self) -> bool {
        self.endpoint.utterance_start().is_some()
    }

    /// Speech probability of the latest VAD frame.
    pub fn last_prob(&self) -> f32 {
        self.last_prob
    }

    /// Stream time of the audio pushed so far (16 kHz side).
    pub fn now(&self) -> Duration {
        to_time(self.capture_from + self.capture.len() as u64)
    }

    pub fn vad_name(&self) -> &'static str {
        self.vad.name()
    }

    /// Decoded 8 kHz telephone audio, any length (normally one 20 ms frame).
    /// Push silence (zeros) for lost packets so the clock keeps running.
    pub fn push_8k(&mut self, pcm: &[i16]) {
        let mut x = std::mem::take(&mut self.input);
        x.clear();
        x.extend(pcm.iter().map(|&s| s as f32 / 32768.0));
        self.scratch.clear();
        self.up.process(&x, &mut self.scratch);
        self.input = x;
        let up = std::mem::take(&mut self.scratch);
        self.push_16k(&up);
        self.scratch = up;
    }

    /// 16 kHz audio in [-1, 1] (wideband sources, tests).
    pub fn push_16k(&mut self, pcm: &[f32]) {
        self.capture.extend(pcm.iter().map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16));
        self.pending.extend_from_slice(pcm);
        let mut off = 0;
        while self.pending.len() - off >= VAD_FRAME {
            let frame: Vec<f32> = self.pending[off..off + VAD_FRAME].to_vec();
            off += VAD_FRAME;
            self.frame(&frame);
        }
        self.pending.drain(..off);
        self.trim();
    }

    fn frame(&mut self, frame: &[f32]) {
        let at = to_time(self.vad_pos);
        self.vad_pos += VAD_FRAME as u64;
        let len = to_time(self.vad_pos) - at;
        let prob = self.vad.speech_prob(frame);
        self.last_prob = prob;
        if let Some(stop) = self.barge.handle_frame(at, len, prob, level_dbfs(frame)) {
            self.events.push_back(ListenerEvent::StopPlayback(stop));
        }
        self.endpoint.handle_frame(at, len, prob);
        self.drain_endpoint();
    }

    /// How finished the caller's turn so far sounds: `span` is the paused
    /// audio's bounds (a [`ListenerEvent::Pause`]'s `start`/`end`), `hint`
    /// what its transcript says. May end the turn at once; poll events after.
    pub fn set_turn_hint(&mut self, span: (Duration, Duration), hint: Completeness) {
        self.endpoint.set_turn_hint(span, hint);
        self.drain_endpoint();
    }

    /// A transcript of the pause `span` is on its way (see
    /// [`Endpointer::expect_turn_hint`]): the turn stays open until it comes.
    pub fn expect_turn_hint(&mut self, span: (Duration, Duration)) {
        self.endpoint.expect_turn_hint(span);
    }

    /// The caller's speech in progress goes on their turn that started at
    /// `start` (a [`ListenerEvent::Utterance`]'s `start`, ended at most
    /// [`RESUMABLE`] ago): from now on its pauses and its end carry the
    /// audio from `start`, the pause between included, to be transcribed as
    /// one turn. False when that audio is no longer kept, no speech is in
    /// progress, or the whole would be longer than `max_utterance`.
    pub fn resume_turn(&mut self, start: Duration) -> bool {
        if self.last_turn.is_none_or(|(s, _)| s != start) || to_samples(start) < self.capture_from {
            return false;
        }
        self.endpoint.resume_from(start)
    }

    fn drain_endpoint(&mut self) {
        while let Some(ev) = self.endpoint.poll_event() {
            match ev {
                EndpointEvent::SpeechStart { at } => self.events.push_back(ListenerEvent::SpeechStart { at }),
                EndpointEvent::SpeechEnd { utterance_start, utterance_end, reason, .. } => {
                    self.last_turn = (reason == EndReason::Silence).then_some((utterance_start, utterance_end));
                    let audio = self.slice(to_samples(utterance_start), to_samples(utterance_end));
                    self.events.push_back(ListenerEvent::Utterance(Utterance {
                        start: utterance_start,
                        end: utterance_end,
                        reason,
                        audio,
                    }));
                }
                EndpointEvent::Pause { utterance_start, utterance_end, .. } => {
                    let audio = self.slice(to_samples(utterance_start), to_samples(utterance_end));
                    self.events.push_back(ListenerEvent::Pause(Utterance {
                        start: utterance_start,
                        end: utterance_end,
                        reason: EndReason::Silence,
                        audio,
                    }));
                }
            }
        }
    }

    fn slice(&self, from: u64, to: u64) -> Vec<i16> {
        let end = self.capture_from + self.capture.len() as u64;
        let (a, b) = (from.clamp(self.capture_from, end), to.clamp(self.capture_from, end));
        self.capture.range((a - self.capture_from) as usize..(b - self.capture_from) as usize).copied().collect()
    }

    /// Drops audio no utterance can need: before the start of the one in
    /// progress, or older than pre-roll before the frame the VAD looks at
    /// next, except the latest turn's for [`RESUMABLE`] after its end.
    fn trim(&mut self) {
        let pre = to_samples(self.endpoint.config().pre_roll);
        let mut keep_from = match self.endpoint.utterance_start() {
            Some(start) => to_samples(start),
            None => self.vad_pos.saturating_sub(pre),
        };
        if let Some((start, end)) = self.last_turn {
            if to_time(self.vad_pos).saturating_sub(end) > RESUMABLE {
                self.last_turn = None;
            } else {
                keep_from = keep_from.min(to_samples(start));
            }
        }
        if keep_from > self.capture_from {
            let n = ((keep_from - self.capture_from) as usize).min(self.capture.len());
            self.capture.drain(..n);
            self.capture_from += n as u64;
            if self.capture.capacity() > 4 * (pre as usize + VAD_FRAME) && !self.endpoint.in_speech() {
                self.capture.shrink_to(2 * (pre as usize + VAD_FRAME));
            }
        }
    }

    pub fn poll_event(&mut self) -> Option<ListenerEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::vad::EnergyVad;

    fn tone(freq: f32, rate: f32, n: usize, amp: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * freq * std::f32::consts::TAU / rate).sin() * amp).collect()
    }

    #[test]
    fn upsampler_keeps_telephone_band_and_rejects_images() {
        for (freq, want_gain) in [(300.0, 1.0), (1000.0, 1.0), (3000.0, 1.0), (3400.0, 1.0)] {
            let x = tone(freq, 8000.0, 8000, 0.5);
            let mut up = Upsampler2x::new();
            let mut y = Vec::new();
            // Feed in 20 ms frames, as the call task does.
            for chunk in x.chunks(160) {
                up.process(chunk, &mut y);
            }
            assert_eq!(y.len(), 16000);
            let body = &y[1000..15000];
            let rms = (body.iter().map(|s| s * s).sum::<f32>() / body.len() as f32).sqrt();
            let gain = rms / (0.5 / 2f32.sqrt());
            assert!((gain - want_gain).abs() < 0.02, "{freq} Hz: gain {gain}");
            // The image at 16000/2 - f... i.e. 8000 - f Hz must be gone: compare
            // with an ideal 16 kHz tone of the same frequency, delayed.
            let ideal = tone(freq, 16000.0, 16000 + 64, 0.5);
            let d = Upsampler2x::delay();
            let err: f32 = (1000..15000).map(|i| (y[i] - ideal[i - d]).powi(2)).sum::<f32>() / 14000.0;
            let snr = 10.0 * ((0.125f32) / err.max(1e-12)).log10();
            assert!(snr > 50.0, "{freq} Hz: SNR {snr:.1} dB");
        }
    }

    #[test]
    fn upsampler_silence_fast_path_is_exact() {
        // Tone, silence, tone, fed in 20 ms frames: the same output as the
        // filter written out sample by sample over the whole signal.
        let mut x = tone(700.0, 8000.0, 800, 0.4);
        x.extend(vec![0.0; 1600]);
        x.extend(tone(1900.0, 8000.0, 800, 0.4));
        let mut up = Upsampler2x::new();
        let mut y = Vec::new();
        for chunk in x.chunks(160) {
            up.process(chunk, &mut y);
        }
        let k = HALF_TAPS;
        let mut padded = vec![0.0f32; 2 * k - 1];
        padded.extend(&x);
        let want: Vec<f32> = (0..x.len())
            .flat_map(|s| {
                let w = &padded[s..s + 2 * k];
                [w[k - 1], w.iter().zip(&up.taps).map(|(a, b)| a * b).sum::<f32>()]
            })
            .collect();
        assert_eq!(y.len(), want.len());
        for (i, (a, b)) in y.iter().zip(&want).enumerate() {
            assert!((a - b).abs() < 1e-6, "sample {i}: {a} vs {b}");
        }
        // Where input and filter are silent, output is exactly 0.
        assert!(y[2 * (800 + 2 * k)..2 * 2400].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn listener_cuts_a_tone_burst_out_of_silence() {
        let mut l = Listener::new(Box::new(EnergyVad::default()), ListenerConfig::default());
        let mut input: Vec<i16> = vec![0; 8000];
        input.extend(tone(440.0, 8000.0, 8000, 0.3).iter().map(|s| (s * 32767.0) as i16));
        input.extend(vec![0i16; 16000]);
        let mut events = Vec::new();
        for chunk in input.chunks(160) {
            l.push_8k(chunk);
            while let Some(e) = l.poll_event() {
                events.push(e);
            }
        }
        let pause = events.iter().position(|e| matches!(e, ListenerEvent::Pause(_))).expect("a pause before the end");
        let ListenerEvent::Pause(p) = events.remove(pause) else { unreachable!() };
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(events[0], ListenerEvent::SpeechStart { at } if at.as_millis().abs_diff(1000) < 40));
        let ListenerEvent::Utterance(u) = &events[1] else { panic!() };
        assert!(u.start.as_millis().abs_diff(750) < 40, "{:?}", u.start);
        assert!(u.end.as_millis().abs_diff(2150) < 40, "{:?}", u.end);
        assert_eq!(u.audio.len() as u128, (u.end - u.start).as_micros() * 16 / 1000);
        assert_eq!((p.start, p.end), (u.start, u.end));
        assert_eq!(p.audio, u.audio, "the paused audio is the utterance");
        // Idle again: the turn is kept a while for a caller who goes on,
        // then only the pre-roll window.
        assert!(l.capture.len() >= u.audio.len(), "{}", l.capture.len());
        l.push_8k(&vec![0i16; 8 * RESUMABLE.as_millis() as usize]);
        assert!(l.capture.len() < 8000, "{}", l.capture.len());
        assert!(!l.resume_turn(u.start), "too late");
    }

    #[test]
    fn a_caller_who_goes_on_is_heard_from_the_start_of_their_turn() {
        let mut l = Listener::new(Box::new(EnergyVad::default()), ListenerConfig::default());
        let burst =
            |ms: usize| tone(440.0, 8000.0, ms * 8, 0.3).iter().map(|s| (s * 32767.0) as i16).collect::<Vec<_>>();
        let mut input: Vec<i16> = vec![0; 8000];
        input.extend(burst(1000));
        input.extend(vec![0i16; 8 * 900]);
        input.extend(burst(1500));
        input.extend(vec![0i16; 16000]);
        let (mut first, mut last, mut resumed) = (None, None, None);
        for chunk in input.chunks(160) {
            l.push_8k(chunk);
            while let Some(e) = l.poll_event() {
                match e {
                    ListenerEvent::Utterance(u) if first.is_none() => first = Some(u),
                    ListenerEvent::SpeechStart { .. } => {
                        if let Some(f) = &first {
                            assert!(!l.resume_turn(f.start + Duration::from_millis(20)), "not that turn");
                            resumed = Some(l.resume_turn(f.start));
                        }
                    }
                    ListenerEvent::Utterance(u) => last = Some(u),
                    _ => {}
                }
            }
        }
        let (first, last) = (first.expect("first turn"), last.expect("the turn going on"));
        assert_eq!(resumed, Some(true));
        assert!(first.end.as_millis().abs_diff(2150) < 40, "{:?}", first.end);
        // The whole turn: from the first burst's pre-roll to the second's end.
        assert_eq!(last.start, first.start);
        assert!(last.end.as_millis().abs_diff(4550) < 40, "{:?}", last.end);
        assert_eq!(last.audio.len() as u128, (last.end - last.start).as_micros() * 16 / 1000);
        assert_eq!(&last.audio[..first.audio.len()], &first.audio[..], "the first half's audio, as it was heard");
        let loud = |a: &[i16]| a.iter().map(|&s| (s as f64).abs()).sum::<f64>() / a.len().max(1) as f64;
        let gap = (first.audio.len() + 16 * 200)..(first.audio.len() + 16 * 500);
        assert!(loud(&last.audio[gap]) < 50.0, "the pause is in it, silent");
        assert!(loud(&last.audio[last.audio.len() - 16 * 600..]) > 3000.0, "and the second half");
    }

    #[test]
    fn a_complete_hint_ends_the_turn_when_it_arrives() {
        let mut l = Listener::new(Box::new(EnergyVad::default()), ListenerConfig::default());
        let mut input: Vec<i16> = vec![0; 8000];
        input.extend(tone(440.0, 8000.0, 8000, 0.3).iter().map(|s| (s * 32767.0) as i16));
        input.extend(vec![0i16; 16000]);
        let mut pause = None;
        let mut ended = None;
        for chunk in input.chunks(160) {
            l.push_8k(chunk);
            while let Some(e) = l.poll_event() {
                match e {
                    ListenerEvent::Pause(p) => pause = Some(p),
                    ListenerEvent::Utterance(u) => ended = Some((l.now(), u)),
                    _ => {}
                }
            }
            // The transcript comes back when 300 ms of silence have passed
            // (the utterance ends 150 ms after the last voiced frame): the
            // turn ends right then.
            if let Some(p) = pause.as_ref().filter(|p| ended.is_none() && l.now() >= p.end + Duration::from_millis(150))
            {
                l.set_turn_hint((p.start, p.end), Completeness::Complete);
                if let Some(ListenerEvent::Utterance(u)) = l.poll_event() {
                    ended = Some((l.now(), u));
                }
            }
        }
        let (p, (at, u)) = (pause.expect("a pause"), ended.expect("an end"));
        assert_eq!((u.start, u.end), (p.start, p.end));
        assert_eq!(u.audio, p.audio);
        // Well before the plain 500 ms of silence after the last voiced frame.
        let last_voiced = p.end - Duration::from_millis(150);
        assert!(at < last_voiced + Duration::from_millis(400), "{at:?} {last_voiced:?}");
    }
}
