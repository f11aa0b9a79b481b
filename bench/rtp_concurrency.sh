#!/usr/bin/env bash
# N concurrent calls, each hearing the greeting as 20 ms RTP packets from
# sori; reports packets sent and how many left more than 5 ms after their
# 20 ms slot (sori's own pacing clock), plus CPU and memory per call.
#   bash bench/rtp_concurrency.sh [N...]     (default: 100 200 300 400)
source "$(dirname "$0")/common.sh"
COUNTS=("${@:-100 200 300 400}")
read -r -a COUNTS <<< "${COUNTS[*]}"
HOLD_MS=${HOLD_MS:-20000}
machine
start_sori
trap 'stop_sori; rm -rf "$WORK"' EXIT
idle_rss=$(rss_kb)
for n in "${COUNTS[@]}"; do
  rate=$(( n / 4 > 50 ? n / 4 : 50 ))
  sent0=$(metric sori_rtp_packets_sent_total); late0=$(metric sori_rtp_packets_late_total)
  sipp -sf "$ROOT/bench/sipp/hold_with_media.xml" 127.0.0.1:$SIP_PORT -s 1339 -i 127.0.0.1 -p 5362 -mp 7000 \
    -r "$rate" -m "$n" -l "$n" -d "$HOLD_MS" -nostdin -timeout 120s -timeout_error >"$WORK/sipp-$n.out" 2>&1 &
  sipp_pid=$!
  # Sample while all calls are up.
  sleep $(( n / rate + 3 ))
  active=$(metric sori_calls_active); rss=$(rss_kb)
  cpu=$(ps -o %cpu= -p $SORI_PID | xargs)
  top_cpu=$(top -b -n 2 -d 3 -p $SORI_PID | awk -v p=$SORI_PID '$1==p{c=$9} END{print c}')
  wait $sipp_pid && ok=ok || ok=FAILED
  sent=$(( $(metric sori_rtp_packets_sent_total) - sent0 )); late=$(( $(metric sori_rtp_packets_late_total) - late0 ))
  pct=$(awk -v l=$late -v s=$sent 'BEGIN{ if (s>0) printf "%.3f", 100*l/s; else print "n/a" }')
  echo "calls=$n active-at-peak=$active packets=$sent late>5ms=$late (${pct}%) sori-cpu=${top_cpu}% rss=$((rss/1024)) MB (+$(( (rss - idle_rss) / n )) kB/call) sipp=$ok"
done
echo "send lateness histogram (all runs):"
curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | grep '^sori_rtp_send_lateness_ms_bucket'
