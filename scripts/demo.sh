#!/usr/bin/env bash
# make demo: start the Temporal dev server (persistent, with flavorflow's search
# attributes) and a worker on the embedded local store, run one pipeline with
# the tutorial's data (y = x + 3), load the promoted model back, and stop
# both cleanly. It also shows scheduled retraining on the same dev server: a
# daily schedule, triggered once now, then deleted. KEEP=1 leaves the
# servers running and says how to stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
data="$root/.data"
mkdir -p "$data"
temporal="$root/.venv/bin/temporal"
starter="$root/bin/starter"
worker="$root/bin/worker"

read -r -a devargs <<<"$("$starter" devserver-args)"
address=$(sed -n 's/^ *address: *\([^ #]*\).*/\1/p' temporal-dev.yml | head -1)

pids=()
cleanup() {
  if [[ "${KEEP:-}" == 1 ]]; then
    echo
    echo "Left running: dev server and worker (pids ${pids[*]})."
    echo "Stop them with: kill ${pids[*]}"
    return
  fi
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  echo "Stopped the worker and the dev server (state kept in .data/)."
}
trap cleanup EXIT

if "$temporal" operator cluster health --address "$address" >/dev/null 2>&1; then
  echo "Using the Temporal dev server already running at $address"
else
  echo "Starting the Temporal dev server: temporal ${devargs[*]}"
  "$temporal" "${devargs[@]}" >"$data/devserver.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    "$temporal" operator cluster health --address "$address" >/dev/null 2>&1 && break
    sleep 0.2
  done
  "$temporal" operator cluster health --address "$address" >/dev/null || { cat "$data/devserver.log"; exit 1; }
fi

echo "Starting a worker (log: .data/worker.log)"
FLAVORFLOW_HEALTH_ADDR=127.0.0.1:0 "$worker" >"$data/worker.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  grep -q '"worker started"' "$data/worker.log" 2>/dev/null && break
  kill -0 "${pids[-1]}" 2>/dev/null || { cat "$data/worker.log"; exit 1; }
  sleep 0.1
done

echo
"$starter" run --model demo-fakemodel --pairs "1,4;2,5;3,6;10,13" --alias champion
case "${MLFLOW_TRACKING_URI:-}" in
  http://*|https://*) ;; # the starter printed the MLflow UI link above
  *) echo "  MLflow UI    none for the embedded store (MLFLOW_TRACKING_URI=http://host:5000 make demo uses a server and links its UI)" ;;
esac
echo
echo "Loading models:/demo-fakemodel@champion back (the tutorial's test: predict(4) == 7):"
"$starter" predict models:/demo-fakemodel@champion 4

echo
echo "Scheduled retraining on the same dev server: a daily schedule, triggered once now"
"$starter" schedule create --id demo-retrain --model demo-fakemodel --pairs "1,4;2,5;3,6;10,13;20,23" --cron "0 3 * * *" --alias champion
"$starter" schedule trigger demo-retrain
run_id=""
for _ in $(seq 1 150); do
  desc=$("$starter" schedule describe demo-retrain --output json)
  if ! grep -q '"running"' <<<"$desc" && grep -q '"num_actions": *[1-9]' <<<"$desc"; then
    run_id=$(sed -n 's/.*"workflow_id": *"\([^"]*\)".*/\1/p' <<<"$desc" | head -1)
    break
  fi
  sleep 0.2
done
[[ -n "$run_id" ]] && "$starter" status "$run_id"
"$starter" schedule describe demo-retrain
"$starter" schedule delete demo-retrain
