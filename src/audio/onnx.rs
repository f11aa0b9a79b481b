//! ONNX Runtime, loaded once per process at run time (`ort` with
//! `load-dynamic`): shared by the Silero VAD and Piper/VITS voices.
//!
//! `ort` 2.0.0-rc.12 hangs inside `ort::api()` when it is pointed at a missing
//! or too old library instead of failing (../shared/MODELS.md). So before
//! `ort` sees the path, [`runtime`] opens the library itself, reads its
//! version through the stable `OrtGetApiBase` entry point, checks that it
//! serves the API version `ort` was built for, and then initialises `ort` on a
//! helper thread with a deadline.

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use thiserror::Error;

/// The ONNX Runtime release the project pins (PyPI `onnxruntime==1.24.4`).
pub const ORT_VERSION: &str = "1.24.4";
/// File name of the library inside the models directory.
pub const ORT_LIBRARY: &str = "libonnxruntime.so.1.24.4";
/// Oldest minor release `ort` rc.12 (`api-24`) can drive.
const MIN_MINOR: u32 = 24;
const INIT_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Error)]
pub enum OnnxError {
    #[error("ONNX Runtime library not found at {path} ({hint})")]
    Missing { path: PathBuf, hint: String },
    #[error("{path} is not a usable ONNX Runtime library: {reason}")]
    Unusable { path: PathBuf, reason: String },
    #[error("ONNX Runtime initialisation did not finish within {0:?}")]
    Timeout(Duration),
    #[error("ONNX Runtime: {0}")]
    Ort(String),
}

impl From<ort::Error> for OnnxError {
    fn from(e: ort::Error) -> Self {
        OnnxError::Ort(e.to_string())
    }
}

pub const FETCH_HINT: &str = "fetch it with: scripts/fetch-onnx-test-assets.sh (or `sori models fetch`)";

/// `$SORI_MODELS_DIR`, else `$XDG_CACHE_HOME/sori/models`, else
/// `~/.cache/sori/models`: where the model fetcher puts weights and the ONNX
/// Runtime library (the same rule as `sori models`).
pub fn models_dir() -> PathBuf {
    crate::models::models_dir()
}

/// `$ORT_DYLIB_PATH`, else [`ORT_LIBRARY`] inside [`models_dir`].
pub fn library_path() -> PathBuf {
    match std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => models_dir().join(ORT_LIBRARY),
    }
}

#[repr(C)]
struct OrtApiBase {
    get_api: unsafe extern "C" fn(version: u32) -> *const c_void,
    get_version_string: unsafe extern "C" fn() -> *const c_char,
}

/// Opens `path` with dlopen and returns the library's version string after
/// checking that it provides the C API version `ort` needs. Never calls `ort`.
pub fn probe_library(path: &Path) -> Result<String, OnnxError> {
    if !path.is_file() {
        return Err(OnnxError::Missing { path: path.to_path_buf(), hint: FETCH_HINT.into() });
    }
    let unusable = |reason: String| OnnxError::Unusable { path: path.to_path_buf(), reason };
    let cpath = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| unusable("NUL in path".into()))?;
    // SAFETY: dlopen/dlsym with valid C strings; the handle is intentionally
    // kept open (ort opens the same file again and shares the mapping).
    unsafe {
        let handle = libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if handle.is_null() {
            let err = libc::dlerror();
            let msg = if err.is_null() { "dlopen failed".into() } else { CStr::from_ptr(err).to_string_lossy().into() };
            return Err(unusable(msg));
        }
        let sym = libc::dlsym(handle, c"OrtGetApiBase".as_ptr());
        if sym.is_null() {
            return Err(unusable("no OrtGetApiBase symbol".into()));
        }
        let get_base: unsafe extern "C" fn() -> *const OrtApiBase = std::mem::transmute(sym);
        let base = get_base();
        if base.is_null() {
            return Err(unusable("OrtGetApiBase returned null".into()));
        }
        let v = ((*base).get_version_string)();
        let version = if v.is_null() { String::new() } else { CStr::from_ptr(v).to_string_lossy().into_owned() };
        let minor = version.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
        if !version.starts_with("1.") || minor < MIN_MINOR {
            return Err(unusable(format!("version {version:?}, need 1.{MIN_MINOR}.x or newer ({ORT_VERSION} tested)")));
        }
        if ((*base).get_api)(ort::sys::ORT_API_VERSION).is_null() {
            return Err(unusable(format!("version {version} does not serve C API {}", ort::sys::ORT_API_VERSION)));
        }
        Ok(version)
    }
}

