//! Does a generated sentence say what its passage says? One job: catch the
//! ways a small model is fluent and wrong, sentence by sentence, before the
//! sentence is spoken ([`check`]). [`super::grounding`] asks whether the
//! answer stays near the passage's wording; this asks whether it keeps the
//! passage's meaning:
//!
//! * **eligibility**: "무료입니다" / "대상입니다" (or a bare "네" to "무료예요?")
//!   for an age or a group the passage does not list among those it makes
//!   free or eligible ("40대인데 무료로 맞을 수 있나요?" → "네, 무료입니다");
//!   a free claim where the passage says nothing is free;
//! * **negation**: the sentence affirms what the passage denies, or the
//!   reverse (passage "격리 의무가 없고", sentence "격리 의무가 있습니다");
//! * **numbers** written as Korean words ("세 번", "이틀") that the passage
//!   does not have (digits are [`super::grounding`]'s), doses ("두 알씩");
//! * **invented content**: content words the passage, the question and a
//!   short list of conversational words do not support; medicine advice and
//!   diagnoses the passage does not give;
//! * **misattribution**: a claim the passage makes of something narrower
//!   said of the whole ("잠복결핵감염은 … 옮기지 않으며" → "결핵은 … 옮기지
//!   않으며"), or a condition of the passage bound to a claim it does not
//!   lead to ("백일해로 진단되면 항생제 치료를" → "백일해로 진단되면 … Tdap
//!   접종이 권장됩니다");
//! * **a yes or a no to no yes/no question**: "아니요, …" to "그럼
//!   아이들은요?" after "언제 맞아요?", or "네, … 없지만" to "그럼 백신은요?".
//!
//! Pure functions; a few regexes compiled once.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;

use crate::kb::Entry;

/// Why a sentence failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Eligibility,
    YesNo,
    Negation,
    Number,
    Unsupported,
    Advice,
    Misattributed,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Eligibility => "eligibility",
            Kind::YesNo => "yes-no",
            Kind::Negation => "negation",
            Kind::Number => "number",
            Kind::Unsupported => "unsupported",
            Kind::Advice => "advice",
            Kind::Misattributed => "misattributed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: Kind,
    pub why: String,
}

fn fail<T>(kind: Kind, why: String) -> Result<T, Failure> {
    Err(Failure { kind, why })
}

/// Most unsupported content words a sentence may have before it counts as
/// invented, and the largest share of its content words they may be.
pub const MAX_UNSUPPORTED: usize = 1;
pub const MAX_UNSUPPORTED_SHARE: f32 = 0.25;

/// An age span in months, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ages {
    pub lo: u32,
    pub hi: u32,
}

const NO_LIMIT: u32 = 150 * 12;

impl Ages {
    fn within(&self, outer: &Ages) -> bool {
        self.lo >= outer.lo && self.hi <= outer.hi
    }
}

/// Groups a caller may name, each with the words that name it. A group
/// counts as listed when the passage's free/eligibility sentences use any
/// of its words.
const GROUPS: &[(&str, &[&str])] = &[
    ("임신부", &["임신부", "임산부", "임신"]),
    ("어린이", &["어린이", "아이", "아기", "애기", "소아", "유아", "영유아", "초등학생", "자녀", "손주"]),
    ("어르신", &["어르신", "노인", "할머니", "할아버지"]),
    ("청소년", &["청소년", "중학생", "고등학생"]),
    ("대학생", &["대학생"]),
    ("직장인", &["직장인", "회사원"]),
    ("외국인", &["외국인"]),
    ("군인", &["군인", "장병"]),
    ("의료인", &["의료인", "의료진", "간호사"]),
    ("성인", &["성인", "어른"]),
    ("남성", &["남성", "남자"]),
    ("면역저하자", &["면역저하자", "면역이 약한"]),
    ("만성질환자", &["만성질환"]),
    ("저소득층", &["저소득층", "기초생활수급자", "차상위"]),
    ("장애인", &["장애인"]),
];

/// Words that claim someone gets something free or is eligible for it.
const FREE: &[&str] = &["무료", "공짜", "무상", "돈 안", "돈안", "비용 없이", "비용없이"];
const ELIGIBLE: &[&str] =
    &["대상입니다", "대상이에요", "대상이십니다", "대상이 됩니다", "해당됩니다", "해당하십니다", "대상에 포함"];
/// A caller's eligibility question ("…무료로 맞을 수 있나요?").
const ASKS_ELIGIBILITY: &[&str] = &["무료", "공짜", "무상", "대상", "돈 안", "지원"];
/// A first sentence that answers yes.
const YES: &[&str] = &["네", "예", "네네", "그렇습니다", "맞습니다", "물론입니다", "물론"];
/// A first sentence that answers no.
const NO: &[&str] = &["아니요", "아뇨", "아니오", "아니에요", "아닙니다"];
/// Words that ask for something other than a yes or a no.
const WH_WORDS: &[&str] = &[
    "누구",
    "누가",
    "언제",
    "어디",
    "뭐",
    "무엇",
    "뭘",
    "무슨",
    "어떻게",
    "어떡",
    "어떤",
    "어때",
    "왜",
    "얼마",
    "몇",
    "어느",
    "며칠",
];

/// Conversational words a faithful answer may use though the passage does not.
const CONVERSATIONAL: &[&str] = &[
    "네",
    "예",
    "아니",
    "아닙",
    "아닌",
    "감사",
    "문의",
    "상담",
    "연결",
    "전화",
    "말씀",
    "안내",
    "확인",
    "자세",
    "궁금",
    "도움",
    "가능",
    "필요",
    "경우",
    "다만",
    "그리",
    "또한",
    "하지",
    "그러",
    "따라",
    "위해",
    "있습",
    "없습",
    "합니",
    "됩니",
    "드립",
    "주세",
    "바랍",
    "하시",
    "받으",
    "보시",
    "해당",
    "관련",
    "정보",
    "내용",
    "자료",
    "현재",
    "일반",
    "보통",
    "대해",
    "대한",
    "통해",
    "같은",
    "이런",
    "그런",
    "저희",
    "질병",
    "관리",
    "콜센",
    "센터",
    "보건",
    "의료",
    "기관",
    "병원",
    "진료",
    "의사",
    "받아",
    "받을",
    "받으",
    "드릴",
    "드려",
    "좋습",
    "좋겠",
    "권장",
    "권고",
    "주의",
    "참고",
    "먼저",
    "바로",
    "가까",
    "지역",
    "여러",
    "모든",
    "이상",
    "이하",
    "미만",
    "사이",
    "동안",
    "정도",
    "까지",
    "부터",
    "에서",
    "으로",
    "하고",
    "있는",
    "없는",
    "하는",
    "되는",
    "것이",
    "것은",
    "수도",
    "그리고",
    "그래서",
    "또는",
    "혹시",
    "우선",
    "아직",
    "항상",
    "꼭",
    "반드",
    "최근",
    "지금",
    "이후",
    "이전",
    "뒤에",
    "후에",
    "때문",
    "중요",
    "예방",
    "증상",
    "치료",
    "접종",
    "백신",
    "검사",
    "감염",
    "의심",
    "상태",
    "말씀드",
    "알려",
    "알려드",
    "있으",
    "없으",
    "하세",
    "주시",
    "해주",
    "맞으",
    "맞을",
    "맞아",
    "맞습",
    "되세",
    "하며",
];

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

