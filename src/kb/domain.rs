//! Is an utterance about health at all? A lexicon of health words — the
//! knowledge base's keywords (less the everyday ones among them, like 신고
//! or 고양이) and general words of illness and care — looked up in the
//! utterance, by spelling and, for longer words, by sound
//! ([`super::fuzzy`]), so that a mis-heard disease name still counts.
//!
//! The router answers a topic without such a word only on strong evidence:
//! "지갑을 잃어버려서 신고하려고요" shares 신고 with the disease-reporting
//! topic but is not a 1339 question.

use super::data::KnowledgeBase;
use super::fuzzy::SoundPattern;
use super::index::{compact, normalize};
use super::jamo::{heard, sounds};

/// Words of illness, the body and care that mark a health question, besides
/// the knowledge base's keywords. Compared without spaces, as substrings.
const GENERAL: &[&str] = &[
    "아파",
    "아프",
    "아픈",
    "아퍼",
    "아팠",
    "통증",
    "쑤셔",
    "저려",
    "열이",
    "열나",
    "열도",
    "열은",
    "열이나",
    "고열",
    "미열",
    "해열",
    "기침",
    "콧물",
    "재채기",
    "목이",
    "인후",
    "가래",
    "증상",
    "증세",
    "병원",
    "의사",
    "진료",
    "진찰",
    "약을",
    "약은",
    "약이",
    "약도",
    "약먹",
    "약국",
    "처방",
    "주사",
    "접종",
    "백신",
    "예방",
    "감염",
    "전염",
    "옮았",
    "옮아",
    "옮는",
    "옮을",
    "확진",
    "양성",
    "음성",
    "환자",
    "보건소",
    "질병",
    "질환",
    "병이",
    "병에",
    "병은",
    "병을",
    "바이러스",
    "세균",
    "균이",
    "모기",
    "진드기",
    "물렸",
    "물린",
    "물려",
    "물리",
    "할퀴",
    "토하",
    "토해",
    "토했",
    "토를",
    "구토",
    "설사",
    "배탈",
    "발진",
    "물집",
    "두드러기",
    "가려",
    "부었",
    "부어",
    "붓고",
    "멍울",
    "수포",
    "입원",
    "격리",
    "임신",
    "임산부",
    "임부",
    "건강",
    "어지러",
    "어지럽",
    "땀을",
    "더위",
    "폭염",
    "숨이",
    "숨을",
    "숨쉬",
    "호흡",
    "피가",
    "상처",
    "다쳤",
    "1339",
    "일삼삼구",
    "질병관리청",
    "질병청",
    "감기",
    "폐렴",
    "간염",
    "장염",
    "식중독",
    "에이즈",
    "hiv",
    "성병",
    "소독",
    "마스크",
    "잠복기",
    "치료",
    "나았",
    "낫나",
    "낫는",
    "앓",
    "몸이",
    "몸에",
    "몸살",
    "오한",
    "두통",
    "복통",
    "머리가",
    "눈이",
    "피부",
    "부작용",
    "면역",
    "항생제",
    "검역",
    "역학",
    "유행",
    "전파",
    "쓰러",
    "경련",
    "발작",
    "의식",
    "가슴",
    "호흡곤란",
];

/// Knowledge-base keywords that are everyday words too: alone they do not
/// make a sentence a health question (with [`EXPOSURE_KEYWORDS`], which
/// count for their own topic only).
const EVERYDAY_KEYWORDS: &[&str] = &[
    "신고",
    "검사",
    "출근",
    "등교",
    "아기",
    "신생아",
    "영유아",
    "영아",
    "고양이",
    "강아지",
    "닭",
    "오리",
    "어르신",
    "노인",
    "65세",
    "23가",
    "가을철",
    "딱지",
    "철새",
    "락스",
    "비말",
    "민원",
    "AI",
    "에이아이",
    "피부 접촉",
    "오염된 음식",
    "접종 기록",
    "접종 일정",
    "접종 시기",
    "염소 소독",
    "눈 통증",
];

