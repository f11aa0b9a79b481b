//! sori's configuration: one typed struct read from `sori.toml`, validated
//! at start-up and passed down (never read from globals).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::codec::CodecKind;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{col}: {message}")]
    Syntax { path: PathBuf, line: usize, col: usize, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub sip: SipConfig,
    pub rtp: RtpConfig,
    pub dialplan: DialplanConfig,
    pub kb: KbConfig,
    pub llm: LlmConfig,
    pub tts: TtsConfig,
    pub vad: crate::audio::VadConfig,
    pub stt: crate::stt::SttConfig,
    /// What the caller hears when engines are slow or fail.
    pub fallback: crate::dialog::trouble::FallbackConfig,
    pub store: StoreConfig,
    pub log: LogConfig,
    pub http: HttpConfig,
    /// `[[trunk]]`: SIP trunks sori registers with and takes calls from.
    pub trunk: Vec<crate::sip::trunk::TrunkConfig>,
    /// `[[hotline]]`: hotlines by dialled number, each with its own dialplan,
    /// knowledge base and voice; none: `[dialplan]` + `[kb]` answer every number.
    pub hotline: Vec<crate::server::hotline::HotlineConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Address to listen on (UDP and TCP).
    pub bind: IpAddr,
    pub port: u16,
    pub udp: bool,
    pub tcp: bool,
    /// SIP over TLS on `tls_port` when both a certificate chain and its
    /// private key (PEM files) are given.
    pub tls_port: u16,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Address written into Contact / SDP when `bind` is a wildcard and the
    /// route to the caller is not the address callers should use (NAT).
    pub advertise: Option<IpAddr>,
    /// Ring this long (180 Ringing) before answering.
    pub ring_ms: u64,
    /// Concurrent calls overall; above it new calls get 503 + Retry-After.
    pub max_calls: usize,
    /// Concurrent calls from one source IP; above it 503 + Retry-After.
    pub max_calls_per_source: usize,
    /// Seconds in the Retry-After of those 503s.
    pub retry_after_s: u32,
    /// Per-source request rates (per second, 0 = unlimited); excess is dropped unanswered.
    pub invite_rate: f64,
    pub register_rate: f64,
    pub options_rate: f64,
    /// Requests of one method a quiet source may send at once (token-bucket depth).
    pub rate_burst: f64,
    /// An answered call is ended (BYE with a Reason) after this many seconds; 0 = no cap.
    pub max_call_s: u64,
    /// RFC 3261 T1 in milliseconds.
    pub t1_ms: u64,
    /// Source addresses/CIDRs that may send requests. Empty (and no
    /// `[[trunk]]`, no `inbound_auth`): everyone may call (a first local try).
    pub allow: Vec<String>,
    /// `[[sip.inbound_auth]]` users: sources outside every allow list may
    /// call after a digest challenge with one of these.
    pub inbound_auth: Vec<crate::sip::trunk::InboundUserConfig>,
    /// Realm of that challenge.
    pub inbound_realm: String,
    /// Digest algorithms offered to inbound users, most preferred first
    /// ("SHA-256", "MD5", "SHA-512-256"; RFC 8760). Many phones and PBXes
    /// still know MD5 only, and some take the first challenge they see.
    pub inbound_algorithms: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtpConfig {
    pub port_min: u16,
    pub port_max: u16,
    /// Codecs we accept, in our preference order: "PCMU", "PCMA", "opus".
    pub codecs: Vec<String>,
    /// Jitter buffer depth in 20 ms frames.
    pub jitter_frames: usize,
    /// An answered call from which no RTP has come for this many seconds
    /// (caller unreachable, one-way audio) is ended politely: the dialplan's
    /// `no_media_prompt`, then BYE, outcome "no-media". 0 = never.
    pub no_media_s: u64,
    /// Media encryption: "plain" (RTP only), "offer" (SRTP by SDES when the
    /// caller offers it), "require" (SRTP only; plain offers get 488).
    pub srtp: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialplanConfig {
    pub path: PathBuf,
    /// Transfer targets' SIP URIs by name, over the dialplans' own (the same
    /// call flow deployed behind another PBX): `transfers = { agent = "sip:2000@pbx" }`.
    pub transfers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KbConfig {
    /// The Korean knowledge base (topics + emergency / agent / out-of-scope routes).
    pub path: PathBuf,
    /// Sentence-embedding model for hybrid retrieval (a models manifest
    /// name, "e5-small"); "none" = lexical BM25 only. When the model is not
    /// fetched, retrieval is lexical and the reason is logged.
    pub embeddings: String,
}

/// The optional language model that rephrases knowledge-base answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// "none": retrieval-only answers (the entry's spoken text);
    /// "local": llama.cpp worker processes (`sori-llm`) loading `model`;
    /// "openai": an OpenAI-compatible `/v1/chat/completions` server at `url`.
    pub engine: String,
    /// GGUF file (or models/models.toml name) for engine = "local".
    pub model: PathBuf,
    pub workers: usize,
    pub threads: usize,
    /// engine = "openai": the server, e.g. "http://127.0.0.1:8081" (with or
    /// without "/v1"; plain HTTP).
    pub url: String,
    /// engine = "openai": the `model` sent in each request.
    pub api_model: String,
    /// engine = "openai": sent as `Authorization: Bearer …`; unset: the
    /// `SORI_LLM_API_KEY` environment variable, if any.
    pub api_key: Option<String>,
    /// Longer than this and the retrieval answer is spoken instead.
    pub deadline_ms: u64,
    pub max_tokens: u32,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            engine: "none".into(),
            model: PathBuf::new(),
            workers: 1,
            // ggml's threads spin while they wait: more threads than free
            // cores (calls, STT) make generation slower, not faster.
            threads: 1,
            url: String::new(),
            api_model: "default".into(),
            api_key: None,
            deadline_ms: 3000,
            max_tokens: 96,
        }
    }
}

