//! Syntax checks of the request parts a user agent server relies on
//! (RFC 3261 §25): the Request-URI, Via, and the name-addr / addr-spec
//! headers (From, To, Contact, Route, Record-Route), plus header fields that
//! may appear only once. What RFC 4475 §3.1.2 calls invalid fails here, so the
//! endpoint answers 400 instead of guessing; what it calls valid but odd
//! (folding, LWS around `/ ; =`, escaped quotes, token display names without
//! a space before `<`) passes.

use super::message::{split_list, Message};

/// Header fields a request carries at most once (RFC 3261 §7.3.1: only
/// comma-list headers may repeat). Compact forms are already canonical.
const SINGLE: [&str; 7] = ["Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length", "Content-Type"];

/// Checks a parsed request; the error names the offending part.
pub fn check_request(uri: &str, msg: &Message) -> Result<(), String> {
    request_uri(uri).map_err(|e| format!("Request-URI: {e}"))?;
    for name in SINGLE {
        if msg.headers_named(name).nth(1).is_some() {
            return Err(format!("{name} appears more than once"));
        }
    }
    for v in msg.headers_named("Via") {
        via(v).map_err(|e| format!("Via: {e}"))?;
    }
    for name in ["From", "To"] {
        if let Some(v) = msg.header(name) {
            name_addr(v).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    for name in ["Contact", "Route", "Record-Route"] {
        for v in msg.headers_named(name) {
            for one in split_list(v) {
                if name == "Contact" && one.trim() == "*" {
                    continue;
                }
                name_addr(&one).map_err(|e| format!("{name}: {e}"))?;
            }
        }
    }
    Ok(())
}

/// The scheme of an absolute URI (`sip`, `tel`, …), lower-cased; `None`
/// when the text does not start with a valid scheme and a colon.
pub fn scheme(uri: &str) -> Option<String> {
    let (s, _) = uri.split_once(':')?;
    let mut b = s.bytes();
    let first_ok = b.next().map(|c| c.is_ascii_alphabetic()).unwrap_or(false);
    (first_ok && b.all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))).then(|| s.to_ascii_lowercase())
}

/// A Request-URI: `scheme:rest`, no whitespace or angle brackets, and for
/// SIP(S) no `?headers` part (RFC 4475 §3.1.2.7, §3.1.2.11).
fn request_uri(uri: &str) -> Result<(), &'static str> {
    let Some(s) = scheme(uri) else {
        return Err("no scheme");
    };
    if uri.len() <= s.len() + 1 {
        return Err("empty after scheme");
    }
    if uri.bytes().any(|c| c.is_ascii_whitespace() || c == b'<' || c == b'>' || c == b'"') {
        return Err("illegal character");
    }
    if (s == "sip" || s == "sips") && host_part(uri).contains('?') {
        return Err("escaped headers are not allowed here");
    }
    Ok(())
}

/// What follows the userinfo of a SIP URI (`host:port;params?headers`).
/// `?` is legal in the user part, so only the part after the last `@` counts.
fn host_part(uri: &str) -> &str {
    match uri.rfind('@') {
        Some(i) => &uri[i + 1..],
        None => uri.split_once(':').map(|(_, r)| r).unwrap_or(uri),
    }
}

/// `SIP / 2.0 / UDP host[:port] *( ; param )`, LWS allowed around `/`.
fn via(v: &str) -> Result<(), &'static str> {
    let (head, params) = split_first_semi(v);
    let mut parts = head.splitn(3, '/');
    let (Some(name), Some(version), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("no sent-protocol");
    };
    if !is_token(name.trim()) || !is_token(version.trim()) {
        return Err("bad sent-protocol");
    }
    let mut words = rest.split_whitespace();
    let (Some(transport), Some(sent_by), None) = (words.next(), words.next(), words.next()) else {
        return Err("bad transport or sent-by");
    };
    if !is_token(transport) || !sent_by.bytes().all(|c| c.is_ascii_alphanumeric() || b".-:[]_".contains(&c)) {
        return Err("bad transport or sent-by");
    }
    generic_params(params)
}

