//! A caller checking the phone line rather than asking anything ("여보세요
//! 들리세요?", "소리가 자꾸 끊겨요", "좀 크게 말씀해 주세요"). A hotline
//! answers these ("네, 잘 들립니다. 말씀하세요.", or says its last reply
//! again) instead of taking them for a question it failed to understand,
//! two of which lead to the agent. Pure string rules on compacted text;
//! [`super::brain::Brain`] asks only when nothing else was understood.

use crate::kb::index::compact;

/// What the caller checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineCheck {
    /// Whether sori hears them, or whether anyone is there at all.
    AreYouThere,
    /// They cannot hear sori well (quiet, breaking up, too fast).
    CannotHear,
    /// Whether a machine answers: sori says it is one, and how to reach a
    /// person.
    IsItAMachine,
    /// A machine named and a person asked for ("이거 로봇이에요? 그냥 담당자
    /// 바꿔 주세요"), in words the agent rules did not catch: the person.
    WantsAPerson,
}

/// Said to "여보세요, 들리세요?".
pub const HEARD: &str = "네, 잘 들립니다. 말씀하세요.";
/// Said to "안 들려요" when sori has said nothing yet to say again.
pub const SAY_AGAIN: &str = "네, 제 목소리가 들리시나요? 들리시면 궁금하신 내용을 말씀해 주세요.";
/// Said to "기계가 받는 거예요?": a caller is told they talk to a machine.
pub const MACHINE: &str = "네, 저는 인공지능 음성 상담원입니다. 사람 상담원과 통화하시려면 상담원이라고 말씀해 주세요.";

/// The caller asks sori to speak up or slow down, or cannot hear it even
/// with the phone at their ear (compared without spaces): about the line
/// even when they say why ("제가 귀가 어두워서 크게 좀 말해 줘요").
const SPEAK_UP: &[&str] = &[
    "크게말",
    "크게좀",
    "크게해",
    "크게요",
    "크게크게",
    "크게얘기",
    "크게이야기",
    "큰소리로",
    "볼륨",
    "천천히말",
    "천천히좀",
    "천천히해",
    "천천히요",
    "천천히다시",
    "천천히얘기",
    "천천히이야기",
    "느리게말",
    "느리게좀",
    "느리게해",
    "또박또박",
    "너무빨라",
    "말이빨라",
    "너무빠르",
    "귀에대",
    "귀에바짝",
    "크고천천히",
    "키워주",
    "키워줄",
    "분명하게",
    "또렷하게",
    "다시좀",
];

/// The caller cannot hear sori. Checked before [`ARE_YOU_THERE`]: "안
/// 들려요" holds "들려요".
const CANNOT_HEAR: &[&str] = &[
    "안들려",
    "안들리",
    "잘안들",
    "안들립",
    "못듣겠",
    "못들었",
    "들리지않",
    "들리질않",
    "들리지가않",
    "들렸다안",
    "소리가작",
    "소리가너무작",
    "소리가좀작",
    "목소리가작",
    "작게들려",
    "작게들리",
    "소리가멀",
    "멀게들",
    "소리가안",
    "아무소리",
    "아무말도없",
    "아무말이없",
    "응답이없",
    "대답이없",
    // breaking up; not "딱지를 끊겼는데" (a ticket)
    "끊겨",
    "자꾸끊",
    "계속끊",
    "뚝끊",
    "중간중간끊",
    "중간에끊",
    "전화끊긴",
    "전화가끊",
    "연결이끊",
    "소리가끊",
    "말이끊",
    "말씀이끊",
    "끊겼나",
    "끊긴거",
    "끊어져",
    "끊어지",
    "먹혀",
    "깨져",
    "지직",
    "치직",
    "잡음",
    "웅웅",
    "울려서",
    "울려요",
    "울리네",
    "연결상태",
    "통화상태",
    "끊어졌",
    "끊긴줄",
    "끊겼죠",
    "끊겼을까",
    "잘려요",
    "잘리네",
    "에코",
    "늦게와",
    "딜레이",
    "뭉개",
    "왔다갔다",
    "지글",
    "뭐라는지모르",
    "묻혀",
    "이상하게들",
    "기계음",
];

