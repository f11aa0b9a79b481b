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
//! detected — the STT time a caller actually waits for. A caller who goes on
//! within [`RESUME`] of a turn's end goes on that turn, as on a call
//! ([`crate::dialog::talked_on`]): with `[vad] rehear_resumed` the turn is
//! heard again whole ([`Listener::resume_turn`]), otherwise its halves'
//! transcripts are put together (the clip's turns are joined anyway).
//!
//! Every end of turn the listener decides is kept ([`TurnEnd`]): the ending
//! hint it went by, when the transcript (and so the reply) could have
//! started, and whether the caller went on — an end inside the clip is a
//! reply the caller would hear start while they were still speaking, unless
//! they went on before it was ready.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::stt::Line;
use crate::audio::{Completeness, Listener, ListenerEvent, Utterance};
use crate::dialog::talked_on::RESUME;
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

/// One end of a turn the listener decided.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnEnd {
    /// The turn's audio as it stood at the end.
    pub span: Span,
    /// When the end was detected.
    pub decided: Duration,
    /// The ending hint the end went by (`None`: no transcript of the pause
    /// came in time, the plain silence rule).
    pub hint: Option<Completeness>,
    /// The transcript of the pause the hint came from ("" without one).
    pub hint_text: String,
    /// When its transcript was in hand (`None`: never; the caller went on
    /// first and the transcription was dropped).
    pub ready: Option<Duration>,
    /// When the caller's next speech was detected, if within [`RESUME`] of
    /// the end: they went on.
    pub went_on: Option<Duration>,
    /// Where that speech began (its first voiced frame, `min_speech`
    /// before it was detected).
    pub went_on_from: Option<Duration>,
    /// The turn's routed transcript as it stood at `ready`.
    pub text: Option<String>,
    /// A reply that only asks for more waits until then (the caller quiet
    /// `[vad] ask_more_after_ms`): set by whoever knows the reply.
    pub held_until: Option<Duration>,
}

impl TurnEnd {
    /// A reply to this end would have started (its transcript in hand,
    /// the end decided) before the caller's going on was detected: they
    /// hear its start while still speaking.
    /// A held reply is not said once a voice has started (the call looks
    /// at the listener), so it is heard early only if it came before that.
    pub fn reply_heard_early(&self) -> bool {
        let on = match self.held_until {
            Some(_) => self.went_on_from.or(self.went_on),
            None => self.went_on,
        };
        match (self.reply_at(), on) {
            (Some(at), Some(on)) => at < on,
            _ => false,
        }
    }

    /// Its reply only asks for more: it waits until the caller has been
    /// quiet `after` since their last voiced frame (`post_roll` before the
    /// turn's audio ends), as a call holds it.
    pub fn hold_reply(&mut self, after: Duration, post_roll: Duration) {
        self.held_until = Some(self.span.1.saturating_sub(post_roll) + after);
    }

    /// When a reply would start: its transcript in hand, the end decided,
    /// and a reply asking for more held long enough.
    pub fn reply_at(&self) -> Option<Duration> {
        let at = self.ready?.max(self.decided);
        Some(self.held_until.map_or(at, |h| at.max(h)))
    }
}

/// What the ears made of a clip.
#[derive(Debug, Clone)]
pub struct Heard {
    /// Its turns in order (a turn the caller went on is heard again whole
    /// with `[vad] rehear_resumed`).
    pub turns: Vec<HeardTurn>,
    /// Every end of turn decided, in order.
    pub ends: Vec<TurnEnd>,
}

/// What the engine made of a piece, and when (simulated) it was done.
struct PieceInfo {
    text: String,
    guard: Option<String>,
    passes: u32,
    ready: Duration,
}

struct Job {
    /// When it ran (simulated) and on which worker.
    started: Duration,
    ready: Duration,
    worker: usize,
    result: PieceResult,
}

/// One clip's simulation: the call's listener and piece bookkeeping, the
/// jobs on their way, the workers' clocks and what has been heard.
struct Sim<'e, 'a> {
    ears: &'e CallEars<'a>,
    listener: Listener,
    pieces: Pieces<Duration>,
    jobs: Vec<Job>,
    /// When each worker is free again.
    free_at: Vec<Duration>,
    done: HashMap<(Duration, Span), PieceInfo>,
    turns: Vec<HeardTurn>,
    /// The latest turn's start and when its end was detected.
    last_end: Option<(Duration, Duration)>,
    ends: Vec<TurnEnd>,
    /// The latest ending hint given the listener, for the audio it is about.
    hint: Option<(Span, Completeness, String)>,
}

