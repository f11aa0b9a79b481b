//! Guards on one whisper decoding: signs that the text is not what was
//! said (a decoder loop, more text than the audio can hold, a decoder
//! unsure of every token, silence read as words). The worker runs them on
//! its first, fast decoding and decodes again only when one fires.

use super::proto::DecodeOptions;

/// One decoding and what whisper said of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub text: String,
    /// Mean natural log-probability of the text tokens (0 when none).
    pub avg_logprob: f32,
    pub no_speech: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// A phrase or a run of characters repeated: the decoder looped.
    Loop,
    /// More syllables than `max_chars_per_s` of audio allows.
    TooLong,
    /// Mean log-probability below `logprob_min`.
    LowLogprob,
    /// whisper thinks there is no speech and is unsure of its words.
    NoSpeech,
}

impl Guard {
    pub fn name(self) -> &'static str {
        match self {
            Guard::Loop => "loop",
            Guard::TooLong => "too-long",
            Guard::LowLogprob => "logprob",
            Guard::NoSpeech => "no-speech",
        }
    }
}

/// Characters that count as spoken (letters and digits; Hangul syllables are letters).
pub fn spoken_chars(text: &str) -> usize {
    text.chars().filter(|c| c.is_alphanumeric()).count()
}

/// The first guard that fires on `d` for `audio_s` seconds of speech.
pub fn check(d: &Decoded, audio_s: f32, o: &DecodeOptions) -> Option<Guard> {
    let empty = spoken_chars(&d.text) == 0;
    if !empty && d.no_speech > o.no_speech && d.avg_logprob < o.logprob_min {
        return Some(Guard::NoSpeech);
    }
    if looped(&d.text) {
        return Some(Guard::Loop);
    }
    // A short clip may still hold a few syllables: allow two on top.
    if spoken_chars(&d.text) as f32 > 2.0 + o.max_chars_per_s * audio_s.max(0.0) {
        return Some(Guard::TooLong);
    }
    if !empty && d.avg_logprob < o.logprob_min {
        return Some(Guard::LowLogprob);
    }
    None
}

/// True when the text repeats itself the way a looping decoder does: the
/// loop clean-up would cut it ([`super::text::collapse_repeats`]), or a
/// piece of eight spoken characters occurs three times or one of five four
/// times (a name said three times in one sentence, "여수 세계 박람회", is
/// not a loop).
pub fn looped(text: &str) -> bool {
    let cleaned = super::text::collapse_repeats(text);
    if spoken_chars(&cleaned) < spoken_chars(&super::text::drop_annotations(text)) {
        return true;
    }
    let c: Vec<char> = text.chars().filter(|c| c.is_alphanumeric()).collect();
    [(8, 3), (5, 4)].iter().any(|&(len, times)| {
        let mut seen = std::collections::HashMap::<&[char], usize>::new();
        c.windows(len).any(|w| {
            let n = seen.entry(w).or_default();
            *n += 1;
            *n >= times
        })
    })
}

/// True when the decoded tokens so far end in a loop: the last `p` tokens
/// repeat the `p` before them for a span of 6 tokens or more (about three
/// syllables: a phrase said again), or a shorter span has come three times
/// in a row. The worker then forces the end of text, so a looping decoder
/// stops at its second copy instead of running to the token budget, and the
/// clean-up ([`super::text::collapse_repeats`]) keeps one copy.
pub fn repeating_tail(tokens: &[i32]) -> bool {
    let n = tokens.len();
    (1..=n / 2).any(|p| {
        let copies = if p >= 6 { 2 } else { 3 };
        p * copies <= n && (0..p * (copies - 1)).all(|i| tokens[n - 1 - i] == tokens[n - 1 - i - p])
    })
}

/// Tokens a decoder must repeat from the very start of its text before it
/// counts as starting the utterance over (about three syllables).
pub const RESTART_TOKENS: usize = 6;

/// True when the tokens so far end with the first [`RESTART_TOKENS`] tokens
/// of the text again: the decoder has run out of audio and started over
/// ("막대 모양의 금괴를 말하며 골드 바는 보통 …"), the commonest loop on short
/// utterances. The worker ends the text there (saving a whole second copy's
/// decoding) and [`strip_restart`] removes the copy's start.
pub fn restarts(tokens: &[i32]) -> bool {
    let (n, k) = (tokens.len(), RESTART_TOKENS);
    n >= 2 * k && tokens[n - k..] == tokens[..k]
}

/// The text without the start-over [`restarts`] caught: the longest ending
/// (at least two syllables, at most half the text) that repeats its
/// beginning is cut. `None` when the text does not end so. The stop may
/// fall inside a syllable's bytes (whisper's tokens are bytes): a broken
/// last character is dropped first.
pub fn strip_restart(text: &str) -> Option<String> {
    let text = text.trim_end_matches('\u{FFFD}');
    let b = text.as_bytes();
    let n = b.len();
    let len = (6..=n / 2).rev().find(|&l| text.is_char_boundary(n - l) && b[n - l..] == b[..l])?;
    Some(text[..n - len].trim_end().to_string())
}

