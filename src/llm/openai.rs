//! A network model: any OpenAI-compatible `POST /v1/chat/completions`
//! server (llama.cpp's `llama-server`, vLLM, Ollama, another sori). Sends
//! `stream: true` and reads the server-sent events (`data: {…}` …
//! `data: [DONE]`); a server that answers with one JSON body instead is read
//! too. Plain HTTP/1.1 over hyper like [`crate::stt::http`]; put TLS in a
//! local proxy if the server is remote.
//!
//! The byte handling is sans-IO: [`SseParser`] turns arbitrary reads into
//! event payloads and [`Reading`] turns payloads into [`Chunk`]s (including
//! the `max_sentences` cut); the tokio task only moves bytes and time.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{BoxFuture, Chunk, ChunkStream, GenRequest, Llm, LlmError};

/// The environment variable read when the config gives no `api_key`.
pub const API_KEY_ENV: &str = "SORI_LLM_API_KEY";

/// Error bodies are read up to this size for their message.
const MAX_ERROR_BODY: usize = 64 * 1024;

pub use crate::endpoint::Endpoint;

/// The operation under `/v1`.
pub const CHAT: &str = "/chat/completions";

pub struct OpenAiLlm {
    endpoint: Endpoint,
    model: String,
    api_key: Option<String>,
    /// For the whole generation: connect, headers and the last event.
    timeout: Duration,
}

impl OpenAiLlm {
    /// `api_key` None: `$SORI_LLM_API_KEY` if set; no `Authorization` otherwise.
    pub fn new(base_url: &str, model: &str, api_key: Option<String>, timeout: Duration) -> Result<OpenAiLlm, LlmError> {
        let endpoint = Endpoint::parse(base_url, "[llm] url", CHAT).map_err(LlmError::Unavailable)?;
        let api_key = api_key.or_else(|| std::env::var(API_KEY_ENV).ok()).filter(|k| !k.is_empty());
        Ok(OpenAiLlm { endpoint, model: model.to_string(), api_key, timeout })
    }

    pub fn url(&self) -> &str {
        &self.endpoint.url
    }

    fn body(&self, req: &GenRequest) -> Vec<u8> {
        json!({
            "model": self.model,
            "messages": req.messages,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "stream": true,
        })
        .to_string()
        .into_bytes()
    }

    /// Connects, sends the request and waits for the response head.
    async fn open(&self, req: &GenRequest) -> Result<Response, LlmError> {
        let ep = &self.endpoint;
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            LlmError::Unavailable(format!("cannot reach {} ({what}: {e})", ep.url))
        };
        let stream = tokio::net::TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(|e| unavailable("connect", &e))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unavailable("handshake", &e))?;
        let conn = AbortOnDrop(tokio::spawn(conn));
        let mut http = hyper::Request::post(&ep.path)
            .header(hyper::header::HOST, &ep.authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::ACCEPT, "text/event-stream, application/json");
        if let Some(k) = &self.api_key {
            http = http.header(hyper::header::AUTHORIZATION, format!("Bearer {k}"));
        }
        let http = http
            .body(Full::new(Bytes::from(self.body(req))))
            .map_err(|e| LlmError::Failed(format!("{}: building the request: {e}", ep.url)))?;
        let resp = sender.send_request(http).await.map_err(|e| unavailable("request", &e))?;
        Ok(Response { resp, _conn: conn })
    }
}

struct Response {
    resp: hyper::Response<hyper::body::Incoming>,
    _conn: AbortOnDrop,
}