/// The caller asks whether they are heard, or whether anyone is there.
const ARE_YOU_THERE: &[&str] = &[
    "들리세요",
    "들리시나요",
    "들리시죠",
    "들리십니까",
    "들리나요",
    "들립니까",
    "들리죠",
    "들리냐",
    "들려요",
    "말들려",
    "들리면",
    "들리는거",
    "들리시는",
    "들리시면",
    "듣고있",
    "듣고계",
    "잘가요",
    "잘가나요",
    "거기누구",
    "누구없",
    "누구계세요",
    "아무도없",
    "아무도안계",
    "거기계세요",
    "연결된거",
    "연결됐",
    "연결돼",
    "연결이된",
    "통화되",
    "통화된",
    "전화가된",
    "전화된거",
    "받으신거",
    "받으셨",
    "들리니",
    "들리우",
    "들리는교",
    "들리는가",
    "잘들어가",
    "말들어가",
    "소리들어가",
    "들으셨",
    "거기있",
    "사람있",
    "있어없어",
    "계신가요",
    "계십니까",
    "계시죠",
    "말하고있는데",
    "받은양반",
    "누가받",
    "누구받",
    "겨우됐",
    "이제된거",
    "아무말씀",
    "안끊었",
    "소리가고",
    "소리가가",
    "소리나가",
    "나가는거",
    "마이크",
    "음소거",
    "전달이되",
    "전달되고",
    "넘어가요",
    "넘어가나",
    "말소리괜찮",
    "통화살아",
    "보류",
    "대기중",
    "대기야",
    "대기상태",
    "나간거아니",
    "조용한데",
];

/// The caller asks whether a machine answers.
/// Not a bare 기계: "혈압 재는 기계가 이상해요" is no question about sori.
const MACHINE_WORDS: &[&str] = &[
    "기계가받",
    "기계가대답",
    "기계가말",
    "기계예요",
    "기계에요",
    "기계인가",
    "기계야",
    "기계죠",
    "기계맞",
    "기계랑",
    "기계한테",
    "기계목소리",
    "로봇",
    "자동응답",
    "인공지능",
    "에이아이",
    "챗봇",
    "에이알에스",
    "ars",
    "녹음된",
    "녹음이에요",
    "녹음인가",
    "녹음틀어",
    "녹음나오",
    "컴퓨터가대답",
    "컴퓨터가받",
    "사람이에요",
    "사람맞",
    "진짜사람이",
    "사람아니",
];

/// Said with a machine word, a refusal of it: a request for a person
/// ("로봇이랑은 얘기 안 할래요"), for the agent rules, not a line check.
const REFUSED: &[&str] = &["안할래", "싫어", "싫다", "말고", "필요없", "안해요", "못하겠"];

/// Said with a machine word, a person asked for.
const PERSON: &[&str] = &["담당", "상담", "직원", "바꿔", "연결", "부탁", "선생님"];

/// What says the hearing in question is the caller's (an ear, a child not
/// reacting to sound) or that it is something else heard: a health
/// question, never the line.
const NOT_THE_LINE: &[&str] = &[
    "귀",
    "청력",
    "이명",
    "보청기",
    "난청",
    "환청",
    "반응",
    "삐",
    "윙",
    "쉬었",
    "목이쉬",
    "소리가들려",
    "소리도들려",
    "소리가나",
    "옆집",
    "층간",
    "중이염",
    "숨소리",
    "와이파이",
    "인터넷",
];

/// Whole words a line check may come with that add nothing.
const HELLO: &[&str] = &["여보세요", "여보세여", "여보시오", "여보십시오", "저기요", "거기요"];

/// The longest utterance (without spaces) read as only a line check: a
/// question that merely starts with "여보세요 들리세요?" goes on to be
/// understood as the question.
const MAX_CHARS: usize = 24;

