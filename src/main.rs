//! The `sori` command line: `serve`, `check`, `calls`, `say`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sori::config::Config;

#[derive(Parser)]
#[command(
    name = "sori",
    version,
    about = "sori (소리) — offline Korean voice agent for the 1339 public-health hotline"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Answer calls: SIP on UDP/TCP, RTP media, the dialplan, call records.
    Serve {
        /// Configuration file.
        #[arg(short, long, default_value = "sori.toml")]
        config: PathBuf,
    },
    /// Validate the configuration and dialplan and render (cache) every prompt.
    Check {
        #[arg(short, long, default_value = "sori.toml")]
        config: PathBuf,
    },
    /// Show the most recent call records, or one call with its turns.
    Calls {
        /// A call id: show that call and what was said on it, turn by turn.
        call_id: Option<String>,
        #[arg(short, long, default_value = "sori.toml")]
        config: PathBuf,
        /// How many records.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Talk to the 1339 dialogue engine in Korean text (the same engine as calls).
    Chat {
        /// One-shot: answer these words, print the reply as JSON and exit.
        #[arg(long)]
        json: Option<String>,
        /// Which `[[hotline]]` answers (its knowledge base); default: the first.
        #[arg(long)]
        hotline: Option<String>,
        #[arg(short, long, default_value = "sori.toml")]
        config: PathBuf,
    },
    /// List, fetch and verify models and voices (models/models.toml, voices/voices.toml).
    Models(sori::models::cli::ModelsArgs),
    /// Measure routing accuracy (text / through speech), time to first answer sentence, memory.
    Eval(sori::eval::EvalArgs),
    /// Transcribe a WAV file (any rate/channels) with the configured STT engine.
    Transcribe(sori::stt::cli::TranscribeArgs),
    /// Speak Korean text with the configured voice into a WAV file (8 kHz telephone audio).
    Say {
        text: String,
        #[arg(short, long)]
        output: PathBuf,
        #[arg(short, long, default_value = "sori.toml")]
        config: PathBuf,
    },
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if cfg.log.format == "json" {
        b.json().with_current_span(true).init();
    } else {
        b.init();
    }
}

