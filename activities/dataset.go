package activities

import (
	"encoding/json"
	"path/filepath"
	"strconv"

	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// Dataset names and contexts of a pipeline's run inputs, so the MLflow UI
// shows which data trained a version and which scored it. The evaluation
// dataset has the name and digest Evaluate gives its metrics
// (EvalDatasetName), so the UI links those metrics to it.
const (
	TrainingDatasetName = "training"
	ContextTraining     = "training"
	ContextEvaluation   = "evaluation"
	// datasetDigestLen is how much of a rows' sha256 names a dataset:
	// MLflow's digest column holds 36 characters, and Evaluate's metric
	// digests already use 16.
	datasetDigestLen = 16
)

// TrainingDataset describes the rows Train fitted, for the run's dataset
// input. It is part of Train's output (nil in histories recorded before it
// existed: LogModel then logs no dataset rather than a wrong one).
type TrainingDataset struct {
	// Source is "file://<absolute path>" of the data file, or "inline"
	// for pairs carried in the workflow input.
	Source string `json:"source"`
	Rows   int    `json:"rows"`
}

// dataSource is where the rows of d come from, as TrainingDataset.Source.
func dataSource(d vocab.TrainingData) string {
	if d.Path == "" {
		return "inline"
	}
	p, err := filepath.Abs(d.Path)
	if err != nil {
		p = d.Path
	}
	return "file://" + filepath.ToSlash(p)
}

// datasetInput builds MLflow's dataset input for rows that hash to sha256,
// read from source, with context ("training", "evaluation"). A file is a
// "local" source ({"uri": ...}, as mlflow.data's FileSystemDatasetSource
// writes it); inline pairs a "code" source (CodeDatasetSource's
// {"tags": ...}). Schema and profile are what mlflow.data's PandasDataset
// records for a DataFrame of the columns x and y.
func datasetInput(name, sha256, source string, rows int, context string) store.DatasetInput {
	digest := datasetDigest(sha256)
	srcType, src := "code", `{"tags": {"flavorflow.data": "inline"}}`
	if source != "inline" {
		b, _ := json.Marshal(map[string]string{"uri": source})
		srcType, src = "local", string(b)
	}
	return store.DatasetInput{
		Dataset: store.Dataset{
			Name: name, Digest: digest, SourceType: srcType, Source: src,
			Schema:  `{"mlflow_colspec": [{"type": "double", "name": "x", "required": true}, {"type": "double", "name": "y", "required": true}]}`,
			Profile: `{"num_rows": ` + strconv.Itoa(rows) + `, "num_elements": ` + strconv.Itoa(2*rows) + `}`,
		},
		Tags: store.Tags{store.DatasetContextTag: context},
	}
}

// datasetDigest is the start of the rows' sha256 that names a dataset.
func datasetDigest(sha256 string) string {
	if len(sha256) > datasetDigestLen {
		return sha256[:datasetDigestLen]
	}
	return sha256
}
