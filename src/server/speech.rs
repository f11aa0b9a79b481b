//! The spoken conversation on a call: VAD + end-of-turn ([`crate::audio`]),
//! speech-to-text ([`crate::stt`]), the dialogue engine
//! ([`crate::dialog::brain`], optionally rephrased by [`crate::llm`]) and
//! text-to-speech for replies. Loaded once per process; each call gets a
//! [`Listener`] and sends utterances here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::Shared;
use crate::audio::{Listener, ListenerConfig, VadEngine};
use crate::dialog::brain::{Conversation, Reply, ReplyAction};
use crate::llm::{ground_reply_stream, AnswerConfig, AnswerSource, Piece};
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

/// What to do at the end of a caller's turn.
#[derive(Debug)]
pub enum AtEnd {
    /// The speculative transcript of this very audio is in: use it.
    Ready(Heard),
    /// It is still running: wait for it.
    Wait,
    /// Transcribe now.
    Transcribe,
}

/// Speculative transcription bookkeeping for one call (sans-IO): the audio
/// offered at the caller's last pause is transcribed at once; if the turn
/// ends with the same bounds, that transcript is the turn's, and the STT time
/// is hidden behind the rest of the end-of-turn silence.
#[derive(Debug, Default)]
pub struct Transcripts {
    /// The pause being transcribed, and its result once back.
    early: Option<(Span, Option<Heard>)>,
    /// Ended turns waiting for their transcript, oldest first.
    awaiting: std::collections::VecDeque<(Span, Instant)>,
    /// A speculative job whose audio went stale while it ran.
    stale_in_flight: Option<Span>,
}

impl Transcripts {
    /// The caller paused: transcribe `span` speculatively (returns true) unless
    /// the same audio is already being transcribed.
    pub fn on_pause(&mut self, span: Span) -> bool {
        match &self.early {
            Some((s, _)) if *s == span => return false,
            // An earlier pause's job still runs and its audio is stale now;
            // one speculative job at a time keeps the worker for real turns.
            Some((s, None)) => {
                self.stale_in_flight = Some(*s);
                self.early = None;
                return false;
            }
            _ => {}
        }
        if self.stale_in_flight.is_some() {
            return false;
        }
        self.early = Some((span, None));
        true
    }

    /// The turn ended with `span`, detected at `now`.
    pub fn on_end(&mut self, span: Span, now: Instant) -> AtEnd {
        match self.early.take() {
            Some((s, Some(mut heard))) if s == span && heard.text.is_ok() => {
                heard.detected = now;
                heard.wait_ms = 0;
                AtEnd::Ready(heard)
            }
            Some((s, None)) if s == span => {
                self.awaiting.push_back((span, now));
                AtEnd::Wait
            }
            _ => {
                self.awaiting.push_back((span, now));
                AtEnd::Transcribe
            }
        }
    }

