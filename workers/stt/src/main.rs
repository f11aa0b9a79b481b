//! sori-stt: the speech-to-text worker process, supervised by `sori`
//! (`sori::worker::Pool`). whisper.cpp via whisper-rs; the model is loaded
//! once, each request is decoded without timestamps in the language and
//! with the settings it names (window fitted to the utterance, guards, a
//! retry only when a guard fires). Protocol: `sori::stt::proto`.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use sori::stt::guard::{self, Decoded, Guard};
use sori::stt::proto::{DecodeOptions, SttRequest, SttResponse};
use whisper_rs::{
    whisper_rs_sys, FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

struct Args {
    model: String,
    threads: i32,
    flash_attn: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut model = None;
    let mut threads = 2;
    let mut flash_attn = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => model = it.next(),
            "--threads" => threads = it.next().and_then(|t| t.parse().ok()).ok_or("--threads needs a number")?,
            "--flash-attn" => flash_attn = true,
            "-h" | "--help" => {
                return Err(
                    "usage: sori-stt --model ggml-MODEL.bin [--threads N] [--flash-attn]  (JSON lines on stdin/stdout)"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args { model: model.ok_or("--model is required")?, threads, flash_attn })
}

fn send(out: &mut impl Write, v: &serde_json::Value) -> std::io::Result<()> {
    writeln!(out, "{v}")?;
    out.flush()
}

/// What the logits filter needs and tells: the end-of-text id, and whether
/// it ended a decoder that started the text over ([`guard::restarts`]).
struct LoopStop {
    eot: i32,
    restarted: std::sync::atomic::AtomicBool,
}

/// whisper.cpp's logits filter: once the tokens so far end in a loop
/// ([`guard::repeating_tail`]) or start the text over ([`guard::restarts`]),
/// only the end-of-text token may follow. `user_data` points to a
/// [`LoopStop`] that outlives the decoding.
unsafe extern "C" fn stop_loops(
    ctx: *mut whisper_rs_sys::whisper_context,
    _state: *mut whisper_rs_sys::whisper_state,
    tokens: *const whisper_rs_sys::whisper_token_data,
    n_tokens: std::os::raw::c_int,
    logits: *mut f32,
    user_data: *mut std::os::raw::c_void,
) {
    if tokens.is_null() || logits.is_null() || ctx.is_null() || n_tokens < 3 {
        return;
    }
    // SAFETY: whisper.cpp passes `n_tokens` token records and `n_vocab` logits,
    // valid for the duration of the call.
    let toks = unsafe { std::slice::from_raw_parts(tokens, n_tokens as usize) };
    let ids: Vec<i32> = toks.iter().map(|t| t.id).collect();
    let restart = guard::restarts(&ids);
    if !restart && !guard::repeating_tail(&ids) {
        return;
    }
    if user_data.is_null() {
        return;
    }
    // SAFETY: `decode` passes a pointer to its own `LoopStop`, alive (and
    // only read or atomically written) for the whole `state.full` call.
    let stop = unsafe { &*(user_data as *const LoopStop) };
    if restart {
        stop.restarted.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let eot = stop.eot.max(0) as usize;
    let n_vocab = unsafe { whisper_rs_sys::whisper_n_vocab(ctx) }.max(0) as usize;
    if eot >= n_vocab {
        return;
    }
    let logits = unsafe { std::slice::from_raw_parts_mut(logits, n_vocab) };
    for (i, l) in logits.iter_mut().enumerate() {
        if i != eot {
            *l = f32::NEG_INFINITY;
        }
    }
}

/// Request `id` is being decoded; `cancel` holds the id the caller gave up
/// on (written by the stdin reader thread).
struct CancelWatch {
    id: u64,
    cancel: Arc<AtomicU64>,
}

impl CancelWatch {
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) == self.id
    }
}

/// whisper.cpp's abort callback, asked between the encoder's and decoder's
/// steps: true stops the decoding. `user_data` points to a [`CancelWatch`]
/// that outlives it.
unsafe extern "C" fn stop_if_cancelled(user_data: *mut std::os::raw::c_void) -> bool {
    if user_data.is_null() {
        return false;
    }
    // SAFETY: `decode` passes a pointer to its `CancelWatch`, alive and only
    // read (atomically) for the whole `state.full` call.
    unsafe { &*(user_data as *const CancelWatch) }.cancelled()
}

/// What stopped a request before its transcript.
enum Failed {
    /// The caller gave up on it (`{"cancel": id}`).
    Cancelled,
    Error(String),
}

impl From<String> for Failed {
    fn from(e: String) -> Self {
        Failed::Error(e)
    }
}

/// Decodes `samples` (padded 16 kHz audio) once: `window` encoder frames
/// (None = the full 30 s), `beam` 1 = greedy. Also says whether the loop
/// stopper cut a start-over.
#[allow(clippy::too_many_arguments)]
fn decode(
    state: &mut WhisperState,
    eot: i32,
    threads: i32,
    req: &SttRequest,
    samples: &[f32],
    window: Option<i32>,
    beam: u32,
    watch: &CancelWatch,
) -> Result<(Decoded, bool), Failed> {
    let o = &req.decode;
    let strategy = if beam > 1 {
        SamplingStrategy::BeamSearch { beam_size: beam as i32, patience: -1.0 }
    } else {
        SamplingStrategy::Greedy { best_of: 1 }
    };
    let mut p = FullParams::new(strategy);
    p.set_language(Some(&req.language));
    p.set_n_threads(threads);
    p.set_translate(false);
    p.set_no_timestamps(true);
    p.set_no_context(true);
    p.set_suppress_blank(true);
    p.set_suppress_nst(o.suppress_nst);
    p.set_print_special(false);
    p.set_print_progress(false);
    p.set_print_realtime(false);
    p.set_print_timestamps(false);
    if !o.prompt.is_empty() {
        p.set_initial_prompt(&o.prompt);
    }
    if let Some(ctx) = window {
        p.set_audio_ctx(ctx);
    }
    // A phone turn is one segment; a looping decoder must not run on for
    // seconds (about 3 tokens per Korean syllable, 5 syllables a second, is
    // far above real speech).
    p.set_single_segment(true);
    p.set_max_tokens(max_tokens(samples.len()));
    let stop = LoopStop { eot, restarted: false.into() };
    // SAFETY: `stop_loops` only reads the tokens and writes the logits
    // whisper.cpp hands it; `stop` lives until `state.full` has returned.
    unsafe {
        p.set_filter_logits_callback(Some(stop_loops));
        p.set_filter_logits_callback_user_data(&stop as *const LoopStop as *mut std::os::raw::c_void);
    }
    // SAFETY: `stop_if_cancelled` only reads `watch`, which lives until
    // `state.full` has returned.
    unsafe {
        p.set_abort_callback(Some(stop_if_cancelled));
        p.set_abort_callback_user_data(watch as *const CancelWatch as *mut std::os::raw::c_void);
    }
    // No temperature fallback inside whisper.cpp: our guards decide when a
    // second decoding is worth its time (SORI_STT_FALLBACK=1 restores it).
    if std::env::var("SORI_STT_FALLBACK").is_err() {
        p.set_temperature_inc(0.0);
    }
    let done = state.full(p, samples);
    if watch.cancelled() {
        return Err(Failed::Cancelled);
    }
    done.map_err(|e| format!("whisper: {e}"))?;
    let (mut text, mut lp_sum, mut n, mut no_speech) = (String::new(), 0f64, 0usize, 0f32);
    for seg in state.as_iter() {
        text.push_str(&seg.to_str_lossy().map_err(|e| format!("whisper: {e}"))?);
        no_speech = no_speech.max(seg.no_speech_probability());
        for i in 0..seg.n_tokens() {
            let Some(tok) = seg.get_token(i) else { continue };
            if tok.token_id() < eot {
                lp_sum += (tok.token_probability().max(1e-9) as f64).ln();
                n += 1;
            }
        }
    }
    let avg_logprob = if n == 0 { 0.0 } else { (lp_sum / n as f64) as f32 };
    let mut text = text.trim().to_string();
    let restarted = stop.restarted.load(std::sync::atomic::Ordering::Relaxed);
    if let Some(cut) = guard::strip_restart(&text).filter(|_| restarted) {
        text = cut;
    }
    Ok((Decoded { text, avg_logprob, no_speech }, restarted))
}

/// One request: a fast first decoding (fitted window, configured beam);
/// when a guard fires, a second one as `retry` says, and the better kept.
fn transcribe(
    state: &mut WhisperState,
    eot: i32,
    threads: i32,
    req: &SttRequest,
    watch: &CancelWatch,
) -> Result<SttResponse, Failed> {
    let t = Instant::now();
    let o = &req.decode;
    o.validate()?;
    let mut samples = req.samples_f32()?;
    let audio_s = samples.len() as f32 / 16_000.0;
    // whisper.cpp needs at least 1 s of input; pad short utterances with silence.
    if samples.len() < 16_000 + 1_600 {
        samples.resize(16_000 + 1_600, 0.0);
    }
    let fitted = audio_ctx(o, samples.len());
    let (first, restarted) = decode(state, eot, threads, req, &samples, fitted, o.beam, watch)?;
    // A start-over was cut at its first words: a loop, stopped.
    let fired = guard::check(&first, audio_s, o).or(restarted.then_some(Guard::Loop));
    let mut kept = first;
    let mut passes = 1;
    if fired == Some(Guard::NoSpeech) {
        kept.text.clear();
    } else if fired.is_some_and(|g| g != Guard::Loop) {
        // A loop was already stopped at its second copy (`stop_loops`) and
        // the clean-up keeps one: decoding again would not change the text.
        let retry = match o.retry.as_str() {
            "full" if fitted.is_some() => Some((None, o.beam)),
            "beam" if o.beam < 5 => Some((fitted, 5)),
            "full-beam" => Some((None, o.beam.max(5))),
            _ => None,
        };
        if let Some((window, beam)) = retry {
            let (second, _) = decode(state, eot, threads, req, &samples, window, beam, watch)?;
            passes = 2;
            if guard::keep_retry(&kept, &second, audio_s, o) {
                kept = second;
            }
        }
    }
    Ok(SttResponse {
        text: kept.text,
        ms: t.elapsed().as_millis() as u64,
        avg_logprob: kept.avg_logprob,
        no_speech: kept.no_speech,
        guard: fired.map(|g| g.name().to_string()),
        passes,
    })
}

/// Encoder frames (20 ms each, 1500 = whisper's 30 s window) to run for
/// `samples` of 16 kHz audio: a window fitted to the utterance plus a margin
/// (at least `min_window_ms`), instead of always encoding 30 s; None = the
/// full window. `SORI_STT_AUDIO_CTX` (frames, or "full") overrides it.
fn audio_ctx(o: &DecodeOptions, samples: usize) -> Option<i32> {
    let frames = samples.div_ceil(320) as i32;
    match std::env::var("SORI_STT_AUDIO_CTX").ok().as_deref() {
        Some("full") => return None,
        // Never below the audio (its tail would be dropped) nor above 30 s.
        Some(n) => return n.parse::<i32>().ok().map(|n| n.clamp(frames, 1500)),
        None => {}
    }
    if o.window == "full" {
        return None;
    }
    let margin = (o.margin_ms / 20) as i32;
    let min = (o.min_window_ms / 20) as i32;
    Some((frames + margin).max(min).clamp(AUDIO_CTX_MIN, 1500))
}

/// Token budget for `samples` of 16 kHz audio.
fn max_tokens(samples: usize) -> i32 {
    (16 + samples * 15 / 16_000) as i32
}

/// Fewest encoder frames ever run (whisper degrades on tiny windows).
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
    let mut params = WhisperContextParameters::default();
    params.flash_attn(args.flash_attn);
    let ctx = match WhisperContext::new_with_params(&args.model, params) {
        Ok(c) => c,
        Err(e) => fatal(
            &mut out,
            format!("{} is not a whisper.cpp model ({e}) — fetch it again with: sori models fetch", args.model),
        ),
    };
    let eot = ctx.token_eot();
    let mut state = match ctx.create_state() {
        Ok(s) => s,
        Err(e) => fatal(&mut out, format!("whisper state: {e}")),
    };
    let model = std::path::Path::new(&args.model).file_name().map(|n| n.to_string_lossy().into_owned());
    let _ = send(
        &mut out,
        &json!({ "ready": true, "cancel": true, "model": model, "ms": t0.elapsed().as_millis() as u64, "whisper_cpp": whisper_rs::WHISPER_CPP_VERSION }),
    );

    // stdin is read on its own thread, so that `{"cancel": id}` reaches a
    // decoding in progress (whisper.cpp's abort callback reads it).
    let cancel = Arc::new(AtomicU64::new(0));
    let requests = read_requests(cancel.clone());
    for v in requests {
        let id = v.get("id").and_then(|i| i.as_u64()).unwrap_or(0);
        let watch = CancelWatch { id, cancel: cancel.clone() };
        let result = if watch.cancelled() {
            Err(Failed::Cancelled)
        } else {
            serde_json::from_value::<SttRequest>(v)
                .map_err(|e| Failed::Error(format!("bad request: {e}")))
                .and_then(|req| transcribe(&mut state, eot, args.threads, &req, &watch))
        };
        let msg = match result {
            Ok(r) => {
                let mut m = serde_json::to_value(r).expect("serialisable");
                m["id"] = id.into();
                m
            }
            Err(Failed::Cancelled) => json!({ "id": id, "cancelled": true }),
            Err(Failed::Error(e)) => json!({ "id": id, "error": e }),
        };
        if send(&mut out, &msg).is_err() {
            break;
        }
    }
}

/// Reads JSON request lines from stdin on a thread of its own: a
/// `{"cancel": id}` line is noted in `cancel` at once, any other request is
/// handed on in order. The iterator ends with stdin.
fn read_requests(cancel: Arc<AtomicU64>) -> std::sync::mpsc::IntoIter<serde_json::Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
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
            if let Some(id) = v.get("cancel").and_then(|c| c.as_u64()) {
                cancel.store(id, Ordering::Relaxed);
                continue;
            }
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    rx.into_iter()
}
