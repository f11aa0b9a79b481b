//! One trunk's registration as a UAC (RFC 3261 §10), sans-IO.
//!
//! Inputs: `now`, responses to its REGISTERs, and [`Registration::unregister`]
//! at shutdown. Outputs: REGISTER requests to send (to the trunk's registrar
//! or outbound proxy, chosen by the I/O edge), status changes (one
//! [`RegEvent`] per change, so the log gets one line per change, not one per
//! attempt) and its next timeout.
//!
//! - 401/407 → one authenticated retry with the strongest digest offered;
//!   a second challenge right after answering a fresh nonce (or a 403 to an
//!   authenticated REGISTER) means wrong credentials: `auth-rejected`, retried
//!   only after a long pause;
//! - `stale=true` → answered again with the new nonce, not a failure;
//! - refreshes at 3/4 of the granted expiry, with the last challenge answered
//!   up front (nc + 1) and the same Call-ID, CSeq + 1;
//! - failures (timeouts, 4xx-6xx) back off exponentially up to a cap;
//! - 423 Interval Too Brief → again with the registrar's Min-Expires;
//! - un-REGISTER (Expires: 0) on shutdown.
//!
//! The client transaction (retransmission at T1 doubling to T2 over UDP,
//! 64·T1 timeout) is kept here too.
//!
//! Over TCP/TLS (`RegConfig::transport` "TCP"/"TLS") the registration rides
//! on one connection, the *flow*, that the I/O edge opens when
//! [`Registration::poll_connect`] asks for it and reports with
//! [`Registration::flow_up`] (its local address goes into Via and Contact, so
//! the registrar sends calls back over it) and [`Registration::flow_lost`]:
//! a lost flow of a working registration is reconnected at once (once per
//! `retry_base`), failed connects back off like failed REGISTERs, and an
//! untrusted server certificate waits `auth_retry`, like wrong credentials.
//! The REGISTER after a reconnect removes the old flow's binding
//! (`Contact: <old>;expires=0`). No retransmissions on a stream.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::digest::{self, Challenge, ClientCredentials};
use super::message::{param, uri_of, Message, Method};

/// What a registration is configured with (built from a `[[trunk]]`).
#[derive(Debug, Clone)]
pub struct RegConfig {
    /// `sip:user@domain`: From and To.
    pub aor: String,
    /// The REGISTER's Request-URI (`sip:domain[:port]`).
    pub request_uri: String,
    /// Where the registrar reaches sori (`sip:user@ip:port;transport=udp`).
    pub contact: String,
    /// `ip:port` of sori's socket for the Via.
    pub via_sent_by: String,
    /// Route to the outbound proxy (`<sip:proxy;lr>`), if any.
    pub route: Option<String>,
    pub creds: ClientCredentials,
    /// Answer challenges of this realm only (None: any).
    pub realm: Option<String>,
    /// Requested expiry in seconds.
    pub expires: u32,
    /// First back-off after a failure; doubles up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Pause after the registrar rejected the credentials.
    pub auth_retry: Duration,
    pub t1: Duration,
    pub t2: Duration,
    pub user_agent: String,
    /// "UDP", "TCP" or "TLS": the Via's transport; TCP/TLS use a flow.
    pub transport: &'static str,
}

impl RegConfig {
    /// Over TCP/TLS: a connection must be up before sending.
    pub fn stream(&self) -> bool {
        self.transport != "UDP"
    }
}

/// The registration's state as shown in logs, `/healthz` and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegStatus {
    /// Not registered (before the first attempt, after un-REGISTER).
    Unregistered,
    /// The first attempt is under way.
    Registering,
    Registered,
    /// The last attempt failed (timeout, error status); retrying with back-off.
    Failed,
    /// The registrar refused the credentials; retrying after a long pause.
    AuthRejected,
}

impl RegStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RegStatus::Unregistered => "unregistered",
            RegStatus::Registering => "registering",
            RegStatus::Registered => "registered",
            RegStatus::Failed => "failed",
            RegStatus::AuthRejected => "auth-rejected",
        }
    }
}

/// A status change, with what caused it (for the one log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegEvent {
    pub status: RegStatus,
    pub detail: String,
    /// When the next attempt will be made (failures), or the refresh (registered).
    pub next_in: Option<Duration>,
}

/// Stale challenges answered in a row before it counts as a failure (a
/// registrar that always says stale would loop otherwise).
const MAX_STALE: u32 = 3;

struct Tx {
    branch: String,
    cseq: u32,
    bytes: Vec<u8>,
    retrans_at: Option<Instant>,
    interval: Duration,
    deadline: Instant,
    /// Credentials were sent, computed on a challenge just received.
    fresh_auth: bool,
    /// Credentials were sent at all.
    authed: bool,
    expires: u32,
}

