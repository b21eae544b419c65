// Package fakemodel is the tutorial's FakeModel in Go: Predict(x) = x + Offset.
//
// Fit learns the offset from (x, y) pairs by least squares (the mean of
// y - x). Models are saved as JSON, never pickle. An optional weights payload
// of N deterministic bytes (a function of a seed) lets tests and benchmarks
// make a model of any size without keeping it in memory: WeightsReader
// generates it as a stream and the same stream can be regenerated to check it.
//
// The package knows nothing of MLflow or Temporal.
package fakemodel
