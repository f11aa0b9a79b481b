//! SIP message model, parser and serializer (RFC 3261 §7).
//!
//! The parser is lenient where RFC 3261 asks for robustness (compact header
//! names, folded lines, LF-only line ends) and strict where a wrong guess
//! would corrupt a dialog (missing Call-ID / CSeq / Via, CSeq method
//! mismatch, short bodies). It never panics: every failure is a
//! [`ParseError`] that still carries whatever headers could be read, so the
//! caller can answer `400 Bad Request` with the right Via / Call-ID.

use std::fmt;

/// A SIP request method. Unknown tokens are kept so that the core can answer
/// `501 Not Implemented` instead of `400`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Info,
    Refer,
    Notify,
    Update,
    Prack,
    Register,
    Subscribe,
    Message,
    Publish,
    Other(String),
}

impl Method {
    pub fn parse(token: &str) -> Option<Method> {
        if token.is_empty() || !token.bytes().all(is_token_char) {
            return None;
        }
        Some(match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "REGISTER" => Method::Register,
            "SUBSCRIBE" => Method::Subscribe,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other.to_string()),
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Register => "REGISTER",
            Method::Subscribe => "SUBSCRIBE",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, uri: String },
    Response { code: u16, reason: String },
}

/// A parsed SIP message. Header names are stored in their canonical long
/// form; values are trimmed. Header order is kept (Via order matters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("message has no header/body separator")]
    Incomplete,
    #[error("bad start line: {0}")]
    StartLine(String),
    #[error("unsupported SIP version {0}")]
    Version(String),
    #[error("missing mandatory header {0}")]
    MissingHeader(&'static str),
    #[error("bad header {0}")]
    BadHeader(String),
    #[error("body shorter than Content-Length ({got} < {want})")]
    ShortBody { got: usize, want: usize },
}

/// A parse failure plus the headers that could still be read, for a 400.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    pub kind: ParseErrorKind,
    pub partial: Option<Box<Message>>,
}

/// Canonical long name of a (possibly compact) header name.
pub fn canonical_name(name: &str) -> String {
    let compact = match name.to_ascii_lowercase().as_str() {
        "v" | "via" => "Via",
        "i" | "call-id" => "Call-ID",
        "f" | "from" => "From",
        "t" | "to" => "To",
        "m" | "contact" => "Contact",
        "l" | "content-length" => "Content-Length",
        "c" | "content-type" => "Content-Type",
        "k" | "supported" => "Supported",
        "e" | "content-encoding" => "Content-Encoding",
        "s" | "subject" => "Subject",
        "o" | "event" => "Event",
        "r" | "refer-to" => "Refer-To",
        "b" | "referred-by" => "Referred-By",
        "u" | "allow-events" => "Allow-Events",
        "cseq" => "CSeq",
        "max-forwards" => "Max-Forwards",
        "record-route" => "Record-Route",
        "route" => "Route",
        "allow" => "Allow",
        "user-agent" => "User-Agent",
        "server" => "Server",
        "subscription-state" => "Subscription-State",
        _ => return name.to_string(),
    };
    compact.to_string()
}

