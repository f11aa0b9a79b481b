//! Several hotlines on one server (`[[hotline]]` in sori.toml): each has its
//! own dialled numbers, dialplan, knowledge base and voice. A call goes to
//! the hotline whose numbers hold the Request-URI's user part, else the To
//! header's, else the one listing `"*"`; no hotline → 404. Without
//! `[[hotline]]`, one implicit hotline from `[dialplan]`, `[kb]` and `[tts]`
//! answers every number (named after its dialplan file, e.g. "1339").
//!
//! The selection ([`select`], [`dialed`]) and the configuration checks
//! ([`validate`]) are pure; [`load`] reads the files and renders prompts.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;

use crate::config::{Config, TtsConfig};
use crate::dialog::brain::Brain;
use crate::dialog::plan::Dialplan;
use crate::kb::KnowledgeBase;
use crate::tts::prompts::{render_all, PromptSet};
use crate::tts::Tts;

/// `[[hotline]]`: one hotline this server answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotlineConfig {
    /// Label in call records, metrics and the API (`?hotline=`): ASCII
    /// letters, digits, '.', '_' and '-'.
    pub name: String,
    /// Dialled user parts that reach it ("1339", "02-120" = "02120");
    /// `"*"`: any number no other hotline lists.
    pub numbers: Vec<String>,
    /// Its dialplan file (relative to sori.toml).
    pub dialplan: PathBuf,
    /// Its knowledge base file (relative to sori.toml).
    pub kb: PathBuf,
    /// `[hotline.tts]`: its voice, each key over `[tts]`.
    #[serde(default)]
    pub tts: Option<TtsOverride>,
    /// Whether `[llm]` rephrases its answers (default true). The model's
    /// persona (`llm::prompt`) is 1339's: other lines stay retrieval-only.
    #[serde(default = "yes")]
    pub llm: bool,
}

fn yes() -> bool {
    true
}

/// Voice settings of one hotline; unset keys are `[tts]`'s.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TtsOverride {
    pub engine: Option<String>,
    pub model: Option<PathBuf>,
    pub voice: Option<String>,
    pub rate: Option<u32>,
}

impl HotlineConfig {
    /// Its voice: `[tts]` with this hotline's keys over it.
    pub fn tts_config(&self, base: &TtsConfig) -> TtsConfig {
        let mut t = base.clone();
        if let Some(o) = &self.tts {
            if let Some(e) = &o.engine {
                t.engine = e.clone();
            }
            if let Some(m) = &o.model {
                t.model = m.clone();
            }
            if let Some(v) = &o.voice {
                t.voice = v.clone();
            }
            if let Some(r) = o.rate {
                t.rate = r;
            }
        }
        t
    }

