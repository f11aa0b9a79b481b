//! `sori eval traps`: faithfulness on the trap set (`kb/traps.toml`).
//!
//! Each trap goes through the dialogue engine a call uses (`Brain::respond`,
//! with its previous turn first for a follow-up); an answer reply is then
//! generated once by the configured `[llm]` (or `--model`), its chunks
//! recorded with their times, and replayed through
//! [`crate::llm::ground_reply_stream_with`] for each mode, [`SPEED`] times
//! faster than it was made (deadline scaled alike):
//! the grounding check alone, and grounding + the faithfulness check — each
//! with the configured deadline and without one. Same generation, same
//! streaming code and deadlines as on a call, in model time.
//!
//! `--save FILE` keeps each generation (JSON lines); `--replay FILE` scores
//! those again without a model — a changed check is measured in minutes.
//!
//! Reported per category: faithful % (what the caller would hear, judged
//! against the trap's expectations), the model alone (its whole text,
//! unchecked), caught % (a check stopped a sentence), fell back % (the
//! entry's own answer was said), time to the first sentence and tokens/s.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::dialog::brain::{Conversation, ReplyAction};
use crate::llm::{
    AnswerConfig, AnswerSource, BoxFuture, Chunk, ChunkStream, GenRequest, Llm, LlmError, StreamOptions, Verdict,
};

