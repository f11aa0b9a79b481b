//! RFC 4475 torture messages, all 49 (tests/data/rfc4475/), against the SIP
//! parser, the sans-IO endpoint and a running `sori serve` over UDP.
//!
//! sori is a user agent server, so each message gets what RFC 4475 asks of an
//! endpoint: valid requests are processed (a call, 200, or the status a UAS
//! owes them: 405 for REGISTER/MESSAGE, 501 for unknown methods, 416 for
//! unknown URI schemes, 420, 415, 406, 481), invalid requests get 400 (505
//! for a bad version), and responses that match no transaction — valid or
//! not — are dropped without an answer.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sori::sip::endpoint::{Endpoint, Event, Peer, Timers, Transport};
use sori::sip::message::{Message, StartLine};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// A new call is offered to the application (it answers; ACK and BYE follow).
    Call,
    /// The endpoint answers this final status itself.
    Status(u16),
    /// Nothing is sent and no event is raised.
    Drop,
}
use Want::*;

/// (file, parses as a message?, what sori does) in RFC order.
const CASES: &[(&str, bool, Want)] = &[
    // §3.1.1 valid messages
    ("wsinv", true, Status(481)), // well-formed; its To tag names no dialog of ours (RFC 3261 §12.2.2)
    ("intmeth", true, Status(501)),
    ("esc01", true, Call),
    ("escnull", true, Status(405)),
    ("esc02", true, Status(501)),
    ("lwsdisp", true, Status(200)),
    ("longreq", true, Call),
    ("dblreq", true, Status(405)), // the INVITE after Content-Length 0 is noise
    ("semiuri", true, Status(200)),
    ("transports", true, Status(200)),
    ("mpart01", true, Status(405)),
    ("unreason", true, Drop),
    ("noreason", true, Drop),
    // §3.1.2 invalid messages
    ("badinv01", false, Status(400)),
    ("clerr", false, Status(400)),
    ("ncl", false, Status(400)),
    ("scalar02", false, Status(400)),
    ("scalarlg", false, Drop),
    ("quotbal", false, Status(400)),
    ("ltgtruri", false, Status(400)),
    ("lwsruri", false, Status(400)),
    ("lwsstart", false, Status(400)),
    ("trws", false, Status(400)),
    ("escruri", false, Status(400)),
    // §3.1.2.12: "an element shouldn't [reject] unless the contents of the
    // Date header field were actually important to its processing" — sori
    // never reads Date, so the call goes ahead.
    ("baddate", true, Call),
    ("regbadct", false, Status(400)),
    ("badaspec", false, Status(400)),
    ("baddn", false, Status(400)),
    ("badvers", false, Status(505)),
    ("mismatch01", false, Status(400)),
    ("mismatch02", false, Status(400)), // 501 or 400; the CSeq mismatch is caught first
    ("bigcode", false, Drop),
    // §3.2 transaction layer: the bare magic cookie falls back to RFC 2543 matching
    ("badbranch", true, Status(200)),
    // §3.3 application layer
    ("insuf", false, Status(400)),
    ("unkscm", true, Status(416)),
    ("novelsc", true, Status(416)),
    ("unksm2", true, Status(405)), // a registrar's 400; an endpoint's 405 (§3.3.7)
    ("bext01", true, Status(420)),
    ("invut", true, Status(415)),
    ("regaut01", true, Status(405)),
    ("multi01", false, Status(400)),
    ("mcl01", false, Status(400)),
    ("bcast", true, Drop),
    ("zeromf", true, Status(200)), // an endpoint ignores Max-Forwards: 0
    ("cparam01", true, Status(405)),
    ("cparam02", true, Status(405)),
    ("regescrt", true, Status(405)),
    ("sdp01", true, Status(406)),
    // §3.4 backward compatibility: no branch, no From tag, no Content-Length
    ("inv2543", true, Call),
];

