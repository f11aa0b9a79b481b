//! Whether an utterance that names an emergency tells of one happening now.
//!
//! Callers to a health line use the words of emergencies for much else: a
//! question about what to do if it happens ("사람이 쓰러지면 119부터 불러요?"),
//! one that is over ("지난주에 애가 열성 경련을 했었는데 예방접종 해도 되나요"),
//! one about a service ("구급차 부르면 돈 내야 돼요"), or a figure of speech
//! ("심장 멎는 줄 알았어요"). An emergency trigger in such a frame is not
//! reason enough to send the caller to 119 and end the conversation; it is
//! reason enough to give 119 advice and ask ("위급한 상황인가요?"), which
//! [`super::index::Router::possible_emergency`] does. A word that says it is
//! happening now ("지금", "빨리", "살려") keeps the emergency.
//!
//! The same holds for a request for a person: "상담원" in "어제 통화한
//! 상담원분이 친절하셨어요", "상담원 연결 안 해도 돼요" or "나중에 상담원
//! 필요하면 다시 걸게요" asks for no one now ([`not_asking`]); such an
//! utterance is left to what it means ([`super::index::Router::possible_agent`]).
//!
//! Korean grammar, not a hotline's data: the cues are the language's own
//! conditional, past-perfect and comparison forms.

use super::index::{compact, normalize};

/// Words that say it is happening now: an emergency whatever the frame.
const NOW: &[&str] = &["지금", "빨리", "살려", "도와주", "당장", "방금"];

/// Said of the past, or over: "…은 적이 있", "…했었", "지금은 괜찮". Not
/// "멀쩡하셨는데": "방금까지 멀쩡하셨는데 쓰러지셨어요" is the commonest way to tell one.
const OVER: &[&str] = &[
    "적이있",
    "적있",
    "었었",
    "았었",
    "했었",
    "렀었",
    "셨었",
    "졌었",
    "였었",
    "지난번",
    "저번에",
    "지난달",
    "지난주",
    "작년",
    "예전에",
    "옛날에",
    "어렸을때",
    "괜찮아지",
    "괜찮아졌",
    "이제괜찮",
    "나았",
    "뻔했",
];

/// Well now, in contrast to before: "…했었는데 지금은 괜찮아요". Not a bare
/// "지금은" ("아까는 괜찮았는데 지금은 숨을 안 쉬어요").
/// Something that stopped: over, for a trigger ("피는 멈췄어요").
const STOPPED: &[&str] = &["멈췄", "그쳤"];

const RECOVERED: &[&str] =
    &["지금은괜찮", "지금은치료", "지금은잘지내", "지금은멀쩡", "지금은다나", "지금은나았", "지금은좋아", "지금은건강"];

/// Told of someone else, heard or read: "…했다고 들었는데", "…드셨다는 얘기를 들었는데", "뉴스에서", "…했다던데".
/// Not "들었는데" ("쿵 소리를 들었는데 쓰러져 계세요") or "…다고 그러는데" (said now).
const HEARSAY: &[&str] =
    &["다고들었", "라고들었", "다는얘기를들", "다는얘기들", "뉴스에", "뉴스를", "기사에서", "기사보니", "다던데"];

/// About a service, not a person in danger: what it costs, where to learn it.
const SERVICE: &[&str] = &["비용", "요금", "이용료", "얼마", "진료비", "환급", "보험", "교육", "자격증", "돈"];

/// A figure of speech: "…는 줄 알았어요", "피가 거꾸로 솟아요", "웃겨서 숨 넘어가".
/// Not "…것처럼" or "…느낌이에요": "머리가 깨질 것처럼 아파요" is a symptom now.
const FIGURE: &[&str] = &["줄알았", "거꾸로", "웃겨서", "웃다가", "웃었", "웃겼"];

/// A story, not a person: "드라마에서 주인공이…", "소설 속 인물이…".
const FICTION: &[&str] = &["드라마", "영화에서", "영화속", "소설", "웹툰", "게임에서", "장면", "주인공", "등장인물"];

/// After a conditional ("…면", "…을 때"): a question about what to do.
const ASKS: &[&str] = &[
    "어떻게",
    "어떡하",
    "해야",
    "하나요",
    "되나요",
    "돼요",
    "되죠",
    "할까요",
    "나요",
    "까요",
    "대처",
    "방법",
    "알려",
    "건가요",
    "거죠",
    "건지",
    "거예요",
    "궁금",
];

/// "만약에 …", "혹시라도 …": a supposition, whatever follows.
const SUPPOSE: &[&str] = &["만약", "만일", "혹시라도"];

