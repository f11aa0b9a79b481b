"""export: merge the LoRA adapter into its base, write GGUF (f16, then Q8_0) and a model-manifest entry
that `sori serve` can load by name.

    python -m sori_training export --adapter training/out/runs/smollm2-135m/adapter --name sori-1339-smollm2

f16: llama.cpp's own convert_hf_to_gguf.py, used in place from the llama-cpp-sys-2 crate source in
cargo's registry (fetched with `cargo fetch` when missing; never copied into this repository). Q8_0: the
f16 file re-quantised here with the `gguf` package (2-D weights to Q8_0, norms and other 1-D tensors
F32, as llama.cpp does). Q4_K_M needs llama.cpp's C quantiser (`llama_model_quantize`, reachable through
llama-cpp-sys-2 from the Rust side): the `gguf` package has no K-quant encoder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .models import cache_dir, load_config, prepare

log = logging.getLogger(__name__)
# The last llama-cpp-sys-2 release whose crate carries the whole convert_hf_to_gguf.py; later releases
# ship a stub that imports a `conversion` package left out of the crate.
LLAMA_CPP_SYS = "0.1.146"


@dataclass
class ExportArgs:
    adapter: str | None = field(default=None, metadata={"help": "finetune's adapter folder"})
    model: str | None = field(default=None, metadata={"help": "config name; default: the adapter's own"})
    merged_dir: str | None = field(
        default=None, metadata={"help": "export this HF folder as it is (no merge)"}
    )
    name: str | None = field(
        default=None, metadata={"help": "model name in the manifest; default sori-1339-<model>"}
    )
    out_dir: str = "training/out/gguf"
    quant: list[str] = field(
        default_factory=lambda: ["q8_0"],
        metadata={
            "help": "q8_0 (gguf package) and/or q4_k_m (llama.cpp's quantiser via `sori-llm quantize`)"
        },
    )
    source: str = "auto"
    llama_cpp_dir: str | None = field(
        default=None, metadata={"help": "a llama.cpp checkout with convert_hf_to_gguf.py"}
    )
    url: str = field(default="", metadata={"help": "where the GGUF will be published, for the manifest"})


def convert_script(explicit: str | None = None) -> Path:
    """llama.cpp's convert_hf_to_gguf.py: --llama_cpp_dir, $LLAMA_CPP_DIR, or cargo's registry."""
    for d in (explicit, os.environ.get("LLAMA_CPP_DIR")):
        if d and (Path(d) / "convert_hf_to_gguf.py").exists():
            return Path(d) / "convert_hf_to_gguf.py"
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    pattern = f"registry/src/*/llama-cpp-sys-2-{LLAMA_CPP_SYS}/llama.cpp/convert_hf_to_gguf.py"
    found = sorted(cargo_home.glob(pattern))
    if found:
        return found[-1]
    scratch = cache_dir() / "llama-cpp-sys-2-fetch"
    (scratch / "src").mkdir(parents=True, exist_ok=True)
    (scratch / "Cargo.toml").write_text(
        f'[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n\n'
        f'[dependencies]\nllama-cpp-sys-2 = "={LLAMA_CPP_SYS}"\n',
        encoding="utf-8",
    )
    (scratch / "src" / "main.rs").write_text("fn main() {}\n", encoding="utf-8")
    log.info("cargo fetch llama-cpp-sys-2 %s (for llama.cpp's convert_hf_to_gguf.py)", LLAMA_CPP_SYS)
    subprocess.run(["cargo", "fetch", "--quiet"], cwd=scratch, check=True)
    found = sorted(cargo_home.glob(pattern))
    if not found:
        raise SystemExit(f"convert_hf_to_gguf.py not found under {cargo_home}/{pattern}")
    return found[-1]


def merge(args: ExportArgs, out: Path) -> tuple[Path, dict]:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    meta = json.loads((Path(args.adapter) / "sori_train.json").read_text(encoding="utf-8"))
    cfg = load_config(args.model or meta["model"])
    base = prepare(cfg, args.source)
    revision = {"revision": cfg.revision} if cfg.revision else {}
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, **revision)
    model = PeftModel.from_pretrained(model, args.adapter).merge_and_unload()
    merged = out / "merged"
    model.save_pretrained(merged)
    AutoTokenizer.from_pretrained(args.adapter).save_pretrained(merged)
    return merged, meta


def to_f16_gguf(hf_dir: Path, outfile: Path, script: Path) -> None:
    env = {**os.environ, "NO_LOCAL_GGUF": "1"}  # use the pinned PyPI gguf package
    cmd = [sys.executable, str(script), str(hf_dir), "--outfile", str(outfile), "--outtype", "f16"]
    log.info("%s", " ".join(cmd))
    subprocess.run(cmd, check=True, env=env)


def quantize_q8_0(src: Path, dst: Path) -> None:
    """Re-encode a GGUF: 2-D float tensors whose rows split into 32-value blocks become Q8_0."""
    import gguf

    reader = gguf.GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(dst, arch)
    for name, f in reader.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", "general.file_type"):
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, f.contents(), vtype, sub_type=sub)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    for t in reader.tensors:
        data = np.asarray(t.data)
        if t.tensor_type in (gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.F32):
            shape = data.shape
            if len(shape) >= 2 and shape[-1] % 32 == 0:
                q = gguf.quants.quantize(data.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
                writer.add_tensor(t.name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
                continue
            data = data.astype(np.float32 if len(shape) == 1 else data.dtype)
            writer.add_tensor(t.name, data)
        else:  # already quantised: copy the bytes
            writer.add_tensor(
                t.name, data, raw_shape=list(reversed([int(x) for x in t.shape])), raw_dtype=t.tensor_type
            )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def describe(path: Path) -> dict:
    """What a loader needs to know, read back from the file (proves it parses)."""
    import gguf

    reader = gguf.GGUFReader(path)
    fields = reader.fields

    def get(key, default=None):
        return fields[key].contents() if key in fields else default

    types: dict[str, int] = {}
    for t in reader.tensors:
        types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
    return {
        "architecture": get("general.architecture"),
        "file_type": get("general.file_type"),
        "tensors": len(reader.tensors),
        "tensor_types": types,
        "vocab_size": len(fields["tokenizer.ggml.tokens"].data) if "tokenizer.ggml.tokens" in fields else 0,
        "chat_template": get("tokenizer.chat_template", ""),
        "context_length": get(f"{get('general.architecture')}.context_length"),
    }


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def template_family(template: str) -> str:
    if "<|im_start|>" in template:
        return "chatml"
    if "<start_of_turn>" in template:
        return "gemma"
    return "custom" if template else "none"


def manifest_entry(name: str, gguf_path: Path, meta: dict, quant: str, url: str) -> str:
    template = describe(gguf_path)["chat_template"]
    return f"""# Model-manifest entry written by `sori-train export` ({meta.get("model")} + LoRA, {quant}).
