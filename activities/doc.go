// Package activities holds the model lifecycle's Temporal activities as
// methods on one Activities struct that carries their dependencies (the
// store, the work directory), in the style of temporalio/samples-go:
//
//	Train         fit a FakeModel from training pairs
//	SaveModel     write the MLflow model directory (MLmodel, data, manifest)
//	LogModel      create or find the run and logged model, stream the files up
//	RegisterModel create or find the model version
//	ReadAlias     read where an alias points before verification
//	LoadAndVerify download the exact version, check every hash, compare predictions
//	Evaluate      score the challenger and the champion on the same held-out rows
//	PromoteAlias  ask the alias's keeper workflow to move it (Update-with-Start)
//	ApplyAliasChange the keeper's step: check, move by the forward-only rule, read back
//
// Activities exchange references (ArtifactRef{URI, SHA256, Size}) and small
// values, never model bytes.
//
// # Exactly once
//
// Temporal runs an activity at least once. Every object an activity creates
// is tagged with the workflow ID (vocab.TagWorkflowID) and looked up before it is
// created, so a retry, a second worker, or a worker killed after the server
// committed but before Temporal heard of it finds the object instead of making
// another run, logged model or model version.
//
// # Files between activities
//
// The saved model lives in WorkDir/<workflow id>/model. SaveModel writes it
// deterministically (model_uuid derived from the workflow ID, creation time
// from the workflow), so an activity that runs on a worker without the
// directory re-saves it from the durable Train result and gets the same
// manifest hash, which it checks.
//
// # Errors
//
// Errors leave as Temporal ApplicationErrors whose type is the failure code
// (see ERRORS.md) and which are non-retryable exactly when the code is.
package activities
