package flavor

// SaveModel: the Go counterpart of mlflow.<flavor>.save_model.

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
)

// Versions written into MLmodel and the environment files.
const (
	// MLflowVersion is the MLflow release this flavor is tested against
	// (mlflow_version in MLmodel; requirements.txt allows the range in
	// LoaderMLflowRequirement).
	MLflowVersion = "3.17.2"
	// PythonVersion is the python_function python_version: the major.minor
	// the shim is tested with (the project venv's Python, which
	// tests/python checks). MLflow only warns when it differs.
	PythonVersion = "3.11"
	// Version is flavorflow's own version, recorded in the fakemodel flavor.
	Version = "0.1.0"
)

// Environment file names, as MLflow's flavors name them.
const (
	PythonEnvFile    = "python_env.yaml"
	RequirementsFile = "requirements.txt"
)

//go:embed pyfunc/flavorflow_fakemodel.py
var pyfuncShim []byte

// SaveModel writes model into dir, which must not exist or be empty, as an
// MLflow model directory that both this package and Python's
// mlflow.pyfunc.load_model can read:
//
//	model.json                      the model (JSON, never pickle)
//	weights.bin                     the weights payload, when WeightsSize > 0
//	code/flavorflow_fakemodel.py    the python_function loader
//	python_env.yaml, requirements.txt, conda.yaml   the loader's environment
//	input_example.json, serving_input_example.json  the input example
//	MLmodel                         flavors fakemodel and python_function, signature
//	flavorflow-manifest.json        size and sha256 of every other file
//
// Every file is written to a temporary name and renamed, the manifest last,
// so a directory with a manifest that verifies is complete. Equal inputs
// (with opts.ModelUUID and opts.Created set) give byte-identical files. On
// failure the files written so far are removed.
func SaveModel(ctx context.Context, dir string, model fakemodel.FakeModel, opts SaveOptions) (Saved, error) {
	if err := model.Validate(); err != nil {
		return Saved{}, err
	}
	return Save(ctx, dir, Fakemodel{}, model, opts)
}

// Save writes model into dir (which must not exist or be empty) as an MLflow
// model directory of flavor fl: the flavor's own files, its pyfunc loader
// in code/ with python_env.yaml, requirements.txt and conda.yaml when it
// ships one, the input example of opts.Spec (default: the flavor's, see
// SpecProvider), MLmodel and the manifest, each written atomically and the manifest last,
// as SaveModel describes. On failure the files written so far are removed.
func Save(ctx context.Context, dir string, fl Flavor, model any, opts SaveOptions) (Saved, error) {
	if opts.Spec == nil {
		spec := defaultSpec(fl)
		opts.Spec = &spec
	}
	if err := opts.Spec.Validate(); err != nil {
		return Saved{}, err
	}
	if err := prepareTarget(dir); err != nil {
		return Saved{}, err
	}
	s := &saver{ctx: ctx, dir: dir}
	saved, err := s.save(fl, model, opts)
	if err != nil {
		s.cleanup()
		return Saved{}, err
	}
	return saved, nil
}

// prepareTarget applies mlflow's _validate_and_prepare_target_save_path.
func prepareTarget(dir string) error {
	if dir == "" {
		return failure.New(failure.InvalidPath, "target directory path is empty")
	}
	info, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return failure.Wrap(failure.Internal, err, "create %s", dir)
		}
		return nil
	case err != nil:
		return failure.Wrap(failure.Internal, err, "stat %s", dir)
	case !info.IsDir():
		return failure.New(failure.TargetNotEmpty, "Path '%s' already exists and is not empty", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return failure.Wrap(failure.Internal, err, "read %s", dir)
	}
	if len(entries) > 0 {
		return failure.New(failure.TargetNotEmpty, "Path '%s' already exists and is not empty", dir)
	}
	return nil
}

type saver struct {
	ctx     context.Context
	dir     string
	entries []ManifestEntry
	written []string // relative paths, for cleanup
	touched []string // relative paths tried, for the directories they made
	total   int64
}

