//! A real SIP phone (Debian's baresip) calls sori and records what it hears,
//! in the clear and with SRTP (SDES, `mediaenc=srtp-mand`).

mod common;

use std::time::Duration;

use common::{best_correlation, envelope, Options, Sori};

#[test]
fn baresip_hears_the_korean_greeting() {
    let sori = Sori::start(Options::default());
    let dir = tempfile::tempdir().expect("tmp");
    let silence = dir.path().join("silence.wav");
    common::write_wav_8k(&silence, &vec![0i16; 8000 * 20]);
    let dec = common::baresip_call(&sori, dir.path(), &silence, 10);
    assert_heard_the_greeting(&sori, &dec);
}

/// The same call encrypted: baresip offers `RTP/SAVP` with SDES keys; sori
/// answers with its own key, sends SRTP and SRTCP and decrypts the phone's.
#[test]
fn baresip_hears_the_greeting_over_srtp() {
    let sori = Sori::start(Options { rtp: "srtp = \"require\"\n".into(), ..Default::default() });
    let dir = tempfile::tempdir().expect("tmp");
    let silence = dir.path().join("silence.wav");
    common::write_wav_8k(&silence, &vec![0i16; 8000 * 20]);
    let dec = common::baresip_call_with(&sori, dir.path(), &silence, 10, ";mediaenc=srtp-mand", &["srtp.so"]);
    assert_heard_the_greeting(&sori, &dec);
    // What sori refused: only baresip's own plaintext RTCP (an APP "PING"
    // before its SRTP starts, its BYE after it stops); the record above shows
    // every RTP packet and the phone's SRTCP reports decrypted.
    let (_, metrics) = common::http(sori.http_port, "GET", "/metrics", "");
    let refused: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sori_srtp_packets_refused_total ").and_then(|v| v.parse().ok()))
        .expect("metric");
    let log = strip_ansi(&sori.log());
    let why: Vec<&str> = log.lines().filter(|l| l.contains("SRTP packet refused")).collect();
    assert!(refused <= 2.0, "{why:#?}");
    assert!(why.iter().all(|l| l.contains("head=[128, 204") || l.contains("head=[129, 203")), "{why:#?}");
}

/// SIP over TLS (port 5061 style, a certificate made for the test) with
/// SRTP media: the whole call encrypted, the greeting heard intact.
#[test]
fn baresip_calls_over_tls_with_srtp_and_hears_the_greeting() {
    assert!(common::have("openssl"), "openssl is required to make the test certificate");
    let dir = tempfile::tempdir().expect("tmp");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let tls_port = common::free_port();
    let sori = Sori::start(Options {
        sip: format!("tls_port = {tls_port}\ntls_cert = \"{}\"\ntls_key = \"{}\"\n", cert.display(), key.display()),
        rtp: "srtp = \"require\"\n".into(),
        ..Default::default()
    });
    let silence = dir.path().join("silence.wav");
    common::write_wav_8k(&silence, &vec![0i16; 8000 * 20]);
    let dec = common::baresip_call_to(
        &sori,
        dir.path(),
        &silence,
        10,
        ";mediaenc=srtp-mand",
        &["srtp.so"],
        &format!("sip:1339@127.0.0.1:{tls_port};transport=tls"),
    );
    assert_heard_the_greeting(&sori, &dec);
    let recs = sori.records();
    assert_eq!(recs[0].transport, "tls", "{:?}", recs[0]);
}

/// A plain RTP offer to a server that requires SRTP is refused with 488,
/// and the refusal is recorded.
#[test]
fn plain_offer_to_a_server_requiring_srtp_gets_488() {
    let sori = Sori::start(Options { rtp: "srtp = \"require\"\n".into(), ..Default::default() });
    assert!(plain_invite(&sori, "127.0.0.1", "plain-1").starts_with("SIP/2.0 488"));
    let recs = sori.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs[0].outcome.as_deref(), Some("rejected"));
    assert!(recs[0].hangup_cause.as_deref().unwrap_or_default().starts_with("488"), "{:?}", recs[0].hangup_cause);
}

/// The SRTP policy per trunk: calls from a trunk with `srtp = "require"`
/// must be encrypted; another source keeps the server's "offer".
#[test]
fn a_trunk_requiring_srtp_refuses_plain_offers_from_it_only() {
    let trunk = "\n[[trunk]]\nname = \"secure\"\nallow = [\"127.0.0.2/32\"]\nsrtp = \"require\"\n";
    let sori = Sori::start(Options {
        sip: "allow = [\"127.0.0.1/32\", \"127.0.0.3/32\"]\n".into(),
        extra: trunk.into(),
        ..Default::default()
    });
    let secure = plain_invite(&sori, "127.0.0.2", "plain-2");
    assert!(secure.starts_with("SIP/2.0 488"), "{secure}");
    let other = plain_invite(&sori, "127.0.0.3", "plain-3");
    assert!(other.starts_with("SIP/2.0 200"), "{other}");
}

/// Sends a plain-RTP INVITE from `from_ip`; the first final response.
fn plain_invite(sori: &Sori, from_ip: &str, call_id: &str) -> String {
    let sock = std::net::UdpSocket::bind((from_ip, 0)).expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    let me = sock.local_addr().expect("addr");
    let sdp =
        format!("v=0\r\no=- 1 1 IN IP4 {from_ip}\r\ns=-\r\nc=IN IP4 {from_ip}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n");
    let invite = format!(
        "INVITE sip:1339@127.0.0.1:{p} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call_id}\r\n\
         From: <sip:caller@{me}>;tag=p1\r\nTo: <sip:1339@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{me}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        p = sori.sip_port
    );
    sock.send_to(invite.as_bytes(), sori.addr()).expect("send");
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("SIP/2.0 1") {
                return text;
            }
        }
    }
    panic!("no final response to {call_id}; log:\n{}", common::tail(&sori.log(), 3000));
}

/// The log without its terminal colours.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn assert_heard_the_greeting(sori: &Sori, dec: &std::path::Path) {
    let dec = dec.to_path_buf();
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
