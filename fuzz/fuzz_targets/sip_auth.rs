//! Digest challenges and credentials, inbound access control and a trunk's
//! registration state machine on arbitrary input: never a panic; what the
//! client writes for a challenge it chose parses and verifies.
#![no_main]
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sori::sip::access::{AccessPolicy, Cidr, InboundUser};
use sori::sip::digest::{self, ClientCredentials};
use sori::sip::message::{Message, StartLine};
use sori::sip::registration::{RegConfig, Registration};

fn reg_config() -> RegConfig {
    RegConfig {
        aor: "sip:1339@pbx".into(),
        request_uri: "sip:pbx".into(),
        contact: "sip:1339@10.0.0.5:5060;transport=udp".into(),
        via_sent_by: "10.0.0.5:5060".into(),
        route: None,
        creds: ClientCredentials { username: "1339".into(), password: "pw".into() },
        realm: None,
        expires: 600,
        retry_base: Duration::from_secs(5),
        retry_max: Duration::from_secs(60),
        auth_retry: Duration::from_secs(600),
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
        user_agent: "fuzz".into(),
        transport: "UDP",
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for proxy in [false, true] {
        if let Ok(cs) = digest::parse_challenge_header(&text, proxy) {
            if let Some(c) = digest::choose(&cs) {
                let creds = ClientCredentials { username: "u".into(), password: "p".into() };
                let a = digest::authorize(c, &creds, "REGISTER", "sip:x", b"", 1, "cn");
                let r = digest::parse_authorization(&a).expect("own Authorization parses");
                assert!(digest::verify(&r, "REGISTER", "p", b""), "{a}");
            }
        }
    }
    let _ = digest::parse_authorization(&text);
    let _ = Cidr::parse(&text);

    // The bytes as a request from a source outside the allow list.
    let users = vec![InboundUser { username: "u".into(), password: "p".into() }];
    let policy = AccessPolicy::new(true, vec![], users, "sori".into(), [1; 32]);
    let _ = policy.screen(10, std::net::IpAddr::from([192, 0, 2, 1]), data);

    // The lines after the first two bytes as headers of a response to a
    // REGISTER, twice (a challenge and what follows), then the clock.
    let (code, rest) = match data {
        [a, b, rest @ ..] => (100 + (u16::from(*a) << 8 | u16::from(*b)) % 600, rest),
        _ => return,
    };
    let rest = String::from_utf8_lossy(rest);
    let t0 = Instant::now();
    let mut reg = Registration::new(reg_config(), 1);
    reg.start(t0);
    let mut now = t0;
    for round in 0..3 {
        let Some(sent) = reg.poll_transmit() else { break };
        let req = Message::parse(&sent).expect("own REGISTER parses");
        let mut resp = req.response(code, Some("t"));
        resp.start = StartLine::Response { code, reason: "Fuzz".into() };
        for line in rest.lines() {
            if let Some((n, v)) = line.split_once(':') {
                resp.push(n.trim(), v.trim());
            }
        }
        if let Ok(m) = Message::parse(&resp.to_bytes()) {
            reg.handle_response(now, &m);
        }
        while reg.poll_transmit().is_some() {}
        while reg.poll_event().is_some() {}
        now += Duration::from_secs(1 + round * 400);
        reg.handle_timeout(now);
    }
    reg.unregister(now);
    let _ = (reg.status(), reg.poll_timeout(), reg.is_done());
});
