//! Real audio through the listening path: espeak-ng Korean speech at 8 kHz,
//! padded with line noise, through G.711 μ-law, into the Silero VAD (real
//! ONNX model and ONNX Runtime), end-of-turn detection and barge-in.
//!
//! Needs `scripts/fetch-onnx-test-assets.sh` (silero_vad.onnx and
//! libonnxruntime.so.1.24.4 in the models directory) and espeak-ng.

use std::time::{Duration, Instant};

use sori::audio::{Listener, ListenerConfig, ListenerEvent, VadConfig, VadEngine};
use sori::codec::g711::{linear_to_ulaw, ulaw_to_linear};
use sori::tts::espeak::Espeak;

const RATE: usize = 8000;

fn engine() -> VadEngine {
    let cfg = VadConfig::default();
    VadEngine::load(&cfg).unwrap_or_else(|e| panic!("{e} — run scripts/fetch-onnx-test-assets.sh"))
}

/// Korean speech at 8 kHz (prompt rendering: normalised to −3 dBFS peak, its
/// 200 ms tail of silence trimmed) and the span where it is audible.
fn korean(text: &str) -> Vec<i16> {
    let mut pcm = sori::tts::prompts::render(&Espeak::new("ko", 165), text).expect("espeak-ng -v ko");
    while pcm.last().is_some_and(|s| s.unsigned_abs() < 30) {
        pcm.pop();
    }
    pcm
}

/// Deterministic line noise around −60 dBFS (a quiet telephone line).
fn line_noise(n: usize, seed: &mut u32) -> Vec<i16> {
    (0..n)
        .map(|_| {
            *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((*seed >> 16) as i16 % 60) - 30
        })
        .collect()
}

/// First and last sample whose 10 ms RMS exceeds −40 dBFS: where speech is.
fn audible_span(pcm: &[i16]) -> (Duration, Duration) {
    let win = RATE / 100;
    let loud: Vec<bool> = pcm
        .chunks(win)
        .map(|c| (c.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / c.len() as f64).sqrt() > 327.0)
        .collect();
    let first = loud.iter().position(|&l| l).expect("speech") * win;
    let last = (loud.iter().rposition(|&l| l).expect("speech") + 1) * win;
    let t = |s: usize| Duration::from_micros((s * 1_000_000 / RATE) as u64);
    (t(first), t(last))
}

/// What the call task does: μ-law over the wire, decode, push 20 ms frames.
/// Events of `pcm` sent through μ-law, pauses (speculative-STT offers) left out.
fn through_line(l: &mut Listener, pcm: &[i16]) -> Vec<(Duration, ListenerEvent)> {
    through_line_all(l, pcm).into_iter().filter(|(_, e)| !matches!(e, ListenerEvent::Pause(_))).collect()
}

fn through_line_all(l: &mut Listener, pcm: &[i16]) -> Vec<(Duration, ListenerEvent)> {
    let mut out = Vec::new();
    for frame in pcm.chunks(160) {
        let decoded: Vec<i16> = frame.iter().map(|&s| ulaw_to_linear(linear_to_ulaw(s))).collect();
        l.push_8k(&decoded);
        while let Some(e) = l.poll_event() {
            out.push((l.now(), e));
        }
    }
    out
}

