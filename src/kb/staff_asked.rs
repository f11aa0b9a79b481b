//! One of the line's staff named as the one wanted, in what is said as a
//! request, whatever the verb: "간호사님 좀 인경 부탁드려요" (연결 heard
//! wrong), "감염병 신고 담당자분 꿔 주실래요" (바꿔 half heard). The agent
//! triggers pair a person with a verb; a recogniser that loses the verb
//! loses the trigger, while the person and the request's ending survive.
//!
//! The person must be the one asked for, not the one told of: named with an
//! honorific and no particle ("담당자분 …"), or with a particle of asking
//! (좀, 랑, 하고, 한테, 께, 을/를, 으로); "간호사가 주사 맞고 30분 있다 가라던데
//! …" (가: told of) and "저 간호사인데요" (인: what the caller is) are not.
//! A name may be heard with one slip where a word starts (간호스, 담당지).

use std::sync::OnceLock;

use super::fuzzy::SoundPattern;
use super::index::normalize;
use super::jamo::heard;

/// The line's staff a caller asks for by name, each of [`NAME_SYLLABLES`]
/// (a two-syllable one heard with a slip is too many everyday words; 직원
/// and the rest are in the agent triggers with their verbs).
const STAFF: &[&str] = &["상담원", "상담사", "담당자", "간호사", "책임자", "관리자", "안내원", "교환원"];

/// How long every name of [`STAFF`] is.
const NAME_SYLLABLES: usize = 3;

/// Honorifics that may follow the name inside its word.
const HONORIFICS: &[&str] = &["님", "분"];

/// Particles that make the named one the one asked for.
const ASKING_PARTICLES: &[&str] =
    &["좀", "이랑", "랑", "하고", "한테", "께", "을", "를", "으로", "로", "과", "와", "요", "이요", "연결", "바꿔"];

/// What a name of three syllables heard where a word starts may absorb:
/// one sound heard wrong (간호스 for 간호사).
const NAME_SLIP: f32 = 1.0;

/// The staff member `text` names as the one asked for, or None. Whether it
/// is said as a request is [`super::frame::said_as_request`]'s to say.
pub fn named(text: &str) -> Option<&'static str> {
    static NAMES: OnceLock<Vec<SoundPattern>> = OnceLock::new();
    let names = NAMES.get_or_init(|| STAFF.iter().map(|n| SoundPattern::near_word(n, NAME_SLIP)).collect());
    let normalized = normalize(text);
    let words: Vec<&str> = normalized.split(' ').collect();
    for (i, w) in words.iter().enumerate() {
        let chars: Vec<char> = w.chars().collect();
        if chars.len() < NAME_SYLLABLES {
            continue;
        }
        let (head, rest): (String, String) =
            (chars[..NAME_SYLLABLES].iter().collect(), chars[NAME_SYLLABLES..].iter().collect());
        let sounds = heard(&head);
        let found = STAFF.iter().zip(names).find(|(name, p)| **name == head || p.matches(&sounds));
        if let Some((name, _)) = found.filter(|_| asked_for(&rest, words.get(i + 1).copied())) {
            return Some(name);
        }
    }
    None
}

/// Whether what follows a name inside its word (`rest`) and the next word
/// make it the one asked for: an honorific with nothing after it, an
/// asking particle (after an honorific or not), or nothing at all with 좀
/// next ("간호사 좀 …").
fn asked_for(rest: &str, next: Option<&str>) -> bool {
    let (honoured, rest) = match HONORIFICS.iter().find_map(|h| rest.strip_prefix(h)) {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() {
        return honoured || next.is_some_and(|n| n.starts_with('좀'));
    }
    ASKING_PARTICLES.iter().any(|p| rest.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_as_long_as_the_check_reads() {
        assert!(STAFF.iter().all(|n| n.chars().count() == NAME_SYLLABLES));
    }

    #[test]
    fn staff_named_as_the_one_wanted_are_found_even_with_a_slip() {
        for (text, name) in [
            ("간호사님 좀 인경 부탁드려요", "간호사"),
            ("감염병 신고 담당자분 꿔 주실래요", "담당자"),
            ("간호스랑 얘기하고 싶은데요", "간호사"),
            ("책임자 좀 나오라고 하세요", "책임자"),
            ("상담사한테 직접 물어볼래요", "상담사"),
        ] {
            assert_eq!(named(text), Some(name), "{text}");
        }
    }

    #[test]
    fn staff_told_of_or_the_caller_themself_are_not() {
        for text in [
            "간호사가 주사 맞고 30분 있다 가라던데 왜 그래요",
            "저 간호사인데요 환자랑 접촉했으면 출근해도 되나요",
            "담당자분이 알려 주셨는데 문자가 안 와요",
            "간호사 선생님이 그러는데 내일 오래요",
            "관리사무소에 물어보세요",
            "상담은 몇 시까지 해요",
        ] {
            assert_eq!(named(text), None, "{text}");
        }
    }
}