impl CallEars<'_> {
    /// Hears one clip as it arrives on the line.
    pub async fn hear(&self, line: &Line) -> anyhow::Result<Heard> {
        let mut sim = Sim {
            ears: self,
            listener: Listener::new(
                self.vad.new_vad(),
                crate::audio::ListenerConfig { endpoint: self.vad_cfg.endpoint(), ..Default::default() },
            ),
            pieces: Pieces::new(self.piece_min),
            jobs: Vec::new(),
            free_at: vec![Duration::ZERO; self.workers.max(1)],
            done: HashMap::new(),
            turns: Vec::new(),
            last_end: None,
            ends: Vec::new(),
            hint: None,
        };
        // Frames of 20 ms, then 3 s of silence so every turn ends.
        let (audio, rate) = match line {
            Line::Telephone(l) => (l.as_slice(), 8_000),
            Line::Wideband(w) => (w.as_slice(), 16_000),
        };
        let frame = rate / 50;
        let total = audio.len() + 3 * rate;
        let mut pos = 0;
        while pos < total {
            let now = sim.listener.now();
            sim.deliver(|ready| ready <= now).await?;
            let end = (pos + frame).min(total);
            let mut chunk = audio.get(pos..end.min(audio.len())).unwrap_or(&[]).to_vec();
            chunk.resize(end - pos, 0);
            pos = end;
            match line {
                Line::Telephone(_) => sim.listener.push_8k(&chunk),
                Line::Wideband(_) => {
                    sim.listener.push_16k(&chunk.iter().map(|&s| s as f32 / 32768.0).collect::<Vec<_>>())
                }
            }
            sim.drain().await?;
        }
        // The audio is over: whatever is still on its way finishes in order.
        while !sim.jobs.is_empty() {
            sim.deliver(|_| true).await?;
        }
        let mut turns = sim.turns;
        turns.sort_by_key(|t| t.turn.span.0);
        Ok(Heard { turns, ends: sim.ends })
    }
}

impl Sim<'_, '_> {
    /// Hands back the results `due` says are done (by their ready time), in
    /// the order they finish; each may complete a turn or hint its end.
    async fn deliver(&mut self, due: impl Fn(Duration) -> bool) -> anyhow::Result<()> {
        self.jobs.sort_by_key(|j| j.ready);
        while self.jobs.first().is_some_and(|j| due(j.ready)) {
            let job = self.jobs.remove(0);
            let hint = self.ears.vad_cfg.korean_endings.then(|| job.result.ending());
            let text = job.result.text.clone().unwrap_or_default();
            if let Some((turn, ended)) = self.pieces.on_result(job.result) {
                let heard = self.finish(turn, ended);
                self.turns.push(heard);
            }
            if let Some((span, h)) = hint {
                self.hint = Some((span, h, text));
                self.listener.set_turn_hint(span, h);
                self.drain().await?;
            }
        }
        Ok(())
    }

    /// The turn's transcript was in hand when its last piece was done.
    /// Its end of turn is marked with that time.
    fn finish(&mut self, turn: TurnText, ended: Duration) -> HeardTurn {
        let texts: Vec<&PieceInfo> = turn.pieces.iter().filter_map(|p| self.done.get(&(turn.span.0, *p))).collect();
        let ready = texts.iter().map(|p| p.ready).max().unwrap_or(ended);
        let heard = HeardTurn {
            after_audio: ready.saturating_sub(turn.span.1),
            after_end: ready.saturating_sub(ended),
            raw: texts.iter().map(|p| p.text.clone()).collect(),
            guards: texts.iter().filter_map(|p| p.guard.clone()).collect(),
            passes: texts.iter().map(|p| p.passes).max().unwrap_or(0),
            turn,
        };
        let start = heard.turn.span.0;
        if let Some(end) = self.ends.iter_mut().rev().find(|e| e.span.0 == start && e.ready.is_none()) {
            end.ready = Some(ready);
            end.text = heard.turn.text.clone().ok();
        }
        heard
    }

