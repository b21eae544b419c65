package workflows

import (
	"github.com/flavorflow/flavorflow/vocab"
	"go.temporal.io/sdk/temporal"
)

// WorkflowName is the registered workflow type name.
const WorkflowName = "ModelLifecycle"

// Query, update and memo names.
const (
	ProgressQuery = "progress"
	MemoModelURI  = "model_uri"
	MemoMLflowURL = "mlflow_url"
)

// Search attributes. They must be registered on the namespace (the dev
// server gets them from temporal-dev.yml); an unregistered one makes the
// workflow task fail forever.
var (
	ModelNameKey    = temporal.NewSearchAttributeKeyKeyword("ModelName")
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
}

// Progress is the answer of the progress query.
type Progress struct {
	Step       string   `json:"step"`
	StepsDone  []string `json:"steps_done"`
	Version    int      `json:"version,omitempty"`
	ModelURI   string   `json:"model_uri,omitempty"`
	BytesMoved int64    `json:"bytes_moved"`
	Error      string   `json:"error,omitempty"`
}
