//! Where a request that is not the line's job belongs.
//!
//! Callers of a public hotline also ask it about passports, taxes, lost
//! wallets or a neighbour's noise. "That is not something 1339 handles" is
//! true but leaves them where they were; a person at the line would say where
//! to call instead. The out-of-scope action's `referrals` name, for a kind of
//! request, the words that tell it ("여권", "등본", "층간소음") and what to
//! say. The words also mark a request as out of scope in retrieval (with the
//! action's `keywords`, [`super::index::Router::new`]); which reply is said
//! is chosen here, once retrieval found the request out of scope or reached
//! no topic and no sign of health or danger ([`crate::dialog::brain`]).

use super::data::{KnowledgeBase, Referral, OUT_OF_SCOPE};
use super::domain::Spelling;
use super::index::compact;

/// The out-of-scope action's referrals, in the knowledge base's order.
#[derive(Debug, Clone, Default)]
pub struct Referrals {
    /// Each referral's words, compact, with its index in the action's list.
    words: Vec<(usize, Vec<String>)>,
}

impl Referrals {
    pub fn new(kb: &KnowledgeBase) -> Referrals {
        let list = kb.action(OUT_OF_SCOPE).map(|a| a.referrals.as_slice()).unwrap_or_default();
        let words = list
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.words.get_ref().iter().map(|w| compact(w)).filter(|w| !w.is_empty()).collect()))
            .collect();
        Referrals { words }
    }

    /// The index of the referral for `text`: the one whose word comes
    /// first in it, the earlier in the list on a tie. A word counts as
    /// [`Spelling::spells`]: inside a word, or across words from a word's start.
    pub fn find(&self, text: &str) -> Option<usize> {
        let (flat, spelling) = (compact(text), Spelling::of(text));
        self.words
            .iter()
            .filter_map(|(i, ws)| {
                let at = ws.iter().filter(|w| spelling.spells(w)).filter_map(|w| flat.find(w.as_str())).min();
                at.map(|at| (at, *i))
            })
            .min()
            .map(|(_, i)| i)
    }

    /// Whether `text` holds any referral's word ([`Spelling::spells`]).
    pub fn any(&self, text: &str) -> bool {
        let spelling = Spelling::of(text);
        self.words.iter().flat_map(|(_, ws)| ws).any(|w| spelling.spells(w))
    }
}

/// The referral at `index` of `kb`'s out-of-scope action.
pub fn get(kb: &KnowledgeBase, index: usize) -> Option<&Referral> {
    kb.action(OUT_OF_SCOPE)?.referrals.get(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A small knowledge base with `more` after its out-of-scope action.
    fn kb_text(more: &str) -> String {
        format!(
            r#"
[settings]
required_ids = []

[[entry]]
id = "flu"
title = "독감"
questions = ["독감 증상이 뭐예요", "독감 걸리면 어떻게 해요", "독감인지 어떻게 알아요", "독감 열이 며칠 가요", "독감 약 있어요", "독감 옮아요"]
spoken = "독감입니다."
answer = "독감입니다."
source_name = "질병관리청"
source_url = "https://www.kdca.go.kr"
reviewed = "2026-12-04"

[[action]]
id = "emergency"
triggers = ["숨을*못쉬"]
spoken = "119에 전화하세요."

[[action]]
id = "human-agent"
triggers = ["상담원"]
spoken = "연결해 드리겠습니다."

[[action]]
id = "out-of-scope"
triggers = ["병원 예약 좀 해 주세요"]
spoken = "1339에서 안내하기 어렵습니다."
{more}
"#
        )
    }

    fn parse(text: &str) -> Result<KnowledgeBase, String> {
        KnowledgeBase::parse(Path::new("kb.toml"), text).map_err(|e| e.to_string())
    }

    const TWO: &str = r#"
[[action.referrals]]
words = ["여권", "비자"]
spoken = "여권은 구청에 문의해 주세요."

[[action.referrals]]
words = ["주민 등록", "등본"]
spoken = "등본은 주민센터에서 떼실 수 있습니다."
source_name = "정부24"
source_url = "https://www.gov.kr"
"#;

    #[test]
    fn the_word_said_first_picks_the_referral() {
        let kb = parse(&kb_text(TWO)).expect("parses");
        let r = Referrals::new(&kb);
        assert_eq!(r.find("여권 재발급은 어디서 해요"), Some(0));
        // Spaces in the word and in the utterance are ignored.
        assert_eq!(r.find("주민등록 등본 떼려면요"), Some(1));
        // Both kinds told: the one the caller names first.
        assert_eq!(r.find("등본이랑 여권 사진 같이 내야 돼요"), Some(1));
        assert_eq!(r.find("여권이랑 등본 같이 내야 돼요"), Some(0));
        assert_eq!(r.find("병원 예약 좀 해 주세요"), None);
        // Across words only from a word's start: "노인 비자" holds 비자 from
        // 비's start, "소비 자료" does not.
        assert_eq!(r.find("소비 자료를 봐요"), None);
        assert!(r.any("노인 비자 연장") && !r.any("소비 자료"));
        assert_eq!(get(&kb, 1).map(|r| r.spoken.get_ref().as_str()), Some("등본은 주민센터에서 떼실 수 있습니다."));
    }

    #[test]
    fn a_referral_needs_words_a_spoken_line_and_the_out_of_scope_action() {
        assert!(Referrals::new(&parse(&kb_text("")).expect("parses")).find("여권").is_none());
        let empty =
            parse(&kb_text("[[action.referrals]]\nwords = []\nspoken = \"구청에 문의해 주세요.\"")).unwrap_err();
        assert!(empty.contains("referral needs words"), "{empty}");
        let one =
            parse(&kb_text("[[action.referrals]]\nwords = [\"·\", \"여권\"]\nspoken = \"구청에 문의해 주세요.\""))
                .unwrap_err();
        assert!(one.contains("two letters"), "{one}");
        let half = parse(&kb_text(
            "[[action.referrals]]\nwords = [\"여권\"]\nspoken = \"구청에 문의해 주세요.\"\nsource_name = \"외교부\"",
        ))
        .unwrap_err();
        assert!(half.contains("together"), "{half}");
        let url = parse(&kb_text("[[action.referrals]]\nwords = [\"여권\"]\nspoken = \"www.gov.kr 에서 보세요.\""));
        assert!(url.unwrap_err().contains("URL"));
        // Under another action a referral is a mistake, said as such.
        let text = kb_text("").replace(
            "spoken = \"119에 전화하세요.\"",
            "spoken = \"119에 전화하세요.\"\n[[action.referrals]]\nwords = [\"여권\"]\nspoken = \"구청에 문의해 주세요.\"",
        );
        let misplaced = parse(&text).unwrap_err();
        assert!(misplaced.contains("only out-of-scope has referrals"), "{misplaced}");
    }
}
