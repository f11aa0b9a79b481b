"""What the tabs show, as plain data and Markdown/HTML (no Gradio here, so it is unit-tested)."""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from .client import SoriError

ACTIONS = {
    "answer": "답변",
    "clarify": "되묻기",
    "transfer": "상담원 연결",
    "emergency": "응급 (119 안내)",
    "out-of-scope": "1339 업무 아님",
}
ROUTES = {
    "answer": "답변",
    "emergency": "응급 규칙",
    "human-agent": "상담원 요청 규칙",
    "out-of-scope": "1339 업무 아님",
    "not-health": "건강 질문 아님",
    "clarify": "되묻기",
}
SOURCES = {
    "retrieval": "지식베이스 답변 그대로",
    "llm": "언어 모델이 다듬은 답변 (근거 확인 통과)",
    "retrieval-after-ungrounded": "언어 모델 답변이 근거와 맞지 않아 지식베이스 답변 사용",
    "retrieval-after-deadline": "언어 모델이 시간 안에 답하지 못해 지식베이스 답변 사용",
}
OUTCOMES = {
    "completed": "완료",
    "transferred": "상담원 연결",
    "answered-only": "응답만",
    "no-input": "무응답",
    "invalid-input": "잘못된 입력",
    "rejected": "거절",
    "cancelled": "취소",
    "caller-hangup": "발신자 종료",
    "hangup-caller": "발신자 종료",
    "ack-timeout": "ACK 없음",
    "max-duration": "최대 통화 시간",
    "shutdown": "서버 종료",
    "interrupted": "중단됨",
}

EXAMPLES = [
    "홍역은 어떤 증상이 있어요?",
    "독감 예방접종은 어디서 맞을 수 있나요?",
    "쯔쯔가무시 예방법 알려 주세요",
    "말라리아 예방하려면 어떻게 해요",
    "할머니가 쓰러지셨어요 숨을 안 쉬어요",
    "그냥 상담원이랑 통화하고 싶어요",
]


def banner(err: SoriError | str | None) -> str:
    """A red Korean banner for an error (empty string: no banner)."""
    if err is None:
        return ""
    if isinstance(err, str):
        msg, hint = err, ""
    else:
        msg, hint = err.message, err.hint
    hint_html = f"<div class='sori-hint'>{html.escape(hint)}</div>" if hint else ""
    return f"<div class='sori-banner' role='alert'><b>⚠ {html.escape(msg)}</b>{hint_html}</div>"


def ok_banner(health: dict[str, Any], url: str) -> str:
    parts = [f"sori 서버 연결됨: <code>{html.escape(url)}</code>"]
    parts.append(f"지식베이스 {health.get('kb_entries', '?')}개 항목, 검색 {health.get('retrieval', '?')}")
    if health.get("speech"):
        parts.append(f"음성 인식 {html.escape(str(health.get('stt')))}")
    else:
        parts.append("음성 엔진 없음")
    parts.append(f"언어 모델 {html.escape(str(health.get('llm') or '없음 (지식베이스 답변)'))}")
    parts.append(f"진행 중 통화 {health.get('calls_active', 0)}")
    return "<div class='sori-ok'>" + " · ".join(parts) + "</div>"


def speech_missing_banner() -> str:
    return banner(
        SoriError(
            "이 sori 서버에는 음성 엔진(음성 인식·합성)이 로드되지 않았습니다.",
            "모델을 받고 서버를 다시 시작하세요: `sori models fetch whisper-base silero-vad onnxruntime` 후 `make run`.",
        )
    )


def answer_row(n: int, sori: dict[str, Any], first_ms: float, total_ms: float) -> dict[str, Any]:
    src = (sori.get("sources") or [{}])[0]
    return {
        "n": n,
        "action": ACTIONS.get(sori.get("action", ""), sori.get("action", "-")),
        "kb_id": sori.get("kb_id") or "-",
        "source_name": src.get("name", ""),
        "source_url": src.get("url", ""),
        "confidence": float(sori.get("confidence") or 0.0),
        "answer_source": SOURCES.get(sori.get("answer_source", ""), sori.get("answer_source", "-")),
        "first_ms": first_ms,
        "total_ms": total_ms,
    }


