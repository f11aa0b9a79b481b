//! The knowledge base as data (`kb/*.toml`): topics with question variants,
//! a spoken answer, a longer answer and the public source, plus the actions
//! routed before retrieval. Checked at load; every error names the file,
//! line and column of the offending value.

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{line_col, parse_toml, ConfigError};

/// Topic ids the first release shipped with. Code, tests and call records
/// refer to them, so a knowledge base must keep every one (more may be added).
pub const REQUIRED_IDS: [&str; 32] = [
    "covid19-symptoms-testing",
    "covid19-isolation",
    "covid19-vaccine",
    "flu-vaccine",
    "flu-symptoms",
    "measles",
    "mpox",
    "tuberculosis",
    "scrub-typhus",
    "sfts",
    "malaria",
    "dengue",
    "travel-before",
    "travel-after-symptoms",
    "hepatitis-a",
    "norovirus",
    "chickenpox",
    "pertussis",
    "mycoplasma",
    "hfmd",
    "child-vaccination",
    "adult-pneumococcal",
    "hpv-vaccine",
    "rabies-animal-bite",
    "mers",
    "avian-flu",
    "disease-reporting",
    "vaccine-adverse-reaction",
    "hiv-testing",
    "heat-illness",
    "japanese-encephalitis",
    "hotline-info",
];

pub const EMERGENCY: &str = "emergency";
pub const HUMAN_AGENT: &str = "human-agent";
pub const OUT_OF_SCOPE: &str = "out-of-scope";
/// The `[[action]]` ids the router understands; all are required.
/// An emergency of its own: a caller who may harm themself, or someone near
/// them who may. Optional; its triggers are emergency triggers, and its
/// reply names the crisis line as well as 119.
pub const SELF_HARM: &str = "self-harm";
/// The actions every knowledge base has.
pub const ACTION_IDS: [&str; 3] = [EMERGENCY, HUMAN_AGENT, OUT_OF_SCOPE];
/// The actions a knowledge base may have.
pub const KNOWN_ACTION_IDS: [&str; 4] = [EMERGENCY, HUMAN_AGENT, OUT_OF_SCOPE, SELF_HARM];

/// Fewest question variants per topic: fewer and retrieval misses callers
/// who word things differently.
pub const MIN_QUESTIONS: usize = 6;
/// Most sentences in a `spoken` answer: a caller cannot take in more.
pub const MAX_SPOKEN_SENTENCES: usize = 3;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeBase {
    /// `[settings]`: how the dialogue treats this knowledge base (defaults: 1339's).
    #[serde(default)]
    pub settings: KbSettings,
    /// `[texts]`: the dialogue's own replies for this hotline (defaults: 1339's).
    #[serde(default)]
    pub texts: KbTexts,
    #[serde(rename = "entry", default)]
    pub entries: Vec<Entry>,
    #[serde(rename = "action", default)]
    pub actions: Vec<Action>,
    /// The sentences of `[settings] not_questions`, read by [`KnowledgeBase::load`]
    /// (left empty by [`KnowledgeBase::parse`], which reads nothing).
    #[serde(skip)]
    pub not_questions: Vec<String>,
    /// The sentences of `[settings] emergencies`, read like `not_questions`.
    #[serde(skip)]
    pub emergencies: Vec<String>,
    /// The sentences of `[settings] agent_requests`, read like `not_questions`.
    #[serde(skip)]
    pub agent_requests: Vec<String>,
    /// The sentences of `[settings] self_harm`, read like `not_questions`.
    #[serde(skip)]
    pub self_harm: Vec<String>,
}

/// A `[settings] not_questions`, `emergencies` or `agent_requests` file:
/// `sentences = [...]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sentences {
    sentences: Vec<String>,
}

/// A `[settings] more_questions` file: `[[topic]]` tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoreQuestions {
    topic: Vec<TopicQuestions>,
}

/// More ways callers ask about the entry `id`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicQuestions {
    id: Spanned<String>,
    questions: Spanned<Vec<String>>,
}

