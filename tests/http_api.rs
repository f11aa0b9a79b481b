//! The operators' HTTP API of a real `sori serve` over loopback: speech in
//! and out on the call's engines, call records with their turns, the
//! knowledge base's routing explained, bad input, and the bearer token.

mod common;

use common::{http_raw, multipart, HttpResponse, Options, Sori};

const BOUNDARY: &str = "sori-test-boundary";

fn get(sori: &Sori, path: &str) -> HttpResponse {
    http_raw(sori.http_port, "GET", path, &[], b"")
}

fn post_json(sori: &Sori, path: &str, body: &serde_json::Value) -> HttpResponse {
    http_raw(sori.http_port, "POST", path, &[("Content-Type", "application/json")], body.to_string().as_bytes())
}

fn upload(sori: &Sori, fields: &[(&str, &str)], file: Option<&[u8]>) -> HttpResponse {
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    http_raw(
        sori.http_port,
        "POST",
        "/v1/audio/transcriptions",
        &[("Content-Type", &ct)],
        &multipart(BOUNDARY, fields, file),
    )
}

fn error_message(r: &HttpResponse) -> String {
    r.json()["error"]["message"].as_str().unwrap_or_else(|| panic!("no JSON error in {}", r.text())).to_string()
}

fn percent_encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn wav_8k(pcm: &[i16]) -> Vec<u8> {
    sori::stt::http::wav_bytes(pcm, 8000)
}

