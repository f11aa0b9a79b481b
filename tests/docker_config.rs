//! The container setup's files agree with each other and parse: Asterisk is
//! not packaged for Debian 12 here, so its config is checked by reading it
//! (syntax, and that numbers, addresses, ports and codecs match what sori
//! and kamailio are configured with); kamailio's is checked by kamailio
//! itself (`-c`), sori's by sori's own loader.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::repo;

/// An Asterisk .conf file: (section, key, value) in order. Panics, naming
/// the line, on anything that is not a comment, a `[section]` (optionally
/// with `(template)` / `(!)`), `key = value` or `key => value`.
fn asterisk_conf(path: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut section = String::new();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let at = format!("{}:{}", path.display(), i + 1);
        if let Some(rest) = line.strip_prefix('[') {
            let (name, tail) = rest.split_once(']').unwrap_or_else(|| panic!("{at}: unclosed section"));
            assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)), "{at}");
            assert!(
                tail.is_empty() || (tail.starts_with('(') && tail.ends_with(')')),
                "{at}: after a section only (template) may follow"
            );
            section = name.to_string();
            continue;
        }
        assert!(!section.is_empty(), "{at}: a setting before any [section]");
        let (k, v) = line
            .split_once("=>")
            .or_else(|| line.split_once('='))
            .unwrap_or_else(|| panic!("{at}: not `key = value`: {line:?}"));
        let (k, v) = (k.trim(), v.trim());
        assert!(!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)), "{at}: {k:?}");
        out.push((section.clone(), k.to_string(), v.to_string()));
    }
    out
}

fn values<'a>(conf: &'a [(String, String, String)], section: &str, key: &str) -> Vec<&'a str> {
    conf.iter().filter(|(s, k, _)| s == section && k == key).map(|(_, _, v)| v.as_str()).collect()
}

/// `exten => NUMBER,1,…` numbers of a dialplan context.
fn extensions<'a>(conf: &'a [(String, String, String)], context: &str) -> Vec<&'a str> {
    values(conf, context, "exten").into_iter().filter_map(|v| v.split(',').next()).collect()
}

