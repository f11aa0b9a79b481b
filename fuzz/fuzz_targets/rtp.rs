//! RTP parsing, RTCP classification, RFC 4733 events, the DTMF detector and
//! the jitter buffer on a stream of packets (the input cut into pieces by
//! its own length bytes).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sori::rtp::dtmf::{parse_event, DtmfDetector};
use sori::rtp::jitter::JitterBuffer;
use sori::rtp::packet::{is_rtcp, parse};

fuzz_target!(|data: &[u8]| {
    let mut det = DtmfDetector::new();
    let mut jb = JitterBuffer::new(3, 50);
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        let (pkt, next) = tail.split_at(n);
        rest = next;
        let _ = is_rtcp(pkt);
        let _ = parse_event(pkt);
        if let Ok(p) = parse(pkt) {
            if p.payload_type == 101 {
                let _ = det.on_packet(p.timestamp, p.payload);
            } else {
                jb.push(p.sequence, p.timestamp, p.payload.to_vec());
            }
            let _ = jb.pop();
            assert!(jb.len() <= 50, "jitter buffer grew past its bound");
        }
    }
    for _ in 0..200 {
        let _ = jb.pop();
    }
});
