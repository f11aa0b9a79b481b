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
//! ← {"id":1,"text":"…","tokens":42,"prompt_tokens":310,"cached_tokens":280,"ttft_ms":180,"ms":950}
//!
//! → {"id":2,"prefill":true,"messages":[{"role":"system","content":"…"}]}
//! ← {"id":2,"prefilled":true,"prefix_tokens":290,"ms":2400}   the prefix is now cached
//! → {"id":3,"warm":[[{"role":"system","content":"…"}], …]}
//! ← {"id":3,"queued":32}                        prefixed in idle time, answers first
//! ```
//!
//! The prefix cache: the system message (persona + knowledge-base passage) is
//! the same for every question about an entry, and on a CPU processing it is
//! most of the time to the first word. Its KV state is kept (llama.cpp
//! `state_seq_get`) per distinct prefix in an LRU bounded by
//! `--prefix-cache-mb` (default 1024; `SORI_LLM_PREFIX_CACHE_MB`; 0 turns the
//! cache and all reuse off), and the KV cache of the previous request is
//! reused up to the longest common token prefix, so only the caller's words
//! are processed at answer time. Tokens are compared, never text, so a reply
//! is the one a cold context gives (greedy decoding: tests/llm.rs).
//!
//! It lives in its own binary because llama.cpp's ggml must not share a
//! process with whisper.cpp's (../shared/MODELS.md), and a crash here costs
//! one answer, not the calls.

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;

use anyhow::{bail, Context as _};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::session::{LlamaStateSeqFlags, SeqState};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use serde::Deserialize;
use serde_json::json;

/// Default bound of the prefix cache: ~32 entries of the 1.5B model's ~700-token prompt.
const DEFAULT_PREFIX_CACHE_MB: usize = 1024;
/// A shorter common prefix is not worth a stored state.
const MIN_PREFIX_TOKENS: usize = 16;
/// Idle-time warm-up decodes this many tokens between looks at stdin.
const WARM_CHUNK: usize = 16;

struct Args {
    model: PathBuf,
    ctx: u32,
    threads: i32,
    prefix_cache_mb: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut model = None;
    let mut ctx = 2048;
    let mut threads = std::thread::available_parallelism().map(|n| n.get() as i32).unwrap_or(2);
    let mut prefix_cache_mb = match std::env::var("SORI_LLM_PREFIX_CACHE_MB") {
        Ok(v) => v.trim().parse().context("SORI_LLM_PREFIX_CACHE_MB must be a number of MB")?,
        Err(_) => DEFAULT_PREFIX_CACHE_MB,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => model = it.next().map(PathBuf::from),
            "--ctx" => ctx = it.next().context("--ctx needs a value")?.parse()?,
            "--threads" => threads = it.next().context("--threads needs a value")?.parse()?,
            "--prefix-cache-mb" => prefix_cache_mb = it.next().context("--prefix-cache-mb needs a value")?.parse()?,
            "--help" | "-h" => {
                println!(
                    "usage: sori-llm --model FILE.gguf [--ctx 2048] [--threads N] [--prefix-cache-mb {DEFAULT_PREFIX_CACHE_MB}]\n       \
                     sori-llm quantize IN.gguf OUT.gguf TYPE [--threads N]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(Args { model: model.context("--model FILE.gguf is required")?, ctx, threads, prefix_cache_mb })
}

#[derive(Deserialize, Clone)]
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
    /// Only process and cache the prefix of `messages` (no generation).
    #[serde(default)]
    prefill: bool,
    /// Prefixes (message lists) to cache in idle time; answered at once.
    #[serde(default)]
    warm: Option<Vec<Vec<Message>>>,
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
    let ctx = match model.new_context(&backend, params) {
        Ok(c) => c,
        Err(e) => {
            emit(json!({ "fatal": format!("llama.cpp context: {e}") }));
            std::process::exit(1);
        }
    };
    let template = model.chat_template(None).ok();
    let mut engine = Engine {
        model: &model,
        ctx,
        template,
        kv: Vec::new(),
        cache: PrefixCache { items: Vec::new(), budget: args.prefix_cache_mb << 20, tick: 0 },
        warm: VecDeque::new(),
    };
    emit(json!({
        "ready": true,
        "model": args.model.file_name().map(|n| n.to_string_lossy().into_owned()),
        "n_ctx": engine.ctx.n_ctx(),
        "chat_template": engine.template.is_some(),
        "params": model.n_params(),
        "prefix_cache_mb": args.prefix_cache_mb,
    }));
    // Requests arrive on a thread of their own so that the idle-time warm-up
    // can see one coming and step aside.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut next: Option<String> = None;
    loop {
        let line = match next.take() {
            Some(l) => l,
            None if engine.warm.is_empty() => match rx.recv() {
                Ok(l) => l,
                Err(_) => break,
            },
            None => match rx.try_recv() {
                Ok(l) => l,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    next = engine.warm_one(&rx);
                    continue;
                }
            },
        };
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
        let result = if let Some(w) = req.warm {
            let n = w.len();
            engine.warm.extend(w);
            Ok(json!({ "id": id, "queued": n, "cached_prefixes": engine.cache.items.len() }))
        } else if req.prefill {
            engine.prefill(&req)
        } else {
            engine.generate(&req)
        };
        match result {
            Ok(v) => emit(v),
            Err(e) => emit(json!({ "id": id, "error": format!("{e:#}") })),
        }
    }
}

/// One cached prefix: its tokens and the KV state of sequence 0 after them.
struct Prefix {
    tokens: Vec<LlamaToken>,
    state: SeqState,
    used: u64,
}

/// Prefix states, least recently used evicted beyond `budget` bytes.
struct PrefixCache {
    items: Vec<Prefix>,
    budget: usize,
    tick: u64,
}

impl PrefixCache {
    fn bytes(&self) -> usize {
        self.items.iter().map(|p| p.state.byte_len()).sum()
    }