fn pad(speech: &[i16], before: usize, after: usize) -> (Vec<i16>, (Duration, Duration)) {
    let mut seed = 7;
    let mut pcm = line_noise(before, &mut seed);
    let (a, b) = audible_span(speech);
    let offset = Duration::from_micros((before * 1_000_000 / RATE) as u64);
    for (s, n) in speech.iter().zip(line_noise(speech.len(), &mut seed)) {
        pcm.push(s.saturating_add(n));
    }
    pcm.extend(line_noise(after, &mut seed));
    (pcm, (offset + a, offset + b))
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

#[test]
fn silero_cuts_one_korean_utterance_out_of_line_noise() {
    let engine = engine();
    let speech = korean("코로나 검사는 어디에서 받을 수 있나요");
    let (pcm, (s0, s1)) = pad(&speech, 2 * RATE, 2 * RATE);
    let mut l = Listener::new(engine.new_vad(), ListenerConfig::default());
    assert_eq!(l.vad_name(), "silero");
    let t = Instant::now();
    let events = through_line(&mut l, &pcm);
    let cost = t.elapsed();
    let frames_20ms = pcm.len() / 160;
    eprintln!(
        "speech {}..{} ms; events {:?}; VAD+listener cost {:.3} ms per 20 ms frame",
        ms(s0),
        ms(s1),
        events.iter().map(|(t, e)| (ms(*t), short(e))).collect::<Vec<_>>(),
        cost.as_secs_f64() * 1000.0 / frames_20ms as f64
    );
    assert_eq!(events.len(), 2, "one start, one utterance");
    // The last pause offered the end's audio ahead of time (speculative STT).
    let mut l2 = Listener::new(engine.new_vad(), ListenerConfig::default());
    let all = through_line_all(&mut l2, &pcm);
    let last_pause = all.iter().rev().find_map(|(t, e)| match e {
        ListenerEvent::Pause(u) => Some((*t, u.clone())),
        _ => None,
    });
    let (paused_at, p) = last_pause.expect("a pause before the end of the turn");
    let (ended_at, ListenerEvent::Utterance(u)) = &all[all.len() - 1] else { panic!("{all:?}") };
    assert_eq!((p.start, p.end), (u.start, u.end));
    assert!(ms(*ended_at) - ms(paused_at) >= 250, "pause {} end {}", ms(paused_at), ms(*ended_at));
    let ListenerEvent::SpeechStart { at } = events[0].1 else { panic!("{:?}", events[0]) };
    // Onset within 100 ms of the audible start: Silero needs a frame or two
    // (32 ms each) of voicing; espeak's first consonant may be soft.
    assert!(ms(at).abs_diff(ms(s0)) <= 100, "onset {} vs speech {}", ms(at), ms(s0));
    let ListenerEvent::Utterance(u) = &events[1].1 else { panic!("{:?}", events[1]) };
    // The utterance covers the speech: starts before it (pre-roll 250 ms,
    // minus up to 100 ms of onset error), ends at most 100 ms before its
    // audible end (the decaying last syllable may fall under the VAD
    // threshold; post-roll 150 ms brings most of it back) and at most
    // 150 ms post-roll + Silero's lingering (≤ 3 frames) after.
    assert!(u.start <= s0, "utterance start {} after speech {}", ms(u.start), ms(s0));
    assert!(ms(s0) - ms(u.start) <= 400, "too much lead-in: {} vs {}", ms(u.start), ms(s0));
    assert!(ms(u.end) >= ms(s1) - 100, "utterance end {} cuts speech ending {}", ms(u.end), ms(s1));
    // Silero's probability lingers 1–3 frames after the energy fades.
    assert!(ms(u.end) <= ms(s1) + 250, "utterance end {} too late for {}", ms(u.end), ms(s1));
    assert_eq!(u.audio.len() as i64, (ms(u.end) - ms(u.start)) * 16, "16 kHz samples");
    // End of turn declared about 500 ms of trailing silence after speech.
    let decided = ms(events[1].0);
    assert!((ms(s1) + 400..=ms(s1) + 700).contains(&decided), "turn end decided at {decided}");
    // The audio handed out is the speech, at 16 kHz: most energy inside.
    let rms = |x: &[i16]| (x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt();
    let inner = &u.audio[(ms(s0) - ms(u.start)) as usize * 16..];
    assert!(rms(inner) > 1000.0, "speech energy {}", rms(inner));
}

#[test]
fn silence_and_line_noise_never_trigger() {
    let engine = engine();
    let mut seed = 99;
    let mut pcm = vec![0i16; RATE];
    pcm.extend(line_noise(8 * RATE, &mut seed));
    // Clicks (5 ms spikes) and 80 ms bursts of loud hiss on the line.
    for k in 0..6 {
        let at = RATE * (k + 2) + 1234;
        for s in &mut pcm[at..at + 40] {
            *s = 12_000;
        }
        let burst = line_noise(640, &mut seed);
        for (s, n) in pcm[at + 4000..at + 4640].iter_mut().zip(burst) {
            *s = n * 200;
        }
    }
    let mut l = Listener::new(engine.new_vad(), ListenerConfig::default());
    l.set_playing(true);
    let events = through_line(&mut l, &pcm);
    assert!(events.is_empty(), "{:?}", events.iter().map(|(_, e)| short(e)).collect::<Vec<_>>());
}

#[test]
fn caller_speech_during_playback_stops_it_within_200_ms() {
    let engine = engine();
    let speech = korean("잠깐만요 질문이 있어요");
    let (pcm, (s0, _)) = pad(&speech, 3 * RATE / 2, RATE);
    let mut l = Listener::new(engine.new_vad(), ListenerConfig::default());
    // sori is talking; what comes back from the caller is line noise, then speech.
    l.set_playing(true);
    let events = through_line(&mut l, &pcm);
    let stops: Vec<_> = events
        .iter()
        .filter_map(|(_, e)| match e {
            ListenerEvent::StopPlayback(s) => Some(*s),
            _ => None,
        })
        .collect();
    assert_eq!(stops.len(), 1, "{:?}", events.iter().map(|(_, e)| short(e)).collect::<Vec<_>>());
    let latency = ms(stops[0].at) - ms(s0);
    eprintln!("barge-in decided {latency} ms after the caller's speech became audible");
    // Decision + the player's 20 ms fade-out frame must fit in 200 ms.
    assert!(latency + 20 <= 200, "barge-in took {latency} ms");
    assert!(latency >= 0, "decided before speech: {latency} ms");
    // The same speech is still captured as the caller's next turn.
    assert!(events.iter().any(|(_, e)| matches!(e, ListenerEvent::Utterance(_))));
}

fn short(e: &ListenerEvent) -> String {
    match e {
        ListenerEvent::SpeechStart { at } => format!("start@{}", ms(*at)),
        ListenerEvent::StopPlayback(s) => format!("stop@{}(speech@{})", ms(s.at), ms(s.speech_start)),
        ListenerEvent::Utterance(u) => format!("utt {}..{} {:?}", ms(u.start), ms(u.end), u.reason),
        ListenerEvent::Pause(u) => format!("pause {}..{}", ms(u.start), ms(u.end)),
    }
}

/// The silence gate (`[vad] silence_gate_dbfs`) skips Silero on quiet frames
/// (an idle line is most of a call) without changing what is heard: the same
/// events as with the gate off, and no frame it skips is one Silero calls
/// speech.
#[test]
fn silence_gate_skips_quiet_frames_and_changes_no_decision() {
    let model = match engine() {
        VadEngine::Silero(m, _) => m,
        VadEngine::Energy => panic!("default engine is Silero"),
    };
    let gate = VadConfig::default().silence_gate_dbfs;
    assert!(gate > -100.0, "the gate is on by default");
    let speech = korean("독감 예방접종은 어디서 맞을 수 있어요");
    let (mut pcm, _) = pad(&speech, 3 * RATE, 3 * RATE);
    pcm.extend(vec![0i16; 2 * RATE]); // digital silence, as when no RTP arrives
    let events = |gate_dbfs: f32| {
        let vad = Box::new(sori::audio::SileroVad::new(model.clone()).with_gate(gate_dbfs));
        let mut l = Listener::new(vad, ListenerConfig::default());
        through_line_all(&mut l, &pcm)
    };
    let (on, off) = (events(gate), events(-100.0));
    let shown = |v: &[(Duration, ListenerEvent)]| v.iter().map(|(t, e)| (ms(*t), short(e))).collect::<Vec<_>>();
    assert!(on.iter().any(|(_, e)| matches!(e, ListenerEvent::Utterance(_))), "{:?}", shown(&on));
    // The same events; a skipped frame leaves Silero's recurrent state where
    // it was, so an edge may move by one 32 ms frame, never more.
    let same = on.len() == off.len()
        && on.iter().zip(&off).all(|((ta, a), (tb, b))| {
            let near = |x: Duration, y: Duration| ms(x).abs_diff(ms(y)) <= 40;
            near(*ta, *tb)
                && match (a, b) {
                    (ListenerEvent::SpeechStart { at: x }, ListenerEvent::SpeechStart { at: y }) => near(*x, *y),
                    (ListenerEvent::Utterance(x), ListenerEvent::Utterance(y))
                    | (ListenerEvent::Pause(x), ListenerEvent::Pause(y)) => {
                        near(x.start, y.start) && near(x.end, y.end)
                    }
                    (ListenerEvent::StopPlayback(_), ListenerEvent::StopPlayback(_)) => true,
                    _ => false,
                }
        });
    assert!(same, "the gate changed what was heard:\n on {:?}\noff {:?}", shown(&on), shown(&off));
    // Frame by frame: every frame the gate skips is one Silero scores low.
    let mut ungated = sori::audio::SileroVad::new(model.clone()).with_gate(-100.0);
    let (mut skipped, mut total, mut quiet) = (0, 0, 0);
    let x16: Vec<f32> = pcm.iter().flat_map(|&s| [f32::from(s) / 32768.0; 2]).collect();
    for frame in x16.chunks_exact(sori::audio::vad::VAD_FRAME) {
        let p = sori::audio::Vad::speech_prob(&mut ungated, frame);
        total += 1;
        // The gate's rule: quiet, after Silero said silence 10 frames in a row.
        if quiet >= 10 && sori::audio::vad::level_dbfs(frame) < gate {
            skipped += 1;
            assert!(p < 0.5, "a frame the gate skips scored {p} (speech)");
        }
        quiet = if p < 0.1 { quiet + 1 } else { 0 };
    }
    eprintln!("silence gate at {gate} dBFS skips {skipped} of {total} frames");
    assert!(skipped * 10 >= total * 6, "the gate skipped only {skipped} of {total} frames");
}