impl Default for KbConfig {
    fn default() -> Self {
        KbConfig { path: PathBuf::from("kb/1339.toml"), embeddings: crate::kb::embed::MODEL.into() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TtsConfig {
    /// "espeak-ng" (the Korean fallback voice until a neural voice is configured)
    /// or "piper" (a Piper/VITS ONNX voice, `model`).
    pub engine: String,
    /// Piper voice (`x.onnx` beside `x.onnx.json`) or Mimic 3 voice
    /// (`generator.onnx` beside `config.json` + `phonemes.txt`); engine "piper".
    pub model: PathBuf,
    pub voice: String,
    /// Words per minute.
    pub rate: u32,
    pub cache_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// Record each answered call as a stereo WAV (caller left, sori right).
    pub record: bool,
    /// Where recordings go (one `<call id>.wav` each).
    pub recordings: PathBuf,
    /// Recordings older than this many days are deleted (hourly); 0 keeps them.
    pub retention_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// "human" or "json".
    pub format: String,
    /// tracing filter, e.g. "info" or "sori=debug".
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Empty disables the HTTP API.
    pub bind: String,
    /// When set (here or in `$SORI_HTTP_TOKEN`), every endpoint but
    /// `/healthz` needs `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
}

/// A value that must never reach a log: `Debug` prints a placeholder.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl HttpConfig {
    /// The bearer token the API requires: `[http] token`, else the
    /// `SORI_HTTP_TOKEN` environment variable; None (or empty) = open.
    pub fn token(&self) -> Option<Secret> {
        self.token
            .clone()
            .or_else(|| std::env::var("SORI_HTTP_TOKEN").ok().map(Secret))
            .filter(|t| !t.0.trim().is_empty())
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            bind: IpAddr::from([0, 0, 0, 0]),
            port: 5060,
            udp: true,
            tcp: true,
            tls_port: 5061,
            tls_cert: None,
            tls_key: None,
            advertise: None,
            ring_ms: 0,
            max_calls: 1000,
            max_calls_per_source: 10,
            retry_after_s: 30,
            invite_rate: 10.0,
            register_rate: 5.0,
            options_rate: 10.0,
            rate_burst: 50.0,
            max_call_s: 1800,
            t1_ms: 500,
            allow: Vec::new(),
            inbound_auth: Vec::new(),
            inbound_realm: "sori".into(),
            inbound_algorithms: vec!["SHA-256".into(), "MD5".into()],
        }
    }
}

impl Default for RtpConfig {
    fn default() -> Self {
        RtpConfig {
            port_min: 20000,
            port_max: 20999,
            codecs: vec!["PCMU".into(), "PCMA".into(), "opus".into()],
            jitter_frames: 3,
            no_media_s: 30,
            srtp: "offer".into(),
        }
    }
}

impl Default for DialplanConfig {
    fn default() -> Self {
        DialplanConfig { path: PathBuf::from("dialplan/1339.toml"), transfers: BTreeMap::new() }
    }
}

impl Default for TtsConfig {
    fn default() -> Self {
        TtsConfig {
            engine: "espeak-ng".into(),
            voice: "ko".into(),
            rate: 165,
            model: PathBuf::new(),
            cache_dir: PathBuf::from("cache/prompts"),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("data/calls.sqlite"),
            record: false,
            recordings: PathBuf::from("data/recordings"),
            retention_days: 30,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: "human".into(), level: "info".into() }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { bind: "127.0.0.1:8080".into(), token: None }
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary_compat(offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

/// Parses TOML into `T`, turning errors into `path:line:col: message`.
pub fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::Syntax { path: path.to_path_buf(), line, col, message: e.message().to_string() }
    })
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut cfg: Config = parse_toml(path, &text)?;
        // Relative paths in the config are relative to the config file.
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut cfg.dialplan.path,
            &mut cfg.kb.path,
            &mut cfg.llm.model,
            &mut cfg.tts.cache_dir,
            &mut cfg.store.path,
            &mut cfg.store.recordings,
        ] {
            if p.as_os_str().is_empty() {
                continue;
            }
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        for p in [&mut cfg.tts.model, &mut cfg.vad.model] {
            if !p.as_os_str().is_empty() && p.is_relative() {
                *p = base.join(&*p);
            }
        }
        for p in [&mut cfg.sip.tls_cert, &mut cfg.sip.tls_key].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        for h in &mut cfg.hotline {
            h.resolve_paths(base);
        }
        cfg.validate().map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), String> {
        if !self.sip.udp && !self.sip.tcp {
            return Err("sip: enable at least one of udp / tcp".into());
        }
        if self.rtp.port_min == 0 || self.rtp.port_min > self.rtp.port_max {
            return Err(format!("rtp: bad port range {}-{}", self.rtp.port_min, self.rtp.port_max));
        }
        if !self.rtp.port_min.is_multiple_of(2) {
            return Err("rtp: port_min must be even (RTP uses even ports)".into());
        }
        self.codecs()?;
        self.srtp()?;
        for (name, uri) in &self.dialplan.transfers {
            if !(uri.starts_with("sip:") || uri.starts_with("sips:")) {
                return Err(format!("dialplan.transfers.{name}: {uri:?} is not a sip: or sips: URI"));
            }
        }
        if self.sip.tls_cert.is_some() != self.sip.tls_key.is_some() {
            return Err("sip: SIP over TLS needs both tls_cert and tls_key (PEM files)".into());
        }
        crate::sip::trunk::validate(&self.trunk, &self.sip.allow, self.sip.udp)?;
        crate::sip::trunk::validate_inbound(&self.sip)?;
        if !["human", "json"].contains(&self.log.format.as_str()) {
            return Err(format!("log.format must be \"human\" or \"json\", not {:?}", self.log.format));
        }
        match self.tts.engine.as_str() {
            "espeak-ng" => {}
            "piper" if self.tts.model.as_os_str().is_empty() => {
                return Err("tts.engine = \"piper\" needs tts.model (a Piper .onnx voice)".into())
            }
            "piper" => {}
            e => return Err(format!("tts.engine {e:?} is not available (known: espeak-ng, piper)")),
        }
        crate::server::hotline::validate(&self.hotline, &self.tts)?;
        self.vad.validate()?;
        self.fallback.validate()?;
        self.stt.decode.validate()?;
        if self.stt.piece_min_ms != 0 && !(500..=30_000).contains(&self.stt.piece_min_ms) {
            return Err("stt.piece_min_ms must be 0 (whole turns) or 500..=30000".into());
        }
        if !(80..=450).contains(&self.tts.rate) {
            return Err("tts.rate must be 80..=450 words per minute".into());
        }
        match self.llm.engine.as_str() {
            "none" => {}
            "local" if self.llm.model.as_os_str().is_empty() => {
                return Err("llm.engine = \"local\" needs llm.model (a GGUF file)".into())
            }
            "local" => {}
            "openai" if self.llm.url.trim().is_empty() => {
                return Err("llm.engine = \"openai\" needs llm.url (the server, e.g. \"http://127.0.0.1:8081\")".into())
            }
            "openai" => {
                crate::endpoint::Endpoint::parse(&self.llm.url, "[llm] url", crate::llm::openai::CHAT)?;
            }
            e => return Err(format!("llm.engine must be \"none\", \"local\" or \"openai\", not {e:?}")),
        }
        if self.rtp.jitter_frames == 0 || self.rtp.jitter_frames > 50 {
            return Err("rtp.jitter_frames must be 1..=50".into());
        }
        Ok(())
    }

