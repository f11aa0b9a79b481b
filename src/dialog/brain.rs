//! The 1339 dialogue policy: what sori answers to one caller utterance,
//! given the conversation so far. Rules first (emergency, agent, matched by
//! spelling or by sound), then the caller's answer to a clarifying question
//! (yes / no / the other candidate), then conversation controls (repeat,
//! thanks), then knowledge-base retrieval: an answer, "not a 1339
//! question", a follow-up read with the last topic only when the utterance
//! plausibly continues it ([`super::cues`]), a clarifying question naming
//! the likely topic(s), and the agent after a second miss. Retrieval-only
//! answers are first-class; an LLM may rephrase them (see [`crate::llm`])
//! but never decides the route.

use serde::Serialize;

use super::cues::{continues, yes_no, YesNo};
use super::line_check::{line_check, LineCheck, HEARD, MACHINE, SAY_AGAIN};
use super::opener::{opener, Opener, ANYTHING_ELSE, GO_ON, GREETED};
use super::symptom;
use crate::kb::data::SELF_HARM;
use crate::kb::index::{compact, Route, RouteKind, Router};
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

/// A source named with its address, when both are given.
fn named_source(name: &Option<toml::Spanned<String>>, url: &Option<toml::Spanned<String>>) -> Option<Vec<Source>> {
    let (n, u) = (name.as_ref()?, url.as_ref()?);
    Some(vec![Source { name: n.get_ref().clone(), url: u.get_ref().clone() }])
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
    /// A transfer sori offers because it did not understand the caller
    /// (not asked for, not an emergency): the caller may talk over its
    /// announcement, and the transfer is then not made.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub offered: bool,
    /// A reply that answers nothing and only asks the caller for more (not
    /// understood, not a topic, which topic they meant, greeted back, the
    /// symptom question): a caller who was only pausing goes on, so a call
    /// says it once they have been quiet `[vad] ask_more_after_ms`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub asks_for_more: bool,
}

/// Per-call (or per-chat) state.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    pub last_kb: Option<String>,
    /// What the caller asked last time (a follow-up's context for the model).
    pub last_question: Option<String>,
    pub last_reply: Option<Reply>,
    /// Consecutive utterances sori did not understand.
    pub misses: u32,
    pub turns: u32,
    /// Line checks in a row ("여보세요 들리세요?"): the agent is offered at
    /// [`LINE_CHECKS_BEFORE_AGENT`].
    pub line_checks: u32,
    /// Topic ids the last reply asked the caller to confirm ("…에 대해
    /// 물으셨나요?"), best first; empty when it asked nothing.
    pub pending_clarify: Vec<String>,
    /// A common symptom the caller told alone, asked about: their next
    /// words are read with it ("열이 나요" + "베트남 다녀왔어요").
    pub symptom: Option<String>,
}

pub const CLARIFY: &str =
    "죄송합니다. 잘 이해하지 못했습니다. 궁금하신 감염병이나 예방접종 이름을 넣어서 한 번 더 말씀해 주시겠어요?";
pub const OFFER_AGENT: &str = "정확히 이해하지 못해 죄송합니다. 상담원에게 연결해 드리겠습니다.";
pub const NOT_HEARD: &str = "잘 들리지 않습니다. 다시 한 번 말씀해 주시겠어요?";
/// Said to something that is no health question at all.
pub const NOT_HEALTH: &str =
    "죄송하지만 1339는 감염병과 예방접종을 안내하는 질병관리청 콜센터입니다. 건강에 관해 궁금하신 점을 말씀해 주시겠어요?";
/// After "no" to a clarifying question.
pub const REPHRASE: &str =
    "알겠습니다. 궁금하신 내용을 한 번 더 말씀해 주시겠어요? 상담원과 통화를 원하시면 상담원이라고 말씀해 주세요.";
/// Said when what the caller said sounds like an emergency but was not heard
/// clearly enough to be sure ([`Router::possible_emergency`]): 119 advice
/// first, then the question. "네" makes it an emergency.
pub const EMERGENCY_CHECK: &str = "혹시 지금 위급한 상황인가요? 숨쉬기 힘들거나, 의식이 없거나, 피가 멈추지 않거나, 가슴이 심하게 아프면 지금 바로 119에 전화하세요. 위급한 상황이면 네라고 말씀해 주시고, 아니면 궁금하신 내용을 한 번 더 말씀해 주세요.";
pub const GOODBYE: &str = "질병관리청 1339 콜센터를 이용해 주셔서 감사합니다. 건강하세요.";

/// A caller who checked the line this many times in a row, answered each
/// time, may not hear sori at all: the agent is offered.
const LINE_CHECKS_BEFORE_AGENT: u32 = 3;

/// "Say that again" in the ways callers put it (compared without spaces).
const REPEAT: &[&str] =
    &["다시말씀", "다시한번", "다시요", "뭐라고요", "뭐라고하셨", "잘못들었", "한번더", "다시말해", "한번만더말"];
/// Closing the conversation.
const CLOSE: &[&str] =
    &["감사합니다", "고맙습니다", "감사해요", "고마워요", "끊을게요", "수고하세요", "안녕히계세요", "안녕히계십시오"];
/// Closing only when that is about all the caller said ("네 됐습니다"),
/// not "배터리가 방전됐어요" or "처리가 안 됐어요".
const CLOSE_SHORT: &[&str] = &["됐습니다", "됐어요", "알겠습니다"];
const CLOSE_SHORT_MAX: usize = 6;

/// "I did not follow" in the past tense is the caller's own ("죄송한데 제가
/// 방금 못 알아들었어요"); in the present it may tell of someone who does not
/// follow ("불러도 말을 못 알아들어요", a sign of an emergency), so it asks
/// for the reply again only when about all the caller said ("네? 못 알아들어요").
const NOT_FOLLOWED_PAST: &str = "못알아들었";
const NOT_FOLLOWED: &str = "못알아들";
const NOT_FOLLOWED_MAX: usize = 14;

/// "Say that again", in compacted words.
fn asks_again(flat: &str) -> bool {
    REPEAT.iter().any(|p| flat.contains(p))
        || flat.contains(NOT_FOLLOWED_PAST)
        || (flat.contains(NOT_FOLLOWED) && flat.chars().count() <= NOT_FOLLOWED_MAX)
}

