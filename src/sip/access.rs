//! Inbound access control, sans-IO: which sources may send sori requests.
//!
//! With no allow list (the default, for a first local try) everyone may
//! call. Once `[sip] allow` or a `[[trunk]]` names sources, a request from
//! anywhere else gets 403 — unless inbound digest users are configured, in
//! which case such a source is challenged (401) and let through with valid
//! credentials. ACK and CANCEL cannot be challenged (RFC 3261 §22.1) and
//! in-dialog requests (with a To tag) reach only the dialog they name, so
//! those pass the digest gate without credentials; under a plain allow list
//! they are refused like the rest.

use std::net::IpAddr;

use super::digest::{self, Algorithm, NonceCheck, NonceKey};
use super::message::{Message, Method, StartLine};

/// An address block: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("{s:?}: prefix length must be 0..={max}")),
            },
        };
        let net = Cidr { addr, prefix }.masked(addr);
        if net != addr {
            return Err(format!("{s:?}: host bits set below the /{prefix} (did you mean {net}/{prefix}?)"));
        }
        Ok(Cidr { addr, prefix })
    }

    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix as u32) };
                IpAddr::from((u32::from(v) & mask).to_be_bytes())
            }
            IpAddr::V6(v) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix as u32) };
                IpAddr::from((u128::from(v) & mask).to_be_bytes())
            }
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && self.masked(ip) == self.addr
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One inbound digest user.
#[derive(Debug, Clone)]
pub struct InboundUser {
    pub username: String,
    pub password: String,
}

/// What to do with a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Answer this (a 403 or a 401 challenge) and drop the request.
    Answer {
        code: u16,
        bytes: Vec<u8>,
    },
    /// Drop silently (a response or ACK from a source that may not talk to us).
    Drop,
}

pub struct AccessPolicy {
    restricted: bool,
    allow: Vec<Cidr>,
    users: Vec<InboundUser>,
    realm: String,
    /// Offered in this order (one challenge each).
    algorithms: Vec<Algorithm>,
    nonces: NonceKey,
}

impl AccessPolicy {
    /// Not `restricted`: open to everyone. Restricted: only `allow`, and
    /// `users` after a digest challenge (an empty list lets nobody in).
    pub fn new(
        restricted: bool,
        allow: Vec<Cidr>,
        users: Vec<InboundUser>,
        realm: String,
        secret: [u8; 32],
    ) -> AccessPolicy {
        let algorithms = vec![Algorithm::Sha256, Algorithm::Md5];
        AccessPolicy { restricted, allow, users, realm, algorithms, nonces: NonceKey::new(secret, 300) }
    }

    /// The digest algorithms challenges offer, most preferred first.
    pub fn with_algorithms(mut self, algorithms: Vec<Algorithm>) -> AccessPolicy {
        if !algorithms.is_empty() {
            self.algorithms = algorithms;
        }
        self
    }

    pub fn is_open(&self) -> bool {
        !self.restricted
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        self.is_open() || self.allow.iter().any(|c| c.contains(ip))
    }

    pub fn allow_list(&self) -> &[Cidr] {
        &self.allow
    }

    /// Screens one message from `ip` (`now_s`: seconds on any steady clock
    /// for nonce lifetimes). Unparseable messages pass to the endpoint,
    /// which answers 400 where it can.
    pub fn screen(&self, now_s: u64, ip: IpAddr, bytes: &[u8]) -> Verdict {
        if self.allows(ip) {
            return Verdict::Pass;
        }
        let Ok(msg) = Message::parse(bytes) else {
            return Verdict::Drop;
        };
        let Some(method) = msg.method().cloned() else {
            // Responses only match our own transactions; a source that may
            // not call has none worth answering, but REGISTER / BYE / REFER
            // responses from a registrar or proxy outside the list are ours.
            return Verdict::Pass;
        };
        if self.users.is_empty() {
            return match method {
                Method::Ack => Verdict::Drop,
                _ => Verdict::Answer { code: 403, bytes: response(&msg, 403, None) },
            };
        }
        if matches!(method, Method::Ack | Method::Cancel) || msg.to_tag().is_some() {
            return Verdict::Pass;
        }
        let creds = msg
            .headers_named("Authorization")
            .filter_map(|v| digest::parse_authorization(v).ok())
            .find(|r| r.realm == self.realm);
        let Some(r) = creds else {
            return self.challenge(now_s, &msg, false);
        };
        let Some(user) = self.users.iter().find(|u| u.username == r.username) else {
            tracing::debug!(ip = %ip, user = %r.username, "inbound digest: unknown user");
            return Verdict::Answer { code: 403, bytes: response(&msg, 403, None) };
        };
        let uri_ok = matches!(&msg.start, StartLine::Request { uri, .. } if digest_uri_matches(uri, &r.uri));
        if !uri_ok || !digest::verify(&r, method.as_str(), &user.password, &msg.body) {
            tracing::debug!(ip = %ip, user = %r.username, uri = %r.uri, uri_ok, qop = ?r.qop, alg = ?r.algorithm,
                "inbound digest: wrong credentials");
            return Verdict::Answer { code: 403, bytes: response(&msg, 403, None) };
        }
        match self.nonces.check(&r.nonce, now_s) {
            NonceCheck::Fresh => Verdict::Pass,
            NonceCheck::Stale => self.challenge(now_s, &msg, true),
            NonceCheck::Invalid => self.challenge(now_s, &msg, false),
        }
    }

