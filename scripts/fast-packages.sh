#!/usr/bin/env bash
# Prints the packages `make test-fast` runs: every package with tests whose test binary
# does not import payorch/internal/testenv, the harness that starts PostgreSQL and the
# Temporal dev server (TestMain: testenv.Main). Purity is read from the imports (go list
# -test -deps), so a new package joins the fast tier without an edit, and leaves it the
# day one of its tests starts the real parts. A test that needs any server or outside
# binary goes through testenv.
set -euo pipefail
cd "$(dirname "$0")/.."
go list -test -f '{{.ImportPath}} {{join .Deps " "}}' ./... |
  awk '$1 ~ /\.test$/ && $0 !~ / payorch\/internal\/testenv( |$)/ { sub(/\.test$/, "", $1); print $1 }'