fn compact(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Korean tens said with native words ("마흔", "일흔"), as years.
const NATIVE_TENS: &[(&str, u32)] = &[
    ("스물", 20),
    ("스무", 20),
    ("서른", 30),
    ("마흔", 40),
    ("쉰", 50),
    ("예순", 60),
    ("일흔", 70),
    ("여든", 80),
    ("아흔", 90),
];
const SINO_TENS: &[(&str, u32)] =
    &[("이십", 20), ("삼십", 30), ("사십", 40), ("오십", 50), ("육십", 60), ("칠십", 70), ("팔십", 80), ("구십", 90)];

/// The ages a caller or a sentence names: "40대", "마흔", "일흔 살",
/// "70세", "65세 이상", "생후 6개월", "9살".
pub fn caller_ages(text: &str) -> Vec<Ages> {
    static DIGITS: OnceLock<Regex> = OnceLock::new();
    let digits = re(&DIGITS, r"(\d+)\s*(대|세|살|개월)\s*(이상|이하|미만|초과|이후|넘)?");
    let mut out = Vec::new();
    for c in digits.captures_iter(text) {
        let Ok(n) = c[1].parse::<u32>() else { continue };
        if narrowed_by_group(&text[c.get(0).expect("match").end()..]) {
            continue;
        }
        let q = c.get(3).map(|m| m.as_str());
        let span = match &c[2] {
            "대" if n % 10 == 0 && (10..=90).contains(&n) => Ages { lo: n * 12, hi: (n + 9) * 12 + 11 },
            "대" => continue,
            "개월" => Ages { lo: n, hi: n },
            _ => Ages { lo: n * 12, hi: n * 12 + 11 },
        };
        out.push(qualify(span, q));
    }
    let flat = compact(text);
    for (word, years) in NATIVE_TENS.iter().chain(SINO_TENS) {
        for (i, _) in flat.match_indices(word) {
            let rest = &flat[i + word.len()..];
            if SINO_TENS.iter().any(|(w, _)| w == word) && !rest.starts_with('대') && !rest.starts_with('세') {
                continue; // "사십" alone is a number, not an age
            }
            if rest.starts_with('대') {
                out.push(Ages { lo: years * 12, hi: (years + 9) * 12 + 11 });
            } else {
                out.push(Ages { lo: years * 12, hi: (years + 9) * 12 + 11 }.min_years(*years, rest));
            }
        }
    }
    out
}

impl Ages {
    /// "일흔" alone: seventy-something unless a unit digit follows ("일흔다섯").
    fn min_years(self, years: u32, rest: &str) -> Ages {
        const UNITS: &[(&str, u32)] = &[
            ("하나", 1),
            ("한", 1),
            ("둘", 2),
            ("두", 2),
            ("셋", 3),
            ("세", 3),
            ("넷", 4),
            ("네", 4),
            ("다섯", 5),
            ("여섯", 6),
            ("일곱", 7),
            ("여덟", 8),
            ("아홉", 9),
        ];
        match UNITS.iter().find(|(w, _)| rest.starts_with(w)) {
            Some((_, u)) => Ages { lo: (years + u) * 12, hi: (years + u) * 12 + 11 },
            None if rest.starts_with('살') || rest.starts_with('세') => Ages { lo: years * 12, hi: years * 12 + 11 },
            None => self,
        }
    }
}

fn qualify(span: Ages, q: Option<&str>) -> Ages {
    match q {
        Some("이상" | "이후" | "넘") => Ages { lo: span.lo, hi: NO_LIMIT },
        Some("초과") => Ages { lo: span.hi + 1, hi: NO_LIMIT },
        Some("이하") => Ages { lo: 0, hi: span.hi },
        Some("미만") => Ages { lo: 0, hi: span.lo.saturating_sub(1) },
        _ => span,
    }
}

/// The age spans a passage sentence states: "65세 이상", "생후 6개월부터
/// 13세", "12개월에서 23개월", "만 12세 이하", "만 4세에서 6세".
pub fn passage_ages(text: &str) -> Vec<Ages> {
    static AGE: OnceLock<Regex> = OnceLock::new();
    let age = re(&AGE, r"(\d+)\s*(세|개월|살)\s*(이상|이하|미만|초과|이후|부터|에서|까지)?");
    let mut out = Vec::new();
    let mut open: Option<Ages> = None;
    let mut last_end = 0;
    for c in age.captures_iter(text) {
        let Ok(n) = c[1].parse::<u32>() else { continue };
        let m = c.get(0).expect("match");
        let span = if &c[2] == "개월" { Ages { lo: n, hi: n } } else { Ages { lo: n * 12, hi: n * 12 + 11 } };
        // "생후 6개월 이상 면역저하자": that age only for that group.
        let keep = |a: Ages| (!narrowed_by_group(&text[m.end()..])).then_some(a);
        // A range's two ends are close together ("6개월부터 13세").
        if let Some(start) = open.take() {
            if m.start() - last_end <= 12 {
                out.extend(keep(Ages { lo: start.lo, hi: span.hi }));
                last_end = m.end();
                continue;
            }
            out.push(start);
        }
        match c.get(3).map(|q| q.as_str()) {
            Some("부터" | "에서") => open = Some(span),
            q => out.extend(keep(qualify(span, q))),
        }
        last_end = m.end();
    }
    out.extend(open);
    out
}

/// Whether the words after an age name a group that narrows it ("… 이상
/// 면역저하자", "… 저소득층 여성"), not one the age already implies.
fn narrowed_by_group(rest: &str) -> bool {
    let next = rest.split_whitespace().next().unwrap_or("");
    GROUPS
        .iter()
        .filter(|(g, _)| !["어린이", "어르신", "청소년"].contains(g))
        .any(|(_, words)| words.iter().any(|w| next.starts_with(w)))
}

fn groups_in(text: &str) -> Vec<&'static str> {
    let flat = compact(text);
    GROUPS.iter().filter(|(_, words)| words.iter().any(|w| flat.contains(&compact(w)))).map(|(g, _)| *g).collect()
}

