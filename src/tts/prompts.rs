//! Dialplan prompts rendered once at start-up into 8 kHz telephone audio
//! and cached on disk (keyed by voice + text), so a restart is instant and
//! every call shares the same samples.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{normalize::normalize, resample::resample, Tts, TtsError};

pub const TELEPHONE_RATE: u32 = 8000;

/// Rendered prompts: name → 8 kHz mono samples.
#[derive(Clone, Default)]
pub struct PromptSet {
    pub audio: HashMap<String, Arc<[i16]>>,
}

impl PromptSet {
    pub fn get(&self, name: &str) -> Option<Arc<[i16]>> {
        self.audio.get(name).cloned()
    }
}

fn cache_path(dir: &Path, tts_id: &str, text: &str) -> PathBuf {
    let mut h = Sha256::new();
    h.update(b"v1\0");
    h.update(tts_id.as_bytes());
    h.update(b"\0");
    h.update(text.as_bytes());
    let digest = hex::encode(h.finalize());
    dir.join(format!("{}.wav", &digest[..24]))
}

/// Text → 8 kHz i16 telephone audio, peak-normalised to −3 dBFS, with a
/// short tail of silence so consecutive prompts do not run together.
pub fn render(tts: &dyn Tts, text: &str) -> Result<Vec<i16>, TtsError> {
    let audio = tts.synthesize(&normalize(text))?;
    let mut pcm = resample(&audio.samples, audio.sample_rate, TELEPHONE_RATE).map_err(TtsError::Audio)?;
    let peak = pcm.iter().fold(0f32, |m, s| m.max(s.abs()));
    if peak > 1e-4 {
        let gain = 0.707 / peak;
        pcm.iter_mut().for_each(|s| *s *= gain);
    }
    pcm.extend(std::iter::repeat_n(0.0, (TELEPHONE_RATE / 5) as usize));
    Ok(pcm.iter().map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16).collect())
}

fn load_cached(path: &Path) -> Option<Vec<i16>> {
    let mut r = hound::WavReader::open(path).ok()?;
    let spec = r.spec();
    if spec.sample_rate != TELEPHONE_RATE || spec.channels != 1 || spec.bits_per_sample != 16 {
        return None;
    }
    r.samples::<i16>().collect::<Result<Vec<_>, _>>().ok()
}

fn store_cached(path: &Path, pcm: &[i16]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write then rename: concurrent instances never read a half-written file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: TELEPHONE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&tmp, spec).map_err(std::io::Error::other)?;
    for s in pcm {
        w.write_sample(*s).map_err(std::io::Error::other)?;
    }
    w.finalize().map_err(std::io::Error::other)?;
    std::fs::rename(&tmp, path)
}

/// Renders (or loads from the cache) every `(name, text)` prompt.
pub fn render_all(
    tts: &dyn Tts,
    cache_dir: &Path,
    prompts: &[(String, String)],
) -> Result<(PromptSet, usize), TtsError> {
    let id = tts.id();
    let mut set = PromptSet::default();
    let mut rendered = 0;
    type Rendered = Result<(String, Vec<i16>, bool), TtsError>;
    let results: Vec<Rendered> = std::thread::scope(|s| {
        let chunks: Vec<&[(String, String)]> = prompts.chunks(prompts.len().div_ceil(2).max(1)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let id = &id;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(name, text)| {
                            let path = cache_path(cache_dir, id, text);
                            if let Some(pcm) = load_cached(&path) {
                                return Ok((name.clone(), pcm, false));
                            }
                            let pcm = render(tts, text)?;
                            store_cached(&path, &pcm)?;
                            Ok((name.clone(), pcm, true))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec![Err(TtsError::Engine("render thread panicked".into()))]))
            .collect()
    });
    for r in results {
        let (name, pcm, fresh) = r?;
        rendered += usize::from(fresh);
        set.audio.insert(name, pcm.into());
    }
    Ok((set, rendered))
}
