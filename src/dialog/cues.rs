//! Short replies read for what they do in the conversation, not for a
//! topic: yes / no to a clarifying question, and the elliptical follow-ups
//! that continue the last topic ("그럼 아이들은요?", "언제까지요?", "어디서
//! 맞아요?"). Pure string rules on normalized text.

use crate::kb::index::{compact, normalize};

/// Whole words meaning yes (also as mis-heard: 네 → 내/녜).
const YES: &[&str] = &[
    "네",
    "예",
    "내",
    "녜",
    "넵",
    "넹",
    "응",
    "어",
    "네네",
    "예예",
    "맞아요",
    "맞아",
    "맞습니다",
    "맞네요",
    "맞죠",
    "그래요",
    "그렇습니다",
    "그렇죠",
    "그렇네요",
    "그거요",
    "그거예요",
    "그거에요",
    "그거",
    "바로",
    "정확해요",
];
/// Words that may come with a yes or a no and add nothing.
const FILLER: &[&str] = &["음", "아", "그", "저", "좀", "제가", "그게", "말이에요", "맞고요", "요"];
/// Whole words meaning no.
const NO: &[&str] = &[
    "아니요",
    "아뇨",
    "아니오",
    "아니에요",
    "아니예요",
    "아니",
    "아니야",
    "아닌데요",
    "아니거든요",
    "아닙니다",
    "아닌데",
    "틀렸어요",
    "틀려요",
    "그거아니에요",
    "그게아니라",
    "그게아니고",
    "아니라",
];

#[derive(Debug, Clone, PartialEq)]
pub enum YesNo {
    Yes,
    No,
    /// "아니요, 백일해요": no, and something else to route.
    NoBut(String),
}

/// Yes or no to a question, if that is all (or first) the caller said.
pub fn yes_no(text: &str) -> Option<YesNo> {
    let norm = normalize(text);
    let words: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty()).collect();
    let first = *words.first()?;
    let is_no = |w: &str| NO.contains(&w) || NO.iter().any(|n| n.chars().count() >= 3 && w.starts_with(n));
    if is_no(first) || compact(&norm).starts_with("그게아니") {
        let rest: Vec<&str> =
            words.iter().copied().skip_while(|w| is_no(w) || FILLER.contains(w) || *w == "그게").collect();
        return Some(if rest.is_empty() { YesNo::No } else { YesNo::NoBut(rest.join(" ")) });
    }
    let yes = words.iter().all(|w| YES.contains(w) || FILLER.contains(w)) && words.iter().any(|w| YES.contains(w));
    yes.then_some(YesNo::Yes)
}

/// Endings of an elliptical question about the same thing ("아이들은요?").
const ELLIPSIS: &[&str] =
    &["은요", "는요", "도요", "까지요", "부터요", "에서요", "한테요", "에게요", "이랑요", "하고요", "으면요", "이면요"];
/// Words that open a continuation.
const OPENERS: &[&str] =
    &["그럼", "그러면", "그리고", "그런데", "근데", "그건", "그거는", "그것도", "그때는", "그래서"];
/// Question words of a follow-up.
const QUESTION: &[&str] = &[
    "언제",
    "언제까지",
    "언제부터",
    "어디서",
    "어디에서",
    "어디로",
    "어디",
    "얼마",
    "얼마나",
    "몇",
    "몇번",
    "몇살",
    "며칠",
    "무료",
    "비용",
    "누가",
    "누구",
    "어떻게",
    "왜",
    "뭐",
    "무슨",
];
/// Short predicates of a follow-up question.
const PREDICATES: &[&str] = &[
    "맞아요",
    "맞나요",
    "맞히나요",
    "맞혀요",
    "해요",
    "하나요",
    "돼요",
    "되나요",
    "되죠",
    "받아요",
    "받나요",
    "있어요",
    "있나요",
    "예요",
    "이에요",
    "인가요",
    "이죠",
    "하죠",
    "가나요",
    "줘요",
    "주나요",
    "걸려요",
    "가요",
];
/// Most syllables in a follow-up.
const MAX_FOLLOW_UP: usize = 12;

/// Whether `text` plausibly continues the last topic: short, elliptical, with
/// a continuation cue — an ending like "-은요/-까지요", an opener like
/// "그럼" with a question, or a question word with a bare predicate
/// ("어디서 맞아요?"). Anything else unmatched is not read as a follow-up.
pub fn continues(text: &str) -> bool {
    let norm = normalize(text);
    let words: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty() && !FILLER.contains(w)).collect();
    let flat = words.concat();
    let n = flat.chars().count();
    let Some(last) = words.last() else { return false };
    if n > MAX_FOLLOW_UP {
        return false;
    }
    if ELLIPSIS.iter().any(|e| flat.ends_with(e)) && n <= 8 {
        return true;
    }
    let question = text.trim_end().ends_with('?') || PREDICATES.iter().any(|p| last.ends_with(p));
    if OPENERS.contains(&words[0]) && words.len() >= 2 && question {
        return true;
    }
    // "어디서 맞아요", "애들도 돼요", "무료예요": a question word or a short
    // word with a topic marker, then a bare predicate, and nothing else.
    let Some(stem) = PREDICATES.iter().filter_map(|p| flat.strip_suffix(p)).min_by_key(|s| s.len()) else {
        return false;
    };
    let k = stem.chars().count();
    (1..=5).contains(&k)
        && (QUESTION.iter().any(|q| stem.starts_with(q)) || ["도", "은", "는"].iter().any(|m| stem.ends_with(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_and_no_are_read_alone_or_with_a_rest() {
        for y in ["네", "네 맞아요", "예", "응", "맞아요", "네 그거요", "내", "음 네"] {
            assert_eq!(yes_no(y), Some(YesNo::Yes), "{y}");
        }
        for n in ["아니요", "아뇨", "아니에요", "아니 그게 아니라"] {
            assert_eq!(yes_no(n), Some(YesNo::No), "{n}");
        }
        assert_eq!(yes_no("아니요 백일해요"), Some(YesNo::NoBut("백일해요".into())));
        assert_eq!(yes_no("그게 아니라 수두 물어본 거예요"), Some(YesNo::NoBut("수두 물어본 거예요".into())));
        for other in ["네 감사합니다", "독감 주사요", "", "어디서 맞아요"] {
            assert_eq!(yes_no(other), None, "{other}");
        }
    }

    #[test]
    fn follow_ups_need_a_continuation_cue() {
        for t in [
            "그럼 아이들은요?",
            "언제까지요?",
            "어디서 맞아요?",
            "그럼 아이도요?",
            "어른은요",
            "애들도 돼요?",
            "몇 번 맞아요",
            "무료예요?",
            "그러면 비용은 얼마나 들어요?",
        ] {
            assert!(continues(t), "{t}");
        }
        for t in [
            "오늘 날씨 어때요",
            "지갑을 잃어버렸어요",
            "버스 몇 번 타야 돼요",
            "지금 몇 시예요",
            "그럼 내일 다시 전화할게요",
            "택배가 아직 안 왔어요",
            "전기 요금이 너무 많이 나왔는데 어디에 물어봐야 돼요",
        ] {
            assert!(!continues(t), "{t}");
        }
    }
}
