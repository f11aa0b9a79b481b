//! Voice activity detection behind the [`Vad`] trait: Silero VAD (ONNX, the
//! default) and a plain energy detector for deployments without the model.
//!
//! Both take fixed frames of [`VAD_FRAME`] samples at 16 kHz (32 ms) and
//! return a speech probability in [0, 1].

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::value::TensorRef;
use serde::Deserialize;
use thiserror::Error;

use super::onnx::{self, OnnxError};

/// Sample rate every VAD in this module runs at.
pub const VAD_RATE: u32 = 16_000;
/// Samples per VAD frame (32 ms at 16 kHz; Silero's chunk size).
pub const VAD_FRAME: usize = 512;
/// Samples of the previous chunk Silero must see before each chunk (16 kHz);
/// without them its probability stays near 0 (../shared/MODELS.md).
const SILERO_CONTEXT: usize = 64;
const SILERO_STATE: usize = 2 * 128;
/// Silero frames inferred and frames the silence gate skipped, process-wide
/// (`/metrics`).
pub static VAD_FRAMES_INFERRED: AtomicU64 = AtomicU64::new(0);
pub static VAD_FRAMES_GATED: AtomicU64 = AtomicU64::new(0);
/// The gate opens only after Silero itself has scored this many frames in a
/// row (~320 ms) below [`GATE_AFTER_PROB`]: pauses inside a turn and the
/// silence that ends it are scored as without the gate, and an idle line
/// (seconds of silence) is skipped.
const GATE_AFTER_FRAMES: u32 = 10;
const GATE_AFTER_PROB: f32 = 0.1;
pub const SILERO_FILE: &str = "silero_vad.onnx";

#[derive(Debug, Error)]
pub enum VadError {
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    #[error("Silero model {0}: {1}")]
    Model(String, String),
}

/// Speech probability per 32 ms frame. One value per call (per stream):
/// implementations keep recurrent state between frames.
pub trait Vad: Send {
    /// `frame` holds [`VAD_FRAME`] samples at [`VAD_RATE`] in [-1, 1].
    fn speech_prob(&mut self, frame: &[f32]) -> f32;
    /// Forgets the stream (start of a new one).
    fn reset(&mut self);
    fn name(&self) -> &'static str;
}

/// Whether 16 kHz audio holds speech by this VAD: a frame at or above
/// `threshold`. A call sends the STT only what its VAD found to be speech; a
/// file or an upload may be silence, which whisper fills with invented text
/// and spends seconds on.
pub fn holds_speech(vad: &mut dyn Vad, pcm16k: &[i16], threshold: f32) -> bool {
    vad.reset();
    let mut frame = vec![0.0f32; VAD_FRAME];
    pcm16k.chunks(VAD_FRAME).any(|chunk| {
        frame.fill(0.0);
        for (x, &s) in frame.iter_mut().zip(chunk) {
            *x = f32::from(s) / 32768.0;
        }
        vad.speech_prob(&frame) >= threshold
    })
}

/// `[vad]` in sori.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VadConfig {
    /// "silero" (default) or "energy" (no model; louder-than-noise-floor).
    pub engine: String,
    /// Silero ONNX file; empty = `silero_vad.onnx` in the models directory.
    pub model: std::path::PathBuf,
    /// ONNX sessions shared by all calls (each call only borrows one per frame).
    pub sessions: usize,
    /// Silence that ends the caller's turn when nothing better is known: no
    /// transcript of the pause yet, or its ending says nothing
    /// ([`super::korean_end`]).
    pub end_silence_ms: u64,
    /// Read the final ending of the speculative transcript: a finished
    /// sentence (…요, …니다, …까) ends the turn after `complete_silence_ms`,
    /// one stopped mid-phrase (…는데, …고, a bare particle) waits
    /// `incomplete_silence_ms`. Needs `early_silence_ms` > 0.
    pub korean_endings: bool,
    pub complete_silence_ms: u64,
    pub incomplete_silence_ms: u64,
    /// With `korean_endings`: while the pause's transcript is on its way the
    /// turn stays open (up to `incomplete_silence_ms`), so slow STT does not
    /// cut a caller who pauses mid-sentence; the reply waits for that
    /// transcript anyway.
    pub await_transcript: bool,
    /// A reply that only asks the caller for more
    /// ([`crate::dialog::brain::Reply::asks_for_more`]: not understood, not
    /// a topic, greeted back) is said once the caller has been quiet this
    /// long since their last word; a caller who was only pausing between
    /// sentences goes on meanwhile and is heard whole. 0 = at once.
    pub ask_more_after_ms: u64,
    /// Silero frames quieter than this (dBFS) skip the network and count as
    /// silence: digital silence, comfort noise and an idle line cost nothing,
    /// which is most of every call's 31 frames a second. Telephone speech
    /// sits around −35…−20 dBFS, a soft voice well above −50, and Silero
    /// gives such quiet frames a probability near 0 anyway. −100 turns the
    /// gate off.
    pub silence_gate_dbfs: f32,
    /// Silence after which the turn so far is transcribed speculatively, so
    /// the transcript is ready when the turn ends; 0 turns it off (saves STT
    /// work on busy servers at the cost of latency).
    pub early_silence_ms: u64,
    /// A caller who goes on right after their turn was judged over (before
    /// its reply was heard): transcribe the turn again whole, the pause
    /// included, while its audio is still kept (4 s after its end), instead
    /// of putting the two halves' transcripts together — whisper hears half
    /// a sentence worse, without what comes after it.
    pub rehear_resumed: bool,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            engine: "silero".into(),
            model: std::path::PathBuf::new(),
            sessions: 2,
            end_silence_ms: 500,
            early_silence_ms: 150,
            korean_endings: true,
            complete_silence_ms: 300,
            incomplete_silence_ms: 1400,
            await_transcript: true,
            ask_more_after_ms: 1400,
            silence_gate_dbfs: -55.0,
            rehear_resumed: true,
        }
    }
}