fn data(name: &str) -> Vec<u8> {
    let path = common::repo().join("tests/data/rfc4475").join(format!("{name}.dat"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The RFC's example addresses (192.0.2.x) moved onto loopback, byte length
/// kept so Content-Length stays right: sori never sends media off the machine.
fn on_loopback(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let (from, to) = (b"192.0.2.", b"127.0.0.");
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
    out
}

fn status(b: &[u8]) -> Option<u16> {
    let m = Message::parse(b).ok()?;
    m.status()
}

/// ACK or BYE in the dialog that `invite` opened with our `to_tag`.
fn in_dialog(invite: &Message, method: &str, to_tag: &str, via: &str, n: u32) -> Vec<u8> {
    let StartLine::Request { uri, .. } = &invite.start else { panic!("not a request") };
    let cseq = invite.cseq().map(|c| c.0).unwrap_or(1);
    let cseq = if method == "ACK" { cseq } else { cseq + 1 };
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bKt{n}{method}\r\nFrom: {from}\r\nTo: {to};tag={to_tag}\r\n\
         Call-ID: {cid}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        from = invite.header("From").unwrap_or(""),
        to = invite.header("To").unwrap_or(""),
        cid = invite.call_id(),
    )
    .into_bytes()
}

#[test]
fn all_49_messages_are_here_and_parse_as_the_rfc_says() {
    assert_eq!(CASES.len(), 49);
    for (name, valid, _) in CASES {
        let r = Message::parse(&data(name));
        assert_eq!(r.is_ok(), *valid, "{name}: {:?}", r.err().map(|e| e.kind));
    }
    // Details the RFC singles out.
    let wsinv = Message::parse(&data("wsinv")).expect("wsinv");
    assert_eq!(wsinv.cseq().map(|c| c.0), Some(9), "leading zeros");
    assert_eq!(wsinv.headers_named("Via").count(), 3, "comma-separated and folded Via values");
    assert_eq!(wsinv.body.len(), 150);
    assert_eq!(wsinv.header("UnknownHeaderWithUnusualValue"), Some(";;,,;;,;"));
    let esc02 = Message::parse(&data("esc02")).expect("esc02");
    assert_eq!(esc02.headers_named("Contact").count(), 2, "C%6Fntact is another header");
    let dbl = Message::parse(&data("dblreq")).expect("dblreq");
    assert!(dbl.body.is_empty(), "octets after Content-Length are not the body");
    let mpart = Message::parse(&data("mpart01")).expect("mpart01");
    assert!(mpart.body.contains(&0), "binary part with NULs kept whole");
    let inv = Message::parse(&data("inv2543")).expect("inv2543");
    assert!(inv.body.starts_with(b"v=0"), "no Content-Length: the rest of the datagram");
    assert_eq!(Message::parse(&data("noreason")).expect("noreason").status(), Some(100));
}

fn udp_peer() -> Peer {
    Peer { transport: Transport::Udp, addr: SocketAddr::from(([127, 0, 0, 1], 5070)) }
}

#[test]
fn the_endpoint_handles_each_as_the_rfc_says_and_keeps_no_state() {
    let timers = Timers { t1: Duration::from_millis(1), t2: Duration::from_millis(8), t4: Duration::from_millis(10) };
    let t0 = Instant::now();
    let mut ep = Endpoint::new(timers, 42);
    let mut now = t0;
    for (i, (name, _, want)) in CASES.iter().enumerate() {
        let bytes = data(name);
        ep.handle_input(now, udp_peer(), &bytes);
        let mut out = Vec::new();
        while let Some(t) = ep.poll_transmit() {
            out.push(t.bytes);
        }
        let mut events = Vec::new();
        while let Some(e) = ep.poll_event() {
            events.push(e);
        }
        let finals: Vec<u16> = out.iter().filter_map(|b| status(b)).filter(|c| *c >= 200).collect();
        match want {
            Drop => assert!(out.is_empty() && events.is_empty(), "{name}: sent {} messages", out.len()),
            Status(code) => {
                assert_eq!(finals, vec![*code], "{name}");
                assert!(events.is_empty(), "{name}: {events:?}");
                if *code == 415 || *code == 406 {
                    let r = Message::parse(&out[0]).expect("response");
                    assert_eq!(r.header("Accept"), Some("application/sdp"), "{name}");
                }
                if *code == 420 {
                    let r = Message::parse(&out[0]).expect("response");
                    assert_eq!(r.header("Unsupported"), Some("nothingSupportsThis, nothingSupportsThisEither"));
                }
            }
            Call => {
                let Some(Event::IncomingCall { call, invite, .. }) = events.first() else {
                    panic!("{name}: no call offered: {events:?}, finals {finals:?}");
                };
                let (call, invite) = (*call, invite.clone());
                assert!(ep.accept(now, call, "v=0\r\n"));
                let ok = std::iter::from_fn(|| ep.poll_transmit()).find(|t| status(&t.bytes) == Some(200));
                let ok = Message::parse(&ok.expect("200 OK").bytes).expect("our 200 parses");
                let tag = ok.to_tag().expect("To tag");
                ep.handle_input(now, udp_peer(), &in_dialog(&invite, "ACK", &tag, "127.0.0.1:5070", i as u32));
                assert!(matches!(ep.poll_event(), Some(Event::Confirmed { .. })), "{name}: ACK matched");
                ep.handle_input(now, udp_peer(), &in_dialog(&invite, "BYE", &tag, "127.0.0.1:5070", i as u32));
                let bye_ok =
                    std::iter::from_fn(|| ep.poll_transmit()).filter_map(|t| status(&t.bytes)).collect::<Vec<_>>();
                assert_eq!(bye_ok, vec![200], "{name}: BYE answered");
                assert!(matches!(ep.poll_event(), Some(Event::Ended { .. })), "{name}: call ended");
            }
        }
        now += Duration::from_millis(1);
        ep.handle_timeout(now);
    }
    // Every transaction and call is gone once the timers have run out.
    let later = now + Duration::from_secs(1);
    ep.handle_timeout(later);
    while ep.poll_transmit().is_some() {}
    assert_eq!(ep.state_size(), (0, 0, 0), "state left behind");
    assert_eq!(ep.poll_timeout(), None);
}

#[test]
fn a_running_sori_answers_each_over_udp_and_still_takes_calls() {
    let sori = common::Sori::start(common::Options::default());
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let local = sock.local_addr().expect("addr");
    let mut buf = vec![0u8; 65_535];
    let mut recv = |wait: Duration| -> Option<Vec<u8>> {
        sock.set_read_timeout(Some(wait)).expect("timeout");
        sock.recv_from(&mut buf).ok().map(|(n, _)| buf[..n].to_vec())
    };
    let send = |b: &[u8]| {
        sock.send_to(b, sori.addr()).expect("send");
    };
    for (i, (name, _, want)) in CASES.iter().enumerate() {
        let bytes = on_loopback(&data(name));
        send(&bytes);
        match want {
            Drop => {
                if let Some(b) = recv(Duration::from_millis(400)) {
                    panic!("{name}: answered {}", String::from_utf8_lossy(&b));
                }
            }
            Status(code) => {
                let deadline = Instant::now() + Duration::from_secs(5);
                let got = loop {
                    let b = recv(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
                    match b.as_deref().and_then(status) {
                        Some(c) if c >= 200 => break Some(c),
                        Some(_) => continue,
                        None if Instant::now() < deadline && b.is_some() => continue,
                        None => break None,
                    }
                };
                assert_eq!(got, Some(*code), "{name}; log:\n{}", common::tail(&sori.log(), 2000));
            }
            Call => {
                let invite = Message::parse(&bytes).expect("a call's INVITE parses");
                let deadline = Instant::now() + Duration::from_secs(10);
                let ok = loop {
                    assert!(Instant::now() < deadline, "{name}: no 200; log:\n{}", common::tail(&sori.log(), 2000));
                    let Some(b) = recv(Duration::from_millis(500)) else { continue };
                    let Ok(m) = Message::parse(&b) else { continue };
                    if m.status() == Some(200) && m.call_id() == invite.call_id() {
                        break m;
                    }
                    assert!(m.status().map(|c| c < 200).unwrap_or(false), "{name}: got {:?}", m.start);
                };
                let tag = ok.to_tag().expect("To tag");
                let via = local.to_string();
                send(&in_dialog(&invite, "ACK", &tag, &via, i as u32));
                send(&in_dialog(&invite, "BYE", &tag, &via, i as u32));
                let deadline = Instant::now() + Duration::from_secs(5);
                loop {
                    assert!(Instant::now() < deadline, "{name}: BYE not answered");
                    let Some(b) = recv(Duration::from_millis(500)) else { continue };
                    let Ok(m) = Message::parse(&b) else { continue };
                    if m.status() == Some(200) && m.cseq().map(|c| c.1.as_str() == "BYE").unwrap_or(false) {
                        break;
                    }
                }
            }
        }
    }
    // Still serving: an OPTIONS and a whole call with SIPp, and no call left open.
    common::assert_sipp(&sori, "options", &[]);
    common::assert_sipp(&sori, "basic_call", &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, metrics) = common::http(sori.http_port, "GET", "/metrics", "");
        if metrics.lines().any(|l| l == "sori_calls_active 0") {
            break;
        }
        assert!(Instant::now() < deadline, "calls left active:\n{metrics}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let records = sori.wait_records(5, Duration::from_secs(10));
    assert_eq!(records.len(), 5, "esc01, longreq, baddate, inv2543 and SIPp's call recorded as finished");
}