/// Of a first decoding that fired a guard and its retry, the one to keep:
/// the retry unless it fires a guard too and is less sure of itself.
pub fn keep_retry(first: &Decoded, retry: &Decoded, audio_s: f32, o: &DecodeOptions) -> bool {
    match check(retry, audio_s, o) {
        None => true,
        Some(Guard::Loop) if check(first, audio_s, o) != Some(Guard::Loop) => false,
        Some(_) => retry.avg_logprob >= first.avg_logprob || check(first, audio_s, o) == Some(Guard::Loop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str, lp: f32) -> Decoded {
        Decoded { text: text.into(), avg_logprob: lp, no_speech: 0.01 }
    }

    #[test]
    fn a_decoder_starting_over_is_caught_and_cut() {
        assert!(restarts(&[1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6]));
        assert!(!restarts(&[1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5]), "five tokens are not enough");
        assert!(!restarts(&[1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5]));
        assert_eq!(
            strip_restart("골드반은 보통 막대 모양의 금괴를 말하며 골드반은 보").as_deref(),
            Some("골드반은 보통 막대 모양의 금괴를 말하며")
        );
        assert_eq!(
            strip_restart("드라마 관계자분들은 모두 회의실로 들어와 주십시오. 드라마 관계자\u{FFFD}").as_deref(),
            Some("드라마 관계자분들은 모두 회의실로 들어와 주십시오.")
        );
        assert_eq!(strip_restart("독감 예방접종 어디서 해요?"), None);
        assert_eq!(strip_restart("네 네"), None, "too short to be a restart");
    }

    #[test]
    fn loops_fire_and_ordinary_sentences_do_not() {
        let o = DecodeOptions::default();
        let looping = "코로나 검사 어디서 해요 코로나 검사 어디서 해요 코로나 검사 어디서 해요 코로나";
        assert_eq!(check(&d(looping, -0.2), 6.0, &o), Some(Guard::Loop));
        assert!(looped("예방접종예방접종예방접종예방접종 받으려면"));
        assert!(looped("이틀 이내로 이멜로 연락이 갈 겁니다. 이틀 이내로 이멜로"));
        for ok in [
            "여수 세계 박람회 정부 지원위원회는 이천십이 여수 세계 박람회 지원 특별법에 의거 여수 세계 박람회와 관련된 위원회예요.",
            "선거 결과 영국 국민들은 투표율 육십사쩜오퍼센트에, 찬성 육십칠쩜이퍼센트, 반대 삼십이쩜팔퍼센트로 투표하였다.",
            "아이가 열이 열이 나요",
            "독감 예방접종은 어디서 맞을 수 있나요?",
        ] {
            assert!(!looped(ok), "{ok}");
            assert_eq!(check(&d(ok, -0.3), 8.0, &o), None, "{ok}");
        }
    }

    #[test]
    fn text_too_long_for_the_audio_fires() {
        let o = DecodeOptions::default();
        // 30 syllables in one second of audio cannot have been said.
        let t = "가나다라마바사아자차카타파하거너더러머버서어저처커터퍼허고노";
        assert_eq!(check(&d(t, -0.2), 1.0, &o), Some(Guard::TooLong));
        assert_eq!(check(&d(t, -0.2), 4.0, &o), None);
    }

    #[test]
    fn unsure_decodings_and_silence_fire() {
        let o = DecodeOptions::default();
        assert_eq!(check(&d("그래서 뭐라고", -1.4), 2.0, &o), Some(Guard::LowLogprob));
        let silence = Decoded { text: "감사합니다".into(), avg_logprob: -1.2, no_speech: 0.9 };
        assert_eq!(check(&silence, 2.0, &o), Some(Guard::NoSpeech));
        // Sure of its words: speech, whatever the no-speech estimate.
        let sure = Decoded { text: "네".into(), avg_logprob: -0.1, no_speech: 0.9 };
        assert_eq!(check(&sure, 1.0, &o), None);
        assert_eq!(check(&d("", 0.0), 1.0, &o), None);
    }

    #[test]
    fn a_repeating_token_tail_is_a_loop_and_a_stutter_is_not() {
        let sentence = [10, 11, 12, 13, 14, 15, 16];
        let mut looping = sentence.to_vec();
        looping.extend_from_slice(&sentence);
        assert!(repeating_tail(&looping), "a sentence said twice");
        assert!(!repeating_tail(&looping[..looping.len() - 1]), "not yet a full second copy");
        // A short word repeated once ("코로나 코로나 검사") is speech, three times a loop.
        assert!(!repeating_tail(&[1, 2, 3, 1, 2, 3]));
        assert!(!repeating_tail(&[1, 2, 3, 1, 2, 3, 4, 5]));
        assert!(repeating_tail(&[9, 1, 2, 3, 1, 2, 3, 1, 2, 3]));
        assert!(repeating_tail(&[5, 5, 5]));
        assert!(!repeating_tail(&[5, 5]));
        assert!(!repeating_tail(&[]));
    }

    #[test]
    fn a_retry_is_kept_unless_it_is_worse() {
        let o = DecodeOptions::default();
        let looping = d("홍역 증상 홍역 증상 홍역 증상 홍역 증상", -0.3);
        assert!(keep_retry(&looping, &d("홍역 증상이 뭐예요", -0.4), 3.0, &o));
        // Still unsure, but less so: kept; more unsure: the first stays.
        assert!(keep_retry(&d("가나", -1.5), &d("가다", -1.2), 2.0, &o));
        assert!(!keep_retry(&d("가나", -1.2), &d("가다", -1.5), 2.0, &o));
        // A retry that loops never replaces one that does not.
        assert!(!keep_retry(&d("가나", -1.5), &looping, 3.0, &o));
    }
}