    /// Acts on the listener's events as the call task does.
    async fn drain(&mut self) -> anyhow::Result<()> {
        while let Some(ev) = self.listener.poll_event() {
            let now = self.listener.now();
            match ev {
                ListenerEvent::Pause(u) => {
                    let span = (u.start, u.end);
                    if let Some(piece) = self.pieces.on_pause(span) {
                        self.run(&u, piece, now).await?;
                        let vad = self.ears.vad_cfg;
                        if vad.korean_endings && vad.await_transcript {
                            self.listener.expect_turn_hint(span);
                        }
                    }
                }
                ListenerEvent::Utterance(u) => {
                    self.last_end = Some((u.start, now));
                    let (hint, hint_text) = match &self.hint {
                        Some((span, h, text)) if *span == (u.start, u.end) => (Some(*h), text.clone()),
                        _ => (None, String::new()),
                    };
                    let span = (u.start, u.end);
                    self.ends.push(TurnEnd {
                        span,
                        decided: now,
                        hint,
                        hint_text,
                        ready: None,
                        went_on: None,
                        went_on_from: None,
                        text: None,
                        held_until: None,
                    });
                    match self.pieces.on_end((u.start, u.end), now) {
                        AtEnd::Ready(turn) => {
                            let heard = self.finish(turn, now);
                            self.turns.push(heard);
                        }
                        AtEnd::Wait => {}
                        AtEnd::Transcribe(piece) => self.run(&u, piece, now).await?,
                    }
                }
                ListenerEvent::SpeechStart { at } => {
                    let goes_on = self.last_end.take().filter(|&(_, ended)| now.saturating_sub(ended) <= RESUME);
                    if let Some(end) = self.ends.last_mut().filter(|_| goes_on.is_some()) {
                        end.went_on = Some(now);
                        end.went_on_from = Some(at);
                    }
                    if let Some((turn, _)) = goes_on.filter(|_| self.ears.vad_cfg.rehear_resumed) {
                        if self.listener.resume_turn(turn) {
                            self.pieces.forget(turn);
                            self.turns.retain(|t| t.turn.span.0 != turn);
                            self.cancel(turn, now);
                        }
                    }
                }
                ListenerEvent::StopPlayback(_) => {}
            }
        }
        Ok(())
    }

    /// The call cancels the jobs of a turn heard again whole: a running one
    /// frees its worker now, a queued one never runs.
    fn cancel(&mut self, turn: Duration, now: Duration) {
        let (gone, kept): (Vec<Job>, Vec<Job>) =
            std::mem::take(&mut self.jobs).into_iter().partition(|j| j.result.turn_start == turn && j.ready > now);
        self.jobs = kept;
        for j in gone {
            if self.free_at[j.worker] == j.ready {
                self.free_at[j.worker] = j.started.max(now);
            }
        }
    }

    /// Transcribes a piece now (really), and queues its result for when it
    /// would be done on the simulated clock.
    async fn run(&mut self, u: &Utterance, piece: Span, issued: Duration) -> anyhow::Result<()> {
        let t = Instant::now();
        let r = self.ears.stt.transcribe(u.piece_audio(piece)).await;
        let took = t.elapsed();
        let worker = (0..self.free_at.len()).min_by_key(|&i| self.free_at[i]).unwrap_or(0);
        let started = self.free_at[worker].max(issued);
        let ready = started + took;
        self.free_at[worker] = ready;
        let text = match r {
            Ok(r) => {
                let info = PieceInfo { text: r.text.clone(), guard: r.guard.clone(), passes: r.passes, ready };
                self.done.insert((u.start, piece), info);
                Ok(r.text)
            }
            Err(e) => Err(e.to_string()),
        };
        let result = PieceResult { turn_start: u.start, piece, text, stt_ms: took.as_millis() as u64 };
        self.jobs.push(Job { started, ready, worker, result });
        Ok(())
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
        let (heard, asked) = hear_paused(piece_min_ms, 400, true, texts).await;
        (heard.turns, asked)
    }

