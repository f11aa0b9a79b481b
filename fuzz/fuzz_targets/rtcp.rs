//! RTCP: compound parsing (what parses must write back and parse to the same
//! report blocks), and a call's RTCP session fed a stream of RTP and RTCP
//! datagrams (the input cut into pieces by its own length bytes), whose own
//! reports must always parse.
#![no_main]
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sori::rtp::packet::{is_rtcp, parse};
use sori::rtp::rtcp::{parse_compound, write_rr, write_sr, Packet};
use sori::rtp::rtcp_session::RtcpSession;

fuzz_target!(|data: &[u8]| {
    if let Ok(packets) = parse_compound(data) {
        for p in packets {
            let mut out = Vec::new();
            match &p {
                Packet::SenderReport { ssrc, info, reports } if reports.len() <= 31 => {
                    write_sr(&mut out, *ssrc, info, reports)
                }
                Packet::ReceiverReport { ssrc, reports } if reports.len() <= 31 => write_rr(&mut out, *ssrc, reports),
                _ => continue,
            }
            assert_eq!(parse_compound(&out).expect("a written report parses"), vec![p]);
        }
    }
    let t0 = Instant::now();
    let mut s = RtcpSession::new("sori@fuzz".into(), 8000, t0);
    let mut rest = data;
    let mut n = 0u64;
    while let Some((&len, tail)) = rest.split_first() {
        let k = (len as usize).min(tail.len());
        let (pkt, next) = tail.split_at(k);
        rest = next;
        n += 1;
        let now = t0 + Duration::from_millis(20 * n);
        if is_rtcp(pkt) {
            let _ = s.on_rtcp(pkt, 0x5051, now, n << 28);
            let mut out = Vec::new();
            s.report(0x5051, None, now, &mut out);
            parse_compound(&out).expect("our report parses");
        } else if let Ok(p) = parse(pkt) {
            s.on_rtp(p.ssrc, p.sequence, p.timestamp, now, p.payload_type != 101);
        }
    }
    let sum = s.summary();
    assert!(sum.rx_jitter_mean_ms <= sum.rx_jitter_max_ms + 1e-9);
});
