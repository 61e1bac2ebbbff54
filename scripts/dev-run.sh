#!/usr/bin/env bash
# make run: the whole dev stack in the foreground — PostgreSQL (a cluster under .data/),
# the Temporal dev server with its Web UI, the worker and the API. Ctrl-C stops everything
# this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA=${PAYORCH_DATA_DIR:-.data}
case "$DATA" in /*) ;; *) DATA="$ROOT/$DATA" ;; esac
PG_PORT=${PAYORCH_DEV_PG_PORT:-55432}
TEMPORAL_PORT=${PAYORCH_DEV_TEMPORAL_PORT:-7233}
UI_PORT=${PAYORCH_DEV_UI_PORT:-8233}

export PAYORCH_DATA_DIR="$DATA"
export PAYORCH_DATABASE_URL=${PAYORCH_DATABASE_URL:-postgres://postgres@127.0.0.1:$PG_PORT/payorch?sslmode=disable}
export PAYORCH_TEMPORAL_ADDRESS=${PAYORCH_TEMPORAL_ADDRESS:-127.0.0.1:$TEMPORAL_PORT}
export PAYORCH_API_KEYS=${PAYORCH_API_KEYS:-backend:dev_backend_key,support:dev_support_key}
export PAYORCH_HTTP_ADDR=${PAYORCH_HTTP_ADDR:-127.0.0.1:8080}
export PAYORCH_LOG_FORMAT=${PAYORCH_LOG_FORMAT:-text}
# Dev webhook receivers usually listen on localhost.
export PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS=${PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS:-true}
# A clearly fake bank account (the textbook test IBAN) so bank-transfer emails go out in dev;
# set your own PAYORCH_BANK_* in production.
export PAYORCH_BANK_ACCOUNT_HOLDER=${PAYORCH_BANK_ACCOUNT_HOLDER:-"FAKE dev account - do not pay"}
export PAYORCH_BANK_IBAN=${PAYORCH_BANK_IBAN:-DE89370400440532013000}
export PAYORCH_BANK_BIC=${PAYORCH_BANK_BIC:-COBADEFFXXX}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'make run: %s\n' "$*" >&2; exit 1; }

PG_BIN=$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -n1)")
[ -x "$PG_BIN/initdb" ] || die "PostgreSQL binaries not found (make deps installs them)"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

PIDS=()
PG_STARTED=
cleanup() {
  trap - INT TERM EXIT
  say "stopping"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "$PG_STARTED" ]; then as_pg "$PG_BIN/pg_ctl" stop -D "$DATA/pg" -m fast >/dev/null 2>&1 || true; fi
  say "stopped"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

mkdir -p "$DATA/logs" "$DATA/temporal" "$DATA/mail"

# The portal's signing key: the API verifies the links the worker's emails carry, so both
# need the same one. Generated once per data directory, kept in $DATA/portal-secret.
if [ -z "${PAYORCH_PORTAL_SECRET:-}" ]; then
  if [ ! -s "$DATA/portal-secret" ]; then
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DATA/portal-secret")
  fi
  PAYORCH_PORTAL_SECRET=$(cat "$DATA/portal-secret")
  export PAYORCH_PORTAL_SECRET
fi

# --- PostgreSQL -------------------------------------------------------------
if [ ! -f "$DATA/pg/PG_VERSION" ]; then
  say "initialising a PostgreSQL cluster in $DATA/pg"
  mkdir -p "$DATA/pg"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$DATA/pg"
    runuser -u postgres -- test -w "$DATA/pg" || die "the postgres user cannot write $DATA/pg (a parent directory is not traversable); set PAYORCH_DATA_DIR to a directory it can reach, e.g. /tmp/payorch-data"
  fi
  as_pg "$PG_BIN/initdb" -D "$DATA/pg" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DATA/logs/initdb.log" 2>&1 \
    || die "initdb failed, see $DATA/logs/initdb.log"
fi
if [ "$(id -u)" = 0 ]; then touch "$DATA/logs/postgres.log"; chown postgres: "$DATA/logs/postgres.log"; fi
say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
as_pg "$PG_BIN/pg_ctl" start -D "$DATA/pg" -w -t 60 -l "$DATA/logs/postgres.log" \
  -o "-p $PG_PORT -h 127.0.0.1 -k $DATA/pg" >/dev/null || die "PostgreSQL did not start, see $DATA/logs/postgres.log (port $PG_PORT busy? set PAYORCH_DEV_PG_PORT)"
PG_STARTED=1
if ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc "SELECT 1 FROM pg_database WHERE datname='payorch'" postgres | grep -q 1; then
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE payorch" postgres
fi

# --- Temporal ---------------------------------------------------------------
say "starting the Temporal dev server on 127.0.0.1:$TEMPORAL_PORT (Web UI on :$UI_PORT)"
.bin/temporal server start-dev --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$UI_PORT" \
  --db-filename "$DATA/temporal/temporal.db" --log-level warn \
  --dynamic-config-value matching.numTaskqueueReadPartitions=1 \
  --dynamic-config-value matching.numTaskqueueWritePartitions=1 \
  --search-attribute CustomerId=Keyword --search-attribute InvoiceId=Keyword \
  --search-attribute SubscriptionId=Keyword --search-attribute PaymentStatus=Keyword \
  --search-attribute NextRetryAt=Datetime --search-attribute WalletId=Keyword \
  >"$DATA/logs/temporal.log" 2>&1 &
PIDS+=($!)
for i in $(seq 1 120); do
  .bin/temporal operator cluster health --address "127.0.0.1:$TEMPORAL_PORT" >/dev/null 2>&1 && break
  kill -0 "${PIDS[0]}" 2>/dev/null || die "the Temporal dev server exited, see $DATA/logs/temporal.log"
  [ "$i" = 120 ] && die "the Temporal dev server did not become healthy, see $DATA/logs/temporal.log"
  sleep 0.5
done

# --- worker and API ---------------------------------------------------------
say "building the worker and the API"
go build -o .bin/worker ./worker
go build -o .bin/apiserver ./apiserver
say "starting the worker and the API (logs below)"
.bin/worker & PIDS+=($!)
.bin/apiserver & PIDS+=($!)

for i in $(seq 1 120); do
  if curl -fsS "http://$PAYORCH_HTTP_ADDR/readyz" >/dev/null 2>&1; then break; fi
  for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || die "a process exited during start-up (see the log above)"; done
  [ "$i" = 120 ] && die "the API did not become ready"
  sleep 0.5
done

cat <<MSG

  payorch is running — Ctrl-C stops everything.

  API              http://$PAYORCH_HTTP_ADDR   (ready: /readyz, spec: /openapi.json)
  Temporal Web UI  http://127.0.0.1:$UI_PORT
  Temporal         $PAYORCH_TEMPORAL_ADDRESS   (.bin/temporal workflow list --address $PAYORCH_TEMPORAL_ADDRESS)
  PostgreSQL       $PAYORCH_DATABASE_URL
  API keys         $PAYORCH_API_KEYS
  Mail (dev)       $DATA/mail/
  Logs             $DATA/logs/

  try: curl -s -H 'Authorization: Bearer dev_backend_key' http://$PAYORCH_HTTP_ADDR/v1/customers

MSG

# Stay in the foreground until Ctrl-C or until a process dies.
wait -n "${PIDS[@]}" || true
say "a process exited"
exit 1