/// Negation markers in one clause (their count's parity is its polarity).
fn negations(clause: &str) -> usize {
    let mut n = 0;
    for w in clause.split_whitespace() {
        let w: String = w.chars().filter(|c| is_hangul(*c)).collect();
        if w.is_empty() {
            continue;
        }
        // Adnominal forms ("대상이 아닌 분", "증상이 없는 경우") qualify a noun,
        // not the clause's predicate.
        if ["닌", "없는", "않는", "않은", "없던"].iter().any(|x| w.ends_with(x)) {
            continue;
        }
        // "없어지다" (to disappear) and "없애다" (to remove) deny nothing.
        let neutral = [
            "관계없",
            "상관없",
            "빠짐없",
            "틀림없",
            "어김없",
            "없이",
            "없어지",
            "없어져",
            "없어질",
            "없애",
            "없앨",
            "없앤",
        ]
        .iter()
        .any(|x| w.contains(x));
        if w.contains("없") && !neutral {
            n += 1;
        }
        if w.contains("않") {
            n += 1;
        }
        if w == "안" || w.starts_with("안되") || w.starts_with("안돼") || w.starts_with("안됩") {
            n += 1;
        }
        if w == "못" || w.starts_with("못하") || w.starts_with("못해") {
            n += 1;
        }
        if w.starts_with("아니") || w.starts_with("아닙") || w.starts_with("아닌") || w.starts_with("아닐") {
            n += 1;
        }
        if ["마세요", "마십시오", "말고", "말며", "말아", "말아야", "금지", "불가"].iter().any(|x| w.contains(x))
        {
            n += 1;
        }
    }
    n
}

fn negative(clause: &str) -> bool {
    negations(clause) % 2 == 1
}

/// Clauses: sentences cut at commas and at clause-joining endings.
fn clauses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for s in crate::dialog::brain::sentences(text) {
        let mut cur = String::new();
        for w in s.split_whitespace() {
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(w);
            let bare = w.trim_end_matches([',', '.', '?', '!']);
            let joins = w.ends_with(',')
                || [
                    "지만", "으나", "는데", "으며", "하며", "되며", "없고", "않고", "있고", "하고", "되고", "이고",
                    "으니", "므로", "니까",
                ]
                .iter()
                .any(|e| bare.ends_with(e) && bare.chars().count() > 2);
            if joins {
                out.push(std::mem::take(&mut cur));
            }
        }
        if !cur.trim().is_empty() {
            out.push(cur);
        }
    }
    out
}

/// The first two syllables of each content word but the clause's last (its
/// predicate, which carries the polarity).
fn content_stems(clause: &str) -> HashSet<String> {
    let words: Vec<String> = clause
        .split_whitespace()
        .map(|w| w.chars().filter(|c| is_hangul(*c) || c.is_ascii_alphanumeric()).collect::<String>())
        .filter(|w| w.chars().count() >= 2)
        .collect();
    let n = words.len().saturating_sub(1);
    words[..n]
        .iter()
        .filter(|w| !w.starts_with(|c: char| c.is_ascii_digit()))
        .map(|w| w.chars().take(2).collect::<String>())
        .filter(|s| {
            !["그리", "하지", "또한", "다만", "현재", "보통", "특히", "바로", "먼저", "있는", "없는"]
                .contains(&s.as_str())
        })
        .collect()
}

/// Native-word numbers with a counter ("두 번", "세 알", "이틀"), as values.
pub fn word_numbers(text: &str) -> Vec<u32> {
    static NATIVE: OnceLock<Regex> = OnceLock::new();
    let native =
        re(&NATIVE, r"(한|두|세|네|다섯|여섯|일곱|여덟|아홉|열)\s*(번|차례|달|시간|주|알|정|명|가지|살|캡슐|봉)");
    let mut out = Vec::new();
    for c in native.captures_iter(text) {
        // "한 번" is as often "once more, please" as a count; "한 달" a month.
        let v = match &c[1] {
            "한" => 1,
            "두" => 2,
            "세" => 3,
            "네" => 4,
            "다섯" => 5,
            "여섯" => 6,
            "일곱" => 7,
            "여덟" => 8,
            "아홉" => 9,
            _ => 10,
        };
        // "세" before a counter is also the age "세": only a word boundary before it.
        let start = c.get(0).expect("match").start();
        if start > 0 && !text[..start].ends_with(char::is_whitespace) {
            continue;
        }
        out.push(v);
    }
    for (w, v) in
        [("하루", 1), ("이틀", 2), ("사흘", 3), ("나흘", 4), ("닷새", 5), ("열흘", 10), ("보름", 15), ("일주일", 7)]
    {
        if text.contains(w) {
            out.push(v);
        }
    }
    out
}

fn digit_numbers(text: &str) -> Vec<u32> {
    static D: OnceLock<Regex> = OnceLock::new();
    re(&D, r"\d+").find_iter(text).filter_map(|m| m.as_str().parse().ok()).collect()
}

/// Letters and digits of a word, its punctuation dropped.
fn bare_word(w: &str) -> String {
    w.chars().filter(|c| is_hangul(*c) || c.is_ascii_alphanumeric()).collect()
}

/// A sentence's topic: its first word when that ends in the topic particle
/// 은/는 ("결핵은", "잠복결핵감염은", "임신부는"), less the particle; not an
/// adverbial with 는 ("소독제로는", "집에서는") or an adnominal ("맞은").
fn topic(sentence: &str) -> Option<String> {
    let w = bare_word(sentence.split_whitespace().next()?);
    let stem = w.strip_suffix('은').or_else(|| w.strip_suffix('는'))?;
    let adverbial = ["로", "에", "서", "와", "과", "도", "지", "터", "게", "테", "께", "만"];
    (stem.chars().count() >= 2 && !adverbial.iter().any(|a| stem.ends_with(a))).then(|| stem.to_string())
}