    /// As [`hear`], with a pause of `pause_ms` and `[vad] rehear_resumed`.
    async fn hear_paused(
        piece_min_ms: u64,
        pause_ms: u64,
        rehear_resumed: bool,
        texts: Vec<&'static str>,
    ) -> (Heard, Vec<usize>) {
        let stt =
            Scripted { texts: Mutex::new(texts.into()), delay: Duration::from_millis(200), asked: Mutex::default() };
        let vad_cfg = crate::audio::VadConfig { engine: "energy".into(), rehear_resumed, ..Default::default() };
        let vad = crate::audio::VadEngine::Energy;
        let ears = CallEars {
            stt: &stt,
            vad: &vad,
            vad_cfg: &vad_cfg,
            piece_min: Duration::from_millis(piece_min_ms),
            workers: 1,
        };
        // 1 s of silence, 3 s of voice, a pause, 2 s of voice.
        let audio = line(&[(1000, false), (3000, true), (pause_ms, false), (2000, true)]);
        let heard = ears.hear(&Line::Telephone(audio)).await.unwrap();
        (heard, stt.asked.into_inner().unwrap())
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

    #[tokio::test]
    async fn a_caller_who_goes_on_after_the_end_is_heard_again_whole() {
        // A finished sentence ends the turn 300 ms into the 900 ms pause,
        // within RESUME of which the caller goes on.
        let (heard, asked) = hear_paused(0, 900, true, vec!["열이 나요.", "열이 나요. 병원에 가야 하나요?"]).await;
        let turns = heard.turns;
        assert_eq!(turns.len(), 1, "{turns:?}");
        assert_eq!(turns[0].turn.text.as_deref(), Ok("열이 나요. 병원에 가야 하나요?"));
        assert!(turns[0].turn.span.0 < Duration::from_millis(1000), "from the first half's start: {turns:?}");
        // The first half, then the whole (3 s + 0.9 s + 2 s and the rolls).
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert!(asked[1] > asked[0] + 16 * 2800, "{asked:?}");

        // Without it: two turns, each half transcribed on its own.
        let (heard, asked) = hear_paused(0, 900, false, vec!["열이 나요.", "병원에 가야 하나요?"]).await;
        assert_eq!(heard.turns.len(), 2, "{:?}", heard.turns);
        assert!(asked[1] < asked[0], "{asked:?}");
    }

    #[tokio::test]
    async fn every_end_of_turn_is_kept_with_its_hint_and_whether_the_reply_came_before_the_caller_went_on() {
        // The first half sounds finished: its end (300 ms into the 900 ms
        // pause) has its transcript ready 200 ms after the pause's 150 ms,
        // before the caller goes on: a reply would be heard starting.
        let (heard, _) = hear_paused(0, 900, true, vec!["열이 나요.", "열이 나요. 병원에 가야 하나요?"]).await;
        let ends = &heard.ends;
        assert_eq!(ends.len(), 2, "{ends:?}");
        assert_eq!(ends[0].hint, Some(Completeness::Complete));
        assert!(ends[0].went_on.is_some() && ends[0].reply_heard_early(), "{:?}", ends[0]);
        assert!(ends[1].went_on.is_none() && !ends[1].reply_heard_early(), "{:?}", ends[1]);
        assert_eq!(ends[1].span.0, ends[0].span.0, "the second end is the whole turn's");

        // Stopping mid-phrase: the 900 ms pause is within the 1.4 s wait, no end inside.
        let (heard, _) = hear_paused(0, 900, true, vec!["열이 나고", "열이 나고 병원에 가야 하나요?"]).await;
        assert_eq!(heard.ends.len(), 1, "{:?}", heard.ends);
        assert_eq!(heard.ends[0].hint, Some(Completeness::Complete));

        // A slow transcript: the caller goes on before it is in hand, nothing is heard.
        let e = TurnEnd {
            span: (Duration::ZERO, Duration::from_secs(2)),
            decided: Duration::from_millis(2500),
            hint: None,
            hint_text: String::new(),
            ready: Some(Duration::from_millis(3200)),
            went_on: Some(Duration::from_millis(3000)),
            went_on_from: Some(Duration::from_millis(2840)),
            text: None,
            held_until: None,
        };
        assert!(!e.reply_heard_early());
        assert!(!TurnEnd { ready: None, ..e.clone() }.reply_heard_early());
        let quick = TurnEnd { ready: Some(Duration::from_millis(2600)), ..e };
        assert!(quick.reply_heard_early());
        // A reply asking for more, held until the caller was quiet 1.4 s
        // (1850 + 1400 ms): they went on first, nothing was heard.
        let mut held = quick;
        held.hold_reply(Duration::from_millis(1400), Duration::from_millis(150));
        assert!(!held.reply_heard_early());
        assert_eq!(held.reply_at(), Some(Duration::from_millis(3250)));
        // Held until just after the caller's voice started (2840 ms) but
        // before it was confirmed (3000 ms): the call waits for it.
        let mut late = held.clone();
        late.hold_reply(Duration::from_millis(1000), Duration::from_millis(150));
        assert_eq!(late.reply_at(), Some(Duration::from_millis(2850)));
        assert!(!late.reply_heard_early());
        late.hold_reply(Duration::from_millis(900), Duration::from_millis(150));
        assert!(late.reply_heard_early(), "{late:?}");
    }
}
