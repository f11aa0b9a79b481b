//! `sori eval focus`: does an answer give the part of a long entry the
//! caller asked about, briefly? (`kb/focus.toml`, issue 14.)
//!
//! Each case goes through the dialogue engine a call uses
//! (`Brain::respond`, the previous turn first for a follow-up). The
//! retrieval-only answer is the routed entry's spoken text. With a model
//! (`[llm]` or `--model`), the answer reply goes through the call's own
//! grounded streaming step ([`crate::llm::ground_reply_stream_with`]:
//! deadline, grounding and faithfulness checks, the entry's answer as the
//! fallback) with the caller's previous question, in real time; the model's
//! whole text is kept as well (the stream is teed), so both are scored: the
//! model alone (unchecked) and what the caller would hear.
//!
//! Scored per case (pure functions below): routed to the case's entry,
//! length (characters, spaces not counted), `must` facts said, `must_not`
//! facts not said, chrF against the reference, answer source, time to the
//! first sentence.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::dialog::brain::{Conversation, ReplyAction};
use crate::llm::{AnswerConfig, AnswerSource, BoxFuture, Chunk, ChunkStream, GenRequest, Llm, LlmError, StreamOptions};

#[derive(clap::Args)]
pub struct FocusArgs {
    #[arg(long, default_value = "kb/focus.toml")]
    set: PathBuf,
    /// Retrieval only: ignore `[llm]`.
    #[arg(long)]
    retrieval: bool,
    /// A model for this run instead of `[llm] model` (a GGUF path or a
    /// models/models.toml name); runs it in local `sori-llm` workers.
    #[arg(long)]
    model: Option<String>,
    /// Threads for the model's worker (default: `[llm] threads`).
    #[arg(long)]
    threads: Option<usize>,
    /// At most this many cases (follow-ups and single questions alternate,
    /// so a cut keeps both).
    #[arg(long)]
    limit: Option<usize>,
    /// Stop taking new cases after this many seconds.
    #[arg(long)]
    max_s: Option<u64>,
    /// Deadline for the first sentence in this run (default: `[llm]
    /// deadline_ms`). A generous one measures the model's text on a slow
    /// machine; "in deadline" still counts against `[llm] deadline_ms`.
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// Lexical retrieval only (ignore [kb] embeddings).
    #[arg(long)]
    lexical: bool,
    /// Skip the prefix warm-up (every entry's persona + passage processed
    /// before the cases, as a running server does in its idle time).
    #[arg(long)]
    cold: bool,
    /// Write every case and mode here (TSV, with the text).
    #[arg(long)]
    cases: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub id: String,
    pub entry: String,
    #[serde(default)]
    pub previous: Option<String>,
    pub question: String,
    pub reference: String,
    pub must: Vec<String>,
    #[serde(default)]
    pub must_not: Vec<String>,
}

impl Case {
    pub fn follow_up(&self) -> bool {
        self.previous.is_some()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    case: Vec<Case>,
}

pub fn parse(text: &str) -> anyhow::Result<Vec<Case>> {
    let f: CaseFile = toml::from_str(text)?;
    let mut ids = HashSet::new();
    for c in &f.case {
        anyhow::ensure!(ids.insert(c.id.clone()), "case {}: duplicate id", c.id);
        anyhow::ensure!(!c.question.trim().is_empty(), "case {}: empty question", c.id);
        anyhow::ensure!(!c.reference.trim().is_empty(), "case {}: empty reference", c.id);
        anyhow::ensure!((1..=3).contains(&c.must.len()), "case {}: one to three `must` facts", c.id);
        anyhow::ensure!(
            c.previous.as_deref().is_none_or(|p| !p.trim().is_empty()),
            "case {}: empty previous question",
            c.id
        );
    }
    Ok(f.case)
}

/// `path`, parsed and checked against the knowledge base: each case's entry
/// exists, each number of its reference is in the entry's text, and the
/// reference says every `must` and none of the `must_not`.
pub fn load_checked(path: &Path, kb: &crate::kb::KnowledgeBase) -> anyhow::Result<Vec<Case>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let cases = parse(&text).with_context(|| format!("parsing {}", path.display()))?;
    for c in &cases {
        let e = kb.entry(&c.entry).with_context(|| format!("case {}: no entry {}", c.id, c.entry))?;
        let passage = format!("{} {} {}", e.title.get_ref(), e.spoken.get_ref(), e.answer.get_ref());
        let known: HashSet<String> = numbers(&passage).into_iter().collect();
        if let Some(n) = numbers(&c.reference).into_iter().find(|n| !known.contains(n)) {
            anyhow::bail!("case {}: number {n} of the reference is not in {}", c.id, c.entry);
        }
        if let Some(m) = c.must.iter().find(|m| !says(&c.reference, m)) {
            anyhow::bail!("case {}: the reference lacks its must \"{m}\"", c.id);
        }
        if let Some(m) = c.must_not.iter().find(|m| says(&c.reference, m)) {
            anyhow::bail!("case {}: the reference says its must_not \"{m}\"", c.id);
        }
    }
    Ok(cases)
}

