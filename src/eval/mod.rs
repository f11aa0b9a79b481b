//! `sori eval`: measurements of the dialogue side that are reports, not
//! tests (figures depend on the machine and models):
//!
//! * `routing`: top-1 routing accuracy on the held-out caller questions
//!   (`kb/heldout.toml`) as text, and — with `--speech` — after each question
//!   went through the reply voice, 8 kHz μ-law, back to 16 kHz and the STT
//!   engine: what a caller's words look like to the router on a call.
//! * `answer`: time to the first answer sentence (retrieval-only vs the
//!   configured LLM) and the memory of sori and its LLM worker.
//! * `stt` ([`stt`]): the ears on real recorded speech through the telephone
//!   channel: CER per speaker, loops, STT time.
//! * `traps` ([`traps`]): faithfulness on `kb/traps.toml`, retrieval-only and
//!   with the LLM, the faithfulness check on and off.
//! * `focus` ([`focus`]): the part of a long entry that was asked, briefly
//!   (`kb/focus.toml`), retrieval-only and with the LLM.

pub mod as_call;
pub mod focus;
pub mod network;
pub mod pause;
pub mod stt;
pub mod traps;
pub mod turn_taking;
pub mod understanding;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::dialog::brain::{sentences, Brain, Conversation, ReplyAction};
use crate::llm::{AnswerConfig, AnswerSource};

#[derive(Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub what: EvalCmd,
    #[arg(short, long, default_value = "sori.toml", global = true)]
    pub config: PathBuf,
}

#[derive(Subcommand)]
pub enum EvalCmd {
    /// Top-1 routing accuracy on kb/heldout.toml (text; --speech adds TTS → μ-law → STT).
    Routing {
        #[arg(long, default_value = "kb/heldout.toml")]
        heldout: PathBuf,
        /// Also route what the STT engine hears of each question.
        #[arg(long)]
        speech: bool,
        /// Lexical retrieval only (ignore [kb] embeddings).
        #[arg(long)]
        lexical: bool,
        /// Write every case (question, transcript, expected, routed) here (TSV).
        #[arg(long)]
        cases: Option<PathBuf>,
    },
    /// Speech-to-text on recorded speech (WAV + reference text) through the call's channel.
    Stt(Box<stt::SttEvalArgs>),
    /// Understanding of mis-heard questions (confusion model) and of everyday non-health sentences.
    Understanding(understanding::UnderstandingArgs),
    /// Faithfulness on the trap set (kb/traps.toml): retrieval-only and with the LLM, checks on and off.
    Traps(Box<traps::TrapsArgs>),
    /// Answering the part asked of a long entry, briefly (kb/focus.toml): retrieval-only and with the LLM.
    Focus(Box<focus::FocusArgs>),
    /// Time to the first answer sentence, retrieval-only and with the LLM; memory.
    Answer {
        #[arg(long, default_value = "kb/heldout.toml")]
        heldout: PathBuf,
        /// Questions to time (answers only; emergencies etc. are skipped).
        #[arg(short = 'n', long, default_value_t = 20)]
        count: usize,
    },
}

fn load_cases(path: &Path) -> anyhow::Result<Vec<crate::kb::heldout::Case>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    crate::kb::heldout::parse(&text).with_context(|| format!("parsing {}", path.display()))
}

/// `cfg` with `--model` (run in local `sori-llm` workers) and `--threads`
/// applied, for the evaluations that generate answers.
fn with_model(cfg: &Config, model: Option<&str>, threads: Option<usize>) -> Config {
    let mut c = cfg.clone();
    if let Some(m) = model {
        c.llm.engine = "local".into();
        c.llm.model = std::path::PathBuf::from(m);
    }
    if let Some(th) = threads {
        c.llm.threads = th;
    }
    c
}

/// A text as one TSV field.
fn tsv(s: &str) -> String {
    s.replace(['\t', '\n'], " ")
}

fn brain(cfg: &Config, lexical: bool) -> anyhow::Result<Brain> {
    let kb = crate::kb::KnowledgeBase::load(&cfg.kb.path)?;
    let router = crate::kb::router(&kb, if lexical { "none" } else { &cfg.kb.embeddings });
    Ok(Brain::with_router(kb, router))
}