impl VadConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !["silero", "energy"].contains(&self.engine.as_str()) {
            return Err(format!("vad.engine {:?} is not available (known: silero, energy)", self.engine));
        }
        if !(1..=64).contains(&self.sessions) {
            return Err("vad.sessions must be 1..=64".into());
        }
        if !(200..=5000).contains(&self.end_silence_ms) {
            return Err("vad.end_silence_ms must be 200..=5000".into());
        }
        if self.early_silence_ms >= self.end_silence_ms {
            return Err("vad.early_silence_ms must be below vad.end_silence_ms (0 = off)".into());
        }
        // The hint comes from the pause's transcript, so it cannot act before
        // the pause (nor before the utterance's 150 ms post-roll).
        let floor = self.early_silence_ms.max(150);
        if !(floor..=self.end_silence_ms).contains(&self.complete_silence_ms) {
            return Err(format!("vad.complete_silence_ms must be {floor}..=end_silence_ms ({})", self.end_silence_ms));
        }
        if !(self.end_silence_ms..=5000).contains(&self.incomplete_silence_ms) {
            return Err("vad.incomplete_silence_ms must be end_silence_ms..=5000".into());
        }
        // A caller who goes on while the reply waits must still be in the
        // turn it answers ([`crate::dialog::talked_on::RESUME`] after its
        // end, which comes after some silence or none: a turn cut at
        // `max_utterance`).
        let most = crate::dialog::talked_on::RESUME.as_millis() as u64;
        if self.ask_more_after_ms > most {
            return Err(format!("vad.ask_more_after_ms must be 0..={most} (0 = at once)"));
        }
        if !(-100.0..=-40.0).contains(&self.silence_gate_dbfs) {
            return Err("vad.silence_gate_dbfs must be -100..=-40 (-100 = off)".into());
        }
        Ok(())
    }

    /// End-of-turn settings for each call's listener.
    pub fn endpoint(&self) -> super::endpoint::EndpointConfig {
        super::endpoint::EndpointConfig {
            trailing_silence: std::time::Duration::from_millis(self.end_silence_ms),
            complete_silence: std::time::Duration::from_millis(self.complete_silence_ms),
            incomplete_silence: std::time::Duration::from_millis(self.incomplete_silence_ms),
            early_silence: std::time::Duration::from_millis(self.early_silence_ms),
            ..Default::default()
        }
    }

    pub fn model_path(&self) -> std::path::PathBuf {
        if self.model.as_os_str().is_empty() {
            onnx::models_dir().join(SILERO_FILE)
        } else {
            self.model.clone()
        }
    }
}

/// Process-wide VAD engine: makes one [`Vad`] per call.
#[derive(Clone)]
pub enum VadEngine {
    /// The model and the silence gate (dBFS).
    Silero(Arc<SileroModel>, f32),
    Energy,
}

impl VadEngine {
    /// Loads what `cfg` names. A configured Silero model that cannot be
    /// loaded is an error (no silent fallback to the energy detector).
    pub fn load(cfg: &VadConfig) -> Result<VadEngine, VadError> {
        match cfg.engine.as_str() {
            "energy" => Ok(VadEngine::Energy),
            _ => Ok(VadEngine::Silero(SileroModel::load(&cfg.model_path(), cfg.sessions)?, cfg.silence_gate_dbfs)),
        }
    }

    pub fn new_vad(&self) -> Box<dyn Vad> {
        match self {
            VadEngine::Silero(m, gate) => Box::new(SileroVad::new(m.clone()).with_gate(*gate)),
            VadEngine::Energy => Box::new(EnergyVad::default()),
        }
    }
}

