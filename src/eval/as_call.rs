//! A recorded clip heard the way a call hears it, on a simulated clock: the
//! telephone audio goes frame by frame through the call's [`Listener`] (VAD,
//! pauses, end of turn, Korean-ending hints) and its turns are transcribed in
//! pieces by the call's [`Pieces`] bookkeeping, with the same engine.
//!
//! The clock is the audio's: a piece is handed to the engine when the
//! listener offers it, waits for a free worker (`workers` of them), and takes
//! as long as the engine really took (each job runs when it is issued, so the
//! figures are the engine's own; queueing and overlap with the caller's
//! speech are simulated). That gives, per turn, when its transcript would be
//! in hand: after the turn's last audio, and after the end of the turn was
//! detected — the STT time a caller actually waits for.

use std::time::{Duration, Instant};

use crate::audio::{Completeness, Listener, ListenerEvent, Utterance};
use crate::stt::pieces::{AtEnd, PieceResult, Pieces, Span, TurnText};
use crate::stt::Stt;

/// How the call's listening path is set up (from `[vad]` and `[stt]`).
pub struct CallEars<'a> {
    pub stt: &'a dyn Stt,
    pub vad: &'a crate::audio::VadEngine,
    pub vad_cfg: &'a crate::audio::VadConfig,
    pub piece_min: Duration,
    pub workers: usize,
}

/// One caller turn of the clip.
#[derive(Debug, Clone)]
pub struct HeardTurn {
    pub turn: TurnText,
    /// Raw engine texts of its pieces, in order.
    pub raw: Vec<String>,
    /// Transcript in hand after the turn's last audio (its utterance end,
    /// which is 150 ms of post-roll after the last voiced frame).
    pub after_audio: Duration,
    /// Transcript in hand after the end of the turn was detected (0 when it
    /// was ready first).
    pub after_end: Duration,
    pub guards: Vec<String>,
    pub passes: u32,
}

struct Job {
    ready: Duration,
    result: PieceResult,
}

