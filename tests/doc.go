// Package tests holds flavorflow's end-to-end tests: the lifecycle with real
// activities on the real local store (in Temporal's test environment and on
// a real dev server with a real worker), the exactly-once and integrity
// checks under injected faults, the golden-history replay test, and the
// cross-language tests in tests/python (pytest against MLflow's Python API).
package tests
