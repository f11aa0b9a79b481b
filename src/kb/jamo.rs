//! Hangul as sounds: syllables split into jamo, a jamo sequence for phonetic
//! comparison, and substitution / insertion costs between sounds that a
//! speech recogniser on 8 kHz audio confuses.
//!
//! The sequence drops the silent initial ㅇ and writes a final consonant as
//! the same symbol as that consonant at the start of a syllable, so that
//! resyllabification costs nothing: "숨을" and "수믈" are both ㅅㅜㅁㅡㄹ,
//! "숨을 못 쉬어요" heard as "수물 못 쉬어요" differs by one vowel (ㅡ/ㅜ).

/// First Hangul syllable (가) and the block size.
const BASE: u32 = 0xAC00;
const COUNT: u32 = 11172;
const JUNG: u32 = 21;
const JONG: u32 = 28;

/// (initial 0..19, medial 0..21, final 0..28) of a Hangul syllable.
pub fn split(c: char) -> Option<(u8, u8, u8)> {
    let v = (c as u32).checked_sub(BASE)?;
    if v >= COUNT {
        return None;
    }
    Some(((v / (JUNG * JONG)) as u8, ((v / JONG) % JUNG) as u8, (v % JONG) as u8))
}

/// The syllable with these jamo indices (None when out of range).
pub fn join(cho: u8, jung: u8, jong: u8) -> Option<char> {
    if cho >= 19 || jung >= 21 || jong >= 28 {
        return None;
    }
    char::from_u32(BASE + (cho as u32 * JUNG + jung as u32) * JONG + jong as u32)
}

pub fn is_syllable(c: char) -> bool {
    split(c).is_some()
}

/// A sound: consonants 0..=19 (the 19 initials in Unicode order, 19 = final
/// ㅇ [ŋ]), vowels 20..=40 (the 21 medials), anything else `OTHER + code`.
pub type Sound = u32;
const NG: Sound = 19;
const VOWEL: Sound = 20;
const OTHER: Sound = 0x100;
/// Initial ㅇ (silent) and ㅎ (often dropped) as initial indices.
const CHO_IEUNG: u8 = 11;
const CHO_HIEUH: Sound = 18;

/// Final index → the consonant it sounds as (written simple finals keep
/// their letter so linking works; clusters take the one pronounced).
const JONG_SOUND: [Sound; 28] = [
    u32::MAX, // none
    0,        // ㄱ
    1,        // ㄲ
    0,        // ㄳ
    2,        // ㄴ
    2,        // ㄵ
    2,        // ㄶ
    3,        // ㄷ
    5,        // ㄹ
    0,        // ㄺ (닭 → 닥)
    6,        // ㄻ
    5,        // ㄼ
    5,        // ㄽ
    5,        // ㄾ
    7,        // ㄿ
    5,        // ㅀ
    6,        // ㅁ
    7,        // ㅂ
    7,        // ㅄ
    9,        // ㅅ
    10,       // ㅆ
    NG,       // ㅇ
    12,       // ㅈ
    14,       // ㅊ
    15,       // ㅋ
    16,       // ㅌ
    17,       // ㅍ
    18,       // ㅎ
];

/// The sounds of `text`: Hangul as jamo, letters and digits as themselves,
/// spaces and punctuation dropped.
pub fn sounds(text: &str) -> Vec<Sound> {
    heard(text).sounds
}

/// An utterance as sounds, with where its syllables start (words are
/// looked for from a syllable's start only: "오한" must not match the
/// middle of "신고하려고").
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    pub sounds: Vec<Sound>,
    /// `starts[i]`: a syllable (or a letter or digit) starts at sound `i`;
    /// one longer than `sounds` (the end counts as a start).
    pub starts: Vec<bool>,
    /// `finals[i]`: sound `i` is a syllable's final consonant (받침), which a
    /// recogniser loses or adds more easily than other sounds.
    pub finals: Vec<bool>,
    /// `words[i]`: a word (after a space or punctuation, or the text's
    /// start) starts at sound `i`; as long as `starts`.
    pub words: Vec<bool>,
}