/// What `text` checks of the line, if that is all it does.
pub fn line_check(text: &str) -> Option<LineCheck> {
    let flat = compact(text);
    if flat.is_empty() || flat.chars().count() > MAX_CHARS {
        return None;
    }
    if SPEAK_UP.iter().any(|p| flat.contains(p)) {
        return Some(LineCheck::CannotHear);
    }
    if NOT_THE_LINE.iter().any(|w| flat.contains(w)) {
        return None;
    }
    if CANNOT_HEAR.iter().any(|p| flat.contains(p)) {
        return Some(LineCheck::CannotHear);
    }
    if MACHINE_WORDS.iter().any(|p| flat.contains(p)) {
        if PERSON.iter().any(|p| flat.contains(p)) {
            return Some(LineCheck::WantsAPerson);
        }
        return (!REFUSED.iter().any(|p| flat.contains(p))).then_some(LineCheck::IsItAMachine);
    }
    if ARE_YOU_THERE.iter().any(|p| flat.contains(p)) {
        return Some(LineCheck::AreYouThere);
    }
    // "…말하지 말고 천천히": the request ends it.
    if flat.ends_with("천천히") || flat.ends_with("느리게") {
        return Some(LineCheck::CannotHear);
    }
    // "여보세요", "네 여보세요", "여보세요오", "음 여보세요 저기요": hello and
    // nothing else.
    let mut rest = flat.as_str();
    let mut hellos = 0;
    loop {
        rest = rest.trim_start_matches(['요', '오', '네', '어', '아', '음', '예']);
        match HELLO.iter().find(|h| rest.starts_with(*h)) {
            Some(h) => {
                rest = &rest[h.len()..];
                hellos += 1;
            }
            None => break,
        }
    }
    (hellos > 0 && rest.is_empty()).then_some(LineCheck::AreYouThere)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_checking_the_line_is_told_apart_from_an_ear_question() {
        for t in [
            "여보세요",
            "여보세요 여보세요",
            "네 여보세요오",
            "여보세요 제 말 들리세요",
            "거기 누구 없어요",
            "연결된 거 맞아요",
        ] {
            assert_eq!(line_check(t), Some(LineCheck::AreYouThere), "{t}");
        }
        for t in ["잘 안 들려요", "소리가 너무 작아요", "자꾸 끊겨요", "좀 크게 말씀해 주세요", "너무 빨라요 천천히요"]
        {
            assert_eq!(line_check(t), Some(LineCheck::CannotHear), "{t}");
        }
        for t in [
            "귀가 잘 안 들려요",
            "아이가 소리에 반응을 안 해요",
            "밤마다 삐 소리가 들려요",
            "여보세요 독감 예방접종 무료 대상이 어떻게 되는지 알고 싶어서요",
            "코로나 검사",
            "기차는 어둠 속을 천천히 달리고 있었다",
            "혈압 재는 기계가 숫자가 이상하게 나와요",
            "어 그 아들이 방향제 액체를 마셨는데 숨소리가 이상해요",
            "저 아까 세제 마셨어요 속이 타들어 가요",
            "아들이 시험 떨어지고 아파트 꼭대기 층에 올라가 있어요",
            "와이파이가 끊겨서 온라인 접수가 안 돼요",
            "알겠어요 안녕히 계세요",
            "주차위반 딱지를 끊겼는데 과태료는 어디서 내요",
            "로봇이랑은 얘기 안 할래요 사람 없어요",
            "끊기 전에 하나만 더 물어봐도 돼요",
            "기계 말고 진짜 사람 바꿔 주세요 독감 주사 부작용이 너무 심해요",
            "",
        ] {
            assert_eq!(line_check(t), None, "{t}");
        }
        assert_eq!(line_check("제가 귀가 어두워서 그러니 크게 좀 말해 줘요"), Some(LineCheck::CannotHear));
        assert_eq!(line_check("혹시 기계가 받는 거예요"), Some(LineCheck::IsItAMachine));
        assert_eq!(line_check("이거 로봇이에와 그냥 담다자 다꿔 주제요"), Some(LineCheck::IsItAMachine));
        assert_eq!(line_check("녹음된 목소리 고 담당자분 좀 부탁드려요"), Some(LineCheck::WantsAPerson));
    }
}