/// Why `text` does not tell of something happening now (the cue), or None.
/// Calm now, said with a sign that was ("…어지럽다 하셨는데 지금은 쉬고 계세요"):
/// no reason to ask from likeness to an emergency sentence alone
/// ([`super::index::Router::possible_emergency`]). Never read against a trigger,
/// a check or an accident: "쓰러지셨다가 지금은 쉬고 계시는데 한쪽 팔을 못
/// 움직이세요" is a stroke.
const CALM_NOW: &[&str] = &["지금은쉬고", "지금은쉬세요"];

/// Whether `text` says the person is calm now (see [`CALM_NOW`]).
pub fn calm_now(text: &str) -> bool {
    let flat = compact(text);
    CALM_NOW.iter().any(|w| flat.contains(w))
}

/// Whether a cue of [`not_now`] tells when: the past, "what if", hearsay, a
/// story. A cost asked ("얼마" is in 얼마나) or something that stopped ("피는
/// 멈췄는데 자꾸 토해요") says nothing of whether the rest is happening now.
pub fn says_when(cue: &str) -> bool {
    !SERVICE.contains(&cue) && !STOPPED.contains(&cue)
}

pub fn not_now(text: &str) -> Option<&'static str> {
    let flat = compact(text);
    // "예전에 … 적 있는데 지금은 괜찮아요": over, though it says 지금.
    if let Some(w) = RECOVERED.iter().find(|w| flat.contains(*w)) {
        return Some(w);
    }
    if NOW.iter().any(|w| flat.contains(w)) {
        return None;
    }
    if let Some(w) =
        [OVER, STOPPED, SERVICE, FIGURE, FICTION, HEARSAY].iter().flat_map(|l| l.iter()).find(|w| flat.contains(*w))
    {
        return Some(w);
    }
    conditional_question(text)
}

/// "만약 …", or "…면 / …을 때" followed by a question about what to do.
fn conditional_question(text: &str) -> Option<&'static str> {
    let norm = normalize(text);
    let words: Vec<&str> = norm.split(' ').collect();
    if words.iter().any(|w| SUPPOSE.iter().any(|s| w.starts_with(s))) {
        return Some("만약");
    }
    let at = words.iter().position(|w| {
        (w.ends_with('면') && !matches!(*w, "아니면" | "그러면" | "그럼면"))
            || *w == "때"
            || w.ends_with("때는")
            || w.starts_with("경우")
    })?;
    let rest: String = words[at + 1..].concat();
    ASKS.iter().find(|a| rest.contains(*a)).map(|_| "…면 …?")
}

/// Not wanted: "…안 해도 돼요", "…필요 없어요", "…달라는 게 아니고요", "직원 연결 말고 여기서 답해 주세요".
const DECLINED: &[&str] = &[
    "안해도",
    "안하셔도",
    "안바꿔도",
    "안바꿔줘도",
    "안해줘도",
    "필요없",
    "아니고",
    "아니라",
    "게아니",
    "건아니",
    "연결말고",
    "연결은말고",
    // "상담원 연결은 괜찮고요 …만 알려 주세요", "… 그래도 괜찮아요"
    "괜찮고",
    "괜찮아요",
    "괜찮습니다",
];

/// Told of a person met before or of what they said: "어제 통화한 상담원분이…",
/// "상담원이 아까 …라던데", "간호사 말로는…". Not "아까부터" ("아까부터 같은 말만
/// 하네 사람 좀"), the commonest complaint before asking for one.
const TOLD_OF: &[&str] = &[
    "어제",
    "지난번",
    "저번에",
    "통화한",
    "통화했던",
    "라던데",
    "다던데",
    "라고했",
    "라고하셨",
    "말로는",
    "말대로",
    "말한",
    "말했",
    "말씀하신",
    "말씀대로",
    "이름이",
    // done as someone said, or thought so: "직원분이 알려 준 대로 했는데",
    // "사람이 받는 줄 알았어요"; as it used to be: "예전엔 상담원이 받더니"
    "알려준대로",
    "알려주신대로",
    "하라는대로",
    "시킨대로",
    "줄알았",
    "예전엔",
    "예전에",
    "받더니",
];

/// Thanks or praise: "상담원님 덕분에 잘 해결됐어요", "상담원들 고생 많으시네요".
const THANKS: &[&str] = &["고맙", "감사", "덕분", "수고", "고생", "친절"];

/// Later, or if: "나중에 상담원 필요하면 다시 걸게요".
const LATER: &[&str] = &["나중에", "다음에", "필요하면", "다시걸", "다시전화"];

