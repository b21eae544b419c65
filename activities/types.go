package activities

import (
	"strconv"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/policy"
)

// Tag keys written on MLflow objects.
const (
	TagWorkflowID     = "flavorflow.workflow_id"
	TagWorkflowRunID  = "flavorflow.workflow_run_id"
	TagManifestSHA256 = flavor.TagManifestSHA256 // on the logged model (by LogModel) and on the version
	TagVerified       = "flavorflow.verified"
	TagPromotedBy     = "flavorflow.promoted_by." // + alias: the workflow that promoted the version
	TagDataSHA256     = "flavorflow.data_sha256"
	TagCutoff         = "flavorflow.training_cutoff"
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

// ArtifactRef points at stored bytes without carrying them.
type ArtifactRef struct {
	URI    string `json:"uri"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// MaxInlinePairs bounds training pairs carried in workflow input; larger data
// goes in a file referenced by path so histories stay small.
const MaxInlinePairs = 10_000

// CheckInlineLimit rejects more inline pairs than MaxInlinePairs. The
// workflow runs it before any activity, and Train again for callers that
// bypass the workflow.
func (d TrainingData) CheckInlineLimit() error {
	if len(d.Pairs) > MaxInlinePairs {
		return failure.New(failure.InvalidTrainingData, "%d inline pairs is over the limit of %d; pass a data file", len(d.Pairs), MaxInlinePairs)
	}
	return nil
}

// TrainingData is inline pairs or a file the worker can read (CSV "x,y" or a
// JSON array of {"x","y"}).
type TrainingData struct {
	Pairs []fakemodel.Sample `json:"pairs,omitempty"`
	Path  string             `json:"path,omitempty"`
}

// Holdout says which rows the evaluation step scores the challenger and
// the champion on. Rows held out of Data are kept out of training. At most
// one of Data, Fraction and Window is set; the zero value holds nothing out
// (no evaluation unless the policy needs one, which then fails validation).
type Holdout struct {
	// Data is a separate evaluation set; training uses all of the training
	// data.
	Data *TrainingData `json:"data,omitempty"`
	// Fraction in (0, 1) of the training rows is held out, each row chosen
	// by a hash of Seed and its position in the data, so Train and Evaluate
	// (and a re-run) pick the same rows.
	Fraction float64 `json:"fraction,omitempty"`
	Seed     int64   `json:"seed,omitempty"`
	// Window holds out the rows observed in the last Window before the
	// cutoff (the schedule's nominal time; without one, before the newest
	// timestamped row): train on the past, evaluate on the most recent.
	Window time.Duration `json:"window,omitempty"`
}

// IsZero reports whether nothing is held out.
func (h Holdout) IsZero() bool { return h.Data == nil && h.Fraction == 0 && h.Window == 0 }

// Validate rejects a holdout that can never select rows: more than one
// kind, a fraction outside (0, 1), a negative window (InvalidArgument), or
// evaluation data given as both pairs and a file, or over the inline limit
// (InvalidTrainingData). The zero value is valid (nothing held out). It
// reads no file: the workflow's validation and the starter call it, and
// Train and Evaluate check the rows themselves.
func (h Holdout) Validate() error {
	kinds := 0
	if h.Data != nil {
		kinds++
	}
	if h.Fraction != 0 {
		kinds++
	}
	if h.Window != 0 {
		kinds++
	}
	switch {
	case kinds > 1:
		return failure.New(failure.InvalidArgument, "held-out data: give one of an evaluation data set, a fraction or a window, not %d", kinds)
	case h.Fraction != 0 && !(h.Fraction > 0 && h.Fraction < 1):
		return failure.New(failure.InvalidArgument, "held-out fraction %v must be in (0, 1)", h.Fraction)
	case h.Window < 0:
		return failure.New(failure.InvalidArgument, "held-out window %s must be positive", h.Window)
	case h.Data != nil && len(h.Data.Pairs) > 0 && h.Data.Path != "":
		return failure.New(failure.InvalidTrainingData, "evaluation data: give pairs or a data file, not both")
	case h.Data != nil && len(h.Data.Pairs) == 0 && h.Data.Path == "":
		return failure.New(failure.InvalidTrainingData, "evaluation data: neither pairs nor a data file")
	case h.Data != nil:
		if err := h.Data.CheckInlineLimit(); err != nil {
			return failure.Wrap(failure.InvalidTrainingData, err, "evaluation data")
		}
	}
	return nil
}

// String says how the rows are chosen, for tags and messages.
func (h Holdout) String() string {
	switch {
	case h.Data != nil && h.Data.Path != "":
		return "evaluation data file " + h.Data.Path
	case h.Data != nil:
		return strconv.Itoa(len(h.Data.Pairs)) + " inline evaluation pairs"
	case h.Fraction != 0:
		return "fraction " + strconv.FormatFloat(h.Fraction, 'g', -1, 64) + " of the training rows, seed " + strconv.FormatInt(h.Seed, 10)
	case h.Window != 0:
		return "window " + h.Window.String() + " before the cutoff"
	}
	return "nothing held out"
}

// TrainInput is the input of Train.
type TrainInput struct {
	ModelName   string       `json:"model_name"`
	Data        TrainingData `json:"data"`
	Holdout     Holdout      `json:"holdout,omitzero"` // rows kept out of training
	WeightsSize int64        `json:"weights_size,omitempty"`
	// Cutoff is the training-data cutoff (the schedule's nominal time for
	// scheduled runs); recorded as a tag.
	Cutoff time.Time `json:"cutoff,omitzero"`
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
}

// SaveInput is the input of SaveModel.
type SaveInput struct {
	ModelName string              `json:"model_name"`
	Model     fakemodel.FakeModel `json:"model"`
	Created   time.Time           `json:"created"` // workflow start time: makes a re-save byte-identical
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
	Data    TrainingData `json:"data"`
	Holdout Holdout      `json:"holdout"`
	Cutoff  time.Time    `json:"cutoff,omitzero"`
	// TrainDataSHA256, when set, is Train's DataSHA256: the rows the
	// challenger was trained on. If the data now splits into other
	// training rows (the file was rewritten or appended to since), the
	// held-out rows may include rows the challenger was trained on, and
	// Evaluate refuses (InvalidTrainingData) rather than score on them.
	TrainDataSHA256 string `json:"train_data_sha256,omitempty"`
	// At is the time metrics are logged with (the workflow's start), so a
	// retried evaluation logs identical points.
	At time.Time `json:"at"`
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
