package flavor

// This file fixes the flavor package's API so that activities can be built
// against it while the implementation lands. Bodies are filled in by the
// flavor work; signatures change only by agreement.

import (
	"time"

	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/store"
)

// Names inside a saved model directory.
const (
	FlavorName   = "fakemodel"                // our flavor's key under "flavors"
	MLmodelFile  = "MLmodel"                  // MLflow's model descriptor
	ManifestFile = "flavorflow-manifest.json" // sha256 of every other file
	DataFile     = "model.json"               // fakemodel JSON
	WeightsFile  = "weights.bin"              // optional weights payload
	PyfuncModule = "flavorflow_fakemodel"     // shipped loader in code/<module>.py
	CodeDir      = "code"
)

// ManifestEntry is one file of a model directory.
type ManifestEntry struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest lists every file of a model directory except itself, sorted by path.
type Manifest struct {
	Version int             `json:"version"`
	Files   []ManifestEntry `json:"files"`
}

// SaveOptions control SaveModel. Zero values give what mlflow's save_model
// writes: a random model_uuid, the current time, no run or model id.
type SaveOptions struct {
	ModelUUID    string    // model_uuid; set it to make a re-save byte-identical
	Created      time.Time // utc_time_created
	RunID        string
	ModelID      string
	ArtifactPath string
	Metadata     map[string]any
	// Spec is the signature, input example and environment to write; nil
	// means FakeModelSpec().
	Spec *ModelSpec
}

// Saved describes a saved model directory.
type Saved struct {
	Dir            string
	Manifest       Manifest
	ManifestSHA256 string // sha256 of the manifest file's bytes
	Size           int64  // total bytes of all files, manifest included
}

// LogOptions control LogModel.
type LogOptions struct {
	ExperimentID string
	RunID        string // source run; links the model as a run output
	// Run, when set, is the source run as the caller just created or read
	// it (its params and outputs); LogModel then does not read it again.
	// Its params must include every param the run has that is not in
	// Params, as they do when the caller logged Params to the run itself.
	Run    *store.Run
	Name   string // logged model name (no "/ : . % \" '")
	Params store.Tags
	Tags   store.Tags
	// IdempotencyKey, when set, is stored as a tag on the logged model and
	// looked up first: a second LogModel with the same key reuses the model
	// (and skips files already uploaded with the right size).
	IdempotencyKey string
	// SavedManifestSHA256, when set, is the sha256 the directory's manifest
	// must have (the one recorded when it was saved); LogModel verifies the
	// directory anyway, so callers need not hash it a second time.
	SavedManifestSHA256 string
	// Parallelism bounds concurrent file uploads (default 4).
	Parallelism int
	// Progress, when set, is called with the bytes uploaded so far.
	Progress func(bytesDone int64)
}

// Logged describes a logged model.
type Logged struct {
	ModelID        string
	ArtifactURI    string
	ModelURI       string // models:/m-<id>
	ManifestSHA256 string // of the manifest as uploaded (with model_id/run_id in MLmodel)
	Bytes          int64  // bytes uploaded by this call (0 when everything was there)
	Reused         bool   // found by IdempotencyKey
}

// Loaded is a model read back from a directory or a store.
type Loaded struct {
	Model          fakemodel.FakeModel
	Dir            string
	MLmodel        *MLmodel
	Flavor         string // "fakemodel", or "my_flavor" for the tutorial's models
	ManifestSHA256 string // "" for models without a manifest (tutorial models)
}