pub struct Registration {
    cfg: RegConfig,
    call_id: String,
    from_tag: String,
    cseq: u32,
    rng: u64,
    status: RegStatus,
    challenge: Option<Challenge>,
    nc: u32,
    tx: Option<Tx>,
    /// Requested expiry (raised by 423).
    expires: u32,
    refresh_at: Option<Instant>,
    retry_at: Option<Instant>,
    failures: u32,
    stale_in_row: u32,
    unregistering: bool,
    done: bool,
    /// When the current registration runs out.
    expires_at: Option<Instant>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<RegEvent>,
    /// Over TCP/TLS: the connection (flow) is up.
    flow_up: bool,
    /// Over TCP/TLS: the edge should open a connection.
    want_connect: bool,
    /// Over TCP/TLS: the edge should close the connection (a REGISTER on it went unanswered).
    want_close: bool,
    /// The last immediate reconnect of a lost flow (at most one per `retry_base`).
    quick_reconnect_at: Option<Instant>,
    /// A previous flow's Contact, removed (expires=0) by the next REGISTER.
    old_contact: Option<String>,
    /// The registrar accepted the current Contact.
    contact_registered: bool,
    /// Counters for /metrics.
    pub failures_total: u64,
    pub registered_total: u64,
}

impl Registration {
    pub fn new(cfg: RegConfig, seed: u64) -> Registration {
        let mut r = Registration {
            expires: cfg.expires,
            cfg,
            call_id: String::new(),
            from_tag: String::new(),
            cseq: 0,
            rng: seed | 1,
            status: RegStatus::Unregistered,
            challenge: None,
            nc: 0,
            tx: None,
            refresh_at: None,
            retry_at: None,
            failures: 0,
            stale_in_row: 0,
            unregistering: false,
            done: false,
            expires_at: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            flow_up: false,
            want_connect: false,
            want_close: false,
            quick_reconnect_at: None,
            old_contact: None,
            contact_registered: false,
            failures_total: 0,
            registered_total: 0,
        };
        r.call_id = format!("{}@sori", r.token());
        r.from_tag = r.token();
        r
    }

    fn token(&mut self) -> String {
        // xorshift64*: Call-IDs, tags, branches and cnonces need uniqueness, not secrecy.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        format!("{:016x}", self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D))
    }

