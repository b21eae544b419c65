package flavor

// fakemodel.FakeModel behind the Flavor contract, and the tutorial's
// my_flavor reader (load only).

import (
	"context"
	"io"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/vocab"
)

// Fakemodel is the "fakemodel" flavor: model.json, an optional weights.bin
// and the flavorflow_fakemodel pyfunc loader. Its saved bytes are what
// SaveModel has always written.
type Fakemodel struct{}

// Name implements Flavor.
func (Fakemodel) Name() string { return FlavorName }

// Pyfunc implements Flavor.
func (Fakemodel) Pyfunc() *Pyfunc {
	return &Pyfunc{Module: PyfuncModule, Source: pyfuncShim, Data: DataFile}
}

// Save implements Flavor; model is a fakemodel.FakeModel.
func (Fakemodel) Save(ctx context.Context, model any, files *Files) (map[string]any, error) {
	m, ok := model.(fakemodel.FakeModel)
	if !ok {
		return nil, failure.New(failure.InvalidModel, "flavor %s saves a fakemodel.FakeModel, not a %T", FlavorName, model)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if err := files.Write(DataFile, m.Save); err != nil {
		return nil, err
	}
	if m.WeightsSize > 0 {
		err := files.Write(WeightsFile, func(w io.Writer) error {
			_, err := io.Copy(w, ctxReader{files.Context(), m.WeightsReader()})
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return fakemodelConfig(m), nil
}

// fakemodelConfig is the flavor's MLmodel configuration for m.
func fakemodelConfig(m fakemodel.FakeModel) map[string]any {
	var weights any
	if m.WeightsSize > 0 {
		weights = WeightsFile
	}
	return map[string]any{
		"data":               DataFile,
		"format_version":     fakemodel.FormatVersion,
		"offset":             m.Offset,
		"weights":            weights,
		"weights_size":       m.WeightsSize,
		"flavorflow_version": Version,
	}
}

// Load implements Flavor.
func (Fakemodel) Load(_ context.Context, dir *Dir, cfg map[string]any) (Predictor, error) {
	m, err := loadFakemodelFlavor(dir, cfg)
	if err != nil {
		return nil, err
	}
	return FakePredictor{m}, nil
}

// Tutorial reads models saved by the tutorial's Python flavor ("my_flavor":
// {foo, bar, offset} next to a pickled model.pkl). It loads only, and only
// from the offset in MLmodel: model.pkl is never opened, since unpickling
// runs arbitrary code and the offset is all the model is.
type Tutorial struct{}

// Name implements Flavor.
func (Tutorial) Name() string { return TutorialFlavor }

// Pyfunc implements Flavor: flavorflow writes no my_flavor models.
func (Tutorial) Pyfunc() *Pyfunc { return nil }

// Save implements Flavor: refused, the flavor is read only.
func (Tutorial) Save(context.Context, any, *Files) (map[string]any, error) {
	return nil, failure.New(failure.InvalidArgument, "flavor %s is load only: flavorflow reads the tutorial's models but never writes pickles", TutorialFlavor)
}

// Load implements Flavor.
func (Tutorial) Load(_ context.Context, _ *Dir, cfg map[string]any) (Predictor, error) {
	m, err := loadTutorialFlavor(cfg)
	if err != nil {
		return nil, err
	}
	return FakePredictor{m}, nil
}

// FakePredictor predicts with a FakeModel on column "x".
type FakePredictor struct{ Model fakemodel.FakeModel }

// Inputs implements Predictor.
func (FakePredictor) Inputs() []string { return []string{"x"} }

// Predict implements Predictor.
func (p FakePredictor) Predict(_ context.Context, in rows.Table) ([]float64, error) {
	xs, err := in.Column("x")
	if err != nil {
		return nil, failure.Wrap(failure.InvalidArgument, err, "predict")
	}
	return p.Model.PredictAll(xs), nil
}

// FakemodelTrainer fits a FakeModel on columns x and y (rows without
// either are refused), the one-feature case of rows.Table.
func FakemodelTrainer() Trainer {
	return Trainer{Name: FlavorName, Flavor: FlavorName, Fit: func(_ context.Context, data rows.Table) (any, map[string]float64, error) {
		samples, err := fakemodel.SamplesOf(data)
		if err != nil {
			return nil, nil, err
		}
		m, st, err := fakemodel.Fit(samples)
		if err != nil {
			return nil, nil, err
		}
		return m, map[string]float64{"mse": st.MSE, "n": float64(st.N)}, nil
	}}
}

// Builtin returns a registry of the flavors and trainers flavorflow ships
// in this package: fakemodel (with its trainer) and the tutorial reader.
// Each call builds a new registry; the worker's main adds its own.
func Builtin() *Registry {
	r, _ := NewRegistry(Fakemodel{}, Tutorial{})
	_ = r.AddTrainer(FakemodelTrainer())
	return r
}

// loadFakemodelFlavor reads model.json as the flavor config points to it and
// checks that the config agrees with it.
func loadFakemodelFlavor(dir *Dir, cfg map[string]any) (fakemodel.FakeModel, error) {
	field := "flavors." + FlavorName
	if v, ok := cfg["format_version"]; ok {
		if fv, err := configFloat(cfg, "format_version", field+".format_version"); err != nil || fv != fakemodel.FormatVersion {
			return fakemodel.FakeModel{}, failure.New(failure.InvalidMLmodel, "MLmodel field %s.format_version is %v; this flavorflow reads %d", field, v, fakemodel.FormatVersion)
		}
	}
	data, err := configString(cfg, "data", field+".data")
	if err != nil {
		return fakemodel.FakeModel{}, err
	}
	if data == "" {
		data = DataFile
	}
	rel, err := vocab.CleanRelPath(data, false)
	if err != nil {
		return fakemodel.FakeModel{}, failure.Wrap(failure.InvalidMLmodel, err, "MLmodel field %s.data", field)
	}
	f, err := dir.Open(rel)
	if err != nil {
		return fakemodel.FakeModel{}, err
	}
	defer f.Close()
	m, err := fakemodel.Load(f)
	if err != nil {
		return fakemodel.FakeModel{}, err
	}
	if _, ok := cfg["offset"]; ok {
		off, err := configFloat(cfg, "offset", field+".offset")
		if err != nil {
			return fakemodel.FakeModel{}, err
		}
		if off != m.Offset {
			return fakemodel.FakeModel{}, failure.New(failure.InvalidMLmodel, "MLmodel field %s.offset is %v but %s says %v", field, off, rel, m.Offset)
		}
	}
	if m.WeightsSize > 0 {
		// The manifest, when present, has already checked the bytes; this
		// catches a Python-copied directory that lost the payload.
		info, err := dir.Stat(WeightsFile)
		if err != nil || info.Size() != m.WeightsSize {
			return fakemodel.FakeModel{}, failure.New(failure.ChecksumMismatch, "%s: %s should be %d bytes", dir.Path, WeightsFile, m.WeightsSize)
		}
	}
	return m, nil
}

// loadTutorialFlavor takes the offset from my_flavor's config.
func loadTutorialFlavor(cfg map[string]any) (fakemodel.FakeModel, error) {
	off, err := configFloat(cfg, "offset", "flavors."+TutorialFlavor+".offset")
	if err != nil {
		return fakemodel.FakeModel{}, err
	}
	m := fakemodel.New(off)
	return m, m.Validate()
}

// DefaultSpec is FakeModelSpec: one double column x in, a double out.
func (Fakemodel) DefaultSpec() ModelSpec { return FakeModelSpec() }