    fn contains(&self, tokens: &[LlamaToken]) -> bool {
        self.items.iter().any(|p| p.tokens == tokens)
    }

    /// The longest stored prefix of `tokens` longer than `than` tokens.
    fn best(&mut self, tokens: &[LlamaToken], than: usize) -> Option<&Prefix> {
        let i = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, p)| p.tokens.len() > than && tokens.starts_with(&p.tokens))
            .max_by_key(|(_, p)| p.tokens.len())
            .map(|(i, _)| i)?;
        self.tick += 1;
        self.items[i].used = self.tick;
        Some(&self.items[i])
    }

    /// Stores a state, evicting the least recently used (unless `evict` is
    /// false: then only into free room). False when it was not stored.
    fn insert(&mut self, tokens: Vec<LlamaToken>, state: SeqState, evict: bool) -> bool {
        let size = state.byte_len();
        if size > self.budget || self.contains(&tokens) {
            return false;
        }
        while self.bytes() + size > self.budget {
            if !evict {
                return false;
            }
            let Some(lru) = self.items.iter().enumerate().min_by_key(|(_, p)| p.used).map(|(i, _)| i) else {
                break;
            };
            self.items.swap_remove(lru);
        }
        self.tick += 1;
        self.items.push(Prefix { tokens, state, used: self.tick });
        true
    }
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Counts sentence ends (. ? ! followed by whitespace) in generated text.
fn sentence_ends(text: &str) -> u32 {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(2)
        .filter(|w| matches!(w[0], '.' | '?' | '!' | '。') && w[1].is_whitespace() && !w[0].is_ascii_digit())
        .count() as u32
}

/// Why prompt processing stopped early.
enum Stop {
    /// A request arrived during the warm-up (the line).
    Interrupted(String),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Stop {
        Stop::Failed(e)
    }
}

struct Engine<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    template: Option<LlamaChatTemplate>,
    /// The tokens whose KV sequence 0 holds, at positions 0..
    kv: Vec<LlamaToken>,
    cache: PrefixCache,
    /// Prefixes still to process in idle time.
    warm: VecDeque<Vec<Message>>,
}

