//! RTCP on a real call: a caller written here (UDP SIP + RTP + RTCP) sends
//! μ-law RTP with some packets left out and answers sori's sender report
//! with a receiver report; sori's record, `sori calls`, the HTTP API and the
//! metrics must show the loss, the caller's report and the round trip, and
//! every RTCP datagram sori sent must parse. Once with RTCP on the RTP port
//! + 1 (RFC 3550), once multiplexed on the RTP port (RFC 5761).

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{free_port, Options, Sori};
use sori::rtp::packet::{is_rtcp, parse, write_rtp};
use sori::rtp::rtcp::{self, ntp_middle, Packet, ReportBlock, SenderInfo};

const OUR_SSRC: u32 = 0xCA11_E401;
const FIRST_SEQ: u16 = 65_500; // the sequence number wraps during the call
/// Packets the caller leaves out (offsets from the first), all early in the call.
const SKIPPED: [u16; 5] = [20, 21, 22, 40, 55];
/// What our receiver report says about sori's stream.
const REPORTED_LOST: i32 = 3;
const REPORTED_FRACTION: u8 = 12;

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// What the caller saw of sori's media.
#[derive(Default)]
struct Seen {
    sori_ssrc: Option<u32>,
    rtp_packets: u32,
    /// Every RTCP datagram sori sent, parsed (a parse failure panics).
    rtcp: Vec<Vec<Packet>>,
    /// sori's SRs' sender info.
    srs: Vec<SenderInfo>,
    /// Report blocks about our stream, in order (SRs and RRs).
    about_us: Vec<ReportBlock>,
    bye: bool,
}

impl Seen {
    fn take(&mut self, buf: &[u8], from: SocketAddr, expect_rtcp_from: SocketAddr) {
        if is_rtcp(buf) {
            assert_eq!(from, expect_rtcp_from, "RTCP from the wrong port");
            let pk =
                rtcp::parse_compound(buf).unwrap_or_else(|e| panic!("sori's RTCP does not parse ({e}): {buf:02x?}"));
            assert!(
                matches!(pk.first(), Some(Packet::SenderReport { .. } | Packet::ReceiverReport { .. })),
                "a compound starts with SR or RR: {pk:?}"
            );
            assert!(pk.iter().any(|p| matches!(p, Packet::Sdes(c) if c.iter().any(|(_, n)| n.is_some()))), "{pk:?}");
            for p in &pk {
                match p {
                    Packet::SenderReport { ssrc, info, reports } => {
                        assert_eq!(Some(*ssrc), self.sori_ssrc, "the SR names sori's RTP stream");
                        self.srs.push(*info);
                        self.about_us.extend(reports.iter().filter(|b| b.ssrc == OUR_SSRC));
                    }
                    Packet::ReceiverReport { reports, .. } => {
                        self.about_us.extend(reports.iter().filter(|b| b.ssrc == OUR_SSRC));
                    }
                    Packet::Bye { .. } => self.bye = true,
                    _ => {}
                }
            }
            self.rtcp.push(pk);
        } else if let Ok(p) = parse(buf) {
            self.sori_ssrc = Some(p.ssrc);
            self.rtp_packets += 1;
        }
    }
}

struct Outcome {
    sori: Sori,
    call_id: String,
    sent: u32,
    /// Offset from [`FIRST_SEQ`] of the last packet sent.
    last: u16,
    seen: Seen,
}