    pub fn status(&self) -> RegStatus {
        self.status
    }

    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Un-REGISTER finished (or there was nothing to undo).
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<RegEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        let tx = self.tx.as_ref().map(|t| t.retrans_at.map_or(t.deadline, |r| r.min(t.deadline)));
        let expiry = self.expires_at.filter(|_| self.status == RegStatus::Registered);
        let idle =
            if self.tx.is_none() { [self.refresh_at, self.retry_at, expiry].into_iter().flatten().min() } else { None };
        [tx, idle].into_iter().flatten().min()
    }

    /// The first REGISTER (over TCP/TLS: first the connection).
    pub fn start(&mut self, now: Instant) {
        self.set_status(RegStatus::Registering, "registering".into(), None);
        self.attempt(now);
    }

    /// A new REGISTER, or over TCP/TLS without a flow a request for one.
    fn attempt(&mut self, now: Instant) {
        if self.cfg.stream() && !self.flow_up {
            self.want_connect = true;
        } else {
            self.send(now, false);
        }
    }

    /// Over TCP/TLS: true once when the edge should open the connection.
    pub fn poll_connect(&mut self) -> bool {
        std::mem::take(&mut self.want_connect) && !self.unregistering && !self.done
    }

    /// Over TCP/TLS: true once when the edge should close the connection
    /// (and forget it: the registration has already given it up).
    pub fn poll_close(&mut self) -> bool {
        std::mem::take(&mut self.want_close)
    }

    /// Where this registration is reached now (Contact URI).
    pub fn contact(&self) -> &str {
        &self.cfg.contact
    }

    /// Over TCP/TLS: the connection is up, reached at `contact` (its URI)
    /// with `via_sent_by` its local address. Registers over it at once.
    pub fn flow_up(&mut self, now: Instant, contact: String, via_sent_by: String) {
        if self.done || self.unregistering {
            return;
        }
        if contact != self.cfg.contact && self.contact_registered {
            // The registrar may still hold the old flow's binding.
            self.old_contact = Some(std::mem::replace(&mut self.cfg.contact, contact));
        } else {
            self.cfg.contact = contact;
        }
        self.contact_registered = false;
        self.cfg.via_sent_by = via_sent_by;
        self.flow_up = true;
        self.want_connect = false;
        self.retry_at = None;
        self.refresh_at = None;
        self.send(now, false);
    }

    /// Over TCP/TLS: the connection could not be opened, or closed.
    /// `permanent`: retrying soon cannot help (the server's certificate is
    /// not trusted), so the next try waits `auth_retry`.
    pub fn flow_lost(&mut self, now: Instant, detail: String, permanent: bool) {
        let was_up = std::mem::replace(&mut self.flow_up, false);
        self.want_connect = false;
        self.tx = None;
        if self.unregistering {
            self.done = true;
            self.expires_at = None;
            return;
        }
        if self.done {
            return;
        }
        let registered = self.status == RegStatus::Registered;
        // The registrar's binding points at the dead connection.
        self.expires_at = None;
        if permanent {
            self.failures += 1;
            self.failures_total += 1;
            self.challenge = None;
            self.schedule_retry(now, self.cfg.auth_retry);
            return self.set_status(RegStatus::Failed, detail, Some(self.cfg.auth_retry));
        }
        let quick_ok = self.quick_reconnect_at.is_none_or(|t| now.saturating_duration_since(t) >= self.cfg.retry_base);
        if was_up && registered && quick_ok {
            self.quick_reconnect_at = Some(now);
            self.failures_total += 1;
            self.refresh_at = None;
            self.retry_at = None;
            self.want_connect = true;
            return self.set_status(RegStatus::Failed, detail, Some(Duration::ZERO));
        }
        self.failed(now, detail);
    }

    /// Ends the registration: REGISTER with Expires: 0 when one may be in
    /// force, else done at once.
    pub fn unregister(&mut self, now: Instant) {
        if self.done || self.unregistering {
            return;
        }
        self.unregistering = true;
        self.refresh_at = None;
        self.retry_at = None;
        if self.expires_at.is_none_or(|t| t <= now) {
            self.tx = None;
            self.done = true;
            return;
        }
        self.send(now, false);
    }

    fn set_status(&mut self, status: RegStatus, detail: String, next_in: Option<Duration>) {
        if status != self.status {
            self.status = status;
            self.events.push_back(RegEvent { status, detail, next_in });
        }
    }

    /// Sends a new REGISTER (CSeq + 1) with credentials when a challenge is known.
    fn send(&mut self, now: Instant, fresh_auth: bool) {
        self.cseq += 1;
        let branch = format!("z9hG4bK{}", self.token());
        let expires = if self.unregistering { 0 } else { self.expires };
        let c = &self.cfg;
        let mut m = Message::request(Method::Register, c.request_uri.clone());
        m.push("Via", format!("SIP/2.0/{} {};branch={branch};rport", c.transport, c.via_sent_by));
        m.push("Max-Forwards", "70");
        if let Some(r) = &c.route {
            m.push("Route", r.clone());
        }
        m.push("From", format!("<{}>;tag={}", c.aor, self.from_tag));
        m.push("To", format!("<{}>", c.aor));
        m.push("Call-ID", self.call_id.clone());
        m.push("CSeq", format!("{} REGISTER", self.cseq));
        m.push("Contact", format!("<{}>", c.contact));
        if let Some(old) = &self.old_contact {
            m.push("Contact", format!("<{old}>;expires=0"));
        }
        m.push("Expires", expires.to_string());
        m.push("Allow", super::endpoint::ALLOW);
        m.push("User-Agent", c.user_agent.clone());
        let authed = self.challenge.is_some();
        if let Some(ch) = self.challenge.clone() {
            self.nc += 1;
            let cnonce = self.token();
            let v = digest::authorize(&ch, &self.cfg.creds, "REGISTER", &self.cfg.request_uri, b"", self.nc, &cnonce);
            m.push(digest::authorization_header(&ch), v);
        }
        let bytes = m.to_bytes();
        self.transmits.push_back(bytes.clone());
        let t1 = self.cfg.t1;
        // An un-REGISTER at shutdown waits a few seconds at most.
        let life = if self.unregistering { (t1 * 8).min(Duration::from_secs(4)) } else { t1 * 64 };
        self.tx = Some(Tx {
            branch,
            cseq: self.cseq,
            bytes,
            // Reliable transports are not retransmitted (RFC 3261 §17.1.2.1).
            retrans_at: (!self.cfg.stream()).then_some(now + t1),
            interval: t1,
            deadline: now + life,
            fresh_auth,
            authed,
            expires,
        });
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.done {
            return;
        }
        self.check_expiry(now);
        if let Some(tx) = &mut self.tx {
            if now >= tx.deadline {
                self.tx = None;
                if self.unregistering {
                    self.done = true;
                    return;
                }
                if self.cfg.stream() && self.flow_up {
                    // A connection that carries no answer is given up and reopened.
                    self.want_close = true;
                    let detail = "no answer from the registrar (timeout); connection closed".to_string();
                    return self.flow_lost(now, detail, false);
                }
                return self.failed(now, "no answer from the registrar (timeout)".into());
            }
            if tx.retrans_at.is_some_and(|t| now >= t) {
                self.transmits.push_back(tx.bytes.clone());
                tx.interval = (tx.interval * 2).min(self.cfg.t2);
                tx.retrans_at = Some(now + tx.interval);
            }
            return;
        }
        if self.refresh_at.is_some_and(|t| now >= t) {
            self.refresh_at = None;
            self.attempt(now);
        } else if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            self.stale_in_row = 0;
            // A new attempt starts without stale credentials.
            self.challenge = None;
            self.attempt(now);
        }
    }

    /// A response; returns false when it is not for this registration.
    pub fn handle_response(&mut self, now: Instant, msg: &Message) -> bool {
        let Some(code) = msg.status() else { return false };
        if msg.call_id() != self.call_id {
            return false;
        }
        let Some(tx) = &self.tx else { return true };
        if msg.top_branch().as_deref() != Some(tx.branch.as_str()) || msg.cseq().map(|c| c.0) != Some(tx.cseq) {
            return true; // a late or duplicate response of an earlier REGISTER
        }
        if code < 200 {
            let stream = self.cfg.stream();
            if let Some(tx) = &mut self.tx {
                tx.retrans_at = (!stream).then_some(now + self.cfg.t2);
                tx.interval = self.cfg.t2;
            }
            return true;
        }
        let Some(tx) = self.tx.take() else { return true };
        if self.unregistering {
            if (code == 401 || code == 407) && !tx.fresh_auth {
                if let Some(ch) = self.pick_challenge(msg) {
                    self.challenge = Some(ch);
                    self.nc = 0;
                    self.send(now, true);
                    return true;
                }
            }
            self.done = true;
            self.expires_at = None;
            self.set_status(RegStatus::Unregistered, format!("un-REGISTER answered {code}"), None);
            return true;
        }
        match code {
            200..=299 => self.registered(now, msg, &tx),
            401 | 407 => self.challenged(now, msg, &tx, code),
            423 => {
                let min = msg.header("Min-Expires").and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(0);
                if min > self.expires && min <= 86_400 * 7 {
                    self.expires = min;
                    self.send(now, false);
                } else {
                    self.failed(now, format!("423 Interval Too Brief without a usable Min-Expires ({min})"));
                }
            }
            403 if tx.authed => self.auth_rejected(now, format!("403 {}", reason(msg))),
            _ => self.failed(now, format!("{code} {}", reason(msg))),
        }
        true
    }

    fn pick_challenge(&self, msg: &Message) -> Option<Challenge> {
        let cs = digest::parse_challenges(msg).ok()?;
        let cs: Vec<Challenge> =
            cs.into_iter().filter(|c| self.cfg.realm.as_ref().is_none_or(|r| *r == c.realm)).collect();
        digest::choose(&cs).cloned()
    }

    fn challenged(&mut self, now: Instant, msg: &Message, tx: &Tx, code: u16) {
        let ch = match digest::parse_challenges(msg) {
            Err(e) => return self.failed(now, format!("{code} with an unusable challenge: {e}")),
            Ok(cs) => {
                let ours: Vec<Challenge> =
                    cs.iter().filter(|c| self.cfg.realm.as_ref().is_none_or(|r| *r == c.realm)).cloned().collect();
                match digest::choose(&ours) {
                    Some(c) => c.clone(),
                    None if ours.is_empty() => {
                        let realms: Vec<&str> = cs.iter().map(|c| c.realm.as_str()).collect();
                        return self.failed(
                            now,
                            format!("{code}: challenge for realm {realms:?}, not the configured {:?}", self.cfg.realm),
                        );
                    }
                    None => return self.failed(now, format!("{code}: no digest challenge with a supported qop")),
                }
            }
        };
        if ch.stale {
            self.stale_in_row += 1;
            if self.stale_in_row > MAX_STALE {
                return self.failed(now, format!("{code}: stale nonce {MAX_STALE} times in a row"));
            }
        } else if tx.authed && tx.fresh_auth {
            // We answered a challenge we had just been given and were
            // challenged again without stale: the credentials are wrong.
            return self.auth_rejected(now, format!("{code} after authenticating (realm {:?})", ch.realm));
        }
        self.challenge = Some(ch);
        self.nc = 0;
        self.send(now, true);
    }

    fn registered(&mut self, now: Instant, msg: &Message, tx: &Tx) {
        let granted = granted_expiry(msg, &self.cfg.contact).unwrap_or(tx.expires);
        if granted == 0 {
            return self.failed(now, "registrar granted 0 seconds".into());
        }
        self.failures = 0;
        self.stale_in_row = 0;
        self.old_contact = None;
        self.contact_registered = true;
        self.registered_total += 1;
        self.expires_at = Some(now + Duration::from_secs(granted as u64));
        let refresh = Duration::from_millis(granted as u64 * 750).max(Duration::from_secs(1));
        self.refresh_at = Some(now + refresh);
        self.retry_at = None;
        self.set_status(RegStatus::Registered, format!("registered for {granted} s"), Some(refresh));
    }

    fn failed(&mut self, now: Instant, detail: String) {
        self.failures += 1;
        self.failures_total += 1;
        self.challenge = None;
        let exp = self.failures.saturating_sub(1).min(16);
        let backoff = self.cfg.retry_base.saturating_mul(1 << exp).min(self.cfg.retry_max);
        self.schedule_retry(now, backoff);
        if self.expires_at.is_some_and(|t| t > now) && self.status == RegStatus::Registered {
            // The registration in force still holds until it runs out: the
            // state turns to failed only if a retry has not fixed it by then.
            return;
        }
        self.expires_at = None;
        self.set_status(RegStatus::Failed, detail, Some(backoff));
    }

    fn auth_rejected(&mut self, now: Instant, detail: String) {
        self.failures += 1;
        self.failures_total += 1;
        self.challenge = None;
        self.expires_at = None;
        self.schedule_retry(now, self.cfg.auth_retry);
        self.set_status(RegStatus::AuthRejected, detail, Some(self.cfg.auth_retry));
    }

    fn schedule_retry(&mut self, now: Instant, after: Duration) {
        self.refresh_at = None;
        let mut at = now + after;
        // Retry before a registration still in force runs out.
        if let Some(exp) = self.expires_at.filter(|t| *t > now) {
            at = at.min(exp);
        }
        self.retry_at = Some(at);
    }

    /// The registration in force ran out without a successful refresh.
    fn check_expiry(&mut self, now: Instant) {
        if self.status == RegStatus::Registered && self.expires_at.is_some_and(|t| t <= now) && self.tx.is_none() {
            self.expires_at = None;
            self.set_status(RegStatus::Failed, "registration ran out before a refresh succeeded".into(), None);
        }
    }
}

