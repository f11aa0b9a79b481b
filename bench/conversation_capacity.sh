#!/usr/bin/env bash
# Conversational capacity: N callers talking to sori at once (real Korean
# speech clips as their voices, questions with pauses, real STT, replies
# heard), for rising N; prints voice-to-voice p50/p95 per N and where the
# time goes. The capacity is the largest N with v2v p95 <= 1.2 s.
#   bash bench/conversation_capacity.sh [N...]      (default: 1 2 4 6 8)
#   TURNS=8 (per caller)  STT=http (STT in a second sori process over HTTP)
#   SPEAKERS=kih,lmy (default: the speech-ko test speakers who read everyday and
#   service sentences, 2-5 s, as callers ask; SPEAKERS= for every test speaker,
#   whose news and literary readings run 6-16 s)
#   REPLY_CAP=30 (default: each caller hears a reply out before the next question;
#   2.5 talks over it after 2.5 s, as bench/voice_latency.sh does)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NS=("${@:-1 2 4 6 8}")
read -r -a NS <<< "${NS[*]}"
TURNS=${TURNS:-8}
STT_URL=""
if [[ ${STT:-local} == http ]]; then
  # A second sori as the STT server: its HTTP API's /v1/audio/transcriptions
  # on its own whisper worker; the call-handling sori sends each turn there.
  source "$ROOT/bench/common.sh"
  EXTRA_CFG="" launch_sori "$WORK" 5370 8370 40000 40100
  STT_PID=$LAUNCHED_PID
  trap 'kill -TERM $STT_PID 2>/dev/null; wait $STT_PID 2>/dev/null; rm -rf "$WORK"' EXIT
  STT_URL=http://127.0.0.1:8370
  echo "STT: a second sori's /v1/audio/transcriptions at $STT_URL"
fi
for n in "${NS[@]}"; do
  out=$(CALLERS=$n STT_URL=$STT_URL NO_BUILD=${NO_BUILD:-} SPEAKERS=${SPEAKERS-kih,lmy} REPLY_CAP=${REPLY_CAP:-30} bash "$ROOT/bench/voice_latency.sh" "$TURNS" 2>&1)
  v2v=$(grep -m1 "^voice-to-voice" <<< "$out" | awk '{print $(NF-5), $(NF-4), $(NF-3) " turns)"}')
  stt=$(grep -m1 "^STT engine time" <<< "$out" | awk '{print $(NF-1), $NF}')
  wait=$(grep -m1 "^STT wait after end of turn" <<< "$out" | awk '{print $(NF-1), $NF}')
  prem=$(grep -m1 "^premature" <<< "$out" | sed -E 's/^premature[^:]*: ([0-9]+\/[0-9]+ = [0-9.]+ %).*/\1/')
  echo "callers=$n  v2v p50/p95 ms: ${v2v}  STT engine p50/p95: ${stt}  STT wait p50/p95: ${wait}  premature: ${prem}  $(grep -m1 'load average after' <<< "$out")"
done