fn compact(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Runs of ASCII digits in `s`.
pub fn numbers(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_digit()).filter(|x| !x.is_empty()).map(str::to_string).collect()
}

/// Whether `text` says `fact` (spaces ignored; "a|b": either).
pub fn says(text: &str, fact: &str) -> bool {
    let flat = compact(text);
    fact.split('|').map(compact).any(|alt| !alt.is_empty() && flat.contains(&alt))
}

/// Length of an answer as the caller hears it: characters, spaces not counted.
pub fn length(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// Sentence chrF (Popović 2015) on characters, n = 1..6, β = 2, in 0..100,
/// whitespace ignored; orders neither side has are skipped (as sacrebleu and
/// training/sori_training/metrics.py do).
pub fn chrf(hypothesis: &str, reference: &str) -> f64 {
    chrf_n(hypothesis, reference, 6)
}

fn chrf_n(hypothesis: &str, reference: &str, max_n: usize) -> f64 {
    use std::collections::HashMap;
    let (h, r): (Vec<char>, Vec<char>) = (compact(hypothesis).chars().collect(), compact(reference).chars().collect());
    fn grams(s: &[char], n: usize) -> HashMap<&[char], usize> {
        let mut m = HashMap::new();
        for w in s.windows(n) {
            *m.entry(w).or_default() += 1;
        }
        m
    }
    let (mut p, mut rc, mut orders) = (0.0, 0.0, 0usize);
    for n in 1..=max_n {
        let (hg, rg) = (grams(&h, n), grams(&r, n));
        if hg.is_empty() && rg.is_empty() {
            continue;
        }
        let matched: usize = hg.iter().map(|(g, k)| (*k).min(rg.get(g).copied().unwrap_or(0))).sum();
        let (ht, rt): (usize, usize) = (hg.values().sum(), rg.values().sum());
        p += if ht > 0 { matched as f64 / ht as f64 } else { 0.0 };
        rc += if rt > 0 { matched as f64 / rt as f64 } else { 0.0 };
        orders += 1;
    }
    if orders == 0 {
        return 0.0;
    }
    let (p, r) = (p / orders as f64, rc / orders as f64);
    if p == 0.0 && r == 0.0 {
        return 0.0;
    }
    let b2 = 4.0;
    100.0 * (1.0 + b2) * p * r / (b2 * p + r)
}

/// One answer against its case.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub chars: usize,
    /// `must` facts said, of all.
    pub must: (usize, usize),
    /// `must_not` facts not said, of all.
    pub clean: (usize, usize),
    pub chrf: f64,
}

pub fn score(c: &Case, answer: &str) -> Score {
    Score {
        chars: length(answer),
        must: (c.must.iter().filter(|m| says(answer, m)).count(), c.must.len()),
        clean: (c.must_not.iter().filter(|m| !says(answer, m)).count(), c.must_not.len()),
        chrf: chrf(answer, &c.reference),
    }
}

/// Cases in the order they run: follow-ups and single questions alternate.
pub fn interleave(cases: Vec<Case>) -> Vec<Case> {
    let (mut f, mut s): (VecDeque<Case>, VecDeque<Case>) = cases.into_iter().partition(Case::follow_up);
    let mut out = Vec::new();
    while !f.is_empty() || !s.is_empty() {
        out.extend(f.pop_front());
        out.extend(s.pop_front());
    }
    out
}

/// Totals of one mode over some cases.
#[derive(Default)]
struct Tally {
    n: usize,
    routed: usize,
    chars: Vec<f64>,
    must: (usize, usize),
    clean: (usize, usize),
    all_must: usize,
    chrf: f64,
    llm: usize,
    first_ms: Vec<f64>,
    in_deadline: usize,
}