/// Whether `narrow` names a kind of `whole` by a word in front of it
/// ("잠복결핵감염" of "결핵"): what is true of the one is not of the other.
fn qualifies(narrow: &str, whole: &str) -> bool {
    narrow.find(whole).is_some_and(|i| i > 0)
}

/// Whether the caller asked for a yes or a no. A follow-up with no verb of
/// its own ("그럼 아이들은요?", "…맞았으면요?") asks what the turn before asked.
fn asks_yes_no(asked: &Asked) -> bool {
    let q = compact(asked.question);
    let q = q.trim_end_matches(['?', '.', '!', '？']);
    let elliptic =
        ["은요", "는요", "도요", "면요"].iter().any(|e| q.ends_with(e)) || q.ends_with('은') || q.ends_with('는');
    let q = match asked.previous {
        Some(p) if elliptic => compact(p),
        _ => q.to_string(),
    };
    !WH_WORDS.iter().any(|w| q.contains(w))
}

/// Stems of the words a sentence adds to a condition of its own: the
/// condition ("백일해로 진단되면") and what it leads to, split at the first
/// word ending in 면 that is not the sentence's last; the topic left out.
fn condition(s: &str) -> Option<(HashSet<String>, String, String)> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let i = words.iter().position(|w| {
        let b = bare_word(w);
        b.ends_with('면') && b.chars().count() >= 2
    })?;
    if i + 1 >= words.len() {
        return None;
    }
    let skip = usize::from(topic(s).is_some());
    let cond: HashSet<String> = words[skip.min(i)..=i]
        .iter()
        .map(|w| bare_word(w))
        .filter(|w| w.chars().count() >= 2 && !w.starts_with(|c: char| c.is_ascii_digit()))
        .map(|w| w.chars().take(2).collect())
        .collect();
    let verb: String = bare_word(words[i]).chars().take(2).collect();
    Some((cond, verb, words[i + 1..].join(" ")))
}

/// The passage's sentences that state the condition: a word ending in 면
/// with the same stem as `verb`, after every other stem of `cond`; each with
/// what follows its condition.
fn stated_conditions<'p>(passage: &'p Passage, cond: &HashSet<String>, verb: &str) -> Vec<&'p str> {
    let mut out = Vec::new();
    for p in &passage.sentences {
        let words: Vec<&str> = p.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let b = bare_word(w);
            if !b.ends_with('면') || !b.starts_with(verb) {
                continue;
            }
            let before: String = words[..=i].iter().map(|w| bare_word(w)).collect();
            if cond.iter().all(|c| before.contains(c.as_str())) {
                let rest = words[i + 1..].join(" ");
                let start = p.len() - rest.len();
                out.push(&p[start..]);
            }
        }
    }
    out
}

fn overlap(a: &HashSet<String>, b: &HashSet<String>) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    a.intersection(b).count() as f32 / a.len().min(b.len()) as f32
}

/// A claim of the sentence that the passage makes only of something
/// narrower than the sentence's topic, or only without the sentence's
/// condition.
fn misattributed(s: &str, passage: &Passage, asked: &Asked) -> Result<(), Failure> {
    let said_topic = topic(s);
    if let Some(t) = &said_topic {
        let t_stem: String = t.chars().take(2).collect();
        for c in clauses(s) {
            let mut stems = content_stems(&c);
            stems.remove(&t_stem);
            if stems.len() < 2 {
                continue;
            }
            let negative = negative(&c);
            let matched: Vec<&Clause> = passage
                .clauses
                .iter()
                .filter(|p| p.negative == negative && p.stems.len() >= 2 && overlap(&stems, &p.stems) >= 0.6)
                .collect();
            if let Some(narrow) = matched.first().and_then(|p| p.topic.as_ref()) {
                let all_narrower = matched.iter().all(|p| p.topic.as_ref().is_some_and(|pt| qualifies(pt, t)));
                if all_narrower {
                    return fail(
                        Kind::Misattributed,
                        format!("says of {t} what the passage says of {narrow}: \"{}\"", matched[0].text.trim()),
                    );
                }
            }
        }
    }
    if let Some((cond, verb, result)) = condition(s) {
        let question = compact(&format!("{} {}", asked.question, asked.previous.unwrap_or("")));
        let callers = cond.iter().all(|c| question.contains(c.as_str()));
        let said = content_stems(&result);
        let stated = stated_conditions(passage, &cond, &verb);
        if !callers && cond.len() >= 2 && said.len() >= 2 && !stated.is_empty() {
            let follows = stated.iter().any(|rest| overlap(&said, &content_stems(rest)) >= 0.5);
            let elsewhere = passage.clauses.iter().find(|p| p.stems.len() >= 2 && overlap(&said, &p.stems) >= 0.6);
            if let (false, Some(p)) = (follows, elsewhere) {
                return fail(
                    Kind::Misattributed,
                    format!(
                        "binds a condition of the passage to \"{}\", which the passage says without it",
                        p.text.trim()
                    ),
                );
            }
        }
    }
    Ok(())
}

/// Words that tell a caller to take a medicine, and doses.
const MEDICINES: &[&str] = &[
    "해열제",
    "진통제",
    "타이레놀",
    "항생제",
    "항바이러스제",
    "타미플루",
    "감기약",
    "소화제",
    "수액",
    "스테로이드",
    "아스피린",
    "이부프로펜",
];
const TAKE: &[&str] = &["드세요", "드시", "복용", "먹이", "드셔", "먹으면", "먹어", "투여", "처방받"];
const DOSE_UNITS: &[&str] = &["mg", "밀리그램", "ml", "밀리리터", "알씩", "정씩", "캡슐", "알을", "알 ", "cc"];
/// Phrases that state what the caller has.
const DIAGNOSIS: &[&str] = &[
    "가능성이 높",
    "가능성이 큽",
    "확실합니다",
    "것 같습니다",
    "로 보입니다",
    "으로 보입니다",
    "걸리신 것",
    "걸리셨",
    "감염되셨",
    "일 것입니다",
    "이 맞습니다",
    "진단됩니다",
    "확진입니다",
];

