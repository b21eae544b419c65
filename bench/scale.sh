#!/usr/bin/env bash
# make bench-scale: P6 again on scaled-out engines — three worker processes on
# one task queue, an MLflow server with --workers 4 on PostgreSQL — appended
# to BENCHMARKS.md. Installs Debian's postgresql and psycopg2-binary (into
# the venv) when they are missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [[ -z "$PG_BIN" ]]; then
	echo "bench-scale: installing Debian's postgresql" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
	PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[[ -n "$PG_BIN" ]] || { echo "bench-scale: PostgreSQL did not install" >&2; exit 1; }
fi
.venv/bin/python -c 'import psycopg2' 2>/dev/null ||
	.venv/bin/pip install --quiet --disable-pip-version-check 'psycopg2-binary==2.9.13'

PGDATA=$(mktemp -d /tmp/flavorflow-pg-XXXXXX)
PGPORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) == 0 ]] && chown postgres "$PGDATA"
cleanup() { as_pg "$PG_BIN/pg_ctl" -D "$PGDATA/db" -m fast stop >/dev/null 2>&1 || true; rm -rf "$PGDATA"; }
trap cleanup EXIT
as_pg "$PG_BIN/initdb" -D "$PGDATA/db" -U postgres -A trust >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA/db" -w -l "$PGDATA/db/server.log" \
	-o "-p $PGPORT -k $PGDATA -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres mlflow
PGVER=$("$PG_BIN/postgres" --version)

BENCH_COMMAND="make bench-scale" go run ./bench -only P6 -p6-mlflow -workers 3 -mlflow-workers 4 \
	-backend-store-uri "postgresql+psycopg2://postgres@127.0.0.1:$PGPORT/mlflow" \
	-out BENCHMARKS.md -append -title "Scale out: 3 workers, MLflow --workers 4 on $PGVER" "$@"