    fn challenge(&self, now_s: u64, msg: &Message, stale: bool) -> Verdict {
        let nonce = self.nonces.issue(now_s);
        let mut hdrs = Vec::new();
        for &alg in &self.algorithms {
            hdrs.push(("WWW-Authenticate", digest::challenge(&self.realm, &nonce, alg, stale)));
        }
        Verdict::Answer { code: 401, bytes: response(msg, 401, Some(&hdrs)) }
    }
}

/// The credentials' digest-uri names this request: the Request-URI itself,
/// or (as SIPp and some phones send) the same without its user part.
fn digest_uri_matches(request_uri: &str, digest_uri: &str) -> bool {
    let base = |u: &str| u.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let (req, dig) = (base(request_uri), base(digest_uri));
    if req == dig {
        return true;
    }
    match req.split_once(':').and_then(|(scheme, rest)| rest.split_once('@').map(|(_, host)| (scheme, host))) {
        Some((scheme, host)) => dig == format!("{scheme}:{host}"),
        None => false,
    }
}

/// A stateless final response to `req` (a retransmitted request is simply
/// answered again).
fn response(req: &Message, code: u16, extra: Option<&[(&str, String)]>) -> Vec<u8> {
    let mut tag = [0u8; 8];
    for (i, b) in req.call_id().bytes().chain(req.top_branch().unwrap_or_default().bytes()).enumerate() {
        tag[i % 8] = tag[i % 8].wrapping_mul(31).wrapping_add(b);
    }
    let mut r = req.response(code, Some(&hex::encode(tag)));
    if let StartLine::Response { reason, .. } = &mut r.start {
        *reason = match code {
            401 => "Unauthorized".into(),
            403 => "Forbidden".into(),
            _ => reason.clone(),
        };
    }
    for (n, v) in extra.unwrap_or_default() {
        r.push(n, v.clone());
    }
    r.push("Server", concat!("sori/", env!("CARGO_PKG_VERSION")));
    r.to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn invite(auth: Option<&str>) -> Vec<u8> {
        let mut m = String::from(
            "INVITE sip:1339@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5099;branch=z9hG4bKa1\r\n\
             From: <sip:x@127.0.0.2>;tag=f\r\nTo: <sip:1339@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n",
        );
        if let Some(a) = auth {
            m.push_str(&format!("Authorization: {a}\r\n"));
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        m.into_bytes()
    }

    #[test]
    fn digest_uri_is_the_request_uri_with_or_without_its_user() {
        assert!(digest_uri_matches("sip:1339@127.0.0.1:5060", "sip:1339@127.0.0.1:5060"));
        assert!(digest_uri_matches("sip:1339@127.0.0.1:5060;transport=udp", "sip:127.0.0.1:5060"));
        assert!(!digest_uri_matches("sip:1339@127.0.0.1:5060", "sip:127.0.0.1:5061"));
        assert!(!digest_uri_matches("sip:1339@127.0.0.1", "sip:119@127.0.0.1"));
    }

    #[test]
    fn cidr_blocks() {
        let c = Cidr::parse("10.1.0.0/16").expect("cidr");
        assert!(c.contains(ip("10.1.200.3")) && !c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.9")), "v4-mapped v6");
        assert!(!c.contains(ip("::1")));
        assert!(Cidr::parse("127.0.0.1").expect("one").contains(ip("127.0.0.1")));
        assert!(!Cidr::parse("127.0.0.1").expect("one").contains(ip("127.0.0.2")));
        assert!(Cidr::parse("0.0.0.0/0").expect("all").contains(ip("8.8.8.8")));
        assert!(Cidr::parse("2001:db8::/32").expect("v6").contains(ip("2001:db8:1::5")));
        assert!(Cidr::parse("10.1.2.3/16").unwrap_err().contains("10.1.0.0/16"));
        assert!(Cidr::parse("10.0.0.0/33").unwrap_err().contains("0..=32"));
        assert!(Cidr::parse("pbx.example.org").unwrap_err().contains("not an IP"));
    }

    #[test]
    fn open_by_default_and_403_outside_the_list() {
        let open = AccessPolicy::new(false, vec![], vec![], "sori".into(), [1; 32]);
        assert_eq!(open.screen(0, ip("192.0.2.1"), &invite(None)), Verdict::Pass);
        let p = AccessPolicy::new(true, vec![Cidr::parse("127.0.0.1/32").expect("c")], vec![], "sori".into(), [1; 32]);
        assert_eq!(p.screen(0, ip("127.0.0.1"), &invite(None)), Verdict::Pass);
        let Verdict::Answer { code, bytes } = p.screen(0, ip("127.0.0.2"), &invite(None)) else { panic!("refused") };
        assert_eq!(code, 403);
        let r = Message::parse(&bytes).expect("403 parses");
        assert_eq!(r.status(), Some(403));
        assert_eq!(r.call_id(), "c1");
        assert!(r.to_tag().is_some());
        let ack = String::from_utf8_lossy(&invite(None)).replace("INVITE sip", "ACK sip").replace("1 INVITE", "1 ACK");
        assert_eq!(p.screen(0, ip("127.0.0.2"), ack.as_bytes()), Verdict::Drop);
        assert_eq!(p.screen(0, ip("127.0.0.2"), b"\x00garbage"), Verdict::Drop);
    }

    #[test]
    fn digest_users_are_challenged_then_let_through() {
        let users = vec![InboundUser { username: "pbx".into(), password: "pw".into() }];
        let p = AccessPolicy::new(true, vec![Cidr::parse("10.0.0.0/8").expect("c")], users, "sori".into(), [2; 32]);
        let Verdict::Answer { code: 401, bytes } = p.screen(100, ip("192.0.2.9"), &invite(None)) else {
            panic!("challenge")
        };
        let r = Message::parse(&bytes).expect("401");
        let cs = digest::parse_challenges(&r).expect("challenges");
        let ch = digest::choose(&cs).expect("one").clone();
        assert_eq!(ch.algorithm, Algorithm::Sha256);
        let creds = digest::ClientCredentials { username: "pbx".into(), password: "pw".into() };
        let a = digest::authorize(&ch, &creds, "INVITE", "sip:1339@127.0.0.1", b"", 1, "cn");
        assert_eq!(p.screen(110, ip("192.0.2.9"), &invite(Some(&a))), Verdict::Pass);
        // Stale after the nonce's lifetime: challenged again with stale=true.
        let Verdict::Answer { code: 401, bytes } = p.screen(1000, ip("192.0.2.9"), &invite(Some(&a))) else {
            panic!("stale")
        };
        assert!(String::from_utf8_lossy(&bytes).contains("stale=true"));
        // Wrong password or unknown user: 403.
        let bad = digest::ClientCredentials { username: "pbx".into(), password: "nope".into() };
        let a = digest::authorize(&ch, &bad, "INVITE", "sip:1339@127.0.0.1", b"", 1, "cn");
        assert!(matches!(p.screen(110, ip("192.0.2.9"), &invite(Some(&a))), Verdict::Answer { code: 403, .. }));
        let who = digest::ClientCredentials { username: "eve".into(), password: "pw".into() };
        let a = digest::authorize(&ch, &who, "INVITE", "sip:1339@127.0.0.1", b"", 1, "cn");
        assert!(matches!(p.screen(110, ip("192.0.2.9"), &invite(Some(&a))), Verdict::Answer { code: 403, .. }));
        // MD5 only, for clients that know nothing else.
        let md5 = AccessPolicy::new(true, vec![], vec![], "sori".into(), [2; 32]).with_algorithms(vec![Algorithm::Md5]);
        let users = vec![InboundUser { username: "pbx".into(), password: "pw".into() }];
        let md5 = AccessPolicy { users, ..md5 };
        let Verdict::Answer { bytes, .. } = md5.screen(100, ip("192.0.2.9"), &invite(None)) else { panic!("401") };
        let cs = digest::parse_challenges(&Message::parse(&bytes).expect("401")).expect("challenges");
        assert_eq!(cs.iter().map(|c| c.algorithm).collect::<Vec<_>>(), vec![Algorithm::Md5]);
        // Forged nonce: a fresh challenge.
        let forged = digest::Challenge { nonce: "1.abc".into(), ..ch };
        let a = digest::authorize(&forged, &creds, "INVITE", "sip:1339@127.0.0.1", b"", 1, "cn");
        assert!(matches!(p.screen(110, ip("192.0.2.9"), &invite(Some(&a))), Verdict::Answer { code: 401, .. }));
    }
}