    /// A transcript came back: the turn it completes, if it is one we wait
    /// for; a speculative one is kept until its turn ends; stale ones go.
    pub fn on_result(&mut self, mut heard: Heard) -> Option<Heard> {
        if self.stale_in_flight == Some(heard.span) {
            self.stale_in_flight = None;
        }
        if let Some(i) = self.awaiting.iter().position(|(s, _)| *s == heard.span) {
            if let Some((_, at)) = self.awaiting.remove(i) {
                heard.detected = at;
                heard.wait_ms = at.elapsed().as_millis() as u64;
            }
            return Some(heard);
        }
        if let Some((s, slot @ None)) = &mut self.early {
            if *s == heard.span {
                *slot = Some(heard);
            }
        }
        None
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
    More { reply_id: u64, text: String, audio: Arc<[i16]> },
}

/// Transcribes an utterance off the call task.
pub fn transcribe(shared: &Arc<Shared>, utt: crate::audio::Utterance, tx: mpsc::UnboundedSender<Heard>) {
    let Some(speech) = &shared.speech else { return };
    let stt = speech.stt.clone();
    let shared = shared.clone();
    tokio::spawn(async move {
        let t = Instant::now();
        let text = stt
            .transcribe(utt.audio)
            .await
            // Redacted here, once: logs, records and the router only ever see this.
            .map(|t| crate::stt::text::for_routing(&t.text))
            .map_err(|e| e.to_string());
        let stt_ms = t.elapsed().as_millis() as u64;
        // Embed what the router will see now, off the call task (a hit later).
        if let Ok(text) = &text {
            let (shared, routed) = (shared.clone(), text.clone());
            let _ = tokio::task::spawn_blocking(move || shared.brain.router().prefetch(&routed)).await;
        }
        let _ = tx.send(Heard {
            text,
            stt_ms,
            span: (utt.start, utt.end),
            start_ms: utt.start.as_millis() as u64,
            end_ms: utt.end.as_millis() as u64,
            detected: Instant::now(),
            wait_ms: 0,
        });
    });
}

/// Decides the reply (sync, per-call conversation state), then speaks it
/// off the call task: pre-rendered answers at once; otherwise sentence by
/// sentence (the LLM's, grounded, as they are generated; or the reply's own
/// sentences), so the caller hears the first sentence while the next is made.
pub fn reply(
    shared: &Arc<Shared>,
    conv: &mut Conversation,
    heard: Heard,
    transcript: String,
    tx: mpsc::UnboundedSender<Said>,
) -> (ReplyAction, u64) {
    static REPLY_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let reply_id = REPLY_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Routing may embed the utterance (~20 ms): let other tasks move off
    // this worker thread meanwhile.
    let reply = tokio::task::block_in_place(|| shared.brain.respond(conv, &transcript));
    let action = reply.action;
    let shared = shared.clone();
    tokio::spawn(async move {
        let t = Instant::now();
        let llm = shared.llm.clone().filter(|_| reply.action == ReplyAction::Answer);
        let mut pieces = match &llm {
            Some(llm) => {
                let cfg = AnswerConfig {
                    deadline: Duration::from_millis(shared.cfg.llm.deadline_ms),
                    max_tokens: shared.cfg.llm.max_tokens,
                };
                ground_reply_stream(llm, shared.brain.kb(), reply.clone(), &transcript, &cfg)
            }
            None => {
                let (ptx, prx) = mpsc::unbounded_channel();
                // A pre-rendered reply is one piece; others are cut into sentences.
                let parts = if shared.prompts.get(&reply.text).is_some() {
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
                if let Some(audio) = shared.prompts.get(&reply.text) {
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
            let audio = match shared.prompts.get(&piece.text) {
                Some(a) => a,
                None => match synthesize(&shared, &piece.text).await {
                    Some(a) => a,
                    None => break,
                },
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

async fn synthesize(shared: &Arc<Shared>, text: &str) -> Option<Arc<[i16]>> {
    let speech = shared.speech.as_ref()?;
    let (tts, text) = (speech.tts.clone(), text.to_string());
    match tokio::task::spawn_blocking(move || crate::tts::prompts::render(tts.as_ref(), &text)).await {
        Ok(Ok(pcm)) => Some(Arc::from(pcm)),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "reply synthesis failed");
            None
        }
        Err(_) => None,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn span(a: u64, b: u64) -> Span {
        (Duration::from_millis(a), Duration::from_millis(b))
    }

    fn heard(s: Span, text: &str) -> Heard {
        Heard {
            text: Ok(text.into()),
            stt_ms: 300,
            span: s,
            start_ms: s.0.as_millis() as u64,
            end_ms: s.1.as_millis() as u64,
            detected: Instant::now(),
            wait_ms: 0,
        }
    }

    #[test]
    fn a_finished_speculative_transcript_is_used_at_the_end_without_waiting() {
        let mut t = Transcripts::default();
        assert!(t.on_pause(span(100, 900)));
        assert!(t.on_result(heard(span(100, 900), "코로나 검사")).is_none(), "kept until the turn ends");
        let AtEnd::Ready(h) = t.on_end(span(100, 900), Instant::now()) else { panic!() };
        assert_eq!(h.text.as_deref(), Ok("코로나 검사"));
        assert_eq!(h.wait_ms, 0);
    }

    #[test]
    fn an_end_during_the_speculative_transcription_waits_for_it() {
        let mut t = Transcripts::default();
        assert!(t.on_pause(span(100, 900)));
        assert!(matches!(t.on_end(span(100, 900), Instant::now()), AtEnd::Wait));
        let h = t.on_result(heard(span(100, 900), "독감")).expect("the turn's transcript");
        assert_eq!(h.text.as_deref(), Ok("독감"));
    }

    #[test]
    fn speech_after_the_pause_makes_the_speculation_stale() {
        let mut t = Transcripts::default();
        assert!(t.on_pause(span(100, 900)));
        // The caller went on; the first job still runs, so the next pause waits.
        assert!(!t.on_pause(span(100, 2000)), "one speculative job at a time");
        assert!(t.on_result(heard(span(100, 900), "코로나")).is_none(), "stale");
        // Once it is back, a later pause may start one.
        assert!(t.on_pause(span(100, 2400)));
        assert!(matches!(t.on_end(span(100, 2500), Instant::now()), AtEnd::Transcribe));
        assert!(t.on_result(heard(span(100, 2400), "코로나 검사")).is_none(), "stale");
        let h = t.on_result(heard(span(100, 2500), "코로나 검사 어디서")).expect("the turn's transcript");
        assert_eq!(h.text.as_deref(), Ok("코로나 검사 어디서"));
    }

    #[test]
    fn a_failed_speculative_transcription_is_redone_at_the_end() {
        let mut t = Transcripts::default();
        assert!(t.on_pause(span(100, 900)));
        let mut failed = heard(span(100, 900), "");
        failed.text = Err("queue full".into());
        assert!(t.on_result(failed).is_none());
        assert!(matches!(t.on_end(span(100, 900), Instant::now()), AtEnd::Transcribe));
        assert!(t.on_result(heard(span(100, 900), "코로나")).is_some());
    }

    #[test]
    fn turns_without_pauses_are_transcribed_in_order() {
        let mut t = Transcripts::default();
        assert!(matches!(t.on_end(span(0, 500), Instant::now()), AtEnd::Transcribe));
        assert!(matches!(t.on_end(span(900, 1500), Instant::now()), AtEnd::Transcribe));
        assert!(t.on_result(heard(span(900, 1500), "둘")).is_some());
        assert!(t.on_result(heard(span(0, 500), "하나")).is_some());
        assert!(t.on_result(heard(span(0, 500), "again")).is_none());
    }
}
