# The two commands: `make demo` and `make test`. Everything else supports them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
REMEDIATOR := target/debug/remediator

.PHONY: test demo local-deps fixtures lint bench cold-start emulator build-cli

test: lint local-deps
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  $(CARGO) test --workspace --no-fail-fast; \
	fi

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

demo: local-deps
	$(CARGO) run -q -p remediator-tests --bin demo

# The local AWS stand-in, from PyPI, when this machine lacks it.
local-deps:
	@python3 -c "import moto.server, flask, flask_cors" 2>/dev/null || python3 -m pip install --quiet 'moto[server]'


build-cli:
	$(CARGO) build -q -p remediator-cli

# Encode the readable CloudWatch Logs payloads into subscription events (base64 + gzip).
fixtures: build-cli
	@for src in tests/fixtures/sources/logs-*.json; do \
	  $(REMEDIATOR) encode-logs "$$src" > "tests/fixtures/events/$$(basename "$$src")"; \
	  echo "encoded $$src"; \
	done

bench:
	$(CARGO) bench -p remediator-core

emulator:
	$(CARGO) run -q -p apprunner-emulator -- --port 4590 --operation-ms 500

# Process start to first answer of the release bootstrap, against a stand-in Runtime API on loopback.
cold-start:
	$(CARGO) build --release -p triage
	python3 tests/perf/cold_start.py target/release/triage tests/fixtures/events/logs-invalid-credentials.json 20