/// Everyday keywords that tell how one comes by a topic's disease — a
/// camel, a visit to the family graves, a dead bird, a border county: not a
/// health word in general ("성묘 다녀왔어요"), but one for their own topic
/// when retrieval already puts that topic first ("두바이 여행에서 낙타 타는
/// 체험 위험한가요" is a MERS question).
const EXPOSURE_KEYWORDS: &[&str] = &[
    "중동",
    "사우디",
    "사우디아라비아",
    "두바이",
    "낙타",
    "동남아",
    "성묘",
    "벌초",
    "휴전선",
    "접경지역",
    "가피",
    "검은 딱지",
    "죽은 새",
    "새 사체",
    "야생조류",
    "가금류",
    "양계장",
    "어패류",
    "생굴",
    "조개젓",
    "두 줄",
];

/// Everyday words that contain a health word, blanked out before the
/// lookup: "아파트" has 아파, "계약을" 약을, "주사위" 주사, "의사를
/// 밝혔다" (an intent) 의사, "시민 의식" 의식, "가슴이 설레" 가슴, "눈이
/// 내리" (snow) 눈이, "수두룩" 수두.
const MASKED: &[&str] = &[
    "아파트",
    "예약",
    "약속",
    "약간",
    "계약",
    "요약",
    "절약",
    "공약",
    "조약",
    "협약",
    "서약",
    "규약",
    "특약",
    "해약",
    "활약",
    "도약",
    "비약",
    "집약",
    "주사위",
    "의사소통",
    "의사결정",
    "의사표현",
    "의사표시",
    "의사를밝",
    "의식주",
    "의식하",
    "시민의식",
    "위기의식",
    "무의식",
    "목이마르",
    "목이빠지",
    "가슴이설레",
    "가슴설레",
    "가슴이벅차",
    "가슴이뭉클",
    "전파를타",
    "전파를탔",
    // snow (눈이 is also the eyes), plenty, sorting out, an ordeal
    "눈이내리",
    "눈이내렸",
    "눈이내려",
    "눈이오",
    "눈이왔",
    "눈이쌓",
    "많은눈",
    "수두룩",
    "가려내",
    "가려낸",
    // a face mask pack, a drunk's ways (주사를 부리다), a child's game, the
    // mosquito fogging truck, blight on a field
    "마스크팩",
    "주사부리",
    "주사를부리",
    "병원놀이",
    "소독차",
    "역병",
    // going to go (가려고요), not itching (가려워요)
    "가려고",
    "가려면",
    "가려는",
    "가려다",
    "홍역을치",
    // a microphone (마이코), a baby's hundredth-day party (백일해), a bottle
    // held (병을), not catching what was said (못 알아 is 몸살 by sound)
    "마이크",
    "백일잔치",
    "백일상",
    "병을들고",
    "못알아",
];

/// Fewest sounds of a word matched by sound as well as by spelling.
const MIN_HEARD_SOUNDS: usize = 5;

/// The edit cost a health word of `len` sounds may absorb when looked for
/// by sound: none up to four sounds (옮을 would be 오늘), one lost, added or
/// near-miss sound (0.7: 백신 heard as 배신, 양성 as 량성, 물집 as 문집) in
/// five or six, then 0.1 per sound. Looser than the emergency triggers:
/// finding a health word only lets retrieval's own evidence count, it
/// answers nothing by itself.
fn budget(len: usize) -> f32 {
    match len {
        0..=4 => 0.0,
        5 | 6 => 0.7,
        _ => 0.1 * len as f32,
    }
}

/// The edit cost a disease name heard with slips may absorb to outweigh the
/// words around it ([`HealthWords::heard_name`]): one near miss (수두 heard
/// as 스두, 독감 as 도감, 홍역 as 혼역) up to six sounds — not two (생기 is
/// no 뎅기) — then 0.1 per sound.
fn name_budget(len: usize) -> f32 {
    if len <= 6 {
        0.5
    } else {
        0.1 * len as f32
    }
}

