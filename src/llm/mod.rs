//! Language models behind the [`Llm`] trait, and the grounded answer step.
//!
//! The route (which knowledge-base entry, emergency, agent) is always
//! decided by rules and retrieval in [`crate::dialog::brain`]; the model
//! only rephrases the chosen entry's passage for the caller. Its output is
//! used only when it arrives before the deadline and passes
//! [`grounding::check`] and, sentence by sentence, [`faithfulness::check`];
//! otherwise the entry's own spoken answer is said (retrieval-only mode,
//! which is also the mode without a model).

pub mod faithfulness;
pub mod grounding;
pub mod local;
pub mod openai;
pub mod prompt;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::mpsc;

use crate::dialog::brain::{Reply, ReplyAction};
use crate::kb::KnowledgeBase;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: impl Into<String>) -> ChatMessage {
        ChatMessage { role: role.to_string(), content: content.into() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GenRequest {
    pub messages: Vec<ChatMessage>,
    pub max_tokens: u32,
    pub temperature: f32,
    /// Stop after this many sentences (phone answers are short).
    pub max_sentences: u32,
}

/// Streamed output of one generation.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    Delta(String),
    Done { text: String, tokens: u32, ttft_ms: Option<u64>, ms: u64 },
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum LlmError {
    #[error("language model unavailable: {0}")]
    Unavailable(String),
    #[error("language model failed: {0}")]
    Failed(String),
    #[error("language model missed its {0} ms deadline")]
    Deadline(u64),
}

pub type ChunkStream = mpsc::UnboundedReceiver<Result<Chunk, LlmError>>;
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A chat model. Implementations: local llama.cpp workers ([`local::LocalLlm`]),
/// an OpenAI-compatible `/v1/chat/completions` server ([`openai::OpenAiLlm`]).
pub trait Llm: Send + Sync {
    fn name(&self) -> String;
    /// Starts a generation; text arrives on the returned stream.
    fn generate(&self, req: GenRequest) -> BoxFuture<'_, Result<ChunkStream, LlmError>>;
    /// The supervised worker processes' counters, if the model runs in them.
    fn pool_stats(&self) -> Option<&crate::worker::PoolStats> {
        None
    }
    /// Processes prompt prefixes ([`prompt::prefixes`]) ahead of the answers,
    /// where the model keeps them (a local worker's prefix cache). `wait`:
    /// returns once each is processed, with how many are cached; otherwise
    /// they are queued for the model's idle time. Default: nothing to do.
    fn warm(&self, _prefixes: Vec<Vec<ChatMessage>>, _wait: bool) -> BoxFuture<'_, Result<usize, LlmError>> {
        Box::pin(async { Ok(0) })
    }
    /// Queues `kb`'s prefixes for idle-time processing, once per model and
    /// knowledge base (called before each grounded answer; cheap after the first).
    fn warm_once(&self, _kb: &KnowledgeBase) {}
}

/// How an answer was produced (for records and the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerSource {
    Retrieval,
    Llm,
    /// The model answered but failed the grounding check.
    RetrievalAfterUngrounded,
    /// The model was too slow or failed.
    RetrievalAfterDeadline,
}

/// Settings of the grounded answer step.
#[derive(Debug, Clone)]
pub struct AnswerConfig {
    pub deadline: Duration,
    pub max_tokens: u32,
}

