//! The SIP core of sori as a sans-IO state machine: a user agent server for
//! incoming calls, with RFC 3261 transactions (§17), dialogs (§12) and the
//! few client requests a call needs (BYE, REFER).
//!
//! Feed it datagrams / stream frames with [`Endpoint::handle_input`] and the
//! clock with [`Endpoint::handle_timeout`]; drain [`Endpoint::poll_transmit`]
//! and [`Endpoint::poll_event`]; sleep until [`Endpoint::poll_timeout`].
//! It never reads a clock or touches a socket, so the RFC timers are unit
//! tests that run in microseconds.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::message::{param, uri_of, Message, Method, ParseError, StartLine};

pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REFER, NOTIFY";
const USER_AGENT: &str = concat!("sori/", env!("CARGO_PKG_VERSION"));

/// Connection a message travelled on. UDP is connectionless; each accepted
/// TCP connection has an id given by the I/O driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    /// A TCP connection, by the driver's id.
    Tcp(u64),
    /// A TLS connection (SIP over TLS, RFC 3261 §26), by the driver's id.
    Tls(u64),
}

impl Transport {
    pub fn reliable(&self) -> bool {
        !matches!(self, Transport::Udp)
    }
    fn via_name(&self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp(_) => "TCP",
            Transport::Tls(_) => "TLS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub peer: Peer,
    pub bytes: Vec<u8>,
}

pub type CallHandle = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The caller sent BYE.
    RemoteBye,
    /// The caller sent CANCEL before the call was answered.
    Cancelled,
    /// Our 2xx was never acknowledged (64·T1).
    AckTimeout,
    /// We hung up and the BYE transaction finished (any response or timeout).
    LocalBye,
    /// We refused the call with this final status.
    Rejected(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferOutcome {
    /// 202 Accepted: the transferee will try.
    Accepted,
    /// Final non-2xx to REFER, or 408 on timeout.
    Rejected(u16),
    /// NOTIFY sipfrag status line code (100 trying, 200 connected, 4xx-6xx failed).
    Progress(u16),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new INVITE. 100 Trying has been sent; answer with
    /// [`Endpoint::ringing`], [`Endpoint::accept`] or [`Endpoint::reject`].
    IncomingCall {
        call: CallHandle,
        invite: Box<Message>,
        peer: Peer,
    },
    /// ACK for our 2xx arrived (its body carries an SDP answer when the INVITE had no offer).
    Confirmed {
        call: CallHandle,
        ack_body: Vec<u8>,
    },
    /// A re-INVITE (hold, unhold, new media address); answer with [`Endpoint::answer_reinvite`].
    ReInvite {
        call: CallHandle,
        offer: Box<Message>,
    },
    /// A DTMF digit received as SIP INFO.
    Info {
        call: CallHandle,
        content_type: String,
        body: String,
    },
    Refer {
        call: CallHandle,
        outcome: ReferOutcome,
    },
    Ended {
        call: CallHandle,
        reason: EndReason,
    },
}

/// RFC 3261 timer base values.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers { t1: Duration::from_millis(500), t2: Duration::from_secs(4), t4: Duration::from_secs(5) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// INVITE received, no final response yet.
    Early,
    /// 2xx sent, waiting for ACK.
    Answered,
    Confirmed,
    /// Non-2xx final response sent, waiting for ACK (Timer G/H).
    Rejected,
    /// BYE sent or received; waiting only for transactions to finish.
    Ending,
}

struct Call {
    call_id: String,
    local_tag: String,
    remote_tag: String,
    /// Our URI (the INVITE's To) with our tag.
    local_party: String,
    /// The caller's From value.
    remote_party: String,
    remote_target: String,
    route_set: Vec<String>,
    peer: Peer,
    local: SocketAddr,
    local_cseq: u32,
    remote_cseq: u32,
    state: CallState,
    invite: Message,
    invite_branch: String,
    /// Last response sent to the INVITE (for retransmitted INVITEs and timers G / 2xx).
    last_response: Option<Vec<u8>>,
    retrans_at: Option<Instant>,
    retrans_interval: Duration,
    deadline: Option<Instant>,
    pending_bye: bool,
    /// RFC 3326 Reason header for our BYE (e.g. the call-duration cap).
    bye_reason: Option<String>,
    /// Ended was already reported (ACK timeout), the closing BYE is silent.
    ended_reported: bool,
    /// An in-progress re-INVITE waiting for the application's answer.
    reinvite: Option<Message>,
    reinvite_last: Option<(u32, Vec<u8>)>,
    refer_pending: bool,
}

struct ServerTx {
    peer: Peer,
    last_response: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientKind {
    Bye,
    Refer,
}

struct ClientTx {
    call: CallHandle,
    kind: ClientKind,
    peer: Peer,
    bytes: Vec<u8>,
    interval: Duration,
    retrans_at: Option<Instant>,
    deadline: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerRef {
    Call(CallHandle),
    ServerTx(String),
    ClientTx(String),
}

pub struct Endpoint {
    timers_cfg: Timers,
    calls: HashMap<CallHandle, Call>,
    by_call_id: HashMap<String, CallHandle>,
    by_invite_branch: HashMap<String, CallHandle>,
    server_txs: HashMap<String, (ServerTx, Instant)>,
    client_txs: HashMap<String, ClientTx>,
    timers: BinaryHeap<Reverse<(Instant, TimerRef)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_handle: CallHandle,
    draining: bool,
    rng: u64,
}

impl Endpoint {
    pub fn new(timers: Timers, seed: u64) -> Self {
        Endpoint {
            timers_cfg: timers,
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            by_invite_branch: HashMap::new(),
            server_txs: HashMap::new(),
            client_txs: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_handle: 1,
            draining: false,
            rng: seed | 1,
        }
    }

    /// Stop taking new calls: new INVITEs get 503 from now on.
    pub fn set_draining(&mut self) {
        self.draining = true;
    }

    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Number of transaction and call entries held (for leak checks).
    pub fn state_size(&self) -> (usize, usize, usize) {
        (self.calls.len(), self.server_txs.len(), self.client_txs.len())
    }

