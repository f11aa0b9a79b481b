//! sori-stt: the speech-to-text worker process, supervised by `sori`
//! (`sori::worker::Pool`). whisper.cpp via whisper-rs; the model is loaded
//! once, each request is decoded greedily without timestamps in the
//! language the request names. Protocol: `sori::stt::proto`.

use std::io::{BufRead, Write};
use std::time::Instant;

use serde_json::json;
use sori::stt::proto::{SttRequest, SttResponse};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState};

struct Args {
    model: String,
    threads: i32,
}

fn parse_args() -> Result<Args, String> {
    let mut model = None;
    let mut threads = 2;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => model = it.next(),
            "--threads" => threads = it.next().and_then(|t| t.parse().ok()).ok_or("--threads needs a number")?,
            "-h" | "--help" => {
                return Err("usage: sori-stt --model ggml-MODEL.bin [--threads N]  (JSON lines on stdin/stdout)".into())
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args { model: model.ok_or("--model is required")?, threads })
}

fn send(out: &mut impl Write, v: &serde_json::Value) -> std::io::Result<()> {
    writeln!(out, "{v}")?;
    out.flush()
}

fn transcribe(state: &mut WhisperState, threads: i32, req: &SttRequest) -> Result<String, String> {
    let samples = req.samples_f32()?;
    let mut p = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    p.set_language(Some(&req.language));
    p.set_n_threads(threads);
    p.set_translate(false);
    p.set_no_timestamps(true);
    p.set_no_context(true);
    p.set_suppress_blank(true);
    p.set_print_special(false);
    p.set_print_progress(false);
    p.set_print_realtime(false);
    p.set_print_timestamps(false);
    // whisper.cpp needs at least 1 s of input; pad short utterances with silence.
    let mut samples = samples;
    if samples.len() < 16_000 + 1_600 {
        samples.resize(16_000 + 1_600, 0.0);
    }
    if let Some(ctx) = audio_ctx(samples.len()) {
        p.set_audio_ctx(ctx);
    }
    // A phone turn is one segment; a looping decoder must not run on for
    // seconds (about 3 tokens per Korean syllable, 5 syllables a second, is
    // far above real speech).
    p.set_single_segment(true);
    p.set_max_tokens(max_tokens(samples.len()));
    if std::env::var("SORI_STT_FALLBACK").is_err() {
        // No temperature fallback: re-decoding at higher temperatures triples
        // the time of the turns it triggers on and rarely fixes telephone audio.
        p.set_temperature_inc(0.0);
    }
    state.full(p, &samples).map_err(|e| format!("whisper: {e}"))?;
    let mut text = String::new();
    for seg in state.as_iter() {
        text.push_str(&seg.to_str_lossy().map_err(|e| format!("whisper: {e}"))?);
    }
    Ok(text.trim().to_string())
}

/// Encoder frames (20 ms each, 1500 = whisper's 30 s window) to run for
/// `samples` of 16 kHz audio: a window fitted to the utterance plus a margin,
/// instead of always encoding 30 s. A phone turn of 3 s costs about a tenth
/// of the full window. `SORI_STT_AUDIO_CTX=full` turns it off.
fn audio_ctx(samples: usize) -> Option<i32> {
    match std::env::var("SORI_STT_AUDIO_CTX").ok().as_deref() {
        Some("full") => return None,
        // Never below the audio (its tail would be dropped) nor above 30 s.
        Some(n) => return n.parse::<i32>().ok().map(|n| n.clamp(samples.div_ceil(320) as i32, 1500)),
        None => {}
    }
    let frames = samples.div_ceil(320) as i32;
    Some((frames + AUDIO_CTX_MARGIN).clamp(AUDIO_CTX_MIN, 1500))
}

/// Token budget for `samples` of 16 kHz audio.
fn max_tokens(samples: usize) -> i32 {
    (16 + samples * 15 / 16_000) as i32
}

/// Extra encoder frames past the audio (decoding degrades when the window
/// ends exactly at the last word).
const AUDIO_CTX_MARGIN: i32 = 64;
const AUDIO_CTX_MIN: i32 = 128;

fn main() {
    // whisper.cpp and ggml log every load step; keep stderr for our own lines.
    whisper_rs::install_logging_hooks();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            let _ = send(&mut out, &json!({ "fatal": e }));
            std::process::exit(2);
        }
    };
    let t0 = Instant::now();
    let fatal = |out: &mut std::io::StdoutLock, msg: String| -> ! {
        let _ = send(out, &json!({ "fatal": msg }));
        std::process::exit(1);
    };
    if !std::path::Path::new(&args.model).exists() {
        fatal(&mut out, format!("{} is missing — fetch it with: sori models fetch", args.model));
    }
    let ctx = match WhisperContext::new_with_params(&args.model, WhisperContextParameters::default()) {
        Ok(c) => c,
        Err(e) => fatal(
            &mut out,
            format!("{} is not a whisper.cpp model ({e}) — fetch it again with: sori models fetch", args.model),
        ),
    };
    let mut state = match ctx.create_state() {
        Ok(s) => s,
        Err(e) => fatal(&mut out, format!("whisper state: {e}")),
    };
    let model = std::path::Path::new(&args.model).file_name().map(|n| n.to_string_lossy().into_owned());
    let _ = send(
        &mut out,
        &json!({ "ready": true, "model": model, "ms": t0.elapsed().as_millis() as u64, "whisper_cpp": whisper_rs::WHISPER_CPP_VERSION }),
    );

    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("sori-stt: ignoring a line that is not JSON: {e}");
                continue;
            }
        };
        let id = v.get("id").and_then(|i| i.as_u64()).unwrap_or(0);
        let t = Instant::now();
        let result = serde_json::from_value::<SttRequest>(v)
            .map_err(|e| format!("bad request: {e}"))
            .and_then(|req| transcribe(&mut state, args.threads, &req));
        let msg = match result {
            Ok(text) => {
                let r = SttResponse { text, ms: t.elapsed().as_millis() as u64 };
                let mut m = serde_json::to_value(r).expect("serialisable");
                m["id"] = id.into();
                m
            }
            Err(e) => json!({ "id": id, "error": e }),
        };
        if send(&mut out, &msg).is_err() {
            break;
        }
    }
}