/// Rephrases an `Answer` reply with the model, grounded in its entry; any
/// failure keeps the retrieval answer. Other actions pass through untouched.
pub async fn ground_reply(
    llm: &Arc<dyn Llm>,
    kb: &KnowledgeBase,
    reply: Reply,
    question: &str,
    cfg: &AnswerConfig,
) -> (Reply, AnswerSource) {
    let Some(entry) = reply.kb_id.as_deref().and_then(|id| kb.entry(id)) else {
        return (reply, AnswerSource::Retrieval);
    };
    if reply.action != ReplyAction::Answer {
        return (reply, AnswerSource::Retrieval);
    }
    llm.warm_once(kb);
    let req = GenRequest {
        messages: prompt::grounded_messages(entry, question),
        max_tokens: cfg.max_tokens,
        temperature: 0.0,
        max_sentences: 3,
    };
    let run = async {
        let mut stream = llm.generate(req).await?;
        while let Some(c) = stream.recv().await {
            if let Chunk::Done { text, .. } = c? {
                return Ok(text);
            }
        }
        Err(LlmError::Failed("stream ended without a result".into()))
    };
    match tokio::time::timeout(cfg.deadline, run).await {
        Ok(Ok(text)) => {
            let tidy = grounding::tidy(&text);
            let passage = faithfulness::Passage::of(entry);
            let asked = faithfulness::Asked { question, previous: None };
            match check_sentences(&text, &tidy, entry, &passage, &asked, true, true) {
                Ok(()) => (Reply { text: tidy, ..reply }, AnswerSource::Llm),
                Err(why) => {
                    tracing::info!(%why, "LLM answer failed the grounding check; using the entry's answer");
                    (reply, AnswerSource::RetrievalAfterUngrounded)
                }
            }
        }
        Ok(Err(e)) => {
            tracing::info!(error = %e, "LLM failed; using the entry's answer");
            (reply, AnswerSource::RetrievalAfterDeadline)
        }
        Err(_) => {
            tracing::info!(ms = cfg.deadline.as_millis() as u64, "LLM deadline passed; using the entry's answer");
            (reply, AnswerSource::RetrievalAfterDeadline)
        }
    }
}

/// Why a generated answer was not spoken (or stopped).
#[derive(Debug, Clone, PartialEq)]
pub enum CheckFailure {
    /// [`grounding::check`]: wording, digits, language, diagnosis, echo.
    Grounding(String),
    /// [`faithfulness::check`]: meaning (eligibility, yes/no, negation, …).
    Faithfulness(faithfulness::Failure),
}

impl std::fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckFailure::Grounding(why) => write!(f, "grounding: {why}"),
            CheckFailure::Faithfulness(x) => write!(f, "faithfulness ({}): {}", x.kind.label(), x.why),
        }
    }
}

/// One check of the answer so far (`text`: every sentence up to the new
/// ones) and of its `new` sentences; `first`: they open the answer.
pub fn check_sentences(
    text: &str,
    new: &str,
    entry: &crate::kb::Entry,
    passage: &faithfulness::Passage,
    asked: &faithfulness::Asked,
    first: bool,
    faithful: bool,
) -> Result<(), CheckFailure> {
    grounding::check(text, entry, asked.question).map_err(CheckFailure::Grounding)?;
    if faithful {
        faithfulness::check(new, passage, asked, first).map_err(CheckFailure::Faithfulness)?;
    }
    Ok(())
}

/// A verdict of [`check_sentences`] during [`ground_reply_stream_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The sentences judged.
    pub text: String,
    /// Sentences already spoken before them.
    pub said: usize,
    pub result: Result<(), CheckFailure>,
}

/// What [`ground_reply_stream_with`] knows beyond the question, and how it checks.
#[derive(Clone, Default)]
pub struct StreamOptions {
    /// The caller's previous question, for a follow-up ("그럼 40대는요?"):
    /// shown to the model and used by the faithfulness check.
    pub previous: Option<String>,
    /// Leave [`faithfulness::check`] out (measurements: `sori eval traps`).
    pub without_faithfulness: bool,
    /// Told every verdict (measurements).
    pub observe: Option<Arc<dyn Fn(Verdict) + Send + Sync>>,
}

/// One sentence of a reply, ready for synthesis.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub text: String,
    /// How the reply was produced (the same on every piece of one reply).
    pub source: AnswerSource,
}

/// Most sentences a rephrased phone answer may have.
const MAX_SENTENCES: usize = 3;

