from __future__ import annotations

from sori_training.clean import HealthFilter, clean, normalize, redact
from sori_training.dedup import jaccard, shingles, similar_pairs


def test_pii_is_redacted():
    text = (
        "제 번호는 010-1234-5678이고 집은 02 123 4567, 주민번호 900101-1234567, 메일 kim@example.com 이에요"
    )
    out = redact(text)
    assert "[전화번호]" in out and "[주민등록번호]" in out and "[이메일]" in out
    assert not any(d in out for d in ("5678", "4567", "1234567", "example.com"))
    assert redact("카드 1234 5678 9012 3456 계좌 110-123-456789") == "카드 [카드번호] 계좌 [계좌번호]"


def test_public_numbers_and_masks_stay():
    text = "#@이름# 님, 1339나 119, 건강보험공단 1577-1000에 전화하세요. ○○○ 고객님 *** 확인"
    assert redact(text) == text


def test_normalize_whitespace_controls_and_nfc():
    decomposed = "\u1100\u1161"  # 가 as jamo
    assert normalize(f"  {decomposed}\u200b  나\t\n다 ") == "가 나 다"
    assert clean("전화 010 9999 0000 주세요") == "전화 [전화번호] 주세요"


def test_health_filter_by_domain_category_or_keyword():
    f = HealthFilter(domains=["코로나19 관련 상담"], keywords=["독감", "예방 접종"])
    assert f.keeps("코로나19 관련 상담", "", "버스")
    assert f.keeps("다산콜센터", "", "어르신 독감 주사")
    assert f.keeps("다산콜센터", "", "예방접종 어디서 해요")  # keyword spaces ignored
    assert not f.keeps("다산콜센터", "대중교통", "505번 버스")


def test_near_duplicates_need_both_sides_alike():
    q1, q2 = "자가검사키트 두 줄 나왔어요. 어디 가요?", "자가검사키트 두줄 나왔어요 어디 가요"
    assert jaccard(shingles(q1), shingles(q2)) == 1.0  # spacing and punctuation ignored
    answer = "가까운 병원에서 진료를 받아 보세요."
    pairs = similar_pairs([q1, q2, "코로나 백신 맞으러 가려고요"], [answer, answer, answer], 0.85)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]
    # same question, different answer: not a duplicate
    assert similar_pairs([q1, q2], [answer, "보건소에 문의해 주세요"], 0.85) == []
