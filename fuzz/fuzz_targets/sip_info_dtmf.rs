//! SIP INFO DTMF bodies (application/dtmf-relay, application/dtmf): the
//! first line of the input is the Content-Type, the rest the body.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sori::rtp::dtmf::parse_sip_info;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (ct, body) = text.split_once('\n').unwrap_or((&text, ""));
    if let Some(c) = parse_sip_info(ct, body) {
        assert!("0123456789*#ABCD".contains(c), "{c:?}");
    }
    let _ = parse_sip_info("application/dtmf-relay", &text);
    let _ = parse_sip_info("application/dtmf", &text);
});
