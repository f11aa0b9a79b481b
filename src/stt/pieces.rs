//! A caller's turn transcribed in pieces cut at their pauses (sans-IO).
//!
//! Whisper's time grows with the audio, so a 12 s question transcribed
//! whole after the caller stops keeps them waiting a second or more on a
//! small server. Instead, each time the caller pauses
//! ([`crate::audio::ListenerEvent::Pause`]) the audio since the last cut is
//! transcribed at once. If they go on talking, that piece is kept (when it is
//! at least `min_piece` long; a shorter one is dropped and its audio joins
//! the next piece) and the next piece starts where it ended. When the turn
//! ends, only the audio after the last cut is left to transcribe — or nothing,
//! when the turn ends at the pause whose piece is already done. The turn's
//! text is the pieces' texts in order ([`super::text::join_pieces`]).
//!
//! Cuts fall only in the caller's own pauses (≥ `[vad] early_silence_ms` of
//! silence), never inside a word. `min_piece` = 0 turns the splitting off:
//! every pause then transcribes the whole turn so far (speculatively), and the
//! end uses that transcript when nothing came after the pause.
//!
//! Times are stream offsets; `T` is the caller's clock for "when the turn
//! ended" (an `Instant` on calls, a simulated offset in `sori eval stt`).

use std::collections::VecDeque;
use std::time::Duration;

/// Bounds of audio in the call's stream: a turn or a piece of it.
pub type Span = (Duration, Duration);

/// One piece's transcript, back from the engine.
#[derive(Debug, Clone)]
pub struct PieceResult {
    /// Start of the turn it belongs to.
    pub turn_start: Duration,
    pub piece: Span,
    /// Raw engine text (cleaned when the turn is put together).
    pub text: Result<String, String>,
    pub stt_ms: u64,
}

impl PieceResult {
    /// How finished the turn so far sounds: it ends where this piece ends,
    /// and the piece's last words carry the Korean final ending
    /// ([`crate::audio::korean_end::classify`]). A failed transcription says
    /// nothing (`Unknown`: the plain silence rule applies). A looping one
    /// ("선생님 선생님 선생님") is the decoder running on audio it could not
    /// read, mostly the first words before a pause: `Incomplete`. So is a
    /// greeting or word that a question is coming ("안녕하세요.", "뭐 좀
    /// 여쭤보려고요"): finished sentences, but a caller who pauses after one
    /// goes on ([`crate::dialog::opener`]); a bare "네" is an answer.
    pub fn ending(&self) -> (Span, crate::audio::Completeness) {
        let hint = self.text.as_ref().map_or(crate::audio::Completeness::Unknown, |t| {
            if super::guard::looped(t) {
                return crate::audio::Completeness::Incomplete;
            }
            let routed = super::text::for_routing(t);
            if crate::dialog::opener::opener(&routed).is_some_and(|o| o.promises_more()) {
                return crate::audio::Completeness::Incomplete;
            }
            crate::audio::korean_end::classify(&routed)
        });
        ((self.turn_start, self.piece.1), hint)
    }
}

/// A whole turn's transcript, put together from its pieces.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnText {
    pub span: Span,
    /// Routed text ([`super::text::join_pieces`]); an error if a piece failed.
    pub text: Result<String, String>,
    /// STT time of every piece together, and of the last one (the part the
    /// caller waits for).
    pub stt_ms: u64,
    pub last_stt_ms: u64,
    /// The pieces' bounds, in order.
    pub pieces: Vec<Span>,
}

/// What to do at the end of a caller's turn.
#[derive(Debug, PartialEq)]
pub enum AtEnd {
    /// Every piece is in: the turn's transcript.
    Ready(TurnText),
    /// Pieces are still being transcribed: their results complete it.
    Wait,
    /// Transcribe this piece (the audio after the last cut); its result
    /// completes the turn.
    Transcribe(Span),
}

#[derive(Debug)]
struct Piece {
    span: Span,
    result: Option<(Result<String, String>, u64)>,
}

#[derive(Debug)]
struct Turn<T> {
    start: Duration,
    /// In order; all but the last are kept cuts, the last may be the
    /// speculative piece of the latest pause.
    pieces: Vec<Piece>,
    /// Set once the turn ended: its end and when.
    ended: Option<(Duration, T)>,
}

impl<T> Turn<T> {
    fn new(start: Duration) -> Self {
        Turn { start, pieces: Vec::new(), ended: None }
    }

    fn cut(&self) -> Duration {
        self.pieces.last().map_or(self.start, |p| p.span.1)
    }

