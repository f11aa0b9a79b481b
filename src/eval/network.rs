//! A bad network between the caller and sori, for `sori eval stt`: the
//! caller's 8 kHz audio is cut into 20 ms frames, encoded and sent as RTP
//! packets every 20 ms, impaired by [`crate::rtp::impair`] (the model the
//! test relay uses), and played out on a simulated 20 ms receive clock
//! exactly as a call's media task does: sori's jitter buffer
//! ([`crate::rtp::jitter`], the call's depth and bound, the call's catch-up
//! rule), the decoder for each frame that came and its concealment for each
//! frame that did not, silence while the buffer is empty.

use std::time::Duration;

use clap::Args;

use crate::codec::{self, CodecKind, Decoder, SAMPLES_PER_FRAME_8K};
use crate::rtp::impair::{Burst, Channel, Impairment};
use crate::rtp::jitter::{frames_to_take, JitterBuffer, Playout};

/// The call's jitter-buffer bound (frames), as in `server::call`.
const MAX_FRAMES: usize = 50;
/// The receive clock ticks halfway between send instants (a call's two
/// clocks are unrelated; this avoids ties).
const RX_PHASE: Duration = Duration::from_millis(10);

/// Network options of `sori eval stt`. Any of --loss, --burst, --jitter,
/// --reorder, --duplicate (even 0) sends the clips as RTP through the call's
/// jitter buffer; without them a clip is encoded and decoded frame by frame.
#[derive(Debug, Clone, Args)]
pub struct NetworkArgs {
    /// Packet loss in percent (independent, or bursty with --burst).
    #[arg(long)]
    pub loss: Option<f64>,
    /// Mean burst length in packets: Gilbert–Elliott loss at the --loss rate.
    #[arg(long)]
    pub burst: Option<f64>,
    /// Jitter in ms: each packet is delayed by a uniform 0..=JITTER ms (reorders beyond 20 ms).
    #[arg(long)]
    pub jitter: Option<u64>,
    /// Percent of packets held back a further 100 ms (explicit reordering).
    #[arg(long)]
    pub reorder: Option<f64>,
    /// Percent of packets that arrive twice.
    #[arg(long)]
    pub duplicate: Option<f64>,
    /// Seed of the impairment (clip i uses seed + i).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Concealment of lost frames: "plc" (what calls use: the decoder's own,
    /// pitch repetition with fade for G.711) or "silence".
    #[arg(long, default_value = "plc")]
    pub conceal: String,
    /// Jitter-buffer depth in frames (default: [rtp] jitter_frames).
    #[arg(long)]
    pub jitter_frames: Option<usize>,
}

impl NetworkArgs {
    /// Whether the clips go over RTP (any network option given).
    pub fn on_rtp(&self) -> bool {
        self.loss.is_some()
            || self.burst.is_some()
            || self.jitter.is_some()
            || self.reorder.is_some()
            || self.duplicate.is_some()
    }

    pub fn impairment(&self) -> Impairment {
        let pct = |v: Option<f64>| (v.unwrap_or(0.0) / 100.0).clamp(0.0, 1.0);
        let loss = pct(self.loss);
        Impairment {
            loss,
            burst: self.burst.map(|len| Burst::with_mean(loss, len)),
            jitter_ms: self.jitter.unwrap_or(0),
            reorder: pct(self.reorder),
            reorder_ms: 100,
            duplicate: pct(self.duplicate),
            ..Default::default()
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        if !self.on_rtp() {
            return "none (each clip encoded and decoded frame by frame)".into();
        }
        if self.impairment().is_clean() {
            return "RTP over a clean network (nothing lost or late)".into();
        }
        format!(
            "loss {} %{}, jitter 0..{} ms, reorder {} %, duplicate {} %, seed {}, lost frames: {}",
            self.loss.unwrap_or(0.0),
            self.burst.map(|b| format!(" in bursts of {b} packets")).unwrap_or_default(),
            self.jitter.unwrap_or(0),
            self.reorder.unwrap_or(0.0),
            self.duplicate.unwrap_or(0.0),
            self.seed,
            self.conceal
        )
    }
}

/// What the network and the jitter buffer did to one clip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// RTP packets sent.
    pub sent: u64,
    /// Lost in the network.
    pub lost: u64,
    /// Frames played as concealment (lost, or too late for the buffer).
    pub concealed: u64,
    /// Packets the jitter buffer dropped as too late.
    pub late: u64,
}

impl NetStats {
    pub fn add(&mut self, o: &NetStats) {
        self.sent += o.sent;
        self.lost += o.lost;
        self.concealed += o.concealed;
        self.late += o.late;
    }
}

