//! `[[trunk]]` configuration: where sori registers as a UAC, with which
//! credentials, and which source addresses may send it calls. Validated at
//! start-up with one clear error per bad value.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use super::access::Cidr;
use super::digest::ClientCredentials;
use super::registration::RegConfig;
use crate::config::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrunkConfig {
    /// Shown in logs and metrics (`sori_trunk_registered{trunk="…"}`).
    pub name: String,
    /// `host[:port]` or `sip:host[:port]`; empty: no registration (a trunk
    /// that sends calls to sori's address; only `allow` matters).
    pub registrar: String,
    /// `host[:port]`: REGISTERs go there, with a Route to it.
    pub outbound_proxy: String,
    /// Domain of the address of record (`sip:username@domain`); default:
    /// the registrar's host.
    pub domain: String,
    /// User part of the address of record (e.g. the hotline number).
    pub username: String,
    /// Digest user name when it differs from `username`.
    pub auth_username: String,
    pub password: Secret,
    /// Answer challenges of this realm only (empty: any).
    pub realm: String,
    /// Registration expiry requested, seconds.
    pub expires: u32,
    /// "udp", "tcp" or "tls". Over TCP/TLS sori opens one connection to the
    /// outbound proxy or registrar (TLS: port 5061 by default), registers
    /// over it and takes the calls the registrar sends back on it.
    pub transport: String,
    /// TLS: PEM file of the CA certificate(s) the server's certificate must
    /// chain to (empty: the system's roots).
    pub tls_ca: String,
    /// TLS: the name sent as SNI and checked in the server's certificate
    /// (empty: the host of `outbound_proxy`, else of `registrar`).
    pub tls_server_name: String,
    /// TCP/TLS: seconds between RFC 5626 CRLF keep-alive pings on the
    /// connection (0: none). A registrar that has answered a ping with a
    /// pong and then stops answering has its connection closed and reopened.
    pub keepalive_s: u64,
    /// Source addresses/CIDRs this trunk sends calls from (the registrar's and
    /// outbound proxy's addresses are allowed too).
    pub allow: Vec<String>,
    /// First retry after a failed registration, doubling up to `retry_max_s`.
    pub retry_s: u64,
    pub retry_max_s: u64,
    /// Pause after the registrar refused the credentials.
    pub auth_retry_s: u64,
    /// Media encryption for calls from this trunk: "plain", "offer" or
    /// "require" (empty: the server's `[rtp] srtp`).
    pub srtp: String,
}

impl Default for TrunkConfig {
    fn default() -> Self {
        TrunkConfig {
            name: String::new(),
            registrar: String::new(),
            outbound_proxy: String::new(),
            domain: String::new(),
            username: String::new(),
            auth_username: String::new(),
            password: Secret::default(),
            realm: String::new(),
            expires: 3600,
            transport: "udp".into(),
            tls_ca: String::new(),
            tls_server_name: String::new(),
            keepalive_s: 60,
            allow: Vec::new(),
            retry_s: 30,
            retry_max_s: 600,
            auth_retry_s: 1800,
            srtp: String::new(),
        }
    }
}

/// One `[[sip.inbound_auth]]` user: may call from outside the allow lists
/// after answering a digest challenge.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundUserConfig {
    pub username: String,
    pub password: Secret,
}

pub fn validate_inbound(sip: &crate::config::SipConfig) -> Result<(), String> {
    let (users, realm, algorithms) = (&sip.inbound_auth, &sip.inbound_realm, &sip.inbound_algorithms);
    if algorithms.is_empty() {
        return Err("sip.inbound_algorithms: list at least one (\"SHA-256\", \"MD5\")".into());
    }
    for a in algorithms {
        match super::digest::Algorithm::parse(a) {
            Some((_, false)) => {}
            _ => {
                return Err(format!(
                    "sip.inbound_algorithms: {a:?} is not one of \"SHA-256\", \"MD5\", \"SHA-512-256\""
                ))
            }
        }
    }
    if !users.is_empty() && realm.trim().is_empty() {
        return Err("sip.inbound_realm must not be empty when sip.inbound_auth users are set".into());
    }
    for (i, u) in users.iter().enumerate() {
        if u.username.trim().is_empty() || u.password.0.is_empty() {
            return Err(format!("sip.inbound_auth #{}: give username and password", i + 1));
        }
    }
    Ok(())
}

