"""The project's knowledge base (kb/1339.toml), the held-out caller questions (kb/heldout.toml), and the
prompts shared by training, evaluation and the server: one system prompt, one grounded-prompt format."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KB_PATH = REPO / "kb" / "1339.toml"
HELDOUT_PATH = REPO / "kb" / "heldout.toml"
ACTIONS = ("emergency", "human-agent", "out-of-scope")

SYSTEM_PROMPT = (
    "당신은 질병관리청 1339 콜센터 상담 도우미입니다. 존댓말로 세 문장 이내로 짧게 답하세요. "
    "참고 자료가 있으면 그 내용만 근거로 답하고, 진단이나 처방은 하지 말고 진료를 안내하세요. "
    "응급이면 119 신고를, 상담원을 찾으면 상담원 연결을, 1339 업무가 아니면 맞는 기관을 안내하세요."
)


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    questions: list[str]
    spoken: str
    answer: str
    source_name: str
    source_url: str
    keywords: list[str]


@dataclass(frozen=True)
class Action:
    id: str
    triggers: list[str]
    spoken: str


@dataclass(frozen=True)
class KnowledgeBase:
    entries: list[Entry]
    actions: dict[str, Action]

    def entry(self, entry_id: str) -> Entry:
        return next(e for e in self.entries if e.id == entry_id)


def load_kb(path: Path = KB_PATH) -> KnowledgeBase:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries = [
        Entry(
            id=e["id"],
            title=e["title"],
            questions=list(e["questions"]),
            spoken=e["spoken"].strip(),
            answer=" ".join(e["answer"].split()),
            source_name=e.get("source_name", ""),
            source_url=e.get("source_url", ""),
            keywords=list(e.get("keywords", [])),
        )
        for e in data.get("entry", [])
    ]
    actions = {
        a["id"]: Action(a["id"], list(a.get("triggers", [])), a["spoken"].strip()) for a in data["action"]
    }
    return KnowledgeBase(entries, actions)


def load_heldout(path: Path = HELDOUT_PATH) -> list[tuple[str, str]]:
    """(caller question, expected topic id or action id) pairs."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [(c["q"], c["id"]) for c in data["cases"]]


def load_prompts() -> dict:
    """Hand-written routing and diagnosis prompts (sori_training/data/prompts.toml)."""
    text = resources.files("sori_training").joinpath("data/prompts.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def grounded_system(entry: Entry) -> str:
    """The system message with one retrieved entry, as the server builds it."""
    return f"{SYSTEM_PROMPT}\n\n참고 자료 ({entry.source_name}): {entry.title}. {entry.answer}"


NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def key_facts(entry: Entry) -> list[str]:
    """Facts a grounded answer should carry: every number in the spoken answer (ages, days, 119 …) and
    the entry's keywords that the spoken answer itself uses."""
    facts = list(dict.fromkeys(NUMBER.findall(entry.spoken)))
    compact = "".join(entry.spoken.split())
    facts += [k for k in entry.keywords if len(k) > 1 and "".join(k.split()) in compact and k not in facts]
    return facts
