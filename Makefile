# The two commands: `make demo` and `make test`. Everything else supports them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
REMEDIATOR := target/debug/remediator

.PHONY: test demo local-deps fixtures lint infra-check deny bench fuzz load cold-start emulator build-cli build local invoke-triage invoke-escalate invoke-canary deploy

FUNCTIONS := triage escalate canary
# Where the local stack writes the Lambdas' environment: under target/, which cargo lambda watch ignores.
LOCAL_ENV := target/local-stack.env
PORT ?= 9000

test: lint local-deps infra-check deny
	@# Each function's debug binary, built the way cargo lambda watch builds it (cargo run --bin <f>:
	@# features resolved for that package alone), so the end-to-end test starts them without a build.
	@for f in $(FUNCTIONS); do $(CARGO) build -q --bin $$f; done
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

# The local AWS stand-in, the template linter, cargo-lambda and the AWS CLI, from PyPI, when
# this machine lacks them.
local-deps:
	@python3 -c "import moto.server, flask, flask_cors" 2>/dev/null || python3 -m pip install --quiet 'moto[server]'
	@python3 -c "import cfnlint" 2>/dev/null || python3 -m pip install --quiet 'cfn-lint==1.51.0'
	@$(CARGO) lambda --version >/dev/null 2>&1 || python3 -m pip install --quiet cargo-lambda
	@command -v aws >/dev/null 2>&1 || python3 -m pip install --quiet awscli
	@$(CARGO) deny --version >/dev/null 2>&1 || $(CARGO) install --quiet --locked cargo-deny

# The decoder and classifier under many more generated inputs than make test runs (see tests/fuzz).
FUZZ_CASES ?= 1000000
fuzz:
	FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release -p remediator-core --test fuzz

# 1,000 log events a second for 60 s through triage on the local stack (loopback only): one
# incident, one App Runner change, latency and resident memory.
load: local-deps
	$(CARGO) run -q --release -p remediator-tests --bin load -- $(LOAD_ARGS)

# Licences, banned crates (OpenSSL) and sources (deny.toml). Advisories need the online
# database and are not checked; cargo metadata may fetch crates of other platforms from crates.io.
deny: local-deps
	$(CARGO) deny check licenses bans sources

# The template lints clean, and its filter patterns, alarms and IAM policies agree with the code.
infra-check: build-cli local-deps
	cfn-lint infra/template.yaml
	@patterns=$$(mktemp) && $(REMEDIATOR) filter-patterns > "$$patterns" && \
	  python3 tests/infra/check_template.py infra/template.yaml "$$patterns"; \
	  status=$$?; rm -f "$$patterns"; exit $$status

# Release bootstraps for Lambda (arm64, cross-built with zig from the cargo-lambda wheel).
build: local-deps
	rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	$(CARGO) lambda build --release --arm64 $(addprefix --bin ,$(FUNCTIONS))
	@printf '| function | bootstrap | zipped |\n| --- | --- | --- |\n'
	@for f in $(FUNCTIONS); do \
	  size=$$(stat -c %s target/lambda/$$f/bootstrap); \
	  zipped=$$(gzip -9 -c target/lambda/$$f/bootstrap | wc -c); \
	  printf '| %s | %.1f MB | %.1f MB |\n' $$f $$(echo "$$size/1048576" | bc -l) $$(echo "$$zipped/1048576" | bc -l); \
	done

# The local loop: the local stack (moto, the App Runner emulator, the BankID stand-in) and
# cargo lambda watch serving every function on 127.0.0.1:$(PORT) with the stack's environment.
# In another shell: make invoke-triage, make invoke-escalate FIXTURE=tests/fixtures/manual/status.json.
local: local-deps
	$(CARGO) build -q -p local-stack
	@rm -f $(LOCAL_ENV)
	@target/debug/local-stack --env-file $(LOCAL_ENV) & stack=$$!; \
	  trap 'kill $$stack 2>/dev/null' EXIT INT TERM; \
	  for _ in $$(seq 1 100); do [ -s $(LOCAL_ENV) ] && break; sleep 0.2; done; \
	  [ -s $(LOCAL_ENV) ] || { echo "the local stack did not start" >&2; exit 1; }; \
	  set -a; . ./$(LOCAL_ENV); set +a; \
	  $(CARGO) lambda watch -A 127.0.0.1 -P $(PORT)

INVOKE = $(CARGO) lambda invoke $(1) -A 127.0.0.1 -P $(PORT) --data-file $(or $(FIXTURE),$(2))
invoke-triage:
	$(call INVOKE,triage,tests/fixtures/events/logs-invalid-credentials.json)
invoke-escalate:
	$(call INVOKE,escalate,tests/fixtures/manual/tick.json)
invoke-canary:
	$(call INVOKE,canary,tests/fixtures/events/schedule-scheduler.json)

# Deploying needs an AWS account and the SAM CLI (pip install aws-sam-cli); never run in CI.
deploy:
	sam build --beta-features --template-file infra/template.yaml --build-dir target/sam
	sam deploy --guided --template-file target/sam/template.yaml


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
