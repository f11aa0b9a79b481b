from __future__ import annotations

from sori_training import evaluation
from sori_training.served import SENTENCE_END, parse_seconds, parse_traps

TRAPS_OUT = """routed to the trap's topic: 14/15

| mode | category | n | faithful | caught | by faithfulness | fell back | first sentence p50 | tok/s |
|---|---|---|---|---|---|---|---|---|
| retrieval only | eligibility | 3 | 100 % | – | – | – | 61 ms | – |
| retrieval only | all | 15 | 93 % | – | – | – | 58 ms | – |
| model alone | all | 15 | 53 % | – | – | – | 4.1 s | 17.2 |
| grounding + faithfulness | all | 15 | 93 % | 0 % | 0 % | 100 % | 3.0 s | – |
| grounding + faithfulness, no deadline | all | 15 | 87 % | 60 % | 7 % | 67 % | 5.2 s | – |
wall time: 201 s
"""


def test_parse_traps_reads_the_all_rows():
    rows = parse_traps(TRAPS_OUT)
    assert set(rows) == {
        "retrieval only",
        "model alone",
        "grounding + faithfulness",
        "grounding + faithfulness, no deadline",
    }
    assert rows["model alone"]["n"] == 15 and rows["model alone"]["faithful"] == 0.53
    assert rows["grounding + faithfulness, no deadline"]["faithful"] == 0.87
    assert parse_seconds(rows["grounding + faithfulness, no deadline"]["cells"][3]) == 5.2
    assert parse_seconds("61 ms") == 0.061 and parse_seconds("–") is None


def test_first_sentence_ends_at_korean_sentence_punctuation():
    assert SENTENCE_END.search("네, 65세 이상은 무료입니다. ")
    assert SENTENCE_END.search("보건소에 문의하세요?")
    assert not SENTENCE_END.search("독감 예방접종은 ")
    assert not SENTENCE_END.search("1. 체력과 ")


def test_retrieval_routes_by_the_engines_action():
    assert evaluation.routed_as({"reply": "무엇이든", "action": "Emergency"}) == "emergency"
    assert evaluation.routed_as({"reply": "…", "action": "out_of_scope"}) == "out-of-scope"
    assert evaluation.routed_as({"reply": "…", "action": "Transfer"}) == "human-agent"
    assert evaluation.routed_as({"reply": "지금 바로 119에 신고하세요."}) == "emergency"


def test_table_shows_served_rows_and_old_rows_side_by_side():
    rows = [
        {
            "label": "retrieval-only",
            "engine": "sori chat, [llm] none",
            "chrf": 80.0,
            "faithful_alone": 0.93,
            "faithful_checked": 0.93,
            "traps_n": 15,
            "memory_mb": 310.0,
            "date": "2026-12-02 13:00",
        },
        {"label": "gemma-3-270m", "chrf": 6.4, "first_token_s": 5.6, "date": "2026-11-30 10:00"},
    ]
    md = evaluation.table(rows)
    assert "| retrieval-only | sori chat, [llm] none | 80.0 |" in md
    assert "| 93 % | 93 % |" in md and "| 310 |" in md
    assert "| gemma-3-270m | transformers fp32 | 6.4 |" in md
    assert "15 traps" in md
    assert evaluation.median([3.0, None, 1.0, 2.0]) == 2.0
