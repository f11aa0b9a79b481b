#!/bin/sh
# Container entrypoint: fetch the speech models into the volume on first
# start (later starts only verify them), then run sori in the foreground.
#   SORI_CONFIG         the configuration (default /etc/sori/sori.toml; mount your own)
#   SORI_MODELS         models to fetch (default: what the default config uses)
#   SORI_FETCH_MODELS=0 skip fetching (models mounted, or a DTMF-only line)
set -eu
: "${SORI_CONFIG:=/etc/sori/sori.toml}"
: "${SORI_MODELS:=whisper-base silero-vad onnxruntime e5-small e5-engine e5-libgomp}"
mkdir -p "${SORI_MODELS_DIR:-/var/lib/sori/models}" /var/lib/sori/cache
if [ "${SORI_FETCH_MODELS:-1}" != 0 ]; then
    # shellcheck disable=SC2086 # a list of names
    if ! sori models fetch $SORI_MODELS; then
        echo "sori-entrypoint: models could not be fetched; sori starts without what is missing (see its log)" >&2
    fi
fi
exec sori serve --config "$SORI_CONFIG" "$@"
