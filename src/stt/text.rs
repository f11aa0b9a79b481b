//! Clean-up of recognised text that every engine needs.

/// What the router, the logs and the call record get of a transcript: loops
/// and annotations cut, personal numbers redacted. Calls, `sori transcribe`,
/// `sori eval` and the API all use this one function.
pub fn for_routing(raw: &str) -> String {
    crate::redact::redact(&collapse_repeats(raw))
}

/// A turn transcribed in pieces ([`super::pieces`]), as the router gets it:
/// each piece's loops cut on its own (a loop never spans a cut: each piece is
/// its own decoding), joined in order, then personal numbers redacted over the
/// whole (a phone number may straddle a cut).
pub fn join_pieces(pieces: &[&str]) -> String {
    let cleaned: Vec<String> = pieces.iter().map(|p| collapse_repeats(p)).filter(|p| !p.is_empty()).collect();
    crate::redact::redact(&cleaned.join(" "))
}

/// Cuts a decoder loop: whisper sometimes repeats a phrase until its token
/// budget runs out ("홍역 증상 홍역 증상 홍역 증상 …"). When the words from
/// some point on are one phrase said at least twice in a row (the last copy
/// may be cut short), one copy is kept. Text without such a loop is returned
/// unchanged (trimmed).
pub fn collapse_repeats(text: &str) -> String {
    let text = collapse_char_loops(&drop_annotations(text));
    let words: Vec<&str> = text.split_whitespace().collect();
    let n = words.len();
    // The decoder started the utterance over after its first sentence (the
    // copy may differ a little): keep the first sentence.
    if let Some(end) = words.iter().position(|w| w.ends_with(['.', '?', '!'])) {
        let first = &words[..=end];
        if first.len() >= 3 && words.len() >= first.len() + 3 && words[end + 1..end + 4] == first[..3] {
            return first.join(" ");
        }
    }
    for start in 0..n {
        let rest = &words[start..];
        for period in 1..rest.len() {
            // The last word may be a copy cut short by the token budget.
            let last = rest.len() - 1;
            let periodic = (period..rest.len())
                .all(|i| rest[i] == rest[i - period] || (i == last && rest[i - period].starts_with(rest[i])));
            // A full second copy, or a partial one of at least three words and
            // half the phrase (the token budget cut the loop short).
            let tail = rest.len() - period;
            if periodic && (tail >= period || (tail >= 3 && 2 * tail >= period)) {
                return words[..start + period].join(" ");
            }
        }
    }
    words.join(" ")
}

/// Whisper writes sounds it cannot transcribe as "(박수)", "[음악]": those
/// are not words the caller said.
pub(crate) fn drop_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' | '[' | '（' | '【' => depth += 1,
            ')' | ']' | '）' | '】' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// A short piece (1–4 characters) repeated 4 or more times in a row
/// ("5.5.5.5.5.5", "ㅋㅋㅋㅋㅋ") is a decoder loop: one copy is kept.
fn collapse_char_loops(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    'outer: while i < c.len() {
        for p in 1..=4 {
            let mut reps = 1;
            while i + (reps + 1) * p <= c.len() && c[i + reps * p..i + (reps + 1) * p] == c[i..i + p] {
                reps += 1;
            }
            if reps >= 4 && c[i..i + p].iter().any(|ch| !ch.is_whitespace()) {
                out.extend(&c[i..i + p]);
                i += reps * p;
                continue 'outer;
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_looping_phrase_is_kept_once() {
        assert_eq!(collapse_repeats("홍역 증상 홍역 증상 홍역 증상 홍역"), "홍역 증상");
        assert_eq!(collapse_repeats("네 코로나 검사 어디서 코로나 검사 어디서 코로나"), "네 코로나 검사 어디서");
        assert_eq!(collapse_repeats("네 네 네 네"), "네");
        assert_eq!(collapse_repeats("이게 마우고타, 미하, 미하, 미하, 미"), "이게 마우고타, 미하,");
        // The token budget ended the second copy early.
        assert_eq!(
            collapse_repeats("이틀 이내로 이멜로 연락이 갈 겁니다. 이틀 이내로 이멜로"),
            "이틀 이내로 이멜로 연락이 갈 겁니다."
        );
        // Started over after the first sentence, with a slip in the copy.
        assert_eq!(
            collapse_repeats(
                "이틀 이내로 이멜로 연락이 갈 겁니다. 이틀 이내로 이멜로 이멜로 연락이 갈 겁니다. 이틀 이내로"
            ),
            "이틀 이내로 이멜로 연락이 갈 겁니다."
        );
        // Two different sentences stay.
        let two = "독감 주사 맞았어요. 근데 열이 나요.";
        assert_eq!(collapse_repeats(two), two);
    }

    #[test]
    fn annotations_and_character_loops_go() {
        assert_eq!(collapse_repeats("(댄스)"), "");
        assert_eq!(collapse_repeats("[음악] 코로나 검사 (박수)"), "코로나 검사");
        assert_eq!(collapse_repeats("유시코 Ph. 1.0.6.5.5.5.5.5.5.5.5.5"), "유시코 Ph. 1.0.6.5");
        assert_eq!(collapse_repeats("네네네네네네"), "네");
        assert_eq!(collapse_repeats("1339 119"), "1339 119");
    }

    #[test]
    fn ordinary_sentences_are_untouched() {
        for t in ["코로나 검사는 어디서 받을 수 있나요", "독감 주사 맞고 열이 나요 열이", "하나"]
        {
            assert_eq!(collapse_repeats(t), t);
        }
        // A single repeated word inside a sentence is not a loop.
        assert_eq!(collapse_repeats("아이가 열이 열이 나요"), "아이가 열이 열이 나요");
        // Nor a sentence that ends on a word or two of its start.
        assert_eq!(collapse_repeats("코로나 검사 받았는데 또 코로나 검사"), "코로나 검사 받았는데 또 코로나 검사");
    }
}