/// A topic's own keyword heard with more slips than [`budget`] allows
/// ([`HealthWords::near_topic_word`]): this much per sound, from
/// [`MIN_NEAR_SOUNDS`] sounds ("골핵" for 결핵, "스두" for 수두).
const NEAR_PER_SOUND: f32 = 0.2;
const MIN_NEAR_SOUNDS: usize = 4;
/// A topic's keywords that name what the topic is about are those found in
/// its title (결핵, 독감, 인플루엔자) or that contain a word of it (잠복결핵);
/// these words of titles name no disease or vaccine and are left out.
const NEAR_GENERIC: &[&str] = &["여행", "콜센터", "1339", "예방접종", "접종", "검사", "증상", "감염", "안내", "신고"];

/// Whether keyword `k` names what a topic titled `title` is about.
fn names_topic(k: &str, title: &str) -> bool {
    let words: Vec<String> =
        title.split(|c: char| !c.is_alphanumeric()).map(compact).filter(|w| w.chars().count() >= 2).collect();
    !NEAR_GENERIC.iter().any(|g| k.contains(g))
        && (compact(title).contains(k) || words.iter().any(|w| k.contains(w.as_str())))
}

pub struct HealthWords {
    words: Vec<String>,
    heard: Vec<SoundPattern>,
    /// The knowledge base's own keywords by sound, for [`HealthWords::repairs`].
    keywords: Vec<SoundPattern>,
    /// Each topic's own keywords by sound, looser ([`NEAR_PER_SOUND`]).
    near: std::collections::HashMap<String, Vec<SoundPattern>>,
    /// The same from a word's start within [`name_budget`], for
    /// [`HealthWords::heard_name`].
    names_heard: std::collections::HashMap<String, Vec<SoundPattern>>,
    /// Each topic's title.
    titles: std::collections::HashMap<String, String>,
    /// Keywords that name what their topic is about ([`names_topic`]), as
    /// spelled: 결핵, 독감, 백일해 — not 임신부, 예방접종; with the topic's id.
    naming: Vec<(String, String)>,
    /// The knowledge base's `[settings] health_gate`: off, every utterance
    /// counts as on topic (a hotline that is not about health).
    gate: bool,
    /// Topics whose entry turns the gate off (`health_gate = false`: about
    /// the line itself).
    ungated: Vec<String>,
    /// Each topic's [`EXPOSURE_KEYWORDS`], compact, with the topic's id.
    exposure: Vec<(String, String)>,
}

impl HealthWords {
    pub fn new(kb: &KnowledgeBase) -> HealthWords {
        let everyday: Vec<String> = EVERYDAY_KEYWORDS.iter().chain(EXPOSURE_KEYWORDS).map(|w| compact(w)).collect();
        let mut words: Vec<String> = GENERAL.iter().map(|w| compact(w)).collect();
        let mut keywords = Vec::new();
        let mut near = std::collections::HashMap::new();
        let mut naming = Vec::new();
        let exposing: Vec<String> = EXPOSURE_KEYWORDS.iter().map(|w| compact(w)).collect();
        let mut exposure = Vec::new();
        for e in &kb.entries {
            let mut own = Vec::new();
            for k in &e.keywords {
                let k = compact(k);
                if exposing.contains(&k) {
                    exposure.push((k.clone(), e.id.get_ref().clone()));
                }
                if k.chars().count() >= 2 && names_topic(&k, e.title.get_ref()) {
                    naming.push((k.clone(), e.id.get_ref().clone()));
                }
                if k.chars().count() >= 2 && !everyday.contains(&k) {
                    let n = sounds(&k).len();
                    if n >= MIN_NEAR_SOUNDS && names_topic(&k, e.title.get_ref()) {
                        own.push(SoundPattern::near_word(&k, NEAR_PER_SOUND * n as f32));
                    }
                    words.push(k.clone());
                    keywords.push(k);
                }
            }
            near.insert(e.id.get_ref().clone(), own);
        }
        let by_sound = |list: &mut Vec<String>| -> Vec<SoundPattern> {
            list.sort();
            list.dedup();
            list.iter()
                .map(|w| (w, sounds(w).len()))
                .filter(|&(_, n)| n >= MIN_HEARD_SOUNDS)
                .map(|(w, n)| SoundPattern::at_word(w, budget(n)))
                .collect()
        };
        let heard = by_sound(&mut words);
        let keywords = by_sound(&mut keywords);
        naming.sort();
        naming.dedup();
        let ungated = kb.entries.iter().filter(|e| !e.health_gate).map(|e| e.id.get_ref().clone()).collect();
        // Held to one near miss, not the looser budget of a topic retrieval
        // already put first: 생기 is two from 뎅기.
        let names_heard = near
            .iter()
            .map(|(t, ps): (&String, &Vec<SoundPattern>)| {
                let strict = |p: &SoundPattern| {
                    SoundPattern::near_word(&p.trigger, name_budget(sounds(&p.trigger).len())).from_word_start()
                };
                (t.clone(), ps.iter().map(strict).collect())
            })
            .collect();
        HealthWords {
            words,
            heard,
            keywords,
            near,
            names_heard,
            titles: kb.entries.iter().map(|e| (e.id.get_ref().clone(), e.title.get_ref().clone())).collect(),
            naming,
            gate: kb.settings.health_gate,
            ungated,
            exposure,
        }
    }