/// [`ground_reply`] for speech: the reply as sentences, each sent as soon as
/// it is complete and the answer so far passes [`grounding::check`], so the
/// first sentence is spoken while the model writes the next. The first
/// sentence must arrive within the deadline and pass the check; otherwise
/// the entry's own answer is sent instead (all of it). A later sentence that
/// breaks grounding ends the answer there. Non-answers pass through.
pub fn ground_reply_stream(
    llm: &Arc<dyn Llm>,
    kb: &KnowledgeBase,
    reply: Reply,
    question: &str,
    cfg: &AnswerConfig,
) -> mpsc::UnboundedReceiver<Piece> {
    ground_reply_stream_with(llm, kb, reply, question, cfg, StreamOptions::default())
}

/// [`ground_reply_stream`] with the previous turn, the checks chosen and an
/// observer of every verdict.
pub fn ground_reply_stream_with(
    llm: &Arc<dyn Llm>,
    kb: &KnowledgeBase,
    reply: Reply,
    question: &str,
    cfg: &AnswerConfig,
    opts: StreamOptions,
) -> mpsc::UnboundedReceiver<Piece> {
    let (tx, rx) = mpsc::unbounded_channel();
    let entry = reply.kb_id.as_deref().and_then(|id| kb.entry(id)).cloned();
    let send_all = move |tx: &mpsc::UnboundedSender<Piece>, text: &str, source: AnswerSource| {
        for s in crate::dialog::brain::sentences(text) {
            let _ = tx.send(Piece { text: s, source });
        }
    };
    let (Some(entry), ReplyAction::Answer) = (entry, reply.action) else {
        send_all(&tx, &reply.text, AnswerSource::Retrieval);
        return rx;
    };
    llm.warm_once(kb);
    let req = GenRequest {
        messages: prompt::grounded_messages_after(&entry, question, opts.previous.as_deref()),
        max_tokens: cfg.max_tokens,
        temperature: 0.0,
        max_sentences: MAX_SENTENCES as u32,
    };
    let (llm, question, deadline) = (llm.clone(), question.to_string(), cfg.deadline);
    tokio::spawn(async move {
        let passage = faithfulness::Passage::of(&entry);
        let asked = faithfulness::Asked { question: &question, previous: opts.previous.as_deref() };
        let started = tokio::time::Instant::now();
        let mut stream = match tokio::time::timeout(deadline, llm.generate(req)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::info!(error = %e, "LLM failed; using the entry's answer");
                return send_all(&tx, &reply.text, AnswerSource::RetrievalAfterDeadline);
            }
            Err(_) => return send_all(&tx, &reply.text, AnswerSource::RetrievalAfterDeadline),
        };
        let (mut text, mut said) = (String::new(), 0usize);
        let ends = |s: &String| s.ends_with(['.', '?', '!', '요', '다']);
        loop {
            // Until the first sentence is out, the deadline applies; after it,
            // the rest of the answer may take up to three more deadlines.
            let limit = if said == 0 { started + deadline } else { started + deadline * 4 };
            // `finished`: the model completed its answer; `aborted`: it failed
            // or ran out of time, and the text so far ends mid-sentence.
            let (chunk, finished, aborted) = match tokio::time::timeout_at(limit, stream.recv()).await {
                Ok(Some(Ok(Chunk::Delta(d)))) => (d, false, false),
                Ok(Some(Ok(Chunk::Done { text: full, .. }))) => {
                    (if text.is_empty() { full } else { String::new() }, true, false)
                }
                Ok(Some(Err(e))) => {
                    tracing::info!(error = %e, "LLM failed mid-answer");
                    (String::new(), false, true)
                }
                Ok(None) | Err(_) => (String::new(), false, true),
            };
            text.push_str(&chunk);
            let all = crate::dialog::brain::sentences(&text);
            // The last piece is a sentence only once the model finished and it
            // ends like one (a max_tokens cut ends mid-word).
            let complete =
                if finished && all.last().is_some_and(ends) { all.len() } else { all.len().saturating_sub(1) };
            while said < complete.min(MAX_SENTENCES) {
                // A short first sentence ("네.") is judged and spoken with the next.
                let mut upto = said + 1;
                if said == 0 && all[0].chars().count() < 8 {
                    if complete < 2 {
                        break;
                    }
                    upto = 2;
                }
                let new = all[said..upto].join(" ");
                let verdict = check_sentences(
                    &all[..upto].join(" "),
                    &new,
                    &entry,
                    &passage,
                    &asked,
                    said == 0,
                    !opts.without_faithfulness,
                );
                if let Some(observe) = &opts.observe {
                    observe(Verdict { text: new, said, result: verdict.clone() });
                }
                match verdict {
                    Ok(()) => {
                        let piece = Piece { text: all[said..upto].join(" "), source: AnswerSource::Llm };
                        if tx.send(piece).is_err() {
                            return;
                        }
                        said = upto;
                    }
                    Err(why) if said == 0 => {
                        tracing::info!(%why, "LLM answer failed the grounding check; using the entry's answer");
                        return send_all(&tx, &reply.text, AnswerSource::RetrievalAfterUngrounded);
                    }
                    Err(why) => {
                        tracing::info!(%why, said, "LLM answer left its passage; stopping there");
                        return;
                    }
                }
            }
            if said >= MAX_SENTENCES {
                return;
            }
            if finished || aborted {
                if said == 0 {
                    let source = if aborted {
                        AnswerSource::RetrievalAfterDeadline
                    } else {
                        AnswerSource::RetrievalAfterUngrounded
                    };
                    send_all(&tx, &reply.text, source);
                }
                return;
            }
        }
    });
    rx
}

