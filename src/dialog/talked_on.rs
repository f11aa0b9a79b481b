//! A caller who talks on right after sori decided their turn was over —
//! before its reply was heard, or in the reply's first moment — had not
//! finished: "독감 주사는요 ‖ 어디서 맞아요?" is one question with a pause
//! in it. The reply is withdrawn, the conversation goes back to where it was
//! before that reply, and what the caller said opens their next turn, so
//! the whole question is answered once instead of each half on its own.
//! Only soon after the turn ended ([`RESUME`]): a caller who speaks again
//! later, still waiting for a slow reply, is asking something new. When the
//! listener still holds the ended turn's audio, the call hears the turn
//! again whole, pause included ([`TalkedOn::heard_whole`]), instead of
//! putting the halves' texts together.
//!
//! Sans-IO: the call tells it what happened and when ([`Instant`]s are
//! values passed in); it says what to restore.

use std::time::{Duration, Instant};

use super::brain::Conversation;

/// How long into a reply a caller's talking over it still counts as the
/// same turn going on (a barge-in later than this is a new turn).
pub const GRACE: Duration = Duration::from_millis(1000);
/// How soon after their turn was judged over a caller who talks again is
/// still in that turn. Later, with the reply not yet come (a slow
/// recogniser), they are asking something new.
pub const RESUME: Duration = Duration::from_millis(1500);

/// The reply decided for the caller's latest turn, until it has been heard
/// past [`GRACE`].
#[derive(Debug)]
struct Pending {
    reply_id: u64,
    before: Conversation,
    /// What the reply answered: the texts of the turns it joined, by start.
    parts: Vec<(TurnStart, String)>,
    ended: Instant,
    started: Option<Instant>,
}

/// A turn, by when it started in the call's audio.
pub type TurnStart = Duration;

#[derive(Debug, Default)]
pub struct TalkedOn {
    pending: Option<Pending>,
    /// Texts of turns that went on, by their start, oldest first.
    carried: Vec<(TurnStart, String)>,
    /// The parts of the turn opened last ([`TalkedOn::open`]), for its reply.
    opened: Vec<(TurnStart, String)>,
    /// A turn judged over whose transcript has not come yet, and when.
    awaiting: Option<(TurnStart, Instant)>,
    /// The caller talked on before that transcript came: when it comes, it
    /// opens their next turn instead of being answered.
    joined: Option<TurnStart>,
    /// The next turn was opened before the joined transcript came (several
    /// workers, out of order): it is then dropped, not carried.
    joined_late: bool,
}

/// A withdrawn reply: the conversation to go back to.
#[derive(Debug)]
pub struct Withdrawn {
    pub reply_id: u64,
    /// The turn it was the reply to, which goes on.
    pub turn: TurnStart,
    pub conversation: Conversation,
}

