//! Text-to-speech behind the [`Tts`] trait, Korean text normalisation, and
//! the prompt cache that turns dialplan text into telephone audio.
pub mod espeak;
pub mod normalize;
pub mod piper;
pub mod prompts;
pub mod resample;
pub mod sentences;

use thiserror::Error;

/// Mono PCM audio at `sample_rate`, samples in [-1, 1].
#[derive(Debug, Clone)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

impl Audio {
    pub fn duration_secs(&self) -> f32 {
        self.samples.len() as f32 / self.sample_rate.max(1) as f32
    }
}

#[derive(Debug, Error)]
pub enum TtsError {
    #[error("TTS engine {engine} is not installed ({hint})")]
    Missing { engine: String, hint: String },
    #[error("TTS engine failed: {0}")]
    Engine(String),
    #[error("TTS produced unreadable audio: {0}")]
    Audio(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// A voice. Implementations are cheap to share across calls.
pub trait Tts: Send + Sync {
    /// Stable identity of engine + voice + settings (part of cache keys).
    fn id(&self) -> String;
    fn synthesize(&self, text: &str) -> Result<Audio, TtsError>;
}

/// The voice `[tts]` names, checked and loaded (prompts and answers).
pub fn from_config(cfg: &crate::config::TtsConfig) -> Result<Box<dyn Tts>, TtsError> {
    match cfg.engine.as_str() {
        "piper" => Ok(Box::new(piper::PiperVoice::load(&cfg.model, 0)?)),
        _ => {
            let e = espeak::Espeak::new(&cfg.voice, cfg.rate);
            e.check()?;
            Ok(Box::new(e))
        }
    }
}
