//! Clean-up of recognised text that every engine needs.

/// Cuts a decoder loop: whisper sometimes repeats a phrase until its token
/// budget runs out ("홍역 증상 홍역 증상 홍역 증상 …"). When the words from
/// some point on are one phrase said at least twice in a row (the last copy
/// may be cut short), one copy is kept. Text without such a loop is returned
/// unchanged (trimmed).
pub fn collapse_repeats(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let n = words.len();
    for start in 0..n {
        let rest = &words[start..];
        for period in 1..=rest.len() / 2 {
            let periodic = (period..rest.len()).all(|i| rest[i] == rest[i - period]);
            if periodic && rest.len() >= 2 * period {
                return words[..start + period].join(" ");
            }
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_looping_phrase_is_kept_once() {
        assert_eq!(collapse_repeats("홍역 증상 홍역 증상 홍역 증상 홍역"), "홍역 증상");
        assert_eq!(collapse_repeats("네 코로나 검사 어디서 코로나 검사 어디서 코로나"), "네 코로나 검사 어디서");
        assert_eq!(collapse_repeats("네 네 네 네"), "네");
    }

    #[test]
    fn ordinary_sentences_are_untouched() {
        for t in ["코로나 검사는 어디서 받을 수 있나요", "독감 주사 맞고 열이 나요 열이", "하나"]
        {
            assert_eq!(collapse_repeats(t), t);
        }
        // A single repeated word inside a sentence is not a loop.
        assert_eq!(collapse_repeats("아이가 열이 열이 나요"), "아이가 열이 열이 나요");
    }
}
