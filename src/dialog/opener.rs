//! A caller opening rather than asking: a greeting ("안녕하세요", "수고하십니다"),
//! word that a question is coming ("뭐 좀 여쭤보려고 전화했는데요", "문의 좀
//! 드리려고요", "저기… 그…"), or a bare acknowledgement after an answer ("네",
//! "아 그렇군요"). A hotline greets back or says "말씀하세요"; it does not
//! take these for a question it failed to understand (a miss, two of which
//! offer the agent) nor for an out-of-scope one ("문의" is near an
//! out-of-scope entry). Greetings and word of a question promise more: the
//! turn-taking waits for the rest ([`crate::stt::pieces::PieceResult::ending`]).
//! Pure string rules on compacted text; the dialogue asks only when no topic
//! was understood.

use crate::kb::index::compact;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opener {
    /// Only a greeting (with fillers): "네, 안녕하세요".
    Greeting,
    /// Word that a question is coming, or only fillers ("저기… 그…").
    WillAsk,
    /// Only a backchannel: "네", "아 그렇군요".
    Acknowledgement,
}

impl Opener {
    /// Whether a caller who says this and pauses is likely to go on.
    pub fn promises_more(self) -> bool {
        self != Opener::Acknowledgement
    }
}

/// Said to a greeting.
pub const GREETED: &str = "네, 안녕하세요. 궁금하신 내용을 말씀해 주세요.";
/// Said to word that a question is coming.
pub const GO_ON: &str = "네, 말씀하세요.";
/// Said to a bare acknowledgement.
pub const ANYTHING_ELSE: &str = "네. 더 궁금하신 점이 있으시면 말씀해 주세요.";

/// Greetings, compacted.
const GREETINGS: &[&str] = &[
    "안녕하세요",
    "안녕하세용",
    "안녕하세여",
    "안녕하십니까",
    "안녕하셨어요",
    "수고하십니다",
    "수고많으십니다",
    "수고가많으십니다",
    "수고많으세요",
    "수고가많으세요",
    "수고하시네요",
    "고생많으십니다",
    "고생이많으십니다",
    "고생많으세요",
    "고생하십니다",
    "반갑습니다",
    "좋은아침입니다",
    "좋은아침이에요",
];

/// Backchannels: the caller heard and has nothing to add.
const ACKS: &[&str] = &[
    "네",
    "예",
    "응",
    "음",
    "흠",
    "으음",
    "아",
    "어",
    "오",
    "아하",
    "진짜",
    "진짜요",
    "정말",
    "정말요",
    "그래요",
    "그렇죠",
    "그렇습니까",
    "그런가요",
];

/// A backchannel of realising ("그렇군요", "그렇게 되는 거군요", "그러시구나"):
/// one of these starts …
const REALISING_STEMS: &[&str] = &["그렇", "그런", "그러", "그랬"];
/// … and one of these ends it, within this many syllables.
const REALISING_ENDS: &[&str] = &["구나", "군요", "구만", "네요"];
const REALISING_MAX: usize = 10;

/// Words that only hold the floor or lead in.
const FILLERS: &[&str] = &[
    "저",
    "저기",
    "그",
    "그게",
    "그게요",
    "그러니까",
    "뭐",
    "뭐냐",
    "뭐냐면",
    "뭐부터",
    "어떻게",
    "좀",
    "제가",
    "저희가",
    "혹시",
    "다름이아니라",
    "다른게아니라",
    "있잖아요",
    "거기",
    "하나",
    "하나만",
    "하나만요",
    "한가지",
    "몇가지",
    "잠깐",
    // when: "늦은 시간에 수고 많으십니다"
    "늦은시간에",
    "이른시간에",
    "늦게까지",
    "아침부터",
    "주말에도",
    "휴일에도",
    "오늘도",
];

/// Calling someone: stripped, but alone it is the line check's
/// ("여보세요?", "저기요?": answered at once) or a name.
const ADDRESS: &[&str] = &["여보세요", "저기요", "선생님", "상담사님", "상담원님"];

/// How word of a question starts once the fillers are gone: asking,
/// wondering, checking, consulting (여쭤보려고, 문의 좀 드리려고요, 질문이 있는데요,
/// 궁금한 게 있어서, 알아볼 게 있어서, 상담 좀 받으려고요).
const WILL_ASK: &[&str] = &[
    "여쭤",
    "여쭙",
    "여쭐",
    "물어보",
    "물어볼",
    "물어봐",
    "묻고",
    "묻기",
    "물을게",
    "물으려",
    "문의",
    "질문",
    "궁금한",
    "궁금해서",
    "궁금하",
    "알아보",
    "알아볼",
    "확인좀",
    "확인하고",
    "확인할",
    "상담좀",
    "상담받",
    "상담하고",
    "말씀드리",
    "말씀드려",
    "말씀드릴",
];

