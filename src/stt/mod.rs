//! Speech-to-text: the `Stt` trait and its two engines.
//!
//! * [`WorkerStt`] — whisper.cpp in `sori-stt` worker processes (model loaded
//!   once per process, greedy decoding, no timestamps, language explicit),
//!   supervised by [`crate::worker::Pool`].
//! * [`http::HttpStt`] — any OpenAI-compatible `/v1/audio/transcriptions`
//!   server (whisper.cpp's server, faster-whisper servers, vLLM), for
//!   deployments that run inference elsewhere.
//!
//! Both take 16 kHz mono i16 audio; the caller resamples telephone audio.

pub mod cli;
pub mod guard;
pub mod http;
pub mod pieces;
pub mod proto;
pub mod text;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::models::{self, Manifest, ModelError};
use crate::worker::{Pool, PoolConfig, WorkerError};
use proto::{SttRequest, SttResponse};

/// What an engine heard.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    /// Time the engine itself spent (excludes queueing).
    pub engine_ms: u64,
    /// The guard that fired on the first decoding ("loop", …), if any.
    pub guard: Option<String>,
    /// Decodings run (2 after a retry).
    pub passes: u32,
}

#[derive(Debug, Error)]
pub enum SttError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Worker(#[from] WorkerError),
    #[error("STT server {url}: {msg}")]
    Http { url: String, msg: String },
    #[error("{0}")]
    Config(String),
}

pub type SttFuture<'a> = Pin<Box<dyn Future<Output = Result<Transcript, SttError>> + Send + 'a>>;

/// A speech-to-text engine. Owned input, typed errors; the dialogue code
/// cannot tell which engine runs.
pub trait Stt: Send + Sync {
    /// Transcribes one utterance of 16 kHz mono audio.
    fn transcribe(&self, pcm16k: Vec<i16>) -> SttFuture<'_>;
    /// Engine and model, for logs and records ("whisper.cpp ggml-base.bin").
    fn describe(&self) -> String;
    /// The supervised worker processes' counters (restarts, failures), if
    /// the engine runs in them.
    fn pool_stats(&self) -> Option<&crate::worker::PoolStats> {
        None
    }
}

/// `[stt]` in sori.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SttConfig {
    /// "local" (sori-stt workers) or "http" (OpenAI-compatible server).
    pub engine: String,
    /// Manifest name of the whisper model (models/models.toml), or the path
    /// of a ggml `.bin` file.
    pub model: String,
    /// Spoken language, always explicit.
    pub language: String,
    /// Worker processes (≤ CPU cores) and threads per worker.
    pub workers: usize,
    pub threads: usize,
    /// Utterances allowed to wait for a free worker.
    pub queue: usize,
    /// Longest one transcription may take before the worker is restarted.
    pub timeout_ms: u64,
    /// Path of `sori-stt` (default: next to the `sori` executable).
    pub worker: Option<PathBuf>,
    /// Models directory (default: $SORI_MODELS_DIR, else ~/.cache/sori/models).
    pub models_dir: Option<PathBuf>,
    /// engine = "http": the server's base URL (http://host:port) and the
    /// model name it expects; the API key is read from this env variable.
    pub url: String,
    pub remote_model: String,
    pub api_key_env: String,
    /// whisper.cpp's flash attention. Off by default: on 2 CPU cores it ran
    /// 2× slower, and with a fitted window its padded cross-attention reads
    /// what earlier (longer) utterances left behind, so a transcript
    /// depended on the calls before it.
    pub flash_attn: bool,
    /// A long turn is transcribed in pieces cut at the caller's pauses, each
    /// at least this long ([`pieces`]), so only the last piece is left when
    /// they stop; 0: the whole turn at once (speculatively at each pause).
    pub piece_min_ms: u64,
    /// How whisper decodes (`[stt.decode]`): window, beam, prompt, guards, retry.
    pub decode: proto::DecodeOptions,
}

impl Default for SttConfig {
    fn default() -> Self {
        SttConfig {
            engine: "local".into(),
            model: "whisper-base".into(),
            language: "ko".into(),
            workers: 1,
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(4),
            queue: 16,
            // A call gives a turn up after [fallback] give_up_ms (4.5 s); a
            // worker still busy well past that only holds up other calls.
            timeout_ms: 8_000,
            worker: None,
            models_dir: None,
            url: String::new(),
            remote_model: "whisper-1".into(),
            api_key_env: "SORI_STT_API_KEY".into(),
            flash_attn: false,
            piece_min_ms: 0,
            decode: proto::DecodeOptions::default(),
        }
    }
}