/// A clause of the passage: its content stems, polarity, whom it is about,
/// and its sentence's topic.
struct Clause {
    stems: HashSet<String>,
    negative: bool,
    text: String,
    ages: Vec<Ages>,
    groups: Vec<&'static str>,
    topic: Option<String>,
}

impl Clause {
    fn of(text: String) -> Clause {
        Clause {
            stems: content_stems(&text),
            negative: negative(&text),
            ages: caller_ages(&text),
            groups: groups_in(&text),
            text,
            topic: None,
        }
    }

    fn in_sentence(text: String, topic: &Option<String>) -> Clause {
        Clause { topic: topic.clone(), ..Clause::of(text) }
    }

    /// Whether two clauses may be about the same people: either names
    /// nobody, or they share an age or a group.
    fn same_subject(&self, other: &Clause) -> bool {
        (self.ages.is_empty() && self.groups.is_empty())
            || (other.ages.is_empty() && other.groups.is_empty())
            || self.ages.iter().any(|a| other.ages.iter().any(|b| a.within(b) || b.within(a)))
            || self.groups.iter().any(|g| other.groups.contains(g))
    }
}

/// The passage's facts, worked out once per answer.
pub struct Passage {
    text: String,
    flat: String,
    sentences: Vec<String>,
    clauses: Vec<Clause>,
    free: bool,
    free_ages: Vec<Ages>,
    free_groups: Vec<&'static str>,
    numbers: HashSet<u32>,
}

impl Passage {
    pub fn of(entry: &Entry) -> Passage {
        Passage::from_text(&format!("{}. {} {}", entry.title.get_ref(), entry.spoken.get_ref(), entry.answer.get_ref()))
    }

    pub fn from_text(text: &str) -> Passage {
        let sentences = crate::dialog::brain::sentences(text);
        let granting: Vec<&String> = sentences
            .iter()
            .filter(|s| FREE.iter().chain(["대상", "국가예방접종"].iter()).any(|w| s.contains(w)))
            .collect();
        let mut numbers: HashSet<u32> = digit_numbers(text).into_iter().chain(word_numbers(text)).collect();
        numbers.extend([119, 1339]);
        let clauses = sentences
            .iter()
            .flat_map(|s| {
                let t = topic(s);
                clauses(s).into_iter().map(move |c| Clause::in_sentence(c, &t))
            })
            .collect();
        Passage {
            text: text.to_string(),
            flat: compact(text),
            clauses,
            free: FREE.iter().any(|w| text.contains(w)),
            free_ages: granting.iter().flat_map(|s| passage_ages(s)).collect(),
            free_groups: granting.iter().flat_map(|s| groups_in(s)).collect(),
            numbers,
            sentences,
        }
    }

    fn lists_age(&self, a: &Ages) -> bool {
        self.free_ages.iter().any(|p| a.within(p))
    }

    fn lists_group(&self, g: &str) -> bool {
        self.free_groups.contains(&g)
    }
}

/// What the caller asked: this turn and, for a follow-up ("그럼 40대는요?"),
/// the turn before.
#[derive(Debug, Clone, Default)]
pub struct Asked<'a> {
    pub question: &'a str,
    pub previous: Option<&'a str>,
}

impl Asked<'_> {
    /// The ages and groups the caller is asking about: this turn's, else the last turn's.
    fn who(&self) -> (Vec<Ages>, Vec<&'static str>) {
        for q in std::iter::once(self.question).chain(self.previous) {
            let (a, g) = (caller_ages(q), groups_in(q));
            if !a.is_empty() || !g.is_empty() {
                return (a, g);
            }
        }
        (Vec::new(), Vec::new())
    }

    fn about_eligibility(&self) -> bool {
        std::iter::once(self.question).chain(self.previous).any(|q| ASKS_ELIGIBILITY.iter().any(|w| q.contains(w)))
    }
}

/// Checks `text` (one or more new sentences) against the passage. `first`:
/// these are the answer's first sentences (a yes/no opening is judged).
pub fn check(text: &str, passage: &Passage, asked: &Asked, first: bool) -> Result<(), Failure> {
    let sentences = crate::dialog::brain::sentences(text);
    for (i, s) in sentences.iter().enumerate() {
        check_sentence(s, passage, asked, first && i == 0)?;
    }
    Ok(())
}

/// Whether `s` says `word` ("무료") of someone, not "무료 대상이 아닌 분".
fn free_claimed(s: &str, word: &str) -> bool {
    s.match_indices(word).any(|(i, _)| {
        let after: String = s[i + word.len()..].chars().take(8).collect();
        !["아닌", "아니", "아닙", "않", "없"].iter().any(|n| after.contains(n))
    })
}

