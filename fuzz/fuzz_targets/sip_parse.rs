//! The SIP parser and stream framer on arbitrary bytes: never a panic; what
//! parses serialises and parses again with the same start line and Call-ID.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sori::sip::framing::StreamFramer;
use sori::sip::message::{param, split_commas, uri_of, Message};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let _ = (m.cseq(), m.top_branch(), m.from_tag(), m.to_tag(), m.content_type(), m.body_str());
        for (_, v) in &m.headers {
            let _ = (uri_of(v), param(v, "tag"), split_commas(v));
        }
        for code in [100, 400, 487] {
            let _ = m.response(code, Some("t")).to_bytes();
        }
        let again = Message::parse(&m.to_bytes()).expect("a parsed message serialises to a parsable one");
        assert_eq!(again.start, m.start);
        assert_eq!(again.call_id(), m.call_id());
    }
    // The same bytes as a TCP stream, cut at every 7th byte.
    let mut f = StreamFramer::new(4096);
    for chunk in data.chunks(7) {
        f.push(chunk);
        while let Ok(Some(msg)) = f.next_message() {
            let _ = Message::parse(&msg);
        }
    }
});