impl Message {
    /// Parses one complete message (a UDP datagram, or a frame cut by
    /// [`super::framing`] on a stream transport).
    pub fn parse(buf: &[u8]) -> Result<Message, Box<ParseError>> {
        let fail = |kind, partial: Option<Message>| Err(Box::new(ParseError { kind, partial: partial.map(Box::new) }));
        let (head_end, body_start) = match find_head_end(buf) {
            Some(x) => x,
            // A datagram that ends right after its last header line has no
            // body: accept it (RFC 4475 §3.1.2.15's message is sent so).
            None if buf.ends_with(b"\n") => (buf.len(), buf.len()),
            None => return fail(ParseErrorKind::Incomplete, None),
        };
        let head = String::from_utf8_lossy(&buf[..head_end]);
        let mut lines = unfold(&head).into_iter();
        let first = lines.next().unwrap_or_default();
        let start = parse_start_line(&first);
        let mut headers = Vec::new();
        let mut header_err = None;
        for line in lines {
            if line.is_empty() {
                continue;
            }
            match line.split_once(':') {
                Some((name, value)) if !name.trim().is_empty() && name.trim().bytes().all(is_token_char) => {
                    let name = canonical_name(name.trim());
                    // Comma-separated Via values are distinct header field values.
                    if name == "Via" {
                        for v in split_commas(value) {
                            headers.push((name.clone(), v));
                        }
                    } else {
                        headers.push((name, value.trim().to_string()));
                    }
                }
                _ => header_err = Some(ParseErrorKind::BadHeader(truncate(&line, 60))),
            }
        }
        let rest = &buf[body_start..];
        let start = match start {
            Ok(s) => s,
            Err(kind) => {
                // What the broken line was meant to be: a response is never
                // answered, a request gets 400 / 505 (RFC 4475 §3.1.2.19).
                let start = if first.starts_with("SIP/") {
                    StartLine::Response { code: 0, reason: String::new() }
                } else {
                    let token = first.split_whitespace().next().unwrap_or("");
                    let method = Method::parse(token).unwrap_or(Method::Other(String::new()));
                    StartLine::Request { method, uri: String::new() }
                };
                let partial = Message { start, headers, body: Vec::new() };
                return fail(kind, Some(partial));
            }
        };
        let mut msg = Message { start, headers, body: Vec::new() };
        if let Some(kind) = header_err {
            return fail(kind, Some(msg));
        }
        // Content-Length: trust it on datagrams (extra bytes are dropped),
        // a shorter body is an error (RFC 3261 §18.3).
        let body_len = match msg.header("Content-Length") {
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) => n,
                Err(_) => return fail(ParseErrorKind::BadHeader("Content-Length".into()), Some(msg)),
            },
            None => rest.len(),
        };
        if rest.len() < body_len {
            return fail(ParseErrorKind::ShortBody { got: rest.len(), want: body_len }, Some(msg));
        }
        msg.body = rest[..body_len].to_vec();
        for required in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if msg.header(required).map(|v| v.is_empty()).unwrap_or(true) {
                return fail(ParseErrorKind::MissingHeader(required), Some(msg));
            }
        }
        let Some((_, cseq_method)) = msg.cseq() else {
            return fail(ParseErrorKind::BadHeader("CSeq".into()), Some(msg));
        };
        if let StartLine::Request { method, uri } = &msg.start {
            if *method != cseq_method {
                return fail(ParseErrorKind::BadHeader("CSeq method differs from request method".into()), Some(msg));
            }
            if let Err(e) = super::syntax::check_request(uri, &msg) {
                return fail(ParseErrorKind::BadHeader(e), Some(msg));
            }
        }
        Ok(msg)
    }

    pub fn request(method: Method, uri: impl Into<String>) -> Message {
        Message { start: StartLine::Request { method, uri: uri.into() }, headers: Vec::new(), body: Vec::new() }
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// First value of a header (name compared case-insensitively, canonical form).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_string(), value.into()));
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.push(name, value);
    }

    pub fn call_id(&self) -> &str {
        self.header("Call-ID").unwrap_or("")
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, Method)> {
        let v = self.header("CSeq")?;
        let mut it = v.split_whitespace();
        let n = it.next()?.parse::<u32>().ok()?;
        let m = Method::parse(it.next()?)?;
        if it.next().is_some() {
            return None;
        }
        Some((n, m))
    }

    /// Branch parameter of the top Via.
    pub fn top_branch(&self) -> Option<String> {
        self.header("Via").and_then(|v| param(v, "branch"))
    }

    pub fn from_tag(&self) -> Option<String> {
        self.header("From").and_then(|v| param(v, "tag"))
    }

    pub fn to_tag(&self) -> Option<String> {
        self.header("To").and_then(|v| param(v, "tag"))
    }

    pub fn content_type(&self) -> Option<String> {
        self.header("Content-Type").map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
    }

    pub fn body_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// Builds a response to this request per RFC 3261 §8.2.6: copies Via,
    /// From, To, Call-ID, CSeq (and Record-Route for 2xx to INVITE); adds
    /// `tag` to To when given and absent.
    pub fn response(&self, code: u16, to_tag: Option<&str>) -> Message {
        let mut r = Message {
            start: StartLine::Response { code, reason: reason_phrase(code).to_string() },
            headers: Vec::new(),
            body: Vec::new(),
        };
        for (n, v) in &self.headers {
            match n.as_str() {
                "Via" | "From" | "Call-ID" | "CSeq" => r.headers.push((n.clone(), v.clone())),
                "To" => {
                    let mut v = v.clone();
                    if let Some(tag) = to_tag {
                        if param(&v, "tag").is_none() {
                            v.push_str(";tag=");
                            v.push_str(tag);
                        }
                    }
                    r.headers.push((n.clone(), v));
                }
                "Record-Route" if (200..300).contains(&code) => r.headers.push((n.clone(), v.clone())),
                _ => {}
            }
        }
        r
    }

    pub fn with_body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Message {
        self.body = body.into();
        self.set("Content-Type", content_type);
        self
    }

    /// Serializes with CRLF line ends and a correct Content-Length.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                out.push_str(method.as_str());
                out.push(' ');
                out.push_str(uri);
                out.push_str(" SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                out.push_str(&format!("SIP/2.0 {code} {reason}\r\n"));
            }
        }
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            out.push_str(n);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Splits a header value on commas outside quotes and angle brackets,
/// each value trimmed, empty ones left out.
pub fn split_commas(v: &str) -> Vec<String> {
    split_list(v).into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// Comma-separated values outside quotes and `<…>`, honouring `\"`.
pub fn split_list(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut cur) = (0i32, false, false, String::new());
    for ch in v.chars() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth <= 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    out.push(cur);
    out
}

