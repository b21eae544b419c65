// Package storetest is the conformance suite for store.Store, in the style of
// go-cloud's drivertest: every implementation's tests call
// RunConformanceTests with a constructor, and the suite checks the contract
// method by method.
//
// The same suite runs against the embedded local store and, through the
// MLflow REST client, against a real `mlflow server` 3.x, so it asserts only
// behaviour both share: it never assumes an ID format beyond what MLflow
// documents, and each subtest uses fresh random names because a server is
// shared between subtests and between runs.
package storetest