    /// Gives back memory after a burst: tables shrink once they are mostly
    /// empty, so an idle endpoint holds nothing for calls that are gone.
    pub fn compact(&mut self) {
        fn shrink<K: std::hash::Hash + Eq, V>(m: &mut HashMap<K, V>) {
            if m.capacity() > 64 && m.len() * 4 < m.capacity() {
                m.shrink_to_fit();
            }
        }
        shrink(&mut self.calls);
        shrink(&mut self.by_call_id);
        shrink(&mut self.by_invite_branch);
        shrink(&mut self.server_txs);
        shrink(&mut self.client_txs);
        if self.timers.capacity() > 64 && self.timers.len() * 4 < self.timers.capacity() {
            self.timers.shrink_to_fit();
        }
        if self.transmits.capacity() > 64 && self.transmits.is_empty() {
            self.transmits.shrink_to_fit();
        }
        if self.events.capacity() > 64 && self.events.is_empty() {
            self.events.shrink_to_fit();
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    fn random_token(&mut self) -> String {
        // xorshift64*: tags and branches need uniqueness, not secrecy.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        format!("{:016x}", self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D))
    }

    fn schedule(&mut self, at: Instant, what: TimerRef) {
        self.timers.push(Reverse((at, what)));
    }

    fn send(&mut self, peer: Peer, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { peer, bytes });
    }

    // ---------------------------------------------------------------- input

    /// One datagram or stream frame from `peer`.
    pub fn handle_input(&mut self, now: Instant, peer: Peer, bytes: &[u8]) {
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return; // keep-alive
        }
        match Message::parse(bytes) {
            Ok(msg) => match msg.start {
                StartLine::Request { .. } => self.handle_request(now, peer, msg),
                StartLine::Response { .. } => self.handle_response(now, msg),
            },
            Err(e) => self.handle_parse_error(now, peer, e),
        }
    }

    fn handle_parse_error(&mut self, _now: Instant, peer: Peer, e: Box<ParseError>) {
        tracing::debug!(error = %e, peer = %peer.addr, "malformed SIP message");
        // A 400 can only be routed back when there is a Via; a malformed
        // response or ACK is dropped silently (RFC 3261 §17.2.3, §18.1.2).
        let ParseError { kind, partial } = *e;
        let Some(partial) = partial else { return };
        if partial.header("Via").is_none() || matches!(partial.start, StartLine::Response { .. }) {
            return;
        }
        let is_ack = partial.header("CSeq").map(|c| c.split_whitespace().nth(1) == Some("ACK")).unwrap_or(false);
        if is_ack {
            return;
        }
        let code = match kind {
            super::message::ParseErrorKind::Version(_) => 505,
            _ => 400,
        };
        let mut r = partial.response(code, None);
        r.start = StartLine::Response { code, reason: format!("{} ({})", super::message::reason_phrase(code), kind) };
        // Response to a partial message: make sure the mandatory headers exist.
        for h in ["From", "To", "Call-ID"] {
            if r.header(h).is_none() {
                r.push(h, "<sip:invalid@invalid>");
            }
        }
        if r.cseq().is_none() {
            let method = match &partial.start {
                StartLine::Request { method, .. } => method.as_str().to_string(),
                StartLine::Response { .. } => "INVITE".to_string(),
            };
            r.set("CSeq", format!("0 {method}"));
        }
        self.finish_response(&mut r, peer);
        self.send(peer, r.to_bytes());
    }

    fn finish_response(&self, r: &mut Message, peer: Peer) {
        // RFC 3581 rport / RFC 3261 §18.2.1 received on the top Via.
        if let Some(top) = r.headers.iter_mut().find(|(n, _)| n == "Via") {
            let v = &mut top.1;
            if v.contains(";rport") && param(v, "rport").map(|p| p.is_empty()).unwrap_or(false) {
                *v = v.replacen(";rport", &format!(";rport={}", peer.addr.port()), 1);
                if param(v, "received").is_none() {
                    v.push_str(&format!(";received={}", peer.addr.ip()));
                }
            }
        }
        r.push("Server", USER_AGENT);
    }

    /// The top Via branch when it is an RFC 3261 transaction id: the magic
    /// cookie and something after it (RFC 4475 §3.2.1 sends the cookie alone).
    /// With the top Via's sent-by, as RFC 3261 §17.2.3 matches: two clients
    /// may well pick the same branch.
    fn rfc3261_branch(msg: &Message) -> Option<String> {
        let branch = msg.top_branch().filter(|b| b.starts_with("z9hG4bK") && b.len() > "z9hG4bK".len())?;
        let via = msg.header("Via").unwrap_or("");
        let sent_by = via.split(';').next().unwrap_or("").split_whitespace().last().unwrap_or("");
        Some(format!("{branch}|{}", sent_by.to_ascii_lowercase()))
    }

    /// Key of an INVITE transaction, shared by its CANCEL and non-2xx ACK:
    /// the branch, or for RFC 2543 peers Call-ID, CSeq number and From tag.
    fn invite_key(msg: &Message) -> String {
        Self::rfc3261_branch(msg).unwrap_or_else(|| {
            format!(
                "2543|{}|{}|{}",
                msg.call_id(),
                msg.cseq().map(|c| c.0).unwrap_or(0),
                msg.from_tag().unwrap_or_default()
            )
        })
    }

    fn server_tx_key(msg: &Message) -> String {
        let method = msg.cseq().map(|(_, m)| m.as_str().to_string()).unwrap_or_default();
        match Self::rfc3261_branch(msg) {
            Some(b) => format!("{b}|{method}"),
            None => format!(
                "{}|{}|{}|{}",
                msg.call_id(),
                msg.header("CSeq").unwrap_or(""),
                msg.from_tag().unwrap_or_default(),
                method
            ),
        }
    }

    fn respond(
        &mut self,
        now: Instant,
        peer: Peer,
        req: &Message,
        code: u16,
        to_tag: Option<&str>,
        extra: &[(&str, String)],
    ) {
        let mut r = req.response(code, to_tag);
        for (n, v) in extra {
            r.push(n, v.clone());
        }
        self.finish_response(&mut r, peer);
        let bytes = r.to_bytes();
        self.send(peer, bytes.clone());
        // Remember the response so retransmitted requests get it again (Timer J).
        if req.method() != Some(&Method::Invite) && req.method() != Some(&Method::Ack) {
            let key = Self::server_tx_key(req);
            let linger = if peer.transport.reliable() { Duration::ZERO } else { self.timers_cfg.t1 * 64 };
            if !linger.is_zero() {
                let at = now + linger;
                self.server_txs.insert(key.clone(), (ServerTx { peer, last_response: Some(bytes) }, at));
                self.schedule(at, TimerRef::ServerTx(key));
            }
        }
    }

