# Hermes: `make help` lists the targets. `make up` and `make test` install what is missing
# first (deploy/deps.sh), so they work on a fresh Debian 12 machine.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PRESET ?= dev
# The development certificates `make certs` makes and `make up` uses (deploy/up.sh reads CERTS).
CERTS ?= certs
BUF := node_modules/.bin/buf
JOBS ?= $(shell nproc)

.PHONY: bench help deps certs proto-gen proto-lint proto-format proto-breaking proto-all build test up down clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1m%-15s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## Install what is missing: Debian packages, npm tools (lock file), third-party protos
	@deploy/deps.sh

proto-gen: deps ## Regenerate gen/cpp from proto/ with buf (commit proto/ and gen/ together)
	@# Into a scratch folder first: a generation that fails leaves gen/cpp as it was.
	rm -rf .proto-gen.tmp
	$(BUF) generate -o .proto-gen.tmp
	rm -rf gen/cpp
	mv .proto-gen.tmp/gen/cpp gen/cpp
	rm -rf .proto-gen.tmp
	@echo "gen/cpp regenerated; commit it with the proto change"

proto-lint: deps ## Lint the protos (buf STANDARD rules)
	$(BUF) lint

proto-format: deps ## Format proto/ in place (buf format)
	$(BUF) format -w proto

proto-breaking: deps ## Fail if proto/ breaks wire or source compatibility with branch main
	$(BUF) breaking proto --against '.git#branch=main,subdir=proto'

proto-all: proto-format proto-lint proto-breaking proto-gen ## Format, lint, breaking check, generate

certs: ## Make the DEVELOPMENT CA and identities in certs/, or CERTS=dir (idempotent; git-ignored)
	@deploy/certs/gen-certs.sh $(CERTS)
	@echo "$(CERTS)/: development-only CA and identities (user, order, admin, client). Never deploy them."

build: deps ## Build a CMake preset: PRESET=dev (default), release or tsan; TARGETS= to narrow
	@free_mb=$$(df -Pm . 2>/dev/null | awk 'NR == 2 {print $$4}') || true; \
	if [[ $$free_mb =~ ^[0-9]+$$ ]] && (( free_mb < 1500 )); then \
	  echo "make: warning: $$free_mb MB free here; a full $(PRESET) build takes up to 0.8 GB" >&2; fi
	cmake --preset $(PRESET) >/dev/null
	cmake --build --preset $(PRESET) -j $(JOBS) $(if $(TARGETS),--target $(TARGETS))

test: ## Build the dev preset (ASan + UBSan) and run every test through CTest
	$(MAKE) --no-print-directory build PRESET=dev
	ctest --preset dev -j $(JOBS)

bench: ## Build release and run every benchmark (numbers, not pass/fail); writes tests/bench/RESULTS.md
	$(MAKE) --no-print-directory build PRESET=release \
	  TARGETS="hermes-user hermes-order hermes-load hermes-health-probe chain_bench hot_path_bench"
	build/release/tests/bench/hot_path_bench
	build/release/tests/bench/chain_bench
	tests/bench/run.sh

up: ## Build release and run both services on their defaults (Ctrl-C stops; DETACH=1 backgrounds)
	$(MAKE) --no-print-directory build PRESET=release TARGETS="hermes-user hermes-order hermes-health-probe"
	@$(MAKE) --no-print-directory certs
	deploy/up.sh

down: ## Stop a stack started with `make up DETACH=1`
	deploy/up.sh --down

clean: ## Remove the build trees (keeps var/, where the services keep their data)
	rm -rf build
