#!/usr/bin/env bash
# Voice-to-voice latency on real calls: a SIP caller (bench/voice_caller.py,
# PCMU over loopback) asks Korean questions (espeak-ng through sori's own
# `say`, 8 kHz) and times "caller stops speaking → first audible RTP packet
# of the reply". Stage breakdown from sori's turn records (SQLite).
#   bash bench/voice_latency.sh [TURNS]        (default 24)
#   LLM=smollm2-135m bash bench/voice_latency.sh   (grounded LLM rephrasing on)
#   SPECULATIVE=0 ...                           (no speculative STT at pauses)
source "$(dirname "$0")/common.sh"
TURNS=${1:-24}
cd "$ROOT"
cargo build --quiet --release --locked -p sori -p sori-stt ${LLM:+-p sori-llm}
"$SORI_BIN" models fetch whisper-base silero-vad ${LLM:+$LLM} >/dev/null
EXTRA_CFG=""
if [[ -n ${LLM:-} ]]; then
  EXTRA_CFG=$'[llm]\nengine = "local"\nmodel = "'"$LLM"$'"\nthreads = 1\n'
fi
if [[ ${SPECULATIVE:-1} == 0 ]]; then
  EXTRA_CFG+=$'[vad]\nearly_silence_ms = 0\n'
fi
export EXTRA_CFG
i=0
while IFS= read -r q; do
  [[ -z $q || $q == \#* ]] && continue
  i=$((i + 1))
  "$SORI_BIN" say "$q" -o "$WORK/q$i.wav" >/dev/null
done <<'QUESTIONS'
# Callers' questions (kb/heldout.toml style, not the KB's own variants)
코로나 검사는 어디서 받을 수 있나요
독감 예방접종은 언제 맞아야 하나요
아이가 수두에 걸린 것 같아요
해외여행 다녀와서 열이 나요
진드기에 물렸는데 어떻게 해야 하나요
홍역 예방접종 몇 번 맞아요
모기 물리고 열이 나는데 말라리아일까요
결핵 검사는 어디서 해요
QUESTIONS
machine
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start_sori
trap 'stop_sori; rm -rf "$WORK"' EXIT
python3 "$ROOT/bench/voice_caller.py" --port "$SIP_PORT" --turns "$TURNS" "$WORK"/q*.wav > "$WORK/turns.jsonl"
sleep 1
python3 - "$WORK/turns.jsonl" "$WORK/calls.sqlite" <<'PY'
import json, sqlite3, sys
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))] if xs else float("nan")
turns = [json.loads(l) for l in open(sys.argv[1])]
v2v = [t["v2v_ms"] for t in turns if t["v2v_ms"] is not None]
db = sqlite3.connect(sys.argv[2])
rows = db.execute("SELECT stt_ms, stt_wait_ms, llm_ms, tts_ms, respond_ms, answer_source, action FROM turns").fetchall()
print(f"turns measured: {len(v2v)} (no reply: {len(turns) - len(v2v)}); sori turn records: {len(rows)}")
print(f"{'stage':44} {'p50':>7} {'p95':>7}")
print(f"{'voice-to-voice (caller stops -> reply RTP)':44} {pct(v2v, .5):7.0f} {pct(v2v, .95):7.0f}")
cols = ["STT engine time (whole utterance)", "STT wait after end of turn", "dialogue (route + LLM)", "TTS first chunk", "end of turn detected -> reply queued"]
for i, name in enumerate(cols):
    xs = [r[i] for r in rows]
    print(f"{name:44} {pct(xs, .5):7.0f} {pct(xs, .95):7.0f}")
resp = pct([r[4] for r in rows], .5)
print(f"{'endpointing + jitter + pacing (v2v - above)':44} {pct(v2v, .5) - resp:7.0f}")
src = {}
for r in rows:
    src[(r[6], r[5])] = src.get((r[6], r[5]), 0) + 1
print("actions/sources:", ", ".join(f"{a}/{s}={n}" for (a, s), n in sorted(src.items())))
PY