/// How a trunk reaches its registrar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrunkTransport {
    Udp,
    Tcp,
    Tls,
}

impl TrunkTransport {
    pub fn parse(s: &str) -> Option<TrunkTransport> {
        match s.trim().to_ascii_lowercase().as_str() {
            "udp" => Some(TrunkTransport::Udp),
            "tcp" => Some(TrunkTransport::Tcp),
            "tls" => Some(TrunkTransport::Tls),
            _ => None,
        }
    }

    /// The Via's transport token.
    pub fn via(self) -> &'static str {
        match self {
            TrunkTransport::Udp => "UDP",
            TrunkTransport::Tcp => "TCP",
            TrunkTransport::Tls => "TLS",
        }
    }

    /// The `transport=` URI parameter's value.
    pub fn param(self) -> &'static str {
        match self {
            TrunkTransport::Udp => "udp",
            TrunkTransport::Tcp => "tcp",
            TrunkTransport::Tls => "tls",
        }
    }

    /// RFC 3261 §19.1.2: 5061 for TLS, else 5060.
    pub fn default_port(self) -> u16 {
        if self == TrunkTransport::Tls {
            5061
        } else {
            5060
        }
    }
}

/// `host[:port]` of a SIP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: Option<u16>,
}

impl HostPort {
    pub fn parse(s: &str) -> Result<HostPort, String> {
        let t = s.trim();
        let t = t.strip_prefix("sip:").unwrap_or(t);
        if t.is_empty() {
            return Err("empty address".into());
        }
        if t.contains(['@', ';', '?', '/', ' ']) {
            return Err(format!("{s:?}: give host[:port] only (no user, parameters or path)"));
        }
        let (host, port) = if let Some(rest) = t.strip_prefix('[') {
            let (h, after) = rest.split_once(']').ok_or_else(|| format!("{s:?}: unclosed '['"))?;
            h.parse::<std::net::Ipv6Addr>().map_err(|_| format!("{s:?}: bad IPv6 address"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(format!("{s:?}: junk after ']'")),
            };
            (format!("[{h}]"), port)
        } else {
            match t.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p)),
                Some(_) => return Err(format!("{s:?}: write IPv6 addresses as [addr]:port")),
                None => (t.to_string(), None),
            }
        };
        if !host.starts_with('[') && !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
            return Err(format!("{s:?}: {host:?} is not a host name or IP address"));
        }
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(format!("{s:?}: port must be 1..=65535")),
            },
        };
        Ok(HostPort { host, port })
    }

    pub fn uri(&self) -> String {
        match self.port {
            Some(p) => format!("sip:{}:{p}", self.host),
            None => format!("sip:{}", self.host),
        }
    }

    /// host:port for name resolution (5060 by default).
    pub fn lookup_target(&self) -> String {
        self.lookup_target_or(5060)
    }

    /// host:port for name resolution, `default_port` when none is given.
    pub fn lookup_target_or(&self, default_port: u16) -> String {
        format!("{}:{}", self.host, self.port.unwrap_or(default_port))
    }

    /// The address when the host is an IP literal (no DNS needed).
    pub fn literal(&self) -> Option<SocketAddr> {
        self.literal_or(5060)
    }

    /// The address when the host is an IP literal, `default_port` when none is given.
    pub fn literal_or(&self, default_port: u16) -> Option<SocketAddr> {
        self.ip().map(|ip| SocketAddr::new(ip, self.port.unwrap_or(default_port)))
    }

    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok()
    }
}

impl TrunkConfig {
    pub fn registers(&self) -> bool {
        !self.registrar.trim().is_empty()
    }

    pub fn registrar(&self) -> Result<HostPort, String> {
        HostPort::parse(&self.registrar)
    }

    pub fn outbound_proxy(&self) -> Result<Option<HostPort>, String> {
        if self.outbound_proxy.trim().is_empty() {
            Ok(None)
        } else {
            HostPort::parse(&self.outbound_proxy).map(Some)
        }
    }

    /// Where REGISTERs are sent: the outbound proxy, else the registrar.
    pub fn next_hop(&self) -> Result<HostPort, String> {
        Ok(self.outbound_proxy()?.map_or(self.registrar()?, |p| p))
    }

