//! The STT worker protocol: newline-delimited JSON over the worker's
//! stdin/stdout, shared by `sori` (client) and `sori-stt` (server).
//!
//! ```text
//! worker → {"ready":true,"model":"ggml-base.bin","ms":412}        once, after loading
//!          {"fatal":"…"}                                           instead, if loading failed
//! sori   → {"id":7,"pcm16k_b64":"…","language":"ko"}               i16 LE, 16 kHz mono
//! worker → {"id":7,"text":"…","ms":183}  or  {"id":7,"error":"…"}
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
}

/// A transcription result body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SttResponse {
    pub text: String,
    /// Time the engine spent, in milliseconds.
    pub ms: u64,
}

impl SttRequest {
    pub fn new(pcm16k: &[i16], language: &str) -> SttRequest {
        let mut bytes = Vec::with_capacity(pcm16k.len() * 2);
        for s in pcm16k {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        SttRequest { pcm16k_b64: base64::engine::general_purpose::STANDARD.encode(bytes), language: language.into() }
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
