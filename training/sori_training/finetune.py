"""finetune: LoRA (QLoRA on a CUDA GPU with bitsandbytes) on the chat dataset with transformers' Trainer.

    python -m sori_training finetune --model polyglot-ko-1.3b --dataset training/out/dataset/hf \
        --output_dir training/out/runs/polyglot-ko-1.3b

Defaults come from configs/models/<model>.toml; any flag given here wins. Loss is computed on the
assistant turns only. Checkpoints land in output_dir and a rerun resumes from the last one; the final
adapter, tokenizer (with the chat template used) and `sori_train.json` land in output_dir/adapter.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .models import ModelConfig, apply_template, load_config, prepare

log = logging.getLogger(__name__)


@dataclass
class FinetuneArgs:
    model: str = field(
        default="smollm2-135m", metadata={"help": "config name in configs/models or a .toml path"}
    )
    dataset: str = field(default="training/out/dataset/hf", metadata={"help": "build-dataset's hf folder"})
    output_dir: str | None = field(default=None, metadata={"help": "default training/out/runs/<model>"})
    source: str = field(default="auto", metadata={"help": "weights: auto | offline (registry package) | hub"})
    max_steps: int = field(default=-1, metadata={"help": "stop after this many optimizer steps (-1: epochs)"})
    num_train_epochs: float | None = None
    learning_rate: float | None = None
    batch_size: int | None = field(default=None, metadata={"help": "effective batch size"})
    micro_batch_size: int | None = None
    cutoff_len: int | None = None
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    lora_target_modules: list[str] | None = None
    qlora: str = field(default="auto", metadata={"help": "auto (config + GPU + bitsandbytes) | on | off"})
    max_train_samples: int | None = None
    exclude_ids: str | None = field(
        default=None,
        metadata={"help": "regex: leave out training examples whose id matches (e.g. '/answer$')"},
    )
    max_eval_samples: int | None = field(
        default=200, metadata={"help": "validation examples (0: no evaluation)"}
    )
    logging_steps: int = 10
    eval_steps: int = 100
    save_steps: int = 100
    save_total_limit: int = 2
    seed: int = 1339
    resume: bool = field(default=True, metadata={"help": "resume from the last checkpoint in output_dir"})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads (default: torch's own)"})
    max_minutes: float | None = field(
        default=None,
        metadata={"help": "wall-clock budget: stop (and save) after the first optimizer step past it"},
    )


def settings(args: FinetuneArgs) -> ModelConfig:
    cfg = load_config(args.model)
    for name, target in (
        ("num_train_epochs", cfg.train),
        ("learning_rate", cfg.train),
        ("batch_size", cfg.train),
        ("micro_batch_size", cfg.train),
        ("cutoff_len", cfg.train),
    ):
        if getattr(args, name) is not None:
            setattr(target, name, getattr(args, name))
    for name in ("r", "alpha", "dropout", "target_modules"):
        value = getattr(args, f"lora_{name}")
        if value is not None:
            setattr(cfg.lora, name, value)
    return cfg


def assistant_spans(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of the assistant turns (their end markers
    included, so the model learns to stop)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        head = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
        upto = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if not (text.startswith(head) and text.startswith(upto)):
            raise ValueError("chat template does not render conversations prefix by prefix")
        spans.append((len(head), len(upto.rstrip())))
    return text, spans


def tokenize_chat(tokenizer, messages: list[dict], cutoff_len: int) -> dict:
    text, spans = assistant_spans(tokenizer, messages)
    enc = tokenizer(
        text, add_special_tokens=False, return_offsets_mapping=True, truncation=True, max_length=cutoff_len
    )
    labels = [
        tok if any(a <= start < b for a, b in spans) else -100
        for tok, (start, _) in zip(enc["input_ids"], enc["offset_mapping"], strict=True)
    ]
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}


def load_model(path: str, cfg: ModelConfig, qlora: str):
    import torch
    from transformers import AutoModelForCausalLM

    cuda = torch.cuda.is_available()
    kwargs: dict = {"revision": cfg.revision} if cfg.revision else {}
    use_4bit = qlora == "on" or (qlora == "auto" and cfg.train.load_in_4bit)
    if use_4bit:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            use_4bit = False
        use_4bit = use_4bit and cuda
        if not use_4bit:
            log.warning("QLoRA needs a CUDA GPU and bitsandbytes: training LoRA on full-precision weights")
    if use_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=dtype, device_map="auto" if cuda else None, **kwargs
    )
    if use_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.train.gradient_checkpointing
        )
    elif cfg.train.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    return model, use_4bit


def Budget(minutes: float):
    """A callback that ends training after the first optimizer step past `minutes` of wall-clock time."""
    from transformers import TrainerCallback

    class _Budget(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.deadline = time.time() + 60 * minutes

        def on_step_end(self, args, state, control, **kwargs):
            if time.time() >= self.deadline:
                log.info("wall-clock budget of %s min reached at step %d", minutes, state.global_step)
                control.should_training_stop = True
                control.should_save = True
            return control

    return _Budget()


def train(args: FinetuneArgs) -> Path:
    import torch
    from datasets import load_from_disk
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    set_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = settings(args)
    out = Path(args.output_dir or f"training/out/runs/{cfg.name}")
    path = prepare(cfg, args.source)
    tokenizer = AutoTokenizer.from_pretrained(path, revision=cfg.revision, **cfg.tokenizer)
    apply_template(tokenizer, cfg)

    data = load_from_disk(args.dataset)
    train_ds = data["train"].shuffle(seed=args.seed)
    if args.exclude_ids:
        pattern = re.compile(args.exclude_ids)
        train_ds = train_ds.filter(lambda ex: not pattern.search(ex["id"]))
    if args.max_train_samples:
        train_ds = train_ds.select(range(min(args.max_train_samples, len(train_ds))))
    eval_ds = data.get("validation") if args.max_eval_samples != 0 else None
    if eval_ds is not None and args.max_eval_samples:
        eval_ds = eval_ds.select(range(min(args.max_eval_samples, len(eval_ds))))

    def encode(ds):
        cols = ds.column_names
        ds = ds.map(
            lambda ex: tokenize_chat(tokenizer, ex["messages"], cfg.train.cutoff_len), remove_columns=cols
        )
        return ds.filter(lambda ex: any(label != -100 for label in ex["labels"]))

    train_ds = encode(train_ds)
    eval_ds = encode(eval_ds) if eval_ds is not None else None

    model, used_4bit = load_model(path, cfg, args.qlora)
    lora = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    model.print_trainable_parameters()

    cuda = torch.cuda.is_available()
    accumulation = max(1, cfg.train.batch_size // cfg.train.micro_batch_size)
    targs = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=cfg.train.micro_batch_size,
        per_device_eval_batch_size=cfg.train.micro_batch_size,
        gradient_accumulation_steps=accumulation,
        num_train_epochs=cfg.train.num_train_epochs,
        max_steps=args.max_steps,
        learning_rate=cfg.train.learning_rate,
        lr_scheduler_type=cfg.train.lr_scheduler_type,
        warmup_steps=cfg.train.warmup_ratio,  # a float below 1 is a ratio of all steps
        weight_decay=cfg.train.weight_decay,
        logging_steps=args.logging_steps,
        eval_strategy="steps" if eval_ds is not None else "no",
        eval_steps=args.eval_steps,
        save_strategy="steps",
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        bf16=cuda and torch.cuda.is_bf16_supported(),
        train_sampling_strategy="group_by_length",
        seed=args.seed,
        data_seed=args.seed,
        report_to="none",
        disable_tqdm=False,
        use_cpu=not cuda,
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model,
        args=targs,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
        callbacks=[Budget(args.max_minutes)] if args.max_minutes else None,
    )
    last = get_last_checkpoint(str(out)) if args.resume and out.is_dir() else None
    if last:
        log.info("resuming from %s", last)
    started = time.time()
    result = trainer.train(resume_from_checkpoint=last)
    adapter = out / "adapter"
    trainer.save_model(str(adapter))
    tokenizer.save_pretrained(str(adapter))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    meta = {
        "model": cfg.name,
        "base": cfg.model,
        "base_path": path,
        "revision": cfg.revision,
        "licence": cfg.licence,
        "chat_template": cfg.chat_template,
        "qlora": used_4bit,
        "dataset": str(Path(args.dataset).resolve()),
        "train_examples": len(train_ds),
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "losses": losses,
        "eval_loss": next(
            (h["eval_loss"] for h in reversed(trainer.state.log_history) if "eval_loss" in h), None
        ),
        "seconds": round(time.time() - started, 1),
        "threads": torch.get_num_threads(),
        "max_minutes": args.max_minutes,
        "stopped_by_budget": trainer.state.global_step < trainer.state.max_steps,
        "lora": asdict(cfg.lora),
        "train": asdict(cfg.train),
        "args": asdict(args),
    }
    (adapter / "sori_train.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    log.info("adapter → %s (loss %s → %s)", adapter, losses[:1], losses[-1:])
    return adapter


def main(argv: list[str] | None = None) -> None:
    from transformers import HfArgumentParser

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(FinetuneArgs).parse_args_into_dataclasses(argv)
    print(train(args))