# Copy it into models/models.toml; `path` is where this machine holds the file.
[[model]]
name = {toml_str(name)}
kind = "llm"
file = {toml_str(gguf_path.name)}
size = {gguf_path.stat().st_size}
sha256 = "{sha256(gguf_path)}"
licence = {toml_str(meta.get("licence", ""))}
description = {toml_str(f"{meta.get('base')} fine-tuned for the 1339 hotline with LoRA ({quant})")}
url = {toml_str(url)}
offline_source = "local"
path = {toml_str(str(gguf_path.resolve()))}
chat_template = "{template_family(template)}"  # the GGUF carries the template itself (tokenizer.chat_template)
"""


def sori_llm_binary() -> str:
    """The project's llama.cpp worker, which carries llama.cpp's own quantiser."""
    import os
    import shutil

    found = os.environ.get("SORI_LLM_BIN") or shutil.which("sori-llm")
    if found:
        return found
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/sori/target"))
    for profile in ("release", "debug"):
        exe = target / profile / "sori-llm"
        if exe.is_file():
            return str(exe)
    raise SystemExit(
        "Q4_K_M needs the sori-llm binary: cargo build --release -p sori-llm (or set SORI_LLM_BIN)"
    )


def quantize_with_llama_cpp(src: Path, dst: Path, kind: str) -> None:
    """K-quants (Q4_K_M …) with llama_model_quantize, through `sori-llm quantize`."""
    import subprocess

    subprocess.run([sori_llm_binary(), "quantize", str(src), str(dst), kind], check=True)


def export(args: ExportArgs) -> dict:
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if args.merged_dir:
        hf_dir = Path(args.merged_dir)
        cfg = load_config(args.model) if args.model else None
        meta = {
            "model": args.model,
            "base": cfg.model if cfg else str(hf_dir),
            "licence": cfg.licence if cfg else "",
        }
    else:
        if not args.adapter:
            raise SystemExit("give --adapter (finetune's output) or --merged_dir")
        hf_dir, meta = merge(args, out)
    name = args.name or f"sori-1339-{meta['model']}"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name)
    f16 = out / f"{slug}-f16.gguf"
    to_f16_gguf(hf_dir, f16, convert_script(args.llama_cpp_dir))
    files = {"f16": f16}
    if "q8_0" in args.quant:
        files["q8_0"] = out / f"{slug}-q8_0.gguf"
        quantize_q8_0(f16, files["q8_0"])
    if "q4_k_m" in args.quant:
        files["q4_k_m"] = out / f"{slug}-q4_k_m.gguf"
        quantize_with_llama_cpp(f16, files["q4_k_m"], "q4_k_m")
    chosen = next((q for q in ("q4_k_m", "q8_0") if q in files), "f16")
    entry = manifest_entry(name, files[chosen], meta, chosen.upper(), args.url)
    (out / "manifest-entry.toml").write_text(entry, encoding="utf-8")
    report = {k: {"path": str(p), "size": p.stat().st_size, **describe(p)} for k, p in files.items()}
    (out / "export.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return {"files": files, "manifest": out / "manifest-entry.toml", "report": report}


def main(argv: list[str] | None = None) -> None:
    from transformers import HfArgumentParser

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(ExportArgs).parse_args_into_dataclasses(argv)
    result = export(args)
    for k, p in result["files"].items():
        print(f"{k}: {p} ({p.stat().st_size:,} B)")
    print(f"manifest entry: {result['manifest']}")