fn load(config: &std::path::Path) -> anyhow::Result<Config> {
    if !config.exists() {
        anyhow::bail!("config file {} not found (copy sori.toml from the repository)", config.display());
    }
    Ok(Config::load(config)?)
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("sori: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve { config } => {
            let cfg = load(&config)?;
            init_logging(&cfg);
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            rt.block_on(sori::server::serve(cfg))
        }
        Cmd::Check { config } => {
            let cfg = load(&config)?;
            init_logging(&cfg);
            // Every hotline's dialplan, knowledge base and voice (lexical routing: no model load).
            let hotlines = sori::server::hotline::load(&cfg, "none")?;
            for h in hotlines.all() {
                let (plan, prompts) = (&h.plan, &h.prompts);
                println!(
                    "ok: {}{} menus, {} prompts ({:.1} s of audio), {} transfer targets",
                    if cfg.hotline.is_empty() {
                        String::new()
                    } else {
                        format!("hotline {} ({}): ", h.name, h.numbers.join(", "))
                    },
                    plan.menus.len(),
                    prompts.audio.len(),
                    prompts.audio.values().map(|a| a.len()).sum::<usize>() as f64 / 8000.0,
                    plan.transfers.len()
                );
            }
            Ok(())
        }
        Cmd::Calls { call_id: Some(id), config, json, .. } => {
            let cfg = load(&config)?;
            let detail = sori::store::query::call(&cfg.store.path, &id)
                .with_context(|| format!("reading {}", cfg.store.path.display()))?
                .with_context(|| format!("no call with id {id:?} in {}", cfg.store.path.display()))?;
            if json {
                println!("{}", serde_json::to_string(&detail)?);
            } else {
                print!("{}", sori::store::show::call_text(&detail));
            }
            Ok(())
        }
        Cmd::Calls { call_id: None, config, limit, json } => {
            let cfg = load(&config)?;
            let rows = sori::store::recent(&cfg.store.path, limit)
                .with_context(|| format!("reading {}", cfg.store.path.display()))?;
            for r in rows {
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!(
                        "{}  {}  {}from={}  dtmf={:<6} outcome={:<14} cause={}  path={}",
                        r.started_ms,
                        r.call_id,
                        r.hotline.as_deref().map(|h| format!("hotline={h}  ")).unwrap_or_default(),
                        r.from_uri,
                        r.dtmf,
                        r.outcome.as_deref().unwrap_or("-"),
                        r.hangup_cause.as_deref().unwrap_or("-"),
                        r.menu_path
                    );
                }
            }
            Ok(())
        }
        Cmd::Chat { json, config, hotline } => {
            let cfg = if config.exists() { Config::load(&config)? } else { Config::default() };
            let spec = sori::server::hotline::spec_named(&cfg, hotline.as_deref()).map_err(anyhow::Error::msg)?;
            let kb = sori::kb::KnowledgeBase::load(&spec.kb)?;
            let router = sori::kb::router(&kb, &cfg.kb.embeddings);
            let brain = sori::dialog::brain::Brain::with_router(kb, router);
            let mut conv = sori::dialog::brain::Conversation::default();
            // [llm]: answers rephrased and checked as on a call.
            let mut llm = sori::llm::ChatLlm::start(&cfg)?;
            if let Some(q) = json {
                let mut r = brain.respond(&mut conv, &q);
                let mut v = serde_json::to_value(&r)?;
                if let Some(llm) = llm.as_mut() {
                    let (text, source, why) = llm.answer(brain.kb(), r.clone(), &q);
                    r.text = text;
                    v = serde_json::to_value(&r)?;
                    v["answer_source"] = serde_json::to_value(source)?;
                    v["checks_failed"] = serde_json::to_value(why)?;
                }
                println!("{v}");
                return Ok(());
            }
            if let Some(l) = &llm {
                println!("언어 모델: {}", l.name());
            }
            use std::io::{BufRead, Write};
            println!("sori 1339 상담 (텍스트). 빈 줄이나 Ctrl-D로 끝냅니다.");
            let stdin = std::io::stdin();
            loop {
                print!("> ");
                std::io::stdout().flush()?;
                let mut line = String::new();
                if stdin.lock().read_line(&mut line)? == 0 || line.trim().is_empty() {
                    break;
                }
                let mut r = brain.respond(&mut conv, line.trim());
                if let Some(llm) = llm.as_mut() {
                    let (text, source, why) = llm.answer(brain.kb(), r.clone(), line.trim());
                    r.text = text;
                    println!("      [{source:?}{}]", why.iter().map(|w| format!("; {w}")).collect::<String>());
                }
                let src = r.sources.first().map(|s| format!("  [{}: {}]", s.name, s.url)).unwrap_or_default();
                let kb = r.kb_id.as_deref().map(|k| format!(", {k}")).unwrap_or_default();
                println!("sori: {}\n      ({:?}{kb}, {:.2}){src}", r.text, r.action, r.confidence);
                if r.end_call {
                    break;
                }
            }
            Ok(())
        }
        Cmd::Models(args) => sori::models::cli::run(args),
        Cmd::Transcribe(args) => sori::stt::cli::run(args),
        Cmd::Eval(args) => sori::eval::run(args),
        Cmd::Say { text, output, config } => {
            let cfg = if config.exists() { Config::load(&config)? } else { Config::default() };
            // The voice a call speaks with: `[tts]` as configured (espeak-ng or Piper).
            let tts = sori::tts::from_config(&cfg.tts)?;
            let pcm = sori::tts::prompts::render(tts.as_ref(), &text)?;
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 8000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut w = hound::WavWriter::create(&output, spec)?;
            for s in &pcm {
                w.write_sample(*s)?;
            }
            w.finalize()?;
            println!("{}: {:.2} s", output.display(), pcm.len() as f64 / 8000.0);
            Ok(())
        }
    }
}
