//! Is a Korean transcript a finished sentence? A pure classifier of the
//! final ending (어미) or particle (조사) of the last word.
//!
//! Korean puts the end of a sentence at its very end: 요 (…어요, …세요,
//! …나요, …는데요, …고요), 죠, …다 (…니다, …었다) and …ㅂ니까 finish a
//! sentence; connective endings (…는데, …고, …서, …면, …니까 used as
//! "because", …지만, …며) and bare particles (은/는/이/가/을/를/에/도/랑/…)
//! promise more to come, and so do a stem cut before its ending (맛있,
//! 사망했: whisper's text of audio stopped inside a word) and several words
//! ending on a noun (the predicate is still to come). The end-of-turn rule
//! answers a `Complete` turn after a shorter silence and waits longer on an
//! `Incomplete` one; `Unknown` (casual endings that double as connectives, a
//! lone noun, numbers, other scripts) keeps the plain silence rule.
//!
//! Punctuation is not trusted: whisper often writes a period mid-sentence.
//! Only a trailing comma (never sentence-final) or ellipsis (trailing off)
//! turns `Unknown` into `Incomplete`. A wrong `Complete` costs a premature
//! reply while a wrong `Incomplete` only costs latency, so `Complete` is kept
//! to unambiguous endings.

/// How finished a transcript sounds, from its final ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// A sentence-final ending: the caller is likely done.
    Complete,
    /// A connective ending or bare particle: more is likely to follow.
    Incomplete,
    /// No reliable cue.
    Unknown,
}

use Completeness::{Complete, Incomplete, Unknown};

/// Classifies the end of a (cleaned, redacted) transcript.
pub fn classify(text: &str) -> Completeness {
    let trimmed = text.trim_end_matches(|c: char| c.is_whitespace() || is_closing(c));
    let comma = trimmed.ends_with([',', '，', '、']);
    let body = trimmed.trim_end_matches(|c: char| c.is_whitespace() || is_punct(c) || is_closing(c));
    let Some(last_word) = body.split_whitespace().next_back() else { return Unknown };
    // The trailing run of Hangul syllables ("PCR검사는" → "검사는").
    let rev: Vec<char> = last_word.chars().rev().take_while(|c| is_syllable(*c)).collect();
    let w: Vec<char> = rev.into_iter().rev().collect();
    // Whisper writes an ellipsis where the speaker trails off ("몇 번을 더 말...").
    let trailing_off = trimmed.ends_with("...") || trimmed.ends_with('…');
    // Korean ends a sentence with its predicate: several words ending in a
    // word that cannot be a (casual) final ending ("막대 모양의 금괴를 말하며
    // 종류", "한 달") stop before it. A lone word may be a short answer.
    let several_words = body.split_whitespace().nth(1).is_some();
    // A doubled sound (헉헉, 쌕쌕) is a caller's breath or cough, no noun.
    let doubled = w.len() >= 2 && w.len().is_multiple_of(2) && w[..w.len() / 2] == w[w.len() / 2..];
    let open_word = w.last().is_some_and(|&c| !casual_final(c)) && !ENDING_WORDS.contains(&last_word) && !doubled;
    match ending(&w) {
        Unknown if comma || trailing_off || (several_words && open_word) => Incomplete,
        c => c,
    }
}

/// Can a casual (반말) or clipped sentence end on this syllable? The 아/어
/// family contracts onto any stem (아파, 기뻐, 행복해, 있어, 봐, 줘, 돼, 가,
/// 써): an open syllable with ㅏ ㅐ ㅑ ㅓ ㅔ ㅕ ㅘ ㅙ ㅝ (야, 네, 세, 게, 래,
/// 대, 까, 자, 라 among them); and …니 / …지 / …구 / …든 / …걸 / …군 / …듯.
/// Any other last syllable is a noun's or a cut word's.
fn casual_final(c: char) -> bool {
    if !is_syllable(c) {
        return true;
    }
    let vowel = (c as u32 - 0xAC00) / 28 % 21;
    (jong(c).is_none() && matches!(vowel, 0 | 1 | 2 | 4 | 5 | 6 | 9 | 10 | 14)) || "니지구든걸군듯".contains(c)
}

/// Words that end a turn on their own though their last syllable is a
/// noun's: a greeting, agreement.
const ENDING_WORDS: [&str; 3] = ["안녕", "물론", "맞음"];