/// The most of the word of a question (its stem on) that still holds
/// nothing else: "여쭤볼게있어서전화드렸는데요" is 13.
const WILL_ASK_MAX: usize = 16;

/// Done, or asking for a person, not about to ask: "궁금한 거 다 풀렸어요
/// 감사합니다", "상담 받고 싶어요 연결해 주세요".
const NOT_ABOUT_TO_ASK: &[&str] = &["감사", "고맙", "풀렸", "됐어", "됐습", "연결", "바꿔"];

/// What the utterance opens with, when that is all it is.
pub fn opener(text: &str) -> Option<Opener> {
    let flat = compact(text);
    let mut rest = flat.as_str();
    let (mut greeted, mut held, mut acked, mut called) = (false, false, false, false);
    while !rest.is_empty() {
        if realising(rest) {
            (rest, acked) = ("", true);
            break;
        }
        // The longest word of any kind first: "네네" is two "네", "저기요"
        // no "저", "어떻게" no "어".
        let groups = [(GREETINGS, 0), (ACKS, 1), (FILLERS, 2), (ADDRESS, 3)];
        let found = groups
            .iter()
            .flat_map(|(words, kind)| words.iter().map(move |w| (*w, *kind)))
            .filter(|(w, _)| rest.starts_with(w))
            .max_by_key(|(w, _)| w.len());
        let Some((w, kind)) = found else { break };
        rest = &rest[w.len()..];
        greeted |= kind == 0;
        acked |= kind == 1;
        held |= kind == 2;
        called |= kind == 3;
    }
    if rest.is_empty() {
        return if greeted {
            Some(Opener::Greeting)
        } else if held {
            Some(Opener::WillAsk)
        } else if acked && !called {
            Some(Opener::Acknowledgement)
        } else {
            None // a call for attention ("네 여보세요"), or nothing
        };
    }
    let asks = WILL_ASK.iter().any(|w| rest.starts_with(w))
        && rest.chars().count() <= WILL_ASK_MAX
        && !NOT_ABOUT_TO_ASK.iter().any(|w| rest.contains(w));
    asks.then_some(Opener::WillAsk)
}

/// "그렇군요", "그렇게 되는 거군요", "그러시구나": realising what was said.
fn realising(rest: &str) -> bool {
    REALISING_STEMS.iter().any(|s| rest.starts_with(s))
        && REALISING_ENDS.iter().any(|e| rest.ends_with(e))
        && rest.chars().count() <= REALISING_MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cases: &[&str], want: Option<Opener>) {
        for c in cases {
            assert_eq!(opener(c), want, "{c:?}");
        }
    }

    #[test]
    fn greetings_with_fillers_are_greetings() {
        check(
            &[
                "안녕하세요.",
                "네, 안녕하세요.",
                "아 네 안녕하세요",
                "안녕하십니까?",
                "수고하십니다.",
                "안녕하세요 수고 많으십니다",
                "선생님 안녕하세요",
                "늦은 시간에 고생 많으십니다",
            ],
            Some(Opener::Greeting),
        );
    }

    #[test]
    fn word_that_a_question_is_coming_says_so() {
        check(
            &[
                "뭐 좀 여쭤보려고 전화했는데요.",
                "문의 좀 드리려고요.",
                "궁금한 게 있어서 전화드렸어요.",
                "안녕하세요, 제가 좀 여쭤볼 게 있어서요.",
                "질문이 하나 있는데요",
                "저기... 그...",
                "혹시",
                "음 그러니까 그게",
                "어 저기요 물어볼 게 있어서요",
                "상담 좀 받으려고 전화했는데요",
            ],
            Some(Opener::WillAsk),
        );
    }

    #[test]
    fn a_bare_backchannel_is_an_acknowledgement() {
        check(
            &["네.", "아 네.", "네네", "아, 그렇군요.", "음", "아 그렇게 되는 거군요", "아 그러시구나", "정말요?"],
            Some(Opener::Acknowledgement),
        );
        assert!(!Opener::Acknowledgement.promises_more());
        assert!(Opener::Greeting.promises_more() && Opener::WillAsk.promises_more());
    }

    #[test]
    fn anything_with_content_is_no_opener() {
        check(
            &[
                "안녕하세요. 독감 예방접종은 어디서 맞나요?",
                "건강보험료 문의 좀 드리려고요",
                "아이가 열이 나서 여쭤보려고요",
                "문의드린 검사 결과가 아직도 안 나왔는데 어떻게 된 건지 알고 싶어요",
                "아이가 아파요",
                "어디서 맞아요?",
                "네 알겠습니다 감사합니다",
                "아 그래요 궁금한 거 다 풀렸어요 감사합니다",
                "그런 거 말고요",
                // A call for attention alone is the line check's.
                "여보세요?",
                "저기요",
                "네 여보세요",
                "상담 받고 싶어요 연결해 주세요",
                "",
            ],
            None,
        );
    }
}