/// The id a fresh conversation routes `text` to ("clarify" when none).
fn routed(brain: &Brain, text: &str) -> String {
    brain.router().route(text).id().unwrap_or("clarify").to_string()
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let cfg = if args.config.exists() { Config::load(&args.config)? } else { Config::default() };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    match args.what {
        EvalCmd::Routing { heldout, speech, lexical, cases } => {
            rt.block_on(routing(&cfg, &heldout, speech, lexical, cases))
        }
        EvalCmd::Answer { heldout, count } => rt.block_on(answer(&cfg, &heldout, count)),
        EvalCmd::Stt(a) => rt.block_on(stt::run(&cfg, *a)),
        EvalCmd::Understanding(a) => understanding::run(&cfg, a),
        EvalCmd::Traps(a) => traps::run(&cfg, *a),
        EvalCmd::Focus(a) => focus::run(&cfg, *a),
    }
}

async fn routing(
    cfg: &Config,
    heldout: &Path,
    speech: bool,
    lexical: bool,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let cases = load_cases(heldout)?;
    let brain = brain(cfg, lexical)?;
    println!(
        "retrieval: {}",
        brain.router().embedder_id().map(|e| format!("BM25 + {e}")).unwrap_or_else(|| "BM25 only".into())
    );
    let engines = if speech {
        let stt = crate::stt::from_config(&cfg.stt).await.context("STT engine")?;
        let tts = crate::tts::from_config(&cfg.tts).context("TTS voice")?;
        println!("speech: {} → μ-law 8 kHz → {}", tts.id(), stt.describe());
        Some((stt, tts))
    } else {
        None
    };
    let (mut text_hits, mut speech_hits, mut cer_sum) = (0usize, 0usize, 0f64);
    let mut rows = vec!["expected\ttext_route\tquestion\ttranscript\tspeech_route\tcer".to_string()];
    for (i, c) in cases.iter().enumerate() {
        let by_text = routed(&brain, &c.q);
        text_hits += (by_text == c.id) as usize;
        let (mut transcript, mut by_speech, mut cer) = (String::new(), String::new(), f64::NAN);
        if let Some((stt, tts)) = &engines {
            let pcm8k = crate::tts::prompts::render(tts.as_ref(), &c.q).context("synthesis")?;
            let pcm16k = telephone_to_16k(&pcm8k);
            transcript = crate::stt::text::for_routing(&stt.transcribe(pcm16k).await.context("STT")?.text);
            by_speech = routed(&brain, &transcript);
            speech_hits += (by_speech == c.id) as usize;
            cer = char_error_rate(&c.q, &transcript);
            cer_sum += cer;
            eprintln!("[{}/{}] {} → {:?} → {by_speech} (want {})", i + 1, cases.len(), c.q, transcript, c.id);
        }
        rows.push(format!("{}\t{by_text}\t{}\t{transcript}\t{by_speech}\t{cer:.3}", c.id, c.q));
    }
    let n = cases.len();
    println!("held-out cases: {n}");
    println!("top-1 routing, text:   {text_hits}/{n} = {:.1} %", 100.0 * text_hits as f64 / n as f64);
    if engines.is_some() {
        println!("top-1 routing, speech: {speech_hits}/{n} = {:.1} %", 100.0 * speech_hits as f64 / n as f64);
        println!("mean character error rate of the transcripts: {:.1} %", 100.0 * cer_sum / n as f64);
    }
    if let Some(path) = out {
        std::fs::write(&path, rows.join("\n") + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// 8 kHz audio through G.711 μ-law and back, upsampled to 16 kHz as on a call.
pub fn telephone_to_16k(pcm8k: &[i16]) -> Vec<i16> {
    upsample_to_16k(&crate::codec::g711::through_ulaw(pcm8k))
}

/// Decoded 8 kHz line audio to 16 kHz with the call's own upsampler.
pub fn upsample_to_16k(line: &[i16]) -> Vec<i16> {
    let mut up = crate::audio::utterance::Upsampler2x::new();
    let x: Vec<f32> = line.iter().map(|&s| s as f32 / 32768.0).collect();
    let mut y = Vec::with_capacity(x.len() * 2);
    up.process(&x, &mut y);
    y.iter().map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16).collect()
}

/// Levenshtein distance over characters (spaces and punctuation ignored) / reference length.
pub fn char_error_rate(reference: &str, hypothesis: &str) -> f64 {
    let keep = |s: &str| -> Vec<char> { s.chars().filter(|c| c.is_alphanumeric()).collect() };
    let (r, h) = (keep(reference), keep(hypothesis));
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rc) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hc) in h.iter().enumerate() {
            cur[j + 1] = (prev[j] + (rc != hc) as usize).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len() as f64
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn children_rss_kb() -> u64 {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit(')').next().map(|r| r.split_whitespace().nth(1) == Some(me.as_str())))
                .unwrap_or(false)
        })
        .filter_map(rss_kb)
        .sum()
}

