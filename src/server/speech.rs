//! The spoken conversation on a call: VAD + end-of-turn ([`crate::audio`]),
//! speech-to-text ([`crate::stt`]), the dialogue engine
//! ([`crate::dialog::brain`], optionally rephrased by [`crate::llm`]) and
//! text-to-speech for replies. Loaded once per process; each call gets a
//! [`Listener`] and sends utterances here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::hotline::Hotline;
use super::Shared;
use crate::audio::{Listener, ListenerConfig, VadEngine};
use crate::dialog::brain::{Conversation, Reply, ReplyAction};
use crate::llm::{ground_reply_stream_with, AnswerConfig, AnswerSource, Piece, StreamOptions};
use crate::stt::Stt;
use crate::tts::Tts;

/// Process-wide speech engines.
pub struct Speech {
    pub vad: VadEngine,
    pub listen: ListenerConfig,
    pub stt: Arc<dyn Stt>,
    pub tts: Arc<dyn Tts>,
}

impl Speech {
    pub fn listener(&self) -> Listener {
        Listener::new(self.vad.new_vad(), self.listen.clone())
    }
}

/// Starts VAD, STT and the reply voice; when any is missing, calls still
/// work with the DTMF menu and the reason is logged once.
pub async fn start(cfg: &crate::config::Config) -> Option<Speech> {
    let vad = match VadEngine::load(&cfg.vad) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "speech input disabled (VAD): calls use the DTMF menu only");
            return None;
        }
    };
    let stt = match crate::stt::from_config(&cfg.stt).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "speech input disabled (STT): calls use the DTMF menu only");
            return None;
        }
    };
    let tts: Arc<dyn Tts> = match crate::tts::from_config(&cfg.tts) {
        Ok(t) => Arc::from(t),
        Err(e) => {
            tracing::warn!(error = %e, "speech replies disabled (TTS)");
            return None;
        }
    };
    tracing::info!(stt = %stt.describe(), tts = %tts.id(), "speech conversation ready");
    let listen = ListenerConfig { endpoint: cfg.vad.endpoint(), ..Default::default() };
    Some(Speech { vad, listen, stt, tts })
}

/// A transcribed caller turn, back from the STT task.
#[derive(Debug)]
pub struct Heard {
    /// The transcript, loops collapsed and personal numbers redacted.
    pub text: Result<String, String>,
    pub stt_ms: u64,
    /// Bounds of the utterance in the call's audio (stream time since answer).
    pub span: Span,
    pub start_ms: u64,
    pub end_ms: u64,
    /// When end-of-turn was detected (for voice-to-voice latency); set when
    /// the turn is committed.
    pub detected: Instant,
    /// End of turn → transcript in hand.
    pub wait_ms: u64,
}

/// Utterance bounds: a pause and the end of the same turn share them.
pub type Span = (Duration, Duration);

/// The transcribed turn as the dialogue gets it; `detected` is when the turn
/// ended, `waited` whether its transcript came after that.
pub fn heard(turn: crate::stt::pieces::TurnText, detected: Instant, waited: bool) -> Heard {
    Heard {
        text: turn.text,
        stt_ms: turn.stt_ms,
        span: turn.span,
        start_ms: turn.span.0.as_millis() as u64,
        end_ms: turn.span.1.as_millis() as u64,
        detected,
        wait_ms: if waited { detected.elapsed().as_millis() as u64 } else { 0 },
    }
}

/// A reply ready to play.
#[derive(Debug)]
pub struct Spoken {
    /// Identifies the reply its continuations ([`Said::More`]) belong to.
    pub reply_id: u64,
    /// The reply; its `text` is what this audio says (the first sentence
    /// when the answer is streamed).
    pub reply: Reply,
    pub source: AnswerSource,
    pub audio: Arc<[i16]>,
    pub heard: Heard,
    pub transcript: String,
    /// Turn decided → first sentence's text ready (routing + LLM).
    pub llm_ms: u64,
    /// Synthesis of the first sentence (0 for pre-rendered answers).
    pub tts_ms: u64,
}

/// Audio of a reply, as it becomes ready: the first part opens the turn,
/// the next sentences of a streamed answer follow it.
#[derive(Debug)]
pub enum Said {
    First(Box<Spoken>),
    More {
        reply_id: u64,
        text: String,
        audio: Arc<[i16]>,
    },
    /// The reply could not be voiced (synthesis failed or hung) and has no
    /// pre-rendered audio: the call says a fallback instead.
    Failed {
        reply_id: u64,
    },
}

/// Longest the synthesis of one reply sentence may take before it counts as
/// failed (the call's hold phrase covers the wait meanwhile).
const TTS_TIMEOUT: Duration = Duration::from_secs(3);

