//! sori-llm: the language-model worker (llama.cpp via llama-cpp-2).
//!
//! Supervised by `sori serve` (see `sori::worker`): it loads one GGUF model,
//! says `{"ready":true,…}` (or `{"fatal":"why"}`), then answers one request
//! per line on stdin:
//!
//! ```text
//! → {"id":1,"messages":[{"role":"system","content":"…"},{"role":"user","content":"…"}],
//!    "max_tokens":96,"temperature":0.0,"max_sentences":3}
//! ← {"id":1,"more":true,"delta":"…"}            one per decoded piece (streaming)
//! ← {"id":1,"text":"…","tokens":42,"prompt_tokens":310,"ttft_ms":180,"ms":950}
//! ```
//!
//! It lives in its own binary because llama.cpp's ggml must not share a
//! process with whisper.cpp's (../shared/MODELS.md), and a crash here costs
//! one answer, not the calls.

use std::io::{BufRead, Write};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context as _};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use serde::Deserialize;
use serde_json::json;

struct Args {
    model: PathBuf,
    ctx: u32,
    threads: i32,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut model = None;
    let mut ctx = 2048;
    let mut threads = std::thread::available_parallelism().map(|n| n.get() as i32).unwrap_or(2);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => model = it.next().map(PathBuf::from),
            "--ctx" => ctx = it.next().context("--ctx needs a value")?.parse()?,
            "--threads" => threads = it.next().context("--threads needs a value")?.parse()?,
            "--help" | "-h" => {
                println!("usage: sori-llm --model FILE.gguf [--ctx 2048] [--threads N]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(Args { model: model.context("--model FILE.gguf is required")?, ctx, threads })
}

#[derive(Deserialize)]
struct Message {
    role: String,
    content: String,
}

#[derive(Deserialize)]
struct Request {
    id: u64,
    #[serde(default)]
    messages: Vec<Message>,
    /// A raw prompt instead of messages (base models without a chat template).
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default = "default_max_tokens")]
    max_tokens: u32,
    #[serde(default)]
    temperature: f32,
    /// Stop after this many complete sentences (0: no limit).
    #[serde(default)]
    max_sentences: u32,
    #[serde(default)]
    seed: u32,
}

fn default_max_tokens() -> u32 {
    128
}

fn emit(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// `sori-llm quantize IN.gguf OUT.gguf TYPE [--threads N]`: llama.cpp's own
/// quantiser (Q4_K_M, Q5_K_M, Q8_0, Q4_0), used by the training export.
fn quantize(mut rest: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let (Some(inp), Some(out), Some(kind)) = (rest.next(), rest.next(), rest.next()) else {
        bail!("usage: sori-llm quantize IN.gguf OUT.gguf q4_k_m|q5_k_m|q8_0|q4_0 [--threads N]");
    };
    let mut threads = std::thread::available_parallelism().map(|n| n.get() as i32).unwrap_or(2);
    if rest.next().as_deref() == Some("--threads") {
        threads = rest.next().context("--threads needs a value")?.parse()?;
    }
    let ftype = match kind.to_ascii_lowercase().as_str() {
        "q4_k_m" => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q4_K_M,
        "q5_k_m" => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q5_K_M,
        "q8_0" => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q8_0,
        "q4_0" => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q4_0,
        other => bail!("unknown quantisation {other:?} (q4_k_m, q5_k_m, q8_0, q4_0)"),
    };
    if !std::path::Path::new(&inp).is_file() {
        bail!("input {inp} not found");
    }
    let (ci, co) = (std::ffi::CString::new(inp.clone())?, std::ffi::CString::new(out.clone())?);
    // SAFETY: plain C calls with valid NUL-terminated paths and default params.
    let rc = unsafe {
        llama_cpp_sys_2::llama_backend_init();
        let mut params = llama_cpp_sys_2::llama_model_quantize_default_params();
        params.ftype = ftype;
        params.nthread = threads;
        llama_cpp_sys_2::llama_model_quantize(ci.as_ptr(), co.as_ptr(), &params)
    };
    if rc != 0 {
        bail!("llama_model_quantize failed ({rc}) for {inp}");
    }
    println!("{out}");
    Ok(())
}

fn main() {
    let mut argv = std::env::args().skip(1);
    if std::env::args().nth(1).as_deref() == Some("quantize") {
        argv.next();
        if let Err(e) = quantize(argv) {
            eprintln!("sori-llm quantize: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            emit(json!({ "fatal": format!("{e:#}") }));
            std::process::exit(2);
        }
    };
    if !args.model.is_file() {
        emit(
            json!({ "fatal": format!("model file {} not found (fetch it with: sori models fetch)", args.model.display()) }),
        );
        std::process::exit(1);
    }
    let mut backend = match LlamaBackend::init() {
        Ok(b) => b,
        Err(e) => {
            emit(json!({ "fatal": format!("llama.cpp backend: {e}") }));
            std::process::exit(1);
        }
    };
    backend.void_logs();
    let model = match LlamaModel::load_from_file(&backend, &args.model, &LlamaModelParams::default()) {
        Ok(m) => m,
        Err(e) => {
            emit(json!({ "fatal": format!("cannot load {}: {e}", args.model.display()) }));
            std::process::exit(1);
        }
    };
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(args.ctx))
        .with_n_batch(args.ctx)
        .with_n_threads(args.threads)
        .with_n_threads_batch(args.threads);
    let mut ctx = match model.new_context(&backend, params) {
        Ok(c) => c,
        Err(e) => {
            emit(json!({ "fatal": format!("llama.cpp context: {e}") }));
            std::process::exit(1);
        }
    };
    let template = model.chat_template(None).ok();
    emit(json!({
        "ready": true,
        "model": args.model.file_name().map(|n| n.to_string_lossy().into_owned()),
        "n_ctx": ctx.n_ctx(),
        "chat_template": template.is_some(),
        "params": model.n_params(),
    }));
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let req: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                let id = serde_json::from_str::<serde_json::Value>(&line).ok().and_then(|v| v["id"].as_u64());
                emit(json!({ "id": id, "error": format!("bad request: {e}") }));
                continue;
            }
        };
        let id = req.id;
        match generate(&model, &mut ctx, template.as_ref(), &req) {
            Ok(v) => emit(v),
            Err(e) => emit(json!({ "id": id, "error": format!("{e:#}") })),
        }
    }
}

