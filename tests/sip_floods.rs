//! Flood admission against a running `sori serve` over loopback UDP: scanner
//! user agents get no answer (and are counted), a source over its concurrent
//! call cap gets 503 + Retry-After while another source is still answered.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{Options, Sori};

struct Peer {
    sock: UdpSocket,
    to: SocketAddr,
    n: u32,
    /// RTP port offered in INVITEs (default: an unbound one).
    media_port: Option<u16>,
}

impl Peer {
    fn new(ip: &str, sori: &Sori) -> Peer {
        let sock = UdpSocket::bind((ip, 0)).expect("bind a loopback source");
        sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        Peer { sock, to: sori.addr(), n: 0, media_port: None }
    }

    fn local(&self) -> SocketAddr {
        self.sock.local_addr().expect("addr")
    }

    fn send(&self, msg: &str) {
        self.sock.send_to(msg.as_bytes(), self.to).expect("send");
    }

    /// The next final response (≥ 200) within `within`, skipping provisionals.
    fn final_response(&self, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 8192];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]).to_string();
                if m.starts_with("SIP/2.0 ") && !m.starts_with("SIP/2.0 1") {
                    return Some(m);
                }
            }
        }
        None
    }

    /// Anything at all within `within`.
    fn anything(&self, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 8192];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                return Some(String::from_utf8_lossy(&buf[..n]).to_string());
            }
        }
        None
    }

    fn options(&mut self, ua: &str) {
        self.n += 1;
        let l = self.local();
        self.send(&format!(
            "OPTIONS sip:1339@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKo{n}{p}\r\nFrom: <sip:t@{l}>;tag=o{n}\r\n\
             To: <sip:1339@{to}>\r\nCall-ID: opt-{n}-{p}@{l}\r\nCSeq: 1 OPTIONS\r\nUser-Agent: {ua}\r\nContent-Length: 0\r\n\r\n",
            to = self.to,
            n = self.n,
            p = l.port(),
        ));
    }

    /// Sends an INVITE (PCMU offer); returns its Call-ID.
    fn invite(&mut self, ua: &str) -> String {
        self.n += 1;
        let l = self.local();
        let call_id = format!("flood-{}-{}@{}", self.n, l.port(), l.ip());
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
            ip = l.ip(),
            port = self.media_port.unwrap_or(l.port() + 2),
        );
        self.send(&format!(
            "INVITE sip:1339@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKi{n}{p}\r\nMax-Forwards: 70\r\n\
             From: <sip:caller@{l}>;tag=i{n}\r\nTo: <sip:1339@{to}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:caller@{l}>\r\nUser-Agent: {ua}\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            to = self.to,
            n = self.n,
            p = l.port(),
            len = sdp.len(),
        ));
        call_id
    }

    /// ACKs a 2xx (copying its From/To/Call-ID).
    fn ack(&mut self, ok: &str) {
        self.n += 1;
        let l = self.local();
        let hdr = |name: &str| {
            ok.lines()
                .find(|x| x.to_ascii_lowercase().starts_with(&format!("{}:", name.to_ascii_lowercase())))
                .unwrap_or_else(|| panic!("no {name} in\n{ok}"))
                .to_string()
        };
        self.send(&format!(
            "ACK sip:1339@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKa{n}{p}\r\nMax-Forwards: 70\r\n{from}\r\n{to_h}\r\n\
             {cid}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            to = self.to,
            n = self.n,
            p = l.port(),
            from = hdr("From"),
            to_h = hdr("To"),
            cid = hdr("Call-ID"),
        ));
    }

    /// INVITE → final response (ACKed when 2xx).
    fn call(&mut self) -> String {
        self.invite("Linphone/5.2.0");
        let r = self.final_response(Duration::from_secs(10)).expect("a final response to the INVITE");
        if r.starts_with("SIP/2.0 2") {
            self.ack(&r);
        }
        r
    }
}