    /// Whether `text` names what some topic is about (a disease or vaccine:
    /// "그럼 독감은요?"), as spelled; "그럼 임신부는요?" names none.
    pub fn names_a_topic(&self, text: &str) -> bool {
        self.named(text).next().is_some()
    }

    /// The keywords that name what some topic is about (결핵, 독감,
    /// 메르스), compact, each once.
    pub fn name_words(&self) -> impl Iterator<Item = &str> + '_ {
        let mut seen = std::collections::HashSet::new();
        self.naming.iter().map(|(k, _)| k.as_str()).filter(move |k| seen.insert(*k))
    }

    /// Whether `text` names what `topic` is about, as spelled ("결핵" for
    /// tuberculosis).
    pub fn names(&self, text: &str, topic: &str) -> bool {
        self.named(text).any(|t| t == topic)
    }

    /// The topics whose naming keyword `text` holds, as spelled (one per
    /// keyword found).
    fn named<'a>(&'a self, text: &str) -> impl Iterator<Item = &'a str> + 'a {
        let flat = compact(text);
        self.naming.iter().filter(move |(k, _)| flat.contains(k.as_str())).map(|(_, t)| t.as_str())
    }

    /// Knowledge-base keywords heard with a slip ("도감이면" has 독감,
    /// "혼역이래요" 홍역), to add to the words retrieval looks for; nothing
    /// when a keyword naming a topic is there as spelled (retrieval has its
    /// anchor, and near neighbours of a right word only blur it: 코로나 증상 ~
    /// 코로나 주사), and only such keywords when another keyword is spelled
    /// ("도감 예방접종" repairs 독감).
    pub fn repairs(&self, text: &str) -> Vec<String> {
        let flat = compact(text);
        if self.names_a_topic(text) {
            return Vec::new();
        }
        let some_spelled = self.keywords.iter().any(|p| flat.contains(p.trigger.as_str()));
        let naming = |w: &str| self.naming.iter().any(|(k, _)| k == w);
        let heard = heard(&normalize(text));
        self.keywords
            .iter()
            .filter(|p| {
                !flat.contains(p.trigger.as_str()) && (!some_spelled || naming(&p.trigger)) && p.matches(&heard)
            })
            .map(|p| p.trigger.clone())
            .collect()
    }

    /// One of `topic`'s own keywords heard with a few slips ("인루엔자" for
    /// 인플루엔자, "골핵" for 결핵): a health word when retrieval already
    /// puts that topic first, so a mis-heard disease name does not make the
    /// question "not a 1339 question". `~~word` when found.
    pub fn near_topic_word(&self, text: &str, topic: &str) -> Option<String> {
        let heard = heard(&Words::masked(text).spaced());
        self.near.get(topic)?.iter().find(|p| p.matches(&heard)).map(|p| format!("~~{}", p.trigger))
    }

    /// Whether `topic`'s own name is heard with slips where a word of
    /// `text` starts, once the general health words and everyday words
    /// holding one ([`GENERAL`], [`MASKED`]) spelled in it are blanked
    /// ("감염병" is no 간염 heard with a slip, "조류은플루엔자" no
    /// 인플루엔자 of its own): "스두 격리 기간이요" names chickenpox.
    /// A name that `other`'s title holds too (인플루엔자 for the flu
    /// vaccine and flu symptoms alike) does not count.
    pub fn heard_name(&self, text: &str, topic: &str, other: &str) -> bool {
        let shared = |p: &&SoundPattern| self.titles.get(other).is_some_and(|t| names_topic(&p.trigger, t));
        let mut names = self.names_heard.get(topic).into_iter().flatten().filter(|p| !shared(p)).peekable();
        if names.peek().is_none() {
            return false;
        }
        let mask: Vec<&str> = MASKED.iter().chain(GENERAL).copied().collect();
        let heard = heard(&Words::with_mask(text, &mask).spaced());
        names.any(|p| p.matches(&heard))
    }

    /// The health word in `text` that lets a question be answered with
    /// `topic`: one as spelled, `~word` heard by sound, `~~word` the topic's
    /// own keyword heard with slips, or the topic's exposure word as spelled
    /// (no mark: it counts as spelled).
    pub fn word(&self, text: &str, topic: &str) -> Option<String> {
        self.find(text).or_else(|| self.near_topic_word(text, topic)).or_else(|| self.exposure_word(text, topic))
    }

    /// One of `topic`'s own [`EXPOSURE_KEYWORDS`] in `text`, as spelled
    /// (inside a word, or across words from a word's start; no word end is
    /// asked for: "죽은 새벽" holds 죽은 새).
    fn exposure_word(&self, text: &str, topic: &str) -> Option<String> {
        let words = Words::masked(text);
        let dead_bird = |k: &str| k == super::dead_bird::DEAD_BIRD && super::dead_bird::found(text);
        self.exposure.iter().find(|(k, t)| t == topic && (words.spells(k) || dead_bird(k))).map(|(k, _)| k.clone())
    }

    /// Whether `topic` needs a health word to be answered (the gate is on
    /// for the knowledge base and the topic).
    pub fn gated(&self, topic: &str) -> bool {
        self.gate && !self.about_the_line(topic)
    }

    /// Whether `topic`'s own entry turns the gate off (`health_gate =
    /// false`: a topic about the line itself), whatever the knowledge base's.
    pub fn about_the_line(&self, topic: &str) -> bool {
        self.ungated.iter().any(|t| t == topic)
    }

    /// Whether `text` holds a health word, as spelled or by sound.
    pub fn mentioned(&self, text: &str) -> bool {
        self.find(text).is_some()
    }

    /// Whether `text` is about health for `topic` (always, with the gate
    /// off for the knowledge base or the topic); a word heard by sound
    /// counts only when `by_sound`.
    pub fn counts(&self, text: &str, topic: &str, by_sound: bool) -> bool {
        !self.gated(topic) || self.word(text, topic).is_some_and(|w| by_sound || !w.starts_with('~'))
    }

    /// Whether `text` contains a health word, spelled or by sound.
    #[cfg(test)]
    fn mentions(&self, text: &str) -> bool {
        self.counts(text, "", true)
    }

    /// The first health word found in `text` (`~word` when found by sound).
    /// A word spelled across a space counts only from a word's start
    /// ("예방 접종", not the 기침 of "경기 침체"); one heard by sound only
    /// where a word starts ([`SoundPattern::at_word`]).
    pub fn find(&self, text: &str) -> Option<String> {
        let words = Words::masked(text);
        if let Some(w) = self.words.iter().find(|w| words.spells(w)) {
            return Some(w.clone());
        }
        let heard = heard(&words.spaced());
        self.heard.iter().find(|p| p.matches(&heard)).map(|p| format!("~{}", p.trigger))
    }
}

