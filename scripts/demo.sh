#!/usr/bin/env bash
# make demo: start the Temporal dev server (persistent, with flavorflow's search
# attributes) and a worker on the embedded local store, run one pipeline with
# the tutorial's data (y = x + 3), load the promoted model back, and stop
# both cleanly. It also shows scheduled retraining on the same dev server: a
# daily schedule, triggered once now, then deleted. KEEP=1 leaves the
# servers running and says how to stop them.
#
# TRAINER=sklearn-linear (any Python trainer: sklearn-*, py-*) runs the
# scikit-learn pipeline instead: it also starts the Python worker on
# <queue>-python with the Go worker's work directory, trains on a small CSV
# (y = 2a - b + 1), and predicts with the promoted model through Python
# MLflow. It works on the embedded store and, with MLFLOW_TRACKING_URI set,
# against an MLflow server.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
data="$root/.data"
mkdir -p "$data"
temporal="$root/.venv/bin/temporal"
python="$root/.venv/bin/python"
starter="$root/bin/starter"
worker="$root/bin/worker"

trainer="${TRAINER:-}"
case "$trainer" in
  "") ;;
  sklearn-*|py-*) ;;
  *) echo "TRAINER=$trainer: make demo runs FakeModel without TRAINER, or a Python trainer (sklearn-linear)" >&2; exit 2 ;;
esac

read -r -a devargs <<<"$("$starter" devserver-args)"
address=$(sed -n 's/^ *address: *\([^ #]*\).*/\1/p' temporal-dev.yml | head -1)

pids=()
cleanup() {
  if [[ "${KEEP:-}" == 1 ]]; then
    echo
    echo "Left running: dev server and worker${trainer:+s} (pids ${pids[*]})."
    echo "Stop them with: kill ${pids[*]}"
    return
  fi
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  echo "Stopped the worker${trainer:+s} and the dev server (state kept in .data/)."
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

# wait_for_log LOG PATTERN TRIES PAUSE: polls LOG for PATTERN; the process
# started last dying meanwhile prints LOG and ends the demo. Returns 1 when
# PATTERN did not appear in time.
wait_for_log() {
  for _ in $(seq 1 "$3"); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$1"; exit 1; }
    sleep "$4"
  done
  return 1
}

echo "Starting a worker (log: .data/worker.log)"
FLAVORFLOW_HEALTH_ADDR=127.0.0.1:0 "$worker" >"$data/worker.log" 2>&1 &
pids+=($!)
wait_for_log "$data/worker.log" '"worker started"' 100 0.1 || true # still starting: the pipeline waits in its queue

if [[ -n "$trainer" ]]; then
  # The Python worker polls the Go worker's queue plus -python and saves into
  # the same work directory (the Go worker uploads from there and, on the
  # embedded store, stages the registered version there for verification).
  read -r queue workdir pyaddress namespace < <("$starter" config --output json | "$python" -c '
import json, sys
d = json.load(sys.stdin)
s = {e["key"]: e["value"] for e in d["settings"]}
print(d["task_queue"], s["worker.work_dir"], d["address"], d["namespace"])')
  echo "Starting the Python worker on $queue-python (log: .data/pyworker.log)"
  "$python" pyworker/flavorflow_pyworker.py --address "$pyaddress" --namespace "$namespace" \
    --task-queue "$queue-python" --work-dir "$workdir" >"$data/pyworker.log" 2>&1 &
  pids+=($!)
  wait_for_log "$data/pyworker.log" '^READY$' 600 0.2 || { cat "$data/pyworker.log"; exit 1; }

  csv="$data/demo-rows.csv"
  {
    echo "a,b,y"
    for a in 0 1 2 3 4 5 6 7; do
      b=$(( (a * 3) % 5 ))
      echo "$a,$b,$(( 2 * a - b + 1 ))"
    done
  } >"$csv"
  echo "Training data .data/demo-rows.csv (y = 2a - b + 1):"
  cat "$csv"
  echo
  "$starter" run --model demo-sklearn --trainer "$trainer" --data "$csv" --alias champion | tee "$data/demo-run.txt"
  case "${MLFLOW_TRACKING_URI:-}" in
    http://*|https://*)
      echo
      echo "Predicting with models:/demo-sklearn@champion through Python MLflow (starter predict loads Go flavors only), a=4 b=1:"
      cmd="import mlflow, pandas as pd; print(mlflow.pyfunc.load_model('models:/demo-sklearn@champion').predict(pd.DataFrame({'a': [4.0], 'b': [1.0]}))[0])"
      echo "  .venv/bin/python -c \"$cmd\""
      "$python" -c "$cmd"
      ;;
    *)
      echo "  MLflow UI    none for the embedded store (MLFLOW_TRACKING_URI=http://host:5000 make demo TRAINER=$trainer uses a server)"
      # Python MLflow cannot resolve models:/ on the embedded store: it
      # loads the version's files where the store keeps them (the logged
      # model's artifacts, which the pipeline just verified).
      store=$("$starter" config --output json | "$python" -c 'import json, sys; print(json.load(sys.stdin)["tracking_uri"])')
      model_id=$(grep -o 'models:/m-[0-9a-f]*' "$data/demo-run.txt" | head -1 | sed 's|models:/||')
      dir=$(ls -d "$store"/artifacts/*/models/"$model_id"/artifacts 2>/dev/null | head -1)
      if [[ -n "$model_id" && -n "$dir" ]]; then
        echo
        echo "Predicting with the promoted version through Python MLflow (starter predict loads Go flavors only), a=4 b=1:"
        cmd="import mlflow, pandas as pd; print(mlflow.pyfunc.load_model('$dir').predict(pd.DataFrame({'a': [4.0], 'b': [1.0]}))[0])"
        echo "  .venv/bin/python -c \"$cmd\""
        "$python" -c "$cmd"
      else
        echo "  (no logged model found in the run's output; skipping the prediction)"
      fi
      ;;
  esac
  exit 0
fi

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
