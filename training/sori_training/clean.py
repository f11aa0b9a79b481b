"""Text cleaning: whitespace and Unicode normalisation, PII redaction, the public-health filter.

AI-Hub already masks personal data (e.g. "#@이름#", "○○○", "***"); masks are kept as they are. What is
still in clear text and looks like personal data (phone, resident or card numbers, e-mail) is replaced
by a bracketed tag. Hotline and emergency numbers (1339, 119, 1577-1000 …) are public and stay.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

PII_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("[이메일]", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("[주민등록번호]", re.compile(r"(?<!\d)\d{6}\s?-\s?[1-8]\d{6}(?!\d)")),
    ("[카드번호]", re.compile(r"(?<!\d)\d{4}(?:[ -]?\d{4}){3}(?!\d)")),
    # mobile and area-code numbers: 010-1234-5678, 02 123 4567, 01012345678
    ("[전화번호]", re.compile(r"(?<!\d)0(?:1[016789]|2|[3-6][1-5]|70)[ -.]?\d{3,4}[ -.]?\d{4}(?!\d)")),
    # long digit runs: account numbers and the like (public service numbers are short)
    ("[계좌번호]", re.compile(r"(?<!\d)\d{2,6}-\d{2,6}-\d{2,8}(?!\d)|(?<![\d-])\d{10,16}(?![\d-])")),
]
# Public numbers never redacted (each matched as a whole token).
PUBLIC_NUMBERS = {"1339", "119", "112", "120", "129", "1577-1000", "1644-2000", "043-719-7777"}

CONTROL = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f\u200b-\u200f\ufeff]")
SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = CONTROL.sub("", text)
    return SPACE.sub(" ", text).strip()


def redact(text: str) -> str:
    for tag, pattern in PII_PATTERNS:
        text = pattern.sub(lambda m, tag=tag: m.group(0) if m.group(0) in PUBLIC_NUMBERS else tag, text)
    return text


def clean(text: str) -> str:
    return redact(normalize(text))


DEFAULT_DOMAINS = ["코로나19 관련 상담", "코로나19", "질병관리청", "보건소", "감염병"]
DEFAULT_KEYWORDS = [
    "코로나", "covid", "확진", "자가격리", "격리해제", "선별진료소", "임시선별", "역학조사", "밀접접촉",
    "백신", "예방접종", "접종", "독감", "인플루엔자", "감염병", "전염병", "감염", "홍역", "수두", "결핵",
    "볼거리", "유행성이하선염", "백일해", "노로", "장염", "식중독", "콜레라", "장티푸스", "말라리아",
    "뎅기", "지카", "엠폭스", "원숭이두창", "메르스", "쯔쯔가무시", "진드기", "신증후군출혈열",
    "렙토스피라", "일본뇌염", "수족구", "성홍열", "에이즈", "hiv", "매독", "간염", "방역", "마스크",
    "pcr", "신속항원", "자가검사키트", "질병관리청", "질병청", "1339",
]  # fmt: skip


@dataclass
class HealthFilter:
    """Keep a conversation when its 도메인 or 카테고리 names a public-health topic, or its text has a
    public-health keyword (matched case-insensitively, spaces ignored)."""

    domains: list[str] = field(default_factory=lambda: list(DEFAULT_DOMAINS))
    keywords: list[str] = field(default_factory=lambda: list(DEFAULT_KEYWORDS))

    def __post_init__(self) -> None:
        words = sorted(
            {"".join(k.lower().split()) for k in self.keywords if k.strip()}, key=len, reverse=True
        )
        self._pattern = re.compile("|".join(map(re.escape, words))) if words else None

    def domain_match(self, domain: str, category: str) -> bool:
        return any(d and (d in domain or d in category) for d in self.domains)

    def keyword_match(self, text: str) -> bool:
        return bool(self._pattern and self._pattern.search("".join(text.lower().split())))

    def keeps(self, domain: str, category: str, text: str) -> bool:
        return self.domain_match(domain, category) or self.keyword_match(text)
