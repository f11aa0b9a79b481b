"""evaluate: one model (base, or base + LoRA adapter) on the test split and the held-out prompts;
compare: the comparison table (Markdown + JSON) across every evaluated model.

    python -m sori_training evaluate --model smollm2-135m --adapter training/out/runs/smollm2-135m/adapter
    python -m sori_training compare --update_readme

Per model: chrF and ROUGE-L on characters against the reference replies of the test split; grounding
(test-split knowledge-base questions asked with their entry as context: does the reply carry the entry's
numbers and key terms); routing of kb/heldout.toml's emergency / agent / out-of-scope callers plus as many
topic questions; refusal to diagnose on diagnosis bait; generated tokens/s, time to first token and to
the whole reply (greedy decoding).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from itertools import zip_longest
from pathlib import Path

from tqdm import tqdm

from . import metrics
from .kb import SYSTEM_PROMPT, load_heldout, load_kb, load_prompts
from .models import apply_template, load_config, prepare, stop_token_ids

log = logging.getLogger(__name__)
RESULTS = Path(__file__).resolve().parents[1] / "results"
README = Path(__file__).resolve().parents[1] / "README.md"


@dataclass
class EvalArgs:
    model: str = field(default="smollm2-135m", metadata={"help": "config name in configs/models"})
    adapter: str | None = field(
        default=None, metadata={"help": "LoRA adapter folder (finetune's output_dir/adapter)"}
    )
    merged: str | None = field(
        default=None, metadata={"help": "a merged model folder instead of base + adapter"}
    )
    label: str | None = field(default=None, metadata={"help": "row name; default <model> or <model>+lora"})
    dataset: str = "training/out/dataset/hf"
    source: str = "auto"
    results_dir: str = str(RESULTS / "runs")
    max_examples: int | None = field(default=None, metadata={"help": "test-split examples (default all)"})
    max_routing: int | None = field(default=None, metadata={"help": "held-out routing prompts (default all)"})
    max_diagnosis: int | None = None
    max_new_tokens: int = 96
    seed: int = 1339
    gguf: str | None = field(
        default=None,
        metadata={"help": "serve this GGUF with sori-llm (as a call does) instead of transformers"},
    )
    retrieval: bool = field(
        default=False, metadata={"help": "no model: the knowledge base's own answer (sori chat, [llm] none)"}
    )
    threads: int = field(default=2, metadata={"help": "CPU threads (sori-llm, sori eval traps, torch)"})
    traps_limit: int | None = field(
        default=None,
        metadata={"help": "sori eval traps --limit (traps per category) on the GGUF / retrieval; 0: skip"},
    )
    sori_llm: str | None = field(
        default=None, metadata={"help": "sori-llm binary (default $SORI_LLM_BIN, target/)"}
    )
    sori_bin: str | None = field(default=None, metadata={"help": "sori binary (default $SORI_BIN, target/)"})


class FirstToken:
    """A generate() streamer that only records when the first new token arrives."""

    def __init__(self) -> None:
        self.calls, self.first = 0, None

    def put(self, value) -> None:
        self.calls += 1
        if self.calls == 2 and self.first is None:  # call 1 is the prompt
            self.first = time.perf_counter()

    def end(self) -> None:
        pass


class Generator:
    def __init__(self, args: EvalArgs):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        cfg = load_config(args.model)
        path = args.merged or prepare(cfg, args.source)
        tok_path = args.merged or args.adapter or path
        self.tokenizer = AutoTokenizer.from_pretrained(tok_path, **cfg.tokenizer)
        if not (args.adapter or args.merged):  # a fine-tuned folder carries the template it was trained with
            apply_template(self.tokenizer, cfg)
        cuda = torch.cuda.is_available()
        dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
        revision = {"revision": cfg.revision} if cfg.revision and not args.merged else {}
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype, device_map="auto" if cuda else None, **revision
        )
        if args.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, args.adapter)
        self.model = model.eval()
        self.device = "cuda" if cuda else "cpu"
        self.stop_ids = stop_token_ids(self.tokenizer)
        self.max_new_tokens = args.max_new_tokens

    def peak_rss_mb(self) -> float | None:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    def close(self) -> None:
        pass

    def __call__(self, messages: list[dict]) -> dict:
        import torch

        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt").to(self.device)
        streamer = FirstToken()
        start = time.perf_counter()
        with torch.no_grad():
            out = self.model.generate(
                **ids,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                eos_token_id=self.stop_ids,
                pad_token_id=self.tokenizer.pad_token_id,
                stop_strings=["<|im_end|>", "<end_of_turn>"],
                tokenizer=self.tokenizer,
                streamer=streamer,
            )
        end = time.perf_counter()
        new = out[0][ids["input_ids"].shape[1] :]
        reply = self.tokenizer.decode(new, skip_special_tokens=True)
        for marker in ("<|im_end|>", "<end_of_turn>"):
            reply = reply.split(marker)[0]
        return {
            "reply": reply.strip(),
            "prompt_tokens": int(ids["input_ids"].shape[1]),
            "new_tokens": len(new),
            "seconds": end - start,
            "first_token_s": (streamer.first or end) - start,
        }


def routing_cases(limit: int | None) -> list[tuple[str, str]]:
    """kb/heldout.toml's action cases, interleaved emergency / agent / out-of-scope, then as many topic
    questions (expected route "answer") spread over the topics; `limit` keeps half of each."""
    cases = load_heldout()
    kinds = ("emergency", "human-agent", "out-of-scope")
    by_kind = [[(q, i) for q, i in cases if i == k] for k in kinds]
    actions = [c for group in zip_longest(*by_kind) for c in group if c]
    topics = [(q, "answer") for q, i in cases if i not in kinds]
    topics = topics[:: max(1, len(topics) // len(actions))][: len(actions)]
    if limit is not None:
        return actions[: limit - limit // 2] + topics[: limit // 2]
    return actions + topics


def mean(xs: list[float | None]) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(sum(xs) / len(xs), 4) if xs else None


ACTIONS = {
    "emergency": "emergency",
    "transfer": "human-agent",
    "outofscope": "out-of-scope",
    "answer": "answer",
}


def routed_as(r: dict) -> str:
    """The route a reply takes: the dialogue engine's action when retrieval answered, else its first sentence."""
    if r.get("action"):
        a = str(r["action"]).lower().replace("_", "").replace("-", "")
        return ACTIONS.get(a, a)
    return metrics.route(r["reply"])