/// Why `text`, which names a person or a way of reaching one, asks for no one
/// now (the cue), or None.
pub fn not_asking(text: &str) -> Option<&'static str> {
    let flat = compact(text);
    if ["지금", "빨리", "당장"].iter().any(|w| flat.contains(w)) {
        return None;
    }
    // A "not" followed by a person asked for is about something else:
    // "기계는 필요 없고 사람 바꿔 주세요".
    let declined = DECLINED
        .iter()
        .find(|w| flat.find(*w).is_some_and(|at| !ASKS_FOR.iter().any(|r| flat[at + w.len()..].contains(r))));
    if declined.is_some() {
        return declined.copied();
    }
    // "(아까) 사람 바꿔 달라고 했잖아요": the caller's own request, made again.
    if flat.contains("달라고") {
        return None;
    }
    // "아까 통화한 상담원분 다시 바꿔 주실 수 있어요?": a person told of,
    // asked for again.
    let put_through = PUT_THROUGH.iter().any(|w| flat.contains(w));
    if flat.contains("아까") && !flat.contains("아까부터") && !put_through {
        return Some("아까");
    }
    let told_of: &[&'static str] = if put_through { &[] } else { TOLD_OF };
    [told_of, THANKS, LATER].iter().flat_map(|l| l.iter()).find(|w| flat.contains(**w)).copied()
}

/// Whether `text` is said as a request (…해 주세요, …줘, 부탁해요, …고
/// 싶어요, …할래요, a way asked for) or ends on the request's own noun or
/// verb ("상담원 연결", "사람 바꿔"). What a request for a person heard with
/// two slips must also be: "같이 사는 사람이 결핵 판정 받았어요" is no
/// 사람 연결 heard with slips, "…사람이 확진됐는데" no 사람 대 줘.
pub fn said_as_request(text: &str) -> bool {
    let flat = compact(text);
    REQUEST_FORMS.iter().any(|w| flat.contains(w))
        || REQUEST_ENDS.iter().any(|w| flat.ends_with(w))
        || ends_on_a_put_through_verb(text)
}

/// Whether the last word (without a final 요) is a put-through verb heard
/// with a slip, the whole word: "…사람 바끄요" (바꿔요), not "배불러요".
fn ends_on_a_put_through_verb(text: &str) -> bool {
    let normalized = normalize(text);
    let Some(last) = normalized.split(' ').next_back() else { return false };
    let last = last.strip_suffix('요').unwrap_or(last);
    let heard = super::jamo::heard(last);
    PUT_THROUGH_VERBS.iter().any(|v| {
        v.chars().count() == last.chars().count() && super::fuzzy::SoundPattern::near_word(v, VERB_SLIP).matches(&heard)
    })
}

/// Verbs a request for a person ends on.
const PUT_THROUGH_VERBS: &[&str] = &["바꿔", "연결", "대줘", "불러", "돌려"];

/// What a put-through verb ending an utterance may absorb: one sound
/// heard wrong (바끄 for 바꿔), the word being whole and last.
const VERB_SLIP: f32 = 1.0;

/// Request endings, as heard too (주세우, 즘세요 still hold 세요 or 주세).
const REQUEST_FORMS: &[&str] = &[
    "주세",
    "세요",
    "주십",
    "주실",
    "주시겠",
    "주시면",
    "줘",
    "주라",
    "주이소",
    "주쇼",
    "주소",
    "줄래",
    "주랑께",
    "달라",
    "부탁",
    "싶",
    "할래",
    "할게",
    "하게해",
    "방법",
];

/// A request said as its noun or bare verb: "상담원 연결", "사람 바꿔".
const REQUEST_ENDS: &[&str] = &["연결", "바꿔", "요청"];

/// Asking to be put through, which outweighs a person told of (not a thanks
/// or a later: "나중에 필요하면 연결해 주세요" asks nothing now).
const PUT_THROUGH: &[&str] = &[
    "바꿔주",
    "바꿔줘",
    "바꿔달",
    "연결해주",
    "연결해줘",
    "연결부탁",
    "돌려주",
    "돌려줘",
    "이어주",
    "이어줘",
    "다시연결",
    "다시바꿔",
];

