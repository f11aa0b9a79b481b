//! Korean text normalisation before synthesis: digits, symbols and Latin
//! acronyms are spelled out in Hangul the way a Korean phone agent reads
//! them. One pure function, [`normalize`], scans the text; at each number it
//! tries, in order:
//!
//! - times `H:MM[:SS]` on the 24-hour clock, read as an announcer does, on
//!   the 12-hour clock with 오전/오후 (`09:00` → 오전 아홉시, `18:30` → 오후
//!   여섯시 삼십분, `12:00` → 낮 열두시, `00:00` → 자정); no prefix is added
//!   after a written 오전/오후/아침/낮/저녁/밤/새벽. `a:b` followed by 희석 is
//!   a ratio (일 대 오십);
//! - dates `2026.10.15`, `2026. 10. 15.`, `2026-10-15`, `2026/10/15`,
//!   `10. 15.` (trailing dot required) and `10/15` → 이천이십육년 시월 십오일,
//!   a following `(수)` → 수요일. Time and date ranges join with 부터;
//! - phone numbers with dashes: each group digit by digit (공사삼, 칠일구, …);
//! - quantities: a number and the counter or unit written after it
//!   ([`UNITS`]). Native counters (개, 명, 번, 시간, 시, 살, 달, 가지, …) take
//!   native numbers from 1 to 99 (한/두/세/네/스무 …, 1번째 → 첫번째), every
//!   other number is Sino-Korean (12개월 → 십이개월, 65세 → 육십오세, 6월 →
//!   유월, 10월 → 시월, 제1급 → 제일급). Symbols and Latin units become words
//!   (`%` → 퍼센트, `℃` → 도, `kg` → 킬로그램), decimals read 삼십칠 점 오.
//!   Service numbers (1339, 119, …) and numbers with a leading zero are read
//!   digit by digit;
//! - ranges `3~5일`, `1-2주` repeat the counter (삼일에서 오일); two
//!   neighbouring single digits contract as Koreans say them (이삼일, 일이주,
//!   두세번, 서너시간).
//!
//! Latin words: a few fixed readings ([`LATIN_WORDS`], [`TERMS`]); other
//! all-capital words up to five letters are spelled letter by letter
//! (HPV → 에이치피브이). Text without digits, symbols after numbers or Latin
//! letters comes back unchanged.

/// Numbers read digit by digit: hotline and emergency numbers.
const SERVICE_NUMBERS: &[&str] = &["1339", "119", "112", "120", "129", "1366", "1388", "1393", "1577"];

