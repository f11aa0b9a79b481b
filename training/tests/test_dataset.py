"""build-dataset end to end on the synthetic fixture: filter, conversion, dedup, leak-free splits, card."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from sori_training import dataset
from sori_training.dataset import BuildArgs
from sori_training.kb import load_heldout, load_kb, load_prompts


@pytest.fixture(scope="module")
def built(fixture_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    args = BuildArgs(aihub=[str(fixture_dir)], out=str(out))
    result = dataset.build(args)
    dataset.save(args, result)
    return out, result


def all_examples(result):
    return [ex for split in result["splits"].values() for ex in split]


def test_public_health_conversations_only(built):
    _, result = built
    ids = {ex["id"] for ex in all_examples(result) if ex["source"] == "aihub"}
    assert "aihub/다산콜센터/S-D004" in ids  # keyword match in a general domain (CP949 file)
    assert "aihub/다산콜센터/S-D001" not in ids  # bus routes
    assert "aihub/코로나19 관련 상담/S-E001" in ids  # other-keys batch
    assert result["stats"]["aihub_filtered_out"] == 2


def test_conversations_become_chat_messages(built):
    _, result = built
    ex = next(e for e in all_examples(result) if e["id"] == "aihub/코로나19 관련 상담/S-C001")
    roles = [m["role"] for m in ex["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert ex["messages"][1]["content"].startswith("제가 어제 코로나 확진")  # the greeting is dropped


def test_personal_data_redacted_and_masks_kept(built):
    _, result = built
    text = json.dumps(all_examples(result), ensure_ascii=False)
    assert "010-1234-5678" not in text and "900101-1234567" not in text
    assert "[전화번호]" in text and "[주민등록번호]" in text
    assert "#@이름# 님" in text


def test_exact_and_near_duplicates_are_dropped(built):
    _, result = built
    ids = {ex["id"] for ex in all_examples(result)}
    assert result["stats"]["exact_duplicates"] == 1
    assert result["stats"]["near_duplicates"] >= 1
    assert len({"aihub/코로나19 관련 상담/S-C003", "aihub/코로나19 관련 상담/S-C003-DUP"} & ids) == 1
    assert len({"aihub/코로나19 관련 상담/S-C002", "aihub/코로나19 관련 상담/S-C004"} & ids) == 1


def test_every_kb_variant_times_answer(built):
    _, result = built
    kb = load_kb()
    kb_ids = {ex["id"] for ex in all_examples(result) if ex["source"] == "kb"}
    n_variants = sum(len(e.questions) for e in kb.entries)
    assert n_variants * 2 - len(kb_ids) <= 2  # only a spacing-variant pair may be merged
    grounded = next(ex for ex in all_examples(result) if ex["id"] == "kb/measles/0/spoken")
    assert "참고 자료" in grounded["messages"][0]["content"]
    assert grounded["messages"][2]["content"] == kb.entry("measles").spoken


def test_splits_do_not_leak_paraphrases(built):
    _, result = built
    where = defaultdict(set)
    for name, split in result["splits"].items():
        assert split, f"{name} is empty"
        for ex in split:
            where[ex["group"]].add(name)
    assert all(len(s) == 1 for s in where.values())
    assert {ex["source"] for ex in result["splits"]["test"]} >= {"kb", "aihub"}


def test_heldout_and_eval_prompts_are_not_trained(built):
    _, result = built
    users = {
        "".join(m["content"].split())
        for ex in all_examples(result)
        for m in ex["messages"]
        if m["role"] == "user"
    }
    held = {"".join(q.split()) for q, _ in load_heldout()} | {
        "".join(q.split()) for q in load_prompts()["eval"]["diagnosis"]
    }
    assert not users & held


def test_saved_dataset_parquet_and_card(built):
    from datasets import Dataset, load_from_disk

    out, result = built
    dd = load_from_disk(str(out / "hf"))
    assert set(dd) == {"train", "validation", "test"}
    assert dd["train"].num_rows == len(result["splits"]["train"])
    assert set(dd["train"].column_names) == {
        "id",
        "source",
        "domain",
        "category",
        "group",
        "entry_id",
        "messages",
    }
    test = Dataset.from_parquet(str(out / "data" / "test.parquet"))
    assert test.num_rows == len(result["splits"]["test"])
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nlanguage:\n- ko")
    assert "synthetic test fixture" in card
    assert "| 코로나19 관련 상담 |" in card
    assert f"**{len(result['splits']['validation'])}**" in card
    problems = (out / "problems.tsv").read_text(encoding="utf-8").splitlines()
    assert len(problems) == 1 + len(result["problems"]) and len(result["problems"]) == 7


def test_build_is_deterministic(fixture_dir):
    a = dataset.build(BuildArgs(aihub=[str(fixture_dir)]))
    b = dataset.build(BuildArgs(aihub=[str(fixture_dir)]))
    assert {k: [e["id"] for e in v] for k, v in a["splits"].items()} == {
        k: [e["id"] for e in v] for k, v in b["splits"].items()
    }