/// The 8 kHz audio a call hears of `pcm8k` sent over an impaired network as
/// `kind` RTP: what its listener is fed frame by frame.
pub fn through_network(
    pcm8k: &[i16],
    kind: CodecKind,
    net: Impairment,
    seed: u64,
    depth: usize,
    conceal_silence: bool,
) -> anyhow::Result<(Vec<i16>, NetStats)> {
    let mut enc = codec::encoder(kind)?;
    let mut dec: Box<dyn Decoder> = match (conceal_silence, kind) {
        (true, CodecKind::Pcmu) => Box::new(codec::g711::UlawDecoder),
        (true, CodecKind::Pcma) => Box::new(codec::g711::AlawDecoder),
        (true, CodecKind::Opus) => anyhow::bail!("--conceal silence: Opus has its own concealment"),
        (false, k) => codec::decoder(k)?,
    };
    let mut channel: Channel<Duration, (u16, u32, Vec<u8>)> = Channel::new(net, seed);
    let mut jb = JitterBuffer::new(depth, MAX_FRAMES);
    let ts_step = kind.samples_per_20ms_rtp();
    let frames = pcm8k.len().div_ceil(SAMPLES_PER_FRAME_8K);
    let (mut seq, mut ts) = ((seed as u16).wrapping_mul(7919), (seed as u32).wrapping_mul(104_729));
    let mut frame = Vec::with_capacity(SAMPLES_PER_FRAME_8K);
    let mut out = Vec::with_capacity(pcm8k.len() + 50 * SAMPLES_PER_FRAME_8K);
    let mut concealed = 0u64;
    let mut tick = 0u64;
    loop {
        let send_at = Duration::from_millis(20 * tick);
        if let Some(chunk) = pcm8k.chunks(SAMPLES_PER_FRAME_8K).nth(tick as usize) {
            frame.clear();
            frame.extend_from_slice(chunk);
            frame.resize(SAMPLES_PER_FRAME_8K, 0);
            let mut payload = Vec::new();
            enc.encode(&frame, &mut payload)?;
            channel.push(send_at, (seq, ts, payload));
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(ts_step);
        }
        let now = send_at + RX_PHASE;
        while let Some((s, t, p)) = channel.poll(now) {
            jb.push(s, t, p);
        }
        for _ in 0..frames_to_take(jb.len(), depth) {
            match jb.pop() {
                Playout::Frame(p) => {
                    let _ = dec.decode(&p, &mut out);
                }
                Playout::Lost => {
                    concealed += 1;
                    dec.conceal(&mut out);
                }
                Playout::Empty => out.extend(std::iter::repeat_n(0i16, SAMPLES_PER_FRAME_8K)),
            }
        }
        tick += 1;
        let all_sent = tick as usize >= frames;
        if all_sent && channel.in_flight() == 0 && jb.is_empty() {
            break;
        }
        if tick as usize > frames + 1000 {
            break; // a buffer that never drains would be a bug; never loop forever
        }
    }
    let st = jb.stats();
    let stats = NetStats { sent: frames as u64, lost: channel.stats().lost, concealed, late: st.late_dropped };
    Ok((out, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Encoder;

    fn speechy(n: usize) -> Vec<i16> {
        (0..n).map(|i| ((i as f32 * 0.07).sin() * 6000.0 * ((i / 800) % 2) as f32) as i16).collect()
    }

    #[test]
    fn a_clean_network_delivers_the_audio_after_the_buffer_delay() {
        let pcm = speechy(16_000);
        let (out, st) = through_network(&pcm, CodecKind::Pcmu, Impairment::none(), 1, 3, false).unwrap();
        assert_eq!((st.lost, st.concealed, st.late), (0, 0, 0));
        // Pre-buffering: silence, then the μ-law audio sample for sample.
        let lead = out.iter().position(|&s| s != 0).unwrap();
        let first = pcm.iter().position(|&s| s != 0).unwrap();
        let shift = lead - first;
        assert_eq!(shift % SAMPLES_PER_FRAME_8K, 0);
        let mut line = Vec::new();
        let mut dec = codec::g711::UlawDecoder;
        for c in pcm.chunks(160) {
            let mut p = Vec::new();
            codec::g711::UlawEncoder.encode(c, &mut p).unwrap();
            dec.decode(&p, &mut line).unwrap();
        }
        assert_eq!(&out[shift..shift + line.len()], &line[..]);
    }

    #[test]
    fn loss_and_jitter_are_concealed_and_deterministic() {
        let pcm = speechy(80_000);
        let net = Impairment { loss: 0.1, jitter_ms: 60, ..Default::default() };
        let (a, sa) = through_network(&pcm, CodecKind::Pcmu, net, 5, 3, false).unwrap();
        let (b, sb) = through_network(&pcm, CodecKind::Pcmu, net, 5, 3, false).unwrap();
        assert_eq!((&a, sa), (&b, sb));
        assert!(sa.lost > 30 && sa.concealed >= sa.lost, "{sa:?}");
        assert!(a.len() > pcm.len() * 9 / 10, "{} of {}", a.len(), pcm.len());
        let (_, s2) = through_network(&pcm, CodecKind::Pcmu, net, 5, 3, true).unwrap();
        assert_eq!(s2, sa, "the concealment does not change what arrived");
    }
}