impl Engine<'_> {
    fn reuse(&self) -> bool {
        self.cache.budget > 0
    }

    /// The chat rendered as the model's prompt (`open`: the assistant's turn
    /// begun, as for a generation).
    fn render(&self, messages: &[Message], open: bool) -> anyhow::Result<String> {
        if messages.is_empty() {
            bail!("request has neither messages nor prompt");
        }
        match &self.template {
            Some(t) => {
                let msgs = messages
                    .iter()
                    .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(self.model.apply_chat_template(t, &msgs, open)?)
            }
            None => {
                // Base models: a plain transcript the model continues.
                let mut p = String::new();
                for m in messages {
                    let who = match m.role.as_str() {
                        "system" => "지침",
                        "assistant" => "상담원",
                        _ => "민원인",
                    };
                    p.push_str(&format!("{who}: {}\n", m.content));
                }
                if open {
                    p.push_str("상담원:");
                }
                Ok(p)
            }
        }
    }

    fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), true, true)
    }

    /// The prompt's tokens and how many of them are the reusable prefix:
    /// the leading system message, rendered alone, as far as its tokens
    /// agree with the whole prompt's (0: none).
    fn prompt(&self, req: &Request) -> anyhow::Result<(Vec<LlamaToken>, usize)> {
        if let Some(p) = &req.prompt {
            return Ok((self.tokenize(p), 0));
        }
        let tokens = self.tokenize(&self.render(&req.messages, true)?);
        if !self.reuse() || req.messages.first().map(|m| m.role.as_str()) != Some("system") {
            return Ok((tokens, 0));
        }
        let prefix = self.tokenize(&self.render(&req.messages[..1], false)?);
        let n = common_prefix(&prefix, &tokens);
        Ok((tokens, if n >= MIN_PREFIX_TOKENS { n } else { 0 }))
    }

    /// Makes sequence 0 hold `tokens[..n]` for the largest `n` the cache
    /// and the previous request allow (at most `limit`); returns `n`.
    fn reuse_prefix(&mut self, tokens: &[LlamaToken], limit: usize) -> anyhow::Result<usize> {
        if !self.reuse() {
            self.ctx.clear_kv_cache();
            self.kv.clear();
            return Ok(0);
        }
        let mut keep = common_prefix(&self.kv, tokens).min(limit);
        let stored = self.cache.best(&tokens[..limit], keep).map(|p| (p.tokens.clone(), p.state.clone()));
        if let Some((ptoks, state)) = stored {
            self.ctx.clear_kv_cache_seq(Some(0), None, None)?;
            self.kv.clear();
            if self.ctx.state_seq_set(&state, 0).is_ok() {
                keep = ptoks.len();
                self.kv = ptoks;
            } else {
                self.ctx.clear_kv_cache();
                keep = 0;
            }
        }
        // Models whose cache cannot drop a tail (sliding window, recurrent)
        // start over.
        if keep < self.kv.len() && !self.ctx.clear_kv_cache_seq(Some(0), Some(keep as u32), None)? {
            self.ctx.clear_kv_cache();
            keep = 0;
        }
        self.kv.truncate(keep);
        Ok(keep)
    }

    /// Decodes `tokens[self.kv.len()..to]` in batches of `chunk`, logits for
    /// the last token when `logits`; `interrupt`: stop between batches when
    /// a request line arrives. Returns the last batch.
    fn decode_to(
        &mut self,
        tokens: &[LlamaToken],
        to: usize,
        chunk: usize,
        logits: bool,
        interrupt: Option<&Receiver<String>>,
    ) -> Result<Option<LlamaBatch<'static>>, Stop> {
        let mut last = None;
        while self.kv.len() < to {
            if let Some(rx) = interrupt {
                if let Ok(line) = rx.try_recv() {
                    return Err(Stop::Interrupted(line));
                }
            }
            let from = self.kv.len();
            let end = (from + chunk).min(to);
            let mut batch = LlamaBatch::new(end - from, 1);
            for (i, t) in tokens[from..end].iter().enumerate() {
                let pos = from + i;
                batch.add(*t, pos as i32, &[0], logits && pos + 1 == to).map_err(anyhow::Error::from)?;
            }
            if let Err(e) = self.ctx.decode(&mut batch) {
                // The sequence's state is unknown now: start over next time.
                self.ctx.clear_kv_cache();
                self.kv.clear();
                return Err(Stop::Failed(anyhow::Error::from(e).context("decoding the prompt")));
            }
            self.kv.extend_from_slice(&tokens[from..end]);
            last = Some(batch);
        }
        Ok(last)
    }

    /// Saves sequence 0 (holding exactly `self.kv`) as a prefix.
    fn store(&mut self, evict: bool) -> bool {
        if self.cache.contains(&self.kv) {
            return true;
        }
        match self.ctx.state_seq_get(0, LlamaStateSeqFlags::empty()) {
            Ok(state) => self.cache.insert(self.kv.clone(), state, evict),
            Err(_) => false,
        }
    }

    /// Processes (and caches) the prefix of `messages`; a lone system message
    /// is all prefix.
    fn process_prefix(
        &mut self,
        messages: &[Message],
        interrupt: Option<&Receiver<String>>,
        evict: bool,
    ) -> Result<(usize, bool), Stop> {
        let Some(first) = messages.first().filter(|m| m.role == "system") else {
            return Err(Stop::Failed(anyhow::anyhow!("a prefix starts with a system message")));
        };
        let tokens = self.tokenize(&self.render(std::slice::from_ref(first), false)?);
        if tokens.len() < MIN_PREFIX_TOKENS || !self.reuse() {
            return Ok((tokens.len(), false));
        }
        if self.cache.contains(&tokens) {
            return Ok((tokens.len(), true));
        }
        let keep = self.reuse_prefix(&tokens, tokens.len())?;
        let chunk = if interrupt.is_some() { WARM_CHUNK } else { tokens.len() - keep };
        self.decode_to(&tokens, tokens.len(), chunk.max(1), false, interrupt)?;
        Ok((tokens.len(), self.store(evict)))
    }

    /// Idle time: processes the next queued prefix, unless the cache is full
    /// (the warm-up never evicts) or a request arrives (returned).
    fn warm_one(&mut self, rx: &Receiver<String>) -> Option<String> {
        let messages = self.warm.pop_front()?;
        match self.process_prefix(&messages, Some(rx), false) {
            Ok((_, true)) => None,
            Ok((_, false)) => {
                // Full (or off): no more warming.
                self.warm.clear();
                None
            }
            Err(Stop::Interrupted(line)) => {
                self.warm.push_front(messages);
                Some(line)
            }
            Err(Stop::Failed(_)) => None,
        }
    }

    fn prefill(&mut self, req: &Request) -> anyhow::Result<serde_json::Value> {
        let t0 = Instant::now();
        let (n, cached) = match self.process_prefix(&req.messages, None, true) {
            Ok(x) => x,
            Err(Stop::Failed(e)) => return Err(e),
            Err(Stop::Interrupted(_)) => unreachable!("no interruption without a receiver"),
        };
        Ok(json!({
            "id": req.id,
            "prefilled": cached,
            "prefix_tokens": n,
            "cached_prefixes": self.cache.items.len(),
            "cache_mb": self.cache.bytes() as f64 / (1 << 20) as f64,
            "ms": t0.elapsed().as_millis() as u64,
        }))
    }

    fn generate(&mut self, req: &Request) -> anyhow::Result<serde_json::Value> {
        let t0 = Instant::now();
        let (mut tokens, mut boundary) = self.prompt(req)?;
        let n_ctx = self.ctx.n_ctx() as usize;
        let budget = n_ctx.saturating_sub(req.max_tokens as usize + 8);
        if tokens.is_empty() {
            bail!("empty prompt");
        }
        if tokens.len() > budget {
            // Keep the end (the question) when the passages are too long.
            let cut = tokens.len() - budget;
            tokens.drain(1..=cut);
            boundary = 0;
        }
        let prompt_tokens = tokens.len();
        // At least the last prompt token is decoded, for its logits.
        let cached = self.reuse_prefix(&tokens, prompt_tokens - 1)?;
        if boundary > cached && boundary < prompt_tokens && !self.cache.contains(&tokens[..boundary]) {
            // First time this prefix is seen: keep its state on the way.
            self.decode_to(&tokens, boundary, boundary - cached, false, None).map_err(stop_error)?;
            self.store(true);
        }
        let rest = prompt_tokens - self.kv.len();
        let mut batch = self
            .decode_to(&tokens, prompt_tokens, rest, true, None)
            .map_err(stop_error)?
            .context("nothing to decode")?;
        let prompt_ms = t0.elapsed().as_millis() as u64;
        let model = self.model;
        let vocab = model.vocab();
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
            let token = sampler.sample(&self.ctx, batch.n_tokens() - 1);
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
            if let Err(e) = self.ctx.decode(&mut batch) {
                self.ctx.clear_kv_cache();
                self.kv.clear();
                return Err(anyhow::Error::from(e).context("decoding"));
            }
            self.kv.push(token);
        }
        Ok(json!({
            "id": req.id,
            "text": text.trim(),
            "tokens": generated,
            "prompt_tokens": prompt_tokens,
            "cached_tokens": cached,
            "prompt_ms": prompt_ms,
            "ttft_ms": ttft,
            "ms": t0.elapsed().as_millis() as u64,
        }))
    }
}

fn stop_error(s: Stop) -> anyhow::Error {
    match s {
        Stop::Failed(e) => e,
        Stop::Interrupted(_) => anyhow::anyhow!("interrupted"),
    }
}
