"""build-dataset: AI-Hub call-centre JSON + the 1339 knowledge base → a Hugging Face chat dataset.

    python -m sori_training build-dataset --aihub /data/aihub/민원 --out training/out/dataset

Steps: read and validate the AI-Hub files (problems reported, never fatal), keep the public-health
conversations, group turns into conversations, clean and redact, convert to `messages`, add the
knowledge base's question variants × answers and the routing/diagnosis prompts, deduplicate (exact and
near-duplicate), split train/validation/test by clusters (a conversation, a knowledge-base entry and its
paraphrases, near-duplicates) so nothing leaks between splits, save to disk + parquet + dataset card.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tomllib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import aihub
from .clean import DEFAULT_DOMAINS, DEFAULT_KEYWORDS, HealthFilter, clean
from .dedup import UnionFind, similar_pairs
from .kb import KB_PATH, SYSTEM_PROMPT, KnowledgeBase, grounded_system, load_kb, load_prompts

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")
KB_DOMAIN = "1339 지식베이스"
ROUTING_DOMAIN = "1339 라우팅"


@dataclass
class BuildArgs:
    aihub: list[str] = field(default_factory=list, metadata={"help": "AI-Hub JSON files or folders"})
    kb: str = field(default=str(KB_PATH), metadata={"help": "knowledge base TOML ('' to leave it out)"})
    out: str = field(default="training/out/dataset", metadata={"help": "output folder"})
    domains: list[str] = field(default_factory=lambda: list(DEFAULT_DOMAINS))
    keywords: list[str] = field(default_factory=lambda: list(DEFAULT_KEYWORDS))
    filter_config: str | None = field(
        default=None, metadata={"help": "TOML with domains = [..], keywords = [..]"}
    )
    validation_ratio: float = 0.1
    test_ratio: float = 0.1
    near_duplicate: float = field(default=0.85, metadata={"help": "Jaccard at which an example is dropped"})
    leak_threshold: float = field(default=0.6, metadata={"help": "Jaccard at which examples share a split"})
    seed: int = 1339
    push_to_hub: str | None = field(
        default=None, metadata={"help": "Hub repo id; needs --hub_token or HF_TOKEN"}
    )
    hub_token: str | None = None
    public: bool = field(default=False, metadata={"help": "push as a public repo (AI-Hub terms forbid it)"})


def msg(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def conversation_messages(conv: aihub.Conversation) -> list[dict[str, str]] | None:
    """customer → user, agent → assistant; consecutive turns of one speaker are joined, the agent's
    opening greeting before the caller speaks and an unanswered last caller turn are dropped."""
    turns: list[list] = []
    for t in conv.turns:
        role = "user" if t.speaker == "customer" else "assistant"
        text = clean(t.text)
        if not text:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1] += " " + text
        else:
            turns.append([role, text])
    while turns and turns[0][0] == "assistant":
        turns.pop(0)
    while turns and turns[-1][0] == "user":
        turns.pop()
    if not turns:
        return None
    return [msg("system", SYSTEM_PROMPT)] + [msg(r, c) for r, c in turns]


def aihub_examples(args: BuildArgs, hf: HealthFilter) -> tuple[list[dict], list[aihub.Problem], Counter]:
    stats: Counter = Counter()
    turns, problems = aihub.read_all(Path(p) for p in args.aihub)
    conversations, more = aihub.group_conversations(turns)
    problems += more
    files = list(aihub.json_files(Path(p) for p in args.aihub))
    stats["aihub_files"] = len(files)
    stats["synthetic_files"] = sum("synthetic" in f.name.lower() for f in files)
    stats["aihub_turns"] = len(turns)
    stats["aihub_conversations"] = len(conversations)
    examples = []
    for conv in conversations:
        text = " ".join(t.text for t in conv.turns)
        if not hf.keeps(conv.domain, conv.category, text):
            stats["aihub_filtered_out"] += 1
            continue
        messages = conversation_messages(conv)
        if messages is None:
            problems.append(
                aihub.Problem(
                    conv.file, None, f"conversation {conv.conversation_id}: no caller→agent exchange"
                )
            )
            continue
        examples.append(
            {
                "id": f"aihub/{conv.domain}/{conv.conversation_id}",
                "source": "aihub",
                "domain": conv.domain,
                "category": conv.category,
                "group": f"aihub/{conv.domain}/{conv.conversation_id}",
                "entry_id": "",
                "messages": messages,
            }
        )
    stats["aihub_kept"] = len(examples)
    return examples, problems, stats


def kb_examples(kb: KnowledgeBase) -> list[dict]:
    """Every question variant × both answers: the spoken answer with the entry as grounding context (as the
    server prompts), and the longer answer closed-book (the model learns the facts themselves)."""
    out = []
    for e in kb.entries:
        for i, q in enumerate(e.questions):
            q = clean(q)
            for form, system, reply in (
                ("spoken", grounded_system(e), e.spoken),
                ("answer", SYSTEM_PROMPT, e.answer),
            ):
                out.append(
                    {
                        "id": f"kb/{e.id}/{i}/{form}",
                        "source": "kb",
                        "domain": KB_DOMAIN,
                        "category": e.title,
                        "group": f"kb/{e.id}",
                        "entry_id": e.id,
                        "messages": [msg("system", system), msg("user", q), msg("assistant", reply)],
                    }
                )
    return out


def routing_examples(kb: KnowledgeBase) -> list[dict]:
    """Out-of-scope requests (the action's example triggers) and the hand-written emergency, agent and
    diagnosis prompts; all of them train, the evaluation uses kb/heldout.toml and its own prompts."""
    prompts = load_prompts()["train"]
    cases = [
        ("out-of-scope", q, kb.actions["out-of-scope"].spoken) for q in kb.actions["out-of-scope"].triggers
    ]
    cases += [("emergency", q, kb.actions["emergency"].spoken) for q in prompts["emergency"]]
    cases += [("human-agent", q, kb.actions["human-agent"].spoken) for q in prompts["human-agent"]]
    cases += [("diagnosis", q, prompts["diagnosis_reply"]) for q in prompts["diagnosis"]]
    return [
        {
            "id": f"routing/{kind}/{i}",
            "source": "routing",
            "domain": ROUTING_DOMAIN,
            "category": kind,
            "group": f"routing/{kind}/{i}",
            "entry_id": kind if kind != "diagnosis" else "",
            "messages": [msg("system", SYSTEM_PROMPT), msg("user", clean(q)), msg("assistant", reply)],
        }
        for i, (kind, q, reply) in enumerate(cases)
    ]


def sides(ex: dict) -> tuple[str, str]:
    user = " ".join(m["content"] for m in ex["messages"] if m["role"] == "user")
    reply = " ".join(m["content"] for m in ex["messages"] if m["role"] == "assistant")
    return user, reply


def deduplicate(examples: list[dict], near: float, leak: float) -> tuple[list[dict], list[str], Counter]:
    """Drop exact and near-duplicates; return the kept examples, each kept example's cluster key (the
    unit of splitting) and counts."""
    stats: Counter = Counter()
    seen: set[tuple[str, str]] = set()
    unique = []
    for ex in examples:
        u, r = sides(ex)
        key = ("".join(u.split()), "".join(r.split()))
        if key in seen:
            stats["exact_duplicates"] += 1
            continue
        seen.add(key)
        unique.append(ex)
    user, reply = zip(*(sides(ex) for ex in unique), strict=True) if unique else ((), ())
    uf = UnionFind(len(unique))
    by_group: dict[str, int] = {}
    for i, ex in enumerate(unique):
        uf.union(i, by_group.setdefault(ex["group"], i))
    dropped = set()
    for i, j, sim in similar_pairs(list(user), list(reply), leak):
        uf.union(i, j)
        if sim >= near and i not in dropped:
            dropped.add(j)
    stats["near_duplicates"] = len(dropped)
    kept = [i for i in range(len(unique)) if i not in dropped]
    clusters = [unique[uf.find(i)]["group"] for i in kept]
    return [unique[i] for i in kept], clusters, stats


def stable_hash(text: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{text}".encode()).hexdigest()


def split(examples: list[dict], clusters: list[str], args: BuildArgs) -> dict[str, list[dict]]:
    """Assign whole clusters to splits, per source, in a seeded hash order; routing prompts all train."""
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for source in sorted({ex["source"] for ex in examples}):
        idx = [i for i, ex in enumerate(examples) if ex["source"] == source]
        if source == "routing":
            out["train"] += [examples[i] for i in idx]
            continue
        members: dict[str, list[int]] = {}
        for i in idx:
            members.setdefault(clusters[i], []).append(i)
        order = sorted(members, key=lambda c: stable_hash(c, args.seed))
        total = len(idx)
        targets = [("test", args.test_ratio * total), ("validation", args.validation_ratio * total)]
        pos = 0
        for name, target in targets:
            taken = 0
            # at least one cluster each when there are enough clusters to go round
            while pos < len(order) - 1 and (taken < target or (taken == 0 and len(order) >= 3)):
                if taken and taken + len(members[order[pos]]) > target * 1.5:
                    break
                taken += len(members[order[pos]])
                out[name] += [examples[i] for i in members[order[pos]]]
                pos += 1
        for c in order[pos:]:
            out["train"] += [examples[i] for i in members[c]]
    for name in SPLITS:
        out[name].sort(key=lambda ex: ex["id"])
    return out


def build(args: BuildArgs) -> dict:
    if args.filter_config:
        cfg = tomllib.loads(Path(args.filter_config).read_text(encoding="utf-8"))
        args.domains = cfg.get("domains", args.domains)
        args.keywords = cfg.get("keywords", args.keywords)
    hf = HealthFilter(args.domains, args.keywords)
    examples, problems, stats = aihub_examples(args, hf)
    if args.kb:
        kb = load_kb(Path(args.kb))
        examples += kb_examples(kb) + routing_examples(kb)
    kept, clusters, dstats = deduplicate(examples, args.near_duplicate, args.leak_threshold)
    stats.update(dstats)
    splits = split(kept, clusters, args)
    for p in problems:
        log.warning("skipped %s", p)
    return {"splits": splits, "problems": problems, "stats": stats}


def card(args: BuildArgs, result: dict) -> str:
    splits, stats, problems = result["splits"], result["stats"], result["problems"]
    domains = sorted({ex["domain"] for s in splits.values() for ex in s})
    rows = "\n".join(
        f"| {d} | " + " | ".join(str(sum(ex["domain"] == d for ex in splits[s])) for s in SPLITS) + " |"
        for d in domains
    )
    totals = " | ".join(f"**{len(splits[s])}**" for s in SPLITS)
    warning = (
        "\n> **Built from the synthetic test fixture** (`training/tests/fixtures/aihub`), which only imitates the "
        "AI-Hub schema. It contains no real AI-Hub data.\n"
        if stats.get("synthetic_files")
        else ""
    )
    data_files = "\n".join(f"  - split: {s}\n    path: data/{s}.parquet" for s in SPLITS)
    return f"""---
