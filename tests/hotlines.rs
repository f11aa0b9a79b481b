//! Several hotlines on one server (`[[hotline]]`): the 1339 line and the
//! example city line (dialplan/city-120.toml, kb/city-120.toml) answer on the
//! same real `sori serve`, each with its own greeting, voice, DTMF menu and
//! knowledge base; an unknown number gets 404; records, the calls API and
//! metrics carry the hotline. SIPp calls over loopback, as in sip_calls.rs.

mod common;

use std::time::Duration;

use common::{assert_sipp, best_correlation, envelope, http, repo, Options, Sori};

/// The city line's voice in the test config (`[hotline.tts] rate`).
const CITY_RATE: u32 = 175;

fn two_hotlines(dir: &std::path::Path) -> Sori {
    // Agents' office hours would make the REFER depend on when the test runs.
    let city = std::fs::read_to_string(repo().join("dialplan/city-120.toml"))
        .expect("city plan")
        .replace("use_hours = true", "use_hours = false");
    let city_plan = dir.join("city-120.toml");
    std::fs::write(&city_plan, city).expect("write plan");
    let extra = format!(
        "\n[[hotline]]\nname = \"1339\"\nnumbers = [\"1339\"]\ndialplan = \"{p1339}\"\nkb = \"{k1339}\"\n\n\
         [[hotline]]\nname = \"city-120\"\nnumbers = [\"120\", \"02-120\"]\ndialplan = \"{pcity}\"\nkb = \"{kcity}\"\nllm = false\n\
         [hotline.tts]\nrate = {CITY_RATE}\n",
        p1339 = repo().join("dialplan/1339.toml").display(),
        k1339 = repo().join("kb/1339.toml").display(),
        pcity = city_plan.display(),
        kcity = repo().join("kb/city-120.toml").display(),
    );
    Sori::start(Options { extra, store: "record = true\nrecordings = \"rec\"\n".into(), ..Default::default() })
}

/// A hotline's greeting as sori renders it in that hotline's voice.
fn greeting(plan: &std::path::Path, rate: u32) -> Vec<f64> {
    let plan = sori::dialog::plan::Dialplan::load(plan).expect("plan");
    let tts = sori::tts::espeak::Espeak::new("ko", rate);
    let pcm = sori::tts::prompts::render(&tts, plan.prompt_text("greeting").expect("greeting")).expect("render");
    pcm.iter().map(|s| *s as f64 / 32768.0).collect()
}

/// What sori said on a recorded call (the right channel of its stereo WAV).
fn sori_side(file: &str) -> Vec<f64> {
    let mut r = hound::WavReader::open(file).expect("recording");
    let s: Vec<i16> = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    s.iter().skip(1).step_by(2).map(|&x| x as f64 / 32768.0).collect()
}

fn record_of(sori: &Sori, n: usize, to_user: &str) -> sori::store::CallRecord {
    let recs = sori.wait_records(n, Duration::from_secs(10));
    recs.into_iter()
        .find(|r| r.to_uri.starts_with(&format!("sip:{to_user}@")))
        .unwrap_or_else(|| panic!("no record of the call to {to_user}; log:\n{}", common::tail(&sori.log(), 3000)))
}

