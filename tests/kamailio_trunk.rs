//! sori on a real phone network's edge: Debian's kamailio, started here on
//! loopback as registrar + proxy with digest authentication
//! (tests/data/kamailio/kamailio.cfg), and a `[[trunk]]` in sori's config.
//!
//! - sori registers (SHA-256 digest), refreshes through a stale nonce, and a
//!   SIPp caller reaches the hotline through kamailio: sori answers, the
//!   caller's RTP socket hears the greeting, "0" transfers it by REFER; at
//!   shutdown sori un-REGISTERs;
//! - a wrong password (MD5 this time) is `auth-rejected` with one log line
//!   and no retry storm;
//! - an INVITE straight to sori from an unlisted source gets 403 (counted),
//!   a listed one is served;
//! - over TCP and TLS (tests/data/kamailio/kamailio-flows.cfg; TLS needs
//!   Debian's kamailio-tls-modules, certificates made here with `openssl`):
//!   sori registers over its own connection, kamailio sends the caller's
//!   INVITE back over that very connection and sori answers with the
//!   greeting; the TCP trunk reconnects and registers again after kamailio
//!   restarts; a server certificate from an untrusted CA is one clear
//!   failure, not a retry storm;
//! - a TCP registrar (a stand-in here, no kamailio needed) that answers one
//!   CRLF keep-alive ping and then falls silent has its connection closed
//!   and sori registers again on a new one.
//!
//! Needs `kamailio` (scripts/install-deps.sh installs it); without it each
//! test says so and returns.

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::kamailio::{self, Kamailio};
use common::{free_port, http, tail, Options, Sori};

const USER: &str = "1339";
const PASSWORD: &str = "s3cret-1339";

/// Debian's kamailio from tests/data/kamailio/kamailio.cfg, with this
/// digest algorithm and nonce lifetime.
fn start_kamailio(bin: &Path, modules: &Path, algorithm: &str, nonce_expire: u32) -> Kamailio {
    Kamailio::start(
        bin,
        modules,
        "kamailio.cfg",
        &[
            ("@@ALGORITHM@@", algorithm.to_string()),
            ("@@NONCE_EXPIRE@@", nonce_expire.to_string()),
            ("@@REALM@@", "sori-test".to_string()),
            ("@@PASSWORD@@", PASSWORD.to_string()),
            ("@@USER@@", USER.to_string()),
        ],
    )
}

fn trunk_config(k: &Kamailio, password: &str, extra: &str) -> String {
    format!(
        "\n[[trunk]]\nname = \"kam\"\nregistrar = \"127.0.0.1:{}\"\nusername = \"{USER}\"\npassword = \"{password}\"\n\
         expires = 10\nretry_s = 1\nretry_max_s = 5\n{extra}\n",
        k.port
    )
}

fn healthz_trunk(sori: &Sori) -> serde_json::Value {
    let (status, body) = http(sori.http_port, "GET", "/healthz", "");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("healthz json");
    v["trunks"][0].clone()
}