    /// Makes its relative paths relative to the config file's directory.
    pub fn resolve_paths(&mut self, base: &Path) {
        let model = self.tts.as_mut().and_then(|t| t.model.as_mut());
        for p in [Some(&mut self.dialplan), Some(&mut self.kb), model].into_iter().flatten() {
            if !p.as_os_str().is_empty() && p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// The hotlines a configuration describes: its `[[hotline]]`s, or the
/// implicit one (`[dialplan]`, `[kb]`, `[tts]`, every number).
pub fn specs(cfg: &Config) -> Vec<HotlineConfig> {
    if !cfg.hotline.is_empty() {
        return cfg.hotline.clone();
    }
    let name = cfg.dialplan.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    vec![HotlineConfig {
        name: if valid_name(&name) { name } else { "default".into() },
        numbers: vec![ANY.into()],
        dialplan: cfg.dialplan.path.clone(),
        kb: cfg.kb.path.clone(),
        tts: None,
        llm: true,
    }]
}

/// The hotline named `name` (the first when None); an unknown name is an
/// error that lists the known ones.
pub fn spec_named(cfg: &Config, name: Option<&str>) -> Result<HotlineConfig, String> {
    let all = specs(cfg);
    match name {
        None => Ok(all[0].clone()),
        Some(n) => all.iter().find(|h| h.name == n).cloned().ok_or_else(|| {
            let known: Vec<&str> = all.iter().map(|h| h.name.as_str()).collect();
            format!("no hotline named {n:?} (known: {})", known.join(", "))
        }),
    }
}

/// The number that stands for any number.
pub const ANY: &str = "*";

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A dialled number as compared: visual separators ("-", ".", "(", ")",
/// spaces) dropped, so "02-120" and "02120" are the same number.
pub fn normalize(number: &str) -> String {
    number.chars().filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' ' | '\t')).collect()
}

/// The user part of a `sip:`/`sips:`/`tel:` URI, normalised: "sip:1339@host;x"
/// → "1339", "tel:+82-2-120;phone-context=…" → "+822120". None without one.
pub fn dialed(uri: &str) -> Option<String> {
    let uri = uri.trim().trim_start_matches('<').trim_end_matches('>');
    let (scheme, rest) = uri.split_once(':')?;
    let user = match scheme.to_ascii_lowercase().as_str() {
        "sip" | "sips" => {
            let (user, _host) = rest.split_once('@')?;
            // "user:password" and user parameters ("1339;npdi") are not the number.
            user.split([':', ';']).next().unwrap_or("")
        }
        "tel" => rest.split(';').next().unwrap_or(""),
        _ => return None,
    };
    Some(normalize(user)).filter(|u| !u.is_empty())
}

/// Which hotline answers: the first whose (normalised) numbers hold the
/// Request-URI's user, else the To header's user (a PBX may rewrite the
/// Request-URI to its registered contact), else the first listing `"*"`.
pub fn select(numbers: &[Vec<String>], request_user: Option<&str>, to_user: Option<&str>) -> Option<usize> {
    let find = |user: &str| numbers.iter().position(|ns| ns.iter().any(|n| n != ANY && *n == user));
    request_user
        .and_then(find)
        .or_else(|| to_user.and_then(find))
        .or_else(|| numbers.iter().position(|ns| ns.iter().any(|n| n == ANY)))
}

/// Checks `[[hotline]]` entries (names, numbers, files named, voices);
/// errors name the hotline and the key.
pub fn validate(list: &[HotlineConfig], base_tts: &TtsConfig) -> Result<(), String> {
    let mut names: Vec<&str> = Vec::new();
    let mut numbers: Vec<(String, &str)> = Vec::new();
    for (i, h) in list.iter().enumerate() {
        let at = format!("hotline[{i}] {:?}", h.name);
        if !valid_name(&h.name) {
            return Err(format!("{at}: name must be 1-64 ASCII letters, digits, '.', '_' or '-'"));
        }
        if names.contains(&h.name.as_str()) {
            return Err(format!("{at}: name is used by another [[hotline]]"));
        }
        names.push(&h.name);
        if h.numbers.is_empty() {
            return Err(format!("{at}: numbers is empty; list the dialled numbers (or \"*\" for any)"));
        }
        for n in &h.numbers {
            let norm = normalize(n);
            if norm.is_empty() || norm.contains(['@', ':', ';', '<', '>']) {
                return Err(format!("{at}: numbers: {n:?} is not a dialled number (e.g. \"1339\" or \"*\")"));
            }
            if let Some((_, other)) = numbers.iter().find(|(m, _)| *m == norm) {
                return Err(format!("{at}: numbers: {n:?} is also hotline {other:?}'s"));
            }
            numbers.push((norm, &h.name));
        }
        if h.dialplan.as_os_str().is_empty() {
            return Err(format!("{at}: dialplan is missing (a dialplan file)"));
        }
        if h.kb.as_os_str().is_empty() {
            return Err(format!("{at}: kb is missing (a knowledge base file)"));
        }
        let tts = h.tts_config(base_tts);
        match tts.engine.as_str() {
            "espeak-ng" => {}
            "piper" if tts.model.as_os_str().is_empty() => {
                return Err(format!("{at}: tts.engine = \"piper\" needs tts.model (a Piper .onnx voice)"))
            }
            "piper" => {}
            e => return Err(format!("{at}: tts.engine {e:?} is not available (known: espeak-ng, piper)")),
        }
        if !(80..=450).contains(&tts.rate) {
            return Err(format!("{at}: tts.rate must be 80..=450 words per minute"));
        }
    }
    Ok(())
}

/// One hotline, ready to answer: read-only after start-up.
pub struct Hotline {
    pub name: String,
    /// Normalised dialled numbers (`"*"`: any).
    pub numbers: Vec<String>,
    pub plan: Arc<Dialplan>,
    /// Its prompts, knowledge-base answers and fixed replies, rendered in its voice.
    pub prompts: PromptSet,
    pub brain: Arc<Brain>,
    /// Its own voice for replies made during calls; None: `[tts]`'s (the
    /// speech engines').
    pub tts: Option<Arc<dyn Tts>>,
    /// `[llm]` rephrases its answers (else retrieval-only).
    pub llm: bool,
    /// Calls offered to it.
    pub calls: AtomicU64,
}

/// Every hotline of this server, in configuration order (the first is the
/// API's default).
pub struct Hotlines {
    list: Vec<Arc<Hotline>>,
    /// Calls to a number no hotline answers (404).
    pub not_found: AtomicU64,
}

impl Hotlines {
    pub fn new(list: Vec<Arc<Hotline>>) -> Hotlines {
        assert!(!list.is_empty(), "a server has at least one hotline");
        Hotlines { list, not_found: AtomicU64::new(0) }
    }

    /// The first hotline: the API's when none is named.
    pub fn first(&self) -> &Arc<Hotline> {
        &self.list[0]
    }

    pub fn all(&self) -> &[Arc<Hotline>] {
        &self.list
    }

    /// The hotline an INVITE to `request_uri` (with this To URI) reaches.
    pub fn for_call(&self, request_uri: &str, to_uri: &str) -> Option<&Arc<Hotline>> {
        let numbers: Vec<Vec<String>> = self.list.iter().map(|h| h.numbers.clone()).collect();
        let i = select(&numbers, dialed(request_uri).as_deref(), dialed(to_uri).as_deref())?;
        self.list.get(i)
    }

    /// The hotline named `name`, or the first when None; an unknown name is
    /// an error that lists the known ones.
    pub fn named(&self, name: Option<&str>) -> Result<&Arc<Hotline>, String> {
        let Some(name) = name.filter(|n| !n.is_empty()) else { return Ok(self.first()) };
        self.list.iter().find(|h| h.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.list.iter().map(|h| h.name.as_str()).collect();
            format!("no hotline named {name:?} (known: {})", known.join(", "))
        })
    }

    /// `sori_hotline_calls_total{hotline=…}` and `sori_calls_not_found_total`.
    pub fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let mut s = String::from(
            "# HELP sori_hotline_calls_total Calls offered, by the hotline their dialled number reached.\n\
             # TYPE sori_hotline_calls_total counter\n",
        );
        for h in &self.list {
            let _ = writeln!(s, "sori_hotline_calls_total{{hotline=\"{}\"}} {}", h.name, h.calls.load(Relaxed));
        }
        let _ = writeln!(
            s,
            "# HELP sori_calls_not_found_total Calls to a number no hotline answers (404).\n\
             # TYPE sori_calls_not_found_total counter\nsori_calls_not_found_total {}",
            self.not_found.load(Relaxed)
        );
        s
    }
}