impl CallEars<'_> {
    /// Hears one clip: 8 kHz decoded line audio (`line_8k`) or, for a
    /// wideband source, 16 kHz audio (`wide_16k`). Turns in order.
    pub async fn hear(&self, line_8k: Option<&[i16]>, wide_16k: Option<&[i16]>) -> anyhow::Result<Vec<HeardTurn>> {
        let mut listener = Listener::new(
            self.vad.new_vad(),
            crate::audio::ListenerConfig { endpoint: self.vad_cfg.endpoint(), ..Default::default() },
        );
        let mut pieces: Pieces<Duration> = Pieces::new(self.piece_min);
        let mut free_at = vec![Duration::ZERO; self.workers.max(1)];
        let mut jobs: Vec<Job> = Vec::new();
        let mut raw: std::collections::HashMap<(Duration, Span), (String, Option<String>, u32)> = Default::default();
        let mut turns = Vec::new();
        // Frames of 20 ms, then 3 s of silence so every turn ends.
        let (frame, audio): (usize, Vec<f32>) = match (line_8k, wide_16k) {
            (Some(l), _) => (160, l.iter().map(|&s| s as f32 / 32768.0).collect()),
            (None, Some(w)) => (320, w.iter().map(|&s| s as f32 / 32768.0).collect()),
            (None, None) => anyhow::bail!("no audio"),
        };
        let rate = if line_8k.is_some() { 8_000 } else { 16_000 };
        let total = audio.len() + 3 * rate;
        let mut pos = 0;
        while pos < total || !jobs.is_empty() {
            let now = listener.now();
            // Results due by now, in the order they finish.
            jobs.sort_by_key(|j| j.ready);
            while jobs.first().is_some_and(|j| j.ready <= now || pos >= total) {
                let job = jobs.remove(0);
                let hint = self.hint(&job.result);
                if let Some((turn, ended)) = pieces.on_result(job.result) {
                    turns.push(self.finish(turn, ended, job.ready, &raw));
                }
                if let Some((span, h)) = hint {
                    listener.set_turn_hint(span, h);
                    self.drain(&mut listener, &mut pieces, &mut jobs, &mut free_at, &mut raw, &mut turns).await?;
                }
            }
            if pos >= total {
                continue;
            }
            let end = (pos + frame).min(total);
            let mut chunk: Vec<f32> = audio.get(pos..end.min(audio.len())).unwrap_or(&[]).to_vec();
            chunk.resize(end - pos, 0.0);
            pos = end;
            if rate == 8_000 {
                let pcm: Vec<i16> = chunk.iter().map(|s| (s * 32767.0) as i16).collect();
                listener.push_8k(&pcm);
            } else {
                listener.push_16k(&chunk);
            }
            self.drain(&mut listener, &mut pieces, &mut jobs, &mut free_at, &mut raw, &mut turns).await?;
        }
        turns.sort_by_key(|t| t.turn.span.0);
        Ok(turns)
    }

    fn hint(&self, r: &PieceResult) -> Option<(Span, Completeness)> {
        if !self.vad_cfg.korean_endings {
            return None;
        }
        let hint = r
            .text
            .as_ref()
            .map_or(Completeness::Unknown, |t| crate::audio::korean_end::classify(&crate::stt::text::for_routing(t)));
        Some(((r.turn_start, r.piece.1), hint))
    }

    fn finish(
        &self,
        turn: TurnText,
        ended: Duration,
        ready: Duration,
        raw: &std::collections::HashMap<(Duration, Span), (String, Option<String>, u32)>,
    ) -> HeardTurn {
        let texts: Vec<&(String, Option<String>, u32)> =
            turn.pieces.iter().filter_map(|p| raw.get(&(turn.span.0, *p))).collect();
        HeardTurn {
            after_audio: ready.saturating_sub(turn.span.1),
            after_end: ready.saturating_sub(ended),
            raw: texts.iter().map(|v| v.0.clone()).collect(),
            guards: texts.iter().filter_map(|v| v.1.clone()).collect(),
            passes: texts.iter().map(|v| v.2).max().unwrap_or(0),
            turn,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn drain(
        &self,
        listener: &mut Listener,
        pieces: &mut Pieces<Duration>,
        jobs: &mut Vec<Job>,
        free_at: &mut [Duration],
        raw: &mut std::collections::HashMap<(Duration, Span), (String, Option<String>, u32)>,
        turns: &mut Vec<HeardTurn>,
    ) -> anyhow::Result<()> {
        while let Some(ev) = listener.poll_event() {
            let now = listener.now();
            match ev {
                ListenerEvent::Pause(u) => {
                    let span = (u.start, u.end);
                    if let Some(piece) = pieces.on_pause(span) {
                        jobs.push(self.run(&u, piece, now, free_at, raw).await?);
                        if self.vad_cfg.korean_endings && self.vad_cfg.await_transcript {
                            listener.expect_turn_hint(span);
                        }
                    }
                }
                ListenerEvent::Utterance(u) => match pieces.on_end((u.start, u.end), now) {
                    AtEnd::Ready(turn) => turns.push(self.finish(turn, now, now, raw)),
                    AtEnd::Wait => {}
                    AtEnd::Transcribe(piece) => jobs.push(self.run(&u, piece, now, free_at, raw).await?),
                },
                ListenerEvent::SpeechStart { .. } | ListenerEvent::StopPlayback(_) => {}
            }
        }
        Ok(())
    }

    /// Transcribes a piece now (really), and says when it would be done on
    /// the simulated clock.
    async fn run(
        &self,
        u: &Utterance,
        piece: Span,
        issued: Duration,
        free_at: &mut [Duration],
        raw: &mut std::collections::HashMap<(Duration, Span), (String, Option<String>, u32)>,
    ) -> anyhow::Result<Job> {
        let t = Instant::now();
        let r = self.stt.transcribe(u.piece_audio(piece)).await;
        let took = t.elapsed();
        let worker = (0..free_at.len()).min_by_key(|&i| free_at[i]).unwrap_or(0);
        let ready = free_at[worker].max(issued) + took;
        free_at[worker] = ready;
        let text = match r {
            Ok(r) => {
                raw.insert((u.start, piece), (r.text.clone(), r.guard.clone(), r.passes));
                Ok(r.text)
            }
            Err(e) => Err(e.to_string()),
        };
        Ok(Job { ready, result: PieceResult { turn_start: u.start, piece, text, stt_ms: took.as_millis() as u64 } })
    }
}
