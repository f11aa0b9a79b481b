#!/usr/bin/env bash
# STT real-time factor per model on this machine: whisper.cpp in the sori-stt
# worker (release build), greedy, 2 threads, one worker. Audio: jfk.wav (11 s
# English) for tiny.en and base, and a Korean espeak-ng sentence sent through
# 8 kHz μ-law (what a caller sounds like) for base.
# RTF = processing time / audio duration (lower is faster; < 1 is real time).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sori/target}"
cargo build --quiet --release --locked -p sori -p sori-stt
SORI="$CARGO_TARGET_DIR/release/sori"
THREADS=${THREADS:-2}
REPEAT=${REPEAT:-4}
"$SORI" models fetch whisper-tiny-en whisper-base jfk-wav >/dev/null
JFK=$("$SORI" models path jfk-wav)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$SORI" say "코로나 검사는 어디서 받을 수 있나요? 열이 나고 기침이 계속 납니다." -o "$TMP/ko8k.wav" >/dev/null
# the G.711 μ-law round trip a phone call adds, back to 16-bit PCM
sox "$TMP/ko8k.wav" -e u-law "$TMP/ulaw.wav" && sox "$TMP/ulaw.wav" -e signed -b 16 "$TMP/ko-ulaw.wav"

echo "# STT RTF — $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), threads=$THREADS, runs=$REPEAT (first excluded), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in "whisper-tiny-en en $JFK" "whisper-base en $JFK" "whisper-base ko $TMP/ko-ulaw.wav"; do
  set -- $run
  printf '%-16s %-3s %-14s ' "$1" "$2" "$(basename "$3")"
  "$SORI" transcribe --model "$1" --language "$2" --threads "$THREADS" --repeat "$REPEAT" "$3" 2>&1 >/dev/null | sed 's/^[^:]*: //'
done