/// Reads every hotline's dialplan and knowledge base, builds its router
/// (`embeddings`: `[kb] embeddings`, or "none" for lexical) and renders its
/// prompts in its voice. Errors name the hotline and the file.
pub fn load(cfg: &Config, embeddings: &str) -> anyhow::Result<Hotlines> {
    let specs = specs(cfg);
    let mut kbs = Vec::new();
    for s in &specs {
        let kb = KnowledgeBase::load(&s.kb).with_context(|| format!("hotline {:?}: knowledge base", s.name))?;
        kbs.push(kb);
    }
    let routers = crate::kb::routers(&kbs.iter().collect::<Vec<_>>(), embeddings);
    let mut list = Vec::new();
    let mut overridden = std::collections::BTreeSet::new();
    for ((spec, kb), router) in specs.into_iter().zip(kbs).zip(routers) {
        let brain = Brain::with_router(kb, router);
        let tts_cfg = spec.tts_config(&cfg.tts);
        let tts: Arc<dyn Tts> = Arc::from(
            crate::tts::from_config(&tts_cfg).with_context(|| format!("hotline {:?}: its voice", spec.name))?,
        );
        let (mut plan, prompts) = plan_and_prompts(&spec.dialplan, &brain, tts.as_ref(), &tts_cfg.cache_dir)
            .with_context(|| format!("hotline {:?}", spec.name))?;
        for (name, uri) in &cfg.dialplan.transfers {
            if plan.set_transfer_uri(name, uri) {
                overridden.insert(name.clone());
                tracing::info!(hotline = %spec.name, transfer = %name, %uri, "transfer target from sori.toml");
            }
        }
        tracing::info!(hotline = %spec.name, numbers = ?spec.numbers, entries = brain.kb().entries.len(),
            voice = %tts.id(), "hotline ready");
        list.push(Arc::new(Hotline {
            name: spec.name,
            numbers: spec.numbers.iter().map(|n| normalize(n)).collect(),
            plan: Arc::new(plan),
            prompts,
            brain: Arc::new(brain),
            tts: spec.tts.is_some().then_some(tts),
            llm: spec.llm,
            calls: AtomicU64::new(0),
        }));
    }
    if let Some(name) = cfg.dialplan.transfers.keys().find(|n| !overridden.contains(*n)) {
        anyhow::bail!("dialplan.transfers.{name}: no dialplan has a transfer target named {name:?}");
    }
    Ok(Hotlines::new(list))
}

