"""Reader for AI-Hub "민원(콜센터) 질의-응답" JSON files.

Each file is a list of turn records (one utterance each) with Korean keys. Known quirks handled here:
keys with stray whitespace ("개체명 "), CP949-encoded files, batches that use other key spellings
("대화셋 일련번호", "발화자", speaker "상담원"), and numbers stored as strings. A file or record that
cannot be read is reported as a `Problem` (file, record, reason) and skipped; nothing raises.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# The canonical schema (AI-Hub dataset "민원(콜센터) 질의-응답").
KEYS = (
    "도메인", "카테고리", "대화셋일련번호", "화자", "문장번호", "고객의도", "상담사의도", "QA",
    "고객질문(요청)", "상담사질문(요청)", "고객답변", "상담사답변", "개체명", "용어사전", "지식베이스",
)  # fmt: skip
REQUIRED = ("대화셋일련번호", "화자", "문장번호")

# Spellings seen in other batches, compared after NFC and with all whitespace removed.
ALIASES = {
    "대화셋번호": "대화셋일련번호",
    "대화세트일련번호": "대화셋일련번호",
    "대화일련번호": "대화셋일련번호",
    "발화자": "화자",
    "발화번호": "문장번호",
    "문장순번": "문장번호",
    "고객질문": "고객질문(요청)",
    "고객요청": "고객질문(요청)",
    "상담사질문": "상담사질문(요청)",
    "상담원질문(요청)": "상담사질문(요청)",
    "상담원답변": "상담사답변",
    "상담원의도": "상담사의도",
    "개체명인식": "개체명",
}
CUSTOMER = {"고객", "민원인", "customer"}
AGENT = {"상담사", "상담원", "agent"}

# Where the utterance text lives, by speaker; the QA flag ("Q" or "A") picks the first field.
TEXT_FIELDS = {
    "customer": {"Q": ("고객질문(요청)", "고객답변"), "A": ("고객답변", "고객질문(요청)")},
    "agent": {"Q": ("상담사질문(요청)", "상담사답변"), "A": ("상담사답변", "상담사질문(요청)")},
}


@dataclass(frozen=True)
class Turn:
    file: str
    domain: str
    category: str
    conversation_id: str
    index: int
    speaker: str  # "customer" | "agent"
    text: str
    intent: str


@dataclass(frozen=True)
class Problem:
    file: str
    record: int | None  # index in the file's list; None for the whole file
    reason: str

    def __str__(self) -> str:
        where = self.file if self.record is None else f"{self.file}[{self.record}]"
        return f"{where}: {self.reason}"


def canonical_key(key: str) -> str:
    compact = "".join(unicodedata.normalize("NFC", key).split())
    return ALIASES.get(compact, compact)


def decode(raw: bytes) -> tuple[str, str]:
    """Return (text, encoding); AI-Hub ships UTF-8 (sometimes with BOM) and CP949 files."""
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("utf-8/cp949", raw, 0, 1, "neither UTF-8 nor CP949")


def _records(data: object) -> list | None:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):  # some exports wrap the list: {"data": [...]}
        for value in data.values():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                return value
    return None


def _text(value: object) -> str:
    if value is None:
        return ""
    return unicodedata.normalize("NFC", str(value)).strip()


def parse_record(record: object, file: str) -> Turn | str:
    """A Turn, or the reason the record is unusable."""
    if not isinstance(record, dict):
        return f"record is {type(record).__name__}, not an object"
    rec = {canonical_key(str(k)): v for k, v in record.items()}
    missing = [k for k in REQUIRED if _text(rec.get(k)) == ""]
    if missing:
        unknown = sorted(set(rec) - set(KEYS))
        extra = f" (unknown keys: {', '.join(unknown)})" if unknown else ""
        return f"missing {', '.join(missing)}{extra}"
    who = _text(rec["화자"])
    if who in CUSTOMER:
        speaker = "customer"
    elif who in AGENT:
        speaker = "agent"
    else:
        return f"unknown speaker {who!r}"
    try:
        index = int(float(_text(rec["문장번호"])))
    except ValueError:
        return f"문장번호 is not a number: {rec['문장번호']!r}"
    qa = _text(rec.get("QA")).upper()[:1]
    fields = TEXT_FIELDS[speaker].get(qa, TEXT_FIELDS[speaker]["Q"])
    text = next((t for t in (_text(rec.get(f)) for f in fields) if t), "")
    if not text:
        return "no utterance text"
    return Turn(
        file=file,
        domain=_text(rec.get("도메인")),
        category=_text(rec.get("카테고리")),
        conversation_id=_text(rec["대화셋일련번호"]),
        index=index,
        speaker=speaker,
        text=text,
        intent=_text(rec.get("고객의도" if speaker == "customer" else "상담사의도")),
    )


def read_file(path: Path, name: str | None = None) -> tuple[list[Turn], list[Problem]]:
    name = name or str(path)
    try:
        text, _ = decode(path.read_bytes())
    except OSError as e:
        return [], [Problem(name, None, f"cannot read: {e.strerror}")]
    except UnicodeDecodeError:
        return [], [Problem(name, None, "not UTF-8 or CP949 text")]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return [], [Problem(name, None, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")]
    records = _records(data)
    if records is None:
        return [], [Problem(name, None, "no list of turn records")]
    turns, problems = [], []
    for i, record in enumerate(records):
        parsed = parse_record(record, name)
        if isinstance(parsed, Turn):
            turns.append(parsed)
        else:
            problems.append(Problem(name, i, parsed))
    return turns, problems


def json_files(paths: Iterable[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            yield from sorted(q for q in p.rglob("*") if q.suffix.lower() == ".json" and q.is_file())
        else:
            yield p


def read_all(paths: Iterable[Path]) -> tuple[list[Turn], list[Problem]]:
    turns, problems = [], []
    for f in json_files(paths):
        t, p = read_file(f)
        turns += t
        problems += p
    return turns, problems


@dataclass
class Conversation:
    domain: str
    category: str
    conversation_id: str
    file: str
    turns: list[Turn]


def group_conversations(turns: Iterable[Turn]) -> tuple[list[Conversation], list[Problem]]:
    """Group turns by (domain, 대화셋일련번호) in file order, each ordered by 문장번호."""
    groups: dict[tuple[str, str], list[Turn]] = {}
    for t in turns:
        groups.setdefault((t.domain, t.conversation_id), []).append(t)
    conversations, problems = [], []
    for (domain, cid), ts in groups.items():
        ts = sorted(ts, key=lambda t: t.index)  # stable: duplicates keep file order
        kept: list[Turn] = []
        for t in ts:
            if kept and kept[-1].index == t.index:
                problems.append(Problem(t.file, None, f"conversation {cid}: duplicate 문장번호 {t.index}"))
                continue
            kept.append(t)
        category = next((t.category for t in kept if t.category), "")
        conversations.append(Conversation(domain, category, cid, kept[0].file, kept))
    return conversations, problems
