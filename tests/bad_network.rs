//! Calls over a bad network: a scripted phone talks to a running `sori serve`
//! through a UDP impairment relay on loopback (tests/common/relay.rs, the
//! model in `sori::rtp::impair`). SIP goes direct; the media is impaired.

mod common;

use std::time::{Duration, Instant};

use common::phone::{sdp_media, Phone};
use common::relay::Relay;
use common::{Options, Sori};
use sori::rtp::impair::Impairment;

fn metric(sori: &Sori, name: &str) -> u64 {
    let (_, m) = common::http(sori.http_port, "GET", "/metrics", "");
    m.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in\n{m}"))
}

fn loud_between(phone: &Phone, from: Instant, to: Instant) -> usize {
    phone.heard().iter().filter(|h| h.at >= from && h.at <= to && h.loud).count()
}

/// 10 % loss, 0–60 ms jitter (packets overtake each other), 5 % held back a
/// further 100 ms, 2 % duplicated — in both directions. The greeting is
/// heard, two RFC 4733 keys walk the menu exactly once each (no key lost,
/// none doubled by the redundant end packets or the duplicates), the
/// no-media timer (3 s here) does not mistake a lossy stream for a dead one,
/// and the caller's BYE ends the call cleanly.
#[test]
fn call_survives_loss_jitter_and_reordering_both_ways() {
    let sori = Sori::start(Options { rtp: "no_media_s = 3\n".into(), ..Default::default() });
    let bad =
        Impairment { loss: 0.10, jitter_ms: 60, reorder: 0.05, reorder_ms: 100, duplicate: 0.02, ..Default::default() };
    let mut phone = Phone::new(sori.addr());
    let relay = Relay::start(phone.rtp_addr, bad, bad, 1339);
    let ok = phone.call(relay.sori_side);
    let answered = Instant::now();
    relay.set_sori(sdp_media(&ok));
    phone.send_media_to(Some(relay.caller_side));

    std::thread::sleep(Duration::from_secs(2));
    let greeting = loud_between(&phone, answered, Instant::now());
    assert!(greeting > 20, "the greeting is heard through the loss: {greeting} loud packets in 2 s");
    phone.press('1'); // 감염병 정보 menu
    std::thread::sleep(Duration::from_millis(1500));
    phone.press('2'); // 인플루엔자
    std::thread::sleep(Duration::from_millis(3500));
    assert!(phone.bye(), "sori answers the caller's BYE with 200");

    let recs = sori.wait_records(1, Duration::from_secs(10));
    let r = recs.first().expect("a finished call record");
    let stats = relay.stats();
    let ctx = format!("{r:?}\n{stats:?}\n--- sori log ---\n{}", common::tail(&sori.log(), 3000));
    assert!(r.answered_ms.is_some(), "{ctx}");
    assert_eq!(r.dtmf, "12", "each key once: {ctx}");
    assert_eq!(r.menu_path, "main>infectious>flu_info", "{ctx}");
    assert_eq!(r.hangup_cause.as_deref(), Some("caller-bye"), "{ctx}");
    assert_ne!(r.outcome.as_deref(), Some("no-media"), "{ctx}");
    // The network really was bad both ways.
    for s in [stats.to_sori, stats.to_caller] {
        assert!(s.packets > 200 && s.lost * 100 > s.packets * 5, "{ctx}");
        assert!(s.duplicated > 0 && s.held_back > 0, "{ctx}");
    }
    assert_eq!(metric(&sori, "sori_calls_no_media_total"), 0);
}

/// The caller's media never reaches sori (one-way audio: the relay drops
/// that whole direction). sori still speaks — the greeting — then, after
/// `no_media_s` without a packet, says the no-media prompt (after the one
/// playing) and hangs up with BYE; the record says why.
#[test]
fn one_way_audio_gets_a_spoken_goodbye_then_bye_and_a_no_media_record() {
    let dir = tempfile::tempdir().expect("tmp");
    let plan = std::fs::read_to_string(common::repo().join("dialplan/1339.toml"))
        .expect("plan")
        .lines()
        .map(|l| if l.starts_with("greeting =") { "greeting = \"안녕하세요.\"".to_string() } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.path().join("short.toml");
    std::fs::write(&path, plan).expect("write");
    let sori = Sori::start(Options { dialplan: path, rtp: "no_media_s = 3\n".into(), ..Default::default() });
    let mut phone = Phone::new(sori.addr());
    let silent = Impairment { silent: true, ..Default::default() };
    let relay = Relay::start(phone.rtp_addr, silent, Impairment::none(), 7);
    let ok = phone.call(relay.sori_side);
    let answered = Instant::now();
    relay.set_sori(sdp_media(&ok));
    phone.send_media_to(Some(relay.caller_side));

    let bye = phone.wait_request_message("BYE", Duration::from_secs(30));
    let stats = relay.stats();
    let ctx = format!("{stats:?}\n--- sori log ---\n{}", common::tail(&sori.log(), 3000));
    let (bye, bye_msg) = bye.unwrap_or_else(|| panic!("sori never hung up: {ctx}"));
    assert!(
        bye_msg.lines().any(|l| l.starts_with("Reason:") && l.contains("no media from the caller")),
        "the BYE says why (RFC 3326 Reason): {bye_msg}"
    );
    let waited = bye - answered;
    assert!(waited >= Duration::from_secs(3), "not before no_media_s: {waited:?}");
    assert!(
        loud_between(&phone, answered, answered + Duration::from_millis(1500)) > 10,
        "the greeting is spoken: {ctx}"
    );
    assert!(
        loud_between(&phone, bye - Duration::from_millis(2500), bye) > 20,
        "a spoken goodbye just before the BYE: {ctx}"
    );
    assert_eq!(stats.delivered_to_sori, 0, "nothing of the caller's reached sori");
    assert!(stats.to_sori.packets > 100, "the phone did send: {ctx}");

    let recs = sori.wait_records(1, Duration::from_secs(10));
    let r = recs.first().expect("a finished call record");
    assert_eq!(r.outcome.as_deref(), Some("no-media"), "{r:?}");
    assert_eq!(r.hangup_cause.as_deref(), Some("no-media"), "{r:?}");
    assert!(r.menu_path.ends_with(">no-media"), "{r:?}");
    assert_eq!(metric(&sori, "sori_calls_no_media_total"), 1);
}
