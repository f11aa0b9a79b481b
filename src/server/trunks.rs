//! The I/O edge of `[[trunk]]`s and inbound access control: resolves each
//! trunk's registrar, runs its sans-IO [`Registration`] on the SIP UDP
//! socket `sip_io` already owns, or over TCP/TLS on a connection of its own
//! (a flow, opened by [`super::flows`] when the registration asks for one),
//! logs one line per registration state change, publishes the state for
//! `/healthz` and `/metrics`, and screens every received message through
//! the [`AccessPolicy`].

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::flows::FlowRequest;
use super::metrics::Metrics;
use super::ports::local_ip_towards;
use crate::config::Config;
use crate::sip::access::{AccessPolicy, Cidr, InboundUser, Verdict};
use crate::sip::endpoint::{Peer, Transmit, Transport};
use crate::sip::message::{Message, Method};
use crate::sip::registration::{RegStatus, Registration};
use crate::sip::trunk::{TrunkConfig, TrunkTransport};

/// One trunk's registration as `/healthz` and `/metrics` show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrunkStatus {
    pub name: String,
    pub registrar: String,
    pub state: &'static str,
    pub detail: String,
    pub failures: u64,
    pub registrations: u64,
}

struct Entry {
    name: String,
    registrar: String,
    aor: String,
    reg: Option<Registration>,
    dest: Option<SocketAddr>,
    /// Why there is no registration (unresolvable registrar).
    broken: Option<String>,
    /// What the last state change said (e.g. the registrar's status).
    last: String,
    trunk: TrunkConfig,
    transport: TrunkTransport,
    /// TLS: the client configuration and the name to verify.
    tls: Option<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>,
    /// Over TCP/TLS: the connection's id in `sip_io` and its local address.
    flow: Option<(u64, SocketAddr)>,
    /// `[sip] advertise`: written into Contact instead of the local address.
    advertise: Option<IpAddr>,
}

pub struct Trunks {
    entries: Vec<Entry>,
    /// The trunks' own addresses (registrars, proxies, their `allow` lists).
    trunk_sources: Vec<Cidr>,
    /// Trunks with their own `srtp` policy: their addresses and the policy.
    srtp_by_source: Vec<(Cidr, crate::sdp::SrtpPolicy)>,
    access: AccessPolicy,
    transmits: VecDeque<Transmit>,
    /// Trunks (by index) whose registration asks for a connection.
    connects: VecDeque<usize>,
    /// Connections the trunks gave up (closed by `sip_io`).
    closes: VecDeque<u64>,
    metrics: Arc<Metrics>,
    origin: Instant,
}