fn ending(w: &[char]) -> Completeness {
    let Some(&last) = w.last() else { return Unknown };
    let prev = w.len().checked_sub(2).map(|i| w[i]);
    let prev2 = w.len().checked_sub(3).map(|i| w[i]);
    let word: String = w.iter().collect();
    let ends = |s: &str| word.ends_with(s);
    if matches!(word.as_str(), "네" | "예" | "응" | "아니오") {
        return Complete;
    }
    if MID_WORDS.split(' ').any(|m| m == word) {
        return Incomplete;
    }
    match last {
        // A stem cut before its ending (맛있, 사망했, 하겠): past tense and
        // 있/없 never end a word; the audio stopped inside it.
        _ if jong(last) == Some(JONG_SS) => Incomplete,
        // Polite 요: …어요, …세요, …나요, …데요, …고요, …서요, …이요.
        // Nouns that end in 요 (필요, 중요, 주요) are not endings.
        '요' if ["필요", "중요", "주요", "수요", "소요", "강요"].iter().any(|n| ends(n)) => Unknown,
        '요' => Complete,
        '죠' => Complete,
        // …십시오 / …시오: formal imperative.
        '오' if ends("시오") => Complete,
        // …다: …니다, …었다, …한다, …이다. "다" alone is the adverb (다 했어요);
        // 보다 / 마다 are particles; …려다 is the clipped connective …려다가.
        '다' if w.len() == 1 || ends("보다") || ends("마다") || ends("려다") => Incomplete,
        '다' if word == "바다" => Unknown,
        '다' => Complete,
        // …ㅂ니까 (합니까, 습니까) asks; other …니까 (아프니까, 그러니까) is "because".
        '까' if prev == Some('니') => match prev2 {
            Some(c) if jong(c) == Some(JONG_B) => Complete,
            _ => Incomplete,
        },
        // …ㄹ까 (할까, 일까) asks.
        '까' if prev.and_then(jong) == Some(JONG_L) => Complete,
        '까' if word == "아까" => Incomplete,
        '까' => Unknown,
        // …는데 / …은데 / …인데 / …던데 without 요.
        '데' => Incomplete,
        // …고 (connective, quotative …라고 / …다고, particle 하고); a few
        // nouns end in 고.
        '고' if ["신고", "광고", "사고", "참고", "창고", "금고", "경고", "최고", "재고", "공고"]
            .iter()
            .any(|n| ends(n)) =>
        {
            Unknown
        }
        '고' => Incomplete,
        // …어서 / …아서 / …해서 / …에서 / …면서; nouns in 서 (증명서,
        // 진단서, 경찰서) mostly follow a closed syllable.
        '서' => match prev {
            None => Unknown,
            Some('면') => Incomplete,
            Some(c) if jong(c).is_some() => Unknown,
            _ if ["보고서", "도서", "부서", "교과서"].iter().any(|n| ends(n)) => Unknown,
            _ => Incomplete,
        },
        // …면 (if), …며, …지만 / particle 만, …도록, …러 (to do), …든.
        '면' | '며' | '만' | '록' | '러' | '든' => Incomplete,
        // …어야 / …아야 / …해야 (must: 받아야 하나요, 말씀드려야); 이야 / 거야 are copulas.
        '야' if prev.is_some_and(|c| "어아여해려워와봐줘돼셔춰켜쳐겨혀펴러".contains(c)) => {
            Incomplete
        }
        // …게 (어떻게, 아프게); …ㄹ게 is a casual promise.
        '게' if prev.and_then(jong) == Some(JONG_L) => Unknown,
        '게' => Incomplete,
        // …지 (까지, …는지, …지 않다). Casual …지 is rare on a hotline.
        '지' => Incomplete,
        // Particles: 은/는/을/를, 에/도/랑/의/께/로/와/과, 부터, 처럼.
        '은' | '는' | '을' | '를' | '에' | '도' | '랑' | '의' | '께' | '로' | '와' | '과' | '터' | '럼'
            if w.len() >= 2 =>
        {
            Incomplete
        }
        // 이 after a closed syllable (열이, 검사결과이); 가 after an open one
        // (아이가, …다가). 아이 / 국가 are nouns.
        '이' if w.len() >= 2 && prev.and_then(jong).is_some() => Incomplete,
        '가' if w.len() >= 2 && prev.and_then(jong).is_none() => Incomplete,
        '나' if ends("거나") || ends("이나") => Incomplete,
        // A verb modifier (받을 수, 시작할, 혼합된, 기다리던, 애석한): a noun
        // follows. A few nouns end in 한 (기한, 제한).
        '할' | '될' | '된' | '던' => Incomplete,
        '한' if ["기한", "제한", "권한", "무한", "최소한", "최대한"].iter().any(|n| ends(n)) => Unknown,
        '한' => Incomplete,
        '갈' | '볼' | '올' | '줄' if w.len() == 1 => Incomplete,
        // Postpositions: 너한테, …에 대해 / 위해 / 통해 / 인해 / 관해, …하여.
        '테' if ends("한테") => Incomplete,
        '해' if ["대해", "위해", "통해", "인해", "관해"].iter().any(|n| ends(n)) => Incomplete,
        '여' if ends("하여") || ends("되여") => Incomplete,
        // …으니 (들으니, 있으니: "as, since"); 니 after a vowel is also a casual question.
        '니' if ends("으니") => Incomplete,
        // Fused particles: 에선 (에서는), …엔 (에는: 여름엔), 한텐 (한테는).
        '선' if ends("에선") => Incomplete,
        '엔' if w.len() >= 2 => Incomplete,
        '텐' if ends("한텐") => Incomplete,
        _ => Unknown,
    }
}