/// Someone to be put through to, named after a "not": "기계는 필요 없고 사람
/// 바꿔 주세요" (but "상담원 필요 없어요 그냥 알려 주세요" declines).
const ASKS_FOR: &[&str] = &["사람", "상담", "직원", "담당", "선생님", "간호사", "의사"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_told_of_thanked_or_declined_is_not_asked_for() {
        for (text, cue) in [
            ("어제 통화한 상담원분이 친절하셨어요", "어제"),
            ("상담원 연결 안 해도 돼요 그냥 물어볼게요", "안해도"),
            ("나중에 상담원 필요하면 다시 걸게요", "나중에"),
            ("상담원이 아까 보건소 가라던데 어느 보건소요", "아까"),
            ("상담원들 고생 많으시네요", "고생"),
            ("사람 바꿔 달라는 게 아니고요 그냥 질문 있어요", "아니고"),
            ("상담원이 마스크 쓰라고 했는데 아무거나 써도 돼요", "라고했"),
            ("상담원 필요 없어요 그냥 알려 주세요", "필요없"),
            ("직원 연결 말고 그냥 여기서 답해 주세요", "연결말고"),
            ("어제 통화한 상담원분이 연결해 준다고 했는데 어떻게 됐어요", "어제"),
            ("나중에 필요하면 상담원 연결해 주세요", "나중에"),
            ("상담원 연결은 괜찮아요 그냥 여쭤볼게요", "괜찮아요"),
            ("간호사분이 알려 준 대로 했는데 열이 안 내려요", "알려준대로"),
            ("예전엔 상담원이 바로 받았는데 요즘은 기계네요", "예전엔"),
            ("여기는 사람이 받는 줄 알았어요", "줄알았"),
        ] {
            assert_eq!(not_asking(text), Some(cue), "{text}");
        }
        for text in [
            "상담원 바꿔 주세요",
            "아까부터 계속 같은 말만 하네 사람 좀",
            "기계 말고 사람이랑 얘기할래요",
            "지금 상담원 좀 연결해 주세요 아까 말했잖아요",
            "기계는 필요 없고 사람 바꿔 주세요",
            "응 사람 바꿔 달라고 했어",
            "아까 상담원 바꿔 달라고 했잖아요",
            "어제 통화한 선생님으로 다시 연결해 주세요",
            "아까 그 직원분 다시 바꿔 주시면 안 돼요",
            "기다려도 괜찮으니까 사람 바꿔 주세요",
            "예전에 상담원 연결해 주셨던 것처럼 연결해 주세요",
        ] {
            assert_eq!(not_asking(text), None, "{text}");
        }
    }

    #[test]
    fn a_request_is_told_by_its_form() {
        for text in [
            "사감이랑 연결해 즘세요",
            "간호사님 좀 현결 부탁드려요",
            "담사 연결",
            "얘기하고 싶은테요",
            "바끄 줘",
            "사람 바끄요",
        ] {
            assert!(said_as_request(text), "{text}");
        }
        for text in [
            "같이 사는 사람이 결핵 판정 받았어요",
            "가족 중에 한 사람이 확진됐는데 검사받아야 돼요",
            "담당자가 결과를 보내 준다고 했는데",
            "사람 많은 데 가서 배불러요",
        ] {
            assert!(!said_as_request(text), "{text}");
        }
    }

    #[test]
    fn an_emergency_asked_about_or_over_or_a_figure_of_speech_is_not_now() {
        for (text, cue) in [
            ("사람이 쓰러지면 어떻게 해야 돼요", "…면 …?"),
            ("아기가 열성 경련을 하면 어떻게 대처해요", "…면 …?"),
            ("구급차 부르면 돈 내야 돼요", "돈"),
            ("지난주에 애가 열성 경련을 했었는데 예방접종 해도 되나요", "했었"),
            ("아이돌 콘서트 티켓팅 하다가 심장 멎는 줄 알았어요", "줄알았"),
            ("손가락을 칼에 살짝 베였는데 피는 멈췄어요", "멈췄"),
            ("만약 아버지가 가슴이 아프다고 하시면 약을 드려도 돼요", "만약"),
            ("동료가 회의 중에 쓰러졌다고 들었는데 왜 그런 거예요", "다고들었"),
            ("예전에 자살 시도한 적 있는데 지금은 치료 잘 받고 있어요 독감 주사 맞아도 되나요", "지금은치료"),
            ("소설 쓰고 있는데 등장인물이 옥상에서 뛰어내리려는 장면이 있어요", "소설"),
            ("할머니가 쓰러지셨었는데 검사 결과는 괜찮대요", "셨었"),
            ("친구랑 숨 넘어가게 웃었어요", "웃었"),
        ] {
            assert_eq!(not_now(text), Some(cue), "{text}");
        }
        for text in [
            "아빠가 숨을 안 쉬어요",
            "애가 열이 나면서 경련을 해요",
            "예전에도 쓰러진 적이 있는데 지금 또 쓰러졌어요",
            "갑자기 머리가 깨질 것처럼 아프고 토하고 한쪽이 안 보여요",
            "쿵 소리를 들었는데 할머니가 쓰러져 계세요",
            "저녁까지만 해도 멀쩡하셨는데 쓰러져 계시고 불러도 대답이 없으세요",
            "아빠가 가슴이 아프다고 그러는데 식은땀을 흘려요",
            "넘어졌을 때 머리를 부딪쳤는데 계속 토해요",
            "엄마가 쓰러지셨어요 아니면 제가 뭘 해야 돼요",
            "아까는 괜찮았었는데 지금은 숨을 안 쉬어요",
            "예전에도 쓰러진 적이 있는데 지금은 잘 못 움직이세요",
        ] {
            assert_eq!(not_now(text), None, "{text}");
        }
    }
}
