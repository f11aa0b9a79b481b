//! OpenAI-compatible speech endpoints on the engines calls use:
//! `POST /v1/audio/transcriptions` (multipart WAV → `{"text"}`, through
//! `[stt]` and the call's text clean-up) and `POST /v1/audio/speech`
//! (JSON → 8 kHz WAV in the `[tts]` voice, as a caller hears it; `hotline`:
//! another hotline's voice and prompts).
//! `telephone=true` runs the audio through the call's channel (G.711 μ-law at
//! 8 kHz; inbound also the call's 8→16 kHz upsampler).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::api::{error, pick_hotline, HotlineParam};
use super::speech::Speech;
use super::Shared;
use crate::stt::SttError;
use crate::worker::WorkerError;

/// Uploads above this are refused with 413 (OpenAI's own limit).
pub const MAX_UPLOAD_BYTES: usize = 25 * 1024 * 1024;
/// Longest text `/v1/audio/speech` reads out.
pub const MAX_INPUT_CHARS: usize = 2000;

fn engines(s: &Shared) -> Result<&Speech, (StatusCode, String)> {
    s.speech.as_ref().ok_or_else(|| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "speech engines are not loaded on this server (see its log; fetch the models with \
             `sori models fetch whisper-base silero-vad onnxruntime` and restart)"
                .to_string(),
        )
    })
}

fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

struct Upload {
    file: Option<Bytes>,
    response_format: String,
    telephone: bool,
}

async fn read_form(mut form: Multipart) -> Result<Upload, (StatusCode, String)> {
    let mut up = Upload { file: None, response_format: "json".into(), telephone: false };
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err((e.status(), format!("reading the upload failed: {}", e.body_text()))),
        };
        let name = field.name().unwrap_or("").to_string();
        let data = match field.bytes().await {
            Ok(d) => d,
            Err(e) => return Err((e.status(), format!("reading field {name:?} failed: {}", e.body_text()))),
        };
        match name.as_str() {
            "file" => up.file = Some(data),
            "response_format" => up.response_format = String::from_utf8_lossy(&data).trim().to_string(),
            "telephone" => up.telephone = truthy(&String::from_utf8_lossy(&data)),
            // model, language, prompt, temperature: the server's [stt] decides.
            _ => {}
        }
    }
    Ok(up)
}

fn stt_error(e: SttError) -> Response {
    let status = match &e {
        SttError::Worker(WorkerError::Busy(_)) => StatusCode::SERVICE_UNAVAILABLE,
        SttError::Worker(WorkerError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    };
    error(status, format!("speech recognition failed: {e}"))
}

pub async fn transcriptions(State(s): State<Arc<Shared>>, form: Result<Multipart, MultipartRejection>) -> Response {
    let form = match form {
        Ok(f) => f,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("send multipart/form-data with a WAV in the \"file\" field ({})", e.body_text()),
            )
        }
    };
    let up = match read_form(form).await {
        Ok(u) => u,
        Err((status, msg)) => return error(status, msg),
    };
    if !["json", "text", "verbose_json"].contains(&up.response_format.as_str()) {
        return error(StatusCode::BAD_REQUEST, "response_format must be json, verbose_json or text");
    }
    let Some(file) = up.file else {
        return error(StatusCode::BAD_REQUEST, "no \"file\" field in the upload");
    };
    let speech = match engines(&s) {
        Ok(e) => e,
        Err((status, msg)) => return error(status, msg),
    };
    let telephone = up.telephone;
    let decoded = tokio::task::spawn_blocking(move || {
        if telephone {
            super::wav::decode_mono(&file, 8000).map(|pcm| crate::eval::telephone_to_16k(&pcm))
        } else {
            super::wav::decode_mono(&file, 16_000)
        }
    })
    .await;
    let pcm = match decoded {
        Ok(Ok(p)) => p,
        Ok(Err(msg)) => return error(StatusCode::BAD_REQUEST, msg),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "decoding the upload failed"),
    };
    let audio_ms = pcm.len() as u64 / 16;
    let t = Instant::now();
    // Like a call, the STT hears only audio the VAD calls speech: silence
    // comes back as "" at once instead of whisper's invented text.
    let mut vad = speech.vad.new_vad();
    let threshold = speech.listen.endpoint.start_threshold;
    let checked = tokio::task::spawn_blocking(move || {
        let speech = crate::audio::vad::holds_speech(vad.as_mut(), &pcm, threshold);
        (speech, pcm)
    })
    .await;
    let (text, engine_ms) = match checked {
        Ok((false, _)) => (String::new(), 0),
        Ok((true, pcm)) => match speech.stt.transcribe(pcm).await {
            Ok(h) => (crate::stt::text::for_routing(&h.text), h.engine_ms),
            Err(e) => return stt_error(e),
        },
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "checking the upload for speech failed"),
    };
    if up.response_format == "text" {
        return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
    }
    Json(json!({
        "text": text,
        "sori": {
            "engine": speech.stt.describe(),
            "stt_ms": t.elapsed().as_millis() as u64,
            "engine_ms": engine_ms,
            "audio_ms": audio_ms,
            "telephone": telephone,
        },
    }))
    .into_response()
}