pub fn heard(text: &str) -> Heard {
    let mut out = Vec::with_capacity(text.len());
    let mut starts = Vec::with_capacity(text.len() + 1);
    let mut finals = Vec::with_capacity(text.len());
    let mut words = Vec::with_capacity(text.len() + 1);
    let mut gap = true;
    for c in text.chars() {
        let before = out.len();
        match split(c) {
            Some((cho, jung, jong)) => {
                if cho != CHO_IEUNG {
                    out.push(cho as Sound);
                    finals.push(false);
                }
                out.push(VOWEL + jung as Sound);
                finals.push(false);
                if jong != 0 {
                    out.push(JONG_SOUND[jong as usize]);
                    finals.push(true);
                }
            }
            None if c.is_alphanumeric() => {
                out.push(OTHER + c.to_lowercase().next().unwrap_or(c) as u32);
                finals.push(false);
            }
            None => {}
        }
        starts.extend((before..out.len()).map(|i| i == before));
        words.extend((before..out.len()).map(|i| i == before && gap));
        gap = out.len() == before;
    }
    starts.push(true);
    words.push(true);
    Heard { sounds: out, starts, finals, words }
}

fn is_consonant(s: Sound) -> bool {
    s < VOWEL
}

fn is_vowel(s: Sound) -> bool {
    (VOWEL..OTHER).contains(&s)
}

/// Consonant classes whose members a recogniser swaps easily (same place
/// of articulation, lax/tense/aspirated; nasals; ㄴ/ㄹ; ㄷ/ㅅ/ㅈ which
/// all end a syllable as [t]).
const CONSONANT_CLASSES: &[&[Sound]] = &[
    &[0, 1, 15],   // ㄱ ㄲ ㅋ
    &[3, 4, 16],   // ㄷ ㄸ ㅌ
    &[7, 8, 17],   // ㅂ ㅃ ㅍ
    &[12, 13, 14], // ㅈ ㅉ ㅊ
    &[9, 10],      // ㅅ ㅆ
    &[3, 9, 12],   // ㄷ ㅅ ㅈ
    &[2, 6, NG],   // ㄴ ㅁ ŋ
    &[2, 5],       // ㄴ ㄹ
];

/// Vowel pairs that sound alike (indices into the 21 medials): ㅐ/ㅔ are one
/// vowel in Seoul speech; a glide (ㅑ/ㅏ) or a neighbouring height (ㅓ/ㅗ,
/// ㅗ/ㅜ, ㅜ/ㅡ) is a near miss.
const VOWEL_CLASSES: &[(&[u8], f32)] = &[
    (&[1, 5, 3, 7], 0.2), // ㅐ ㅔ ㅒ ㅖ
    (&[10, 15, 11], 0.2), // ㅙ ㅞ ㅚ
    (&[0, 2, 9], 0.5),    // ㅏ ㅑ ㅘ
    (&[4, 6, 14], 0.5),   // ㅓ ㅕ ㅝ
    (&[8, 12], 0.5),      // ㅗ ㅛ
    (&[13, 17], 0.5),     // ㅜ ㅠ
    (&[4, 8], 0.5),       // ㅓ ㅗ
    (&[8, 13], 0.5),      // ㅗ ㅜ
    (&[13, 18], 0.5),     // ㅜ ㅡ
    (&[4, 18], 0.5),      // ㅓ ㅡ
    (&[18, 19, 20], 0.5), // ㅡ ㅢ ㅣ
    (&[16, 20], 0.5),     // ㅟ ㅣ
];

/// Vowel pairs a recogniser swaps in an emergency or agent request ("연결"
/// heard as "얀결"), alike for trigger matching only: for health words they
/// would repair everyday words into topics.
const TRIGGER_VOWEL_PAIRS: &[(u8, u8)] = &[(0, 4), (2, 6), (9, 14)]; // ㅏ/ㅓ ㅑ/ㅕ ㅘ/ㅝ

/// [`sub_cost`] with [`TRIGGER_VOWEL_PAIRS`] alike (0.5).
/// Plain and tense consonants (ㄱ/ㄲ ㄷ/ㄸ ㅂ/ㅃ ㅅ/ㅆ ㅈ/ㅉ): the slip the
/// recogniser makes most in a trigger's spelling ("스러져" for 쓰러져).
const TENSE_PAIRS: &[(Sound, Sound)] = &[(0, 1), (3, 4), (7, 8), (9, 10), (12, 13)];
/// What a plain/tense swap costs in a trigger.
pub const TENSE_SWAP: f32 = 0.2;

pub fn trigger_sub_cost(a: Sound, b: Sound) -> f32 {
    if TENSE_PAIRS.iter().any(|&(p, q)| (p, q) == (a, b) || (q, p) == (a, b)) {
        return TENSE_SWAP;
    }
    let cost = sub_cost(a, b);
    if is_vowel(a) && is_vowel(b) {
        let (x, y) = ((a - VOWEL) as u8, (b - VOWEL) as u8);
        if TRIGGER_VOWEL_PAIRS.iter().any(|&(p, q)| (p, q) == (x, y) || (q, p) == (x, y)) {
            return cost.min(0.5);
        }
    }
    cost
}

