//! SIP digest authentication, sans-IO (RFC 3261 §22, RFC 7616, RFC 8760).
//!
//! Client side: [`parse_challenges`] reads `WWW-Authenticate` /
//! `Proxy-Authenticate` (several challenges per header or per message),
//! [`choose`] picks the strongest supported one (SHA-512-256 > SHA-256 >
//! MD5) and [`authorize`] writes the `Authorization` / `Proxy-Authorization`
//! value (qop=auth with nc and cnonce when offered, auth-int over the body
//! when only that is offered, RFC 2069 style without qop).
//!
//! Server side: [`NonceKey`] issues nonces that carry their own time and a
//! keyed hash (no state per caller), tells fresh from stale from forged;
//! [`challenge`] writes a challenge and [`verify`] checks a response.
//!
//! Nothing here reads a clock or a socket; time comes in as seconds.

use sha2::Digest as _;

use super::message::Message;

/// A digest hash algorithm (RFC 8760 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    Md5,
    Sha256,
    Sha512_256,
}

impl Algorithm {
    pub fn parse(token: &str) -> Option<(Algorithm, bool)> {
        let t = token.trim().to_ascii_uppercase();
        let (base, sess) = match t.strip_suffix("-SESS") {
            Some(b) => (b.to_string(), true),
            None => (t, false),
        };
        let a = match base.as_str() {
            "MD5" => Algorithm::Md5,
            "SHA-256" => Algorithm::Sha256,
            "SHA-512-256" => Algorithm::Sha512_256,
            _ => return None,
        };
        Some((a, sess))
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha512_256 => "SHA-512-256",
        }
    }

    /// Lower-case hex of the hash of `data`.
    pub fn hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex::encode(md5::Md5::digest(data)),
            Algorithm::Sha256 => hex::encode(sha2::Sha256::digest(data)),
            Algorithm::Sha512_256 => hex::encode(sha2::Sha512_256::digest(data)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("not a Digest challenge")]
    NotDigest,
    #[error("digest challenge without {0}")]
    Missing(&'static str),
    #[error("unsupported digest algorithm {0:?}")]
    Algorithm(String),
    #[error("malformed digest parameters")]
    Syntax,
}

/// One digest challenge from a 401 / 407.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// From Proxy-Authenticate (answer with Proxy-Authorization).
    pub proxy: bool,
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The `-sess` variant of the algorithm.
    pub sess: bool,
    /// qop options offered, lower-case ("auth", "auth-int"); empty = RFC 2069.
    pub qop: Vec<String>,
    /// The previous response was right but its nonce had expired.
    pub stale: bool,
}

impl Challenge {
    /// qop=auth is preferred; auth-int only when it is all that is offered.
    fn chosen_qop(&self) -> Option<&'static str> {
        if self.qop.is_empty() {
            None
        } else if self.qop.iter().any(|q| q == "auth") {
            Some("auth")
        } else if self.qop.iter().any(|q| q == "auth-int") {
            Some("auth-int")
        } else {
            Some("unsupported")
        }
    }

    fn usable(&self) -> bool {
        self.chosen_qop() != Some("unsupported")
    }
}

/// `name=value` pairs of an auth header after its scheme, values unquoted.
/// A bare token followed by a space starts the next scheme (several
/// challenges in one header field, RFC 7235 §4.1).
type Params = Vec<(String, String)>;

