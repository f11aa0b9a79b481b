//! `OpenAiLlm` against a real OpenAI-compatible server over loopback: sori's
//! own `/v1/chat/completions` (retrieval answers from the 1339 knowledge
//! base, streamed one sentence per event), and a second sori that uses the
//! first one as its `[llm] engine = "openai"`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{free_port, Options, Sori};
use sori::dialog::brain::{sentences, Brain, Conversation};
use sori::kb::KnowledgeBase;
use sori::llm::openai::OpenAiLlm;
use sori::llm::{ground_reply, AnswerConfig, AnswerSource, ChatMessage, Chunk, GenRequest, Llm, LlmError};

fn client(port: u16, suffix: &str) -> OpenAiLlm {
    OpenAiLlm::new(&format!("http://127.0.0.1:{port}{suffix}"), "sori-1339", None, Duration::from_secs(20))
        .expect("client")
}

fn ask(question: &str, max_sentences: u32) -> GenRequest {
    GenRequest { messages: vec![ChatMessage::new("user", question)], max_tokens: 96, temperature: 0.0, max_sentences }
}

/// All deltas, then the `Done` (text, tokens, ttft_ms).
async fn collect(llm: &OpenAiLlm, req: GenRequest) -> Result<(Vec<String>, String, u32, Option<u64>), LlmError> {
    let mut stream = llm.generate(req).await?;
    let mut deltas = Vec::new();
    while let Some(c) = stream.recv().await {
        match c? {
            Chunk::Delta(d) => deltas.push(d),
            Chunk::Done { text, tokens, ttft_ms, .. } => {
                assert!(stream.recv().await.is_none(), "nothing after Done");
                return Ok((deltas, text, tokens, ttft_ms));
            }
        }
    }
    panic!("stream ended without Done (deltas {deltas:?})");
}