impl Tally {
    fn add(&mut self, routed: bool, s: &Score, llm: bool, first_ms: Option<f64>, in_deadline: bool) {
        self.n += 1;
        self.routed += routed as usize;
        self.chars.push(s.chars as f64);
        self.must.0 += s.must.0;
        self.must.1 += s.must.1;
        self.clean.0 += s.clean.0;
        self.clean.1 += s.clean.1;
        self.all_must += (s.must.0 == s.must.1) as usize;
        self.chrf += s.chrf;
        self.llm += llm as usize;
        self.first_ms.extend(first_ms);
        self.in_deadline += in_deadline as usize;
    }

    fn row(&self, mode: &str, kind: &str, model: bool) -> String {
        let pct =
            |k: usize, n: usize| if n == 0 { "–".into() } else { format!("{:.0} %", 100.0 * k as f64 / n as f64) };
        let p50 = |v: &[f64]| {
            let mut v = v.to_vec();
            super::pct(&mut v, 0.5)
        };
        let first = if self.first_ms.is_empty() {
            "–".into()
        } else {
            let ms = p50(&self.first_ms);
            if ms < 1000.0 {
                format!("{ms:.0} ms")
            } else {
                format!("{:.1} s", ms / 1000.0)
            }
        };
        let (llm, in_dl) =
            if model { (pct(self.llm, self.n), pct(self.in_deadline, self.n)) } else { ("–".into(), "–".into()) };
        format!(
            "| {mode} | {kind} | {} | {} | {:.0} | {} | {} | {} | {:.1} | {llm} | {first} | {in_dl} |",
            self.n,
            pct(self.routed, self.n),
            p50(&self.chars),
            pct(self.must.0, self.must.1),
            pct(self.all_must, self.n),
            pct(self.clean.0, self.clean.1),
            if self.n == 0 { 0.0 } else { self.chrf / self.n as f64 },
        )
    }
}

/// The model's whole generation, kept while the call's streaming step reads it.
#[derive(Debug, Clone, Default)]
struct Raw {
    text: String,
    tokens: u32,
    ttft_ms: Option<u64>,
    ms: u64,
}

/// A model that forwards another's stream and keeps its whole text, even
/// after the reader stopped (a check failed, three sentences were said).
struct Tee {
    inner: Arc<dyn Llm>,
    done: Mutex<Option<oneshot::Sender<Result<Raw, LlmError>>>>,
}

impl Llm for Tee {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn generate(&self, req: GenRequest) -> BoxFuture<'_, Result<ChunkStream, LlmError>> {
        Box::pin(async move {
            let done = self.done.lock().map_err(|_| LlmError::Failed("tee".into()))?.take();
            let mut inner = self.inner.generate(req).await?;
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(async move {
                let mut result = Err(LlmError::Failed("the model's stream ended without a result".into()));
                while let Some(c) = inner.recv().await {
                    match &c {
                        Ok(Chunk::Done { text, tokens, ttft_ms, ms }) => {
                            result = Ok(Raw { text: text.clone(), tokens: *tokens, ttft_ms: *ttft_ms, ms: *ms });
                        }
                        Err(e) => result = Err(e.clone()),
                        Ok(Chunk::Delta(_)) => {}
                    }
                    let _ = tx.send(c);
                }
                if let Some(d) = done {
                    let _ = d.send(result);
                }
            });
            Ok(rx)
        })
    }
}

/// What the caller would hear from the call's streaming step, and the model's own text.
struct Heard {
    text: String,
    source: AnswerSource,
    first_ms: Option<f64>,
    checks: Vec<String>,
    raw: Option<Raw>,
}