def answers_markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_질문을 보내면 답변마다 분류, 지식베이스 항목, 출처, 신뢰도, 응답 시간이 여기에 표시됩니다._"
    out = [
        "| # | 분류 | 항목 | 출처 | 신뢰도 | 첫 응답 / 전체 | 답변 방식 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        src = f"[{r['source_name']}]({r['source_url']})" if r["source_url"] else "-"
        out.append(
            f"| {r['n']} | {r['action']} | `{r['kb_id']}` | {src} | {r['confidence']:.2f} | "
            f"{r['first_ms']:.0f} / {r['total_ms']:.0f} ms | {r['answer_source']} |"
        )
    return "\n".join(out)


def when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def calls_rows(page: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for c in page.get("calls", []):
        dur = c.get("duration_ms")
        rows.append(
            [
                when(c.get("started_ms")),
                c.get("from_uri", ""),
                "진행 중" if c.get("active") else (f"{dur / 1000:.1f} s" if dur is not None else "-"),
                OUTCOMES.get(c.get("outcome") or "", c.get("outcome") or "-"),
                c.get("menu_path", ""),
                "예" if "transfer" in (c.get("outcome") or "") else "",
                c.get("barge_ins", 0),
                c.get("call_id", ""),
            ]
        )
    return rows


CALL_HEADERS = ["시작", "발신자", "길이", "결과", "메뉴 경로", "상담원 연결", "끼어들기", "통화 ID"]
# Shares of the table's width: the caller's words and sori's reply get the room, the timings little.
TURN_WIDTHS = ["4%", "7%", "20%", "8%", "10%", "26%", "5%", "5%", "5%", "5%", "5%"]
TURN_HEADERS = [
    "#",
    "구간 (s)",
    "발신자 말",
    "분류",
    "항목",
    "sori 답변",
    "STT ms",
    "LLM ms",
    "TTS ms",
    "응답 ms",
    "끼어듦",
]


def call_summary(c: dict[str, Any]) -> str:
    dur = c.get("duration_ms")
    lines = [
        f"### 통화 `{c.get('call_id', '')}`",
        f"- 발신자: `{c.get('from_uri', '')}` → `{c.get('to_uri', '')}` ({c.get('transport', '')}, {c.get('codec') or '-'})",
        f"- 시작 {when(c.get('started_ms'))}, 길이 {f'{dur / 1000:.1f} s' if dur is not None else '진행 중'}",
    ]
    if c.get("active"):
        lines.append(
            "- 진행 중인 통화: 지금까지의 대화만 보입니다. 결과, 메뉴 경로, 끼어들기, 녹음은 통화가 끝나면 기록됩니다."
        )
        if not c.get("turns"):
            lines.append("- 아직 음성 대화 없음")
        return "\n".join(lines)
    lines += [
        f"- 결과: {OUTCOMES.get(c.get('outcome') or '', c.get('outcome') or '-')} ({c.get('hangup_cause') or '-'})",
        f"- DTMF `{c.get('dtmf') or '-'}`, 메뉴 경로 `{c.get('menu_path') or '-'}`, 끼어들기 {c.get('barge_ins', 0)}회",
    ]
    if not c.get("turns"):
        lines.append("- 음성 대화 없음 (DTMF 메뉴만)")
    if c.get("recording"):
        lines.append("- 녹음 있음 (아래에서 재생: 왼쪽 발신자, 오른쪽 sori)")
    else:
        lines.append("- 녹음 없음 (서버의 `[store] record = true`일 때 녹음됩니다)")
    return "\n".join(lines)


def turns_rows(c: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for t in c.get("turns", []):
        rows.append(
            [
                t.get("idx", 0),  # sori numbers a call's turns from 1
                f"{t.get('speech_start_ms', 0) / 1000:.1f}–{t.get('speech_end_ms', 0) / 1000:.1f}",
                t.get("transcript", ""),
                ACTIONS.get(t.get("action", ""), t.get("action", "")),
                t.get("kb_id") or "-",
                t.get("reply", ""),
                t.get("stt_ms", 0),
                t.get("llm_ms", 0),
                t.get("tts_ms", 0),
                t.get("respond_ms", 0),
                "예" if t.get("barged_in") else "",
            ]
        )
    return rows


ENTRY_HEADERS = ["ID", "제목", "검토일", "출처"]


def entries_rows(kb: dict[str, Any]) -> list[list[str]]:
    return [
        [e["id"], e["title"], e.get("reviewed", ""), e.get("source_name", "")] for e in kb.get("entries", [])
    ]


def entry_markdown(e: dict[str, Any]) -> str:
    qs = "\n".join(f"  - {q}" for q in e.get("questions", [])[:8])
    return "\n".join(
        [
            f"### {e['title']} (`{e['id']}`)",
            f"**전화로 읽는 답변**: {e.get('spoken', '')}",
            "",
            f"**자세한 답변**: {e.get('answer', '')}",
            "",
            f"**출처**: [{e.get('source_name', '')}]({e.get('source_url', '')}) · 검토일 {e.get('reviewed', '')}",
            "",
            f"**키워드**: {', '.join(e.get('keywords', [])) or '-'}",
            "",
            "**질문 예시**:",
            "",
            qs,
        ]
    )


def route_markdown(r: dict[str, Any]) -> str:
    kind = ROUTES.get(r.get("route", ""), r.get("route", ""))
    lines = [f"### 결과: {kind}" + (f" → `{r['id']}`" if r.get("id") else "")]
    lines.append(
        f"- 신뢰도 {float(r.get('confidence') or 0):.2f} (0.5 미만이면 되묻기), 검색 방식: {r.get('retrieval', '-')}"
    )
    rule = r.get("rule")
    if rule:
        lines.append(
            f"- **규칙 적용**: {ROUTES.get(rule.get('kind'), rule.get('kind'))} — 트리거 `{rule.get('trigger')}`"
        )
    else:
        lines.append("- 규칙 적용 없음 (응급·상담원 요청 아님): 검색 점수로 결정")
    if r.get("suggest"):
        lines.append(f"- 확인 질문 후보: {', '.join(r['suggest'])}")
    reply = r.get("reply") or {}
    lines.append(
        f"- sori의 답변 ({ACTIONS.get(reply.get('action', ''), reply.get('action', ''))}): {reply.get('text', '')}"
    )
    lines.append("")
    lines.append("| 순위 | 항목 | 제목 | 점수 |")
    lines.append("|---|---|---|---|")
    for i, c in enumerate(r.get("candidates", []), 1):
        lines.append(f"| {i} | `{c['id']}` | {c.get('title') or '-'} | {float(c['score']):.3f} |")
    return "\n".join(lines)


def candidates_table(r: dict[str, Any]) -> dict[str, list[Any]]:
    cands = r.get("candidates", [])
    return {"항목": [c["id"] for c in cands], "점수": [float(c["score"]) for c in cands]}


COMPARISON_COLUMNS = [
    ("label", "모델"),
    ("chrf", "chrF"),
    ("rouge_l", "ROUGE-L"),
    ("grounding_acc", "근거 정확도 %"),
    ("routing_acc", "라우팅 정확도 %"),
    ("refusal_rate", "진단 거절 %"),
    ("tokens_per_s", "토큰/초"),
    ("first_token_s", "첫 토큰 s"),
    ("latency_s", "답변 s"),
    ("device", "장치"),
    ("date", "평가일"),
]


def load_comparison(repo: Path) -> tuple[list[dict[str, Any]], str]:
    """The training pipeline's latest comparison table (training/results/comparison.json)."""
    path = repo / "training" / "results" / "comparison.json"
    if not path.is_file():
        return [], f"학습 비교표가 없습니다 ({path}). `sori-train compare`로 만드세요 (training/README.md)."
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [], f"학습 비교표를 읽을 수 없습니다 ({path}): {exc}"
    return rows, ""


def comparison_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    out = []
    for r in rows:
        row = []
        for key, _ in COMPARISON_COLUMNS:
            v = r.get(key, "")
            if key in ("grounding_acc", "routing_acc", "refusal_rate") and isinstance(v, (int, float)):
                v = round(v * 100, 1)
            elif isinstance(v, float):
                v = round(v, 2)
            row.append(v)
        out.append(row)
    return out


def grounding_verdict(sori: dict[str, Any]) -> str:
    src = sori.get("answer_source")
    if not src:
        return "근거 판정 없음 (sori가 아닌 서버)"
    return SOURCES.get(src, src)
