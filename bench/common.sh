# Shared helpers for the benchmark scripts: start a release sori on loopback
# with a throw-away config, read its memory / fd / metrics.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sori/target}
SORI_BIN=${SORI_BIN:-$CARGO_TARGET_DIR/release/sori}
WORK=$(mktemp -d /tmp/sori-bench.XXXXXX)
SIP_PORT=${SIP_PORT:-5360}
HTTP_PORT=${HTTP_PORT:-8360}

machine() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB"
}

# launch_sori DIR SIP_PORT HTTP_PORT RTP_MIN RTP_MAX: a release sori on
# loopback with a throw-away config (plus $EXTRA_CFG) and its store in DIR;
# waits for /healthz and sets LAUNCHED_PID.
launch_sori() {
  local dir=$1 sip=$2 http=$3 rtp_min=$4 rtp_max=$5
  [[ -x $SORI_BIN ]] || (cd "$ROOT" && cargo build --release --locked)
  cat > "$dir/sori.toml" <<CFG
[sip]
bind = "127.0.0.1"
port = $sip
max_calls = 5000
max_calls_per_source = 0   # the load comes from one address
invite_rate = 0
options_rate = 0
[rtp]
port_min = $rtp_min
port_max = $rtp_max
[dialplan]
path = "$ROOT/dialplan/1339.toml"
[kb]
path = "$ROOT/kb/1339.toml"
[tts]
cache_dir = "$ROOT/cache/prompts"
[store]
path = "$dir/calls.sqlite"
[log]
level = "warn"
[http]
bind = "127.0.0.1:$http"
${EXTRA_CFG:-}
CFG
  ulimit -n 65536 2>/dev/null || true
  "$SORI_BIN" serve --config "$dir/sori.toml" 2> "$dir/sori.log" &
  LAUNCHED_PID=$!
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$http/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "sori did not start:"; cat "$dir/sori.log"; exit 1
}

start_sori() {
  launch_sori "$WORK" "$SIP_PORT" "$HTTP_PORT" 30000 39998
  SORI_PID=$LAUNCHED_PID
}

stop_sori() {
  kill -TERM "$SORI_PID" 2>/dev/null || true
  wait "$SORI_PID" 2>/dev/null || true
}

rss_kb() { awk '/VmRSS/{print $2}' /proc/"$SORI_PID"/status; }
fds() { ls /proc/"$SORI_PID"/fd | wc -l; }
metric() { curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1==m{print $2}'; }
