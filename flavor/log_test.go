package flavor

import (
	"context"
	"io"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
)

type logEnv struct {
	st    *localstore.Store
	expID string
	run   *store.Run
}

func newLogEnv(t *testing.T) logEnv {
	t.Helper()
	ctx := context.Background()
	st, err := localstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	expID, run := newExperimentRun(t, st, "flavor-test")
	if err := st.LogBatch(ctx, run.ID, store.Batch{Params: store.Tags{"lr": "run-wins", "epochs": "3"}}); err != nil {
		t.Fatal(err)
	}
	return logEnv{st: st, expID: expID, run: run}
}

// newExperimentRun creates an experiment and a run in it.
func newExperimentRun(t *testing.T, st store.Store, experiment string) (string, *store.Run) {
	t.Helper()
	ctx := context.Background()
	expID, err := st.CreateExperiment(ctx, experiment, nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := st.CreateRun(ctx, store.CreateRunRequest{ExperimentID: expID, Name: "train"})
	if err != nil {
		t.Fatal(err)
	}
	return expID, run
}

func (e logEnv) opts(key string) LogOptions {
	return LogOptions{ExperimentID: e.expID, RunID: e.run.ID, Name: "model", IdempotencyKey: key,
		Params: store.Tags{"lr": "explicit", "seed": "1"}, Tags: store.Tags{"owner": "test"}}
}

func TestLogModelAndLoadBack(t *testing.T) {
	ctx := context.Background()
	env := newLogEnv(t)
	m := fakemodel.FakeModel{Offset: 3, WeightsSize: 300_000, WeightsSeed: 9}
	dir, saved := saveT(t, m, fixedOpts)
	var last atomic.Int64
	opts := env.opts("wf-1")
	opts.Progress = func(n int64) { last.Store(n) }
	logged, err := LogModel(ctx, env.st, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if logged.Reused || logged.ModelURI != "models:/"+logged.ModelID || logged.Bytes < saved.Size || last.Load() != logged.Bytes {
		t.Errorf("logged %+v (progress %d, saved size %d)", logged, last.Load(), saved.Size)
	}
	if logged.ManifestSHA256 == saved.ManifestSHA256 {
		t.Error("the uploaded manifest should differ (MLmodel gains model_id/run_id)")
	}
	lm, err := env.st.GetLoggedModel(ctx, logged.ModelID)
	if err != nil {
		t.Fatal(err)
	}
	if lm.Status != store.LoggedModelReady || lm.Tags[vocab.TagManifestSHA256] != logged.ManifestSHA256 || lm.Tags[vocab.TagIdempotencyKey] != "wf-1" || lm.Tags["owner"] != "test" {
		t.Errorf("logged model %+v", lm)
	}
	if lm.Params["lr"] != "run-wins" || lm.Params["seed"] != "1" || lm.SourceRunID != env.run.ID {
		t.Errorf("params/source run: %+v", lm)
	}
	run, _ := env.st.GetRun(ctx, env.run.ID)
	if len(run.OutputModels) != 1 || run.OutputModels[0] != logged.ModelID {
		t.Errorf("run outputs %v", run.OutputModels)
	}
	// The uploaded MLmodel carries the ids as Python's log_model writes them.
	rc, err := env.st.OpenArtifact(ctx, lm.ArtifactURI, MLmodelFile)
	if err != nil {
		t.Fatal(err)
	}
	up, err := ParseMLmodel(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if up.ModelID != lm.ID || up.ModelUUID != lm.ID || up.RunID != env.run.ID || up.ArtifactPath != lm.ArtifactURI {
		t.Errorf("uploaded MLmodel ids: %+v", up)
	}
	local := readMLmodel(t, dir)
	if local.ModelID != "" || up.UTCTimeCreated != local.UTCTimeCreated || *up.ModelSizeBytes != *local.ModelSizeBytes {
		t.Error("local MLmodel changed, or the uploaded one lost fields")
	}

	// Register and load back through every URI form.
	if _, err := env.st.CreateRegisteredModel(ctx, "demo", nil); err != nil {
		t.Fatal(err)
	}
	mv, err := env.st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: "demo", Source: logged.ModelURI, ModelID: logged.ModelID})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.st.SetAlias(ctx, "demo", "champion", mv.Version); err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{logged.ModelURI, "models:/demo/1", "models:/demo@champion", "models:/demo/latest", "runs:/" + env.run.ID + "/model"} {
		t.Run(strings.ReplaceAll(uri, "/", "_"), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dl")
			l, err := LoadModel(ctx, env.st, uri, dst)
			if err != nil {
				t.Fatal(err)
			}
			if !l.Model.Equal(m) || l.ManifestSHA256 != logged.ManifestSHA256 || l.Dir != dst || l.MLmodel.ModelID != logged.ModelID {
				t.Errorf("loaded %+v", l)
			}
		})
	}
	// A single file below a model URI downloads as that file.
	p, err := Download(ctx, env.st, "models:/demo/1/"+MLmodelFile, filepath.Join(t.TempDir(), "one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readLocalMLmodel(p); err != nil {
		t.Errorf("single-file download: %v", err)
	}
	// The same key again: nothing uploaded, same model.
	again, err := LogModel(ctx, env.st, dir, env.opts("wf-1"))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Reused || again.ModelID != logged.ModelID || again.Bytes != 0 || again.ManifestSHA256 != logged.ManifestSHA256 {
		t.Errorf("second LogModel %+v", again)
	}
	// Same key, different model: refused.
	other, _ := saveT(t, fakemodel.New(4), fixedOpts)
	if _, err := LogModel(ctx, env.st, other, env.opts("wf-1")); failure.CodeOf(err) != failure.AlreadyExists {
		t.Errorf("same key, other model: %v", err)
	}
	// Load into a non-empty dst is refused.
	if _, err := LoadModel(ctx, env.st, logged.ModelURI, dir); failure.CodeOf(err) != failure.TargetNotEmpty {
		t.Errorf("non-empty dst: %v", err)
	}
}

// faultStore wraps the real store to fail or observe uploads.
type faultStore struct {
	*localstore.Store
	mu       sync.Mutex
	failPath string
	failErr  error
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	puts     []string
	list     func(root, dir string) ([]store.FileInfo, bool)
}

func (f *faultStore) PutArtifact(ctx context.Context, root, rel string, src store.Source) error {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	f.puts = append(f.puts, rel)
	fail := rel == f.failPath
	f.mu.Unlock()
	if fail {
		// Send part of the body first, as a dropped connection would.
		rc, _ := src.Open()
		io.CopyN(io.Discard, rc, 10)
		rc.Close()
		return f.failErr
	}
	return f.Store.PutArtifact(ctx, root, rel, src)
}

func (f *faultStore) ListArtifacts(ctx context.Context, root, dir string) ([]store.FileInfo, error) {
	if f.list != nil {
		if out, ok := f.list(root, dir); ok {
			return out, nil
		}
	}
	return f.Store.ListArtifacts(ctx, root, dir)
}

func TestLogModelResumesAfterFailure(t *testing.T) {
	ctx := context.Background()
	env := newLogEnv(t)
	fs := &faultStore{Store: env.st, failPath: WeightsFile, failErr: failure.New(failure.ServerUnavailable, "connection reset")}
	m := fakemodel.FakeModel{Offset: 1, WeightsSize: 200_000}
	dir, _ := saveT(t, m, fixedOpts)
	opts := env.opts("wf-resume")
	opts.Parallelism = 1
	_, err := LogModel(ctx, fs, dir, opts)
	if failure.CodeOf(err) != failure.ServerUnavailable {
		t.Fatalf("first attempt: %v", err)
	}
	found, _ := env.st.SearchLoggedModelsByTag(ctx, env.expID, vocab.TagIdempotencyKey, "wf-resume")
	if len(found) != 1 || found[0].Status != store.LoggedModelPending {
		t.Fatalf("after a retryable failure the model should stay PENDING: %+v", found)
	}
	if slices := fs.puts; len(slices) == 0 || slices[len(slices)-1] == ManifestFile {
		t.Errorf("manifest uploaded although a file failed: %v", fs.puts)
	}
	fs.failPath = ""
	fs.puts = nil
	logged, err := LogModel(ctx, fs, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !logged.Reused || logged.ModelID != found[0].ID {
		t.Errorf("resume used another model: %+v", logged)
	}
	// Only the failed file and the manifest go up again.
	if got := strings.Join(fs.puts, ","); got != WeightsFile+","+ManifestFile {
		t.Errorf("resume uploaded %s", got)
	}
	if logged.Bytes >= 200_000+10_000 || logged.Bytes < 200_000 {
		t.Errorf("resume sent %d bytes", logged.Bytes)
	}
	if _, err := LoadModel(ctx, env.st, logged.ModelURI, filepath.Join(t.TempDir(), "d")); err != nil {
		t.Fatal(err)
	}
}

func TestLogModelMarksUnresumableFailures(t *testing.T) {
	ctx := context.Background()
	env := newLogEnv(t)
	dir, _ := saveT(t, fakemodel.New(1), fixedOpts)
	for _, tc := range []struct {
		name, key string
		err       error
		want      store.LoggedModelStatus
	}{
		{"no key, retryable", "", failure.New(failure.ServerUnavailable, "reset"), store.LoggedModelUploadFailed},
		{"key, permanent", "k-perm", failure.New(failure.InvalidPath, "refused"), store.LoggedModelUploadFailed},
		{"key, retryable", "k-retry", failure.New(failure.ServerUnavailable, "reset"), store.LoggedModelPending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := &faultStore{Store: env.st, failPath: DataFile, failErr: tc.err}
			opts := env.opts(tc.key)
			opts.Name = strings.ReplaceAll(tc.name, ",", "")
			opts.Name = strings.ReplaceAll(opts.Name, " ", "_")
			_, err := LogModel(ctx, fs, dir, opts)
			if failure.CodeOf(err) != failure.CodeOf(tc.err) {
				t.Fatalf("err %v", err)
			}
			run, _ := env.st.GetRun(ctx, env.run.ID)
			lm, err := env.st.GetLoggedModel(ctx, run.OutputModels[len(run.OutputModels)-1])
			if err != nil {
				t.Fatal(err)
			}
			if lm.Name != opts.Name || lm.Status != tc.want {
				t.Errorf("model %s status %s, want %s", lm.Name, lm.Status, tc.want)
			}
		})
	}
}

func TestLogModelParallelismAndManifestLast(t *testing.T) {
	ctx := context.Background()
	env := newLogEnv(t)
	fs := &faultStore{Store: env.st}
	dir, _ := saveT(t, fakemodel.FakeModel{Offset: 1, WeightsSize: 1 << 20}, fixedOpts)
	opts := env.opts("")
	opts.Parallelism = 2
	if _, err := LogModel(ctx, fs, dir, opts); err != nil {
		t.Fatal(err)
	}
	if fs.maxSeen.Load() > 2 {
		t.Errorf("%d uploads in flight, limit 2", fs.maxSeen.Load())
	}
	if len(fs.puts) != 10 || fs.puts[len(fs.puts)-1] != ManifestFile {
		t.Errorf("uploads %v: want 10 with the manifest last", fs.puts)
	}
}

func TestLogModelRefuses(t *testing.T) {
	ctx := context.Background()
	env := newLogEnv(t)
	dir, _ := saveT(t, fakemodel.New(1), fixedOpts)
	bad := env.opts("")
	bad.Name = "a.b"
	if _, err := LogModel(ctx, env.st, dir, bad); failure.CodeOf(err) != failure.InvalidArgument || !strings.Contains(err.Error(), `"a.b"`) {
		t.Errorf("bad name: %v", err)
	}
	if _, err := LogModel(ctx, env.st, t.TempDir(), env.opts("")); failure.CodeOf(err) != failure.InvalidManifest {
		t.Errorf("unsaved dir: %v", err)
	}
	if _, err := LogModel(ctx, env.st, dir, LogOptions{}); failure.CodeOf(err) != failure.InvalidArgument {
		t.Errorf("no experiment: %v", err)
	}
}

// A saved directory whose manifest is not the one recorded at save (another
// model, or a re-save that came out different) is refused before anything is
// created in the store.
func TestLogModelChecksSavedManifest(t *testing.T) {
	ctx := context.Background()
	env := newLogEnv(t)
	dir, saved := saveT(t, fakemodel.New(1), fixedOpts)
	opts := env.opts("key-manifest")
	opts.SavedManifestSHA256 = strings.Repeat("0", 64)
	_, err := LogModel(ctx, env.st, dir, opts)
	if failure.CodeOf(err) != failure.ChecksumMismatch || !strings.Contains(err.Error(), "recorded at save") {
		t.Fatalf("wrong manifest: %v", err)
	}
	if found, _ := env.st.SearchLoggedModelsByTag(ctx, env.expID, vocab.TagIdempotencyKey, "key-manifest"); len(found) != 0 {
		t.Fatalf("a logged model was created for a directory that failed the check: %+v", found)
	}
	opts.SavedManifestSHA256 = saved.ManifestSHA256
	if _, err := LogModel(ctx, env.st, dir, opts); err != nil {
		t.Fatalf("matching manifest: %v", err)
	}
}

// TestDownloadRefusesHostileListings: a listing must never place a file
// outside dst or outside the directory listed: not in a download (of a
// model with a recorded manifest hash, or of one nobody recorded a hash
// for), not in CheckStored, the promotion's check.
func TestDownloadRefusesHostileListings(t *testing.T) {
	ctx := context.Background()
	env := newLogEnv(t)
	dir, _ := saveT(t, fakemodel.New(1), fixedOpts)
	logged, err := LogModel(ctx, env.st, dir, env.opts(""))
	if err != nil {
		t.Fatal(err)
	}
	readers := map[string]func(st store.Store) error{
		"download": func(st store.Store) error {
			_, err := LoadModel(ctx, st, logged.ModelURI, filepath.Join(t.TempDir(), "d"))
			return err
		},
		"download, no recorded hash": func(st store.Store) error {
			_, err := LoadModel(ctx, unrecordedStore{st}, logged.ModelURI, filepath.Join(t.TempDir(), "d"))
			return err
		},
		"CheckStored": func(st store.Store) error {
			_, err := CheckStored(ctx, st, logged.ModelURI)
			return err
		},
	}
	for name, entries := range map[string][]store.FileInfo{
		"dotdot":        {{Path: "../evil", Size: 1}},
		"absolute":      {{Path: "/etc/passwd", Size: 1}},
		"outside dir":   {{Path: "code", IsDir: true}},
		"backslash":     {{Path: `a\..\..\x`, Size: 1}},
		"self loop dir": {{Path: "", IsDir: true}},
	} {
		fs := &faultStore{Store: env.st, list: func(root, d string) ([]store.FileInfo, bool) {
			if name == "outside dir" && d == "code" {
				return []store.FileInfo{{Path: "other/x", Size: 1}}, true
			}
			if d == "" {
				return entries, true
			}
			return nil, false
		}}
		for reader, read := range readers {
			t.Run(name+"/"+reader, func(t *testing.T) {
				if err := read(fs); failure.CodeOf(err) != failure.InvalidPath {
					t.Fatalf("err %v, want InvalidPath", err)
				}
			})
		}
	}
	// A listing that lies about a size is caught.
	fs := &faultStore{Store: env.st, list: func(root, d string) ([]store.FileInfo, bool) {
		out, _ := env.st.ListArtifacts(ctx, root, d)
		for i := range out {
			if out[i].Path == DataFile {
				out[i].Size++
			}
		}
		return out, true
	}}
	for reader, read := range readers {
		if err := read(fs); failure.CodeOf(err) != failure.ChecksumMismatch {
			t.Errorf("size lie, %s: %v", reader, err)
		}
	}
}

// unrecordedStore hides the manifest hash recorded on logged models, as
// for a model logged by Python MLflow.
type unrecordedStore struct{ store.Store }

func (u unrecordedStore) GetLoggedModel(ctx context.Context, id string) (*store.LoggedModel, error) {
	lm, err := u.Store.GetLoggedModel(ctx, id)
	if err == nil {
		lm.Tags = maps.Clone(lm.Tags)
		delete(lm.Tags, vocab.TagManifestSHA256)
	}
	return lm, err
}