    /// "udp" when the value is not one of the three (refused by [`validate`]).
    pub fn transport(&self) -> TrunkTransport {
        TrunkTransport::parse(&self.transport).unwrap_or(TrunkTransport::Udp)
    }

    /// TLS: the name the server's certificate is checked against (and sent as SNI).
    pub fn tls_name(&self) -> Result<String, String> {
        if !self.tls_server_name.trim().is_empty() {
            return Ok(self.tls_server_name.trim().to_string());
        }
        let hop = self.next_hop()?;
        Ok(hop.host.trim_start_matches('[').trim_end_matches(']').to_string())
    }

    pub fn allow_list(&self) -> Result<Vec<Cidr>, String> {
        self.allow.iter().map(|a| Cidr::parse(a)).collect()
    }

    /// The registration's settings, given sori's address towards the
    /// registrar (over TCP/TLS: the connection's local address, set again by
    /// [`Registration::flow_up`](super::registration::Registration::flow_up)
    /// with [`TrunkConfig::contact`] for each connection).
    pub fn reg_config(&self, local: SocketAddr, t1: Duration, t2: Duration) -> Result<RegConfig, String> {
        let registrar = self.registrar()?;
        let domain =
            if self.domain.trim().is_empty() { registrar.host.clone() } else { self.domain.trim().to_string() };
        let transport = self.transport();
        let (contact, sent_by) = self.contact(local);
        let auth_user = if self.auth_username.is_empty() { &self.username } else { &self.auth_username };
        // Over TCP/TLS the Route names the transport: the proxy keeps it.
        let route_param =
            if transport == TrunkTransport::Udp { String::new() } else { format!(";transport={}", transport.param()) };
        Ok(RegConfig {
            aor: format!("sip:{}@{domain}", self.username),
            request_uri: registrar.uri(),
            contact,
            via_sent_by: sent_by,
            route: self.outbound_proxy()?.map(|p| format!("<{}{route_param};lr>", p.uri())),
            creds: ClientCredentials { username: auth_user.clone(), password: self.password.0.clone() },
            realm: (!self.realm.is_empty()).then(|| self.realm.clone()),
            expires: self.expires,
            retry_base: Duration::from_secs(self.retry_s),
            retry_max: Duration::from_secs(self.retry_max_s),
            auth_retry: Duration::from_secs(self.auth_retry_s),
            t1,
            t2,
            user_agent: concat!("sori/", env!("CARGO_PKG_VERSION")).into(),
            transport: transport.via(),
        })
    }

    /// The Contact URI and Via sent-by for sori's address `local` (over
    /// TCP/TLS the connection's own local address, so the registrar sends
    /// requests back over that connection).
    pub fn contact(&self, local: SocketAddr) -> (String, String) {
        let host = match local.ip() {
            IpAddr::V6(v) => format!("[{v}]"),
            IpAddr::V4(v) => v.to_string(),
        };
        let sent_by = format!("{host}:{}", local.port());
        (format!("sip:{}@{sent_by};transport={}", self.username, self.transport().param()), sent_by)
    }
}

