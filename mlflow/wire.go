package mlflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

// Wire types mirror the proto JSON (snake_case, enums by name). Only the
// fields flavorflow uses are declared; unknown fields are ignored.

type kv struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func toKVs(m store.Tags) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func fromKVs(l []kv) store.Tags {
	m := make(store.Tags, len(l))
	for _, t := range l {
		m[t.Key] = t.Value
	}
	return m
}

// flexInt accepts int64 as a JSON number or string (proto JSON allows both;
// versions are strings on the wire).
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if string(b) == "null" || len(b) == 0 {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	*f = flexInt(n)
	return nil
}

// flexFloat accepts numbers and the proto JSON spellings "NaN",
// "Infinity" and "-Infinity".
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = flexFloat(math.NaN())
	case `"Infinity"`:
		*f = flexFloat(math.Inf(1))
	case `"-Infinity"`:
		*f = flexFloat(math.Inf(-1))
	default:
		var v float64
		if err := json.Unmarshal(bytes.Trim(b, `"`), &v); err != nil {
			return err
		}
		*f = flexFloat(v)
	}
	return nil
}

// MarshalJSON writes NaN and infinities the way proto JSON spells them;
// encoding/json refuses them.
func (f flexFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Infinity"`), nil
	}
	return json.Marshal(v)
}

// unwrap checks that a response envelope held its payload and converts it;
// a missing or wrong payload is BadResponse.
func unwrap[W, S any](endpoint, what string, w *W, valid func(*W) bool, conv func(*W) (*S, error)) (*S, error) {
	if w == nil || !valid(w) {
		return nil, failure.New(failure.BadResponse, "%s: expected %s", endpoint, what)
	}
	s, err := conv(w)
	if err != nil {
		return nil, failure.Wrap(failure.BadResponse, err, "%s", endpoint)
	}
	return s, nil
}

type wireExperiment struct {
	ExperimentID     string `json:"experiment_id"`
	Name             string `json:"name"`
	ArtifactLocation string `json:"artifact_location"`
	Tags             []kv   `json:"tags"`
}

func (w wireExperiment) toStore() *store.Experiment {
	return &store.Experiment{ID: w.ExperimentID, Name: w.Name, ArtifactLocation: w.ArtifactLocation, Tags: fromKVs(w.Tags)}
}

type wireMetric struct {
	Key           string    `json:"key"`
	Value         flexFloat `json:"value"`
	Timestamp     flexInt   `json:"timestamp"`
	Step          flexInt   `json:"step"`
	ModelID       string    `json:"model_id"`
	DatasetName   string    `json:"dataset_name"`
	DatasetDigest string    `json:"dataset_digest"`
	RunID         string    `json:"run_id"`
}

func (m wireMetric) toStore() store.Metric {
	return store.Metric{Key: m.Key, Value: float64(m.Value), TimestampMs: int64(m.Timestamp), Step: int64(m.Step),
		ModelID: m.ModelID, DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest, RunID: m.RunID}
}

type wireRunInfo struct {
	RunID        string  `json:"run_id"`
	ExperimentID string  `json:"experiment_id"`
	RunName      string  `json:"run_name"`
	Status       string  `json:"status"`
	StartTime    flexInt `json:"start_time"`
	EndTime      flexInt `json:"end_time"`
	ArtifactURI  string  `json:"artifact_uri"`
}

type wireRun struct {
	Info wireRunInfo `json:"info"`
	Data struct {
		Metrics []wireMetric `json:"metrics"`
		Params  []kv         `json:"params"`
		Tags    []kv         `json:"tags"`
	} `json:"data"`
	Outputs struct {
		ModelOutputs []struct {
			ModelID string `json:"model_id"`
		} `json:"model_outputs"`
	} `json:"outputs"`
	Inputs struct {
		DatasetInputs []wireDatasetInput `json:"dataset_inputs"`
	} `json:"inputs"`
}

// wireDataset is MLflow's Dataset message; schema and profile are omitted
// when empty, as Python's client leaves them unset.
type wireDataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

type wireDatasetInput struct {
	Tags    []kv        `json:"tags"`
	Dataset wireDataset `json:"dataset"`
}

func toWireDatasetInput(in store.DatasetInput) wireDatasetInput {
	d := in.Dataset
	return wireDatasetInput{Tags: toKVs(in.Tags), Dataset: wireDataset{
		Name: d.Name, Digest: d.Digest, SourceType: d.SourceType, Source: d.Source, Schema: d.Schema, Profile: d.Profile,
	}}
}