/// One call: INVITE (with or without `a=rtcp-mux`), RTP with [`SKIPPED`]
/// left out and timestamps alternately 10 ms early and late, an RR answering
/// sori's first SR, then BYE.
fn call(mux: bool) -> Outcome {
    let sori = Sori::start(Options::default());
    let sip = UdpSocket::bind("127.0.0.1:0").expect("bind sip");
    sip.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let port = free_port();
    let rtp = UdpSocket::bind(("127.0.0.1", port)).expect("bind rtp");
    let rtcp_sock = (!mux).then(|| UdpSocket::bind(("127.0.0.1", port + 1)).expect("bind rtcp"));
    for s in std::iter::once(&rtp).chain(rtcp_sock.as_ref()) {
        s.set_nonblocking(true).expect("nonblocking");
    }
    let l = sip.local_addr().expect("addr");
    let call_id = format!("rtcp-{}-{port}", if mux { "mux" } else { "port1" });
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n\
         a=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n{mux_attr}a=sendrecv\r\n",
        mux_attr = if mux { "a=rtcp-mux\r\n" } else { "" },
    );
    let dialog = format!("From: <sip:caller@{l}>;tag=rt{port}\r\nCall-ID: {call_id}\r\n");
    let invite = format!(
        "INVITE sip:1339@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKrtcpinv{port}\r\nMax-Forwards: 70\r\n\
         {dialog}To: <sip:1339@{to}>\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{l}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
        to = sori.addr(),
        len = sdp.len()
    );
    sip.send_to(invite.as_bytes(), sori.addr()).expect("send");
    let ok =
        wait_sip(&sip, |m| m.starts_with("SIP/2.0 200") || m.starts_with("SIP/2.0 4") || m.starts_with("SIP/2.0 5"));
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert_eq!(ok.contains("a=rtcp-mux"), mux, "rtcp-mux answered iff offered:\n{ok}");
    let to = header(&ok, "To").expect("To");
    let sori_rtp = sdp_media(&ok);
    let sori_rtcp = if mux { sori_rtp } else { SocketAddr::new(sori_rtp.ip(), sori_rtp.port() + 1) };
    let in_dialog = |method: &str, cseq: u32| {
        format!(
            "{method} sip:1339@{sori} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKrtcp{method}{port}\r\n\
             Max-Forwards: 70\r\n{dialog}To: {to}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            sori = sori.addr()
        )
    };
    sip.send_to(in_dialog("ACK", 1).as_bytes(), sori.addr()).expect("ack");

    let mut seen = Seen::default();
    let mut buf = [0u8; 2048];
    let mut poll = |seen: &mut Seen| {
        for s in std::iter::once(&rtp).chain(rtcp_sock.as_ref()) {
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                seen.take(&buf[..n], from, sori_rtcp);
            }
        }
    };
    let start = Instant::now();
    let mut answered_sr: Option<Instant> = None;
    let (mut i, mut sent) = (0u16, 0u32);
    let mut pkt = Vec::new();
    let silence = [0xFFu8; 160];
    loop {
        let due = start + Duration::from_millis(20 * u64::from(i));
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
        if !SKIPPED.contains(&i) {
            // Timestamps 80 units (10 ms) off the grid on odd packets: jitter sori must see.
            let ts = 8_000u32 * 3 + 160 * u32::from(i) + if i % 2 == 1 { 80 } else { 0 };
            pkt.clear();
            write_rtp(&mut pkt, 0, i == 0, FIRST_SEQ.wrapping_add(i), ts, OUR_SSRC, &silence);
            rtp.send_to(&pkt, sori_rtp).expect("send rtp");
            sent += 1;
        }
        i += 1;
        poll(&mut seen);
        if answered_sr.is_none() {
            if let Some(&info) = seen.srs.first() {
                // The RR sori's SR asked for: our view of its stream, LSR/DLSR for the round trip.
                let received = Instant::now();
                let block = ReportBlock {
                    ssrc: seen.sori_ssrc.expect("sori's SSRC"),
                    fraction_lost: REPORTED_FRACTION,
                    cumulative_lost: REPORTED_LOST,
                    highest_seq: 1000,
                    jitter: 80,
                    lsr: ntp_middle(info.ntp),
                    dlsr: (received.elapsed().as_secs_f64() * 65536.0) as u32,
                };
                let mut rr = Vec::new();
                rtcp::write_rr(&mut rr, OUR_SSRC, &[block]);
                rtcp::write_sdes_cname(&mut rr, OUR_SSRC, "caller@127.0.0.1");
                let from = rtcp_sock.as_ref().unwrap_or(&rtp);
                from.send_to(&rr, sori_rtcp).expect("send rr");
                answered_sr = Some(Instant::now());
            }
        }
        let done = answered_sr.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) && i >= 120;
        if done || start.elapsed() > Duration::from_secs(12) {
            break;
        }
    }
    assert!(
        answered_sr.is_some(),
        "no SR from sori in {:?}; log:\n{}",
        start.elapsed(),
        common::tail(&sori.log(), 3000)
    );
    sip.send_to(in_dialog("BYE", 2).as_bytes(), sori.addr()).expect("bye");
    let r = wait_sip(&sip, |m| m.starts_with("SIP/2.0") && header(m, "CSeq").is_some_and(|c| c.ends_with("BYE")));
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    // sori's last report, with BYE, follows the call's end.
    let until = Instant::now() + Duration::from_secs(3);
    while !seen.bye && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
        poll(&mut seen);
    }
    Outcome { sori, call_id, sent, last: i - 1, seen }
}