fn split_schemes(value: &str) -> Result<Vec<(String, Params)>, DigestError> {
    let b = value.as_bytes();
    let mut i = 0;
    let mut out: Vec<(String, Params)> = Vec::new();
    let is_tchar = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/".contains(&c);
    loop {
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        if i == start {
            return Err(DigestError::Syntax);
        }
        let token = &value[start..i];
        let mut j = i;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' {
            let Some((_, params)) = out.last_mut() else {
                return Err(DigestError::Syntax);
            };
            j += 1;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let (v, next) = if j < b.len() && b[j] == b'"' {
                let mut s = String::new();
                let (mut closed, mut escaped, mut end) = (false, false, b.len());
                // By characters: an escape may precede any UTF-8 character.
                for (off, ch) in value[j + 1..].char_indices() {
                    match ch {
                        _ if escaped => {
                            s.push(ch);
                            escaped = false;
                        }
                        '\\' => escaped = true,
                        '"' => {
                            closed = true;
                            end = j + 1 + off + 1;
                            break;
                        }
                        _ => s.push(ch),
                    }
                }
                if !closed {
                    return Err(DigestError::Syntax);
                }
                (s, end)
            } else {
                let s = j;
                let mut k = j;
                while k < b.len() && b[k] != b',' && !b[k].is_ascii_whitespace() {
                    k += 1;
                }
                (value[s..k].to_string(), k)
            };
            params.push((token.to_ascii_lowercase(), v));
            i = next;
        } else {
            out.push((token.to_string(), Vec::new()));
            i = j;
        }
    }
    Ok(out)
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn challenge_from(proxy: bool, params: &[(String, String)]) -> Result<Challenge, DigestError> {
    let (algorithm, sess) = match get(params, "algorithm") {
        None => (Algorithm::Md5, false),
        Some(a) => Algorithm::parse(a).ok_or_else(|| DigestError::Algorithm(a.to_string()))?,
    };
    Ok(Challenge {
        proxy,
        realm: get(params, "realm").ok_or(DigestError::Missing("realm"))?.to_string(),
        nonce: get(params, "nonce").ok_or(DigestError::Missing("nonce"))?.to_string(),
        opaque: get(params, "opaque").map(str::to_string),
        algorithm,
        sess,
        qop: get(params, "qop")
            .map(|q| q.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default(),
        stale: get(params, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
    })
}

/// Every Digest challenge in one header value (others, e.g. Basic, skipped).
pub fn parse_challenge_header(value: &str, proxy: bool) -> Result<Vec<Challenge>, DigestError> {
    let schemes = split_schemes(value)?;
    if !schemes.iter().any(|(s, _)| s.eq_ignore_ascii_case("digest")) {
        return Err(DigestError::NotDigest);
    }
    let mut out = Vec::new();
    let mut first_err = None;
    for (_, params) in schemes.iter().filter(|(s, _)| s.eq_ignore_ascii_case("digest")) {
        match challenge_from(proxy, params) {
            Ok(c) => out.push(c),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match (out.is_empty(), first_err) {
        (true, Some(e)) => Err(e),
        _ => Ok(out),
    }
}

/// Every usable Digest challenge of a 401 / 407 (unreadable ones and
/// unknown algorithms are skipped; the error of the first is kept for a
/// clear log line when none is left).
pub fn parse_challenges(msg: &Message) -> Result<Vec<Challenge>, DigestError> {
    let mut out = Vec::new();
    let mut first_err = None;
    for (name, proxy) in [("WWW-Authenticate", false), ("Proxy-Authenticate", true)] {
        for v in msg.headers_named(name) {
            match parse_challenge_header(v, proxy) {
                Ok(cs) => out.extend(cs),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
    }
    match (out.is_empty(), first_err) {
        (true, Some(e)) => Err(e),
        (true, None) => Err(DigestError::Missing("WWW-Authenticate")),
        _ => Ok(out),
    }
}

/// The challenge to answer: the strongest algorithm with a qop we support
/// (RFC 8760 lets a server offer SHA-256 and MD5 side by side).
pub fn choose(challenges: &[Challenge]) -> Option<&Challenge> {
    challenges.iter().filter(|c| c.usable()).max_by_key(|c| c.algorithm)
}

/// What the client needs to answer a challenge.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials").field("username", &self.username).finish_non_exhaustive()
    }
}

fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

#[allow(clippy::too_many_arguments)]
fn response_hash(
    alg: Algorithm,
    sess: bool,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<&str>,
    nc: &str,
    cnonce: &str,
    body: &[u8],
) -> String {
    let mut ha1 = alg.hex(format!("{username}:{realm}:{password}").as_bytes());
    if sess {
        ha1 = alg.hex(format!("{ha1}:{nonce}:{cnonce}").as_bytes());
    }
    let ha2 = if qop == Some("auth-int") {
        alg.hex(format!("{method}:{uri}:{}", alg.hex(body)).as_bytes())
    } else {
        alg.hex(format!("{method}:{uri}").as_bytes())
    };
    match qop {
        Some(q) => alg.hex(format!("{ha1}:{nonce}:{nc}:{cnonce}:{q}:{ha2}").as_bytes()),
        None => alg.hex(format!("{ha1}:{nonce}:{ha2}").as_bytes()),
    }
}

/// The header a challenge is answered in.
pub fn authorization_header(c: &Challenge) -> &'static str {
    if c.proxy {
        "Proxy-Authorization"
    } else {
        "Authorization"
    }
}

/// The Authorization / Proxy-Authorization value answering `c` for a
/// request `method uri` (body for auth-int). `nc` counts the requests made
/// with this nonce (1 for the first); `cnonce` is the client's random.
pub fn authorize(
    c: &Challenge,
    creds: &ClientCredentials,
    method: &str,
    uri: &str,
    body: &[u8],
    nc: u32,
    cnonce: &str,
) -> String {
    let qop = c.chosen_qop();
    let nc_s = format!("{nc:08x}");
    let response = response_hash(
        c.algorithm,
        c.sess,
        &creds.username,
        &c.realm,
        &creds.password,
        method,
        uri,
        &c.nonce,
        qop,
        &nc_s,
        cnonce,
        body,
    );
    let alg = if c.sess { format!("{}-sess", c.algorithm.name()) } else { c.algorithm.name().to_string() };
    let mut v = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response=\"{response}\", algorithm={alg}",
        quote(&creds.username),
        quote(&c.realm),
        quote(&c.nonce),
        quote(uri),
    );
    if let Some(q) = qop {
        v.push_str(&format!(", qop={q}, nc={nc_s}, cnonce={}", quote(cnonce)));
    }
    if let Some(o) = &c.opaque {
        v.push_str(&format!(", opaque={}", quote(o)));
    }
    v
}

// ------------------------------------------------------------- server side

/// Whether a nonce we issued is still good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    Fresh,
    /// Ours, but older than its lifetime: challenge again with stale=true.
    Stale,
    /// Not ours (forged, mangled or from another run).
    Invalid,
}

/// Issues and checks stateless nonces: `<issued secs hex>.<hash of secret
/// and issued>`, so no table of outstanding nonces is kept.
#[derive(Clone)]
pub struct NonceKey {
    secret: [u8; 32],
    lifetime_s: u64,
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceKey").field("lifetime_s", &self.lifetime_s).finish_non_exhaustive()
    }
}