#[derive(Deserialize)]
struct SpeechRequest {
    input: String,
    #[serde(default)]
    voice: Option<String>,
    #[serde(default)]
    response_format: Option<String>,
    #[serde(default)]
    telephone: bool,
    /// Which hotline's voice and prompts (also `?hotline=`); unset: the first.
    #[serde(default)]
    hotline: Option<String>,
    /// OpenAI clients send these; sori has one voice and one model.
    #[serde(default, rename = "model")]
    _model: Option<String>,
    #[serde(default, rename = "speed")]
    _speed: Option<f64>,
}

pub async fn speech(
    State(s): State<Arc<Shared>>,
    query: Result<Query<HotlineParam>, QueryRejection>,
    body: Bytes,
) -> Response {
    let req: SpeechRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("request body is not a valid speech request: {e}")),
    };
    let hotline = match pick_hotline(&s, query, req.hotline.as_deref()) {
        Ok(h) => h,
        Err((status, msg)) => return error(status, msg),
    };
    let text = req.input.trim().to_string();
    if text.is_empty() {
        return error(StatusCode::BAD_REQUEST, "\"input\" is empty");
    }
    if text.chars().count() > MAX_INPUT_CHARS {
        return error(StatusCode::BAD_REQUEST, format!("\"input\" is longer than {MAX_INPUT_CHARS} characters"));
    }
    if let Some(f) = req.response_format.as_deref().filter(|f| *f != "wav") {
        return error(StatusCode::BAD_REQUEST, format!("response_format {f:?} is not supported (only \"wav\")"));
    }
    let speech = match engines(&s) {
        Ok(e) => e,
        Err((status, msg)) => return error(status, msg),
    };
    // The hotline's own voice, else the one [tts] names.
    let tts = hotline.tts.clone().unwrap_or_else(|| speech.tts.clone());
    let voice = tts.id();
    if let Some(v) = req.voice.as_deref() {
        tracing::debug!(requested = v, used = %voice, "speech: sori has one voice");
    }
    let t = Instant::now();
    // Knowledge-base answers and prompts are pre-rendered (what calls play).
    let pcm: Vec<i16> = match hotline.prompts.get(&text) {
        Some(a) => a.to_vec(),
        None => match tokio::task::spawn_blocking(move || crate::tts::prompts::render(tts.as_ref(), &text)).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("synthesis failed: {e}")),
            Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "synthesis failed"),
        },
    };
    let pcm = if req.telephone { crate::codec::g711::through_ulaw(&pcm) } else { pcm };
    let wav = crate::stt::http::wav_bytes(&pcm, crate::tts::prompts::TELEPHONE_RATE);
    let mut resp = ([(header::CONTENT_TYPE, "audio/wav")], wav).into_response();
    let h = resp.headers_mut();
    for (k, v) in [("x-sori-tts-ms", t.elapsed().as_millis().to_string()), ("x-sori-voice", voice)] {
        if let Ok(v) = header::HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    resp
}