language:
- ko
license: other
task_categories:
- text-generation
pretty_name: sori 1339 public-health hotline chat
configs:
- config_name: default
  data_files:
{data_files}
---

# sori 1339 chat dataset
{warning}
Korean multi-turn chat for a 질병관리청 1339 hotline assistant, built by `sori-train build-dataset`.

## Schema
| column | type | meaning |
|---|---|---|
| id | string | stable example id (`aihub/<도메인>/<대화셋일련번호>`, `kb/<entry>/<variant>/<form>`, `routing/<kind>/<n>`) |
| source | string | `aihub`, `kb` (knowledge base) or `routing` (routing and diagnosis-refusal prompts) |
| domain | string | AI-Hub 도메인, or `{KB_DOMAIN}` / `{ROUTING_DOMAIN}` |
| category | string | AI-Hub 카테고리, the entry's title, or the routing kind |
| group | string | the conversation or knowledge-base entry the example comes from |
| entry_id | string | knowledge-base entry or action id (empty for AI-Hub) |
| messages | list of {{role, content}} | `system` / `user` / `assistant` turns |

Knowledge-base examples come in two forms per question variant: the short spoken answer with the entry in
the system prompt as grounding context (the way `sori serve` prompts), and the longer answer closed-book.

## Sources and licences
- **AI-Hub 민원(콜센터) 질의-응답 데이터** (NIA, aihub.or.kr): public-health conversations, kept by the
  domain filter {args.domains} or a keyword filter ({len(args.keywords)} infectious-disease terms). AI-Hub's
  terms allow use for AI research and development by registered users and forbid redistribution: keep a
  dataset that contains it private. Personal data masked by AI-Hub stays masked; phone, resident, card,
  account numbers and e-mail addresses still in clear text are replaced by tags such as `[전화번호]`.
