//! A dead bird a caller found ("공원에 비둘기가 죽어 있는데…", "저수지에
//! 청둥오리가 죽어 있어요"): on a 1339 line that is an avian-influenza
//! question whatever the bird, and the knowledge base cannot list every bird
//! beside every way of saying it died. A bird named with a word of death
//! stands for [`DEAD_BIRD`], the avian-influenza topic's exposure word: it
//! is added to the words retrieval looks for, and counts as that topic's
//! health word (it makes no other topic's question a health question).

use super::index::compact;

/// The exposure word a dead bird stands for (compact: "죽은 새").
pub const DEAD_BIRD: &str = "죽은새";

/// Birds callers find dead, as whole words (a particle or 들 may follow).
#[rustfmt::skip]
const BIRDS: &[&str] = &[
    "새", "비둘기", "까치", "까마귀", "참새", "오리", "청둥오리", "기러기", "갈매기", "백로", "왜가리",
    "두루미", "고니", "백조", "철새", "닭", "병아리", "꿩", "독수리", "부엉이", "올빼미", "제비",
    "직박구리", "물새", "산새", "텃새", "들새", "거위", "메추리", "칠면조",
];

/// Words that say it died (as substrings of the text without spaces).
const DEATH: &[&str] = &["죽어", "죽은", "죽었", "떼죽음", "사체", "시체", "폐사"];

/// What may follow a bird's name inside its word.
#[rustfmt::skip]
const ENDINGS: &[&str] = &[
    "", "가", "이", "를", "을", "는", "은", "도", "요", "이요", "가요", "한테", "들", "들이", "들을", "들은",
    "들도", "들이요", "떼", "떼가",
];

/// Whether `text` tells of a dead bird.
pub fn found(text: &str) -> bool {
    let joined = compact(text);
    if !DEATH.iter().any(|d| joined.contains(d)) {
        return false;
    }
    text.split_whitespace().any(|w| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric());
        BIRDS.iter().any(|b| w.strip_prefix(b).is_some_and(|rest| ENDINGS.contains(&rest)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bird_found_dead_is_found() {
        for t in [
            "공원에 비둘기가 죽어 있는데 만져도 돼요",
            "저수지에 청둥오리가 죽어 있는데 애가 만졌어요",
            "베란다에 죽은 참새가 떨어져 있어요",
            "마당에 닭들이 떼죽음했어요",
            "까치 사체를 맨손으로 치웠어요",
            "새가 죽어 있어요",
        ] {
            assert!(found(t), "{t}");
        }
    }

    #[test]
    fn no_dead_bird_is_made_up() {
        for t in [
            "새벽에 배가 아파 죽는 줄 알았어요",
            "새로 산 옷이 죽어도 안 맞아요",
            "비둘기 모이 주면 안 돼요",
            "강아지가 죽었어요",
            "닭고기 먹어도 돼요",
            "오리털 패딩 세탁 어떻게 해요",
            "새해에 죽은 줄 알았던 친구를 만났어요",
        ] {
            assert!(!found(t), "{t}");
        }
    }
}