const DIGITS: [&str; 10] = ["공", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"];

/// Native Korean numbers in the form they take before a counter.
const NATIVE_ONES: [&str; 10] = ["", "한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉"];
const NATIVE_TENS: [&str; 10] = ["", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔"];
/// `n~n+1` with a native counter, from 1~2 to 8~9: 한두 번, 서너 시간.
const NATIVE_PAIRS: [&str; 8] = ["한두", "두세", "서너", "네다섯", "대여섯", "예닐곱", "일고여덟", "여덟아홉"];

/// How the number before a counter or unit is read.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reading {
    /// Native Korean from 1 to 99 (두번, 세시간), Sino-Korean above.
    Native,
    /// Sino-Korean, the counter kept as written (이주, 육십오세).
    Sino,
    /// 월: Sino-Korean with 유월 and 시월.
    Month,
    /// 번째: 첫번째, 두번째.
    Ordinal,
    /// A symbol or Latin unit read Sino-Korean and replaced by a word.
    Word(&'static str),
}

use Reading::{Month, Native, Ordinal, Sino, Word};

/// Counters and units recognised right after a number; the longest match
/// wins, so Sino words that begin like a native counter (개월, 달러, 번지)
/// are listed to take precedence. Anything not listed is read Sino-Korean.
const UNITS: &[(&str, Reading)] = &[
    ("개", Native),
    ("명", Native),
    ("번", Native),
    ("번째", Ordinal),
    ("시간", Native),
    ("시", Native),
    ("살", Native),
    ("달", Native),
    ("가지", Native),
    ("군데", Native),
    ("마리", Native),
    ("잔", Native),
    ("알", Native),
    ("곳", Native),
    ("장", Native),
    ("사람", Native),
    ("차례", Native),
    ("끼", Native),
    ("방울", Native),
    ("모금", Native),
    ("숟가락", Native),
    ("그릇", Native),
    ("봉지", Native),
    ("켤레", Native),
    ("권", Native),
    ("벌", Native),
    ("개월", Sino),
    ("개국", Sino),
    ("개년", Sino),
    ("개소", Sino),
    ("달러", Sino),
    ("번지", Sino),
    ("번길", Sino),
    ("시즌", Sino),
    ("월", Month),
    ("년", Sino),
    ("일", Sino),
    ("주", Sino),
    ("주일", Sino),
    ("세", Sino),
    ("회", Sino),
    ("차", Sino),
    ("급", Sino),
    ("분", Sino),
    ("초", Sino),
    ("층", Sino),
    ("원", Sino),
    ("호", Sino),
    ("배", Sino),
    ("도", Sino),
    ("위", Sino),
    ("등", Sino),
    ("점", Sino),
    ("박", Sino),
    ("인분", Sino),
    ("학년", Sino),
    ("단계", Sino),
    ("가", Sino),
    ("만", Sino),
    ("천", Sino),
    ("백", Sino),
    ("억", Sino),
    ("%p", Word("퍼센트포인트")),
    ("%", Word("퍼센트")),
    ("％", Word("퍼센트")),
    ("℃", Word("도")),
    ("°C", Word("도")),
    ("°", Word("도")),
    ("kcal", Word("킬로칼로리")),
    ("mmHg", Word("밀리미터 수은주")),
    ("km", Word("킬로미터")),
    ("kg", Word("킬로그램")),
    ("mg", Word("밀리그램")),
    ("mcg", Word("마이크로그램")),
    ("µg", Word("마이크로그램")),
    ("μg", Word("마이크로그램")),
    ("g", Word("그램")),
    ("cm", Word("센티미터")),
    ("mm", Word("밀리미터")),
    ("m", Word("미터")),
    ("mL", Word("밀리리터")),
    ("ml", Word("밀리리터")),
    ("L", Word("리터")),
    ("cc", Word("씨씨")),
];

/// After `N번`, words that make N a label rather than a count (1번 출구 →
/// 일번 출구, 1번을 누르세요 → 일번을 누르세요).
const BEON_LABELS: &[&str] = &[
    "출구",
    "버튼",
    "창구",
    "게이트",
    "환자",
    "확진자",
    "을 누르",
    "를 누르",
    "을 눌러",
    "를 눌러",
    "으로 연결",
    "로 연결",
];

/// Spellings whose digits are not a quantity, replaced whole.
const TERMS: &[(&str, &str)] = &[
    ("코로나19", "코로나일구"),
    ("COVID-19", "코로나일구"),
    ("COVID19", "코로나일구"),
    ("H1N1", "에이치원엔원"),
    ("H5N1", "에이치파이브엔원"),
    ("H5N6", "에이치파이브엔식스"),
    ("H7N9", "에이치세븐엔나인"),
];

/// Latin words read as words, not spelled (case-sensitive).
const LATIN_WORDS: &[(&str, &str)] = &[
    ("MERS", "메르스"),
    ("SARS", "사스"),
    ("AIDS", "에이즈"),
    ("COVID", "코비드"),
    ("NOW", "나우"),
    ("DTaP", "디티에이피"),
    ("Tdap", "티디에이피"),
    ("Td", "티디"),
    ("Hib", "히브"),
    ("mpox", "엠폭스"),
    ("Mpox", "엠폭스"),
    ("TV", "티비"),
    ("mRNA", "엠알엔에이"),
];

const LETTERS: [&str; 26] = [
    "에이",
    "비",
    "씨",
    "디",
    "이",
    "에프",
    "지",
    "에이치",
    "아이",
    "제이",
    "케이",
    "엘",
    "엠",
    "엔",
    "오",
    "피",
    "큐",
    "알",
    "에스",
    "티",
    "유",
    "브이",
    "더블유",
    "엑스",
    "와이",
    "제트",
];

/// Words before a clock time that already say which half of the day it is.
const DAY_MARKERS: &[&str] = &["오전", "오후", "아침", "낮", "저녁", "밤", "새벽"];

const TILDES: &[char] = &['~', '∼', '〜', '～'];
const WEEKDAYS: &[char] = &['월', '화', '수', '목', '금', '토', '일'];

pub fn normalize(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut i = 0;
    while i < chars.len() {
        let after_alnum = i > 0 && chars[i - 1].is_ascii_alphanumeric();
        if let Some((end, spoken)) = term_at(&chars, i).filter(|_| !after_alnum) {
            out.push_str(spoken);
            i = end;
        } else if chars[i].is_ascii_digit() {
            let (end, spoken) = number_at(&chars, i, &out);
            out.push_str(&spoken);
            i = end;
        } else if chars[i].is_ascii_alphabetic() {
            let end = run_end(&chars, i, |c| c.is_ascii_alphabetic());
            let word: String = chars[i..end].iter().collect();
            out.push_str(&read_latin(&word));
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

pub fn digit_by_digit(digits: &str) -> String {
    digits.chars().filter_map(|c| c.to_digit(10)).map(|d| DIGITS[d as usize]).collect()
}

/// Sino-Korean reading of a non-negative integer (up to 10^16 − 1).
pub fn sino_korean(digits: &str) -> String {
    let Ok(mut n) = digits.parse::<u64>() else {
        return digit_by_digit(digits);
    };
    if n == 0 {
        return "영".into();
    }
    if n >= 10_000_000_000_000_000 {
        return digit_by_digit(digits);
    }
    let big = ["", "만", "억", "조"];
    let mut groups = Vec::new();
    while n > 0 {
        groups.push((n % 10_000) as usize);
        n /= 10_000;
    }
    let mut out = String::new();
    for (gi, &g) in groups.iter().enumerate().rev() {
        if g == 0 {
            continue;
        }
        let small = ["천", "백", "십", ""];
        let ds = [g / 1000, g / 100 % 10, g / 10 % 10, g % 10];
        for (k, &d) in ds.iter().enumerate() {
            if d == 0 {
                continue;
            }
            // 일 is dropped before 십/백/천 (십, 백, 천) but kept in the ones place.
            if d != 1 || (k == 3 && !(g == 1 && gi == 1)) {
                out.push_str(DIGITS[d]);
            }
            out.push_str(small[k]);
        }
        // 만 alone (10000) is read 만, not 일만.
        out.push_str(big[gi]);
    }
    out
}

/// Native Korean reading before a counter, 1 to 99 (한, 스무, 스물한).
fn native_korean(n: u64) -> String {
    debug_assert!((1..=99).contains(&n));
    let (tens, ones) = ((n / 10) as usize, (n % 10) as usize);
    if tens == 2 && ones == 0 {
        return "스무".into();
    }
    format!("{}{}", NATIVE_TENS[tens], NATIVE_ONES[ones])
}

/// Digits after the decimal point, one by one, zero as 영 (영 점 영오).
fn decimal_digits(frac: &str) -> String {
    frac.chars().map(|c| if c == '0' { "영" } else { DIGITS[c.to_digit(10).unwrap_or(0) as usize] }).collect()
}

fn month_korean(m: u64) -> String {
    match m {
        6 => "유".into(),
        10 => "시".into(),
        _ => sino_korean(&m.to_string()),
    }
}

fn is_digit_at(chars: &[char], i: usize) -> bool {
    chars.get(i).is_some_and(|c| c.is_ascii_digit())
}

fn run_end(chars: &[char], mut i: usize, pred: impl Fn(char) -> bool) -> usize {
    while chars.get(i).is_some_and(|&c| pred(c)) {
        i += 1;
    }
    i
}

fn starts_with_at(chars: &[char], i: usize, s: &str) -> bool {
    s.chars().enumerate().all(|(k, c)| chars.get(i + k) == Some(&c))
}

/// A run of digits at `i`: its value, its length and where it ends.
fn digits_at(chars: &[char], i: usize) -> Option<(u64, usize, usize)> {
    let end = run_end(chars, i, |c| c.is_ascii_digit());
    let s: String = chars[i..end].iter().collect();
    Some((s.parse().ok()?, end - i, end))
}

fn term_at(chars: &[char], i: usize) -> Option<(usize, &'static str)> {
    TERMS.iter().find_map(|&(written, spoken)| {
        let end = i + written.chars().count();
        (starts_with_at(chars, i, written) && !chars.get(end).is_some_and(|c| c.is_ascii_alphanumeric()))
            .then_some((end, spoken))
    })
}

fn read_latin(word: &str) -> String {
    if let Some(&(_, spoken)) = LATIN_WORDS.iter().find(|(w, _)| *w == word) {
        return spoken.into();
    }
    if word.len() <= 5 && word.chars().all(|c| c.is_ascii_uppercase()) {
        return word.bytes().map(|b| LETTERS[(b - b'A') as usize]).collect();
    }
    word.into()
}

/// Everything that starts with a digit at `i`; `out` is the text spoken so
/// far (for 오전/오후 before a clock time).
fn number_at(chars: &[char], i: usize, out: &str) -> (usize, String) {
    let marked = DAY_MARKERS.iter().any(|m| out.trim_end().ends_with(m));
    if let Some(read) = ratio_at(chars, i) {
        return read;
    }
    if let Some(read) = clock_range_at(chars, i, marked) {
        return read;
    }
    if let Some(read) = date_range_at(chars, i) {
        return read;
    }
    if let Some(read) = phone_at(chars, i) {
        return read;
    }
    let mut q1 = quantity_at(chars, i);
    // 제1급, 제2~3차: an ordinal, Sino-Korean whatever the counter.
    q1.label |= i > 0 && chars[i - 1] == '제';
    if let Some((k, dash)) = range_next(chars, q1.end, q1.unit.is_none()) {
        let mut q2 = quantity_at(chars, k);
        q2.label |= q1.label;
        let short = |q: &Quantity| q.int.len() <= 4 && !q.int.starts_with('0') && q.frac.is_none();
        if !dash || (q2.unit.is_some() && short(&q1) && short(&q2)) {
            if q1.unit.is_none() {
                q1.unit = q2.unit;
                q1.label |= q2.label;
            }
            let spoken =
                contracted(&q1, &q2).unwrap_or_else(|| format!("{}에서 {}", read_quantity(&q1), read_quantity(&q2)));
            return (q2.end, spoken);
        }
    }
    (q1.end, read_quantity(&q1))
}

/// A number with its counter or unit.
struct Quantity {
    int: String,
    frac: Option<String>,
    unit: Option<(&'static str, Reading)>,
    /// Read Sino-Korean whatever the counter: after 제, or 번 as a label.
    label: bool,
    end: usize,
}

fn quantity_at(chars: &[char], i: usize) -> Quantity {
    let mut int = String::new();
    let mut j = i;
    loop {
        let end = run_end(chars, j, |c| c.is_ascii_digit());
        int.extend(&chars[j..end]);
        j = end;
        // Thousands separator: a comma before exactly three digits.
        let group =
            chars.get(j) == Some(&',') && (1..=3).all(|k| is_digit_at(chars, j + k)) && !is_digit_at(chars, j + 4);
        if !group {
            break;
        }
        j += 1;
    }
    let mut frac = None;
    if chars.get(j) == Some(&'.') && is_digit_at(chars, j + 1) {
        let end = run_end(chars, j + 1, |c| c.is_ascii_digit());
        frac = Some(chars[j + 1..end].iter().collect());
        j = end;
    }
    let unit = unit_after(chars, j);
    let label = match unit {
        Some((end, "번", _)) => {
            let next = if chars.get(end) == Some(&' ') { end + 1 } else { end };
            BEON_LABELS.iter().any(|l| starts_with_at(chars, end, l) || starts_with_at(chars, next, l))
        }
        _ => false,
    };
    Quantity { int, frac, unit: unit.map(|(_, w, r)| (w, r)), label, end: unit.map_or(j, |(end, _, _)| end) }
}

/// The counter or unit at `i` (longest match), or a symbol/Latin unit after
/// one space; returns where it ends.
fn unit_after(chars: &[char], i: usize) -> Option<(usize, &'static str, Reading)> {
    let at = |i: usize| {
        UNITS
            .iter()
            .filter(|(w, _)| starts_with_at(chars, i, w))
            .filter(|(w, _)| {
                // A Latin unit must end the word: 5 mL, not 5 mRNA.
                let end = i + w.chars().count();
                !w.ends_with(|c: char| c.is_ascii_alphabetic())
                    || !chars.get(end).is_some_and(|c| c.is_ascii_alphabetic())
            })
            .max_by_key(|(w, _)| w.chars().count())
            .map(|&(w, r)| (i + w.chars().count(), w, r))
    };
    at(i).or_else(|| (chars.get(i) == Some(&' ')).then(|| at(i + 1)).flatten().filter(|(_, _, r)| matches!(r, Word(_))))
}

fn read_quantity(q: &Quantity) -> String {
    let (written, reading) = q.unit.unwrap_or(("", Sino));
    let reading = if q.label { Sino } else { reading };
    let service =
        q.frac.is_none() && SERVICE_NUMBERS.contains(&q.int.as_str()) && (written.is_empty() || written == "번");
    let leading_zero = q.unit.is_none() && q.frac.is_none() && q.int.len() > 1 && q.int.starts_with('0');
    let n = q.int.parse::<u64>().ok();
    let number = if service || leading_zero {
        digit_by_digit(&q.int)
    } else if let Some(frac) = &q.frac {
        format!("{} 점 {}", sino_korean(&q.int), decimal_digits(frac))
    } else {
        match (reading, n) {
            (Native, Some(n @ 1..=99)) => native_korean(n),
            (Ordinal, Some(1)) => "첫".into(),
            (Ordinal, Some(n @ 2..=99)) => native_korean(n),
            (Month, Some(m)) => month_korean(m),
            // 1만, 1천 → 만, 천 (but 1억 → 일억).
            (Sino, Some(1)) if ["만", "천", "백"].contains(&written) => String::new(),
            _ => sino_korean(&q.int),
        }
    };
    match reading {
        Word(word) => format!("{number} {word}"),
        _ => number + written,
    }
}

/// `n~n+1` with a counter, as Koreans contract it: 이삼일, 일이주, 두세번.
fn contracted(q1: &Quantity, q2: &Quantity) -> Option<String> {
    let (written, reading) = q2.unit?;
    if q1.unit != q2.unit || q1.frac.is_some() || q2.frac.is_some() || q1.int.starts_with('0') {
        return None;
    }
    let a: u64 = q1.int.parse().ok()?;
    let b: u64 = q2.int.parse().ok()?;
    if !(1..=8).contains(&a) || b != a + 1 {
        return None;
    }
    let reading = if q1.label || q2.label { Sino } else { reading };
    let number = match reading {
        Native => NATIVE_PAIRS[a as usize - 1].to_string(),
        // 오륙: 6 after a vowel is 륙.
        Sino | Word(_) => format!("{}{}", DIGITS[a as usize], if b == 6 { "륙" } else { DIGITS[b as usize] }),
        Month | Ordinal => return None,
    };
    Some(match reading {
        Word(word) => format!("{number} {word}"),
        _ => number + written,
    })
}

/// After a number ending at `j`: the start of the second number of a range.
/// `~` may have spaces around it; a dash (only if `dash_ok`) may not.
fn range_next(chars: &[char], j: usize, dash_ok: bool) -> Option<(usize, bool)> {
    if dash_ok && chars.get(j) == Some(&'-') && is_digit_at(chars, j + 1) {
        return Some((j + 1, true));
    }
    let k = run_end(chars, j, |c| c == ' ');
    if !chars.get(k).is_some_and(|c| TILDES.contains(c)) {
        return None;
    }
    let k = run_end(chars, k + 1, |c| c == ' ');
    is_digit_at(chars, k).then_some((k, false))
}

/// Clock time `H:MM[:SS]`.
struct Clock {
    h: u64,
    m: u64,
    s: u64,
}

fn clock_at(chars: &[char], i: usize) -> Option<(usize, Clock)> {
    let (h, hlen, j) = digits_at(chars, i)?;
    if hlen > 2 || chars.get(j) != Some(&':') {
        return None;
    }
    let (m, mlen, mut end) = digits_at(chars, j + 1)?;
    let mut s = 0;
    if chars.get(end) == Some(&':') && is_digit_at(chars, end + 1) {
        let (sec, slen, send) = digits_at(chars, end + 1)?;
        if slen != 2 || sec > 59 {
            return None;
        }
        (s, end) = (sec, send);
    }
    (mlen == 2 && m <= 59 && (h < 24 || (h == 24 && m == 0 && s == 0))).then_some((end, Clock { h, m, s }))
}

/// The half-day word and the 12-hour clock hour.
fn clock_half(c: &Clock) -> (&'static str, u64) {
    match c.h {
        0 | 24 if c.m == 0 && c.s == 0 => ("자정", 0),
        0 => ("밤", 12),
        1..=11 => ("오전", c.h),
        12 => ("낮", 12),
        _ => ("오후", c.h - 12),
    }
}

fn read_clock(c: &Clock, prefix: &str) -> String {
    let (half, hour) = clock_half(c);
    if hour == 0 && prefix.is_empty() {
        return "열두시".into();
    }
    if hour == 0 {
        return half.into();
    }
    let mut out = if prefix.is_empty() { String::new() } else { format!("{prefix} ") };
    out += &native_korean(hour);
    out += "시";
    if c.m > 0 {
        out += &format!(" {}분", sino_korean(&c.m.to_string()));
    }
    if c.s > 0 {
        out += &format!(" {}초", sino_korean(&c.s.to_string()));
    }
    out
}

/// A clock time, or a range of two; `marked` when 오전/오후 is written before.
fn clock_range_at(chars: &[char], i: usize, marked: bool) -> Option<(usize, String)> {
    let (end, c1) = clock_at(chars, i)?;
    let half1 = if marked { "" } else { clock_half(&c1).0 };
    let mut spoken = read_clock(&c1, half1);
    let mut end = end;
    if let Some((k, _)) = range_next(chars, end, true) {
        if let Some((end2, c2)) = clock_at(chars, k) {
            let half2 = clock_half(&c2).0;
            let half2 = if marked || half2 == half1 { "" } else { half2 };
            spoken = format!("{spoken}부터 {}", read_clock(&c2, half2));
            end = end2;
        }
    }
    Some((end, spoken))
}

/// `a:b` before 희석 (1:50으로 희석): a dilution ratio, 일 대 오십, not a time.
fn ratio_at(chars: &[char], i: usize) -> Option<(usize, String)> {
    let (a, alen, j) = digits_at(chars, i)?;
    if alen > 3 || chars.get(j) != Some(&':') || !is_digit_at(chars, j + 1) {
        return None;
    }
    let (b, blen, end) = digits_at(chars, j + 1)?;
    let rest = run_end(chars, end, |c| c == ' ' || c == '로' || c == '으');
    (blen <= 4 && starts_with_at(chars, rest, "희석"))
        .then(|| (end, format!("{} 대 {}", sino_korean(&a.to_string()), sino_korean(&b.to_string()))))
}

struct Date {
    year: Option<u64>,
    month: u64,
    day: u64,
}

/// `2026.10.15`, `2026. 10. 15.`, `2026-10-15`, `2026/10/15`, `10. 15.`, `10/15`.
fn date_at(chars: &[char], i: usize) -> Option<(usize, Date)> {
    let valid = |m: u64, d: u64| (1..=12).contains(&m) && (1..=31).contains(&d);
    let (first, flen, j) = digits_at(chars, i)?;
    let sep = *chars.get(j)?;
    if !['.', '-', '/'].contains(&sep) || (i > 0 && ['/', '.', '-'].contains(&chars[i - 1])) {
        return None;
    }
    let skip_space = |k: usize| if sep == '.' && chars.get(k) == Some(&' ') { k + 1 } else { k };
    let (second, slen, k) = digits_at(chars, skip_space(j + 1))?;
    if slen > 2 {
        return None;
    }
    // With a year: Y sep M sep D.
    if flen == 4 && (1900..=2100).contains(&first) && chars.get(k) == Some(&sep) {
        let (day, dlen, mut end) = digits_at(chars, skip_space(k + 1))?;
        // A fourth group (2026.1.2.3) is not a date.
        let more = chars.get(end) == Some(&sep) && is_digit_at(chars, skip_space(end + 1));
        if dlen > 2 || !valid(second, day) || more {
            return None;
        }
        if sep == '.' && chars.get(end) == Some(&'.') && !chars.get(end + 1).is_none_or(|c| c.is_whitespace()) {
            end += 1;
        }
        return Some((end, Date { year: Some(first), month: second, day }));
    }
    if flen > 2 || !valid(first, second) {
        return None;
    }
    match sep {
        // 10. 15. — the space and the trailing dot keep it apart from 10.15.
        '.' if chars[j + 1] == ' ' && chars.get(k) == Some(&'.') && !is_digit_at(chars, k + 1) => {
            let end = if chars.get(k + 1).is_none_or(|c| c.is_whitespace()) { k } else { k + 1 };
            Some((end, Date { year: None, month: first, day: second }))
        }
        '/' if !chars.get(k).is_some_and(|&c| c == '/' || c.is_ascii_digit()) => {
            Some((k, Date { year: None, month: first, day: second }))
        }
        _ => None,
    }
}

fn read_date(d: &Date) -> String {
    let year = d.year.map(|y| format!("{}년 ", sino_korean(&y.to_string()))).unwrap_or_default();
    format!("{year}{}월 {}일", month_korean(d.month), sino_korean(&d.day.to_string()))
}

/// A date (with its weekday), or a range of two joined by `~`.
fn date_range_at(chars: &[char], i: usize) -> Option<(usize, String)> {
    let (end, d1) = date_at(chars, i)?;
    let (mut end, mut spoken) = with_weekday(chars, end, read_date(&d1));
    if let Some((k, false)) = range_next(chars, end, false) {
        if let Some((end2, d2)) = date_at(chars, k) {
            let (end2, second) = with_weekday(chars, end2, read_date(&d2));
            spoken = format!("{spoken}부터 {second}");
            end = end2;
        }
    }
    Some((end, spoken))
}

/// `(수)` after a date → 수요일.
fn with_weekday(chars: &[char], end: usize, date: String) -> (usize, String) {
    let k = if chars.get(end) == Some(&' ') { end + 1 } else { end };
    match (chars.get(k), chars.get(k + 1), chars.get(k + 2)) {
        (Some('('), Some(w), Some(')')) if WEEKDAYS.contains(w) => (k + 3, format!("{date} {w}요일")),
        _ => (end, date),
    }
}

/// Digit groups joined by dashes (043-719-7114), each read digit by digit;
/// not a range such as 1-2주.
fn phone_at(chars: &[char], i: usize) -> Option<(usize, String)> {
    let mut groups = Vec::new();
    let mut j = i;
    loop {
        let end = run_end(chars, j, |c| c.is_ascii_digit());
        groups.push(chars[j..end].iter().collect::<String>());
        if chars.get(end) == Some(&'-') && is_digit_at(chars, end + 1) {
            j = end + 1;
        } else {
            j = end;
            break;
        }
    }
    let range = groups.len() == 2
        && groups.iter().all(|g| g.len() <= 4 && !g.starts_with('0'))
        && unit_after(chars, j).is_some();
    if groups.len() < 2 || range {
        return None;
    }
    let spoken: Vec<String> = groups.iter().map(|g| digit_by_digit(g)).collect();
    Some((j, spoken.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cases: &[(&str, &str)]) {
        for (text, spoken) in cases {
            assert_eq!(normalize(text), *spoken, "normalize({text:?})");
        }
    }

    #[test]
    fn hotline_numbers_are_read_digit_by_digit() {
        check(&[
            ("질병관리청 1339 콜센터", "질병관리청 일삼삼구 콜센터"),
            ("119에 전화하세요", "일일구에 전화하세요"),
            ("1339번으로 전화하세요", "일삼삼구번으로 전화하세요"),
            ("120명", "백이십명"),
        ]);
    }

    #[test]
    fn counts_are_sino_korean() {
        assert_eq!(normalize("65세 이상"), "육십오세 이상");
        assert_eq!(normalize("생후 6개월부터 13세"), "생후 육개월부터 십삼세");
        assert_eq!(sino_korean("2026"), "이천이십육");
        assert_eq!(sino_korean("10000"), "만");
        assert_eq!(sino_korean("110000"), "십일만");
        assert_eq!(sino_korean("1000"), "천");
    }

    #[test]
    fn phone_numbers_with_dashes_are_spelled() {
        check(&[
            ("043-719-7114", "공사삼, 칠일구, 칠일일사"),
            ("1577-1000에", "일오칠칠, 일공공공에"),
            ("010-1234-5678", "공일공, 일이삼사, 오육칠팔"),
        ]);
    }

    #[test]
    fn plain_text_is_untouched() {
        check(&[
            ("안녕하세요.", "안녕하세요."),
            ("열이 나요~ 어떡하죠? 100퍼센트는 아니에요", "열이 나요~ 어떡하죠? 백퍼센트는 아니에요"),
            ("영유아, 만 나이, 한 번", "영유아, 만 나이, 한 번"),
        ]);
    }

    #[test]
    fn dates_read_with_yuwol_and_siwol() {
        check(&[
            ("2026년 10월 15일", "이천이십육년 시월 십오일"),
            ("6월과 10월", "유월과 시월"),
            ("11월 1일", "십일월 일일"),
            ("2026.10.15", "이천이십육년 시월 십오일"),
            ("2026. 6. 1.부터", "이천이십육년 유월 일일부터"),
            ("2026. 10. 15. 접수", "이천이십육년 시월 십오일. 접수"),
            ("2026-06-01", "이천이십육년 유월 일일"),
            ("2026/10/15", "이천이십육년 시월 십오일"),
            ("10. 15.에 시작", "시월 십오일에 시작"),
            ("10/15(수)까지", "시월 십오일 수요일까지"),
            ("10/15~10/20", "시월 십오일부터 시월 이십일"),
            ("13/15", "십삼/십오"),
        ]);
    }

    #[test]
    fn times_use_native_hours_and_sino_minutes() {
        check(&[
            ("오후 3시 30분", "오후 세시 삼십분"),
            ("밤 12시", "밤 열두시"),
            ("9시 5분 10초", "아홉시 오분 십초"),
            ("09:00", "오전 아홉시"),
            ("18:00", "오후 여섯시"),
            ("12:30", "낮 열두시 삼십분"),
            ("00:00", "자정"),
            ("07:05:09", "오전 일곱시 오분 구초"),
            ("오후 2:30", "오후 두시 삼십분"),
            ("평일 09:00~18:00", "평일 오전 아홉시부터 오후 여섯시"),
            ("09:00 ~ 11:30", "오전 아홉시부터 열한시 삼십분"),
            ("13:00-14:00", "오후 한시부터 두시"),
            ("락스를 1:50으로 희석", "락스를 일 대 오십으로 희석"),
        ]);
    }

    #[test]
    fn native_counters_take_native_numbers_up_to_99() {
        check(&[
            ("1번", "한번"),
            ("2번 맞습니다", "두번 맞습니다"),
            ("3시간", "세시간"),
            ("24시간", "스물네시간"),
            ("4명", "네명"),
            ("5살", "다섯살"),
            ("20개", "스무개"),
            ("21마리", "스물한마리"),
            ("2가지", "두가지"),
            ("3달", "세달"),
            ("1번째", "첫번째"),
            ("2번째", "두번째"),
            ("99명", "아흔아홉명"),
            ("100명", "백명"),
            ("0개", "영개"),
            ("1,000명", "천명"),
        ]);
    }

    #[test]
    fn sino_counters_and_lookalikes_take_sino_numbers() {
        check(&[
            ("12개월", "십이개월"),
            ("3개국", "삼개국"),
            ("10달러", "십달러"),
            ("2주", "이주"),
            ("1주일", "일주일"),
            ("3일", "삼일"),
            ("65세", "육십오세"),
            ("1회", "일회"),
            ("2차 접종", "이차 접종"),
            ("제1급", "제일급"),
            ("제2번", "제이번"),
            ("23가 백신", "이십삼가 백신"),
            ("1번 출구", "일번 출구"),
            ("1번을 누르세요", "일번을 누르세요"),
            ("1만 명", "만 명"),
            ("3만 원", "삼만 원"),
            ("1억", "일억"),
            ("1,2차", "일,이차"),
            ("09시", "아홉시"),
        ]);
    }

    #[test]
    fn units_and_decimals() {
        check(&[
            ("37.5°C", "삼십칠 점 오 도"),
            ("38℃ 이상", "삼십팔 도 이상"),
            ("38도", "삼십팔도"),
            ("30%", "삼십 퍼센트"),
            ("5%p", "오 퍼센트포인트"),
            ("60 kg", "육십 킬로그램"),
            ("170cm", "백칠십 센티미터"),
            ("5mm", "오 밀리미터"),
            ("2m", "이 미터"),
            ("3km", "삼 킬로미터"),
            ("500mL", "오백 밀리리터"),
            ("10ml", "십 밀리리터"),
            ("650mg", "육백오십 밀리그램"),
            ("0.05", "영 점 영오"),
            ("1.5배", "일 점 오배"),
            ("2mRNA", "이엠알엔에이"),
        ]);
    }

    #[test]
    fn ranges_repeat_the_counter_or_contract_neighbours() {
        check(&[
            ("3~5일", "삼일에서 오일"),
            ("1-2주", "일이주"),
            ("2~3일", "이삼일"),
            ("5~6세", "오륙세"),
            ("2~3번", "두세번"),
            ("3~4시간", "서너시간"),
            ("1 ~ 3시간", "한시간에서 세시간"),
            ("10~20%", "십 퍼센트에서 이십 퍼센트"),
            ("37.5~38℃", "삼십칠 점 오 도에서 삼십팔 도"),
            ("6~7월", "유월에서 칠월"),
            ("2020-2025년", "이천이십년에서 이천이십오년"),
            ("3~5", "삼에서 오"),
        ]);
    }

    #[test]
    fn latin_acronyms_are_read_in_korean() {
        check(&[
            ("HPV 백신", "에이치피브이 백신"),
            ("MMR", "엠엠알"),
            ("HIV 검사", "에이치아이브이 검사"),
            ("SFTS는", "에스에프티에스는"),
            ("MERS", "메르스"),
            ("BCG", "비씨지"),
            ("DTaP, Tdap", "디티에이피, 티디에이피"),
            ("A형간염, B형간염", "에이형간염, 비형간염"),
            ("해외감염병NOW", "해외감염병나우"),
            ("코로나19가", "코로나일구가"),
            ("COVID-19", "코로나일구"),
            ("H5N1", "에이치파이브엔원"),
            ("hello", "hello"),
        ]);
    }

    /// Every text sori reads from the knowledge base comes out as Hangul.
    #[test]
    fn kb_answers_have_no_digits_symbols_or_latin_left() {
        let kb: toml::Value = toml::from_str(include_str!("../../kb/1339.toml")).unwrap();
        let mut checked = 0;
        for table in ["entry", "action"] {
            for item in kb[table].as_array().unwrap() {
                for field in ["spoken", "answer"] {
                    let Some(text) = item.get(field).and_then(|v| v.as_str()) else { continue };
                    let spoken = normalize(text);
                    let bad: Vec<char> =
                        spoken.chars().filter(|c| c.is_ascii_alphanumeric() || "%℃°".contains(*c)).collect();
                    assert!(bad.is_empty(), "{bad:?} left in {spoken:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 60, "only {checked} texts checked");
    }

    #[test]
    fn kb_spoken_answers_read_naturally() {
        check(&[
            ("9세 미만 어린이는 4주 간격으로 2번 맞습니다.", "구세 미만 어린이는 사주 간격으로 두번 맞습니다."),
            ("24시간이 지날 때까지", "스물네시간이 지날 때까지"),
            ("1주에서 3주 뒤에", "일주에서 삼주 뒤에"),
            ("비누로 30초 이상", "비누로 삼십초 이상"),
            ("폐렴구균 23가 다당 백신을 1번 무료로", "폐렴구균 이십삼가 다당 백신을 한번 무료로"),
            ("1급 감염병은 즉시, 2급과 3급은", "일급 감염병은 즉시, 이급과 삼급은"),
            ("120 민원 콜센터", "일이공 민원 콜센터"),
        ]);
    }
}