fn wait_state(sori: &Sori, k: &Kamailio, state: &str, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let t = healthz_trunk(sori);
        if t["state"] == state {
            return t;
        }
        if Instant::now() > deadline {
            panic!(
                "trunk never reached {state:?} (last: {t})\n--- sori log ---\n{}\n--- kamailio log ---\n{}",
                tail(&sori.log(), 3000),
                tail(&k.log(), 3000)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metric(sori: &Sori, line_prefix: &str) -> Option<f64> {
    let (_, body) = http(sori.http_port, "GET", "/metrics", "");
    body.lines().find(|l| l.starts_with(line_prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

/// A SIPp scenario from tests/sipp/ against `target`, from `local_ip`.
fn sipp(dir: &Path, scenario: &str, target: &str, local_ip: &str, extra: &[&str]) -> (bool, String) {
    let r = common::sipp_at(dir, scenario, target, local_ip, extra);
    (r.ok, r.output)
}

/// Listens for RTP; returns (packets, packets with audible μ-law payload).
fn rtp_listener(sock: UdpSocket, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, usize)> {
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        let (mut packets, mut loud) = (0, 0);
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let Ok(n) = sock.recv(&mut buf) else { continue };
            if n <= 12 || buf[1] & 0x7f != 0 {
                continue; // not PCMU audio (e.g. telephone-event)
            }
            packets += 1;
            // μ-law silence is 0xFF / 0x7F (±0); speech has many louder codes.
            let audible = buf[12..n].iter().filter(|&&b| (b & 0x7f) < 0x70).count();
            if audible > 20 {
                loud += 1;
            }
        }
        (packets, loud)
    })
}

/// A SIPp caller dials the hotline at kamailio's UDP port; kamailio relays
/// the call to the registered sori, which answers with the greeting (heard
/// on the caller's RTP socket) and transfers on "0". Returns the call's
/// record (the `nth` call of this sori).
fn call_through(sori: &Sori, k: &Kamailio, nth: usize) -> sori::store::CallRecord {
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("rtp socket");
    let rtp_port = rtp.local_addr().expect("addr").port();
    let stop = Arc::new(AtomicBool::new(false));
    let heard = rtp_listener(rtp, stop.clone());
    let target = format!("127.0.0.1:{}", k.port);
    let (ok, out) =
        sipp(sori.dir.path(), "trunk_call", &target, "127.0.0.1", &["-key", "rtp_port", &rtp_port.to_string()]);
    stop.store(true, Ordering::Relaxed);
    let (packets, loud) = heard.join().expect("listener");
    assert!(
        ok,
        "SIPp through kamailio failed:\n{}\n--- sori log ---\n{}\n--- kamailio log ---\n{}",
        tail(&out, 3000),
        tail(&sori.log(), 3000),
        tail(&k.log(), 3000)
    );
    assert!(packets >= 100, "the caller got {packets} RTP packets from sori in 3 s");
    assert!(loud >= 25, "only {loud} of {packets} packets carried the greeting's speech");
    let mut recs = sori.wait_records(nth, Duration::from_secs(10));
    recs.sort_by_key(|r| r.started_ms);
    let r = recs.get(nth - 1).cloned().expect("call record");
    assert_eq!(r.outcome.as_deref(), Some("transferred"), "{r:?}");
    assert_eq!(r.dtmf, "0");
    assert!(k.log().contains("INVITE for sip:1339@"), "kamailio relayed the INVITE");
    r
}

#[test]
fn registers_through_kamailio_answers_its_call_and_transfers_by_refer() {
    let Some((bin, modules)) = kamailio::need("registers_through_kamailio_answers_its_call_and_transfers_by_refer")
    else {
        return;
    };
    // Nonces last 5 s and sori refreshes its 10 s registration after 7.5 s:
    // the refresh meets a stale nonce.
    let k = start_kamailio(&bin, &modules, "SHA-256", 5);
    let mut sori = Sori::start(Options { extra: trunk_config(&k, PASSWORD, ""), ..Default::default() });
    let registered_at = Instant::now();
    let t = wait_state(&sori, &k, "registered", Duration::from_secs(15));
    assert_eq!(t["failures"], 0, "{t}");
    let klog = k.log();
    let saved = klog.lines().find(|l| l.contains(&format!("REGISTER saved sip:{USER}@127.0.0.1")));
    assert!(saved.is_some_and(|l| l.contains("algorithm=SHA-256")), "SHA-256 digest:\n{}", tail(&klog, 3000));
    assert_eq!(metric(&sori, "sori_trunk_registered{trunk=\"kam\"}"), Some(1.0));

    // A caller dials the hotline number at kamailio, which relays to sori.
    let target = format!("127.0.0.1:{}", k.port);
    let r = call_through(&sori, &k, 1);
    assert_eq!(r.remote_addr, target, "the call came through kamailio");
    assert_eq!(r.transport, "udp");

    // The registration was refreshed (same Call-ID) through a stale nonce
    // without counting a failure.
    let deadline = registered_at + Duration::from_secs(20);
    while metric(&sori, "sori_trunk_registrations_total{trunk=\"kam\"}").unwrap_or(0.0) < 2.0 {
        assert!(Instant::now() < deadline, "no refresh; sori log:\n{}", tail(&sori.log(), 3000));
        std::thread::sleep(Duration::from_millis(200));
    }
    let klog = k.log();
    assert!(klog.contains("stale nonce"), "kamailio saw no stale nonce:\n{}", tail(&klog, 3000));
    let call_ids: std::collections::HashSet<&str> =
        klog.lines().filter(|l| l.contains("REGISTER from")).filter_map(|l| l.split("callid=").nth(1)).collect();
    assert_eq!(call_ids.len(), 1, "one Call-ID across refreshes: {call_ids:?}");
    let t = healthz_trunk(&sori);
    assert_eq!((t["state"].as_str(), t["failures"].as_u64()), (Some("registered"), Some(0)), "{t}");

    // Shutdown takes the registration back.
    assert_eq!(sori.stop(), Some(0));
    let log = sori.log();
    assert!(log.contains("trunk unregistered"), "{}", tail(&log, 2000));
    assert!(k.log().contains("expires=0"), "kamailio got no un-REGISTER:\n{}", tail(&k.log(), 2000));
}

#[test]
fn wrong_password_is_auth_rejected_with_one_log_line() {
    let Some((bin, modules)) = kamailio::need("wrong_password_is_auth_rejected_with_one_log_line") else {
        return;
    };
    let k = start_kamailio(&bin, &modules, "MD5", 300);
    // A pause after rejection long enough that no retry falls in the test.
    let sori = Sori::start(Options {
        extra: trunk_config(&k, "not-the-password", "auth_retry_s = 600"),
        ..Default::default()
    });
    let t = wait_state(&sori, &k, "auth-rejected", Duration::from_secs(15));
    assert_eq!(t["failures"], 1, "{t}");
    assert!(t["detail"].as_str().is_some_and(|d| d.contains("401")), "{t}");
    assert!(k.log().contains("algorithm=MD5"), "answered kamailio's MD5 challenge");
    std::thread::sleep(Duration::from_secs(3));
    let log = sori.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("trunk registration rejected")).collect();
    assert_eq!(lines.len(), 1, "one clear line, not a retry storm:\n{}", tail(&log, 3000));
    assert!(lines[0].contains("wrong username or password"), "{}", lines[0]);
    assert!(!log.contains("not-the-password"), "the password never reaches the log");
    let registers = k.log().lines().filter(|l| l.contains("REGISTER from")).count();
    assert_eq!(registers, 2, "one challenge, one authenticated try, then quiet:\n{}", tail(&k.log(), 3000));
    assert_eq!(metric(&sori, "sori_trunk_registered{trunk=\"kam\"}"), Some(0.0));
    assert_eq!(metric(&sori, "sori_trunk_state{trunk=\"kam\",state=\"auth-rejected\"}"), Some(1.0));
    assert_eq!(metric(&sori, "sori_trunk_registration_failures_total{trunk=\"kam\"}"), Some(1.0));
}

#[test]
fn unlisted_source_gets_403_and_a_listed_one_is_served() {
    let Some((bin, modules)) = kamailio::need("unlisted_source_gets_403_and_a_listed_one_is_served") else {
        return;
    };
    let k = start_kamailio(&bin, &modules, "SHA-256", 300);
    // Registered through an outbound proxy: the registrar is a name (resolved
    // like any DNS name), the REGISTER goes to kamailio with a Route to it.
    let extra = format!(
        "\n[[trunk]]\nname = \"kam\"\nregistrar = \"localhost\"\noutbound_proxy = \"127.0.0.1:{}\"\nusername = \"{USER}\"\n\
         password = \"{PASSWORD}\"\nallow = [\"127.0.0.3/32\"]\n",
        k.port
    );
    let sori = Sori::start(Options { extra, ..Default::default() });
    wait_state(&sori, &k, "registered", Duration::from_secs(15));
    let klog = k.log();
    let first = klog.lines().find(|l| l.contains("REGISTER from")).unwrap_or_default();
    assert!(
        first.contains("ruri=sip:localhost ") && first.contains(&format!("route=<sip:127.0.0.1:{};lr>", k.port)),
        "REGISTER via the outbound proxy: {first}"
    );
    let target = sori.addr().to_string();
    let (ok, out) = sipp(sori.dir.path(), "forbidden", &target, "127.0.0.2", &[]);
    assert!(ok, "127.0.0.2 is not listed and must get 403:\n{}\n{}", tail(&out, 3000), tail(&sori.log(), 3000));
    assert!(metric(&sori, "sori_sip_forbidden_total").unwrap_or(0.0) >= 1.0);
    assert!(sori.records().is_empty(), "a refused source creates no call");
    // The trunk's own allow list lets 127.0.0.3 in.
    let (ok, out) = sipp(sori.dir.path(), "options", &target, "127.0.0.3", &[]);
    assert!(ok, "127.0.0.3 is listed:\n{}\n{}", tail(&out, 3000), tail(&sori.log(), 3000));
}

#[test]
fn inbound_digest_user_calls_from_an_unlisted_source() {
    let Some((bin, modules)) = kamailio::need("inbound_digest_user_calls_from_an_unlisted_source") else {
        return;
    };
    let k = start_kamailio(&bin, &modules, "SHA-256", 300);
    let sip =
        "inbound_realm = \"sori-hotline\"\ninbound_algorithms = [\"MD5\"]\n[[sip.inbound_auth]]\nusername = \"branch-pbx\"\npassword = \"pbx-pw\"\n";
    let sori = Sori::start(Options { sip: sip.into(), extra: trunk_config(&k, PASSWORD, ""), ..Default::default() });
    wait_state(&sori, &k, "registered", Duration::from_secs(15));
    let target = sori.addr().to_string();
    // Wrong password: refused after the challenge.
    let (ok, _) = sipp(sori.dir.path(), "digest_call", &target, "127.0.0.2", &["-au", "branch-pbx", "-ap", "nope"]);
    assert!(!ok, "a wrong password must not get a call");
    assert!(metric(&sori, "sori_sip_forbidden_total").unwrap_or(0.0) >= 1.0);
    let (ok, out) = sipp(sori.dir.path(), "digest_call", &target, "127.0.0.2", &["-au", "branch-pbx", "-ap", "pbx-pw"]);
    assert!(ok, "digest caller refused:\n{}\n--- sori log ---\n{}", tail(&out, 3000), tail(&sori.log(), 3000));
    assert!(metric(&sori, "sori_sip_challenged_total").unwrap_or(0.0) >= 2.0);
    let recs = sori.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1, "one call: the authenticated one");
    assert_eq!(recs[0].outcome.as_deref(), Some("caller-hangup"));
}

// ------------------------------------------------------------ TCP and TLS

/// kamailio-flows.cfg: callers on UDP `k.port`, sori's registration on TCP
/// `tcp_port`, and on TLS `tls.0` with the tls module's config `tls.1`.
fn start_flows_kamailio(bin: &Path, modules: &Path, tcp_port: u16, tls: Option<(u16, &Path)>) -> Kamailio {
    let (defines, tls_port, tls_cfg) = match tls {
        Some((port, cfg)) => ("#!define WITH_TLS", port, cfg.display().to_string()),
        None => ("", 0, String::new()),
    };
    Kamailio::start(
        bin,
        modules,
        "kamailio-flows.cfg",
        &[
            ("@@DEFINES@@", defines.to_string()),
            ("@@TCP_PORT@@", tcp_port.to_string()),
            ("@@TLS_PORT@@", tls_port.to_string()),
            ("@@TLS_CFG@@", tls_cfg),
            ("@@ALGORITHM@@", "SHA-256".to_string()),
            ("@@NONCE_EXPIRE@@", "300".to_string()),
            ("@@REALM@@", "sori-test".to_string()),
            ("@@PASSWORD@@", PASSWORD.to_string()),
            ("@@USER@@", USER.to_string()),
        ],
    )
}

fn stream_trunk(port: u16, transport: &str, extra: &str) -> String {
    format!(
        "\n[[trunk]]\nname = \"kam\"\nregistrar = \"127.0.0.1:{port}\"\ntransport = \"{transport}\"\nusername = \"{USER}\"\n\
         password = \"{PASSWORD}\"\nexpires = 60\nretry_s = 1\nretry_max_s = 2\nkeepalive_s = 1\n{extra}\n"
    )
}

/// The port of the Contact kamailio saved for sori over `proto`, from its log.
fn saved_contact_port(k: &Kamailio, proto: &str) -> u16 {
    let klog = k.log();
    let line = klog
        .lines()
        .rfind(|l| l.contains(&format!("REGISTER saved sip:{USER}@127.0.0.1 over {proto} contact")))
        .unwrap_or_else(|| panic!("no REGISTER over {proto}:\n{}", tail(&klog, 3000)));
    assert!(line.contains(&format!(";transport={proto}>")), "Contact names the transport: {line}");
    let after = line.split("contact <sip:1339@127.0.0.1:").nth(1).unwrap_or_default();
    after.split(';').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("contact port in {line}"))
}

