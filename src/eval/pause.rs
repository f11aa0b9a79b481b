//! A caller pausing mid-sentence: silence inserted into a clip at the
//! quietest point of its middle, as `bench/voice_caller.py --pause-share`
//! does on real calls, so `sori eval stt` can measure the end-of-turn rule
//! on the same kind of pauses offline.

use rand::{Rng, SeedableRng};

/// Which clips get a pause and how long (`--pause-share`, `--pause-ms`).
#[derive(Debug, Clone, PartialEq)]
pub struct PausePlan {
    /// Share of clips given a pause (0 = none).
    pub share: f64,
    pub min_ms: u64,
    pub max_ms: u64,
    pub seed: u64,
}

impl PausePlan {
    /// From `--pause-ms` "400-700" (or "500").
    pub fn parse(share: f64, ms: &str, seed: u64) -> anyhow::Result<PausePlan> {
        let (lo, hi) = ms.split_once('-').unwrap_or((ms, ms));
        let (Ok(min_ms), Ok(max_ms)) = (lo.trim().parse::<u64>(), hi.trim().parse::<u64>()) else {
            anyhow::bail!("--pause-ms {ms:?}: use MIN-MAX in milliseconds, e.g. 400-700");
        };
        if min_ms > max_ms || max_ms > 10_000 || !(0.0..=1.0).contains(&share) {
            anyhow::bail!("--pause-ms {ms:?} / --pause-share {share}: MIN ≤ MAX ≤ 10000 ms, a share from 0 to 1");
        }
        Ok(PausePlan { share, min_ms, max_ms, seed })
    }

    /// The pause for clip `index` (0 ms: none); the same every run.
    pub fn pause_ms(&self, index: usize) -> u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed.wrapping_add(index as u64));
        if self.share > 0.0 && rng.gen_bool(self.share) {
            rng.gen_range(self.min_ms..=self.max_ms)
        } else {
            0
        }
    }
}

/// Mean |sample| above this (about -38 dBFS) is audible, as the bench's caller reckons.
const AUDIBLE: f64 = 400.0;

/// Inserts `ms` of silence into `audio` (at `rate` Hz) at the quietest 60 ms
/// of the middle (30–70 %) of its audible part. Returns where (in samples),
/// or `None` when the clip is too short or silent (left as it is).
pub fn insert(audio: &mut Vec<i16>, rate: usize, ms: u64) -> Option<usize> {
    let frame = rate / 50;
    if ms == 0 || frame == 0 {
        return None;
    }
    let level: Vec<f64> =
        audio.chunks_exact(frame).map(|c| c.iter().map(|&s| (s as f64).abs()).sum::<f64>() / frame as f64).collect();
    let first = level.iter().position(|&v| v > AUDIBLE)?;
    let last = level.iter().rposition(|&v| v > AUDIBLE)?;
    let first = first.saturating_sub(5);
    let n = last + 1 - first;
    if n <= 20 {
        return None;
    }
    let (lo, hi) = (first + n * 3 / 10, first + n * 7 / 10);
    let quietest = (lo..hi.saturating_sub(2))
        .min_by(|&a, &b| level[a..a + 3].iter().sum::<f64>().total_cmp(&level[b..b + 3].iter().sum::<f64>()))?;
    let at = (quietest + 1) * frame;
    let len = (ms as usize * rate / 1000) / frame * frame;
    audio.splice(at..at, std::iter::repeat_n(0, len));
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(ms: usize, amp: f32) -> Vec<i16> {
        (0..ms * 8).map(|i| ((i as f32 * 0.3).sin() * amp) as i16).collect()
    }

    #[test]
    fn the_pause_goes_into_the_quietest_point_of_the_middle() {
        // 1 s loud, 100 ms soft, 1 s loud: the soft stretch is the middle's quietest.
        let mut a = [tone(1000, 8000.0), tone(100, 600.0), tone(1000, 8000.0)].concat();
        let before = a.len();
        let at = insert(&mut a, 8000, 500).expect("inserted");
        assert_eq!(a.len(), before + 4000);
        assert!((8000..8800).contains(&at), "{at}");
        assert!(a[at..at + 4000].iter().all(|&s| s == 0));
        // Too short or silent: left alone.
        let mut short = tone(300, 8000.0);
        assert_eq!(insert(&mut short, 8000, 500), None);
        assert_eq!(insert(&mut vec![0; 16000], 8000, 500), None);
    }

    #[test]
    fn the_plan_is_the_same_every_run_and_keeps_its_share_and_range() {
        let plan = PausePlan::parse(0.5, "400-700", 1339).unwrap();
        let pauses: Vec<u64> = (0..200).map(|i| plan.pause_ms(i)).collect();
        assert_eq!(pauses, (0..200).map(|i| plan.pause_ms(i)).collect::<Vec<_>>());
        let given = pauses.iter().filter(|&&p| p > 0).count();
        assert!((70..130).contains(&given), "{given}");
        assert!(pauses.iter().all(|&p| p == 0 || (400..=700).contains(&p)));
        assert!(PausePlan::parse(0.5, "700-400", 1).is_err());
        assert!(PausePlan::parse(1.5, "400", 1).is_err());
        assert_eq!(PausePlan::parse(0.0, "400", 1).unwrap().pause_ms(3), 0);
    }
}