/// What a knowledge base says about itself, for a hotline other than 1339.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KbSettings {
    /// A topic is answered only when the caller's words include a health
    /// word or the match is strong ([`super::domain`]); otherwise "not a
    /// health question". Off for a hotline that is not about health.
    pub health_gate: bool,
    /// Entry ids this file must keep (code, tests and records refer to
    /// them). Unset: the 32 of 1339's first release ([`REQUIRED_IDS`]).
    pub required_ids: Option<Vec<String>>,
    /// A file (relative to this one) of things people say that are no
    /// question for this line (`sentences = [...]`). With embeddings, an
    /// utterance that reads more like one of them than like any question
    /// gets no answer on a health word alone ([`crate::kb::index`]).
    pub not_questions: Option<String>,
    /// A file (relative to this one) of emergencies as callers describe them
    /// (`sentences = [...]`). With embeddings, an utterance that reads more
    /// like one of them than like any question or `not_questions` sentence
    /// gets 119 advice and "is it an emergency?" before any topic
    /// ([`crate::kb::index::Router::possible_emergency`]).
    pub emergencies: Option<String>,
    /// A file (relative to this one) of requests for a person as callers
    /// make them (`sentences = [...]`). With embeddings, an utterance no
    /// rule caught that reads more like one of them than like any question
    /// or `not_questions` sentence is put through, in a way the caller can
    /// talk over ([`crate::kb::index::Router::possible_agent`]).
    pub agent_requests: Option<String>,
    /// A file (relative to this one) of callers in a suicide or self-harm
    /// crisis as they tell it, of themselves or of someone near them
    /// (`sentences = [...]`). With embeddings and a `self-harm` action, an
    /// utterance no rule caught that reads more like one of them than like
    /// any question, `not_questions` or `agent_requests` sentence gets that
    /// action's reply ([`crate::kb::index::Router::self_harm`]).
    pub self_harm: Option<String>,
    /// A file (relative to this one) of more ways callers ask about each
    /// topic (`[[topic]] id = "…" questions = [...]`), read into each
    /// entry's `more_questions`: retrieval matches callers against them as
    /// against the entry's own questions. Keeps the entries short to review.
    pub more_questions: Option<String>,
}

impl Default for KbSettings {
    fn default() -> Self {
        KbSettings {
            health_gate: true,
            required_ids: None,
            not_questions: None,
            emergencies: None,
            agent_requests: None,
            self_harm: None,
            more_questions: None,
        }
    }
}

/// The dialogue's fixed replies that name the hotline or its topics; each
/// unset one is 1339's ([`crate::dialog::brain`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KbTexts {
    /// Nothing matched: ask the caller to say it again.
    pub clarify: Option<Spanned<String>>,
    /// The health gate found no health word: what this hotline is for.
    pub not_topic: Option<Spanned<String>>,
    /// The caller closed the conversation (감사합니다).
    pub goodbye: Option<Spanned<String>>,
    /// The caller told only a common symptom ("열이 나요"): what would point
    /// to a topic, asked for, with when to see a doctor. Unset: no such
    /// question ([`crate::dialog::symptom`]; a hotline not about health).
    pub symptom: Option<Spanned<String>>,
}

/// One topic a caller may ask about.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub id: Spanned<String>,
    pub title: Spanned<String>,
    /// Ways a caller might ask (spoken Korean, with spacing and STT slips).
    pub questions: Spanned<Vec<String>>,
    /// Short distinctive terms that help retrieval.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Whether a question needs a health word to be answered with this entry
    /// (`[settings] health_gate`); false for a topic about the line itself
    /// ("밤에도 전화 받아요?" names nothing about health).
    #[serde(default = "gated")]
    pub health_gate: bool,
    /// More ways callers ask, from `[settings] more_questions` (read by
    /// [`KnowledgeBase::load`]; empty after [`KnowledgeBase::parse`]).
    #[serde(skip)]
    pub more_questions: Vec<String>,
    /// Read out on the phone: at most [`MAX_SPOKEN_SENTENCES`] sentences.
    pub spoken: Spanned<String>,
    /// Longer grounding text.
    pub answer: Spanned<String>,
    pub source_name: Spanned<String>,
    pub source_url: Spanned<String>,
    /// YYYY-MM-DD.
    pub reviewed: Spanned<String>,
}

