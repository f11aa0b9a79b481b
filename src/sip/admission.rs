//! Flood admission policy, sans-IO: which messages are dropped before the
//! endpoint sees them (scanner user agents) and which new calls are refused
//! (per-source and overall concurrent-call caps → 503 + Retry-After).
//!
//! The I/O edge feeds it the source address and raw bytes of each message,
//! and the source of each new call; it never touches a socket or a clock.

use std::collections::HashMap;
use std::net::IpAddr;

use super::endpoint::CallHandle;

/// User-Agent substrings of SIP scanners (matched case-insensitively).
pub const SCANNER_AGENTS: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sundayddr",
    "vaxsipuseragent",
    "vaxipuseragent",
    "pplsip",
    "sivus",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// Concurrent calls overall.
    pub max_calls: usize,
    /// Concurrent calls from one source IP address.
    pub max_calls_per_source: usize,
    /// Seconds sent in Retry-After with a 503.
    pub retry_after_s: u32,
}

/// What to do with a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Pass,
    /// Drop without an answer: the User-Agent is a known scanner.
    DropScanner,
}

/// Why a new call is refused (always 503 + Retry-After).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub retry_after_s: u32,
    pub why: &'static str,
}

#[derive(Debug)]
pub struct Admission {
    cfg: AdmissionConfig,
    calls: HashMap<CallHandle, IpAddr>,
    per_source: HashMap<IpAddr, usize>,
}

impl Admission {
    pub fn new(cfg: AdmissionConfig) -> Self {
        Admission { cfg, calls: HashMap::new(), per_source: HashMap::new() }
    }

    /// Screens one received message before the endpoint parses it.
    pub fn screen(&mut self, _src: IpAddr, bytes: &[u8]) -> Screen {
        match user_agent(bytes) {
            Some(ua) if is_scanner(ua) => Screen::DropScanner,
            _ => Screen::Pass,
        }
    }

    /// May a new call from `src` be taken now?
    pub fn check_call(&self, src: IpAddr) -> Result<(), Refusal> {
        let refuse = |why| Err(Refusal { code: 503, retry_after_s: self.cfg.retry_after_s, why });
        if self.calls.len() >= self.cfg.max_calls {
            return refuse("at capacity");
        }
        if self.per_source.get(&src).copied().unwrap_or(0) >= self.cfg.max_calls_per_source {
            return refuse("too many calls from this source");
        }
        Ok(())
    }

    /// A call passed [`Admission::check_call`] and was taken.
    pub fn call_started(&mut self, call: CallHandle, src: IpAddr) {
        if self.calls.insert(call, src).is_none() {
            *self.per_source.entry(src).or_insert(0) += 1;
        }
    }

    /// A call's task has finished.
    pub fn call_ended(&mut self, call: CallHandle) {
        let Some(src) = self.calls.remove(&call) else {
            return;
        };
        if let Some(n) = self.per_source.get_mut(&src) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&src);
            }
        }
    }

    pub fn active(&self) -> usize {
        self.calls.len()
    }
}

/// Whether a User-Agent names a known SIP scanner.
pub fn is_scanner(ua: &str) -> bool {
    let ua = ua.to_ascii_lowercase();
    SCANNER_AGENTS.iter().any(|s| ua.contains(s))
}

/// The User-Agent header value of a raw SIP message, found without a full
/// parse (cheap under a flood). Header lines only; stops at the blank line.
pub fn user_agent(bytes: &[u8]) -> Option<&str> {
    let head_end = find(bytes, b"\r\n\r\n").unwrap_or(bytes.len());
    let head = &bytes[..head_end];
    for line in head.split(|b| *b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"User-Agent") {
            return std::str::from_utf8(line[colon + 1..].trim_ascii()).ok();
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AdmissionConfig {
        AdmissionConfig { max_calls: 3, max_calls_per_source: 2, retry_after_s: 17 }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn msg(ua: &str) -> Vec<u8> {
        format!(
            "OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1\r\n{ua}\r\nCall-ID: x\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn scanner_user_agents_are_dropped_case_insensitively() {
        let mut a = Admission::new(cfg());
        for ua in [
            "User-Agent: friendly-scanner",
            "user-agent:   SIPVicious 0.3.4",
            "USER-AGENT: sipcli/v1.8",
            "User-Agent: VaxSIPUserAgent/3.1",
            "User-Agent : sip-scan",
        ] {
            assert_eq!(a.screen(ip(9), &msg(ua)), Screen::DropScanner, "{ua}");
        }
        for ua in ["User-Agent: Linphone/5.2", "Server: friendly-scanner", "X: y"] {
            assert_eq!(a.screen(ip(9), &msg(ua)), Screen::Pass, "{ua}");
        }
    }

    #[test]
    fn user_agent_in_body_is_not_header() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 26\r\n\r\nUser-Agent: friendly-scanner";
        assert_eq!(user_agent(m), None);
        assert_eq!(user_agent(b"\xff\xfe"), None);
        assert_eq!(user_agent(b""), None);
    }

    #[test]
    fn per_source_cap_refuses_with_503_and_retry_after_while_others_pass() {
        let mut a = Admission::new(cfg());
        a.check_call(ip(1)).expect("first");
        a.call_started(1, ip(1));
        a.check_call(ip(1)).expect("second");
        a.call_started(2, ip(1));
        let r = a.check_call(ip(1)).expect_err("third from the same source");
        assert_eq!((r.code, r.retry_after_s), (503, 17));
        a.check_call(ip(2)).expect("another source");
        a.call_ended(1);
        a.check_call(ip(1)).expect("a slot freed");
    }

    #[test]
    fn overall_cap_refuses_every_source() {
        let mut a = Admission::new(cfg());
        for (h, s) in [(1, 1), (2, 2), (3, 3)] {
            a.check_call(ip(s)).expect("under the cap");
            a.call_started(h, ip(s));
        }
        assert_eq!(a.check_call(ip(4)).map_err(|r| r.why), Err("at capacity"));
        a.call_ended(2);
        a.call_ended(2); // twice: no underflow, no double free
        assert_eq!(a.active(), 2);
        a.check_call(ip(4)).expect("room again");
        a.call_ended(1);
        a.call_ended(3);
        assert!(a.per_source.is_empty(), "no state left once idle");
    }
}
