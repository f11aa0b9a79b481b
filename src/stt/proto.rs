//! The STT worker protocol: newline-delimited JSON over the worker's
//! stdin/stdout, shared by `sori` (client) and `sori-stt` (server).
//!
//! ```text
//! worker → {"ready":true,"model":"ggml-base.bin","ms":412}        once, after loading
//!          {"fatal":"…"}                                           instead, if loading failed
//! sori   → {"id":7,"pcm16k_b64":"…","language":"ko","decode":{…}}  i16 LE, 16 kHz mono
//! worker → {"id":7,"text":"…","ms":183,"avg_logprob":-0.31,…}  or  {"id":7,"error":"…"}
//! ```
//! The envelope (`id`, `error`, `ready`, `fatal`) is the generic worker
//! protocol of [`crate::worker`]; the bodies are below.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// A transcription request body (the supervisor adds `id`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SttRequest {
    /// Base64 of i16 little-endian samples, 16 kHz mono.
    pub pcm16k_b64: String,
    /// ISO 639-1 code; always explicit (auto-detection mistakes telephone
    /// Korean for other languages).
    pub language: String,
    /// How to decode ([stt.decode] in sori.toml); absent: the defaults.
    #[serde(default)]
    pub decode: DecodeOptions,
}

/// Decoding settings of one request (`[stt.decode]` in sori.toml). The
/// defaults are the ones measured best on real telephone Korean
/// (docs/BENCHMARKS.md, "STT on real speech").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DecodeOptions {
    /// Beam width; 1 = greedy.
    pub beam: u32,
    /// Encoder window: "fit" (the utterance plus `margin_ms`, at least
    /// `min_window_ms`) or "full" (whisper's 30 s).
    pub window: String,
    pub min_window_ms: u32,
    pub margin_ms: u32,
    /// Initial prompt (e.g. the knowledge base's vocabulary); "" = none.
    pub prompt: String,
    /// Suppress non-speech tokens (music notes, brackets, speaker marks).
    pub suppress_nst: bool,
    /// When a guard fires on the first decoding (text too long for the
    /// audio, a low average log-probability; a loop is stopped at its second
    /// copy and cleaned up instead), decode again with this:
    /// "full" (full window), "beam" (beam 5 on the same window),
    /// "full-beam", or "none".
    pub retry: String,
    /// Guard thresholds: mean token log-probability below this fires
    /// (whisper's own default is -1.0).
    pub logprob_min: f32,
    /// More syllables per second of audio than this fires.
    pub max_chars_per_s: f32,
    /// No-speech probability above this, with a low log-probability,
    /// means silence: the text is dropped.
    pub no_speech: f32,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            beam: 1,
            window: "fit".into(),
            min_window_ms: 0,
            margin_ms: 1280,
            prompt: String::new(),
            suppress_nst: false,
            retry: "full".into(),
            logprob_min: -1.0,
            max_chars_per_s: 12.0,
            no_speech: 0.6,
        }
    }
}

impl DecodeOptions {
    /// Checks the settings (config load, `sori eval stt --decode`).
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.window.as_str(), "fit" | "full") {
            return Err(format!("[stt.decode] window = {:?}: use \"fit\" or \"full\"", self.window));
        }
        if !matches!(self.retry.as_str(), "none" | "full" | "beam" | "full-beam") {
            return Err(format!(
                "[stt.decode] retry = {:?}: use \"none\", \"full\", \"beam\" or \"full-beam\"",
                self.retry
            ));
        }
        if !(1..=8).contains(&self.beam) {
            return Err(format!("[stt.decode] beam = {}: use 1 (greedy) to 8", self.beam));
        }
        Ok(())
    }
}

/// A transcription result body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SttResponse {
    pub text: String,
    /// Time the engine spent, in milliseconds.
    pub ms: u64,
    /// Mean log-probability of the text tokens (of the decoding kept).
    #[serde(default)]
    pub avg_logprob: f32,
    /// whisper's no-speech probability.
    #[serde(default)]
    pub no_speech: f32,
    /// The guard that fired on the first decoding, if any ("loop",
    /// "too-long", "logprob", "no-speech"); a retry followed unless
    /// `retry = "none"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<String>,
    /// Decodings run (2 when a retry ran).
    #[serde(default = "one")]
    pub passes: u32,
}

fn one() -> u32 {
    1
}

impl SttRequest {
    pub fn new(pcm16k: &[i16], language: &str) -> SttRequest {
        let mut bytes = Vec::with_capacity(pcm16k.len() * 2);
        for s in pcm16k {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        SttRequest {
            pcm16k_b64: base64::engine::general_purpose::STANDARD.encode(bytes),
            language: language.into(),
            decode: DecodeOptions::default(),
        }
    }

    /// The samples, as whisper.cpp wants them (f32 in [-1, 1)).
    pub fn samples_f32(&self) -> Result<Vec<f32>, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.pcm16k_b64)
            .map_err(|e| format!("pcm16k_b64: {e}"))?;
        if bytes.len() % 2 != 0 {
            return Err("pcm16k_b64: odd number of bytes".into());
        }
        Ok(bytes.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_round_trip_through_base64() {
        let pcm = [0i16, 1, -1, i16::MAX, i16::MIN, 12345];
        let req = SttRequest::new(&pcm, "ko");
        let back = req.samples_f32().unwrap();
        let again: Vec<i16> = back.iter().map(|x| (x * 32768.0) as i16).collect();
        assert_eq!(again, pcm);
        let json = serde_json::to_string(&req).unwrap();
        assert!(json.contains("\"language\":\"ko\""));
    }
}