impl NonceKey {
    pub fn new(secret: [u8; 32], lifetime_s: u64) -> NonceKey {
        NonceKey { secret, lifetime_s }
    }

    fn tag(&self, issued: u64) -> String {
        let mut h = sha2::Sha256::new();
        h.update(self.secret);
        h.update(issued.to_be_bytes());
        h.update(self.secret);
        hex::encode(&h.finalize()[..16])
    }

    pub fn issue(&self, now_s: u64) -> String {
        format!("{now_s:x}.{}", self.tag(now_s))
    }

    pub fn check(&self, nonce: &str, now_s: u64) -> NonceCheck {
        let Some((t, tag)) = nonce.split_once('.') else {
            return NonceCheck::Invalid;
        };
        let Ok(issued) = u64::from_str_radix(t, 16) else {
            return NonceCheck::Invalid;
        };
        if !constant_time_eq(tag.as_bytes(), self.tag(issued).as_bytes()) || issued > now_s.saturating_add(5) {
            return NonceCheck::Invalid;
        }
        if now_s.saturating_sub(issued) > self.lifetime_s {
            NonceCheck::Stale
        } else {
            NonceCheck::Fresh
        }
    }
}

/// A `WWW-Authenticate` value (or Proxy-Authenticate's: same syntax).
pub fn challenge(realm: &str, nonce: &str, alg: Algorithm, stale: bool) -> String {
    let mut v =
        format!("Digest realm={}, nonce={}, algorithm={}, qop=\"auth\"", quote(realm), quote(nonce), alg.name());
    if stale {
        v.push_str(", stale=true");
    }
    v
}

