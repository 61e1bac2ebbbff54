#!/usr/bin/env bash
# The production-shaped Temporal: the server built from the module proxy
# (go.temporal.io/server at the version tools/temporal's CLI pins, see
# tools/temporal-server) on its own PostgreSQL cluster, with its SQL schema tool.
#
#   scripts/temporal-server.sh          start it in the foreground (Ctrl-C stops all)
#   scripts/temporal-server.sh bench    start it, run `make bench`'s P1 against it
#                                       (bench/results-prod.json), stop it
#
# State lives under $PAYORCH_DATA_DIR/temporal-server (default .data/); the binaries are
# built once into $PAYORCH_DATA_DIR/bin. Ports: PostgreSQL $TEMPORAL_PG_PORT (55433),
# frontend $TEMPORAL_SERVER_PORT (7633; history, matching, worker and membership ports
# follow it). Like the dev server the tests use, the task queues have one partition.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA=${PAYORCH_DATA_DIR:-.data}
case "$DATA" in /*) ;; *) DATA="$ROOT/$DATA" ;; esac
PG_PORT=${TEMPORAL_PG_PORT:-55433}
FE_PORT=${TEMPORAL_SERVER_PORT:-7633}
# fsync: off by default, as in the benchmark's PostgreSQL and dev server (work, not the
# disk, is measured); TEMPORAL_PG_FSYNC=on for a durable run.
PG_FSYNC=${TEMPORAL_PG_FSYNC:-off}
BIN="$DATA/bin"
DIR="$DATA/temporal-server"
MODE=${1:-run}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'temporal-server: %s\n' "$*" >&2; exit 1; }

PG_BIN=$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -n1)")
[ -x "$PG_BIN/initdb" ] || die "PostgreSQL binaries not found (make deps installs them)"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# --- binaries ---------------------------------------------------------------
mkdir -p "$BIN" "$DIR/logs"
if [ ! -x "$BIN/temporal-server" ] || [ ! -x "$BIN/temporal-sql-tool" ]; then
  say "building temporal-server and temporal-sql-tool (tools/temporal-server; several minutes the first time)"
  (cd tools/temporal-server && go build -o "$BIN/temporal-server" go.temporal.io/server/cmd/server \
    && go build -o "$BIN/temporal-sql-tool" go.temporal.io/server/cmd/tools/sql)
fi
SERVER_MOD=$(cd tools/temporal-server && go list -m -f '{{.Dir}}' go.temporal.io/server)
[ -d "$SERVER_MOD/schema/postgresql/v12" ] || die "schema not found under $SERVER_MOD"

PIDS=()
PG_STARTED=
cleanup() {
  trap - INT TERM EXIT
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "$PG_STARTED" ]; then as_pg "$PG_BIN/pg_ctl" stop -D "$DIR/pg" -m fast >/dev/null 2>&1 || true; fi
  say "stopped"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# --- PostgreSQL -------------------------------------------------------------
if [ ! -f "$DIR/pg/PG_VERSION" ]; then
  say "initialising Temporal's PostgreSQL cluster in $DIR/pg"
  mkdir -p "$DIR/pg"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR/pg"; fi
  as_pg "$PG_BIN/initdb" -D "$DIR/pg" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DIR/logs/initdb.log" 2>&1 \
    || die "initdb failed, see $DIR/logs/initdb.log"
fi
if [ "$(id -u)" = 0 ]; then touch "$DIR/logs/postgres.log"; chown postgres: "$DIR/logs/postgres.log"; fi
say "starting PostgreSQL for Temporal on 127.0.0.1:$PG_PORT (fsync=$PG_FSYNC)"
as_pg "$PG_BIN/pg_ctl" start -D "$DIR/pg" -w -t 60 -l "$DIR/logs/postgres.log" \
  -o "-p $PG_PORT -h 127.0.0.1 -k $DIR/pg -c fsync=$PG_FSYNC -c synchronous_commit=$PG_FSYNC -c max_connections=200" >/dev/null \
  || die "PostgreSQL did not start, see $DIR/logs/postgres.log"
PG_STARTED=1

# --- schema (idempotent) ----------------------------------------------------
sql() { "$BIN/temporal-sql-tool" --plugin postgres12 --ep 127.0.0.1 -p "$PG_PORT" -u postgres --pw "" "$@"; }
for db in temporal temporal_visibility; do
  if ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc "SELECT 1 FROM pg_database WHERE datname='$db'" postgres | grep -q 1; then
    say "creating and versioning database $db"
    sql --db "$db" create >>"$DIR/logs/schema.log" 2>&1
    sql --db "$db" setup-schema -v 0.0 >>"$DIR/logs/schema.log" 2>&1
  fi
done
sql --db temporal update-schema -d "$SERVER_MOD/schema/postgresql/v12/temporal/versioned" >>"$DIR/logs/schema.log" 2>&1 \
  || die "schema update failed, see $DIR/logs/schema.log"
sql --db temporal_visibility update-schema -d "$SERVER_MOD/schema/postgresql/v12/visibility/versioned" >>"$DIR/logs/schema.log" 2>&1 \
  || die "visibility schema update failed, see $DIR/logs/schema.log"

# --- configuration ----------------------------------------------------------
mkdir -p "$DIR/config/dynamicconfig"
cat >"$DIR/config/dynamicconfig/bench.yaml" <<EOF
matching.numTaskqueueReadPartitions:
  - value: 1
matching.numTaskqueueWritePartitions:
  - value: 1
EOF
store() { # name database maxConns
  cat <<EOF
    $1:
      sql:
        pluginName: "postgres12"
        databaseName: "$2"
        connectAddr: "127.0.0.1:$PG_PORT"
        connectProtocol: "tcp"
        user: "postgres"
        password: ""
        maxConns: $3
        maxIdleConns: $3
        maxConnLifetime: "1h"
EOF
}
svc() { # name grpcPort membershipPort
  cat <<EOF
  $1:
    rpc:
      grpcPort: $2
      membershipPort: $3
      bindOnLocalHost: true
EOF
}
{
  cat <<EOF
log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
EOF
  store default temporal 20
  store visibility temporal_visibility 4
  cat <<EOF
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
services:
EOF
  svc frontend "$FE_PORT" $((FE_PORT - 700))
  svc history $((FE_PORT + 1)) $((FE_PORT - 699))
  svc matching $((FE_PORT + 2)) $((FE_PORT - 698))
  svc worker $((FE_PORT + 6)) $((FE_PORT - 694))
  cat <<EOF
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:$FE_PORT"
dcRedirectionPolicy:
  policy: "noop"
dynamicConfigClient:
  filepath: "$DIR/config/dynamicconfig/bench.yaml"
  pollInterval: "10s"
EOF
} >"$DIR/config/bench.yaml"

# --- server -----------------------------------------------------------------
say "starting temporal-server on 127.0.0.1:$FE_PORT (logs: $DIR/logs/server.log)"
"$BIN/temporal-server" --root "$DIR" --config config --env bench --allow-no-auth start >"$DIR/logs/server.log" 2>&1 &
PIDS+=($!)
ADDR="127.0.0.1:$FE_PORT"
for i in $(seq 1 120); do
  .bin/temporal operator cluster health --address "$ADDR" >/dev/null 2>&1 && break
  kill -0 "${PIDS[0]}" 2>/dev/null || die "temporal-server exited, see $DIR/logs/server.log"
  [ "$i" = 120 ] && die "temporal-server did not become healthy, see $DIR/logs/server.log"
  sleep 0.5
done
if ! .bin/temporal operator namespace describe --address "$ADDR" -n default >/dev/null 2>&1; then
  .bin/temporal operator namespace create --address "$ADDR" -n default --retention 24h >/dev/null
fi
# The search attributes payorch's workflows set (contracts.SearchAttributeFlags).
for sa in CustomerId=Keyword InvoiceId=Keyword SubscriptionId=Keyword PaymentStatus=Keyword NextRetryAt=Datetime WalletId=Keyword; do
  .bin/temporal operator search-attribute create --address "$ADDR" -n default --name "${sa%=*}" --type "${sa#*=}" >/dev/null 2>&1 || true
done
# The namespace and search-attribute caches refresh every few seconds: wait until a start
# that sets every search attribute is accepted (a probe workflow, terminated at once).
for i in $(seq 1 120); do
  probe="payorch-probe-$$-$i"
  if .bin/temporal workflow start --address "$ADDR" -n default --type Probe --task-queue payorch-probe --workflow-id "$probe" \
       --search-attribute 'CustomerId="probe"' --search-attribute 'InvoiceId="probe"' --search-attribute 'SubscriptionId="probe"' \
       --search-attribute 'PaymentStatus="probe"' --search-attribute 'WalletId="probe"' --static-summary probe >/dev/null 2>"$DIR/logs/probe.err"; then
    .bin/temporal workflow terminate --address "$ADDR" -n default --workflow-id "$probe" --reason probe >/dev/null 2>&1 || true
    break
  fi
  [ "$i" = 120 ] && die "temporal-server does not accept workflow starts with payorch's search attributes: $(tail -1 "$DIR/logs/probe.err"); see $DIR/logs/server.log"
  sleep 1
done
say "temporal-server ready at $ADDR (namespace default)"

case "$MODE" in
  bench)
    BENCH_TEMPORAL_ADDRESS="$ADDR" BENCH_ONLY=${BENCH_ONLY:-P1} BENCH_RESULTS=${BENCH_RESULTS:-$ROOT/bench/results-prod.json} go run ./bench
    ;;
  run)
    wait -n "${PIDS[@]}" || true
    die "temporal-server exited, see $DIR/logs/server.log"
    ;;
  *) die "unknown mode $MODE (run or bench)" ;;
esac
