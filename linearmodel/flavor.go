package linearmodel

import (
	"context"
	_ "embed"
	"encoding/json"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/rows"
)

// Names of the flavor, its files and its pyfunc loader module.
const (
	Name     = "flavorflow_linear"
	DataFile = "linear_model.json"
	Module   = "flavorflow_linearmodel"
)

//go:embed pyfunc/flavorflow_linearmodel.py
var loader []byte

// Flavor is the linear model's flavor.Flavor.
type Flavor struct{}

// Name implements flavor.Flavor.
func (Flavor) Name() string { return Name }

// Pyfunc implements flavor.Flavor: Python MLflow loads the model with
// code/flavorflow_linearmodel.py.
func (Flavor) Pyfunc() *flavor.Pyfunc {
	return &flavor.Pyfunc{Module: Module, Source: loader, Data: DataFile}
}

// Save implements flavor.Flavor: the weights as JSON, and the features in
// MLmodel so the config alone says what the model reads.
func (Flavor) Save(_ context.Context, model any, files *flavor.Files) (map[string]any, error) {
	m, ok := model.(Model)
	if !ok {
		return nil, failure.New(failure.InvalidModel, "flavor %s saves a linearmodel.Model, not a %T", Name, model)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if err := files.Write(DataFile, m.Save); err != nil {
		return nil, err
	}
	features := make([]any, len(m.Features))
	for i, f := range m.Features {
		features[i] = f
	}
	return map[string]any{"data": DataFile, "format_version": FormatVersion, "features": features, "target": m.Target}, nil
}

// DecodeModel implements flavor.Decoder: a pipeline carries the model as
// the JSON of a Model between its steps.
func (Flavor) DecodeModel(data []byte) (any, error) {
	var m Model
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, failure.Wrap(failure.InvalidModel, err, "linear model JSON")
	}
	return m, m.Validate()
}

// Load implements flavor.Flavor.
func (Flavor) Load(_ context.Context, dir *flavor.Dir, cfg map[string]any) (flavor.Predictor, error) {
	data, err := flavor.ConfigString(cfg, "data", "flavors."+Name+".data")
	if err != nil {
		return nil, err
	}
	f, err := dir.Open(data)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := Load(f)
	if err != nil {
		return nil, err
	}
	return predictor{m}, nil
}

type predictor struct{ m Model }

func (p predictor) Inputs() []string { return p.m.Features }

// Target names the column the model predicts: evaluation scores its
// predictions against that column of held-out rows (activities.Targeted).
func (p predictor) Target() string { return p.m.Target }

func (p predictor) Predict(_ context.Context, in rows.Table) ([]float64, error) {
	return p.m.Predict(in)
}

// Trainer fits target on every other column ("linear" in a registry).
func Trainer(target string) flavor.Trainer {
	return flavor.Trainer{Name: "linear", Flavor: Name, Fit: func(_ context.Context, data rows.Table) (any, map[string]float64, error) {
		m, mse, err := Fit(data, target)
		if err != nil {
			return nil, nil, err
		}
		return m, map[string]float64{"mse": mse, "n": float64(data.Len())}, nil
	}}
}
