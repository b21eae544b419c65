// Package linearmodel is the worked example of a flavorflow flavor: a
// multi-feature linear model y = w·x + b, fitted by least squares, saved as
// JSON, loaded in Go through the flavor.Flavor contract and in Python
// through the pyfunc loader it ships (code/flavorflow_linearmodel.py), which
// predicts from a DataFrame of its feature columns.
//
// Copy this folder to add a flavor: model.go is the model (nothing of
// MLflow), flavor.go the contract's four methods and a trainer, pyfunc/ the
// Python loader.
package linearmodel

import (
	"encoding/json"
	"io"
	"math"
	"slices"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/rows"
)

// FormatVersion is the version of the JSON the model is saved as.
const FormatVersion = 1

// Model predicts Target as Intercept + sum(Weights[i] * Features[i]).
type Model struct {
	Features  []string  `json:"features"`
	Target    string    `json:"target"`
	Weights   []float64 `json:"weights"`
	Intercept float64   `json:"intercept"`
}

// Validate rejects a model that cannot predict: no or repeated features,
// a weight per feature missing, non-finite numbers.
func (m Model) Validate() error {
	if len(m.Features) == 0 || len(m.Features) != len(m.Weights) {
		return failure.New(failure.InvalidModel, "linear model has %d features and %d weights", len(m.Features), len(m.Weights))
	}
	if err := (rows.Table{Columns: append(slices.Clone(m.Features), m.Target)}).Validate(); err != nil {
		return failure.Wrap(failure.InvalidModel, err, "linear model columns")
	}
	for _, w := range append(slices.Clone(m.Weights), m.Intercept) {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return failure.New(failure.InvalidModel, "linear model weight %v is not finite", w)
		}
	}
	return nil
}

// Predict returns one prediction per row of in, which must have every
// feature column.
func (m Model) Predict(in rows.Table) ([]float64, error) {
	x, err := in.Select(m.Features...)
	if err != nil {
		return nil, failure.Wrap(failure.InvalidArgument, err, "predict")
	}
	out := make([]float64, x.Len())
	for r, row := range x.Rows {
		y := m.Intercept
		for i, v := range row {
			y += m.Weights[i] * v
		}
		out[r] = y
	}
	return out, nil
}

type file struct {
	FormatVersion int `json:"format_version"`
	Model
}

// Save writes the model as JSON.
func (m Model) Save(w io.Writer) error {
	if err := m.Validate(); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(file{FormatVersion, m})
}

// Load reads a model Save wrote (at most 16 MiB).
func Load(r io.Reader) (Model, error) {
	var f file
	dec := json.NewDecoder(io.LimitReader(r, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Model{}, failure.Wrap(failure.InvalidModel, err, "linear model JSON")
	}
	if f.FormatVersion != FormatVersion {
		return Model{}, failure.New(failure.InvalidModel, "linear model format_version %d is not supported (want %d)", f.FormatVersion, FormatVersion)
	}
	return f.Model, f.Model.Validate()
}

// Fit fits target on every other column of data by least squares with an
// intercept (Householder QR of the design matrix, which stays accurate
// where the normal equations would square the condition number). A design
// that does not determine the weights — fewer rows than unknowns, a
// constant or duplicated column — is InvalidTrainingData naming the cause.
func Fit(data rows.Table, target string) (Model, float64, error) {
	if err := data.Validate(); err != nil {
		return Model{}, 0, err
	}
	y, err := data.Column(target)
	if err != nil {
		return Model{}, 0, err
	}
	var features []string
	for _, c := range data.Columns {
		if c != target {
			features = append(features, c)
		}
	}
	x, err := data.Select(features...)
	if err != nil {
		return Model{}, 0, err
	}
	n, p := x.Len(), len(features)+1
	if n < p {
		return Model{}, 0, failure.New(failure.InvalidTrainingData, "%d rows cannot determine %d weights and an intercept", n, p-1)
	}
	// Column-major design [1 | X]; QR in place, Qᵀy alongside.
	a := make([][]float64, p)
	a[0] = make([]float64, n)
	for r := range n {
		a[0][r] = 1
	}
	for j := 1; j < p; j++ {
		a[j] = make([]float64, n)
		for r := range n {
			a[j][r] = x.Rows[r][j-1]
		}
	}
	// A column is singular when what is left of it after projecting out
	// the columns before it is tiny next to the column itself (relative,
	// so a feature measured in small units is not mistaken for a constant).
	colNorm := make([]float64, p)
	for k := range p {
		for r := range n {
			colNorm[k] = math.Hypot(colNorm[k], a[k][r])
		}
	}
	qty := slices.Clone(y)
	diag := make([]float64, p)
	for k := range p {
		norm := 0.0
		for r := k; r < n; r++ {
			norm = math.Hypot(norm, a[k][r])
		}
		if a[k][k] > 0 {
			norm = -norm
		}
		diag[k] = norm
		if norm != 0 {
			// v = a[k][k:] - norm·e1, stored in place; H = I - vvᵀ/(vᵀv/2).
			a[k][k] -= norm
			vv := -norm * a[k][k] // vᵀv / 2
			for j := k + 1; j < p; j++ {
				applyReflector(a[k], a[j], k, vv)
			}
			applyReflector(a[k], qty, k, vv)
		}
	}
	for k := range p {
		if colNorm[k] == 0 || math.Abs(diag[k]) <= 1e-10*colNorm[k] {
			name := "the intercept"
			if k > 0 {
				name = "column " + features[k-1]
			}
			return Model{}, 0, failure.New(failure.InvalidTrainingData, "singular design: %s is constant or a combination of the columns before it; drop it or add varied rows", name)
		}
	}
	// Back-substitute R w = Qᵀy.
	w := make([]float64, p)
	for k := p - 1; k >= 0; k-- {
		s := qty[k]
		for j := k + 1; j < p; j++ {
			s -= a[j][k] * w[j]
		}
		w[k] = s / diag[k]
	}
	m := Model{Features: features, Target: target, Intercept: w[0], Weights: w[1:]}
	if err := m.Validate(); err != nil {
		return Model{}, 0, failure.Wrap(failure.InvalidTrainingData, err, "the fit overflows")
	}
	pred, _ := m.Predict(x)
	var sse float64
	for r := range n {
		d := y[r] - pred[r]
		sse += d * d
	}
	mse := sse / float64(n)
	if math.IsInf(mse, 0) || math.IsNaN(mse) {
		return Model{}, 0, failure.New(failure.InvalidTrainingData, "the fit's mean squared error overflows (values too large)")
	}
	return m, mse, nil
}

// applyReflector applies H = I - vvᵀ/vv to c[k:], v = h[k:].
func applyReflector(h, c []float64, k int, vv float64) {
	var dot float64
	for r := k; r < len(h); r++ {
		dot += h[r] * c[r]
	}
	f := dot / vv
	for r := k; r < len(h); r++ {
		c[r] -= f * h[r]
	}
}