impl Trunks {
    /// Resolves the registrars and sends the first REGISTERs.
    pub async fn start(cfg: &Config, metrics: Arc<Metrics>, now: Instant) -> Trunks {
        let t1 = Duration::from_millis(cfg.sip.t1_ms);
        let t2 = Duration::from_secs(4).max(t1 * 8);
        let mut trunk_sources: Vec<Cidr> = Vec::new();
        let mut srtp_by_source = Vec::new();
        let mut entries = Vec::new();
        for t in &cfg.trunk {
            let first = trunk_sources.len();
            trunk_sources.extend(t.allow_list().unwrap_or_default());
            let srtp = crate::sdp::SrtpPolicy::from_name(&t.srtp);
            if !t.registers() {
                continue;
            }
            let mut e = Entry {
                name: t.name.clone(),
                registrar: t.registrar.clone(),
                aor: String::new(),
                reg: None,
                dest: None,
                broken: None,
                last: String::new(),
                trunk: t.clone(),
                transport: t.transport(),
                tls: None,
                flow: None,
                advertise: cfg.sip.advertise,
            };
            if e.transport == TrunkTransport::Tls {
                match tls_client(t) {
                    Ok(c) => e.tls = Some(c),
                    Err(err) => e.broken = Some(err),
                }
            }
            // The registrar and the outbound proxy may send calls too.
            for hp in [t.registrar().ok(), t.outbound_proxy().ok().flatten()].into_iter().flatten() {
                if let Some(a) = resolve(&hp).await {
                    trunk_sources.push(host_cidr(a.ip()));
                }
            }
            if let Some(p) = srtp {
                srtp_by_source.extend(trunk_sources[first..].iter().map(|c| (*c, p)));
            }
            let port = e.transport.default_port();
            match t.next_hop() {
                Ok(_) if e.broken.is_some() => {}
                Ok(hop) => match resolve_or(&hop, port).await {
                    Some(dest) => {
                        let local_ip = cfg
                            .sip
                            .advertise
                            .or((!cfg.sip.bind.is_unspecified()).then_some(cfg.sip.bind))
                            .or_else(|| local_ip_towards(dest.ip()))
                            .unwrap_or(cfg.sip.bind);
                        // Over TCP/TLS the flow's own address replaces this
                        // once connected.
                        match t.reg_config(SocketAddr::new(local_ip, cfg.sip.port), t1, t2) {
                            Ok(rc) => {
                                e.aor = rc.aor.clone();
                                let mut reg = Registration::new(rc, rand::random());
                                reg.start(now);
                                e.reg = Some(reg);
                                e.dest = Some(dest);
                            }
                            Err(err) => e.broken = Some(err),
                        }
                    }
                    None => e.broken = Some(format!("cannot resolve {}", hop.lookup_target_or(port))),
                },
                Err(err) => e.broken = Some(err),
            }
            if let Some(why) = &e.broken {
                tracing::error!(trunk = %e.name, registrar = %e.registrar, reason = %why, "trunk cannot register");
            }
            entries.push(e);
        }
        let users: Vec<InboundUser> = cfg
            .sip
            .inbound_auth
            .iter()
            .map(|u| InboundUser { username: u.username.clone(), password: u.password.0.clone() })
            .collect();
        let restricted = !cfg.trunk.is_empty() || !cfg.sip.allow.is_empty() || !users.is_empty();
        trunk_sources.dedup();
        let mut allow: Vec<Cidr> = cfg.sip.allow.iter().filter_map(|a| Cidr::parse(a).ok()).collect();
        allow.extend(trunk_sources.iter().copied());
        allow.dedup();
        let list: Vec<String> = allow.iter().map(|c| c.to_string()).collect();
        if restricted {
            tracing::info!(allow = ?list, digest_users = users.len(), "inbound SIP restricted: other sources get 403");
        } else {
            tracing::info!("inbound SIP open to every source (no [[trunk]] or [sip] allow configured)");
        }
        // Trunks whose addresses could not be resolved leave the list empty:
        // then nobody may call rather than everybody.
        let algorithms =
            cfg.sip.inbound_algorithms.iter().filter_map(|a| crate::sip::digest::Algorithm::parse(a)).map(|a| a.0);
        let access = AccessPolicy::new(restricted, allow, users, cfg.sip.inbound_realm.clone(), rand::random())
            .with_algorithms(algorithms.collect());
        for t in cfg.trunk.iter().filter(|t| !t.registers()) {
            if let Some(p) = crate::sdp::SrtpPolicy::from_name(&t.srtp) {
                srtp_by_source.extend(t.allow_list().unwrap_or_default().into_iter().map(|c| (c, p)));
            }
        }
        let mut s = Trunks {
            entries,
            trunk_sources,
            srtp_by_source,
            access,
            transmits: VecDeque::new(),
            connects: VecDeque::new(),
            closes: VecDeque::new(),
            metrics,
            origin: now,
        };
        s.pump();
        s
    }

    /// The `srtp` policy of the trunk a call comes from, when it has one.
    pub fn srtp_for(&self, ip: std::net::IpAddr) -> Option<crate::sdp::SrtpPolicy> {
        self.srtp_by_source.iter().find(|(c, _)| c.contains(ip)).map(|(_, p)| *p)
    }