/// Cost of hearing sound `b` where `a` was said: 0 same, 0.2–0.5 alike,
/// 1 different, more for a vowel against a consonant.
pub fn sub_cost(a: Sound, b: Sound) -> f32 {
    if a == b {
        return 0.0;
    }
    if is_consonant(a) && is_consonant(b) {
        return if CONSONANT_CLASSES.iter().any(|c| c.contains(&a) && c.contains(&b)) { 0.4 } else { 1.0 };
    }
    if is_vowel(a) && is_vowel(b) {
        let (x, y) = ((a - VOWEL) as u8, (b - VOWEL) as u8);
        return VOWEL_CLASSES
            .iter()
            .filter(|(c, _)| c.contains(&x) && c.contains(&y))
            .map(|&(_, cost)| cost)
            .fold(1.0, f32::min);
    }
    1.5
}

/// Cost of a sound heard that was not said, or said and not heard: ㅎ is
/// often lost, a vowel less often than a consonant.
pub fn indel_cost(s: Sound) -> f32 {
    if s == CHO_HIEUH {
        0.55
    } else if is_consonant(s) {
        0.7
    } else if is_vowel(s) {
        0.8
    } else {
        1.0
    }
}

/// Cost of a final consonant (받침) lost or added in a matched word: half a
/// slip ("숨을" heard as "수을", "상담원" as "상다원").
pub const FINAL_INDEL: f32 = 0.4;

/// Substitution cost between two syllables (for aligning reference and
/// transcript): the sound distance of their jamo, at most 1.
pub fn syllable_cost(a: char, b: char) -> f32 {
    if a == b {
        return 0.0;
    }
    match (split(a), split(b)) {
        (Some(_), Some(_)) => {
            let (x, y) = (sounds(&a.to_string()), sounds(&b.to_string()));
            (edit_distance(&x, &y) / 2.0).min(1.0)
        }
        _ => 1.0,
    }
}

/// Weighted edit distance between two sound sequences.
pub fn edit_distance(a: &[Sound], b: &[Sound]) -> f32 {
    let mut prev: Vec<f32> = std::iter::once(0.0)
        .chain(b.iter().scan(0.0, |acc, &s| {
            *acc += indel_cost(s);
            Some(*acc)
        }))
        .collect();
    for &x in a {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(prev[0] + indel_cost(x));
        for (j, &y) in b.iter().enumerate() {
            let v = (prev[j] + sub_cost(x, y)).min(prev[j + 1] + indel_cost(x)).min(cur[j] + indel_cost(y));
            cur.push(v);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_join_round_trip() {
        assert_eq!(split('가'), Some((0, 0, 0)));
        assert_eq!(split('힣'), Some((18, 20, 27)));
        assert_eq!(split('a'), None);
        for c in ['숨', '을', '쉬', '원', '닭', '힣', '가'] {
            let (x, y, z) = split(c).expect("syllable");
            assert_eq!(join(x, y, z), Some(c));
        }
        assert_eq!(join(19, 0, 0), None);
    }

    #[test]
    fn linking_and_silent_ieung_cost_nothing() {
        assert_eq!(sounds("숨을"), sounds("수믈"));
        assert_eq!(sounds("음악"), sounds("으막"));
        assert_eq!(sounds("숨 을!"), sounds("숨을"));
        assert_ne!(sounds("상담"), sounds("상당"));
    }

    #[test]
    fn syllable_starts_are_marked() {
        let h = heard("숨 아");
        assert_eq!(h.sounds.len(), 4);
        assert_eq!(h.starts, vec![true, false, false, true, true]);
    }

    #[test]
    fn alike_sounds_are_cheaper_than_different_ones() {
        let d = |a: &str, b: &str| edit_distance(&sounds(a), &sounds(b));
        assert_eq!(d("상담원", "상담원"), 0.0);
        assert!(d("상담원", "상담연") <= 0.5, "{}", d("상담원", "상담연"));
        assert!(d("상담원", "상당원") <= 0.4);
        assert!(d("숨을못쉬", "수물못쉬") <= 0.5);
        assert!(d("개", "게") < 0.3);
        assert!(d("상담원", "사망원") > 1.0);
        assert!(d("자살", "사랑") > 1.0);
        assert!(syllable_cost('원', '연') < syllable_cost('원', '감'));
        assert_eq!(syllable_cost('a', 'a'), 0.0);
        assert_eq!(syllable_cost('a', '가'), 1.0);
    }
}
