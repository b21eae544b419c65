package activities

import (
	"encoding/json"
	"time"

	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/vocab"
)

// ArtifactRef points at stored bytes without carrying them.
type ArtifactRef struct {
	URI    string `json:"uri"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// TrainInput is the input of Train.
type TrainInput struct {
	ModelName   string             `json:"model_name"`
	Data        vocab.TrainingData `json:"data"`
	Holdout     vocab.Holdout      `json:"holdout,omitzero"` // rows kept out of training
	WeightsSize int64              `json:"weights_size,omitempty"`
	// Cutoff is the training-data cutoff (the schedule's nominal time for
	// scheduled runs); recorded as a tag.
	Cutoff time.Time `json:"cutoff,omitzero"`
	// Flavor and Trainer name the model's flavor and the trainer that fits
	// it in the worker's registry ("": fakemodel, as before they existed,
	// so inputs recorded in older histories mean what they meant).
	Flavor  string `json:"flavor,omitempty"`
	Trainer string `json:"trainer,omitempty"`
}

// TrainOutput is the trained model (a few numbers, not bytes).
type TrainOutput struct {
	Model fakemodel.FakeModel `json:"model"`
	// Stats and DataSHA256 are of the rows trained on: held-out rows are
	// not in them.
	Stats      fakemodel.Stats `json:"stats"`
	DataSHA256 string          `json:"data_sha256"`
	// HeldOut says how rows were held out of training ("" when none were)
	// and HeldOutRows how many.
	HeldOut     string `json:"held_out,omitempty"`
	HeldOutRows int    `json:"held_out_rows,omitempty"`
	// Dataset is where the rows trained on came from, logged as the run's
	// dataset input (nil in outputs recorded before it existed).
	Dataset *TrainingDataset `json:"dataset,omitempty"`
	// Flavor, Params, Metrics and Check are set for models of flavors other
	// than fakemodel (Model is then zero): the model as JSON (decoded by the
	// flavor's flavor.Decoder), the trainer's metrics, and the rows the
	// version is verified on with the trained model's predictions.
	Flavor  string             `json:"flavor,omitempty"`
	Params  json.RawMessage    `json:"params,omitempty"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Check   *ModelCheck        `json:"check,omitempty"`
}

// ModelCheck is what a loaded version must predict: the trained model's
// predictions on a few training rows (its input columns only).
type ModelCheck struct {
	Rows        rows.Table `json:"rows"`
	Predictions []float64  `json:"predictions"`
}

