//! What is left of an emergency when the recogniser lost part of it.
//!
//! Real speech loses syllables: "피를 많이 흘려요" comes back as "피를 이
//! 흘러요", "구급차" as "구급아", "심장마비" as "시망마비". The rules
//! ([`super::index::Router::rule`]) and their sound matching absorb a slip,
//! not a lost word. When nothing else was understood, though, a word that
//! alone says something may be wrong (the emergency action's `distress`
//! list: "피를", "구급", "마비") is reason enough to give 119 advice and ask,
//! instead of a bare "please say it again". It never makes an emergency by
//! itself, and never stands in the way of an understood question.

use super::data::{Action, KnowledgeBase, EMERGENCY};
use super::index::compact;

#[derive(Debug, Clone, Default)]
pub struct DistressWords {
    /// Compact, longest first, so that the one reported is the most telling.
    list: Vec<String>,
}

/// One of the emergency action's word lists (`pick`), compacted, empty
/// entries dropped; none without the action.
pub fn emergency_words(kb: &KnowledgeBase, pick: fn(&Action) -> &[String]) -> Vec<String> {
    kb.action(EMERGENCY)
        .map(|a| pick(a).iter().map(|w| compact(w)).filter(|w| !w.is_empty()).collect())
        .unwrap_or_default()
}

impl DistressWords {
    pub fn new(kb: &KnowledgeBase) -> DistressWords {
        let mut list = emergency_words(kb, |a| &a.distress);
        list.sort_by(|a, b| b.chars().count().cmp(&a.chars().count()).then(a.cmp(b)));
        list.dedup();
        DistressWords { list }
    }

    /// The longest distress word `text` holds, as spelled (spaces ignored).
    pub fn find(&self, text: &str) -> Option<&str> {
        let flat = compact(text);
        self.list.iter().find(|w| flat.contains(w.as_str())).map(String::as_str)
    }
}

impl DistressWords {
    /// `text` with every distress word it holds blanked out, as spelled with
    /// spaces and marks ignored ("숨 쉬실" holds 숨쉬), to ask what else it
    /// says.
    pub fn without(&self, text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let letters: Vec<usize> = (0..chars.len()).filter(|&i| chars[i].is_alphanumeric()).collect();
        let flat: Vec<char> = letters.iter().map(|&i| chars[i].to_ascii_lowercase()).collect();
        let mut blank = vec![false; chars.len()];
        for w in &self.list {
            let w: Vec<char> = w.chars().collect();
            for (start, _) in flat.windows(w.len()).enumerate().filter(|(_, window)| *window == w.as_slice()) {
                for &i in &letters[start..start + w.len()] {
                    blank[i] = true;
                }
            }
        }
        chars.iter().zip(&blank).map(|(&c, &b)| if b { ' ' } else { c }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn shipped() -> DistressWords {
        let kb = KnowledgeBase::parse(Path::new("kb/1339.toml"), include_str!("../../kb/1339.toml")).expect("kb");
        DistressWords::new(&kb)
    }

    #[test]
    fn what_survives_of_an_emergency_is_found() {
        let d = shipped();
        for (heard, expected) in [
            ("지금 구급아 좀 불러 주세요", "구급"),
            ("교통사고가 났는데 사람이 피를 이 흘러요", "피를"),
            ("아버지가 시망마비 같아요", "마비"),
            ("아이가 세제를 라셨어요", "세제"),
            ("아 진짜 큰일 났어요 애가 연목에 빠져써요", "큰일났"),
        ] {
            assert_eq!(d.find(heard), Some(expected), "{heard}");
        }
        for ordinary in ["독감 주사 어디서 맞아요", "하세요 어요 있어요", "네 알겠습니다"] {
            assert_eq!(d.find(ordinary), None, "{ordinary}");
        }
        // Blanked as spelled, across a space too; the rest kept.
        let rest = d.without("숨 쉬실 때마다 피리 소리가 나요");
        assert!(!rest.contains('숨') && !rest.contains('쉬') && rest.contains("피리 소리가"), "{rest}");
    }
}
