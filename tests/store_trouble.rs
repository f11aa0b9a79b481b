//! The call store in trouble: a database locked by another connection, a
//! full disk, and sori killed (SIGKILL) with 50 calls up. Calls go on; the
//! failed writes are logged and counted (`sori_store_errors_total`); the
//! records are kept in memory and written once the database takes writes
//! again; after a kill every finished call's record is intact and the calls
//! that were up are marked interrupted.
//!
//! "Read-only" is not tested: the tests run as root, for whom file modes do
//! not make a file read-only, and the writer's connection is already open by
//! then. A full disk is real: a tiny tmpfs (the test mounts it; it is skipped,
//! saying so, where mounting is not allowed).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_sipp, free_port, Options, Sori};

fn metric(sori: &Sori, series: &str) -> f64 {
    let (_, body) = common::http(sori.http_port, "GET", "/metrics", "");
    body.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{series} not in /metrics:\n{body}"))
}

fn wait_until(within: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    ok()
}

fn finished(sori: &Sori) -> Vec<sori::store::CallRecord> {
    sori.records().into_iter().filter(|r| r.ended_ms.is_some()).collect()
}

#[test]
fn locked_database_keeps_calls_going_and_writes_the_records_once_released() {
    let sori = Sori::start(Options::default());
    assert_sipp(&sori, "basic_call", &[]);
    assert!(wait_until(Duration::from_secs(5), || finished(&sori).len() == 1));

    // Another program (a backup, an operator's sqlite3 shell) takes the write lock.
    let other = rusqlite::Connection::open(sori.db()).expect("open");
    other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    assert_sipp(&sori, "basic_call", &[]);
    assert_sipp(&sori, "basic_call", &[]);
    // sori waits its busy timeout (5 s), then counts the failure and keeps the records.
    assert!(
        wait_until(Duration::from_secs(12), || metric(&sori, "sori_store_errors_total") >= 1.0),
        "no write error counted; log:\n{}",
        common::tail(&sori.log(), 3000)
    );
    // Each call is three writes (start, answer, end): six wait in memory.
    assert!(
        wait_until(Duration::from_secs(15), || metric(&sori, "sori_store_pending") >= 6.0),
        "the two calls' records wait in memory: {}",
        metric(&sori, "sori_store_pending")
    );
    assert_eq!(finished(&sori).len(), 1, "nothing written while locked");
    assert!(sori.log().contains("writing call records failed; keeping them in memory to retry"));

    other.execute_batch("ROLLBACK").expect("unlock");
    assert!(
        wait_until(Duration::from_secs(10), || finished(&sori).len() == 3),
        "records written once the lock is gone: {:?}; log:\n{}",
        finished(&sori),
        common::tail(&sori.log(), 3000)
    );
    assert_eq!(metric(&sori, "sori_store_pending"), 0.0);
    assert_eq!(metric(&sori, "sori_store_dropped_total"), 0.0);
    for r in finished(&sori) {
        assert_eq!(r.hangup_cause.as_deref(), Some("caller-bye"), "{r:?}");
        assert!(r.answered_ms.is_some(), "{r:?}");
    }
}

/// A tmpfs of `size` at `dir`, unmounted on drop; None where mounting is not allowed.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mkdir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("filler");
    let block = vec![0u8; 4096];
    let mut n = 0;
    while f.write_all(&block).is_ok() {
        n += block.len() as u64;
    }
    let _ = f.sync_all();
    n
}