/// Ends the connection task when the reader is done (or dropped).
struct AbortOnDrop(tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Llm for OpenAiLlm {
    fn name(&self) -> String {
        format!("openai:{}@{}", self.model, self.endpoint.url)
    }

    fn generate(&self, req: GenRequest) -> BoxFuture<'_, Result<ChunkStream, LlmError>> {
        Box::pin(async move {
            let started = Instant::now();
            let deadline = tokio::time::Instant::from_std(started + self.timeout);
            let ms = self.timeout.as_millis() as u64;
            let Response { resp, _conn: conn } =
                tokio::time::timeout_at(deadline, self.open(&req)).await.map_err(|_| LlmError::Deadline(ms))??;
            let url = self.endpoint.url.clone();
            let status = resp.status();
            let json_body = resp
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim_start().starts_with("application/json"));
            let mut body = resp.into_body();
            if !status.is_success() {
                let bytes = tokio::time::timeout_at(deadline, read_limited(&mut body, MAX_ERROR_BODY))
                    .await
                    .map_err(|_| LlmError::Deadline(ms))?;
                let msg = error_message(&bytes);
                let text = format!("{url}: HTTP {status}: {msg}");
                // No such endpoint (or model) here: the server is up but offers no model to us.
                return Err(if status == hyper::StatusCode::NOT_FOUND {
                    LlmError::Unavailable(text)
                } else {
                    LlmError::Failed(text)
                });
            }
            let (tx, out) = mpsc::unbounded_channel();
            let mut reading = Reading::new(req.max_sentences, started);
            tokio::spawn(async move {
                let _conn = conn;
                if json_body {
                    let r = tokio::time::timeout_at(deadline, read_limited(&mut body, usize::MAX)).await;
                    let items = match r.map(|bytes| reading.whole_json(&bytes)) {
                        Err(_) => vec![Err(LlmError::Deadline(ms))],
                        Ok(Err(e)) => vec![Err(LlmError::Failed(format!("{url}: {e}")))],
                        Ok(Ok(chunks)) => chunks.into_iter().map(Ok).collect(),
                    };
                    for item in items {
                        if tx.send(item).is_err() {
                            return;
                        }
                    }
                    return;
                }
                let mut sse = SseParser::default();
                loop {
                    let frame = tokio::select! {
                        f = body.frame() => f,
                        _ = tokio::time::sleep_until(deadline) => {
                            let _ = tx.send(Err(LlmError::Deadline(ms)));
                            return;
                        }
                        // Nobody listens any more (the caller's own deadline): stop reading.
                        _ = tx.closed() => return,
                    };
                    let (data, end) = match frame {
                        Some(Ok(f)) => match f.into_data() {
                            Ok(d) => (sse.push(&d), false),
                            Err(_) => continue, // trailers
                        },
                        Some(Err(e)) => {
                            let _ = tx.send(Err(LlmError::Failed(format!("{url}: reading the stream: {e}"))));
                            return;
                        }
                        None => (sse.finish(), true),
                    };
                    for payload in data {
                        match reading.event(&payload) {
                            Ok(items) => {
                                for c in items {
                                    if tx.send(Ok(c)).is_err() {
                                        return;
                                    }
                                }
                            }
                            Err(e) => {
                                let _ = tx.send(Err(LlmError::Failed(format!("{url}: {e}"))));
                                return;
                            }
                        }
                        if reading.done {
                            return;
                        }
                    }
                    if end {
                        let e = match reading.eof() {
                            Ok(c) => Ok(c),
                            Err(e) => Err(LlmError::Failed(format!("{url}: {e}"))),
                        };
                        let _ = tx.send(e);
                        return;
                    }
                }
            });
            Ok(out)
        })
    }
}

async fn read_limited(body: &mut hyper::body::Incoming, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(Ok(f)) = body.frame().await {
        if let Ok(d) = f.into_data() {
            out.extend_from_slice(&d);
            if out.len() >= limit {
                out.truncate(limit);
                break;
            }
        }
    }
    out
}

/// The server's own words for an error: OpenAI's `{"error":{"message":…}}`
/// (or `{"error":"…"}`, `{"message":…}`), else the start of the body.
pub fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        let m = v.pointer("/error/message").or_else(|| v.get("error")).or_else(|| v.get("message"));
        if let Some(m) = m.and_then(Value::as_str) {
            return m.to_string();
        }
    }
    let t = text.trim();
    if t.is_empty() {
        "(empty body)".into()
    } else {
        t.chars().take(300).collect()
    }
}

/// Server-sent events: bytes in (split anywhere, even inside a UTF-8
/// character), the `data` of each complete event out. `data:` lines of one
/// event are joined with `\n`; comments and other fields are skipped.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    data: Option<String>,
}

impl SseParser {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(i) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let line = &self.buf[start..start + i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = String::from_utf8_lossy(line).into_owned();
            start += i + 1;
            self.line(&line, &mut out);
        }
        self.buf.drain(..start);
        out
    }

    /// The stream ended: an unterminated last line and event still count.
    pub fn finish(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            let line = String::from_utf8_lossy(&rest).trim_end_matches('\r').to_string();
            self.line(&line, &mut out);
        }
        out.extend(self.data.take());
        out
    }

    fn line(&mut self, line: &str, out: &mut Vec<String>) {
        if line.is_empty() {
            out.extend(self.data.take());
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        if field == "data" {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            }
        }
    }
}

/// Turns the server's payloads into [`Chunk`]s: deltas as they come, cut at
/// the end of the `max_sentences`-th sentence, then `Done`.
#[derive(Debug)]
pub struct Reading {
    max_sentences: u32,
    started: Instant,
    text: String,
    deltas: u32,
    usage_tokens: Option<u32>,
    ttft_ms: Option<u64>,
    finished: bool,
    /// `Done` was produced; stop reading.
    pub done: bool,
}