/// Builds the configured engine. For "local", the model is checked (one-line
/// error naming the file and the fetch command) and the workers started.
pub async fn from_config(cfg: &SttConfig) -> Result<Arc<dyn Stt>, SttError> {
    match cfg.engine.as_str() {
        "local" => Ok(Arc::new(WorkerStt::start(cfg).await?)),
        "http" => Ok(Arc::new(http::HttpStt::new(cfg)?)),
        other => Err(SttError::Config(format!("[stt] engine = {other:?}: use \"local\" or \"http\""))),
    }
}

/// Finds `sori-stt`: the configured path, else beside the running executable
/// (or one directory up, where cargo puts binaries relative to test
/// executables in `deps/`).
pub fn worker_binary(configured: Option<&Path>) -> Result<PathBuf, SttError> {
    if let Some(p) = configured {
        return if p.exists() {
            Ok(p.to_path_buf())
        } else {
            Err(SttError::Config(format!("[stt] worker = {}: no such file", p.display())))
        };
    }
    crate::worker::sibling_binary("sori-stt").ok_or_else(|| {
        SttError::Config(
            "sori-stt not found next to the sori executable (build it: cargo build --release -p sori-stt, or set [stt] worker)"
                .into(),
        )
    })
}

/// whisper.cpp in supervised `sori-stt` processes.
pub struct WorkerStt {
    pool: Pool,
    language: String,
    decode: proto::DecodeOptions,
    model_file: String,
}

impl WorkerStt {
    pub async fn start(cfg: &SttConfig) -> Result<WorkerStt, SttError> {
        // A ggml file path (a fine-tune, a quantised copy) or a manifest name.
        let model = if cfg.model.ends_with(".bin") && Path::new(&cfg.model).is_file() {
            PathBuf::from(&cfg.model)
        } else {
            let dir = cfg.models_dir.clone().unwrap_or_else(models::models_dir);
            models::require(&Manifest::builtin(), &dir, &cfg.model)?
        };
        let program = worker_binary(cfg.worker.as_deref())?;
        Self::start_with(program, &model, cfg).await
    }

    /// Starts workers for an explicit model file (tests, benchmarks).
    pub async fn start_with(program: PathBuf, model: &Path, cfg: &SttConfig) -> Result<WorkerStt, SttError> {
        let mut args = vec!["--model".into(), model.display().to_string(), "--threads".into(), cfg.threads.to_string()];
        if cfg.flash_attn {
            args.push("--flash-attn".into());
        }
        let pool = Pool::start(PoolConfig {
            name: "stt".into(),
            program,
            args,
            workers: cfg.workers,
            queue: cfg.queue,
            request_timeout: Duration::from_millis(cfg.timeout_ms),
            start_timeout: Duration::from_secs(60),
        })
        .await?;
        let model_file = model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(WorkerStt { pool, language: cfg.language.clone(), decode: cfg.decode.clone(), model_file })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl Stt for WorkerStt {
    fn transcribe(&self, pcm16k: Vec<i16>) -> SttFuture<'_> {
        Box::pin(async move {
            let mut req = SttRequest::new(&pcm16k, &self.language);
            req.decode = self.decode.clone();
            let r: SttResponse = self.pool.request(&req).await?;
            Ok(Transcript { text: r.text.trim().to_string(), engine_ms: r.ms, guard: r.guard, passes: r.passes })
        })
    }

    fn describe(&self) -> String {
        format!("whisper.cpp {} ({})", self.model_file, self.language)
    }

    fn pool_stats(&self) -> Option<&crate::worker::PoolStats> {
        Some(self.pool.stats())
    }
}

/// Reads a WAV file of any rate and channel count and returns 16 kHz mono
/// i16 audio (channels averaged, resampled with rubato).
pub fn read_wav_16k(path: &Path) -> Result<Vec<i16>, String> {
    read_wav(path, 16_000)
}

/// Reads a WAV file of any rate and channel count as mono i16 at `rate`.
pub fn read_wav(path: &Path, rate: u32) -> Result<Vec<i16>, String> {
    let mut r = hound::WavReader::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let spec = r.spec();
    let ch = spec.channels.max(1) as usize;
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<_, _>>()
        }
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    mono_i16(&samples, ch, spec.sample_rate, rate)
}

/// Interleaved samples in [-1, 1] (`channels` of them per frame, at `from`
/// Hz) as mono i16 at `to` Hz: the channels averaged, then resampled.
pub fn mono_i16(samples: &[f32], channels: usize, from: u32, to: u32) -> Result<Vec<i16>, String> {
    let mono: Vec<f32> = samples.chunks(channels.max(1)).map(|c| c.iter().sum::<f32>() / c.len() as f32).collect();
    let out = crate::tts::resample::resample(&mono, from, to)?;
    Ok(out.iter().map(|x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16).collect())
}