/// Loads a dialplan and renders its prompts, the knowledge base's spoken
/// answers and the dialogue's fixed replies (keyed by their text, so
/// retrieval answers play at once) and the engine-failure phrases.
pub fn plan_and_prompts(
    dialplan: &Path,
    brain: &Brain,
    tts: &dyn Tts,
    cache_dir: &Path,
) -> anyhow::Result<(Dialplan, PromptSet)> {
    let plan = Dialplan::load(dialplan)?;
    let mut list: Vec<(String, String)> = plan.prompts.iter().map(|(k, v)| (k.clone(), v.get_ref().clone())).collect();
    let kb = brain.kb();
    let texts = kb
        .entries
        .iter()
        .map(|e| e.spoken.get_ref().clone())
        .chain(kb.actions.iter().map(|a| a.spoken.get_ref().clone()))
        .chain(brain.texts().fixed());
    list.extend(texts.map(|t| (t.clone(), t)));
    // What a call says when its engines fail: rendered now, so it cannot fail then.
    use crate::dialog::trouble::{HOLD, SORRY, TRANSFER};
    list.extend([HOLD, SORRY, TRANSFER].map(|t| (t.to_string(), t.to_string())));
    let t = std::time::Instant::now();
    let (prompts, fresh) =
        render_all(tts, cache_dir, &list).with_context(|| format!("rendering prompts into {}", cache_dir.display()))?;
    tracing::info!(prompts = list.len(), rendered = fresh, ms = t.elapsed().as_millis() as u64, "prompts ready");
    Ok((plan, prompts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nums(list: &[&[&str]]) -> Vec<Vec<String>> {
        list.iter().map(|ns| ns.iter().map(|n| normalize(n)).collect()).collect()
    }

    #[test]
    fn the_dialled_user_part_is_read_from_sip_and_tel_uris() {
        assert_eq!(dialed("sip:1339@127.0.0.1:5060").as_deref(), Some("1339"));
        assert_eq!(dialed("<sips:02-120@pbx.example.kr;transport=tls>").as_deref(), Some("02120"));
        assert_eq!(dialed("SIP:1339;npdi@host").as_deref(), Some("1339"));
        assert_eq!(dialed("sip:alice:secret@host").as_deref(), Some("alice"));
        assert_eq!(dialed("tel:+82-2-120;phone-context=example.kr").as_deref(), Some("+822120"));
        for no_user in ["sip:127.0.0.1", "sip:@host", "mailto:a@b", "", "garbage"] {
            assert_eq!(dialed(no_user), None, "{no_user}");
        }
    }

    #[test]
    fn the_request_uri_wins_then_the_to_user_then_the_catch_all() {
        let n = nums(&[&["1339"], &["120", "02-120"]]);
        assert_eq!(select(&n, Some("1339"), Some("120")), Some(0));
        assert_eq!(select(&n, Some("02120"), None), Some(1));
        // A PBX rewrote the Request-URI to sori's contact; To keeps the number.
        assert_eq!(select(&n, Some("sori"), Some("120")), Some(1));
        assert_eq!(select(&n, None, Some("1339")), Some(0));
        // Unknown everywhere: nobody (404), unless a hotline takes any number.
        assert_eq!(select(&n, Some("9999"), Some("9999")), None);
        assert_eq!(select(&n, None, None), None);
        let n = nums(&[&["1339"], &["*"]]);
        assert_eq!(select(&n, Some("9999"), None), Some(1));
        assert_eq!(select(&n, Some("1339"), None), Some(0), "a listed number beats the catch-all");
        // "*" is never matched as a dialled "*".
        let n = nums(&[&["*"]]);
        assert_eq!(select(&n, Some("*"), None), Some(0));
    }

    fn hotline(name: &str, numbers: &[&str]) -> HotlineConfig {
        HotlineConfig {
            name: name.into(),
            numbers: numbers.iter().map(|s| s.to_string()).collect(),
            dialplan: "d.toml".into(),
            kb: "k.toml".into(),
            tts: None,
            llm: true,
        }
    }

    #[test]
    fn bad_hotline_entries_are_named() {
        let tts = TtsConfig::default();
        assert!(validate(&[hotline("1339", &["1339"]), hotline("city-120", &["120", "*"])], &tts).is_ok());
        let err = |list: &[HotlineConfig]| validate(list, &tts).unwrap_err();
        assert!(err(&[hotline("a b", &["1"])]).contains("name"));
        assert!(err(&[hotline("a", &["1"]), hotline("a", &["2"])]).contains("another"));
        assert!(err(&[hotline("a", &[])]).contains("numbers is empty"));
        let e = err(&[hotline("a", &["02-120"]), hotline("b", &["02120"])]);
        assert!(e.contains("hotline[1] \"b\"") && e.contains("\"a\"'s"), "{e}");
        assert!(err(&[hotline("a", &["sip:1@x"])]).contains("not a dialled number"));
        let mut h = hotline("a", &["1"]);
        h.kb = PathBuf::new();
        assert!(err(&[h]).contains("kb is missing"));
        let mut h = hotline("a", &["1"]);
        h.tts = Some(TtsOverride { rate: Some(20), ..Default::default() });
        assert!(err(&[h]).contains("tts.rate"));
        let mut h = hotline("a", &["1"]);
        h.tts = Some(TtsOverride { engine: Some("piper".into()), ..Default::default() });
        assert!(err(&[h]).contains("tts.model"));
    }

    #[test]
    fn a_hotline_voice_is_tts_with_its_keys_over_it() {
        let base = TtsConfig::default();
        let mut h = hotline("a", &["1"]);
        assert_eq!(h.tts_config(&base).rate, base.rate);
        h.tts = Some(TtsOverride { rate: Some(180), ..Default::default() });
        let t = h.tts_config(&base);
        assert_eq!((t.rate, t.voice.as_str(), t.cache_dir), (180, "ko", base.cache_dir));
    }

    #[test]
    fn the_example_city_line_answers_its_own_questions_not_as_1339() {
        use crate::dialog::brain::{Conversation, ReplyAction, GOODBYE, NOT_HEALTH};
        let kb = KnowledgeBase::parse(Path::new("kb/city-120.toml"), include_str!("../../kb/city-120.toml"))
            .expect("the example knowledge base validates");
        assert!(!kb.settings.health_gate);
        let plan = Dialplan::parse(Path::new("dialplan/city-120.toml"), include_str!("../../dialplan/city-120.toml"))
            .expect("the example dialplan validates");
        assert!(plan.prompt_text("greeting").is_some_and(|g| g.contains("시청 민원 안내")));
        let brain = Brain::new(kb);
        let ask = |q: &str| brain.respond(&mut Conversation::default(), q);
        for (q, id) in [
            ("여권 만들려면 뭐 가져가야 돼요", "passport"),
            ("등본 인터넷으로 뗄 수 있나요", "resident-registration-copy"),
            ("이사했는데 전입 신고는 언제까지 해요", "moving-in-report"),
            ("소파를 버리려고 하는데요", "bulky-waste"),
            ("주차 위반 과태료 고지서 받았어요", "parking-fine"),
        ] {
            let r = ask(q);
            assert_eq!((r.action, r.kb_id.as_deref()), (ReplyAction::Answer, Some(id)), "{q}: {r:?}");
        }
        // No health gate: a city question is never "not a health question".
        for q in ["여권 사진 몇 장 필요해요", "시청 몇 시에 문 닫아요", "그 뭐였더라 파란 거"]
        {
            assert_ne!(ask(q).text, NOT_HEALTH, "{q}");
        }
        assert_eq!(ask("상담원 바꿔 주세요").action, ReplyAction::Transfer);
        assert_eq!(ask("집에 불이 났어요").action, ReplyAction::Emergency);
        assert_eq!(ask("독감 예방접종 어디서 맞아요").action, ReplyAction::OutOfScope);
        let bye = ask("네 감사합니다");
        assert!(bye.end_call && bye.text != GOODBYE && bye.text.contains("시청"), "{bye:?}");
        let unclear = ask("그 뭐였더라 파란 거");
        assert!(unclear.text.contains("민원"), "{unclear:?}");
    }

    #[test]
    fn the_example_config_names_two_hotlines_whose_files_exist() {
        let cfg = Config::load(Path::new("examples/two-hotlines.toml")).expect("the example config validates");
        let s = specs(&cfg);
        assert_eq!(s.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["1339", "city-120"]);
        for h in &s {
            assert!(h.dialplan.is_file() && h.kb.is_file(), "{h:?}");
        }
        assert_eq!(s[1].tts_config(&cfg.tts).rate, 175);
        assert_eq!((s[0].llm, s[1].llm), (true, false));
        assert_eq!(spec_named(&cfg, Some("city-120")).map(|h| h.numbers), Ok(vec!["120".into(), "02-120".into()]));
        assert!(spec_named(&cfg, Some("119")).unwrap_err().contains("city-120"));
        assert_eq!(spec_named(&Config::default(), None).map(|h| h.name), Ok("1339".into()));
    }

    #[test]
    fn without_hotline_entries_one_answers_every_number() {
        let cfg = Config::default();
        let s = specs(&cfg);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].name.as_str(), s[0].numbers.clone()), ("1339", vec![ANY.to_string()]));
        assert_eq!(s[0].dialplan, cfg.dialplan.path);
    }
}