pub fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len().saturating_sub(1)) as f64 * p).round() as usize).copied().unwrap_or(f64::NAN)
}

async fn answer(cfg: &Config, heldout: &Path, count: usize) -> anyhow::Result<()> {
    let cases = load_cases(heldout)?;
    let brain = Arc::new(brain(cfg, false)?);
    let questions: Vec<String> =
        cases.iter().filter(|c| brain.kb().entry(&c.id).is_some()).map(|c| c.q.clone()).take(count).collect();
    let me = std::process::id();
    println!("questions: {} (answers from the knowledge base)", questions.len());
    println!("memory before the LLM: sori {} MB", rss_kb(me).unwrap_or(0) / 1024);
    // Retrieval-only: the entry's spoken answer; its first sentence is ready
    // as soon as the route is.
    let mut retrieval = Vec::new();
    for q in &questions {
        let t = Instant::now();
        let r = brain.respond(&mut Conversation::default(), q);
        let first = sentences(&r.text).into_iter().next().unwrap_or_default();
        std::hint::black_box(first);
        retrieval.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "retrieval-only first sentence: p50 {:.2} ms, p95 {:.2} ms",
        pct(&mut retrieval.clone(), 0.5),
        pct(&mut retrieval, 0.95)
    );
    let Some(llm) = crate::server::start_llm(cfg).await else {
        println!("LLM: not configured or unavailable ([llm] engine = {:?}); nothing more to time", cfg.llm.engine);
        return Ok(());
    };
    println!("LLM: {}", llm.name());
    // Every entry's persona + passage prefix, processed once as at a worker's
    // start (its idle-time warm-up), so the timings below are of answers.
    let t = Instant::now();
    let n = brain.kb().entries.len();
    match llm.warm(crate::llm::prompt::prefixes(brain.kb()), true).await {
        Ok(cached) => println!(
            "prefix cache: {cached} of {n} entries' prefixes cached in {:.1} s ({:.2} s each; once per worker start)",
            t.elapsed().as_secs_f64(),
            t.elapsed().as_secs_f64() / n.max(1) as f64
        ),
        Err(e) => println!("prefix warm-up failed: {e}"),
    }
    let acfg = AnswerConfig { deadline: Duration::from_millis(cfg.llm.deadline_ms), max_tokens: cfg.llm.max_tokens };
    let (mut first_ms, mut total_ms) = (Vec::new(), Vec::new());
    let mut sources = std::collections::BTreeMap::<String, usize>::new();
    for q in &questions {
        let reply = brain.respond(&mut Conversation::default(), q);
        if reply.action != ReplyAction::Answer {
            continue;
        }
        let t = Instant::now();
        let mut stream = crate::llm::ground_reply_stream(&llm, brain.kb(), reply, q, &acfg);
        let mut first = None;
        let mut source = AnswerSource::Retrieval;
        while let Some(piece) = stream.recv().await {
            if first.is_none() {
                first = Some(t.elapsed().as_secs_f64() * 1000.0);
            }
            source = piece.source;
        }
        total_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        first_ms.push(first.unwrap_or(f64::NAN));
        *sources.entry(format!("{source:?}")).or_default() += 1;
    }
    println!(
        "LLM mode first sentence: p50 {:.0} ms, p95 {:.0} ms; whole answer p50 {:.0} ms (deadline {} ms)",
        pct(&mut first_ms.clone(), 0.5),
        pct(&mut first_ms, 0.95),
        pct(&mut total_ms, 0.5),
        cfg.llm.deadline_ms
    );
    println!("answer sources: {sources:?}");
    println!(
        "memory with the LLM loaded: sori {} MB + LLM worker(s) {} MB",
        rss_kb(me).unwrap_or(0) / 1024,
        children_rss_kb() / 1024
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cer_counts_edits_per_reference_character() {
        assert_eq!(char_error_rate("코로나 검사", "코로나검사"), 0.0);
        assert!((char_error_rate("코로나검사", "고로나검사") - 0.2).abs() < 1e-9);
        assert_eq!(char_error_rate("독감", ""), 1.0);
    }
}
