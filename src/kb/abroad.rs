//! Foreign places a caller names ("케냐 가는데…", "캄보디아 갔다 왔는데…"):
//! on a 1339 line a country is what makes a question a travel question, and
//! the knowledge base cannot list every country in its questions. A place
//! found here adds [`ABROAD`] to the words retrieval looks for; it does not
//! make a sentence a health question by itself (a trip is no symptom).

use std::sync::OnceLock;

use super::fuzzy::SoundPattern;
use super::index::{compact, normalize};
use super::jamo::heard;

/// The word a foreign place stands for in retrieval.
pub const ABROAD: &str = "해외";

/// Countries, regions and destinations Korean travellers name, spelled as
/// they are usually written (compared without spaces, as substrings).
#[rustfmt::skip]
const PLACES: &[&str] = &[
    // Africa
    "아프리카", "케냐", "탄자니아", "우간다", "에티오피아", "나이지리아", "가나", "콩고", "이집트", "모로코",
    "남아공", "남아프리카", "마다가스카르", "세네갈", "카메룬", "잠비아",
    // Asia
    "동남아", "베트남", "태국", "필리핀", "캄보디아", "라오스", "미얀마", "인도네시아", "발리", "말레이시아",
    "싱가포르", "인도", "네팔", "방글라데시", "파키스탄", "스리랑카", "몰디브", "중국", "대만", "홍콩",
    "마카오", "일본", "몽골", "우즈베키스탄", "카자흐스탄", "키르기스스탄",
    // Middle East
    "중동", "사우디", "두바이", "아랍에미리트", "카타르", "오만", "쿠웨이트", "요르단", "이스라엘", "이란",
    "이라크", "튀르키예", "터키",
    // Europe, the Americas, Oceania
    "유럽", "영국", "프랑스", "독일", "이탈리아", "스페인", "러시아", "미국", "캐나다", "멕시코", "브라질",
    "페루", "콜롬비아", "남미", "중남미", "호주", "뉴질랜드", "괌", "사이판", "하와이", "피지",
];

/// Place names that are also ordinary Korean words or parts of them, found
/// only as a whole word with a particle at most (가나다, 오만하다).
const WHOLE_WORD_ONLY: &[&str] = &["가나", "오만", "인도", "괌", "피지", "콩고"];

/// Places this long (in syllables) are also found heard with one near miss
/// where a word starts ("캄부디아" for 캄보디아, "말래이시아"): a recogniser
/// mis-hears rare names most, and no everyday word is that near to one.
const HEARD_SYLLABLES: usize = 4;
/// The edit cost a place heard with a slip may absorb: one near miss (a
/// vowel or consonant alike, a final lost), not a syllable lost.
const HEARD_BUDGET: f32 = 0.5;

/// Whether `text` names a foreign place, as spelled or (a long name) heard
/// with a slip.
pub fn names_abroad(text: &str) -> bool {
    let joined = compact(text);
    PLACES.iter().any(|p| {
        if WHOLE_WORD_ONLY.contains(p) {
            text.split_whitespace().any(|w| w.starts_with(p) && stem_is(w, p))
        } else {
            joined.contains(p)
        }
    }) || {
        let sounds = heard(&normalize(text));
        heard_places().iter().any(|p| p.matches(&sounds))
    }
}

/// The long places as sound patterns, built once.
fn heard_places() -> &'static [SoundPattern] {
    static PATTERNS: OnceLock<Vec<SoundPattern>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        PLACES
            .iter()
            .filter(|p| p.chars().count() >= HEARD_SYLLABLES)
            .map(|p| SoundPattern::near_word(p, HEARD_BUDGET).from_word_start())
            .collect()
    })
}

/// Whether word `w` is place `p` followed by nothing or a particle / short
/// ending (인도에, 인도로, 인도는, 가나에서, 괌이요).
fn stem_is(w: &str, p: &str) -> bool {
    const ENDINGS: &[&str] = &[
        "",
        "에",
        "에서",
        "으로",
        "로",
        "는",
        "은",
        "이",
        "가",
        "를",
        "을",
        "도",
        "에요",
        "이요",
        "요",
        "까지",
        "쪽",
        "여행",
        "에서요",
    ];
    let rest = &w[p.len()..];
    ENDINGS.contains(&rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_places_are_found() {
        for t in [
            "다음 달에 케냐 가는데 맞고 가야 할 주사가 있나요",
            "캄보디아 갔다 온 지 일주일",
            "인도 여행 가요",
            "괌에 가요",
            "캄부디아 갔다 온 지 일주일 됐는데 열이 나요",
            "말래이시아 가는데 뭐 맞고 가요",
        ] {
            assert!(names_abroad(t), "{t}");
        }
    }

    #[test]
    fn ordinary_words_are_not_places() {
        for t in [
            "가나다 순서로",
            "오만하다",
            "인도네 집",
            "제주도 여행 가는데",
            "피지컬 트레이닝",
            "부디 아프지 마세요",
            "이 탈이 아니었으면",
            "말레 씨가 왔어요",
        ] {
            assert!(!names_abroad(t), "{t}");
        }
    }
}
