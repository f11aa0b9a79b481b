#!/usr/bin/env bash
# Voice-to-voice latency and premature replies on real calls: a SIP caller
# (bench/voice_caller.py, PCMU over loopback) plays real Korean speech clips
# and times "caller stops speaking → first audible RTP packet of the reply";
# a reply that starts while the clip still has speech to come is premature.
# Stage breakdown from sori's turn records (SQLite).
#   bash bench/voice_latency.sh [TURNS]            (default 40)
#   SPLIT=tune bash bench/voice_latency.sh 40      (clips to tune on; report on test, the default)
#   SPEAKERS=kih,lmy ...                           (only those speakers: kih/lmy read everyday and service sentences)
#   PAUSE_SHARE=0.5 PAUSE_MS=400-700               (clips given a silence mid-sentence; defaults)
#   VAD='korean_endings = false' bash ...          (extra [vad] lines: the plain-silence baseline)
#   LLM=smollm2-135m bash ...                      (grounded LLM rephrasing on)
#   SPECULATIVE=0 ...                              (no speculative STT at pauses)
#   VOICE=espeak ...                               (the 8 espeak-ng questions instead of real speech)
#   NO_BUILD=1 ...                                 (use the release binaries as they are)
#   STT_THREADS=1 ...                              (whisper threads; default: [stt] threads)
#   HOLD_MS=1400 ...                               ([fallback] hold_ms; default: out of reach, the reply is timed)
#   CALLERS=4 ...                                  (that many callers at once, TURNS each: bench/conversation_capacity.sh)
#   STT_URL=http://127.0.0.1:8370 ...              (STT from that OpenAI-compatible server instead of local workers)
# Real speech: $SPEECH_KO (default /work/shared/speech-ko; emotiontts_open_db,
# KAIST / Selvas AI, CC BY-NC-SA 4.0, evaluation only): read from there at run
# time, converted to 8 kHz under a temporary directory, never copied into the repository.
source "$(dirname "$0")/common.sh"
TURNS=${1:-40}
SPLIT=${SPLIT:-test}
SPEECH_KO=${SPEECH_KO:-/work/shared/speech-ko}
PAUSE_SHARE=${PAUSE_SHARE:-0.5}
PAUSE_MS=${PAUSE_MS:-400-700}
REPLY_CAP=${REPLY_CAP:-2.5}
cd "$ROOT"
[[ -n ${NO_BUILD:-} ]] || cargo build --quiet --release --locked -p sori -p sori-stt ${LLM:+-p sori-llm}
"$SORI_BIN" models fetch whisper-base silero-vad ${LLM:+$LLM} >/dev/null
EXTRA_CFG=""
if [[ -n ${LLM:-} ]]; then
  EXTRA_CFG=$'[llm]\nengine = "local"\nmodel = "'"$LLM"$'"\nthreads = 1\n'
fi
# STT_THREADS=1 when other work shares the cores: ggml's threads spin at their
# barriers and a 2-thread worker on 2 busy cores can take 10× longer.
# STT_URL=http://host:port: transcripts from an OpenAI-compatible server
# (another sori's /v1/audio/transcriptions) instead of local workers.
if [[ -n ${STT_THREADS:-}${STT_URL:-} ]]; then
  EXTRA_CFG+=$'[stt]\n'${STT_THREADS:+"threads = $STT_THREADS"$'\n'}${STT_URL:+"engine = \"http\""$'\n'"url = \"$STT_URL\""$'\n'}
fi
# The hold phrase ([fallback] hold_ms, said when no reply is ready 1.4 s after
# the caller stopped) would be timed as the reply: put it out of reach here.
EXTRA_CFG+=$'[fallback]\nhold_ms = '"${HOLD_MS:-60000}"$'\ngive_up_ms = '"$(( ${HOLD_MS:-60000} + 60000 ))"$'\n'
EXTRA_CFG+=$'[vad]\n'"${VAD:-}"$'\n'
if [[ ${SPECULATIVE:-1} == 0 ]]; then
  EXTRA_CFG+=$'early_silence_ms = 0\n'