impl Reading {
    pub fn new(max_sentences: u32, started: Instant) -> Reading {
        Reading {
            max_sentences,
            started,
            text: String::new(),
            deltas: 0,
            usage_tokens: None,
            ttft_ms: None,
            finished: false,
            done: false,
        }
    }

    /// One SSE payload (`{…}` or `[DONE]`).
    pub fn event(&mut self, payload: &str) -> Result<Vec<Chunk>, String> {
        if self.done {
            return Ok(Vec::new());
        }
        if payload.trim() == "[DONE]" {
            return Ok(vec![self.done()]);
        }
        let v: Value = serde_json::from_str(payload)
            .map_err(|e| format!("bad event JSON ({e}): {}", payload.chars().take(200).collect::<String>()))?;
        if v.get("error").is_some() {
            return Err(format!("server error in stream: {}", error_message(payload.as_bytes())));
        }
        self.note_usage(&v);
        let choice = v.pointer("/choices/0");
        if choice.and_then(|c| c.get("finish_reason")).is_some_and(|f| !f.is_null()) {
            self.finished = true;
        }
        let piece = choice.and_then(|c| c.pointer("/delta/content")).and_then(Value::as_str).unwrap_or("");
        Ok(self.add(piece))
    }

    /// A whole (non-streamed) `chat.completion` body.
    pub fn whole_json(&mut self, body: &[u8]) -> Result<Vec<Chunk>, String> {
        let text = String::from_utf8_lossy(body);
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| format!("bad JSON ({e}): {}", text.chars().take(200).collect::<String>()))?;
        let content = v.pointer("/choices/0/message/content").and_then(Value::as_str).ok_or_else(|| {
            format!("no choices[0].message.content in {}", text.chars().take(200).collect::<String>())
        })?;
        self.note_usage(&v);
        let mut out = self.add(content);
        if !self.done {
            out.push(self.done());
        }
        Ok(out)
    }

    /// The body ended without `[DONE]`: complete only if a choice finished.
    pub fn eof(&mut self) -> Result<Chunk, String> {
        if self.finished {
            Ok(self.done())
        } else {
            Err("the stream ended before [DONE]".into())
        }
    }

    fn note_usage(&mut self, v: &Value) {
        if let Some(n) = v.pointer("/usage/completion_tokens").and_then(Value::as_u64).filter(|&n| n > 0) {
            self.usage_tokens = Some(n as u32);
        }
    }

    fn add(&mut self, piece: &str) -> Vec<Chunk> {
        if piece.is_empty() {
            return Vec::new();
        }
        self.deltas += 1;
        self.ttft_ms.get_or_insert_with(|| self.started.elapsed().as_millis() as u64);
        let from = self.text.len();
        self.text.push_str(piece);
        let mut out = Vec::new();
        match sentence_cut(&self.text, self.max_sentences) {
            Some(cut) => {
                let cut = cut.max(from);
                if cut > from {
                    out.push(Chunk::Delta(self.text[from..cut].to_string()));
                }
                self.text.truncate(cut);
                out.push(self.done());
            }
            None => out.push(Chunk::Delta(piece.to_string())),
        }
        out
    }

    fn done(&mut self) -> Chunk {
        self.done = true;
        Chunk::Done {
            text: self.text.trim().to_string(),
            tokens: self.usage_tokens.unwrap_or(self.deltas),
            ttft_ms: self.ttft_ms,
            ms: self.started.elapsed().as_millis() as u64,
        }
    }
}