/// The Silero VAD network, loaded once. Inference sessions are pooled: a
/// call's [`SileroVad`] carries its own recurrent state and context and
/// borrows any free session per frame, so calls never share state.
pub struct SileroModel {
    sessions: Vec<Mutex<Session>>,
}

impl SileroModel {
    pub fn load(model: &Path, sessions: usize) -> Result<Arc<SileroModel>, VadError> {
        let mut pool = Vec::with_capacity(sessions.max(1));
        for _ in 0..sessions.max(1) {
            let s = onnx::session(model, 1)?;
            let names: Vec<&str> = s.inputs().iter().map(|i| i.name()).collect();
            if names != ["input", "state", "sr"] {
                return Err(VadError::Model(
                    model.display().to_string(),
                    format!("unexpected inputs {names:?} (want Silero v5+: input, state, sr)"),
                ));
            }
            pool.push(Mutex::new(s));
        }
        Ok(Arc::new(SileroModel { sessions: pool }))
    }

    /// One inference: `input` = 64 context + 512 new samples; updates `state`.
    fn infer(&self, input: &[f32], state: &mut [f32; SILERO_STATE], hint: usize) -> Result<f32, String> {
        let n = self.sessions.len();
        // Take the first free session, starting from the caller's favourite.
        let mut guard = None;
        for k in 0..n {
            if let Ok(g) = self.sessions[(hint + k) % n].try_lock() {
                guard = Some(g);
                break;
            }
        }
        let mut session = match guard {
            Some(g) => g,
            None => self.sessions[hint % n].lock().map_err(|_| "VAD session poisoned".to_string())?,
        };
        let sr = [VAD_RATE as i64];
        let inputs = ort::inputs![
            "input" => TensorRef::from_array_view(([1usize, input.len()], input)).map_err(|e| e.to_string())?,
            "state" => TensorRef::from_array_view(([2usize, 1, 128], &state[..])).map_err(|e| e.to_string())?,
            "sr" => TensorRef::from_array_view(((), &sr[..])).map_err(|e| e.to_string())?,
        ];
        let out = session.run(inputs).map_err(|e| e.to_string())?;
        let (_, prob) = out["output"].try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
        let (_, new_state) = out["stateN"].try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
        if new_state.len() != SILERO_STATE || prob.is_empty() {
            return Err(format!("unexpected output sizes {} / {}", prob.len(), new_state.len()));
        }
        state.copy_from_slice(new_state);
        Ok(prob[0])
    }
}

/// Per-call Silero state (about 2.6 KB).
pub struct SileroVad {
    model: Arc<SileroModel>,
    state: [f32; SILERO_STATE],
    input: Vec<f32>,
    hint: usize,
    failed: bool,
    fallback: EnergyVad,
    /// Frames below this level (dBFS) are not inferred.
    gate_dbfs: f32,
    /// Frames in a row Silero scored as silence (gated ones included).
    quiet: u32,
}

impl SileroVad {
    pub fn new(model: Arc<SileroModel>) -> SileroVad {
        use std::sync::atomic::AtomicUsize;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        SileroVad {
            model,
            state: [0.0; SILERO_STATE],
            input: vec![0.0; SILERO_CONTEXT + VAD_FRAME],
            hint: NEXT.fetch_add(1, Ordering::Relaxed),
            failed: false,
            fallback: EnergyVad::default(),
            gate_dbfs: -100.0,
            quiet: 0,
        }
    }

    /// Frames quieter than `dbfs` count as silence without inference.
    pub fn with_gate(mut self, dbfs: f32) -> SileroVad {
        self.gate_dbfs = dbfs;
        self
    }
}

impl Vad for SileroVad {
    fn speech_prob(&mut self, frame: &[f32]) -> f32 {
        debug_assert_eq!(frame.len(), VAD_FRAME);
        let n = frame.len().min(VAD_FRAME);
        // input = [last 64 samples of the previous chunk | this chunk]
        self.input.copy_within(VAD_FRAME..VAD_FRAME + SILERO_CONTEXT, 0);
        self.input[SILERO_CONTEXT..SILERO_CONTEXT + n].copy_from_slice(&frame[..n]);
        self.input[SILERO_CONTEXT + n..].fill(0.0);
        // One level per frame: the energy fallback's and the gate's.
        let db = level_dbfs(frame);
        let fb = self.fallback.prob_at_level(db);
        // Only once Silero itself has said silence for a while: the skipped
        // frames leave its recurrent state where it was.
        if self.quiet >= GATE_AFTER_FRAMES && db < self.gate_dbfs {
            VAD_FRAMES_GATED.fetch_add(1, Ordering::Relaxed);
            return 0.0;
        }
        VAD_FRAMES_INFERRED.fetch_add(1, Ordering::Relaxed);
        match self.model.infer(&self.input, &mut self.state, self.hint) {
            Ok(p) => {
                self.quiet = if p < GATE_AFTER_PROB { self.quiet.saturating_add(1) } else { 0 };
                p
            }
            Err(e) => {
                // Keep the call listening rather than deaf; say so once.
                if !self.failed {
                    tracing::error!(error = %e, "Silero VAD inference failed; using the energy detector for this call");
                    self.failed = true;
                }
                fb
            }
        }
    }

