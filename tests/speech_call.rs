//! A spoken conversation on a real call: baresip plays a Korean question over
//! the greeting; sori stops the greeting (barge-in), transcribes the question
//! with whisper (sori-stt worker), answers from the knowledge base, and the
//! call record holds the turn.

mod common;

use std::time::Duration;

use common::{Options, Sori};

#[test]
fn caller_question_interrupts_the_greeting_and_gets_a_spoken_answer() {
    // The pipeline is what is tested, not its speed: on a CI machine busy with
    // other tests whisper may take longer than a caller would be kept waiting
    // (the hold phrase still plays), so the turn is not given up at 4.5 s.
    let sori = Sori::start(Options {
        store: "record = true\nrecordings = \"rec\"\n".into(),
        extra: "\n[fallback]\ngive_up_ms = 15000\n\n[stt]\ntimeout_ms = 15000\n".into(),
        ..Default::default()
    });
    let dir = tempfile::tempdir().expect("tmp");
    // 2 s of greeting, then the question, then silence while sori answers.
    let tts = sori::tts::espeak::Espeak::new("ko", 150);
    let question = sori::tts::prompts::render(&tts, "홍역은 어떤 증상이 있나요?").expect("render");
    let mut pcm = vec![0i16; 16_000];
    pcm.extend_from_slice(&question);
    pcm.extend(std::iter::repeat_n(0i16, 8000 * 20));
    let src = dir.path().join("question.wav");
    common::write_wav_8k(&src, &pcm);
    let dec = common::baresip_call(&sori, dir.path(), &src, 22);

    let recs = sori.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1, "log:\n{}", common::tail(&sori.log(), 4000));
    let call = &recs[0];
    assert!(call.barge_ins >= 1, "the question stopped the greeting; log:\n{}", common::tail(&sori.log(), 4000));
    let turns = sori::store::turns(&sori.db(), &call.call_id).expect("turns");
    assert!(!turns.is_empty(), "no turn recorded; log:\n{}", common::tail(&sori.log(), 4000));
    let t = &turns[0];
    eprintln!(
        "heard {:?} → {} {:?} (stt {} ms, respond {} ms)",
        t.transcript, t.action, t.kb_id, t.stt_ms, t.respond_ms
    );
    // whisper base hears espeak-ng's robotic Korean at 8 kHz poorly (the STT
    // tests measure it), so the route is reported, not asserted, here; the
    // pipeline is: a transcript, a decided reply, and that reply played.
    assert!(!t.transcript.trim().is_empty(), "empty transcript");
    assert!(!t.reply.is_empty());
    // The transcript may have been ready before the turn ended (speculative
    // STT at the caller's pause); the reply never comes before it.
    assert!(t.stt_ms > 0 && t.respond_ms >= t.stt_wait_ms, "{t:?}");
    let label = t.kb_id.as_ref().map(|k| format!("kb:{k}")).unwrap_or_else(|| t.action.clone());
    assert!(call.menu_path.contains(&label), "{} lacks {label}", call.menu_path);

    // What the phone heard after its question is sori's answer, not silence.
    let mut r = hound::WavReader::open(&dec).expect("open");
    let heard: Vec<f64> = r.samples::<i16>().map(|s| s.unwrap_or(0) as f64 / 32768.0).collect();
    let after = (t.speech_end_ms as usize / 1000 + 1) * 8000 + t.respond_ms as usize * 8;
    let tail = &heard[after.min(heard.len())..(after + 3 * 8000).min(heard.len())];
    let rms = (tail.iter().map(|x| x * x).sum::<f64>() / tail.len().max(1) as f64).sqrt();
    assert!(rms > 0.02, "the answer is audible (rms {rms:.4} over 3 s after the question)");

    // The call's recording: the caller's question on the left where the turn
    // says it was, sori's greeting before it and its answer after on the right.
    let file = call.recording.clone().expect("recorded");
    let mut r = hound::WavReader::open(&file).expect("open recording");
    let s: Vec<f64> = r.samples::<i16>().map(|s| s.unwrap_or(0) as f64 / 32768.0).collect();
    let rms_of = |ch: usize, from_ms: u64, to_ms: u64| {
        let (a, b) = ((from_ms * 8) as usize, (to_ms * 8) as usize);
        let v: Vec<f64> = s.iter().skip(ch).step_by(2).skip(a).take(b.saturating_sub(a)).copied().collect();
        (v.iter().map(|x| x * x).sum::<f64>() / v.len().max(1) as f64).sqrt()
    };
    let (q0, q1) = (t.speech_start_ms, t.speech_end_ms);
    let caller_q = rms_of(0, q0, q1);
    let caller_before = rms_of(0, 0, q0.saturating_sub(300));
    let sori_greeting = rms_of(1, 0, q0.min(900));
    eprintln!("recording: caller {caller_q:.4} during the question, {caller_before:.4} before; sori {sori_greeting:.4} greeting");
    assert!(caller_q > 0.02 && caller_q > 4.0 * caller_before, "the question is on the left at its turn's time");
    assert!(sori_greeting > 0.02, "the greeting is on the right");
}

