//! Flood admission policy, sans-IO: which messages are dropped before the
//! endpoint sees them (scanner user agents; INVITE / REGISTER / OPTIONS over
//! a per-source token-bucket rate) and which new calls are refused
//! (per-source and overall concurrent-call caps → 503 + Retry-After).
//!
//! The I/O edge feeds it `now`, the source address and raw bytes of each
//! message, and the source of each new call; it never touches a socket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

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

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionConfig {
    /// Concurrent calls overall.
    pub max_calls: usize,
    /// Concurrent calls from one source IP address (0 = no cap).
    pub max_calls_per_source: usize,
    /// Seconds sent in Retry-After with a 503.
    pub retry_after_s: u32,
    pub rates: RateLimits,
}

/// Per-source request rates (requests per second, 0 = unlimited) and the
/// bucket depth (requests a source may send at once after being quiet).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    pub invite_per_s: f64,
    pub register_per_s: f64,
    pub options_per_s: f64,
    pub burst: f64,
}

impl RateLimits {
    pub const OFF: RateLimits = RateLimits { invite_per_s: 0.0, register_per_s: 0.0, options_per_s: 0.0, burst: 0.0 };
}

/// Sources tracked by the rate limiter before idle ones are pruned at once.
const MAX_BUCKETS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Limited {
    Invite,
    Register,
    Options,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What to do with a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Pass,
    /// Drop without an answer: the User-Agent is a known scanner.
    DropScanner,
    /// Drop without an answer: the source is over its rate for this method.
    DropRateLimited,
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
    buckets: HashMap<(IpAddr, Limited), Bucket>,
    /// Trunks' addresses: one trunk carries many callers, so the per-source
    /// rates and call cap do not apply to them (the overall cap does).
    trunks: Vec<super::access::Cidr>,
}

impl Admission {
    pub fn new(cfg: AdmissionConfig) -> Self {
        Admission {
            cfg,
            calls: HashMap::new(),
            per_source: HashMap::new(),
            buckets: HashMap::new(),
            trunks: Vec::new(),
        }
    }

    /// Sources exempt from the per-source limits (`[[trunk]]` addresses).
    pub fn set_trunk_sources(&mut self, trunks: Vec<super::access::Cidr>) {
        self.trunks = trunks;
    }

    fn is_trunk(&self, src: IpAddr) -> bool {
        self.trunks.iter().any(|c| c.contains(src))
    }

