package activities

import (
	"time"

	"github.com/flavorflow/flavorflow/fakemodel"
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
	WeightsSize int64              `json:"weights_size,omitempty"`
	// Cutoff is the training-data cutoff (the schedule's nominal time for
	// scheduled runs); recorded as a tag.
	Cutoff time.Time `json:"cutoff,omitzero"`
}

// TrainOutput is the trained model (a few numbers, not bytes).
type TrainOutput struct {
	Model      fakemodel.FakeModel `json:"model"`
	Stats      fakemodel.Stats     `json:"stats"`
	DataSHA256 string              `json:"data_sha256"`
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
}

// PromoteOutput is the outcome of PromoteAlias.
type PromoteOutput struct {
	Previous int  `json:"previous"`
	Current  int  `json:"current"`
	Changed  bool `json:"changed"`
}