#[test]
fn full_disk_keeps_calls_going_and_writes_the_records_once_space_is_freed() {
    let scratch = tempfile::tempdir().expect("tmp");
    let mnt = scratch.path().join("disk");
    let Some(disk) = Tmpfs::mount(&mnt, "2m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)");
        return;
    };
    let sori = Sori::start(Options { store_path: Some(mnt.join("calls.sqlite")), ..Default::default() });
    assert_sipp(&sori, "basic_call", &[]);
    assert!(wait_until(Duration::from_secs(5), || finished(&sori).len() == 1));

    let filler = mnt.join("filler");
    let filled = fill(&filler);
    eprintln!("disk full after {filled} more bytes");
    for _ in 0..3 {
        assert_sipp(&sori, "basic_call", &[]);
    }
    assert!(
        wait_until(Duration::from_secs(5), || metric(&sori, "sori_store_errors_total") >= 1.0),
        "no write error counted; log:\n{}",
        common::tail(&sori.log(), 3000)
    );
    assert!(metric(&sori, "sori_store_pending") >= 3.0);
    assert!(sori.log().contains("database or disk is full"), "{}", common::tail(&sori.log(), 3000));
    assert_eq!(finished(&sori).len(), 1);

    std::fs::remove_file(&filler).expect("free the space");
    assert!(
        wait_until(Duration::from_secs(10), || finished(&sori).len() == 4),
        "records written once there is room: {:?}; log:\n{}",
        finished(&sori),
        common::tail(&sori.log(), 3000)
    );
    assert_eq!(metric(&sori, "sori_store_pending"), 0.0);
    drop(sori);
    drop(disk);
}

/// SIPp holding `calls` calls up (answered, then a long pause) until killed.
fn hold_calls(sori: &Sori, calls: u32) -> Child {
    Command::new("sipp")
        .arg("-sf")
        .arg(common::repo().join("tests/sipp/long_call.xml"))
        .arg(sori.addr().to_string())
        .args(["-s", "1339", "-i", "127.0.0.1", "-nostdin", "-d", "120000"])
        .args(["-m", &calls.to_string(), "-l", &calls.to_string(), "-r", "25"])
        .args(["-p", &free_port().to_string(), "-mp", &common::free_media_port().to_string()])
        .current_dir(sori.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run sipp (apt-get install sip-tester)")
}

#[test]
fn sigkill_with_50_calls_up_keeps_every_finished_record_and_marks_the_50_interrupted() {
    // All 50 come from one address, as from a PBX: no per-source cap or rate.
    let sip = "max_calls_per_source = 0\ninvite_rate = 0\n".to_string();
    let mut sori = Sori::start(Options { sip, ..Default::default() });
    for _ in 0..3 {
        assert_sipp(&sori, "basic_call", &[]);
    }
    assert!(wait_until(Duration::from_secs(5), || finished(&sori).len() == 3));
    let mut sipp = hold_calls(&sori, 50);
    // Every call that is up has its row, answered, not ended.
    let up = |s: &Sori| s.records().into_iter().filter(|r| r.answered_ms.is_some() && r.ended_ms.is_none()).count();
    let all_up = wait_until(Duration::from_secs(20), || up(&sori) == 50);
    let done = finished(&sori);
    unsafe {
        libc::kill(sori.child.id() as i32, libc::SIGKILL);
    }
    let _ = sori.child.wait();
    let _ = sipp.kill();
    let _ = sipp.wait();
    assert!(all_up, "{} of 50 calls up; log:\n{}", up(&sori), common::tail(&sori.log(), 3000));
    assert_eq!(done.len(), 3, "only the three short calls had finished");

    sori.restart();
    let recs = sori.records();
    assert_eq!(recs.len(), 53, "{recs:?}");
    for r in &done {
        let now = recs.iter().find(|x| x.call_id == r.call_id).expect("finished call kept");
        assert_eq!(now, r, "a finished call's record is intact");
    }
    let interrupted: Vec<_> = recs.iter().filter(|r| r.outcome.as_deref() == Some("interrupted")).collect();
    assert_eq!(interrupted.len(), 50, "{recs:?}");
    assert!(interrupted.iter().all(|r| r.answered_ms.is_some() && r.ended_ms.is_none()));
    // And the restarted sori answers calls.
    assert_sipp(&sori, "basic_call", &[]);
    assert!(wait_until(Duration::from_secs(5), || finished(&sori).len() == 4));
}
