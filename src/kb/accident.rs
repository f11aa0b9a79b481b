//! An accident told together with a grave sign.
//!
//! Callers tell an emergency by what happened and what they see, in their
//! own words and often far apart: "할아버지가 계단에서 굴러 머리를
//! 부딪혔는데 자꾸 토하고 정신이 오락가락해요", "아이가 끓는 물을
//! 뒤집어써서 … 물집이 잡히고 살이 벗겨졌어요". No trigger phrase covers
//! every such telling, and each half alone is ordinary ("계단에서 굴렀어요",
//! "토해요" is a norovirus question). Both in one turn — a word of the
//! emergency action's `accidents` list (a fall, a blow, a scald, a shock,
//! gas, a snake) and one of its `grave_signs` (vomiting after it,
//! confusion, skin coming off, bone seen, a limb that will not move) — is a
//! possible emergency: 119 advice and "is it an emergency?"
//! ([`super::index::Router::possible_emergency`]), unless the turn tells of
//! it as past, supposed, heard of or a story ([`super::frame::not_now`],
//! [`super::frame::says_when`]). Matched as spelled (spaces ignored): both
//! words must survive the recogniser. Whole words as an accident is told,
//! not what only holds their letters (화상 is also video, 화상 진료).

use super::data::KnowledgeBase;
use super::distress::emergency_words;
use super::index::compact;

#[derive(Debug, Clone, Default)]
pub struct AccidentSigns {
    accidents: Vec<String>,
    signs: Vec<String>,
}

impl AccidentSigns {
    pub fn new(kb: &KnowledgeBase) -> AccidentSigns {
        AccidentSigns {
            accidents: emergency_words(kb, |a| &a.accidents),
            signs: emergency_words(kb, |a| &a.grave_signs),
        }
    }

    /// The accident and the sign `text` tells of together, as spelled
    /// (spaces ignored); None unless it holds one of each.
    pub fn find(&self, text: &str) -> Option<(&str, &str)> {
        let flat = compact(text);
        let accident = self.accidents.iter().find(|w| flat.contains(w.as_str()))?;
        let sign = self.signs.iter().find(|w| flat.contains(w.as_str()))?;
        Some((accident, sign))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn shipped() -> AccidentSigns {
        let kb = KnowledgeBase::parse(Path::new("kb/1339.toml"), include_str!("../../kb/1339.toml")).expect("kb");
        AccidentSigns::new(&kb)
    }

    #[test]
    fn an_accident_with_a_grave_sign_is_found_and_either_alone_is_not() {
        let a = shipped();
        for told in [
            "할아버지가 계단에서 굴러 머리를 부딪혔는데 자꾸 토하고 정신이 오락가락해요",
            "아이가 끓는 물을 뒤집어써서 팔이랑 배에 물집이 잡히고 살이 벗겨졌어요",
            "남편이 사다리에서 떨어졌는데 다리가 이상하게 꺾였어요",
            "교통사고가 났는데 남편이 사람을 못 알아봐요",
            "산에서 뱀한테 물렸는데 식은땀이 나고 어지러워서 못 서 있어요",
        ] {
            assert!(a.find(told).is_some(), "{told}");
        }
        for ordinary in [
            "계단에서 굴렀는데 무릎이 좀 까졌어요",
            "상한 음식을 먹고 계속 토해요 노로바이러스인가요",
            "아이가 수족구인데 손에 물집이 잡혔어요",
            "독감 주사 맞고 팔이 좀 부었어요",
            "뱀띠 아이가 어제부터 토해요",
            // letters of an accident word in ordinary questions
            "아이가 열이 39도까지 올랐다가 떨어졌는데 계속 토해요",
            "수족구 물집이 있는데 수영장 물에 데리고 가도 되나요",
            "아이가 계속 토하는데 화상 진료 되는 병원 있어요",
            "예방접종 전 선생님께 말씀드려야 하는 게 있나요 아이가 요즘 자주 토해요",
            "의약품 이상반응이 의심되는데 신고는 어디에 하나요",
            "코로나 걸린 뒤로 계단에서 숨이 차요 후유증인가요",
            "문에 부딪혀서 이마가 퉁퉁 부었어요",
        ] {
            assert_eq!(a.find(ordinary), None, "{ordinary}");
        }
    }
}
