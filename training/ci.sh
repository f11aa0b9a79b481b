#!/usr/bin/env bash
# Lint and test the ML half (training/) in a virtualenv kept outside the clone, so that PyTorch (a large
# download from PyPI) is installed once per machine. Exits non-zero on any failure.
#   SORI_VENV       the virtualenv (default ~/.cache/sori/venv)
#   SORI_E2E_OUT    where the end-to-end test leaves its dataset, adapter and GGUF
#                   (default training/out/e2e: the Rust side's test loads the GGUF from there)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SORI_VENV:-$HOME/.cache/sori/venv}
PY=${PYTHON:-python3}

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "training/ci.sh: Python >= 3.11 needed ($PY is $("$PY" --version 2>&1))" >&2
  exit 1
fi
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"

# Reinstall only when the pinned requirements or this clone's path changed (the package is installed
# editable, so it must point at this clone).
stamp="$(sha256sum training/pyproject.toml | cut -d' ' -f1) $PWD"
if [[ "$(cat "$VENV/.sori-training-stamp" 2>/dev/null)" != "$stamp" ]]; then
  echo "training/ci.sh: installing training[dev] into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "training[dev]"
  echo "$stamp" > "$VENV/.sori-training-stamp"
fi

"$VENV/bin/ruff" check training
"$VENV/bin/ruff" format --check training

export SORI_E2E_OUT=${SORI_E2E_OUT:-$PWD/training/out/e2e}
rm -rf "${SORI_E2E_OUT:?}"/{dataset,tiny,run,results,gguf} "$SORI_E2E_OUT"/comparison.*
set +e
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=5 training/tests
rc=$?
set -e
if ((rc == 5)); then
  echo "training/ci.sh: pytest collected no tests" >&2
  exit 1
fi
exit $rc
