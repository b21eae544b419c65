package store

import (
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/vocab"
)

// Dataset is MLflow's Dataset entity: the identity of a body of data (name
// and digest) and where it came from. Source, Schema and Profile are JSON
// strings, as MLflow stores them.
type Dataset struct {
	Name       string
	Digest     string // at most vocab.MaxDatasetDigestLen characters
	SourceType string // e.g. "local", "code"
	Source     string // e.g. {"uri": "file:///data/train.csv"}
	Schema     string // e.g. {"mlflow_colspec": [...]}; "" for none
	Profile    string // e.g. {"num_rows": 10}; "" for none
}

// DatasetInput is a dataset logged as an input of a run, with its input
// tags (DatasetContextTag says what the run used it for).
type DatasetInput struct {
	Dataset Dataset
	Tags    Tags
}

// DatasetContextTag is MLflow's input tag for what a dataset was used for;
// the UI shows it next to the dataset ("training", "evaluation").
const DatasetContextTag = "mlflow.data.context"

// MLflow's limits on dataset inputs (mlflow/utils/validation.py): the
// server checks them on every backend.
const (
	MaxDatasetSourceLen  = 65535
	MaxDatasetSchemaLen  = 1048575
	MaxDatasetProfileLen = 16777215
	MaxInputTagKeyLen    = 255
	MaxInputTagValueLen  = 500
	MaxDatasetsPerCall   = 1000
)

// ValidateDatasetInputs applies MLflow's rules to a LogInputs call, and
// requires a name, digest, source type and source (MLflow refuses them
// missing; an empty one identifies nothing).
func ValidateDatasetInputs(inputs []DatasetInput) error {
	if len(inputs) > MaxDatasetsPerCall {
		return failure.New(failure.InvalidArgument, "%d dataset inputs in one call, over MLflow's %d", len(inputs), MaxDatasetsPerCall)
	}
	for _, in := range inputs {
		d := in.Dataset
		switch {
		case d.Name == "" || d.Digest == "" || d.SourceType == "" || d.Source == "":
			return failure.New(failure.InvalidArgument, "dataset %q: name, digest, source type and source are all required", d.Name)
		case len(d.Name) > vocab.MaxDatasetNameLen:
			return failure.New(failure.InvalidArgument, "dataset name %q is over %d characters", d.Name, vocab.MaxDatasetNameLen)
		case len(d.Digest) > vocab.MaxDatasetDigestLen:
			return failure.New(failure.InvalidArgument, "dataset %q: digest %q is over %d characters", d.Name, d.Digest, vocab.MaxDatasetDigestLen)
		case len(d.Source) > MaxDatasetSourceLen:
			return failure.New(failure.InvalidArgument, "dataset %q: source is over %d characters", d.Name, MaxDatasetSourceLen)
		case len(d.Schema) > MaxDatasetSchemaLen:
			return failure.New(failure.InvalidArgument, "dataset %q: schema is over %d characters", d.Name, MaxDatasetSchemaLen)
		case len(d.Profile) > MaxDatasetProfileLen:
			return failure.New(failure.InvalidArgument, "dataset %q: profile is over %d characters", d.Name, MaxDatasetProfileLen)
		}
		for k, v := range in.Tags {
			if k == "" || len(k) > MaxInputTagKeyLen || len(v) > MaxInputTagValueLen {
				return failure.New(failure.InvalidArgument, "dataset %q: input tag %q (value of %d characters) is empty or over MLflow's limits (%d, %d)", d.Name, k, len(v), MaxInputTagKeyLen, MaxInputTagValueLen)
			}
		}
	}
	return nil
}