/// `sori chat`'s language model: `[llm]` started once on its own runtime,
/// each answer reply rephrased through [`ground_reply_stream_with`] as on a
/// call (deadline, grounding and faithfulness checks, fallback to the
/// entry's answer), with the caller's previous question for follow-ups.
pub struct ChatLlm {
    rt: tokio::runtime::Runtime,
    llm: Arc<dyn Llm>,
    cfg: AnswerConfig,
    /// The last question and the entry it was answered from.
    previous: Option<(String, Option<String>)>,
}

impl ChatLlm {
    /// None when `[llm] engine = "none"` (or the model did not start: logged).
    pub fn start(cfg: &crate::config::Config) -> anyhow::Result<Option<ChatLlm>> {
        if cfg.llm.engine == "none" {
            return Ok(None);
        }
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let Some(llm) = rt.block_on(crate::server::start_llm(cfg)) else { return Ok(None) };
        let cfg = AnswerConfig { deadline: Duration::from_millis(cfg.llm.deadline_ms), max_tokens: cfg.llm.max_tokens };
        Ok(Some(ChatLlm { rt, llm, cfg, previous: None }))
    }

    pub fn name(&self) -> String {
        self.llm.name()
    }

    /// The reply as the caller would hear it, how it was produced, and why
    /// a check stopped the model (if one did).
    pub fn answer(&mut self, kb: &KnowledgeBase, reply: Reply, question: &str) -> (String, AnswerSource, Vec<String>) {
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let f = failures.clone();
        // The previous question is context only when this reply stays on its topic.
        let last = self.previous.replace((question.to_string(), reply.kb_id.clone()));
        let previous = last.filter(|(_, id)| id.is_some() && *id == reply.kb_id).map(|(q, _)| q);
        let opts = StreamOptions {
            previous,
            without_faithfulness: false,
            observe: Some(Arc::new(move |v: Verdict| {
                if let Err(e) = v.result {
                    f.lock().expect("verdicts").push(e.to_string());
                }
            })),
        };
        let (text, source) = self.rt.block_on(async {
            let mut rx = ground_reply_stream_with(&self.llm, kb, reply, question, &self.cfg, opts);
            let (mut said, mut source) = (Vec::new(), AnswerSource::Retrieval);
            while let Some(p) = rx.recv().await {
                source = p.source;
                said.push(p.text);
            }
            (said.join(" "), source)
        });
        let why = failures.lock().expect("verdicts").clone();
        (text, source, why)
    }
}