static RUNTIME: OnceLock<Result<(PathBuf, String), OnnxError>> = OnceLock::new();

/// Loads ONNX Runtime from [`library_path`] once per process; later calls
/// return the first outcome. Returns the library path and version.
pub fn runtime() -> Result<(PathBuf, String), OnnxError> {
    RUNTIME.get_or_init(|| init(&library_path())).clone()
}

fn init(path: &Path) -> Result<(PathBuf, String), OnnxError> {
    let version = probe_library(path)?;
    let (tx, rx) = mpsc::channel();
    let p = path.to_path_buf();
    // A stuck initialisation leaves this thread behind, never the caller.
    std::thread::Builder::new()
        .name("ort-init".into())
        .spawn(move || {
            let r = ort::init_from(&p).map(|b| {
                b.with_name("sori").with_telemetry(false).commit();
                // Forces the API table lookup, the step that hangs on a bad library.
                let _ = ort::api();
            });
            let _ = tx.send(r.map_err(OnnxError::from));
        })
        .map_err(|e| OnnxError::Ort(format!("spawning init thread: {e}")))?;
    match rx.recv_timeout(INIT_DEADLINE) {
        Ok(Ok(())) => {
            tracing::info!(library = %path.display(), %version, "ONNX Runtime loaded");
            Ok((path.to_path_buf(), version))
        }
        Ok(Err(e)) => Err(e),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(OnnxError::Timeout(INIT_DEADLINE)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(OnnxError::Ort("initialisation thread panicked".into())),
    }
}

/// A CPU session for `model` with `threads` intra-op threads and no
/// spin-waiting (the machine is shared with the SIP/RTP tasks).
pub fn session(model: &Path, threads: usize) -> Result<ort::session::Session, OnnxError> {
    runtime()?;
    if !model.is_file() {
        return Err(OnnxError::Missing { path: model.to_path_buf(), hint: FETCH_HINT.into() });
    }
    let e = |e: ort::Error<ort::session::builder::SessionBuilder>| OnnxError::Ort(e.to_string());
    let mut builder = ort::session::Session::builder()?
        .with_intra_threads(threads.max(1))
        .map_err(e)?
        .with_inter_threads(1)
        .map_err(e)?
        .with_intra_op_spinning(false)
        .map_err(e)?
        .with_inter_op_spinning(false)
        .map_err(e)?;
    builder.commit_from_file(model).map_err(|e| OnnxError::Ort(format!("loading {}: {e}", model.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_library_is_reported_not_hung() {
        let e = probe_library(Path::new("/nonexistent/libonnxruntime.so.1.24.4")).unwrap_err();
        assert!(matches!(e, OnnxError::Missing { .. }), "{e}");
        assert!(e.to_string().contains("fetch-onnx-test-assets"), "{e}");
    }

    #[test]
    fn a_library_that_is_not_onnx_runtime_is_refused() {
        // libc is a real shared object without OrtGetApiBase.
        let libc = ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.is_file());
        if let Some(p) = libc {
            let e = probe_library(p).unwrap_err();
            assert!(e.to_string().contains("OrtGetApiBase"), "{e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("libonnxruntime.so.1.24.4");
        std::fs::write(&junk, b"not an ELF file").unwrap();
        assert!(matches!(probe_library(&junk), Err(OnnxError::Unusable { .. })));
    }
}
