//! Failing engines on real calls: the STT worker killed mid-utterance or
//! hung, the OpenAI-compatible STT server dropping connections then gone, the
//! LLM server taking the request and never answering, speech
//! synthesis failing. A caller (bench/voice_caller.py: SIP + μ-law RTP over
//! loopback) says a Korean question after the greeting and times sori's
//! answer from the last audible packet it sent to the first audible packet
//! it hears: within 2 s every time (a fallback sentence, the knowledge-base
//! answer or the transfer notice), never dead air. The worker pool's
//! restarts and the fallbacks are read back from `/metrics`, what was said
//! from the call record.
//!
//! Most tests use a small stand-in for `sori-stt` speaking its protocol (the
//! whisper model is not needed to fail), told what to do by a file; one kills
//! the real whisper worker while it decodes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Options, Sori};

/// `sori-stt`'s protocol; each request does what `<model dir>/mode` says:
/// `text:<transcript>`, `hang` (never answers), `die` (writes its pid to
/// `busy.pid` and waits to be killed).
const FAKE_STT: &str = r#"#!/usr/bin/env python3
import json, os, sys, time
model = sys.argv[sys.argv.index("--model") + 1]
d = os.path.dirname(model)
print(json.dumps({"ready": True, "model": model}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    mode = open(os.path.join(d, "mode")).read().strip()
    with open(os.path.join(d, "requests"), "a") as f:
        f.write(mode + "\n")
    if mode == "hang":
        time.sleep(3600)
    if mode == "die":
        with open(os.path.join(d, "busy.tmp"), "w") as f:
            f.write(str(os.getpid()))
        os.rename(os.path.join(d, "busy.tmp"), os.path.join(d, "busy.pid"))
        time.sleep(3600)
    text = mode[5:] if mode.startswith("text:") else ""
    print(json.dumps({"id": req["id"], "text": text, "ms": 5}), flush=True)
"#;

const QUESTION: &str = "홍역은 어떤 증상이 있나요?";

/// A scratch directory with the fake worker, its model file and mode.
struct FakeStt {
    dir: tempfile::TempDir,
}

impl FakeStt {
    fn new(mode: &str) -> FakeStt {
        let dir = tempfile::tempdir().expect("tmp");
        let script = dir.path().join("fake-stt");
        std::fs::write(&script, FAKE_STT).expect("script");
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        std::fs::write(dir.path().join("fake.bin"), b"not a model").expect("model");
        let f = FakeStt { dir };
        f.set(mode);
        f
    }

    fn set(&self, mode: &str) {
        std::fs::write(self.dir.path().join("mode"), mode).expect("mode");
    }

    fn config(&self, timeout_ms: u64) -> String {
        format!(
            "[stt]\nengine = \"local\"\nmodel = \"{}\"\nworker = \"{}\"\ntimeout_ms = {timeout_ms}\n",
            self.dir.path().join("fake.bin").display(),
            self.dir.path().join("fake-stt").display()
        )
    }

    fn requests(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("requests")).map(|s| s.lines().count()).unwrap_or(0)
    }

    /// Kills every worker that takes a request (SIGKILL, as an OOM killer
    /// or an operator would) until `stop` is set; returns how many.
    fn killer(&self, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<u32> {
        let pid_file = self.dir.path().join("busy.pid");
        std::thread::spawn(move || {
            let mut killed = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(pid) = std::fs::read_to_string(&pid_file) {
                    let _ = std::fs::remove_file(&pid_file);
                    if let Ok(pid) = pid.trim().parse::<i32>() {
                        unsafe {
                            libc::kill(pid, libc::SIGKILL);
                        }
                        killed += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            killed
        })
    }
}

/// The 1339 dialplan with a one-word greeting, so the caller speaks soon.
fn short_dialplan(dir: &Path) -> PathBuf {
    let plan = std::fs::read_to_string(common::repo().join("dialplan/1339.toml")).expect("dialplan");
    let plan: String = plan
        .lines()
        .map(|l| if l.starts_with("greeting = ") { "greeting = \"안녕하세요.\"".to_string() } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.join("short.toml");
    std::fs::write(&path, plan).expect("write dialplan");
    path
}

/// sori with the energy VAD and the given engine tables.
fn start(scratch: &Path, engines: &str, env: Vec<(String, String)>) -> Sori {
    Sori::start(Options {
        dialplan: short_dialplan(scratch),
        extra: format!("\n[vad]\nengine = \"energy\"\n\n{engines}"),
        env,
        ..Default::default()
    })
}

/// The question as an 8 kHz WAV (espeak-ng's Korean voice).
fn question_wav(dir: &Path) -> PathBuf {
    let tts = sori::tts::espeak::Espeak::new("ko", 150);
    let pcm = sori::tts::prompts::render(&tts, QUESTION).expect("render the question");
    let path = dir.join("question.wav");
    common::write_wav_8k(&path, &pcm);
    path
}

/// One call of `turns` questions; each turn's voice-to-voice time (ms) as
/// the caller measured it (None: nothing heard within 8 s).
fn call(sori: &Sori, wav: &Path, turns: u32) -> Vec<Option<f64>> {
    let out = Command::new("timeout")
        .arg("90")
        .arg("python3")
        .arg(common::repo().join("bench/voice_caller.py"))
        .args(["--port", &sori.sip_port.to_string(), "--turns", &turns.to_string()])
        .args(["--per-call", &turns.to_string(), "--reply-wait", "8", "--reply-cap", "10"])
        .arg(wav)
        .output()
        .expect("run bench/voice_caller.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v2v: Vec<Option<f64>> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|t| t["v2v_ms"].as_f64())
        .collect();
    assert_eq!(
        v2v.len(),
        turns as usize,
        "caller:\n{stdout}\n{}\nsori log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        common::tail(&sori.log(), 4000)
    );
    v2v
}

fn assert_heard_within_2s(sori: &Sori, v2v: &[Option<f64>]) {
    eprintln!("voice-to-voice: {v2v:?} ms");
    for (i, t) in v2v.iter().enumerate() {
        let ms = t.unwrap_or_else(|| panic!("turn {}: dead air; log:\n{}", i + 1, common::tail(&sori.log(), 5000)));
        assert!(ms < 2000.0, "turn {}: first sound {ms} ms after the caller stopped; log:\n{}", i + 1, sori.log());
    }
}

/// A counter from `/metrics` (the line that starts with `series`).
fn metric(sori: &Sori, series: &str) -> f64 {
    let (_, body) = common::http(sori.http_port, "GET", "/metrics", "");
    body.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{series} not in /metrics:\n{body}"))
}

fn wait_metric(sori: &Sori, series: &str, at_least: f64, within: Duration) -> f64 {
    let end = Instant::now() + within;
    loop {
        let v = metric(sori, series);
        if v >= at_least || Instant::now() > end {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn last_call(sori: &Sori) -> sori::store::CallRecord {
    let recs = sori.wait_records(1, Duration::from_secs(10));
    recs.into_iter().next().unwrap_or_else(|| panic!("no call record; log:\n{}", sori.log()))
}

#[test]
fn stt_worker_killed_mid_utterance_gets_an_apology_then_the_agent() {
    let scratch = tempfile::tempdir().expect("tmp");
    let stt = FakeStt::new("die");
    let sori = start(scratch.path(), &stt.config(5000), vec![]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = stt.killer(stop.clone());
    let v2v = call(&sori, &question_wav(scratch.path()), 2);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let killed = killer.join().expect("killer");
    eprintln!("killed {killed} workers; voice-to-voice {v2v:?} ms");
    assert!(killed >= 2, "a worker was killed on each turn ({killed})");
    assert_heard_within_2s(&sori, &v2v);
    assert!(metric(&sori, "sori_worker_restarts_total{engine=\"stt\"}") >= killed as f64);
    // The pool is whole again: a live worker waits for the next caller.
    assert_eq!(wait_metric(&sori, "sori_workers_live{engine=\"stt\"}", 1.0, Duration::from_secs(5)), 1.0);
    assert_eq!(metric(&sori, "sori_fallbacks_total{kind=\"sorry\"}"), 1.0);
    assert_eq!(metric(&sori, "sori_fallbacks_total{kind=\"transfer\"}"), 1.0);
    let rec = last_call(&sori);
    assert!(
        rec.menu_path.contains("engine-trouble>engine-transfer>transfer:agent"),
        "an apology, then the agent: {}",
        rec.menu_path
    );
}

#[test]
fn hung_stt_worker_gets_the_hold_phrase_then_an_apology_and_is_replaced() {
    let scratch = tempfile::tempdir().expect("tmp");
    let stt = FakeStt::new("hang");
    // The turn is given up at 3 s, the worker killed at 4 s.
    let engines = format!("{}\n[fallback]\ngive_up_ms = 3000\n", stt.config(4000));
    let sori = start(scratch.path(), &engines, vec![]);
    let wav = question_wav(scratch.path());
    let v2v = call(&sori, &wav, 1);
    assert_heard_within_2s(&sori, &v2v);
    let holds = metric(&sori, "sori_fallbacks_total{kind=\"hold\"}");
    assert_eq!(holds, 1.0, "one hold phrase; log:\n{}", common::tail(&sori.log(), 5000));
    assert_eq!(metric(&sori, "sori_fallbacks_total{kind=\"sorry\"}"), 1.0);
    assert!(wait_metric(&sori, "sori_worker_restarts_total{engine=\"stt\"}", 1.0, Duration::from_secs(8)) >= 1.0);
    let rec = last_call(&sori);
    assert!(rec.menu_path.contains("hold>engine-trouble"), "{}", rec.menu_path);

    // The replacement worker answers the next caller, from the knowledge base.
    stt.set(&format!("text:{QUESTION}"));
    let v2v = call(&sori, &wav, 1);
    assert_heard_within_2s(&sori, &v2v);
    let recs = sori.wait_records(2, Duration::from_secs(10));
    let turns = sori::store::turns(&sori.db(), &recs[0].call_id).expect("turns");
    assert_eq!(turns.len(), 1, "{turns:?}");
    assert_eq!(turns[0].transcript, QUESTION);
    assert_eq!(turns[0].action, "answer", "{:?}", turns[0]);
    assert!(stt.requests() >= 2);
}

#[test]
fn stt_server_that_drops_connections_then_is_gone_gets_an_apology_then_the_agent() {
    let scratch = tempfile::tempdir().expect("tmp");
    // An "OpenAI-compatible" server that accepts and closes every connection.
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = server.local_addr().expect("addr").port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    server.set_nonblocking(true).expect("nonblocking");
    let accepting = std::thread::spawn(move || {
        let mut n = 0;
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            match server.accept() {
                Ok((conn, _)) => {
                    n += 1;
                    drop(conn);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        n // the listener closes here: the server is gone
    });
    let engines = format!("[stt]\nengine = \"http\"\nurl = \"http://127.0.0.1:{port}\"\ntimeout_ms = 3000\n");
    let sori = start(scratch.path(), &engines, vec![]);
    let wav = question_wav(scratch.path());
    let first = call(&sori, &wav, 1);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let dropped = accepting.join().expect("server");
    let second = call(&sori, &wav, 1);
    eprintln!("connections dropped: {dropped}; voice-to-voice {first:?} then {second:?} ms (server gone)");
    assert!(dropped >= 1);
    assert_heard_within_2s(&sori, &first);
    assert_heard_within_2s(&sori, &second);
    assert!(metric(&sori, "sori_engine_failures_total{engine=\"stt\"}") >= 2.0);
    let recs = sori.wait_records(2, Duration::from_secs(10));
    for r in &recs {
        assert!(r.menu_path.contains("engine-trouble"), "each call got the apology: {}", r.menu_path);
    }
}

#[test]
fn llm_server_that_never_answers_gets_the_knowledge_base_answer_in_time() {
    let scratch = tempfile::tempdir().expect("tmp");
    let stt = FakeStt::new(&format!("text:{QUESTION}"));
    // A chat server that takes the request and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming().take(1).flatten() {
            held.push(c);
            std::thread::sleep(Duration::from_secs(20));
        }
    });
    // deadline_ms stays at its default (3000): the reply instant cuts it.
    let engines = format!("{}\n[llm]\nengine = \"openai\"\nurl = \"http://127.0.0.1:{port}\"\n", stt.config(5000));
    let sori = start(scratch.path(), &engines, vec![]);
    let v2v = call(&sori, &question_wav(scratch.path()), 1);
    assert_heard_within_2s(&sori, &v2v);
    let recs = sori.wait_records(1, Duration::from_secs(10));
    let turns = sori::store::turns(&sori.db(), &recs[0].call_id).expect("turns");
    assert_eq!(turns.len(), 1, "{turns:?}");
    assert_eq!(turns[0].action, "answer");
    assert_eq!(turns[0].answer_source, "retrieval-after-deadline", "{:?}", turns[0]);
    assert_eq!(metric(&sori, "sori_fallbacks_total{kind=\"hold\"}"), 0.0, "the answer itself came in time");
    drop(keep);
}

/// espeak-ng as sori finds it on PATH: the real one until `broken` (fails)
/// or `stalled` (never finishes) exists in `scratch`. Returns the PATH.
fn fake_espeak(scratch: &Path) -> String {
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let real = String::from_utf8(Command::new("sh").args(["-c", "command -v espeak-ng"]).output().expect("sh").stdout)
        .expect("utf8");
    let wrapper = format!(
        "#!/bin/sh\nif [ \"$1\" != --voices ]; then\n  if [ -e '{}' ]; then echo 'synthesis broke' >&2; exit 1; fi\n  if [ -e '{}' ]; then sleep 30; fi\nfi\nexec {} \"$@\"\n",
        scratch.join("broken").display(),
        scratch.join("stalled").display(),
        real.trim()
    );
    std::fs::write(bin.join("espeak-ng"), wrapper).expect("wrapper");
    std::fs::set_permissions(bin.join("espeak-ng"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

/// A vague question: the clarifying reply names topics, so it is not pre-rendered.
const VAGUE: &str = "text:날씨가 더워서 머리가 아파요";

#[test]
fn failed_speech_synthesis_gets_a_prerendered_apology_then_the_agent() {
    let scratch = tempfile::tempdir().expect("tmp");
    let path = fake_espeak(scratch.path());
    let stt = FakeStt::new(VAGUE);
    let sori = start(scratch.path(), &stt.config(5000), vec![("PATH".into(), path)]);
    std::fs::write(scratch.path().join("broken"), b"").expect("break synthesis");
    let v2v = call(&sori, &question_wav(scratch.path()), 2);
    assert_heard_within_2s(&sori, &v2v);
    assert!(metric(&sori, "sori_engine_failures_total{engine=\"tts\"}") >= 2.0);
    assert_eq!(metric(&sori, "sori_fallbacks_total{kind=\"sorry\"}"), 1.0);
    assert_eq!(metric(&sori, "sori_fallbacks_total{kind=\"transfer\"}"), 1.0);
    let rec = last_call(&sori);
    assert!(rec.menu_path.contains("engine-trouble>engine-transfer>transfer:agent"), "{}", rec.menu_path);
}

#[test]
fn stalled_speech_synthesis_gets_the_hold_phrase_then_an_apology() {
    let scratch = tempfile::tempdir().expect("tmp");
    let path = fake_espeak(scratch.path());
    let stt = FakeStt::new(VAGUE);
    let sori = start(scratch.path(), &stt.config(5000), vec![("PATH".into(), path)]);
    std::fs::write(scratch.path().join("stalled"), b"").expect("stall synthesis");
    let v2v = call(&sori, &question_wav(scratch.path()), 1);
    assert_heard_within_2s(&sori, &v2v);
    let holds = metric(&sori, "sori_fallbacks_total{kind=\"hold\"}");
    assert_eq!(holds, 1.0, "one hold phrase; log:\n{}", common::tail(&sori.log(), 5000));
    assert!(wait_metric(&sori, "sori_fallbacks_total{kind=\"sorry\"}", 1.0, Duration::from_secs(5)) >= 1.0);
    assert!(metric(&sori, "sori_engine_failures_total{engine=\"tts\"}") >= 1.0);
    let rec = last_call(&sori);
    assert!(rec.menu_path.contains("hold>engine-trouble"), "{}", rec.menu_path);
}

/// The `sori-stt` workers `sori` started: (pid, CPU ticks so far).
fn stt_workers(sori_pid: u32) -> Vec<(i32, u64)> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return found };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // pid (comm) state ppid … utime(14) stime(15): comm may hold spaces.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if &stat[open + 1..close] != "sori-stt" {
            continue;
        }
        let f: Vec<&str> = stat[close + 2..].split(' ').collect();
        let field = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        if field(4) == sori_pid as u64 {
            found.push((pid, field(14) + field(15)));
        }
    }
    found
}

/// The real whisper worker (`sori-stt` with whisper base, as shipped),
/// SIGKILLed the moment it starts burning CPU on the caller's question: the
/// caller still hears something within 2 s on both turns (the hold phrase,
/// the apology or an answer), the pool starts a new worker at once, and that
/// worker transcribes (checked through `POST /v1/audio/transcriptions`, the
/// same pool, so a busy test machine cannot turn a slow transcript into a
/// failure here).
#[test]
fn real_whisper_worker_killed_while_transcribing_is_replaced_and_the_caller_hears_something() {
    let scratch = tempfile::tempdir().expect("tmp");
    // One thread: ggml's threads spin at their barriers and crawl on busy
    // cores; a long timeout: this test kills the worker, the clock must not.
    let sori = start(scratch.path(), "[stt]\nthreads = 1\ntimeout_ms = 60000\n", vec![]);
    let pid = sori.child.id();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let killer = std::thread::spawn(move || {
        // Idle workers wait on stdin; one that gains CPU ticks is decoding.
        let mut last: Vec<(i32, u64)> = stt_workers(pid);
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
            let now = stt_workers(pid);
            for &(p, ticks) in &now {
                if last.iter().any(|&(q, before)| q == p && ticks > before) {
                    unsafe {
                        libc::kill(p, libc::SIGKILL);
                    }
                    return Some(p);
                }
            }
            last = now;
        }
        None
    });
    let wav = question_wav(scratch.path());
    let v2v = call(&sori, &wav, 2);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let killed = killer.join().expect("killer");
    eprintln!("killed worker {killed:?}; voice-to-voice {v2v:?} ms");
    assert!(killed.is_some(), "a busy whisper worker was found and killed; log:\n{}", common::tail(&sori.log(), 4000));
    assert_heard_within_2s(&sori, &v2v);
    assert!(sori.log().contains("died during the request"), "{}", common::tail(&sori.log(), 4000));
    assert!(metric(&sori, "sori_worker_restarts_total{engine=\"stt\"}") >= 1.0);
    assert_eq!(wait_metric(&sori, "sori_workers_live{engine=\"stt\"}", 1.0, Duration::from_secs(10)), 1.0);
    // The replacement transcribes.
    let body = common::multipart("b0undary", &[("language", "ko")], Some(&std::fs::read(&wav).expect("wav")));
    let r = common::http_raw(
        sori.http_port,
        "POST",
        "/v1/audio/transcriptions",
        &[("Content-Type", "multipart/form-data; boundary=b0undary")],
        &body,
    );
    let text = r.json()["text"].as_str().unwrap_or_default().to_string();
    eprintln!("the new worker heard: {text:?}");
    assert!(
        r.status == 200 && !text.trim().is_empty(),
        "{} {}; log:\n{}",
        r.status,
        r.text(),
        common::tail(&sori.log(), 4000)
    );
}