    /// Screens one received message before the endpoint parses it.
    pub fn screen(&mut self, now: Instant, src: IpAddr, bytes: &[u8]) -> Screen {
        if let Some(ua) = user_agent(bytes) {
            if is_scanner(ua) {
                return Screen::DropScanner;
            }
        }
        let (kind, rate) = match request_method(bytes) {
            Some(b"INVITE") => (Limited::Invite, self.cfg.rates.invite_per_s),
            Some(b"REGISTER") => (Limited::Register, self.cfg.rates.register_per_s),
            Some(b"OPTIONS") => (Limited::Options, self.cfg.rates.options_per_s),
            _ => return Screen::Pass,
        };
        if rate <= 0.0 || self.is_trunk(src) {
            return Screen::Pass;
        }
        let burst = self.cfg.rates.burst.max(1.0);
        if self.buckets.len() >= MAX_BUCKETS {
            self.prune(now);
            if self.buckets.len() >= MAX_BUCKETS {
                // A flood from more sources than we track (spoofed): start over
                // rather than scan the whole table on every message.
                self.buckets.clear();
            }
        }
        let b = self.buckets.entry((src, kind)).or_insert(Bucket { tokens: burst, at: now });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Screen::Pass
        } else {
            Screen::DropRateLimited
        }
    }

    /// Forgets sources whose buckets have refilled (they would start full anyway).
    pub fn prune(&mut self, now: Instant) {
        let r = self.cfg.rates;
        let burst = r.burst.max(1.0);
        self.buckets.retain(|(_, kind), b| {
            let rate = match kind {
                Limited::Invite => r.invite_per_s,
                Limited::Register => r.register_per_s,
                Limited::Options => r.options_per_s,
            };
            rate > 0.0 && b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
        });
    }

    /// Sources the rate limiter remembers.
    pub fn tracked_sources(&self) -> usize {
        self.buckets.len()
    }

    /// May a new call from `src` be taken now?
    pub fn check_call(&self, src: IpAddr) -> Result<(), Refusal> {
        let refuse = |why| Err(Refusal { code: 503, retry_after_s: self.cfg.retry_after_s, why });
        if self.calls.len() >= self.cfg.max_calls {
            return refuse("at capacity");
        }
        let cap = self.cfg.max_calls_per_source;
        if cap > 0 && !self.is_trunk(src) && self.per_source.get(&src).copied().unwrap_or(0) >= cap {
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

/// The method of a request (the start line's first token); None for responses.
fn request_method(bytes: &[u8]) -> Option<&[u8]> {
    let end = bytes.iter().take(32).position(|b| *b == b' ')?;
    let m = &bytes[..end];
    (m != b"SIP/2.0").then_some(m)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg() -> AdmissionConfig {
        AdmissionConfig { max_calls: 3, max_calls_per_source: 2, retry_after_s: 17, rates: RateLimits::OFF }
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
            assert_eq!(a.screen(Instant::now(), ip(9), &msg(ua)), Screen::DropScanner, "{ua}");
        }
        for ua in ["User-Agent: Linphone/5.2", "Server: friendly-scanner", "X: y"] {
            assert_eq!(a.screen(Instant::now(), ip(9), &msg(ua)), Screen::Pass, "{ua}");
        }
    }

    #[test]
    fn trunk_sources_skip_the_per_source_limits() {
        let rates = RateLimits { invite_per_s: 1.0, register_per_s: 1.0, options_per_s: 1.0, burst: 1.0 };
        let mut a = Admission::new(AdmissionConfig { rates, ..cfg() });
        a.set_trunk_sources(vec![super::super::access::Cidr::parse("192.0.2.7/32").expect("cidr")]);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(a.screen(t0, ip(7), &req("INVITE")), Screen::Pass);
        }
        assert_eq!(a.screen(t0, ip(8), &req("INVITE")), Screen::Pass);
        assert_eq!(a.screen(t0, ip(8), &req("INVITE")), Screen::DropRateLimited);
        a.call_started(1, ip(7));
        a.call_started(2, ip(7));
        assert!(a.check_call(ip(7)).is_ok(), "no per-source cap for a trunk");
        a.call_started(3, ip(7));
        assert_eq!(a.check_call(ip(7)).map_err(|r| r.why), Err("at capacity"), "the overall cap still holds");
    }

    fn req(method: &str) -> Vec<u8> {
        format!("{method} sip:1339@192.0.2.1 SIP/2.0\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n").into_bytes()
    }

    #[test]
    fn token_bucket_per_source_and_method() {
        let rates = RateLimits { invite_per_s: 2.0, register_per_s: 1.0, options_per_s: 0.0, burst: 3.0 };
        let mut a = Admission::new(AdmissionConfig { rates, ..cfg() });
        let t0 = Instant::now();
        let pass = |a: &mut Admission, t: Instant, s: u8, m: &str| a.screen(t, ip(s), &req(m)) == Screen::Pass;
        for i in 0..3 {
            assert!(pass(&mut a, t0, 1, "INVITE"), "burst {i}");
        }
        assert_eq!(a.screen(t0, ip(1), &req("INVITE")), Screen::DropRateLimited);
        assert!(pass(&mut a, t0, 2, "INVITE"), "another source has its own bucket");
        assert!(pass(&mut a, t0, 1, "REGISTER"), "another method has its own bucket");
        assert!(pass(&mut a, t0, 1, "BYE"), "BYE is never limited");
        assert!(pass(&mut a, t0, 1, "SIP/2.0 200 OK"), "responses are never limited");
        for _ in 0..100 {
            assert!(pass(&mut a, t0, 1, "OPTIONS"), "rate 0 = unlimited");
        }
        // 2 per second: one token back after 0.5 s, not before.
        assert!(!pass(&mut a, t0 + Duration::from_millis(400), 1, "INVITE"));
        assert!(pass(&mut a, t0 + Duration::from_millis(600), 1, "INVITE"));
        assert!(!pass(&mut a, t0 + Duration::from_millis(600), 1, "INVITE"));
        // Idle sources are forgotten once their buckets are full again.
        assert!(a.tracked_sources() > 0);
        a.prune(t0 + Duration::from_secs(10));
        assert_eq!(a.tracked_sources(), 0);
    }

    #[test]
    fn a_flood_of_sources_does_not_grow_without_bound() {
        let rates = RateLimits { invite_per_s: 1.0, register_per_s: 1.0, options_per_s: 1.0, burst: 1.0 };
        let mut a = Admission::new(AdmissionConfig { rates, ..cfg() });
        let t0 = Instant::now();
        for i in 0..(MAX_BUCKETS as u32 + 1000) {
            let t = t0 + Duration::from_millis(u64::from(i) * 2);
            a.screen(t, IpAddr::from(i.to_be_bytes()), &req("INVITE"));
        }
        assert!(a.tracked_sources() <= MAX_BUCKETS, "{}", a.tracked_sources());
    }

    #[test]
    fn per_source_cap_zero_means_no_cap() {
        let mut a = Admission::new(AdmissionConfig { max_calls_per_source: 0, ..cfg() });
        for h in 0..3 {
            a.check_call(ip(1)).expect("no per-source cap");
            a.call_started(h, ip(1));
        }
        assert!(a.check_call(ip(1)).is_err(), "the overall cap still holds");
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
