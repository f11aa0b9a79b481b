//! A real SIP phone (Debian's baresip) calls sori and records what it hears.

mod common;

use std::time::Duration;

use common::{Options, Sori};

/// 10 ms RMS envelope of 8 kHz audio.
fn envelope(pcm: &[f64]) -> Vec<f64> {
    pcm.chunks(80).map(|c| (c.iter().map(|x| x * x).sum::<f64>() / c.len() as f64).sqrt()).collect()
}

/// Best normalised correlation of `b` against `a` over lags 0..max_lag (envelope frames).
fn best_correlation(a: &[f64], b: &[f64], len: usize, max_lag: usize) -> (f64, usize) {
    let a = &a[..len.min(a.len())];
    let norm = |x: &[f64]| {
        let m = x.iter().sum::<f64>() / x.len() as f64;
        let v: Vec<f64> = x.iter().map(|y| y - m).collect();
        let s = v.iter().map(|y| y * y).sum::<f64>().sqrt().max(1e-12);
        v.into_iter().map(|y| y / s).collect::<Vec<_>>()
    };
    let na = norm(a);
    let mut best = (f64::MIN, 0);
    for lag in 0..max_lag {
        if lag + a.len() > b.len() {
            break;
        }
        let nb = norm(&b[lag..lag + a.len()]);
        let c: f64 = na.iter().zip(&nb).map(|(x, y)| x * y).sum();
        if c > best.0 {
            best = (c, lag);
        }
    }
    best
}

#[test]
fn baresip_hears_the_korean_greeting() {
    let sori = Sori::start(Options::default());
    let dir = tempfile::tempdir().expect("tmp");
    let silence = dir.path().join("silence.wav");
    common::write_wav_8k(&silence, &vec![0i16; 8000 * 20]);
    let dec = common::baresip_call(&sori, dir.path(), &silence, 10);
    let (secs, rms) = common::wav_stats(&dec);
    assert!((8.0..=11.5).contains(&secs), "recorded {secs:.1} s for a 10 s call");
    assert!(rms > 0.02, "recording is silent (rms {rms:.4})");

    // The recording is the greeting: its loudness contour matches the prompt
    // sori renders (through G.711, the network and baresip's decoder).
    let plan = sori::dialog::plan::Dialplan::load(&common::repo().join("dialplan/1339.toml")).expect("plan");
    let text = plan.prompt_text("greeting").expect("greeting");
    let tts = sori::tts::espeak::Espeak::new("ko", 165);
    let greeting: Vec<f64> =
        sori::tts::prompts::render(&tts, text).expect("render").iter().map(|s| *s as f64 / 32768.0).collect();
    let mut r = hound::WavReader::open(&dec).expect("open");
    let heard: Vec<f64> = r.samples::<i16>().map(|s| s.unwrap_or(0) as f64 / 32768.0).collect();
    let (corr, lag) = best_correlation(&envelope(&greeting), &envelope(&heard), 600, 150);
    eprintln!("greeting envelope correlation {corr:.3} at lag {} ms", lag * 10);
    assert!(corr > 0.9, "what baresip heard is not the greeting (correlation {corr:.3})");
    // And it is not just any sound: another prompt does not match.
    let other: Vec<f64> = sori::tts::prompts::render(&tts, plan.prompt_text("goodbye").expect("goodbye"))
        .expect("render")
        .iter()
        .map(|s| *s as f64 / 32768.0)
        .collect();
    let (corr_other, _) = best_correlation(&envelope(&other), &envelope(&heard), 300, 150);
    assert!(corr_other < corr - 0.2, "goodbye correlates {corr_other:.3} vs greeting {corr:.3}");

    let recs = sori.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].hangup_cause.as_deref(), Some("caller-bye"));
    // A real phone's RTCP: baresip reports on sori's stream, sori measured baresip's.
    let q = recs[0].quality.as_ref().expect("media quality");
    eprintln!("media quality with baresip: {q:?}");
    assert!(q.rx_packets > 300 && q.rx_lost == 0, "{q:?}");
    assert!(q.rtcp_received >= 1 && q.peer_reports >= 1 && q.peer_lost == Some(0), "{q:?}");
}
