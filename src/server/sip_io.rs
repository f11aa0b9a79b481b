//! The SIP I/O driver: moves bytes between sockets (UDP, TCP, TLS, and the
//! TCP/TLS connections `[[trunk]]`s register over, see [`super::flows`]) and
//! the sans-IO [`Endpoint`], drives its timers, starts a media task per call
//! and relays commands and events between them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::call::{self, CallEvent, CallSetup};
use super::metrics::Metrics;
use super::ports::local_ip_towards;
use super::trunks::Trunks;
use super::Shared;
use crate::sdp;
use crate::sip::admission::{Admission, AdmissionConfig, RateLimits, Screen};
use crate::sip::endpoint::{CallHandle, Endpoint, Event, Peer, Timers, Transmit, Transport};
use crate::sip::framing::StreamFramer;
use crate::sip::message::{uri_of, Message};
use crate::store::{now_ms, CallRecord};

/// What a call task asks of the SIP layer.
#[derive(Debug)]
pub enum SipCommand {
    Ringing(CallHandle),
    Accept(CallHandle, String),
    Reject(CallHandle, u16),
    Hangup(CallHandle),
    /// Hang up with an RFC 3326 Reason header on the BYE.
    HangupReason(CallHandle, String),
    Refer(CallHandle, String),
    AnswerReinvite(CallHandle, Result<String, u16>),
    /// The call task has finished (its record is written).
    Done(CallHandle),
}

pub(super) enum StreamInput {
    /// A connection: its id, its writer, and whether it is TLS.
    Opened(u64, mpsc::UnboundedSender<Vec<u8>>, bool),
    Frame(u64, SocketAddr, Vec<u8>),
    Closed(u64),
    /// A trunk's outbound connection is up (after its `Opened`).
    FlowUp {
        entry: usize,
        id: u64,
        local: SocketAddr,
    },
    /// A trunk's outbound connection could not be opened.
    FlowFailed {
        entry: usize,
        reason: String,
        permanent: bool,
    },
    /// A trunk's outbound connection ended, and why.
    FlowDown(u64, String),
}

pub struct SipSockets {
    pub udp: Option<UdpSocket>,
    pub tcp: Option<TcpListener>,
    /// SIP over TLS: the listener and the certificate to present.
    pub tls: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
}

/// TLS connections are numbered from here, TCP ones from 1.
const TLS_IDS: u64 = 1 << 62;
/// Trunks' outbound connections (TCP or TLS) are numbered from here.
const FLOW_IDS: u64 = 1 << 61;

pub(super) const MAX_MESSAGE: usize = 65_535;

