//! The 1339 dialogue policy: what sori answers to one caller utterance,
//! given the conversation so far. Rules first (emergency, agent), then
//! conversation controls (repeat, thanks), then knowledge-base retrieval
//! with a clarifying question on low confidence and the agent after a
//! second miss. Retrieval-only answers are first-class; an LLM may rephrase
//! them (see [`crate::llm`]) but never decides the route.

use serde::Serialize;

use crate::kb::index::{compact, RouteKind, Router};
use crate::kb::KnowledgeBase;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplyAction {
    Answer,
    Clarify,
    Transfer,
    Emergency,
    OutOfScope,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    pub name: String,
    pub url: String,
}

/// One spoken reply and what it means for the call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    pub action: ReplyAction,
    /// Korean text to speak (short, polite).
    pub text: String,
    pub kb_id: Option<String>,
    pub sources: Vec<Source>,
    pub confidence: f32,
    /// The caller closed the conversation (thanks / goodbye): say this and hang up.
    pub end_call: bool,
}

/// Per-call (or per-chat) state.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    pub last_kb: Option<String>,
    pub last_reply: Option<Reply>,
    /// Consecutive utterances sori did not understand.
    pub misses: u32,
    pub turns: u32,
}

pub const CLARIFY: &str =
    "죄송합니다. 잘 이해하지 못했습니다. 궁금하신 감염병이나 예방접종 이름을 넣어서 한 번 더 말씀해 주시겠어요?";
pub const OFFER_AGENT: &str = "정확히 이해하지 못해 죄송합니다. 상담원에게 연결해 드리겠습니다.";
pub const NOT_HEARD: &str = "잘 들리지 않습니다. 다시 한 번 말씀해 주시겠어요?";
pub const GOODBYE: &str = "질병관리청 1339 콜센터를 이용해 주셔서 감사합니다. 건강하세요.";

/// "Say that again" in the ways callers put it (compared without spaces).
const REPEAT: &[&str] =
    &["다시말씀", "다시한번", "다시요", "뭐라고요", "뭐라고하셨", "잘못들었", "못알아들", "한번더", "다시말해"];
/// Closing the conversation.
const CLOSE: &[&str] =
    &["감사합니다", "고맙습니다", "감사해요", "고마워요", "됐습니다", "됐어요", "끊을게요", "수고하세요", "알겠습니다"];

pub struct Brain {
    kb: KnowledgeBase,
    router: Router,
}

impl Brain {
    pub fn new(kb: KnowledgeBase) -> Brain {
        let router = Router::new(&kb);
        Brain { kb, router }
    }