fn metric(sori: &Sori, name: &str) -> u64 {
    let (_, m) = common::http(sori.http_port, "GET", "/metrics", "");
    m.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in\n{m}"))
}

#[test]
fn scanner_user_agents_get_no_answer_and_are_counted() {
    let sori = Sori::start(Options::default());
    let mut p = Peer::new("127.0.0.1", &sori);
    let before = metric(&sori, "sori_sip_scanner_dropped_total ");
    p.options("friendly-scanner");
    p.invite("SIPVicious 0.3.4");
    p.options("sipcli/v1.8");
    p.invite("VaxSIPUserAgent/3.1");
    assert_eq!(p.anything(Duration::from_millis(1500)), None, "a scanner got an answer");
    assert_eq!(metric(&sori, "sori_sip_scanner_dropped_total ") - before, 4);
    assert_eq!(metric(&sori, "sori_calls_total "), 0, "a scanner INVITE created a call");
    // The same socket with an ordinary User-Agent is answered.
    p.options("Linphone/5.2.0");
    let r = p.final_response(Duration::from_secs(5)).expect("OPTIONS answered");
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
}

#[test]
fn per_source_call_cap_gets_503_with_retry_after_while_others_are_answered() {
    let sori =
        Sori::start(Options { sip: "max_calls_per_source = 2\nretry_after_s = 7\n".into(), ..Default::default() });
    let mut a = Peer::new("127.0.0.2", &sori);
    let mut b = Peer::new("127.0.0.3", &sori);
    for i in 0..2 {
        let r = a.call();
        assert!(r.starts_with("SIP/2.0 200"), "call {i} from A:\n{r}");
    }
    let r = a.call();
    assert!(r.starts_with("SIP/2.0 503"), "third call from A:\n{r}");
    assert!(r.lines().any(|l| l.eq_ignore_ascii_case("Retry-After: 7")), "no Retry-After: 7 in\n{r}");
    let r = b.call();
    assert!(
        r.starts_with("SIP/2.0 200"),
        "call from B while A is capped:\n{r}\nlog:\n{}",
        common::tail(&sori.log(), 3000)
    );
    assert!(metric(&sori, "sori_calls_rejected_total ") >= 1);
    let recs = sori.wait_records(1, Duration::from_secs(5));
    assert!(
        recs.iter().any(|r| r.outcome.as_deref() == Some("rejected")
            && r.hangup_cause.as_deref().unwrap_or("").starts_with("503")
            && r.remote_addr.starts_with("127.0.0.2:")),
        "{recs:?}"
    );
}

/// Final 2xx responses received within `within`, by distinct Call-ID.
fn answered(p: &Peer, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    let mut ids = std::collections::HashSet::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        if let Ok((n, _)) = p.sock.recv_from(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).to_string();
            if m.starts_with("SIP/2.0 2") {
                if let Some(id) = m.lines().find(|l| l.to_ascii_lowercase().starts_with("call-id:")) {
                    ids.insert(id.to_string());
                }
            }
        }
    }
    ids.len()
}

#[test]
fn request_floods_from_one_source_are_rate_limited_while_others_are_answered() {
    let sori = Sori::start(Options {
        sip: "options_rate = 1\ninvite_rate = 1\nrate_burst = 3\n".into(),
        ..Default::default()
    });
    let mut flood = Peer::new("127.0.0.4", &sori);
    for _ in 0..20 {
        flood.options("Linphone/5.2.0");
    }
    let n = answered(&flood, Duration::from_millis(1500));
    assert!((3..=5).contains(&n), "{n} of 20 OPTIONS answered at 1/s with a burst of 3");
    for _ in 0..20 {
        flood.invite("Linphone/5.2.0");
    }
    let calls = answered(&flood, Duration::from_secs(3));
    assert!((3..=4).contains(&calls), "{calls} of 20 INVITEs answered at 1/s with a burst of 3");
    assert!(metric(&sori, "sori_sip_rate_limited_total ") >= 28);
    // Another source is unaffected.
    let mut other = Peer::new("127.0.0.5", &sori);
    other.options("Linphone/5.2.0");
    let r = other.final_response(Duration::from_secs(5)).expect("OPTIONS from another source answered");
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    let r = other.call();
    assert!(r.starts_with("SIP/2.0 200"), "call from another source during the flood:\n{r}");
}

