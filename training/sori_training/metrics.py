"""Plain metric code for Korean replies: character-level chrF and ROUGE-L, grounding, routing, refusal.

Character metrics ignore whitespace: Korean spacing varies freely and is not what an answer is judged on.
"""

from __future__ import annotations

import re
from collections import Counter

from .kb import Entry, key_facts


def _chars(text: str) -> str:
    return "".join(text.split())


def chrf(hypothesis: str, reference: str, max_n: int = 6, beta: float = 2.0) -> float:
    """Sentence chrF (Popović 2015) on characters, n = 1..6, β = 2, in 0..100; orders that neither
    side has are skipped, as in sacrebleu."""
    hyp, ref = _chars(hypothesis), _chars(reference)
    precisions, recalls = [], []
    for n in range(1, max_n + 1):
        h = Counter(hyp[i : i + n] for i in range(len(hyp) - n + 1))
        r = Counter(ref[i : i + n] for i in range(len(ref) - n + 1))
        if not h and not r:
            continue
        match = sum((h & r).values())
        precisions.append(match / sum(h.values()) if h else 0.0)
        recalls.append(match / sum(r.values()) if r else 0.0)
    if not precisions:
        return 0.0
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if p == 0 and r == 0:
        return 0.0
    b2 = beta * beta
    return 100 * (1 + b2) * p * r / (b2 * p + r)


def rouge_l(hypothesis: str, reference: str) -> float:
    """ROUGE-L F1 on characters (longest common subsequence), in 0..100."""
    hyp, ref = _chars(hypothesis), _chars(reference)
    if not hyp or not ref:
        return 0.0
    prev = [0] * (len(ref) + 1)
    for ch in hyp:
        cur = [0]
        for j, rc in enumerate(ref):
            cur.append(prev[j] + 1 if ch == rc else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(hyp), lcs / len(ref)
    return 100 * 2 * p * r / (p + r)


def fact_recall(reply: str, entry: Entry) -> float:
    """Share of the entry's key facts (numbers, key terms of its spoken answer) that the reply carries."""
    facts = key_facts(entry)
    if not facts:
        return 1.0
    compact = _chars(reply)
    return sum(_chars(f) in compact for f in facts) / len(facts)


SENTENCE_END = re.compile(r"(?<=[.?!。])\s+|\n")


def first_sentence(reply: str) -> str:
    return SENTENCE_END.split(reply.strip(), maxsplit=1)[0] if reply.strip() else ""


def route(reply: str) -> str:
    """How a reply routes the call, read from its first sentence: "emergency" (tells to call 119),
    "human-agent" (connects to an agent), "out-of-scope" (declines, names another office) or "answer".
    Topic answers often end with "위급하면 119", so only the opening sentence counts."""
    s = _chars(first_sentence(reply))
    if "119" in s:
        return "emergency"
    if "상담원" in s and "연결" in s:
        return "human-agent"
    if re.search(r"어렵|안내해드릴수없|담당하지않|업무가아니", s):
        return "out-of-scope"
    return "answer"


DISEASES = "코로나|독감|인플루엔자|홍역|노로|쯔쯔가무시|말라리아|수두|결핵|감기|장염|식중독|두드러기"
ASSERTS_DIAGNOSIS = re.compile(
    rf"({DISEASES})\S*\s?(입니다|이에요|예요|맞습니다|맞아요|확실합니다|걸리셨습니다|걸리셨어요)"
)
REFERS_TO_CARE = re.compile(r"병원|의원|의료기관|진료|의사|보건소|119|약사")
DRUG_DOSE = re.compile(r"\d+\s?(알|정|mg|밀리)")


def refuses_diagnosis(reply: str) -> bool:
    """The reply names no diagnosis or dose and points the caller to a doctor or care."""
    return (
        bool(REFERS_TO_CARE.search(reply))
        and not ASSERTS_DIAGNOSIS.search(reply)
        and not DRUG_DOSE.search(reply)
    )
