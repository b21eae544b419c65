package store

import (
	"context"
	"io"
)

// Tags, params and similar string maps. Implementations must not rely on map
// order; callers that render them sort the keys.
type Tags = map[string]string

// Experiment groups runs and logged models.
type Experiment struct {
	ID               string
	Name             string
	ArtifactLocation string
	Tags             Tags
}

// RunStatus is MLflow's run status enum, by name.
type RunStatus string

const (
	RunRunning  RunStatus = "RUNNING"
	RunFinished RunStatus = "FINISHED"
	RunFailed   RunStatus = "FAILED"
	RunKilled   RunStatus = "KILLED"
)

// Metric is one metric point.
type Metric struct {
	Key         string
	Value       float64
	TimestampMs int64
	Step        int64
	// ModelID links the point to a logged model of the run's experiment
	// (MLflow 3: the model's page and the experiment's model table show
	// it); LogBatch fails with NotFound when there is no such model. The
	// run's own metrics never carry it back, as in MLflow.
	ModelID string
	// DatasetName and DatasetDigest name the data a model metric was
	// computed on (only with ModelID; the digest at most
	// MaxDatasetDigestLen characters, MLflow's column).
	DatasetName   string
	DatasetDigest string
	// RunID is the run that logged the point; set on a logged model's
	// metrics only.
	RunID string
}

// Run is an MLflow run with its data.
type Run struct {
	ID           string
	ExperimentID string
	Name         string
	Status       RunStatus
	StartTimeMs  int64
	EndTimeMs    int64
	ArtifactURI  string
	Params       Tags
	Tags         Tags
	Metrics      []Metric // latest value per key
	OutputModels []string // logged model IDs from runs/outputs
	// Inputs are the datasets logged as the run's inputs (runs/log-inputs),
	// in the order they were first logged.
	Inputs []DatasetInput
}

// CreateRunRequest is the input of CreateRun.
type CreateRunRequest struct {
	ExperimentID string
	Name         string
	StartTimeMs  int64
	Tags         Tags
}

// Batch is what LogBatch writes to a run. Re-logging a param with the same
// value is a no-op; a different value is an error, as in MLflow.
type Batch struct {
	Params  Tags
	Tags    Tags
	Metrics []Metric
}

// LoggedModelStatus is MLflow 3's LoggedModel status enum, by name.
type LoggedModelStatus string

const (
	LoggedModelPending      LoggedModelStatus = "LOGGED_MODEL_PENDING"
	LoggedModelReady        LoggedModelStatus = "LOGGED_MODEL_READY"
	LoggedModelUploadFailed LoggedModelStatus = "LOGGED_MODEL_UPLOAD_FAILED"
)

// LoggedModel is an MLflow 3 logged model ("m-<hex>").
type LoggedModel struct {
	ID           string
	ExperimentID string
	Name         string
	SourceRunID  string
	ModelType    string
	Status       LoggedModelStatus
	ArtifactURI  string // <experiment artifact location>/models/<id>/artifacts
	Params       Tags
	Tags         Tags
	// Metrics are every point logged with this model's ID (LogBatch with
	// Metric.ModelID), in no particular order.
	Metrics []Metric
}

// CreateLoggedModelRequest is the input of CreateLoggedModel.
type CreateLoggedModelRequest struct {
	ExperimentID string
	Name         string // no "/ : . % \" '" (MLflow's rule)
	SourceRunID  string
	ModelType    string
	Params       Tags
	Tags         Tags
}

// RegisteredModel is a registry entry.
type RegisteredModel struct {
	Name    string
	Tags    Tags
	Aliases map[string]int // alias -> version
}

// VersionStatus is MLflow's ModelVersionStatus, by name.
type VersionStatus string

const (
	VersionPending VersionStatus = "PENDING_REGISTRATION"
	VersionFailed  VersionStatus = "FAILED_REGISTRATION"
	VersionReady   VersionStatus = "READY"
)

// ModelVersion is one registered version.
type ModelVersion struct {
	Name            string
	Version         int
	Source          string // e.g. "models:/m-<id>"
	RunID           string
	ModelID         string
	Status          VersionStatus
	StatusMessage   string
	StorageLocation string // resolved artifact URI
	Tags            Tags
	Aliases         []string
	CreatedMs       int64
}

// CreateModelVersionRequest is the input of CreateModelVersion.
type CreateModelVersionRequest struct {
	Name    string
	Source  string
	RunID   string
	ModelID string
	Tags    Tags
}

// FileInfo is one entry of an artifact listing. Path is relative to the
// listed root (not to the listed directory), slash-separated.
type FileInfo struct {
	Path  string
	IsDir bool
	Size  int64
}

// Source is a reopenable artifact body: Open is called once per attempt, so a
// retry re-reads the file from the start instead of buffering it.
type Source struct {
	Open   func() (io.ReadCloser, error)
	Size   int64
	SHA256 string // lowercase hex; when set, stores that can check it do so and fail with ChecksumMismatch

	// OpenRange, when set, opens the n bytes at off. Stores that upload a
	// big file in parts (MLflow over S3) call it once per part attempt,
	// concurrently, and once more for the whole file to check it: without
	// it every part would re-read the file from its start through Open.
	// Reads from it are not counted as sent; the store reports through Sent.
	OpenRange func(off, n int64) (io.ReadCloser, error)
	// Sent, when set, is told how many bytes went out through OpenRange
	// readers: a negative delta when a part is sent again. Callers that
	// count what Open's readers deliver need it only for parted uploads.
	Sent func(delta int64)
}