/// `text` with its [`MASKED`] everyday words taken out ("제 쪽 마이크 켜져
/// 있나요" → "제 쪽 켜져 있나요"), or None when it holds none.
pub fn without_everyday_words(text: &str) -> Option<String> {
    let words = Words::masked(text);
    (words.chars.len() < compact(text).chars().count()).then(|| words.spaced())
}

/// An utterance's letters, normalized, without spaces, with where its words
/// start; every [`MASKED`] everyday word (found across spaces too) taken
/// out and a word starting after it.
struct Words {
    chars: Vec<char>,
    starts: Vec<bool>,
}

/// An utterance's words as [`HealthWords::find`] reads them, nothing masked:
/// read once, asked about many words.
pub struct Spelling(Words);

impl Spelling {
    pub fn of(text: &str) -> Spelling {
        Spelling(Words::with_mask(text, &[]))
    }

    /// Whether `word` is spelled here: inside one word, or across words
    /// from a word's start ("열도 난다" holds no 도난, "노인 감기" no 인감;
    /// "종합소득세" holds 소득세).
    pub fn spells(&self, word: &str) -> bool {
        self.0.spells(&compact(word))
    }
}

impl Words {
    fn masked(text: &str) -> Words {
        Words::with_mask(text, MASKED)
    }

