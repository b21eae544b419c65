package flavor

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
	"github.com/flavorflow/flavorflow/internal/testrig/faultstore"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
)

// integrityModel is y = x + 3 with a weights payload.
var integrityModel = fakemodel.FakeModel{Offset: 3, WeightsSize: 256 << 10, WeightsSeed: 5}

// registered is a model logged and registered the way the pipeline does it:
// the version carries the logged manifest's hash.
type registered struct {
	st     store.Store
	name   string
	logged Logged
	// onDisk maps an artifact root and a path below it to the file on disk.
	onDisk func(root, rel string) string
}

func (r registered) uris() []string {
	return []string{"models:/" + r.name + "/1", "models:/" + r.name + "@champion", "models:/" + r.name + "/latest", r.logged.ModelURI}
}

func registerT(t *testing.T, st store.Store, name string, onDisk func(root, rel string) string) registered {
	t.Helper()
	ctx := context.Background()
	expID, run := newExperimentRun(t, st, "integrity-"+name)
	dir, _ := saveT(t, integrityModel, fixedOpts)
	logged, err := LogModel(ctx, st, dir, LogOptions{ExperimentID: expID, RunID: run.ID, Name: "model", IdempotencyKey: name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRegisteredModel(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	mv, err := st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: name, Source: logged.ModelURI, RunID: run.ID, ModelID: logged.ModelID,
		Tags: store.Tags{vocab.TagManifestSHA256: logged.ManifestSHA256}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetAlias(ctx, name, "champion", mv.Version); err != nil {
		t.Fatal(err)
	}
	return registered{st: st, name: name, logged: logged, onDisk: onDisk}
}

func localRegistered(t *testing.T, name string) (registered, *localstore.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := localstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	onDisk := func(root, rel string) string {
		return filepath.Join(dir, "artifacts", filepath.FromSlash(strings.TrimPrefix(root, "mlflow-artifacts:/")), filepath.FromSlash(rel))
	}
	return registerT(t, st, name, onDisk), st
}

// put overwrites one stored file.
func (r registered) put(t *testing.T, rel string, data []byte) {
	t.Helper()
	err := r.st.PutArtifact(context.Background(), r.logged.ArtifactURI, rel, store.Source{
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(data))), nil }, Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
}

func (r registered) get(t *testing.T, rel string) []byte {
	t.Helper()
	rc, err := r.st.OpenArtifact(context.Background(), r.logged.ArtifactURI, rel)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tamper replaces model.json and MLmodel by those of y = x + 30, as
// someone with write access to the artifact store could, and then either
// deletes the manifest or uploads one recomputed for the new files.
func (r registered) tamper(t *testing.T, recompute bool) {
	t.Helper()
	evil := integrityModel
	evil.Offset = 30
	dir, _ := saveT(t, evil, fixedOpts)
	for _, f := range []string{DataFile, MLmodelFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		r.put(t, f, b)
	}
	if !recompute {
		if err := os.Remove(r.onDisk(r.logged.ArtifactURI, ManifestFile)); err != nil {
			t.Fatal(err)
		}
		return
	}
	// The stored weights are the original's, equal to evil's (same seed).
	data, sha, err := BuildManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sha == r.logged.ManifestSHA256 {
		t.Fatal("recomputed manifest equals the original")
	}
	r.put(t, ManifestFile, data)
}

// flipWeights flips one byte of weights.bin at rest.
func (r registered) flipWeights(t *testing.T) {
	t.Helper()
	b := r.get(t, WeightsFile)
	b[len(b)/3] ^= 0x40
	r.put(t, WeightsFile, b)
}

func wantCode(t *testing.T, what string, err error, code failure.Code) {
	t.Helper()
	if failure.CodeOf(err) != code {
		t.Errorf("%s: err %v, want %s", what, err, code)
	}
}

// checkTampered: every URI naming the registered version fails with
// ChecksumMismatch, whether the manifest was removed or recomputed.
func checkTampered(t *testing.T, r registered) {
	t.Helper()
	ctx := context.Background()
	for i, uri := range r.uris() {
		l, err := LoadModel(ctx, r.st, uri, filepath.Join(t.TempDir(), "dl", string(rune('a'+i))))
		wantCode(t, "load "+uri, err, failure.ChecksumMismatch)
		if err == nil {
			t.Errorf("%s loaded as %v", uri, l.Model)
		}
	}
	_, err := CheckStored(ctx, r.st, r.uris()[0])
	wantCode(t, "CheckStored", err, failure.ChecksumMismatch)
}

// TestTamperedVersionIsRefused, on the local store: model.json and MLmodel
// edited (offset 3 -> 30) with the manifest deleted or recomputed must not
// load as y = x + 30.
func TestTamperedVersionIsRefused(t *testing.T) {
	for _, recompute := range []bool{false, true} {
		r, _ := localRegistered(t, "tampered")
		r.tamper(t, recompute)
		checkTampered(t, r)
	}
}

// TestCheckStoredFindsFlippedByte: one byte of weights.bin flipped at rest
// is found by CheckStored (what promotion runs) and by every load.
func TestCheckStoredFindsFlippedByte(t *testing.T) {
	ctx := context.Background()
	r, _ := localRegistered(t, "flipped")
	sha, err := CheckStored(ctx, r.st, r.uris()[0])
	if err != nil || sha != r.logged.ManifestSHA256 {
		t.Fatalf("intact version: %q %v, want %s", sha, err, r.logged.ManifestSHA256)
	}
	r.flipWeights(t)
	checkTampered(t, r)
}

// TestUntaggedVersionLoadsWithoutManifest: a version nobody recorded a
// hash for (registered by Python MLflow) still loads without a manifest,
// and CheckStored says it has nothing to check against.
func TestUntaggedVersionLoadsWithoutManifest(t *testing.T) {
	ctx := context.Background()
	r, st := localRegistered(t, "untagged")
	lm, err := st.CreateLoggedModel(ctx, store.CreateLoggedModelRequest{ExperimentID: "1", Name: "py"})
	if err != nil {
		t.Fatal(err)
	}
	r2 := registered{st: st, name: "untagged", logged: Logged{ArtifactURI: lm.ArtifactURI}}
	for _, f := range []string{DataFile, MLmodelFile, WeightsFile} {
		r2.put(t, f, r.get(t, f))
	}
	mv, err := st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: "untagged", Source: "models:/" + lm.ID, ModelID: lm.ID})
	if err != nil {
		t.Fatal(err)
	}
	uri := "models:/untagged/" + strconv.Itoa(mv.Version)
	l, err := LoadModel(ctx, st, uri, filepath.Join(t.TempDir(), "dl"))
	if err != nil || !l.Model.Equal(integrityModel) || l.ManifestSHA256 != "" {
		t.Fatalf("untagged version: %+v %v", l, err)
	}
	_, err = CheckStored(ctx, st, uri)
	wantCode(t, "CheckStored untagged", err, failure.InvalidManifest)
}

// TestTransitDamageIsRefetched, on the local store: a read cut short once
// (cleanly, no error) must not be a non-retryable ChecksumMismatch. Damage on the way is fetched again; bytes that keep
// arriving different are ServerUnavailable (retryable); bytes damaged at
// rest stay ChecksumMismatch once two reads agree.
func TestTransitDamageIsRefetched(t *testing.T) {
	ctx := context.Background()
	r, local := localRegistered(t, "transit")
	fs := faultstore.New(local)
	r.st = fs
	for _, file := range []string{WeightsFile, DataFile, ManifestFile} {
		fs.ShortRead(file, 1)
		l, err := LoadModel(ctx, fs, r.uris()[0], filepath.Join(t.TempDir(), "dl"))
		if err != nil || !l.Model.Equal(integrityModel) {
			t.Errorf("%s cut once: load %v", file, err)
		}
		fs.ShortRead(file, 1)
		if _, err := CheckStored(ctx, fs, r.uris()[0]); err != nil {
			t.Errorf("%s cut once: CheckStored %v", file, err)
		}
	}
	fs.ShortRead(WeightsFile, maxTransitTries)
	_, err := LoadModel(ctx, fs, r.uris()[0], filepath.Join(t.TempDir(), "dl"))
	wantCode(t, "cut every time", err, failure.ServerUnavailable)
	if err != nil && !strings.Contains(err.Error(), "damaged in transit") {
		t.Errorf("cut every time: %v", err)
	}
	r.flipWeights(t)
	fs.ShortRead(WeightsFile, 1)
	_, err = LoadModel(ctx, fs, r.uris()[0], filepath.Join(t.TempDir(), "dl"))
	wantCode(t, "flipped at rest, cut once", err, failure.ChecksumMismatch)
}

// TestIntegrityOnMLflowServer runs the tamper and transit cases against a
// real `mlflow server`, the transit one through the fault proxy truncating
// one download (consistent Content-Length, short body).
func TestIntegrityOnMLflowServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an MLflow server")
	}
	srv := testenv.StartMLflow(t, testenv.MLflowOptions{})
	px, err := faultproxy.Start(srv.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	st, err := mlflow.New(mlflow.Config{TrackingURI: px.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	onDisk := func(root, rel string) string {
		return filepath.Join(srv.ArtifactsDir, filepath.FromSlash(strings.TrimPrefix(root, "mlflow-artifacts:/")), filepath.FromSlash(rel))
	}
	ctx := context.Background()

	t.Run("transit", func(t *testing.T) {
		r := registerT(t, st, "srv-transit", onDisk)
		for _, file := range []string{WeightsFile, ManifestFile} {
			px.SetRules(faultproxy.Rule{Method: http.MethodGet, Path: regexp.MustCompile(regexp.QuoteMeta(file) + `$`), Action: faultproxy.Truncate, Count: 1})
			l, err := LoadModel(ctx, st, r.uris()[0], filepath.Join(t.TempDir(), "dl"))
			if err != nil || !l.Model.Equal(integrityModel) {
				t.Errorf("%s truncated once: %v", file, err)
			}
			if n := px.Stats().Total(); n == 0 {
				t.Errorf("%s: the proxy truncated nothing", file)
			}
		}
		px.SetRules()
	})
	t.Run("tamper", func(t *testing.T) {
		for i, recompute := range []bool{false, true} {
			r := registerT(t, st, "srv-tamper-"+strconv.Itoa(i), onDisk)
			r.tamper(t, recompute)
			checkTampered(t, r)
		}
	})
	t.Run("flip", func(t *testing.T) {
		r := registerT(t, st, "srv-flip", onDisk)
		if _, err := CheckStored(ctx, st, r.uris()[0]); err != nil {
			t.Fatal(err)
		}
		r.flipWeights(t)
		checkTampered(t, r)
	})
}

// TestVersionWithoutTagUsesLoggedModelHash: a version registered without
// flavorflow's tag from a model flavorflow logged (Python's register_model
// of models:/m-<id>) is checked against the logged model's recorded hash.
func TestVersionWithoutTagUsesLoggedModelHash(t *testing.T) {
	ctx := context.Background()
	r, st := localRegistered(t, "via-logged")
	mv, err := st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: "via-logged", Source: r.logged.ModelURI, ModelID: r.logged.ModelID})
	if err != nil {
		t.Fatal(err)
	}
	uri := "models:/via-logged/" + strconv.Itoa(mv.Version)
	l, err := LoadModel(ctx, st, uri, filepath.Join(t.TempDir(), "ok"))
	if err != nil || l.ManifestSHA256 != r.logged.ManifestSHA256 {
		t.Fatalf("intact: %+v %v", l, err)
	}
	r.tamper(t, true)
	_, err = LoadModel(ctx, st, uri, filepath.Join(t.TempDir(), "bad"))
	wantCode(t, "tampered, version without tag", err, failure.ChecksumMismatch)
}