fn gated() -> bool {
    true
}

/// A route decided before topic retrieval.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub id: Spanned<String>,
    /// Emergency / human-agent: patterns matched on the space-stripped
    /// utterance (`*` stands for up to [`crate::kb::index::MAX_GAP`]
    /// characters). Out-of-scope: example requests that compete in retrieval.
    pub triggers: Spanned<Vec<String>>,
    /// Out-of-scope only: short terms weighted like an entry's keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Emergency only: patterns (as `triggers`) for what may be an emergency
    /// or a figure of speech ("죽을 것 같아요"): 119 advice and a question
    /// ([`crate::kb::index::Router::possible_emergency`]).
    #[serde(default)]
    pub checks: Vec<String>,
    /// Emergency only: words that alone say something may be wrong ("구급",
    /// "마비"), what survives when the recogniser lost part of a trigger:
    /// when nothing else was understood, 119 advice and a question instead
    /// of a bare "please say it again" ([`crate::kb::distress`]).
    #[serde(default)]
    pub distress: Vec<String>,
    /// Emergency only: words of an accident ("굴러", "끓는물", "감전"): told
    /// with a `grave_signs` word in one turn, 119 advice and a question
    /// ([`crate::kb::accident`]).
    #[serde(default)]
    pub accidents: Vec<String>,
    /// Emergency only: words of a grave sign ("토하", "정신이오락",
    /// "살이벗겨"), read only with an `accidents` word.
    #[serde(default)]
    pub grave_signs: Vec<String>,
    /// Out-of-scope only: where a kind of request belongs instead, said in
    /// place of `spoken` when one of its words was heard
    /// ([`crate::kb::referral`]).
    #[serde(default)]
    pub referrals: Vec<Referral>,
    pub spoken: Spanned<String>,
    #[serde(default)]
    pub source_name: Option<Spanned<String>>,
    #[serde(default)]
    pub source_url: Option<Spanned<String>>,
}

/// Where one kind of request that is not the line's job belongs ("여권",
/// "등본" → the district office): its words also mark a request as
/// out of scope in retrieval, like the action's keywords.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    /// Words that name the kind of request, matched with spaces ignored.
    pub words: Spanned<Vec<String>>,
    /// What sori says instead of the out-of-scope action's `spoken`.
    pub spoken: Spanned<String>,
    #[serde(default)]
    pub source_name: Option<Spanned<String>>,
    #[serde(default)]
    pub source_url: Option<Spanned<String>>,
}

type Check = Result<(), (Range<usize>, String)>;

