"""sori's ML half: dataset builder, LoRA fine-tuning, evaluation and GGUF export."""
