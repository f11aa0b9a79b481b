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

/// What the engine made of a piece, and when (simulated) it was done.
struct PieceInfo {
    text: String,
    guard: Option<String>,
    passes: u32,
    ready: Duration,
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
        let mut raw: std::collections::HashMap<(Duration, Span), PieceInfo> = Default::default();
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
                    turns.push(self.finish(turn, ended, &raw));
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

    /// The turn's transcript was in hand when its last piece was done.
    fn finish(
        &self,
        turn: TurnText,
        ended: Duration,
        raw: &std::collections::HashMap<(Duration, Span), PieceInfo>,
    ) -> HeardTurn {
        let texts: Vec<&PieceInfo> = turn.pieces.iter().filter_map(|p| raw.get(&(turn.span.0, *p))).collect();
        let ready = texts.iter().map(|p| p.ready).max().unwrap_or(ended);
        HeardTurn {
            after_audio: ready.saturating_sub(turn.span.1),
            after_end: ready.saturating_sub(ended),
            raw: texts.iter().map(|p| p.text.clone()).collect(),
            guards: texts.iter().filter_map(|p| p.guard.clone()).collect(),
            passes: texts.iter().map(|p| p.passes).max().unwrap_or(0),
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
        raw: &mut std::collections::HashMap<(Duration, Span), PieceInfo>,
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
                    AtEnd::Ready(turn) => turns.push(self.finish(turn, now, raw)),
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
        raw: &mut std::collections::HashMap<(Duration, Span), PieceInfo>,
    ) -> anyhow::Result<Job> {
        let t = Instant::now();
        let r = self.stt.transcribe(u.piece_audio(piece)).await;
        let took = t.elapsed();
        let worker = (0..free_at.len()).min_by_key(|&i| free_at[i]).unwrap_or(0);
        let ready = free_at[worker].max(issued) + took;
        free_at[worker] = ready;
        let text = match r {
            Ok(r) => {
                let info = PieceInfo { text: r.text.clone(), guard: r.guard.clone(), passes: r.passes, ready };
                raw.insert((u.start, piece), info);
                Ok(r.text)
            }
            Err(e) => Err(e.to_string()),
        };
        Ok(Job { ready, result: PieceResult { turn_start: u.start, piece, text, stt_ms: took.as_millis() as u64 } })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::stt::{SttFuture, Transcript};

    /// An engine that takes `delay` per request and answers from a script;
    /// enough to check the simulator's clock and bookkeeping (the real
    /// engine is measured by `sori eval stt` itself).
    struct Scripted {
        texts: Mutex<VecDeque<&'static str>>,
        delay: Duration,
        asked: Mutex<Vec<usize>>,
    }

    impl Stt for Scripted {
        fn transcribe(&self, pcm16k: Vec<i16>) -> SttFuture<'_> {
            Box::pin(async move {
                self.asked.lock().unwrap().push(pcm16k.len());
                tokio::time::sleep(self.delay).await;
                let text = self.texts.lock().unwrap().pop_front().unwrap_or("").to_string();
                Ok(Transcript { text, engine_ms: self.delay.as_millis() as u64, guard: None, passes: 1 })
            })
        }
        fn describe(&self) -> String {
            "scripted".into()
        }
    }

    /// 8 kHz line audio: silence, then tone bursts (ms) separated by pauses (ms).
    fn line(parts: &[(u64, bool)]) -> Vec<i16> {
        let mut out = Vec::new();
        for &(ms, voiced) in parts {
            for i in 0..(ms * 8) as usize {
                let s = if voiced { (i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 0.3 } else { 0.0 };
                out.push((s * 32767.0) as i16);
            }
        }
        out
    }

    async fn hear(piece_min_ms: u64, texts: Vec<&'static str>) -> (Vec<HeardTurn>, Vec<usize>) {
        let stt =
            Scripted { texts: Mutex::new(texts.into()), delay: Duration::from_millis(200), asked: Mutex::default() };
        let vad_cfg = crate::audio::VadConfig { engine: "energy".into(), ..Default::default() };
        let vad = crate::audio::VadEngine::Energy;
        let ears = CallEars {
            stt: &stt,
            vad: &vad,
            vad_cfg: &vad_cfg,
            piece_min: Duration::from_millis(piece_min_ms),
            workers: 1,
        };
        // 1 s of silence, 3 s of voice, a 400 ms pause, 2 s of voice.
        let audio = line(&[(1000, false), (3000, true), (400, false), (2000, true)]);
        let turns = ears.hear(Some(&audio), None).await.unwrap();
        (turns, stt.asked.into_inner().unwrap())
    }

    #[tokio::test]
    async fn a_turn_in_pieces_leaves_only_its_tail_after_the_audio() {
        let (turns, asked) = hear(2000, vec!["열이 나고", "병원에 가야 하나요?"]).await;
        assert_eq!(turns.len(), 1, "{turns:?}");
        let t = &turns[0];
        assert_eq!(t.turn.text.as_deref(), Ok("열이 나고 병원에 가야 하나요?"));
        assert_eq!(t.turn.pieces.len(), 2);
        // Two requests: the first piece at the pause, the tail at the next one.
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert!(asked[1] < asked[0], "the tail is shorter than the first piece: {asked:?}");
        // In hand one engine time (200 ms) after the tail's audio, not two.
        assert!(t.after_audio >= Duration::from_millis(200), "{:?}", t.after_audio);
        assert!(t.after_audio < Duration::from_millis(300), "{:?}", t.after_audio);
    }

    #[tokio::test]
    async fn whole_turns_transcribe_the_turn_again_after_the_caller_goes_on() {
        let (turns, asked) = hear(0, vec!["열이 나고", "열이 나고 병원에 가야 하나요?"]).await;
        assert_eq!(turns.len(), 1, "{turns:?}");
        assert_eq!(turns[0].turn.text.as_deref(), Ok("열이 나고 병원에 가야 하나요?"));
        assert_eq!(turns[0].turn.pieces.len(), 1);
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert!(asked[1] > asked[0], "the second request is the whole turn: {asked:?}");
    }
}
