//! `sori eval stt`: the ears on recorded speech. Each clip goes through the
//! call's telephone channel (8 kHz, G.711 μ-law or A-law, or Opus at 8 kHz,
//! back up to 16 kHz with the call's own upsampler) and the exact STT path a
//! call uses: the configured engine and `[stt.decode]` settings, then the
//! call's text clean-up ([`crate::stt::text::for_routing`]). Prints the
//! character error rate per speaker and overall, loops and hallucinations,
//! STT time per utterance (p50/p95) and the real-time factor.
//!
//! Corpus: a TSV with a header naming at least `file` and `transcript`
//! (optional `speaker`, `split`, `script`: the clip is scored against
//! whichever of `transcript` / `script` is closer), e.g. speech-ko's
//! `transcripts.tsv`; or a folder holding one, or WAV files each with a
//! `.txt` beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;

use crate::codec::CodecKind;
use crate::config::Config;
use crate::stt::guard;
use crate::stt::proto::DecodeOptions;

#[derive(Debug, Args)]
pub struct SttEvalArgs {
    /// Corpus: a TSV (file, transcript[, speaker, split, script]) or a folder.
    pub data: PathBuf,
    /// Only clips of this split (the TSV's `split` column); "all" for every clip.
    #[arg(long, default_value = "all")]
    pub split: String,
    /// Telephone channel: ulaw, alaw, opus (8 kHz) or none (the WAV as it is).
    #[arg(long, default_value = "ulaw")]
    pub channel: String,
    /// Override one `[stt.decode]` setting, e.g. --decode beam=5 --decode window=full.
    #[arg(long = "decode", value_name = "KEY=VALUE")]
    pub decode: Vec<String>,
    /// Model name from models/models.toml (overrides [stt] model).
    #[arg(long)]
    pub model: Option<String>,
    /// Threads per worker (overrides [stt] threads).
    #[arg(long)]
    pub threads: Option<usize>,
    /// At most this many clips (in corpus order).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Write every clip (file, speaker, reference, raw text, routed text, CER, ms, guard) here (TSV).
    #[arg(long)]
    pub cases: Option<PathBuf>,
    /// Each clip straight to the engine as one utterance (no VAD, no pieces):
    /// the engine alone, not the call's path.
    #[arg(long)]
    pub whole_clip: bool,
    /// Override `[stt] piece_min_ms` (0: whole turns).
    #[arg(long)]
    pub piece_min_ms: Option<u64>,
    /// Share of clips given a silence mid-sentence (at the quietest point of
    /// their middle), as the voice-to-voice bench's caller does: measures
    /// the end-of-turn rule on callers who pause.
    #[arg(long, default_value_t = 0.0)]
    pub pause_share: f64,
    /// The inserted silence, ms (MIN-MAX: each clip's drawn in the range).
    #[arg(long, default_value = "400-700")]
    pub pause_ms: String,
    #[arg(long, default_value_t = 1339)]
    pub pause_seed: u64,
    /// A bad network between caller and sori (RTP through sori's jitter buffer and concealment).
    #[command(flatten)]
    pub net: super::network::NetworkArgs,
}

/// One recorded utterance with what was said.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    pub wav: PathBuf,
    pub speaker: String,
    pub split: String,
    /// Accepted references (spelled as spoken, and as written).
    pub refs: Vec<String>,
}

/// Reads a corpus: a TSV file, a folder with `transcripts.tsv`, or a folder
/// of WAV files with `.txt` transcripts beside them.
pub fn load_corpus(path: &Path) -> anyhow::Result<Vec<Clip>> {
    if path.is_dir() {
        let tsv = path.join("transcripts.tsv");
        if tsv.exists() {
            return load_tsv(&tsv);
        }
        let mut clips = Vec::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
            .collect();
        entries.sort();
        for wav in entries {
            let txt = wav.with_extension("txt");
            let Ok(reference) = std::fs::read_to_string(&txt) else { continue };
            clips.push(Clip { wav, speaker: "-".into(), split: "all".into(), refs: vec![reference.trim().into()] });
        }
        if clips.is_empty() {
            bail!("{}: no transcripts.tsv and no WAV files with a .txt transcript beside them", path.display());
        }
        return Ok(clips);
    }
    load_tsv(path)
}