func (s *saver) save(fl Flavor, model any, opts SaveOptions) (Saved, error) {
	cfg, err := fl.Save(s.ctx, model, &Files{s: s})
	if err != nil {
		return Saved{}, err
	}
	py := fl.Pyfunc()
	var steps []fileStep
	if py != nil {
		steps = append(steps, fileStep{CodeDir + "/" + py.Module + ".py", writeBytes(py.Source)})
	}
	steps = append(steps, specFiles(*opts.Spec, py != nil)...)
	for _, st := range steps {
		if _, err := s.write(st.rel, st.write); err != nil {
			return Saved{}, err
		}
	}
	// MLflow's rule: model_size_bytes is the size of everything written
	// before MLmodel.
	ml := newMLmodel(fl.Name(), cfg, py, opts, s.total)
	doc, err := ml.Marshal()
	if err != nil {
		return Saved{}, err
	}
	if _, err := s.write(MLmodelFile, writeBytes(doc)); err != nil {
		return Saved{}, err
	}
	man := Manifest{Version: ManifestVersion, Files: s.entries}
	data, err := encodeManifest(man)
	if err != nil {
		return Saved{}, err
	}
	if err := writeFileAtomic(s.ctx, s.dir, ManifestFile, writeBytes(data), nil); err != nil {
		return Saved{}, err
	}
	s.written = append(s.written, ManifestFile)
	// Make the renames durable before anyone is told the model is saved:
	// every directory written into, deepest first.
	for _, d := range s.dirs() {
		if err := syncDir(d); err != nil {
			return Saved{}, err
		}
	}
	man, _ = ParseManifest(data) // sorted copy of what was written
	return Saved{Dir: s.dir, Manifest: man, ManifestSHA256: sha256Hex(data), Size: s.total + int64(len(data))}, nil
}

// dirs lists the directories the save wrote into, deepest first.
func (s *saver) dirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, rel := range s.touched {
		for d := path.Dir(rel); d != "." && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	abs := make([]string, 0, len(out)+1)
	for _, d := range out {
		abs = append(abs, filepath.Join(s.dir, filepath.FromSlash(d)))
	}
	return append(abs, s.dir)
}

// newMLmodel builds the MLmodel a save of flavor name writes.
func newMLmodel(name string, cfg map[string]any, py *Pyfunc, opts SaveOptions, sizeBytes int64) *MLmodel {
	modelUUID := opts.ModelUUID
	if modelUUID == "" {
		u := uuid.New()
		modelUUID = hex.EncodeToString(u[:]) // uuid4().hex, as mlflow writes it
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Now()
	}
	spec := ModelSpec{Env: DefaultPythonEnv()} // Save always sets opts.Spec; callers of this helper may not
	if opts.Spec != nil {
		spec = *opts.Spec
	}
	flavors := map[string]map[string]any{name: cfg}
	if py != nil {
		flavors[pyfuncFlavor] = map[string]any{
			"loader_module":  py.Module,
			"code":           CodeDir,
			"data":           py.Data,
			"env":            map[string]any{"conda": CondaEnvFile, "virtualenv": PythonEnvFile},
			"python_version": spec.Env.Python,
		}
	}
	extra := map[string]any{}
	if spec.Signature() != nil {
		// Model.to_dict writes both whenever there is a signature.
		extra["is_signature_from_type_hint"] = false
		extra["type_hint_from_example"] = false
	}
	if spec.Example != nil {
		extra["saved_input_example_info"] = exampleInfo()
	}
	if len(extra) == 0 {
		extra = nil
	}
	return &MLmodel{
		ArtifactPath:   opts.ArtifactPath,
		Flavors:        flavors,
		Signature:      spec.Signature(),
		Extra:          extra,
		MLflowVersion:  MLflowVersion,
		ModelID:        opts.ModelID,
		ModelSizeBytes: &sizeBytes,
		ModelUUID:      modelUUID,
		RunID:          opts.RunID,
		UTCTimeCreated: FormatCreated(created),
		Metadata:       opts.Metadata,
	}
}

// write writes one file and records it for the manifest.
func (s *saver) write(rel string, fn func(io.Writer) error) (ManifestEntry, error) {
	var e ManifestEntry
	s.touched = append(s.touched, rel)
	err := writeFileAtomic(s.ctx, s.dir, rel, fn, &e)
	if err != nil {
		return e, err
	}
	s.written = append(s.written, rel)
	s.entries = append(s.entries, e)
	s.total += e.Size
	return e, nil
}

