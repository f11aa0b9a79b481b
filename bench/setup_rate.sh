#!/usr/bin/env bash
# Call setups per second while every call hears the greeting: SIPp places
# calls at rising rates, each answered, playing the greeting as paced RTP for
# HOLD_MS, then BYE. Reports failed calls, late packets (> 5 ms after their
# 20 ms slot) and sori's CPU per rate.
#   bash bench/setup_rate.sh [RATES...]     (default: 50 100 150 200 300)
source "$(dirname "$0")/common.sh"
RATES=("${@:-50 100 150 200 300}")
read -r -a RATES <<< "${RATES[*]}"
SECS=${SECS:-10}
HOLD_MS=${HOLD_MS:-4000}
machine
start_sori
trap 'stop_sori; rm -rf "$WORK"' EXIT
best=0
for rate in "${RATES[@]}"; do
  n=$((rate * SECS))
  sent0=$(metric sori_rtp_packets_sent_total); late0=$(metric sori_rtp_packets_late_total)
  if sipp -sf "$ROOT/bench/sipp/hold_with_media.xml" 127.0.0.1:$SIP_PORT -s 1339 -i 127.0.0.1 -p 5363 -mp 7000 \
      -r "$rate" -m "$n" -l $((rate * (HOLD_MS / 1000 + 2))) -d "$HOLD_MS" -nostdin -timeout 90s -timeout_error \
      >"$WORK/sipp-$rate.out" 2>&1; then status=ok; else status=FAILED; fi
  failed=$(grep -E "^ +Failed call" "$WORK/sipp-$rate.out" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  sent=$(( $(metric sori_rtp_packets_sent_total) - sent0 )); late=$(( $(metric sori_rtp_packets_late_total) - late0 ))
  pct=$(awk -v l=$late -v s=$sent 'BEGIN{ if (s>0) printf "%.3f", 100*l/s; else print "n/a" }')
  echo "rate=${rate}/s calls=$n failed=${failed:-?} packets=$sent late>5ms=$late (${pct}%) -> $status"
  [[ $status == ok ]] || break
  awk -v p="$pct" 'BEGIN{ exit !(p != "n/a" && p < 0.1) }' && best=$rate
  sleep 3
done
echo "highest setup rate with every call answered, hearing the greeting, < 0.1 % late packets: ${best}/s (SIPp and sori share the $(nproc) cores)"
