"""The client against a real `sori serve` (started by conftest.py): every endpoint the GUI uses."""

from __future__ import annotations

import time

import pytest

from sori_webui import views
from sori_webui.audio import from_wav, to_wav
from sori_webui.client import SoriClient, SoriError

from .conftest import TOKEN, free_port, sipp_call


@pytest.fixture(scope="module")
def client(sori):
    c = SoriClient(sori.url, token=TOKEN)
    yield c
    c.close()


def test_health_lists_what_the_server_can_do(client):
    h = client.health()
    assert h["status"] == "ok" and h["kb_entries"] >= 30
    assert h["auth"] is True
    assert "연결됨" in views.ok_banner(h, client.base_url)


def test_streaming_chat_carries_the_sori_object_and_follow_ups_work(client):
    steps = list(client.chat_stream([{"role": "user", "content": "홍역은 어떤 증상이 있어요?"}]))
    last = steps[-1]
    assert last.sori["action"] == "answer" and last.sori["kb_id"] == "measles"
    assert last.sori["sources"][0]["url"].startswith("https://")
    assert last.text and 0 < last.first_ms <= last.total_ms
    follow = client.chat(
        [
            {"role": "user", "content": "말라리아 예방하려면 어떻게 해요"},
            {"role": "assistant", "content": "…"},
            {"role": "user", "content": "다시 말씀해 주세요"},
        ]
    )
    assert follow.sori["kb_id"] == "malaria"
    row = views.answer_row(1, last.sori, last.first_ms, last.total_ms)
    assert row["action"] == "답변" and "measles" in views.answers_markdown([row])
    retrieval = client.chat([{"role": "user", "content": "홍역 증상"}], model="sori-1339-retrieval")
    assert views.grounding_verdict(retrieval.sori) == "지식베이스 답변 그대로"


def test_speech_and_transcription_round_trip(client):
    wav, ms = client.speech("독감 예방접종은 어디서 맞나요?", telephone=True)
    rate, pcm = from_wav(wav)
    assert rate == 8000 and len(pcm) > 8000 and ms > 0
    heard = client.transcribe(to_wav(rate, pcm), telephone=True)
    assert any("가" <= ch <= "힣" for ch in heard["text"]), heard
    assert heard["sori"]["telephone"] is True and heard["ms"] > 0


def test_bad_audio_is_a_korean_error_not_a_crash(client):
    with pytest.raises(SoriError) as err:
        client.transcribe(b"not a wav at all")
    assert "음성 인식" in err.value.message and "WAV" in err.value.message
    with pytest.raises(SoriError) as err:
        client.transcribe(b"")
    assert "empty" in err.value.message


def test_calls_list_and_a_call_without_speech(sori, client):
    earlier = {c["call_id"] for c in client.calls(limit=100)["calls"]}
    sipp_call(sori)
    # sori commits the SIP call's record just after the BYE: wait for it.
    deadline = time.monotonic() + 15
    while True:
        page = client.calls(limit=10)
        finished = [c for c in page["calls"] if c["call_id"] not in earlier and c["ended_ms"]]
        if finished or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert finished and finished[0]["outcome"], page
    sip = finished[0]
    row = next(r for r in views.calls_rows(page) if r[-1] == sip["call_id"])
    assert row[3] == views.OUTCOMES.get(sip["outcome"], sip["outcome"]) and row[2].endswith(" s")
    c = client.call(sip["call_id"])
    assert c["turns"] == [] and "음성 대화 없음" in views.call_summary(c)
    with pytest.raises(SoriError) as err:
        client.call("no-such-call")
    assert "찾을 수 없습니다" in err.value.message


def test_a_speech_call_is_recorded_with_its_turns(client, speech_calls):
    rec = speech_calls.finished()
    c = client.call(rec["call_id"])
    assert c["ended_ms"] and not c["active"] and c["turns"], c
    heard = [t for t in c["turns"] if t["transcript"].strip()]
    assert heard and any("가" <= ch <= "힣" for ch in heard[0]["transcript"]), c["turns"]
    t = heard[0]
    assert t["action"] in views.ACTIONS and t["reply"] and t["stt_ms"] > 0 and t["respond_ms"] > 0, t
    assert t["speech_end_ms"] > t["speech_start_ms"] > 0
    row = views.turns_rows(c)[c["turns"].index(t)]
    assert row[0] == t["idx"] >= 1  # sori numbers a call's turns from 1
    assert (
        row[2] == t["transcript"] and row[3] == views.ACTIONS[t["action"]] and row[4] == (t["kb_id"] or "-")
    )
    # Said over the greeting: a barge-in, and the call's path names where the turn went.
    assert c["barge_ins"] >= 1 and f"끼어들기 {c['barge_ins']}회" in views.call_summary(c)
    assert (f"kb:{t['kb_id']}" if t["kb_id"] else t["action"]) in c["menu_path"], c["menu_path"]
    assert client.recording(c["call_id"]), "[store] record = true: the call was recorded"


def test_knowledge_base_entries_and_route_explanation(client):
    kb = client.kb_entries()
    assert len(views.entries_rows(kb)) >= 30
    assert "출처" in views.entry_markdown(kb["entries"][0])
    r = client.kb_route("독감 주사 어디서 맞아요?")
    assert r["candidates"] and r["route"] in ("answer", "clarify")
    md = views.route_markdown(r)
    assert "점수" in md and "규칙 적용 없음" in md
    e = client.kb_route("할머니가 쓰러지셨어요 숨을 안 쉬어요")
    assert "응급 규칙" in views.route_markdown(e)


def test_missing_or_wrong_token_and_unreachable_server_give_korean_banners(sori):
    for token in (None, "wrong"):
        c = SoriClient(sori.url, token=token)
        with pytest.raises(SoriError) as err:
            c.calls()
        assert err.value.status == 401 and "SORI_HTTP_TOKEN" in err.value.hint
        assert c.health()["status"] == "ok"  # /healthz stays open
    dead = SoriClient(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(SoriError) as err:
        dead.health()
    assert "연결할 수 없습니다" in err.value.message and "make run" in err.value.hint
    assert "sori-banner" in views.banner(err.value)


def test_training_comparison_table_is_read():
    from .conftest import REPO

    rows, problem = views.load_comparison(REPO)
    assert not problem and rows
    table = views.comparison_rows(rows)
    assert len(table[0]) == len(views.COMPARISON_COLUMNS)