fn chat(sori: &Sori, path: &str, hotline: Option<&str>, question: &str) -> serde_json::Value {
    let mut body =
        serde_json::json!({ "model": "sori-1339-retrieval", "messages": [{ "role": "user", "content": question }] });
    if let Some(h) = hotline {
        body["hotline"] = h.into();
    }
    let (status, text) = http(sori.http_port, "POST", path, &body.to_string());
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn two_hotlines_answer_their_own_numbers_on_one_server() {
    let dir = tempfile::tempdir().expect("tmp");
    let sori = two_hotlines(dir.path());

    // Each number hears its own greeting, in its own voice.
    assert_sipp(&sori, "long_call", &["-s", "1339", "-d", "4000"]);
    let r1339 = record_of(&sori, 1, "1339");
    assert_sipp(&sori, "long_call", &["-s", "02-120", "-d", "4000"]);
    let rcity = record_of(&sori, 2, "02-120");
    assert_eq!(r1339.hotline.as_deref(), Some("1339"), "{r1339:?}");
    assert_eq!(rcity.hotline.as_deref(), Some("city-120"), "{rcity:?}");
    let g1339 = envelope(&greeting(&repo().join("dialplan/1339.toml"), 165));
    let gcity = envelope(&greeting(&repo().join("dialplan/city-120.toml"), CITY_RATE));
    for (rec, own, other, name) in [(&r1339, &g1339, &gcity, "1339"), (&rcity, &gcity, &g1339, "city-120")] {
        let heard = envelope(&sori_side(rec.recording.as_deref().expect("recorded")));
        let (c_own, c_other) = (best_correlation(own, &heard, 300, 60).0, best_correlation(other, &heard, 300, 60).0);
        eprintln!("{name}: its greeting correlates {c_own:.3}, the other line's {c_other:.3}");
        assert!(c_own > 0.9, "{name} did not play its own greeting ({c_own:.3})");
        assert!(c_other < c_own - 0.2, "{name}: the other greeting correlates {c_other:.3} vs {c_own:.3}");
    }

    // Key 0 follows each hotline's own dialplan: its own agent.
    assert_sipp(&sori, "dtmf_refer", &["-s", "1339"]);
    assert_sipp(&sori, "city_refer", &["-s", "120"]);
    let recs = sori.wait_records(4, Duration::from_secs(10));
    let transferred: Vec<_> = recs.iter().filter(|r| r.outcome.as_deref() == Some("transferred")).collect();
    assert_eq!(transferred.len(), 2, "{recs:?}");
    for r in &transferred {
        assert_eq!((r.dtmf.as_str(), r.menu_path.as_str()), ("0", "main>transfer:agent"), "{r:?}");
    }
    let hot: Vec<_> = transferred.iter().map(|r| r.hotline.as_deref().unwrap_or("-")).collect();
    assert!(hot.contains(&"1339") && hot.contains(&"city-120"), "{hot:?}");

    // A number no hotline answers: 404, recorded as refused, counted.
    assert_sipp(&sori, "not_found", &["-s", "9999"]);
    let r = record_of(&sori, 5, "9999");
    assert_eq!((r.outcome.as_deref(), r.hotline.as_deref()), (Some("rejected"), None), "{r:?}");
    assert!(r.hangup_cause.as_deref().unwrap_or("").starts_with("404"), "{r:?}");

    // Text questions go to each hotline's own knowledge base.
    let v = chat(&sori, "/v1/chat/completions", None, "독감 예방접종 무료로 맞을 수 있어요?");
    assert_eq!((v["sori"]["hotline"].as_str(), v["sori"]["kb_id"].as_str()), (Some("1339"), Some("flu-vaccine")));
    let v = chat(&sori, "/v1/chat/completions", Some("city-120"), "여권 만들려면 뭐 가져가야 돼요?");
    assert_eq!((v["sori"]["hotline"].as_str(), v["sori"]["kb_id"].as_str()), (Some("city-120"), Some("passport")));
    let v = chat(&sori, "/v1/chat/completions?hotline=city-120", None, "독감 예방접종 어디서 맞아요?");
    assert_eq!(v["sori"]["action"].as_str(), Some("out-of-scope"), "{v}");
    assert!(v["choices"][0]["message"]["content"].as_str().unwrap_or("").contains("1339"), "{v}");
    let v = chat(&sori, "/v1/chat/completions", None, "여권 만들려면 뭐 가져가야 돼요?");
    assert_ne!(v["sori"]["kb_id"].as_str(), Some("passport"), "1339 has no passport answer: {v}");
    let (status, text) =
        http(sori.http_port, "GET", "/v1/kb/route?q=%EC%97%AC%EA%B6%8C%20%EB%B0%9C%EA%B8%89&hotline=city-120", "");
    let route: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!((status, route["id"].as_str()), (200, Some("passport")), "{text}");
    let (status, text) = http(sori.http_port, "GET", "/v1/kb/entries?hotline=nowhere", "");
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("city-120") && text.contains("1339"), "the error lists the hotlines: {text}");

    // Records, the calls API and metrics by hotline.
    let (_, text) = http(sori.http_port, "GET", "/v1/calls?hotline=city-120", "");
    let page: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(page["total"].as_u64(), Some(2), "{text}");
    assert!(page["calls"].as_array().expect("calls").iter().all(|c| c["hotline"] == "city-120"), "{text}");
    let (_, metrics) = http(sori.http_port, "GET", "/metrics", "");
    for line in [
        "sori_hotline_calls_total{hotline=\"1339\"} 2",
        "sori_hotline_calls_total{hotline=\"city-120\"} 2",
        "sori_calls_not_found_total 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} not in /metrics");
    }
    let (_, health) = http(sori.http_port, "GET", "/healthz", "");
    assert!(health.contains("\"city-120\""), "{health}");
}

#[test]
fn without_hotline_entries_every_number_reaches_the_one_hotline() {
    let sori = Sori::start(Options::default());
    assert_sipp(&sori, "basic_call", &["-s", "4321"]);
    let r = record_of(&sori, 1, "4321");
    assert_eq!((r.hotline.as_deref(), r.menu_path.as_str()), (Some("1339"), "main"), "{r:?}");
    let (_, metrics) = http(sori.http_port, "GET", "/metrics", "");
    assert!(metrics.contains("sori_hotline_calls_total{hotline=\"1339\"} 1"), "{metrics}");
}
