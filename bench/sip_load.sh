#!/usr/bin/env bash
# Signalling-only load: SIPp calls INVITE/200/ACK/BYE (media inactive) at
# rising rates; reports the highest rate with 0 failed calls, then checks
# that nothing is kept per finished call (memory and open files).
#   bash bench/sip_load.sh [RATES...]     (default: 250 500 750 1000 1250 1500 2000)
source "$(dirname "$0")/common.sh"
RATES=("${@:-250 500 750 1000 1250 1500 2000}")
read -r -a RATES <<< "${RATES[*]}"
SECS=${SECS:-6}
machine
start_sori
trap 'stop_sori; rm -rf "$WORK"' EXIT

# Warm up (first calls allocate the runtime's pools), then measure idle state.
sipp -sf "$ROOT/bench/sipp/signalling_only.xml" 127.0.0.1:$SIP_PORT -s 1339 -i 127.0.0.1 -p 5361 \
  -r 50 -m 200 -nostdin -timeout 30s >/dev/null 2>&1 || true
sleep 42   # RFC 3261 Timer J (64*T1) lets the warm-up transactions go
idle_rss=$(rss_kb); idle_fd=$(fds)
echo "idle after warm-up: rss=${idle_rss} kB fds=${idle_fd}"

best=0; total=0
for rate in "${RATES[@]}"; do
  n=$((rate * SECS))
  start=$(date +%s.%N)
  if sipp -sf "$ROOT/bench/sipp/signalling_only.xml" 127.0.0.1:$SIP_PORT -s 1339 -i 127.0.0.1 -p 5361 \
      -r "$rate" -m "$n" -l $((rate * 4)) -nostdin -timeout 60s -timeout_error \
      -trace_stat -stf "$WORK/stat-$rate.csv" >"$WORK/sipp-$rate.out" 2>&1; then
    status=ok; best=$rate
  else
    status=FAILED
  fi
  end=$(date +%s.%N)
  total=$((total + n))
  failed=$(grep -E "^ +Failed call" "$WORK/sipp-$rate.out" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  achieved=$(awk -v n="$n" -v s="$start" -v e="$end" 'BEGIN{printf "%.0f", n/(e-s)}')
  echo "rate=${rate}/s calls=$n failed=${failed:-?} wall-rate=${achieved}/s cpu(sori)=$(ps -o %cpu= -p $SORI_PID | xargs)% -> $status"
  [[ $status == ok ]] || break
done
echo "highest call rate with 0 failed calls: ${best}/s (signalling only, SIPp and sori share the $(nproc) cores)"

sleep 42
after_rss=$(rss_kb); after_fd=$(fds)
echo "after ${total} calls + 42 s: rss=${after_rss} kB (idle ${idle_rss} kB, delta $(( (after_rss - idle_rss) / 1024 )) MB) fds=${after_fd} (idle ${idle_fd})"
echo "SIP state entries held: $(metric sori_sip_state_entries)"
# A second identical round shows whether memory grows per call or plateaus
# (allocator and SQLite page cache keep a fixed working set).
for rate in "${RATES[@]}"; do
  [[ $rate -le $best ]] || break
  sipp -sf "$ROOT/bench/sipp/signalling_only.xml" 127.0.0.1:$SIP_PORT -s 1339 -i 127.0.0.1 -p 5361 \
    -r "$rate" -m $((rate * SECS)) -l $((rate * 4)) -nostdin -timeout 60s >/dev/null 2>&1 || true
  total=$((total + rate * SECS))
done
sleep 42
echo "after a second round (${total} calls in all) + 42 s: rss=$(rss_kb) kB fds=$(fds) SIP state entries=$(metric sori_sip_state_entries)"
echo "calls recorded: $(sqlite3 "$WORK/calls.sqlite" 'select count(*) from calls')"