    fn reset(&mut self) {
        self.state = [0.0; SILERO_STATE];
        self.input.fill(0.0);
        self.fallback.reset();
        self.quiet = 0;
    }

    fn name(&self) -> &'static str {
        "silero"
    }
}

/// Energy detector: frame level against a tracked noise floor. Weak against
/// babble and music; for deployments without the Silero model (configured
/// explicitly as `vad.engine = "energy"`) and as Silero's emergency fallback.
#[derive(Debug, Clone)]
pub struct EnergyVad {
    /// Estimated noise floor in dBFS.
    floor_db: f32,
    /// Level above the floor that maps to probability 0.5.
    pub margin_db: f32,
    /// Levels below this are never speech (digital silence, comfort noise).
    pub min_speech_db: f32,
}

impl Default for EnergyVad {
    fn default() -> Self {
        EnergyVad { floor_db: -60.0, margin_db: 12.0, min_speech_db: -50.0 }
    }
}

/// RMS level of `x` in dBFS (−100 for silence).
pub fn level_dbfs(x: &[f32]) -> f32 {
    if x.is_empty() {
        return -100.0;
    }
    let ms = x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32;
    (10.0 * ms.max(1e-10).log10()).max(-100.0)
}

impl EnergyVad {
    /// [`Vad::speech_prob`] for a frame whose level (dBFS) is already known.
    pub fn prob_at_level(&mut self, db: f32) -> f32 {
        // Floor follows quiet frames quickly, loud ones very slowly (~10 s).
        if db < self.floor_db {
            self.floor_db += (db - self.floor_db) * 0.3;
        } else {
            self.floor_db += (db - self.floor_db) * 0.003;
        }
        self.floor_db = self.floor_db.clamp(-90.0, -20.0);
        if db < self.min_speech_db {
            return 0.0;
        }
        let x = (db - self.floor_db - self.margin_db) / 3.0;
        1.0 / (1.0 + (-x).exp())
    }
}

impl Vad for EnergyVad {
    fn speech_prob(&mut self, frame: &[f32]) -> f32 {
        self.prob_at_level(level_dbfs(frame))
    }

    fn reset(&mut self) {
        *self = EnergyVad { margin_db: self.margin_db, min_speech_db: self.min_speech_db, ..EnergyVad::default() };
    }

    fn name(&self) -> &'static str {
        "energy"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize, amp: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.11).sin() * amp).collect()
    }

    #[test]
    fn energy_vad_separates_loud_from_quiet() {
        let mut v = EnergyVad::default();
        let quiet: Vec<f32> = (0..VAD_FRAME).map(|i| ((i * 7919) % 13) as f32 * 1e-4).collect();
        for _ in 0..30 {
            assert!(v.speech_prob(&quiet) < 0.1);
        }
        assert!(v.speech_prob(&tone(VAD_FRAME, 0.3)) > 0.9);
        assert_eq!(v.speech_prob(&vec![0.0; VAD_FRAME]), 0.0);
    }

    #[test]
    fn config_validation_names_the_engines() {
        let mut c = VadConfig::default();
        assert!(c.validate().is_ok());
        c.engine = "webrtc".into();
        assert!(c.validate().unwrap_err().contains("silero, energy"));
    }

    #[test]
    fn ending_silences_bracket_the_plain_one() {
        let ok = VadConfig::default();
        assert!(ok.validate().is_ok());
        let e = ok.endpoint();
        assert!(e.complete_silence < e.trailing_silence && e.trailing_silence < e.incomplete_silence);
        let c = VadConfig { complete_silence_ms: 600, ..VadConfig::default() };
        assert!(c.validate().unwrap_err().contains("complete_silence_ms"));
        let c = VadConfig { complete_silence_ms: 100, ..VadConfig::default() };
        assert!(c.validate().unwrap_err().contains("complete_silence_ms"));
        let c = VadConfig { incomplete_silence_ms: 400, ..VadConfig::default() };
        assert!(c.validate().unwrap_err().contains("incomplete_silence_ms"));
        // A held reply must not outlast the turn a caller can go on.
        let c = VadConfig { ask_more_after_ms: 1600, ..VadConfig::default() };
        assert!(c.validate().unwrap_err().contains("ask_more_after_ms must be 0..=1500"));
        assert!(VadConfig { ask_more_after_ms: 0, ..VadConfig::default() }.validate().is_ok());
    }
}
