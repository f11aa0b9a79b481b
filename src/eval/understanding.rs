//! `sori eval understanding`: the dialogue's understanding of what callers
//! say as the recogniser hears it, and of what is not a 1339 question.
//!
//! * "As heard": each held-out question (`kb/heldout.toml`) passed through a
//!   syllable confusion model ([`crate::kb::confusion`]) learned from real
//!   whisper errors (`--confusions`, a TSV of reference / transcript pairs
//!   such as `sori eval stt … --cases FILE` writes), several seeded variants
//!   per question, each answered by a fresh conversation: top-1, emergency
//!   and agent recall, false emergencies.
//! * Everyday sentences that are no health question (`kb/everyday.toml`,
//!   plus `--everyday` transcripts, e.g. the `split = tune` rows of a
//!   speech corpus's `transcripts.tsv`, or the recogniser's text of those
//!   clips, which real callers' remarks reach the dialogue as): the share that gets a knowledge-base
//!   answer, one by one and fed in sequence into one conversation after a
//!   health answer.
//!
//! Nothing read from `--confusions` or `--everyday` is written anywhere but
//! `--cases` (for inspection outside the repository).

use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::SeedableRng;
use serde::Deserialize;

use crate::config::Config;
use crate::dialog::brain::{Brain, Conversation, Reply, ReplyAction, EMERGENCY_CHECK, NOT_HEALTH};
use crate::dialog::{line_check, opener};
use crate::kb::confusion::{read_tsv, ConfusionModel};
use crate::kb::data::{EMERGENCY, HUMAN_AGENT, OUT_OF_SCOPE};