/// The caller closing the conversation, in compacted words.
fn closes(flat: &str) -> bool {
    let short_close = flat.chars().count() <= CLOSE_SHORT_MAX
        && !flat.contains("안됐")
        && CLOSE_SHORT.iter().any(|p| flat.ends_with(p));
    CLOSE.iter().any(|p| flat.contains(p)) || short_close
}

/// The fixed replies that name the hotline or its topics: the knowledge
/// base's `[texts]`, each unset one 1339's.
#[derive(Debug, Clone, PartialEq)]
pub struct Texts {
    pub clarify: String,
    pub not_topic: String,
    pub goodbye: String,
    /// Asked when only a common symptom is told; `None`: never.
    pub symptom: Option<String>,
}

impl Texts {
    pub fn of(kb: &KnowledgeBase) -> Texts {
        let or = |v: &Option<toml::Spanned<String>>, d: &str| {
            v.as_ref().map_or_else(|| d.to_string(), |s| s.get_ref().clone())
        };
        let t = &kb.texts;
        Texts {
            clarify: or(&t.clarify, CLARIFY),
            not_topic: or(&t.not_topic, NOT_HEALTH),
            goodbye: or(&t.goodbye, GOODBYE),
            symptom: t.symptom.as_ref().map(|s| s.get_ref().clone()),
        }
    }

    /// What the dialogue may say as is, besides the knowledge base's answers
    /// (rendered at start-up, so these replies play at once).
    pub fn fixed(&self) -> Vec<String> {
        [&self.clarify, &self.goodbye, &self.not_topic]
            .into_iter()
            .cloned()
            .chain([NOT_HEARD, OFFER_AGENT].map(String::from))
            .chain([HEARD, SAY_AGAIN, MACHINE].map(String::from))
            .chain([GREETED, GO_ON, ANYTHING_ELSE].map(String::from))
            .chain(self.symptom.iter().flat_map(|asked| [asked.clone(), symptom::CARE.to_string()]))
            .collect()
    }
}

pub struct Brain {
    kb: KnowledgeBase,
    router: Router,
    texts: Texts,
}

impl Brain {
    pub fn new(kb: KnowledgeBase) -> Brain {
        let router = Router::new(&kb);
        Brain::with_router(kb, router)
    }

    /// With a router built elsewhere (e.g. [`crate::kb::router`], hybrid).
    pub fn with_router(kb: KnowledgeBase, router: Router) -> Brain {
        Brain { texts: Texts::of(&kb), kb, router }
    }

