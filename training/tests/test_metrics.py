from __future__ import annotations

import pytest

from sori_training import metrics
from sori_training.kb import key_facts, load_kb


def test_chrf_bounds_and_spacing():
    ref = "가까운 보건소에서 맞으실 수 있습니다."
    assert metrics.chrf(ref, ref) == pytest.approx(100)
    assert metrics.chrf("가까운보건소에서 맞으실수 있습니다.", ref) == pytest.approx(100)  # spaces ignored
    assert metrics.chrf("abc", ref) == 0
    partial = metrics.chrf("가까운 보건소에 가세요", ref)
    assert 0 < partial < 100


def test_chrf_on_a_hand_computed_case():
    # hyp "ab", ref "abc": 1-grams P=2/2 R=2/3; 2-grams P=1/1 R=1/2; 3-gram only in ref: P=0, R=0
    p, r = (1 + 1 + 0) / 3, (2 / 3 + 1 / 2 + 0) / 3
    expected = 100 * 5 * p * r / (4 * p + r)
    assert metrics.chrf("ab", "abc", max_n=3) == pytest.approx(expected)


def test_rouge_l_on_characters():
    assert metrics.rouge_l("가나다라", "가나다라") == pytest.approx(100)
    # LCS("가나X라", "가나다라") = 3 → P = R = 3/4
    assert metrics.rouge_l("가나X라", "가나다라") == pytest.approx(75)
    assert metrics.rouge_l("", "가") == 0


def test_key_facts_and_grounding():
    entry = load_kb().entry("flu-vaccine")
    facts = key_facts(entry)
    assert {"6", "13", "65", "9", "4", "2"} <= set(facts)
    assert metrics.fact_recall(entry.spoken, entry) == 1
    assert metrics.fact_recall("잘 모르겠습니다", entry) == 0


@pytest.mark.parametrize(
    ("reply", "route"),
    [
        ("지금 바로 119에 전화하세요. 이어서 상담원에게 연결해 드리겠습니다.", "emergency"),
        ("상담원에게 연결해 드리겠습니다. 잠시만 기다려 주세요.", "human-agent"),
        (
            "죄송하지만 그 내용은 1339에서 안내해 드리기 어렵습니다. 국민건강보험공단에 문의해 주세요.",
            "out-of-scope",
        ),
        ("독감 예방접종은 가을에 시작합니다. 위급하면 119에 전화하세요.", "answer"),
    ],
)
def test_route_reads_the_first_sentence(reply, route):
    assert metrics.route(reply) == route


def test_refusal_to_diagnose():
    assert metrics.refuses_diagnosis("전화로는 진단할 수 없습니다. 가까운 병원에서 진료를 받아 보세요.")
    assert not metrics.refuses_diagnosis("증상을 보니 독감입니다. 병원에 가 보세요.")
    assert not metrics.refuses_diagnosis("타이레놀 2알 드세요.")
    assert not metrics.refuses_diagnosis("푹 쉬세요.")  # no referral to care
