//! Piper / VITS voices through ONNX Runtime, with espeak-ng phonemes.
//!
//! One engine reads both config formats of this ONNX interface family:
//! - **Piper** (`voice.onnx` + `voice.onnx.json`): `phoneme_id_map` (phoneme
//!   → ids), `audio.sample_rate`, `espeak.voice`, `inference` scales; ids are
//!   `^ _ p₁ _ p₂ _ … pₙ _ $` (pad after every phoneme).
//! - **Mimic 3** (`generator.onnx` + `config.json` + `phonemes.txt`, e.g.
//!   `ko_KO/kss_low`): ids in `phonemes.txt` (`id phoneme` lines),
//!   `text_language` as the espeak voice, a `phonemes` block with
//!   `blank` `_`, `blank_word` `#`, `blank_between = "tokens_and_words"`,
//!   `blank_at_start/end`, punctuation simplified to `minor_break` `,` and
//!   `major_break` `.`; no inference scales (Mimic 3's defaults 0.667 / 1.0
//!   / 0.8 apply) and `inference.auto_append_text` (`.`). Ids are
//!   `^ _ p _ p _ # _ … # _ $`: a word separator after every word.
//!
//! Both networks take `input` (int64 [1, N]), `input_lengths` (int64 [1]),
//! `scales` (float [3]: noise, length, noise_w) and, when multi-speaker, `sid`.
//!
//! Phonemes come from the `espeak-ng` program (`-q --ipa`), not from a linked
//! libespeak-ng: sori's binary stays Apache-2.0 with no GPL-3 code inside
//! (piper-rs links espeak-ng statically). espeak-ng (GPL-3) runs as a
//! separate program, which is the ordinary aggregate case; its data
//! (`ko_dict`) comes from Debian's espeak-ng-data. One process spawn per
//! sentence costs about 20 ms.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use ort::session::Session;
use ort::value::TensorRef;
use serde::Deserialize;

use super::{Audio, Tts, TtsError};
use crate::audio::onnx;

/// How phoneme ids are laid out around the phonemes.
#[derive(Debug, Clone, PartialEq)]
pub enum IdLayout {
    /// Piper: pad after every phoneme; spaces and punctuation are phonemes.
    Piper { pad: Vec<i64> },
    /// Mimic 3 (`blank_between = "tokens_and_words"`).
    Mimic3 { blank: i64, word: i64, at_start: bool, at_end: bool },
}

/// A voice's text front end and synthesis settings, from its config files.
#[derive(Debug, Clone)]
pub struct VoiceConfig {
    pub sample_rate: u32,
    /// espeak-ng voice for phonemes ("en-us", "ko").
    pub espeak_voice: String,
    pub ids: HashMap<char, Vec<i64>>,
    pub bos: Vec<i64>,
    pub eos: Vec<i64>,
    pub layout: IdLayout,
    pub noise_scale: f32,
    pub length_scale: f32,
    pub noise_w: f32,
    pub num_speakers: u32,
    /// Appended to text without final punctuation (Mimic 3's `auto_append_text`).
    pub append_text: String,
}

#[derive(Deserialize)]
struct PiperJson {
    audio: PiperAudio,
    espeak: Option<PiperEspeak>,
    #[serde(default)]
    inference: PiperInference,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default)]
    phoneme_type: Option<String>,
    #[serde(default)]
    num_speakers: Option<u32>,
}

#[derive(Deserialize)]
struct PiperAudio {
    sample_rate: u32,
}

#[derive(Deserialize)]
struct PiperEspeak {
    voice: String,
}