/// `[display-name] <URI> *(;param)` or `addr-spec *(;param)`.
fn name_addr(v: &str) -> Result<(), &'static str> {
    let s = v.trim();
    if s.is_empty() {
        return Err("empty");
    }
    let after = if s.starts_with('"') {
        let end = quoted_end(s).ok_or("unterminated quoted string")?;
        let rest = s[end..].trim_start();
        if !rest.starts_with('<') {
            return Err("quoted display name without <URI>");
        }
        angle_uri(rest)?
    } else if let Some(lt) = s.find('<') {
        let display = &s[..lt];
        if !display.chars().all(|c| c == ' ' || c == '\t' || (c.is_ascii() && is_token_byte(c as u8))) {
            return Err("display name must be tokens or quoted");
        }
        angle_uri(&s[lt..])?
    } else {
        // addr-spec: the URI ends at the first ';' (the rest are header
        // parameters), so it may not hold ',', '?' or spaces (RFC 3261 §20).
        let (uri, params) = split_first_semi(s);
        let uri = uri.trim();
        if scheme(uri).is_none() {
            return Err("no URI scheme");
        }
        if uri.bytes().any(|c| c.is_ascii_whitespace() || b",?>\"".contains(&c)) {
            return Err("a URI with , ? or spaces must be inside <>");
        }
        return generic_params(params);
    };
    let after = after.trim_start();
    if after.is_empty() {
        return Ok(());
    }
    match after.strip_prefix(';') {
        Some(p) => generic_params(Some(p)),
        None => Err("text after <URI>"),
    }
}

/// `<URI>` at the start of `s`: no LWS inside the brackets (RFC 4475
/// §3.1.2.14); returns what follows `>`.
fn angle_uri(s: &str) -> Result<&str, &'static str> {
    let inner_end = s.find('>').ok_or("< without >")?;
    let inner = &s[1..inner_end];
    if inner.is_empty() || inner.bytes().any(|c| c.is_ascii_whitespace() || c == b'<') {
        return Err("spaces or < inside <URI>");
    }
    if scheme(inner).is_none() {
        return Err("no URI scheme");
    }
    Ok(&s[inner_end + 1..])
}

/// `;`-separated parameters after the first one was cut off: each has a
/// non-empty token name and, after `=`, a non-empty value.
fn generic_params(params: Option<&str>) -> Result<(), &'static str> {
    let Some(params) = params else {
        return Ok(());
    };
    for p in split_outside_quotes(params, ';') {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (p.trim(), None),
        };
        if !is_token(name) {
            return Err("empty or bad parameter name");
        }
        if value.map(|v| v.is_empty()).unwrap_or(false) {
            return Err("parameter with = but no value");
        }
        if let Some(v) = value {
            if v.starts_with('"') && quoted_end(v) != Some(v.len()) {
                return Err("bad quoted parameter value");
            }
        }
    }
    Ok(())
}

/// Splits at the first `;` outside a quoted string: (head, params after it).
fn split_first_semi(s: &str) -> (&str, Option<&str>) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => return (&s[..i], Some(&s[i + 1..])),
            _ => {}
        }
    }
    (s, None)
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut start) = (false, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Byte index just past the closing quote of the quoted string that `s`
/// starts with (quoted-pairs honoured), or `None` when it is unterminated.
fn quoted_end(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        for ok in [
            "<sip:a@b>",
            "\"A \\\"B\\\"\" <sip:a@b>;tag=1",
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com> ; tag = 98asjd8",
            "caller<sip:caller@example.com>;tag=323",
            "token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;p=\"x;y\";tag=_t",
            "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
            "isbn:2983792873",
        ] {
            assert_eq!(name_addr(ok), Ok(()), "{ok}");
        }
        for bad in [
            "\"Mr. J. User <sip:j.user@example.com>",
            "\"Watson, Thomas\" < sip:t.watson@example.org >",
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "\"Joe\" <sip:joe@example.org>;;;;",
            "<sip:a@b>;tag=",
            "",
        ] {
            assert!(name_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn via_forms() {
        assert_eq!(via("SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw"), Ok(()));
        assert_eq!(via("SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8"), Ok(()));
        assert_eq!(via("SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas;rport"), Ok(()));
        assert!(via("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(via(";").is_err());
        assert!(via("SIP/2.0/UDP").is_err());
    }

    #[test]
    fn request_uris() {
        assert_eq!(request_uri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1@example.com"), Ok(()));
        assert_eq!(request_uri("nobodyknowsthisscheme:totallyopaquecontent"), Ok(()));
        assert!(request_uri("<sip:user@example.com>").is_err());
        assert!(request_uri("sip:user@example.com?Route=%3Csip:example.com%3E").is_err());
        assert!(request_uri("nocolon").is_err());
        assert_eq!(scheme("soap.beep://192.0.2.103:3002").as_deref(), Some("soap.beep"));
    }
}