pub async fn run(shared: Arc<Shared>, sockets: SipSockets, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let t1 = Duration::from_millis(shared.cfg.sip.t1_ms);
    let timers = Timers { t1, t2: Duration::from_secs(4).max(t1 * 8), ..Timers::default() };
    let mut ep = Endpoint::new(timers, rand::random());
    let mut adm = Admission::new(AdmissionConfig {
        max_calls: shared.cfg.sip.max_calls,
        max_calls_per_source: shared.cfg.sip.max_calls_per_source,
        retry_after_s: shared.cfg.sip.retry_after_s,
        rates: RateLimits {
            invite_per_s: shared.cfg.sip.invite_rate,
            register_per_s: shared.cfg.sip.register_rate,
            options_per_s: shared.cfg.sip.options_rate,
            burst: shared.cfg.sip.rate_burst,
        },
    });
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<SipCommand>();
    let (stream_tx, mut stream_rx) = mpsc::unbounded_channel::<StreamInput>();
    let mut conns: HashMap<u64, (mpsc::UnboundedSender<Vec<u8>>, bool)> = HashMap::new();
    let mut calls: HashMap<CallHandle, mpsc::UnboundedSender<CallEvent>> = HashMap::new();
    if let Some(listener) = sockets.tcp {
        tokio::spawn(accept_loop(listener, None, 1, stream_tx.clone()));
    }
    if let Some((listener, acceptor)) = sockets.tls {
        tokio::spawn(accept_loop(listener, Some(acceptor), TLS_IDS, stream_tx.clone()));
    }
    let udp = sockets.udp.map(Arc::new);
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut draining = false;
    let mut drain_deadline = None;
    let origin = std::time::Instant::now();
    let base = Instant::now();
    // The endpoint works on std Instants; tokio's clock is mapped onto it.
    let to_std = |t: Instant| origin + (t - base);
    let from_std = |t: std::time::Instant| base + (t.saturating_duration_since(origin));
    // [[trunk]] registrations on the UDP socket, and inbound access control.
    let mut trunks = Trunks::start(&shared.cfg, shared.metrics.clone(), to_std(Instant::now())).await;
    adm.set_trunk_sources(trunks.trunk_sources());
    let mut next_flow_id = FLOW_IDS;
    let mut housekeeping = tokio::time::interval(Duration::from_secs(5));
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        // Flush everything the state machine produced.
        loop {
            let mut progressed = false;
            while let Some(ev) = ep.poll_event() {
                progressed = true;
                handle_event(&shared, &mut ep, &mut adm, &trunks, &mut calls, &cmd_tx, ev, to_std(Instant::now()));
            }
            while let Some(t) = ep.poll_transmit().or_else(|| trunks.poll_transmit()) {
                progressed = true;
                transmit(&shared, &udp, &conns, t);
            }
            while let Some(id) = trunks.poll_close() {
                // Dropping its writer ends the connection's task.
                conns.remove(&id);
            }
            while let Some(req) = trunks.poll_connect() {
                progressed = true;
                super::flows::spawn_connect(req, next_flow_id, stream_tx.clone());
                next_flow_id += 1;
            }
            if !progressed {
                break;
            }
        }
        if draining && calls.is_empty() && trunks.done() {
            return Ok(());
        }
        let next = [ep.poll_timeout(), trunks.poll_timeout()].into_iter().flatten().min().map(from_std);
        let drain_at = drain_deadline;
        tokio::select! {
            r = async { match &udp { Some(u) => u.recv_from(&mut buf).await, None => std::future::pending().await } } => {
                match r {
                    Ok((n, src)) => {
                        let now = to_std(Instant::now());
                        input(&shared, &mut ep, &mut adm, &mut trunks, now, Peer { transport: Transport::Udp, addr: src }, &buf[..n]);
                        // Batch whatever else is already queued on the socket.
                        if let Some(u) = &udp {
                            for _ in 0..64 {
                                match u.try_recv_from(&mut buf) {
                                    Ok((n, src)) => {
                                        input(&shared, &mut ep, &mut adm, &mut trunks, now, Peer { transport: Transport::Udp, addr: src }, &buf[..n]);
                                    }
                                    Err(_) => break,
                                }
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "UDP receive error"),
                }
            }
            Some(s) = stream_rx.recv() => match s {
                StreamInput::Opened(id, tx, tls) => { conns.insert(id, (tx, tls)); }
                StreamInput::Frame(id, src, bytes) => {
                    let tls = conns.get(&id).is_some_and(|c| c.1);
                    let transport = if tls { Transport::Tls(id) } else { Transport::Tcp(id) };
                    input(&shared, &mut ep, &mut adm, &mut trunks, to_std(Instant::now()), Peer { transport, addr: src }, &bytes);
                }
                StreamInput::Closed(id) => { conns.remove(&id); }
                StreamInput::FlowUp { entry, id, local } => trunks.flow_up(to_std(Instant::now()), entry, id, local),
                StreamInput::FlowFailed { entry, reason, permanent } => {
                    trunks.flow_failed(to_std(Instant::now()), entry, reason, permanent);
                }
                StreamInput::FlowDown(id, reason) => {
                    conns.remove(&id);
                    trunks.flow_down(to_std(Instant::now()), id, reason);
                }
            },
            Some(cmd) = cmd_rx.recv() => {
                let now = to_std(Instant::now());
                match cmd {
                    SipCommand::Ringing(h) => ep.ringing(now, h),
                    SipCommand::Accept(h, sdp) => {
                        if !ep.accept(now, h, &sdp) {
                            tracing::debug!(call = h, "accept after the call ended");
                        }
                    }
                    SipCommand::Reject(h, code) => ep.reject(now, h, code),
                    SipCommand::Hangup(h) => ep.hangup(now, h),
                    SipCommand::HangupReason(h, r) => ep.hangup_with_reason(now, h, r),
                    SipCommand::Refer(h, uri) => {
                        if !ep.refer(now, h, &uri) {
                            if let Some(c) = calls.get(&h) {
                                let _ = c.send(CallEvent::Refer(crate::sip::endpoint::ReferOutcome::Rejected(500)));
                            }
                        }
                    }
                    SipCommand::AnswerReinvite(h, a) => ep.answer_reinvite(now, h, a),
                    SipCommand::Done(h) => {
                        calls.remove(&h);
                        adm.call_ended(h);
                    }
                }
            }
            _ = async { match next { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                let now = to_std(Instant::now());
                ep.handle_timeout(now);
                trunks.handle_timeout(now);
            }
            _ = housekeeping.tick() => {
                let (c, stx, ctx) = ep.state_size();
                shared.metrics.sip_state_entries.store((c + stx + ctx) as i64, Relaxed);
                ep.compact();
                adm.prune(to_std(Instant::now()));
                if c + stx + ctx == 0 && calls.is_empty() {
                    calls.shrink_to_fit();
                    release_free_memory();
                }
            }
            _ = shutdown.changed(), if !draining => {
                draining = true;
                drain_deadline = Some(Instant::now() + Duration::from_secs(10));
                ep.set_draining();
                trunks.unregister_all(to_std(Instant::now()));
                tracing::info!(active = calls.len(), "shutting down: refusing new calls, ending active ones");
                for c in calls.values() {
                    let _ = c.send(CallEvent::Shutdown);
                }
            }
            _ = async { match drain_at { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                tracing::warn!(left = calls.len(), "shutdown deadline reached with calls still open");
                return Ok(());
            }
        }
    }
}

fn transmit(
    shared: &Shared,
    udp: &Option<Arc<UdpSocket>>,
    conns: &HashMap<u64, (mpsc::UnboundedSender<Vec<u8>>, bool)>,
    t: Transmit,
) {
    Metrics::inc(&shared.metrics.sip_out);
    match t.peer.transport {
        Transport::Udp => {
            if let Some(u) = udp {
                if let Err(e) = u.try_send_to(&t.bytes, t.peer.addr) {
                    tracing::debug!(error = %e, to = %t.peer.addr, "UDP send failed");
                }
            }
        }
        Transport::Tcp(id) | Transport::Tls(id) => {
            if let Some((c, _)) = conns.get(&id) {
                let _ = c.send(t.bytes);
            }
        }
    }
}

/// One received message: screened by the admission policy, then by the
/// trunks (REGISTER responses, inbound access control), then to the endpoint.
fn input(
    shared: &Shared,
    ep: &mut Endpoint,
    adm: &mut Admission,
    trunks: &mut Trunks,
    now: std::time::Instant,
    peer: Peer,
    bytes: &[u8],
) {
    Metrics::inc(&shared.metrics.sip_in);
    match adm.screen(now, peer.addr.ip(), bytes) {
        Screen::Pass if trunks.intercept(now, peer, bytes) => {}
        Screen::Pass => ep.handle_input(now, peer, bytes),
        Screen::DropScanner => {
            Metrics::inc(&shared.metrics.sip_scanner_dropped);
            tracing::debug!(from = %peer.addr, "scanner User-Agent: dropped");
        }
        Screen::DropRateLimited => {
            Metrics::inc(&shared.metrics.sip_rate_limited);
            tracing::debug!(from = %peer.addr, "over the request rate: dropped");
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn handle_event(
    shared: &Arc<Shared>,
    ep: &mut Endpoint,
    adm: &mut Admission,
    trunks: &Trunks,
    calls: &mut HashMap<CallHandle, mpsc::UnboundedSender<CallEvent>>,
    cmd_tx: &mpsc::UnboundedSender<SipCommand>,
    ev: Event,
    now: std::time::Instant,
) {
    let (h, ce) = match ev {
        Event::IncomingCall { call, invite, peer } => {
            // A trunk's own SRTP policy, else the server's.
            let mut caps = shared.caps.clone();
            if let Some(p) = trunks.srtp_for(peer.addr.ip()) {
                caps.srtp = p;
            }
            // A call over a trunk's own connection is reached back on it.
            let flow_local = trunks.flow_local(peer.transport);
            return incoming_call(shared, ep, calls, cmd_tx, adm, call, *invite, peer, caps, flow_local, now);
        }
        Event::Confirmed { call, ack_body } => (call, CallEvent::Confirmed { ack_body }),
        Event::ReInvite { call, offer } => (call, CallEvent::ReInvite(offer)),
        Event::Info { call, content_type, body } => (call, CallEvent::Info { content_type, body }),
        Event::Refer { call, outcome } => (call, CallEvent::Refer(outcome)),
        Event::Ended { call, reason } => (call, CallEvent::Ended(reason)),
    };
    if let Some(tx) = calls.get(&h) {
        let _ = tx.send(ce);
    }
}

#[allow(clippy::too_many_arguments)]
fn incoming_call(
    shared: &Arc<Shared>,
    ep: &mut Endpoint,
    calls: &mut HashMap<CallHandle, mpsc::UnboundedSender<CallEvent>>,
    cmd_tx: &mpsc::UnboundedSender<SipCommand>,
    adm: &mut Admission,
    h: CallHandle,
    invite: Message,
    peer: Peer,
    caps: sdp::LocalCaps,
    flow_local: Option<SocketAddr>,
    now: std::time::Instant,
) {
    Metrics::inc(&shared.metrics.calls_total);
    let to_uri = uri_of(invite.header("To").unwrap_or(""));
    // The hotline the dialled number reaches (server::hotline); none: 404 below.
    let request_uri = match &invite.start {
        crate::sip::message::StartLine::Request { uri, .. } => uri.as_str(),
        _ => "",
    };
    let hotline = shared.hotlines.for_call(request_uri, &to_uri).cloned();
    let record = CallRecord {
        call_id: invite.call_id().to_string(),
        from_uri: uri_of(invite.header("From").unwrap_or("")),
        to_uri,
        hotline: hotline.as_ref().map(|h| h.name.clone()),
        remote_addr: peer.addr.to_string(),
        transport: match peer.transport {
            Transport::Udp => "udp".into(),
            Transport::Tcp(_) => "tcp".into(),
            Transport::Tls(_) => "tls".into(),
        },
        started_ms: now_ms(),
        ..Default::default()
    };
    let span = tracing::info_span!("call", call_id = %record.call_id);
    let _g = span.enter();
    let refuse = |ep: &mut Endpoint, code: u16, why: String| {
        tracing::info!(code, reason = %why, from = %record.from_uri, "call refused");
        Metrics::inc(&shared.metrics.calls_rejected);
        ep.reject(now, h, code);
        let mut r = record.clone();
        r.ended_ms = Some(now_ms());
        r.outcome = Some("rejected".into());
        r.hangup_cause = Some(format!("{code} {why}"));
        shared.store.call_finished(r);
    };
    let Some(hotline) = hotline else {
        shared.hotlines.not_found.fetch_add(1, Relaxed);
        return refuse(ep, 404, format!("no hotline for {request_uri}"));
    };
    hotline.calls.fetch_add(1, Relaxed);
    if let Err(r) = adm.check_call(peer.addr.ip()) {
        tracing::info!(code = r.code, reason = r.why, from = %peer.addr, "call refused");
        Metrics::inc(&shared.metrics.calls_rejected);
        ep.reject_with(now, h, r.code, &[("Retry-After", r.retry_after_s.to_string())]);
        let mut rec = record.clone();
        rec.ended_ms = Some(now_ms());
        rec.outcome = Some("rejected".into());
        rec.hangup_cause = Some(format!("{} {}", r.code, r.why));
        shared.store.call_finished(rec);
        return;
    }
    // Offer in the INVITE (the usual case) or none (delayed offer: we offer in 200).
    let offer = if invite.body.is_empty() {
        None
    } else {
        // Bodies other than SDP were refused 415 by the endpoint.
        match sdp::parse(&invite.body_str()) {
            Ok(o) => Some(o),
            Err(e) => return refuse(ep, 488, format!("bad SDP: {e}")),
        }
    };
    let negotiated = match &offer {
        Some(o) => match sdp::negotiate(o, &caps) {
            Ok(n) => Some(n),
            Err(e) => return refuse(ep, 488, e.to_string()),
        },
        None => None,
    };
    let local_ip = local_media_ip(shared, peer.addr.ip());
    // RTCP: on the RTP port when the offer multiplexes it, else on port + 1
    // (also for a delayed offer: ours offers rtcp-mux, the answer may decline).
    let rtcp_port = !negotiated.as_ref().is_some_and(|n| n.rtcp_mux);
    let media_ip = if shared.cfg.sip.bind.is_unspecified() { shared.cfg.sip.bind } else { local_ip };
    let (sock, rtcp) = match shared.ports.bind(media_ip, rtcp_port) {
        Ok(s) => s,
        Err(e) => return refuse(ep, 503, e.to_string()),
    };
    let (sock, rtcp_socket) = match (tokio::net::UdpSocket::from_std(sock), rtcp.map(tokio::net::UdpSocket::from_std)) {
        (Ok(s), None) => (s, None),
        (Ok(s), Some(Ok(r))) => (s, Some(r)),
        (Err(e), _) | (_, Some(Err(e))) => return refuse(ep, 503, e.to_string()),
    };
    let port = if matches!(peer.transport, Transport::Tls(_)) { shared.cfg.sip.tls_port } else { shared.cfg.sip.port };
    ep.set_local_addr(h, flow_local.unwrap_or(SocketAddr::new(local_ip, port)));
    let (tx, rx) = mpsc::unbounded_channel();
    calls.insert(h, tx);
    adm.call_started(h, peer.addr.ip());
    shared.store.call_started(record.clone());
    let setup = CallSetup { handle: h, hotline, record, offer, negotiated, caps, local_ip, socket: sock, rtcp_socket };
    tokio::spawn(call::run(shared.clone(), setup, cmd_tx.clone(), rx, span.clone()));
}

fn local_media_ip(shared: &Shared, peer: IpAddr) -> IpAddr {
    if let Some(a) = shared.cfg.sip.advertise {
        return a;
    }
    if !shared.cfg.sip.bind.is_unspecified() {
        return shared.cfg.sip.bind;
    }
    local_ip_towards(peer).unwrap_or(peer)
}

/// Accepts SIP connections: TCP, or TLS when an acceptor is given (the
/// handshake in the connection's own task, so a slow one blocks nobody).
async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    first_id: u64,
    tx: mpsc::UnboundedSender<StreamInput>,
) {
    let mut next_id = first_id;
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            continue;
        };
        let id = next_id;
        next_id += 1;
        let _ = stream.set_nodelay(true);
        let tx = tx.clone();
        match tls.clone() {
            None => serve_stream(stream, addr, id, false, tx),
            Some(acceptor) => {
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        Ok(Ok(s)) => serve_stream(s, addr, id, true, tx),
                        Ok(Err(e)) => tracing::info!(peer = %addr, error = %e, "SIP TLS handshake failed"),
                        Err(_) => tracing::info!(peer = %addr, "SIP TLS handshake timed out"),
                    }
                });
            }
        }
    }
}

