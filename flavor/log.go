package flavor

// LogModel: the Go counterpart of mlflow.<flavor>.log_model in MLflow 3.x
// (protocol §3.2), made resumable and idempotent.

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// DefaultLoggedModelName is used when LogOptions.Name is empty, as Python's
// log_model(name="model") examples do.
const DefaultLoggedModelName = "model"

// LogModel uploads the saved model in dir (it must verify against its
// manifest) as an MLflow 3 logged model, in the order Python's log_model
// uses:
//
//  1. with an IdempotencyKey, look for a logged model tagged with it: READY
//     with the same manifest is returned as Reused; PENDING is resumed;
//  2. otherwise CreateLoggedModel (source run, params with the run's params
//     winning as in Python, tags and the key), then LogOutputs on the run;
//  3. the uploaded copy's MLmodel gets model_id, model_uuid (= model_id),
//     run_id and artifact_path (the logged model's artifact URI), as Python
//     writes them, and a new manifest covers it. Both are rendered in memory:
//     the data files are streamed from dir and never copied;
//  4. every file is uploaded (Parallelism at a time), skipping files the store
//     already lists with the right size, and the manifest goes last;
//  5. the listing is checked, the model finalized READY and tagged with the
//     manifest hash.
//
// On failure the logged model is left PENDING when a retry can resume it (an
// IdempotencyKey is set and the error is retryable or a cancellation): the
// files already uploaded are kept and the next attempt sends only the rest.
// It is marked LOGGED_MODEL_UPLOAD_FAILED when nothing can resume it: no key
// (nobody can find it again) or an error no retry fixes (a file changed under
// us, a path the store refuses). That matches Python, which marks failed
// uploads UPLOAD_FAILED, without giving up partial uploads of large models on
// a flaky network.
func LogModel(ctx context.Context, st store.Store, dir string, opts LogOptions) (Logged, error) {
	if st == nil {
		return Logged{}, failure.New(failure.InvalidArgument, "LogModel needs a store")
	}
	if opts.ExperimentID == "" {
		return Logged{}, failure.New(failure.InvalidArgument, "LogModel needs an experiment id")
	}
	if opts.Name == "" {
		opts.Name = DefaultLoggedModelName
	}
	if err := vocab.ValidateLoggedModelName(opts.Name); err != nil {
		return Logged{}, err
	}
	local, sha, err := VerifyDir(dir)
	if err != nil {
		return Logged{}, err
	}
	if want := opts.SavedManifestSHA256; want != "" && sha != want {
		return Logged{}, failure.New(failure.ChecksumMismatch, "%s: manifest sha256 %s differs from the one recorded at save (%s)", dir, sha, want)
	}
	ml, err := readLocalMLmodel(dir)
	if err != nil {
		return Logged{}, err
	}
	l := &logger{st: st, dir: dir, opts: opts, local: local, ml: ml}
	lm, reused, err := l.findOrCreate(ctx)
	if err != nil {
		if lm != nil { // created, but linking it to the run failed
			l.markFailed(ctx, lm, err)
		}
		return Logged{}, err
	}
	out, err := l.upload(ctx, lm, reused)
	if err != nil {
		l.markFailed(ctx, lm, err)
		return Logged{}, err
	}
	return out, nil
}

type logger struct {
	st    store.Store
	dir   string
	opts  LogOptions
	local Manifest
	ml    *MLmodel
}

// findOrCreate returns the logged model to upload into, and whether it was
// found by the idempotency key.
func (l *logger) findOrCreate(ctx context.Context) (*store.LoggedModel, bool, error) {
	run := l.opts.Run
	if run != nil && run.ID != l.opts.RunID {
		run = nil // not the source run: read that one
	}
	if run == nil && l.opts.RunID != "" {
		r, err := l.st.GetRun(ctx, l.opts.RunID)
		if err != nil {
			return nil, false, err
		}
		run = r
	}
	if key := l.opts.IdempotencyKey; key != "" {
		found, err := l.st.SearchLoggedModelsByTag(ctx, l.opts.ExperimentID, vocab.TagIdempotencyKey, key)
		if err != nil {
			return nil, false, err
		}
		// A READY model wins over a PENDING one; UPLOAD_FAILED ones were
		// given up on and are left alone.
		var pick *store.LoggedModel
		for i := range found {
			m := &found[i]
			switch {
			case m.Status == store.LoggedModelReady && (pick == nil || pick.Status != store.LoggedModelReady):
				pick = m
			case m.Status == store.LoggedModelPending && pick == nil:
				pick = m
			}
		}
		if pick != nil {
			return pick, true, l.linkRun(ctx, run, pick.ID)
		}
	}
	params := store.Tags{}
	for k, v := range l.opts.Params {
		params[k] = v
	}
	if run != nil {
		for k, v := range run.Params { // Python: {**params, **run.data.params}
			params[k] = v
		}
	}
	tags := store.Tags{}
	for k, v := range l.opts.Tags {
		tags[k] = v
	}
	if l.opts.IdempotencyKey != "" {
		tags[vocab.TagIdempotencyKey] = l.opts.IdempotencyKey
	}
	lm, err := l.st.CreateLoggedModel(ctx, store.CreateLoggedModelRequest{
		ExperimentID: l.opts.ExperimentID,
		Name:         l.opts.Name,
		SourceRunID:  l.opts.RunID,
		Params:       params,
		Tags:         tags,
	})
	if err != nil {
		return nil, false, err
	}
	return lm, false, l.linkRun(ctx, run, lm.ID)
}