fn load_tsv(path: &Path) -> anyhow::Result<Vec<Clip>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_tsv(&text, base).with_context(|| format!("parsing {}", path.display()))
}

/// Parses a corpus TSV; relative WAV paths are relative to `base`.
pub fn parse_tsv(text: &str, base: &Path) -> anyhow::Result<Vec<Clip>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().context("empty file")?.split('\t').map(str::trim).collect();
    let col = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(file), Some(transcript)) = (col("file").or(col("path")), col("transcript").or(col("text"))) else {
        bail!("the header must name a `file` and a `transcript` column (got {header:?})");
    };
    let (speaker, split, script) = (col("speaker"), col("split"), col("script"));
    let mut clips = Vec::new();
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let get = |c: Option<usize>| c.and_then(|c| f.get(c)).map(|s| s.trim()).filter(|s| !s.is_empty());
        let (Some(wav), Some(reference)) = (get(Some(file)), get(Some(transcript))) else {
            bail!("line {}: no file or transcript", i + 2);
        };
        let mut refs = vec![reference.to_string()];
        refs.extend(get(script).map(str::to_string));
        clips.push(Clip {
            wav: base.join(wav),
            speaker: get(speaker).unwrap_or("-").into(),
            split: get(split).unwrap_or("all").into(),
            refs,
        });
    }
    Ok(clips)
}