// SaveInput is the input of SaveModel.
type SaveInput struct {
	ModelName string              `json:"model_name"`
	Model     fakemodel.FakeModel `json:"model"`
	Created   time.Time           `json:"created"` // workflow start time: makes a re-save byte-identical
	// Flavor and Params are TrainOutput's, for models of other flavors.
	Flavor string          `json:"flavor,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
}

// SaveOutput references the saved directory: URI file://<dir>, SHA256 of the
// manifest, Size of all files.
type SaveOutput struct {
	Dir ArtifactRef `json:"dir"`
	// Created is the creation time the save wrote (SaveInput.Created, or an
	// earlier run's of the same workflow ID); LogModel re-saves with it.
	Created time.Time `json:"created,omitzero"`
}

// LogInput is the input of LogModel.
type LogInput struct {
	ModelName string      `json:"model_name"`
	Save      SaveInput   `json:"save"` // to re-save on a worker without the directory
	Saved     ArtifactRef `json:"saved"`
	Train     TrainOutput `json:"train"`
	Cutoff    time.Time   `json:"cutoff,omitzero"`
	// External: another worker (the Python one) saved the directory at
	// Saved.URI; LogModel uploads it as it is and cannot re-save it.
	External bool `json:"external,omitempty"`
}

// LogOutput describes the run and logged model.
type LogOutput struct {
	ExperimentID string      `json:"experiment_id"`
	RunID        string      `json:"run_id"`
	ModelID      string      `json:"model_id"`
	ModelURI     string      `json:"model_uri"` // models:/m-<id>
	Logged       ArtifactRef `json:"logged"`    // artifact URI, manifest sha256, total size
	BytesSent    int64       `json:"bytes_sent"`
}

// RegisterInput is the input of RegisterModel.
type RegisterInput struct {
	ModelName      string `json:"model_name"`
	ModelID        string `json:"model_id"`
	RunID          string `json:"run_id"`
	ManifestSHA256 string `json:"manifest_sha256"`
}

// RegisterOutput is the registered version.
type RegisterOutput struct {
	Version  int    `json:"version"`
	ModelURI string `json:"model_uri"` // models:/name/version
	Created  bool   `json:"created"`   // false when a retry found it
	UIURL    string `json:"ui_url,omitempty"`
	// Location is where the version's files are, as registration read
	// it; later steps pass it on (nil in histories from before it).
	Location *VersionLocation `json:"location,omitempty"`
}

// VersionLocation is a registered version's storage location together with
// what identifies that version: its source and creation time. Later steps,
// maybe on other workers, hand it to the store (store.LocationHinter) so
// that they do not ask MLflow's get-download-uri again; the store uses it
// only for an answer about the very same version.
type VersionLocation struct {
	Source          string `json:"source"`
	CreatedMs       int64  `json:"created_ms"`
	StorageLocation string `json:"storage_location"`
}

// AliasInput names an alias.
type AliasInput struct {
	ModelName string `json:"model_name"`
	Alias     string `json:"alias"`
}

// AliasOutput is where an alias points (0: not set).
type AliasOutput struct {
	Version int `json:"version"`
}

// VerifyInput is the input of LoadAndVerify.
type VerifyInput struct {
	ModelName      string              `json:"model_name"`
	Version        int                 `json:"version"`
	ManifestSHA256 string              `json:"manifest_sha256"`
	Expected       fakemodel.FakeModel `json:"expected"`
	Inputs         []float64           `json:"inputs"`
	// Flavor and Check replace Expected and Inputs for models of other
	// flavors.
	Flavor string      `json:"flavor,omitempty"`
	Check  *ModelCheck `json:"check,omitempty"`
	// Location is RegisterOutput's (nil: the store is asked).
	Location *VersionLocation `json:"location,omitempty"`
}

// VerifyOutput reports a passed verification.
type VerifyOutput struct {
	ManifestSHA256 string    `json:"manifest_sha256"`
	Predictions    []float64 `json:"predictions"`
	BytesRead      int64     `json:"bytes_read"`
}

// EvaluateInput is the input of Evaluate: score the challenger version and
// the champion version (the one the alias points at) on the same held-out
// rows, with the flavor's predictions of the exact downloaded versions.
type EvaluateInput struct {
	ModelName        string `json:"model_name"`
	Challenger       int    `json:"challenger"`
	ChallengerSHA256 string `json:"challenger_sha256"` // manifest hash recorded at logging
	// ChallengerRunID and ChallengerModelID are the challenger's run and
	// logged model: the scores are logged to that run as metrics.
	ChallengerRunID   string `json:"challenger_run_id"`
	ChallengerModelID string `json:"challenger_model_id"`
	Champion          int    `json:"champion,omitempty"` // 0: no champion, score the challenger only
	// Data, Holdout and Cutoff are the pipeline's: the held-out rows are
	// chosen exactly as Train chose the rows it kept out.
	Data    vocab.TrainingData `json:"data"`
	Holdout vocab.Holdout      `json:"holdout"`
	Cutoff  time.Time          `json:"cutoff,omitzero"`
	// TrainDataSHA256, when set, is Train's DataSHA256: the rows the
	// challenger was trained on. If the data now splits into other
	// training rows (the file was rewritten or appended to since), the
	// held-out rows may include rows the challenger was trained on, and
	// Evaluate refuses (InvalidTrainingData) rather than score on them.
	TrainDataSHA256 string `json:"train_data_sha256,omitempty"`
	// At is the time metrics are logged with (the workflow's start), so a
	// retried evaluation logs identical points.
	At time.Time `json:"at"`
	// Flavor is the challenger's flavor when it is not fakemodel ("": a
	// FakeModel pipeline, whose input is the bytes it was): the held-out
	// rows are then rows of named columns and both versions load through
	// the worker's flavor registry.
	Flavor string `json:"flavor,omitempty"`
}

// EvaluateOutput is the evidence the policy decides on.
type EvaluateOutput struct {
	Evidence  policy.Evidence `json:"evidence"`
	BytesRead int64           `json:"bytes_read"`
}

// PromoteInput is the input of PromoteAlias.
type PromoteInput struct {
	ModelName string `json:"model_name"`
	Alias     string `json:"alias"`
	Version   int    `json:"version"`
	Previous  int    `json:"previous"` // where the alias pointed before verification
	// Rollback allows moving the alias backwards (an operator's decision).
	Rollback bool `json:"rollback,omitempty"`
	// Keeper is the workflow ID of the alias's keeper workflow, which
	// serializes its changes ("" in pipelines started before it existed:
	// the change is applied directly).
	Keeper string `json:"keeper,omitempty"`
	// Decided is the evidence, decision and approval behind the change,
	// for the alias history (nil: a plain promotion). With
	// RequireChampion it also makes the change conditional.
	Decided *Decided `json:"decided,omitempty"`
	// Record, when set, moves nothing: it records in the alias history that
	// the pipeline decided not to promote ("kept-champion", "rejected"),
	// with Decided's reason and evidence.
	Record string `json:"record,omitempty"`
	// Location is RegisterOutput's (nil: the store is asked).
	Location *VersionLocation `json:"location,omitempty"`
}

// Decided is the evidence and decision (and the operator's approval) a
// conditional promotion carries into the alias keeper's history.
type Decided struct {
	Evidence *policy.Evidence `json:"evidence,omitempty"`
	Reason   string           `json:"reason"`
	// RequireChampion makes the change conditional on the evidence: it is
	// applied only if the alias still points at Evidence.Champion, the
	// version the challenger was compared with (0: unset). Otherwise
	// nothing is written and the output says Stale, so the pipeline
	// evaluates again against the new champion. A conditional change is
	// not bound by "forward only": it carries proof against the current
	// champion, which is what that rule stands in for.
	RequireChampion bool `json:"require_champion,omitempty"`
	// ApprovedBy and ApprovalReason are the operator's, when the policy
	// required approval ("timeout" when the wait ran out and the policy
	// promotes then).
	ApprovedBy     string `json:"approved_by,omitempty"`
	ApprovalReason string `json:"approval_reason,omitempty"`
}

// PromoteOutput is the outcome of PromoteAlias.
type PromoteOutput struct {
	Previous int  `json:"previous"`
	Current  int  `json:"current"`
	Changed  bool `json:"changed"`
	// Stale: a conditional change found the alias on another version than
	// the champion it was decided against; nothing was written.
	Stale bool `json:"stale,omitempty"`
}

// PythonTrainInput is the input of the Python worker's TrainPython
// (pyworker/flavorflow_pyworker.py reads it as JSON).
type PythonTrainInput struct {
	ModelName string             `json:"model_name"`
	Trainer   string             `json:"trainer"`
	Data      vocab.TrainingData `json:"data"`
	Cutoff    time.Time          `json:"cutoff,omitzero"`
	// Holdout: the rows EvaluatePython scores, kept out of the fit (absent
	// without one, so inputs recorded before it are the bytes they were).
	Holdout vocab.Holdout `json:"holdout,omitzero"`
}

// PythonTrainOutput references the directory the Python worker saved (on
// the work directory both workers share), never the model's bytes.
type PythonTrainOutput struct {
	Dir        ArtifactRef        `json:"dir"`
	Flavor     string             `json:"flavor"`
	Metrics    map[string]float64 `json:"metrics"`
	Stats      fakemodel.Stats    `json:"stats"`
	DataSHA256 string             `json:"data_sha256"`
	Rows       int                `json:"rows"`
	Check      *ModelCheck        `json:"check"`
	// HeldOutRows is how many rows the holdout kept out of the fit.
	HeldOutRows int `json:"held_out_rows,omitempty"`
}

// PythonEvaluateInput is the input of the Python worker's EvaluatePython:
// Evaluate's, for a challenger only Python can load. The Python worker
// splits the rows with the same rule as TrainPython (and as Go's
// fakemodel.SplitTable) and scores both versions' pyfunc predictions.
type PythonEvaluateInput struct {
	ModelName        string             `json:"model_name"`
	Challenger       int                `json:"challenger"`
	ChallengerSHA256 string             `json:"challenger_sha256"`
	Champion         int                `json:"champion,omitempty"`
	Data             vocab.TrainingData `json:"data"`
	Holdout          vocab.Holdout      `json:"holdout"`
	Cutoff           time.Time          `json:"cutoff,omitzero"`
	TrainDataSHA256  string             `json:"train_data_sha256,omitempty"`
	// ChallengerDir and ChampionDir are the versions staged by the Go
	// worker (StagePythonVerify) when the Python worker cannot read the
	// store (the embedded one), ChampionSHA256 the champion's manifest hash
	// as staged; empty against an MLflow server, where the Python worker
	// loads models:/ URIs.
	ChallengerDir  string `json:"challenger_dir,omitempty"`
	ChampionDir    string `json:"champion_dir,omitempty"`
	ChampionSHA256 string `json:"champion_sha256,omitempty"`
}

// PythonEvaluateOutput is EvaluatePython's scores; RecordEvidence turns
// them into the evidence Go records and decides on.
type PythonEvaluateOutput struct {
	ChallengerScores  policy.Scores  `json:"challenger_scores"`
	ChampionScores    *policy.Scores `json:"champion_scores,omitempty"`
	HeldOutDataSHA256 string         `json:"held_out_data_sha256"`
	HeldOutRows       int            `json:"held_out_rows"`
	// WindowEnd is the end a held-out window was measured back from
	// (RFC 3339), for a window holdout.
	WindowEnd string `json:"window_end,omitempty"`
	BytesRead int64  `json:"bytes_read"`
}

// RecordEvidenceInput is the input of RecordEvidence.
type RecordEvidenceInput struct {
	Evaluate EvaluateInput        `json:"evaluate"`
	Scored   PythonEvaluateOutput `json:"scored"`
}

// PythonVerifyInput is the input of the Python worker's VerifyPython.
type PythonVerifyInput struct {
	ModelName      string      `json:"model_name"`
	Version        int         `json:"version"`
	ManifestSHA256 string      `json:"manifest_sha256"`
	Check          *ModelCheck `json:"check"`
	// Dir is the version as StagePythonVerify downloaded it, which the
	// Python worker loads instead of models:/<name>/<version> ("": it
	// loads the URI through Python MLflow, from an MLflow server).
	Dir string `json:"dir,omitempty"`
}

// PythonVerifyOutput is VerifyPython's result.
type PythonVerifyOutput struct {
	ManifestSHA256 string    `json:"manifest_sha256"`
	Predictions    []float64 `json:"predictions"`
	ModelURI       string    `json:"model_uri"`
	// Dir is the staged directory it loaded ("" when it loaded ModelURI).
	Dir string `json:"dir,omitempty"`
}