    fn complete(&self) -> bool {
        self.pieces.iter().all(|p| p.result.is_some())
    }

    fn text(&self) -> TurnText {
        let end = self.ended.as_ref().map_or(self.cut(), |(e, _)| *e);
        let mut texts = Vec::with_capacity(self.pieces.len());
        let mut error = None;
        for p in &self.pieces {
            match &p.result {
                Some((Ok(t), _)) => texts.push(t.as_str()),
                Some((Err(e), _)) => error = Some(e.clone()),
                None => error = Some("piece not transcribed".into()),
            }
        }
        let ms = |p: &Piece| p.result.as_ref().map_or(0, |r| r.1);
        TurnText {
            span: (self.start, end),
            text: error.map_or_else(|| Ok(super::text::join_pieces(&texts)), Err),
            stt_ms: self.pieces.iter().map(ms).sum(),
            last_stt_ms: self.pieces.last().map_or(0, ms),
            pieces: self.pieces.iter().map(|p| p.span).collect(),
        }
    }
}

/// Piece bookkeeping for one call's caller turns.
#[derive(Debug)]
pub struct Pieces<T> {
    min_piece: Duration,
    /// The turn the caller is in (or last paused in).
    current: Option<Turn<T>>,
    /// Ended turns waiting for pieces, oldest first.
    awaiting: VecDeque<Turn<T>>,
    /// A dropped piece whose job still runs: no new speculative job until it
    /// is back, so pauses cannot pile work on a busy worker.
    stale_in_flight: Option<(Duration, Span)>,
    /// The owner cancels the jobs of dropped pieces ([`Pieces::cancelling`]):
    /// they are listed in `dropped` instead of holding new jobs back.
    cancels: bool,
    dropped: Vec<(Duration, Span)>,
}

impl<T: Copy> Pieces<T> {
    /// `min_piece`: the shortest piece kept as a cut; zero: whole turns.
    pub fn new(min_piece: Duration) -> Self {
        Pieces {
            min_piece,
            current: None,
            awaiting: VecDeque::new(),
            stale_in_flight: None,
            cancels: false,
            dropped: Vec::new(),
        }
    }

    /// The owner cancels the job of a piece dropped while it ran (the caller
    /// went on after the pause), so a new one need not wait for it: take
    /// them with [`Pieces::take_dropped`].
    pub fn cancelling(mut self) -> Self {
        self.cancels = true;
        self
    }

    /// Pieces dropped with their job still running (turn start, piece),
    /// when [`Pieces::cancelling`]: cancel those jobs.
    pub fn take_dropped(&mut self) -> Vec<(Duration, Span)> {
        std::mem::take(&mut self.dropped)
    }

    fn turn(&mut self, start: Duration) -> &mut Turn<T> {
        if self.current.as_ref().is_none_or(|t| t.start != start) {
            self.current = Some(Turn::new(start));
        }
        self.current.get_or_insert_with(|| Turn::new(start))
    }

    /// The caller's voice went on after the latest pause, which now ends at
    /// `end`: keep the speculative piece as a cut if it is long enough,
    /// otherwise drop it (its audio goes into the next piece).
    fn settle(&mut self, start: Duration, end: Duration) {
        let min = self.min_piece;
        let turn = self.turn(start);
        let Some(last) = turn.pieces.last() else { return };
        if last.span.1 >= end {
            return;
        }
        let keep = !min.is_zero() && last.span.1 - last.span.0 >= min && !matches!(last.result, Some((Err(_), _)));
        if keep {
            return;
        }
        let dropped = turn.pieces.pop().map(|p| (p.span, p.result.is_none()));
        if let Some((span, true)) = dropped {
            if self.cancels {
                self.dropped.push((start, span));
            } else {
                self.stale_in_flight = Some((start, span));
            }
        }
    }

    /// The caller paused: the turn so far is `turn`. Returns the piece to
    /// transcribe now, if any.
    pub fn on_pause(&mut self, turn: Span) -> Option<Span> {
        self.settle(turn.0, turn.1);
        let stale = self.stale_in_flight.is_some();
        let t = self.turn(turn.0);
        if t.cut() >= turn.1 || stale {
            return None;
        }
        let piece = (t.cut(), turn.1);
        t.pieces.push(Piece { span: piece, result: None });
        Some(piece)
    }

