//! Scale-out: several sori nodes behind Debian's kamailio `dispatcher`
//! (docker/compose/kamailio/kamailio.cfg, the compose setup's own load
//! balancer, started here on loopback): OPTIONS health probes
//! every second, a node chosen per call by a hash of its Call-ID, failover to
//! the next node when the chosen one does not answer.
//!
//! Two sori nodes take calls from SIPp through kamailio: both get some; one
//! is stopped (SIGTERM, as for maintenance; nothing in flight) → every new
//! call is answered by the other, none fails; it comes back → the probes see
//! it and it takes calls again.
//!
//! Needs `kamailio` (scripts/install-deps.sh installs it); without it the
//! test says so and returns.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::kamailio::{self, Kamailio};
use common::{free_media_port, free_port, repo, tail, Options, Sori};

/// A node behind a proxy: every call comes from the proxy's one address.
fn node() -> Sori {
    Sori::start(Options {
        sip: "max_calls_per_source = 0\ninvite_rate = 0\noptions_rate = 0\n".into(),
        ..Default::default()
    })
}

/// `calls` calls of tests/sipp/proxied_call.xml through kamailio, 10 per
/// second; (all succeeded, SIPp's output).
fn calls_through(dir: &Path, k: &Kamailio, calls: u32) -> (bool, String) {
    let port = free_port();
    let media = free_media_port();
    let err = dir.join(format!("sipp-{port}.err"));
    let out = Command::new("sipp")
        .arg("-sf")
        .arg(repo().join("tests/sipp/proxied_call.xml"))
        .arg(format!("127.0.0.1:{}", k.port))
        .args(["-s", "1339", "-m", &calls.to_string(), "-r", "10", "-l", "20", "-i", "127.0.0.1"])
        .args(["-nostdin", "-timeout", "60s", "-timeout_error", "-trace_err"])
        .args(["-p", &port.to_string(), "-mp", &media.to_string()])
        .arg("-error_file")
        .arg(&err)
        .current_dir(dir)
        .output()
        .expect("run sipp (apt-get install sip-tester)");
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    output.push_str(&std::fs::read_to_string(&err).unwrap_or_default());
    (out.status.success(), output)
}

/// Finished calls in a node's store that ended normally (the caller's BYE).
fn completed(sori: &Sori) -> usize {
    sori.records().iter().filter(|r| r.outcome.as_deref() == Some("caller-hangup")).count()
}

/// Waits until the two nodes' finished records add up to `n` (records are
/// written just after the BYE is answered).
fn wait_completed(a: &Sori, b: &Sori, n: usize) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (x, y) = (completed(a), completed(b));
        if x + y >= n || Instant::now() > deadline {
            return (x, y);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_log(k: &Kamailio, needle: &str, count: usize, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if k.log().matches(needle).count() >= count {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn calls_spread_over_two_nodes_fail_over_when_one_stops_and_it_rejoins() {
    let Some((bin, _modules)) = kamailio::need("calls_spread_over_two_nodes_fail_over_when_one_stops_and_it_rejoins")
    else {
        return;
    };
    let a = node();
    let mut b = node();
    let dir = tempfile::tempdir().expect("tmp");
    let list = dir.path().join("dispatcher.list");
    std::fs::write(&list, format!("1 sip:127.0.0.1:{}\n1 sip:127.0.0.1:{}\n", a.sip_port, b.sip_port)).expect("list");
    let k = Kamailio::start_config(
        &bin,
        &repo().join("docker/compose/kamailio/kamailio.cfg"),
        &[("DISPATCHER_LIST", format!("\"{}\"", list.display()))],
    );
    let logs = |k: &Kamailio, a: &Sori, b: &Sori| {
        format!(
            "--- kamailio ---\n{}\n--- node a ---\n{}\n--- node b ---\n{}",
            tail(&k.log(), 3000),
            tail(&a.log(), 1500),
            tail(&b.log(), 1500)
        )
    };

    // Both nodes up: the calls spread over them.
    let (ok, out) = calls_through(dir.path(), &k, 20);
    assert!(ok, "20 calls through kamailio:\n{}\n{}", tail(&out, 3000), logs(&k, &a, &b));
    let (a1, b1) = wait_completed(&a, &b, 20);
    eprintln!("both up: node a {a1}, node b {b1} of 20");
    assert_eq!(a1 + b1, 20, "{}", logs(&k, &a, &b));
    assert!(a1 >= 3 && b1 >= 3, "the Call-ID hash spreads calls: a {a1}, b {b1}");

    // Node b stops (SIGTERM: it drains, nothing is in flight); the probes
    // mark it down, and a call hashed to it meanwhile fails over to a.
    assert_eq!(b.stop(), Some(0), "node b exits cleanly");
    let (ok, out) = calls_through(dir.path(), &k, 20);
    assert!(ok, "every call answered with node b down:\n{}\n{}", tail(&out, 3000), logs(&k, &a, &b));
    let a2 = wait_completed(&a, &b, a1 + b1 + 20).0 - a1;
    eprintln!("node b down: node a {a2} of 20");
    assert_eq!(a2, 20, "node a took every call; {}", logs(&k, &a, &b));
    let klog = k.log();
    let failed_over = klog.matches("failing").count();
    eprintln!("calls failed over by kamailio before its probe marked node b down: {failed_over}");
    assert!(klog.contains(" down\n"), "kamailio marked node b down: {}", tail(&klog, 2000));

    // Node b back: a probe answered marks it up, and it takes calls again.
    b.restart();
    assert!(
        wait_log(&k, " up\n", 1, Duration::from_secs(10)),
        "kamailio saw node b come back: {}",
        tail(&k.log(), 2000)
    );
    let b_before = completed(&b);
    let (ok, out) = calls_through(dir.path(), &k, 20);
    assert!(ok, "20 calls with node b back:\n{}\n{}", tail(&out, 3000), logs(&k, &a, &b));
    let (a_now, b_now) = wait_completed(&a, &b, a1 + a2 + b_before + 20);
    let (a3, b3) = (a_now - a1 - a2, b_now - b_before);
    eprintln!("node b back: node a {a3}, node b {b3} of 20");
    assert_eq!(a3 + b3, 20);
    assert!(b3 >= 3, "node b rejoined and takes calls again: a {a3}, b {b3}");
}
