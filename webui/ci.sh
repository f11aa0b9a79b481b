#!/usr/bin/env bash
# Lint and test the operators' web GUI (webui/) in a virtualenv kept outside the clone, so that Gradio and
# Playwright (from PyPI) are installed once per machine. The tests start a real `sori serve` (the debug
# binary) and drive Debian's chromium through Playwright (no browser download). Exits non-zero on failure.
#   SORI_WEBUI_VENV       the virtualenv (default ~/.cache/sori/webui-venv)
#   SORI_BIN              the sori binary the tests start (default $CARGO_TARGET_DIR/debug/sori)
#   SORI_WEBUI_ARTEFACTS  where the browser test leaves its screenshots (default webui/out/screenshots)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SORI_WEBUI_VENV:-$HOME/.cache/sori/webui-venv}
PY=${PYTHON:-python3}

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "webui/ci.sh: Python >= 3.11 needed ($PY is $("$PY" --version 2>&1))" >&2
  exit 1
fi
bash webui/setup.sh

"$VENV/bin/ruff" check webui
"$VENV/bin/ruff" format --check webui

set +e
GRADIO_ANALYTICS_ENABLED=False "$VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=5 webui/tests
rc=$?
set -e
if ((rc == 5)); then
  echo "webui/ci.sh: pytest collected no tests" >&2
  exit 1
fi
exit $rc
