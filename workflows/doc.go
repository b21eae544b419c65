// Package workflows holds ModelLifecycle, the Temporal workflow that drives
// train → save → log → register → load-and-verify → promote, and the names
// it shares with clients: the task queue default, search attribute keys,
// the progress query and the promote/rollback update.
//
// Workflow code is deterministic: it reads time only through workflow.Now,
// derives every key from the workflow ID, iterates no maps, and does no I/O;
// `workflowcheck ./workflows/...` runs in `make lint`. A golden history in
// tests/testdata replays against it in CI to catch incompatible changes.
package workflows
