//! HTTP API: health, Prometheus metrics, and an OpenAI-compatible
//! `POST /v1/chat/completions` on the same dialogue engine as calls. Each
//! response carries a `sori` object (action, kb_id, sources, confidence).
//! Also speech (`audio_api`), call records (`calls_api`) and the knowledge
//! base (`kb_api`); all but `/healthz` behind the optional bearer token
//! (`auth`).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use super::hotline::Hotline;
use super::Shared;
use crate::dialog::brain::{sentences, Brain, Conversation, Reply};
use crate::llm::{ground_reply, AnswerConfig, AnswerSource};

pub const MODEL_ID: &str = "sori-1339";
/// The same dialogue without the language model: the entry's own answer.
pub const RETRIEVAL_MODEL_ID: &str = "sori-1339-retrieval";

pub fn router(shared: Arc<Shared>) -> Router {
    let auth = super::auth::Auth::new(shared.cfg.http.token());
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat_completions))
        .route(
            "/v1/audio/transcriptions",
            post(super::audio_api::transcriptions).layer(DefaultBodyLimit::max(super::audio_api::MAX_UPLOAD_BYTES)),
        )
        .route("/v1/audio/speech", post(super::audio_api::speech))
        .route("/v1/calls", get(super::calls_api::list))
        .route("/v1/calls/{id}", get(super::calls_api::one))
        .route("/v1/calls/{id}/recording", get(super::calls_api::recording))
        .route("/v1/kb/entries", get(super::kb_api::entries))
        .route("/v1/kb/route", get(super::kb_api::route))
        .route_layer(axum::middleware::from_fn_with_state(auth, super::auth::check));
    Router::new().route("/healthz", get(healthz)).merge(guarded).with_state(shared)
}

pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let _ = axum::serve(listener, router(shared))
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await;
}

async fn healthz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    // What the GUI needs to say which features work (no secrets here).
    Json(json!({
        "status": "ok",
        "calls_active": s.metrics.calls_active.load(std::sync::atomic::Ordering::Relaxed),
        "prompts": s.hotline().prompts.audio.len(),
        "kb_entries": s.hotline().brain.kb().entries.len(),
        "hotlines": s.hotlines.all().iter().map(|h| json!({
            "name": h.name, "numbers": h.numbers, "kb_entries": h.brain.kb().entries.len(),
        })).collect::<Vec<_>>(),
        "speech": s.speech.is_some(),
        "stt": s.speech.as_ref().map(|sp| sp.stt.describe()),
        "tts": s.speech.as_ref().map(|sp| sp.tts.id()),
        "llm": s.llm.as_ref().map(|l| l.name()),
        "retrieval": if s.hotline().brain.router().embedder_id().is_some() { "hybrid" } else { "lexical" },
        "recording": s.cfg.store.record,
        "auth": s.cfg.http.token().is_some(),
        "trunks": s.metrics.trunks.lock().map(|t| t.clone()).unwrap_or_default(),
    }))
}

async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let text = s.metrics.render()
        + &super::speech::render_metrics(&s)
        + &s.store.render_metrics()
        + &s.hotlines.render_metrics();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

async fn models() -> impl IntoResponse {
    Json(json!({ "object": "list", "data": [
        { "id": MODEL_ID, "object": "model", "owned_by": "sori" },
        { "id": RETRIEVAL_MODEL_ID, "object": "model", "owned_by": "sori" },
    ] }))
}

#[derive(Deserialize)]
struct ChatRequest {
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    model: Option<String>,
    /// Which hotline answers (`[[hotline]] name`; also `?hotline=`); unset: the first.
    #[serde(default)]
    hotline: Option<String>,
}

/// `?hotline=NAME`: which hotline's dialogue, knowledge base and voice an
/// API request uses (the first hotline when absent).
#[derive(Deserialize, Default)]
pub struct HotlineParam {
    pub hotline: Option<String>,
}

/// The hotline a request names (`?hotline=` or a JSON field), the first
/// when it names none; an unknown name is a 404 that lists the known ones.
pub fn pick_hotline(
    s: &Shared,
    query: Result<Query<HotlineParam>, QueryRejection>,
    body: Option<&str>,
) -> Result<Arc<Hotline>, (StatusCode, String)> {
    let q = match query {
        Ok(Query(p)) => p.hotline,
        Err(e) => return Err((StatusCode::BAD_REQUEST, format!("bad query: {}", e.body_text()))),
    };
    let name = body.filter(|b| !b.is_empty()).map(str::to_string).or(q);
    s.hotlines.named(name.as_deref()).cloned().map_err(|e| (StatusCode::NOT_FOUND, e))
}

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    content: serde_json::Value,
}