#[test]
fn a_caller_who_goes_on_after_a_pause_is_heard_whole_in_one_turn() {
    // Turn ends quickly (400 ms of silence whatever the transcript says), so
    // the 900 ms pause inside the question ends the caller's turn; they go on
    // right after. sori hears the whole question again, pause included.
    // One whisper thread and a long call: on a CI machine busy with other
    // tests two spinning threads can take many seconds per transcript.
    let sori = Sori::start(Options {
        extra: "\n[vad]\nend_silence_ms = 400\ncomplete_silence_ms = 300\nincomplete_silence_ms = 400\n\
                \n[fallback]\ngive_up_ms = 30000\n\n[stt]\ntimeout_ms = 30000\nthreads = 1\n"
            .into(),
        ..Default::default()
    });
    let dir = tempfile::tempdir().expect("tmp");
    let tts = sori::tts::espeak::Espeak::new("ko", 150);
    let mut first = sori::tts::prompts::render(&tts, "독감 예방접종은요").expect("render");
    // The rendered prompt ends in silence: the pause is exactly 900 ms.
    while first.last().is_some_and(|s| s.unsigned_abs() < 300) {
        first.pop();
    }
    let second = sori::tts::prompts::render(&tts, "어디서 맞을 수 있나요?").expect("render");
    let mut pcm = vec![0i16; 16_000];
    pcm.extend_from_slice(&first);
    pcm.extend(std::iter::repeat_n(0i16, 8 * 900));
    pcm.extend_from_slice(&second);
    pcm.extend(std::iter::repeat_n(0i16, 8000 * 30));
    let src = dir.path().join("question.wav");
    common::write_wav_8k(&src, &pcm);
    common::baresip_call(&sori, dir.path(), &src, 34);

    let recs = sori.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1, "log:\n{}", common::tail(&sori.log(), 4000));
    let log = sori.log();
    assert!(log.contains("the turn going on is heard again whole"), "log:\n{}", common::tail(&log, 6000));
    let (_, metrics) = common::http(sori.http_port, "GET", "/metrics", "");
    assert!(metrics.contains("sori_turns_heard_whole_total 1"), "{metrics}");
    // The turn answered spans both halves and the pause between them (the
    // rendered prompts carry a short tail of silence; VAD trims some edges).
    let spoken_ms = ((first.len() + second.len()) / 8) as u64;
    let holds_both =
        |t: &sori::store::TurnRecord| t.speech_end_ms.saturating_sub(t.speech_start_ms) >= spoken_ms / 2 + 900;
    let turns = sori::store::turns(&sori.db(), &recs[0].call_id).expect("turns");
    let Some(whole) = turns.iter().find(|t| holds_both(t)) else {
        panic!("no turn holds both halves: {turns:?}\nlog:\n{}", common::tail(&sori.log(), 6000))
    };
    assert!(whole.speech_start_ms < 2_500, "from the first half's start: {whole:?}");
    assert!(!whole.transcript.trim().is_empty() && !whole.reply.is_empty(), "{whole:?}");
}

/// The speech-ko corpus of real human Korean speech (evaluation only: read
/// in place, never copied into the repository): `$SORI_SPEECH_KO`, else
/// `../shared/speech-ko` beside the checkout.
fn speech_ko() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("SORI_SPEECH_KO")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::repo().join("../shared/speech-ko"));
    dir.join("transcripts.tsv").is_file().then_some(dir)
}

