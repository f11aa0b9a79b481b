//! A caller who tells only a common symptom ("열이 나요", "목이 아파요", "아이가
//! 어제부터 기침을 해요"): a hotline that never diagnoses does not name a
//! disease for it (the nearest knowledge-base entry to "목이 아파요" is as
//! likely avian flu as anything), but asks what would point somewhere —
//! travel, a bite, others ill — and says when to see a doctor or call 119.
//! The symptom is kept, and the caller's next words are read with it
//! ([`super::brain::Brain`]). Pure word rules: at least one word is a common
//! symptom, none is a clue (a sign beyond the common ones, travel, a bite,
//! food, others ill, an infant or a pregnancy, an emergency's sign, a foreign
//! place), and every other word is who has it, when or how much, a predicate
//! or a care question.

use crate::kb::index::normalize;

/// Said when the caller told a common symptom again and still nothing that
/// points to a topic: care advice, and the way to a person.
pub const CARE: &str =
    "증상이 심하거나 오래가면 가까운 의료기관에서 진료를 받아 보세요. 숨쉬기 힘들거나 의식이 흐려지면 바로 \
                        119에 전화하세요. 상담원과 통화를 원하시면 상담원이라고 말씀해 주세요.";

/// Common symptoms that point to no one disease (the longest first is
/// tried: 목감기 before 목).
#[rustfmt::skip]
const SYMPTOMS: &[&str] = &[
    "열", "미열", "고열", "발열", "열감", "기침", "마른기침", "잔기침", "가래", "목", "목감기", "인후통", "콧물", "코", "코막힘", "재채기", "두통", "머리",
    "배", "복통", "속", "설사", "구토", "토", "몸살", "몸살기", "감기", "감기기운", "오한", "근육통", "몸", "온몸", "삭신", "기운", "힘", "체온", "목소리",
    "침", "명치", "아랫배", "윗배", "물설사", "변", "대변", "팔다리", "피곤", "나른", "어지러운", "어지럽", "어지럼", "천근만근", "으슬으슬", "지끈지끈", "띵",
];

/// Who has it, since when, how much, and words that only lead in.
#[rustfmt::skip]
const CIRCUMSTANCES: &[&str] = &[
    "아이", "애", "애기", "우리애", "제", "저", "나", "내", "우리", "아들", "딸", "남편", "아내", "와이프", "엄마", "아빠", "어머니", "아버지",
    "할머니", "할아버지", "동생", "언니", "오빠", "형", "누나", "가족", "어제", "그제", "오늘", "아침", "저녁", "밤", "새벽", "밤새", "며칠", "며칠째",
    "이틀", "이틀째", "사흘", "사흘째", "일주일", "일주일째", "계속", "좀", "많이", "너무", "조금", "약간", "자꾸", "요즘", "지금", "갑자기", "또", "그리고",
    "같이", "네", "아", "음", "어", "저기", "그", "살짝", "심하게", "엄청", "진짜", "되게", "막", "근데", "그런데", "여보세요", "안녕하세요", "선생님",
    "혹시", "정도", "때", "전부터", "부터", "아니요", "아니", "아뇨", "그런", "건", "거", "것", "특별히", "딱히", "별로", "다른", "건요", "잘", "못",
    "번", "이거", "그거", "그냥", "저희", "어느", "살", "두", "세", "다섯", "여섯", "일곱", "여덟", "아홉", "대여섯", "몇", "다", "특히", "초등학생",
    "중학생", "고등학생", "대학생", "임신", "중인데", "주말이라", "주말인데", "밤인데", "정도인데", "정도면", "전에", "좀전에", "어젯밤", "어젯밤부터", "열흘째",
    "보름째", "연세", "여든", "일흔", "예순", "돌", "지난", "넘은", "넘으신", "하루", "하루에", "이", "쪽", "집", "신경", "이상", "꽉", "살살", "덜덜",
    "묵직하게", "맑은", "묽은", "오래", "시어머니", "시아버지", "친정아버지", "친정어머니", "남동생", "여동생", "손자", "손녀", "잠", "밥", "식사", "해열제",
    "진통제", "지사제", "감기약", "약국", "약", "내과", "이비인후과", "소아과", "과", "문", "연", "마스크", "이불", "저기요", "어디", "뭘", "도", "이상이면",
    "한숨",
];