    fn handle_request(&mut self, now: Instant, peer: Peer, msg: Message) {
        let Some(method) = msg.method().cloned() else {
            return;
        };
        if method != Method::Ack {
            let key = Self::server_tx_key(&msg);
            if let Some((tx, _)) = self.server_txs.get(&key) {
                // A retransmission: absorbed, the last response is repeated.
                if let Some(r) = tx.last_response.clone() {
                    let p = tx.peer;
                    self.send(p, r);
                }
                return;
            }
        }
        // Max-Forwards 0 matters to proxies only: an endpoint processes the
        // request as usual (RFC 4475 §3.3.11).
        if method != Method::Ack && !Self::known_scheme(&msg) {
            return self.respond(now, peer, &msg, 416, None, &[]);
        }
        if method != Method::Ack && method != Method::Cancel {
            let unsupported: Vec<String> = msg
                .headers_named("Require")
                .flat_map(|v| v.split(',').map(|s| s.trim().to_string()).collect::<Vec<_>>())
                .filter(|opt| !opt.is_empty() && opt != "timer")
                .collect();
            if !unsupported.is_empty() {
                let extra = [("Unsupported", unsupported.join(", "))];
                return self.respond(now, peer, &msg, 420, None, &extra);
            }
        }
        match method {
            Method::Invite => self.handle_invite(now, peer, msg),
            Method::Ack => self.handle_ack(now, msg),
            Method::Cancel => self.handle_cancel(now, peer, msg),
            Method::Bye => self.handle_bye(now, peer, msg),
            // A draining server tells a load balancer's health probe so
            // (kamailio's dispatcher marks the node down and sends new calls
            // elsewhere); an in-dialog OPTIONS still gets 200.
            Method::Options if self.draining && msg.to_tag().is_none() => {
                self.respond(now, peer, &msg, 503, None, &[("Retry-After", "30".into())])
            }
            Method::Options => {
                let extra = [
                    ("Allow", ALLOW.to_string()),
                    ("Accept", "application/sdp".to_string()),
                    ("Supported", "replaces".to_string()),
                ];
                self.respond(now, peer, &msg, 200, None, &extra)
            }
            Method::Info => self.handle_info(now, peer, msg),
            Method::Notify => self.handle_notify(now, peer, msg),
            Method::Other(_) => self.respond(now, peer, &msg, 501, None, &[("Allow", ALLOW.to_string())]),
            _ => self.respond(now, peer, &msg, 405, None, &[("Allow", ALLOW.to_string())]),
        }
    }

    /// sip, sips or tel Request-URI (RFC 4475 §3.3.2, §3.3.3: others 416).
    fn known_scheme(msg: &Message) -> bool {
        let StartLine::Request { uri, .. } = &msg.start else {
            return true;
        };
        matches!(super::syntax::scheme(uri).as_deref(), Some("sip" | "sips" | "tel"))
    }

    /// An Accept header that rules out application/sdp: a 2xx to INVITE
    /// always carries SDP, so such an INVITE gets 406 (RFC 4475 §3.3.15).
    fn refuses_sdp(msg: &Message) -> bool {
        let mut ranges = msg
            .headers_named("Accept")
            .flat_map(|v| v.split(',').map(|r| r.split(';').next().unwrap_or("").trim().to_ascii_lowercase()))
            .filter(|r| !r.is_empty())
            .peekable();
        ranges.peek().is_some() && !ranges.any(|r| r == "application/sdp" || r == "application/*" || r == "*/*")
    }

    fn find_dialog(&self, msg: &Message) -> Option<CallHandle> {
        let h = *self.by_call_id.get(msg.call_id())?;
        let call = self.calls.get(&h)?;
        // An RFC 2543 caller may have no From tag at all (RFC 4475 §3.4.1).
        let from_ok = msg.from_tag().unwrap_or_default() == call.remote_tag;
        let to_ok = msg.to_tag().as_deref() == Some(call.local_tag.as_str());
        (from_ok && to_ok).then_some(h)
    }

    fn handle_invite(&mut self, now: Instant, peer: Peer, msg: Message) {
        let branch = Self::invite_key(&msg);
        if let Some(&h) = self.by_invite_branch.get(&branch) {
            // Retransmitted INVITE: repeat the last response.
            if let Some(call) = self.calls.get(&h) {
                if call.invite.call_id() == msg.call_id() {
                    if let Some(r) = call.last_response.clone() {
                        let p = call.peer;
                        self.send(p, r);
                    }
                    return;
                }
            }
        }
        if msg.to_tag().is_some() {
            return self.handle_reinvite(now, peer, msg);
        }
        if self.draining {
            return self.respond(now, peer, &msg, 503, None, &[("Retry-After", "30".into())]);
        }
        if !msg.body.is_empty() && msg.content_type().as_deref() != Some("application/sdp") {
            // The UAS core understands SDP bodies only (RFC 3261 §8.2.3, RFC 4475 §3.3.6).
            return self.respond(now, peer, &msg, 415, None, &[("Accept", "application/sdp".into())]);
        }
        if Self::refuses_sdp(&msg) {
            return self.respond(now, peer, &msg, 406, None, &[("Accept", "application/sdp".into())]);
        }
        if self.by_call_id.contains_key(msg.call_id()) {
            // Same Call-ID, new branch, no To tag: a forked/looped request.
            return self.respond(now, peer, &msg, 482, None, &[]);
        }
        let handle = self.next_handle;
        self.next_handle += 1;
        let local_tag = self.random_token();
        let mut trying = msg.response(100, None);
        self.finish_response(&mut trying, peer);
        let trying = trying.to_bytes();
        self.send(peer, trying.clone());
        let remote_target =
            msg.header("Contact").map(uri_of).unwrap_or_else(|| uri_of(msg.header("From").unwrap_or("")));
        let route_set = msg.headers_named("Record-Route").flat_map(super::message::split_commas).collect();
        let call = Call {
            call_id: msg.call_id().to_string(),
            local_party: format!("{};tag={}", msg.header("To").unwrap_or(""), local_tag),
            local_tag,
            remote_tag: msg.from_tag().unwrap_or_default(),
            remote_party: msg.header("From").unwrap_or("").to_string(),
            remote_target,
            route_set,
            peer,
            local: peer.addr,
            local_cseq: self.rng as u32 % 10_000 + 1,
            remote_cseq: msg.cseq().map(|c| c.0).unwrap_or(0),
            state: CallState::Early,
            invite_branch: branch.clone(),
            invite: msg.clone(),
            last_response: Some(trying),
            retrans_at: None,
            retrans_interval: self.timers_cfg.t1,
            deadline: None,
            pending_bye: false,
            bye_reason: None,
            ended_reported: false,
            reinvite: None,
            reinvite_last: None,
            refer_pending: false,
        };
        self.by_call_id.insert(call.call_id.clone(), handle);
        self.by_invite_branch.insert(branch, handle);
        self.calls.insert(handle, call);
        self.events.push_back(Event::IncomingCall { call: handle, invite: Box::new(msg), peer });
    }