    /// The turn `turn` ended at `at`.
    pub fn on_end(&mut self, turn: Span, at: T) -> AtEnd {
        self.settle(turn.0, turn.1);
        let mut t = match self.current.take() {
            Some(t) if t.start == turn.0 => t,
            _ => Turn::new(turn.0),
        };
        t.ended = Some((turn.1, at));
        // A failed cut: transcribe the turn again as one piece.
        if t.pieces.iter().any(|p| matches!(p.result, Some((Err(_), _)))) {
            t.pieces.clear();
        }
        let mut todo = None;
        if t.cut() < turn.1 {
            let piece = (t.cut(), turn.1);
            t.pieces.push(Piece { span: piece, result: None });
            todo = Some(piece);
        }
        if t.complete() {
            return AtEnd::Ready(t.text());
        }
        self.awaiting.push_back(t);
        todo.map_or(AtEnd::Wait, AtEnd::Transcribe)
    }

    /// The ended turn that started at `start` is no longer wanted on its
    /// own (the caller went on, and it is heard again as part of the turn
    /// in progress): its transcripts still to come complete nothing. Their
    /// jobs are listed for cancelling ([`Pieces::take_dropped`]) when the
    /// owner cancels.
    pub fn forget(&mut self, start: Duration) {
        let (gone, kept): (VecDeque<_>, VecDeque<_>) =
            std::mem::take(&mut self.awaiting).into_iter().partition(|t| t.start == start);
        self.awaiting = kept;
        if self.cancels {
            for t in gone {
                self.dropped.extend(t.pieces.iter().filter(|p| p.result.is_none()).map(|p| (start, p.span)));
            }
        }
    }