fi
export EXTRA_CFG
mkdir -p "$WORK/clips"
if [[ ${VOICE:-real} == espeak ]]; then
  i=0
  while IFS= read -r q; do
    [[ -z $q || $q == \#* ]] && continue
    i=$((i + 1))
    "$SORI_BIN" say "$q" -o "$WORK/clips/q$i.wav" >/dev/null
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
  ls "$WORK"/clips/q*.wav > "$WORK/clips.txt"
else
  [[ -f $SPEECH_KO/transcripts.tsv ]] || { echo "no $SPEECH_KO/transcripts.tsv (or run with VOICE=espeak)"; exit 1; }
  # TURNS clips of the split, speakers interleaved (fixed order: same clips every run).
  python3 - "$SPEECH_KO/transcripts.tsv" "$SPLIT" "$TURNS" "${SPEAKERS:-}" > "$WORK/picked.tsv" <<'PY'
import csv, random, sys
speakers = set(filter(None, sys.argv[4].split(",")))
rows = [r for r in csv.DictReader(open(sys.argv[1], encoding="utf-8"), delimiter="\t")
        if r["split"] == sys.argv[2] and (not speakers or r["speaker"] in speakers)]
random.Random(1339).shuffle(rows)
for r in rows[: int(sys.argv[3])]:
    print(r["file"], r["transcript"], sep="\t")
PY
  while IFS=$'\t' read -r f _; do
    out="$WORK/clips/$(basename "$f")"
    sox "$SPEECH_KO/$f" -r 8000 -c 1 -b 16 "$out"
    echo "$out"
  done < "$WORK/picked.tsv" > "$WORK/clips.txt"
fi
machine
echo "command: CALLERS=${CALLERS:-1} STT_URL=${STT_URL:-} STT_THREADS=${STT_THREADS:-} TURNS=$TURNS SPLIT=$SPLIT SPEAKERS=${SPEAKERS:-} PAUSE_SHARE=$PAUSE_SHARE PAUSE_MS=$PAUSE_MS VAD='${VAD:-}' bash bench/voice_latency.sh $TURNS"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# sori's end-of-turn decisions (stream times) and ending hints, to tell cut turns.
export RUST_LOG=${RUST_LOG:-warn,sori::server::call=debug,sori::server::sip_io=info}
start_sori
trap 'stop_sori; rm -rf "$WORK"' EXIT
mapfile -t CLIPS < "$WORK/clips.txt"
# CALLERS=N: N callers talking at once, each TURNS turns (seeds differ).
CALLERS=${CALLERS:-1}
# Each starts 0.7 s after the previous one, at another clip.
callers=()
for c in $(seq 1 "$CALLERS"); do
  k=$(( (c - 1) * 5 % ${#CLIPS[@]} ))
  python3 "$ROOT/bench/voice_caller.py" --port "$SIP_PORT" --turns "$TURNS" --reply-cap "$REPLY_CAP" \
    --pause-share "$PAUSE_SHARE" --pause-ms "$PAUSE_MS" --seed "$c" "${CLIPS[@]:k}" "${CLIPS[@]:0:k}" > "$WORK/turns-$c.jsonl" &
  callers+=($!)
  sleep 0.7
done
wait "${callers[@]}"
cat "$WORK"/turns-*.jsonl > "$WORK/turns.jsonl"
sleep 1
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[[ -n ${KEEP_TURNS:-} ]] && cp "$WORK/turns.jsonl" "$KEEP_TURNS"
[[ -n ${KEEP_LOG:-} ]] && cp "$WORK/sori.log" "$KEEP_LOG"
python3 - "$WORK/turns.jsonl" "$WORK/calls.sqlite" "${KEEP_DB:-}" "$WORK/sori.log" <<'PY'
import collections, json, re, sqlite3, sys
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))] if xs else float("nan")
turns = [json.loads(l) for l in open(sys.argv[1])]
# sori's turn ends per call, from its log (stream time since it answered).
ends, hints, withdrawn, unspoken, gone = collections.defaultdict(list), collections.Counter(), 0, 0, set()
for line in open(sys.argv[4], errors="replace"):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    m = re.search(r"call_id=([^}\s]+).*caller turn ended.*start_ms=(\d+) end_ms=(\d+)", line)
    if m:
        ends[m.group(1)].append(int(m.group(3)))
        gone.discard(m.group(1))
    # The caller talked on before the reply to that end was heard (or in its
    # first second): sori withdrew it and the turn went on — not a reply.
    m = re.search(r"call_id=([^}\s]+).*turn continues", line)
    if m and ends[m.group(1)]:
        if m.group(1) not in gone:
            ends[m.group(1)].pop()
        gone.discard(m.group(1))
        withdrawn += 1
        continue
    # A reply decided while a goodbye or transfer announcement played is not
    # said: that turn end was not answered either.
    m = re.search(r"call_id=([^}\s]+).*reply not spoken", line)
    if m and ends[m.group(1)] and m.group(1) not in gone:
        ends[m.group(1)].pop()
        gone.add(m.group(1))
        unspoken += 1
    m = re.search(r"turn hint hint=(\w+)", line)
    if m:
        hints[m.group(1)] += 1
# A clip is cut (a premature end of turn) when sori ended a turn, and kept its
# reply, while the clip still had speech to come: two ends inside it, or one 300 ms before its last
# audible packet. Replies to the first part may come late (slow STT), so this is
# read from sori's decisions, not from when the reply audio arrived.
for t in turns:
    mine = [e for e in ends.get(t["call"], []) if t["t0_ms"] < e <= t["t1_ms"] + 3000]
    t["ends"] = len(mine)
    t["cut"] = len(mine) >= 2 or any(e < t["t1_ms"] - 300 for e in mine)
judged = [t for t in turns if t["ends"] and not t.get("overlap")]
cut = [t for t in judged if t["cut"]]
paused = [t for t in judged if t.get("pause_ms")]
clean = [t["v2v_ms"] for t in judged if not t["cut"] and not t.get("premature") and t["v2v_ms"] is not None]
db = sqlite3.connect(sys.argv[2])
if sys.argv[3]:
    db.backup(sqlite3.connect(sys.argv[3]))
rows = db.execute("SELECT stt_ms, stt_wait_ms, llm_ms, tts_ms, respond_ms, answer_source, action FROM turns").fetchall()
print(f"clips played: {len(turns)}; judged: {len(judged)} (not heard: {sum(1 for t in turns if not t['ends'])}, "
      f"barge-in overlap: {sum(1 for t in turns if t.get('overlap'))}); sori turn records: {len(rows)}")
share = 100 * len(cut) / max(1, len(judged))
pcut = sum(1 for t in paused if t["cut"])
print(f"premature (a turn end answered while the clip had speech to come): {len(cut)}/{len(judged)} = {share:.1f} % "
      f"(clips with an inserted pause: {pcut}/{len(paused)}; without: {len(cut) - pcut}/{len(judged) - len(paused)})")
heard_during = sum(1 for t in judged if t.get("premature"))
print(f"reply audio heard while the caller was still speaking: {heard_during}/{len(judged)} (incl. late replies to an earlier cut)")
print(f"replies withdrawn because the caller talked on (their turn went on): {withdrawn}; "
      f"not said (an announcement was playing): {unspoken}")
print("ending hints:", ", ".join(f"{k}={v}" for k, v in sorted(hints.items())) or "none")
print(f"{'stage':44} {'p50':>7} {'p95':>7}")
print(f"{'voice-to-voice (caller stops -> reply RTP)':44} {pct(clean, .5):7.0f} {pct(clean, .95):7.0f}   ({len(clean)} turns not cut)")
cols = ["STT engine time (whole utterance)", "STT wait after end of turn", "dialogue (route + LLM)", "TTS first chunk", "end of turn detected -> reply queued"]
for i, name in enumerate(cols):
    xs = [r[i] for r in rows]
    print(f"{name:44} {pct(xs, .5):7.0f} {pct(xs, .95):7.0f}")
resp = pct([r[4] for r in rows], .5)
print(f"{'endpointing + jitter + pacing (v2v - above)':44} {pct(clean, .5) - resp:7.0f}")
src = {}
for r in rows:
    src[(r[6], r[5])] = src.get((r[6], r[5]), 0) + 1
print("actions/sources:", ", ".join(f"{a}/{s}={n}" for (a, s), n in sorted(src.items())))
PY