/// Stems that point to a topic ("해외" would pass for a predicate's 해…).
#[rustfmt::skip]
const CLUES: &[&str] = &[
    "해외", "여행", "다녀", "귀국", "입국", "출장", "물리", "물린", "물렸", "모기", "진드기", "접종", "백신", "주사", "검사", "확진", "양성", "코로나",
    "독감", "먹고", "먹은", "먹었", "회식", "단체",
    // signs of an emergency, should the rules before have missed them
    "하혈", "피가", "피를", "피도", "피나", "코피", "출혈", "경련", "숨", "의식", "가슴", "흉통", "마비", "한쪽", "쓰러",
    // a cough of weeks is tuberculosis's sign
    "주째", "달째", "개월",
    // signs beyond the common symptoms, and where they are
    "물집", "발진", "두드러기", "딱지", "반점", "황달", "흡", "컥", "쌕", "빨개", "빨갛", "노랗", "노래", "까만", "붉", "혀",
    "입안", "눈", "귀", "림프", "가려", "식은땀", "살이", "체중", "소변", "혈변", "피부", "관절", "얼굴", "입술", "목덜미",
    // who is most at risk: an infant, a pregnancy
    "아기", "신생아", "임신", "임산부",
    // where it was caught: animals, others ill, outdoors, heat, food
    "동물", "개한테", "고양이", "닭", "오리", "돼지", "같은반", "어린이집", "유치원", "학교", "주변", "다들", "여러",
    "가족도", "식구", "갔다", "왔", "캠핑", "등산", "산에", "밭", "풀", "논", "성묘", "벌초", "물놀이", "수영", "더위", "더운",
    "땡볕", "햇볕", "야외", "회", "굴", "조개", "날것", "생선", "식당", "배달", "도시락", "급식",
];

/// How a predicate or a care question starts: …가 나요, 아파요, 있어요,
/// 해요, 심해요, 안 떨어져요, 어떡해요, 병원 가야 돼요, 약 먹어도 돼요.
#[rustfmt::skip]
const PREDICATES: &[&str] = &[
    "나", "났", "난", "아프", "아파", "아픈", "아팠", "있", "없", "해", "하", "했", "한", "심하", "심해", "심했", "나오", "나와", "떨어", "안", "않",
    "막히", "막혀", "올라", "오르", "올랐", "같아", "같은", "같고", "같네", "칼칼", "따끔", "쑤시", "쑤셔", "으슬", "지끈", "콜록", "줄줄", "흘러", "흐르",
    "부었", "부어", "붓", "좋", "어떡", "어떻게", "어떻", "괜찮", "되", "돼", "될", "됐", "병원", "가야", "가봐", "가도", "가면", "가서", "먹어", "먹여",
    "먹이", "약", "뭐", "무슨", "왜", "그래", "그렇", "메스껍", "메스꺼", "울렁", "더부룩", "쓰려", "쓰리", "아픔", "할", "멈추", "멈춰", "멈춘", "걱정",
    "흘려", "흘리", "춥", "추워", "떨려", "떨리", "들어", "들었", "봐", "자요", "잤", "자고", "일어나", "시작", "계속되", "쉬어", "쉬면", "쉬고", "낫",
    "나을", "둬", "두면", "내려", "내렸", "내린", "데려가", "모시고", "모셔", "목욕", "씻겨", "재보", "재봤", "모르겠", "궁금", "전화", "건지", "건가",
    "가는", "넘는", "불편", "쓰여", "닫았", "덮어", "삼킬", "삼키", "끼고", "껴", "낀", "오를", "받아", "될까", "할까", "대요", "이에요", "예요", "인데",
    "부은", "무거", "먹으", "쓰",
];
/// The longest word read as a predicate ("가봐야하나요" is 6).
const PREDICATE_MAX: usize = 7;

/// Particles a noun may carry (the longest first is tried).
#[rustfmt::skip]
const PARTICLES: &[&str] = &[
    "이랑", "에서", "부터", "까지", "하고", "이가", "께서", "으로", "은", "는", "이", "가", "을", "를", "도", "만", "에", "랑", "의", "로",
];

/// Whether the utterance is a common symptom and nothing that points to a
/// topic.
pub fn bare_symptom(text: &str) -> bool {
    if crate::kb::abroad::names_abroad(text) {
        return false;
    }
    let norm = normalize(text);
    let mut symptom = false;
    for word in norm.split(' ').filter(|w| !w.is_empty()) {
        if CLUES.iter().any(|c| word.contains(c)) {
            return false;
        }
        match read_word(word) {
            Some(Word::Symptom) => symptom = true,
            Some(Word::Other) => {}
            // A word no list knows. Up to two were let pass once: on the
            // development sets that let "요즘 유행하는 머리 스타일이 뭐예요",
            // "영화 감기 넷플릭스에 있어요" and many a line check or emergency
            // through.
            None => return false,
        }
    }
    symptom
}

