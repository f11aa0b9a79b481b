//! Redaction of personal data in transcripts and logs: resident
//! registration numbers (주민등록번호), phone numbers and card numbers, in
//! digits or read out as Korean digits (공일공 …) the way STT writes them.

use std::sync::OnceLock;

use regex::Regex;

fn spoken_digits() -> &'static Regex {
    static P: OnceLock<Regex> = OnceLock::new();
    // Seven or more Korean digit words in a row (공일공 일이삼사 …).
    P.get_or_init(|| Regex::new(r"(?:[공영일이삼사오육칠팔구]\s?){7,}").expect("spoken digits regex"))
}

fn is_rrn(d: &str) -> bool {
    let b = d.as_bytes();
    if b.len() != 13 {
        return false;
    }
    let month = (b[2] - b'0') * 10 + (b[3] - b'0');
    let day = (b[4] - b'0') * 10 + (b[5] - b'0');
    (1..=12).contains(&month) && (1..=31).contains(&day) && (b'1'..=b'8').contains(&b[6])
}

/// What a run of digits (with spaces, dots or dashes inside) is, if personal.
fn classify(digits: &str) -> Option<&'static str> {
    let n = digits.len();
    if n == 13 && is_rrn(digits) {
        Some("[주민번호]")
    } else if (13..=19).contains(&n) {
        Some("[카드번호]")
    } else if (9..=11).contains(&n) && digits.starts_with('0') {
        Some("[전화번호]")
    } else {
        None
    }
}

/// Replaces personal numbers with placeholders: `[주민번호]`, `[카드번호]`, `[전화번호]`, `[번호]`.
pub fn redact(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // A run of digits with single separators between digit groups.
        let start = i;
        let mut end = i;
        let mut j = i;
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                j += 1;
                end = j;
            } else if matches!(chars[j], ' ' | '-' | '.')
                && chars.get(j + 1).map(|c| c.is_ascii_digit()).unwrap_or(false)
            {
                j += 1;
            } else {
                break;
            }
        }
        let run: String = chars[start..end].iter().collect();
        let digits: String = run.chars().filter(char::is_ascii_digit).collect();
        match classify(&digits) {
            Some(tag) => out.push_str(tag),
            None => out.push_str(&run),
        }
        i = end;
    }
    spoken_digits().replace_all(&out, "[번호]").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_numbers_are_redacted() {
        assert_eq!(redact("제 주민번호는 900101-1234567 이에요"), "제 주민번호는 [주민번호] 이에요");
        assert_eq!(redact("9001011234567"), "[주민번호]");
    }

    #[test]
    fn phone_numbers_are_redacted_but_hotline_numbers_stay() {
        assert_eq!(redact("010-1234-5678로 연락 주세요"), "[전화번호]로 연락 주세요");
        assert_eq!(redact("02 123 4567"), "[전화번호]");
        assert_eq!(redact("1339에 전화했어요. 119도요"), "1339에 전화했어요. 119도요");
    }

    #[test]
    fn card_numbers_are_redacted() {
        assert_eq!(redact("카드 1234-5678-9012-3456 이요"), "카드 [카드번호] 이요");
    }

    #[test]
    fn spoken_digit_strings_are_redacted() {
        assert_eq!(redact("번호는 공일공 일이삼사 오육칠팔 입니다"), "번호는 [번호]입니다");
        assert_eq!(redact("이삼일 전에 열이 났어요"), "이삼일 전에 열이 났어요");
    }
}
