//! Debian's espeak-ng as a [`Tts`] engine: the Korean fallback voice
//! (`-v ko`), robotic but always available offline.

use std::process::Command;

use super::{Audio, Tts, TtsError};

pub struct Espeak {
    pub voice: String,
    /// Words per minute.
    pub rate: u32,
    pub binary: String,
}

impl Espeak {
    pub fn new(voice: &str, rate: u32) -> Espeak {
        Espeak { voice: voice.to_string(), rate, binary: "espeak-ng".into() }
    }

    /// Checks that the binary runs and knows the voice.
    pub fn check(&self) -> Result<(), TtsError> {
        let out = Command::new(&self.binary).arg("--voices").output().map_err(|_| TtsError::Missing {
            engine: self.binary.clone(),
            hint: "install it with: apt-get install espeak-ng".into(),
        })?;
        let list = String::from_utf8_lossy(&out.stdout);
        let known = list.lines().skip(1).any(|l| l.split_whitespace().nth(1) == Some(self.voice.as_str()));
        if !known {
            return Err(TtsError::Missing {
                engine: format!("{} voice {:?}", self.binary, self.voice),
                hint: "install espeak-ng-data (apt-get install espeak-ng)".into(),
            });
        }
        Ok(())
    }
}

impl Tts for Espeak {
    fn id(&self) -> String {
        format!("espeak-ng:{}:{}", self.voice, self.rate)
    }

    fn synthesize(&self, text: &str) -> Result<Audio, TtsError> {
        let dir = tempfile_dir()?;
        let wav = dir.join("out.wav");
        let status = Command::new(&self.binary)
            .arg("-v")
            .arg(&self.voice)
            .arg("-s")
            .arg(self.rate.to_string())
            .arg("-w")
            .arg(&wav)
            .arg("--")
            .arg(text)
            .output()
            .map_err(|_| TtsError::Missing { engine: self.binary.clone(), hint: "apt-get install espeak-ng".into() })?;
        if !status.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(TtsError::Engine(String::from_utf8_lossy(&status.stderr).trim().to_string()));
        }
        let audio = read_wav(&wav);
        let _ = std::fs::remove_dir_all(&dir);
        audio
    }
}

fn tempfile_dir() -> Result<std::path::PathBuf, TtsError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir =
        std::env::temp_dir().join(format!("sori-tts-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Reads a mono (or first channel of a multi-channel) 16-bit / float WAV.
pub fn read_wav(path: &std::path::Path) -> Result<Audio, TtsError> {
    let mut r = hound::WavReader::open(path).map_err(|e| TtsError::Audio(e.to_string()))?;
    let spec = r.spec();
    let ch = spec.channels.max(1) as usize;
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = (1i64 << (spec.bits_per_sample.clamp(8, 32) - 1)) as f32;
            r.samples::<i32>().step_by(ch).map(|s| s.map(|v| v as f32 / scale)).collect::<Result<_, _>>()
        }
        hound::SampleFormat::Float => r.samples::<f32>().step_by(ch).collect::<Result<_, _>>(),
    }
    .map_err(|e| TtsError::Audio(e.to_string()))?;
    Ok(Audio { samples, sample_rate: spec.sample_rate })
}