/// A speech-ko clip at 8 kHz with its leading and trailing silence cut.
fn clip_8k(dir: &std::path::Path, name: &str) -> Vec<i16> {
    let pcm16 = sori::stt::read_wav_16k(&dir.join("wav").join(name)).expect("speech-ko clip");
    let mut pcm: Vec<i16> =
        pcm16.chunks(2).map(|p| ((p[0] as i32 + *p.last().unwrap_or(&0) as i32) / 2) as i16).collect();
    let loud = |s: &i16| s.unsigned_abs() >= 600;
    let end = pcm.iter().rposition(loud).map_or(0, |i| i + 1);
    pcm.truncate(end);
    let start = pcm.iter().position(loud).unwrap_or(0);
    pcm.split_off(start)
}

#[test]
fn a_caller_who_pauses_after_a_statement_is_not_answered_over() {
    // A real voice (speech-ko `tune`) says a finished sentence that is no
    // question, pauses 1 s, and goes on. Its casual ending says nothing,
    // so the turn ends after 500 ms of silence once the transcript is in;
    // sori's reply can only ask for more (not a topic), so it waits until
    // the caller has been quiet 1.4 s: the caller goes on first, nothing is
    // said over them, and the turn is heard whole. Said at once (as before,
    // `ask_more_after_ms = 0`), the reply started inside the pause and the
    // caller talked over it: a barged-in turn. With a recogniser slower
    // than the pause the turn stays open (or goes on before the transcript
    // came): also heard whole.
    let Some(ko) = speech_ko() else {
        eprintln!("SKIPPED: no speech-ko corpus (../shared/speech-ko or $SORI_SPEECH_KO); held reply not checked");
        return;
    };
    let sori = Sori::start(Options {
        extra: "\n[fallback]\ngive_up_ms = 30000\n\n[stt]\ntimeout_ms = 30000\nthreads = 1\n".into(),
        ..Default::default()
    });
    let dir = tempfile::tempdir().expect("tmp");
    // "난 이렇게 널 바라보고 있는 것만으로도 행복해." ‖
    // "도대체 몇 번을 더 말씀드려야 술을 끊으시겠습니까?"
    let first = clip_8k(&ko, "nek00104.wav");
    let second = clip_8k(&ko, "nek00305.wav");
    let mut pcm = vec![0i16; 16_000];
    pcm.extend_from_slice(&first);
    pcm.extend(std::iter::repeat_n(0i16, 8 * 1000));
    pcm.extend_from_slice(&second);
    pcm.extend(std::iter::repeat_n(0i16, 8000 * 30));
    let src = dir.path().join("statement.wav");
    common::write_wav_8k(&src, &pcm);
    common::baresip_call(&sori, dir.path(), &src, 36);

    let recs = sori.wait_records(1, Duration::from_secs(10));
    assert_eq!(recs.len(), 1, "log:\n{}", common::tail(&sori.log(), 4000));
    let log: String = sori.log().lines().filter(|l| !l.contains("RTCP")).collect::<Vec<_>>().join("\n");
    let turns = sori::store::turns(&sori.db(), &recs[0].call_id).expect("turns");
    let path =
        ["caller went on before the reply asking for more was said", "caller talked on before the transcript came"]
            .into_iter()
            .find(|l| log.contains(l))
            .unwrap_or("the turn stayed open through the pause");
    eprintln!("in the pause: {path}");
    assert!(
        turns.iter().all(|t| !t.barged_in),
        "a reply was said over the caller: {turns:?}\nlog:\n{}",
        common::tail(&log, 6000)
    );
    let spoken_ms = ((first.len() + second.len()) / 8) as u64;
    let holds_both =
        |t: &sori::store::TurnRecord| t.speech_end_ms.saturating_sub(t.speech_start_ms) >= spoken_ms / 2 + 1000;
    assert!(
        turns.iter().any(holds_both),
        "no turn holds both sentences: {turns:?}\nlog:\n{}",
        common::tail(&log, 6000)
    );
}