#[derive(clap::Args)]
pub struct UnderstandingArgs {
    #[arg(long, default_value = "kb/heldout.toml")]
    heldout: PathBuf,
    /// TSV of (reference, transcript) pairs with a header naming `reference`
    /// and `raw` columns (`sori eval stt … --cases FILE`).
    #[arg(long)]
    confusions: Option<PathBuf>,
    /// Our own everyday, non-health sentences (sets named by file stem:
    /// "everyday", "everyday-b"). May be given more than once.
    #[arg(long, default_values = ["kb/everyday.toml", "kb/everyday-b.toml"])]
    everyday_set: Vec<PathBuf>,
    /// More everyday sentences, read at run time: a transcripts.tsv (the
    /// `transcript` column of its `split = tune` rows, set "tune"), or what
    /// the recogniser made of such clips (`sori eval stt … --split tune
    /// --cases FILE`: its `routed` column, the text a call routes, set
    /// "heard"). May be given more than once.
    #[arg(long)]
    everyday: Vec<PathBuf>,
    /// "As heard" variants per held-out question.
    #[arg(long, default_value_t = 5)]
    variants: usize,
    #[arg(long, default_value_t = 1339)]
    seed: u64,
    /// Lexical retrieval only (ignore [kb] embeddings).
    #[arg(long)]
    lexical: bool,
    /// Write every case (set, expected, text, heard, outcome) here (TSV).
    #[arg(long)]
    cases: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Everyday {
    sentences: Vec<String>,
}

/// What a reply did, as an id comparable with a held-out case's: a topic id,
/// "emergency", "human-agent", "out-of-scope", "not-health", "clarify" or
/// "emergency-check" (119 advice and "is it an emergency?", for a
/// possible emergency) or "clarify".
pub fn outcome(r: &Reply) -> String {
    match (r.action, &r.kb_id) {
        (ReplyAction::Answer, Some(id)) => id.clone(),
        (ReplyAction::Answer, None) => "goodbye".into(),
        (ReplyAction::Emergency, _) => EMERGENCY.into(),
        (ReplyAction::Transfer, _) => HUMAN_AGENT.into(),
        (ReplyAction::OutOfScope, _) if r.text == NOT_HEALTH => "not-health".into(),
        (ReplyAction::OutOfScope, _) => OUT_OF_SCOPE.into(),
        (ReplyAction::Clarify, _) if r.text == EMERGENCY_CHECK => CHECK.into(),
        (ReplyAction::Clarify, _)
            if [line_check::HEARD, line_check::SAY_AGAIN, line_check::MACHINE].contains(&r.text.as_str()) =>
        {
            LINE_CHECK.into()
        }
        (ReplyAction::Clarify, _)
            if [opener::GREETED, opener::GO_ON, opener::ANYTHING_ELSE].contains(&r.text.as_str()) =>
        {
            OPENER.into()
        }
        (ReplyAction::Clarify, _) => "clarify".into(),
    }
}

/// [`outcome`], and [`SYMPTOM`] for the knowledge base's question to a
/// common symptom told alone (its text is the knowledge base's).
fn outcome_in(brain: &Brain, r: &Reply) -> String {
    if r.action == ReplyAction::Clarify && brain.texts().symptom.as_ref() == Some(&r.text) {
        return SYMPTOM.into();
    }
    outcome(r)
}

/// The outcome of the question asked of a common symptom told alone.
pub const SYMPTOM: &str = "symptom";

/// The outcome of a safety-first reply to a possible emergency.
pub const CHECK: &str = "emergency-check";
/// The outcome of a reply to a caller checking the line.
pub const LINE_CHECK: &str = "line-check";
/// The outcome of a reply to a greeting, word that a question is coming or
/// a bare "네" ([`opener`]).
pub const OPENER: &str = "opener";

/// Tallies for one set of held-out cases.
#[derive(Default)]
struct Tally {
    n: usize,
    right: usize,
    topics: usize,
    topics_right: usize,
    /// Topic questions answered with another topic (the costly error).
    topics_wrong_answer: usize,
    /// Topic questions that got a clarifying question naming the right topic.
    topics_named: usize,
    emergency: usize,
    emergency_right: usize,
    /// Emergencies that got the safety-first question instead.
    emergency_checked: usize,
    agent: usize,
    agent_right: usize,
    ordinary: usize,
    false_emergency: usize,
    false_agent: usize,
    /// Ordinary questions that got the safety-first question.
    false_check: usize,
    /// Replies that only ask for more: a call holds them until the caller
    /// has been quiet `[vad] ask_more_after_ms`.
    held: usize,
}

impl Tally {
    fn add(&mut self, brain: &Brain, expected: &str, got: &str, conv: &Conversation) {
        self.n += 1;
        let ok = got == expected;
        self.right += ok as usize;
        match expected {
            EMERGENCY => {
                self.emergency += 1;
                self.emergency_right += ok as usize;
                self.emergency_checked += (got == CHECK) as usize;
            }
            HUMAN_AGENT => {
                self.agent += 1;
                self.agent_right += ok as usize;
            }
            _ => {
                self.ordinary += 1;
                self.false_emergency += (got == EMERGENCY) as usize;
                self.false_agent += (got == HUMAN_AGENT) as usize;
                self.false_check += (got == CHECK) as usize;
            }
        }
        if brain.kb().entry(expected).is_some() {
            self.topics += 1;
            self.topics_right += ok as usize;
            self.topics_wrong_answer += (!ok && brain.kb().entry(got).is_some()) as usize;
            self.topics_named += (got == "clarify" && conv.pending_clarify.iter().any(|id| id == expected)) as usize;
        }
    }