    /// Addresses of the trunks: exempt from the per-source flood limits.
    pub fn trunk_sources(&self) -> Vec<Cidr> {
        self.trunk_sources.clone()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// A connection a TCP/TLS trunk needs opened (by [`super::flows`]).
    pub fn poll_connect(&mut self) -> Option<FlowRequest> {
        while let Some(i) = self.connects.pop_front() {
            let Some(e) = self.entries.get(i) else { continue };
            let Some(dest) = e.dest else { continue };
            tracing::debug!(trunk = %e.name, %dest, transport = e.transport.param(), "trunk connecting");
            let keepalive = (e.trunk.keepalive_s > 0).then(|| Duration::from_secs(e.trunk.keepalive_s));
            return Some(FlowRequest { entry: i, dest, tls: e.tls.clone(), keepalive });
        }
        None
    }

    /// A trunk's connection to close (its registration gave it up).
    pub fn poll_close(&mut self) -> Option<u64> {
        self.closes.pop_front()
    }

    /// The trunk's connection is up: register over it.
    pub fn flow_up(&mut self, now: Instant, entry: usize, id: u64, local: SocketAddr) {
        if let Some(e) = self.entries.get_mut(entry) {
            tracing::info!(trunk = %e.name, registrar = %e.registrar, %local, transport = e.transport.param(), "trunk connection up");
            e.flow = Some((id, local));
            let shown = SocketAddr::new(e.advertise.unwrap_or(local.ip()), local.port());
            let (contact, via) = e.trunk.contact(shown);
            if let Some(r) = &mut e.reg {
                r.flow_up(now, contact, via);
            }
        }
        self.pump();
    }

    /// The trunk's connection could not be opened.
    pub fn flow_failed(&mut self, now: Instant, entry: usize, reason: String, permanent: bool) {
        if let Some(e) = self.entries.get_mut(entry) {
            tracing::debug!(trunk = %e.name, %reason, permanent, "trunk connection failed");
            e.flow = None;
            if let Some(r) = &mut e.reg {
                r.flow_lost(now, reason, permanent);
            }
        }
        self.pump();
    }

    /// A connection ended; when it was a trunk's flow, the trunk reconnects.
    pub fn flow_down(&mut self, now: Instant, id: u64, reason: String) {
        let Some(e) = self.entries.iter_mut().find(|e| e.flow.is_some_and(|f| f.0 == id)) else { return };
        tracing::info!(trunk = %e.name, registrar = %e.registrar, %reason, "trunk connection lost");
        e.flow = None;
        if let Some(r) = &mut e.reg {
            r.flow_lost(now, format!("connection lost: {reason}"), false);
        }
        self.pump();
    }

    /// The local address of a trunk's flow, for a call that came over it
    /// (its Contact then leads the registrar back to the same connection).
    pub fn flow_local(&self, transport: Transport) -> Option<SocketAddr> {
        let id = match transport {
            Transport::Tcp(id) | Transport::Tls(id) => id,
            Transport::Udp => return None,
        };
        let e = self.entries.iter().find(|e| e.flow.is_some_and(|f| f.0 == id))?;
        let (_, local) = e.flow?;
        Some(SocketAddr::new(e.advertise.unwrap_or(local.ip()), local.port()))
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries.iter().filter_map(|e| e.reg.as_ref()?.poll_timeout()).min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for e in &mut self.entries {
            if let Some(r) = &mut e.reg {
                if r.poll_timeout().is_some_and(|t| t <= now) {
                    r.handle_timeout(now);
                }
            }
        }
        self.pump();
    }

    /// Screens one received message. True when it was handled here (a
    /// response to a REGISTER, or a request refused by access control);
    /// false when it goes on to the endpoint.
    pub fn intercept(&mut self, now: Instant, peer: Peer, bytes: &[u8]) -> bool {
        if bytes.starts_with(b"SIP/2.0 ") && !self.entries.is_empty() {
            if let Ok(msg) = Message::parse(bytes) {
                if msg.cseq().is_some_and(|(_, m)| m == Method::Register) {
                    for e in &mut self.entries {
                        if let Some(r) = &mut e.reg {
                            if r.handle_response(now, &msg) {
                                break;
                            }
                        }
                    }
                    self.pump();
                    return true;
                }
            }
        }
        let now_s = now.saturating_duration_since(self.origin).as_secs();
        match self.access.screen(now_s, peer.addr.ip(), bytes) {
            Verdict::Pass => false,
            Verdict::Drop => true,
            Verdict::Answer { code, bytes } => {
                let counter = if code == 401 { &self.metrics.sip_challenged } else { &self.metrics.sip_forbidden };
                Metrics::inc(counter);
                tracing::debug!(from = %peer.addr, code, "request from a source outside the allow lists");
                self.transmits.push_back(Transmit { peer, bytes });
                true
            }
        }
    }

    /// Shutdown: un-REGISTER every trunk.
    pub fn unregister_all(&mut self, now: Instant) {
        for e in &mut self.entries {
            if let Some(r) = &mut e.reg {
                r.unregister(now);
            }
        }
        self.pump();
    }

    /// Every un-REGISTER has finished (or timed out).
    pub fn done(&self) -> bool {
        self.entries.iter().all(|e| e.reg.as_ref().is_none_or(|r| r.is_done()))
    }

    /// Moves REGISTERs to the send queue, logs state changes and publishes the state.
    fn pump(&mut self) {
        for (i, e) in self.entries.iter_mut().enumerate() {
            let Some(r) = &mut e.reg else { continue };
            let Some(dest) = e.dest else { continue };
            let transport = match (e.transport, e.flow) {
                (TrunkTransport::Udp, _) => Some(Transport::Udp),
                (TrunkTransport::Tcp, Some((id, _))) => Some(Transport::Tcp(id)),
                (TrunkTransport::Tls, Some((id, _))) => Some(Transport::Tls(id)),
                // No connection: the registration asks for one first.
                (_, None) => None,
            };
            while let Some(bytes) = r.poll_transmit() {
                if let Some(transport) = transport {
                    self.transmits.push_back(Transmit { peer: Peer { transport, addr: dest }, bytes });
                }
            }
            if r.poll_close() {
                if let Some((id, _)) = e.flow.take() {
                    tracing::info!(trunk = %e.name, registrar = %e.registrar, "trunk connection closed: no answer on it");
                    self.closes.push_back(id);
                }
            }
            if r.poll_connect() && e.flow.is_none() && !self.connects.contains(&i) {
                self.connects.push_back(i);
            }
            while let Some(ev) = r.poll_event() {
                e.last = ev.detail.clone();
                let next_s = ev.next_in.map(|d| d.as_secs());
                let (name, aor, registrar) = (&e.name, &e.aor, &e.registrar);
                match ev.status {
                    RegStatus::Registering => {
                        tracing::info!(trunk = %name, %registrar, %aor, "trunk registering")
                    }
                    RegStatus::Registered => {
                        tracing::info!(trunk = %name, %registrar, %aor, detail = %ev.detail, refresh_in_s = next_s, "trunk registered")
                    }
                    RegStatus::Failed => {
                        tracing::warn!(trunk = %name, %registrar, reason = %ev.detail, retry_in_s = next_s, "trunk registration failed")
                    }
                    RegStatus::AuthRejected => tracing::error!(
                        trunk = %name, %registrar, %aor, reason = %ev.detail, retry_in_s = next_s,
                        "trunk registration rejected: wrong username or password (check auth_username / password)"
                    ),
                    RegStatus::Unregistered => {
                        tracing::info!(trunk = %name, %registrar, detail = %ev.detail, "trunk unregistered")
                    }
                }
            }
        }
        let view: Vec<TrunkStatus> = self
            .entries
            .iter()
            .map(|e| match &e.reg {
                Some(r) => TrunkStatus {
                    name: e.name.clone(),
                    registrar: e.registrar.clone(),
                    state: r.status().as_str(),
                    detail: e.last.clone(),
                    failures: r.failures_total,
                    registrations: r.registered_total,
                },
                None => TrunkStatus {
                    name: e.name.clone(),
                    registrar: e.registrar.clone(),
                    state: RegStatus::Failed.as_str(),
                    detail: e.broken.clone().unwrap_or_default(),
                    failures: 0,
                    registrations: 0,
                },
            })
            .collect();
        if let Ok(mut t) = self.metrics.trunks.lock() {
            *t = view;
        }
    }
}

fn host_cidr(ip: IpAddr) -> Cidr {
    let s = if ip.is_ipv4() { format!("{ip}/32") } else { format!("{ip}/128") };
    Cidr::parse(&s).unwrap_or_else(|_| Cidr::parse("127.0.0.1/32").expect("literal"))
}

async fn resolve(hp: &crate::sip::trunk::HostPort) -> Option<SocketAddr> {
    resolve_or(hp, 5060).await
}

/// Resolves `hp`, with `default_port` when it names none.
async fn resolve_or(hp: &crate::sip::trunk::HostPort, default_port: u16) -> Option<SocketAddr> {
    if let Some(a) = hp.literal_or(default_port) {
        return Some(a);
    }
    let lookup = tokio::net::lookup_host(hp.lookup_target_or(default_port));
    match tokio::time::timeout(Duration::from_secs(5), lookup).await {
        Ok(Ok(mut addrs)) => addrs.find(|a| a.is_ipv4()).or(None),
        _ => None,
    }
}

/// A TLS trunk's client configuration and the name its server must prove.
fn tls_client(t: &TrunkConfig) -> Result<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>), String> {
    let ca = (!t.tls_ca.trim().is_empty()).then(|| std::path::PathBuf::from(t.tls_ca.trim()));
    let connector = super::tls::connector(ca.as_deref()).map_err(|e| format!("{e:#}"))?;
    let name = t.tls_name()?;
    let name = rustls::pki_types::ServerName::try_from(name.clone())
        .map_err(|_| format!("tls_server_name {name:?} is not a DNS name or IP address"))?;
    Ok((connector, name))
}