def make_generator(args: EvalArgs):
    if args.retrieval:
        from .served import Retrieval

        return Retrieval(args.sori_bin)
    if args.gguf:
        from .served import SoriLlm

        return SoriLlm(args.gguf, args.threads, args.max_new_tokens, args.sori_llm)
    import torch

    torch.set_num_threads(args.threads)
    return Generator(args)


def evaluate(args: EvalArgs) -> dict:
    from datasets import load_from_disk

    kb = load_kb()
    load = [os.getloadavg()[0]]  # the machine is shared: how busy it was while this row was timed
    gen = make_generator(args)
    test = load_from_disk(args.dataset)["test"]
    if args.max_examples is not None:
        test = test.shuffle(seed=args.seed).select(range(min(args.max_examples, len(test))))
    runs, samples = [], []
    scores: dict[str, list[float]] = {"chrf": [], "rouge_l": [], "grounded": [], "fact_recall": []}

    for ex in tqdm(test, desc="test split"):
        last = max(i for i, m in enumerate(ex["messages"]) if m["role"] == "assistant")
        prompt, reference = ex["messages"][:last], ex["messages"][last]["content"]
        r = gen(prompt)
        runs.append(r)
        scores["chrf"].append(metrics.chrf(r["reply"], reference))
        scores["rouge_l"].append(metrics.rouge_l(r["reply"], reference))
        if ex["source"] == "kb" and ex["id"].endswith("/spoken"):
            recall = metrics.fact_recall(r["reply"], kb.entry(ex["entry_id"]))
            scores["fact_recall"].append(recall)
            scores["grounded"].append(float(recall >= 0.5))
        if len(samples) < 5:
            samples.append(
                {"id": ex["id"], "prompt": prompt[-1]["content"], "reference": reference, "reply": r["reply"]}
            )

    routing = routing_cases(args.max_routing)
    routed = []
    for q, expected in tqdm(routing, desc="routing"):
        r = gen([{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": q}])
        runs.append(r)
        routed.append({"q": q, "expected": expected, "got": routed_as(r), "reply": r["reply"]})

    bait = load_prompts()["eval"]["diagnosis"][: args.max_diagnosis]
    refusals = []
    for q in tqdm(bait, desc="diagnosis"):
        r = gen([{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": q}])
        runs.append(r)
        refusals.append({"q": q, "refused": metrics.refuses_diagnosis(r["reply"]), "reply": r["reply"]})

    memory_mb = gen.peak_rss_mb()
    load.append(os.getloadavg()[0])
    gen.close()
    new_tokens = sum(r["new_tokens"] for r in runs)
    seconds = sum(r["seconds"] for r in runs if r["new_tokens"])
    label = args.label or (
        "retrieval-only" if args.retrieval else args.model + ("+lora" if args.adapter or args.merged else "")
    )
    trap = {}
    if args.traps_limit != 0 and (args.retrieval or args.gguf):
        from .served import traps

        trap = traps(args.gguf, args.traps_limit, args.threads, args.sori_bin)
    if args.retrieval:
        engine = "sori chat, [llm] none"
    elif args.gguf:
        engine = "sori-llm (GGUF)"
    else:
        engine = "transformers fp32"
    result = {
        "label": label,
        "model": args.model,
        "adapter": args.adapter,
        "merged": args.merged,
        "test_examples": len(test),
        "chrf": mean(scores["chrf"]),
        "rouge_l": mean(scores["rouge_l"]),
        "grounding_acc": mean(scores["grounded"]),
        "fact_recall": mean(scores["fact_recall"]),
        "grounding_n": len(scores["grounded"]),
        "routing_acc": mean([float(x["expected"] == x["got"]) for x in routed]),
        "routing_n": len(routed),
        "refusal_rate": mean([float(x["refused"]) for x in refusals]),
        "refusal_n": len(refusals),
        "tokens_per_s": round(new_tokens / seconds, 2) if seconds else None,
        "first_token_s": mean([r["first_token_s"] for r in runs]),
        # retrieval: the pre-rendered first sentence after routing (sori eval traps' p50)
        "first_sentence_s": trap.get("traps_first_sentence")
        if args.retrieval
        else median([r.get("first_sentence_s") for r in runs]),
        "latency_s": mean([r["seconds"] for r in runs]),
        "memory_mb": memory_mb,
        "load_avg": round(sum(load) / len(load), 1),
        "gguf": args.gguf,
        "engine": engine,
        "faithful_alone": trap.get("faithful_alone"),
        "faithful_checked": trap.get("faithful_checked"),
        "traps_n": trap.get("traps_n"),
        "traps_s": trap.get("traps_s"),
        "device": device(args),
        "max_new_tokens": args.max_new_tokens,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "samples": samples,
        "routing": routed,
        "refusals": refusals,
        "traps_table": trap.get("traps_table") or trap.get("traps_error"),
    }
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{label}.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return result


def median(xs: list[float | None]) -> float | None:
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    mid = len(xs) // 2
    return round(xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2, 4)


def device(args: EvalArgs) -> str:
    if args.retrieval or args.gguf:
        return f"CPU ({platform.machine()}, {args.threads} threads)"
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


COLUMNS = [
    ("label", "model"),
    ("engine", "served by"),
    ("chrf", "chrF"),
    ("rouge_l", "ROUGE-L (char)"),
    ("grounding_acc", "grounding"),
    ("faithful_alone", "faithful, alone"),
    ("faithful_checked", "faithful, checked"),
    ("routing_acc", "routing"),
    ("refusal_rate", "no diagnosis"),
    ("first_token_s", "first token s"),
    ("first_sentence_s", "first sentence s"),
    ("tokens_per_s", "tokens/s"),
    ("memory_mb", "memory MB"),
    ("load_avg", "load"),
    ("device", "device"),
]
PERCENT = ("grounding_acc", "routing_acc", "refusal_rate", "faithful_alone", "faithful_checked")


def fmt(key: str, value) -> str:
    if value is None:
        return "–"
    if key in PERCENT:
        return f"{100 * value:.0f} %"
    if key in ("memory_mb", "load_avg"):
        return f"{value:.0f}"
    if isinstance(value, float):
        return f"{value:.1f}" if key in ("chrf", "rouge_l", "tokens_per_s") else f"{value:.2f}"
    return str(value)


def table(rows: list[dict]) -> str:
    head = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in COLUMNS) + "|"
    rows = [{"engine": "transformers fp32", **r} for r in rows]  # rows from before the served path
    body = ["| " + " | ".join(fmt(k, r.get(k)) for k, _ in COLUMNS) + " |" for r in rows]
    n = max(rows, key=lambda r: r.get("date") or "") if rows else {}
    traps = sorted({r["traps_n"] for r in rows if r.get("traps_n")})
    note = (
        f"\n{n.get('test_examples', 0)} test-split replies (chrF, ROUGE-L), {n.get('grounding_n', 0)} grounded "
        f"questions, {n.get('routing_n', 0)} routing and {n.get('refusal_n', 0)} diagnosis prompts per model; "
        f"greedy, at most {n.get('max_new_tokens', '?')} new tokens."
        + (
            f" Faithful: share of kb/traps.toml traps answered faithfully ({'/'.join(map(str, traps))} traps, "
            "`sori eval traps`), by the model alone and after the call's grounding + faithfulness checks."
            if traps
            else ""
        )
        if rows
        else ""
    )
    return "\n".join([head, sep, *body]) + "\n" + note


@dataclass
class CompareArgs:
    results_dir: str = str(RESULTS / "runs")
    out: str = str(RESULTS / "comparison")
    update_readme: bool = False


def compare(args: CompareArgs) -> str:
    rows = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(args.results_dir).glob("*.json"))]
    # retrieval only, then what sori-llm serves, then the transformers rows
    rank = {"sori chat, [llm] none": 0, "sori-llm (GGUF)": 1}
    rows.sort(key=lambda r: (rank.get(r.get("engine", ""), 2), r["label"]))
    md = table(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(md, encoding="utf-8")
    summary = [
        {
            k: r.get(k)
            for k in (
                *(k for k, _ in COLUMNS),
                "test_examples",
                "grounding_n",
                "routing_n",
                "refusal_n",
                "date",
            )
        }
        for r in rows
    ]
    out.with_suffix(".json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    if args.update_readme and README.exists():
        text = README.read_text(encoding="utf-8")
        start, end = "<!-- comparison:start -->", "<!-- comparison:end -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            README.write_text(f"{head}{start}\n{md}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")
    return md


def main(argv: list[str] | None = None) -> None:
    from transformers import HfArgumentParser, set_seed

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(EvalArgs).parse_args_into_dataclasses(argv)
    set_seed(args.seed)
    result = evaluate(args)
    print(
        json.dumps(
            {k: v for k, v in result.items() if k not in ("samples", "routing", "refusals")},
            ensure_ascii=False,
            indent=2,
        )
    )
    print(json.dumps(asdict(args), ensure_ascii=False))


def compare_main(argv: list[str] | None = None) -> None:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(CompareArgs).parse_args_into_dataclasses(argv)
    print(compare(args))
