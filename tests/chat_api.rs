//! The OpenAI-compatible chat API of a real `sori serve`, over loopback HTTP.

mod common;

use common::{http, Options, Sori};

fn chat(sori: &Sori, body: serde_json::Value) -> (u16, serde_json::Value) {
    let (status, text) = http(sori.http_port, "POST", "/v1/chat/completions", &body.to_string());
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

#[test]
fn chat_completion_answers_from_the_knowledge_base_with_a_sori_object() {
    let sori = Sori::start(Options::default());
    let (status, v) = chat(
        &sori,
        serde_json::json!({ "model": "sori-1339", "messages": [
            { "role": "system", "content": "무시되는 시스템 메시지" },
            { "role": "user", "content": "홍역은 어떤 증상이 있어요?" }
        ]}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert!(!v["choices"][0]["message"]["content"].as_str().unwrap_or("").is_empty());
    assert_eq!(v["sori"]["action"], "answer");
    assert_eq!(v["sori"]["kb_id"], "measles");
    assert!(v["sori"]["sources"][0]["url"].as_str().unwrap_or("").starts_with("https://"));
    assert!(v["sori"]["confidence"].as_f64().unwrap_or(0.0) > 0.5);

    let (_, e) = chat(
        &sori,
        serde_json::json!({ "messages": [{ "role": "user", "content": "할머니가 쓰러지셨어요 숨을 안 쉬어요" }]}),
    );
    assert_eq!(e["sori"]["action"], "emergency");
    assert!(e["choices"][0]["message"]["content"].as_str().unwrap_or("").contains("119"));

    let (_, a) = chat(
        &sori,
        serde_json::json!({ "messages": [{ "role": "user", "content": "그냥 상담원이랑 통화하고 싶어요" }]}),
    );
    assert_eq!(a["sori"]["action"], "transfer");

    let (_, o) = chat(
        &sori,
        serde_json::json!({ "messages": [{ "role": "user", "content": "건강보험료가 너무 많이 나왔는데 어디에 물어봐요" }]}),
    );
    assert_eq!(o["sori"]["action"], "out-of-scope");
}

#[test]
fn follow_up_uses_earlier_turns_of_the_conversation() {
    let sori = Sori::start(Options::default());
    let (_, v) = chat(
        &sori,
        serde_json::json!({ "messages": [
            { "role": "user", "content": "말라리아 예방하려면 어떻게 해요" },
            { "role": "assistant", "content": "…" },
            { "role": "user", "content": "다시 말씀해 주세요" }
        ]}),
    );
    assert_eq!(v["sori"]["kb_id"], "malaria", "{v}");
}

#[test]
fn streaming_sends_sentences_then_the_sori_object_then_done() {
    let sori = Sori::start(Options::default());
    let body = serde_json::json!({ "stream": true, "messages": [{ "role": "user", "content": "쯔쯔가무시 예방법 알려 주세요" }]});
    let (status, text) = http(sori.http_port, "POST", "/v1/chat/completions", &body.to_string());
    assert_eq!(status, 200);
    let data: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<serde_json::Value> = data.iter().filter_map(|d| serde_json::from_str(d).ok()).collect();
    let content: Vec<&str> = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert!(content.len() >= 2, "one chunk per sentence: {content:?}");
    let last = chunks.last().expect("chunks");
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["sori"]["kb_id"], "scrub-typhus");
}

#[test]
fn bad_requests_get_400_with_a_message() {
    let sori = Sori::start(Options::default());
    let (status, text) = http(sori.http_port, "POST", "/v1/chat/completions", "{not json");
    assert_eq!(status, 400);
    let v: serde_json::Value = serde_json::from_str(&text).expect("json error body");
    assert!(v["error"]["message"].as_str().unwrap_or("").contains("not a valid chat request"));
    let (status, _) = http(sori.http_port, "POST", "/v1/chat/completions", r#"{"messages":[]}"#);
    assert_eq!(status, 400);
    let (status, text) = http(sori.http_port, "GET", "/metrics", "");
    assert_eq!(status, 200);
    assert!(text.contains("sori_calls_total"));
}
