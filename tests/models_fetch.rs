//! The canonical-URL route of `sori models fetch` for real: curl downloads
//! from a tiny HTTP server on a loopback socket, then the size and every
//! checksum the manifest gives are verified before the file is installed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sha2::Digest as _;
use sori::models::fetch::{Fetcher, Source};
use sori::models::{require, Manifest};

const BODY: &[u8] = b"ggml whisper weights stand-in: a small file served over loopback HTTP\n";

/// An HTTP/1.1 server on 127.0.0.1 that serves `BODY` at `/ggml-test.bin`
/// and 404 elsewhere; counts the requests it answered.
struct Server {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = serve(conn);
            }
        });
        Server { port, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn serve(mut conn: TcpStream) -> std::io::Result<()> {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        req.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&req);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let (status, body): (&str, &[u8]) =
        if path == "/ggml-test.bin" { ("200 OK", BODY) } else { ("404 Not Found", b"not here\n") };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    conn.write_all(body)?;
    conn.flush()
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

fn sha1_hex(b: &[u8]) -> String {
    use sha1::Digest as _;
    hex::encode(sha1::Sha1::digest(b))
}

/// A URL-only manifest entry named "test-model" for `url`, with `pins`
/// (size and checksum lines).
fn manifest(url: &str, pins: &str) -> Manifest {
    let text = format!(
        "[[model]]\nname = \"test-model\"\nkind = \"stt\"\nfile = \"ggml-test.bin\"\nlicence = \"MIT\"\n\
         url = \"{url}\"\noffline_source = \"none\"\n{pins}"
    );
    Manifest::parse(&text, "test.toml").expect("test manifest")
}

fn correct_pins() -> String {
    format!("size = {}\nurl_sha256 = \"{}\"\nurl_sha1 = \"{}\"\n", BODY.len(), sha256_hex(BODY), sha1_hex(BODY))
}

fn fetcher(dir: &Path) -> Fetcher {
    let mut f = Fetcher::new(dir.to_path_buf(), Source::Registry);
    f.verbose = false;
    f
}

/// What a failed fetch left in the models directory (the fetch lock aside).
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != ".fetch.lock")
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn url_route_downloads_verifies_installs_and_then_reuses_the_file() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let m = manifest(&server.url("/ggml-test.bin"), &correct_pins());

    let paths = fetcher(dir.path()).fetch(&m, "test-model").expect("fetch over loopback HTTP");
    let want = dir.path().join("ggml-test.bin");
    assert_eq!(paths, vec![want.clone()]);
    assert_eq!(std::fs::read(&want).expect("installed file"), BODY);
    assert_eq!(require(&m, dir.path(), "test-model").expect("verified"), want);
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    assert!(!leftovers(dir.path()).iter().any(|n| n.starts_with(".fetch-")), "temporary download removed");

    // Present and verified: a second fetch does not download again.
    fetcher(dir.path()).fetch(&m, "test-model").expect("second fetch");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[test]
fn a_sha1_pin_alone_is_enough_to_verify() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let m = manifest(&server.url("/ggml-test.bin"), &format!("url_sha1 = \"{}\"\n", sha1_hex(BODY)));
    fetcher(dir.path()).fetch(&m, "test-model").expect("fetch with a SHA-1 pin");
    assert!(require(&m, dir.path(), "test-model").is_ok());
}

#[test]
fn wrong_checksums_or_size_are_refused_and_leave_no_file() {
    let server = Server::start();
    let url = server.url("/ggml-test.bin");
    let other = b"some other file";
    for (pins, says) in [
        (format!("url_sha256 = \"{}\"\n", sha256_hex(other)), "sha256 mismatch"),
        (format!("url_sha1 = \"{}\"\n", sha1_hex(other)), "sha1 mismatch"),
        (format!("url_sha256 = \"{}\"\nurl_sha1 = \"{}\"\n", sha256_hex(BODY), sha1_hex(other)), "sha1 mismatch"),
        (format!("size = {}\nurl_sha256 = \"{}\"\n", BODY.len() + 1, sha256_hex(BODY)), "size mismatch"),
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let m = manifest(&url, &pins);
        let err = fetcher(dir.path()).fetch(&m, "test-model").expect_err("a bad pin is refused").to_string();
        assert!(err.starts_with("test-model: ") && err.contains(says), "{pins}: {err}");
        assert!(!err.contains('\n'), "one line: {err}");
        assert_eq!(leftovers(dir.path()), Vec::<String>::new(), "{pins}: nothing left behind");
        assert!(require(&m, dir.path(), "test-model").is_err());
    }
}

#[test]
fn unreachable_url_and_http_errors_are_named() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("http://127.0.0.1:{port}/ggml-test.bin");
    let err = fetcher(dir.path()).fetch(&manifest(&url, &correct_pins()), "test-model").expect_err("refused");
    let err = err.to_string();
    assert!(err.contains(&format!("download of {url} failed")), "{err}");
    assert!(err.to_lowercase().contains("connect"), "says it could not connect: {err}");
    assert!(err.contains("curl exit 7"), "{err}");
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());

    let server = Server::start();
    let missing = server.url("/no-such-model.bin");
    let err = fetcher(dir.path()).fetch(&manifest(&missing, &correct_pins()), "test-model").expect_err("404");
    let err = err.to_string();
    assert!(err.contains(&format!("download of {missing} failed")) && err.contains("404"), "{err}");
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}
