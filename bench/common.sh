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

start_sori() {
  [[ -x $SORI_BIN ]] || (cd "$ROOT" && cargo build --release --locked)
  cat > "$WORK/sori.toml" <<CFG
[sip]
bind = "127.0.0.1"
port = $SIP_PORT
max_calls = 5000
max_calls_per_source = 0   # the load comes from one address
invite_rate = 0
options_rate = 0
[rtp]
port_min = 30000
port_max = 39998
[dialplan]
path = "$ROOT/dialplan/1339.toml"
[kb]
path = "$ROOT/kb/1339.toml"
[tts]
cache_dir = "$ROOT/cache/prompts"
[store]
path = "$WORK/calls.sqlite"
[log]
level = "warn"
[http]
bind = "127.0.0.1:$HTTP_PORT"
${EXTRA_CFG:-}
CFG
  ulimit -n 65536 2>/dev/null || true
  "$SORI_BIN" serve --config "$WORK/sori.toml" 2> "$WORK/sori.log" &
  SORI_PID=$!
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "sori did not start:"; cat "$WORK/sori.log"; exit 1
}

stop_sori() {
  kill -TERM "$SORI_PID" 2>/dev/null || true
  wait "$SORI_PID" 2>/dev/null || true
}

rss_kb() { awk '/VmRSS/{print $2}' /proc/"$SORI_PID"/status; }
fds() { ls /proc/"$SORI_PID"/fd | wc -l; }
metric() { curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1==m{print $2}'; }