/// The dialogue engine on the shipped knowledge base (lexical routing).
fn brain() -> Brain {
    Brain::new(KnowledgeBase::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/kb/1339.toml"))).unwrap())
}

fn hangul(s: &str) -> usize {
    s.chars().filter(|c| ('\u{AC00}'..='\u{D7A3}').contains(c)).count()
}

#[tokio::test]
async fn streamed_korean_answer_arrives_as_deltas_that_add_up_to_the_text() {
    let sori = Sori::start(Options::default());
    let llm = client(sori.http_port, "");
    let (deltas, text, tokens, ttft) = collect(&llm, ask("쯔쯔가무시 예방법 알려 주세요", 0)).await.expect("answer");
    assert!(deltas.len() >= 2, "sori streams one event per sentence: {deltas:?}");
    assert_eq!(deltas.concat(), text);
    assert!(hangul(&text) > 10, "a Korean answer: {text}");
    assert_eq!(tokens, deltas.len() as u32, "no usage in the stream: one per delta");
    assert!(ttft.is_some());
    // The same answer as the API gives without streaming (and a "/v1" base URL works too).
    let brain = brain();
    let want = brain.respond(&mut Conversation::default(), "쯔쯔가무시 예방법 알려 주세요").text;
    let (_, text_v1, _, _) =
        collect(&client(sori.http_port, "/v1/"), ask("쯔쯔가무시 예방법 알려 주세요", 0)).await.unwrap();
    assert_eq!((text.as_str(), text_v1.as_str()), (want.as_str(), want.as_str()));
}

#[tokio::test]
async fn max_sentences_one_cuts_after_the_first_sentence() {
    let sori = Sori::start(Options::default());
    let llm = client(sori.http_port, "/v1");
    let (_, full, _, _) = collect(&llm, ask("홍역은 어떤 증상이 있어요?", 0)).await.expect("full answer");
    let all = sentences(&full);
    assert!(all.len() >= 2, "the entry has several sentences: {full}");
    let (deltas, text, _, _) = collect(&llm, ask("홍역은 어떤 증상이 있어요?", 1)).await.expect("cut answer");
    assert_eq!(text, all[0]);
    assert_eq!(deltas.concat(), text);
    assert_eq!(sentences(&text).len(), 1);
}

#[tokio::test]
async fn no_server_or_no_endpoint_is_unavailable_naming_the_url() {
    let dead = free_port();
    let e = collect(&client(dead, ""), ask("홍역", 0)).await.unwrap_err();
    let LlmError::Unavailable(msg) = &e else { panic!("{e:?}") };
    assert!(msg.contains(&format!("http://127.0.0.1:{dead}/v1/chat/completions")), "{msg}");

    let e = collect(
        &OpenAiLlm::new("http://no-such-host.invalid:8081", "m", None, Duration::from_secs(10)).unwrap(),
        ask("홍역", 0),
    )
    .await
    .unwrap_err();
    assert!(matches!(&e, LlmError::Unavailable(m) if m.contains("no-such-host.invalid")), "{e:?}");

    let sori = Sori::start(Options::default());
    let e = collect(&client(sori.http_port, "/api/chat/completions"), ask("홍역", 0)).await.unwrap_err();
    assert!(
        matches!(&e, LlmError::Unavailable(m) if m.contains("404") && m.contains("/api/chat/completions")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_rejected_request_fails_with_the_servers_message() {
    let sori = Sori::start(Options::default());
    // sori answers 400 when no message is from the user.
    let req = GenRequest { messages: vec![ChatMessage::new("system", "안내")], ..ask("", 0) };
    let e = collect(&client(sori.http_port, ""), req).await.unwrap_err();
    let LlmError::Failed(msg) = &e else { panic!("{e:?}") };
    assert!(msg.contains("400"), "{msg}");
    assert!(msg.contains("messages must contain at least one user message"), "{msg}");
}

#[tokio::test]
async fn grounded_reply_through_the_client_speaks_the_servers_grounded_answer() {
    let sori = Sori::start(Options::default());
    let llm: Arc<dyn Llm> = Arc::new(client(sori.http_port, ""));
    let brain = brain();
    let q = "독감 예방접종은 누가 무료로 맞을 수 있나요?";
    let reply = brain.respond(&mut Conversation::default(), q);
    assert_eq!(reply.kb_id.as_deref(), Some("flu-vaccine"));
    let cfg = AnswerConfig { deadline: Duration::from_secs(20), max_tokens: 96 };
    // The server answers with the entry's own words, which pass the grounding check.
    let (r, source) = ground_reply(&llm, brain.kb(), reply.clone(), q, &cfg).await;
    assert_eq!(source, AnswerSource::Llm, "{}", r.text);
    assert!(hangul(&r.text) > 10, "{}", r.text);
    let entry = brain.kb().entry("flu-vaccine").unwrap();
    assert_eq!(sori::llm::grounding::check(&r.text, entry, q), Ok(()));
    assert!(entry.spoken.get_ref().starts_with(&sentences(&r.text)[0]), "{}", r.text);
    assert_eq!(r.kb_id.as_deref(), Some("flu-vaccine"));

    // A dead server costs nothing but the rephrasing.
    let dead: Arc<dyn Llm> = Arc::new(client(free_port(), ""));
    let (r, source) = ground_reply(&dead, brain.kb(), reply.clone(), q, &cfg).await;
    assert_eq!((source, r.text), (AnswerSource::RetrievalAfterDeadline, reply.text));
}

#[tokio::test]
async fn streamed_grounded_reply_arrives_sentence_by_sentence() {
    let sori = Sori::start(Options::default());
    let llm: Arc<dyn Llm> = Arc::new(client(sori.http_port, ""));
    let brain = brain();
    let q = "독감 예방접종은 누가 무료로 맞을 수 있나요?";
    let reply = brain.respond(&mut Conversation::default(), q);
    let cfg = AnswerConfig { deadline: Duration::from_secs(20), max_tokens: 96 };
    let mut rx = sori::llm::ground_reply_stream(&llm, brain.kb(), reply.clone(), q, &cfg);
    let mut got = Vec::new();
    while let Some(p) = rx.recv().await {
        assert_eq!(p.source, AnswerSource::Llm, "{}", p.text);
        got.push(p.text);
    }
    // The server streams the entry's own sentences; each passes grounding
    // together with those before it and is sent on its own (at most three).
    let want: Vec<String> = sentences(&reply.text).into_iter().take(3).collect();
    assert!(want.len() >= 2, "{want:?}");
    assert_eq!(got, want);
    let entry = brain.kb().entry("flu-vaccine").unwrap();
    assert_eq!(sori::llm::grounding::check(&got.join(" "), entry, q), Ok(()));
}

#[test]
fn sori_with_engine_openai_rephrases_through_another_sori() {
    let upstream = Sori::start(Options::default());
    let extra = format!("\n[llm]\nengine = \"openai\"\nurl = \"http://127.0.0.1:{}/v1\"\napi_model = \"sori-1339\"\ndeadline_ms = 10000\n", upstream.http_port);
    let sori = Sori::start(Options { extra, ..Options::default() });
    let body = serde_json::json!({ "messages": [{ "role": "user", "content": "독감 예방접종은 누가 무료로 맞을 수 있나요?" }]});
    let (status, text) = common::http(sori.http_port, "POST", "/v1/chat/completions", &body.to_string());
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["sori"]["answer_source"], "llm", "{v}\nlog:\n{}", sori.log());
    assert_eq!(v["sori"]["kb_id"], "flu-vaccine");
    assert!(hangul(v["choices"][0]["message"]["content"].as_str().unwrap_or("")) > 10, "{v}");
    assert!(sori.log().contains("openai:sori-1339@"), "the engine is named at start-up");
}
