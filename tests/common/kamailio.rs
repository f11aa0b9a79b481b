//! Debian's kamailio, run by a test on loopback from a config template in
//! tests/data/kamailio/ (its `@@…@@` placeholders filled in), in the
//! foreground with its log in a temporary directory; stopped on drop.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, repo, tail};

pub struct Kamailio {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

fn binary() -> Option<PathBuf> {
    let from_path =
        Command::new("sh").arg("-c").arg("command -v kamailio").output().ok().filter(|o| o.status.success());
    from_path
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .or_else(|| Some(PathBuf::from("/usr/sbin/kamailio")).filter(|p| p.exists()))
}

fn module_dir() -> Option<PathBuf> {
    let lib = std::fs::read_dir("/usr/lib").ok()?;
    lib.filter_map(|e| e.ok())
        .map(|e| e.path().join("kamailio/modules"))
        .chain([PathBuf::from("/usr/lib/kamailio/modules")])
        .find(|p| p.join("tm.so").exists() && p.join("dispatcher.so").exists() && p.join("auth.so").exists())
}

/// Kamailio and its module directory, or None after saying plainly why the
/// test is skipped.
pub fn need(test: &str) -> Option<(PathBuf, PathBuf)> {
    match (binary(), module_dir()) {
        (Some(b), Some(m)) => Some((b, m)),
        _ => {
            eprintln!("SKIPPED {test}: kamailio is not installed (scripts/install-deps.sh / `make deps` installs it)");
            None
        }
    }
}

impl Kamailio {
    /// Starts `tests/data/kamailio/<template>` on a free UDP port; `@@PORT@@`
    /// and `@@MPATH@@` are filled in here, the rest from `fill`.
    pub fn start(bin: &Path, modules: &Path, template: &str, fill: &[(&str, String)]) -> Kamailio {
        let dir = tempfile::tempdir().expect("tmpdir");
        let port = free_port();
        let mut cfg = std::fs::read_to_string(repo().join("tests/data/kamailio").join(template))
            .unwrap_or_else(|e| panic!("{template}: {e}"))
            .replace("@@PORT@@", &port.to_string())
            .replace("@@MPATH@@", &format!("{}/", modules.display()));
        for (k, v) in fill {
            cfg = cfg.replace(k, v);
        }
        let left = cfg
            .split("@@")
            .skip(1)
            .step_by(2)
            .find(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        assert!(left.is_none(), "@@{}@@ left unfilled in {template}", left.unwrap_or_default());
        let path = dir.path().join("kamailio.cfg");
        std::fs::write(&path, cfg).expect("write cfg");
        Kamailio::run(bin, dir, port, &path, &[])
    }

    /// Starts a config of the repository as it is (e.g. docker/compose's),
    /// on a free loopback port given as `-A LISTEN_PORT=…` with
    /// `LISTEN_ADDR` / `ADVERTISE_ADDR` 127.0.0.1 and the other `defines`.
    pub fn start_config(bin: &Path, config: &Path, defines: &[(&str, String)]) -> Kamailio {
        let dir = tempfile::tempdir().expect("tmpdir");
        let port = free_port();
        let mut all = vec![
            ("LISTEN_ADDR", "127.0.0.1".to_string()),
            ("ADVERTISE_ADDR", "127.0.0.1".to_string()),
            ("LISTEN_PORT", port.to_string()),
        ];
        all.extend(defines.iter().map(|(k, v)| (*k, v.clone())));
        Kamailio::run(bin, dir, port, config, &all)
    }

    fn run(bin: &Path, dir: tempfile::TempDir, port: u16, path: &Path, defines: &[(&str, String)]) -> Kamailio {
        let log = std::fs::File::create(dir.path().join("kamailio.log")).expect("log");
        let child = Command::new(bin)
            .arg("-f")
            .arg(path)
            .args(defines.iter().flat_map(|(k, v)| ["-A".to_string(), format!("{k}={v}")]))
            .args(["-DD", "-E", "-m", "32", "-M", "8"])
            .arg("-Y")
            .arg(dir.path())
            .arg("-P")
            .arg(dir.path().join("kamailio.pid"))
            .arg("-w")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn kamailio");
        let k = Kamailio { child, dir, port };
        k.wait_ready();
        k
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }

    /// Any answer to an OPTIONS means it is up.
    fn wait_ready(&self) {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        let local = sock.local_addr().expect("addr");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        let mut n = 0;
        while Instant::now() < deadline {
            n += 1;
            let msg = format!(
                "OPTIONS sip:ping@127.0.0.1:{p} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKkready{n}\r\n\
                 From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: kready-{n}\r\nCSeq: 1 OPTIONS\r\n\
                 Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                p = self.port
            );
            let _ = sock.send_to(msg.as_bytes(), ("127.0.0.1", self.port));
            if let Ok((len, _)) = sock.recv_from(&mut buf) {
                if buf[..len].starts_with(b"SIP/2.0 ") {
                    return;
                }
            }
        }
        panic!("kamailio did not start; its log:\n{}", tail(&self.log(), 4000));
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM lets the creator take its children down with it.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