    fn with_mask(text: &str, mask: &[&str]) -> Words {
        let (mut chars, mut starts) = (Vec::new(), Vec::new());
        let mut gap = true;
        for c in normalize(text).chars() {
            if c == ' ' {
                gap = true;
            } else {
                chars.push(c);
                starts.push(gap);
                gap = false;
            }
        }
        let mut hidden = vec![false; chars.len()];
        for m in mask {
            let m: Vec<char> = m.chars().collect();
            let at: Vec<usize> = chars.windows(m.len()).enumerate().filter(|(_, w)| *w == m).map(|(i, _)| i).collect();
            for i in at {
                hidden[i..i + m.len()].fill(true);
            }
        }
        let mut out = Words { chars: Vec::new(), starts: Vec::new() };
        let mut after_mask = false;
        for (i, &c) in chars.iter().enumerate() {
            if hidden[i] {
                after_mask = true;
                continue;
            }
            out.chars.push(c);
            out.starts.push(starts[i] || after_mask);
            after_mask = false;
        }
        out
    }

    /// Whether `word` (compact) is spelled here: inside one word, or across
    /// words from a word's start.
    fn spells(&self, word: &str) -> bool {
        let w: Vec<char> = word.chars().collect();
        let n = w.len();
        n > 0
            && self
                .chars
                .windows(n)
                .enumerate()
                .any(|(i, c)| c == w.as_slice() && (self.starts[i] || !self.starts[i + 1..i + n].contains(&true)))
    }