async fn heard(
    llm: &Arc<dyn Llm>,
    kb: &crate::kb::KnowledgeBase,
    reply: crate::dialog::brain::Reply,
    c: &Case,
    cfg: &AnswerConfig,
) -> Heard {
    let (done_tx, done_rx) = oneshot::channel();
    let tee: Arc<dyn Llm> = Arc::new(Tee { inner: llm.clone(), done: Mutex::new(Some(done_tx)) });
    let checks = Arc::new(Mutex::new(Vec::new()));
    let v = checks.clone();
    let opts = StreamOptions {
        previous: c.previous.clone(),
        without_faithfulness: false,
        observe: Some(Arc::new(move |x: crate::llm::Verdict| {
            if let (Err(e), Ok(mut v)) = (x.result, v.lock()) {
                v.push(e.to_string());
            }
        })),
    };
    let start = Instant::now();
    let mut rx = crate::llm::ground_reply_stream_with(&tee, kb, reply, &c.question, cfg, opts);
    let (mut text, mut source, mut first_ms) = (Vec::new(), AnswerSource::Retrieval, None);
    while let Some(p) = rx.recv().await {
        first_ms.get_or_insert(start.elapsed().as_secs_f64() * 1000.0);
        source = p.source;
        text.push(p.text);
    }
    // The rest of the generation (the reader may have stopped early).
    let raw = match tokio::time::timeout(cfg.deadline * 4 + Duration::from_secs(30), done_rx).await {
        Ok(Ok(Ok(r))) => Some(r),
        _ => None,
    };
    let checks = checks.lock().map(|v| v.clone()).unwrap_or_default();
    Heard { text: text.join(" "), source, first_ms, checks, raw }
}

/// Rows of the table: by kind, the cases routed to their entry, all.
const KINDS: &[&str] = &["follow-up", "single", "routed right", "all"];

