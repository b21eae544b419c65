// Package interop is what the interoperability test binaries (tests/cmd)
// share: log a saved model directory to a new run of a fixed experiment and
// register it, the way a user's own program would call flavor.LogModel
// outside a pipeline. The Python tests then load what Go registered.
package interop