fn toml(path: &Path) -> toml::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The compose file as JSON (read by Python's yaml module, which Debian's
/// python3-yaml provides; PyYAML in the training venv otherwise).
fn compose() -> Option<serde_json::Value> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
        .arg(repo().join("docker/compose/compose.yaml"))
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("SKIPPED the compose.yaml checks: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

#[test]
fn asterisk_kamailio_and_sori_configs_agree() {
    let dir = repo().join("docker/compose");
    let pjsip = asterisk_conf(&dir.join("asterisk/pjsip.conf"));
    let ext = asterisk_conf(&dir.join("asterisk/extensions.conf"));
    let sori = toml(&dir.join("sori.toml"));
    let kam = std::fs::read_to_string(dir.join("kamailio/kamailio.cfg")).expect("kamailio.cfg");
    let define = |name: &str| -> String {
        let line = kam.lines().find(|l| l.starts_with(&format!("#!define {name} "))).expect(name);
        line.split_whitespace().nth(2).expect("value").to_string()
    };
    let (kam_addr, kam_port) = (define("ADVERTISE_ADDR"), define("LISTEN_PORT"));

    // Asterisk sends the hotline to kamailio, and takes calls only from it as "sori".
    assert_eq!(values(&pjsip, "sori", "contact"), [format!("sip:{kam_addr}:{kam_port}").as_str()]);
    assert_eq!(values(&pjsip, "sori", "match"), [kam_addr.as_str()]);
    let context = values(&pjsip, "sori", "context")[0];
    assert!(values(&pjsip, "sori", "allow_transfer") == ["yes"], "sori transfers by REFER");
    // 1339 dialled by a phone goes to the sori endpoint.
    let phones = values(&pjsip, "phone", "context")[0];
    assert!(extensions(&ext, phones).contains(&"1339"), "[{phones}] has 1339");
    assert!(values(&ext, phones, "same").iter().any(|v| v.contains("Dial(PJSIP/1339@sori")), "1339 dials sori");
    // sori's transfer target is an extension of the context its calls arrive in, at Asterisk's address.
    let agent = sori["dialplan"]["transfers"]["agent"].as_str().expect("transfers.agent");
    let (user, host) = agent.trim_start_matches("sip:").split_once('@').expect("user@host");
    assert!(extensions(&ext, context).contains(&user), "[{context}] has {user} (sori's REFER target {agent})");
    let asterisk_bind = values(&pjsip, "transport-udp", "bind")[0];
    assert!(
        host.ends_with(&format!(":{}", asterisk_bind.rsplit(':').next().expect("port"))),
        "{host} vs {asterisk_bind}"
    );
    // Codecs: what Asterisk offers sori is what sori accepts.
    let names = BTreeMap::from([("ulaw", "PCMU"), ("alaw", "PCMA"), ("opus", "opus")]);
    let sori_codecs: Vec<&str> =
        sori["rtp"]["codecs"].as_array().expect("codecs").iter().filter_map(|c| c.as_str()).collect();
    for c in values(&pjsip, "sori", "allow")[0].split(',') {
        assert!(sori_codecs.contains(names.get(c.trim()).unwrap_or(&"?")), "Asterisk allows {c}, sori {sori_codecs:?}");
    }
    // sori takes SIP only from kamailio.
    let allow: Vec<&str> = sori["sip"]["allow"].as_array().expect("allow").iter().filter_map(|a| a.as_str()).collect();
    assert!(allow.iter().any(|a| a.split('/').next() == Some(kam_addr.as_str())), "{allow:?} lets kamailio in");
    // kamailio dispatches to the replicas at sori's SIP port.
    let sori_port = sori["sip"]["port"].as_integer().expect("port");
    let list = std::fs::read_to_string(dir.join("kamailio/dispatcher.list")).expect("dispatcher.list");
    let nodes: Vec<&str> = list.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    assert_eq!(nodes.len(), 2, "{list}");

    if let Some(c) = compose() {
        let ip = |svc: &str| c["services"][svc]["networks"]["voip"]["ipv4_address"].as_str().expect(svc).to_string();
        assert_eq!(ip("kamailio"), kam_addr);
        for (node, svc) in nodes.iter().zip(["sori1", "sori2"]) {
            assert_eq!(node.split_whitespace().nth(1), Some(format!("sip:{}:{sori_port}", ip(svc)).as_str()));
        }
        assert!(host.starts_with(&ip("asterisk")), "the REFER target {agent} is Asterisk ({})", ip("asterisk"));
        let ports: Vec<&str> =
            c["services"]["asterisk"]["ports"].as_array().expect("ports").iter().filter_map(|p| p.as_str()).collect();
        let rtp = asterisk_conf(&dir.join("asterisk/rtp.conf"));
        let range = format!("{}-{}", values(&rtp, "general", "rtpstart")[0], values(&rtp, "general", "rtpend")[0]);
        assert!(
            ports.iter().any(|p| p.starts_with(&format!("{range}:"))),
            "Asterisk's RTP {range} is published: {ports:?}"
        );
    }

    // Both sori configs load with sori's own checks.
    for f in ["docker/compose/sori.toml", "docker/sori.toml"] {
        sori::config::Config::load(&repo().join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    // kamailio reads its config (syntax, modules, routes) where it is installed.
    if let Some((bin, _)) = common::kamailio::need("kamailio -c of docker/compose/kamailio/kamailio.cfg") {
        let out = std::process::Command::new(bin)
            .args(["-c", "-f"])
            .arg(dir.join("kamailio/kamailio.cfg"))
            .args(["-A", "LISTEN_ADDR=127.0.0.1"])
            .output()
            .expect("kamailio -c");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