impl KnowledgeBase {
    pub fn load(path: &Path) -> Result<KnowledgeBase, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut kb = Self::parse(path, &text)?;
        // A settings file named relative to this one: its path and text.
        let read_beside = |name: &str| -> Result<(std::path::PathBuf, String), ConfigError> {
            let file = path.parent().unwrap_or(Path::new("")).join(name);
            let text =
                std::fs::read_to_string(&file).map_err(|source| ConfigError::Read { path: file.clone(), source })?;
            Ok((file, text))
        };
        let beside = |name: &Option<String>| -> Result<Vec<String>, ConfigError> {
            let Some(name) = name else { return Ok(Vec::new()) };
            let (file, text) = read_beside(name)?;
            Ok(parse_toml::<Sentences>(&file, &text)?.sentences)
        };
        kb.not_questions = beside(&kb.settings.not_questions)?;
        kb.emergencies = beside(&kb.settings.emergencies)?;
        kb.agent_requests = beside(&kb.settings.agent_requests)?;
        kb.self_harm = beside(&kb.settings.self_harm)?;
        if let Some(name) = kb.settings.more_questions.clone() {
            let (file, text) = read_beside(&name)?;
            kb.add_more_questions(&file, &text)?;
        }
        Ok(kb)
    }

    /// Adds a `[settings] more_questions` file's questions (`text`, read
    /// from `file`) to their entries; an unknown id or an empty question is
    /// an error naming its line.
    fn add_more_questions(&mut self, file: &Path, text: &str) -> Result<(), ConfigError> {
        let error = |span: Range<usize>, message: String| {
            let (line, col) = line_col(text, span.start);
            ConfigError::Syntax { path: file.to_path_buf(), line, col, message }
        };
        for topic in parse_toml::<MoreQuestions>(file, text)?.topic {
            let Some(entry) = self.entries.iter_mut().find(|e| e.id.get_ref() == topic.id.get_ref()) else {
                return Err(error(topic.id.span(), format!("no [[entry]] has id {:?}", topic.id.get_ref())));
            };
            if topic.questions.get_ref().iter().any(|q| q.trim().is_empty()) {
                return Err(error(topic.questions.span(), "a question is empty".to_string()));
            }
            entry.more_questions.extend(topic.questions.into_inner());
        }
        Ok(())
    }

    pub fn parse(path: &Path, text: &str) -> Result<KnowledgeBase, ConfigError> {
        let kb: KnowledgeBase = parse_toml(path, text)?;
        if let Err((span, message)) = kb.check(text.len()) {
            let (line, col) = line_col(text, span.start);
            return Err(ConfigError::Syntax { path: path.to_path_buf(), line, col, message });
        }
        Ok(kb)
    }

    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id.get_ref() == id)
    }

    pub fn action(&self, id: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.id.get_ref() == id)
    }

    /// Semantic checks; returns the span of the first bad value. `end` is the
    /// text length, where a missing table is reported (that is where an
    /// operator would add it).
    fn check(&self, end: usize) -> Check {
        let mut seen = HashSet::new();
        for e in &self.entries {
            check_id(&e.id)?;
            if !seen.insert(e.id.get_ref().as_str()) {
                return Err((e.id.span(), format!("duplicate id {:?}", e.id.get_ref())));
            }
            non_empty(&e.title, "title")?;
            let qs = e.questions.get_ref();
            if qs.len() < MIN_QUESTIONS {
                return Err((
                    e.questions.span(),
                    format!("entry {:?} has {} questions; give at least {MIN_QUESTIONS}", e.id.get_ref(), qs.len()),
                ));
            }
            if qs.iter().any(|q| q.trim().is_empty()) {
                return Err((e.questions.span(), "questions must not be empty strings".into()));
            }
            if e.keywords.iter().any(|k| k.trim().is_empty()) {
                return Err((e.id.span(), format!("entry {:?} has an empty keyword", e.id.get_ref())));
            }
            check_spoken(&e.spoken)?;
            non_empty(&e.answer, "answer")?;
            non_empty(&e.source_name, "source_name")?;
            check_url(&e.source_url)?;
            if !is_date(e.reviewed.get_ref()) {
                return Err((
                    e.reviewed.span(),
                    format!("reviewed {:?} must be a date written YYYY-MM-DD", e.reviewed.get_ref()),
                ));
            }
        }
        for a in &self.actions {
            let id = a.id.get_ref();
            if !KNOWN_ACTION_IDS.contains(&id.as_str()) {
                return Err((a.id.span(), format!("unknown action {id:?} (known: {})", KNOWN_ACTION_IDS.join(", "))));
            }
            if !seen.insert(id.as_str()) {
                return Err((a.id.span(), format!("duplicate id {id:?}")));
            }
            let triggers = a.triggers.get_ref();
            if triggers.is_empty() {
                return Err((a.triggers.span(), format!("action {id:?} needs at least one trigger")));
            }
            for t in triggers {
                let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
                if compact.is_empty() || compact.starts_with('*') || compact.ends_with('*') || compact.contains("**") {
                    return Err((
                        a.triggers.span(),
                        format!("trigger {t:?}: must be non-empty and may use '*' only between words"),
                    ));
                }
            }
            if a.keywords.iter().any(|k| k.trim().is_empty()) {
                return Err((a.id.span(), format!("action {id:?} has an empty keyword")));
            }
            check_spoken(&a.spoken)?;
            if let Some(n) = &a.source_name {
                non_empty(n, "source_name")?;
            }
            if let Some(u) = &a.source_url {
                check_url(u)?;
            }
            if let Some(r) = a.referrals.first().filter(|_| id != OUT_OF_SCOPE) {
                return Err((r.words.span(), format!("action {id:?}: only out-of-scope has referrals")));
            }
            for r in &a.referrals {
                let short = |w: &String| super::index::compact(w).chars().count() < 2;
                if r.words.get_ref().is_empty() || r.words.get_ref().iter().any(short) {
                    return Err((r.words.span(), "a referral needs words of two letters or more".into()));
                }
                check_spoken(&r.spoken)?;
                match (&r.source_name, &r.source_url) {
                    (Some(n), Some(u)) => {
                        non_empty(n, "source_name")?;
                        check_url(u)?;
                    }
                    (None, None) => {}
                    _ => return Err((r.spoken.span(), "a referral names source_name and source_url together".into())),
                }
            }
        }
        let t = &self.texts;
        for t in [&t.clarify, &t.not_topic, &t.goodbye, &t.symptom].into_iter().flatten() {
            check_spoken(t)?;
        }
        let required: Vec<&str> = match &self.settings.required_ids {
            Some(ids) => ids.iter().map(String::as_str).collect(),
            None => REQUIRED_IDS.to_vec(),
        };
        for id in required {
            if self.entry(id).is_none() {
                return Err((end..end, format!("required entry id {id:?} is missing; add an [[entry]] with this id")));
            }
        }
        for id in ACTION_IDS {
            if self.action(id).is_none() {
                return Err((end..end, format!("required [[action]] {id:?} is missing")));
            }
        }
        Ok(())
    }
}

