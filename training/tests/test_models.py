from __future__ import annotations

import pytest

from sori_training.models import CHATML, GEMMA, all_configs, load_config


def test_every_requested_base_model_has_a_config():
    names = set(all_configs())
    assert {"polyglot-ko-1.3b", "polyglot-ko-3.8b", "polyglot-ko-5.8b", "polyglot-ko-12.8b"} <= names
    assert {"kogpt", "kullm-v2", "kullm3", "qwen2.5-1.5b", "gemma-3-270m", "smollm2-135m"} <= names


@pytest.mark.parametrize("name", all_configs())
def test_config_is_complete(name):
    cfg = load_config(name)
    assert cfg.name == name and cfg.model and cfg.licence
    assert cfg.lora.target_modules and cfg.lora.r > 0
    assert cfg.train.batch_size % cfg.train.micro_batch_size == 0
    assert cfg.chat_template in ("model", "chatml", "gemma")
    assert (
        len(cfg.offline_packages) == (len(cfg.offline_parts) if cfg.offline_packages else 0)
        or cfg.offline_parts
    )


def test_polyglot_and_kullm_follow_the_kullm_recipe():
    for name in ("polyglot-ko-1.3b", "polyglot-ko-12.8b", "kullm-v2"):
        cfg = load_config(name)
        assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (8, 16, 0.05)
        assert cfg.lora.target_modules == ["query_key_value"]
        assert cfg.train.cutoff_len == 512
    assert load_config("polyglot-ko-12.8b").train.load_in_4bit


def test_templates_render_prefix_by_prefix():
    from jinja2 import Template

    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U"},
        {"role": "assistant", "content": "A"},
    ]
    for tpl in (CHATML, GEMMA):
        t = Template(tpl)
        full = t.render(messages=messages, bos_token="<bos>", add_generation_prompt=False)
        head = t.render(messages=messages[:2], bos_token="<bos>", add_generation_prompt=True)
        assert full.startswith(head) and full[len(head) :].startswith("A")


@pytest.mark.parametrize("name", ["qwen2.5-0.5b", "qwen2.5-1.5b"])
def test_qwen_configs_take_their_base_from_the_sori_models_manifest(name):
    from sori_training.models import manifest_entry

    cfg = load_config(name)
    assert cfg.sori_model == name and "Apache-2.0" in cfg.licence and "no licence" in cfg.licence
    e = manifest_entry(cfg.sori_model)
    assert e["kind"] == "llm" and e["file"].endswith("q4_k_m.gguf")
    assert e["size"] > 0 and len(e["sha256"]) == 64
    assert len(e["offline"]["packages"]) == len(e["offline"]["parts"]) > 0
