#!/usr/bin/env bash
# The README's two commands on a "fresh machine": a clone of this repository's
# HEAD in a temporary directory, with an empty cargo target dir, an empty models
# directory and an empty training venv, so nothing left over from earlier
# builds (worker binaries, fetched or hand-copied models, prompt and embedding
# caches, a venv) can make them pass. Each step is timed.
#
#   scripts/test-fresh.sh [run] [test]     (default: run test, in README order)
#
#   run   `make run` in the background until sori logs "sori is listening",
#         then stops it (SIGTERM to its process group).
#   test  `make test`.
#
# Environment:
#   SORI_FRESH_DIR     where to work (default: a new mktemp -d; removed on
#                      success unless SORI_FRESH_KEEP=1, kept on failure)
#   SORI_FRESH_CONFIG  config for `make run`; default: the clone's sori.toml
#                      with SIP/HTTP/RTP moved to free loopback ports, so that
#                      a sori already running on this machine does not clash
#   SORI_FRESH_RUN_TIMEOUT  seconds `make run` may take to listen (default 5400)
#
# Kept (they only save downloads, not work): Debian packages
# (scripts/install-deps.sh still runs and checks them), cargo's registry
# (~/.cargo), pip's and npm's download caches.
# Takes ~1 hour of both cores on a 2-core machine: not run by `make test`.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
steps=("$@")
((${#steps[@]})) || steps=(run test)
for s in "${steps[@]}"; do
  [[ $s == run || $s == test ]] || { echo "test-fresh: unknown step $s (use: run, test)" >&2; exit 2; }
done

head=$(git -C "$repo" rev-parse HEAD)
if [[ -n $(git -C "$repo" status --porcelain --untracked-files=no) ]]; then
  echo "test-fresh: note: uncommitted changes in $repo are not tested (HEAD is $head)" >&2
fi

root=${SORI_FRESH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/sori-fresh.XXXXXX")}
mkdir -p "$root"
clone=$root/sori
logs=$root/logs
mkdir -p "$logs"
[[ ! -e $clone ]] || { echo "test-fresh: $clone exists; use an empty SORI_FRESH_DIR" >&2; exit 2; }

# Everything the build, the model fetcher, the training CI and the tests
# would otherwise reuse from earlier runs.
export CARGO_TARGET_DIR=$root/target
export SORI_MODELS_DIR=$root/models     # sori, scripts/fetch-*.sh
export SORI_MODELS_CACHE=$root/models   # training/ (its offline GGUF cache)
export SORI_VENV=$root/venv             # training/ci.sh
export SORI_WEBUI_VENV=$root/webui-venv # webui/ci.sh
unset SORI_E2E_OUT SORI_LLM_BIN ORT_DYLIB_PATH SORI_PYTHON
mkdir -p "$CARGO_TARGET_DIR" "$SORI_MODELS_DIR"

run_pid=
stop_run() {
  [[ -n $run_pid ]] || return 0
  local pgid=$run_pid killer
  run_pid=
  # make, cargo's children and sori with its workers share this process
  # group (setsid below). SIGTERM: sori refuses new calls and exits cleanly.
  kill -TERM -- "-$pgid" 2>/dev/null || true
  (sleep 20 && kill -KILL -- "-$pgid" 2>/dev/null) &
  killer=$!
  wait "$pgid" 2>/dev/null || true
  # make is reaped; wait for the rest of the group (sori, its workers).
  for _ in $(seq 50); do
    kill -0 -- "-$pgid" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  kill "$killer" 2>/dev/null || true
  wait "$killer" 2>/dev/null || true
}
ok=0
finish() {
  stop_run
  if ((ok)) && [[ ${SORI_FRESH_KEEP:-0} != 1 && -z ${SORI_FRESH_DIR:-} ]]; then
    rm -rf "$root"
  else
    echo "test-fresh: work directory kept: $root (logs in $logs)" >&2
  fi
}
trap finish EXIT
trap 'exit 130' INT TERM

declare -a summary=()
timed() { # timed NAME SECONDS STATUS
  summary+=("$(printf '%-34s %6d s  %s' "$1" "$2" "$3")")
  printf 'test-fresh: %s: %d s (%s)\n' "$1" "$2" "$3"
}

echo "test-fresh: cloning $head into $clone"
t0=$SECONDS
git clone --quiet --no-checkout "$repo" "$clone"
git -C "$clone" checkout --quiet --detach "$head"
timed "clone" $((SECONDS - t0)) ok

free_port() { # a port free for TCP and UDP on loopback, and its successor
  python3 - <<'PY'
import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    if p % 2 or p > 64000:
        u.close()
        continue
    try:
        for kind, port in ((socket.SOCK_STREAM, p), (socket.SOCK_DGRAM, p + 1)):
            s = socket.socket(socket.AF_INET, kind)
            s.bind(("127.0.0.1", port))
            s.close()
    except OSError:
        u.close()
        continue
    u.close()
    print(p)
    break
PY
}

run_config() {
  if [[ -n ${SORI_FRESH_CONFIG:-} ]]; then
    echo "$SORI_FRESH_CONFIG"
    return
  fi
  local sip http rtp cfg=$clone/sori-fresh.toml
  if ! { sip=$(free_port) && http=$(free_port); }; then
    echo "test-fresh: no free port" >&2
    exit 1
  fi
  rtp=$((30000 + (sip % 300) * 100))
  sed -e 's/^bind = "0\.0\.0\.0"/bind = "127.0.0.1"/' \
    -e "s/^port = 5060\$/port = $sip/" \
    -e "s/^port_min = 20000\$/port_min = $rtp/" \
    -e "s/^port_max = 20999\$/port_max = $((rtp + 98))/" \
    -e "s/^bind = \"127\\.0\\.0\\.1:8080\"/bind = \"127.0.0.1:$http\"/" \
    "$clone/sori.toml" >"$cfg"
  # Every line must have been rewritten, or sori.toml changed under us.
  local want
  for want in 'bind = "127.0.0.1"' "port = $sip" "port_min = $rtp" "bind = \"127.0.0.1:$http\""; do
    grep -qxF "$want" <(sed 's/[[:space:]]*#.*//; s/[[:space:]]*$//' "$cfg") || {
      echo "test-fresh: could not move ports in sori.toml ($want); set SORI_FRESH_CONFIG" >&2
      exit 1
    }
  done
  echo "sori-fresh.toml"
}

step_run() {
  local cfg log=$logs/make-run.log deadline
  cfg=$(run_config) || return 1
  echo "test-fresh: make run CONFIG=$cfg (log: $log)"
  local t0=$SECONDS
  deadline=$((SECONDS + ${SORI_FRESH_RUN_TIMEOUT:-5400}))
  # setsid: make and everything it starts get their own process group.
  (cd "$clone" && exec setsid make run CONFIG="$cfg") >"$log" 2>&1 </dev/null &
  run_pid=$!
  while ! grep -q "sori is listening" "$log"; do
    if ! kill -0 "$run_pid" 2>/dev/null; then
      wait "$run_pid" && rc=0 || rc=$?
      run_pid=
      timed "make run (until listening)" $((SECONDS - t0)) "FAILED: exited $rc before listening"
      tail -n 40 "$log" >&2
      return 1
    fi
    if ((SECONDS > deadline)); then
      timed "make run (until listening)" $((SECONDS - t0)) "FAILED: not listening in time"
      tail -n 40 "$log" >&2
      stop_run
      return 1
    fi
    sleep 1
  done
  timed "make run (until listening)" $((SECONDS - t0)) ok
  stop_run
}

step_test() {
  local log=$logs/make-test.log rc=0
  echo "test-fresh: make test (log: $log)"
  local t0=$SECONDS
  (cd "$clone" && make test) >"$log" 2>&1 </dev/null || rc=$?
  if ((rc)); then
    timed "make test" $((SECONDS - t0)) "FAILED: exit $rc"
    tail -n 60 "$log" >&2
    return 1
  fi
  timed "make test" $((SECONDS - t0)) ok
}

failed=0
for s in "${steps[@]}"; do
  "step_$s" || failed=1
done

echo
echo "test-fresh: $head on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '  %s\n' "${summary[@]}"
printf '  %s\n' "${summary[@]}" >"$logs/times.txt"
du -sh "$CARGO_TARGET_DIR" "$SORI_MODELS_DIR" 2>/dev/null | sed 's/^/  /' || true
((failed == 0)) || exit 1
ok=1
