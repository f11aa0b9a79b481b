//! `sori transcribe FILE.wav`: the same engine, settings and text clean-up
//! as calls, on a file: prints exactly the text a call would route.

use std::path::PathBuf;
use std::time::Instant;

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct TranscribeArgs {
    /// WAV file (any sample rate and channel count).
    pub file: PathBuf,
    #[arg(short, long, default_value = "sori.toml")]
    pub config: PathBuf,
    /// Model name from models/models.toml (overrides [stt] model).
    #[arg(long)]
    pub model: Option<String>,
    /// Spoken language (overrides [stt] language).
    #[arg(long)]
    pub language: Option<String>,
    /// Threads per worker (overrides [stt] threads).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Transcribe this many times and report the real-time factor on stderr
    /// (the first run, which warms caches, is excluded when N > 1).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

pub fn run(args: TranscribeArgs) -> anyhow::Result<()> {
    let cfg = if args.config.exists() { Config::load(&args.config)? } else { Config::default() };
    let mut stt_cfg = cfg.stt.clone();
    if let Some(m) = args.model {
        stt_cfg.model = m;
    }
    if let Some(l) = args.language {
        stt_cfg.language = l;
    }
    if let Some(t) = args.threads {
        stt_cfg.threads = t;
    }
    let pcm = super::read_wav_16k(&args.file).map_err(anyhow::Error::msg)?;
    let audio_s = pcm.len() as f64 / 16_000.0;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let t0 = Instant::now();
        let stt = super::from_config(&stt_cfg).await?;
        let load_ms = t0.elapsed().as_millis();
        let mut runs = Vec::new();
        let mut text = String::new();
        for _ in 0..args.repeat.max(1) {
            let t = Instant::now();
            let r = stt.transcribe(pcm.clone()).await?;
            runs.push((t.elapsed().as_secs_f64(), r.engine_ms as f64 / 1000.0));
            text = super::text::for_routing(&r.text);
        }
        println!("{text}");
        if args.repeat > 1 {
            let timed = &runs[1..];
            let n = timed.len() as f64;
            let wall = timed.iter().map(|r| r.0).sum::<f64>() / n;
            let engine = timed.iter().map(|r| r.1).sum::<f64>() / n;
            eprintln!(
                "{}: audio {audio_s:.2} s, start {load_ms} ms, mean over {} runs: engine {engine:.3} s (RTF {:.3}), wall {wall:.3} s (RTF {:.3}), threads {}",
                stt.describe(),
                timed.len(),
                engine / audio_s,
                wall / audio_s,
                stt_cfg.threads
            );
        }
        Ok(())
    })
}