    /// A piece's transcript came back: the turn it completes (with when it
    /// ended), if any.
    pub fn on_result(&mut self, r: PieceResult) -> Option<(TurnText, T)> {
        if self.stale_in_flight == Some((r.turn_start, r.piece)) {
            self.stale_in_flight = None;
        }
        let fill = |t: &mut Turn<T>| {
            if t.start != r.turn_start {
                return false;
            }
            match t.pieces.iter_mut().find(|p| p.span == r.piece && p.result.is_none()) {
                Some(p) => {
                    p.result = Some((r.text.clone(), r.stt_ms));
                    true
                }
                None => false,
            }
        };
        if let Some(t) = self.current.as_mut() {
            if fill(t) {
                return None;
            }
        }
        let i = self.awaiting.iter_mut().position(fill)?;
        if !self.awaiting[i].complete() {
            return None;
        }
        let t = self.awaiting.remove(i)?;
        let at = t.ended.as_ref().map(|(_, at)| *at)?;
        Some((t.text(), at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(a: u64) -> Duration {
        Duration::from_millis(a)
    }

    fn span(a: u64, b: u64) -> Span {
        (ms(a), ms(b))
    }

    fn result(turn_start: u64, piece: Span, text: &str) -> PieceResult {
        PieceResult { turn_start: ms(turn_start), piece, text: Ok(text.into()), stt_ms: 300 }
    }

    fn whole() -> Pieces<u32> {
        Pieces::new(Duration::ZERO)
    }

    fn cut_at(min_ms: u64) -> Pieces<u32> {
        Pieces::new(ms(min_ms))
    }

    #[test]
    fn a_pieces_ending_says_how_finished_the_turn_sounds_and_a_loop_and_an_opener_say_unfinished() {
        use crate::audio::Completeness::*;
        let hint = |t: &str| result(100, span(100, 900), t).ending();
        assert_eq!(hint("열이 나요."), (span(100, 900), Complete));
        assert_eq!(hint("열이 나고").1, Incomplete);
        assert_eq!(hint("선생님").1, Unknown);
        assert_eq!(hint("선생님 선생님 선생님").1, Incomplete);
        assert_eq!(hint("저렇게요 계속해서 저렇게요 계속해서 저렇게요").1, Incomplete);
        // A greeting or word of a question: the caller goes on; "네" answers.
        assert_eq!(hint("네, 안녕하세요.").1, Incomplete);
        assert_eq!(hint("뭐 좀 여쭤보려고 전화했는데요.").1, Incomplete);
        assert_eq!(hint("네.").1, crate::audio::korean_end::classify("네."));
        let failed = PieceResult { text: Err("timeout".into()), ..result(100, span(100, 900), "") };
        assert_eq!(failed.ending().1, Unknown);
    }

    #[test]
    fn a_finished_speculative_transcript_is_used_at_the_end_without_waiting() {
        let mut p = whole();
        assert_eq!(p.on_pause(span(100, 900)), Some(span(100, 900)));
        assert!(p.on_result(result(100, span(100, 900), "코로나 검사")).is_none(), "kept until the turn ends");
        let AtEnd::Ready(t) = p.on_end(span(100, 900), 1) else { panic!() };
        assert_eq!(t.text.as_deref(), Ok("코로나 검사"));
        assert_eq!((t.span, t.pieces.len(), t.last_stt_ms), (span(100, 900), 1, 300));
    }

    #[test]
    fn an_end_during_the_speculative_transcription_waits_for_it() {
        let mut p = whole();
        assert!(p.on_pause(span(100, 900)).is_some());
        assert_eq!(p.on_end(span(100, 900), 7), AtEnd::Wait);
        let (t, at) = p.on_result(result(100, span(100, 900), "독감")).expect("the turn's transcript");
        assert_eq!((t.text.as_deref(), at), (Ok("독감"), 7));
    }

    #[test]
    fn a_cancelling_owner_gets_the_stale_job_to_cancel_and_the_next_pause_transcribes_at_once() {
        let mut p = whole().cancelling();
        assert!(p.on_pause(span(100, 900)).is_some());
        assert!(p.take_dropped().is_empty());
        // The caller went on: the first job is to be cancelled, not waited for.
        assert_eq!(p.on_pause(span(100, 2000)), Some(span(100, 2000)));
        assert_eq!(p.take_dropped(), vec![(ms(100), span(100, 900))]);
        // The end drops the second (still running) and transcribes the whole turn.
        assert_eq!(p.on_end(span(100, 2500), 1), AtEnd::Transcribe(span(100, 2500)));
        assert_eq!(p.take_dropped(), vec![(ms(100), span(100, 2000))]);
        let (t, _) = p.on_result(result(100, span(100, 2500), "코로나 검사 어디서")).expect("the turn's transcript");
        assert_eq!(t.text.as_deref(), Ok("코로나 검사 어디서"));
        // A finished speculative piece is not a job to cancel.
        let mut p = whole().cancelling();
        assert!(p.on_pause(span(3000, 3900)).is_some());
        assert!(p.on_result(result(3000, span(3000, 3900), "독감")).is_none());
        assert_eq!(p.on_pause(span(3000, 4500)), Some(span(3000, 4500)));
        assert!(p.take_dropped().is_empty());
    }

    #[test]
    fn without_cuts_speech_after_the_pause_makes_the_speculation_stale() {
        let mut p = whole();
        assert!(p.on_pause(span(100, 900)).is_some());
        // The caller went on; the first job still runs, so the next pause waits.
        assert_eq!(p.on_pause(span(100, 2000)), None, "one speculative job at a time");
        assert!(p.on_result(result(100, span(100, 900), "코로나")).is_none(), "stale");
        // Once it is back, a later pause may start one: the whole turn again.
        assert_eq!(p.on_pause(span(100, 2400)), Some(span(100, 2400)));
        assert_eq!(p.on_end(span(100, 2500), 1), AtEnd::Transcribe(span(100, 2500)));
        assert!(p.on_result(result(100, span(100, 2400), "코로나 검사")).is_none(), "stale");
        let (t, _) = p.on_result(result(100, span(100, 2500), "코로나 검사 어디서")).expect("the turn's transcript");
        assert_eq!(t.text.as_deref(), Ok("코로나 검사 어디서"));
    }

    #[test]
    fn long_pieces_are_kept_and_only_the_tail_is_left_at_the_end() {
        let mut p = cut_at(1500);
        assert_eq!(p.on_pause(span(0, 2000)), Some(span(0, 2000)));
        // The caller goes on: the 2 s piece is a cut, the next starts there.
        assert_eq!(p.on_pause(span(0, 2600)), Some(span(2000, 2600)));
        // Too short to keep (0.6 s): dropped, its audio joins the next piece.
        assert!(p.on_result(result(0, span(0, 2000), "서울에서 오늘")).is_none());
        assert!(p.on_result(result(0, span(2000, 2600), "독")).is_none());
        assert_eq!(p.on_pause(span(0, 4000)), Some(span(2000, 4000)));
        assert!(p.on_result(result(0, span(2000, 4000), "독감 예방접종을")).is_none());
        // The end: only the audio after the last kept cut.
        assert_eq!(p.on_end(span(0, 5000), 3), AtEnd::Transcribe(span(4000, 5000)));
        let (t, at) = p.on_result(result(0, span(4000, 5000), "어디서 맞나요?")).expect("the turn");
        assert_eq!(t.text.as_deref(), Ok("서울에서 오늘 독감 예방접종을 어디서 맞나요?"));
        assert_eq!(t.pieces, vec![span(0, 2000), span(2000, 4000), span(4000, 5000)]);
        assert_eq!((t.span, t.stt_ms, t.last_stt_ms, at), (span(0, 5000), 900, 300, 3));
    }

    #[test]
    fn a_turn_ending_at_a_transcribed_pause_is_ready_at_once() {
        let mut p = cut_at(1000);
        assert!(p.on_pause(span(0, 3000)).is_some());
        assert!(p.on_result(result(0, span(0, 3000), "열이 나는데")).is_none());
        assert_eq!(p.on_pause(span(0, 6000)), Some(span(3000, 6000)));
        assert!(p.on_result(result(0, span(3000, 6000), "병원에 가야 하나요?")).is_none());
        let AtEnd::Ready(t) = p.on_end(span(0, 6000), 0) else { panic!() };
        assert_eq!(t.text.as_deref(), Ok("열이 나는데 병원에 가야 하나요?"));
        assert_eq!(t.pieces.len(), 2);
    }

    #[test]
    fn the_end_waits_for_a_cut_still_being_transcribed() {
        let mut p = cut_at(1000);
        assert!(p.on_pause(span(0, 3000)).is_some());
        assert_eq!(p.on_end(span(0, 4000), 5), AtEnd::Transcribe(span(3000, 4000)));
        assert!(p.on_result(result(0, span(3000, 4000), "맞나요?")).is_none(), "the first piece is not back");
        let (t, at) = p.on_result(result(0, span(0, 3000), "독감 주사 어디서")).expect("complete");
        assert_eq!((t.text.as_deref(), at), (Ok("독감 주사 어디서 맞나요?"), 5));
    }

    #[test]
    fn a_failed_cut_makes_the_end_transcribe_the_whole_turn() {
        let mut p = cut_at(1000);
        assert!(p.on_pause(span(0, 3000)).is_some());
        let mut failed = result(0, span(0, 3000), "");
        failed.text = Err("queue full".into());
        assert!(p.on_result(failed).is_none());
        assert_eq!(p.on_end(span(0, 4000), 0), AtEnd::Transcribe(span(0, 4000)));
        assert!(p.on_result(result(0, span(0, 4000), "독감 주사")).is_some());
    }

    #[test]
    fn a_failed_last_piece_fails_the_turn() {
        let mut p = whole();
        assert!(p.on_pause(span(0, 900)).is_some());
        assert_eq!(p.on_end(span(0, 900), 0), AtEnd::Wait);
        let mut failed = result(0, span(0, 900), "");
        failed.text = Err("worker died".into());
        let (t, _) = p.on_result(failed).expect("the turn, failed");
        assert_eq!(t.text, Err("worker died".into()));
    }

    #[test]
    fn turns_without_pauses_are_transcribed_in_order() {
        let mut p = whole();
        assert_eq!(p.on_end(span(0, 500), 1), AtEnd::Transcribe(span(0, 500)));
        assert_eq!(p.on_end(span(900, 1500), 2), AtEnd::Transcribe(span(900, 1500)));
        assert_eq!(
            p.on_result(result(900, span(900, 1500), "둘")).map(|(t, at)| (t.text, at)),
            Some((Ok("둘".into()), 2))
        );
        assert!(p.on_result(result(0, span(0, 500), "하나")).is_some());
        assert!(p.on_result(result(0, span(0, 500), "again")).is_none());
    }

    #[test]
    fn a_turn_heard_again_whole_completes_nothing_and_its_job_is_cancelled() {
        let mut p = whole().cancelling();
        assert!(p.on_pause(span(0, 900)).is_some());
        assert_eq!(p.on_end(span(0, 900), 1), AtEnd::Wait);
        // The caller went on: the turn is heard again from 0, pause included.
        p.forget(ms(0));
        assert_eq!(p.take_dropped(), vec![(ms(0), span(0, 900))]);
        assert!(p.on_result(result(0, span(0, 900), "독감 주사는요")).is_none(), "forgotten");
        assert_eq!(p.on_pause(span(0, 2600)), Some(span(0, 2600)), "the whole turn, from its start");
        assert_eq!(p.on_end(span(0, 2600), 2), AtEnd::Wait);
        let (t, at) = p.on_result(result(0, span(0, 2600), "독감 주사는요 어디서 맞아요")).expect("the whole turn");
        assert_eq!((t.text, t.span, at), (Ok("독감 주사는요 어디서 맞아요".into()), span(0, 2600), 2));
    }
}
