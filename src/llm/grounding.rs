//! Checks that a generated answer stays within its passage before it is
//! spoken: no numbers the passage does not contain (ages, doses, days,
//! phone numbers are where a small model invents things), enough overlap
//! with the passage's wording, Korean text, and no diagnosis.

use std::collections::HashSet;

use crate::kb::Entry;

/// Share of the answer's character trigrams that must occur in the passage.
/// Faithful restatements of our entries measure 0.45–0.9; free invention by a
/// small model falls well under 0.3.
pub const MIN_OVERLAP: f32 = 0.35;

/// Phrases that state a diagnosis ("…에 걸리셨습니다", "…이 확실합니다").
const DIAGNOSIS: &[&str] =
    &["걸리셨습니다", "걸리신 것이 확실", "감염되셨습니다", "확진입니다", "진단됩니다", "으로 보입니다", "로 보입니다"];

fn trigrams(s: &str) -> HashSet<[char; 3]> {
    let c: Vec<char> = s.chars().filter(|c| !c.is_whitespace() && !c.is_ascii_punctuation()).collect();
    c.windows(3).map(|w| [w[0], w[1], w[2]]).collect()
}

fn numbers(s: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut cur = String::new();
    for ch in s.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_digit() {
            cur.push(ch);
        } else if !cur.is_empty() {
            out.insert(std::mem::take(&mut cur));
        }
    }
    out
}

/// `question` is what the caller asked: repeating it back is not an answer.
pub fn check(answer: &str, entry: &Entry, question: &str) -> Result<(), String> {
    let answer = answer.trim();
    if answer.chars().count() < 8 {
        return Err("answer too short".into());
    }
    let hangul = answer.chars().filter(|c| ('\u{AC00}'..='\u{D7A3}').contains(c)).count();
    if hangul * 2 < answer.chars().filter(|c| c.is_alphabetic()).count() {
        return Err("answer is not Korean".into());
    }
    let passage = format!("{} {} {} 119 1339", entry.title.get_ref(), entry.spoken.get_ref(), entry.answer.get_ref());
    let known = numbers(&passage);
    if let Some(n) = numbers(answer).into_iter().find(|n| !known.contains(n)) {
        return Err(format!("number {n} is not in the passage"));
    }
    if let Some(d) = DIAGNOSIS.iter().find(|d| answer.contains(*d)) {
        return Err(format!("reads as a diagnosis ({d})"));
    }
    let a = trigrams(answer);
    let p = trigrams(&passage);
    let overlap = a.iter().filter(|t| p.contains(*t)).count() as f32 / a.len().max(1) as f32;
    if overlap < MIN_OVERLAP {
        return Err(format!("only {:.0} % of the wording comes from the passage", overlap * 100.0));
    }
    // Small models echo the question; an answer must bring the passage's content.
    let q = trigrams(question);
    let informative = a.iter().filter(|t| p.contains(*t) && !q.contains(*t)).count() as f32 / a.len().max(1) as f32;
    if informative < MIN_OVERLAP {
        return Err(format!("mostly repeats the question ({:.0} % new passage content)", informative * 100.0));
    }
    if answer.ends_with('?') || answer.trim_end_matches('.').ends_with("나요") {
        return Err("answers with a question".into());
    }
    Ok(())
}

/// Trims a generated answer to whole sentences.
pub fn tidy(answer: &str) -> String {
    let s = crate::dialog::brain::sentences(answer.trim());
    let ends = |x: &String| x.ends_with(['.', '?', '!', '요', '다']);
    let keep: Vec<String> = s.iter().take(3).cloned().collect();
    match keep.last() {
        Some(last) if !ends(last) && keep.len() > 1 => keep[..keep.len() - 1].join(" "),
        _ => keep.join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kb::KnowledgeBase;
    use std::path::Path;

    fn entry(id: &str) -> Entry {
        let kb = KnowledgeBase::parse(Path::new("kb/1339.toml"), include_str!("../../kb/1339.toml")).expect("kb");
        kb.entry(id).expect("entry").clone()
    }

    #[test]
    fn the_entrys_own_answer_passes() {
        let e = entry("flu-vaccine");
        assert_eq!(check(e.spoken.get_ref(), &e, "독감 예방접종 무료예요?"), Ok(()));
    }

    #[test]
    fn invented_numbers_fail() {
        let e = entry("flu-vaccine");
        let bad = e.spoken.get_ref().replace("65세", "50세");
        assert!(check(&bad, &e, "독감 무료?").unwrap_err().contains("50"));
    }

    #[test]
    fn unrelated_text_and_english_fail() {
        let e = entry("measles");
        assert!(check("오늘은 날씨가 맑고 바람이 불어서 산책하기 좋은 날입니다.", &e, "홍역").is_err());
        assert!(check("Measles is a viral disease that spreads through the air.", &e, "홍역").is_err());
    }

    #[test]
    fn a_diagnosis_fails() {
        let e = entry("measles");
        let diag = format!("{} 홍역에 걸리셨습니다.", e.spoken.get_ref());
        assert!(check(&diag, &e, "홍역").unwrap_err().contains("diagnosis"));
    }

    #[test]
    fn echoing_the_question_is_not_an_answer() {
        let e = entry("flu-vaccine");
        let q = "독감 예방접종은 누가 무료로 맞을 수 있나요?";
        assert!(check("독감 예방접종은 누가 무료로 맞을 수 있나요.", &e, q).is_err());
    }

    #[test]
    fn tidy_drops_a_cut_off_sentence() {
        assert_eq!(tidy("손을 씻으세요. 마스크를 쓰세요. 그리고 또"), "손을 씻으세요. 마스크를 쓰세요.");
    }
}