- **sori knowledge base** (`kb/1339.toml`, the project's licence): general guidance written from 질병관리청
  pages, each entry naming its source; and hand-written routing and diagnosis-refusal prompts.

## Splits
Whole clusters go to one split: an AI-Hub conversation, a knowledge-base entry with all its paraphrases,
and anything near-duplicate to them (character-trigram Jaccard ≥ {args.leak_threshold} on both sides). Routing
prompts are all in train; evaluation routes kb/heldout.toml instead.

| domain | train | validation | test |
|---|---|---|---|
{rows}
| total | {totals} |

## Build
AI-Hub files read: {stats.get("aihub_files", 0)}, turns: {stats.get("aihub_turns", 0)}, conversations: \
{stats.get("aihub_conversations", 0)}, kept after the public-health filter: {stats.get("aihub_kept", 0)}.
Exact duplicates dropped: {stats.get("exact_duplicates", 0)}; near-duplicates (Jaccard ≥ {args.near_duplicate}) \
dropped: {stats.get("near_duplicates", 0)}. Problems reported and skipped: {len(problems)} (see `problems.tsv`).
"""


def save(args: BuildArgs, result: dict) -> Path:
    from datasets import Dataset, DatasetDict

    out = Path(args.out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    dd = DatasetDict({s: Dataset.from_list(result["splits"][s]) for s in SPLITS if result["splits"][s]})
    dd.save_to_disk(str(out / "hf"))
    for s, ds in dd.items():
        ds.to_parquet(str(out / "data" / f"{s}.parquet"))
    (out / "README.md").write_text(card(args, result), encoding="utf-8")
    with open(out / "problems.tsv", "w", encoding="utf-8") as f:
        f.write("file\trecord\treason\n")
        for p in result["problems"]:
            f.write(f"{p.file}\t{'' if p.record is None else p.record}\t{p.reason}\n")
    report = {
        "args": asdict(args),
        "stats": dict(result["stats"]),
        "counts": {s: len(v) for s, v in result["splits"].items()},
        "problems": len(result["problems"]),
    }
    (out / "build.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    token = args.hub_token or os.environ.get("HF_TOKEN")
    if args.push_to_hub:
        if not token:
            raise SystemExit("--push_to_hub needs --hub_token or HF_TOKEN")
        dd.push_to_hub(args.push_to_hub, token=token, private=not args.public)
        from huggingface_hub import HfApi

        HfApi(token=token).upload_file(
            path_or_fileobj=str(out / "README.md"),
            path_in_repo="README.md",
            repo_id=args.push_to_hub,
            repo_type="dataset",
        )
    return out


def main(argv: list[str] | None = None) -> None:
    from transformers import HfArgumentParser

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    (args,) = HfArgumentParser(BuildArgs).parse_args_into_dataclasses(argv)
    result = build(args)
    out = save(args, result)
    counts = ", ".join(f"{s} {len(v)}" for s, v in result["splits"].items())
    print(
        f"dataset → {out} ({counts}; {len(result['problems'])} problems, see {out / 'problems.tsv'})",
        file=sys.stderr,
    )