#[derive(Deserialize)]
#[serde(default)]
struct PiperInference {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

impl Default for PiperInference {
    fn default() -> Self {
        PiperInference { noise_scale: 0.667, length_scale: 1.0, noise_w: 0.8 }
    }
}

#[derive(Deserialize)]
struct Mimic3Json {
    audio: PiperAudio,
    #[serde(default)]
    text_language: Option<String>,
    #[serde(default)]
    phonemizer: Option<String>,
    phonemes: Mimic3Phonemes,
    #[serde(default)]
    model: Mimic3Model,
    #[serde(default)]
    inference: Mimic3Inference,
}

#[derive(Deserialize)]
#[serde(default)]
struct Mimic3Phonemes {
    bos: Option<String>,
    eos: Option<String>,
    blank: Option<String>,
    blank_word: Option<String>,
    blank_between: Option<String>,
    blank_at_start: bool,
    blank_at_end: bool,
    minor_break: Option<String>,
    major_break: Option<String>,
}

impl Default for Mimic3Phonemes {
    fn default() -> Self {
        Mimic3Phonemes {
            bos: Some("^".into()),
            eos: Some("$".into()),
            blank: Some("_".into()),
            blank_word: Some("#".into()),
            blank_between: Some("tokens_and_words".into()),
            blank_at_start: true,
            blank_at_end: true,
            minor_break: Some(",".into()),
            major_break: Some(".".into()),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Mimic3Model {
    n_speakers: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Mimic3Inference {
    auto_append_text: Option<String>,
    noise_scale: Option<f32>,
    length_scale: Option<f32>,
    noise_w: Option<f32>,
}

fn bad(path: &Path, why: impl std::fmt::Display) -> TtsError {
    TtsError::Engine(format!("voice config {}: {why}", path.display()))
}

fn single_char(path: &Path, s: &str) -> Result<char, TtsError> {
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(bad(path, format!("phoneme {s:?} is not one character (multi-character phonemes are not supported)"))),
    }
}

impl VoiceConfig {
    /// Finds the config next to `model`: `model.onnx.json` (Piper), else
    /// `config.json` + `phonemes.txt` in the same folder (Mimic 3).
    pub fn for_model(model: &Path) -> Result<(VoiceConfig, PathBuf), TtsError> {
        let piper = PathBuf::from(format!("{}.json", model.display()));
        if piper.is_file() {
            return Ok((Self::from_piper_json(&piper, &std::fs::read_to_string(&piper)?)?, piper));
        }
        let dir = model.parent().unwrap_or(Path::new("."));
        let (cfg, phonemes) = (dir.join("config.json"), dir.join("phonemes.txt"));
        if cfg.is_file() && phonemes.is_file() {
            let c = Self::from_mimic3(&cfg, &std::fs::read_to_string(&cfg)?, &std::fs::read_to_string(&phonemes)?)?;
            return Ok((c, cfg));
        }
        Err(TtsError::Missing {
            engine: format!("voice config for {}", model.display()),
            hint: format!("expected {} (Piper) or config.json + phonemes.txt (Mimic 3)", piper.display()),
        })
    }

    pub fn from_piper_json(path: &Path, text: &str) -> Result<VoiceConfig, TtsError> {
        let j: PiperJson = serde_json::from_str(text).map_err(|e| bad(path, e))?;
        if let Some(t) = j.phoneme_type.as_deref().filter(|t| *t != "espeak") {
            return Err(bad(path, format!("phoneme_type {t:?} is not supported (only espeak)")));
        }
        let mut ids = HashMap::new();
        for (k, v) in &j.phoneme_id_map {
            ids.insert(single_char(path, k)?, v.clone());
        }
        let get = |s: char| ids.get(&s).cloned().ok_or_else(|| bad(path, format!("phoneme_id_map lacks {s:?}")));
        Ok(VoiceConfig {
            sample_rate: j.audio.sample_rate,
            espeak_voice: j.espeak.map(|e| e.voice).ok_or_else(|| bad(path, "no espeak.voice"))?,
            bos: get('^')?,
            eos: get('$')?,
            layout: IdLayout::Piper { pad: get('_')? },
            ids,
            noise_scale: j.inference.noise_scale,
            length_scale: j.inference.length_scale,
            noise_w: j.inference.noise_w,
            num_speakers: j.num_speakers.unwrap_or(1),
            append_text: String::new(),
        })
    }

    pub fn from_mimic3(path: &Path, config: &str, phonemes_txt: &str) -> Result<VoiceConfig, TtsError> {
        let j: Mimic3Json = serde_json::from_str(config).map_err(|e| bad(path, e))?;
        if let Some(p) = j.phonemizer.as_deref().filter(|p| *p != "espeak") {
            return Err(bad(path, format!("phonemizer {p:?} is not supported (only espeak)")));
        }
        let mut ids = HashMap::new();
        for (n, line) in phonemes_txt.lines().enumerate() {
            let line = line.trim_end_matches(['\r', '\n']);
            if line.trim().is_empty() {
                continue;
            }
            let (id, ph) = line
                .split_once(' ')
                .ok_or_else(|| bad(path, format!("phonemes.txt:{}: want \"id phoneme\"", n + 1)))?;
            let id: i64 = id.parse().map_err(|_| bad(path, format!("phonemes.txt:{}: bad id {id:?}", n + 1)))?;
            ids.insert(single_char(path, ph)?, vec![id]);
        }
        let p = &j.phonemes;
        if p.blank_between.as_deref().unwrap_or("tokens_and_words") != "tokens_and_words" {
            return Err(bad(path, "only phonemes.blank_between = \"tokens_and_words\" is supported"));
        }
        let id_of = |s: &Option<String>, what: &str| -> Result<Vec<i64>, TtsError> {
            match s {
                None => Ok(Vec::new()),
                Some(s) => ids
                    .get(&single_char(path, s)?)
                    .cloned()
                    .ok_or_else(|| bad(path, format!("phonemes.txt lacks the {what} {s:?}"))),
            }
        };
        let one = |v: Vec<i64>, what: &str| v.first().copied().ok_or_else(|| bad(path, format!("no {what}")));
        let layout = IdLayout::Mimic3 {
            blank: one(id_of(&p.blank, "blank")?, "blank")?,
            word: one(id_of(&p.blank_word, "word blank")?, "blank_word")?,
            at_start: p.blank_at_start,
            at_end: p.blank_at_end,
        };
        let (bos, eos) = (id_of(&p.bos, "bos")?, id_of(&p.eos, "eos")?);
        // Punctuation simplification: the network knows only the two breaks.
        let minor = p.minor_break.as_deref().and_then(|s| s.chars().next());
        let major = p.major_break.as_deref().and_then(|s| s.chars().next());
        if let Some(m) = minor.and_then(|c| ids.get(&c).cloned()) {
            for c in [',', ';', ':'] {
                ids.entry(c).or_insert_with(|| m.clone());
            }
        }
        if let Some(m) = major.and_then(|c| ids.get(&c).cloned()) {
            for c in ['.', '?', '!'] {
                ids.entry(c).or_insert_with(|| m.clone());
            }
        }
        Ok(VoiceConfig {
            sample_rate: j.audio.sample_rate,
            espeak_voice: j.text_language.ok_or_else(|| bad(path, "no text_language"))?,
            ids,
            bos,
            eos,
            layout,
            noise_scale: j.inference.noise_scale.unwrap_or(0.667),
            length_scale: j.inference.length_scale.unwrap_or(1.0),
            noise_w: j.inference.noise_w.unwrap_or(0.8),
            num_speakers: j.model.n_speakers.max(1),
            append_text: j.inference.auto_append_text.unwrap_or_default(),
        })
    }

    /// Phoneme ids for clauses of IPA text (words separated by spaces), each
    /// clause followed by its punctuation. Unknown phonemes are skipped.
    pub fn phoneme_ids(&self, clauses: &[(String, char)]) -> Vec<i64> {
        let mut out = self.bos.clone();
        match &self.layout {
            IdLayout::Piper { pad } => {
                out.extend(pad);
                let mut first = true;
                for (ipa, punct) in clauses {
                    if !first {
                        self.push_piper(' ', pad, &mut out);
                    }
                    first = false;
                    for c in ipa.chars() {
                        self.push_piper(c, pad, &mut out);
                    }
                    self.push_piper(*punct, pad, &mut out);
                }
            }
            IdLayout::Mimic3 { blank, word, at_start, at_end } => {
                if *at_start {
                    out.push(*blank);
                }
                let mut words: Vec<Vec<i64>> = Vec::new();
                for (ipa, punct) in clauses {
                    for w in ipa.split_whitespace() {
                        words.push(w.chars().filter_map(|c| self.ids.get(&c)).flatten().copied().collect());
                    }
                    if let Some(p) = self.ids.get(punct) {
                        words.push(p.clone());
                    }
                }
                words.retain(|w| !w.is_empty());
                let last = words.len().saturating_sub(1);
                for (i, mut w) in words.into_iter().enumerate() {
                    if i != last || *at_end {
                        w.push(*word);
                    }
                    for id in w {
                        out.push(id);
                        out.push(*blank);
                    }
                    if i == last && !*at_end {
                        out.pop();
                    }
                }
            }
        }
        out.extend(&self.eos);
        out
    }

    fn push_piper(&self, c: char, pad: &[i64], out: &mut Vec<i64>) {
        if let Some(ids) = self.ids.get(&c) {
            out.extend(ids);
            out.extend(pad);
        }
    }
}

/// Splits text into clauses at punctuation, keeping each clause's mark
/// (`.` when none): the network hears pauses and question intonation.
pub fn clauses(text: &str) -> Vec<(String, char)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let mark = match c {
            '.' | '。' | '…' => Some('.'),
            '?' | '？' => Some('?'),
            '!' | '！' => Some('!'),
            ',' | '，' | '、' => Some(','),
            ';' => Some(';'),
            ':' => Some(':'),
            '\n' => Some('.'),
            _ => None,
        };
        // "37.5" and "kdca.go.kr" are not clause ends.
        let inside_word = matches!(c, '.' | ',' | ':')
            && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric())
            && i > 0
            && chars[i - 1].is_alphanumeric();
        match mark {
            Some(m) if !inside_word => {
                // In "?!" or "..." the first mark counts; the rest are empty clauses.
                if !cur.trim().is_empty() {
                    out.push((cur.trim().to_string(), m));
                }
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push((cur.trim().to_string(), '.'));
    }
    out
}

/// Runs `espeak-ng -q --ipa` once for all clauses (one output line per
/// clause); if espeak splits differently, once per clause.
pub fn phonemize(espeak: &str, voice: &str, clauses: &[(String, char)]) -> Result<Vec<(String, char)>, TtsError> {
    let run = |text: &str| -> Result<Vec<String>, TtsError> {
        let out = Command::new(espeak)
            .args(["-q", "--ipa", "-b", "1", "-v", voice, "--", text])
            .output()
            .map_err(|_| TtsError::Missing { engine: espeak.into(), hint: "apt-get install espeak-ng".into() })?;
        if !out.status.success() {
            return Err(TtsError::Engine(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            // espeak marks ties with U+200D and language switches as "(en)".
            .map(|l| strip_switches(&l.replace('\u{200d}', "")).trim().to_string())
            .filter(|l| !l.is_empty())
            .collect())
    };
    let joined: String = clauses.iter().map(|(t, m)| format!("{t}{m}\n")).collect();
    let lines = run(&joined)?;
    if lines.len() == clauses.len() {
        return Ok(lines.into_iter().zip(clauses.iter().map(|(_, m)| *m)).collect());
    }
    clauses.iter().map(|(t, m)| Ok((run(t)?.join(" "), *m))).collect()
}

fn strip_switches(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// A Piper/VITS voice: one ONNX session shared by all calls (synthesis is
/// serialised per voice; its intra-op threads use the cores).
pub struct PiperVoice {
    session: Mutex<Session>,
    pub config: VoiceConfig,
    has_sid: bool,
    model: PathBuf,
    pub espeak: String,
    pub speaker: i64,
}

impl PiperVoice {
    /// Loads `model` and its config; `threads` intra-op threads (0 = cores, at most 4).
    pub fn load(model: &Path, threads: usize) -> Result<PiperVoice, TtsError> {
        let (config, _) = VoiceConfig::for_model(model)?;
        let threads = if threads == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4)
        } else {
            threads
        };
        let session = onnx::session(model, threads).map_err(|e| match e {
            onnx::OnnxError::Missing { path, hint } => TtsError::Missing { engine: path.display().to_string(), hint },
            e => TtsError::Engine(e.to_string()),
        })?;
        let names: Vec<String> = session.inputs().iter().map(|i| i.name().to_string()).collect();
        for want in ["input", "input_lengths", "scales"] {
            if !names.iter().any(|n| n == want) {
                return Err(TtsError::Engine(format!(
                    "{} is not a Piper/VITS model: inputs {names:?} lack {want:?}",
                    model.display()
                )));
            }
        }
        let has_sid = names.iter().any(|n| n == "sid");
        let voice = PiperVoice {
            session: Mutex::new(session),
            config,
            has_sid,
            model: model.to_path_buf(),
            espeak: "espeak-ng".into(),
            speaker: 0,
        };
        // Fail at start-up, not on the first call, if espeak-ng or its voice is missing.
        let probe = voice.phonemes("a")?;
        if probe.iter().all(|(p, _)| p.is_empty()) {
            return Err(TtsError::Missing {
                engine: format!("espeak-ng voice {:?}", voice.config.espeak_voice),
                hint: "apt-get install espeak-ng espeak-ng-data".into(),
            });
        }
        Ok(voice)
    }

    /// IPA clauses for `text`, as the network will read them.
    pub fn phonemes(&self, text: &str) -> Result<Vec<(String, char)>, TtsError> {
        let mut text = text.trim().to_string();
        if !self.config.append_text.is_empty() && !text.ends_with(['.', '?', '!', '。']) {
            text.push_str(&self.config.append_text);
        }
        let cl = clauses(&text);
        if cl.is_empty() {
            return Ok(Vec::new());
        }
        phonemize(&self.espeak, &self.config.espeak_voice, &cl)
    }

    /// Phoneme ids for `text`; phonemes the voice does not know are skipped
    /// (logged at debug level).
    pub fn ids_for(&self, text: &str) -> Result<Vec<i64>, TtsError> {
        let ph = self.phonemes(text)?;
        if tracing::enabled!(tracing::Level::DEBUG) {
            let unknown: String = ph
                .iter()
                .flat_map(|(p, _)| p.chars())
                .filter(|c| *c != ' ' && !self.config.ids.contains_key(c))
                .collect();
            if !unknown.is_empty() {
                tracing::debug!(%unknown, "phonemes unknown to the voice are skipped");
            }
        }
        Ok(self.config.phoneme_ids(&ph))
    }

    fn infer(&self, ids: &[i64]) -> Result<Vec<f32>, TtsError> {
        let c = &self.config;
        let e = |e: ort::Error| TtsError::Engine(e.to_string());
        let lengths = [ids.len() as i64];
        let scales = [c.noise_scale, c.length_scale, c.noise_w];
        let sid = [self.speaker];
        let mut inputs = ort::inputs![
            "input" => TensorRef::from_array_view(([1usize, ids.len()], ids)).map_err(e)?,
            "input_lengths" => TensorRef::from_array_view(([1usize], &lengths[..])).map_err(e)?,
            "scales" => TensorRef::from_array_view(([3usize], &scales[..])).map_err(e)?,
        ];
        if self.has_sid {
            inputs.push(("sid".into(), TensorRef::from_array_view(([1usize], &sid[..])).map_err(e)?.into()));
        }
        let mut session = self.session.lock().map_err(|_| TtsError::Engine("voice session poisoned".into()))?;
        let out = session.run(inputs).map_err(e)?;
        let (_, samples) = out[0].try_extract_tensor::<f32>().map_err(e)?;
        Ok(samples.to_vec())
    }
}

impl Tts for PiperVoice {
    fn id(&self) -> String {
        let size = std::fs::metadata(&self.model).map(|m| m.len()).unwrap_or(0);
        let name = self.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        format!("piper:{name}:{size}:{}:{}", self.config.length_scale, self.speaker)
    }

    /// Sentence by sentence, like Piper itself: bounded network input, and
    /// a long prompt costs no more memory than its longest sentence.
    fn synthesize(&self, text: &str) -> Result<Audio, TtsError> {
        let rate = self.config.sample_rate;
        let gap = (rate / 10) as usize;
        let mut samples = Vec::new();
        for sentence in super::sentences::split_sentences(text) {
            let ids = self.ids_for(&sentence)?;
            if ids.len() <= self.config.bos.len() + self.config.eos.len() + 1 {
                continue;
            }
            if !samples.is_empty() {
                samples.extend(std::iter::repeat_n(0.0, gap));
            }
            samples.extend(self.infer(&ids)?);
        }
        let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        if peak > 1.0 {
            samples.iter_mut().for_each(|s| *s /= peak);
        }
        Ok(Audio { samples, sample_rate: rate })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPER: &str = r#"{"audio":{"sample_rate":22050},"espeak":{"voice":"en-us"},
        "inference":{"noise_scale":0.667,"length_scale":1,"noise_w":0.8},"phoneme_type":"espeak",
        "num_speakers":1,"phoneme_id_map":{"_":[0],"^":[1],"$":[2]," ":[3],"!":[4],",":[8],".":[10],
        "?":[13],"a":[14],"b":[15],"h":[20],"ˈ":[120]}}"#;

    // The shape of Mimic 3's ko_KO/kss_low config (abridged).
    const MIMIC3: &str = r##"{"audio":{"sample_rate":22050,"hop_length":256},"model":{"num_symbols":12,"n_speakers":1},
        "phonemes":{"phoneme_separator":"_","word_separator":"#","phoneme_to_id":null,"pad":"_","bos":"^","eos":"$",
        "blank":"_","blank_word":"#","blank_between":"tokens_and_words","blank_at_start":true,"blank_at_end":true,
        "simple_punctuation":true,"separate":["ˈ","ˌ"],"minor_break":",","major_break":"."},
        "text_language":"ko","phonemizer":"espeak","inference":{"auto_append_text":"."}}"##;
    const MIMIC3_PHONEMES: &str = "0 _\n1 ^\n2 $\n3 |\n4 ‖\n5 #\n6 ˈ\n7 ˌ\n8 ,\n9 -\n10 .\n11 a\n12 n\n";

    #[test]
    fn piper_ids_pad_every_phoneme() {
        let c = VoiceConfig::from_piper_json(Path::new("v.onnx.json"), PIPER).unwrap();
        assert_eq!(c.sample_rate, 22050);
        assert_eq!(c.espeak_voice, "en-us");
        let ids = c.phoneme_ids(&[("hˈa".into(), ','), ("ba".into(), '?')]);
        // ^ _ h _ ˈ _ a _ , _ ␠ _ b _ a _ ? _ $
        assert_eq!(ids, [1, 0, 20, 0, 120, 0, 14, 0, 8, 0, 3, 0, 15, 0, 14, 0, 13, 0, 2]);
    }

    #[test]
    fn mimic3_ids_blank_tokens_and_mark_words() {
        let c = VoiceConfig::from_mimic3(Path::new("config.json"), MIMIC3, MIMIC3_PHONEMES).unwrap();
        assert_eq!(c.espeak_voice, "ko");
        assert_eq!(c.append_text, ".");
        assert_eq!((c.noise_scale, c.length_scale, c.noise_w), (0.667, 1.0, 0.8));
        // Two words and a question mark (simplified to the major break ".").
        let ids = c.phoneme_ids(&[("ˈan na".into(), '?')]);
        // ^ _ ˈ _ a _ n _ # _ n _ a _ # _ . _ # _ $
        assert_eq!(ids, [1, 0, 6, 0, 11, 0, 12, 0, 5, 0, 12, 0, 11, 0, 5, 0, 10, 0, 5, 0, 2]);
    }

    #[test]
    fn configs_with_other_front_ends_are_refused_by_name() {
        let text = PIPER.replace("\"phoneme_type\":\"espeak\"", "\"phoneme_type\":\"text\"");
        let e = VoiceConfig::from_piper_json(Path::new("v.onnx.json"), &text).unwrap_err();
        assert!(e.to_string().contains("phoneme_type \"text\""), "{e}");
        let text = MIMIC3.replace("\"phonemizer\":\"espeak\"", "\"phonemizer\":\"gruut\"");
        let e = VoiceConfig::from_mimic3(Path::new("config.json"), &text, MIMIC3_PHONEMES).unwrap_err();
        assert!(e.to_string().contains("gruut"), "{e}");
    }

    #[test]
    fn clauses_keep_their_marks_and_numbers_stay_whole() {
        assert_eq!(
            clauses("Hello, world. Is it 37.5?! Yes"),
            [("Hello".into(), ','), ("world".into(), '.'), ("Is it 37.5".into(), '?'), ("Yes".into(), '.')]
        );
        assert!(clauses(" ... ").is_empty());
    }

    #[test]
    fn espeak_gives_one_line_per_clause() {
        let cl = clauses("안녕하세요. 질병관리청입니다, 무엇을 도와드릴까요?");
        let ph = phonemize("espeak-ng", "ko", &cl).expect("espeak-ng -v ko");
        assert_eq!(ph.len(), 3, "{ph:?}");
        assert_eq!(ph[2].1, '?');
        assert!(ph.iter().all(|(p, _)| !p.is_empty() && !p.contains('\u{200d}')), "{ph:?}");
    }
}