/// An age or a group the passage does not make free or eligible; None when
/// all named are listed.
fn unlisted(passage: &Passage, ages: &[Ages], groups: &[&'static str]) -> Option<String> {
    if let Some(a) = ages.iter().find(|a| !passage.lists_age(a)) {
        return Some(format!("age {}–{} years", a.lo / 12, a.hi.min(NO_LIMIT) / 12));
    }
    // A named age decides; group words ("아이") only when no age is given.
    if !ages.is_empty() {
        return None;
    }
    groups.iter().find(|g| !passage.lists_group(g)).map(|g| format!("group {g}"))
}

fn check_sentence(s: &str, passage: &Passage, asked: &Asked, first: bool) -> Result<(), Failure> {
    let neg = negative(s);
    let (q_ages, q_groups) = asked.who();
    // Eligibility: a positive free/eligible claim.
    let claims_free = FREE.iter().any(|w| free_claimed(s, w));
    let claims_eligible = ELIGIBLE.iter().any(|w| s.contains(w));
    if (claims_free || claims_eligible) && !neg {
        if claims_free && !passage.free {
            return fail(Kind::Eligibility, "says something is free; the passage does not".into());
        }
        let (s_ages, s_groups) = (caller_ages(s), groups_in(s));
        let named = if s_ages.is_empty() && s_groups.is_empty() {
            unlisted(passage, &q_ages, &q_groups)
        } else {
            unlisted(passage, &s_ages, &s_groups)
        };
        if let Some(who) = named {
            return fail(Kind::Eligibility, format!("claims eligibility for {who}, which the passage does not list"));
        }
    }
    // "…맞을 수 있습니다" to "…무료예요?" (this turn's or the last's) for
    // someone the passage does not list is a yes too, unless it says at a cost.
    let can = ["맞을 수 있", "맞으실 수 있", "받을 수 있", "받으실 수 있", "접종이 가능", "가능합니다"];
    let at_cost = ["비용", "유료", "돈을 내", "자비"];
    if asked.about_eligibility() && !neg && can.iter().any(|w| s.contains(w)) && !at_cost.iter().any(|w| s.contains(w))
    {
        let (s_ages, s_groups) = (caller_ages(s), groups_in(s));
        let named = if s_ages.is_empty() && s_groups.is_empty() {
            unlisted(passage, &q_ages, &q_groups)
        } else {
            unlisted(passage, &s_ages, &s_groups)
        };
        if let Some(who) = named {
            return fail(Kind::YesNo, format!("asked if it is free, says {who} can have it"));
        }
    }
    // A "네" to "…무료예요?" for someone the passage does not list.
    if first && asked.about_eligibility() {
        let opening: String = s.chars().take_while(|c| is_hangul(*c)).collect();
        if YES.contains(&opening.as_str()) {
            if let Some(who) = unlisted(passage, &q_ages, &q_groups) {
                return fail(Kind::YesNo, format!("answers yes for {who}, which the passage does not list"));
            }
        }
    }
    // "아니요" to a question that asks for something else; "네, … 없지만".
    if first && !asks_yes_no(asked) {
        let opening: String = s.chars().take_while(|c| is_hangul(*c)).collect();
        let says_no = NO.contains(&opening.as_str());
        let rest = s[opening.len()..].trim_start_matches([',', '.', ' ']);
        let yes_then_no = YES.contains(&opening.as_str()) && clauses(rest).first().is_some_and(|c| negative(c));
        if says_no || yes_then_no {
            return fail(Kind::YesNo, format!("opens with \"{opening}\" to a question that asks no yes or no"));
        }
    }
    misattributed(s, passage, asked)?;
    // Negation: the clause the sentence restates says the opposite.
    for c in clauses(s) {
        let c = Clause::of(c);
        if c.stems.len() < 2 {
            continue;
        }
        let score = |p: &Clause| {
            if !c.same_subject(p) || p.stems.len() < 2 {
                return 0.0;
            }
            c.stems.intersection(&p.stems).count() as f32 / c.stems.len().min(p.stems.len()) as f32
        };
        let best = |negative: bool| {
            passage.clauses.iter().filter(|p| p.negative == negative).max_by(|a, b| score(a).total_cmp(&score(b)))
        };
        let same = best(c.negative).map_or(0.0, score);
        if let Some(other) = best(!c.negative).filter(|p| score(p) >= 0.6 && score(p) > same + 0.15) {
            let says = if c.negative { "denies" } else { "affirms" };
            return fail(
                Kind::Negation,
                format!("{says} what the passage says the other way: \"{}\"", other.text.trim()),
            );
        }
    }
    // Medicine and doses the passage does not give; diagnoses.
    let flat = compact(s);
    if let Some(m) = MEDICINES.iter().find(|m| s.contains(*m) && !passage.text.contains(*m)) {
        return fail(Kind::Advice, format!("names {m}, which the passage does not"));
    }
    if MEDICINES.iter().any(|m| s.contains(m))
        && TAKE.iter().any(|t| s.contains(t))
        && !TAKE.iter().any(|t| passage.text.contains(t))
    {
        return fail(Kind::Advice, "tells the caller to take a medicine".into());
    }
    if let Some(u) = DOSE_UNITS.iter().find(|u| s.contains(*u) && !passage.text.contains(*u)) {
        return fail(Kind::Advice, format!("gives a dose ({})", u.trim()));
    }
    if let Some(d) = DIAGNOSIS.iter().find(|d| flat.contains(&compact(d)) && !passage.flat.contains(&compact(d))) {
        return fail(Kind::Advice, format!("reads as a diagnosis ({d})"));
    }
    // Numbers said as words ("세 번", "이틀"): digits are grounding's.
    if let Some(n) = word_numbers(s).into_iter().find(|n| !passage.numbers.contains(n)) {
        return fail(Kind::Number, format!("number {n} (in words) is not in the passage"));
    }
    // Invented content: words neither the passage nor the caller used.
    let question = compact(&format!("{} {}", asked.question, asked.previous.unwrap_or("")));
    let mut content = 0usize;
    let mut unsupported = Vec::new();
    for w in s.split_whitespace() {
        if w.starts_with(|c: char| c.is_ascii_digit()) {
            continue; // "40대는": digits are checked as numbers
        }
        let w: String = w.chars().filter(|c| is_hangul(*c)).collect();
        if w.chars().count() < 2 {
            continue;
        }
        let stem: String = w.chars().take(2).collect();
        if CONVERSATIONAL.iter().any(|c| w.starts_with(c)) {
            continue;
        }
        content += 1;
        if !passage.flat.contains(&stem) && !question.contains(&stem) {
            unsupported.push(w);
        }
    }
    if unsupported.len() > MAX_UNSUPPORTED && unsupported.len() as f32 > MAX_UNSUPPORTED_SHARE * content as f32 {
        return fail(Kind::Unsupported, format!("words the passage does not support: {}", unsupported.join(", ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kb::KnowledgeBase;
    use std::path::Path;

    fn kb() -> KnowledgeBase {
        KnowledgeBase::parse(Path::new("kb/1339.toml"), include_str!("../../kb/1339.toml")).expect("kb")
    }

    fn passage(id: &str) -> Passage {
        Passage::of(kb().entry(id).expect("entry"))
    }

    fn ask(q: &str) -> Asked<'_> {
        Asked { question: q, previous: None }
    }

    fn kind(r: Result<(), Failure>) -> Option<Kind> {
        r.err().map(|f| f.kind)
    }

    #[test]
    fn ages_are_read() {
        assert_eq!(caller_ages("40대인데"), vec![Ages { lo: 480, hi: 49 * 12 + 11 }]);
        assert_eq!(caller_ages("우리 어머니 일흔이신데"), vec![Ages { lo: 840, hi: 79 * 12 + 11 }]);
        assert_eq!(caller_ages("일흔다섯 살"), vec![Ages { lo: 75 * 12, hi: 75 * 12 + 11 }]);
        assert_eq!(caller_ages("9살 아이"), vec![Ages { lo: 108, hi: 119 }]);
        assert_eq!(caller_ages("65세 이상"), vec![Ages { lo: 780, hi: NO_LIMIT }]);
        assert_eq!(
            passage_ages("생후 6개월부터 13세 어린이, 임신부, 65세 이상 어르신"),
            vec![Ages { lo: 6, hi: 13 * 12 + 11 }, Ages { lo: 780, hi: NO_LIMIT }]
        );
        assert_eq!(passage_ages("만 12세 이하 어린이"), vec![Ages { lo: 0, hi: 155 }]);
        assert_eq!(passage_ages("65세 이상 어르신, 생후 6개월 이상 면역저하자"), vec![Ages { lo: 780, hi: NO_LIMIT }]);
    }

    #[test]
    fn the_forties_are_not_free_for_flu() {
        let p = passage("flu-vaccine");
        let q = ask("40대인데 무료로 맞을 수 있나요?");
        assert_eq!(kind(check("네, 인플루엔자 예방접종은 무료입니다.", &p, &q, true)), Some(Kind::Eligibility));
        assert_eq!(kind(check("네, 가까운 보건소에서 맞으실 수 있습니다.", &p, &q, true)), Some(Kind::YesNo));
        assert_eq!(kind(check("40대도 무료 대상입니다.", &p, &q, true)), Some(Kind::Eligibility));
        // Restating who is free is faithful; so is saying no.
        assert_eq!(
            check("65세 이상 어르신과 임신부, 생후 6개월부터 13세 어린이가 무료 대상입니다.", &p, &q, true),
            Ok(())
        );
        assert_eq!(check("40대는 무료 대상이 아닙니다.", &p, &q, true), Ok(()));
    }

    /// What Qwen2.5-Coder 0.5B said to the trap set (`sori eval traps`).
    #[test]
    fn what_the_small_model_said() {
        let p = passage("flu-vaccine");
        let q = ask("40대인데 독감 주사 무료로 맞을 수 있나요?");
        assert_eq!(kind(check("40대에 독감 주사 무료로 맞을 수 있습니다.", &p, &q, true)), Some(Kind::Eligibility));
        let q = ask("대학생도 인플루엔자 백신 무료인가요?");
        assert_eq!(kind(check("대학생도 인플루엔자 백신 무료입니다.", &p, &q, true)), Some(Kind::Eligibility));
        let q = ask("회사원도 보건소에서 독감 주사 무료로 맞을 수 있죠?");
        let said = "네, 회원도 보건소에서 독감 주사 무료로 맞을 수 있습니다.";
        assert_eq!(kind(check(said, &p, &q, true)), Some(Kind::Eligibility));
        assert_eq!(
            check("4주 간격으로 맞습니다.", &p, &ask("아이가 처음 독감 주사 맞을 때 몇 주 간격으로 맞아요?"), true),
            Ok(())
        );
        // and 1.5B, to a follow-up after "폐렴구균 예방접종 무료예요?"
        let pn = passage("adult-pneumococcal");
        let asked = Asked {
            question: "그럼 예순 살이면요?", previous: Some("폐렴구균 예방접종 무료예요?")
        };
        let said = "예순 살이면 폐렴구균 예방접종을 받을 수 있습니다.";
        assert_eq!(kind(check(said, &pn, &asked, true)), Some(Kind::YesNo));
        let c = passage("covid19-vaccine");
        let asked = ask("50대인데 코로나 백신 무료예요?");
        let said = "무료 대상이 아닌 분은 의료기관에서 비용을 내고 맞을 수 있습니다.";
        assert_eq!(check(said, &c, &asked, true), Ok(()));
        assert_eq!(check("50대는 비용을 내고 맞으실 수 있습니다.", &c, &asked, true), Ok(()));
    }

    #[test]
    fn listed_callers_may_hear_yes() {
        let p = passage("flu-vaccine");
        assert_eq!(
            check("네, 무료로 맞으실 수 있습니다.", &p, &ask("우리 아버지 일흔이신데 독감 주사 공짜예요?"), true),
            Ok(())
        );
        assert_eq!(check("네, 임신부는 무료 대상입니다.", &p, &ask("임신 중인데 독감 주사 무료예요?"), true), Ok(()));
        let hpv = passage("hpv-vaccine");
        assert_eq!(
            kind(check("네, 무료로 맞을 수 있습니다.", &hpv, &ask("대학생인데 HPV 백신 무료예요?"), true)),
            Some(Kind::Eligibility)
        );
        assert_eq!(kind(check("네.", &hpv, &ask("대학생인데 HPV 백신 무료예요?"), true)), Some(Kind::YesNo));
    }

    #[test]
    fn a_follow_up_is_judged_with_the_turn_before() {
        let p = passage("covid19-vaccine");
        let asked = Asked {
            question: "그럼 50대는요?", previous: Some("코로나 백신 무료로 맞을 수 있어요?")
        };
        assert_eq!(kind(check("네, 무료로 맞으실 수 있습니다.", &p, &asked, true)), Some(Kind::Eligibility));
    }

    #[test]
    fn free_where_the_passage_says_nothing_is_free() {
        let p = passage("mpox");
        assert_eq!(
            kind(check("엠폭스 예방접종은 무료입니다.", &p, &ask("엠폭스 백신 무료예요?"), true)),
            Some(Kind::Eligibility)
        );
    }

    #[test]
    fn negation_mismatches_fail() {
        let p = passage("covid19-isolation");
        let q = ask("코로나 걸리면 격리 의무 있어요?");
        assert_eq!(kind(check("코로나19는 법적인 격리 의무가 있습니다.", &p, &q, true)), Some(Kind::Negation));
        assert_eq!(check("코로나19는 법적인 격리 의무가 없습니다.", &p, &q, true), Ok(()));
        let d = passage("dengue");
        let q = ask("뎅기열 사람한테 옮아요?");
        assert_eq!(kind(check("뎅기열은 사람끼리 직접 옮을 수 있습니다.", &d, &q, true)), Some(Kind::Negation));
        let m = passage("mycoplasma");
        let q = ask("마이코플라스마 백신 있어요?");
        assert_eq!(kind(check("네, 마이코플라스마 예방 백신은 있습니다.", &m, &q, true)), Some(Kind::Negation));
    }

    #[test]
    fn numbers_in_words_and_doses_fail() {
        let p = passage("flu-vaccine");
        let q = ask("아이 독감 주사 몇 번 맞아요?");
        assert_eq!(kind(check("처음 맞는 어린이는 세 번 맞습니다.", &p, &q, true)), Some(Kind::Number));
        assert_eq!(check("처음 맞는 9세 미만 어린이는 두 번 맞습니다.", &p, &q, true), Ok(()));
        let s = passage("flu-symptoms");
        let q = ask("독감인데 타이레놀 몇 알 먹어요?");
        assert_eq!(kind(check("타이레놀을 두 알씩 드세요.", &s, &q, true)), Some(Kind::Advice));
        assert_eq!(kind(check("해열제를 하루 세 번 드세요.", &s, &ask("열이 나요"), true)), Some(Kind::Advice));
        assert_eq!(
            kind(check("독감에 걸리셨을 가능성이 높습니다.", &s, &ask("열이 39도예요"), true)),
            Some(Kind::Advice)
        );
    }

    #[test]
    fn invented_content_fails() {
        let p = passage("norovirus");
        let q = ask("노로바이러스 어떻게 예방해요?");
        assert_eq!(
            kind(check("노로바이러스는 유산균 음료와 비타민 주사로 면역력을 높이면 낫습니다.", &p, &q, true)),
            Some(Kind::Unsupported)
        );
        assert_eq!(check("비누로 30초 이상 손을 씻고, 어패류는 충분히 익혀 드세요.", &p, &q, true), Ok(()));
    }

    /// What the models said to `kb/focus.toml` (`sori eval focus`) that the
    /// checks let through, judged false by hand (training/README.md).
    #[test]
    fn what_the_models_said_to_the_focus_set() {
        // The entry: alcohol hand rub does not remove norovirus well.
        let n = passage("norovirus");
        let q = ask("노로바이러스는 알코올 손 소독제로 닦으면 되나요?");
        let said = "노로바이러스는 알코올 손 소독제로 닦으면 되지만, 비누로 30초 이상 손을 씻고 토사물이 묻은 곳은 염소 소독제로 닦아 주세요.";
        assert_eq!(kind(check(said, &n, &q, true)), Some(Kind::Negation));
        let true_one = "알코올 손 소독제로는 잘 없어지지 않으니 비누로 30초 이상 손을 씻어 주세요.";
        assert_eq!(check(true_one, &n, &q, true), Ok(()));
        // Latent infection does not spread; tuberculosis does.
        let t = passage("tuberculosis");
        let q = ask("잠복결핵이면 다른 사람한테 옮기나요?");
        let said = "결핵은 잠복결핵 감염과 같은 감염병으로, 다른 사람에게 옮기지 않으며 치료를 받으면 결핵 발병을 예방할 수 있습니다.";
        assert_eq!(kind(check(said, &t, &q, true)), Some(Kind::Misattributed));
        let true_one = "잠복결핵감염은 다른 사람에게 옮기지 않으며 치료를 받으면 결핵 발병을 예방할 수 있습니다.";
        assert_eq!(check(true_one, &t, &q, true), Ok(()));
        assert_eq!(check("잠복결핵은 다른 사람에게 옮기지 않습니다.", &t, &q, true), Ok(()));
        // The Tdap weeks are for every pregnancy, not after a diagnosis.
        let w = passage("pertussis");
        let q = ask("임신 중인데 백일해 주사는 언제 맞아요?");
        let said = "임신부는 백일해로 진단되면 임신 27주에서 36주 사이에 Tdap 접종이 권장됩니다.";
        assert_eq!(kind(check(said, &w, &q, true)), Some(Kind::Misattributed));
        assert_eq!(check("임신부는 임신 27주에서 36주 사이에 Tdap 접종이 권장됩니다.", &w, &q, true), Ok(()));
        let q = ask("백일해 걸리면 학교는 언제부터 가요?");
        let true_one = "백일해로 진단되면 항생제 치료를 시작하고 5일이 지날 때까지 등교를 쉬어 주세요.";
        assert_eq!(check(true_one, &w, &q, true), Ok(()));
    }

    #[test]
    fn a_yes_or_a_no_only_to_a_yes_no_question() {
        let f = passage("flu-vaccine");
        let asked = Asked {
            question: "그럼 아이들은요?", previous: Some("독감 예방접종은 언제 맞는 게 좋아요?")
        };
        let said = "아니요, 독감 예방접종은 매년 가을에 맞는 것이 좋습니다.";
        assert_eq!(kind(check(said, &f, &asked, true)), Some(Kind::YesNo));
        assert_eq!(check("독감 예방접종은 매년 가을에 시작합니다.", &f, &asked, true), Ok(()));
        // "네" acknowledges; "네" then a denial is a yes that says no.
        assert_eq!(check("네, 독감 예방접종은 매년 가을에 시작합니다.", &f, &asked, true), Ok(()));
        let s = passage("scrub-typhus");
        let asked =
            Asked { question: "그럼 백신은요?", previous: Some("쯔쯔가무시는 어떻게 걸려요?") };
        let said = "네, 백신은 없지만 항생제로 치료할 수 있으므로, 야외 활동 뒤 증상이 있으면 빨리 진료를 받고 야외 활동 사실을 말씀해 주세요.";
        assert_eq!(kind(check(said, &s, &asked, true)), Some(Kind::YesNo));
        // To a yes/no question, and to a follow-up of one, either may open.
        let asked = Asked { question: "그럼 아이들은요?", previous: Some("독감 예방접종 무료예요?") };
        assert_eq!(check("네, 생후 6개월부터 13세 어린이는 무료입니다.", &f, &asked, true), Ok(()));
        let c = passage("covid19-isolation");
        let q = ask("코로나 걸리면 격리 의무 있어요?");
        assert_eq!(check("아니요, 코로나19는 법적인 격리 의무가 없습니다.", &c, &q, true), Ok(()));
    }

    /// Every sentence of every entry, against its own passage, for a question
    /// from the entry: the check must not reject the truth.
    #[test]
    fn every_entrys_own_sentences_pass() {
        let kb = kb();
        let mut bad = Vec::new();
        for e in &kb.entries {
            let p = Passage::of(e);
            let q = &e.questions.get_ref()[0];
            let asked = Asked { question: q, previous: None };
            for s in crate::dialog::brain::sentences(&format!("{} {}", e.spoken.get_ref(), e.answer.get_ref())) {
                if let Err(f) = check(&s, &p, &asked, false) {
                    bad.push(format!("{}: {s} → {f:?}", e.id.get_ref()));
                }
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }
}