func (w wireRun) toStore() store.Run {
	r := store.Run{
		ID: w.Info.RunID, ExperimentID: w.Info.ExperimentID, Name: w.Info.RunName,
		Status: store.RunStatus(w.Info.Status), StartTimeMs: int64(w.Info.StartTime),
		EndTimeMs: int64(w.Info.EndTime), ArtifactURI: w.Info.ArtifactURI,
		Params: fromKVs(w.Data.Params), Tags: fromKVs(w.Data.Tags),
	}
	for _, m := range w.Data.Metrics {
		// A run's metrics are its own: MLflow keeps no model ID on them.
		r.Metrics = append(r.Metrics, store.Metric{Key: m.Key, Value: float64(m.Value), TimestampMs: int64(m.Timestamp), Step: int64(m.Step)})
	}
	for _, o := range w.Outputs.ModelOutputs {
		r.OutputModels = append(r.OutputModels, o.ModelID)
	}
	for _, in := range w.Inputs.DatasetInputs {
		d := in.Dataset
		r.Inputs = append(r.Inputs, store.DatasetInput{Tags: fromKVs(in.Tags), Dataset: store.Dataset{
			Name: d.Name, Digest: d.Digest, SourceType: d.SourceType, Source: d.Source, Schema: d.Schema, Profile: d.Profile,
		}})
	}
	return r
}

type wireLoggedModel struct {
	Info struct {
		ModelID      string  `json:"model_id"`
		ExperimentID string  `json:"experiment_id"`
		Name         string  `json:"name"`
		ArtifactURI  string  `json:"artifact_uri"`
		Status       string  `json:"status"`
		ModelType    string  `json:"model_type"`
		SourceRunID  string  `json:"source_run_id"`
		Tags         []kv    `json:"tags"`
		CreatedMs    flexInt `json:"creation_timestamp_ms"`
	} `json:"info"`
	Data struct {
		Params  []kv         `json:"params"`
		Metrics []wireMetric `json:"metrics"`
	} `json:"data"`
}

func (w wireLoggedModel) toStore() store.LoggedModel {
	i := w.Info
	m := store.LoggedModel{
		ID: i.ModelID, ExperimentID: i.ExperimentID, Name: i.Name, SourceRunID: i.SourceRunID,
		ModelType: i.ModelType, Status: store.LoggedModelStatus(i.Status), ArtifactURI: i.ArtifactURI,
		Params: fromKVs(w.Data.Params), Tags: fromKVs(i.Tags),
	}
	for _, mt := range w.Data.Metrics {
		p := mt.toStore()
		if p.ModelID == "" {
			p.ModelID = i.ModelID
		}
		m.Metrics = append(m.Metrics, p)
	}
	return m
}

type wireModelVersion struct {
	Name            string   `json:"name"`
	Version         string   `json:"version"`
	CreationTime    flexInt  `json:"creation_timestamp"`
	Source          string   `json:"source"`
	RunID           string   `json:"run_id"`
	ModelID         string   `json:"model_id"`
	Status          string   `json:"status"`
	StatusMessage   string   `json:"status_message"`
	StorageLocation string   `json:"storage_location"`
	Tags            []kv     `json:"tags"`
	Aliases         []string `json:"aliases"`
}

func (w *wireModelVersion) toStore() (*store.ModelVersion, error) {
	v, err := strconv.Atoi(w.Version)
	if err != nil || v <= 0 {
		return nil, fmt.Errorf("model version %q is not a positive integer", w.Version)
	}
	mv := &store.ModelVersion{
		Name: w.Name, Version: v, Source: w.Source, RunID: w.RunID, ModelID: w.ModelID,
		Status: store.VersionStatus(w.Status), StatusMessage: w.StatusMessage,
		StorageLocation: w.StorageLocation, Tags: fromKVs(w.Tags), Aliases: w.Aliases,
		CreatedMs: int64(w.CreationTime),
	}
	if mv.ModelID == "" {
		// 3.17.2 does not return model_id; a models:/m-<id> source names it.
		mv.ModelID = modelIDFromSource(w.Source)
	}
	return mv, nil
}

type wireRegisteredModel struct {
	Name    string `json:"name"`
	Tags    []kv   `json:"tags"`
	Aliases []struct {
		Alias   string `json:"alias"`
		Version string `json:"version"`
	} `json:"aliases"`
}

func (w *wireRegisteredModel) toStore() (*store.RegisteredModel, error) {
	rm := &store.RegisteredModel{Name: w.Name, Tags: fromKVs(w.Tags), Aliases: map[string]int{}}
	for _, a := range w.Aliases {
		v, err := strconv.Atoi(a.Version)
		if err != nil {
			return nil, fmt.Errorf("alias %q points at version %q, not an integer", a.Alias, a.Version)
		}
		rm.Aliases[a.Alias] = v
	}
	return rm, nil
}
