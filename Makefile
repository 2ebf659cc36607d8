# Two commands on a fresh machine: `make run` and `make test` (each installs what it needs first).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHECKOV := $(VENV)/tools/checkov/bin/checkov
SYSTEM_PACKAGES := libmagic1 espeak-ng chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run run-gcp-local examples test test-ts install system lint typecheck unit corpus benchmark ship train evaluate bench bench-pipeline bench-pipeline-gcp fuzz faults openapi clean

# API + worker + queue in one process on 127.0.0.1:8080 (embedded backends, data in data/local); Ctrl-C stops it.
run: install
	$(VENV)/bin/synthscope serve --port 8080

# The same service on the gcp backends (Firestore, Cloud Storage, Cloud Tasks emulators; API and worker as
# separate processes, signed URLs and OIDC tokens verified) on 127.0.0.1:8080; Ctrl-C stops everything.
run-gcp-local: install
	$(PY) -m tests.fixtures.gcp_stack --port 8080

# The bundled examples through the engine directly, no server.
examples: install
	@echo "Analysing the bundled examples with the shipped model (synthscope analyze ...)"
	$(VENV)/bin/synthscope analyze shared/synthscope/examples/*.ogg

test: install
	$(VENV)/bin/ruff check shared services tests bench infra/schema
	$(VENV)/bin/ruff format --check shared services tests bench infra/schema
	$(VENV)/bin/mypy
	# Deployment files, statically (nothing is deployed): the Dockerfile, then Terraform (skips are in the code).
	$(VENV)/bin/hadolint Dockerfile
	# checkov pins its own dependencies, so it lives in a venv of its own under .venv/.
	test -x $(CHECKOV) || { python3 -m venv $(VENV)/tools/checkov && $(VENV)/tools/checkov/bin/pip install -q checkov==3.3.30; }
	$(CHECKOV) -d infra/terraform --compact --quiet --skip-download
	# Terraform's own parser and style, where the binary is installed (providers can't be fetched offline, so
	# `terraform validate` is replaced by tests/infra/test_terraform_schema.py against the pinned schema).
	if command -v terraform >/dev/null; then terraform -chdir=infra/terraform fmt -check -recursive -diff; \
	  else echo "terraform not installed: fmt check skipped"; fi
	$(MAKE) --no-print-directory test-ts
	$(PY) -m pytest

install: system $(STAMP)

system:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

$(STAMP): requirements.lock requirements-dev.lock requirements-nodeps.lock shared/pyproject.toml services/api/pyproject.toml services/worker/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first, so nothing below pulls the CUDA one.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.lock -r requirements-dev.lock
	# The Cloud Tasks emulator pins an old protobuf; without its deps it runs on ours (notes/emulators.md).
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.lock
	$(PY) -m pip install -q --no-deps -e shared -e services/api -e services/worker
	touch $(STAMP)

# --- the model's life cycle (long; not part of `make test`) ---
corpus: install
	$(VENV)/bin/synthscope corpus build --out data/corpus

# Leave-one-source-out: refit heads with each engine family / human source group held out (DESIGN §6).
# Window features are cached in data/features, so a re-run after a head change takes minutes.
benchmark: install
	$(VENV)/bin/synthscope benchmark --manifest data/corpus/manifest.csv --out out/bench --cache data/features --workers 2

# The shipped bundle: heads refitted on the whole corpus from the benchmark's cache, the benchmark's
# out-of-fold stacker and profiles (run `make benchmark` first). Minutes on two cores.
ship: install
	$(VENV)/bin/synthscope ship --manifest data/corpus/manifest.csv --bench out/bench/loso.json --out data/bundle --cache data/features

# Small corpora (tests, experiments): fit from audio on train, stack on calib.
train: install
	$(VENV)/bin/synthscope train --manifest data/corpus/manifest.csv --out data/bundle

evaluate: install
	$(VENV)/bin/synthscope evaluate --manifest data/corpus/manifest.csv --bundle data/bundle --out out/eval

bench: install
	$(PY) bench/engine.py

# End-to-end latency, wrk load on /auth/token, /generate-upload-url and /report-status (installs wrk if missing).
bench-pipeline: install
	$(PY) bench/pipeline.py

# The same figures on the gcp backends over the emulators.
bench-pipeline-gcp: install
	$(PY) bench/pipeline.py --backend gcp

# Malformed audio (truncations, header lies, bombs, hostile names...) through the engine and /analyze; FILES=10000.
fuzz: install
	$(PY) bench/fuzz.py --files $(or $(FILES),10000)

# 1 000 reports per backend with 10 % of worker attempts SIGKILLed mid-analysis and 10 % of deliveries duplicated.
faults: install
	$(PY) bench/faults.py

# Regenerate the committed OpenAPI document (a test fails when it drifts from the code).
openapi: install
	$(PY) -m synthscope_api.openapi > openapi.json

# The TypeScript client: deps from its lock file, a strict type check, its generated types in step with openapi.json.
test-ts:
	cd clients/typescript && npm ci --no-audit --no-fund && npx tsc --noEmit && npm run check-types

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