/// sori's RTP address from its answer's `c=` and `m=audio` lines.
fn sdp_media(msg: &str) -> SocketAddr {
    let body = msg.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let ip = body.lines().find_map(|l| l.strip_prefix("c=IN IP4 ")).expect("c= line").trim();
    let port = body.lines().find_map(|l| l.strip_prefix("m=audio ")?.split_whitespace().next()).expect("m= line");
    format!("{ip}:{port}").parse().expect("media address")
}

fn wait_sip(sip: &UdpSocket, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        if let Ok((n, _)) = sip.recv_from(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if want(&m) {
                return m;
            }
        }
    }
    panic!("no awaited SIP message");
}

fn check(o: Outcome) {
    let Outcome { sori, call_id, sent, last, seen } = o;
    // What sori sent: SRs about its own stream with a block about ours.
    assert!(seen.rtp_packets > 50, "sori's RTP: {}", seen.rtp_packets);
    let info = seen.srs.last().expect("an SR");
    assert!(info.packets > 0 && info.octets == 160 * info.packets, "PCMU frames: {info:?}");
    assert!(seen.bye, "sori's goodbye RTCP (SR/RR + SDES + BYE) came; got {} datagrams", seen.rtcp.len());
    // The goodbye's block covers the whole call, across the sequence wrap.
    let fin = seen.about_us.last().expect("a report block about the caller's stream");
    assert_eq!(fin.cumulative_lost, SKIPPED.len() as i32, "{fin:?}");
    assert_eq!(fin.highest_seq, u32::from(FIRST_SEQ) + u32::from(last), "extended highest sequence: {fin:?}");

    // The record: sori's receive statistics and the caller's view.
    let recs = sori.wait_records(1, Duration::from_secs(10));
    let rec = recs.iter().find(|r| r.call_id == call_id).expect("the call's record");
    let q = rec.quality.as_ref().unwrap_or_else(|| panic!("no media quality in {rec:?}"));
    assert_eq!(q.rx_packets, u64::from(sent), "every packet sent arrived on loopback");
    assert_eq!(q.rx_lost, SKIPPED.len() as i64, "{q:?}");
    let pct = q.rx_loss_pct.expect("loss %");
    assert!((pct - 100.0 * SKIPPED.len() as f64 / f64::from(sent + SKIPPED.len() as u32)).abs() < 0.01, "{q:?}");
    // ±80 units every packet: the A.8 estimate climbs towards 10 ms.
    assert!(q.rx_jitter_max_ms > 5.0 && q.rx_jitter_mean_ms <= q.rx_jitter_max_ms + 1e-9, "{q:?}");
    eprintln!("media quality: {q:?}");
    assert!(q.peer_reports >= 1, "{q:?}");
    assert_eq!(q.peer_lost, Some(i64::from(REPORTED_LOST)));
    assert_eq!(q.peer_loss_max_pct, Some(f64::from(REPORTED_FRACTION) * 100.0 / 256.0));
    assert_eq!(q.peer_jitter_max_ms, Some(10.0), "80 units of PCMU");
    let rtt = q.rtt_ms.expect("a round trip from LSR/DLSR");
    assert!((0.0..1000.0).contains(&rtt), "loopback round trip {rtt} ms");
    assert!(q.rtcp_received >= 1 && q.rtcp_sent as usize >= seen.rtcp.len(), "{q:?} vs {} seen", seen.rtcp.len());

    // The same through `sori calls ID`, the HTTP API and the metrics.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sori"))
        .args(["calls", &call_id, "--config"])
        .arg(&sori.config)
        .output()
        .expect("run sori calls");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{sent} packets, {} lost", SKIPPED.len())), "{text}");
    assert!(text.contains(&format!("{REPORTED_LOST} of sori's packets lost")), "{text}");
    let (status, body) = common::http(sori.http_port, "GET", &format!("/v1/calls/{call_id}"), "");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!((status, v["quality"]["rx_lost"].as_i64()), (200, Some(SKIPPED.len() as i64)), "{body}");
    let (_, m) = common::http(sori.http_port, "GET", "/metrics", "");
    let metric = |name: &str| -> u64 {
        m.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
    };
    assert!(metric("sori_rtcp_packets_received_total ") >= 1, "{m}");
    assert!(metric("sori_rtcp_packets_sent_total ") >= 2, "{m}");
    assert_eq!(metric("sori_rtp_packets_lost_total "), SKIPPED.len() as u64);
    assert!(metric("sori_rtcp_rtt_ms_count ") >= 1, "{m}");
}

#[test]
fn rtcp_on_port_plus_one_reports_loss_both_ways_and_measures_the_round_trip() {
    check(call(false));
}

#[test]
fn rtcp_multiplexed_on_the_rtp_port_reports_loss_both_ways() {
    check(call(true));
}
