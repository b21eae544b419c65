package flavor

// LoadModel: the Go counterpart of mlflow.<flavor>.load_model.

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
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
	f, err := download(ctx, st, uri, dst)
	if err != nil {
		return Loaded{}, err
	}
	out, err := loadDir(f.dir, f.hashed)
	if err != nil {
		return Loaded{}, err
	}
	// download checked the manifest it fetched; this checks the directory
	// as loaded, so no path between the two can skip the comparison.
	if f.want != "" && out.ManifestSHA256 != f.want {
		return Loaded{}, failure.New(failure.ChecksumMismatch, "%s loads with manifest hash %q, the store records %s", uri, out.ManifestSHA256, f.want)
	}
	return out, nil
}

// loadDir loads a model directory already on disk; hashed holds the sizes
// and hashes of files just downloaded (nil: hash every file).
func loadDir(dir string, hashed map[string]ManifestEntry) (Loaded, error) {
	info, err := os.Lstat(filepath.Join(dir, MLmodelFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Loaded{}, failure.New(failure.InvalidMLmodel, "no MLmodel file in %s", dir)
	case err != nil:
		return Loaded{}, failure.Wrap(failure.InvalidMLmodel, err, "stat MLmodel in %s", dir)
	case !info.Mode().IsRegular():
		return Loaded{}, failure.New(failure.InvalidPath, "MLmodel in %s is not a regular file (%s)", dir, info.Mode().Type())
	}
	out := Loaded{Dir: dir}
	if _, err := os.Lstat(filepath.Join(dir, ManifestFile)); err == nil {
		if _, out.ManifestSHA256, err = verifyDir(dir, hashed); err != nil {
			return Loaded{}, err
		}
	} else if err := walkFiles(dir, func(string, fs.FileInfo) error { return nil }); err != nil {
		// No manifest (a Python-written model): still refuse symlinks.
		return Loaded{}, err
	}
	if out.MLmodel, err = readLocalMLmodel(dir); err != nil {
		return Loaded{}, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Loaded{}, failure.Wrap(failure.InvalidPath, err, "open %s", dir)
	}
	defer root.Close()
	if cfg, ok := out.MLmodel.Flavors[FlavorName]; ok {
		out.Flavor = FlavorName
		out.Model, err = loadFakemodelFlavor(root, dir, cfg)
	} else if cfg, ok := out.MLmodel.Flavors[TutorialFlavor]; ok {
		out.Flavor = TutorialFlavor
		out.Model, err = loadTutorialFlavor(cfg)
	} else {
		_, err = out.MLmodel.FlavorConfig(FlavorName)
	}
	if err != nil {
		return Loaded{}, err
	}
	return out, nil
}

// loadFakemodelFlavor reads model.json as the flavor config points to it and
// checks that the config agrees with it.
func loadFakemodelFlavor(root *os.Root, dir string, cfg map[string]any) (fakemodel.FakeModel, error) {
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
	f, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		return fakemodel.FakeModel{}, failure.Wrap(failure.InvalidModel, err, "open %s in %s", rel, dir)
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
		info, err := root.Stat(WeightsFile)
		if err != nil || info.Size() != m.WeightsSize {
			return fakemodel.FakeModel{}, failure.New(failure.ChecksumMismatch, "%s: %s should be %d bytes", dir, WeightsFile, m.WeightsSize)
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
