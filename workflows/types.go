package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/vocab"
)

// WorkflowName is the registered workflow type name.
const WorkflowName = "ModelLifecycle"

// Query, update and memo names.
const (
	ProgressQuery = "progress"
	MemoModelURI  = "model_uri"
	MemoMLflowURL = "mlflow_url"
	// MemoOutcome and MemoReason are the pipeline's outcome (Outcome*) and
	// why, once decided; MemoEvaluation is the evidence (policy.Evidence).
	MemoOutcome    = "outcome"
	MemoReason     = "outcome_reason"
	MemoEvaluation = "evaluation"
	// ApproveUpdate and RejectUpdate are the operator's decision on a
	// pipeline waiting for approval (an ApprovalRequest).
	ApproveUpdate = "approve"
	RejectUpdate  = "reject"
)

// Search attributes. They must be registered on the namespace (the dev
// server gets them from temporal-dev.yml); an unregistered one makes the
// workflow task fail forever.
var (
	ModelNameKey    = activities.ModelNameKey
	StageKey        = temporal.NewSearchAttributeKeyKeyword("Stage")
	ModelVersionKey = temporal.NewSearchAttributeKeyInt64("ModelVersion")
	// ScheduledStartKey is set by Temporal Schedules on the runs they start.
	ScheduledStartKey = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")
)

// Stages, in order; Stage search attribute values and Progress.Step.
const (
	StageTraining    = "training"
	StageSaving      = "saving"
	StageLogging     = "logging"
	StageRegistering = "registering"
	StageVerifying   = "verifying"
	StagePromoting   = "promoting"
	StagePromoted    = "promoted"
	StageFailed      = "failed"
	// Stages of pipelines with a promotion policy: evaluating after
	// verifying, awaiting-approval while an operator must decide, and the
	// final stages of a pipeline that completed without moving the alias.
	StageEvaluating       = "evaluating"
	StageAwaitingApproval = "awaiting-approval"
	StageKeptChampion     = "kept-champion"
	StageRejected         = "rejected"
	StageRegistered       = "registered"
)

// Outcomes of a completed pipeline (LifecycleResult.Outcome).
const (
	// OutcomePromoted: the alias points at the new version.
	OutcomePromoted = "promoted"
	// OutcomeKeptChampion: the policy kept the version on the alias (the
	// challenger did not beat it or missed the threshold).
	OutcomeKeptChampion = "kept-champion"
	// OutcomeRejected: an operator rejected the promotion, or the approval
	// wait ran out and the policy rejects then.
	OutcomeRejected = "rejected"
	// OutcomeRegistered: registered and verified, no alias to move (no
	// alias given, or policy never).
	OutcomeRegistered = "registered"
)

// DefaultVerifyInputs are used when the request gives none.
var DefaultVerifyInputs = []float64{4, 0, -1.5, 1000}

// LifecycleRequest starts a pipeline.
type LifecycleRequest struct {
	ModelName    string             `json:"model_name"`
	Alias        string             `json:"alias"` // "" = register and verify, do not promote
	Data         vocab.TrainingData `json:"data"`
	WeightsSize  int64              `json:"weights_size,omitempty"`
	VerifyInputs []float64          `json:"verify_inputs,omitempty"`
	// Policy decides whether the verified version takes the alias (zero:
	// always, as before policies). Holdout is the data it is evaluated on.
	Policy  policy.Policy `json:"policy,omitzero"`
	Holdout vocab.Holdout `json:"holdout,omitzero"`
	// Flavor and Trainer name the model's flavor and its trainer in the
	// worker's registry; "" is fakemodel, so requests recorded before they
	// existed start the same pipeline. An unknown name fails the Train step
	// at once (FlavorNotFound, UnknownTrainer; not retried).
	Flavor  string `json:"flavor,omitempty"`
	Trainer string `json:"trainer,omitempty"`
}

// ApprovalRequest is an operator's approve or reject.
type ApprovalRequest struct {
	By     string `json:"by"`               // who decides (required)
	Reason string `json:"reason,omitempty"` // why (required to reject)
}

// Approval is a recorded decision on a pipeline that waited for one.
type Approval struct {
	Decision string    `json:"decision"` // "approved", "rejected", or "timed-out"
	By       string    `json:"by,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
	Version  int       `json:"version"` // the challenger it was about
}

// LifecycleResult is what a finished pipeline produced.
type LifecycleResult struct {
	ModelName      string  `json:"model_name"`
	Version        int     `json:"version"`
	ModelURI       string  `json:"model_uri"`  // models:/name/version
	AliasURI       string  `json:"alias_uri"`  // models:/name@alias ("" when not promoted)
	LoggedModelURI string  `json:"logged_uri"` // models:/m-<id>
	RunID          string  `json:"run_id"`
	ModelID        string  `json:"model_id"`
	ManifestSHA256 string  `json:"manifest_sha256"`
	Alias          string  `json:"alias,omitempty"`
	PreviousAlias  int     `json:"previous_alias_version,omitempty"`
	Offset         float64 `json:"offset"`
	BytesMoved     int64   `json:"bytes_moved"`
	UIURL          string  `json:"mlflow_ui_url,omitempty"`
	// Outcome is one of Outcome* and Reason says why (the policy's
	// decision, the operator's rejection).
	// Flavor is the model's flavor when it is not fakemodel (Offset is
	// then 0).
	Flavor   string           `json:"flavor,omitempty"`
	Outcome  string           `json:"outcome,omitempty"`
	Reason   string           `json:"reason,omitempty"`
	Evidence *policy.Evidence `json:"evidence,omitempty"`
	Approval *Approval        `json:"approval,omitempty"`
	// PythonVerified is the Python worker's verification of a model
	// trained in Python: the manifest it checked, its predictions on the
	// check rows, and what it loaded.
	PythonVerified *PythonVerification `json:"python_verified,omitempty"`
}

// PythonVerification is what the Python worker verified: the manifest
// hash it checked, its predictions on the check rows, and what it loaded
// (ModelURI through Python MLflow, or Dir, the version staged by the Go
// worker on the embedded store).
type PythonVerification struct {
	ManifestSHA256 string    `json:"manifest_sha256"`
	Predictions    []float64 `json:"predictions"`
	ModelURI       string    `json:"model_uri"`
	Dir            string    `json:"dir,omitempty"`
}

// Progress is the answer of the progress query.
type Progress struct {
	Step       string   `json:"step"`
	StepsDone  []string `json:"steps_done"`
	Version    int      `json:"version,omitempty"`
	ModelURI   string   `json:"model_uri,omitempty"`
	BytesMoved int64    `json:"bytes_moved"`
	Error      string   `json:"error,omitempty"`
	// Evidence, Decision and Approval appear as the policy step gets them;
	// AwaitingApproval while the pipeline waits for an operator (until
	// ApprovalDeadline).
	Evidence         *policy.Evidence `json:"evidence,omitempty"`
	Decision         *policy.Decision `json:"decision,omitempty"`
	AwaitingApproval bool             `json:"awaiting_approval,omitempty"`
	ApprovalDeadline time.Time        `json:"approval_deadline,omitzero"`
	Approval         *Approval        `json:"approval,omitempty"`
}