// linkRun records the model as an output of the run (runs/outputs), once.
func (l *logger) linkRun(ctx context.Context, run *store.Run, modelID string) error {
	if run == nil || slices.Contains(run.OutputModels, modelID) {
		return nil
	}
	return l.st.LogOutputs(ctx, run.ID, []string{modelID})
}

// staged is one file to upload: from dir, or (MLmodel, manifest) in memory.
type staged struct {
	ManifestEntry
	data []byte // nil: stream dir/Path
}

// stage renders the uploaded copy's MLmodel and manifest for lm.
func (l *logger) stage(lm *store.LoggedModel) ([]staged, staged, error) {
	ml := *l.ml
	ml.ModelID, ml.ModelUUID, ml.RunID, ml.ArtifactPath = lm.ID, lm.ID, l.opts.RunID, lm.ArtifactURI
	doc, err := ml.Marshal()
	if err != nil {
		return nil, staged{}, err
	}
	files := make([]staged, 0, len(l.local.Files))
	entries := make([]ManifestEntry, 0, len(l.local.Files))
	for _, e := range l.local.Files {
		s := staged{ManifestEntry: e}
		if e.Path == MLmodelFile {
			s = staged{ManifestEntry: ManifestEntry{Path: MLmodelFile, Size: int64(len(doc)), SHA256: sha256Hex(doc)}, data: doc}
		}
		files = append(files, s)
		entries = append(entries, s.ManifestEntry)
	}
	manData, err := encodeManifest(Manifest{Version: ManifestVersion, Files: entries})
	if err != nil {
		return nil, staged{}, err
	}
	man := staged{ManifestEntry: ManifestEntry{Path: ManifestFile, Size: int64(len(manData)), SHA256: sha256Hex(manData)}, data: manData}
	return files, man, nil
}

func (l *logger) upload(ctx context.Context, lm *store.LoggedModel, reused bool) (Logged, error) {
	files, man, err := l.stage(lm)
	if err != nil {
		return Logged{}, err
	}
	out := Logged{ModelID: lm.ID, ArtifactURI: lm.ArtifactURI, ModelURI: "models:/" + lm.ID, ManifestSHA256: man.SHA256, Reused: reused}
	if reused && lm.Status == store.LoggedModelReady {
		switch tag := lm.Tags[vocab.TagManifestSHA256]; tag {
		case man.SHA256:
			return out, nil
		case "":
			// Finalized, but the attempt stopped before tagging: check and tag.
		default:
			return Logged{}, failure.New(failure.AlreadyExists, "logged model %s (idempotency key %q) holds manifest %s, not this model's %s", lm.ID, l.opts.IdempotencyKey, tag, man.SHA256)
		}
	}
	// A model created just now has nothing uploaded yet: list only when
	// resuming one found by its key.
	present := map[string]int64{}
	if reused {
		if present, err = l.listing(ctx, lm.ArtifactURI); err != nil {
			return Logged{}, err
		}
	}
	var todo []staged
	for _, f := range files {
		if size, ok := present[f.Path]; !ok || size != f.Size {
			todo = append(todo, f)
		}
	}
	prog := &progress{fn: l.opts.Progress}
	err = forEach(ctx, len(todo), l.opts.Parallelism, func(ctx context.Context, i int) error {
		return l.put(ctx, lm.ArtifactURI, todo[i], prog)
	})
	if err != nil {
		return Logged{}, err
	}
	// The manifest last: its presence says every other file is up.
	if err := l.put(ctx, lm.ArtifactURI, man, prog); err != nil {
		return Logged{}, err
	}
	out.Bytes = prog.done.Load()
	present, err = l.listing(ctx, lm.ArtifactURI)
	if err != nil {
		return Logged{}, err
	}
	for _, f := range append(files, man) {
		if size, ok := present[f.Path]; !ok || size != f.Size {
			return Logged{}, failure.New(failure.ChecksumMismatch, "after upload, %s/%s is listed with %d bytes (present: %v), want %d", lm.ArtifactURI, f.Path, size, ok, f.Size)
		}
	}
	if lm.Status != store.LoggedModelReady {
		if _, err := l.st.FinalizeLoggedModel(ctx, lm.ID, store.LoggedModelReady); err != nil {
			return Logged{}, err
		}
	}
	if err := l.st.SetLoggedModelTags(ctx, lm.ID, store.Tags{vocab.TagManifestSHA256: man.SHA256}); err != nil {
		return Logged{}, err
	}
	return out, nil
}

