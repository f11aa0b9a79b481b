#!/usr/bin/env bash
# Creates or updates the web GUI's virtualenv outside the clone (default ~/.cache/sori/webui-venv, or
# $SORI_WEBUI_VENV): reinstalls only when webui/pyproject.toml or this clone's path changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SORI_WEBUI_VENV:-$HOME/.cache/sori/webui-venv}
PY=${PYTHON:-python3}
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
stamp="$(sha256sum webui/pyproject.toml | cut -d' ' -f1) $PWD"
if [[ "$(cat "$VENV/.sori-webui-stamp" 2>/dev/null)" != "$stamp" ]]; then
  echo "webui: installing webui[dev] into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "webui[dev]"
  echo "$stamp" > "$VENV/.sori-webui-stamp"
fi