pub fn run(cfg: &Config, a: FocusArgs) -> anyhow::Result<()> {
    let brain = super::brain(cfg, a.lexical)?;
    let kb = brain.kb();
    let mut cases = interleave(load_checked(&a.set, kb)?);
    if let Some(n) = a.limit {
        cases.truncate(n);
    }
    let mut llm_cfg = super::with_model(cfg, a.model.as_deref(), a.threads);
    let deadline = Duration::from_millis(a.deadline_ms.unwrap_or(cfg.llm.deadline_ms));
    let call_deadline_ms = cfg.llm.deadline_ms as f64;
    // The worker's own request limit is 4 of these deadlines.
    llm_cfg.llm.deadline_ms = deadline.as_millis() as u64;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let llm = if a.retrieval || llm_cfg.llm.engine == "none" {
        None
    } else {
        let l = rt.block_on(crate::server::start_llm(&llm_cfg));
        anyhow::ensure!(l.is_some(), "[llm] engine {:?} did not start (see the log above)", llm_cfg.llm.engine);
        l
    };
    let acfg = AnswerConfig { deadline, max_tokens: cfg.llm.max_tokens };
    if let (Some(l), false) = (&llm, a.cold) {
        let t = Instant::now();
        match rt.block_on(l.warm(crate::llm::prompt::prefixes(kb), true)) {
            Ok(n) => println!(
                "prefix cache: {n} of {} entries' prefixes cached in {:.0} s (as a server's idle-time warm-up)",
                kb.entries.len(),
                t.elapsed().as_secs_f64()
            ),
            Err(e) => println!("prefix warm-up failed: {e}"),
        }
    }
    println!(
        "focus: {} cases from {} ({} follow-ups); retrieval: {}; LLM: {}; deadline {} ms (in-deadline column: {} ms), max_tokens {}, threads {}",
        cases.len(),
        a.set.display(),
        cases.iter().filter(|c| c.follow_up()).count(),
        brain.router().embedder_id().map(|e| format!("BM25 + {e}")).unwrap_or_else(|| "BM25 only".into()),
        llm.as_ref().map(|l| l.name()).unwrap_or_else(|| "none (retrieval only)".into()),
        deadline.as_millis(),
        cfg.llm.deadline_ms,
        cfg.llm.max_tokens,
        llm_cfg.llm.threads,
    );
    let mut modes: Vec<&str> = vec!["reference", "retrieval only"];
    if llm.is_some() {
        modes.extend(["model alone", "heard (checked)"]);
    }
    let mut tallies: Vec<Vec<Tally>> = modes.iter().map(|_| KINDS.iter().map(|_| Tally::default()).collect()).collect();
    let mut rows =
        vec!["id\tkind\tmode\troute\tchars\tmust\tmust_not_absent\tchrf\tsource\tfirst_ms(model alone: ttft_ms)\tchecks\ttext".to_string()];
    let started = Instant::now();
    for (i, c) in cases.iter().enumerate() {
        if a.max_s.is_some_and(|s| started.elapsed() > Duration::from_secs(s)) {
            println!("stopped after {} of {} cases (--max-s)", i, cases.len());
            break;
        }
        let kind = if c.follow_up() { "follow-up" } else { "single" };
        let mut conv = Conversation::default();
        if let Some(p) = &c.previous {
            brain.respond(&mut conv, p);
        }
        let t0 = Instant::now();
        let reply = brain.respond(&mut conv, &c.question);
        let route_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let route = super::understanding::outcome(&reply);
        let routed = reply.kb_id.as_deref() == Some(c.entry.as_str());
        let mut add = |mode: &str, s: &Score, llm: bool, first: Option<f64>, in_dl: bool| {
            let m = modes.iter().position(|x| *x == mode).expect("mode");
            for k in [kind, if routed { "routed right" } else { "" }, "all"] {
                let Some(j) = KINDS.iter().position(|x| *x == k) else { continue };
                tallies[m][j].add(routed, s, llm, first, in_dl);
            }
        };
        let mut row = |mode: &str, s: &Score, source: &str, first: Option<f64>, checks: &str, text: &str| {
            rows.push(format!(
                "{}\t{kind}\t{mode}\t{route}\t{}\t{}/{}\t{}/{}\t{:.1}\t{source}\t{:.0}\t{}\t{}",
                c.id,
                s.chars,
                s.must.0,
                s.must.1,
                s.clean.0,
                s.clean.1,
                s.chrf,
                first.unwrap_or(f64::NAN),
                super::tsv(checks),
                super::tsv(text)
            ));
        };
        let sr = score(c, &c.reference);
        add("reference", &sr, false, None, false);
        let s = score(c, &reply.text);
        add("retrieval only", &s, false, Some(route_ms), false);
        row("retrieval only", &s, "retrieval", Some(route_ms), "", &reply.text);
        let Some(llm) = &llm else {
            eprintln!(
                "[{}/{}] {} → {route}: {} chars, must {}/{}, chrF {:.1}",
                i + 1,
                cases.len(),
                c.id,
                s.chars,
                s.must.0,
                s.must.1,
                s.chrf
            );
            continue;
        };
        if reply.action != ReplyAction::Answer || reply.kb_id.is_none() {
            // No model on rule replies: both model modes say what retrieval says.
            add("model alone", &s, false, None, false);
            add("heard (checked)", &s, false, Some(route_ms), false);
            row("model alone", &s, "-", None, "", &reply.text);
            row("heard (checked)", &s, "retrieval", Some(route_ms), "", &reply.text);
            continue;
        }
        let h = rt.block_on(heard(llm, kb, reply.clone(), c, &acfg));
        let raw = h.raw.as_ref().map(|r| crate::llm::grounding::tidy(&r.text)).unwrap_or_default();
        let sa = score(c, &raw);
        // (no time of its own: the model's first sentence is the heard one's)
        add("model alone", &sa, h.raw.is_some(), None, false);
        let ttft = h.raw.as_ref().and_then(|r| r.ttft_ms).map(|x| x as f64);
        row("model alone", &sa, "-", ttft, "", &raw);
        let sh = score(c, &h.text);
        let llm_said = h.source == AnswerSource::Llm;
        let in_dl = llm_said && h.first_ms.is_some_and(|ms| ms <= call_deadline_ms);
        add("heard (checked)", &sh, llm_said, h.first_ms, in_dl);
        let source = serde_json::to_value(h.source).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        row("heard (checked)", &sh, &source, h.first_ms, &h.checks.join("; "), &h.text);
        eprintln!(
            "[{}/{}] {} ({:.0} s) → {route}: {} tokens in {} ms; model: {raw} | heard ({source}, first {:.1} s): {}",
            i + 1,
            cases.len(),
            c.id,
            started.elapsed().as_secs_f64(),
            h.raw.as_ref().map(|r| r.tokens).unwrap_or(0),
            h.raw.as_ref().map(|r| r.ms).unwrap_or(0),
            h.first_ms.unwrap_or(f64::NAN) / 1000.0,
            h.text
        );
    }
    println!();
    println!(
        "| mode | cases | n | routed | length p50 (chars) | must facts | all must | must_not absent | chrF | model said it | first sentence p50 | in {} ms |",
        cfg.llm.deadline_ms
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (m, mode) in modes.iter().enumerate() {
        for (j, k) in KINDS.iter().enumerate() {
            let t = &tallies[m][j];
            if t.n > 0 {
                println!("{}", t.row(mode, k, *mode == "heard (checked)"));
            }
        }
    }
    println!("wall time: {:.0} s", started.elapsed().as_secs_f64());
    if let Some(path) = a.cases {
        std::fs::write(&path, rows.join("\n") + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb() -> crate::kb::KnowledgeBase {
        crate::kb::KnowledgeBase::load(Path::new("kb/1339.toml")).expect("kb")
    }

    #[test]
    fn the_focus_set_is_checked_against_the_knowledge_base() {
        let cases = load_checked(Path::new("kb/focus.toml"), &kb()).expect("kb/focus.toml");
        assert!(cases.len() >= 30, "{}", cases.len());
        let follow = cases.iter().filter(|c| c.follow_up()).count();
        assert!(follow >= 12 && cases.len() - follow >= 12, "{follow} follow-ups of {}", cases.len());
    }

    #[test]
    fn a_reference_with_a_number_not_in_its_entry_is_refused() {
        let bad = r#"
[[case]]
id = "x"
entry = "flu-vaccine"
question = "독감 주사 몇 살까지 무료예요?"
reference = "70세까지 무료입니다."
must = ["70세"]
"#;
        let dir = std::env::temp_dir().join(format!("sori-focus-{}.toml", std::process::id()));
        std::fs::write(&dir, bad).expect("write");
        let err = load_checked(&dir, &kb()).expect_err("70 is not in the entry");
        let _ = std::fs::remove_file(&dir);
        assert!(err.to_string().contains("70"), "{err}");
    }

    #[test]
    fn chrf_matches_the_training_metric() {
        let r = "가까운 보건소에서 맞으실 수 있습니다.";
        assert!((chrf(r, r) - 100.0).abs() < 1e-9);
        assert!((chrf("가까운보건소에서 맞으실수 있습니다.", r) - 100.0).abs() < 1e-9);
        assert_eq!(chrf("abc", r), 0.0);
        let partial = chrf("가까운 보건소에 가세요", r);
        assert!(partial > 0.0 && partial < 100.0, "{partial}");
        // training/tests/test_metrics.py: "ab" against "abc", orders 1..3.
        let (p, rc) = ((1.0 + 1.0 + 0.0) / 3.0, (2.0 / 3.0 + 0.5 + 0.0) / 3.0);
        let want = 100.0 * 5.0 * p * rc / (4.0 * p + rc);
        assert!((chrf_n("ab", "abc", 3) - want).abs() < 1e-9);
        assert_eq!(chrf("", ""), 0.0);
    }

    #[test]
    fn facts_are_found_without_spaces_and_with_alternatives() {
        assert!(says("4주 간격으로 2번 맞습니다", "4주간격"));
        assert!(says("백신이 없습니다", "백신은 없|백신이 없"));
        assert!(!says("백신이 있습니다", "백신은 없|백신이 없"));
        assert!(!says("아무 말", ""));
        assert_eq!(numbers("생후 6개월부터 13세, 65세"), ["6", "13", "65"]);
        assert_eq!(length("네, 맞습니다."), 7);
    }

    #[test]
    fn the_whole_entry_loses_on_must_not_and_the_part_asked_wins() {
        let cases = load_checked(Path::new("kb/focus.toml"), &kb()).expect("set");
        let c = cases.iter().find(|c| c.id == "flu-children").expect("case");
        let whole = kb().entry("flu-vaccine").expect("entry").spoken.get_ref().clone();
        let w = score(c, &whole);
        assert_eq!(w.must, (2, 2));
        assert_eq!(w.clean, (0, 1), "the whole answer names 65세");
        let part = score(c, "생후 6개월부터 13세 어린이는 무료이고, 처음 맞는 9세 미만은 4주 간격으로 2번 맞습니다.");
        assert_eq!((part.must, part.clean), ((2, 2), (1, 1)));
        assert!(part.chars < w.chars && part.chrf > w.chrf, "{part:?} {w:?}");
    }

    #[test]
    fn cases_alternate_follow_ups_and_single_questions() {
        let mk = |id: &str, f: bool| Case {
            id: id.into(),
            entry: "e".into(),
            previous: f.then(|| "앞".to_string()),
            question: "q".into(),
            reference: "r".into(),
            must: vec!["r".into()],
            must_not: vec![],
        };
        let order: Vec<String> = interleave(vec![mk("f1", true), mk("f2", true), mk("f3", true), mk("s1", false)])
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(order, ["f1", "s1", "f2", "f3"]);
    }
}