    fn handle_reinvite(&mut self, now: Instant, peer: Peer, msg: Message) {
        let Some(h) = self.find_dialog(&msg) else {
            return self.respond(now, peer, &msg, 481, None, &[]);
        };
        let cseq = msg.cseq().map(|c| c.0).unwrap_or(0);
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        if let Some((n, bytes)) = &call.reinvite_last {
            if *n == cseq {
                let (p, b) = (call.peer, bytes.clone());
                return self.send(p, b);
            }
        }
        if call.state != CallState::Confirmed || call.reinvite.is_some() {
            // RFC 3261 §14.2: an INVITE while one is pending gets 491 (500 if ours is pending).
            return self.respond(now, peer, &msg, 491, None, &[]);
        }
        if cseq <= call.remote_cseq {
            return self.respond(now, peer, &msg, 500, None, &[]);
        }
        call.remote_cseq = cseq;
        if let Some(c) = msg.header("Contact") {
            call.remote_target = uri_of(c);
        }
        call.reinvite = Some(msg.clone());
        let mut trying = msg.response(100, None);
        self.finish_response(&mut trying, peer);
        self.send(peer, trying.to_bytes());
        self.events.push_back(Event::ReInvite { call: h, offer: Box::new(msg) });
    }

    fn handle_ack(&mut self, now: Instant, msg: Message) {
        // ACK for a non-2xx final shares the INVITE's branch.
        let branch = Self::invite_key(&msg);
        // Some UACs give that ACK a fresh branch: fall back to the Call-ID.
        let by_branch = self.by_invite_branch.get(&branch).copied();
        let rejected = by_branch.or_else(|| self.by_call_id.get(msg.call_id()).copied());
        if let Some(h) = rejected {
            if let Some(call) = self.calls.get_mut(&h) {
                if call.state == CallState::Rejected {
                    call.retrans_at = None;
                    // Timer I absorbs further ACK retransmissions, then the state goes.
                    let linger = if call.peer.transport.reliable() { Duration::ZERO } else { self.timers_cfg.t4 };
                    call.deadline = Some(now + linger);
                    self.schedule(now + linger, TimerRef::Call(h));
                    return;
                }
            }
        }
        let Some(h) = self.find_dialog(&msg) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        if call.state == CallState::Answered {
            call.state = CallState::Confirmed;
            call.retrans_at = None;
            call.deadline = None;
            self.events.push_back(Event::Confirmed { call: h, ack_body: msg.body.clone() });
            if call.pending_bye {
                self.send_bye(now, h);
            }
        }
        // ACK for a re-INVITE 2xx: nothing to do (re-INVITE answers are not retransmitted
        // beyond the transaction layer's repeat of retransmitted requests).
    }

    fn handle_cancel(&mut self, now: Instant, peer: Peer, msg: Message) {
        let branch = Self::invite_key(&msg);
        let Some(&h) = self.by_invite_branch.get(&branch) else {
            return self.respond(now, peer, &msg, 481, None, &[]);
        };
        let Some(call) = self.calls.get(&h) else {
            return self.respond(now, peer, &msg, 481, None, &[]);
        };
        let local_tag = call.local_tag.clone();
        let early = call.state == CallState::Early;
        self.respond(now, peer, &msg, 200, Some(&local_tag), &[]);
        if early {
            self.final_reject(now, h, 487);
            self.events.push_back(Event::Ended { call: h, reason: EndReason::Cancelled });
        }
    }

    fn handle_bye(&mut self, now: Instant, peer: Peer, msg: Message) {
        let Some(h) = self.find_dialog(&msg) else {
            return self.respond(now, peer, &msg, 481, None, &[]);
        };
        self.respond(now, peer, &msg, 200, None, &[]);
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        if call.state == CallState::Ending {
            return; // BYEs crossed; ours will complete on its own.
        }
        // Pending client transactions (a REFER) die with the dialog.
        self.client_txs.retain(|_, tx| tx.call != h);
        self.remove_call(h);
        self.events.push_back(Event::Ended { call: h, reason: EndReason::RemoteBye });
    }

    fn handle_info(&mut self, now: Instant, peer: Peer, msg: Message) {
        let Some(h) = self.find_dialog(&msg) else {
            return self.respond(now, peer, &msg, 481, None, &[]);
        };
        let ct = msg.content_type().unwrap_or_default();
        if !msg.body.is_empty() && ct != "application/dtmf-relay" && ct != "application/dtmf" {
            return self.respond(
                now,
                peer,
                &msg,
                415,
                None,
                &[("Accept", "application/dtmf-relay, application/dtmf".into())],
            );
        }
        self.respond(now, peer, &msg, 200, None, &[]);
        if !msg.body.is_empty() {
            self.events.push_back(Event::Info { call: h, content_type: ct, body: msg.body_str().into_owned() });
        }
    }

    fn handle_notify(&mut self, now: Instant, peer: Peer, msg: Message) {
        let Some(h) = self.find_dialog(&msg) else {
            return self.respond(now, peer, &msg, 481, None, &[]);
        };
        let event = msg.header("Event").unwrap_or("").to_ascii_lowercase();
        if !event.starts_with("refer") {
            return self.respond(now, peer, &msg, 489, None, &[]);
        }
        self.respond(now, peer, &msg, 200, None, &[]);
        // Body is a message/sipfrag status line: "SIP/2.0 200 OK".
        let body = msg.body_str();
        let code = body
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("SIP/2.0 "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|c| c.parse::<u16>().ok());
        if let Some(code) = code {
            self.events.push_back(Event::Refer { call: h, outcome: ReferOutcome::Progress(code) });
        }
    }

    fn handle_response(&mut self, now: Instant, msg: Message) {
        let Some(code) = msg.status() else { return };
        let Some(branch) = msg.top_branch() else {
            return;
        };
        let Some(tx) = self.client_txs.get_mut(&branch) else {
            return;
        };
        if code < 200 {
            // Provisional: stop fast retransmissions (Timer E continues at T2).
            tx.interval = self.timers_cfg.t2;
            return;
        }
        let Some(tx) = self.client_txs.remove(&branch) else {
            return;
        };
        self.client_finished(now, tx, code);
    }

    fn client_finished(&mut self, _now: Instant, tx: ClientTx, code: u16) {
        match tx.kind {
            ClientKind::Bye => {
                if let Some(call) = self.calls.get(&tx.call) {
                    let reported = call.ended_reported;
                    self.remove_call(tx.call);
                    if !reported {
                        self.events.push_back(Event::Ended { call: tx.call, reason: EndReason::LocalBye });
                    }
                }
            }
            ClientKind::Refer => {
                if let Some(call) = self.calls.get_mut(&tx.call) {
                    call.refer_pending = false;
                }
                let outcome =
                    if (200..300).contains(&code) { ReferOutcome::Accepted } else { ReferOutcome::Rejected(code) };
                self.events.push_back(Event::Refer { call: tx.call, outcome });
            }
        }
    }