// cleanup removes what a failed save wrote; the directory was empty before.
func (s *saver) cleanup() {
	for _, rel := range s.written {
		_ = os.Remove(filepath.Join(s.dir, filepath.FromSlash(rel)))
	}
	for _, d := range s.dirs() {
		if d != s.dir {
			_ = os.Remove(d) // only if empty
		}
	}
}

// fileStep is one file a save writes, in order.
type fileStep struct {
	rel   string
	write func(io.Writer) error
}

// specFiles are the files a ModelSpec adds: the pyfunc loader's
// environment (withEnv: only a flavor that ships a loader has one), then
// the input example. Their order is fixed, so saves stay byte-identical.
func specFiles(spec ModelSpec, withEnv bool) []fileStep {
	var steps []fileStep
	if withEnv {
		steps = append(steps,
			fileStep{PythonEnvFile, writeBytes(spec.Env.pythonEnvYAML())},
			fileStep{RequirementsFile, writeBytes(spec.Env.requirementsTxt())},
			fileStep{CondaEnvFile, writeBytes(spec.Env.condaYAML())})
	}
	if e := spec.Example; e != nil {
		steps = append(steps,
			fileStep{InputExampleFile, writeBytes(e.inputExampleJSON())},
			fileStep{ServingInputExampleFile, writeBytes(e.servingExampleJSON())})
	}
	return steps
}

// SpecProvider is implemented by flavors that describe their models to
// MLflow: the signature, input example and loader environment a save
// writes when SaveOptions.Spec is nil.
type SpecProvider interface {
	DefaultSpec() ModelSpec
}

// defaultSpec is fl's spec, or none but the loader environment.
func defaultSpec(fl Flavor) ModelSpec {
	if p, ok := fl.(SpecProvider); ok {
		return p.DefaultSpec()
	}
	return ModelSpec{Env: DefaultPythonEnv()}
}

func writeBytes(b []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(b); return err }
}

// writeFileAtomic writes dir/rel through fn into a temporary file in the same
// directory, syncs it and renames it into place, so a crash never leaves a
// half-written file under the final name. When e is non-nil it receives the
// file's size and sha256, computed while writing (no second read).
func writeFileAtomic(ctx context.Context, dir, rel string, fn func(io.Writer) error, e *ManifestEntry) error {
	return writeFile(ctx, dir, rel, fn, e, true)
}

// writeFile is writeFileAtomic; sync=false skips the fsync, for downloads:
// they are scratch copies verified against the manifest when loaded, and
// forcing a large model to disk would cost more than the download.
func writeFile(ctx context.Context, dir, rel string, fn func(io.Writer) error, e *ManifestEntry, sync bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	final := filepath.Join(dir, filepath.FromSlash(rel))
	parent := filepath.Dir(final)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return failure.Wrap(failure.Internal, err, "create %s", parent)
	}
	tmp, err := os.CreateTemp(parent, ".tmp-"+filepath.Base(final)+"-*")
	if err != nil {
		return failure.Wrap(failure.Internal, err, "create temporary file in %s", parent)
	}
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(tmp, h)}
	if err := fn(cw); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return failure.Wrap(failure.CodeOf(err), err, "write %s", rel)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return failure.Wrap(failure.Internal, err, "chmod %s", rel)
	}
	if sync {
		if err := tmp.Sync(); err != nil {
			return failure.Wrap(failure.Internal, err, "sync %s", rel)
		}
	}
	if err := tmp.Close(); err != nil {
		return failure.Wrap(failure.Internal, err, "close %s", rel)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return failure.Wrap(failure.Internal, err, "rename into %s", final)
	}
	ok = true
	if e != nil {
		*e = ManifestEntry{Path: rel, Size: cw.n, SHA256: hex.EncodeToString(h.Sum(nil))}
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return failure.Wrap(failure.Internal, err, "open %s", dir)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return failure.Wrap(failure.Internal, err, "sync %s", dir)
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
