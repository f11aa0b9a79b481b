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
use crate::llm::{ground_reply, AnswerConfig, AnswerSource};
use crate::stt::Stt;
use crate::tts::Tts;

/// Process-wide speech engines.
pub struct Speech {
    pub vad: VadEngine,
    pub stt: Arc<dyn Stt>,
    pub tts: Arc<dyn Tts>,
}

impl Speech {
    pub fn listener(&self) -> Listener {
        Listener::new(self.vad.new_vad(), ListenerConfig::default())
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
    Some(Speech { vad, stt, tts })
}

/// A transcribed caller turn, back from the STT task.
#[derive(Debug)]
pub struct Heard {
    pub text: Result<String, String>,
    pub stt_ms: u64,
    /// Offsets of the utterance in the call's audio (ms since answer).
    pub start_ms: u64,
    pub end_ms: u64,
    /// When end-of-turn was detected (for voice-to-voice latency).
    pub detected: Instant,
}

/// A reply ready to play.
#[derive(Debug)]
pub struct Spoken {
    pub reply: Reply,
    pub source: AnswerSource,
    pub audio: Arc<[i16]>,
    pub heard: Heard,
    pub transcript: String,
    pub llm_ms: u64,
    pub tts_ms: u64,
}

/// Transcribes an utterance off the call task.
pub fn transcribe(shared: &Arc<Shared>, utt: crate::audio::Utterance, tx: mpsc::UnboundedSender<Heard>) {
    let Some(speech) = &shared.speech else { return };
    let stt = speech.stt.clone();
    let detected = Instant::now();
    tokio::spawn(async move {
        let t = Instant::now();
        let text = stt.transcribe(utt.audio).await.map(|t| t.text.trim().to_string()).map_err(|e| e.to_string());
        let _ = tx.send(Heard {
            text,
            stt_ms: t.elapsed().as_millis() as u64,
            start_ms: utt.start.as_millis() as u64,
            end_ms: utt.end.as_millis() as u64,
            detected,
        });
    });
}

/// Decides the reply (sync, per-call conversation state), then rephrases
/// (LLM, optional, deadline-bounded) and renders it off the call task.
pub fn reply(
    shared: &Arc<Shared>,
    conv: &mut Conversation,
    heard: Heard,
    transcript: String,
    tx: mpsc::UnboundedSender<Spoken>,
) -> ReplyAction {
    let reply = shared.brain.respond(conv, &transcript);
    let action = reply.action;
    let shared = shared.clone();
    tokio::spawn(async move {
        let t = Instant::now();
        let (reply, source) = match &shared.llm {
            Some(llm) if reply.action == ReplyAction::Answer => {
                let cfg = AnswerConfig {
                    deadline: Duration::from_millis(shared.cfg.llm.deadline_ms),
                    max_tokens: shared.cfg.llm.max_tokens,
                };
                ground_reply(llm, shared.brain.kb(), reply, &transcript, &cfg).await
            }
            _ => (reply, AnswerSource::Retrieval),
        };
        let llm_ms = t.elapsed().as_millis() as u64;
        let t = Instant::now();
        // Knowledge-base answers are pre-rendered at start-up; others are synthesised now.
        let audio = match shared.prompts.get(&reply.text) {
            Some(a) => Some(a),
            None => match &shared.speech {
                Some(speech) => {
                    let (tts, text) = (speech.tts.clone(), reply.text.clone());
                    match tokio::task::spawn_blocking(move || crate::tts::prompts::render(tts.as_ref(), &text)).await {
                        Ok(Ok(pcm)) => Some(Arc::from(pcm)),
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "reply synthesis failed");
                            None
                        }
                        Err(_) => None,
                    }
                }
                None => None,
            },
        };
        let tts_ms = t.elapsed().as_millis() as u64;
        if let Some(audio) = audio {
            let _ = tx.send(Spoken { reply, source, audio, heard, transcript, llm_ms, tts_ms });
        }
    });
    action
}