/// `[stt.decode]` with `key=value` overrides (values in TOML syntax; a bare
/// word is a string).
pub fn decode_with(base: &DecodeOptions, overrides: &[String]) -> anyhow::Result<DecodeOptions> {
    let mut table = toml::Value::try_from(base)?;
    for o in overrides {
        let Some((k, v)) = o.split_once('=') else { bail!("--decode {o:?}: use KEY=VALUE") };
        let value = toml::from_str::<toml::Table>(&format!("v = {v}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(v.to_string()));
        table.as_table_mut().context("decode options")?.insert(k.trim().replace('-', "_"), value);
    }
    let d: DecodeOptions = table.try_into().context("--decode")?;
    d.validate().map_err(anyhow::Error::msg)?;
    Ok(d)
}

/// 16 kHz audio of a clip as a call would hear it through `channel`.
pub fn through_channel(wav: &Path, channel: &str) -> anyhow::Result<Vec<i16>> {
    match on_the_line(wav, channel)? {
        Line::Telephone(line) => Ok(super::upsample_to_16k(&line)),
        Line::Wideband(pcm) => Ok(pcm),
    }
}

/// A clip as it arrives on a call.
pub enum Line {
    /// 8 kHz, decoded from the telephone codec.
    Telephone(Vec<i16>),
    /// 16 kHz as recorded (`channel = none`).
    Wideband(Vec<i16>),
}

/// A clip through `channel`: encoded and decoded as a call's RTP carries it.
pub fn on_the_line(wav: &Path, channel: &str) -> anyhow::Result<Line> {
    if channel == "none" {
        return crate::stt::read_wav_16k(wav).map(Line::Wideband).map_err(anyhow::Error::msg);
    }
    let kind = match channel {
        "ulaw" | "pcmu" => CodecKind::Pcmu,
        "alaw" | "pcma" => CodecKind::Pcma,
        "opus" => CodecKind::Opus,
        other => bail!("--channel {other:?}: use ulaw, alaw, opus or none"),
    };
    let pcm8k = crate::stt::read_wav(wav, 8_000).map_err(anyhow::Error::msg)?;
    let mut enc = crate::codec::encoder(kind)?;
    let mut dec = crate::codec::decoder(kind)?;
    let mut line = Vec::with_capacity(pcm8k.len());
    let (mut payload, mut frame) = (Vec::new(), Vec::new());
    for chunk in pcm8k.chunks(crate::codec::SAMPLES_PER_FRAME_8K) {
        frame.clear();
        frame.extend_from_slice(chunk);
        frame.resize(crate::codec::SAMPLES_PER_FRAME_8K, 0);
        payload.clear();
        enc.encode(&frame, &mut payload)?;
        dec.decode(&payload, &mut line)?;
    }
    Ok(Line::Telephone(line))
}

/// A clip through `channel` as RTP over a (possibly impaired) network, played out by
/// the call's jitter buffer and concealment ([`super::network`]).
pub fn on_the_network(
    wav: &Path,
    channel: &str,
    net: &super::network::NetworkArgs,
    seed: u64,
    depth: usize,
) -> anyhow::Result<(Line, super::network::NetStats)> {
    let kind = match channel {
        "ulaw" | "pcmu" => CodecKind::Pcmu,
        "alaw" | "pcma" => CodecKind::Pcma,
        "opus" => CodecKind::Opus,
        other => bail!("--channel {other:?} over RTP: use ulaw, alaw or opus"),
    };
    let silence = match net.conceal.as_str() {
        "plc" => false,
        "silence" => true,
        other => bail!("--conceal {other:?}: use plc or silence"),
    };
    let pcm8k = crate::stt::read_wav(wav, 8_000).map_err(anyhow::Error::msg)?;
    let (line, stats) = super::network::through_network(&pcm8k, kind, net.impairment(), seed, depth, silence)?;
    Ok((Line::Telephone(line), stats))
}

/// Edits between the closest reference and `hyp`, and that reference's
/// length (characters that are letters or digits).
pub fn best_edits(refs: &[String], hyp: &str) -> (usize, usize) {
    refs.iter()
        .map(|r| {
            let n = guard::spoken_chars(r);
            ((super::char_error_rate(r, hyp) * n as f64).round() as usize, n)
        })
        .min_by(|a, b| (a.0 as f64 / a.1.max(1) as f64).total_cmp(&(b.0 as f64 / b.1.max(1) as f64)))
        .unwrap_or((0, 0))
}

#[derive(Default)]
struct Tally {
    clips: usize,
    edits: usize,
    chars: usize,
}

impl Tally {
    fn add(&mut self, edits: usize, chars: usize) {
        self.clips += 1;
        self.edits += edits;
        self.chars += chars;
    }
    fn cer(&self) -> f64 {
        100.0 * self.edits as f64 / self.chars.max(1) as f64
    }
}

pub async fn run(cfg: &Config, a: SttEvalArgs) -> anyhow::Result<()> {
    let mut clips = load_corpus(&a.data)?;
    if a.split != "all" {
        clips.retain(|c| c.split == a.split);
    }
    if let Some(n) = a.limit {
        clips.truncate(n);
    }
    if clips.is_empty() {
        bail!("no clips in {} (split {:?})", a.data.display(), a.split);
    }
    let mut stt_cfg = cfg.stt.clone();
    stt_cfg.decode = decode_with(&cfg.stt.decode, &a.decode)?;
    if let Some(m) = &a.model {
        stt_cfg.model = m.clone();
    }
    if let Some(t) = a.threads {
        stt_cfg.threads = t;
    }
    // A call gives up on a transcript after [stt] timeout_ms (the caller
    // must hear something); the evaluation measures what the engine hears,
    // so a slow clip on a busy machine is timed, not lost.
    stt_cfg.timeout_ms = stt_cfg.timeout_ms.max(120_000);
    let stt = crate::stt::from_config(&stt_cfg).await.context("STT engine")?;
    println!("engine: {} ({} thread(s), {} worker(s))", stt.describe(), stt_cfg.threads, stt_cfg.workers);
    println!("channel: {}   clips: {} ({} split)", a.channel, clips.len(), a.split);
    println!("decode: {}", serde_json::to_string(&stt_cfg.decode)?);
    let over_rtp = a.net.on_rtp();
    let depth = a.net.jitter_frames.unwrap_or(cfg.rtp.jitter_frames).clamp(1, 50);
    println!(
        "network: {}{}",
        a.net.describe(),
        if over_rtp { format!(", jitter buffer {depth} frames") } else { String::new() }
    );
    let mut net_stats = super::network::NetStats::default();
    let pauses = super::pause::PausePlan::parse(a.pause_share, &a.pause_ms, a.pause_seed)?;
    if pauses.share > 0.0 {
        println!(
            "pauses: {:.0} % of clips get {}–{} ms of silence mid-sentence (seed {})",
            100.0 * pauses.share,
            pauses.min_ms,
            pauses.max_ms,
            pauses.seed
        );
    }
    let piece_min = a.piece_min_ms.unwrap_or(stt_cfg.piece_min_ms);
    let vad = if a.whole_clip {
        println!("path: each clip whole, straight to the engine (--whole-clip)");
        None
    } else {
        println!(
            "path: the call's (VAD {}, pauses at {} ms, pieces of at least {piece_min} ms, {} worker(s), simulated clock)",
            cfg.vad.engine, cfg.vad.early_silence_ms, stt_cfg.workers
        );
        Some(crate::audio::VadEngine::load(&cfg.vad).context("VAD")?)
    };
    let mut speakers = BTreeMap::<String, Tally>::new();
    let mut all = Tally::default();
    let (mut raw_loops, mut loops, mut too_long, mut retried) = (0usize, 0usize, 0usize, 0usize);
    let mut guards = BTreeMap::<String, usize>::new();
    let (mut engine_ms, mut audio_s) = (Vec::new(), 0f64);
    // Call path: per turn, transcript in hand after its last audio / after
    // its end was detected, and the last piece's engine time.
    let (mut after_audio, mut after_end, mut last_piece, mut piece_counts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut rows = vec![
        "file\tspeaker\treference\traw\trouted\tcer\tengine_ms\tguard\tpasses\tturns\tpieces\tready_after_audio_ms\tpause_ms\tends_inside"
            .to_string(),
    ];
    let mut taking = super::turn_taking::TurnTaking::default();
    let post_roll = cfg.vad.endpoint().post_roll;
    // The dialogue, for which replies only ask for more: a call holds those
    // until the caller has been quiet `[vad] ask_more_after_ms`.
    let ask_more_after = std::time::Duration::from_millis(cfg.vad.ask_more_after_ms);
    let dialogue = match (&vad, ask_more_after.is_zero()) {
        (Some(_), false) => match super::brain(cfg, false) {
            Ok(b) => Some(b),
            Err(e) => {
                println!("dialogue: none ({e:#}): replies asking for more are not held");
                None
            }
        },
        _ => None,
    };
    for (i, c) in clips.iter().enumerate() {
        let mut line = if over_rtp {
            let (line, st) = on_the_network(&c.wav, &a.channel, &a.net, a.net.seed + i as u64, depth)
                .with_context(|| c.wav.display().to_string())?;
            net_stats.add(&st);
            line
        } else {
            on_the_line(&c.wav, &a.channel).with_context(|| c.wav.display().to_string())?
        };
        let pause_ms = pauses.pause_ms(i);
        let paused = match &mut line {
            Line::Telephone(l) => super::pause::insert(l, 8_000, pause_ms),
            Line::Wideband(w) => super::pause::insert(w, 16_000, pause_ms),
        }
        .is_some();
        let secs = match &line {
            Line::Telephone(l) => l.len() as f64 / 8_000.0,
            Line::Wideband(w) => w.len() as f64 / 16_000.0,
        };
        audio_s += secs;
        let heard = match &vad {
            None => {
                let pcm = match line {
                    Line::Telephone(l) => super::upsample_to_16k(&l),
                    Line::Wideband(w) => w,
                };
                let r = stt.transcribe(pcm).await.with_context(|| format!("STT of {}", c.wav.display()))?;
                engine_ms.push(r.engine_ms as f64);
                ClipHeard {
                    routed: crate::stt::text::for_routing(&r.text),
                    raw: r.text,
                    guards: r.guard.into_iter().collect(),
                    passes: r.passes,
                    engine_ms: r.engine_ms,
                    turns: 1,
                    pieces: 1,
                    ready_ms: r.engine_ms,
                    ends_inside: String::new(),
                }
            }
            Some(vad) => {
                let ears = super::as_call::CallEars {
                    stt: stt.as_ref(),
                    vad,
                    vad_cfg: &cfg.vad,
                    piece_min: std::time::Duration::from_millis(piece_min),
                    workers: stt_cfg.workers,
                };
                let mut heard = ears.hear(&line).await.with_context(|| format!("hearing {}", c.wav.display()))?;
                if let Some(brain) = &dialogue {
                    for end in &mut heard.ends {
                        let fresh = || crate::dialog::brain::Conversation::default();
                        if end.text.as_deref().is_some_and(|t| brain.respond(&mut fresh(), t).asks_for_more) {
                            end.hold_reply(ask_more_after, post_roll);
                        }
                    }
                }
                let ends_inside = taking.add(&heard.ends, paused, post_roll);
                let turns = heard.turns;
                let mut texts = Vec::new();
                for t in &turns {
                    match &t.turn.text {
                        Ok(x) => texts.push(x.clone()),
                        Err(e) => bail!("STT of {}: {e}", c.wav.display()),
                    }
                    after_audio.push(t.after_audio.as_secs_f64() * 1000.0);
                    after_end.push(t.after_end.as_secs_f64() * 1000.0);
                    last_piece.push(t.turn.last_stt_ms as f64);
                    piece_counts.push(t.turn.pieces.len() as f64);
                }
                let stt_total: u64 = turns.iter().map(|t| t.turn.stt_ms).sum();
                engine_ms.push(stt_total as f64);
                ClipHeard {
                    raw: turns.iter().map(|t| t.raw.join(" | ")).collect::<Vec<_>>().join(" || "),
                    routed: texts.join(" ").trim().to_string(),
                    guards: turns.iter().flat_map(|t| t.guards.clone()).collect(),
                    passes: turns.iter().map(|t| t.passes).max().unwrap_or(0),
                    engine_ms: stt_total,
                    turns: turns.len(),
                    pieces: turns.iter().map(|t| t.turn.pieces.len()).sum(),
                    ready_ms: turns.last().map_or(0, |t| t.after_audio.as_millis() as u64),
                    ends_inside,
                }
            }
        };
        let routed = &heard.routed;
        let (edits, chars) = best_edits(&c.refs, routed);
        speakers.entry(c.speaker.clone()).or_default().add(edits, chars);
        all.add(edits, chars);
        raw_loops += guard::looped(&heard.raw) as usize;
        loops += guard::looped(routed) as usize;
        let limit = 2.0 + stt_cfg.decode.max_chars_per_s as f64 * secs;
        too_long += (guard::spoken_chars(routed) as f64 > limit) as usize;
        retried += (heard.passes > 1) as usize;
        for g in &heard.guards {
            *guards.entry(g.clone()).or_default() += 1;
        }
        let guard_list = heard.guards.join(",");
        let cer = edits as f64 / chars.max(1) as f64;
        eprintln!(
            "[{}/{}] {} {} ms (ready +{} ms, {} piece(s)) cer {:.2}{}{}{} {routed}",
            i + 1,
            clips.len(),
            c.wav.file_name().map(|f| f.to_string_lossy()).unwrap_or_default(),
            heard.engine_ms,
            heard.ready_ms,
            heard.pieces,
            cer,
            if guard_list.is_empty() { String::new() } else { format!(" [{guard_list}]") },
            if paused { format!(" (paused {pause_ms} ms)") } else { String::new() },
            if heard.ends_inside.is_empty() { String::new() } else { format!(" cut: {}", heard.ends_inside) }
        );
        rows.push(format!(
            "{}\t{}\t{}\t{}\t{routed}\t{cer:.3}\t{}\t{guard_list}\t{}\t{}\t{}\t{}\t{pause_ms}\t{}",
            c.wav.display(),
            c.speaker,
            c.refs[0],
            heard.raw.replace(['\t', '\n'], " "),
            heard.engine_ms,
            heard.passes,
            heard.turns,
            heard.pieces,
            heard.ready_ms,
            heard.ends_inside
        ));
    }
    println!("speaker  clips   CER");
    for (s, t) in &speakers {
        println!("{s:<8} {:>5} {:>6.1} %", t.clips, t.cer());
    }
    println!("overall CER: {:.1} % ({} edits / {} characters, {} clips)", all.cer(), all.edits, all.chars, all.clips);
    if over_rtp {
        let pct = |n: u64| 100.0 * n as f64 / net_stats.sent.max(1) as f64;
        println!(
            "network: {} packets, {} lost ({:.1} %), {} too late for the jitter buffer ({:.1} %), {} frames concealed",
            net_stats.sent,
            net_stats.lost,
            pct(net_stats.lost),
            net_stats.late,
            pct(net_stats.late),
            net_stats.concealed
        );
    }
    println!(
        "loops: {loops} after clean-up ({raw_loops} in the raw text); hallucinations (too long for the audio): {too_long}"
    );
    println!("guards fired: {guards:?}; clips decoded twice: {retried}");
    let total_engine: f64 = engine_ms.iter().sum::<f64>() / 1000.0;
    let p = |v: &[f64], q: f64| super::pct(&mut v.to_vec(), q);
    let max = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    if vad.is_some() {
        println!(
            "turns: {} ({:.1} pieces each on average)",
            after_audio.len(),
            piece_counts.iter().sum::<f64>() / piece_counts.len().max(1) as f64
        );
        println!(
            "STT time per utterance (transcript in hand after the turn's last audio): p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            p(&after_audio, 0.5),
            p(&after_audio, 0.95),
            max(&after_audio)
        );
        println!(
            "  after the end of the turn was detected: p50 {:.0} ms, p95 {:.0} ms; last piece's engine time p50 {:.0} ms, p95 {:.0} ms",
            p(&after_end, 0.5),
            p(&after_end, 0.95),
            p(&last_piece, 0.5),
            p(&last_piece, 0.95)
        );
        taking.print();
    }
    println!(
        "engine time per clip (all pieces): p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms; RTF {:.3} ({:.1} s of audio)",
        p(&engine_ms, 0.5),
        p(&engine_ms, 0.95),
        max(&engine_ms),
        total_engine / audio_s.max(1e-9),
        audio_s
    );
    if let Some(path) = a.cases {
        std::fs::write(&path, rows.join("\n") + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// What the ears made of one clip.
struct ClipHeard {
    raw: String,
    routed: String,
    guards: Vec<String>,
    passes: u32,
    engine_ms: u64,
    turns: usize,
    pieces: usize,
    /// The last turn's transcript in hand after its last audio.
    ready_ms: u64,
    /// Ends of turn inside the clip, with their hints ([`super::turn_taking`]).
    ends_inside: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_ko_style_tsv_parses_with_both_references() {
        let tsv = "file\tspeaker\tsplit\ttranscript\tscript\nwav/a.wav\tada\ttest\t육십사쩜오퍼센트\t64.5%\n\nwav/b.wav\tadb\ttune\t네\t\n";
        let clips = parse_tsv(tsv, Path::new("/data")).unwrap();
        assert_eq!(clips.len(), 2);
        assert_eq!(clips[0].wav, Path::new("/data/wav/a.wav"));
        assert_eq!(clips[0].refs, vec!["육십사쩜오퍼센트".to_string(), "64.5%".into()]);
        assert_eq!((clips[1].speaker.as_str(), clips[1].split.as_str(), clips[1].refs.len()), ("adb", "tune", 1));
        assert!(parse_tsv("a\tb\nx\ty\n", Path::new(".")).is_err());
    }

    #[test]
    fn the_closer_reference_scores() {
        let refs = vec!["투표율 육십사쩜오퍼센트".to_string(), "투표율 64.5%".to_string()];
        assert_eq!(best_edits(&refs, "투표율 64.5%"), (0, 6));
        assert_eq!(best_edits(&refs, "투표율 육십사쩜오퍼센트"), (0, 11));
    }

    #[test]
    fn decode_overrides_parse_as_toml_or_words() {
        let d =
            decode_with(&DecodeOptions::default(), &["beam=5".into(), "window=full".into(), "prompt=\"독감\"".into()])
                .unwrap();
        assert_eq!((d.beam, d.window.as_str(), d.prompt.as_str()), (5, "full", "독감"));
        assert!(decode_with(&DecodeOptions::default(), &["window=half".into()]).is_err());
        assert!(decode_with(&DecodeOptions::default(), &["nonsense=1".into()]).is_err());
    }
}