// listing maps every file under an artifact root to its size.
func (l *logger) listing(ctx context.Context, root string) (map[string]int64, error) {
	files, err := listTree(ctx, l.st, location{root: root})
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(files))
	for _, f := range files {
		out[f.rootRel] = f.size
	}
	return out, nil
}

// put uploads one file, reopening it on each attempt the store makes.
func (l *logger) put(ctx context.Context, root string, f staged, prog *progress) error {
	var sent atomic.Int64 // bytes of this file counted in prog so far
	src := store.Source{
		Size:   f.Size,
		SHA256: f.SHA256,
		Open: func() (io.ReadCloser, error) {
			prog.add(-sent.Swap(0)) // a retry starts over
			var rc io.ReadCloser
			if f.data != nil {
				rc = io.NopCloser(bytes.NewReader(f.data))
			} else {
				file, err := os.Open(filepath.Join(l.dir, filepath.FromSlash(f.Path)))
				if err != nil {
					return nil, failure.Wrap(failure.Internal, err, "open %s", f.Path)
				}
				rc = file
			}
			return &countingReadCloser{ReadCloser: rc, onRead: func(n int) {
				sent.Add(int64(n))
				prog.add(int64(n))
			}}, nil
		},
		// Parts are read at their offset, not through Open: Open's reader
		// hides the file's Seek, so a part would be reached by reading
		// (and counting) everything before it.
		OpenRange: func(off, n int64) (io.ReadCloser, error) {
			if off < 0 || n < 0 || off+n > f.Size {
				return nil, failure.New(failure.Internal, "range %d+%d of %s is outside its %d bytes", off, n, f.Path, f.Size)
			}
			if f.data != nil {
				return io.NopCloser(bytes.NewReader(f.data[off : off+n])), nil
			}
			file, err := os.Open(filepath.Join(l.dir, filepath.FromSlash(f.Path)))
			if err != nil {
				return nil, failure.Wrap(failure.Internal, err, "open %s", f.Path)
			}
			return struct {
				io.Reader
				io.Closer
			}{io.NewSectionReader(file, off, n), file}, nil
		},
		Sent: func(d int64) {
			sent.Add(d)
			prog.add(d)
		},
	}
	return l.st.PutArtifact(ctx, root, f.Path, src)
}

// markFailed applies the failure policy documented on LogModel.
func (l *logger) markFailed(ctx context.Context, lm *store.LoggedModel, cause error) {
	if lm.Status == store.LoggedModelReady {
		return
	}
	resumable := l.opts.IdempotencyKey != "" && (ctx.Err() != nil || failure.Retryable(failure.CodeOf(cause)))
	if resumable {
		return
	}
	// The caller's context may be what failed; marking must still happen.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = l.st.FinalizeLoggedModel(mctx, lm.ID, store.LoggedModelUploadFailed)
}

// progress reports bytes uploaded so far across parallel uploads.
type progress struct {
	mu   sync.Mutex
	done atomic.Int64
	fn   func(int64)
}

func (p *progress) add(n int64) {
	if n == 0 {
		return
	}
	// Under the lock so that callbacks need not be goroutine safe and see
	// totals in the order they were reached.
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.done.Add(n)
	if p.fn != nil {
		p.fn(v)
	}
}

type countingReadCloser struct {
	io.ReadCloser
	onRead func(int)
}

func (c *countingReadCloser) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 {
		c.onRead(n)
	}
	return n, err
}
