package flavor

// The flavor contract: what a model format must provide for the lifecycle
// (save, log, register, load-and-verify, promote) to serve it, and the
// registry the worker's main builds from the flavors and trainers it runs.

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/vocab"
)

// Flavor is one model format. Save and Load are the Go counterparts of
// mlflow.<flavor>.save_model and load_model; everything around them (the
// MLmodel file, environment files, manifest, atomic writes, logging,
// download and integrity checks) is this package's and the same for every
// flavor.
type Flavor interface {
	// Name is the flavor's key under "flavors" in MLmodel.
	Name() string
	// Save writes model's files through files and returns the flavor's
	// MLmodel configuration. A model of the wrong type or an invalid one is
	// InvalidModel.
	Save(ctx context.Context, model any, files *Files) (map[string]any, error)
	// Load reads a model from dir, given the configuration Save returned
	// (as read back from MLmodel), into something that predicts.
	Load(ctx context.Context, dir *Dir, cfg map[string]any) (Predictor, error)
	// Pyfunc is the python_function loader the flavor ships in code/, or nil
	// when Python MLflow cannot load it as a pyfunc.
	Pyfunc() *Pyfunc
}

// Decoder is implemented by flavors whose models a pipeline carries between
// its steps: the model as the trainer returned it travels as its JSON
// (json.Marshal) in Temporal's history, and DecodeModel turns it back into
// the value Save takes. A flavor without it can be saved, logged and loaded
// with this package but not trained by a pipeline.
type Decoder interface {
	DecodeModel(data []byte) (any, error)
}

// Predictor is a loaded model.
type Predictor interface {
	// Inputs names the columns Predict reads.
	Inputs() []string
	// Predict returns one prediction per row of in, which must have the
	// Inputs columns (in any order, others ignored).
	Predict(ctx context.Context, in rows.Table) ([]float64, error)
}

// Pyfunc describes a python_function loader shipped in the model directory:
// code/<Module>.py holding Source, whose _load_pyfunc MLflow calls with
// <model>/<Data>.
type Pyfunc struct {
	Module string
	Source []byte
	Data   string
}

// Trainer fits a model of Flavor from training rows. Metrics are recorded on
// the run (finite numbers only).
type Trainer struct {
	Name   string
	Flavor string
	Fit    func(ctx context.Context, data rows.Table) (model any, metrics map[string]float64, err error)
}

// Registry maps flavor and trainer names to their implementations. The
// worker's main builds one and hands it to whatever needs it; there is no
// global registry.
type Registry struct {
	flavors  []Flavor
	trainers []Trainer
}