#[derive(clap::Args)]
pub struct TrapsArgs {
    #[arg(long, default_value = "kb/traps.toml")]
    traps: PathBuf,
    /// Retrieval only: ignore `[llm]`.
    #[arg(long)]
    retrieval: bool,
    /// A model for this run instead of `[llm] model` (a GGUF path or a
    /// models/models.toml name); runs it in local `sori-llm` workers.
    #[arg(long)]
    model: Option<String>,
    /// Threads for `--model`'s worker (default: `[llm] threads`).
    #[arg(long)]
    threads: Option<usize>,
    /// At most this many traps per category (while developing).
    #[arg(long)]
    limit: Option<usize>,
    /// Only this category.
    #[arg(long)]
    category: Option<String>,
    /// Stop taking new traps after this many seconds (traps run round-robin
    /// over the categories, so a cut keeps them balanced).
    #[arg(long)]
    max_s: Option<u64>,
    /// Deadline for the first sentence (default: `[llm] deadline_ms`).
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// Lexical retrieval only (ignore [kb] embeddings).
    #[arg(long)]
    lexical: bool,
    /// Save each generation (its chunks and their times) here, JSON lines,
    /// to re-score later with `--replay` (no model needed).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Replay the generations a `--save` run recorded instead of running a model.
    #[arg(long, conflicts_with_all = ["model", "retrieval"])]
    replay: Option<PathBuf>,
    /// Write every case and mode here (TSV).
    #[arg(long)]
    cases: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trap {
    pub id: String,
    pub category: String,
    pub topic: String,
    #[serde(default)]
    pub previous: Option<String>,
    pub question: String,
    pub expect: String,
    #[serde(default)]
    pub must: Vec<String>,
    #[serde(default)]
    pub must_not: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrapFile {
    trap: Vec<Trap>,
}

pub const CATEGORIES: &[&str] = &["eligibility", "not-in-material", "advice", "follow-up", "number"];
const EXPECT: &[&str] = &["yes", "no", "not-in-material", "info"];

pub fn parse(text: &str) -> anyhow::Result<Vec<Trap>> {
    let f: TrapFile = toml::from_str(text)?;
    let mut ids = HashSet::new();
    for t in &f.trap {
        anyhow::ensure!(ids.insert(t.id.clone()), "trap {}: duplicate id", t.id);
        anyhow::ensure!(CATEGORIES.contains(&t.category.as_str()), "trap {}: unknown category {}", t.id, t.category);
        anyhow::ensure!(EXPECT.contains(&t.expect.as_str()), "trap {}: unknown expect {}", t.id, t.expect);
        anyhow::ensure!(!t.question.trim().is_empty(), "trap {}: empty question", t.id);
        anyhow::ensure!(
            t.category != "follow-up" || t.previous.is_some(),
            "trap {}: a follow-up needs its previous turn",
            t.id
        );
    }
    Ok(f.trap)
}

fn compact(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

const SAYS_YES: &[&str] = &["네", "예", "네네", "그렇습니다", "맞습니다", "물론입니다", "물론"];
const SAYS_NO: &[&str] = &["아니요", "아니오", "아닙니다", "아니에요"];

/// Judges what the caller would hear. `passage`: the answered entry's text
/// (numbers must come from it), None for rule replies.
pub fn judge(t: &Trap, heard: &str, passage: Option<&str>) -> Result<(), String> {
    let flat = compact(heard);
    if let Some(bad) = t.must_not.iter().find(|m| flat.contains(&compact(m))) {
        return Err(format!("claims \"{bad}\""));
    }
    for m in &t.must {
        if !m.split('|').any(|alt| flat.contains(&compact(alt))) {
            return Err(format!("lacks \"{m}\""));
        }
    }
    let opening: String = heard.trim().chars().take_while(|c| ('\u{AC00}'..='\u{D7A3}').contains(c)).collect();
    match t.expect.as_str() {
        "no" | "not-in-material" if SAYS_YES.contains(&opening.as_str()) => {
            return Err(format!("answers yes (\"{opening}\"), the truth is {}", t.expect))
        }
        "yes" if SAYS_NO.contains(&opening.as_str()) => return Err(format!("answers no (\"{opening}\")")),
        _ => {}
    }
    if let Some(p) = passage {
        let mut known: HashSet<String> = digits(p).into_iter().collect();
        known.extend(["119".to_string(), "1339".to_string()]);
        if let Some(n) = digits(heard).into_iter().find(|n| !known.contains(n)) {
            return Err(format!("number {n} is not in the passage"));
        }
    }
    Ok(())
}

fn digits(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in s.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_digit() {
            cur.push(ch);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

/// How much faster than the model a recording is replayed (its times and
/// the deadline divided by this; a timer's millisecond is then 20 ms of
/// model time, well inside the margins a deadline decides by).
pub const SPEED: f64 = 20.0;

/// A model that replays one recorded generation with its timing, [`SPEED`] times faster.
struct Replay {
    chunks: Vec<(u64, Chunk)>,
}

impl Llm for Replay {
    fn name(&self) -> String {
        "replay".into()
    }

    fn generate(&self, _req: GenRequest) -> BoxFuture<'_, Result<ChunkStream, LlmError>> {
        let chunks = self.chunks.clone();
        Box::pin(async move {
            let (tx, rx) = mpsc::unbounded_channel();
            let start = tokio::time::Instant::now();
            tokio::spawn(async move {
                for (ms, c) in chunks {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(ms as f64 / 1000.0 / SPEED)).await;
                    if tx.send(Ok(c)).is_err() {
                        return;
                    }
                }
            });
            Ok(rx)
        })
    }
}

/// One generation as the model streamed it: deltas at their times (ms
/// from the request), then the result.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
struct Recording {
    /// Trap id, question and model (to match a `--replay` file to the set).
    id: String,
    question: String,
    model: String,
    deltas: Vec<(u64, String)>,
    done_at: u64,
    text: String,
    tokens: u32,
    ttft_ms: Option<u64>,
    ms: u64,
}

impl Recording {
    fn chunks(&self) -> Vec<(u64, Chunk)> {
        let mut c: Vec<(u64, Chunk)> = self.deltas.iter().map(|(at, d)| (*at, Chunk::Delta(d.clone()))).collect();
        let done = Chunk::Done { text: self.text.clone(), tokens: self.tokens, ttft_ms: self.ttft_ms, ms: self.ms };
        c.push((self.done_at, done));
        c
    }
}

async fn record(llm: &Arc<dyn Llm>, req: GenRequest, t: &Trap) -> anyhow::Result<Recording> {
    let start = Instant::now();
    let mut stream = llm.generate(req).await?;
    let mut deltas = Vec::new();
    while let Some(c) = stream.recv().await {
        let at = start.elapsed().as_millis() as u64;
        match c? {
            Chunk::Delta(d) => deltas.push((at, d)),
            Chunk::Done { text, tokens, ttft_ms, ms } => {
                return Ok(Recording {
                    id: t.id.clone(),
                    question: t.question.clone(),
                    model: llm.name(),
                    deltas,
                    done_at: at,
                    text,
                    tokens,
                    ttft_ms,
                    ms,
                })
            }
        }
    }
    anyhow::bail!("the model's stream ended without a result")
}

/// What one mode made of one trap.
#[derive(Debug, Clone)]
struct Outcome {
    heard: String,
    source: AnswerSource,
    first_ms: Option<f64>,
    verdicts: Vec<Verdict>,
}

/// Replays `rec` through the call's streaming step; times in model time.
fn replay(
    kb: &crate::kb::KnowledgeBase,
    reply: &crate::dialog::brain::Reply,
    t: &Trap,
    rec: &Recording,
    deadline: Duration,
    max_tokens: u32,
    faithfulness: bool,
) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    rt.block_on(async {
        let llm: Arc<dyn Llm> = Arc::new(Replay { chunks: rec.chunks() });
        let verdicts = Arc::new(Mutex::new(Vec::new()));
        let v = verdicts.clone();
        let opts = StreamOptions {
            previous: t.previous.clone(),
            without_faithfulness: !faithfulness,
            observe: Some(Arc::new(move |x| v.lock().expect("verdicts").push(x))),
        };
        let cfg = AnswerConfig { deadline: deadline.div_f64(SPEED), max_tokens };
        let start = tokio::time::Instant::now();
        let mut rx = crate::llm::ground_reply_stream_with(&llm, kb, reply.clone(), &t.question, &cfg, opts);
        let (mut heard, mut source, mut first_ms) = (Vec::new(), AnswerSource::Retrieval, None);
        while let Some(p) = rx.recv().await {
            first_ms.get_or_insert(start.elapsed().as_secs_f64() * 1000.0 * SPEED);
            source = p.source;
            heard.push(p.text);
        }
        let verdicts = verdicts.lock().expect("verdicts").clone();
        Outcome { heard: heard.join(" "), source, first_ms, verdicts }
    })
}

/// Whether a check stopped a sentence, and which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caught {
    No,
    Grounding,
    Faithfulness,
}

#[derive(Default)]
struct Tally {
    n: usize,
    faithful: usize,
    caught: usize,
    by_faithfulness: usize,
    fell_back: usize,
    first_ms: Vec<f64>,
    tok_s: Vec<f64>,
}

impl Tally {
    fn add(&mut self, faithful: bool, caught: Caught, fell_back: bool, first_ms: Option<f64>, tok_s: Option<f64>) {
        self.n += 1;
        self.faithful += faithful as usize;
        self.caught += (caught != Caught::No) as usize;
        self.by_faithfulness += (caught == Caught::Faithfulness) as usize;
        self.fell_back += fell_back as usize;
        self.first_ms.extend(first_ms);
        self.tok_s.extend(tok_s);
    }

