//! Sentence splitting for incremental speech: the first sentence of an
//! answer is synthesised and played while the next one is made.

/// Polite / formal Korean sentence endings that close a sentence even when
/// the writer (or the LLM) left out the full stop: `…니다 다음`, `…세요 그리고`.
const KOREAN_ENDINGS: &[&str] = &[
    "니다", "니까", "세요", "에요", "예요", "어요", "아요", "해요", "까요", "지요", "군요", "네요", "래요", "데요",
    "죠",
];

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '?' | '!' | '…' | '。' | '？' | '！')
}

fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | ')' | ']' | '」' | '』' | '”' | '’' | '）')
}

/// Splits `text` into sentences, in order, trimmed, none empty.
///
/// A sentence ends at `.`, `?`, `!`, `…` (and their full-width forms) followed
/// by whitespace or the end (closing quotes/brackets stay with it; `1.5` and
/// `www.kdca.go.kr` do not split), at a line break, or after a word ending in
/// a polite/formal Korean ending (`…습니다`, `…세요`, `…요`-forms) followed
/// by a space and more text.
pub fn split_sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' || c == '\r' {
            push(&mut out, &mut cur);
            i += 1;
            continue;
        }
        cur.push(c);
        i += 1;
        if is_terminator(c) {
            // Runs like "?!" or "..." and closing quotes belong to this sentence.
            while i < chars.len() && (is_terminator(chars[i]) || is_closer(chars[i])) {
                cur.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() || chars[i].is_whitespace() {
                push(&mut out, &mut cur);
            }
        } else if i < chars.len() && chars[i] == ' ' && ends_korean_sentence(&cur) {
            // Only if more text follows.
            if chars[i..].iter().any(|c| !c.is_whitespace()) {
                push(&mut out, &mut cur);
            }
        }
    }
    push(&mut out, &mut cur);
    out
}

fn ends_korean_sentence(s: &str) -> bool {
    KOREAN_ENDINGS.iter().any(|e| s.ends_with(e))
        // A lone word like "세요" is not a sentence.
        && s.trim().chars().count() > 2
}

fn push(out: &mut Vec<String>, cur: &mut String) {
    let t = cur.trim();
    if !t.is_empty() {
        out.push(t.to_string());
    }
    cur.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_answers_split_at_their_endings() {
        let s = split_sentences(
            "가까운 선별진료소에서 검사를 받으실 수 있습니다. 증상이 있으신가요? 네! 자세한 내용은 1339로 문의하세요.",
        );
        assert_eq!(
            s,
            [
                "가까운 선별진료소에서 검사를 받으실 수 있습니다.",
                "증상이 있으신가요?",
                "네!",
                "자세한 내용은 1339로 문의하세요."
            ]
        );
    }

    #[test]
    fn endings_without_full_stops_still_split() {
        let s = split_sentences("검사는 무료입니다 보건소에 전화해 보세요 감사합니다");
        assert_eq!(s, ["검사는 무료입니다", "보건소에 전화해 보세요", "감사합니다"]);
        // "바다" ends in 다 but is not a sentence ending.
        assert_eq!(split_sentences("바다 위에서"), ["바다 위에서"]);
    }

    #[test]
    fn numbers_urls_and_quotes_do_not_split() {
        let s = split_sentences("체온이 37.5도 이상이면 www.kdca.go.kr 을 보세요. \"마스크를 쓰세요.\" 그리고…");
        assert_eq!(s, ["체온이 37.5도 이상이면 www.kdca.go.kr 을 보세요.", "\"마스크를 쓰세요.\"", "그리고…"]);
    }

    #[test]
    fn lines_and_english_split_too() {
        assert_eq!(split_sentences("Hello there. How are you?\nFine"), ["Hello there.", "How are you?", "Fine"]);
        assert!(split_sentences("  \n ").is_empty());
        assert_eq!(split_sentences("정말요?!  네."), ["정말요?!", "네."]);
    }
}