fn kamailio_tls() -> bool {
    kamailio::need("kamailio TLS").is_some_and(|(_, m)| m.join("tls.so").exists())
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").current_dir(dir).args(args).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA (`<ca>.pem`) and, signed by it, a server certificate for
/// "sip.test" and 127.0.0.1 (`<ca>-server.pem`, `<ca>-server.key`).
fn make_pki(dir: &Path, ca: &str) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let (ca_key, ca_pem) = (format!("{ca}.key"), format!("{ca}.pem"));
    let subj = format!("/CN=sori test {ca}");
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend(["-keyout", &ca_key, "-out", &ca_pem, "-days", "2", "-subj", &subj]);
    a.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl(dir, &a);
    let (key, csr, pem) = (format!("{ca}-server.key"), format!("{ca}-server.csr"), format!("{ca}-server.pem"));
    let mut a = vec!["req"];
    a.extend(ec);
    a.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=sip.test"]);
    openssl(dir, &a);
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:sip.test,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    let serial = format!("{ca}.srl");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAserial",
            &serial,
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

/// The tls module's config: kamailio presents `<ca>-server.pem`.
fn kamailio_tls_cfg(dir: &Path, ca: &str) -> std::path::PathBuf {
    let path = dir.join("kamailio-tls.cfg");
    let d = dir.display();
    std::fs::write(
        &path,
        format!(
            "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n\
             private_key = {d}/{ca}-server.key\ncertificate = {d}/{ca}-server.pem\n\n\
             [client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
        ),
    )
    .expect("tls cfg");
    path
}

#[test]
fn registers_over_tcp_takes_the_call_on_that_connection_and_reconnects() {
    let Some((bin, modules)) = kamailio::need("registers_over_tcp_takes_the_call_on_that_connection_and_reconnects")
    else {
        return;
    };
    let tcp_port = free_port();
    let k = start_flows_kamailio(&bin, &modules, tcp_port, None);
    let mut sori = Sori::start(Options { extra: stream_trunk(tcp_port, "tcp", ""), ..Default::default() });
    let t = wait_state(&sori, &k, "registered", Duration::from_secs(15));
    assert_eq!(t["failures"], 0, "{t}");
    let flow_port = saved_contact_port(&k, "tcp");
    assert_ne!(flow_port, sori.sip_port, "the Contact is the connection's own port, not a listener");
    assert!(k.log().contains(&format!("REGISTER from 127.0.0.1:{flow_port} proto=tcp")), "{}", tail(&k.log(), 3000));

    // The caller's INVITE reaches sori over the registered connection.
    let r = call_through(&sori, &k, 1);
    assert_eq!((r.transport.as_str(), r.remote_addr.as_str()), ("tcp", format!("127.0.0.1:{tcp_port}").as_str()));
    let relayed = format!("relayed to sip:1339@127.0.0.1:{flow_port};transport=tcp");
    assert!(k.log().contains(&relayed), "kamailio used the flow:\n{}", tail(&k.log(), 3000));

    // kamailio goes away: the flow is lost, sori retries with back-off and
    // registers again on a new connection once kamailio is back.
    let first_log = k.log();
    drop(k);
    wait_state_quiet(&sori, "failed", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    let k = start_flows_kamailio(&bin, &modules, tcp_port, None);
    let t = wait_state(&sori, &k, "registered", Duration::from_secs(15));
    assert!(t["registrations"].as_u64().unwrap_or(0) >= 2, "{t}");
    let new_port = saved_contact_port(&k, "tcp");
    assert_ne!(new_port, flow_port, "a new connection");
    let log = sori.log();
    // One loss for the outage; sori's immediate reconnect may still reach
    // the dying kamailio's listener and be reset (a second, real loss), but
    // the back-off retries against the closed port log nothing of the kind.
    let lost = log.matches("trunk connection lost").count();
    assert!((1..=2).contains(&lost), "{lost} connections lost:\n{}", tail(&log, 3000));
    let changes = log.matches("trunk registration failed").count();
    assert_eq!(changes, 1, "one line for the outage, not one per retry:\n{}", tail(&log, 3000));
    let attempts = log.matches("trunk connecting").count();
    assert!((3..=20).contains(&attempts), "{attempts} connection attempts while kamailio was down (1-2 s back-off)");
    // Calls work again over the new connection.
    let r = call_through(&sori, &k, 2);
    assert_eq!(r.transport, "tcp");
    assert!(k.log().contains(&format!("relayed to sip:1339@127.0.0.1:{new_port};transport=tcp")));
    assert!(first_log.contains("proto=tcp"));
    assert_eq!(sori.stop(), Some(0));
    assert!(sori.log().contains("trunk unregistered"), "{}", tail(&sori.log(), 2000));
    assert!(k.log().contains("expires=0"), "un-REGISTER over the connection:\n{}", tail(&k.log(), 2000));
}

/// Like `wait_state` while kamailio is down.
fn wait_state_quiet(sori: &Sori, state: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while healthz_trunk(sori)["state"] != state {
        assert!(Instant::now() < deadline, "never {state}:\n{}", tail(&sori.log(), 3000));
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn registers_over_tls_and_answers_the_call_on_that_connection() {
    let Some((bin, modules)) = kamailio::need("registers_over_tls_and_answers_the_call_on_that_connection") else {
        return;
    };
    if !kamailio_tls() {
        eprintln!("SKIPPED registers_over_tls_and_answers_the_call_on_that_connection: no kamailio tls.so (apt-get install kamailio-tls-modules)");
        return;
    }
    let pki = tempfile::tempdir().expect("tmp");
    make_pki(pki.path(), "ca");
    let tls_cfg = kamailio_tls_cfg(pki.path(), "ca");
    let (tcp_port, tls_port) = (free_port(), free_port());
    let k = start_flows_kamailio(&bin, &modules, tcp_port, Some((tls_port, &tls_cfg)));
    let extra = format!("tls_ca = \"{}/ca.pem\"\ntls_server_name = \"sip.test\"", pki.path().display());
    let sori = Sori::start(Options { extra: stream_trunk(tls_port, "tls", &extra), ..Default::default() });
    let t = wait_state(&sori, &k, "registered", Duration::from_secs(15));
    assert_eq!(t["failures"], 0, "{t}");
    let flow_port = saved_contact_port(&k, "tls");
    let r = call_through(&sori, &k, 1);
    assert_eq!((r.transport.as_str(), r.remote_addr.as_str()), ("tls", format!("127.0.0.1:{tls_port}").as_str()));
    let relayed = format!("relayed to sip:1339@127.0.0.1:{flow_port};transport=tls");
    assert!(k.log().contains(&relayed), "kamailio used the TLS flow:\n{}", tail(&k.log(), 3000));
    assert_eq!(metric(&sori, "sori_trunk_registered{trunk=\"kam\"}"), Some(1.0));
}

#[test]
fn tls_server_from_an_untrusted_ca_fails_once_without_a_retry_storm() {
    let Some((bin, modules)) = kamailio::need("tls_server_from_an_untrusted_ca_fails_once_without_a_retry_storm")
    else {
        return;
    };
    if !kamailio_tls() {
        eprintln!("SKIPPED tls_server_from_an_untrusted_ca_fails_once_without_a_retry_storm: no kamailio tls.so");
        return;
    }
    let pki = tempfile::tempdir().expect("tmp");
    make_pki(pki.path(), "ca");
    make_pki(pki.path(), "other");
    let tls_cfg = kamailio_tls_cfg(pki.path(), "ca");
    let (tcp_port, tls_port) = (free_port(), free_port());
    let k = start_flows_kamailio(&bin, &modules, tcp_port, Some((tls_port, &tls_cfg)));
    // sori trusts another CA only.
    let extra = format!("tls_ca = \"{}/other.pem\"", pki.path().display());
    let sori = Sori::start(Options { extra: stream_trunk(tls_port, "tls", &extra), ..Default::default() });
    let t = wait_state(&sori, &k, "failed", Duration::from_secs(15));
    let detail = t["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("certificate") && detail.contains("tls_ca"), "{t}");
    std::thread::sleep(Duration::from_secs(3));
    let t = healthz_trunk(&sori);
    assert_eq!((t["state"].as_str(), t["failures"].as_u64()), (Some("failed"), Some(1)), "no retry within 3 s: {t}");
    let log = sori.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("trunk registration failed")).collect();
    assert_eq!(lines.len(), 1, "one clear line:\n{}", tail(&log, 3000));
    assert!(lines[0].contains("UnknownIssuer") || lines[0].contains("certificate"), "{}", lines[0]);
    assert!(!k.log().contains("REGISTER from"), "no REGISTER left sori");
    assert_eq!(metric(&sori, "sori_trunk_state{trunk=\"kam\",state=\"failed\"}"), Some(1.0));
}

/// A stand-in registrar on one accepted TCP connection: answers every
/// REGISTER 200 (Expires: 60) and the first `pongs` CRLF keep-alive pings
/// with a pong, then ignores pings while keeping the connection open for
/// `hold`. Returns how many REGISTERs it answered.
fn fake_registrar(mut c: std::net::TcpStream, pongs: usize, hold: Duration) -> usize {
    use std::io::{Read, Write};
    c.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let (mut buf, mut chunk) = (Vec::<u8>::new(), [0u8; 4096]);
    let (mut answered, mut ponged) = (0, 0);
    let until = Instant::now() + hold;
    while Instant::now() < until {
        match c.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
        loop {
            if buf.starts_with(b"\r\n\r\n") {
                buf.drain(..4);
                if ponged < pongs {
                    ponged += 1;
                    let _ = c.write_all(b"\r\n");
                }
                continue;
            }
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n").filter(|_| !buf.starts_with(b"\r\n")) else {
                break;
            };
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            buf.drain(..end + 4); // REGISTERs carry no body
            if !head.starts_with("REGISTER ") {
                continue;
            }
            let pick = |name: &str| {
                head.lines().filter(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:"))).collect::<Vec<_>>()
            };
            let mut resp = String::from("SIP/2.0 200 OK\r\n");
            for name in ["via", "from", "call-id", "cseq"] {
                for l in pick(name) {
                    resp.push_str(&format!("{l}\r\n"));
                }
            }
            for l in pick("to") {
                resp.push_str(&format!("{l};tag=fake\r\n"));
            }
            resp.push_str("Expires: 60\r\nContent-Length: 0\r\n\r\n");
            let _ = c.write_all(resp.as_bytes());
            answered += 1;
        }
    }
    answered
}

#[test]
fn a_connection_whose_server_stops_answering_keepalives_is_reopened() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let sori = Sori::start(Options { extra: stream_trunk(port, "tcp", ""), ..Default::default() });
    // The first connection answers one ping, then goes silent (still open).
    listener.set_nonblocking(true).expect("nonblocking");
    let accept = |within: Duration| {
        let deadline = Instant::now() + within;
        loop {
            match listener.accept() {
                Ok((c, _)) => {
                    c.set_nonblocking(false).expect("blocking");
                    break c;
                }
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => panic!("sori did not connect ({e}):\n{}", tail(&sori.log(), 3000)),
            }
        }
    };
    let c1 = accept(Duration::from_secs(15));
    let first = std::thread::spawn(move || fake_registrar(c1, 1, Duration::from_secs(30)));
    // 1 s to the unanswered ping, 10 s for its pong, then a new connection.
    let c2 = accept(Duration::from_secs(25));
    let second = std::thread::spawn(move || fake_registrar(c2, usize::MAX, Duration::from_secs(4)));
    let deadline = Instant::now() + Duration::from_secs(4);
    while healthz_trunk(&sori)["registrations"].as_u64().unwrap_or(0) < 2 {
        assert!(Instant::now() < deadline, "not registered again: {}", tail(&sori.log(), 3000));
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = sori.log();
    let lost: Vec<&str> = log.lines().filter(|l| l.contains("trunk connection lost")).collect();
    assert_eq!(lost.len(), 1, "{}", tail(&log, 3000));
    assert!(lost[0].contains("no keep-alive pong"), "{}", lost[0]);
    assert_eq!(healthz_trunk(&sori)["state"], "registered");
    drop(sori);
    assert!(first.join().expect("first") >= 1, "the first connection registered");
    assert!(second.join().expect("second") >= 1);
}
