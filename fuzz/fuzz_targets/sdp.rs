//! SDP parsing, negotiation and the answer built from it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sori::codec::CodecKind;
use sori::sdp::{answer, negotiate, parse, LocalCaps};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(offer) = parse(&text) else { return };
    let caps = LocalCaps {
        codecs: vec![CodecKind::Opus, CodecKind::Pcmu, CodecKind::Pcma],
        telephone_event: true,
        srtp: sori::sdp::SrtpPolicy::Offer,
    };
    if let Ok(neg) = negotiate(&offer, &caps) {
        let a = answer(&offer, &neg, "127.0.0.1".parse().expect("ip"), 20000, 1, 1);
        parse(&a).expect("our answer parses");
    }
});
