"""The AI-Hub reader: one test per known quirk, on the synthetic fixture and on crafted records."""

from __future__ import annotations

import json

from sori_training import aihub


def record(**over):
    rec = {k: "" for k in aihub.KEYS}
    rec.update({"도메인": "코로나19 관련 상담", "대화셋일련번호": "X1", "화자": "고객", "문장번호": "1", "QA": "Q",
                "고객질문(요청)": "코로나 검사 어디서 받아요"})  # fmt: skip
    rec.update(over)
    return rec


def test_key_with_trailing_space_is_the_same_key():
    assert aihub.canonical_key("개체명 ") == "개체명"
    assert aihub.canonical_key(" 대화셋 일련번호") == "대화셋일련번호"


def test_cp949_file_is_read(fixture_dir):
    path = fixture_dir / "SYNTHETIC_다산콜센터_cp949.json"
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
        raise AssertionError("fixture should not be valid UTF-8")
    except UnicodeDecodeError:
        pass
    turns, problems = aihub.read_file(path)
    assert not problems
    assert any("쯔쯔가무시" in t.text for t in turns)


def test_utf8_with_bom_and_other_key_spellings(fixture_dir):
    turns, problems = aihub.read_file(fixture_dir / "SYNTHETIC_2023batch_other_keys.json")
    assert not problems
    assert [(t.speaker, t.index) for t in turns] == [("customer", 1), ("agent", 2)]
    assert turns[1].text.startswith("지금은 선별진료소")  # from 상담원답변
    assert turns[0].conversation_id == "S-E001"


def test_text_field_follows_speaker_and_qa():
    turn = aihub.parse_record(record(화자="상담사", QA="A", 상담사답변="네 맞습니다", 고객질문="무시"), "f")
    assert isinstance(turn, aihub.Turn) and turn.speaker == "agent" and turn.text == "네 맞습니다"


def test_bad_records_are_reported_with_file_record_and_reason(fixture_dir):
    path = fixture_dir / "SYNTHETIC_bad_records.json"
    turns, problems = aihub.read_file(path)
    assert len(turns) == 2  # the valid conversation survives
    reasons = {p.record: p.reason for p in problems}
    assert all(p.file == str(path) for p in problems)
    assert reasons[2].startswith("record is str")
    assert reasons[3] == "missing 화자"
    assert "not a number" in reasons[4]
    assert "unknown speaker" in reasons[5]
    assert reasons[6] == "no utterance text"


def test_broken_files_are_reported_not_raised(fixture_dir, tmp_path):
    _, p1 = aihub.read_file(fixture_dir / "SYNTHETIC_truncated.json")
    _, p2 = aihub.read_file(fixture_dir / "SYNTHETIC_not_a_list.json")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\xff\x00\x80")
    _, p3 = aihub.read_file(binary)
    _, p4 = aihub.read_file(tmp_path / "missing.json")
    assert "invalid JSON at line" in p1[0].reason
    assert p2[0].reason == "no list of turn records"
    assert p3[0].reason == "not UTF-8 or CP949 text"
    assert p4[0].reason.startswith("cannot read")
    assert all(p.record is None for p in p1 + p2 + p3 + p4)


def test_wrapped_list_is_found(tmp_path):
    path = tmp_path / "wrapped.json"
    path.write_text(json.dumps({"data": [record()]}, ensure_ascii=False), encoding="utf-8")
    turns, problems = aihub.read_file(path)
    assert len(turns) == 1 and not problems


def test_turns_are_grouped_and_ordered_by_sentence_number(fixture_dir):
    turns, _ = aihub.read_file(fixture_dir / "SYNTHETIC_다산콜센터_cp949.json")  # stored in reverse
    convs, problems = aihub.group_conversations(turns)
    assert not problems
    by_id = {c.conversation_id: c for c in convs}
    assert [t.index for t in by_id["S-D004"].turns] == [1, 2]
    assert by_id["S-D004"].turns[0].speaker == "customer"


def test_duplicate_sentence_number_is_reported():
    a = aihub.parse_record(record(), "f")
    b = aihub.parse_record(record(고객질문="다른 말"), "f")
    convs, problems = aihub.group_conversations([a, b])
    assert len(convs[0].turns) == 1
    assert "duplicate 문장번호 1" in problems[0].reason