/// Transcribes one piece of a caller's turn ([`crate::stt::pieces`]) off
/// the call task; the raw text goes back to be put together with the others.
pub fn transcribe(
    shared: &Arc<Shared>,
    hotline: &Arc<Hotline>,
    turn_start: Duration,
    piece: Span,
    audio: Vec<i16>,
    tx: mpsc::UnboundedSender<crate::stt::pieces::PieceResult>,
) -> Option<tokio::task::AbortHandle> {
    let Some(speech) = &shared.speech else { return None };
    let stt = speech.stt.clone();
    let hotline = hotline.clone();
    let job = tokio::spawn(async move {
        let t = Instant::now();
        let text = stt.transcribe(audio).await.map(|t| t.text).map_err(|e| e.to_string());
        let stt_ms = t.elapsed().as_millis() as u64;
        // A piece that starts the turn may be all of it: embed what the router
        // would see now, off the call task (a hit later).
        if let (Ok(text), true) = (&text, piece.0 == turn_start) {
            let (hotline, routed) = (hotline.clone(), crate::stt::text::for_routing(text));
            let _ = tokio::task::spawn_blocking(move || hotline.brain.router().prefetch(&routed)).await;
        }
        let _ = tx.send(crate::stt::pieces::PieceResult { turn_start, piece, text, stt_ms });
    });
    Some(job.abort_handle())
}

/// Decides the reply (sync, per-call conversation state), then speaks it
/// off the call task: pre-rendered answers at once; otherwise sentence by
/// sentence (the LLM's, grounded, as they are generated; or the reply's own
/// sentences), so the caller hears the first sentence while the next is made.
/// `reply_by`: when the caller should hear it ([`crate::dialog::trouble`]):
/// the model's answer is cut for the entry's pre-rendered one to make it.
#[allow(clippy::too_many_arguments)]
pub fn reply(
    shared: &Arc<Shared>,
    hotline: &Arc<Hotline>,
    conv: &mut Conversation,
    heard: Heard,
    transcript: String,
    reply_by: Option<Instant>,
    tx: mpsc::UnboundedSender<Said>,
) -> (ReplyAction, u64) {
    static REPLY_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let reply_id = REPLY_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Routing may embed the utterance (~20 ms): let other tasks move off
    // this worker thread meanwhile.
    // The question before this one: a follow-up's context for the model and its check.
    let previous = conv.last_question.replace(transcript.clone());
    let reply = tokio::task::block_in_place(|| hotline.brain.respond(conv, &transcript));
    let action = reply.action;
    let (shared, hotline) = (shared.clone(), hotline.clone());
    tokio::spawn(async move {
        let t = Instant::now();
        let llm = shared.llm.clone().filter(|_| reply.action == ReplyAction::Answer && hotline.llm);
        let mut pieces = match &llm {
            Some(llm) => {
                // First sentence by the call's reply instant, with time to voice it.
                let budget = reply_by.map_or(Duration::MAX, |by| {
                    by.saturating_duration_since(Instant::now()).saturating_sub(Duration::from_millis(300))
                });
                let cfg = AnswerConfig {
                    deadline: Duration::from_millis(shared.cfg.llm.deadline_ms).min(budget),
                    max_tokens: shared.cfg.llm.max_tokens,
                };
                let opts = StreamOptions { previous, ..Default::default() };
                ground_reply_stream_with(llm, hotline.brain.kb(), reply.clone(), &transcript, &cfg, opts)
            }
            None => {
                let (ptx, prx) = mpsc::unbounded_channel();
                // A pre-rendered reply is one piece; others are cut into sentences.
                let parts = if hotline.prompts.get(&reply.text).is_some() {
                    vec![reply.text.clone()]
                } else {
                    crate::dialog::brain::sentences(&reply.text)
                };
                for text in parts {
                    let _ = ptx.send(Piece { text, source: AnswerSource::Retrieval });
                }
                prx
            }
        };
        let mut heard = Some(heard);
        let mut first_retrieval = false;
        while let Some(piece) = pieces.recv().await {
            let llm_ms = t.elapsed().as_millis() as u64;
            // The LLM fell back to the entry's answer: that one is pre-rendered whole.
            if heard.is_some() && piece.source != AnswerSource::Llm {
                if let Some(audio) = hotline.prompts.get(&reply.text) {
                    if let Some(heard) = heard.take() {
                        let first = Spoken {
                            reply_id,
                            reply: reply.clone(),
                            source: piece.source,
                            audio,
                            heard,
                            transcript: transcript.clone(),
                            llm_ms,
                            tts_ms: 0,
                        };
                        let _ = tx.send(Said::First(Box::new(first)));
                    }
                    first_retrieval = true;
                }
            }
            if first_retrieval {
                continue; // the rest of the entry's answer is in that audio
            }
            let tt = Instant::now();
            let audio = match hotline.prompts.get(&piece.text) {
                Some(a) => a,
                None => {
                    // The first sentence, when the entry's answer is pre-rendered,
                    // may take until the reply instant; otherwise up to TTS_TIMEOUT.
                    let kb = heard.as_ref().and_then(|_| hotline.prompts.get(&reply.text));
                    let budget = match (reply_by, &kb) {
                        (Some(by), Some(_)) => by.saturating_duration_since(tt).min(TTS_TIMEOUT),
                        _ => TTS_TIMEOUT,
                    };
                    let synth = tokio::time::timeout(budget, synthesize(&shared, &hotline, &piece.text)).await;
                    match synth {
                        Ok(Some(a)) => a,
                        failed => {
                            if matches!(failed, Ok(None)) || budget == TTS_TIMEOUT {
                                super::metrics::Metrics::inc(&shared.metrics.tts_failures);
                                tracing::warn!(text = %piece.text, "reply not voiced: synthesis failed or took too long");
                            }
                            let Some(heard) = heard.take() else { break };
                            let said = match kb {
                                Some(audio) => Said::First(Box::new(Spoken {
                                    reply_id,
                                    reply: reply.clone(),
                                    source: AnswerSource::RetrievalAfterDeadline,
                                    audio,
                                    heard,
                                    transcript: transcript.clone(),
                                    llm_ms,
                                    tts_ms: tt.elapsed().as_millis() as u64,
                                })),
                                None => Said::Failed { reply_id },
                            };
                            let _ = tx.send(said);
                            break;
                        }
                    }
                }
            };
            let tts_ms = tt.elapsed().as_millis() as u64;
            let said = match heard.take() {
                Some(heard) => Said::First(Box::new(Spoken {
                    reply_id,
                    reply: Reply { text: piece.text, ..reply.clone() },
                    source: piece.source,
                    audio,
                    heard,
                    transcript: transcript.clone(),
                    llm_ms,
                    tts_ms,
                })),
                None => Said::More { reply_id, text: piece.text, audio },
            };
            if tx.send(said).is_err() {
                break;
            }
        }
    });
    (action, reply_id)
}

