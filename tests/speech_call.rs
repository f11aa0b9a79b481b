//! A spoken conversation on a real call: baresip plays a Korean question over
//! the greeting; sori stops the greeting (barge-in), transcribes the question
//! with whisper (sori-stt worker), answers from the knowledge base, and the
//! call record holds the turn.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Options, Sori};

fn write_wav(path: &std::path::Path, pcm: &[i16]) {
    let spec =
        hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for s in pcm {
        w.write_sample(*s).expect("sample");
    }
    w.finalize().expect("finalize");
}

#[test]
fn caller_question_interrupts_the_greeting_and_gets_a_spoken_answer() {
    assert!(common::have("baresip"), "baresip is required (apt-get install baresip)");
    let sori = Sori::start(Options::default());
    let dir = tempfile::tempdir().expect("tmp");
    let phone_port = common::free_port();
    // 2 s of greeting, then the question, then silence while sori answers.
    let tts = sori::tts::espeak::Espeak::new("ko", 150);
    let question = sori::tts::prompts::render(&tts, "홍역은 어떤 증상이 있나요?").expect("render");
    let mut pcm = vec![0i16; 16_000];
    pcm.extend_from_slice(&question);
    pcm.extend(std::iter::repeat_n(0i16, 8000 * 20));
    let src = dir.path().join("question.wav");
    write_wav(&src, &pcm);
    let config = format!(
        "sip_listen\t127.0.0.1:{phone_port}\naudio_player\taubridge,x\naudio_alert\taubridge,x\naudio_source\taufile,{src}\n\
         module_path\t/usr/lib/baresip/modules\nmodule\tg711.so\nmodule\taufile.so\nmodule\taubridge.so\nmodule\tsndfile.so\n\
         module_app\taccount.so\nmodule_app\tmenu.so\nsnd_path\t{dir}\n",
        src = src.display(),
        dir = dir.path().display()
    );
    std::fs::write(dir.path().join("config"), config).expect("config");
    std::fs::write(dir.path().join("accounts"), format!("<sip:tester@127.0.0.1:{phone_port}>;regint=0\n"))
        .expect("accounts");
    let out = Command::new("timeout")
        .args(["60", "baresip", "-f"])
        .arg(dir.path())
        .arg("-e")
        .arg(format!("/dial sip:1339@127.0.0.1:{}", sori.sip_port))
        .args(["-t", "22"])
        .output()
        .expect("run baresip");
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("Call established"), "baresip log:\n{}", common::tail(&log, 2000));

    let recs = sori.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1, "log:\n{}", common::tail(&sori.log(), 4000));
    let call = &recs[0];
    assert!(call.barge_ins >= 1, "the question stopped the greeting; log:\n{}", common::tail(&sori.log(), 4000));
    let turns = sori::store::turns(&sori.db(), &call.call_id).expect("turns");
    assert!(!turns.is_empty(), "no turn recorded; log:\n{}", common::tail(&sori.log(), 4000));
    let t = &turns[0];
    eprintln!(
        "heard {:?} → {} {:?} (stt {} ms, respond {} ms)",
        t.transcript, t.action, t.kb_id, t.stt_ms, t.respond_ms
    );
    // whisper base hears espeak-ng's robotic Korean at 8 kHz poorly (the STT
    // tests measure it), so the route is reported, not asserted, here; the
    // pipeline is: a transcript, a decided reply, and that reply played.
    assert!(!t.transcript.trim().is_empty(), "empty transcript");
    assert!(!t.reply.is_empty());
    assert!(t.stt_ms > 0 && t.respond_ms >= t.stt_ms, "{t:?}");
    let label = t.kb_id.as_ref().map(|k| format!("kb:{k}")).unwrap_or_else(|| t.action.clone());
    assert!(call.menu_path.contains(&label), "{} lacks {label}", call.menu_path);

    // What the phone heard after its question is sori's answer, not silence.
    let dec = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recording");
    let mut r = hound::WavReader::open(&dec).expect("open");
    let heard: Vec<f64> = r.samples::<i16>().map(|s| s.unwrap_or(0) as f64 / 32768.0).collect();
    let after = (t.speech_end_ms as usize / 1000 + 1) * 8000 + t.respond_ms as usize * 8;
    let tail = &heard[after.min(heard.len())..(after + 3 * 8000).min(heard.len())];
    let rms = (tail.iter().map(|x| x * x).sum::<f64>() / tail.len().max(1) as f64).sqrt();
    assert!(rms > 0.02, "the answer is audible (rms {rms:.4} over 3 s after the question)");
}