/// Reads SIP messages off one connection and writes what is sent to it.
fn serve_stream<S>(stream: S, addr: SocketAddr, id: u64, tls: bool, tx: mpsc::UnboundedSender<StreamInput>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
    if tx.send(StreamInput::Opened(id, wtx, tls)).is_err() {
        return;
    }
    tokio::spawn(async move {
        while let Some(b) = wrx.recv().await {
            if wr.write_all(&b).await.is_err() || wr.flush().await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut framer = StreamFramer::new(MAX_MESSAGE);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            framer.push(&buf[..n]);
            if let Err(e) = forward_frames(&mut framer, &tx, id, addr) {
                tracing::info!(peer = %addr, error = %e, tls, "closing SIP stream connection");
                break;
            }
        }
        let _ = tx.send(StreamInput::Closed(id));
    });
}

/// Hands every complete message buffered in `framer` to the SIP input as
/// connection `id`'s; an unreadable stream is an error (close it).
pub(super) fn forward_frames(
    framer: &mut StreamFramer,
    tx: &mpsc::UnboundedSender<StreamInput>,
    id: u64,
    peer: SocketAddr,
) -> Result<(), crate::sip::framing::FramingError> {
    while let Some(m) = framer.next_message()? {
        let _ = tx.send(StreamInput::Frame(id, peer, m));
    }
    Ok(())
}

pub fn active_gauge(m: &Metrics, delta: i64) {
    m.calls_active.fetch_add(delta, Relaxed);
}

/// Hands freed heap pages back to the OS once the server is idle again, so
/// memory returns to its idle level after a burst of calls (glibc keeps
/// freed memory in its arenas otherwise).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