fn check_id(id: &Spanned<String>) -> Check {
    let s = id.get_ref();
    let ok = !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err((id.span(), format!("id {s:?} must be lowercase ASCII letters, digits and '-'")))
    }
}

fn non_empty(s: &Spanned<String>, what: &str) -> Check {
    if s.get_ref().trim().is_empty() {
        Err((s.span(), format!("{what} is empty")))
    } else {
        Ok(())
    }
}

fn check_spoken(s: &Spanned<String>) -> Check {
    non_empty(s, "spoken")?;
    let n = sentence_count(s.get_ref());
    if n > MAX_SPOKEN_SENTENCES {
        return Err((s.span(), format!("spoken has {n} sentences; keep it to {MAX_SPOKEN_SENTENCES}")));
    }
    if s.get_ref().contains("://") || s.get_ref().contains("www.") {
        return Err((s.span(), "spoken must not read a URL aloud".into()));
    }
    Ok(())
}

fn check_url(u: &Spanned<String>) -> Check {
    let s = u.get_ref();
    match s.strip_prefix("https://") {
        Some(rest) if !rest.is_empty() && !s.contains(char::is_whitespace) => Ok(()),
        _ => Err((u.span(), format!("source_url {s:?} must be an https:// address"))),
    }
}

/// Sentences in `text`: runs ended by `.`, `?`, `!` or `。` followed by
/// whitespace or the end (so "1577-1000" or "3.5" do not split).
pub fn sentence_count(text: &str) -> usize {
    let chars: Vec<char> = text.chars().collect();
    let mut count = 0;
    let mut open = false;
    for (i, &c) in chars.iter().enumerate() {
        let ends = matches!(c, '.' | '?' | '!' | '。') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        if ends {
            if open {
                count += 1;
                open = false;
            }
        } else if !c.is_whitespace() && !matches!(c, '.' | '?' | '!' | '。') {
            open = true;
        }
    }
    count + usize::from(open)
}