    fn row(&self, mode: &str, cat: &str, llm: bool) -> String {
        let pct =
            |k: usize| if self.n == 0 { "–".into() } else { format!("{:.0} %", 100.0 * k as f64 / self.n as f64) };
        let first = if self.first_ms.is_empty() {
            "–".into()
        } else {
            let mut v = self.first_ms.clone();
            let p50 = super::pct(&mut v, 0.5);
            if p50 < 1000.0 {
                format!("{p50:.0} ms")
            } else {
                format!("{:.1} s", p50 / 1000.0)
            }
        };
        let tok = if self.tok_s.is_empty() {
            "–".into()
        } else {
            format!("{:.1}", self.tok_s.iter().sum::<f64>() / self.tok_s.len() as f64)
        };
        let (caught, by_f, back) = if llm {
            (pct(self.caught), pct(self.by_faithfulness), pct(self.fell_back))
        } else {
            ("–".into(), "–".into(), "–".into())
        };
        format!(
            "| {mode} | {cat} | {} | {} | {caught} | {by_f} | {back} | {first} | {tok} |",
            self.n,
            pct(self.faithful)
        )
    }
}

pub fn run(cfg: &Config, a: TrapsArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&a.traps).with_context(|| format!("reading {}", a.traps.display()))?;
    let mut traps = parse(&text).with_context(|| format!("parsing {}", a.traps.display()))?;
    if let Some(c) = &a.category {
        traps.retain(|t| &t.category == c);
    }
    if let Some(n) = a.limit {
        let mut seen = BTreeMap::<String, usize>::new();
        traps.retain(|t| {
            let k = seen.entry(t.category.clone()).or_default();
            *k += 1;
            *k <= n
        });
    }
    // Round-robin over the categories: the first of each, the second of each, …
    let mut by_cat: Vec<std::collections::VecDeque<Trap>> =
        CATEGORIES.iter().map(|c| traps.iter().filter(|t| t.category == *c).cloned().collect()).collect();
    let mut traps = Vec::new();
    while by_cat.iter().any(|q| !q.is_empty()) {
        traps.extend(by_cat.iter_mut().filter_map(|q| q.pop_front()));
    }
    let brain = super::brain(cfg, a.lexical)?;
    let kb = brain.kb();
    let passage =
        |id: &str| kb.entry(id).map(|e| format!("{} {} {}", e.title.get_ref(), e.spoken.get_ref(), e.answer.get_ref()));
    let mut llm_cfg = super::with_model(cfg, a.model.as_deref(), a.threads);
    let deadline = Duration::from_millis(a.deadline_ms.unwrap_or(cfg.llm.deadline_ms));
    // The recording itself runs without the call's deadline (the worker's
    // own time-out is 4 deadlines): the modes apply deadlines on replay.
    llm_cfg.llm.deadline_ms = llm_cfg.llm.deadline_ms.max(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let recorded: Option<BTreeMap<String, Recording>> = match &a.replay {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let mut m = BTreeMap::new();
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let r: Recording =
                    serde_json::from_str(line).with_context(|| format!("{}:{}", path.display(), i + 1))?;
                m.insert(r.id.clone(), r);
            }
            Some(m)
        }
    };
    let llm = if recorded.is_some() || a.retrieval || llm_cfg.llm.engine == "none" {
        None
    } else {
        let l = rt.block_on(crate::server::start_llm(&llm_cfg));
        anyhow::ensure!(l.is_some(), "[llm] engine {:?} did not start (see the log above)", llm_cfg.llm.engine);
        l
    };
    let mut save = match &a.save {
        Some(p) => Some(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?),
        None => None,
    };
    let model_name = match (&llm, &recorded) {
        (Some(l), _) => Some(l.name()),
        (None, Some(m)) => Some(format!(
            "replay of {} ({})",
            a.replay.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            m.values().next().map(|r| r.model.clone()).unwrap_or_default()
        )),
        _ => None,
    };
    println!(
        "traps: {} from {}; retrieval: {}; LLM: {}; deadline {} ms, max_tokens {}, threads {}",
        traps.len(),
        a.traps.display(),
        brain.router().embedder_id().map(|e| format!("BM25 + {e}")).unwrap_or_else(|| "BM25 only".into()),
        model_name.clone().unwrap_or_else(|| "none (retrieval only)".into()),
        deadline.as_millis(),
        cfg.llm.max_tokens,
        llm_cfg.llm.threads,
    );
    const NONE: Duration = Duration::from_secs(600);
    let modes: Vec<(&str, bool, Duration)> = vec![
        ("grounding", false, deadline),
        ("grounding + faithfulness", true, deadline),
        ("grounding, no deadline", false, NONE),
        ("grounding + faithfulness, no deadline", true, NONE),
    ];
    let mut tallies = BTreeMap::<(String, String), Tally>::new();
    let mut routed = BTreeMap::<String, (usize, usize)>::new();
    let mut rows = vec!["id\tcategory\tmode\troute\tfaithful\twhy\tsource\tfirst_ms\tverdicts\theard".to_string()];
    let started = Instant::now();
    for (i, t) in traps.iter().enumerate() {
        if a.max_s.is_some_and(|s| started.elapsed() > Duration::from_secs(s)) {
            println!("stopped after {} of {} traps (--max-s)", i, traps.len());
            break;
        }
        let mut conv = Conversation::default();
        if let Some(p) = &t.previous {
            brain.respond(&mut conv, p);
        }
        let rt0 = Instant::now();
        let reply = brain.respond(&mut conv, &t.question);
        let route_ms = rt0.elapsed().as_secs_f64() * 1000.0;
        let route = super::understanding::outcome(&reply);
        let r = routed.entry(t.category.clone()).or_default();
        r.0 += 1;
        r.1 += (route == t.topic || (t.topic.is_empty() && kb.entry(&route).is_none())) as usize;
        let p = reply.kb_id.as_deref().and_then(passage);
        let verdict = judge(t, &reply.text, p.as_deref());
        let mut add = |mode: &str, tally: (bool, Caught, bool, Option<f64>, Option<f64>)| {
            for cat in [t.category.as_str(), "all"] {
                let (f, c, b, first, tok) = tally;
                tallies.entry((mode.to_string(), cat.to_string())).or_default().add(f, c, b, first, tok);
            }
        };
        add("retrieval only", (verdict.is_ok(), Caught::No, false, Some(route_ms), None));
        rows.push(format!(
            "{}\t{}\tretrieval\t{route}\t{}\t{}\tretrieval\t{route_ms:.1}\t\t{}",
            t.id,
            t.category,
            verdict.is_ok(),
            super::tsv(verdict.as_ref().err().map(String::as_str).unwrap_or("")),
            super::tsv(&reply.text)
        ));
        if llm.is_none() && recorded.is_none() {
            continue;
        }
        if reply.action != ReplyAction::Answer || reply.kb_id.is_none() {
            // No model on rule replies: every mode says what retrieval says.
            for (mode, _, _) in &modes {
                add(mode, (verdict.is_ok(), Caught::No, false, Some(route_ms), None));
            }
            add("model alone", (verdict.is_ok(), Caught::No, false, None, None));
            continue;
        }
        let entry = kb.entry(reply.kb_id.as_deref().unwrap_or_default()).expect("answered entry");
        let req = GenRequest {
            messages: crate::llm::prompt::grounded_messages_after(entry, &t.question, t.previous.as_deref()),
            max_tokens: cfg.llm.max_tokens,
            temperature: 0.0,
            max_sentences: 3,
        };
        let rec = match (&llm, &recorded) {
            (Some(llm), _) => rt.block_on(record(llm, req, t)).with_context(|| format!("trap {}", t.id))?,
            (None, Some(m)) => match m.get(&t.id).filter(|r| r.question == t.question) {
                Some(r) => r.clone(),
                None => {
                    eprintln!("{}: not in the recordings (or its question changed); skipped", t.id);
                    continue;
                }
            },
            (None, None) => unreachable!("checked above"),
        };
        if let Some(f) = save.as_mut() {
            use std::io::Write;
            writeln!(f, "{}", serde_json::to_string(&rec)?)?;
        }
        let tok_s = (rec.tokens > 1 && rec.ms > rec.ttft_ms.unwrap_or(0))
            .then(|| (rec.tokens - 1) as f64 * 1000.0 / (rec.ms - rec.ttft_ms.unwrap_or(0)) as f64);
        let raw = crate::llm::grounding::tidy(&rec.text);
        let alone = judge(t, &raw, p.as_deref());
        add("model alone", (alone.is_ok(), Caught::No, false, rec.ttft_ms.map(|x| x as f64), tok_s));
        rows.push(format!(
            "{}\t{}\tmodel alone\t{route}\t{}\t{}\t-\t{}\t\t{}",
            t.id,
            t.category,
            alone.is_ok(),
            super::tsv(alone.as_ref().err().map(String::as_str).unwrap_or("")),
            rec.ttft_ms.unwrap_or(0),
            super::tsv(&raw)
        ));
        for (mode, faithful, dl) in &modes {
            let o = replay(kb, &reply, t, &rec, *dl, cfg.llm.max_tokens, *faithful);
            let v = judge(t, &o.heard, p.as_deref());
            let caught = match o.verdicts.iter().find_map(|x| x.result.as_ref().err()) {
                None => Caught::No,
                Some(crate::llm::CheckFailure::Grounding(_)) => Caught::Grounding,
                Some(crate::llm::CheckFailure::Faithfulness(_)) => Caught::Faithfulness,
            };
            let back = o.source != AnswerSource::Llm;
            add(mode, (v.is_ok(), caught, back, o.first_ms, tok_s));
            let verdicts: Vec<String> = o
                .verdicts
                .iter()
                .filter_map(|x| x.result.as_ref().err().map(|e| format!("[{}] {e}", x.said)))
                .collect();
            rows.push(format!(
                "{}\t{}\t{mode}\t{route}\t{}\t{}\t{:?}\t{:.0}\t{}\t{}",
                t.id,
                t.category,
                v.is_ok(),
                super::tsv(v.as_ref().err().map(String::as_str).unwrap_or("")),
                o.source,
                o.first_ms.unwrap_or(f64::NAN),
                super::tsv(&verdicts.join("; ")),
                super::tsv(&o.heard)
            ));
        }
        eprintln!(
            "[{}/{}] {} ({:.0} s): {} tokens in {} ms — {}",
            i + 1,
            traps.len(),
            t.id,
            started.elapsed().as_secs_f64(),
            rec.tokens,
            rec.ms,
            raw
        );
    }
    println!("routed to the trap's topic: {}", {
        let s: Vec<String> = routed.iter().map(|(c, (n, k))| format!("{c} {k}/{n}")).collect();
        s.join(", ")
    });
    println!();
    println!("| mode | category | n | faithful | caught | by faithfulness | fell back | first sentence p50 | tok/s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut order: Vec<&str> = vec!["retrieval only"];
    if model_name.is_some() {
        order.push("model alone");
        order.extend(modes.iter().map(|(m, _, _)| *m));
    }
    for mode in order {
        for cat in CATEGORIES.iter().copied().chain(["all"]) {
            if let Some(t) = tallies.get(&(mode.to_string(), cat.to_string())) {
                let llm_mode = mode != "retrieval only" && mode != "model alone";
                println!("{}", t.row(mode, cat, llm_mode));
            }
        }
    }
    println!("wall time: {:.0} s", started.elapsed().as_secs_f64());
    if let Some(path) = a.cases {
        std::fs::write(&path, rows.join("\n") + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `kb/traps.toml`, parsed and checked against the knowledge base.
pub fn load_checked(path: &Path, kb: &crate::kb::KnowledgeBase) -> anyhow::Result<Vec<Trap>> {
    let traps = parse(&std::fs::read_to_string(path)?)?;
    for t in &traps {
        anyhow::ensure!(t.topic.is_empty() || kb.entry(&t.topic).is_some(), "trap {}: no entry {}", t.id, t.topic);
    }
    Ok(traps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traps() -> Vec<Trap> {
        let kb = crate::kb::KnowledgeBase::load(Path::new("kb/1339.toml")).expect("kb");
        load_checked(Path::new("kb/traps.toml"), &kb).expect("kb/traps.toml")
    }

    #[test]
    fn the_trap_set_is_large_and_covers_every_category() {
        let t = traps();
        assert!(t.len() >= 60, "{}", t.len());
        for c in CATEGORIES {
            assert!(t.iter().filter(|x| x.category == *c).count() >= 8, "{c}");
        }
    }

    #[test]
    fn the_forties_yes_is_unfaithful_and_the_entry_is_not() {
        let t = traps().into_iter().find(|t| t.id == "flu-free-40s").expect("trap");
        let kb = crate::kb::KnowledgeBase::load(Path::new("kb/1339.toml")).expect("kb");
        let e = kb.entry("flu-vaccine").expect("entry");
        let p = format!("{} {} {}", e.title.get_ref(), e.spoken.get_ref(), e.answer.get_ref());
        assert!(judge(&t, "네, 인플루엔자 예방접종은 무료입니다.", Some(&p)).is_err());
        assert!(judge(&t, "40대도 무료로 맞으실 수 있습니다.", Some(&p)).is_err());
        assert!(judge(&t, "무료 대상은 50세 이상입니다.", Some(&p)).is_err());
        assert_eq!(judge(&t, e.spoken.get_ref(), Some(&p)), Ok(()));
    }

    #[test]
    fn replay_keeps_the_deadline_in_model_time() {
        use crate::dialog::brain::Brain;
        let kb = crate::kb::KnowledgeBase::load(Path::new("kb/1339.toml")).expect("kb");
        let brain = Brain::new(kb);
        let t = traps().into_iter().find(|t| t.id == "flu-free-40s").expect("trap");
        let reply = brain.respond(&mut Conversation::default(), &t.question);
        let said = "네, 인플루엔자 예방접종은 무료로 맞으실 수 있습니다.";
        let rec = Recording {
            id: t.id.clone(),
            question: t.question.clone(),
            model: "test".into(),
            deltas: vec![(4000, said.into())],
            done_at: 4500,
            text: said.into(),
            tokens: 20,
            ttft_ms: Some(4000),
            ms: 4500,
        };
        // Too late for a 3 s deadline: the entry's answer at 3 s.
        let o = replay(brain.kb(), &reply, &t, &rec, Duration::from_secs(3), 96, true);
        assert_eq!(o.source, AnswerSource::RetrievalAfterDeadline);
        // (model time: a loaded machine's timer lag counts SPEED times)
        assert!((o.first_ms.expect("said") - 3000.0).abs() < 1500.0, "{:?}", o.first_ms);
        // In time, without the faithfulness check the yes is said; with it, caught.
        let o = replay(brain.kb(), &reply, &t, &rec, Duration::from_secs(10), 96, false);
        assert_eq!(o.source, AnswerSource::Llm, "{o:?}");
        let o = replay(brain.kb(), &reply, &t, &rec, Duration::from_secs(10), 96, true);
        assert_eq!(o.source, AnswerSource::RetrievalAfterUngrounded, "{o:?}");
        assert!(o.verdicts.iter().any(|v| matches!(v.result, Err(crate::llm::CheckFailure::Faithfulness(_)))));
    }
}