    fn print(&self, label: &str) {
        let pct = |a: usize, b: usize| if b == 0 { f64::NAN } else { 100.0 * a as f64 / b as f64 };
        println!("{label}:");
        println!("  top-1 (all cases):        {}/{} = {:.1} %", self.right, self.n, pct(self.right, self.n));
        println!(
            "  topic questions answered right: {}/{} = {:.1} % (wrong topic {}, clarify naming the right one {})",
            self.topics_right,
            self.topics,
            pct(self.topics_right, self.topics),
            self.topics_wrong_answer,
            self.topics_named
        );
        let heeded = self.emergency_right + self.emergency_checked;
        println!(
            "  emergency recall:         {}/{} = {:.1} % (with the safety-first question: {}/{} = {:.1} %)",
            self.emergency_right,
            self.emergency,
            pct(self.emergency_right, self.emergency),
            heeded,
            self.emergency,
            pct(heeded, self.emergency)
        );
        println!(
            "  replies that only ask for more (a call holds them until the caller is quiet): {}/{}",
            self.held, self.n
        );
        println!(
            "  human-agent recall:       {}/{} = {:.1} %",
            self.agent_right,
            self.agent,
            pct(self.agent_right, self.agent)
        );
        println!(
            "  false emergencies / agent / safety-first questions on ordinary questions: {} / {} / {} of {}",
            self.false_emergency, self.false_agent, self.false_check, self.ordinary
        );
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Everyday sentences from a TSV, with their set: the `routed` column of
/// every row of a `sori eval stt --cases` file ("heard"), else the
/// `transcript` column of the `split = tune` rows of a transcripts.tsv
/// ("tune").
fn everyday_rows(text: &str) -> anyhow::Result<(&'static str, Vec<String>)> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().context("empty transcripts file")?.split('\t').collect();
    let col = |name: &str| header.iter().position(|h| h.trim() == name).with_context(|| format!("no {name} column"));
    let cell = |l: &str, i: usize| l.split('\t').nth(i).map(|t| t.trim().to_string());
    let (set, rows): (&str, Vec<String>) = if let Ok(routed) = col("routed") {
        ("heard", lines.filter_map(|l| cell(l, routed)).collect())
    } else {
        let (split, transcript) = (col("split")?, col("transcript")?);
        let tune = |l: &&str| cell(l, split).as_deref() == Some("tune");
        ("tune", lines.filter(tune).filter_map(|l| cell(l, transcript)).collect())
    };
    Ok((set, rows.into_iter().filter(|t| !t.is_empty()).collect()))
}

/// The health question a running conversation starts with.
const OPENING: &str = "독감 예방접종 무료로 맞을 수 있어요?";

pub fn run(cfg: &Config, a: UnderstandingArgs) -> anyhow::Result<()> {
    let cases =
        crate::kb::heldout::parse(&read(&a.heldout)?).with_context(|| format!("parsing {}", a.heldout.display()))?;
    let kb = crate::kb::KnowledgeBase::load(&cfg.kb.path)?;
    let router = crate::kb::router(&kb, if a.lexical { "none" } else { &cfg.kb.embeddings });
    let brain = Brain::with_router(kb, router);
    println!(
        "retrieval: {}",
        brain.router().embedder_id().map(|e| format!("BM25 + {e}")).unwrap_or_else(|| "BM25 only".into())
    );
    let mut rows = vec!["set\texpected\ttext\theard\toutcome\trule".to_string()];
    // The trigger that fired, or the retrieval's candidates, for inspection.
    let inspect = a.cases.is_some();
    let rule = |t: &str| match brain.router().rule(t) {
        _ if !inspect => String::new(),
        Some((_, trigger)) => trigger,
        None => brain.router().self_harm(t).or_else(|| brain.router().possible_emergency(t)).unwrap_or_else(|| {
            let r = brain.router().route(t);
            let best = r.candidates.first().map(|(id, _)| id.as_str()).unwrap_or("");
            let word = brain.router().health_word(t, best);
            let cos = brain.router().topic_cosine(t, best).map_or("-".into(), |c| format!("{c:.3}"));
            let no = brain.router().no_question_cosine(t).map_or("-".into(), |c| format!("{c:.3}"));
            let urgent = brain.router().emergency_gap(t).map_or("-".into(), |(g, _)| format!("{g:.3}"));
            let agent = brain.router().agent_gap(t).map_or("-".into(), |(g, _)| format!("{g:.3}"));
            let harm = brain.router().self_harm_gap(t).map_or("-".into(), |(g, _)| format!("{g:.3}"));
            let cos = format!("{cos} no-question {no} emergency {urgent} agent {agent} self-harm {harm}");
            format!(
                "{:.2} {:?} {:?} health word {} cos {cos}",
                r.confidence,
                r.kind,
                r.candidates,
                word.unwrap_or("-".into())
            )
        }),
    };
    let mut ask = |set: &str, expected: &str, text: &str, heard: &str, tally: &mut Tally| {
        let mut conv = Conversation::default();
        let reply = brain.respond(&mut conv, heard);
        let got = outcome_in(&brain, &reply);
        tally.add(&brain, expected, &got, &conv);
        tally.held += reply.asks_for_more as usize;
        rows.push(format!("{set}\t{expected}\t{text}\t{heard}\t{got}\t{}", rule(heard)));
    };

    // The knowledge base's own questions (and `more_questions`): none may
    // trip a rule or the safety-first question.
    let (mut kb_n, mut kb_rules, mut kb_checks) = (0usize, 0usize, 0usize);
    for e in &brain.kb().entries {
        for q in e.questions.get_ref().iter().chain(&e.more_questions) {
            kb_n += 1;
            if let Some((_, trigger)) = brain.router().rule(q) {
                kb_rules += 1;
                println!("  knowledge-base question trips {trigger}: {q}");
            } else if let Some(weak) = brain.router().possible_emergency(q) {
                kb_checks += 1;
                println!("  knowledge-base question gets the safety-first question ({weak}): {q}");
            }
        }
    }
    println!("knowledge-base questions ({kb_n}): rules tripped {kb_rules}, safety-first questions {kb_checks}");

    let mut text = Tally::default();
    for c in &cases {
        ask("text", &c.id, &c.q, &c.q, &mut text);
    }
    text.print(&format!("held-out questions as text ({} cases)", cases.len()));

    if let Some(path) = &a.confusions {
        let mut pairs = read_tsv(&read(path)?).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        // Whisper writes numbers as digits, the references spell them out:
        // read digits the way the reply voice does, so they are no "errors".
        for p in &mut pairs {
            p.heard = crate::tts::normalize::normalize(&p.heard);
            p.reference = crate::tts::normalize::normalize(&p.reference);
        }
        let model = ConfusionModel::learn(&pairs);
        println!(
            "confusion model: {} pairs ({} skipped as not mis-hearings), {} syllables: {:.1} % mis-heard \
             ({} substituted, {} lost), {} inserted",
            model.pairs,
            model.skipped,
            model.syllables,
            100.0 * model.error_rate(),
            model.substitutions,
            model.deletions,
            model.insertions
        );
        let mut heard = Tally::default();
        let mut changed = 0usize;
        for (i, c) in cases.iter().enumerate() {
            let mut rng = rand::rngs::StdRng::seed_from_u64(a.seed.wrapping_add(i as u64));
            for _ in 0..a.variants {
                let v = model.corrupt(&c.q, &mut rng);
                changed += (v != c.q) as usize;
                ask("heard", &c.id, &c.q, &v, &mut heard);
            }
        }
        heard.print(&format!(
            "held-out questions as heard ({} variants per question, seed {}, {} of {} changed)",
            a.variants, a.seed, changed, heard.n
        ));
    } else {
        println!("as heard: skipped (give --confusions FILE with reference and raw columns)");
    }

    let mut everyday: Vec<(String, String)> = Vec::new();
    for path in &a.everyday_set {
        let own: Everyday = toml::from_str(&read(path)?).with_context(|| format!("parsing {}", path.display()))?;
        let set = path.file_stem().map_or("own".into(), |s| s.to_string_lossy().into_owned());
        everyday.extend(own.sentences.into_iter().map(|s| (set.clone(), s)));
    }
    for path in &a.everyday {
        let (set, rows) = everyday_rows(&read(path)?).with_context(|| format!("reading {}", path.display()))?;
        everyday.extend(rows.into_iter().map(|s| (set.to_string(), s)));
    }
    let mut sets: Vec<String> = Vec::new();
    for (set, _) in &everyday {
        if !sets.contains(set) {
            sets.push(set.clone());
        }
    }
    sets.push("all".into());
    for set in &sets {
        let set = set.as_str();
        let sentences: Vec<&String> =
            everyday.iter().filter(|(s, _)| set == "all" || s == set).map(|(_, t)| t).collect();
        if sentences.is_empty() {
            continue;
        }
        let is_answer = |r: &Reply| r.action == ReplyAction::Answer && r.kb_id.is_some();
        let (mut alone, mut rules, mut checks, mut agents, mut lines) = (0usize, 0usize, 0usize, 0usize, 0usize);
        let (mut openers, mut waits, mut symptoms) = (0usize, 0usize, 0usize);
        for t in &sentences {
            let r = brain.respond(&mut Conversation::default(), t);
            alone += is_answer(&r) as usize;
            rules += matches!(r.action, ReplyAction::Emergency) as usize;
            agents += matches!(r.action, ReplyAction::Transfer) as usize;
            checks += (outcome(&r) == CHECK) as usize;
            lines += (outcome(&r) == LINE_CHECK) as usize;
            openers += (outcome(&r) == OPENER) as usize;
            symptoms += (outcome_in(&brain, &r) == SYMPTOM) as usize;
            // A turn that ends so waits for more (the call's ending hint).
            waits += opener::opener(t).is_some_and(|o| o.promises_more()) as usize;
            if set != "all" {
                rows.push(format!("everyday-{set}\t-\t{t}\t{t}\t{}\t{}", outcome_in(&brain, &r), rule(t)));
            }
        }
        let mut conv = Conversation::default();
        brain.respond(&mut conv, OPENING);
        let mut running = 0usize;
        for t in &sentences {
            let r = brain.respond(&mut conv, t);
            running += is_answer(&r) as usize;
            if set != "all" {
                rows.push(format!("running-{set}\t-\t{t}\t{t}\t{}\t{}", outcome_in(&brain, &r), rule(t)));
            }
        }
        let n = sentences.len();
        let pct = |k: usize| 100.0 * k as f64 / n as f64;
        println!(
            "everyday sentences ({set}, {n}): knowledge-base answer one by one {alone} = {:.1} %, \
             in one running conversation after \"{OPENING}\" {running} = {:.1} %; emergencies {rules}, \
             safety-first questions {checks}, put through to a person {agents}, line checks answered {lines}, \
             openers answered in kind {openers} (their turn waits for more: {waits}), \
             a symptom told alone asked about {symptoms}",
            pct(alone),
            pct(running)
        );
    }
    if let Some(path) = a.cases {
        std::fs::write(&path, rows.join("\n") + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tune_rows_only() {
        let t = "file\tspeaker\tsplit\ttranscript\tscript\na\tx\ttune\t안녕하세요\t안녕\nb\ty\ttest\t시험\t시험\n";
        assert_eq!(everyday_rows(t).expect("parses"), ("tune", vec!["안녕하세요".to_string()]));
        assert!(everyday_rows("file\tsplit\n").is_err());
        let heard = "file\tspeaker\treference\traw\trouted\tcer\na\tx\t안녕하세요\t안녕하세요 안녕하세요\t안녕하세요\t0.1\nb\ty\t네\t\t\t1\n";
        assert_eq!(everyday_rows(heard).expect("parses"), ("heard", vec!["안녕하세요".to_string()]));
    }

    #[test]
    fn everyday_sets_parse_and_are_not_empty() {
        for text in [
            include_str!("../../kb/everyday.toml"),
            include_str!("../../kb/everyday-b.toml"),
            include_str!("../../kb/near-emergencies.toml"),
            include_str!("../../kb/near-emergencies-b.toml"),
            include_str!("../../kb/near-emergencies-c.toml"),
            include_str!("../../kb/emergencies-c.toml"),
            include_str!("../../kb/agent-requests-c.toml"),
            include_str!("../../kb/near-agent.toml"),
            include_str!("../../kb/near-agent-c.toml"),
            include_str!("../../kb/line-checks.toml"),
            include_str!("../../kb/near-line-checks.toml"),
            include_str!("../../kb/self-harm-dev.toml"),
            include_str!("../../kb/near-self-harm-dev.toml"),
            include_str!("../../kb/line-checks-e.toml"),
            include_str!("../../kb/near-line-checks-e.toml"),
            include_str!("../../kb/self-harm-c.toml"),
            include_str!("../../kb/near-self-harm-c.toml"),
            include_str!("../../kb/emergencies-d.toml"),
            include_str!("../../kb/line-checks-c.toml"),
            include_str!("../../kb/near-line-checks-c.toml"),
            include_str!("../../kb/everyday-c.toml"),
            include_str!("../../kb/everyday-d.toml"),
            include_str!("../../kb/emergencies-f.toml"),
            include_str!("../../kb/near-emergencies-f.toml"),
            include_str!("../../kb/everyday-e.toml"),
            include_str!("../../kb/emergencies-g.toml"),
            include_str!("../../kb/openers.toml"),
            include_str!("../../kb/near-openers.toml"),
            include_str!("../../kb/openers-b.toml"),
            include_str!("../../kb/near-openers-b.toml"),
            include_str!("../../kb/bare-symptoms.toml"),
            include_str!("../../kb/symptoms-with-clue.toml"),
            include_str!("../../kb/bare-symptoms-b.toml"),
            include_str!("../../kb/symptoms-with-clue-b.toml"),
            include_str!("../../kb/near-agent-d.toml"),
            include_str!("../../kb/near-emergencies-j.toml"),
        ] {
            let e: Everyday = toml::from_str(text).expect("everyday set");
            assert!(e.sentences.len() >= 40, "{}", e.sentences.len());
        }
    }
}