    // --------------------------------------------------------------- timers

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, what))) = self.timers.pop() else {
                break;
            };
            match what {
                TimerRef::ServerTx(key) => {
                    if self.server_txs.get(&key).map(|(_, exp)| *exp <= now).unwrap_or(false) {
                        self.server_txs.remove(&key);
                    }
                }
                TimerRef::ClientTx(branch) => self.client_timer(now, at, branch),
                TimerRef::Call(h) => self.call_timer(now, at, h),
            }
        }
    }

    fn client_timer(&mut self, now: Instant, at: Instant, branch: String) {
        let Some(tx) = self.client_txs.get_mut(&branch) else {
            return;
        };
        if tx.deadline <= now {
            // Timer F: the request timed out.
            if let Some(tx) = self.client_txs.remove(&branch) {
                self.client_finished(now, tx, 408);
            }
            return;
        }
        if tx.retrans_at == Some(at) {
            // Timer E.
            let (peer, bytes) = (tx.peer, tx.bytes.clone());
            tx.interval = (tx.interval * 2).min(self.timers_cfg.t2);
            let next = now + tx.interval;
            tx.retrans_at = Some(next);
            self.send(peer, bytes);
            self.schedule(next, TimerRef::ClientTx(branch));
        }
    }

    fn call_timer(&mut self, now: Instant, at: Instant, h: CallHandle) {
        let t2 = self.timers_cfg.t2;
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        if call.deadline.map(|d| d <= now).unwrap_or(false) {
            call.deadline = None;
            call.retrans_at = None;
            match call.state {
                CallState::Answered => {
                    // 64·T1 without ACK: the dialog is confirmed then ended with BYE (§13.3.1.4).
                    call.state = CallState::Confirmed;
                    call.ended_reported = true;
                    self.send_bye(now, h);
                    self.events.push_back(Event::Ended { call: h, reason: EndReason::AckTimeout });
                }
                CallState::Rejected => {
                    // Timer H (no ACK) or Timer I (ACK absorbed): done.
                    self.remove_call(h);
                }
                _ => {}
            }
            return;
        }
        if call.retrans_at == Some(at) {
            // Timer G for non-2xx, 2xx retransmission for answered calls (§13.3.1.4).
            if let Some(r) = call.last_response.clone() {
                let p = call.peer;
                call.retrans_interval = (call.retrans_interval * 2).min(t2);
                let next = now + call.retrans_interval;
                call.retrans_at = Some(next);
                self.send(p, r);
                self.schedule(next, TimerRef::Call(h));
            }
        }
    }

    fn remove_call(&mut self, h: CallHandle) {
        if let Some(call) = self.calls.remove(&h) {
            self.by_call_id.remove(&call.call_id);
            self.by_invite_branch.remove(&call.invite_branch);
        }
    }

    // ------------------------------------------------------------- commands

    fn contact(call: &Call) -> String {
        let t = match call.peer.transport {
            Transport::Udp => "",
            Transport::Tcp(_) => ";transport=tcp",
            Transport::Tls(_) => ";transport=tls",
        };
        format!("<sip:sori@{}{}>", call.local, t)
    }

    /// Sends a response to the INVITE of `h` and arms retransmission.
    fn invite_response(&mut self, now: Instant, h: CallHandle, code: u16, sdp: Option<&str>) {
        self.invite_response_with(now, h, code, sdp, &[]);
    }

    fn invite_response_with(
        &mut self,
        now: Instant,
        h: CallHandle,
        code: u16,
        sdp: Option<&str>,
        extra: &[(&str, String)],
    ) {
        let Some(call) = self.calls.get(&h) else {
            return;
        };
        let mut r = call.invite.response(code, Some(&call.local_tag));
        for (n, v) in extra {
            r.push(n, v.clone());
        }
        if (101..300).contains(&code) {
            r.push("Contact", Self::contact(call));
        }
        if (200..300).contains(&code) {
            r.push("Allow", ALLOW);
            r.push("Supported", "replaces");
        }
        if let Some(sdp) = sdp {
            r = r.with_body("application/sdp", sdp.as_bytes().to_vec());
        }
        let peer = call.peer;
        self.finish_response(&mut r, peer);
        let bytes = r.to_bytes();
        self.send(peer, bytes.clone());
        let t1 = self.timers_cfg.t1;
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        call.last_response = Some(bytes);
        if code >= 200 {
            let reliable = call.peer.transport.reliable();
            call.retrans_interval = t1;
            call.retrans_at = (!reliable).then_some(now + t1);
            call.deadline = Some(now + t1 * 64);
            if let Some(at) = call.retrans_at {
                self.schedule(at, TimerRef::Call(h));
            }
            self.schedule(now + t1 * 64, TimerRef::Call(h));
        }
    }

    /// Where our side of the call is reached (for Contact / Via).
    pub fn set_local_addr(&mut self, h: CallHandle, local: SocketAddr) {
        if let Some(c) = self.calls.get_mut(&h) {
            c.local = local;
        }
    }

    pub fn ringing(&mut self, now: Instant, h: CallHandle) {
        if self.calls.get(&h).map(|c| c.state == CallState::Early).unwrap_or(false) {
            self.invite_response(now, h, 180, None);
        }
    }

    /// Answers the call with 200 OK carrying `sdp`. Returns false when the
    /// call is gone (cancelled meanwhile).
    pub fn accept(&mut self, now: Instant, h: CallHandle, sdp: &str) -> bool {
        if self.calls.get(&h).map(|c| c.state != CallState::Early).unwrap_or(true) {
            return false;
        }
        if let Some(c) = self.calls.get_mut(&h) {
            c.state = CallState::Answered;
        }
        self.invite_response(now, h, 200, Some(sdp));
        true
    }

    fn final_reject(&mut self, now: Instant, h: CallHandle, code: u16) {
        self.final_reject_with(now, h, code, &[]);
    }

    fn final_reject_with(&mut self, now: Instant, h: CallHandle, code: u16, extra: &[(&str, String)]) {
        if self.calls.get(&h).map(|c| c.state != CallState::Early).unwrap_or(true) {
            return;
        }
        if let Some(c) = self.calls.get_mut(&h) {
            c.state = CallState::Rejected;
        }
        self.invite_response_with(now, h, code, None, extra);
    }

    /// Refuses a call that has not been answered (e.g. 488 on no common codec).
    pub fn reject(&mut self, now: Instant, h: CallHandle, code: u16) {
        self.reject_with(now, h, code, &[]);
    }

    /// [`Endpoint::reject`] with extra headers on the final response (Retry-After on a 503).
    pub fn reject_with(&mut self, now: Instant, h: CallHandle, code: u16, extra: &[(&str, String)]) {
        if self.calls.get(&h).map(|c| c.state == CallState::Early).unwrap_or(false) {
            self.final_reject_with(now, h, code, extra);
            self.events.push_back(Event::Ended { call: h, reason: EndReason::Rejected(code) });
        }
    }

    /// Answers a pending re-INVITE with 200 + SDP, or an error status.
    pub fn answer_reinvite(&mut self, _now: Instant, h: CallHandle, answer: Result<String, u16>) {
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        let Some(req) = call.reinvite.take() else {
            return;
        };
        let (code, sdp) = match answer {
            Ok(sdp) => (200, Some(sdp)),
            Err(code) => (code, None),
        };
        let mut r = req.response(code, None);
        if code == 200 {
            let contact = Self::contact(call);
            r.push("Contact", contact);
        }
        if let Some(sdp) = sdp {
            r = r.with_body("application/sdp", sdp.into_bytes());
        }
        let peer = call.peer;
        let cseq = req.cseq().map(|c| c.0).unwrap_or(0);
        self.finish_response(&mut r, peer);
        let bytes = r.to_bytes();
        if let Some(call) = self.calls.get_mut(&h) {
            call.reinvite_last = Some((cseq, bytes.clone()));
        }
        self.send(peer, bytes);
    }

    fn new_request(&mut self, h: CallHandle, method: Method) -> Option<(Message, String)> {
        let branch = format!("z9hG4bK{}", self.random_token());
        let call = self.calls.get_mut(&h)?;
        call.local_cseq += 1;
        // Loose routing (RFC 3261 §12.2.1.1): Request-URI is the remote target, Route = route set.
        let mut m = Message::request(method.clone(), call.remote_target.clone());
        m.push("Via", format!("SIP/2.0/{} {};branch={};rport", call.peer.transport.via_name(), call.local, branch));
        m.push("Max-Forwards", "70");
        m.push("From", call.local_party.clone());
        m.push("To", call.remote_party.clone());
        m.push("Call-ID", call.call_id.clone());
        m.push("CSeq", format!("{} {}", call.local_cseq, method));
        for r in &call.route_set {
            m.push("Route", r.clone());
        }
        let contact = Self::contact(self.calls.get(&h)?);
        m.push("Contact", contact);
        m.push("User-Agent", USER_AGENT);
        Some((m, branch))
    }

    fn start_client_tx(&mut self, now: Instant, h: CallHandle, kind: ClientKind, msg: Message, branch: String) {
        let Some(call) = self.calls.get(&h) else {
            return;
        };
        let peer = call.peer;
        let bytes = msg.to_bytes();
        self.send(peer, bytes.clone());
        let t1 = self.timers_cfg.t1;
        let retrans_at = (!peer.transport.reliable()).then_some(now + t1);
        let deadline = now + t1 * 64;
        if let Some(at) = retrans_at {
            self.schedule(at, TimerRef::ClientTx(branch.clone()));
        }
        self.schedule(deadline, TimerRef::ClientTx(branch.clone()));
        self.client_txs.insert(branch, ClientTx { call: h, kind, peer, bytes, interval: t1, retrans_at, deadline });
    }

    fn send_bye(&mut self, now: Instant, h: CallHandle) {
        if let Some(c) = self.calls.get_mut(&h) {
            c.state = CallState::Ending;
        }
        let reason = self.calls.get(&h).and_then(|c| c.bye_reason.clone());
        if let Some((mut m, branch)) = self.new_request(h, Method::Bye) {
            if let Some(r) = reason {
                m.push("Reason", r);
            }
            self.start_client_tx(now, h, ClientKind::Bye, m, branch);
        }
    }

    /// Ends the call from our side: BYE when established, 480 before answer.
    pub fn hangup(&mut self, now: Instant, h: CallHandle) {
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        match call.state {
            CallState::Early => self.reject(now, h, 480),
            CallState::Answered => call.pending_bye = true,
            CallState::Confirmed => self.send_bye(now, h),
            CallState::Rejected | CallState::Ending => {}
        }
    }

    /// [`Endpoint::hangup`] with an RFC 3326 Reason header on the BYE.
    pub fn hangup_with_reason(&mut self, now: Instant, h: CallHandle, reason: String) {
        if let Some(call) = self.calls.get_mut(&h) {
            call.bye_reason = Some(reason);
        }
        self.hangup(now, h);
    }

    /// Blind transfer (RFC 3515): REFER the caller to `target`.
    pub fn refer(&mut self, now: Instant, h: CallHandle, target: &str) -> bool {
        let Some(call) = self.calls.get(&h) else {
            return false;
        };
        if call.state != CallState::Confirmed || call.refer_pending {
            return false;
        }
        let referred_by = uri_of(&call.local_party);
        let Some((mut m, branch)) = self.new_request(h, Method::Refer) else {
            return false;
        };
        m.push("Refer-To", format!("<{target}>"));
        m.push("Referred-By", format!("<{referred_by}>"));
        if let Some(c) = self.calls.get_mut(&h) {
            c.refer_pending = true;
        }
        self.start_client_tx(now, h, ClientKind::Refer, m, branch);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Peer {
        Peer { transport: Transport::Udp, addr: "127.0.0.1:5061".parse().expect("addr") }
    }

    fn invite(branch: &str, call_id: &str) -> String {
        format!(
            "INVITE sip:1339@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}\r\n\
From: <sip:caller@127.0.0.1>;tag=ft\r\nTo: <sip:1339@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:caller@127.0.0.1:5061>\r\nContent-Type: application/sdp\r\nContent-Length: 0\r\n\r\n"
        )
    }

    fn in_dialog(method: &str, branch: &str, call_id: &str, to_tag: &str, cseq: u32) -> String {
        format!(
            "{method} sip:sori@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}\r\n\
From: <sip:caller@127.0.0.1>;tag=ft\r\nTo: <sip:1339@127.0.0.1>;tag={to_tag}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\r\n"
        )
    }

    fn drain(ep: &mut Endpoint) -> Vec<Message> {
        let mut v = Vec::new();
        while let Some(t) = ep.poll_transmit() {
            v.push(Message::parse(&t.bytes).expect("own output parses"));
        }
        v
    }

    fn start_call(ep: &mut Endpoint, now: Instant) -> (CallHandle, String) {
        ep.handle_input(now, peer(), invite("z9hG4bK1", "c1").as_bytes());
        let Some(Event::IncomingCall { call, .. }) = ep.poll_event() else { panic!("no call") };
        assert!(ep.accept(now, call, "v=0\r\n"));
        let out = drain(ep);
        assert_eq!(out.iter().map(|m| m.status()).collect::<Vec<_>>(), vec![Some(100), Some(200)]);
        let tag = out[1].to_tag().expect("to tag");
        (call, tag)
    }

    #[test]
    fn ok_is_retransmitted_until_ack_with_doubling_intervals() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        let (_, tag) = start_call(&mut ep, t0);
        let mut sends = Vec::new();
        let mut now = t0;
        while now < t0 + Duration::from_secs(10) {
            now += Duration::from_millis(10);
            ep.handle_timeout(now);
            for m in drain(&mut ep) {
                assert_eq!(m.status(), Some(200));
                sends.push(now - t0);
            }
        }
        let ms: Vec<u128> = sends.iter().map(|d| d.as_millis() / 10 * 10).collect();
        assert_eq!(ms, vec![500, 1500, 3500, 7500], "T1, then 2T1, 4T1, capped at T2");
        ep.handle_input(now, peer(), in_dialog("ACK", "z9hG4bK2", "c1", &tag, 1).as_bytes());
        assert!(matches!(ep.poll_event(), Some(Event::Confirmed { .. })));
        for _ in 0..100 {
            now += Duration::from_millis(100);
            ep.handle_timeout(now);
        }
        assert!(drain(&mut ep).is_empty(), "no retransmission after ACK");
    }

    #[test]
    fn missing_ack_ends_call_with_bye_after_64_t1() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        let (call, _) = start_call(&mut ep, t0);
        ep.handle_timeout(t0 + Duration::from_millis(31_999));
        assert_eq!(ep.poll_event(), None);
        drain(&mut ep);
        ep.handle_timeout(t0 + Duration::from_secs(32));
        assert_eq!(ep.poll_event(), Some(Event::Ended { call, reason: EndReason::AckTimeout }));
        let out = drain(&mut ep);
        assert!(out.iter().any(|m| m.method() == Some(&Method::Bye)));
    }

    #[test]
    fn retransmitted_invite_is_absorbed_and_answered_again() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        let (_, _) = start_call(&mut ep, t0);
        ep.handle_input(t0, peer(), invite("z9hG4bK1", "c1").as_bytes());
        assert_eq!(ep.poll_event(), None, "no second call");
        let out = drain(&mut ep);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status(), Some(200));
    }

    #[test]
    fn cancel_before_answer_gets_487_and_timer_g_until_ack() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        ep.handle_input(t0, peer(), invite("z9hG4bK1", "c1").as_bytes());
        let Some(Event::IncomingCall { call, .. }) = ep.poll_event() else { panic!() };
        ep.ringing(t0, call);
        drain(&mut ep);
        let cancel = invite("z9hG4bK1", "c1").replace("INVITE sip", "CANCEL sip").replace("1 INVITE", "1 CANCEL");
        ep.handle_input(t0, peer(), cancel.as_bytes());
        let out = drain(&mut ep);
        assert_eq!(out.iter().map(|m| m.status()).collect::<Vec<_>>(), vec![Some(200), Some(487)]);
        assert_eq!(ep.poll_event(), Some(Event::Ended { call, reason: EndReason::Cancelled }));
        assert!(!ep.accept(t0, call, "v=0"), "a cancelled call cannot be answered");
        ep.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(drain(&mut ep)[0].status(), Some(487), "Timer G retransmits");
        let ack = invite("z9hG4bK1", "c1").replace("INVITE sip", "ACK sip").replace("1 INVITE", "1 ACK");
        ep.handle_input(t0 + Duration::from_millis(600), peer(), ack.as_bytes());
        ep.handle_timeout(t0 + Duration::from_secs(6));
        assert!(drain(&mut ep).is_empty());
        assert_eq!(ep.state_size().0, 0, "call state released after Timer I");
    }

    #[test]
    fn bye_is_answered_and_retransmitted_bye_absorbed_then_forgotten() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        let (call, tag) = start_call(&mut ep, t0);
        ep.handle_input(t0, peer(), in_dialog("ACK", "z9hG4bK2", "c1", &tag, 1).as_bytes());
        ep.poll_event();
        let bye = in_dialog("BYE", "z9hG4bK3", "c1", &tag, 2);
        ep.handle_input(t0, peer(), bye.as_bytes());
        assert_eq!(ep.poll_event(), Some(Event::Ended { call, reason: EndReason::RemoteBye }));
        assert_eq!(drain(&mut ep)[0].status(), Some(200));
        ep.handle_input(t0, peer(), bye.as_bytes());
        assert_eq!(drain(&mut ep)[0].status(), Some(200), "retransmission answered from the transaction");
        assert_eq!(ep.poll_event(), None);
        ep.handle_timeout(t0 + Duration::from_secs(33));
        assert_eq!(ep.state_size(), (0, 0, 0), "nothing kept per finished call");
        ep.compact();
        assert!(ep.timers.is_empty(), "no timer left behind");
    }

    #[test]
    fn hangup_with_reason_puts_it_on_the_bye() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        let (call, tag) = start_call(&mut ep, t0);
        ep.handle_input(t0, peer(), in_dialog("ACK", "z9hG4bK2", "c1", &tag, 1).as_bytes());
        ep.poll_event();
        ep.hangup_with_reason(t0, call, "Q.850;cause=102;text=\"max call duration\"".into());
        let bye = drain(&mut ep).remove(0);
        assert_eq!(bye.method(), Some(&Method::Bye));
        assert_eq!(bye.header("Reason"), Some("Q.850;cause=102;text=\"max call duration\""));
    }

    #[test]
    fn refer_reports_accept_and_notify_progress() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        let (call, tag) = start_call(&mut ep, t0);
        ep.handle_input(t0, peer(), in_dialog("ACK", "z9hG4bK2", "c1", &tag, 1).as_bytes());
        ep.poll_event();
        assert!(ep.refer(t0, call, "sip:agent@127.0.0.1:5070"));
        let refer = drain(&mut ep).remove(0);
        assert_eq!(refer.method(), Some(&Method::Refer));
        assert_eq!(refer.header("Refer-To"), Some("<sip:agent@127.0.0.1:5070>"));
        let resp = refer.response(202, None);
        ep.handle_input(t0, peer(), &resp.to_bytes());
        assert_eq!(ep.poll_event(), Some(Event::Refer { call, outcome: ReferOutcome::Accepted }));
        let notify = in_dialog("NOTIFY", "z9hG4bK9", "c1", &tag, 2).replace(
            "Content-Length: 0\r\n",
            "Event: refer\r\nContent-Type: message/sipfrag\r\nContent-Length: 16\r\n",
        ) + "SIP/2.0 200 OK\r\n";
        ep.handle_input(t0, peer(), notify.as_bytes());
        assert_eq!(drain(&mut ep)[0].status(), Some(200));
        assert_eq!(ep.poll_event(), Some(Event::Refer { call, outcome: ReferOutcome::Progress(200) }));
    }

    #[test]
    fn unanswered_refer_times_out_with_408() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        let (call, tag) = start_call(&mut ep, t0);
        ep.handle_input(t0, peer(), in_dialog("ACK", "z9hG4bK2", "c1", &tag, 1).as_bytes());
        ep.poll_event();
        ep.refer(t0, call, "sip:agent@x");
        let mut now = t0;
        while now < t0 + Duration::from_secs(33) {
            now += Duration::from_millis(50);
            ep.handle_timeout(now);
        }
        let refers = drain(&mut ep).iter().filter(|m| m.method() == Some(&Method::Refer)).count();
        assert!(refers >= 8, "Timer E retransmitted the REFER ({refers})");
        assert_eq!(ep.poll_event(), Some(Event::Refer { call, outcome: ReferOutcome::Rejected(408) }));
    }

    #[test]
    fn methods_outside_the_call_get_the_right_status() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        let mk = |m: &str, b: &str| in_dialog(m, b, "zz", "nosuch", 1);
        let cases = [("BYE", 481), ("REGISTER", 405), ("SUBSCRIBE", 405), ("FOO", 501), ("OPTIONS", 200)];
        for (i, (m, code)) in cases.iter().enumerate() {
            ep.handle_input(t0, peer(), mk(m, &format!("z9hG4bKm{i}")).as_bytes());
            assert_eq!(drain(&mut ep)[0].status(), Some(*code), "{m}");
        }
        ep.handle_input(t0, peer(), b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKq\r\nCSeq: x\r\n\r\n");
        assert_eq!(drain(&mut ep)[0].status(), Some(400));
        ep.handle_input(t0, peer(), b"\x00\x01garbage");
        assert!(drain(&mut ep).is_empty(), "no Via, nothing to answer");
    }

    #[test]
    fn draining_endpoint_refuses_new_calls_with_503() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        ep.set_draining();
        ep.handle_input(t0, peer(), invite("z9hG4bK1", "c1").as_bytes());
        assert_eq!(drain(&mut ep)[0].status(), Some(503));
        assert_eq!(ep.poll_event(), None);
        // A load balancer's health probe hears it too; an in-dialog OPTIONS does not.
        let probe = "OPTIONS sip:sori@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKp\r\n\
                     From: <sip:lb@h>;tag=l\r\nTo: <sip:sori@127.0.0.1>\r\nCall-ID: probe\r\nCSeq: 1 OPTIONS\r\n\r\n";
        ep.handle_input(t0, peer(), probe.as_bytes());
        let r = drain(&mut ep);
        assert_eq!(r[0].status(), Some(503));
        assert_eq!(r[0].header("Retry-After"), Some("30"));
        ep.handle_input(t0, peer(), in_dialog("OPTIONS", "z9hG4bKd", "c9", "t9", 1).as_bytes());
        assert_eq!(drain(&mut ep)[0].status(), Some(200));
    }

    #[test]
    fn reinvite_is_offered_to_the_app_and_answered() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        let (call, tag) = start_call(&mut ep, t0);
        ep.handle_input(t0, peer(), in_dialog("ACK", "z9hG4bK2", "c1", &tag, 1).as_bytes());
        ep.poll_event();
        ep.handle_input(t0, peer(), in_dialog("INVITE", "z9hG4bK5", "c1", &tag, 2).as_bytes());
        assert!(matches!(ep.poll_event(), Some(Event::ReInvite { .. })));
        ep.answer_reinvite(t0, call, Ok("v=0\r\n".into()));
        let out = drain(&mut ep);
        assert_eq!(out.last().and_then(|m| m.status()), Some(200));
    }

    #[test]
    fn broken_responses_are_never_answered() {
        // RFC 4475 §3.1.2.5 / §3.1.2.19: a response with an overlarge CSeq or
        // status code is dropped, not answered with 400.
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        for raw in [
            "SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nCSeq: 36893488147419103232 OPTIONS\r\n\r\n",
            "SIP/2.0 4294967301 better not break\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nCSeq: 1 OPTIONS\r\n\r\n",
            "SIP/7.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\n\r\n",
        ] {
            ep.handle_input(t0, peer(), raw.as_bytes());
            assert!(drain(&mut ep).is_empty(), "{raw}");
        }
    }

    #[test]
    fn an_endpoint_ignores_max_forwards_zero_and_refuses_unknown_schemes() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        let opt = in_dialog("OPTIONS", "z9hG4bKmf", "mf", "x", 1)
            .replace("Content-Length", "Max-Forwards: 0\r\nContent-Length");
        ep.handle_input(t0, peer(), opt.as_bytes());
        assert_eq!(drain(&mut ep)[0].status(), Some(200), "RFC 4475 §3.3.11");
        let opaque = in_dialog("OPTIONS", "z9hG4bKs", "s", "x", 1).replace("sip:sori@127.0.0.1", "urn:x:y");
        ep.handle_input(t0, peer(), opaque.as_bytes());
        assert_eq!(drain(&mut ep)[0].status(), Some(416));
    }

    #[test]
    fn an_rfc2543_call_without_branch_or_from_tag_can_be_cancelled() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        let old = |m: &str| {
            format!(
                "{m} sip:1339@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061\r\nFrom: <sip:caller@127.0.0.1>\r\n\
To: <sip:1339@127.0.0.1>\r\nCall-ID: old\r\nCSeq: 5 {m}\r\nContent-Length: 0\r\n\r\n"
            )
        };
        ep.handle_input(t0, peer(), old("INVITE").as_bytes());
        assert!(matches!(ep.poll_event(), Some(Event::IncomingCall { .. })));
        drain(&mut ep);
        ep.handle_input(t0, peer(), old("CANCEL").as_bytes());
        let codes: Vec<_> = drain(&mut ep).iter().filter_map(|m| m.status()).collect();
        assert_eq!(codes, vec![200, 487]);
        ep.handle_input(t0, peer(), old("ACK").as_bytes());
        ep.handle_timeout(t0 + Duration::from_secs(40));
        assert_eq!(ep.state_size(), (0, 0, 0));
    }

    #[test]
    fn invite_bodies_other_than_sdp_get_415_and_accept_without_sdp_406() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), 7);
        let body = invite("z9hG4bKb1", "b1")
            .replace("application/sdp", "text/plain")
            .replace("Length: 0\r\n\r\n", "Length: 2\r\n\r\nhi");
        ep.handle_input(t0, peer(), body.as_bytes());
        let r = drain(&mut ep);
        assert_eq!(r[0].status(), Some(415));
        assert_eq!(r[0].header("Accept"), Some("application/sdp"));
        let accept = invite("z9hG4bKb2", "b2").replace("Content-Length", "Accept: text/x\r\nContent-Length");
        ep.handle_input(t0, peer(), accept.as_bytes());
        assert_eq!(drain(&mut ep)[0].status(), Some(406));
        let fine =
            invite("z9hG4bKb3", "b3").replace("Content-Length", "Accept: application/sdp, text/x\r\nContent-Length");
        ep.handle_input(t0, peer(), fine.as_bytes());
        assert!(matches!(ep.poll_event(), Some(Event::IncomingCall { .. })));
        assert_eq!(ep.poll_event(), None);
    }
}