/// An OpenAI-style JSON error body.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({ "error": { "message": message.into(), "type": "invalid_request_error" } });
    (status, Json(body)).into_response()
}

fn text_of(content: &serde_json::Value) -> Option<String> {
    match content {
        serde_json::Value::String(s) => Some(s.clone()),
        // The array form: [{"type":"text","text":"…"}].
        serde_json::Value::Array(parts) => {
            Some(parts.iter().filter_map(|p| p.get("text").and_then(|t| t.as_str())).collect::<Vec<_>>().join(" "))
        }
        _ => None,
    }
}

/// Replays the user turns before the last one to rebuild the conversation
/// (the API is stateless, like OpenAI's), then answers the last one.
pub fn answer_messages(brain: &Brain, user_turns: &[String]) -> Option<Reply> {
    let (last, before) = user_turns.split_last()?;
    let mut conv = Conversation::default();
    for t in before {
        brain.respond(&mut conv, t);
    }
    Some(brain.respond(&mut conv, last))
}

fn sori_object(r: &Reply, source: AnswerSource, hotline: &str) -> serde_json::Value {
    json!({
        "hotline": hotline,
        "answer_source": source,
        "action": r.action,
        "kb_id": r.kb_id,
        "sources": r.sources,
        "confidence": r.confidence,
        "end_call": r.end_call,
    })
}

async fn chat_completions(
    State(s): State<Arc<Shared>>,
    query: Result<Query<HotlineParam>, QueryRejection>,
    body: Bytes,
) -> Response {
    let req: ChatRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("request body is not a valid chat request: {e}")),
    };
    let hotline = match pick_hotline(&s, query, req.hotline.as_deref()) {
        Ok(h) => h,
        Err((status, msg)) => return error(status, msg),
    };
    let mut users = Vec::new();
    for m in &req.messages {
        if !["system", "user", "assistant", "developer", "tool"].contains(&m.role.as_str()) {
            return error(StatusCode::BAD_REQUEST, format!("unknown message role {:?}", m.role));
        }
        if m.role == "user" {
            match text_of(&m.content) {
                Some(t) => users.push(t),
                None => return error(StatusCode::BAD_REQUEST, "message content must be a string or text parts"),
            }
        }
    }
    let Some(reply) = answer_messages(&hotline.brain, &users) else {
        return error(StatusCode::BAD_REQUEST, "messages must contain at least one user message");
    };
    let llm = s.llm.as_ref().filter(|_| req.model.as_deref() != Some(RETRIEVAL_MODEL_ID) && hotline.llm);
    let (reply, answer_source) = match llm {
        Some(llm) => {
            let cfg = AnswerConfig {
                deadline: std::time::Duration::from_millis(s.cfg.llm.deadline_ms),
                max_tokens: s.cfg.llm.max_tokens,
            };
            let question = users.last().cloned().unwrap_or_default();
            ground_reply(llm, hotline.brain.kb(), reply, &question, &cfg).await
        }
        None => (reply, AnswerSource::Retrieval),
    };
    let model = req.model.unwrap_or_else(|| MODEL_ID.to_string());
    let id = format!("chatcmpl-{:016x}", rand::random::<u64>());
    let created = crate::store::now_ms() / 1000;
    if !req.stream {
        let body = json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": reply.text }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0 },
            "sori": sori_object(&reply, answer_source, &hotline.name),
        });
        return Json(body).into_response();
    }
    // Streaming: one chunk per sentence (what TTS consumes), then the final
    // chunk with finish_reason and the sori object, then [DONE].
    let mut events = Vec::new();
    let chunk = |delta: serde_json::Value, finish: Option<&str>, extra: Option<serde_json::Value>| {
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        });
        if let Some(x) = extra {
            c["sori"] = x;
        }
        c.to_string()
    };
    events.push(chunk(json!({ "role": "assistant" }), None, None));
    let parts = sentences(&reply.text);
    let n = parts.len();
    for (i, sentence) in parts.into_iter().enumerate() {
        let text = if i + 1 < n { format!("{sentence} ") } else { sentence };
        events.push(chunk(json!({ "content": text }), None, None));
    }
    events.push(chunk(json!({}), Some("stop"), Some(sori_object(&reply, answer_source, &hotline.name))));
    events.push("[DONE]".to_string());
    let stream = futures_util::stream::iter(events.into_iter().map(|d| Ok::<_, Infallible>(Event::default().data(d))));
    Sse::new(stream).into_response()
}