    /// This knowledge base's fixed replies.
    pub fn texts(&self) -> &Texts {
        &self.texts
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
                self.action_source(id)
            })
            .unwrap_or_default();
        Reply {
            action,
            text: text.to_string(),
            kb_id: kb_id.map(str::to_string),
            sources,
            confidence,
            end_call: false,
            offered: false,
            asks_for_more: false,
        }
    }

    /// The last reply, said again at once (the caller asked for it).
    fn again(last: &Reply) -> Reply {
        Reply { asks_for_more: false, ..last.clone() }
    }

    /// A reply that only asks the caller for more ([`Reply::asks_for_more`]).
    fn ask_more(&self, action: ReplyAction, text: &str, confidence: f32) -> Reply {
        Reply { asks_for_more: true, ..self.reply(action, text, None, confidence) }
    }

    /// An action's source, when it names one.
    fn action_source(&self, id: &str) -> Option<Vec<Source>> {
        let a = self.kb.action(id)?;
        named_source(&a.source_name, &a.source_url)
    }

    /// The reply to a request that is not the line's job: where that kind
    /// of request belongs when a referral's word was heard, else the
    /// out-of-scope action's own words.
    fn out_of_scope(&self, text: &str, confidence: f32) -> Reply {
        let referral = self.router.referral(text).and_then(|i| crate::kb::referral::get(&self.kb, i));
        let Some(r) = referral else {
            let t = self.action_text(crate::kb::data::OUT_OF_SCOPE, "그 내용은 1339에서 안내하기 어렵습니다.");
            return self.ask_more(ReplyAction::OutOfScope, &t, confidence);
        };
        // Its own source or none: the action's would cite another body.
        let sources = named_source(&r.source_name, &r.source_url).unwrap_or_default();
        Reply { sources, ..self.ask_more(ReplyAction::OutOfScope, r.spoken.get_ref(), confidence) }
    }

    fn action_text(&self, id: &str, fallback: &str) -> String {
        self.kb.action(id).map(|a| a.spoken.get_ref().clone()).unwrap_or_else(|| fallback.to_string())
    }

    /// The reply to one utterance; updates the conversation.
    pub fn respond(&self, conv: &mut Conversation, utterance: &str) -> Reply {
        conv.turns += 1;
        let told = conv.symptom.take();
        let with_symptom = told.as_deref().and_then(|s| self.with_symptom(s, utterance));
        let reply = self.decide(conv, with_symptom.as_deref().unwrap_or(utterance), told.is_some());
        conv.last_reply = Some(reply.clone());
        if let Some(id) = &reply.kb_id {
            conv.last_kb = Some(id.clone());
        }
        reply
    }

    /// The symptom told last turn and these words, to be understood
    /// together — unless the words stand alone: a topic or a rule of their
    /// own, a greeting or "네", "say it again", a goodbye.
    fn with_symptom(&self, symptom: &str, utterance: &str) -> Option<String> {
        let flat = compact(utterance);
        if opener(utterance).is_some()
            || asks_again(&flat)
            || closes(&flat)
            || !matches!(
                self.router.route(utterance).kind,
                RouteKind::Clarify | RouteKind::NotHealth | RouteKind::OutOfScope
            )
        {
            return None;
        }
        Some(format!("{symptom} {utterance}"))
    }

    /// `after_symptom`: the last reply asked what a common symptom told
    /// alone might point to.
    fn decide(&self, conv: &mut Conversation, utterance: &str, after_symptom: bool) -> Reply {
        let text = utterance.trim();
        let flat = compact(text);
        let pending = std::mem::take(&mut conv.pending_clarify);
        let line_checks = std::mem::take(&mut conv.line_checks);
        if flat.is_empty() {
            conv.pending_clarify = pending;
            return self.reply(ReplyAction::Clarify, NOT_HEARD, None, 0.0);
        }
        // Emergency and agent requests are rules, checked before anything else.
        let route = self.router.route(text);
        match route.kind {
            RouteKind::Emergency => {
                let crisis = self.router.self_harm(text).is_some();
                return self.emergency(conv, crisis);
            }
            // "상담사님 안녕하세요" greets the counsellor; it asks for no one.
            RouteKind::HumanAgent if opener(text) != Some(Opener::Greeting) => {
                conv.misses = 0;
                let t = self.action_text(crate::kb::data::HUMAN_AGENT, "상담원에게 연결해 드리겠습니다.");
                return self.reply(ReplyAction::Transfer, &t, None, 1.0);
            }
            _ => {}
        }
        // A caller who may harm themself, told in words no rule has
        // ("유서 다 써 놨어요"): 119 and the crisis line, as for a rule.
        if self.router.self_harm(text).is_some() {
            return self.emergency(conv, true);
        }
        // Safety first: a possible emergency gets 119 advice and a question,
        // before any topic; a second one in a row is taken as an emergency.
        if self.router.possible_emergency(text).is_some() {
            if pending.first().map(String::as_str) == Some(crate::kb::data::EMERGENCY) {
                return self.emergency(conv, false);
            }
            conv.misses = 0;
            // A "no" then answers the question understood, if any.
            conv.pending_clarify = std::iter::once(crate::kb::data::EMERGENCY.to_string())
                .chain(match &route.kind {
                    RouteKind::Answer { id } => Some(id.clone()),
                    _ => None,
                })
                .collect();
            return self.reply(ReplyAction::Clarify, EMERGENCY_CHECK, None, 0.5);
        }
        if !pending.is_empty() {
            if let Some(r) = self.confirm(conv, &pending, text, &route) {
                return r;
            }
        }
        // The caller checking the line ("여보세요 들리세요?", "소리가 끊겨요",
        // "기계가 받는 거예요?"), when no topic was understood: answered, and
        // no miss.
        let check = line_check(text)
            .filter(|_| !matches!(route.kind, RouteKind::Answer { .. }) && !self.may_be_an_emergency(text));
        // "Is it a machine?" may come with a request for a person in words
        // no rule has (below): that wins.
        let machine = check == Some(LineCheck::IsItAMachine) && self.router.possible_agent(text).is_some();
        if !machine {
            if let Some(check) = check {
                conv.pending_clarify = pending;
                conv.line_checks = line_checks + 1;
                if conv.line_checks >= LINE_CHECKS_BEFORE_AGENT {
                    conv.line_checks = 0;
                    // A line check is answered at once, the offer too.
                    return Reply { asks_for_more: false, ..self.offer_agent(route.confidence) };
                }
                let said = match (check, &conv.last_reply) {
                    (LineCheck::CannotHear, Some(last)) => return Self::again(last),
                    (LineCheck::CannotHear, None) => SAY_AGAIN,
                    (LineCheck::AreYouThere, _) => HEARD,
                    (LineCheck::IsItAMachine, _) => MACHINE,
                    (LineCheck::WantsAPerson, _) => return self.put_through(route.confidence),
                };
                return self.reply(ReplyAction::Clarify, said, None, route.confidence);
            }
        }
        // A request for a person in words no rule has: put through, in a way
        // the caller can talk over (as when sori offers it after misses).
        if self.router.possible_agent(text).is_some() {
            conv.misses = 0;
            return self.put_through(route.confidence);
        }
        // "Say that again" and "thank you" win over anything but a topic: an
        // out-of-scope match on them is only their politeness.
        // A topic about the line itself, found with no health word, is no
        // topic here: "상담원님 감사합니다, 수고하세요" says goodbye.
        let topic_found = matches!(&route.kind, RouteKind::Answer { id } if !self.router.about_the_line(id));
        if !topic_found || flat.chars().count() <= 8 {
            if asks_again(&flat) {
                conv.pending_clarify = pending;
                return match &conv.last_reply {
                    Some(last) => Self::again(last),
                    None => self.reply(ReplyAction::Clarify, SAY_AGAIN, None, route.confidence),
                };
            }
            if closes(&flat) && !topic_found {
                let mut r = self.reply(ReplyAction::Answer, &self.texts.goodbye, None, 1.0);
                r.end_call = true;
                return r;
            }
        }
        // A greeting, word that a question is coming, a bare "네": greeted
        // back or asked to go on, when no topic, candidate or sign of trouble
        // was heard in it. No miss, and what was pending stays pending.
        if !topic_found && route.suggest.is_empty() && !self.may_be_an_emergency(text) {
            if let Some(o) = opener(text) {
                conv.pending_clarify = pending;
                let said = match o {
                    Opener::Greeting => GREETED,
                    Opener::WillAsk => GO_ON,
                    Opener::Acknowledgement => ANYTHING_ELSE,
                };
                return self.ask_more(ReplyAction::Clarify, said, route.confidence);
            }
        }
        // Only a common symptom: no disease named for it; what would point
        // to one is asked for, once, then care advice.
        let bare = |t: &str| symptom::bare_symptom(t) && !self.router.names_a_topic(t);
        if let Some(asked) = self.texts.symptom.as_ref().filter(|_| bare(text)) {
            conv.misses = 0;
            if after_symptom {
                return self.reply(ReplyAction::Clarify, symptom::CARE, None, route.confidence);
            }
            conv.symptom = Some(text.to_string());
            return self.ask_more(ReplyAction::Clarify, asked, route.confidence);
        }
        match &route.kind {
            RouteKind::Answer { id } => {
                conv.misses = 0;
                if let Some(r) = self.elliptical(conv, text, id, &route) {
                    return r;
                }
                return self.answer(id, route.confidence);
            }
            RouteKind::OutOfScope => {
                conv.misses = 0;
                return self.out_of_scope(text, route.confidence);
            }
            _ => {}
        }
        if let Some(r) = self.follow_up(conv, text, &route) {
            return r;
        }
        let not_understood = matches!(route.kind, RouteKind::Clarify | RouteKind::NotHealth);
        if not_understood && self.router.distress(text).is_some() {
            // Not understood, but a word of it says something may be wrong
            // ("피를 이 흘러요", "큰일 났어요 어떡해요" — urgency is no health
            // word; "…사레가 들렸는데 지금은 파래지고 있어요" heard with slips
            // reads as no health question): safety first, 119 advice and the
            // question, which also asks them to say it again. The price: a
            // remark holding such a word inside another ("강아지 심장사상충
            // 약") is asked too.
            conv.pending_clarify = vec![crate::kb::data::EMERGENCY.to_string()];
            return self.reply(ReplyAction::Clarify, EMERGENCY_CHECK, None, route.confidence);
        }
        if route.kind == RouteKind::Clarify && !route.suggest.is_empty() {
            let names: Vec<String> = route
                .suggest
                .iter()
                .filter_map(|id| self.kb.entry(id))
                .map(|e| spoken_title(e.title.get_ref()))
                .collect();
            if !names.is_empty() {
                conv.pending_clarify = route.suggest.clone();
                let q = format!("혹시 {}에 대해 물으셨나요?", names.join(", 아니면 "));
                return self.ask_more(ReplyAction::Clarify, &q, route.confidence);
            }
        }
        let danger_or_health = |t: &str| self.may_be_an_emergency(t) || self.router.mentions_health(t);
        if self.router.referral(text).is_some() && !danger_or_health(text) {
            // Not a topic, but another body's business by its word ("종합소득세
            // 신고", near the reporting topic by 신고), and no word of health
            // or danger: where it belongs.
            conv.misses = 0;
            return self.out_of_scope(text, route.confidence);
        }
        conv.misses += 1;
        if conv.misses >= 2 {
            conv.misses = 0;
            self.offer_agent(route.confidence)
        } else if route.kind == RouteKind::NotHealth {
            self.ask_more(ReplyAction::OutOfScope, &self.texts.not_topic, route.confidence)
        } else {
            self.ask_more(ReplyAction::Clarify, &self.texts.clarify, route.confidence)
        }
    }

    /// Whether a word of `text` alone says something may be wrong though no
    /// rule or check caught it ([`Router::distress`]): a line check is
    /// answered only without one ("세제 마셨어요 … 타들어 가요" is no bad
    /// line). Not by meaning: e5 puts "안 들려요" near "숨이 안 쉬어져요", and
    /// a guard on the emergency sentences' gap lost 39 of 100 line checks.
    fn may_be_an_emergency(&self, text: &str) -> bool {
        self.router.distress(text).is_some()
    }

    /// A request for a person understood without a rule: put through, in a
    /// way the caller can talk over.
    fn put_through(&self, confidence: f32) -> Reply {
        let t = self.action_text(crate::kb::data::HUMAN_AGENT, "상담원에게 연결해 드리겠습니다.");
        Reply { offered: true, ..self.reply(ReplyAction::Transfer, &t, None, confidence) }
    }

    /// Not understood twice in a row: the agent, offered.
    fn offer_agent(&self, confidence: f32) -> Reply {
        Reply { offered: true, ..self.ask_more(ReplyAction::Transfer, OFFER_AGENT, confidence) }
    }

    /// 119 now; for a caller who may harm themself (or someone near them
    /// who may: `crisis`, [`Router::self_harm`]), the self-harm action's
    /// reply, which names the crisis line too, where the knowledge base has
    /// one.
    fn emergency(&self, conv: &mut Conversation, crisis: bool) -> Reply {
        conv.misses = 0;
        if let Some(a) = self.kb.action(SELF_HARM).filter(|_| crisis) {
            let sources = self.action_source(SELF_HARM).unwrap_or_default();
            return Reply { sources, ..self.reply(ReplyAction::Emergency, a.spoken.get_ref(), None, 1.0) };
        }
        let t = self.action_text(crate::kb::data::EMERGENCY, "지금 바로 119에 전화하세요.");
        self.reply(ReplyAction::Emergency, &t, None, 1.0)
    }

    /// The caller's answer to "…에 대해 물으셨나요?": yes answers the first
    /// candidate, no asks them to rephrase (or offers the agent after an
    /// earlier miss), "no, X" routes X, and naming one of the candidates
    /// answers it. None: something else, routed as usual.
    fn confirm(&self, conv: &mut Conversation, pending: &[String], text: &str, route: &Route) -> Option<Reply> {
        let emergency = pending.first().map(String::as_str) == Some(crate::kb::data::EMERGENCY);
        match yes_no(text) {
            Some(YesNo::Yes) if emergency => return Some(self.emergency(conv, false)),
            Some(YesNo::No) if emergency => {
                // Not an emergency: the question understood with it, if any.
                return Some(match pending.get(1) {
                    Some(topic) => self.answer(topic, CONFIRMED),
                    None => self.ask_more(ReplyAction::Clarify, REPHRASE, 0.0),
                });
            }
            Some(YesNo::Yes) => {
                conv.misses = 0;
                return Some(self.answer(pending.first()?, CONFIRMED));
            }
            Some(YesNo::No) => {
                conv.misses += 1;
                if conv.misses >= 2 {
                    conv.misses = 0;
                    return Some(self.offer_agent(0.0));
                }
                return Some(self.ask_more(ReplyAction::Clarify, REPHRASE, 0.0));
            }
            Some(YesNo::NoBut(rest)) => return Some(self.decide(conv, &rest, false)),
            None => {}
        }
        if matches!(route.kind, RouteKind::Answer { .. }) || compact(text).chars().count() > 10 {
            return None;
        }
        // "독감 주사요": the best-ranked of the candidates among the retrieval's.
        let named = route.candidates.iter().find(|(id, _)| pending.contains(id))?;
        conv.misses = 0;
        Some(self.answer(&named.0, CONFIRMED))
    }

    /// An elliptical follow-up ("그럼 아이들은요?") read with the last topic;
    /// None unless the utterance has a continuation cue.
    fn follow_up(&self, conv: &mut Conversation, text: &str, route: &Route) -> Option<Reply> {
        let last = conv.last_kb.as_ref().and_then(|id| self.kb.entry(id))?;
        if !continues(text) {
            return None;
        }
        let joined = format!("{} {}", last.title.get_ref(), text);
        let id = match self.router.route(&joined).kind {
            RouteKind::Answer { id } => id,
            _ => last.id.get_ref().clone(),
        };
        conv.misses = 0;
        Some(self.answer(&id, route.confidence.max(0.5)))
    }

    /// "그럼 임신부는요?" after pertussis names no topic of its own; alone it
    /// matched another one (flu vaccination, whose keywords have 임신부).
    /// Read against the last topic as a follow-up is ([`Brain::follow_up`]
    /// checks that it continues): None when it names a topic itself ("그럼 독감은요?"), or
    /// matched the last topic anyway.
    fn elliptical(&self, conv: &mut Conversation, text: &str, id: &str, route: &Route) -> Option<Reply> {
        let last = conv.last_kb.as_deref()?;
        if last == id || self.router.names_a_topic(text) {
            return None;
        }
        self.follow_up(conv, text, route)
    }

    fn answer(&self, id: &str, confidence: f32) -> Reply {
        match self.kb.entry(id) {
            Some(e) => self.reply(ReplyAction::Answer, e.spoken.get_ref(), Some(id), confidence),
            None => self.reply(ReplyAction::Clarify, &self.texts.clarify, None, 0.0),
        }
    }
}