/// A real calendar date written YYYY-MM-DD.
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: Range<usize>| s.get(r).filter(|p| p.bytes().all(|c| c.is_ascii_digit())).and_then(|p| p.parse().ok());
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days: u32 = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../kb/1339.toml");

    fn parse(text: &str) -> Result<KnowledgeBase, String> {
        KnowledgeBase::parse(Path::new("kb.toml"), text).map_err(|e| e.to_string())
    }

    fn line_of(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).expect("needle in text") + 1
    }

    #[test]
    fn shipped_kb_loads_and_validates() {
        let kb = parse(SHIPPED).expect("shipped kb is valid");
        for id in REQUIRED_IDS {
            let e = kb.entry(id).expect(id);
            assert!(e.questions.get_ref().len() >= MIN_QUESTIONS, "{id}");
            assert!(sentence_count(e.spoken.get_ref()) <= MAX_SPOKEN_SENTENCES, "{id}");
            assert_eq!(e.reviewed.get_ref(), "2026-11-27", "{id}");
        }
        for id in ACTION_IDS {
            assert!(kb.action(id).is_some(), "{id}");
        }
        let emergency = kb.action(EMERGENCY).expect("emergency");
        assert!(emergency.spoken.get_ref().contains("119"));
    }

    #[test]
    fn shipped_kb_loads_from_disk() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("kb/1339.toml");
        if path.exists() {
            KnowledgeBase::load(&path).expect("kb/1339.toml loads");
        }
        let e = KnowledgeBase::load(Path::new("/nonexistent/kb.toml")).unwrap_err().to_string();
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn not_questions_and_emergencies_are_read_beside_the_knowledge_base() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kb");
        let kb = KnowledgeBase::load(&dir.join("1339.toml")).expect("shipped kb");
        assert!(kb.not_questions.len() >= 100, "{}", kb.not_questions.len());
        assert!(kb.emergencies.len() >= 100, "{}", kb.emergencies.len());
        assert!(kb.agent_requests.len() >= 100, "{}", kb.agent_requests.len());
        assert!(kb.self_harm.len() >= 200, "{}", kb.self_harm.len());
        assert!(kb.action(SELF_HARM).is_some_and(|a| a.spoken.get_ref().contains("109")));
        assert!(parse(SHIPPED).expect("parses").not_questions.is_empty(), "parse reads no file");
        let tmp = tempfile::tempdir().expect("tmp");
        let bad = SHIPPED.replacen("not_questions = \"not-questions.toml\"", "not_questions = \"missing.toml\"", 1);
        std::fs::write(tmp.path().join("kb.toml"), bad).expect("write");
        let e = KnowledgeBase::load(&tmp.path().join("kb.toml")).unwrap_err().to_string();
        assert!(e.contains("missing.toml") && e.contains("cannot read"), "{e}");
    }

    #[test]
    fn more_questions_are_read_into_their_entries_and_copy_no_heldout_case() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kb");
        let kb = KnowledgeBase::load(&dir.join("1339.toml")).expect("shipped kb");
        for e in &kb.entries {
            assert!(e.more_questions.len() >= 20, "{}: {}", e.id.get_ref(), e.more_questions.len());
        }
        let compact = |q: &str| crate::kb::index::compact(q);
        let more: HashSet<String> = kb.entries.iter().flat_map(|e| &e.more_questions).map(|q| compact(q)).collect();
        let mut sets = 0;
        for file in std::fs::read_dir(&dir).expect("kb/") {
            let path = file.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if !(name.starts_with("heldout") || name == "dev-safety.toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            for c in crate::kb::heldout::parse(&text).expect("held-out set parses") {
                assert!(!more.contains(&compact(&c.q)), "{name}: copied into more_questions: {}", c.q);
            }
            sets += 1;
        }
        assert!(sets >= 6, "{sets} held-out sets checked");
        let tmp = tempfile::tempdir().expect("tmp");
        for f in ["not-questions.toml", "emergencies.toml", "agent-requests.toml", "self-harm.toml"] {
            std::fs::copy(dir.join(f), tmp.path().join(f)).expect("copy");
        }
        std::fs::write(tmp.path().join("kb.toml"), SHIPPED).expect("write");
        let more = "[[topic]]\nid = \"measles\"\nquestions = [\"홍역 주사 어디서요\"]\n\n[[topic]]\nid = \"no-such-topic\"\nquestions = [\"x\"]\n";
        std::fs::write(tmp.path().join("more-questions.toml"), more).expect("write");
        let e = KnowledgeBase::load(&tmp.path().join("kb.toml")).unwrap_err().to_string();
        assert!(e.contains("more-questions.toml:6:") && e.contains("no [[entry]] has id \"no-such-topic\""), "{e}");
        let more = "[[topic]]\nid = \"measles\"\nquestions = [\"홍역 주사 어디서요\", \" \"]\n";
        std::fs::write(tmp.path().join("more-questions.toml"), more).expect("write");
        let e = KnowledgeBase::load(&tmp.path().join("kb.toml")).unwrap_err().to_string();
        assert!(e.contains("more-questions.toml:3:") && e.contains("a question is empty"), "{e}");
    }

    #[test]
    fn missing_required_id_names_a_line() {
        let bad = SHIPPED.replacen("id = \"sfts\"", "id = \"sfts-renamed\"", 1);
        let e = parse(&bad).unwrap_err();
        let last = bad.lines().count();
        assert!(e.starts_with("kb.toml:") && e.contains("required entry id \"sfts\" is missing"), "{e}");
        let line: usize = e.split(':').nth(1).and_then(|l| l.parse().ok()).expect("line number");
        assert!(line >= last, "reported at the end of the file, where it would be added: {e}");
    }

    #[test]
    fn bad_source_url_names_its_line() {
        let bad =
            SHIPPED.replacen("source_url = \"https://ncov.kdca.go.kr\"", "source_url = \"http://ncov.kdca.go.kr\"", 1);
        let e = parse(&bad).unwrap_err();
        let line = line_of(&bad, "http://ncov");
        assert!(e.starts_with(&format!("kb.toml:{line}:")), "{e}");
        assert!(e.contains("https://"), "{e}");
    }

    #[test]
    fn duplicate_id_names_the_second_one() {
        let bad = SHIPPED.replacen("id = \"mpox\"", "id = \"measles\"", 1);
        let e = parse(&bad).unwrap_err();
        let line = bad.lines().enumerate().filter(|(_, l)| l.contains("id = \"measles\"")).nth(1).expect("two").0 + 1;
        assert!(e.starts_with(&format!("kb.toml:{line}:")) && e.contains("duplicate id"), "{e}");
    }

    #[test]
    fn long_spoken_answer_is_rejected() {
        let bad = SHIPPED.replacen(
            "spoken = \"상담원에게 연결해 드리겠습니다. 잠시만 기다려 주세요.\"",
            "spoken = \"상담원에게 연결해 드리겠습니다. 잠시만 기다려 주세요. 정말 잠시만요. 곧 연결됩니다.\"",
            1,
        );
        let e = parse(&bad).unwrap_err();
        let line = line_of(&bad, "곧 연결됩니다");
        assert!(e.starts_with(&format!("kb.toml:{line}:")) && e.contains("4 sentences"), "{e}");
    }

    #[test]
    fn too_few_questions_and_bad_dates_are_rejected() {
        let start = SHIPPED.find("questions = [\n  \"엠폭스가 뭐예요\"").expect("mpox questions");
        let end = start + SHIPPED[start..].find(']').expect("end of list") + 1;
        let bad = format!("{}questions = [\"엠폭스가 뭐예요\"]{}", &SHIPPED[..start], &SHIPPED[end..]);
        let e = parse(&bad).unwrap_err();
        assert!(e.contains("has 1 questions"), "{e}");

        let bad = SHIPPED.replacen("reviewed = \"2026-11-27\"", "reviewed = \"2026-13-01\"", 1);
        let e = parse(&bad).unwrap_err();
        assert!(e.starts_with(&format!("kb.toml:{}:", line_of(&bad, "2026-13-01"))), "{e}");
    }

    #[test]
    fn unknown_field_is_a_syntax_error_with_line() {
        let bad = SHIPPED.replacen("keywords = [\"홍역\"", "keyword = [\"홍역\"", 1);
        let e = parse(&bad).unwrap_err();
        assert!(e.starts_with(&format!("kb.toml:{}:", line_of(&bad, "keyword = [\"홍역\""))), "{e}");
    }

    #[test]
    fn sentences_are_counted_at_terminal_punctuation() {
        assert_eq!(sentence_count("하나입니다. 둘입니다? 셋!"), 3);
        assert_eq!(sentence_count("국민건강보험공단 1577-1000에 문의하세요."), 1);
        assert_eq!(sentence_count("3.5도입니다. 그렇습니다..."), 2);
        assert_eq!(sentence_count(""), 0);
    }

    #[test]
    fn dates_must_exist() {
        assert!(is_date("2026-11-27"));
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2026-02-29"));
        assert!(!is_date("2026-1-27"));
        assert!(!is_date("27-11-2026"));
    }
}
