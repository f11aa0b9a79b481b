//! Test harness: starts a real `sori serve` on free loopback ports with a
//! temporary config, and runs real peers (SIPp, baresip) against it.
#![allow(dead_code)]

pub mod kamailio;
pub mod phone;
pub mod relay;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sori {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub sip_port: u16,
    pub http_port: u16,
    pub config: PathBuf,
    db_path: PathBuf,
    env: Vec<(String, String)>,
}

/// The first of four UDP ports free on loopback right now, for SIPp's `-mp`:
/// SIPp binds audio RTP/RTCP there and video RTP/RTCP on the two after, and
/// fails the whole run if any of the four is taken.
pub fn free_media_port() -> u16 {
    loop {
        let port = free_port();
        if port <= 65000 && (2..4).all(|i| UdpSocket::bind(("127.0.0.1", port + i)).is_ok()) {
            return port;
        }
    }
}

/// Whether SIPp gave up because a port it was told to use was taken by
/// another test's process between our check and its bind.
pub fn sipp_port_taken(output: &str) -> bool {
    output.contains("Unable to bind") || output.contains("Address already in use")
}

/// A UDP+TCP port free on loopback right now (and its successor for media).
pub fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = u.local_addr().expect("addr").port();
        if port % 2 == 1 || port > 65000 {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Prompt audio is shared by all tests (rendering is deterministic and cached by text).
pub fn prompt_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("prompt-cache")
}

pub struct Options {
    pub ring_ms: u64,
    pub dialplan: PathBuf,
    /// Appended to the config (inside `[http]` unless it opens a table).
    pub extra: String,
    /// More `[store]` keys (e.g. `record = true`).
    pub store: String,
    /// More `[sip]` keys (e.g. `max_calls_per_source = 2`).
    pub sip: String,
    /// More `[rtp]` keys (e.g. `no_media_s = 3`).
    pub rtp: String,
    /// Environment variables for the sori process (e.g. a PATH with a fake engine first).
    pub env: Vec<(String, String)>,
    /// The call store's database (default: calls.sqlite in sori's directory).
    pub store_path: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ring_ms: 0,
            dialplan: repo().join("dialplan/1339.toml"),
            extra: String::new(),
            store: String::new(),
            sip: String::new(),
            rtp: String::new(),
            env: Vec::new(),
            store_path: None,
        }
    }
}

impl Sori {
    pub fn start(opts: Options) -> Sori {
        let dir = tempfile::tempdir().expect("tmpdir");
        let sip_port = free_port();
        let http_port = free_port();
        // A private RTP range per instance so parallel tests never collide.
        let rtp_min = 20000 + (sip_port % 400) as u32 * 100;
        let config = dir.path().join("sori.toml");
        let db_path = opts.store_path.clone().unwrap_or_else(|| dir.path().join("calls.sqlite"));
        let text = format!(
            "[sip]\nbind = \"127.0.0.1\"\nport = {sip_port}\nring_ms = {ring}\n{sip}\n[rtp]\nport_min = {rtp_min}\nport_max = {rtp_max}\n{rtp}\n\
             [dialplan]\npath = \"{dp}\"\n\n[kb]\npath = \"{kb}\"\n\n[tts]\ncache_dir = \"{cache}\"\n\n[store]\npath = \"{db}\"\n{store}\n\
             [log]\nlevel = \"sori=debug,info\"\n\n[http]\nbind = \"127.0.0.1:{http_port}\"\n{extra}",
            ring = opts.ring_ms,
            rtp_max = rtp_min + 98,
            dp = opts.dialplan.display(),
            kb = repo().join("kb/1339.toml").display(),
            cache = prompt_cache().display(),
            extra = opts.extra,
            store = opts.store,
            db = db_path.display(),
            sip = opts.sip,
            rtp = opts.rtp,
        );
        std::fs::write(&config, text).expect("write config");
        let log = std::fs::File::create(dir.path().join("sori.log")).expect("log");
        let child = spawn_serve(&config, log, &opts.env);
        let s = Sori { child, dir, sip_port, http_port, config, db_path, env: opts.env };
        s.wait_ready();
        s
    }

