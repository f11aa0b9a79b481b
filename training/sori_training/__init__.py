"""sori's ML half: dataset builder, LoRA fine-tuning, evaluation and GGUF export."""

import os

# OpenMP threads that spin while they wait make PyTorch on CPU several times slower whenever another
# process (a cargo build, a test) shares the cores; passive waiting costs little when they are free.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
