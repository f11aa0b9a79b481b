//! The grounded prompt: a short Korean persona for the 1339 line and the
//! retrieved passage; the model may only restate the passage.

use super::ChatMessage;
use crate::kb::Entry;

pub const PERSONA: &str = "당신은 질병관리청 1339 콜센터의 전화 상담 안내원입니다. \
반드시 아래 [자료]에 있는 내용만 사용해 존댓말로 짧게 답하세요. \
세 문장을 넘기지 말고, 목록이나 인터넷 주소는 읽지 마세요. \
진단하지 말고, 증상이 심하면 의료기관 진료를 받거나 119에 전화하라고 안내하세요. \
자료에 없는 내용은 모른다고 말하고 1339 상담원 연결을 안내하세요.";

/// The fixed part of an entry's prompt: the system persona + its passage.
/// It comes first and is the same for every question about the entry, so a
/// local model processes it once ([`prefixes`], the worker's prefix cache);
/// only what follows (the caller's words) is new at answer time.
pub fn prefix_message(entry: &Entry) -> ChatMessage {
    let system = format!(
        "{PERSONA}\n\n[자료: {}]\n{}\n{}\n(출처: {})",
        entry.title.get_ref(),
        entry.spoken.get_ref(),
        entry.answer.get_ref(),
        entry.source_name.get_ref()
    );
    ChatMessage::new("system", system)
}

/// Every entry's [`prefix_message`], for warming a model's prefix cache.
pub fn prefixes(kb: &crate::kb::KnowledgeBase) -> Vec<Vec<ChatMessage>> {
    kb.entries.iter().map(|e| vec![prefix_message(e)]).collect()
}

/// System persona + passage, then the caller's question.
pub fn grounded_messages(entry: &Entry, question: &str) -> Vec<ChatMessage> {
    vec![prefix_message(entry), ChatMessage::new("user", question)]
}

/// [`grounded_messages`] for a follow-up: the caller's previous question
/// goes with this one, so "그럼 40대는요?" is read as about what was asked.
pub fn grounded_messages_after(entry: &Entry, question: &str, previous: Option<&str>) -> Vec<ChatMessage> {
    match previous.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => grounded_messages(entry, &format!("(앞서 한 질문: {p})\n{question}")),
        None => grounded_messages(entry, question),
    }
}