// NewRegistry returns a registry of flavors (and no trainers); a duplicate
// or unnamed flavor is InvalidArgument.
func NewRegistry(flavors ...Flavor) (*Registry, error) {
	r := &Registry{}
	for _, f := range flavors {
		if err := r.AddFlavor(f); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// AddFlavor registers f.
func (r *Registry) AddFlavor(f Flavor) error {
	name := f.Name()
	switch {
	case name == "" || name == pyfuncFlavor:
		return failure.New(failure.InvalidArgument, "flavor name %q is reserved or empty", name)
	case r.has(name):
		return failure.New(failure.InvalidArgument, "flavor %q is registered twice", name)
	}
	r.flavors = append(r.flavors, f)
	return nil
}

// AddTrainer registers t; its flavor must be registered first.
func (r *Registry) AddTrainer(t Trainer) error {
	switch {
	case t.Name == "" || t.Fit == nil:
		return failure.New(failure.InvalidArgument, "trainer %q has no name or no fit function", t.Name)
	case !r.has(t.Flavor):
		return failure.New(failure.FlavorNotFound, "trainer %q fits flavor %q, which is not registered", t.Name, t.Flavor)
	case slices.ContainsFunc(r.trainers, func(o Trainer) bool { return o.Name == t.Name }):
		return failure.New(failure.InvalidArgument, "trainer %q is registered twice", t.Name)
	}
	r.trainers = append(r.trainers, t)
	return nil
}

func (r *Registry) has(name string) bool {
	return slices.ContainsFunc(r.flavors, func(f Flavor) bool { return f.Name() == name })
}

// Flavor returns the flavor called name, or FlavorNotFound naming the
// registered ones.
func (r *Registry) Flavor(name string) (Flavor, error) {
	for _, f := range r.flavors {
		if f.Name() == name {
			return f, nil
		}
	}
	return nil, failure.New(failure.FlavorNotFound, "unknown flavor %q (this worker has %v)", name, r.FlavorNames())
}

// Trainer returns the trainer called name, or UnknownTrainer naming the
// registered ones.
func (r *Registry) Trainer(name string) (Trainer, error) {
	for _, t := range r.trainers {
		if t.Name == name {
			return t, nil
		}
	}
	return Trainer{}, failure.New(failure.UnknownTrainer, "unknown trainer %q (this worker has %v)", name, r.TrainerNames())
}

// FlavorNames lists the flavors in registration order.
func (r *Registry) FlavorNames() []string {
	out := make([]string, len(r.flavors))
	for i, f := range r.flavors {
		out[i] = f.Name()
	}
	return out
}

// TrainerNames lists the trainers in registration order.
func (r *Registry) TrainerNames() []string {
	out := make([]string, len(r.trainers))
	for i, t := range r.trainers {
		out[i] = t.Name
	}
	return out
}

// forModel picks the flavor that loads ml: the first registered flavor
// with a configuration in it (registration order, so the choice is stable).
func (r *Registry) forModel(ml *MLmodel) (Flavor, map[string]any, error) {
	for _, f := range r.flavors {
		if cfg, ok := ml.Flavors[f.Name()]; ok {
			return f, cfg, nil
		}
	}
	var have []string
	for name := range ml.Flavors {
		have = append(have, name)
	}
	slices.Sort(have)
	return nil, nil, failure.New(failure.FlavorNotFound, "the model has flavors %v, none of which this worker loads (it has %v)", have, r.FlavorNames())
}

// pyfuncFlavor is MLflow's generic flavor, written by Save for every
// flavor that ships a loader.
const pyfuncFlavor = "python_function"

// Files writes a flavor's files into the model directory being saved: each
// atomically, recorded in the manifest.
type Files struct{ s *saver }

// Write writes rel (slash separated, relative) through fn.
func (f *Files) Write(rel string, fn func(io.Writer) error) error {
	clean, err := vocab.CleanRelPath(rel, false)
	if err != nil {
		return failure.Wrap(failure.InvalidPath, err, "flavor file %q", rel)
	}
	if clean == MLmodelFile || clean == ManifestFile {
		return failure.New(failure.InvalidPath, "flavor file %q is written by the flavor package", rel)
	}
	_, err = f.s.write(clean, fn)
	return err
}

// WriteBytes writes rel with content b.
func (f *Files) WriteBytes(rel string, b []byte) error { return f.Write(rel, writeBytes(b)) }

// Context is the save's context, for long writes to watch.
func (f *Files) Context() context.Context { return f.s.ctx }

// Dir is a model directory being loaded, already verified against its
// manifest. Open refuses paths that leave it.
type Dir struct {
	Path string
	root *os.Root
}

// Open opens rel, a slash separated path relative to the directory;
// a path that is unsafe is InvalidMLmodel (it came from MLmodel), a
// missing file InvalidModel.
func (d *Dir) Open(rel string) (*os.File, error) {
	clean, err := vocab.CleanRelPath(rel, false)
	if err != nil {
		return nil, failure.Wrap(failure.InvalidMLmodel, err, "model file %q", rel)
	}
	f, err := d.root.Open(filepath.FromSlash(clean))
	if err != nil {
		return nil, failure.Wrap(failure.InvalidModel, err, "open %s in %s", clean, d.Path)
	}
	return f, nil
}

// Stat stats rel like Open opens it.
func (d *Dir) Stat(rel string) (os.FileInfo, error) {
	clean, err := vocab.CleanRelPath(rel, false)
	if err != nil {
		return nil, failure.Wrap(failure.InvalidMLmodel, err, "model file %q", rel)
	}
	return d.root.Stat(filepath.FromSlash(clean))
}

// ConfigFloat reads a finite number from a flavor configuration; field
// names it in errors (InvalidMLmodel).
func ConfigFloat(cfg map[string]any, key, field string) (float64, error) {
	return configFloat(cfg, key, field)
}

// ConfigString reads a string from a flavor configuration ("" when absent).
func ConfigString(cfg map[string]any, key, field string) (string, error) {
	return configString(cfg, key, field)
}