impl TalkedOn {
    /// The text of the turn that started at `turn`, just heard, with the
    /// words of a withdrawn turn in front of it.
    pub fn open(&mut self, turn: TurnStart, text: &str) -> String {
        self.joined_late = self.joined.is_some();
        self.opened = std::mem::take(&mut self.carried);
        self.opened.push((turn, text.to_string()));
        self.opened.iter().map(|(_, t)| t.as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")
    }

    /// The turn going on, which started at `turn`, is heard again whole from
    /// its start (the listener kept its audio): the text of that turn and
    /// of any after it is not carried, and a transcript of it still on its
    /// way is not awaited (the call no longer wants it).
    pub fn heard_whole(&mut self, turn: TurnStart) {
        self.carried.retain(|(s, _)| *s < turn);
        if self.joined.is_some_and(|j| j >= turn) {
            self.joined = None;
        }
    }

    /// The turn that started at `start` was judged over at `at`; its
    /// transcript may still be on its way.
    pub fn ended(&mut self, start: TurnStart, at: Instant) {
        self.awaiting = Some((start, at));
    }

    /// The caller started talking at `now` while no reply was playing, and
    /// the transcript of the turn they ended within [`RESUME`] has not come
    /// yet: that turn goes on. Its start when it was joined.
    pub fn before_transcript(&mut self, now: Instant) -> Option<TurnStart> {
        match self.awaiting.take() {
            Some((start, at)) if now.saturating_duration_since(at) <= RESUME => {
                self.joined = Some(start);
                self.joined_late = false;
                Some(start)
            }
            _ => None,
        }
    }

    /// The transcript of the turn that started at `start` came: true when
    /// the caller had talked on before it came — it is kept for their next
    /// turn ([`TalkedOn::open`]), not answered.
    pub fn heard(&mut self, start: TurnStart, text: &str) -> bool {
        if self.awaiting.is_some_and(|(s, _)| s == start) {
            self.awaiting = None;
        }
        if self.joined != Some(start) {
            return false;
        }
        self.joined = None;
        if !std::mem::take(&mut self.joined_late) {
            self.carried.push((start, text.to_string()));
        }
        true
    }

    /// Reply `reply_id` was decided for the turn opened last
    /// ([`TalkedOn::open`]), judged over at `ended`; `before` is the
    /// conversation as it was before.
    pub fn decided(&mut self, reply_id: u64, before: Conversation, ended: Instant) {
        let parts = std::mem::take(&mut self.opened);
        self.pending = Some(Pending { reply_id, before, parts, ended, started: None });
    }

    /// Reply `reply_id` began to play at `now`.
    pub fn started(&mut self, reply_id: u64, now: Instant) {
        if let Some(p) = self.pending.as_mut().filter(|p| p.reply_id == reply_id) {
            p.started.get_or_insert(now);
        }
    }

    /// The caller started talking at `now` while no reply was playing: a
    /// reply decided but not yet heard is withdrawn when their turn ended
    /// within [`RESUME`].
    pub fn before_reply(&mut self, now: Instant) -> Option<Withdrawn> {
        let soon = |p: &Pending| p.started.is_none() && now.saturating_duration_since(p.ended) <= RESUME;
        if self.pending.as_ref().is_some_and(soon) {
            return self.withdraw();
        }
        self.pending = None;
        None
    }

    /// The caller talked over the reply playing (barge-in) at `now`: within
    /// [`GRACE`] of its start it is withdrawn.
    pub fn barged_in(&mut self, now: Instant) -> Option<Withdrawn> {
        let early =
            self.pending.as_ref().and_then(|p| p.started).is_some_and(|s| now.saturating_duration_since(s) <= GRACE);
        if early {
            return self.withdraw();
        }
        self.pending = None;
        None
    }

    fn withdraw(&mut self) -> Option<Withdrawn> {
        let p = self.pending.take()?;
        // The reply's own turn is the last it joined.
        let turn = p.parts.last().map_or(TurnStart::ZERO, |(s, _)| *s);
        self.carried = p.parts;
        Some(Withdrawn { reply_id: p.reply_id, turn, conversation: p.before })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(topic: &str) -> Conversation {
        Conversation { last_kb: Some(topic.to_string()), ..Default::default() }
    }

    #[test]
    fn talking_on_before_the_reply_joins_the_two_halves() {
        let now = Instant::now();
        let mut t = TalkedOn::default();
        let first = t.open(Duration::ZERO, "독감 주사는요");
        assert_eq!(first, "독감 주사는요");
        t.decided(1, conv("measles"), now);
        let w = t.before_reply(now + Duration::from_millis(700)).expect("withdrawn");
        assert_eq!((w.reply_id, w.conversation.last_kb.as_deref()), (1, Some("measles")));
        assert_eq!(t.open(Duration::ZERO, "어디서 맞아요"), "독감 주사는요 어디서 맞아요");
        // Carried once only.
        assert_eq!(t.open(Duration::ZERO, "감사합니다"), "감사합니다");
    }

    #[test]
    fn a_reply_heard_is_not_withdrawn_by_the_next_question() {
        let mut t = TalkedOn::default();
        let now = Instant::now();
        let _ = t.open(Duration::ZERO, "홍역 증상이 뭐예요");
        t.decided(1, conv("measles"), now);
        t.started(1, now);
        // The reply played and ended; the caller asks something else.
        assert!(t.before_reply(now + Duration::from_millis(900)).is_none());
        assert_eq!(t.open(Duration::ZERO, "그럼 예방접종은요"), "그럼 예방접종은요");
        // A slow recogniser: no reply yet 3 s after the turn ended, and the
        // caller asks something new — a new turn, not the old one going on.
        let _ = t.open(Duration::ZERO, "홍역 증상이 뭐예요");
        t.decided(2, conv("measles"), now);
        assert!(t.before_reply(now + Duration::from_secs(3)).is_none());
        assert_eq!(t.open(Duration::ZERO, "결핵 검사는요"), "결핵 검사는요");
    }

    #[test]
    fn a_barge_in_within_the_grace_withdraws_a_later_one_does_not() {
        let now = Instant::now();
        let mut t = TalkedOn::default();
        let _ = t.open(Duration::ZERO, "독감 주사는요");
        t.decided(1, conv("flu"), now);
        t.started(1, now);
        assert!(t.barged_in(now + Duration::from_millis(600)).is_some());
        assert_eq!(t.open(Duration::ZERO, "어디서 맞아요"), "독감 주사는요 어디서 맞아요");

        let mut t = TalkedOn::default();
        let _ = t.open(Duration::ZERO, "홍역 증상이 뭐예요");
        t.decided(2, conv("flu"), now);
        t.started(2, now);
        assert!(t.barged_in(now + Duration::from_millis(2500)).is_none());
        assert_eq!(t.open(Duration::ZERO, "아 됐어요"), "아 됐어요");
        // Only the reply for the latest turn counts.
        let _ = t.open(Duration::ZERO, "a");
        t.decided(3, conv("flu"), now);
        t.started(2, now);
        assert!(t.before_reply(now).is_some(), "reply 3 never started");
    }

    #[test]
    fn talking_on_before_the_transcript_came_joins_the_halves() {
        let now = Instant::now();
        let first = Duration::from_secs(10);
        let mut t = TalkedOn::default();
        t.ended(first, now);
        // A slow recogniser: the caller goes on before the first half's text.
        assert_eq!(t.before_transcript(now + Duration::from_millis(600)), Some(first));
        assert!(t.heard(first, "서울에서 태어나 열 살 때 미국으로 갔기 때문에"), "kept, not answered");
        assert_eq!(
            t.open(Duration::ZERO, "한국어가 비교적 유창하였다"),
            "서울에서 태어나 열 살 때 미국으로 갔기 때문에 한국어가 비교적 유창하였다"
        );
        // Later than RESUME, or with the transcript already in: a new turn.
        t.ended(first, now);
        assert!(t.before_transcript(now + Duration::from_secs(3)).is_none());
        assert!(!t.heard(first, "독감 주사요"));
        t.ended(first, now);
        assert!(!t.heard(first, "독감 주사요"));
        assert!(t.before_transcript(now).is_none(), "its transcript came: nothing awaited");
        // Out of order (several workers): the next turn opened first, the
        // late half is dropped rather than put in front of a later turn.
        t.ended(first, now);
        assert!(t.before_transcript(now).is_some());
        assert_eq!(t.open(Duration::ZERO, "어디서 맞아요"), "어디서 맞아요");
        assert!(t.heard(first, "독감 주사는요"));
        assert_eq!(t.open(Duration::ZERO, "감사합니다"), "감사합니다");
    }

    #[test]
    fn an_empty_half_carries_nothing() {
        let now = Instant::now();
        let mut t = TalkedOn::default();
        let _ = t.open(Duration::ZERO, "");
        t.decided(1, Conversation::default(), now);
        assert!(t.before_reply(now).is_some());
        assert_eq!(t.open(Duration::ZERO, "어디서 맞아요"), "어디서 맞아요");
        let _ = t.open(Duration::ZERO, "독감 주사는요");
        t.decided(2, Conversation::default(), now);
        assert!(t.before_reply(now).is_some());
        assert_eq!(t.open(Duration::ZERO, ""), "독감 주사는요");
    }

    #[test]
    fn a_turn_heard_again_whole_carries_none_of_its_text() {
        let now = Instant::now();
        let (a, b) = (Duration::from_secs(1), Duration::from_secs(5));
        let mut t = TalkedOn::default();
        // A withdrawn reply whose turn the listener hears again whole.
        let _ = t.open(a, "독감 주사는요");
        t.decided(1, conv("flu"), now);
        let w = t.before_reply(now).expect("withdrawn");
        assert_eq!(w.turn, a);
        t.heard_whole(w.turn);
        assert_eq!(t.open(a, "독감 주사는요 어디서 맞아요"), "독감 주사는요 어디서 맞아요");

        // A turn whose audio was no longer kept is carried as text; a later
        // one heard again whole drops only its own text and is not awaited.
        let _ = t.open(a, "독감 주사는요");
        t.decided(2, conv("flu"), now);
        assert!(t.before_reply(now).is_some());
        t.ended(b, now);
        assert_eq!(t.before_transcript(now), Some(b));
        t.heard_whole(b);
        assert!(!t.heard(b, "어디서"), "not awaited any more");
        assert_eq!(t.open(b, "어디서 맞아요"), "독감 주사는요 어디서 맞아요");
    }
}