#[test]
fn speech_out_and_back_in_through_the_call_engines() {
    // A loaded 2-core machine (other tests, builds) can take seconds per utterance.
    let sori = Sori::start(Options { extra: "\n[stt]\ntimeout_ms = 60000\n".into(), ..Default::default() });
    let health = get(&sori, "/healthz").json();
    assert_eq!(health["speech"], true, "speech engines loaded: {health}; log:\n{}", common::tail(&sori.log(), 3000));

    let r = post_json(
        &sori,
        "/v1/audio/speech",
        &serde_json::json!({ "input": "홍역은 어떤 증상이 있나요?", "voice": "alloy" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("audio/wav"));
    let wav = hound::WavReader::new(std::io::Cursor::new(r.body.clone())).expect("a WAV file");
    assert_eq!((wav.spec().sample_rate, wav.spec().channels), (8000, 1));
    assert!(wav.duration() > 8000, "more than a second of speech: {}", wav.duration());

    // Through the call's channel (μ-law, the call's upsampler); the plain
    // path is read below by sori's own HTTP STT client.
    let t = upload(&sori, &[("model", "whisper-1"), ("telephone", "true")], Some(&r.body));
    assert_eq!(t.status, 200, "{}", t.text());
    let v = t.json();
    let text = v["text"].as_str().unwrap_or("");
    eprintln!("telephone: heard {text:?} in {} ms", v["sori"]["stt_ms"]);
    assert!(text.chars().any(|c| ('가'..='힣').contains(&c)), "Korean text: {v}");
    assert!(v["sori"]["engine"].as_str().unwrap_or("").contains("whisper"), "{v}");
    assert!(v["sori"]["audio_ms"].as_u64().unwrap_or(0) > 1000, "{v}");
    assert_eq!(v["sori"]["telephone"], true);
    // Silence (and a tenth of a second of it) is no speech: "" without the
    // STT engine, as on a call, not whisper's invented text.
    for samples in [800usize, 8000 * 3] {
        let t = upload(&sori, &[], Some(&wav_8k(&vec![0i16; samples])));
        assert_eq!(t.status, 200, "{}", t.text());
        let v = t.json();
        assert_eq!((v["text"].as_str(), v["sori"]["engine_ms"].as_u64()), (Some(""), Some(0)), "{v}");
    }
    let t = upload(&sori, &[("response_format", "text")], Some(&r.body));
    assert_eq!(t.status, 200);
    assert!(t.header("content-type").unwrap_or("").starts_with("text/plain") && !t.text().trim().is_empty());

    // sori's own OpenAI-compatible STT client ([stt] engine = "http") reads it.
    let cfg = sori::stt::SttConfig {
        engine: "http".into(),
        url: format!("http://127.0.0.1:{}", sori.http_port),
        timeout_ms: 120_000,
        ..Default::default()
    };
    let client = sori::stt::http::HttpStt::new(&cfg).expect("client");
    let pcm16k = sori::stt::read_wav_16k(&{
        let p = sori.dir.path().join("speech.wav");
        std::fs::write(&p, &r.body).expect("write");
        p
    })
    .expect("read");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let heard = rt.block_on(sori::stt::Stt::transcribe(&client, pcm16k)).expect("transcribed over HTTP");
    assert!(!heard.text.is_empty());
}

#[test]
fn bad_audio_requests_get_clear_json_errors() {
    let sori = Sori::start(Options::default());
    let r = post_json(&sori, "/v1/audio/transcriptions", &serde_json::json!({ "file": "x" }));
    assert_eq!(r.status, 400);
    assert!(error_message(&r).contains("multipart/form-data"));
    let r = upload(&sori, &[], Some(b"this is not a wav file at all"));
    assert_eq!(r.status, 400);
    assert!(error_message(&r).contains("not a readable WAV"), "{}", r.text());
    let r = upload(&sori, &[], Some(b""));
    assert_eq!(r.status, 400);
    assert!(error_message(&r).contains("empty"));
    let r = upload(&sori, &[("model", "whisper-1")], None);
    assert_eq!(r.status, 400);
    assert!(error_message(&r).contains("\"file\""));
    let r = upload(&sori, &[], Some(&wav_8k(&vec![0i16; 8000 * 31])));
    assert_eq!(r.status, 400);
    assert!(error_message(&r).contains("at most 30 s"), "{}", r.text());
    let r = upload(&sori, &[("response_format", "srt")], Some(&wav_8k(&[0i16; 8000])));
    assert_eq!(r.status, 400);
    // Over 25 MB: refused while reading, with a JSON body.
    let huge = vec![0u8; 26 * 1024 * 1024];
    let r = upload(&sori, &[], Some(&huge));
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(!error_message(&r).is_empty());

    for (body, want) in [
        ("{not json", "not a valid speech request"),
        (r#"{"input": "   "}"#, "empty"),
        (r#"{"input": "안녕하세요", "response_format": "mp3"}"#, "only \"wav\""),
    ] {
        let r = http_raw(
            sori.http_port,
            "POST",
            "/v1/audio/speech",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(error_message(&r).contains(want), "{body}: {}", r.text());
    }
    let long = serde_json::json!({ "input": "가".repeat(2001) });
    assert_eq!(post_json(&sori, "/v1/audio/speech", &long).status, 400);
    // Still serving.
    assert_eq!(get(&sori, "/healthz").status, 200);
}

#[test]
fn calls_are_listed_in_pages_and_shown_with_their_turns() {
    let sori = Sori::start(Options::default());
    // A real call through SIPp, recorded by sori…
    common::assert_sipp(&sori, "basic_call", &[]);
    let real = sori.wait_records(1, std::time::Duration::from_secs(10));
    assert_eq!(real.len(), 1);
    // …and three older calls with turns, written by another process's store
    // into the same SQLite file (WAL: sori's writer and this one share it).
    let (store, writer) = sori::store::Store::start(&sori.db()).expect("store");
    for i in 0..3u32 {
        let id = format!("seeded-{i}");
        store.call_finished(sori::store::CallRecord {
            call_id: id.clone(),
            from_uri: "sip:caller@127.0.0.1".into(),
            started_ms: 1_000_000 + i as i64 * 1000,
            answered_ms: Some(1_000_000 + i as i64 * 1000),
            ended_ms: Some(1_030_000 + i as i64 * 1000),
            outcome: Some(if i == 1 { "transferred" } else { "completed" }.into()),
            barge_ins: i,
            ..Default::default()
        });
        store.turn(sori::store::TurnRecord {
            call_id: id,
            idx: 0,
            transcript: "홍역은 어떤 증상이 있나요".into(),
            action: "answer".into(),
            kb_id: Some("measles".into()),
            reply: "홍역은 발열과 발진이 나타납니다.".into(),
            answer_source: "retrieval".into(),
            stt_ms: 420,
            barged_in: i == 2,
            ..Default::default()
        });
    }
    store.flush();
    drop(store);
    writer.join();

    let all = get(&sori, "/v1/calls").json();
    assert_eq!(all["total"], 4, "{all}");
    assert_eq!(all["calls"][0]["call_id"], real[0].call_id.as_str(), "newest first");
    assert_eq!(all["calls"][0]["active"], false);
    let page = get(&sori, "/v1/calls?limit=2&offset=1").json();
    let ids: Vec<&str> =
        page["calls"].as_array().expect("calls").iter().filter_map(|c| c["call_id"].as_str()).collect();
    assert_eq!(ids, ["seeded-2", "seeded-1"]);
    let before = get(&sori, "/v1/calls?before=seeded-2").json();
    assert_eq!(before["calls"].as_array().map(|a| a.len()), Some(2));
    let transferred = get(&sori, "/v1/calls?outcome=transferred").json();
    assert_eq!(
        (transferred["total"].as_u64(), transferred["calls"][0]["call_id"].as_str()),
        (Some(1), Some("seeded-1"))
    );
    let since = get(&sori, "/v1/calls?since=1001000").json();
    assert_eq!(since["total"], 3);
    assert_eq!(get(&sori, "/v1/calls?limit=many").status, 400);

    let one = get(&sori, "/v1/calls/seeded-2").json();
    assert_eq!(one["duration_ms"], 30_000);
    assert_eq!(one["turns"][0]["kb_id"], "measles");
    assert_eq!(one["turns"][0]["barged_in"], true);
    assert_eq!(one["turns"][0]["transcript"], "홍역은 어떤 증상이 있나요");
    let r = get(&sori, "/v1/calls/no-such-call");
    assert_eq!(r.status, 404);
    assert!(error_message(&r).contains("no-such-call"));

    // The CLI shows the same call turn by turn.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sori"))
        .args(["calls", "seeded-2", "--config"])
        .arg(&sori.config)
        .output()
        .expect("run sori calls");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("caller: 홍역은 어떤 증상이 있나요") && text.contains("answer measles"), "{text}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sori"))
        .args(["calls", "nope", "--config"])
        .arg(&sori.config)
        .output()
        .expect("run sori calls");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no call with id"));
}

#[test]
fn knowledge_base_entries_and_why_a_question_routes_where_it_does() {
    let sori = Sori::start(Options::default());
    let kb = get(&sori, "/v1/kb/entries").json();
    let entries = kb["entries"].as_array().expect("entries");
    assert!(entries.len() >= 30, "{}", entries.len());
    assert!(entries.iter().all(|e| e["source_url"].as_str().unwrap_or("").starts_with("https://")));
    assert!(kb["actions"].as_array().map(|a| !a.is_empty()).unwrap_or(false));

    let r = get(&sori, &format!("/v1/kb/route?q={}", percent_encode("홍역은 어떤 증상이 있어요?"))).json();
    assert_eq!((r["route"].as_str(), r["id"].as_str()), (Some("answer"), Some("measles")), "{r}");
    assert_eq!(r["candidates"][0]["id"], "measles");
    assert!(r["candidates"][0]["score"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(r["candidates"][0]["title"].is_string());
    assert_eq!(r["rule"], serde_json::Value::Null);
    assert_eq!(r["reply"]["kb_id"], "measles");

    let e = get(&sori, &format!("/v1/kb/route?q={}", percent_encode("할머니가 쓰러지셨어요 숨을 안 쉬어요"))).json();
    assert_eq!(e["route"], "emergency", "{e}");
    assert_eq!(e["rule"]["kind"], "emergency");
    assert!(!e["rule"]["trigger"].as_str().unwrap_or("").is_empty());

    assert_eq!(get(&sori, "/v1/kb/route").status, 400);
    assert_eq!(get(&sori, "/v1/kb/route?q=").status, 400);
    // Both chat models answer: the configured engine and retrieval-only.
    let models = get(&sori, "/v1/models").json();
    assert_eq!(models["data"][1]["id"], "sori-1339-retrieval");
    let c = post_json(
        &sori,
        "/v1/chat/completions",
        &serde_json::json!({ "model": "sori-1339-retrieval", "messages": [{ "role": "user", "content": "홍역 증상" }] }),
    )
    .json();
    assert_eq!(c["sori"]["answer_source"], "retrieval");
}

#[test]
fn a_configured_bearer_token_is_required_and_never_logged() {
    let token = "tok-7f3a9c-secret";
    let sori = Sori::start(Options { extra: format!("token = \"{token}\"\n"), ..Default::default() });
    assert_eq!(get(&sori, "/healthz").status, 200, "health stays open for probes");
    assert_eq!(get(&sori, "/healthz").json()["auth"], true);
    for path in ["/v1/calls", "/v1/kb/entries", "/metrics", "/v1/models"] {
        let r = get(&sori, path);
        assert_eq!(r.status, 401, "{path}");
        assert!(error_message(&r).contains("bearer token"));
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        let wrong = http_raw(sori.http_port, "GET", path, &[("Authorization", "Bearer tok-7f3a9c-secreT")], b"");
        assert_eq!(wrong.status, 401, "{path}");
        let right = http_raw(sori.http_port, "GET", path, &[("Authorization", &format!("Bearer {token}"))], b"");
        assert_eq!(right.status, 200, "{path}: {}", right.text());
    }
    let body = serde_json::json!({ "messages": [{ "role": "user", "content": "홍역 증상" }] }).to_string();
    let r = http_raw(
        sori.http_port,
        "POST",
        "/v1/chat/completions",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 401);
    let r = upload(&sori, &[], Some(&wav_8k(&[0i16; 8000])));
    assert_eq!(r.status, 401, "uploads are refused before they are read");
    assert!(!sori.log().contains(token), "the token is in the log");
}

#[test]
fn a_recorded_call_is_one_stereo_wav_with_sori_on_the_right() {
    let sori = Sori::start(Options {
        store: "record = true\nrecordings = \"rec\"\nretention_days = 7\n".into(),
        ..Default::default()
    });
    common::assert_sipp(&sori, "basic_call", &[]);
    let recs = sori.wait_records(1, std::time::Duration::from_secs(10));
    let call = &recs[0];
    let file = call.recording.clone().expect("the record points to its recording");
    assert!(file.starts_with(&sori.dir.path().join("rec").display().to_string()), "{file}");
    assert!(file.ends_with(".wav"));
    let mut r = hound::WavReader::open(&file).expect("a WAV file");
    assert_eq!((r.spec().channels, r.spec().sample_rate), (2, 8000));
    let s: Vec<i16> = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    let rms = |ch: usize| {
        (s.iter().skip(ch).step_by(2).map(|&x| (x as f64).powi(2)).sum::<f64>() / (s.len() / 2) as f64).sqrt()
    };
    let secs = s.len() as f64 / 2.0 / 8000.0;
    let answered = (call.ended_ms.unwrap_or(0) - call.answered_ms.unwrap_or(0)) as f64 / 1000.0;
    eprintln!("recording {secs:.2} s (answered {answered:.2} s), caller rms {:.0}, sori rms {:.0}", rms(0), rms(1));
    assert!((secs - answered).abs() < 0.5, "recording {secs:.2} s vs call {answered:.2} s");
    assert!(
        rms(1) > 300.0 && rms(1) > 4.0 * rms(0),
        "sori's greeting is on the right, the silent SIPp caller on the left"
    );

    let api = get(&sori, &format!("/v1/calls/{}", percent_encode(&call.call_id))).json();
    assert_eq!(api["recording"].as_str(), Some(file.as_str()));
    let wav = get(&sori, &format!("/v1/calls/{}/recording", percent_encode(&call.call_id)));
    assert_eq!((wav.status, wav.header("content-type")), (200, Some("audio/wav")));
    assert_eq!(wav.body, std::fs::read(&file).expect("read"));
    std::fs::remove_file(&file).expect("remove");
    let gone = get(&sori, &format!("/v1/calls/{}/recording", percent_encode(&call.call_id)));
    assert_eq!(gone.status, 404);
    assert!(error_message(&gone).contains("retention_days"));
}
