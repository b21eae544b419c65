package flavor

// LoadModel: the Go counterpart of mlflow.<flavor>.load_model.

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

// TutorialFlavor is the flavor name of the tutorial's Python flavor
// (changhsinlee/mlflow-flavor-example): {foo: 123, bar: abc, offset: N} next
// to a pickled model.pkl.
const TutorialFlavor = "my_flavor"

// LoadModel resolves uri (models:/name/version, models:/name@alias,
// models:/name/latest, models:/m-<id>, runs:/<run>/<path>, a local path or
// file://), downloads it into dst (a fresh directory; unused for local
// paths), verifies the manifest when there is one, and loads the model from
// the fakemodel flavor or, for models written by the tutorial's Python
// flavor, from my_flavor's offset. model.pkl is never read: unpickling runs
// arbitrary code, and the offset in MLmodel is all the model is.
//
// A registered version or logged model that records a manifest hash
// (flavorflow.manifest_sha256) must download with that very manifest: a
// different one, or none, is ChecksumMismatch. Only models nobody recorded a
// hash for (local directories, versions registered by Python MLflow) load
// without a manifest.
func LoadModel(ctx context.Context, st store.Store, uri, dst string) (Loaded, error) {
	return LoadModelWith(ctx, st, uri, dst, LoadOptions{})
}

// LoadModelWith is LoadModel with opts.
func LoadModelWith(ctx context.Context, st store.Store, uri, dst string, opts LoadOptions) (Loaded, error) {
	m, err := LoadWith(ctx, fakemodelFlavors, st, uri, dst, opts)
	if err != nil {
		return Loaded{}, err
	}
	return m.fakeLoaded(), nil
}

// LoadOptions changes how a store-backed model is downloaded.
type LoadOptions struct {
	// ManifestFiles downloads a model whose manifest hash is recorded by
	// that manifest alone: the manifest first, checked against the hash,
	// then exactly the files it names, with no directory listed (on
	// MLflow a listing is a request per directory). A file in the tree
	// that the manifest does not name is neither fetched nor refused. It
	// is for a caller whose next step lists and checks the whole tree
	// again before anything can depend on it: the pipeline's verification,
	// whose promotion runs CheckStored before the alias moves. Without it
	// the tree is listed and such a file is ChecksumMismatch, as in
	// Python's shipped loader.
	ManifestFiles bool
	// Local, when set (the embedded store, whose artifacts are files on
	// this machine), has a model loaded where it is stored, read-only:
	// every file is hashed against the manifest and the tree walked for
	// files it does not name, as for any directory, but nothing is copied
	// into dst.
	Local store.LocalDirs
}

// fakemodelFlavors are what LoadModel reads: fakemodel, then my_flavor.
var fakemodelFlavors = &Registry{flavors: []Flavor{Fakemodel{}, Tutorial{}}}

// Model is a model of any registered flavor read back from a directory or
// a store.
type Model struct {
	Predictor      Predictor
	Flavor         string // the flavor that loaded it
	Dir            string
	MLmodel        *MLmodel
	ManifestSHA256 string // "" for models without a manifest (Python-written ones)
}

func (m Model) fakeLoaded() Loaded {
	fp, _ := m.Predictor.(FakePredictor)
	return Loaded{Model: fp.Model, Dir: m.Dir, MLmodel: m.MLmodel, Flavor: m.Flavor, ManifestSHA256: m.ManifestSHA256}
}

// Load is LoadModel for any flavor of reg: the first registered flavor
// the MLmodel has a configuration for loads it (FlavorNotFound when there
// is none). Download, manifest and recorded-hash checks are LoadModel's.
func Load(ctx context.Context, reg *Registry, st store.Store, uri, dst string) (Model, error) {
	return LoadWith(ctx, reg, st, uri, dst, LoadOptions{})
}

// LoadWith is Load with opts.
func LoadWith(ctx context.Context, reg *Registry, st store.Store, uri, dst string, opts LoadOptions) (Model, error) {
	f, err := download(ctx, st, uri, dst, opts)
	if err != nil {
		return Model{}, err
	}
	out, err := loadDir(ctx, reg, f.dir, f.hashed)
	if err != nil {
		return Model{}, err
	}
	// download checked the manifest it fetched; this checks the directory
	// as loaded, so no path between the two can skip the comparison.
	if f.want != "" && out.ManifestSHA256 != f.want {
		return Model{}, failure.New(failure.ChecksumMismatch, "%s loads with manifest hash %q, the store records %s", uri, out.ManifestSHA256, f.want)
	}
	return out, nil
}

// loadDir loads a model directory already on disk; hashed holds the sizes
// and hashes of files just downloaded (nil: hash every file).
func loadDir(ctx context.Context, reg *Registry, dir string, hashed map[string]ManifestEntry) (Model, error) {
	info, err := os.Lstat(filepath.Join(dir, MLmodelFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Model{}, failure.New(failure.InvalidMLmodel, "no MLmodel file in %s", dir)
	case err != nil:
		return Model{}, failure.Wrap(failure.InvalidMLmodel, err, "stat MLmodel in %s", dir)
	case !info.Mode().IsRegular():
		return Model{}, failure.New(failure.InvalidPath, "MLmodel in %s is not a regular file (%s)", dir, info.Mode().Type())
	}
	out := Model{Dir: dir}
	if _, err := os.Lstat(filepath.Join(dir, ManifestFile)); err == nil {
		if _, out.ManifestSHA256, err = verifyDir(dir, hashed); err != nil {
			return Model{}, err
		}
	} else if err := walkFiles(dir, func(string, fs.FileInfo) error { return nil }); err != nil {
		// No manifest (a Python-written model): still refuse symlinks.
		return Model{}, err
	}
	if out.MLmodel, err = readLocalMLmodel(dir); err != nil {
		return Model{}, err
	}
	fl, cfg, err := reg.forModel(out.MLmodel)
	if err != nil {
		if reg == fakemodelFlavors {
			// LoadModel keeps MLflow's own message for it.
			_, err = out.MLmodel.FlavorConfig(FlavorName)
		}
		return Model{}, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Model{}, failure.Wrap(failure.InvalidPath, err, "open %s", dir)
	}
	defer root.Close()
	out.Flavor = fl.Name()
	if out.Predictor, err = fl.Load(ctx, &Dir{Path: dir, root: root}, cfg); err != nil {
		return Model{}, err
	}
	return out, nil
}