/// Checks every `[[trunk]]` and `[sip] allow`; the error names the trunk and key.
pub fn validate(trunks: &[TrunkConfig], sip_allow: &[String], udp: bool) -> Result<(), String> {
    for a in sip_allow {
        Cidr::parse(a).map_err(|e| format!("sip.allow: {e}"))?;
    }
    let mut names = std::collections::HashSet::new();
    for (i, t) in trunks.iter().enumerate() {
        let n = &t.name;
        if n.is_empty() {
            return Err(format!("trunk #{}: give it a name (name = \"…\")", i + 1));
        }
        if !n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            return Err(format!("trunk {n:?}: name may hold letters, digits, '-', '_' and '.' only"));
        }
        if !names.insert(n.as_str()) {
            return Err(format!("trunk {n:?}: the name is used twice"));
        }
        let Some(transport) = TrunkTransport::parse(&t.transport) else {
            return Err(format!("trunk {n:?}: transport must be \"udp\", \"tcp\" or \"tls\", not {:?}", t.transport));
        };
        if transport != TrunkTransport::Tls && !(t.tls_ca.is_empty() && t.tls_server_name.is_empty()) {
            return Err(format!("trunk {n:?}: tls_ca and tls_server_name need transport = \"tls\""));
        }
        if transport != TrunkTransport::Udp && !t.registers() {
            return Err(format!(
                "trunk {n:?}: transport {:?} needs a registrar (sori opens the connection to it)",
                t.transport
            ));
        }
        if !t.tls_server_name.is_empty() && HostPort::parse(&t.tls_server_name).map_or(true, |h| h.port.is_some()) {
            return Err(format!(
                "trunk {n:?}: tls_server_name must be a host name or IP address, not {:?}",
                t.tls_server_name
            ));
        }
        if t.keepalive_s > 86_400 {
            return Err(format!("trunk {n:?}: keepalive_s must be 0..=86400 (0: no keep-alive pings)"));
        }
        t.allow_list().map_err(|e| format!("trunk {n:?}: allow: {e}"))?;
        if !t.srtp.is_empty() && crate::sdp::SrtpPolicy::from_name(&t.srtp).is_none() {
            return Err(format!("trunk {n:?}: srtp must be \"plain\", \"offer\" or \"require\", not {:?}", t.srtp));
        }
        if !t.registers() {
            if t.allow.is_empty() {
                return Err(format!("trunk {n:?}: set registrar (to register) or allow (its source addresses)"));
            }
            continue;
        }
        if !udp && transport == TrunkTransport::Udp {
            return Err(format!(
                "trunk {n:?}: registering over UDP needs [sip] udp = true (or transport = \"tcp\"/\"tls\")"
            ));
        }
        t.registrar().map_err(|e| format!("trunk {n:?}: registrar: {e}"))?;
        t.outbound_proxy().map_err(|e| format!("trunk {n:?}: outbound_proxy: {e}"))?;
        if t.username.trim().is_empty() || t.username.contains(['@', ':', ' ', '<', '>', ';']) {
            return Err(format!("trunk {n:?}: username must be the user part of the address (e.g. \"1339\")"));
        }
        if t.password.0.is_empty() {
            return Err(format!("trunk {n:?}: password is empty"));
        }
        if !t.domain.is_empty() {
            HostPort::parse(&t.domain).map_err(|e| format!("trunk {n:?}: domain: {e}"))?;
        }
        if !(10..=86_400).contains(&t.expires) {
            return Err(format!("trunk {n:?}: expires must be 10..=86400 seconds (3600 is usual)"));
        }
        if t.retry_s == 0 || t.retry_max_s < t.retry_s || t.retry_max_s > 86_400 {
            return Err(format!("trunk {n:?}: need 1 ≤ retry_s ≤ retry_max_s ≤ 86400"));
        }
        if !(1..=7 * 86_400).contains(&t.auth_retry_s) {
            return Err(format!("trunk {n:?}: auth_retry_s must be 1..=604800"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trunk() -> TrunkConfig {
        TrunkConfig {
            name: "kt".into(),
            registrar: "sip:pbx.example.org:5080".into(),
            username: "1339".into(),
            password: Secret("pw".into()),
            ..Default::default()
        }
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(
            HostPort::parse("127.0.0.1:5080").expect("ip").literal(),
            Some("127.0.0.1:5080".parse().expect("a"))
        );
        let h = HostPort::parse("sip:pbx.example.org").expect("name");
        assert_eq!(
            (h.uri(), h.lookup_target(), h.literal()),
            ("sip:pbx.example.org".into(), "pbx.example.org:5060".into(), None)
        );
        assert_eq!(HostPort::parse("[::1]:5062").expect("v6").uri(), "sip:[::1]:5062");
        for bad in ["", "sip:1339@pbx", "pbx:0", "pbx:99999", "::1", "pbx;transport=tcp", "p b x"] {
            assert!(HostPort::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_names_the_trunk_and_key() {
        assert!(validate(&[trunk()], &[], true).is_ok());
        let e = |t: TrunkConfig| validate(&[t], &[], true).unwrap_err();
        assert!(e(TrunkConfig { transport: "sctp".into(), ..trunk() }).contains("\"udp\", \"tcp\" or \"tls\""));
        assert!(e(TrunkConfig { password: Secret::default(), ..trunk() }).contains("password"));
        assert!(e(TrunkConfig { registrar: "pbx:x".into(), ..trunk() }).contains("registrar"));
        assert!(e(TrunkConfig { allow: vec!["10.0.0.1/40".into()], ..trunk() }).contains("allow"));
        assert!(e(TrunkConfig { expires: 5, ..trunk() }).contains("expires"));
        assert!(e(TrunkConfig { retry_max_s: u64::MAX, ..trunk() }).contains("retry_max_s"));
        assert!(e(TrunkConfig { auth_retry_s: 0, ..trunk() }).contains("auth_retry_s"));
        assert!(e(TrunkConfig { username: "a@b".into(), ..trunk() }).contains("username"));
        assert!(e(TrunkConfig { name: "k t".into(), ..trunk() }).contains("name"));
        assert!(e(TrunkConfig { registrar: String::new(), ..trunk() }).contains("allow"));
        assert!(validate(&[trunk(), trunk()], &[], true).unwrap_err().contains("twice"));
        assert!(validate(&[trunk()], &[], false).unwrap_err().contains("udp"));
        assert!(validate(&[], &["nope".into()], true).unwrap_err().starts_with("sip.allow"));
        // A static trunk: no registration, only its addresses.
        let st = TrunkConfig { registrar: String::new(), allow: vec!["192.0.2.0/24".into()], ..trunk() };
        assert!(validate(&[st], &[], true).is_ok());
    }

    #[test]
    fn parsed_from_sori_toml() {
        let text = "[sip]\nallow = [\"10.0.0.0/8\"]\n[[sip.inbound_auth]]\nusername = \"pbx\"\npassword = \"x\"\n\n\
                    [[trunk]]\nname = \"kt\"\nregistrar = \"127.0.0.1:5080\"\nusername = \"1339\"\npassword = \"pw\"\n\
                    expires = 120\nallow = [\"192.0.2.0/24\"]\n";
        let c: crate::config::Config = crate::config::parse_toml(std::path::Path::new("x.toml"), text).expect("parses");
        assert!(c.validate().is_ok());
        assert_eq!((c.trunk.len(), c.trunk[0].expires, c.trunk[0].transport.as_str()), (1, 120, "udp"));
        assert_eq!(c.sip.inbound_auth[0].username, "pbx");
        let bad = "[[trunk]]\nname = \"kt\"\nregistrar = \"127.0.0.1\"\nusername = \"1339\"\npasword = \"pw\"\n";
        let e = crate::config::parse_toml::<crate::config::Config>(std::path::Path::new("x.toml"), bad).unwrap_err();
        assert!(e.to_string().starts_with("x.toml:5:"), "{e}");
        // The default configuration, and the shipped sori.toml, have no trunk and stay open.
        assert!(crate::config::Config::default().trunk.is_empty());
        let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/sori.toml");
        let text = std::fs::read_to_string(shipped).expect("sori.toml");
        let c: crate::config::Config = crate::config::parse_toml(std::path::Path::new(shipped), &text).expect("parses");
        assert!(c.trunk.is_empty() && c.sip.allow.is_empty() && c.sip.inbound_auth.is_empty());
    }

    #[test]
    fn registration_settings() {
        let t = TrunkConfig { auth_username: "auth1339".into(), outbound_proxy: "10.0.0.1:5070".into(), ..trunk() };
        let c = t.reg_config("10.0.0.5:5060".parse().expect("a"), Duration::from_millis(500), Duration::from_secs(4));
        let c = c.expect("config");
        assert_eq!(c.aor, "sip:1339@pbx.example.org");
        assert_eq!(c.request_uri, "sip:pbx.example.org:5080");
        assert_eq!(c.contact, "sip:1339@10.0.0.5:5060;transport=udp");
        assert_eq!(c.route.as_deref(), Some("<sip:10.0.0.1:5070;lr>"));
        assert_eq!(c.creds.username, "auth1339");
        assert_eq!(t.next_hop().expect("hop").lookup_target(), "10.0.0.1:5070");
        assert!(!format!("{t:?}").contains("pw\""), "the password never shows");
        assert!(!format!("{c:?}").contains("\"pw\""), "nor in the registration's settings");
    }

    #[test]
    fn tcp_and_tls_trunks_validate() {
        let ok = |t: TrunkConfig, udp: bool| validate(&[t], &[], udp);
        let tls = TrunkConfig { transport: "TLS".into(), tls_ca: "/etc/sori/ca.pem".into(), ..trunk() };
        assert!(ok(tls.clone(), true).is_ok());
        assert!(ok(TrunkConfig { transport: "tcp".into(), ..trunk() }, true).is_ok());
        // No UDP socket needed for a TCP/TLS registration.
        assert!(ok(TrunkConfig { transport: "tcp".into(), ..trunk() }, false).is_ok());
        assert!(ok(TrunkConfig { tls_server_name: "sip.example.org".into(), ..tls.clone() }, true).is_ok());
        assert!(ok(TrunkConfig { tls_server_name: "192.0.2.7".into(), ..tls.clone() }, true).is_ok());
        let e = |t: TrunkConfig| validate(&[t], &[], true).unwrap_err();
        assert!(e(TrunkConfig { tls_ca: "ca.pem".into(), ..trunk() }).contains("need transport = \"tls\""));
        assert!(e(TrunkConfig { tls_server_name: "x".into(), transport: "tcp".into(), ..trunk() }).contains("tls"));
        assert!(e(TrunkConfig { tls_server_name: "a b".into(), ..tls.clone() }).contains("tls_server_name"));
        assert!(e(TrunkConfig { tls_server_name: "host:5061".into(), ..tls.clone() }).contains("tls_server_name"));
        assert!(e(TrunkConfig { keepalive_s: 100_000, ..tls.clone() }).contains("keepalive_s"));
        let st = TrunkConfig { registrar: String::new(), allow: vec!["192.0.2.0/24".into()], ..tls };
        assert!(e(st).contains("needs a registrar"));
        // Parsed from TOML with the new keys.
        let text = "[[trunk]]\nname = \"kt\"\nregistrar = \"pbx.example.org\"\nusername = \"1339\"\npassword = \"pw\"\n\
                    transport = \"tls\"\ntls_ca = \"ca.pem\"\ntls_server_name = \"sip.example.org\"\nkeepalive_s = 30\n";
        let c: crate::config::Config = crate::config::parse_toml(std::path::Path::new("x.toml"), text).expect("parses");
        assert!(c.validate().is_ok());
        let t = &c.trunk[0];
        assert_eq!((t.transport(), t.tls_ca.as_str(), t.keepalive_s), (TrunkTransport::Tls, "ca.pem", 30));
        assert_eq!(t.tls_name().as_deref(), Ok("sip.example.org"));
    }

    #[test]
    fn tcp_and_tls_request_building() {
        let t1 = Duration::from_millis(500);
        let t2 = Duration::from_secs(4);
        let local: SocketAddr = "10.0.0.5:40123".parse().expect("a");
        let tcp = TrunkConfig { transport: "tcp".into(), ..trunk() };
        let c = tcp.reg_config(local, t1, t2).expect("config");
        assert_eq!((c.transport, c.stream()), ("TCP", true));
        assert_eq!(c.contact, "sip:1339@10.0.0.5:40123;transport=tcp");
        assert_eq!(c.via_sent_by, "10.0.0.5:40123");
        assert_eq!(c.request_uri, "sip:pbx.example.org:5080", "the Request-URI names the registrar only");
        let tls = TrunkConfig { transport: "tls".into(), outbound_proxy: "[2001:db8::1]".into(), ..trunk() };
        let c = tls.reg_config("[2001:db8::5]:40124".parse().expect("a"), t1, t2).expect("config");
        assert_eq!(c.transport, "TLS");
        assert_eq!(c.contact, "sip:1339@[2001:db8::5]:40124;transport=tls");
        assert_eq!(c.route.as_deref(), Some("<sip:[2001:db8::1];transport=tls;lr>"), "the proxy keeps the transport");
        // TLS defaults to port 5061 and verifies the host connected to.
        let hop = tls.next_hop().expect("hop");
        assert_eq!(hop.literal_or(tls.transport().default_port()), Some("[2001:db8::1]:5061".parse().expect("a")));
        assert_eq!(tls.tls_name().as_deref(), Ok("2001:db8::1"));
        let direct = TrunkConfig { transport: "tls".into(), ..trunk() };
        assert_eq!(direct.tls_name().as_deref(), Ok("pbx.example.org"));
        assert_eq!(HostPort::parse("pbx.example.org").expect("h").lookup_target_or(5061), "pbx.example.org:5061");
        // UDP stays as it was.
        let c = trunk().reg_config(local, t1, t2).expect("config");
        assert_eq!((c.transport, c.stream(), c.route), ("UDP", false, None));
    }
}