enum Word {
    Symptom,
    Other,
}

fn read_word(word: &str) -> Option<Word> {
    // A temperature, an age, a count: "38도", "5살", "2번"; "삼십팔도" — but
    // not weeks or months ("2주").
    let number = word.starts_with(|c: char| c.is_ascii_digit()) || word.starts_with("삼십");
    if number && !["주", "달", "개월", "년"].iter().any(|u| word.contains(u)) {
        return Some(Word::Other);
    }
    let noun = strip_particle(word);
    if CIRCUMSTANCES.contains(&noun) || CIRCUMSTANCES.contains(&word) {
        return Some(Word::Other);
    }
    if predicate(word) {
        return Some(Word::Other);
    }
    // A symptom, alone or run together with its predicate ("열이나요").
    let mut found: Vec<&&str> = SYMPTOMS.iter().filter(|s| word.starts_with(**s)).collect();
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in found {
        let raw = &word[s.len()..];
        let rest = strip_leading_particle(raw);
        if rest.is_empty() || predicate(rest) || predicate(raw) || TAILS.contains(&rest) {
            return Some(Word::Symptom);
        }
    }
    // Words run together: "계속설사하고", "애가계속토하고".
    // Only words of two syllables or more split one off ("세제를" is no 세 + 제).
    for c in CIRCUMSTANCES.iter().filter(|c| c.chars().count() >= 2 && word.len() > c.len() && word.starts_with(**c)) {
        let rest = strip_leading_particle(&word[c.len()..]);
        if !rest.is_empty() && rest.len() < word.len() {
            if let Some(w) = read_word(rest) {
                return Some(w);
            }
        }
    }
    None
}

/// Endings left on a symptom run together with its predicate's stem
/// ("어지러운데").
const TAILS: &[&str] = &["데", "고", "요", "서", "네요", "는데", "는데요", "고요", "다고", "대요"];

fn predicate(word: &str) -> bool {
    word.chars().count() <= PREDICATE_MAX && PREDICATES.iter().any(|p| word.starts_with(p))
}

fn strip_particle(word: &str) -> &str {
    PARTICLES
        .iter()
        .filter(|p| word.len() > p.len() && word.ends_with(**p))
        .max_by_key(|p| p.len())
        .map_or(word, |p| &word[..word.len() - p.len()])
}

fn strip_leading_particle(rest: &str) -> &str {
    PARTICLES.iter().filter(|p| rest.starts_with(**p)).max_by_key(|p| p.len()).map_or(rest, |p| &rest[p.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_common_symptom_with_who_when_and_what_to_do_is_bare() {
        for t in [
            "열이 나요",
            "열이 나요.",
            "목이 아파요",
            "아이가 어제부터 기침을 해요",
            "열이나요",
            "저 머리가 좀 아프고 열도 있는데 병원 가야 돼요?",
            "엄마가 며칠째 설사를 하세요",
            "콧물이 계속 나고 목이 칼칼해요",
            "열이 38도예요",
            "몸살 기운이 있어요",
            "배가 아프고 속이 안 좋아요",
            "열이 나요 아니요 그런 건 없어요",
        ] {
            assert!(bare_symptom(t), "{t}");
        }
    }

    #[test]
    fn a_clue_to_a_topic_or_anything_else_is_not_bare() {
        for t in [
            "열이 나요 베트남 다녀왔어요",
            "진드기에 물리고 열이 나요",
            "아이가 열이 나고 입안에 물집이 생겼어요",
            "기침을 한번 시작하면 멈추질 않고 끝에 흡 소리가 나요",
            "독감인 것 같아요 열이 나요",
            "코로나 검사 받아야 하나요",
            "안녕하세요",
            "네",
            "",
            "목요일에 예약했어요",
            "배를 타고 왔어요",
            "해외에서 열이 나요",
            "한 달째 기침이 나요",
            "2주 넘게 기침이 나요",
            "임신 중인데 배가 너무 아프고 하혈을 해요",
            "할아버지가 팔을 들어보라고 했는데 한쪽 팔만 자꾸 내려가요",
            "아이가 세제를 먹으면 토하게 해야 돼요",
        ] {
            assert!(!bare_symptom(t), "{t}");
        }
    }
}
