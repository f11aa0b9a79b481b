"""Exact and near-duplicate detection over character shingles (MinHash + LSH, then exact Jaccard).

Texts are compared with whitespace and punctuation removed, so spacing variants ("독감주사어디서맞아요" / "독감 주사 어디서
맞아요") count as the same text. Hashes are crc32-based, hence stable across processes and runs.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict

import numpy as np

PRIME = (1 << 61) - 1
NON_WORD = re.compile(r"[\W_]+")


def shingles(text: str, n: int = 3) -> set[int]:
    s = NON_WORD.sub("", text.lower())
    if len(s) <= n:
        return {zlib.crc32(s.encode())}
    return {zlib.crc32(s[i : i + n].encode()) for i in range(len(s) - n + 1)}


def jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class MinHashLSH:
    """Candidate pairs whose Jaccard similarity is likely above ~(1/bands)^(1/rows)."""

    def __init__(self, bands: int = 32, rows: int = 4, seed: int = 1339):
        rng = np.random.default_rng(seed)
        self.bands, self.rows = bands, rows
        k = bands * rows
        self.a = rng.integers(1, PRIME, size=k, dtype=np.uint64)
        self.b = rng.integers(0, PRIME, size=k, dtype=np.uint64)

    def signature(self, sh: set[int]) -> np.ndarray:
        x = np.fromiter(sh, dtype=np.uint64, count=len(sh))[:, None]
        # (a*x + b) mod p with uint64 wrap-around is a fine universal-ish hash for this purpose
        return ((x * self.a + self.b) % PRIME).min(axis=0)

    def candidates(self, sets: list[set[int]]) -> set[tuple[int, int]]:
        buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
        for i, sh in enumerate(sets):
            sig = self.signature(sh)
            for band in range(self.bands):
                key = sig[band * self.rows : (band + 1) * self.rows].tobytes()
                buckets[(band, key)].append(i)
        pairs = set()
        for members in buckets.values():
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    pairs.add((members[x], members[y]))
        return pairs


class UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def similar_pairs(prompts: list[str], replies: list[str], threshold: float) -> list[tuple[int, int, float]]:
    """(i, j, similarity), i < j, where similarity = min(Jaccard of prompts, Jaccard of replies) and
    reaches the threshold: both sides must be alike, so two questions with one shared answer (paraphrases
    in the knowledge base) are not duplicates of each other."""
    p_sets = [shingles(t) for t in prompts]
    r_sets = [shingles(t) for t in replies]
    out = []
    for i, j in sorted(MinHashLSH().candidates(p_sets)):
        sim = min(jaccard(p_sets[i], p_sets[j]), jaccard(r_sets[i], r_sets[j]))
        if sim >= threshold:
            out.append((i, j, sim))
    return out