/// Confidence reported for a topic the caller confirmed.
const CONFIRMED: f32 = 0.9;

/// A topic title as said in a question: the bracketed short name stands for
/// the word before it or for the whole title: "인플루엔자(독감) 예방접종" →
/// "독감 예방접종", "동물에게 물렸을 때(광견병)" → "광견병".
pub fn spoken_title(title: &str) -> String {
    let Some((head, rest)) = title.split_once('(') else { return title.trim().to_string() };
    let Some((inner, tail)) = rest.split_once(')') else { return title.trim().to_string() };
    let named = match head.trim().rsplit_once(' ') {
        Some((before, _)) if !tail.trim().is_empty() => format!("{before} {}", inner.trim()),
        _ => inner.trim().to_string(),
    };
    format!("{named}{tail}").trim().to_string()
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
    fn a_request_for_another_body_is_told_where_it_belongs() {
        let b = brain();
        let r = b.respond(&mut Conversation::default(), "여권 유효기간이 끝났는데 다시 만들려면 어디 가요");
        assert_eq!((r.action, r.asks_for_more), (ReplyAction::OutOfScope, true), "{r:?}");
        assert!(r.text.contains("여권 민원실") && r.text.contains("1345"), "{}", r.text);
        assert_eq!(r.sources.first().map(|s| s.name.as_str()), Some("외교부 여권안내"));
        let r = b.respond(&mut Conversation::default(), "윗집 층간소음 때문에 밤마다 잠을 못 자요");
        assert!(r.action == ReplyAction::OutOfScope && r.text.contains("1661-2642"), "{r:?}");
        // No referral's word: the out-of-scope action's own reply and source.
        let r = b.respond(&mut Conversation::default(), "장기요양등급 신청하려면 어떻게 해요");
        assert!(r.action == ReplyAction::OutOfScope && r.text.contains("110"), "{r:?}");
        assert_eq!(r.sources.first().map(|s| s.name.as_str()), Some("국민건강보험공단"));
        // Nearest a topic by its words (신고) but no health question: the
        // referral still says where it belongs.
        let r = b.respond(&mut Conversation::default(), "종합소득세 신고는 언제까지 하는 거예요");
        assert!(r.action == ReplyAction::OutOfScope && r.text.contains("126"), "{r:?}");
        // A health question that shares a referral's word is answered.
        let r =
            b.respond(&mut Conversation::default(), "여권 만들었는데 아프리카 가기 전에 황열 예방접종은 어디서 맞아요");
        assert_eq!(r.kb_id.as_deref(), Some("travel-before"), "{r:?}");
    }

    #[test]
    fn asking_for_a_person_transfers() {
        let b = brain();
        let r = b.respond(&mut Conversation::default(), "상담원 연결해 주세요");
        assert_eq!((r.action, r.offered), (ReplyAction::Transfer, false), "asked for: not withdrawn by talking on");
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
        assert_eq!(b.respond(&mut c, "그 뭐였더라 파란 거").action, ReplyAction::Clarify);
        let r = b.respond(&mut c, "어제 본 드라마 제목이 뭐였죠");
        assert_eq!((r.action, r.offered), (ReplyAction::Transfer, true), "offered, so it may be talked over");
    }

    #[test]
    fn a_caller_checking_the_line_is_answered_and_not_counted_as_a_miss() {
        let b = brain();
        let mut c = Conversation::default();
        // "Hello?" twice is no pair of misses (that would offer the agent).
        for _ in 0..2 {
            let r = b.respond(&mut c, "여보세요");
            assert_eq!((r.action, r.text.as_str()), (ReplyAction::Clarify, HEARD));
        }
        let a = b.respond(&mut c, "독감 예방접종 무료 대상이 누구예요");
        assert_eq!(a.kb_id.as_deref(), Some("flu-vaccine"));
        // Cannot hear it: the answer again.
        assert_eq!(b.respond(&mut c, "소리가 자꾸 끊겨요"), a);
        assert_eq!(b.respond(&mut c, "혹시 기계가 받는 거예요").text, MACHINE);
        // Three line checks in a row: the agent is offered.
        let r = b.respond(&mut c, "여보세요 들리세요");
        assert!(r.offered && r.action == ReplyAction::Transfer, "{r:?}");
        // An ear is a health matter, not the line.
        assert_ne!(b.respond(&mut Conversation::default(), "귀가 잘 안 들려요").text, HEARD);
        // "Say that again" before sori said anything asks them to go on.
        assert_eq!(b.respond(&mut Conversation::default(), "다시 한 번 말씀해 주세요").text, SAY_AGAIN);
    }

    #[test]
    fn only_replies_that_answer_nothing_ask_for_more() {
        let b = brain();
        let asks = |c: &mut Conversation, t: &str| {
            let r = b.respond(c, t);
            (r.asks_for_more, r.text)
        };
        // Not understood, not a topic, greeted back, which topic, the symptom
        // question, a "no" to it: a caller who was pausing goes on.
        for t in ["그 뭐였더라 파란 거", "내일 날씨 어때요", "안녕하세요.", "접종", "목이 아파요"]
        {
            let (more, said) = asks(&mut Conversation::default(), t);
            assert!(more, "{t} -> {said}");
        }
        assert!(asks(&mut asked(&b, &["flu-vaccine"]), "아니요").0);
        // An answer, an emergency, the safety question, a line check, a
        // goodbye: said at once.
        for t in [
            "독감 예방접종 무료 대상이 누구예요",
            "할아버지가 쓰러지셨는데 숨을 안 쉬어요",
            "구급차 부르면 돈 내야 돼요",
            "여보세요 들리세요",
            "감사합니다",
            "상담원 연결해 주세요",
        ] {
            let (more, said) = asks(&mut Conversation::default(), t);
            assert!(!more, "{t} -> {said}");
        }
        // The third line check in a row offers the agent, at once.
        let mut c = Conversation::default();
        for _ in 0..2 {
            assert!(!asks(&mut c, "여보세요 들리세요").0);
        }
        let r = b.respond(&mut c, "여보세요 들리세요");
        assert!(r.offered && !r.asks_for_more, "{r:?}");
        // "Say that again" after a question: said again at once.
        let mut c = Conversation::default();
        assert!(asks(&mut c, "그 뭐였더라 파란 거").0);
        let (more, said) = asks(&mut c, "다시 한 번 말씀해 주세요");
        assert!(!more, "{said}");
    }

    #[test]
    fn a_greeting_or_word_of_a_question_is_answered_in_kind_and_no_miss() {
        let b = brain();
        let mut c = Conversation::default();
        // Two openers in a row are no pair of misses (that would offer the agent).
        let r = b.respond(&mut c, "안녕하세요.");
        assert_eq!((r.action, r.text.as_str()), (ReplyAction::Clarify, GREETED));
        let r = b.respond(&mut c, "네, 뭐 좀 여쭤보려고 전화했는데요.");
        assert_eq!(r.text, GO_ON);
        // Not the out-of-scope answer "문의" sits near.
        assert_eq!(b.respond(&mut c, "문의 좀 드리려고요").text, GO_ON);
        let a = b.respond(&mut c, "독감 예방접종 무료 대상이 누구예요");
        assert_eq!(a.kb_id.as_deref(), Some("flu-vaccine"));
        // A bare "네" after an answer: anything else, not "I did not understand".
        assert_eq!(b.respond(&mut c, "아 네.").text, ANYTHING_ELSE);
        assert_eq!(c.misses, 0);
        // Greeting the counsellor is no request for a person.
        assert_eq!(b.respond(&mut Conversation::default(), "상담사님 안녕하세요").text, GREETED);
        assert_eq!(b.respond(&mut Conversation::default(), "상담사님 바꿔 주세요").action, ReplyAction::Transfer);
        // A greeting with the question is the question.
        let q = b.respond(&mut Conversation::default(), "안녕하세요. 독감 예방접종은 어디서 맞나요?");
        assert_eq!(q.kb_id.as_deref(), Some("flu-vaccine"));
        // "네" still answers sori's own question.
        let mut c = asked(&b, &["flu-vaccine"]);
        assert_eq!(b.respond(&mut c, "네").kb_id.as_deref(), Some("flu-vaccine"));
    }

    #[test]
    fn a_common_symptom_alone_names_no_disease_and_the_next_words_are_read_with_it() {
        let b = brain();
        let asked = b.texts().symptom.clone().expect("1339 asks about a symptom told alone");
        let mut c = Conversation::default();
        let r = b.respond(&mut c, "목이 아파요");
        assert_eq!((r.action, r.kb_id.as_deref(), r.text.as_str()), (ReplyAction::Clarify, None, asked.as_str()));
        // "Vietnam" alone is no health question; with the symptom it is.
        let r = b.respond(&mut c, "베트남 다녀왔어요");
        assert_eq!(r.action, ReplyAction::Answer, "{r:?}");
        assert!(matches!(r.kb_id.as_deref(), Some("dengue" | "travel-after-symptoms" | "malaria")), "{r:?}");
        // Nothing that points anywhere: care advice, not the question again.
        let mut c = Conversation::default();
        assert_eq!(b.respond(&mut c, "아이가 어제부터 열이 나요").text, asked);
        assert_eq!(b.respond(&mut c, "아니요 그런 건 없어요").text, symptom::CARE);
        // A goodbye after the question is a goodbye.
        let mut c = Conversation::default();
        b.respond(&mut c, "열이 나요");
        assert!(b.respond(&mut c, "네 알겠습니다 감사합니다").end_call);
        let mut c = Conversation::default();
        b.respond(&mut c, "열이 나요");
        assert!(b.respond(&mut c, "알겠습니다").end_call, "a short goodbye is one after the question too");
        // A clue in the same words: the topic.
        let r = b.respond(&mut Conversation::default(), "진드기에 물리고 열이 나요");
        assert_eq!(r.action, ReplyAction::Answer, "{r:?}");
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
    fn thanks_to_the_line_close_the_call() {
        let b = brain();
        let r = b.respond(&mut Conversation::default(), "상담원님 친절하게 알려 주셔서 고맙습니다 수고하세요");
        assert!(r.end_call, "{r:?}");
    }

    #[test]
    fn only_a_short_done_closes_the_call() {
        let b = brain();
        assert!(b.respond(&mut Conversation::default(), "네 됐습니다").end_call);
        assert!(b.respond(&mut Conversation::default(), "알겠습니다").end_call);
        for t in ["민원 접수 번호를 받았는데 처리가 안 됐어요", "자동차 배터리가 방전됐어요"]
        {
            assert!(!b.respond(&mut Conversation::default(), t).end_call, "{t}");
        }
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
    fn unrelated_remarks_after_an_answer_are_not_read_as_follow_ups() {
        let b = brain();
        let mut c = Conversation::default();
        let r1 = b.respond(&mut c, "독감 예방접종 무료로 맞을 수 있어요?");
        assert_eq!(r1.kb_id.as_deref(), Some("flu-vaccine"));
        for t in ["지갑을 잃어버렸어요", "택배가 아직 안 왔어요"] {
            let r = b.respond(&mut c, t);
            assert_ne!(r.action, ReplyAction::Answer, "{t} -> {r:?}");
            assert_eq!(r.kb_id, None, "{t}");
        }
        // A real follow-up still continues the topic.
        let mut c = Conversation::default();
        b.respond(&mut c, "독감 예방접종 무료로 맞을 수 있어요?");
        let r = b.respond(&mut c, "어디서 맞아요?");
        assert_eq!(r.kb_id.as_deref(), Some("flu-vaccine"), "{r:?}");
    }

    #[test]
    fn a_lost_item_report_is_not_the_disease_reporting_answer() {
        let b = brain();
        let r = b.respond(&mut Conversation::default(), "지갑을 잃어버려서 분실 신고하려고 하는데요");
        assert_ne!(r.kb_id.as_deref(), Some("disease-reporting"), "{r:?}");
        assert_ne!(r.action, ReplyAction::Answer);
    }

    #[test]
    fn mis_heard_emergency_and_agent_requests_still_route() {
        let b = brain();
        let r = b.respond(&mut Conversation::default(), "아이가 수물 못 쉬어요");
        assert_eq!(r.action, ReplyAction::Emergency, "{r:?}");
        for t in ["상담연 연결해 주세요", "상당원 바꿔 주세요"] {
            assert_eq!(b.respond(&mut Conversation::default(), t).action, ReplyAction::Transfer, "{t}");
        }
        // Bleeding after a cut with 피 itself lost; a caller the machine
        // does not understand; a particle mis-heard in a trigger.
        for t in ["칼에 베였은데 가 멈주칠 않아요", "친구가 의식스 없어요"] {
            assert_eq!(b.respond(&mut Conversation::default(), t).action, ReplyAction::Emergency, "{t}");
        }
        for t in ["말귀를 못 알아듣네요", "담당자분이랑 이야기할래요", "제 말을 못 알아들으시네요"]
        {
            assert_eq!(b.respond(&mut Conversation::default(), t).action, ReplyAction::Transfer, "{t}");
        }
        // The caller who did not catch sori's words wants them again, not a person.
        let mut c = Conversation::default();
        let first = b.respond(&mut c, "홍역 증상이 뭐예요");
        let again = b.respond(&mut c, "잘 못 알아들었어요 다시 말씀해 주세요");
        assert_eq!((again.action, &again.text), (first.action, &first.text));
        let again = b.respond(&mut c, "네? 못 알아들었어요");
        assert_eq!((again.action, again.text), (first.action, first.text));
        // Someone who does not follow when called is told of, not sori's words.
        let told = b.respond(&mut c, "밭에서 일하던 아저씨가 몸이 불덩이처럼 뜨겁고 불러도 말을 못 알아들어요");
        assert_eq!(told.text, EMERGENCY_CHECK);
        for (said, again) in [
            ("네? 못 알아들어요", true),
            ("죄송한데 제가 방금 못 알아들었어요", true),
            ("우리 할머니가 아까부터 제 말을 잘 못 알아들어요", false),
        ] {
            assert_eq!(asks_again(&compact(said)), again, "{said}");
        }
        // Not an emergency: a cough that won't stop, a vaccine reaction report.
        for t in ["기침이 멈추질 않아요", "예방접종 이상반응 신고는 어디에 해요"] {
            assert_ne!(b.respond(&mut Conversation::default(), t).action, ReplyAction::Emergency, "{t}");
        }
    }

    #[test]
    fn a_caller_who_may_harm_themself_hears_the_crisis_line_and_others_119() {
        let b = brain();
        let r = b.respond(&mut Conversation::default(), "더 이상 살고 싶지가 않아요 약을 잔뜩 모아 놨어요");
        assert_eq!(r.action, ReplyAction::Emergency);
        assert!(r.text.contains("109") && r.text.contains("119"), "{}", r.text);
        assert!(r.sources.iter().any(|s| s.name.contains("자살예방상담전화")), "{:?}", r.sources);
        let r = b.respond(&mut Conversation::default(), "아빠가 숨을 안 쉬어요");
        assert_eq!(r.action, ReplyAction::Emergency);
        assert!(!r.text.contains("109"), "{}", r.text);
        // Over, and said so: the safety question at most, never the end of the call.
        let past = "예전에 자살 시도한 적 있는데 지금은 치료 잘 받고 있어요 독감 주사 맞아도 되나요";
        assert_ne!(b.respond(&mut Conversation::default(), past).action, ReplyAction::Emergency);
    }

    #[test]
    fn a_possible_emergency_gets_119_advice_and_a_question() {
        let b = brain();
        // 숨을 heard as 스을: no rule, but a weak match of 숨*못쉬.
        let mut c = Conversation::default();
        let r = b.respond(&mut c, "코로나 확진인데 스을 못 쉬겠어요");
        assert_eq!((r.action, r.text.as_str()), (ReplyAction::Clarify, EMERGENCY_CHECK), "{r:?}");
        assert!(r.text.contains("119"));
        // "네": an emergency.
        assert_eq!(b.respond(&mut c, "네").action, ReplyAction::Emergency);
        // "아니요": the question understood with it is answered, or, when
        // none was, the caller is asked to rephrase; a question goes on as usual.
        let mut c = Conversation::default();
        b.respond(&mut c, "코로나 확진인데 스을 못 쉬겠어요");
        let no = b.respond(&mut c, "아니요");
        match b.router().route("코로나 확진인데 스을 못 쉬겠어요").id() {
            Some(topic) => assert_eq!(no.kb_id.as_deref(), Some(topic), "{no:?}"),
            None => assert_eq!(no.text, REPHRASE),
        }
        let mut c = Conversation::default();
        b.respond(&mut c, "코로나 확진인데 스을 못 쉬겠어요");
        assert_eq!(b.respond(&mut c, "홍역 증상이 뭐예요").kb_id.as_deref(), Some("measles"));
        // A second possible emergency in a row is an emergency.
        let mut c = Conversation::default();
        b.respond(&mut c, "코로나 확진인데 스을 못 쉬겠어요");
        assert_eq!(b.respond(&mut c, "아버지가 값스이 너무 아프다고 하세요").action, ReplyAction::Emergency);
        // Ordinary questions get no such question.
        for t in ["여덟 살 아이 독감주사 처음 맞히는데 몇 번 맞아요", "이상 반응 신고하고 싶어요"]
        {
            assert_ne!(b.respond(&mut Conversation::default(), t).text, EMERGENCY_CHECK, "{t}");
        }
    }

    #[test]
    fn an_emergency_asked_about_or_over_gets_the_safety_question_not_119_and_the_end() {
        let b = brain();
        // Emergency words in a question about what to do if, what is over,
        // a service: 119 advice and a question, not an emergency.
        for t in [
            "아기가 열성 경련을 하면 어떻게 대처해요",
            "구급차 부르면 돈 내야 돼요",
            "지난주에 애가 열성 경련을 했었는데 예방접종 해도 되나요",
        ] {
            let r = b.respond(&mut Conversation::default(), t);
            assert_eq!((r.action, r.text.as_str()), (ReplyAction::Clarify, EMERGENCY_CHECK), "{t}: {r:?}");
        }
        // Said to be happening now, it is one.
        let t = "예전에도 쓰러진 적이 있는데 지금 또 쓰러졌어요";
        assert_eq!(b.respond(&mut Conversation::default(), t).action, ReplyAction::Emergency, "{t}");
        // "아니요" to the question answers what was asked with it.
        let mut c = Conversation::default();
        let t = "지난주에 애가 열성 경련을 했었는데 예방접종 해도 되나요";
        b.respond(&mut c, t);
        let no = b.respond(&mut c, "아니요");
        assert_eq!(no.action, ReplyAction::Answer, "{no:?}");
        assert_eq!(no.kb_id.as_deref(), b.router().route(t).id());
    }

    #[test]
    fn a_word_of_distress_in_what_was_not_understood_gets_the_safety_question() {
        let b = brain();
        // Mis-heard with a word lost: no rule, no topic, but 피를 / 구급 / 마비 survived.
        // Or only its urgency survived ("빨리요", "큰일 났어요").
        for t in [
            "교통사고가 났는데 사람이 피를 이 흘러요",
            "지금 구급아 좀 불러 주세요",
            "아버지가 시망마비 같아요",
            "빨리요 빨리요 우리 애가 저기 그게",
            "아 진짜 큰일 났어요 어떡해요",
        ] {
            let mut c = Conversation::default();
            let r = b.respond(&mut c, t);
            assert_eq!((r.action, r.text.as_str()), (ReplyAction::Clarify, EMERGENCY_CHECK), "{t}: {r:?}");
            assert_eq!(b.respond(&mut c, "네").action, ReplyAction::Emergency, "{t}");
        }
        // An understood question with such a word is answered as asked.
        let r = b.respond(&mut Conversation::default(), "수두 걸리면 열이 나고 경련도 하나요");
        assert_ne!(r.text, EMERGENCY_CHECK);
        // Not understood and no such word: the plain request to say it again.
        let r = b.respond(&mut Conversation::default(), "그게 저기 뭐더라");
        assert_ne!(r.text, EMERGENCY_CHECK);
    }

    #[test]
    fn an_elliptical_follow_up_stays_with_its_topic_unless_it_names_another() {
        let b = brain();
        let mut c = Conversation::default();
        assert_eq!(b.respond(&mut c, "백일해 예방접종은 언제 맞아요?").kb_id.as_deref(), Some("pertussis"));
        // Alone, "임신부" matches flu vaccination; after pertussis it asks about pertussis.
        assert_eq!(b.respond(&mut Conversation::default(), "그럼 임신부는요?").kb_id.as_deref(), Some("flu-vaccine"));
        assert_eq!(b.respond(&mut c, "그럼 임신부는요?").kb_id.as_deref(), Some("pertussis"));
        // Naming a disease changes the topic.
        let r = b.respond(&mut c, "그럼 독감은요?");
        assert!(r.kb_id.as_deref().is_some_and(|id| id.starts_with("flu")), "{r:?}");
    }

    /// A conversation that was just asked "혹시 X에 대해 물으셨나요?".
    fn asked(b: &Brain, ids: &[&str]) -> Conversation {
        let _ = b;
        Conversation { pending_clarify: ids.iter().map(|s| s.to_string()).collect(), ..Default::default() }
    }

    #[test]
    fn clarify_yes_answers_the_candidate_and_no_asks_again() {
        let b = brain();
        let mut c = asked(&b, &["flu-vaccine", "flu-symptoms"]);
        let r = b.respond(&mut c, "네 맞아요");
        assert_eq!((r.action, r.kb_id.as_deref()), (ReplyAction::Answer, Some("flu-vaccine")));
        assert!(c.pending_clarify.is_empty());

        let mut c = asked(&b, &["flu-vaccine"]);
        let r = b.respond(&mut c, "아니요");
        assert_eq!(r.action, ReplyAction::Clarify);
        assert_eq!(r.text, REPHRASE);
        // A second "no" in a row offers the agent.
        c.pending_clarify = vec!["measles".into()];
        assert_eq!(b.respond(&mut c, "아뇨").action, ReplyAction::Transfer);

        // Naming the other candidate answers that one.
        let mut c = asked(&b, &["flu-vaccine", "flu-symptoms"]);
        let r = b.respond(&mut c, "독감 증상이요");
        assert_eq!(r.kb_id.as_deref(), Some("flu-symptoms"), "{r:?}");

        // "No, X": X is routed as a new question.
        let mut c = asked(&b, &["flu-vaccine"]);
        let r = b.respond(&mut c, "아니요 홍역 증상이 궁금해요");
        assert_eq!(r.kb_id.as_deref(), Some("measles"), "{r:?}");

        // Without a pending question, "네" is no answer to anything.
        let r = b.respond(&mut Conversation::default(), "네");
        assert_ne!(r.action, ReplyAction::Answer);
    }

    #[test]
    fn weak_health_evidence_asks_about_the_likely_topics() {
        let b = brain();
        let mut c = Conversation::default();
        // One health word, two topics it could be about: ask, naming both.
        let r = b.respond(&mut c, "접종");
        assert_eq!(r.action, ReplyAction::Clarify, "{r:?}");
        assert_eq!(c.pending_clarify, vec!["child-vaccination".to_string(), "vaccine-adverse-reaction".to_string()]);
        assert_eq!(r.text, "혹시 어린이 국가예방접종, 아니면 예방접종 후 이상반응에 대해 물으셨나요?");
        let yes = b.respond(&mut c, "네");
        assert_eq!((yes.action, yes.kb_id.as_deref()), (ReplyAction::Answer, Some("child-vaccination")));
        // No health word: the bare request to rephrase, nothing pending.
        let mut c = Conversation::default();
        let r = b.respond(&mut c, "그 뭐였더라 파란 거");
        assert_eq!(r.text, CLARIFY);
        assert!(c.pending_clarify.is_empty());
    }

    #[test]
    fn titles_are_spoken_with_their_short_names() {
        assert_eq!(spoken_title("인플루엔자(독감) 예방접종"), "독감 예방접종");
        assert_eq!(spoken_title("동물에게 물렸을 때(광견병)"), "광견병");
        assert_eq!(spoken_title("중증열성혈소판감소증후군(SFTS)"), "SFTS");
        assert_eq!(spoken_title("사람유두종바이러스(HPV) 예방접종"), "HPV 예방접종");
        assert_eq!(spoken_title("홍역"), "홍역");
    }

    #[test]
    fn sentences_split_for_streaming() {
        assert_eq!(sentences("안녕하세요. 1.5도 올랐나요? 네!"), vec!["안녕하세요.", "1.5도 올랐나요?", "네!"]);
        assert_eq!(sentences("끝 없음"), vec!["끝 없음"]);
    }
}