/// Value of a `;name=value` parameter of a header field value, looking only
/// outside the `<...>` URI part (so URI parameters are not mistaken for
/// header parameters).
pub fn param(value: &str, name: &str) -> Option<String> {
    let tail = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    tail.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The URI inside a name-addr (`"x" <sip:a@b>;tag=1` → `sip:a@b`) or the
/// addr-spec itself.
pub fn uri_of(value: &str) -> String {
    if let (Some(a), Some(b)) = (value.find('<'), value.find('>')) {
        if a < b {
            return value[a + 1..b].trim().to_string();
        }
    }
    value.split(';').next().unwrap_or("").trim().to_string()
}

fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some((i, i + 4));
    }
    buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2))
}

fn unfold(head: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if (line.starts_with(' ') || line.starts_with('\t')) && !lines.is_empty() {
            if let Some(last) = lines.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else {
            lines.push(line.to_string());
        }
    }
    lines
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseErrorKind> {
    let bad = || ParseErrorKind::StartLine(truncate(line, 80));
    if let Some(rest) = line.strip_prefix("SIP/") {
        let mut parts = rest.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if version != "2.0" {
            return Err(ParseErrorKind::Version(truncate(version, 16)));
        }
        let code =
            parts.next().and_then(|c| c.parse::<u16>().ok()).filter(|c| (100..700).contains(c)).ok_or_else(bad)?;
        let reason = parts.next().unwrap_or("").to_string();
        return Ok(StartLine::Response { code, reason });
    }
    let mut parts = line.split(' ');
    let (Some(m), Some(uri), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let method = Method::parse(m).ok_or_else(bad)?;
    if uri.is_empty() || !uri.contains(':') {
        return Err(bad());
    }
    if version != "SIP/2.0" {
        return Err(ParseErrorKind::Version(truncate(version, 16)));
    }
    Ok(StartLine::Request { method, uri: uri.to_string() })
}

pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:1339@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1;rport\r\n\
From: \"Caller\" <sip:caller@127.0.0.1:5061;transport=udp>;tag=abc\r\n\
To: <sip:1339@127.0.0.1>\r\n\
Call-ID: c1@host\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:caller@127.0.0.1:5061>\r\n\
Max-Forwards: 70\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn parses_invite_headers_and_body() {
        let m = Message::parse(INVITE.as_bytes()).expect("parse");
        assert_eq!(m.method(), Some(&Method::Invite));
        assert_eq!(m.call_id(), "c1@host");
        assert_eq!(m.cseq(), Some((1, Method::Invite)));
        assert_eq!(m.top_branch().as_deref(), Some("z9hG4bK-1"));
        assert_eq!(m.from_tag().as_deref(), Some("abc"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.body, b"v=0\n");
    }

    #[test]
    fn uri_params_are_not_header_params() {
        assert_eq!(param("<sip:a@b;tag=no>;tag=yes", "tag").as_deref(), Some("yes"));
        assert_eq!(param("<sip:a@b;tag=no>", "tag"), None);
        assert_eq!(uri_of("\"A\" <sip:a@b;transport=udp>;tag=1"), "sip:a@b;transport=udp");
    }

    #[test]
    fn compact_and_folded_headers_are_understood() {
        let raw = "OPTIONS sip:x@y SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bKx\ni: id1\nf: <sip:a@b>;tag=1\nt: <sip:c@d>\nCSeq: 7\n  OPTIONS\nl: 0\n\n";
        let m = Message::parse(raw.as_bytes()).expect("parse");
        assert_eq!(m.call_id(), "id1");
        assert_eq!(m.cseq(), Some((7, Method::Options)));
    }

    #[test]
    fn missing_call_id_is_an_error_with_partial_headers() {
        let raw = INVITE.replace("Call-ID: c1@host\r\n", "");
        let e = Message::parse(raw.as_bytes()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::MissingHeader("Call-ID"));
        assert!(e.partial.expect("partial").header("Via").is_some());
    }

    #[test]
    fn cseq_method_mismatch_and_short_body_are_errors() {
        let raw = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
        assert!(matches!(Message::parse(raw.as_bytes()).unwrap_err().kind, ParseErrorKind::BadHeader(_)));
        let raw = INVITE.replace("Content-Length: 4", "Content-Length: 40");
        assert!(matches!(Message::parse(raw.as_bytes()).unwrap_err().kind, ParseErrorKind::ShortBody { .. }));
    }

    #[test]
    fn unknown_method_is_kept() {
        let raw = INVITE.replace("INVITE sip", "FOO sip").replace("1 INVITE", "1 FOO");
        let m = Message::parse(raw.as_bytes()).expect("parse");
        assert_eq!(m.method(), Some(&Method::Other("FOO".into())));
    }

    #[test]
    fn response_copies_dialog_headers_and_adds_tag() {
        let m = Message::parse(INVITE.as_bytes()).expect("parse");
        let r = m.response(200, Some("srv"));
        let r2 = Message::parse(&r.to_bytes()).expect("reparse");
        assert_eq!(r2.status(), Some(200));
        assert_eq!(r2.to_tag().as_deref(), Some("srv"));
        assert_eq!(r2.call_id(), "c1@host");
        assert_eq!(r2.top_branch().as_deref(), Some("z9hG4bK-1"));
    }

    #[test]
    fn garbage_never_panics() {
        let inputs: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\r\n\r\n".to_vec(),
            b"INVITE\r\n\r\n".to_vec(),
            b"SIP/2.0 abc\r\n\r\n".to_vec(),
            vec![0xff; 300],
            INVITE.as_bytes()[..100].to_vec(),
        ];
        for i in inputs {
            let _ = Message::parse(&i);
        }
        for cut in 0..INVITE.len() {
            let _ = Message::parse(&INVITE.as_bytes()[..cut]);
        }
    }
}
