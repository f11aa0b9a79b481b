//! A real SIP phone (Debian's baresip) calls sori and records what it hears.

mod common;

use std::process::Command;
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
    assert!(common::have("baresip"), "baresip is required (apt-get install baresip)");
    let sori = Sori::start(Options::default());
    let dir = tempfile::tempdir().expect("tmp");
    let phone_port = common::free_port();
    let silence = dir.path().join("silence.wav");
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&silence, spec).expect("wav");
        for _ in 0..8000 * 20 {
            w.write_sample(0i16).expect("sample");
        }
        w.finalize().expect("finalize");
    }
    let config = format!(
        "sip_listen\t127.0.0.1:{phone_port}\naudio_player\taubridge,x\naudio_alert\taubridge,x\naudio_source\taufile,{src}\n\
         module_path\t/usr/lib/baresip/modules\nmodule\tg711.so\nmodule\taufile.so\nmodule\taubridge.so\nmodule\tsndfile.so\n\
         module_app\taccount.so\nmodule_app\tmenu.so\nsnd_path\t{dir}\n",
        src = silence.display(),
        dir = dir.path().display()
    );
    std::fs::write(dir.path().join("config"), config).expect("config");
    std::fs::write(dir.path().join("accounts"), format!("<sip:tester@127.0.0.1:{phone_port}>;regint=0\n"))
        .expect("accounts");
    let out = Command::new("timeout")
        .args(["40", "baresip", "-f"])
        .arg(dir.path())
        .arg("-e")
        .arg(format!("/dial sip:1339@127.0.0.1:{}", sori.sip_port))
        .args(["-t", "10"])
        .output()
        .expect("run baresip");
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("Call established"), "baresip log:\n{}", common::tail(&log, 3000));
    let dec = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded what it heard");
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
}