/// The parameters of a client's Authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestResponse {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Algorithm,
    pub sess: bool,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
}

/// Reads an Authorization / Proxy-Authorization value.
pub fn parse_authorization(value: &str) -> Result<DigestResponse, DigestError> {
    let schemes = split_schemes(value)?;
    let (_, p) = schemes.iter().find(|(s, _)| s.eq_ignore_ascii_case("digest")).ok_or(DigestError::NotDigest)?;
    let req = |n: &'static str| get(p, n).map(str::to_string).ok_or(DigestError::Missing(n));
    let (algorithm, sess) = match get(p, "algorithm") {
        None => (Algorithm::Md5, false),
        Some(a) => Algorithm::parse(a).ok_or_else(|| DigestError::Algorithm(a.to_string()))?,
    };
    let r = DigestResponse {
        username: req("username")?,
        realm: req("realm")?,
        nonce: req("nonce")?,
        uri: req("uri")?,
        response: req("response")?,
        algorithm,
        sess,
        qop: get(p, "qop").map(|q| q.to_ascii_lowercase()),
        nc: get(p, "nc").map(str::to_string),
        cnonce: get(p, "cnonce").map(str::to_string),
    };
    if r.qop.is_some() && (r.nc.is_none() || r.cnonce.is_none()) {
        return Err(DigestError::Missing("nc/cnonce"));
    }
    Ok(r)
}