    /// Starts sori again on the same configuration and database (after the
    /// test killed it); its log goes on in the same file.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = std::fs::OpenOptions::new().append(true).open(self.dir.path().join("sori.log")).expect("log");
        self.child = spawn_serve(&self.config, log, &self.env);
        self.wait_ready();
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.sip_port))
    }

    pub fn db(&self) -> PathBuf {
        self.db_path.clone()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sori.log")).unwrap_or_default()
    }

    /// Sends OPTIONS until sori answers 200 (prompts render first).
    fn wait_ready(&self) {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        let deadline = Instant::now() + Duration::from_secs(60);
        let local = sock.local_addr().expect("addr");
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            let msg = format!(
                "OPTIONS sip:ping@127.0.0.1:{p} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{n}\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\n\
                 To: <sip:ping@127.0.0.1>\r\nCall-ID: ready-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                p = self.sip_port,
                n = Instant::now().elapsed().as_nanos() ^ rand_u32() as u128,
            );
            let _ = sock.send_to(msg.as_bytes(), self.addr());
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                if buf[..n].starts_with(b"SIP/2.0 200") {
                    return;
                }
            }
        }
        panic!("sori did not become ready; log:\n{}", self.log());
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }

    pub fn records(&self) -> Vec<sori::store::CallRecord> {
        sori::store::recent(&self.db(), 100).expect("read records")
    }

    /// Waits until `n` finished records exist.
    pub fn wait_records(&self, n: usize, within: Duration) -> Vec<sori::store::CallRecord> {
        let deadline = Instant::now() + within;
        loop {
            let r: Vec<_> = self.records().into_iter().filter(|r| r.ended_ms.is_some()).collect();
            if r.len() >= n || Instant::now() > deadline {
                return r;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Sori {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_serve(config: &Path, log: std::fs::File, env: &[(String, String)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sori"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .spawn()
        .expect("spawn sori")
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    h.finish() as u32
}

pub struct SippResult {
    pub ok: bool,
    pub output: String,
}

/// Runs one SIPp scenario from tests/sipp/ against sori, one call.
pub fn sipp(sori: &Sori, scenario: &str, extra: &[&str]) -> SippResult {
    sipp_at(sori.dir.path(), scenario, &sori.addr().to_string(), "127.0.0.1", extra)
}

/// One call of `tests/sipp/<scenario>.xml` to `target` from `local_ip`,
/// SIPp's files in `dir`.
pub fn sipp_at(dir: &Path, scenario: &str, target: &str, local_ip: &str, extra: &[&str]) -> SippResult {
    // Ports are checked free, then bound by SIPp: another test's process can
    // take one in between. SIPp then fails before sending anything, so the
    // run is repeated on other ports.
    let mut tries = 0;
    loop {
        tries += 1;
        let r = sipp_once(dir, scenario, target, local_ip, extra);
        if r.ok || tries == 3 || !sipp_port_taken(&r.output) {
            return r;
        }
    }
}

fn sipp_once(dir: &Path, scenario: &str, target: &str, local_ip: &str, extra: &[&str]) -> SippResult {
    let port = free_port();
    let media = free_media_port();
    let err = dir.join(format!("{scenario}-{port}.err"));
    let out = Command::new("sipp")
        .arg("-sf")
        .arg(repo().join("tests/sipp").join(format!("{scenario}.xml")))
        .arg(target)
        .args(["-s", "1339", "-m", "1", "-i", local_ip, "-nostdin", "-timeout", "45s", "-timeout_error", "-trace_err"])
        .args(["-p", &port.to_string(), "-mp", &media.to_string()])
        .arg("-error_file")
        .arg(&err)
        .args(extra)
        .current_dir(dir)
        .output()
        .expect("run sipp (apt-get install sip-tester)");
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    output.push_str(&std::fs::read_to_string(&err).unwrap_or_default());
    SippResult { ok: out.status.success(), output }
}

pub fn assert_sipp(sori: &Sori, scenario: &str, extra: &[&str]) {
    let r = sipp(sori, scenario, extra);
    assert!(
        r.ok,
        "SIPp scenario {scenario} failed:\n{}\n--- sori log ---\n{}",
        tail(&r.output, 3000),
        tail(&sori.log(), 4000)
    );
}

pub fn tail(s: &str, n: usize) -> &str {
    let mut i = s.len().saturating_sub(n);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {cmd}")).output().map(|o| o.status.success()).unwrap_or(false)
}

pub fn wav_stats(path: &Path) -> (f64, f64) {
    let mut r = hound::WavReader::open(path).expect("open wav");
    let spec = r.spec();
    let samples: Vec<f64> = r.samples::<i16>().map(|s| s.unwrap_or(0) as f64 / 32768.0).collect();
    let secs = samples.len() as f64 / spec.sample_rate as f64 / spec.channels as f64;
    let rms = (samples.iter().map(|x| x * x).sum::<f64>() / samples.len().max(1) as f64).sqrt();
    (secs, rms)
}

/// A minimal HTTP/1.1 client over loopback: (status, body).
pub fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Writes 8 kHz mono 16-bit PCM as a WAV file.
pub fn write_wav_8k(path: &Path, pcm: &[i16]) {
    let spec =
        hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for s in pcm {
        w.write_sample(*s).expect("sample");
    }
    w.finalize().expect("finalize");
}

/// A real SIP phone (Debian's baresip) calls sori for `secs` seconds playing
/// `source` (8 kHz WAV) and recording what it hears; returns the recording.
/// Panics with baresip's log when the call is not established.
pub fn baresip_call(sori: &Sori, dir: &Path, source: &Path, secs: u32) -> PathBuf {
    baresip_call_with(sori, dir, source, secs, "", &[])
}

/// [`baresip_call`] with more account parameters (e.g. `;mediaenc=srtp-mand`)
/// and modules (e.g. `srtp.so`).
pub fn baresip_call_with(
    sori: &Sori,
    dir: &Path,
    source: &Path,
    secs: u32,
    account_params: &str,
    modules: &[&str],
) -> PathBuf {
    let target = format!("sip:1339@127.0.0.1:{}", sori.sip_port);
    baresip_call_to(sori, dir, source, secs, account_params, modules, &target)
}

/// [`baresip_call_with`] dialling `target` (e.g. `sip:1339@127.0.0.1:5061;transport=tls`).
pub fn baresip_call_to(
    _sori: &Sori,
    dir: &Path,
    source: &Path,
    secs: u32,
    account_params: &str,
    modules: &[&str],
    target: &str,
) -> PathBuf {
    assert!(have("baresip"), "baresip is required (apt-get install baresip)");
    let phone_port = free_port();
    let extra: String = modules.iter().map(|m| format!("module\t{m}\n")).collect();
    let config = format!(
        "sip_listen\t127.0.0.1:{phone_port}\naudio_player\taubridge,x\naudio_alert\taubridge,x\naudio_source\taufile,{src}\n\
         module_path\t/usr/lib/baresip/modules\nmodule\tg711.so\nmodule\taufile.so\nmodule\taubridge.so\nmodule\tsndfile.so\n\
         {extra}module_app\taccount.so\nmodule_app\tmenu.so\nsnd_path\t{dir}\n",
        src = source.display(),
        dir = dir.display()
    );
    std::fs::write(dir.join("config"), config).expect("config");
    std::fs::write(dir.join("accounts"), format!("<sip:tester@127.0.0.1:{phone_port}>;regint=0{account_params}\n"))
        .expect("accounts");
    let out = Command::new("timeout")
        .args([&(secs + 40).to_string(), "baresip", "-f"])
        .arg(dir)
        .arg("-e")
        .arg(format!("/dial {target}"))
        .args(["-t", &secs.to_string()])
        .output()
        .expect("run baresip");
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("Call established"), "baresip log:\n{}", tail(&log, 3000));
    std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded what it heard")
}

/// An HTTP/1.1 response read whole: status, lower-cased headers, body bytes.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request with the given extra headers and binary body over a
/// fresh loopback connection. A server that answers before it has read the
/// whole body (413) may stop reading: write errors are ignored and whatever
/// it answered is returned.
pub fn http_raw(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let _ = s.write_all(req.as_bytes());
    for chunk in body.chunks(64 * 1024) {
        if s.write_all(chunk).is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let mut body = out.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    HttpResponse { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}

/// A multipart/form-data body: text fields, then `file` with these bytes.
pub fn multipart(boundary: &str, fields: &[(&str, &str)], file: Option<&[u8]>) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, value) in fields {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    if let Some(f) = file {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n")
                .as_bytes(),
        );
        b.extend_from_slice(f);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    b
}

/// 10 ms RMS envelope of 8 kHz audio.
pub fn envelope(pcm: &[f64]) -> Vec<f64> {
    pcm.chunks(80).map(|c| (c.iter().map(|x| x * x).sum::<f64>() / c.len() as f64).sqrt()).collect()
}

/// Best normalised correlation of `b` against `a` over lags 0..max_lag (envelope frames).
pub fn best_correlation(a: &[f64], b: &[f64], len: usize, max_lag: usize) -> (f64, usize) {
    let a = &a[..len.min(a.len())];
    let norm = |x: &[f64]| {
        let m = x.iter().sum::<f64>() / x.len() as f64;
        let v: Vec<f64> = x.iter().map(|y| y - m).collect();
        let s = v.iter().map(|y| y * y).sum::<f64>().sqrt().max(1e-12);
        v.into_iter().map(|y| y / s).collect::<Vec<_>>()
    };
    let na = norm(a);
    let mut best = (f64::MIN, 0);
    for lag in 0..max_lag {
        if lag + a.len() > b.len() {
            break;
        }
        let nb = norm(&b[lag..lag + a.len()]);
        let c: f64 = na.iter().zip(&nb).map(|(x, y)| x * y).sum();
        if c > best.0 {
            best = (c, lag);
        }
    }
    best
}