/// Byte offset just past the end of the `n`-th sentence of `text` (0: no
/// limit), as `sori-llm` counts them: `. ? ! 。` (and full-width `？ ！`)
/// followed by whitespace or the end of the text so far. A `.` after a digit
/// at the very end waits for the next piece (it may be `1.5`).
pub fn sentence_cut(text: &str, n: u32) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let mut count = 0;
    let mut it = text.char_indices().peekable();
    let mut prev = None;
    while let Some((i, c)) = it.next() {
        let next = it.peek().map(|&(_, c)| c);
        let end = matches!(c, '.' | '?' | '!' | '。' | '？' | '！')
            && match next {
                Some(nc) => nc.is_whitespace(),
                None => !(c == '.' && prev.is_some_and(|p: char| p.is_ascii_digit())),
            };
        if end {
            count += 1;
            if count == n {
                return Some(i + c.len_utf8());
            }
        }
        prev = Some(c);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_survive_reads_split_mid_line_and_mid_character() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"홍역은 \"}}]}\r\n\r\n\
                      : keep-alive\n\n\
                      event: message\ndata: {\"choices\":[{\"delta\":{\"content\":\"전염병입니다.\"}}]}\n\n\
                      data: [DONE]\n\n";
        let bytes = stream.as_bytes();
        let whole: Vec<String> = SseParser::default().push(bytes);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[2], "[DONE]");
        // Every split point, including inside "홍" (3 bytes) and between \r and \n.
        for cut in 1..bytes.len() {
            let mut p = SseParser::default();
            let mut got = p.push(&bytes[..cut]);
            got.extend(p.push(&bytes[cut..]));
            got.extend(p.finish());
            assert_eq!(got, whole, "split at byte {cut}");
        }
        // Byte by byte.
        let mut p = SseParser::default();
        let got: Vec<String> = bytes.iter().flat_map(|b| p.push(std::slice::from_ref(b))).collect();
        assert_eq!(got, whole);
    }

    #[test]
    fn multi_line_data_and_unterminated_last_event() {
        let mut p = SseParser::default();
        assert_eq!(p.push(b"data: a\ndata:b\n\ndata: [DONE]"), vec!["a\nb".to_string()]);
        assert_eq!(p.finish(), vec!["[DONE]".to_string()]);
    }

    fn run(payloads: &[&str], max_sentences: u32) -> Result<(Vec<String>, Chunk), String> {
        let mut r = Reading::new(max_sentences, Instant::now());
        let mut deltas = Vec::new();
        for p in payloads {
            for c in r.event(p)? {
                match c {
                    Chunk::Delta(d) => deltas.push(d),
                    done => return Ok((deltas, done)),
                }
            }
        }
        Ok((deltas, r.eof()?))
    }

    fn delta(s: &str) -> String {
        json!({ "choices": [{ "index": 0, "delta": { "content": s }, "finish_reason": null }] }).to_string()
    }

    #[test]
    fn deltas_then_done_with_the_text_and_counts() {
        let role = json!({ "choices": [{ "delta": { "role": "assistant" } }] }).to_string();
        let (a, b) = (delta("손을 자주 "), delta("씻으세요."));
        let (d, done) = run(&[&role, &a, &b, "[DONE]"], 0).unwrap();
        assert_eq!(d, ["손을 자주 ", "씻으세요."]);
        let Chunk::Done { text, tokens, ttft_ms, .. } = done else { panic!() };
        assert_eq!((text.as_str(), tokens), ("손을 자주 씻으세요.", 2));
        assert!(ttft_ms.is_some());
    }

    #[test]
    fn max_sentences_cuts_inside_a_delta_and_stops() {
        let (a, b) = (delta("첫 문장입니다. 둘째"), delta(" 문장입니다. 셋째 문장."));
        let (d, done) = run(&[&a, &b], 2).unwrap();
        assert_eq!(d.concat(), "첫 문장입니다. 둘째 문장입니다.");
        assert!(matches!(done, Chunk::Done { ref text, .. } if text == "첫 문장입니다. 둘째 문장입니다."));
        // A decimal split across pieces is not a sentence end.
        let (a, b) = (delta("체온이 37."), delta("5도 이상이면 열입니다. 다음"));
        let (d, _) = run(&[&a, &b], 1).unwrap();
        assert_eq!(d.concat(), "체온이 37.5도 이상이면 열입니다.");
    }

    #[test]
    fn bad_json_errors_and_truncated_streams_fail() {
        assert!(run(&["{\"choices\": ["], 0).unwrap_err().contains("bad event JSON"));
        let a = delta("안녕하세요");
        assert!(run(&[&a], 0).unwrap_err().contains("before [DONE]"));
        let e = json!({ "error": { "message": "model overloaded" } }).to_string();
        assert!(run(&[&e], 0).unwrap_err().contains("model overloaded"));
    }

    #[test]
    fn a_whole_json_answer_is_one_delta_and_done() {
        let body = json!({ "choices": [{ "message": { "role": "assistant", "content": "하나. 둘. 셋." } }],
            "usage": { "completion_tokens": 7 } });
        let mut r = Reading::new(2, Instant::now());
        let c = r.whole_json(body.to_string().as_bytes()).unwrap();
        assert_eq!(c[0], Chunk::Delta("하나. 둘.".into()));
        assert!(matches!(c[1], Chunk::Done { ref text, tokens: 7, .. } if text == "하나. 둘."));
        assert!(Reading::new(0, Instant::now()).whole_json(b"{}").unwrap_err().contains("message.content"));
    }

    #[test]
    fn error_messages_come_from_openai_error_json() {
        assert_eq!(error_message(br#"{"error":{"message":"bad model","type":"x"}}"#), "bad model");
        assert_eq!(error_message(br#"{"error":"nope"}"#), "nope");
        assert_eq!(error_message(b"Internal Server Error"), "Internal Server Error");
        assert_eq!(error_message(b""), "(empty body)");
    }

    /// A loopback server that wants a Bearer key and answers without streaming
    /// (as some servers do whatever `stream` says).
    async fn keyed_json_server() -> String {
        use axum::http::{HeaderMap, StatusCode};
        async fn chat(headers: HeaderMap, body: axum::body::Bytes) -> (StatusCode, axum::Json<Value>) {
            let req: Value = serde_json::from_slice(&body).unwrap_or_default();
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer k-123") {
                let e =
                    json!({ "error": { "message": "Incorrect API key provided", "type": "invalid_request_error" } });
                return (StatusCode::UNAUTHORIZED, axum::Json(e));
            }
            let said = format!(
                "{} 모델이 {} 메시지를 받았습니다. 끝.",
                req["model"],
                req["messages"].as_array().map_or(0, |m| m.len())
            );
            let answer = json!({ "object": "chat.completion", "stream_was": req["stream"],
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": said }, "finish_reason": "stop" }] });
            (StatusCode::OK, axum::Json(answer))
        }
        let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(chat));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    async fn first_done(llm: &OpenAiLlm) -> Result<(Vec<Chunk>, String), LlmError> {
        let req = GenRequest {
            messages: vec![super::super::ChatMessage::new("user", "안녕하세요")],
            max_tokens: 16,
            temperature: 0.0,
            max_sentences: 1,
        };
        let mut rx = llm.generate(req).await?;
        let mut all = Vec::new();
        while let Some(c) = rx.recv().await {
            let c = c?;
            if let Chunk::Done { text, .. } = &c {
                let t = text.clone();
                all.push(c);
                return Ok((all, t));
            }
            all.push(c);
        }
        Err(LlmError::Failed("no Done".into()))
    }

    #[tokio::test]
    async fn bearer_key_from_config_or_env_and_a_json_answer() {
        let url = keyed_json_server().await;
        std::env::remove_var(API_KEY_ENV);
        let t = Duration::from_secs(10);
        let e = first_done(&OpenAiLlm::new(&url, "m1", None, t).unwrap()).await.unwrap_err();
        assert!(matches!(&e, LlmError::Failed(m) if m.contains("401") && m.contains("Incorrect API key")), "{e:?}");

        let (chunks, text) = first_done(&OpenAiLlm::new(&url, "m1", Some("k-123".into()), t).unwrap()).await.unwrap();
        assert_eq!(text, "\"m1\" 모델이 1 메시지를 받았습니다.", "cut after one sentence");
        assert_eq!(chunks[0], Chunk::Delta(text.clone()));
        assert!(matches!(chunks[1], Chunk::Done { tokens: 1, .. }));

        std::env::set_var(API_KEY_ENV, "k-123");
        let r = first_done(&OpenAiLlm::new(&format!("{url}/v1"), "m2", None, t).unwrap()).await;
        std::env::remove_var(API_KEY_ENV);
        assert!(r.unwrap().1.starts_with("\"m2\""));
    }

    #[test]
    fn url_forms() {
        for (url, want) in [
            ("http://h:8081", "/v1/chat/completions"),
            ("http://h:8081/", "/v1/chat/completions"),
            ("http://h:8081/v1", "/v1/chat/completions"),
            ("http://h:8081/v1/", "/v1/chat/completions"),
            ("http://h/api/v1/chat/completions", "/api/v1/chat/completions"),
            ("http://h/ollama", "/ollama/v1/chat/completions"),
        ] {
            assert_eq!(Endpoint::parse(url, "[llm] url", CHAT).unwrap().path, want, "{url}");
        }
        let e = Endpoint::parse("http://[::1]:9000/v1", "[llm] url", CHAT).unwrap();
        assert_eq!((e.host.as_str(), e.port, e.url.as_str()), ("::1", 9000, "http://[::1]:9000/v1/chat/completions"));
        assert!(Endpoint::parse("https://api.example.com", "[llm] url", CHAT).unwrap_err().contains("http://"));
        assert!(Endpoint::parse("http://:80", "[llm] url", CHAT).is_err());
        assert!(Endpoint::parse("", "[llm] url", CHAT).is_err());
    }
}
