#!/usr/bin/env bash
# Bounded coverage-guided fuzzing of every cargo-fuzz target in fuzz/ (libFuzzer
# on the nightly toolchain). `make fuzz`; FUZZ_SECONDS per target (default 10,
# so about a minute and a half of fuzzing plus the first build), FUZZ_TARGETS
# to pick some, FUZZ_SEED for a fixed libFuzzer seed (`make test` uses 1339,
# 8 s each). The corpus grows across runs in ~/.cache/sori/fuzz/corpus,
# seeded from the tests' messages (tests/data/rfc4475, fuzz/seeds, the dialplan
# and the knowledge base). A crash leaves its input in fuzz/artifacts/TARGET/
# and fails the run: reproduce with `cargo +nightly fuzz run TARGET FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-10}
targets=${FUZZ_TARGETS:-sip_parse sip_endpoint sip_auth sdp rtp rtcp sip_info_dtmf dialplan kb}
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz: no nightly toolchain (rustup toolchain list); skipped"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io"
    cargo +nightly install --locked cargo-fuzz
fi
target_dir=${FUZZ_TARGET_DIR:-$HOME/.cache/sori/fuzz-target}
work=${FUZZ_WORK:-$HOME/.cache/sori/fuzz}

seed() { # target, files...
    local dir=$work/corpus/$1
    shift
    mkdir -p "$dir"
    for f in "$@"; do
        [ -f "$f" ] && cp -n "$f" "$dir/seed-$(basename "$f")" 2>/dev/null || true
    done
}
seed sip_parse tests/data/rfc4475/*.dat fuzz/seeds/sip_endpoint/*
seed sip_endpoint tests/data/rfc4475/*.dat fuzz/seeds/sip_endpoint/*
seed sdp fuzz/seeds/sdp/*
# The SDP bodies of the torture INVITEs.
python3 - "$work/corpus/sdp" tests/data/rfc4475/*.dat <<'PY'
import os, sys
for f in sys.argv[2:]:
    d = open(f, "rb").read()
    body = d[d.find(b"\r\n\r\n") + 4:]
    if body.startswith(b"v=0"):
        open(os.path.join(sys.argv[1], "seed-" + os.path.basename(f)), "wb").write(body)
PY
seed rtp fuzz/seeds/rtp/*
seed rtcp fuzz/seeds/rtcp/*
seed sip_info_dtmf fuzz/seeds/sip_info_dtmf/*
seed sip_auth fuzz/seeds/sip_auth/*
seed dialplan dialplan/*.toml
seed kb kb/1339.toml

status=0
for t in $targets; do
    log=$work/$t.log
    echo "fuzz: $t for ${secs}s"
    if ! cargo +nightly fuzz run --target-dir "$target_dir" "$t" "$work/corpus/$t" -- \
        -max_total_time="$secs" -max_len=131072 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        ${FUZZ_SEED:+-seed=$FUZZ_SEED} >"$log" 2>&1; then
        echo "fuzz: $t FAILED (log $log):"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written|artifact' "$log" | head -20
        status=1
    fi
    grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::peak_rss_mb' "$log" | tr '\n' ' '
    grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | sed 's/^/  last: /'
    echo
done
exit $status
