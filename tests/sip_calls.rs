//! sori against real SIP peers (SIPp from Debian's sip-tester) over loopback.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{assert_sipp, Options, Sori};

fn record(sori: &Sori) -> sori::store::CallRecord {
    let recs = sori.wait_records(1, Duration::from_secs(10));
    assert!(!recs.is_empty(), "no finished call record; log:\n{}", common::tail(&sori.log(), 3000));
    recs[0].clone()
}

#[test]
fn basic_call_is_answered_and_recorded() {
    let sori = Sori::start(Options::default());
    assert_sipp(&sori, "basic_call", &[]);
    let r = record(&sori);
    assert_eq!(r.codec.as_deref(), Some("PCMU"));
    assert!(r.answered_ms.is_some());
    assert_eq!(r.outcome.as_deref(), Some("caller-hangup"));
    assert_eq!(r.hangup_cause.as_deref(), Some("caller-bye"));
    assert_eq!(r.menu_path, "main");
    assert_eq!(r.transport, "udp");
}

#[test]
fn basic_call_over_tcp() {
    let sori = Sori::start(Options::default());
    assert_sipp(&sori, "basic_call", &["-t", "t1"]);
    assert_eq!(record(&sori).transport, "tcp");
}

#[test]
fn cancel_before_answer_gets_487() {
    let sori = Sori::start(Options { ring_ms: 4000, ..Default::default() });
    assert_sipp(&sori, "cancel", &[]);
    let r = record(&sori);
    assert_eq!(r.outcome.as_deref(), Some("cancelled"));
    assert!(r.answered_ms.is_none());
}

#[test]
fn options_is_answered_with_allow() {
    let sori = Sori::start(Options::default());
    assert_sipp(&sori, "options", &[]);
}

#[test]
fn reinvite_hold_and_new_media_address_are_answered() {
    let sori = Sori::start(Options::default());
    assert_sipp(&sori, "reinvite", &[]);
    assert_eq!(record(&sori).outcome.as_deref(), Some("caller-hangup"));
}

#[test]
fn no_common_codec_gets_488() {
    let sori = Sori::start(Options::default());
    assert_sipp(&sori, "codec_mismatch", &[]);
    let r = record(&sori);
    assert_eq!(r.outcome.as_deref(), Some("rejected"));
    assert!(r.hangup_cause.as_deref().unwrap_or("").starts_with("488"), "{r:?}");
}

#[test]
fn rfc4733_zero_transfers_to_the_agent_by_refer() {
    let sori = Sori::start(Options::default());
    assert_sipp(&sori, "dtmf_refer", &[]);
    let r = record(&sori);
    assert_eq!(r.dtmf, "0");
    assert_eq!(r.outcome.as_deref(), Some("transferred"));
    assert_eq!(r.menu_path, "main>transfer:agent");
}

#[test]
fn refused_refer_falls_back_to_a_spoken_message() {
    let sori = Sori::start(Options::default());
    assert_sipp(&sori, "info_refer_refused", &[]);
    let r = record(&sori);
    assert_eq!(r.dtmf, "0", "SIP INFO digit recorded");
    assert!(r.menu_path.contains("transfer:agent>transfer-failed"), "{}", r.menu_path);
    assert!(sori.log().contains("REFER refused"));
}

#[test]
fn malformed_requests_get_error_statuses_and_sori_keeps_serving() {
    let sori = Sori::start(Options::default());
    assert_sipp(&sori, "malformed", &[]);
    // Raw garbage on the SIP port: dropped without an answer, never a crash.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut x: u32 = 12345;
    for i in 0..2000u32 {
        let len = (i % 700) as usize + 1;
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let mut msg = if i % 3 == 0 {
            b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKj\r\n".to_vec()
        } else {
            Vec::new()
        };
        msg.extend_from_slice(&junk);
        let _ = sock.send_to(&msg, sori.addr());
    }
    assert_sipp(&sori, "options", &[]);
}

#[test]
fn silence_gets_goodbye_and_bye() {
    let dir = tempfile::tempdir().expect("tmp");
    let plan = std::fs::read_to_string(common::repo().join("dialplan/1339.toml"))
        .expect("plan")
        .replace("input_timeout_ms = 7000", "input_timeout_ms = 1000")
        .replace("max_retries = 2", "max_retries = 1");
    let plan = plan
        .lines()
        .map(|l| {
            if l.starts_with("greeting =") || l.starts_with("main_menu =") {
                format!("{} = \"안녕하세요.\"", l.split(' ').next().unwrap_or("x"))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.path().join("short.toml");
    std::fs::write(&path, plan).expect("write");
    let sori = Sori::start(Options { dialplan: path, ..Default::default() });
    assert_sipp(&sori, "wait_for_bye", &[]);
    let r = record(&sori);
    assert_eq!(r.outcome.as_deref(), Some("no-input"));
    assert_eq!(r.hangup_cause.as_deref(), Some("sori-bye"));
}

#[test]
fn sigterm_ends_active_calls_with_bye_and_keeps_their_records() {
    let mut sori = Sori::start(Options::default());
    // A caller whose ports were taken between the check and SIPp's bind
    // never calls: it is started again on other ports.
    let mut caller = None;
    for _ in 0..3 {
        let mut c = Command::new("sipp")
            .arg("-sf")
            .arg(common::repo().join("tests/sipp/wait_for_bye.xml"))
            .arg(sori.addr().to_string())
            .args(["-s", "1339", "-m", "1", "-i", "127.0.0.1", "-nostdin", "-timeout", "30s", "-timeout_error"])
            .args(["-p", &common::free_port().to_string(), "-mp", &common::free_media_port().to_string()])
            .current_dir(sori.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sipp");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sori.records().is_empty() && std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if sori.records().is_empty() {
            if let Ok(Some(_)) = c.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = c.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                assert!(common::sipp_port_taken(&err), "the caller gave up before calling:\n{err}");
                continue;
            }
        }
        caller = Some(c);
        break;
    }
    let mut caller = caller.expect("a caller on free ports within three tries");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sori.stop(), Some(0), "clean exit; log:\n{}", common::tail(&sori.log(), 3000));
    let st = caller.wait().expect("sipp wait");
    assert!(st.success(), "the caller got a BYE");
    let r = record(&sori);
    assert_eq!(r.outcome.as_deref(), Some("shutdown"));
    assert_eq!(r.hangup_cause.as_deref(), Some("sori-bye"));
    assert!(r.ended_ms.is_some());
}

#[test]
fn opus_is_chosen_when_offered_first() {
    let sori = Sori::start(Options::default());
    assert_sipp(&sori, "opus_offer", &[]);
    assert_eq!(record(&sori).codec.as_deref(), Some("opus"));
}

#[test]
fn sigkill_after_a_call_loses_no_finished_record() {
    let mut sori = Sori::start(Options::default());
    assert_sipp(&sori, "basic_call", &[]);
    assert_sipp(&sori, "codec_mismatch", &[]);
    // The records are committed within milliseconds of the call's end.
    std::thread::sleep(Duration::from_millis(300));
    sori.child.kill().expect("SIGKILL");
    let _ = sori.child.wait();
    let recs: Vec<_> = sori.records().into_iter().filter(|r| r.ended_ms.is_some()).collect();
    assert_eq!(recs.len(), 2, "{recs:?}");
}