// listCounter counts directory listings.
type listCounter struct {
	store.Store
	lists atomic.Int32
}

func (l *listCounter) ListArtifacts(ctx context.Context, root, dir string) ([]store.FileInfo, error) {
	l.lists.Add(1)
	return l.Store.ListArtifacts(ctx, root, dir)
}

// TestDownloadFollowsRecordedManifest: with LoadOptions.ManifestFiles a
// model whose manifest hash is recorded downloads the files its manifest
// names without listing a directory (a round trip per directory on
// MLflow). A file in the tree that the manifest does not name is then left
// behind, while a plain load and CheckStored (the promotion's check), which
// list, refuse it. A named file gone from the store is ChecksumMismatch
// naming it, not NotFound (the version is there).
func TestDownloadFollowsRecordedManifest(t *testing.T) {
	ctx := context.Background()
	r, st := localRegistered(t, "follows-manifest")
	counted := &listCounter{Store: st}
	byManifest := LoadOptions{ManifestFiles: true}
	for _, uri := range r.uris() {
		dst := filepath.Join(t.TempDir(), "dl")
		l, err := LoadModelWith(ctx, counted, uri, dst, byManifest)
		if err != nil {
			t.Fatalf("load %s: %v", uri, err)
		}
		if got := l.Model.Predict(4); got != 7 {
			t.Fatalf("load %s: predict(4) = %v", uri, got)
		}
	}
	if n := counted.lists.Load(); n != 0 {
		t.Fatalf("downloads with a recorded manifest listed %d directories, want 0", n)
	}

	r.put(t, "code/extra.py", []byte("import os\n"))
	dst := filepath.Join(t.TempDir(), "dl")
	if _, err := LoadModelWith(ctx, st, r.uris()[0], dst, byManifest); err != nil {
		t.Fatalf("load by the manifest with an unnamed file in the store: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dst, "code", "extra.py")); !os.IsNotExist(err) {
		t.Fatalf("the unnamed file was downloaded: %v", err)
	}
	for what, check := range map[string]func() error{
		"a plain load": func() error {
			_, err := LoadModel(ctx, st, r.uris()[0], filepath.Join(t.TempDir(), "dl"))
			return err
		},
		"CheckStored": func() error { _, err := CheckStored(ctx, st, r.uris()[0]); return err },
	} {
		if err := check(); failure.CodeOf(err) != failure.ChecksumMismatch || !strings.Contains(err.Error(), `"code/extra.py" is not in the manifest`) {
			t.Fatalf("%s with an unnamed file: %v, want ChecksumMismatch naming it", what, err)
		}
	}

	if err := os.Remove(r.onDisk(r.logged.ArtifactURI, DataFile)); err != nil {
		t.Fatal(err)
	}
	_, err := LoadModelWith(ctx, st, r.uris()[0], filepath.Join(t.TempDir(), "dl"), byManifest)
	if failure.CodeOf(err) != failure.ChecksumMismatch || !strings.Contains(err.Error(), `"model.json" listed in the manifest is missing`) {
		t.Fatalf("load with a listed file gone: %v, want ChecksumMismatch naming it", err)
	}
}
