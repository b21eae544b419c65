package vocab

import "strconv"

// Tag keys flavorflow writes on MLflow objects. They are part of the stored
// data: a renamed key would make every existing version look unverified.
const (
	// TagWorkflowID and TagWorkflowRunID, on runs, logged models and
	// versions: the pipeline that made them (the workflow ID is the
	// idempotency key every look-up-before-create searches by).
	TagWorkflowID    = "flavorflow.workflow_id"
	TagWorkflowRunID = "flavorflow.workflow_run_id"
	// TagManifestSHA256, on the logged model (by LogModel) and on the
	// version: the sha256 of the model's manifest, the authority every load
	// checks the downloaded bytes against.
	TagManifestSHA256 = "flavorflow.manifest_sha256"
	// TagIdempotencyKey, on a logged model: the key LogModel finds it again
	// by, to resume an interrupted upload.
	TagIdempotencyKey = "flavorflow.idempotency_key"
	// TagSavedCreated, on a logged model: the utc_time_created its MLmodel
	// was saved with (RFC 3339, nanoseconds), so a re-run saves the same bytes.
	TagSavedCreated = "flavorflow.saved_created"
	// TagVerified, on a version: "true" once it loaded and predicted as
	// trained; promotion requires it.
	TagVerified = "flavorflow.verified"
	// TagVerifiedBy, on a version registered outside a pipeline: the
	// workflow that verified it.
	TagVerifiedBy = "flavorflow.verified_by"
	// TagVerifyPredictions, on a version verified by VerifyVersion:
	// {"inputs": [...], "predictions": [...]}, what it predicted then.
	TagVerifyPredictions = "flavorflow.verify_predictions"
	// TagPromotedBy + alias, on a version: the workflow that promoted it.
	TagPromotedBy = "flavorflow.promoted_by."
	// TagDataSHA256, on the run: the digest of the training samples.
	TagDataSHA256 = "flavorflow.data_sha256"
	// TagCutoff, on the run: the training-data cutoff.
	TagCutoff = "flavorflow.training_cutoff"
	// TagCreatedBy, on a registered model: the workflow that created it, so
	// compensation deletes only models its own pipeline created.
	TagCreatedBy = "flavorflow.created_by"
	// TagPipelineStatus, on a version: PipelineFailed or PipelineCancelled
	// when the pipeline that registered it ended before it was verified and
	// promoted, PipelineRetried once a re-run of that workflow takes it up.
	TagPipelineStatus = "flavorflow.pipeline_status"
	// TagPipelineError, on a version: the error type the pipeline failed with.
	TagPipelineError = "flavorflow.pipeline_error"
	// TagExportKey marks objects created by an export, so a repeated export
	// finds them instead of creating more.
	TagExportKey = "flavorflow.export_key"
	// TagSourceManifestSHA256, on an exported version: the manifest hash of
	// the version it was exported from.
	TagSourceManifestSHA256 = "flavorflow.source_manifest_sha256"
)

// Values of TagPipelineStatus.
const (
	PipelineFailed    = "failed"
	PipelineCancelled = "cancelled" // the pipeline was cancelled (no error type)
	PipelineRetried   = "retried"
)

// Tag keys Evaluate writes. On the challenger version: its scores, the
// held-out rows and the champion it was compared with (and that one's
// scores); on the champion version: its scores in that comparison, under
// TagEvalVs(challenger, metric).
const (
	TagEvalMSE             = "flavorflow.eval.mse"
	TagEvalMAE             = "flavorflow.eval.mae"
	TagEvalR2              = "flavorflow.eval.r2"
	TagEvalRows            = "flavorflow.eval.rows"
	TagEvalHeldOut         = "flavorflow.eval.held_out"    // how the rows were chosen
	TagEvalDataSHA256      = "flavorflow.eval.data_sha256" // of the held-out rows
	TagEvalChampionVersion = "flavorflow.eval.champion_version"
	TagEvalChampionMSE     = "flavorflow.eval.champion_mse"
	TagEvalChampionMAE     = "flavorflow.eval.champion_mae"
	TagEvalChampionR2      = "flavorflow.eval.champion_r2"
)

// TagEvalVs is the tag on a champion version holding its metric ("mse",
// "mae", "r2") when it was compared with challenger:
// flavorflow.eval.vs_v<challenger>.<metric>.
func TagEvalVs(challenger int, metric string) string {
	return "flavorflow.eval.vs_v" + strconv.Itoa(challenger) + "." + metric
}