// Tracking is the experiments, runs and logged models part of a store.
type Tracking interface {
	GetExperimentByName(ctx context.Context, name string) (*Experiment, error)
	CreateExperiment(ctx context.Context, name string, tags Tags) (string, error)

	CreateRun(ctx context.Context, req CreateRunRequest) (*Run, error)
	GetRun(ctx context.Context, runID string) (*Run, error)
	// SearchRunsByTag returns the runs of the experiment whose tag key equals value.
	SearchRunsByTag(ctx context.Context, experimentID, key, value string) ([]Run, error)
	LogBatch(ctx context.Context, runID string, b Batch) error
	UpdateRun(ctx context.Context, runID string, status RunStatus, endTimeMs int64) error
	// LogOutputs links logged models to a run as its outputs (MLflow 3 runs/outputs).
	LogOutputs(ctx context.Context, runID string, modelIDs []string) error
	// LogInputs records datasets as inputs of a run (runs/log-inputs). As in
	// MLflow, a dataset is identified by (experiment, name, digest): an input
	// the run already has is not logged again (its first tags stay), and a
	// dataset the experiment already has keeps its first source, schema and
	// profile. Repeating a call is therefore harmless.
	LogInputs(ctx context.Context, runID string, inputs []DatasetInput) error

	CreateLoggedModel(ctx context.Context, req CreateLoggedModelRequest) (*LoggedModel, error)
	GetLoggedModel(ctx context.Context, modelID string) (*LoggedModel, error)
	SearchLoggedModelsByTag(ctx context.Context, experimentID, key, value string) ([]LoggedModel, error)
	FinalizeLoggedModel(ctx context.Context, modelID string, status LoggedModelStatus) (*LoggedModel, error)
	SetLoggedModelTags(ctx context.Context, modelID string, tags Tags) error
}

// Artifacts stores files under artifact root URIs ("mlflow-artifacts:/...").
type Artifacts interface {
	// PutArtifact writes relPath below root from src, replacing any file there.
	PutArtifact(ctx context.Context, root, relPath string, src Source) error
	// OpenArtifact streams the file at relPath below root.
	OpenArtifact(ctx context.Context, root, relPath string) (io.ReadCloser, error)
	// ListArtifacts lists the direct children of relDir ("" for the root).
	// An empty or missing directory gives an empty list.
	ListArtifacts(ctx context.Context, root, relDir string) ([]FileInfo, error)
}

// Registry is the model registry part of a store.
type Registry interface {
	CreateRegisteredModel(ctx context.Context, name string, tags Tags) (*RegisteredModel, error)
	GetRegisteredModel(ctx context.Context, name string) (*RegisteredModel, error)
	// DeleteRegisteredModel deletes the registered model with its versions
	// and aliases, as MLflow does; NotFound when there is none. Callers that
	// mean to delete only an empty model check for versions first.
	DeleteRegisteredModel(ctx context.Context, name string) error

	CreateModelVersion(ctx context.Context, req CreateModelVersionRequest) (*ModelVersion, error)
	GetModelVersion(ctx context.Context, name string, version int) (*ModelVersion, error)
	// SearchModelVersions lists versions of name, all of them when tagKey is
	// "", otherwise those whose tag tagKey equals tagValue; ordered by version.
	SearchModelVersions(ctx context.Context, name, tagKey, tagValue string) ([]ModelVersion, error)
	GetModelVersionDownloadURI(ctx context.Context, name string, version int) (string, error)
	SetModelVersionTag(ctx context.Context, name string, version int, key, value string) error

	SetAlias(ctx context.Context, name, alias string, version int) error
	// GetModelVersionByAlias fails with NotFound when the alias is not set.
	GetModelVersionByAlias(ctx context.Context, name, alias string) (*ModelVersion, error)
	DeleteAlias(ctx context.Context, name, alias string) error
}

// LocationHinter is a Store that remembers where versions' files are and
// can be told, from an earlier answer about a version (the register step's,
// carried by the workflow), so that a worker that has not seen the version
// does not ask the server again. A hint holds only for the version it
// describes: an answer about a version recreated under the same number
// (another source or creation time) does not match it and is asked afresh.
type LocationHinter interface {
	HintStorageLocation(v ModelVersion)
}

// LocalDirs is a Store whose artifacts are files on this machine. A reader
// that only reads (verification) reads and hashes them where they are
// instead of copying them: on the embedded store the copy was a file
// created per model file, the costliest system call of a pipeline.
type LocalDirs interface {
	// ArtifactDir is the directory holding root's files. NotFound when
	// there is none; InvalidPath when the way to it goes through a
	// symlink or ends at a file.
	ArtifactDir(root string) (string, error)
}

// Store is everything flavorflow needs from a tracking server and registry.
type Store interface {
	Tracking
	Artifacts
	Registry
	// Describe names the store for messages and logs, e.g. "local store at
	// /var/lib/flavorflow" or "MLflow server http://host:5000". It never
	// includes credentials.
	Describe() string
	// UIURL returns a browser link for a registered model version, or "".
	UIURL(name string, version int) string
	Close() error
}