    /// The words joined by spaces.
    fn spaced(&self) -> String {
        let mut out = String::with_capacity(self.chars.len() * 4);
        for (&c, &start) in self.chars.iter().zip(&self.starts) {
            if start && !out.is_empty() {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn words() -> HealthWords {
        let kb = KnowledgeBase::parse(Path::new("kb/1339.toml"), include_str!("../../kb/1339.toml")).expect("kb");
        HealthWords::new(&kb)
    }

    #[test]
    fn health_questions_mention_health() {
        let w = words();
        for t in
            ["독감 주사 언제 맞아요", "아이가 열이 나요", "쯔쯔가무시 걸리면 어떡해요", "결핵 환자 신고는 어디로 해요"]
        {
            assert!(w.mentions(t), "{t}");
        }
        // A health word inside an everyday one is none.
        for t in [
            "두 회사는 새로운 계약을 맺었습니다",
            "주사위를 던져서 정하자",
            "반대한다는 의사를 밝혔습니다",
            "시민 의식이 높아졌다",
            "밤새 눈이 내려서 길이 미끄럽다",
            "할 일이 수두룩하다",
        ] {
            assert!(!w.mentions(t), "{t}");
        }
        assert!(w.mentions("의사 선생님이 약을 먹으래요"));
        // A disease name or a health word heard with a slip.
        assert!(w.mentions("말라이아 예방약 먹어야 돼요"));
        assert!(w.mentions("고로나 배신 새로 나온 거"));
        assert_eq!(w.find("고로나 새로 나온 거"), Some("~코로나".into()));
        assert!(w.mentions("손바닥에 빨간 문집이 생겼어요"));
    }

    #[test]
    fn a_health_word_is_not_read_across_words_or_heard_inside_one() {
        let w = words();
        // 기침 spelled across "경기 침체" is no cough; a compound written
        // apart still counts from its first word.
        assert!(!Words::masked("수출이 줄면서 경기 침체가 길어졌다").spells("기침"));
        assert!(Words::masked("기침이 안 멈춰요").spells("기침"));
        assert!(Words::masked("독감 예방 접종 언제 해요").spells("예방접종"));
        assert!(!w.mentions("수출이 줄면서 경기 침체가 길어졌다"));
        // By sound only where a word starts: "어머니가" holds 머리가.
        assert_eq!(w.find("어머니가 장례식에 다녀오셨다"), None);
        assert_eq!(w.find("머리까 깨질 것 같아요"), Some("~머리가".into()));
        // A masked everyday word ends a word.
        assert_eq!(Words::masked("새로운 계약을 맺었다").spaced(), "새로운 을 맺었다");
    }

    #[test]
    fn mis_heard_keywords_are_repaired() {
        let w = words();
        assert!(w.repairs("도감이면 약을 꼭 먹어야 하나요").contains(&"독감".to_string()));
        assert!(w.repairs("홍역이 뭐예요").is_empty(), "spelled right: nothing to add");
        // A disease name heard with a slip beside a keyword spelled right
        // that names no disease (예방접종): the name is repaired, not the rest.
        let repaired = w.repairs("도감 예방접종 언제부터 해요");
        assert!(repaired.contains(&"독감".to_string()), "{repaired:?}");
        assert!(repaired.iter().all(|k| w.names_a_topic(k)), "{repaired:?}");
        assert!(w.repairs("오늘 날씨 어때요").is_empty());
    }

    #[test]
    fn a_topics_own_disease_name_is_found_with_a_few_slips() {
        let w = words();
        assert_eq!(w.near_topic_word("인루엔자 골리면 며칠 쉬어야 해요", "flu-symptoms"), Some("~~인플루엔자".into()));
        assert_eq!(w.near_topic_word("회사 동료가 골핵이래요", "tuberculosis"), Some("~~결핵".into()));
        // Only the topic retrieval put first, only whole syllables, and no
        // generic title words (여행, 콜센터).
        assert_eq!(w.near_topic_word("회사 동료가 골핵이래요", "measles"), None);
        assert_eq!(w.near_topic_word("버스가 너무 늦게 와서 불편해요", "hepatitis-a"), None);
        assert_eq!(w.near_topic_word("이번 여행은 대만족이야", "travel-before"), None);
        assert_eq!(w.near_topic_word("분실물 센터 번호 좀 알려 주세요", "hotline-info"), None);
    }

    #[test]
    fn a_topics_exposure_word_counts_for_that_topic_only() {
        let w = words();
        let t = "두바이 여행에서 낙타 타는 체험 해도 돼요";
        assert_eq!(w.word(t, "mers").as_deref(), Some("낙타"));
        assert_eq!(w.word(t, "travel-before"), None, "another topic's exposure word");
        assert!(!w.mentioned("추석에 성묘 다녀왔어요"), "no health word in general");
        assert_eq!(w.word("추석에 성묘 다녀왔어요", "scrub-typhus").as_deref(), Some("성묘"));
        // A dead bird of any kind stands for 죽은 새, avian influenza's.
        let t = "공원에 비둘기가 죽어 있는데 만져도 돼요";
        assert_eq!(w.word(t, "avian-flu").as_deref(), Some(super::super::dead_bird::DEAD_BIRD));
        assert_eq!(w.word(t, "sfts"), None, "another topic's question");
    }

    #[test]
    fn everyday_words_near_a_topics_name_are_not_heard_as_it() {
        let w = words();
        for (t, topic) in [
            ("제 쪽 마이크 켜져 있나요", "mycoplasma"),
            ("조카 백일잔치가 이번 주 일요일이에요", "pertussis"),
            ("목소리가 뚝뚝 끊겨서 하나도 못 알아듣겠어요", "covid19-symptoms-testing"),
        ] {
            assert_eq!(w.word(t, topic), None, "{t}");
        }
    }

    #[test]
    fn everyday_sentences_sharing_a_keyword_do_not() {
        let w = words();
        for t in
            ["지갑을 잃어버려서 신고하려고요", "자동차 검사 예약하려고요", "고양이 사료 주문했어요", "오늘 날씨 어때요"]
        {
            assert!(!w.mentions(t), "{t}");
        }
    }
}