    /// With a router built elsewhere (e.g. [`crate::kb::router`], hybrid).
    pub fn with_router(kb: KnowledgeBase, router: Router) -> Brain {
        Brain { kb, router }
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    pub fn kb(&self) -> &KnowledgeBase {
        &self.kb
    }

    fn reply(&self, action: ReplyAction, text: &str, kb_id: Option<&str>, confidence: f32) -> Reply {
        let sources = kb_id
            .and_then(|id| self.kb.entry(id))
            .map(|e| vec![Source { name: e.source_name.get_ref().clone(), url: e.source_url.get_ref().clone() }])
            .or_else(|| {
                let id = match action {
                    ReplyAction::Emergency => crate::kb::data::EMERGENCY,
                    ReplyAction::Transfer => crate::kb::data::HUMAN_AGENT,
                    ReplyAction::OutOfScope => crate::kb::data::OUT_OF_SCOPE,
                    _ => return None,
                };
                let a = self.kb.action(id)?;
                let (n, u) = (a.source_name.as_ref()?, a.source_url.as_ref()?);
                Some(vec![Source { name: n.get_ref().clone(), url: u.get_ref().clone() }])
            })
            .unwrap_or_default();
        Reply { action, text: text.to_string(), kb_id: kb_id.map(str::to_string), sources, confidence, end_call: false }
    }

    fn action_text(&self, id: &str, fallback: &str) -> String {
        self.kb.action(id).map(|a| a.spoken.get_ref().clone()).unwrap_or_else(|| fallback.to_string())
    }

    /// The reply to one utterance; updates the conversation.
    pub fn respond(&self, conv: &mut Conversation, utterance: &str) -> Reply {
        conv.turns += 1;
        let reply = self.decide(conv, utterance);
        conv.last_reply = Some(reply.clone());
        if let Some(id) = &reply.kb_id {
            conv.last_kb = Some(id.clone());
        }
        reply
    }

    fn decide(&self, conv: &mut Conversation, utterance: &str) -> Reply {
        let text = utterance.trim();
        let flat = compact(text);
        if flat.is_empty() {
            return self.reply(ReplyAction::Clarify, NOT_HEARD, None, 0.0);
        }
        // Emergency and agent requests are rules, checked before anything else.
        let route = self.router.route(text);
        match route.kind {
            RouteKind::Emergency => {
                conv.misses = 0;
                let t = self.action_text(crate::kb::data::EMERGENCY, "지금 바로 119에 전화하세요.");
                return self.reply(ReplyAction::Emergency, &t, None, 1.0);
            }
            RouteKind::HumanAgent => {
                conv.misses = 0;
                let t = self.action_text(crate::kb::data::HUMAN_AGENT, "상담원에게 연결해 드리겠습니다.");
                return self.reply(ReplyAction::Transfer, &t, None, 1.0);
            }
            _ => {}
        }
        // "Say that again" and "thank you" win over anything but a topic: an
        // out-of-scope match on them is only their politeness.
        let topic_found = matches!(route.kind, RouteKind::Answer { .. });
        if !topic_found || flat.chars().count() <= 8 {
            if REPEAT.iter().any(|p| flat.contains(p)) {
                if let Some(last) = &conv.last_reply {
                    return last.clone();
                }
            }
            if CLOSE.iter().any(|p| flat.contains(p)) && !topic_found {
                let mut r = self.reply(ReplyAction::Answer, GOODBYE, None, 1.0);
                r.end_call = true;
                return r;
            }
        }
        match route.kind {
            RouteKind::Answer { id } => {
                conv.misses = 0;
                self.answer(&id, route.confidence)
            }
            RouteKind::OutOfScope => {
                conv.misses = 0;
                let t = self.action_text(crate::kb::data::OUT_OF_SCOPE, "그 내용은 1339에서 안내하기 어렵습니다.");
                self.reply(ReplyAction::OutOfScope, &t, None, route.confidence)
            }
            _ => {
                // A short follow-up ("그럼 아이도요?") is read in the light of the last topic.
                if let Some(last) = conv.last_kb.as_ref().and_then(|id| self.kb.entry(id)) {
                    if flat.chars().count() <= 20 {
                        let joined = format!("{} {}", last.title.get_ref(), text);
                        if let RouteKind::Answer { id } = self.router.route(&joined).kind {
                            conv.misses = 0;
                            return self.answer(&id, route.confidence.max(0.5));
                        }
                    }
                }
                conv.misses += 1;
                if conv.misses >= 2 {
                    conv.misses = 0;
                    self.reply(ReplyAction::Transfer, OFFER_AGENT, None, route.confidence)
                } else {
                    self.reply(ReplyAction::Clarify, CLARIFY, None, route.confidence)
                }
            }
        }
    }

    fn answer(&self, id: &str, confidence: f32) -> Reply {
        match self.kb.entry(id) {
            Some(e) => self.reply(ReplyAction::Answer, e.spoken.get_ref(), Some(id), confidence),
            None => self.reply(ReplyAction::Clarify, CLARIFY, None, 0.0),
        }
    }
}

/// Korean sentence split for streaming to TTS: ends at . ? ! (and their
/// full-width forms) followed by space or end; keeps the punctuation.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        cur.push(*c);
        let end = matches!(c, '.' | '?' | '!' | '。' | '？' | '！');
        let next_space = chars.get(i + 1).map(|n| n.is_whitespace()).unwrap_or(true);
        let decimal = *c == '.'
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).map(|n| n.is_ascii_digit()).unwrap_or(false);
        if end && next_space && !decimal {
            let s = cur.trim().to_string();
            if !s.is_empty() {
                out.push(s);
            }
            cur.clear();
        }
    }
    let s = cur.trim().to_string();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn brain() -> Brain {
        let kb = KnowledgeBase::parse(Path::new("kb/1339.toml"), include_str!("../../kb/1339.toml")).expect("kb");
        Brain::new(kb)
    }

    #[test]
    fn emergency_is_routed_before_any_topic() {
        let b = brain();
        let mut c = Conversation::default();
        let r = b.respond(&mut c, "아이가 열이 나다가 지금 경련을 해요 숨을 못 쉬어요");
        assert_eq!(r.action, ReplyAction::Emergency);
        assert!(r.text.contains("119"));
    }

    #[test]
    fn asking_for_a_person_transfers() {
        let b = brain();
        let r = b.respond(&mut Conversation::default(), "상담원 연결해 주세요");
        assert_eq!(r.action, ReplyAction::Transfer);
    }

    #[test]
    fn topic_answer_carries_kb_id_and_source() {
        let b = brain();
        let r = b.respond(&mut Conversation::default(), "진드기 물리고 열이 나면 어떡해요");
        assert_eq!(r.action, ReplyAction::Answer);
        assert!(matches!(r.kb_id.as_deref(), Some("sfts") | Some("scrub-typhus")), "{:?}", r.kb_id);
        assert!(r.sources[0].url.starts_with("https://"));
    }

    #[test]
    fn two_misses_offer_the_agent() {
        let b = brain();
        let mut c = Conversation::default();
        assert_eq!(b.respond(&mut c, "음 그러니까 그게").action, ReplyAction::Clarify);
        assert_eq!(b.respond(&mut c, "오늘 날씨 어때요").action, ReplyAction::Transfer);
    }

    #[test]
    fn repeat_gives_the_last_answer_again_and_thanks_closes() {
        let b = brain();
        let mut c = Conversation::default();
        let first = b.respond(&mut c, "홍역 증상이 뭐예요");
        let again = b.respond(&mut c, "다시 말씀해 주세요");
        assert_eq!(first, again);
        let bye = b.respond(&mut c, "네 감사합니다");
        assert!(bye.end_call);
    }

    #[test]
    fn short_follow_up_uses_the_last_topic() {
        let b = brain();
        let mut c = Conversation::default();
        let r1 = b.respond(&mut c, "독감 예방접종 무료로 맞을 수 있어요?");
        assert_eq!(r1.kb_id.as_deref(), Some("flu-vaccine"));
        let r2 = b.respond(&mut c, "그럼 아이도요?");
        assert_eq!(r2.action, ReplyAction::Answer, "{r2:?}");
    }

    #[test]
    fn sentences_split_for_streaming() {
        assert_eq!(sentences("안녕하세요. 1.5도 올랐나요? 네!"), vec!["안녕하세요.", "1.5도 올랐나요?", "네!"]);
        assert_eq!(sentences("끝 없음"), vec!["끝 없음"]);
    }
}
