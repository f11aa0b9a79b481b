#!/usr/bin/env bash
# Conversational capacity: N callers talking to sori at once (real Korean
# speech clips as their voices, questions with pauses, real STT, replies
# heard), for rising N; prints voice-to-voice p50/p95 per N and where the
# time goes. The capacity is the largest N with v2v p95 <= 1.2 s.
#   bash bench/conversation_capacity.sh [N...]      (default: 1 2 4 6 8)
#   TURNS=8 (per caller)  STT=http (STT in a second sori process over HTTP)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NS=("${@:-1 2 4 6 8}")
read -r -a NS <<< "${NS[*]}"
TURNS=${TURNS:-8}
STT_URL=""
if [[ ${STT:-local} == http ]]; then
  # A second sori as the STT server: its HTTP API's /v1/audio/transcriptions
  # on its own whisper worker; the call-handling sori sends each turn there.
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sori/target}
  SORI_BIN=${SORI_BIN:-$CARGO_TARGET_DIR/release/sori}
  STT_DIR=$(mktemp -d /tmp/sori-stt-server.XXXXXX)
  cat > "$STT_DIR/sori.toml" <<CFG
[sip]
bind = "127.0.0.1"
port = 5370
[rtp]
port_min = 40000
port_max = 40100
[dialplan]
path = "$ROOT/dialplan/1339.toml"
[kb]
path = "$ROOT/kb/1339.toml"
[tts]
cache_dir = "$ROOT/cache/prompts"
[store]
path = "$STT_DIR/calls.sqlite"
[log]
level = "warn"
[http]
bind = "127.0.0.1:8370"
CFG
  "$SORI_BIN" serve --config "$STT_DIR/sori.toml" 2> "$STT_DIR/sori.log" &
  STT_PID=$!
  trap 'kill -TERM $STT_PID 2>/dev/null; wait $STT_PID 2>/dev/null; rm -rf "$STT_DIR"' EXIT
  for _ in $(seq 1 300); do curl -sf http://127.0.0.1:8370/healthz >/dev/null 2>&1 && break; sleep 0.1; done
  STT_URL=http://127.0.0.1:8370
  echo "STT: a second sori's /v1/audio/transcriptions at $STT_URL"
fi
for n in "${NS[@]}"; do
  out=$(CALLERS=$n STT_URL=$STT_URL NO_BUILD=${NO_BUILD:-} bash "$ROOT/bench/voice_latency.sh" "$TURNS" 2>&1)
  v2v=$(grep -m1 "^voice-to-voice" <<< "$out" | awk '{print $(NF-5), $(NF-4), $(NF-3) " turns)"}')
  stt=$(grep -m1 "^STT engine time" <<< "$out" | awk '{print $(NF-1), $NF}')
  wait=$(grep -m1 "^STT wait after end of turn" <<< "$out" | awk '{print $(NF-1), $NF}')
  prem=$(grep -m1 "^premature" <<< "$out" | sed 's/.*: //; s/ (.*//')
  echo "callers=$n  v2v p50/p95 ms: ${v2v}  STT engine p50/p95: ${stt}  STT wait p50/p95: ${wait}  premature: ${prem}  $(grep -m1 'load average after' <<< "$out")"
done