async fn synthesize(shared: &Arc<Shared>, hotline: &Hotline, text: &str) -> Option<Arc<[i16]>> {
    let speech = shared.speech.as_ref()?;
    // The hotline's own voice, else the one [tts] names.
    let (tts, text) = (hotline.tts.clone().unwrap_or_else(|| speech.tts.clone()), text.to_string());
    match tokio::task::spawn_blocking(move || crate::tts::prompts::render(tts.as_ref(), &text)).await {
        Ok(Ok(pcm)) => Some(Arc::from(pcm)),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "reply synthesis failed");
            None
        }
        Err(_) => None,
    }
}

/// The engines' figures for `/metrics`: fallbacks said, failed
/// transcriptions and syntheses, and the worker processes' restarts.
pub fn render_metrics(shared: &Shared) -> String {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let m = &shared.metrics;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# HELP sori_fallbacks_total Said instead of a reply when engines were slow or failed.\n# TYPE sori_fallbacks_total counter"
    );
    for (kind, c) in [("hold", &m.fallback_hold), ("sorry", &m.fallback_sorry), ("transfer", &m.fallback_transfer)] {
        let _ = writeln!(s, "sori_fallbacks_total{{kind=\"{kind}\"}} {}", c.load(Relaxed));
    }
    let _ = writeln!(
        s,
        "# HELP sori_engine_failures_total Caller turns whose transcription failed, replies whose synthesis failed.\n# TYPE sori_engine_failures_total counter\nsori_engine_failures_total{{engine=\"stt\"}} {}\nsori_engine_failures_total{{engine=\"tts\"}} {}",
        m.stt_failures.load(Relaxed),
        m.tts_failures.load(Relaxed)
    );
    let _ = writeln!(
        s,
        "# HELP sori_stt_cancelled_total Speculative transcriptions cancelled because the caller talked on.\n# TYPE sori_stt_cancelled_total counter\nsori_stt_cancelled_total {}",
        m.stt_cancelled.load(Relaxed)
    );
    let _ = writeln!(
        s,
        "# HELP sori_turns_heard_whole_total Caller turns transcribed again whole, pause included, because the caller went on right after their end.\n# TYPE sori_turns_heard_whole_total counter\nsori_turns_heard_whole_total {}",
        m.turns_heard_whole.load(Relaxed)
    );
    let pools = [
        ("stt", shared.speech.as_ref().and_then(|sp| sp.stt.pool_stats())),
        ("llm", shared.llm.as_ref().and_then(|l| l.pool_stats())),
    ];
    let pools: Vec<_> = pools.into_iter().filter_map(|(n, p)| p.map(|p| (n, p))).collect();
    if !pools.is_empty() {
        let _ = writeln!(s, "# HELP sori_worker_restarts_total Engine worker processes restarted (crash or time-out).\n# TYPE sori_worker_restarts_total counter");
        for (n, p) in &pools {
            let _ = writeln!(s, "sori_worker_restarts_total{{engine=\"{n}\"}} {}", p.restarts.load(Relaxed));
        }
        let _ = writeln!(s, "# HELP sori_worker_requests_failed_total Engine requests that failed.\n# TYPE sori_worker_requests_failed_total counter");
        for (n, p) in &pools {
            let _ = writeln!(s, "sori_worker_requests_failed_total{{engine=\"{n}\"}} {}", p.failed.load(Relaxed));
        }
        let _ =
            writeln!(s, "# HELP sori_workers_live Engine worker processes running.\n# TYPE sori_workers_live gauge");
        for (n, p) in &pools {
            let _ = writeln!(s, "sori_workers_live{{engine=\"{n}\"}} {}", p.live_workers.load(Relaxed));
        }
    }
    s
}
