# payorch — make run (the dev stack), make test (every test), make lint, make bench.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/.bin

# Pinned tool versions.
STRIPE_MOCK_VERSION := v0.203.0
WORKFLOWCHECK_VERSION := v0.6.0
SQLC_VERSION := v1.31.1

.PHONY: run test lint bench fuzz migrate sqlc tools deps clean-data help ctl

help:
	@echo "make run      start PostgreSQL, Temporal (Web UI :8233), the worker and the API (:8080); Ctrl-C stops all"
	@echo "make test     run every test against a real PostgreSQL and Temporal dev server"
	@echo "make lint     gofmt, go vet, workflowcheck"
	@echo "make bench    benchmarks"
	@echo "make fuzz     run each fuzz target for FUZZTIME (default 10s; make test runs their seeds)"
	@echo "make migrate  apply migrations to PAYORCH_DATABASE_URL"
	@echo "make sqlc     regenerate store/ from store/queries and migrations"
	@echo "make tools    build the pinned Temporal CLI, stripe-mock and workflowcheck into .bin/"
	@echo "make ctl      build the operator CLI (starter/) as .bin/payorchctl"

run: deps tools
	@./scripts/dev-run.sh

test: deps tools
	$(GO) test -count=1 -timeout 30m ./...

lint: $(BIN)/workflowcheck
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if ls workflows/*.go >/dev/null 2>&1; then echo "workflowcheck ./workflows/..."; $(BIN)/workflowcheck ./workflows/...; fi

bench: deps tools
	$(GO) test -run '^$$' -bench . -benchmem ./...

# go test -fuzz takes one target per run. Each fuzz worker process starts its own
# PostgreSQL and Temporal (TestMain), hence one worker (FUZZPARALLEL) on this 2-core machine.
FUZZTIME ?= 10s
FUZZPARALLEL ?= 1
FUZZ_TARGETS := ./money:FuzzParseAmount ./api:FuzzJSONBody ./api:FuzzPathQuery ./api:FuzzIdempotencyKey

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

tools: $(BIN)/temporal $(BIN)/stripe-mock $(BIN)/workflowcheck

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