/// Whole words that cannot end a sentence: adverbs, determiners, pronouns
/// with a fused particle, bound nouns (할 수, 날 때, 접종 후).
const MID_WORDS: &str = "정말 너무 모두 지금 꼭 보통 아주 많이 조금 좀 혹시 그냥 다시 또 먼저 바로 계속 빨리 제일 가장 더 잘 안 못 왜 언제 어디 뭐 무슨 어느 몇 이 그 저 제 우리 저희 난 넌 널 날 수 때 후 전 중 등 동안 것 거 그래서 그런데 그러면 근데 그럼 혹은 또는 및";

const JONG_B: u32 = 17;
const JONG_SS: u32 = 20;
const JONG_L: u32 = 8;

fn is_syllable(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

/// The final consonant (받침) index of a Hangul syllable, if it has one.
fn jong(c: char) -> Option<u32> {
    if !is_syllable(c) {
        return None;
    }
    let j = (c as u32 - 0xAC00) % 28;
    (j != 0).then_some(j)
}

fn is_punct(c: char) -> bool {
    matches!(c, '.' | '?' | '!' | ',' | '，' | '、' | '。' | '…' | '~' | '～' | ';' | ':' | '-' | '·')
}

fn is_closing(c: char) -> bool {
    matches!(c, '"' | '\'' | ')' | ']' | '」' | '』' | '”' | '’')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cases: &[&str], want: Completeness) {
        for t in cases {
            assert_eq!(classify(t), want, "{t:?}");
        }
    }

    #[test]
    fn polite_and_formal_endings_are_complete() {
        check(
            &[
                "코로나 검사는 어디서 받을 수 있나요",
                "독감 예방접종은 언제 맞아야 하나요?",
                "아이가 수두에 걸린 것 같아요.",
                "확인해 주세요",
                "감사합니다.",
                "결핵 검사는 어디서 해요",
                "그렇죠",
                "괜찮습니까?",
                "어떻게 해야 합니까",
                "선거 결과 영국 국민들은 찬성으로 투표하였다.",
                "네",
                "예.",
                "말라리아일까",
                "열이 나서요",
                "아이가 아픈데요",
                "그리고 기침도 하고요",
                "내일 가도 되나요 ",
                "코로나요",
                "회의실로 들어와 주십시오.",
                "열이 나요...",
            ],
            Complete,
        );
    }

    #[test]
    fn connectives_and_bare_particles_are_incomplete() {
        check(
            &[
                "해외여행 다녀와서 열이 나는데",
                "진드기에 물렸는데.",
                "열이 나고",
                "기침이 나서",
                "모기에 물리면",
                "아프니까",
                "그러니까",
                "열은 없지만",
                "코로나 검사는",
                "아이가",
                "열이",
                "예방접종을",
                "백신 접종 후에",
                "보건소에서",
                "저도",
                "친구랑",
                "작년보다",
                "언제까지",
                "어떻게",
                "검사 받으러",
                "그리고.",
                "다",
                "아까",
                "받을 수 있는지",
                "검사를 할",
                "접종 후",
                "검사 받을 수",
                "혹시",
                "코로나에 대해",
                "아이가 열이 날 때",
                "기다리던",
                "관련하여",
                "어디서 받아야",
                "몇 번을 더 말씀드려야",
                "도대체 몇 번을 더 말...",
                "열이 나고 기침이…",
                "경치 좋고 음식도 맛있",
                "최소 20명이 사망했",
                "너한테 그 말을 들으니",
                "혼합된 개념에선.",
                "여름엔",
                "아이한텐",
                "골드바는 보통 막대 모양의 금괴를 말하며 종류",
                "드디어 내일이 한 달",
                "오닉스 스톤과 호텔이 호낙",
                "불국사와 석굴암은 유네수",
                "상담원이요 상담원",
                // Keyword fragments wait too (a caller who says only them
                // waits incomplete_silence, not cut off).
                "코로나 신고",
                "검사가 필요",
                "우리 아이",
            ],
            Incomplete,
        );
    }

    #[test]
    fn ambiguous_or_foreign_endings_are_unknown() {
        check(
            &[
                "",
                "  ",
                "...",
                "신고",
                "진단서",
                "예방접종 증명서",
                "1339",
                "PCR",
                "너무 아파",
                "열이 있어",
                "국가",
                "[전화번호]",
                "바다",
                "기분 최고야",
                "어디 가니",
                "선생님",
                "사람",
                "최소 20명이 사망해.",
                "정말 기뻐",
                "촬영을 시작할 거래.",
                "놀기만 할 거니?",
                "여러분 안녕",
                "네 물론",
                "사람 좀 바꿔 줘",
                "또 맞아야 하나",
                "숨이 차서 말을 못 하겠어요 헉헉",
                "숨소리가 쌕쌕",
            ],
            Unknown,
        );
    }

    #[test]
    fn the_same_syllable_differs_by_what_precedes_it() {
        // …니까: formal question after ㅂ, "because" otherwise.
        assert_eq!(classify("검사를 받아야 합니까"), Complete);
        assert_eq!(classify("검사를 받아야 하니까"), Incomplete);
        // …데요 finishes, …는데 does not; …고요 finishes, …고 does not.
        assert_eq!(classify("열이 나는데요"), Complete);
        assert_eq!(classify("열이 나는데"), Incomplete);
        assert_eq!(classify("기침도 나고요"), Complete);
        assert_eq!(classify("기침도 나고"), Incomplete);
        // …서 after an open syllable connects; after a closed one it is a noun.
        assert_eq!(classify("병원에 가서"), Incomplete);
        assert_eq!(classify("확인서"), Unknown);
        assert_eq!(classify("밥을 먹으면서"), Incomplete);
    }

    #[test]
    fn punctuation_alone_does_not_decide() {
        // Whisper's period mid-sentence does not finish a connective.
        assert_eq!(classify("열이 나는데."), Incomplete);
        assert_eq!(classify("기침이 나서?"), Incomplete);
        // A comma does mark an unfinished phrase when the ending says nothing.
        assert_eq!(classify("아이,"), Incomplete);
        assert_eq!(classify("아이."), Unknown);
        // Quotes and brackets around the end are looked through.
        assert_eq!(classify("\"검사 받았어요.\""), Complete);
        assert_eq!(classify("PCR검사는"), Incomplete);
    }

    /// Reads `$SORI_SPEECH_KO/transcripts.tsv` (the evaluation corpus, kept
    /// outside the repository) and prints how whole sentences and their
    /// word prefixes (a caller pausing between words) are classified.
    /// `SORI_SPEECH_KO=/work/shared/speech-ko SPLIT=tune cargo test -p sori
    /// --lib korean_end -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn corpus_report() {
        let Ok(dir) = std::env::var("SORI_SPEECH_KO") else { return };
        let split = std::env::var("SPLIT").unwrap_or_else(|_| "tune".into());
        let Ok(tsv) = std::fs::read_to_string(format!("{dir}/transcripts.tsv")) else { return };
        let mut whole = [0usize; 3];
        let mut prefix = [0usize; 3];
        let idx = |c: Completeness| match c {
            Complete => 0,
            Incomplete => 1,
            Unknown => 2,
        };
        for line in tsv.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let [_, _, sp, text, ..] = cols[..] else { continue };
            if sp != split {
                continue;
            }
            let c = classify(text);
            whole[idx(c)] += 1;
            if c != Complete {
                println!("whole {c:?}: {text}");
            }
            let words: Vec<&str> = text.split_whitespace().collect();
            for n in 1..words.len() {
                let p = words[..n].join(" ");
                let c = classify(&p);
                prefix[idx(c)] += 1;
                if c == Complete || (c == Unknown && std::env::var("SHOW_UNKNOWN").is_ok()) {
                    println!("prefix {c:?}: {p}");
                }
            }
        }
        println!("{split}: whole sentences complete/incomplete/unknown {whole:?}; word prefixes {prefix:?}");
    }
}