/// The trunks' lines in `/metrics`.
pub fn render_metrics(m: &Metrics, s: &mut String) {
    use std::fmt::Write;
    let trunks = m.trunks.lock().map(|t| t.clone()).unwrap_or_default();
    let _ = writeln!(
        s,
        "# HELP sori_sip_forbidden_total Requests refused 403: source outside the allow lists, or wrong inbound credentials.\n\
         # TYPE sori_sip_forbidden_total counter\nsori_sip_forbidden_total {}",
        m.sip_forbidden.load(Relaxed)
    );
    let _ = writeln!(
        s,
        "# HELP sori_sip_challenged_total Requests answered 401 (inbound digest challenge).\n\
         # TYPE sori_sip_challenged_total counter\nsori_sip_challenged_total {}",
        m.sip_challenged.load(Relaxed)
    );
    if trunks.is_empty() {
        return;
    }
    let _ = writeln!(s, "# HELP sori_trunk_registered 1 while the trunk's registration is in force.\n# TYPE sori_trunk_registered gauge");
    for t in &trunks {
        let _ = writeln!(s, "sori_trunk_registered{{trunk=\"{}\"}} {}", t.name, u8::from(t.state == "registered"));
    }
    let _ = writeln!(s, "# HELP sori_trunk_state The trunk's registration state (1 for the current one).\n# TYPE sori_trunk_state gauge");
    for t in &trunks {
        for st in ["registering", "registered", "failed", "auth-rejected", "unregistered"] {
            let _ = writeln!(s, "sori_trunk_state{{trunk=\"{}\",state=\"{st}\"}} {}", t.name, u8::from(t.state == st));
        }
    }
    let _ = writeln!(s, "# HELP sori_trunk_registration_failures_total Failed registration attempts (timeouts, error statuses, rejected credentials).\n# TYPE sori_trunk_registration_failures_total counter");
    for t in &trunks {
        let _ = writeln!(s, "sori_trunk_registration_failures_total{{trunk=\"{}\"}} {}", t.name, t.failures);
    }
    let _ = writeln!(s, "# HELP sori_trunk_registrations_total Successful REGISTERs (first and refreshes).\n# TYPE sori_trunk_registrations_total counter");
    for t in &trunks {
        let _ = writeln!(s, "sori_trunk_registrations_total{{trunk=\"{}\"}} {}", t.name, t.registrations);
    }
}