fn build_prompt(model: &LlamaModel, template: Option<&LlamaChatTemplate>, req: &Request) -> anyhow::Result<String> {
    if let Some(p) = &req.prompt {
        return Ok(p.clone());
    }
    if req.messages.is_empty() {
        bail!("request has neither messages nor prompt");
    }
    match template {
        Some(t) => {
            let msgs = req
                .messages
                .iter()
                .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(model.apply_chat_template(t, &msgs, true)?)
        }
        None => {
            // Base models: a plain transcript the model continues.
            let mut p = String::new();
            for m in &req.messages {
                let who = match m.role.as_str() {
                    "system" => "지침",
                    "assistant" => "상담원",
                    _ => "민원인",
                };
                p.push_str(&format!("{who}: {}\n", m.content));
            }
            p.push_str("상담원:");
            Ok(p)
        }
    }
}

/// Counts sentence ends (. ? ! followed by whitespace) in generated text.
fn sentence_ends(text: &str) -> u32 {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(2)
        .filter(|w| matches!(w[0], '.' | '?' | '!' | '。') && w[1].is_whitespace() && !w[0].is_ascii_digit())
        .count() as u32
}

fn generate(
    model: &LlamaModel,
    ctx: &mut LlamaContext,
    template: Option<&LlamaChatTemplate>,
    req: &Request,
) -> anyhow::Result<serde_json::Value> {
    let t0 = Instant::now();
    let prompt = build_prompt(model, template, req)?;
    let vocab = model.vocab();
    let mut tokens = vocab.tokenize(prompt.as_bytes(), true, true);
    let n_ctx = ctx.n_ctx() as usize;
    let budget = n_ctx.saturating_sub(req.max_tokens as usize + 8);
    if tokens.is_empty() {
        bail!("empty prompt");
    }
    if tokens.len() > budget {
        // Keep the end (the question) when the passages are too long.
        let cut = tokens.len() - budget;
        tokens.drain(1..=cut);
    }
    let prompt_tokens = tokens.len();
    ctx.clear_kv_cache();
    let mut batch = LlamaBatch::new(n_ctx.max(prompt_tokens + 1), 1);
    let last = prompt_tokens - 1;
    for (i, t) in tokens.iter().enumerate() {
        batch.add(*t, i as i32, &[0], i == last)?;
    }
    ctx.decode(&mut batch).context("decoding the prompt")?;
    let mut sampler = if req.temperature <= 0.0 {
        LlamaSampler::greedy()
    } else {
        LlamaSampler::chain_simple([LlamaSampler::temp(req.temperature), LlamaSampler::dist(req.seed)])
    };
    let mut text = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut n_cur = prompt_tokens as i32;
    let mut generated = 0u32;
    let mut ttft = None;
    while generated < req.max_tokens {
        let token = sampler.sample(ctx, batch.n_tokens() - 1);
        sampler.accept(token);
        if vocab.is_eog(token) {
            break;
        }
        generated += 1;
        pending.extend(vocab.token_to_piece(token, false, None));
        // Korean syllables span several bytes and may be split across tokens:
        // emit only complete UTF-8.
        let valid = match std::str::from_utf8(&pending) {
            Ok(s) => s.len(),
            Err(e) => e.valid_up_to(),
        };
        if valid > 0 {
            let piece = String::from_utf8_lossy(&pending[..valid]).into_owned();
            pending.drain(..valid);
            ttft.get_or_insert_with(|| t0.elapsed().as_millis() as u64);
            text.push_str(&piece);
            emit(json!({ "id": req.id, "more": true, "delta": piece }));
            if req.max_sentences > 0 && sentence_ends(&format!("{text} ")) >= req.max_sentences {
                break;
            }
        }
        batch.clear();
        batch.add(token, n_cur, &[0], true)?;
        n_cur += 1;
        if n_cur as usize >= n_ctx {
            break;
        }
        ctx.decode(&mut batch).context("decoding")?;
    }
    Ok(json!({
        "id": req.id,
        "text": text.trim(),
        "tokens": generated,
        "prompt_tokens": prompt_tokens,
        "ttft_ms": ttft,
        "ms": t0.elapsed().as_millis() as u64,
    }))
}