    pub fn codecs(&self) -> Result<Vec<CodecKind>, String> {
        let mut out = Vec::new();
        for name in &self.rtp.codecs {
            let c = CodecKind::from_name(name)
                .ok_or_else(|| format!("rtp.codecs: unknown codec {name:?} (known: PCMU, PCMA, opus)"))?;
            out.push(c);
        }
        if out.is_empty() {
            return Err("rtp.codecs: list at least one codec".into());
        }
        Ok(out)
    }

    pub fn srtp(&self) -> Result<crate::sdp::SrtpPolicy, String> {
        crate::sdp::SrtpPolicy::from_name(&self.rtp.srtp)
            .ok_or_else(|| format!("rtp.srtp: {:?} is not one of \"plain\", \"offer\", \"require\"", self.rtp.srtp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_line_and_column() {
        let text = "[sip]\nport = 5060\nudp = yes\n";
        let e = parse_toml::<Config>(Path::new("x.toml"), text).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("x.toml:3:"), "{msg}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = parse_toml::<Config>(Path::new("x.toml"), "[sip]\nprot = 1\n").unwrap_err();
        assert!(e.to_string().contains("x.toml:2:"), "{e}");
    }

    #[test]
    fn validation_catches_bad_values() {
        let mut c = Config::default();
        assert!(c.validate().is_ok());
        c.rtp.codecs = vec!["G729".into()];
        assert!(c.validate().unwrap_err().contains("G729"));
        let mut c = Config::default();
        c.rtp.port_min = 30001;
        assert!(c.validate().is_err());
    }

    #[test]
    fn piper_engine_needs_a_model() {
        let mut c = Config::default();
        c.tts.engine = "piper".into();
        assert!(c.validate().unwrap_err().contains("tts.model"));
        c.tts.model = PathBuf::from("/m/en_US-joe-medium.onnx");
        assert!(c.validate().is_ok());
        c.tts.engine = "mimic".into();
        assert!(c.validate().unwrap_err().contains("espeak-ng, piper"));
        let mut c = Config::default();
        c.vad.engine = "webrtc".into();
        assert!(c.validate().unwrap_err().contains("vad.engine"));
    }

    #[test]
    fn http_token_never_shows_in_debug_output() {
        let c = parse_toml::<Config>(Path::new("x.toml"), "[http]\ntoken = \"s3cret-token\"\n").unwrap();
        assert_eq!(c.http.token().map(|t| t.0), Some("s3cret-token".to_string()));
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = parse_toml::<Config>(Path::new("x.toml"), "[store]\nrecord = true\nretention_days = 7\n").unwrap();
        assert!(c.store.record && c.store.retention_days == 7);
    }

    #[test]
    fn openai_engine_needs_an_http_url() {
        let text = "[llm]\nengine = \"openai\"\n";
        let mut c = parse_toml::<Config>(Path::new("x.toml"), text).unwrap();
        assert_eq!(c.llm.api_model, "default");
        assert!(c.validate().unwrap_err().contains("llm.url"));
        c.llm.url = "https://api.example.com".into();
        assert!(c.validate().unwrap_err().contains("http://"));
        c.llm.url = "http://127.0.0.1:8081/v1".into();
        assert!(c.validate().is_ok());
        c.llm.engine = "vllm".into();
        assert!(c.validate().unwrap_err().contains("\"openai\""));
    }
}
