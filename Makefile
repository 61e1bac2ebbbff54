# payorch — make run (the dev stack), make test (every test), make lint, make bench, make chaos.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/.bin

# Pinned tool versions.
STRIPE_MOCK_VERSION := v0.203.0
WORKFLOWCHECK_VERSION := v0.6.0
STATICCHECK_VERSION := v0.8.2
SQLC_VERSION := v1.31.1

.PHONY: run test test-fast lint bench bench-prod bench-micro chaos temporal-server fuzz migrate sqlc tools deps clean-data help ctl

help:
	@echo "make run      start PostgreSQL, Temporal (Web UI :8233), the worker and the API (:8080); Ctrl-C stops all"
	@echo "make test     run every test, with the race detector, against a real PostgreSQL and Temporal dev server"
	@echo "make test-fast  only the pure packages (tests that do not import internal/testenv: no PostgreSQL, no Temporal), in seconds"
	@echo "make lint     gofmt, go vet, staticcheck, workflowcheck"
	@echo "make bench    P1-P4 ratios on a throwaway PostgreSQL and Temporal dev server (bench/; a few minutes); writes bench/results.json"
	@echo "make bench-prod  P1 on the Temporal server built from the module proxy, on PostgreSQL (scripts/temporal-server.sh)"
	@echo "make chaos    1,000 invoices under worker kills, API restarts and a PostgreSQL restart; checks every invariant (chaos/; ~5 min)"
	@echo "make fuzz     run each fuzz target for FUZZTIME (default 10s; make test runs their seeds)"
	@echo "make migrate  apply migrations to PAYORCH_DATABASE_URL"
	@echo "make sqlc     regenerate store/ from store/queries and migrations"
	@echo "make tools    build the pinned Temporal CLI, stripe-mock, workflowcheck and staticcheck into .bin/"
	@echo "make ctl      build the operator CLI (starter/) as .bin/payorchctl"

run: deps tools
	@./scripts/dev-run.sh

test: deps tools
	$(GO) test -race -count=1 -timeout 30m ./...

# The pure packages, listed by scripts/fast-packages.sh from their tests' imports.
test-fast:
	@pkgs=$$(./scripts/fast-packages.sh) && echo "$(GO) test -count=1" $$pkgs && $(GO) test -count=1 $$pkgs

lint: $(BIN)/workflowcheck $(BIN)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...
	@if ls workflows/*.go >/dev/null 2>&1; then echo "workflowcheck ./workflows/..."; $(BIN)/workflowcheck ./workflows/...; fi

# make bench: see bench/main.go for the knobs (BENCH_N, BENCH_C, BENCH_PARKED, BENCH_ONLY…).
bench: deps tools
	$(GO) run ./bench

# P1 again on the production-shaped server: Temporal built from go.temporal.io/server at the
# CLI's version, on its own PostgreSQL (scripts/temporal-server.sh starts and stops it).
bench-prod: deps tools
	./scripts/temporal-server.sh bench

# The Go microbenchmarks (go test -bench) of every package.
bench-micro: deps tools
	$(GO) test -run '^$$' -bench . -benchmem ./...

# make chaos: see chaos/main.go for the knobs (CHAOS_INVOICES, CHAOS_KILL_EVERY, CHAOS_SEED…).
# A short version (200 invoices) runs in make test (chaos/chaos_test.go).
chaos: deps tools
	$(GO) run ./chaos

# go test -fuzz takes one target per run. Each fuzz worker process starts its own
# PostgreSQL and Temporal (TestMain), hence one worker (FUZZPARALLEL) on this 2-core machine.
FUZZTIME ?= 10s
FUZZPARALLEL ?= 1
FUZZ_TARGETS := ./money:FuzzParseAmount ./api:FuzzJSONBody ./api:FuzzPathQuery ./api:FuzzIdempotencyKey \
	./api:FuzzIdempotencyBody ./api:FuzzStripeWebhook ./api:FuzzPortalPage

fuzz: deps tools
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "==> fuzz $${t#*:} ($${t%%:*}, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL) "$${t%%:*}"; \
	done

migrate:
	$(GO) run ./starter migrate

sqlc: $(BIN)/sqlc
	$(BIN)/sqlc generate

ctl:
	$(GO) build -o $(BIN)/payorchctl ./starter

tools: $(BIN)/temporal $(BIN)/stripe-mock $(BIN)/workflowcheck $(BIN)/staticcheck

# The Temporal CLI is built from its own module (tools/temporal): its server dependencies
# must not enter the main go.mod. The first build takes about 3 minutes.
$(BIN)/temporal: tools/temporal/go.mod tools/temporal/go.sum
	@echo "==> building the Temporal CLI (pinned in tools/temporal; the first build takes ~3 minutes)"
	cd tools/temporal && $(GO) build -o $(BIN)/temporal github.com/temporalio/cli/cmd/temporal

$(BIN)/stripe-mock:
	@echo "==> installing stripe-mock $(STRIPE_MOCK_VERSION)"
	GOBIN=$(BIN) $(GO) install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)

$(BIN)/workflowcheck:
	@echo "==> installing workflowcheck $(WORKFLOWCHECK_VERSION)"
	GOBIN=$(BIN) $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)

$(BIN)/staticcheck:
	@echo "==> installing staticcheck $(STATICCHECK_VERSION)"
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(BIN)/sqlc:
	@echo "==> installing sqlc $(SQLC_VERSION) (cgo, ~1.5 minutes)"
	GOBIN=$(BIN) CGO_ENABLED=1 $(GO) install github.com/sqlc-dev/sqlc/cmd/sqlc@$(SQLC_VERSION)

# PostgreSQL server binaries, poppler-utils (pdftotext) and chromium (the portal's browser
# test) from Debian when missing.
deps:
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "==> installing PostgreSQL (apt-get install postgresql)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; \
	fi
	@command -v psql >/dev/null 2>&1 || { echo "psql missing: apt-get install postgresql-client"; exit 1; }
	@if ! command -v pdftotext >/dev/null 2>&1; then \
	  echo "==> installing poppler-utils (pdftotext: the tests read the PDF documents back as text)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq poppler-utils >/dev/null; \
	fi
	@./scripts/install-chromium.sh

clean-data:
	rm -rf .data
