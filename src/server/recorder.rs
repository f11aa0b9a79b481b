//! Optional call recording (`[store] record = true`): one stereo 16-bit
//! 8 kHz WAV per answered call, the caller on the left and sori on the right,
//! written as the call goes (bounded memory) to `<id>.wav.part` and renamed to
//! `<id>.wav` when it ends. The two sides arrive on two 20 ms clocks (the
//! call's receive tick and the shared media clock); samples are paired as
//! both sides have them, and a side that falls behind by more than
//! [`SLACK`] (on hold, before the first packet) is filled with silence.
//! [`purge`] deletes recordings older than the retention period.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How far one side may run ahead of the other before the other is padded
/// (0.5 s at 8 kHz: far more than the two clocks' offset).
pub const SLACK: usize = 4000;
/// Longest recording kept: 4 hours (the rest of a longer call is dropped).
pub const MAX_SAMPLES: u64 = 8000 * 3600 * 4;

pub struct Recorder {
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    part: PathBuf,
    path: PathBuf,
    caller: VecDeque<i16>,
    sori: VecDeque<i16>,
    written: u64,
}

/// The recording's file name for a call id (SIP Call-IDs may hold any
/// character: only `[A-Za-z0-9._@-]` are kept, the rest become `_`).
pub fn file_name(call_id: &str) -> String {
    let safe: String = call_id
        .chars()
        .take(200)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-') { c } else { '_' })
        .collect();
    format!("{}.wav", safe.trim_start_matches('.'))
}

impl Recorder {
    pub fn start(dir: &Path, call_id: &str) -> Result<Recorder, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let path = dir.join(file_name(call_id));
        let part = path.with_extension("wav.part");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(&part, spec).map_err(|e| format!("creating {}: {e}", part.display()))?;
        Ok(Recorder { writer: Some(writer), part, path, caller: VecDeque::new(), sori: VecDeque::new(), written: 0 })
    }

    /// 8 kHz audio the caller sent (silence when nothing arrived).
    pub fn caller(&mut self, pcm: &[i16]) {
        self.caller.extend(pcm);
        self.drain();
    }

    /// 8 kHz audio sori sent.
    pub fn sori(&mut self, pcm: &[i16]) {
        self.sori.extend(pcm);
        self.drain();
    }

    fn drain(&mut self) {
        let pad = |ahead: &VecDeque<i16>, behind: &mut VecDeque<i16>| {
            if ahead.len() > behind.len() + SLACK {
                let n = ahead.len() - behind.len() - SLACK / 4;
                behind.extend(std::iter::repeat_n(0, n));
            }
        };
        pad(&self.caller, &mut self.sori);
        pad(&self.sori, &mut self.caller);
        let n = self.caller.len().min(self.sori.len());
        self.write_pairs(n);
    }

    fn write_pairs(&mut self, n: usize) {
        let Some(w) = self.writer.as_mut() else { return };
        for (l, r) in self.caller.drain(..n).zip(self.sori.drain(..n)) {
            if self.written >= MAX_SAMPLES {
                continue;
            }
            if w.write_sample(l).and_then(|_| w.write_sample(r)).is_err() {
                tracing::warn!(file = %self.part.display(), "writing the call recording failed; recording stopped");
                self.writer = None;
                return;
            }
            self.written += 1;
        }
    }

    /// Writes what is left (the shorter side padded), closes the file and
    /// gives it its final name. None when the recording failed.
    pub fn finish(mut self) -> Option<PathBuf> {
        let n = self.caller.len().max(self.sori.len());
        self.caller.resize(n, 0);
        self.sori.resize(n, 0);
        self.write_pairs(n);
        let w = self.writer.take()?;
        if let Err(e) = w.finalize() {
            tracing::warn!(error = %e, file = %self.part.display(), "closing the call recording failed");
            return None;
        }
        match std::fs::rename(&self.part, &self.path) {
            Ok(()) => Some(self.path.clone()),
            Err(e) => {
                tracing::warn!(error = %e, file = %self.part.display(), "naming the call recording failed");
                None
            }
        }
    }
}

/// Deletes recordings (and parts a crash left) in `dir` last written more
/// than `days` days before `now`; returns how many. `days == 0` keeps all.
pub fn purge(dir: &Path, days: u32, now: SystemTime) -> usize {
    if days == 0 {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let max_age = Duration::from_secs(u64::from(days) * 86_400);
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".wav") || name.ends_with(".wav.part")) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > max_age);
        if old && std::fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Purges at start-up and then every hour until shutdown.
pub async fn purge_every_hour(dir: PathBuf, days: u32, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        let (d, n) = (dir.clone(), days);
        if let Ok(removed) = tokio::task::spawn_blocking(move || purge(&d, n, SystemTime::now())).await {
            if removed > 0 {
                tracing::info!(removed, days, dir = %dir.display(), "old call recordings deleted");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> Vec<(i16, i16)> {
        let mut r = hound::WavReader::open(path).expect("open");
        assert_eq!((r.spec().channels, r.spec().sample_rate), (2, 8000));
        let s: Vec<i16> = r.samples::<i16>().map(|s| s.expect("sample")).collect();
        s.chunks(2).map(|c| (c[0], c[1])).collect()
    }

    #[test]
    fn caller_left_sori_right_in_step_and_padded_when_one_side_stops() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut rec = Recorder::start(dir.path(), "abc/../x@host").expect("start");
        for i in 0..10 {
            rec.caller(&[100 + i; 160]);
            rec.sori(&[-(200 + i); 160]);
        }
        // sori on hold: the caller goes on alone for 2 s.
        for _ in 0..100 {
            rec.caller(&[7; 160]);
        }
        let path = rec.finish().expect("finished");
        assert_eq!(path.file_name().and_then(|n| n.to_str()), Some("abc_.._x@host.wav"));
        let pairs = read(&path);
        assert_eq!(pairs.len(), 160 * 110);
        assert_eq!(pairs[0], (100, -200));
        assert_eq!(pairs[160 * 9 + 5], (109, -209));
        assert_eq!(pairs[160 * 50], (7, 0), "sori's side is silence while it sends nothing");
        assert!(!dir.path().join("abc_.._x@host.wav.part").exists());
    }

    #[test]
    fn purge_deletes_only_old_recordings() {
        let dir = tempfile::tempdir().expect("tmp");
        let now = SystemTime::now();
        for (name, age_days) in [("old.wav", 10), ("old.wav.part", 10), ("new.wav", 1), ("notes.txt", 10)] {
            let p = dir.path().join(name);
            let f = File::create(&p).expect("create");
            f.set_modified(now - Duration::from_secs(age_days * 86_400)).expect("mtime");
        }
        assert_eq!(purge(dir.path(), 0, now), 0, "0 keeps everything");
        assert_eq!(purge(dir.path(), 7, now), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into())
            .collect();
        left.sort();
        assert_eq!(left, ["new.wav", "notes.txt"]);
    }
}