fn reason(msg: &Message) -> String {
    match &msg.start {
        super::message::StartLine::Response { reason, .. } => reason.clone(),
        _ => String::new(),
    }
}

/// Seconds the registrar granted our contact: its `expires` parameter in
/// the 2xx's Contact list, else the Expires header.
fn granted_expiry(msg: &Message, our_contact: &str) -> Option<u32> {
    let contacts: Vec<String> = msg.headers_named("Contact").flat_map(super::message::split_commas).collect();
    let ours = contacts.iter().find(|c| same_uri(&uri_of(c), our_contact)).or(if contacts.len() == 1 {
        contacts.first()
    } else {
        None
    });
    ours.and_then(|c| param(c, "expires"))
        .and_then(|e| e.parse().ok())
        .or_else(|| msg.header("Expires").and_then(|e| e.trim().parse().ok()))
}

fn same_uri(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().to_ascii_lowercase();
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::StartLine;

    fn cfg() -> RegConfig {
        RegConfig {
            aor: "sip:1339@pbx.example".into(),
            request_uri: "sip:pbx.example".into(),
            contact: "sip:1339@10.0.0.5:5060;transport=udp".into(),
            via_sent_by: "10.0.0.5:5060".into(),
            route: None,
            creds: ClientCredentials { username: "1339".into(), password: "pw".into() },
            realm: None,
            expires: 600,
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(60),
            auth_retry: Duration::from_secs(600),
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            user_agent: "sori/test".into(),
            transport: "UDP",
        }
    }

    fn sent(r: &mut Registration) -> Vec<Message> {
        let mut v = Vec::new();
        while let Some(b) = r.poll_transmit() {
            v.push(Message::parse(&b).expect("own REGISTER parses"));
        }
        v
    }

    fn events(r: &mut Registration) -> Vec<RegStatus> {
        let mut v = Vec::new();
        while let Some(e) = r.poll_event() {
            v.push(e.status);
        }
        v
    }

    fn reply(req: &Message, code: u16, extra: &[(&str, &str)]) -> Message {
        let mut m = req.response(code, Some("reg"));
        if let StartLine::Response { reason, .. } = &mut m.start {
            *reason = "Test".into();
        }
        for (n, v) in extra {
            m.push(n, *v);
        }
        Message::parse(&m.to_bytes()).expect("reply parses")
    }

    const CH: &str = "Digest realm=\"pbx\", nonce=\"n1\", qop=\"auth\", algorithm=MD5";
    const CH_SHA: &str = "Digest realm=\"pbx\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256";

    /// Registers through one 401 and returns the 200's time.
    fn register(r: &mut Registration, t0: Instant) -> Message {
        r.start(t0);
        let first = sent(r).remove(0);
        assert!(first.header("Authorization").is_none());
        r.handle_response(t0, &reply(&first, 401, &[("WWW-Authenticate", CH), ("WWW-Authenticate", CH_SHA)]));
        let second = sent(r).remove(0);
        let auth = second.header("Authorization").expect("authenticated retry");
        assert!(auth.contains("algorithm=SHA-256") && auth.contains("nc=00000001"), "{auth}");
        r.handle_response(
            t0,
            &reply(&second, 200, &[("Contact", "<sip:1339@10.0.0.5:5060;transport=udp>;expires=400")]),
        );
        second
    }

    #[test]
    fn registers_through_a_challenge_and_refreshes_with_the_same_call_id() {
        let t0 = Instant::now();
        let mut r = Registration::new(cfg(), 3);
        let second = register(&mut r, t0);
        assert_eq!(r.status(), RegStatus::Registered);
        assert_eq!(events(&mut r), vec![RegStatus::Registering, RegStatus::Registered]);
        assert_eq!(second.cseq().map(|c| c.0), Some(2));
        assert_eq!(second.header("Expires"), Some("600"));
        // Granted 400 s: refreshed at 300 s, not before.
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(300)));
        r.handle_timeout(t0 + Duration::from_secs(299));
        assert!(sent(&mut r).is_empty());
        let t = t0 + Duration::from_secs(300);
        r.handle_timeout(t);
        let refresh = sent(&mut r).remove(0);
        assert_eq!(refresh.call_id(), second.call_id());
        assert_eq!(refresh.cseq().map(|c| c.0), Some(3));
        assert_eq!(refresh.from_tag(), second.from_tag());
        let auth = refresh.header("Authorization").expect("pre-emptive credentials");
        assert!(auth.contains("nc=00000002"), "{auth}");
        r.handle_response(t, &reply(&refresh, 200, &[("Expires", "600")]));
        assert_eq!(r.status(), RegStatus::Registered);
        assert!(events(&mut r).is_empty(), "a refresh is not a state change");
        assert_eq!(r.poll_timeout(), Some(t + Duration::from_secs(450)));
        assert_eq!((r.registered_total, r.failures_total), (2, 0));
    }

    #[test]
    fn wrong_password_is_auth_rejected_once_with_a_long_pause() {
        let t0 = Instant::now();
        let mut r = Registration::new(cfg(), 3);
        r.start(t0);
        let mut now = t0;
        for round in 0..3 {
            let first = sent(&mut r).remove(0);
            r.handle_response(now, &reply(&first, 401, &[("WWW-Authenticate", CH)]));
            let second = sent(&mut r).remove(0);
            assert!(second.header("Authorization").is_some());
            r.handle_response(now, &reply(&second, 401, &[("WWW-Authenticate", CH)]));
            assert!(sent(&mut r).is_empty(), "no retry storm (round {round})");
            assert_eq!(r.status(), RegStatus::AuthRejected);
            assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(600)));
            now += Duration::from_secs(600);
            r.handle_timeout(now);
        }
        assert_eq!(events(&mut r), vec![RegStatus::Registering, RegStatus::AuthRejected], "logged once");
        assert_eq!(r.failures_total, 3);
        // 403 to an authenticated REGISTER means the same.
        let mut r = Registration::new(cfg(), 4);
        r.start(t0);
        let first = sent(&mut r).remove(0);
        r.handle_response(t0, &reply(&first, 407, &[("Proxy-Authenticate", CH)]));
        let second = sent(&mut r).remove(0);
        assert!(second.header("Proxy-Authorization").is_some(), "407 answered in Proxy-Authorization");
        r.handle_response(t0, &reply(&second, 403, &[]));
        assert_eq!(r.status(), RegStatus::AuthRejected);
    }

    #[test]
    fn stale_nonce_reauthenticates_without_a_failure() {
        let t0 = Instant::now();
        let mut r = Registration::new(cfg(), 3);
        register(&mut r, t0);
        events(&mut r);
        let t = t0 + Duration::from_secs(300);
        r.handle_timeout(t);
        let refresh = sent(&mut r).remove(0);
        let stale = "Digest realm=\"pbx\", nonce=\"n2\", qop=\"auth\", algorithm=SHA-256, stale=true";
        r.handle_response(t, &reply(&refresh, 401, &[("WWW-Authenticate", stale)]));
        let again = sent(&mut r).remove(0);
        let auth = again.header("Authorization").expect("auth");
        assert!(auth.contains("nonce=\"n2\"") && auth.contains("nc=00000001"), "{auth}");
        r.handle_response(t, &reply(&again, 200, &[("Expires", "600")]));
        assert_eq!(r.status(), RegStatus::Registered);
        assert!(events(&mut r).is_empty());
        assert_eq!(r.failures_total, 0);
        // A refresh with an old nonce that gets a plain (non-stale) 401 is
        // answered once with the new nonce, not taken for a wrong password.
        let t = t + Duration::from_secs(450);
        r.handle_timeout(t);
        let refresh = sent(&mut r).remove(0);
        let fresh = "Digest realm=\"pbx\", nonce=\"n3\", qop=\"auth\"";
        r.handle_response(t, &reply(&refresh, 401, &[("WWW-Authenticate", fresh)]));
        let again = sent(&mut r).remove(0);
        r.handle_response(t, &reply(&again, 200, &[("Expires", "600")]));
        assert_eq!(r.status(), RegStatus::Registered);
        assert_eq!(r.failures_total, 0);
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap() {
        let t0 = Instant::now();
        let mut r = Registration::new(cfg(), 3);
        r.start(t0);
        let mut now = t0;
        let mut pauses = Vec::new();
        for _ in 0..6 {
            let req = sent(&mut r).remove(0);
            r.handle_response(now, &reply(&req, 503, &[]));
            let next = r.poll_timeout().expect("retry scheduled");
            pauses.push((next - now).as_secs());
            now = next;
            r.handle_timeout(now);
        }
        assert_eq!(pauses, vec![5, 10, 20, 40, 60, 60]);
        assert_eq!(events(&mut r), vec![RegStatus::Registering, RegStatus::Failed]);
        // Success resets the back-off.
        let req = sent(&mut r).remove(0);
        r.handle_response(now, &reply(&req, 200, &[("Expires", "100")]));
        assert_eq!(r.status(), RegStatus::Registered);
        assert_eq!(r.failures_total, 6);
    }

    #[test]
    fn udp_retransmits_then_times_out() {
        let t0 = Instant::now();
        let mut r = Registration::new(cfg(), 3);
        r.start(t0);
        let mut sends = vec![0u64];
        sent(&mut r);
        let mut now = t0;
        while r.status() == RegStatus::Registering {
            now = r.poll_timeout().expect("timer");
            r.handle_timeout(now);
            for _ in sent(&mut r) {
                sends.push((now - t0).as_millis() as u64);
            }
        }
        assert_eq!(&sends[..6], &[0, 500, 1500, 3500, 7500, 11500]);
        assert_eq!(now - t0, Duration::from_secs(32), "64·T1");
        assert_eq!(r.status(), RegStatus::Failed);
    }

    #[test]
    fn interval_too_brief_retries_with_min_expires() {
        let t0 = Instant::now();
        let mut r = Registration::new(RegConfig { expires: 30, ..cfg() }, 3);
        r.start(t0);
        let req = sent(&mut r).remove(0);
        r.handle_response(t0, &reply(&req, 423, &[("Min-Expires", "120")]));
        let again = sent(&mut r).remove(0);
        assert_eq!(again.header("Expires"), Some("120"));
        assert_eq!(r.failures_total, 0);
    }

    #[test]
    fn foreign_and_stray_responses_are_ignored() {
        let t0 = Instant::now();
        let mut r = Registration::new(cfg(), 3);
        r.start(t0);
        let req = sent(&mut r).remove(0);
        let mut other = reply(&req, 200, &[]);
        other.set("Call-ID", "someone-else");
        assert!(!r.handle_response(t0, &other));
        let mut old = reply(&req, 200, &[]);
        old.set("CSeq", "0 REGISTER");
        assert!(r.handle_response(t0, &old));
        assert_eq!(r.status(), RegStatus::Registering);
        // A challenge without anything we can answer is a failure, not a panic.
        r.handle_response(t0, &reply(&req, 401, &[("WWW-Authenticate", "Basic realm=\"x\"")]));
        assert_eq!(r.status(), RegStatus::Failed);
    }

    #[test]
    fn realm_filter_and_outbound_proxy_route() {
        let t0 = Instant::now();
        let c = RegConfig { realm: Some("pbx".into()), route: Some("<sip:10.0.0.1:5070;lr>".into()), ..cfg() };
        let mut r = Registration::new(c, 3);
        r.start(t0);
        let req = sent(&mut r).remove(0);
        assert_eq!(req.header("Route"), Some("<sip:10.0.0.1:5070;lr>"));
        let other = "Digest realm=\"elsewhere\", nonce=\"x\", qop=\"auth\"";
        r.handle_response(t0, &reply(&req, 401, &[("WWW-Authenticate", other), ("WWW-Authenticate", CH)]));
        let again = sent(&mut r).remove(0);
        assert!(again.header("Authorization").is_some_and(|a| a.contains("realm=\"pbx\"")));
    }

    #[test]
    fn unregister_sends_expires_zero_and_finishes() {
        let t0 = Instant::now();
        let mut r = Registration::new(cfg(), 3);
        register(&mut r, t0);
        events(&mut r);
        let t = t0 + Duration::from_secs(10);
        r.unregister(t);
        let un = sent(&mut r).remove(0);
        assert_eq!(un.header("Expires"), Some("0"));
        assert!(un.header("Authorization").is_some());
        assert!(!r.is_done());
        // Challenged again (nonce used up): answered once.
        r.handle_response(t, &reply(&un, 401, &[("WWW-Authenticate", CH)]));
        let un2 = sent(&mut r).remove(0);
        r.handle_response(t, &reply(&un2, 200, &[]));
        assert!(r.is_done());
        assert_eq!(r.status(), RegStatus::Unregistered);
        assert_eq!(r.poll_timeout(), None);
        // An un-REGISTER nobody answers gives up within seconds.
        let mut r = Registration::new(cfg(), 5);
        register(&mut r, t0);
        r.unregister(t);
        while !r.is_done() {
            let at = r.poll_timeout().expect("timer");
            assert!(at <= t + Duration::from_secs(4));
            r.handle_timeout(at);
        }
        // Never registered: nothing to undo.
        let mut r = Registration::new(cfg(), 4);
        r.start(t0);
        r.unregister(t0);
        assert!(r.is_done());
    }

    fn stream_cfg() -> RegConfig {
        RegConfig {
            contact: "sip:1339@10.0.0.5:40001;transport=tcp".into(),
            via_sent_by: "10.0.0.5:40001".into(),
            transport: "TCP",
            ..cfg()
        }
    }

    #[test]
    fn stream_registers_over_its_flow_without_retransmissions() {
        let t0 = Instant::now();
        let mut r = Registration::new(stream_cfg(), 3);
        r.start(t0);
        assert!(sent(&mut r).is_empty(), "nothing before the connection is up");
        assert!(r.poll_connect());
        assert!(!r.poll_connect(), "asked once");
        assert_eq!(r.poll_timeout(), None, "the edge reports the connection");
        r.flow_up(t0, "sip:1339@10.0.0.5:40002;transport=tcp".into(), "10.0.0.5:40002".into());
        let req = sent(&mut r).remove(0);
        assert!(req.header("Via").is_some_and(|v| v.starts_with("SIP/2.0/TCP 10.0.0.5:40002;")), "{req:?}");
        assert_eq!(req.header("Contact"), Some("<sip:1339@10.0.0.5:40002;transport=tcp>"));
        // No retransmission on a reliable transport: only the 64·T1 timeout.
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        r.handle_timeout(t0 + Duration::from_secs(31));
        assert!(sent(&mut r).is_empty());
        r.handle_response(t0, &reply(&req, 200, &[("Expires", "600")]));
        assert_eq!(r.status(), RegStatus::Registered);
        assert_eq!(r.contact(), "sip:1339@10.0.0.5:40002;transport=tcp");
    }

    /// A registration over TCP, its flow up and the REGISTER answered 200.
    fn registered_over_a_flow() -> (Instant, Registration) {
        let t0 = Instant::now();
        let mut r = Registration::new(stream_cfg(), 3);
        r.start(t0);
        assert!(r.poll_connect());
        r.flow_up(t0, "sip:1339@10.0.0.5:40002;transport=tcp".into(), "10.0.0.5:40002".into());
        let req = sent(&mut r).remove(0);
        r.handle_response(t0, &reply(&req, 200, &[("Expires", "600")]));
        (t0, r)
    }

    #[test]
    fn lost_flow_reconnects_at_once_then_backs_off_and_drops_the_old_binding() {
        let (t0, mut r) = registered_over_a_flow();
        events(&mut r);
        // The registered flow closes: reconnect right away, state failed.
        let t1 = t0 + Duration::from_secs(100);
        r.flow_lost(t1, "connection lost: closed by the server".into(), false);
        assert_eq!(r.status(), RegStatus::Failed);
        assert!(r.poll_connect(), "reconnects at once");
        assert_eq!(r.poll_timeout(), None);
        r.flow_up(t1, "sip:1339@10.0.0.5:40003;transport=tcp".into(), "10.0.0.5:40003".into());
        let req = sent(&mut r).remove(0);
        let contacts: Vec<&str> = req.headers_named("Contact").collect();
        assert_eq!(
            contacts,
            vec!["<sip:1339@10.0.0.5:40003;transport=tcp>", "<sip:1339@10.0.0.5:40002;transport=tcp>;expires=0"],
            "the old flow's binding is removed"
        );
        r.handle_response(t1, &reply(&req, 200, &[("Contact", "<sip:1339@10.0.0.5:40003;transport=tcp>;expires=600")]));
        assert_eq!(r.status(), RegStatus::Registered);
        assert_eq!(events(&mut r), vec![RegStatus::Failed, RegStatus::Registered]);
        // Lost again soon after: no second immediate reconnect, back-off instead.
        let t2 = t1 + Duration::from_secs(1);
        r.flow_lost(t2, "connection lost: closed by the server".into(), false);
        assert!(!r.poll_connect());
        assert_eq!(r.poll_timeout(), Some(t2 + Duration::from_secs(5)));
        // Connecting fails: the back-off doubles; each retry asks for a connection.
        r.handle_timeout(t2 + Duration::from_secs(5));
        assert!(r.poll_connect() && sent(&mut r).is_empty());
        let t3 = t2 + Duration::from_secs(5);
        r.flow_lost(t3, "cannot connect: refused".into(), false);
        assert_eq!(r.poll_timeout(), Some(t3 + Duration::from_secs(10)));
        let t4 = t3 + Duration::from_secs(10);
        r.handle_timeout(t4);
        assert!(r.poll_connect());
        r.flow_up(t4, "sip:1339@10.0.0.5:40004;transport=tcp".into(), "10.0.0.5:40004".into());
        let req = sent(&mut r).remove(0);
        let contacts: Vec<&str> = req.headers_named("Contact").collect();
        assert_eq!(contacts[1], "<sip:1339@10.0.0.5:40003;transport=tcp>;expires=0", "{contacts:?}");
        r.handle_response(t4, &reply(&req, 200, &[("Expires", "600")]));
        // A flow that never registered leaves nothing to remove.
        let t5 = t4 + Duration::from_secs(200);
        r.flow_lost(t5, "connection lost".into(), false);
        assert!(r.poll_connect());
        r.flow_up(t5, "sip:1339@10.0.0.5:40005;transport=tcp".into(), "10.0.0.5:40005".into());
        let req = sent(&mut r).remove(0);
        r.flow_lost(t5, "connection lost".into(), false);
        let t6 = r.poll_timeout().expect("retry");
        r.handle_timeout(t6);
        assert!(r.poll_connect());
        r.flow_up(t6, "sip:1339@10.0.0.5:40006;transport=tcp".into(), "10.0.0.5:40006".into());
        let again = sent(&mut r).remove(0);
        assert_eq!(req.headers_named("Contact").nth(1), again.headers_named("Contact").nth(1), "still 40004's removal");
    }

    #[test]
    fn untrusted_certificate_fails_once_and_waits_long() {
        let t0 = Instant::now();
        let mut r = Registration::new(RegConfig { transport: "TLS", ..stream_cfg() }, 3);
        r.start(t0);
        let mut now = t0;
        for _ in 0..3 {
            assert!(r.poll_connect());
            r.flow_lost(now, "TLS handshake failed: invalid peer certificate: UnknownIssuer".into(), true);
            assert!(!r.poll_connect());
            assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(600)), "auth_retry, not a storm");
            now += Duration::from_secs(600);
            r.handle_timeout(now);
        }
        assert_eq!(events(&mut r), vec![RegStatus::Registering, RegStatus::Failed], "one state change");
        assert_eq!(r.failures_total, 3);
        // Shutdown without a connection: nothing to undo.
        r.unregister(now);
        assert!(r.is_done() && !r.poll_connect());
    }

    #[test]
    fn unanswered_register_on_a_flow_closes_it_and_reconnects() {
        let (t0, mut r) = registered_over_a_flow();
        // The refresh at 450 s gets no answer within 64·T1.
        let t = t0 + Duration::from_secs(450);
        r.handle_timeout(t);
        assert_eq!(sent(&mut r).len(), 1);
        assert!(!r.poll_close());
        let t = t + Duration::from_secs(32);
        r.handle_timeout(t);
        assert!(r.poll_close(), "the silent connection is closed");
        assert!(r.poll_connect(), "and a new one opened at once");
        assert_eq!(r.status(), RegStatus::Failed);
        assert!(sent(&mut r).is_empty());
    }
}