#[test]
fn call_duration_cap_ends_the_call_with_a_reason_and_records_it() {
    let sori = Sori::start(Options { sip: "max_call_s = 2\n".into(), ..Default::default() });
    let mut p = Peer::new("127.0.0.6", &sori);
    let started = Instant::now();
    let r = p.call();
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let bye = loop {
        let m = p.anything(Duration::from_millis(500)).unwrap_or_default();
        if m.starts_with("BYE ") {
            break m;
        }
        assert!(Instant::now() < deadline, "no BYE within 10 s of a 2 s cap");
    };
    let after = started.elapsed();
    assert!(after >= Duration::from_millis(1900), "BYE after {after:?}, before the cap");
    assert!(bye.lines().any(|l| l.starts_with("Reason: Q.850;cause=102")), "no Reason on the BYE:\n{bye}");
    // 200 to the BYE (its Via, From, To, Call-ID, CSeq copied).
    let ok: String = std::iter::once("SIP/2.0 200 OK".to_string())
        .chain(
            bye.lines()
                .filter(|l| {
                    let l = l.to_ascii_lowercase();
                    ["via:", "from:", "to:", "call-id:", "cseq:"].iter().any(|h| l.starts_with(h))
                })
                .map(str::to_string),
        )
        .chain(["Content-Length: 0".to_string(), String::new(), String::new()])
        .collect::<Vec<_>>()
        .join("\r\n");
    p.send(&ok);
    let recs = sori.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].outcome.as_deref(), Some("max-duration"), "{:?}", recs[0]);
    assert_eq!(recs[0].hangup_cause.as_deref(), Some("max-duration"));
}

#[test]
fn sipp_invite_flood_from_one_address_while_another_caller_hears_the_greeting() {
    if !common::have("sipp") {
        eprintln!("sipp not installed (apt-get install sip-tester); skipping");
        return;
    }
    let sori = Sori::start(Options::default());
    let port = common::free_port();
    let mut flood = std::process::Command::new("sipp")
        .arg("-sf")
        .arg(common::repo().join("tests/sipp/invite_flood.xml"))
        .arg(sori.addr().to_string())
        .args(["-s", "1339", "-i", "127.0.0.1", "-p", &port.to_string(), "-nostdin"])
        .args(["-r", "2000", "-m", "10000", "-l", "100000", "-timeout", "20s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run sipp");
    std::thread::sleep(Duration::from_millis(500));
    let mut caller = Peer::new("127.0.0.9", &sori);
    for i in 0..3 {
        // A fresh RTP socket per call: only this call's greeting reaches it.
        let rtp = UdpSocket::bind("127.0.0.9:0").expect("bind RTP");
        rtp.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        caller.media_port = Some(rtp.local_addr().expect("addr").port());
        let r = caller.call();
        assert!(r.starts_with("SIP/2.0 200"), "call {i} during the flood:\n{r}");
        // The greeting: at least a second of RTP (50 packets) within 5 s.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut packets = 0;
        let mut buf = [0u8; 2048];
        while packets < 50 && Instant::now() < deadline {
            if rtp.recv_from(&mut buf).is_ok() {
                packets += 1;
            }
        }
        assert!(packets >= 50, "call {i}: {packets} RTP packets of the greeting during the flood");
    }
    let limited = metric(&sori, "sori_sip_rate_limited_total ");
    let _ = flood.kill();
    let _ = flood.wait();
    assert!(limited >= 1000, "only {limited} flood INVITEs rate-limited");
    assert!(metric(&sori, "sori_calls_total ") < 500, "the flood created calls past the limits");
}