/// Whether `r` is the right answer for `method` (and `body` for auth-int)
/// given the user's password. The caller checks realm, username and nonce.
pub fn verify(r: &DigestResponse, method: &str, password: &str, body: &[u8]) -> bool {
    let qop = match r.qop.as_deref() {
        None => None,
        Some("auth") => Some("auth"),
        Some("auth-int") => Some("auth-int"),
        Some(_) => return false,
    };
    let want = response_hash(
        r.algorithm,
        r.sess,
        &r.username,
        &r.realm,
        password,
        method,
        &r.uri,
        &r.nonce,
        qop,
        r.nc.as_deref().unwrap_or(""),
        r.cnonce.as_deref().unwrap_or(""),
        body,
    );
    constant_time_eq(want.as_bytes(), r.response.to_ascii_lowercase().as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7616 §3.9.1: the server offers SHA-256 and MD5; the user Mufasa
    // (password "Circle of Life") answers GET /dir/index.html.
    const RFC_SHA256: &str = "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, \
        nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    const RFC_MD5: &str = "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=MD5, \
        nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    fn mufasa() -> ClientCredentials {
        ClientCredentials { username: "Mufasa".into(), password: "Circle of Life".into() }
    }

    fn response_of(header: &str) -> String {
        parse_authorization(header).expect("own header parses").response
    }

    #[test]
    fn rfc7616_md5_and_sha256_vectors() {
        let md5 = &parse_challenge_header(RFC_MD5, false).expect("md5")[0];
        let sha = &parse_challenge_header(RFC_SHA256, false).expect("sha")[0];
        assert_eq!((md5.algorithm, sha.algorithm), (Algorithm::Md5, Algorithm::Sha256));
        assert_eq!(sha.qop, vec!["auth", "auth-int"]);
        let a = authorize(md5, &mufasa(), "GET", "/dir/index.html", b"", 1, CNONCE);
        assert_eq!(response_of(&a), "8ca523f5e9506fed4657c9700eebdbec");
        let a = authorize(sha, &mufasa(), "GET", "/dir/index.html", b"", 1, CNONCE);
        assert_eq!(response_of(&a), "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
        assert!(a.contains("qop=auth, nc=00000001, cnonce=\"f2/wE4"), "{a}");
        assert!(a.contains("opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""), "{a}");
        assert!(a.contains("algorithm=SHA-256"), "{a}");
    }

    #[test]
    fn sha256_is_chosen_over_md5_whatever_the_order() {
        let mut m = Message::request(super::super::message::Method::Register, "sip:example.org");
        m.push("WWW-Authenticate", RFC_MD5);
        m.push("WWW-Authenticate", RFC_SHA256);
        let cs = parse_challenges(&m).expect("challenges");
        assert_eq!(cs.len(), 2);
        assert_eq!(choose(&cs).map(|c| c.algorithm), Some(Algorithm::Sha256));
        // Two challenges in one header field, plus one we do not know.
        let both = format!("{RFC_SHA256}, {RFC_MD5}, Digest realm=\"x\", nonce=\"n\", algorithm=SHA-1");
        let cs = parse_challenge_header(&both, false).expect("two");
        assert_eq!(cs.len(), 2, "the SHA-1 one is skipped");
        let cs = parse_challenge_header(&format!("Basic realm=\"r\", {RFC_MD5}"), true).expect("after Basic");
        assert_eq!(cs.len(), 1);
        assert!(cs[0].proxy);
        assert_eq!(authorization_header(&cs[0]), "Proxy-Authorization");
    }

    #[test]
    fn rfc2617_example_without_qop_and_stale_flag() {
        // RFC 2617 §3.5 (RFC 2069 compatible when no qop is offered).
        let c = parse_challenge_header(
            "Digest realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", stale=TRUE",
            false,
        )
        .expect("parse")
        .remove(0);
        assert!(c.stale && c.qop.is_empty() && c.opaque.is_none());
        let a = authorize(&c, &mufasa(), "GET", "/dir/index.html", b"", 1, "0a4f113b");
        assert!(!a.contains("qop="), "{a}");
        // With qop=auth and the RFC's cnonce the well-known answer comes out.
        let c = Challenge { qop: vec!["auth".into()], stale: false, ..c };
        let creds = ClientCredentials { username: "Mufasa".into(), password: "Circle Of Life".into() };
        let a = authorize(&c, &creds, "GET", "/dir/index.html", b"", 1, "0a4f113b");
        assert_eq!(response_of(&a), "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn bad_challenges_are_errors_not_panics() {
        assert_eq!(parse_challenge_header("Basic realm=\"x\"", false), Err(DigestError::NotDigest));
        assert_eq!(parse_challenge_header("Digest nonce=\"n\"", false), Err(DigestError::Missing("realm")));
        assert_eq!(parse_challenge_header("Digest realm=\"r\", nonce=\"n", false), Err(DigestError::Syntax));
        assert!(matches!(
            parse_challenge_header("Digest realm=r, nonce=n, algorithm=SHA-1", false),
            Err(DigestError::Algorithm(_))
        ));
        for s in [
            "",
            "=",
            "Digest =",
            "Digest ,,,",
            "Digest realm=\"\\",
            "디지스트 realm=1",
            "\"",
            "Digest a=\"한글\"",
            "Digest realm=\"\\한\", nonce=n",
            "Digest realm=\"a\\",
        ] {
            let _ = parse_challenge_header(s, false);
            let _ = parse_authorization(s);
        }
        let c = parse_challenge_header("Digest realm=\"\\한글\", nonce=n", false).expect("escaped Hangul");
        assert_eq!(c[0].realm, "한글");
        let only_int = parse_challenge_header("Digest realm=r, nonce=n, qop=\"auth-conf\"", false).expect("parse");
        assert!(choose(&only_int).is_none(), "no qop we can do");
    }

    #[test]
    fn mutated_challenges_never_panic_and_what_is_chosen_verifies() {
        // A cheap stand-in for the sip_auth fuzz target: the RFC challenge
        // with bytes swapped for quotes, escapes, commas, Hangul and junk.
        let pieces = ["\"", "\\", ",", "=", " ", "한", "글", "Digest ", "qop=", "auth", "-sess", "\u{0}", "é"];
        let base: Vec<char> = RFC_SHA256.chars().collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let creds = ClientCredentials { username: "u".into(), password: "p".into() };
        for _ in 0..5_000 {
            let mut t: String = base.iter().collect();
            for _ in 0..(next() % 6) {
                let chars: Vec<char> = t.chars().collect();
                let at = (next() as usize) % (chars.len() + 1);
                let ins = pieces[(next() as usize) % pieces.len()];
                let cut = ((next() % 3) as usize).min(chars.len() - at.min(chars.len()));
                t = chars[..at].iter().collect::<String>() + ins + &chars[at + cut..].iter().collect::<String>();
            }
            let _ = parse_authorization(&t);
            if let Ok(cs) = parse_challenge_header(&t, false) {
                if let Some(c) = choose(&cs) {
                    let a = authorize(c, &creds, "REGISTER", "sip:x", b"", 1, "cn");
                    let r = parse_authorization(&a).expect("own header parses");
                    assert!(verify(&r, "REGISTER", "p", b""), "{t:?} → {a}");
                }
            }
        }
    }

    #[test]
    fn quoted_strings_with_escapes_round_trip() {
        let c = parse_challenge_header(r#"Digest realm="a \"b\" c", nonce="n\\1""#, false).expect("parse").remove(0);
        assert_eq!(c.realm, "a \"b\" c");
        assert_eq!(c.nonce, "n\\1");
        let a = authorize(&c, &mufasa(), "REGISTER", "sip:r", b"", 1, "c");
        let r = parse_authorization(&a).expect("parse");
        assert_eq!((r.realm.as_str(), r.nonce.as_str()), ("a \"b\" c", "n\\1"));
    }

    #[test]
    fn server_issues_checks_and_verifies() {
        let key = NonceKey::new([7; 32], 300);
        let nonce = key.issue(1_000);
        assert_eq!(key.check(&nonce, 1_100), NonceCheck::Fresh);
        assert_eq!(key.check(&nonce, 1_301), NonceCheck::Stale);
        assert_eq!(key.check(&nonce.replace('.', ".0"), 1_100), NonceCheck::Invalid);
        assert_eq!(NonceKey::new([8; 32], 300).check(&nonce, 1_100), NonceCheck::Invalid);
        assert_eq!(key.check("zz", 1_100), NonceCheck::Invalid);

        for alg in [Algorithm::Md5, Algorithm::Sha256, Algorithm::Sha512_256] {
            let ch = challenge("sori", &nonce, alg, false);
            let c = parse_challenge_header(&ch, false).expect("own challenge").remove(0);
            assert_eq!(c.algorithm, alg);
            let creds = ClientCredentials { username: "pbx".into(), password: "s3cret".into() };
            let a = authorize(&c, &creds, "INVITE", "sip:1339@127.0.0.1", b"", 1, "abc");
            let r = parse_authorization(&a).expect("parse");
            assert!(verify(&r, "INVITE", "s3cret", b""), "{alg:?}");
            assert!(!verify(&r, "INVITE", "wrong", b""));
            assert!(!verify(&r, "BYE", "s3cret", b""), "the method is covered");
        }
        assert!(challenge("r", "n", Algorithm::Sha256, true).ends_with("stale=true"));
    }

    #[test]
    fn sess_and_auth_int_variants() {
        let c = parse_challenge_header("Digest realm=r, nonce=n, algorithm=SHA-256-sess, qop=\"auth-int\"", false)
            .expect("parse")
            .remove(0);
        assert!(c.sess);
        let a = authorize(&c, &mufasa(), "REGISTER", "sip:r", b"body", 2, "cn");
        assert!(a.contains("algorithm=SHA-256-sess") && a.contains("qop=auth-int") && a.contains("nc=00000002"));
        let r = parse_authorization(&a).expect("parse");
        assert!(verify(&r, "REGISTER", "Circle of Life", b"body"));
        assert!(!verify(&r, "REGISTER", "Circle of Life", b"other"));
    }
}
