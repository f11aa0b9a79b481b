"""Evaluation through what the product serves: a GGUF in the `sori-llm` worker, the knowledge base's own
answer (`sori chat`, no language model), and the trap set (`sori eval traps`).

- `SoriLlm`: one `sori-llm --model FILE --threads N` process; each request goes through its JSON-lines
  protocol (the GGUF's own chat template, greedy). Times: first token (the worker's `ttft_ms`), first
  sentence (the first streamed piece after which the text holds a complete sentence), whole reply;
  memory: the worker's peak resident set (VmHWM).
- `Retrieval`: `sori chat --json` with the repository's sori.toml (`[llm] engine = "none"`): the reply a caller hears when retrieval alone answers.
- `traps`: `sori eval traps` on a GGUF (or `--retrieval`), its summary rows parsed: faithful % of the
  model alone (unchecked) and after the call's grounding + faithfulness checks (no deadline).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)
TARGET = Path.home() / ".cache" / "sori" / "target"
SENTENCE_END = re.compile(r"(?<!\d)[.!?。](\s|$)|\n")  # not "1. " (a list number)
REPO = Path(__file__).resolve().parents[2]


def eval_root() -> Path:
    """Where `sori chat` / `sori eval traps` run (their sori.toml, kb/): $SORI_EVAL_ROOT, else this clone.
    Point it at a checkout of the commit the binaries were built from when kb/ has moved on."""
    return Path(os.environ.get("SORI_EVAL_ROOT") or REPO)


def binary(name: str, explicit: str | None = None) -> str:
    env = {"sori-llm": "SORI_LLM_BIN", "sori": "SORI_BIN"}[name]
    for b in (explicit, os.environ.get(env), *(str(TARGET / p / name) for p in ("release", "debug"))):
        if b and Path(b).is_file() and os.access(b, os.X_OK):
            return b
    raise SystemExit(f"{name} not found: build it (cargo build --release -p …) or set ${env}")


class SoriLlm:
    """A GGUF served by the sori-llm worker, as a Generator (messages → reply and timings)."""

    def __init__(self, gguf: str, threads: int = 2, max_new_tokens: int = 96, exe: str | None = None):
        self.exe = binary("sori-llm", exe)
        self.max_new_tokens = max_new_tokens
        self.proc = subprocess.Popen(
            [self.exe, "--model", gguf, "--threads", str(threads), "--ctx", "2048"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        ready = json.loads(self.proc.stdout.readline() or '{"fatal":"sori-llm exited"}')
        if not ready.get("ready"):
            raise SystemExit(f"sori-llm: {ready}")
        self.info = ready
        self.next_id = 0

    def __call__(self, messages: list[dict]) -> dict:
        self.next_id += 1
        req = {
            "id": self.next_id,
            "messages": messages,
            "max_tokens": self.max_new_tokens,
            "temperature": 0.0,
        }
        start = time.perf_counter()
        self.proc.stdin.write(json.dumps(req, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        text, first_token, first_sentence = "", None, None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("sori-llm exited")
            msg = json.loads(line)
            if msg.get("id") != self.next_id:
                continue
            if "error" in msg:
                raise RuntimeError(f"sori-llm: {msg['error']}")
            now = time.perf_counter()
            if msg.get("more"):
                first_token = first_token or now
                text += msg.get("delta", "")
                if first_sentence is None and SENTENCE_END.search(text.strip() + " "):
                    first_sentence = now
                continue
            end = now
            return {
                "reply": msg["text"].strip(),
                "prompt_tokens": msg.get("prompt_tokens"),
                "new_tokens": msg.get("tokens", 0),
                "seconds": end - start,
                "first_token_s": msg["ttft_ms"] / 1000 if msg.get("ttft_ms") is not None else end - start,
                "first_sentence_s": (first_sentence or end) - start,
            }

    def peak_rss_mb(self) -> float | None:
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        m = re.search(r"VmHWM:\s+(\d+) kB", status)
        return round(int(m.group(1)) / 1024) if m else None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Retrieval:
    """The knowledge base's own answer as the reply: `sori chat --json` with no language model."""

    def __init__(self, exe: str | None = None):
        self.exe = binary("sori", exe)
        self.rss: list[float] = []

    def __call__(self, messages: list[dict]) -> dict:
        q = messages[-1]["content"]
        start = time.perf_counter()
        p = subprocess.run(
            ["/usr/bin/time", "-f", "%M", self.exe, "chat", "--config", "sori.toml", "--json", q],
            cwd=eval_root(),
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=True,
        )
        end = time.perf_counter()
        with_rss = p.stderr.strip().splitlines()
        if with_rss and with_rss[-1].isdigit():
            self.rss.append(int(with_rss[-1]) / 1024)
        r = json.loads(p.stdout.strip().splitlines()[-1])
        return {
            "reply": r["text"],
            "prompt_tokens": 0,
            "new_tokens": 0,
            "seconds": end - start,
            "first_token_s": None,
            "first_sentence_s": None,
            "action": r.get("action"),
        }

    def peak_rss_mb(self) -> float | None:
        return round(max(self.rss)) if self.rss else None

    def close(self) -> None:
        pass


ROW = re.compile(r"^\| (?P<mode>[^|]+?) \| all \| (?P<n>\d+) \| (?P<faithful>[\d.]+) % \|(?P<rest>.*)$")


def parse_traps(out: str) -> dict:
    """The `| mode | all | n | faithful % | … | first sentence p50 | tok/s |` rows of `sori eval traps`."""
    rows = {}
    for line in out.splitlines():
        m = ROW.match(line.strip())
        if m:
            cells = [c.strip() for c in m.group("rest").strip(" |").split("|")]
            rows[m.group("mode")] = {
                "n": int(m.group("n")),
                "faithful": float(m.group("faithful")) / 100,
                "cells": cells,
            }
    return rows


def parse_seconds(cell: str) -> float | None:
    """`sori eval traps`' "812 ms" / "9.3 s" / "–"."""
    m = re.fullmatch(r"([\d.]+) (ms|s)", cell.strip())
    return None if not m else round(float(m.group(1)) / (1000 if m.group(2) == "ms" else 1), 3)


def traps(
    gguf: str | None, limit: int | None, threads: int = 2, exe: str | None = None, save: str | None = None
) -> dict:
    """Faithfulness on kb/traps.toml: `sori eval traps --model GGUF` (or `--retrieval` without a GGUF)."""
    cmd = [binary("sori", exe), "eval", "traps"]
    cmd += ["--model", str(Path(gguf).resolve()), "--threads", str(threads)] if gguf else ["--retrieval"]
    if limit:
        cmd += ["--limit", str(limit)]
    if save:
        cmd += ["--save", save]
    if os.environ.get("SORI_LEXICAL"):
        cmd += ["--lexical"]
    log.info("%s", " ".join(cmd))
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=eval_root(), capture_output=True, text=True, encoding="utf-8")
    if p.returncode != 0:
        log.error("sori eval traps failed: %s", p.stderr[-2000:])
        return {"traps_error": p.stderr[-2000:]}
    rows = parse_traps(p.stdout)
    alone = rows.get("model alone") or rows.get("retrieval only")
    checked = rows.get("grounding + faithfulness, no deadline") or rows.get("retrieval only")
    return {
        "traps_first_sentence": parse_seconds(checked["cells"][3])
        if checked and len(checked["cells"]) > 3
        else None,
        "traps_n": alone["n"] if alone else 0,
        "faithful_alone": alone["faithful"] if alone else None,
        "faithful_checked": checked["faithful"] if checked else None,
        "traps_s": round(time.perf_counter() - start),
        "traps_table": p.stdout,
    }
