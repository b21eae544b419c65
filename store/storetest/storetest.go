package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

// RunConformanceTests runs the suite. newStore is called once per subtest;
// it should register any cleanup (including Close) with t.Cleanup.
func RunConformanceTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Experiments", testExperiments},
		{"Runs", testRuns},
		{"LogBatch", testLogBatch},
		{"ModelMetrics", testModelMetrics},
		{"UpdateRun", testUpdateRun},
		{"LogOutputs", testLogOutputs},
		{"LogInputs", testLogInputs},
		{"LoggedModels", testLoggedModels},
		{"ArtifactsRoundTrip", testArtifactsRoundTrip},
		{"ArtifactsListing", testArtifactsListing},
		{"ArtifactsChecksum", testArtifactsChecksum},
		{"ArtifactsInvalidPaths", testArtifactsInvalidPaths},
		{"RegisteredModels", testRegisteredModels},
		{"DeleteRegisteredModel", testDeleteRegisteredModel},
		{"InvalidModelNames", testInvalidModelNames},
		{"ModelVersions", testModelVersions},
		{"Aliases", testAliases},
		{"ConcurrentVersions", testConcurrentVersions},
		{"Describe", testDescribe},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// uniq returns prefix plus random hex, so subtests sharing a server never
// collide, also across runs.
func uniq(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// must(f())(t) returns f's value or fails t with f's error.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, err error, code failure.Code, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want %s", what, code)
		return
	}
	if !failure.Has(err, code) {
		t.Errorf("%s: got %v (code %s), want %s", what, err, failure.CodeOf(err), code)
	}
}

// fixture is an experiment with a run and a READY logged model from it.
type fixture struct {
	expID string
	run   *store.Run
	model *store.LoggedModel
}

func newExperiment(t *testing.T, s store.Store) string {
	t.Helper()
	return must(s.CreateExperiment(ctx(t), uniq("exp"), nil))(t)
}

func newFixture(t *testing.T, s store.Store) fixture {
	t.Helper()
	c := ctx(t)
	f := fixture{expID: newExperiment(t, s)}
	f.run = must(s.CreateRun(c, store.CreateRunRequest{ExperimentID: f.expID, Name: "train", StartTimeMs: time.Now().UnixMilli()}))(t)
	f.model = must(s.CreateLoggedModel(c, store.CreateLoggedModelRequest{ExperimentID: f.expID, Name: "model", SourceRunID: f.run.ID}))(t)
	f.model = must(s.FinalizeLoggedModel(c, f.model.ID, store.LoggedModelReady))(t)
	return f
}

func testExperiments(t *testing.T, s store.Store) {
	c := ctx(t)
	name := uniq("exp")
	id := must(s.CreateExperiment(c, name, store.Tags{"team": "ml"}))(t)
	if id == "" {
		t.Fatal("CreateExperiment returned an empty id")
	}
	e := must(s.GetExperimentByName(c, name))(t)
	if e.ID != id || e.Name != name {
		t.Errorf("GetExperimentByName = {ID:%q Name:%q}, want {%q %q}", e.ID, e.Name, id, name)
	}
	if e.ArtifactLocation == "" {
		t.Error("experiment has no artifact location")
	}
	if e.Tags["team"] != "ml" {
		t.Errorf("experiment tags = %v, want team=ml", e.Tags)
	}
	_, err := s.CreateExperiment(c, name, nil)
	wantCode(t, err, failure.AlreadyExists, "duplicate experiment")
	_, err = s.GetExperimentByName(c, uniq("missing"))
	wantCode(t, err, failure.NotFound, "missing experiment")
}

func testRuns(t *testing.T, s store.Store) {
	c := ctx(t)
	expID := newExperiment(t, s)
	key, v1, v2 := uniq("k"), "one", "two"
	start := time.Now().UnixMilli()
	var want []string
	for i, v := range []string{v1, v2, v1} {
		// Distinct start times: MLflow orders runs by start time, and runs
		// have no other creation timestamp.
		startI := start + int64(i)
		r := must(s.CreateRun(c, store.CreateRunRequest{ExperimentID: expID, Name: fmt.Sprintf("run%d", i), StartTimeMs: startI, Tags: store.Tags{key: v}}))(t)
		if r.ID == "" || r.ExperimentID != expID || r.Status != store.RunRunning {
			t.Errorf("CreateRun = {ID:%q ExperimentID:%q Status:%q}, want a RUNNING run in %q", r.ID, r.ExperimentID, r.Status, expID)
		}
		if !strings.HasSuffix(r.ArtifactURI, "/"+r.ID+"/artifacts") {
			t.Errorf("run artifact URI %q does not end with /<run id>/artifacts", r.ArtifactURI)
		}
		got := must(s.GetRun(c, r.ID))(t)
		if got.ID != r.ID || got.Name != fmt.Sprintf("run%d", i) || got.StartTimeMs != startI || got.Tags[key] != v {
			t.Errorf("GetRun = {ID:%q Name:%q Start:%d Tags:%v}, want %q run%d %d %s=%s", got.ID, got.Name, got.StartTimeMs, got.Tags, r.ID, i, startI, key, v)
		}
		if v == v1 {
			want = append(want, r.ID)
		}
	}
	found := must(s.SearchRunsByTag(c, expID, key, v1))(t)
	if ids := pluck(found, func(r store.Run) string { return r.ID }); !slices.Equal(ids, want) {
		t.Errorf("SearchRunsByTag(%s=%s) = %v, want %v in creation order", key, v1, ids, want)
	}
	if n := len(must(s.SearchRunsByTag(c, expID, key, "none"))(t)); n != 0 {
		t.Errorf("SearchRunsByTag with an unused value found %d runs", n)
	}
	_, err := s.GetRun(c, strings.Repeat("0", 32))
	wantCode(t, err, failure.NotFound, "missing run")
}

// pluck maps xs through f, to compare search results by a key.
func pluck[T, K any](xs []T, f func(T) K) []K {
	var out []K
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

func testLogBatch(t *testing.T, s store.Store) {
	c := ctx(t)
	f := newFixture(t, s)
	id := f.run.ID
	now := time.Now().UnixMilli()
	noErr(t, s.LogBatch(c, id, store.Batch{
		Params:  store.Tags{"lr": "0.1", "epochs": "3"},
		Tags:    store.Tags{"stage": "train"},
		Metrics: []store.Metric{{Key: "loss", Value: 0.9, TimestampMs: now, Step: 0}, {Key: "loss", Value: 0.5, TimestampMs: now + 1, Step: 1}},
	}))
	noErr(t, s.LogBatch(c, id, store.Batch{
		Params:  store.Tags{"lr": "0.1"}, // same value again: a no-op
		Tags:    store.Tags{"stage": "eval"},
		Metrics: []store.Metric{{Key: "acc", Value: 0.75, TimestampMs: now, Step: 1}},
	}))
	r := must(s.GetRun(c, id))(t)
	if r.Params["lr"] != "0.1" || r.Params["epochs"] != "3" {
		t.Errorf("params = %v", r.Params)
	}
	if r.Tags["stage"] != "eval" {
		t.Errorf("tag stage = %q, want the re-set value eval", r.Tags["stage"])
	}
	latest := map[string]float64{}
	for _, m := range r.Metrics {
		if _, dup := latest[m.Key]; dup {
			t.Errorf("metric %s listed twice; want the latest value only", m.Key)
		}
		latest[m.Key] = m.Value
	}
	if latest["loss"] != 0.5 || latest["acc"] != 0.75 || len(latest) != 2 {
		t.Errorf("latest metrics = %v, want loss=0.5 acc=0.75", latest)
	}
	err := s.LogBatch(c, id, store.Batch{Params: store.Tags{"lr": "0.2"}})
	wantCode(t, err, failure.InvalidArgument, "changing a param value")
	if got := must(s.GetRun(c, id))(t).Params["lr"]; got != "0.1" {
		t.Errorf("after refused change, lr = %q, want 0.1", got)
	}
	err = s.LogBatch(c, strings.Repeat("0", 32), store.Batch{Tags: store.Tags{"a": "b"}})
	wantCode(t, err, failure.NotFound, "log batch to a missing run")
}

// testModelMetrics: a point logged with a model ID (MLflow 3) is on the run
// without it and on the logged model with it, its dataset and the run; a
// retried batch adds nothing; an unknown model is NotFound; dataset fields
// over MLflow's columns, or without a model, are refused.
func testModelMetrics(t *testing.T, s store.Store) {
	c := ctx(t)
	f := newFixture(t, s)
	// Points go to a finished run too: Evaluate logs after LogModel ended it.
	noErr(t, s.UpdateRun(c, f.run.ID, store.RunFinished, time.Now().UnixMilli()))
	ts := time.Now().UnixMilli()
	b := store.Batch{Metrics: []store.Metric{
		{Key: "eval_mse", Value: 0.25, TimestampMs: ts, ModelID: f.model.ID, DatasetName: "held-out", DatasetDigest: "0123456789abcdef"},
		{Key: "champion_eval_mse", Value: 1.5, TimestampMs: ts},
	}}
	for range 2 {
		noErr(t, s.LogBatch(c, f.run.ID, b))
	}
	r := must(s.GetRun(c, f.run.ID))(t)
	got := map[string]store.Metric{}
	for _, m := range r.Metrics {
		got[m.Key] = m
	}
	if got["eval_mse"] != (store.Metric{Key: "eval_mse", Value: 0.25, TimestampMs: ts}) || got["champion_eval_mse"].Value != 1.5 || len(got) != 2 {
		t.Errorf("run metrics = %+v", r.Metrics)
	}
	m := must(s.GetLoggedModel(c, f.model.ID))(t)
	want := store.Metric{Key: "eval_mse", Value: 0.25, TimestampMs: ts, ModelID: f.model.ID, DatasetName: "held-out", DatasetDigest: "0123456789abcdef", RunID: f.run.ID}
	if len(m.Metrics) != 1 || m.Metrics[0] != want {
		t.Errorf("logged model metrics = %+v, want [%+v] (once, though logged twice)", m.Metrics, want)
	}
	err := s.LogBatch(c, f.run.ID, store.Batch{Metrics: []store.Metric{{Key: "x", Value: 1, TimestampMs: ts, ModelID: "m-" + strings.Repeat("0", 32)}}})
	wantCode(t, err, failure.NotFound, "a metric of an unknown logged model")
	for name, bad := range map[string]store.Metric{
		"digest over 36":     {Key: "y", TimestampMs: ts, ModelID: f.model.ID, DatasetName: "d", DatasetDigest: strings.Repeat("a", 37)},
		"name over 500":      {Key: "y", TimestampMs: ts, ModelID: f.model.ID, DatasetName: strings.Repeat("a", 501)},
		"dataset, no model":  {Key: "y", TimestampMs: ts, DatasetName: "d"},
		"digest, no dataset": {Key: "y", TimestampMs: ts, ModelID: f.model.ID, DatasetDigest: "ab"},
	} {
		wantCode(t, s.LogBatch(c, f.run.ID, store.Batch{Metrics: []store.Metric{bad}}), failure.InvalidArgument, name)
	}
	if n := len(must(s.GetLoggedModel(c, f.model.ID))(t).Metrics); n != 1 {
		t.Errorf("after refused batches the model has %d metrics, want 1", n)
	}
}

func testUpdateRun(t *testing.T, s store.Store) {
	c := ctx(t)
	f := newFixture(t, s)
	end := time.Now().UnixMilli()
	noErr(t, s.UpdateRun(c, f.run.ID, store.RunFinished, end))
	r := must(s.GetRun(c, f.run.ID))(t)
	if r.Status != store.RunFinished || r.EndTimeMs != end {
		t.Errorf("after UpdateRun: status %q end %d, want FINISHED %d", r.Status, r.EndTimeMs, end)
	}
}

func testLogOutputs(t *testing.T, s store.Store) {
	c := ctx(t)
	f := newFixture(t, s)
	noErr(t, s.LogOutputs(c, f.run.ID, []string{f.model.ID}))
	r := must(s.GetRun(c, f.run.ID))(t)
	if !slices.Contains(r.OutputModels, f.model.ID) {
		t.Errorf("run outputs = %v, want %s", r.OutputModels, f.model.ID)
	}
}

// testLogInputs: MLflow's runs/log-inputs dedupe, which LogModel relies on
// to log the training data once across retries (issue 11, part 3).
func testLogInputs(t *testing.T, s store.Store) {
	c := ctx(t)
	f := newFixture(t, s)
	if r := must(s.GetRun(c, f.run.ID))(t); len(r.Inputs) != 0 {
		t.Fatalf("a new run has inputs %+v", r.Inputs)
	}
	train := store.DatasetInput{
		Dataset: store.Dataset{
			Name: "training", Digest: "0123456789abcdef", SourceType: "local",
			Source:  `{"uri": "file:///data/train.csv"}`,
			Schema:  `{"mlflow_colspec": [{"type": "double", "name": "x", "required": true}]}`,
			Profile: `{"num_rows": 3}`,
		},
		Tags: store.Tags{store.DatasetContextTag: "training"},
	}
	eval := store.DatasetInput{
		Dataset: store.Dataset{Name: "held-out", Digest: "fedcba9876543210", SourceType: "code", Source: `{"tags": {}}`},
		Tags:    store.Tags{store.DatasetContextTag: "evaluation"},
	}
	noErr(t, s.LogInputs(c, f.run.ID, []store.DatasetInput{train}))
	// A repeat (a retry after a lost answer) logs nothing twice, and the
	// same dataset with other tags or another source keeps the first.
	noErr(t, s.LogInputs(c, f.run.ID, []store.DatasetInput{train}))
	again := train
	again.Tags = store.Tags{store.DatasetContextTag: "evaluation"}
	again.Dataset.Source = `{"uri": "file:///elsewhere.csv"}`
	noErr(t, s.LogInputs(c, f.run.ID, []store.DatasetInput{again, eval}))
	r := must(s.GetRun(c, f.run.ID))(t)
	got := slices.Clone(r.Inputs)
	slices.SortFunc(got, func(a, b store.DatasetInput) int { return strings.Compare(b.Dataset.Name, a.Dataset.Name) })
	want := []store.DatasetInput{train, eval}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("run inputs = %+v, want %+v", got, want)
	}
	// Another run of the experiment logging the same (name, digest) gets
	// the experiment's dataset as first logged.
	run2 := must(s.CreateRun(c, store.CreateRunRequest{ExperimentID: f.expID, StartTimeMs: time.Now().UnixMilli()}))(t)
	noErr(t, s.LogInputs(c, run2.ID, []store.DatasetInput{again}))
	r2 := must(s.GetRun(c, run2.ID))(t)
	if len(r2.Inputs) != 1 || r2.Inputs[0].Dataset != train.Dataset || r2.Inputs[0].Tags[store.DatasetContextTag] != "evaluation" {
		t.Errorf("second run's inputs = %+v, want the experiment's dataset %+v with its own tags", r2.Inputs, train.Dataset)
	}
	wantCode(t, s.LogInputs(c, "0123456789abcdef0123456789abcdef", []store.DatasetInput{train}), failure.NotFound, "log inputs to a missing run")
	long := train
	long.Dataset.Digest = strings.Repeat("a", 37)
	wantCode(t, s.LogInputs(c, f.run.ID, []store.DatasetInput{long}), failure.InvalidArgument, "a digest over 36 characters")
	noName := train
	noName.Dataset.Name = ""
	wantCode(t, s.LogInputs(c, f.run.ID, []store.DatasetInput{noName}), failure.InvalidArgument, "a dataset without a name")
}

func testLoggedModels(t *testing.T, s store.Store) {
	c := ctx(t)
	expID := newExperiment(t, s)
	run := must(s.CreateRun(c, store.CreateRunRequest{ExperimentID: expID, StartTimeMs: time.Now().UnixMilli()}))(t)
	key := uniq("k")
	m := must(s.CreateLoggedModel(c, store.CreateLoggedModelRequest{
		ExperimentID: expID, Name: "model", SourceRunID: run.ID, ModelType: "fake",
		Params: store.Tags{"alpha": "1"}, Tags: store.Tags{key: "yes"},
	}))(t)
	if !strings.HasPrefix(m.ID, "m-") || m.Status != store.LoggedModelPending || m.ExperimentID != expID || m.SourceRunID != run.ID {
		t.Errorf("CreateLoggedModel = {ID:%q Status:%q Exp:%q Run:%q}, want m-..., PENDING, %q, %q", m.ID, m.Status, m.ExperimentID, m.SourceRunID, expID, run.ID)
	}
	if !strings.HasSuffix(m.ArtifactURI, "/models/"+m.ID+"/artifacts") {
		t.Errorf("logged model artifact URI %q does not end with /models/<id>/artifacts", m.ArtifactURI)
	}
	got := must(s.GetLoggedModel(c, m.ID))(t)
	if got.Name != "model" || got.ModelType != "fake" || got.Params["alpha"] != "1" || got.Tags[key] != "yes" || got.ArtifactURI != m.ArtifactURI {
		t.Errorf("GetLoggedModel = %+v, want what was created", got)
	}
	other := must(s.CreateLoggedModel(c, store.CreateLoggedModelRequest{ExperimentID: expID, Name: "other", Tags: store.Tags{key: "no"}}))(t)
	found := must(s.SearchLoggedModelsByTag(c, expID, key, "yes"))(t)
	if len(found) != 1 || found[0].ID != m.ID {
		t.Errorf("SearchLoggedModelsByTag found %d models, want only %s", len(found), m.ID)
	}
	noErr(t, s.SetLoggedModelTags(c, other.ID, store.Tags{key: "yes"}))
	found = must(s.SearchLoggedModelsByTag(c, expID, key, "yes"))(t)
	if ids := pluck(found, func(m store.LoggedModel) string { return m.ID }); !slices.Equal(ids, []string{m.ID, other.ID}) {
		t.Errorf("after SetLoggedModelTags, search = %v, want [%s %s] in creation order", ids, m.ID, other.ID)
	}
	ready := must(s.FinalizeLoggedModel(c, m.ID, store.LoggedModelReady))(t)
	if ready.Status != store.LoggedModelReady {
		t.Errorf("FinalizeLoggedModel returned status %q", ready.Status)
	}
	if st := must(s.GetLoggedModel(c, m.ID))(t).Status; st != store.LoggedModelReady {
		t.Errorf("after finalize, status = %q", st)
	}
	_, err := s.GetLoggedModel(c, "m-"+strings.Repeat("0", 32))
	wantCode(t, err, failure.NotFound, "missing logged model")
	_, err = s.CreateLoggedModel(c, store.CreateLoggedModelRequest{ExperimentID: expID, Name: "model.v1"})
	wantCode(t, err, failure.InvalidArgument, "logged model name with '.'")
}

// genReader yields n deterministic pseudo-random bytes without holding them.
type genReader struct {
	n, state uint64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n == 0 {
		return 0, io.EOF
	}
	if uint64(len(p)) > g.n {
		p = p[:g.n]
	}
	for i := range p {
		g.state = g.state*6364136223846793005 + 1442695040888963407
		p[i] = byte(g.state >> 56)
	}
	g.n -= uint64(len(p))
	return len(p), nil
}

// genSource is a Source streaming n generated bytes from seed; it also
// returns their sha256.
func genSource(n int64, seed uint64) (store.Source, string) {
	h := sha256.New()
	io.Copy(h, &genReader{uint64(n), seed})
	sum := hex.EncodeToString(h.Sum(nil))
	return store.Source{
		Open:   func() (io.ReadCloser, error) { return io.NopCloser(&genReader{uint64(n), seed}), nil },
		Size:   n,
		SHA256: sum,
	}, sum
}

// BytesSource is a Source over b with its size and sha256 set, for tests.
func BytesSource(b []byte) store.Source {
	sum := sha256.Sum256(b)
	return store.Source{
		Open:   func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		Size:   int64(len(b)),
		SHA256: hex.EncodeToString(sum[:]),
	}
}

func readAll(t *testing.T, s store.Store, root, p string) []byte {
	t.Helper()
	rc := must(s.OpenArtifact(ctx(t), root, p))(t)
	defer rc.Close()
	return must(io.ReadAll(rc))(t)
}

func testArtifactsRoundTrip(t *testing.T, s store.Store) {
	c := ctx(t)
	root := newFixture(t, s).model.ArtifactURI
	const size = 3<<20 + 12345
	src, sum := genSource(size, 42)
	noErr(t, s.PutArtifact(c, root, "weights/model.bin", src))
	rc := must(s.OpenArtifact(c, root, "weights/model.bin"))(t)
	h := sha256.New()
	n, err := io.Copy(h, rc)
	rc.Close()
	noErr(t, err)
	if n != size || hex.EncodeToString(h.Sum(nil)) != sum {
		t.Errorf("round trip: read %d bytes with sha256 %x, want %d bytes %s", n, h.Sum(nil), size, sum)
	}
	noErr(t, s.PutArtifact(c, root, "MLmodel", BytesSource([]byte("first"))))
	noErr(t, s.PutArtifact(c, root, "MLmodel", BytesSource([]byte("second, longer"))))
	if got := readAll(t, s, root, "MLmodel"); string(got) != "second, longer" {
		t.Errorf("after overwrite, MLmodel = %q", got)
	}
	_, err = s.OpenArtifact(c, root, "no/such/file")
	wantCode(t, err, failure.NotFound, "open a missing artifact")
}

func testArtifactsListing(t *testing.T, s store.Store) {
	c := ctx(t)
	root := newFixture(t, s).model.ArtifactURI
	if got := must(s.ListArtifacts(c, root, ""))(t); len(got) != 0 {
		t.Errorf("listing an empty root = %v, want empty", got)
	}
	for _, p := range []string{"MLmodel", "data/a.json", "data/deep/b.json", "data/deep/c.json"} {
		noErr(t, s.PutArtifact(c, root, p, BytesSource([]byte(p))))
	}
	checkListing(t, s, root, "", []store.FileInfo{{Path: "MLmodel", Size: 7}, {Path: "data", IsDir: true}})
	checkListing(t, s, root, "data", []store.FileInfo{{Path: "data/a.json", Size: 11}, {Path: "data/deep", IsDir: true}})
	checkListing(t, s, root, "data/deep", []store.FileInfo{{Path: "data/deep/b.json", Size: 16}, {Path: "data/deep/c.json", Size: 16}})
	if got := must(s.ListArtifacts(c, root, "nothing/here"))(t); len(got) != 0 {
		t.Errorf("listing a missing directory = %v, want empty", got)
	}
	if got := readAll(t, s, root, "data/deep/c.json"); string(got) != "data/deep/c.json" {
		t.Errorf("nested file = %q", got)
	}
}

// checkListing compares a listing ignoring order; directory sizes are not
// compared (servers report none).
func checkListing(t *testing.T, s store.Store, root, dir string, want []store.FileInfo) {
	t.Helper()
	got := must(s.ListArtifacts(ctx(t), root, dir))(t)
	for i := range got {
		if got[i].IsDir {
			got[i].Size = 0
		}
	}
	cmp := func(a, b store.FileInfo) int { return strings.Compare(a.Path, b.Path) }
	slices.SortFunc(got, cmp)
	slices.SortFunc(want, cmp)
	if !slices.Equal(got, want) {
		t.Errorf("ListArtifacts(%q) = %+v, want %+v", dir, got, want)
	}
}

func testArtifactsChecksum(t *testing.T, s store.Store) {
	c := ctx(t)
	root := newFixture(t, s).model.ArtifactURI
	src := BytesSource([]byte("payload"))
	src.SHA256 = strings.Repeat("ab", 32)
	wantCode(t, s.PutArtifact(c, root, "bad.bin", src), failure.ChecksumMismatch, "put with a wrong sha256")
}

func testArtifactsInvalidPaths(t *testing.T, s store.Store) {
	c := ctx(t)
	root := newFixture(t, s).model.ArtifactURI
	for _, p := range []string{"../escape", "a/../../escape", "/etc/passwd", "a/./b", `a\b`} {
		wantCode(t, s.PutArtifact(c, root, p, BytesSource([]byte("x"))), failure.InvalidPath, "put "+p)
		_, err := s.OpenArtifact(c, root, p)
		wantCode(t, err, failure.InvalidPath, "open "+p)
		_, err = s.ListArtifacts(c, root, p)
		wantCode(t, err, failure.InvalidPath, "list "+p)
	}
}

func testRegisteredModels(t *testing.T, s store.Store) {
	c := ctx(t)
	name := uniq("rm")
	rm := must(s.CreateRegisteredModel(c, name, store.Tags{"owner": "ml"}))(t)
	if rm.Name != name {
		t.Errorf("CreateRegisteredModel name = %q", rm.Name)
	}
	got := must(s.GetRegisteredModel(c, name))(t)
	if got.Name != name || got.Tags["owner"] != "ml" || len(got.Aliases) != 0 {
		t.Errorf("GetRegisteredModel = %+v", got)
	}
	_, err := s.CreateRegisteredModel(c, name, nil)
	wantCode(t, err, failure.AlreadyExists, "duplicate registered model")
	_, err = s.GetRegisteredModel(c, uniq("missing"))
	wantCode(t, err, failure.NotFound, "missing registered model")
	_, err = s.GetModelVersion(c, name, 1)
	wantCode(t, err, failure.NotFound, "missing model version")
	_, err = s.CreateModelVersion(c, store.CreateModelVersionRequest{Name: uniq("missing"), Source: "mlflow-artifacts:/0/x/artifacts/model"})
	wantCode(t, err, failure.NotFound, "version of a missing registered model")
}

// testDeleteRegisteredModel: compensation deletes an empty registered model
// a failed pipeline created; a re-run creates it again from version 1.
func testDeleteRegisteredModel(t *testing.T, s store.Store) {
	c := ctx(t)
	name := uniq("delete-me")
	must(s.CreateRegisteredModel(c, name, store.Tags{"flavorflow.created_by": "wf-1"}))(t)
	noErr(t, s.DeleteRegisteredModel(c, name))
	_, err := s.GetRegisteredModel(c, name)
	wantCode(t, err, failure.NotFound, "deleted registered model")
	wantCode(t, s.DeleteRegisteredModel(c, name), failure.NotFound, "deleting it again")
	wantCode(t, s.DeleteRegisteredModel(c, uniq("missing")), failure.NotFound, "deleting a missing registered model")
	rm := must(s.CreateRegisteredModel(c, name, nil))(t)
	if len(rm.Tags) != 0 {
		t.Errorf("re-created registered model kept the old tags: %v", rm.Tags)
	}
	f := newFixture(t, s)
	mv := must(s.CreateModelVersion(c, store.CreateModelVersionRequest{Name: name, Source: "models:/" + f.model.ID, ModelID: f.model.ID}))(t)
	if mv.Version != 1 {
		t.Errorf("first version of a re-created model = %d, want 1", mv.Version)
	}
	noErr(t, s.SetAlias(c, name, "champion", 1))
	noErr(t, s.DeleteRegisteredModel(c, name))
	_, err = s.GetModelVersion(c, name, 1)
	wantCode(t, err, failure.NotFound, "version of a deleted registered model")
}

func testInvalidModelNames(t *testing.T, s store.Store) {
	c := ctx(t)
	for _, name := range []string{"", "   ", "a/b", strings.Repeat("x", 300), "a\x01b", "a:b"} {
		_, err := s.CreateRegisteredModel(c, name, nil)
		wantCode(t, err, failure.InvalidModelName, fmt.Sprintf("CreateRegisteredModel(%.20q)", name))
	}
}

func testModelVersions(t *testing.T, s store.Store) {
	c := ctx(t)
	f := newFixture(t, s)
	name := uniq("rm")
	must(s.CreateRegisteredModel(c, name, nil))(t)
	key := uniq("k")
	for want := 1; want <= 3; want++ {
		var tags store.Tags
		if want == 3 {
			tags = store.Tags{key: "v"}
		}
		v := must(s.CreateModelVersion(c, store.CreateModelVersionRequest{Name: name, Source: "models:/" + f.model.ID, ModelID: f.model.ID, Tags: tags}))(t)
		if v.Version != want || v.Name != name || v.Status != store.VersionReady || v.ModelID != f.model.ID {
			t.Errorf("version %d = {Version:%d Name:%q Status:%q ModelID:%q}", want, v.Version, v.Name, v.Status, v.ModelID)
		}
		if v.RunID != f.run.ID {
			t.Errorf("version %d run id = %q, want the logged model's source run %q", want, v.RunID, f.run.ID)
		}
		if v.StorageLocation != f.model.ArtifactURI {
			t.Errorf("version %d storage location = %q, want %q", want, v.StorageLocation, f.model.ArtifactURI)
		}
	}
	v2 := must(s.GetModelVersion(c, name, 2))(t)
	if v2.Version != 2 || v2.Source != "models:/"+f.model.ID {
		t.Errorf("GetModelVersion(2) = {Version:%d Source:%q}", v2.Version, v2.Source)
	}
	uri := must(s.GetModelVersionDownloadURI(c, name, 2))(t)
	if uri != f.model.ArtifactURI {
		t.Errorf("download URI = %q, want %q", uri, f.model.ArtifactURI)
	}
	noErr(t, s.SetModelVersionTag(c, name, 1, key, "v"))
	if got := must(s.GetModelVersion(c, name, 1))(t).Tags[key]; got != "v" {
		t.Errorf("version tag after SetModelVersionTag = %q", got)
	}
	if got := versions(must(s.SearchModelVersions(c, name, key, "v"))(t)); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("SearchModelVersions(%s=v) = %v, want [1 3]", key, got)
	}
	if got := versions(must(s.SearchModelVersions(c, name, "", ""))(t)); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("SearchModelVersions(all) = %v, want [1 2 3]", got)
	}
	wantCode(t, s.SetModelVersionTag(c, name, 99, key, "v"), failure.NotFound, "tag on a missing version")
	_, err := s.GetModelVersionDownloadURI(c, name, 99)
	wantCode(t, err, failure.NotFound, "download URI of a missing version")
}

func versions(vs []store.ModelVersion) []int {
	return pluck(vs, func(v store.ModelVersion) int { return v.Version })
}

func testAliases(t *testing.T, s store.Store) {
	c := ctx(t)
	f := newFixture(t, s)
	name := uniq("rm")
	must(s.CreateRegisteredModel(c, name, nil))(t)
	for range 2 {
		must(s.CreateModelVersion(c, store.CreateModelVersionRequest{Name: name, Source: "models:/" + f.model.ID, ModelID: f.model.ID}))(t)
	}
	noErr(t, s.SetAlias(c, name, "champion", 1))
	v := must(s.GetModelVersionByAlias(c, name, "champion"))(t)
	if v.Version != 1 || !slices.Contains(v.Aliases, "champion") {
		t.Errorf("by alias: version %d aliases %v, want 1 with champion", v.Version, v.Aliases)
	}
	noErr(t, s.SetAlias(c, name, "champion", 2)) // move
	if got := must(s.GetModelVersionByAlias(c, name, "champion"))(t).Version; got != 2 {
		t.Errorf("after move, champion -> %d, want 2", got)
	}
	if a := must(s.GetModelVersion(c, name, 1))(t).Aliases; slices.Contains(a, "champion") {
		t.Errorf("version 1 still lists champion after the move: %v", a)
	}
	if a := must(s.GetRegisteredModel(c, name))(t).Aliases; a["champion"] != 2 || len(a) != 1 {
		t.Errorf("registered model aliases = %v, want champion:2", a)
	}
	noErr(t, s.DeleteAlias(c, name, "champion"))
	_, err := s.GetModelVersionByAlias(c, name, "champion")
	wantCode(t, err, failure.NotFound, "deleted alias")
	_, err = s.GetModelVersionByAlias(c, name, "never-set")
	wantCode(t, err, failure.NotFound, "alias never set")
	for _, bad := range []string{"latest", "v3", "has space", ""} {
		wantCode(t, s.SetAlias(c, name, bad, 1), failure.InvalidAlias, fmt.Sprintf("SetAlias(%q)", bad))
	}
	wantCode(t, s.SetAlias(c, name, "champion", 99), failure.NotFound, "alias to a missing version")
}

func testConcurrentVersions(t *testing.T, s store.Store) {
	c := ctx(t)
	f := newFixture(t, s)
	name := uniq("rm")
	must(s.CreateRegisteredModel(c, name, nil))(t)
	const n = 8
	got := make([]int, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			v, err := s.CreateModelVersion(c, store.CreateModelVersionRequest{Name: name, Source: "models:/" + f.model.ID, ModelID: f.model.ID})
			if err != nil {
				errs[i] = err
				return
			}
			got[i] = v.Version
		})
	}
	wg.Wait()
	for _, err := range errs {
		noErr(t, err)
	}
	slices.Sort(got)
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(got, want) {
		t.Errorf("concurrent versions = %v, want %v", got, want)
	}
}

func testDescribe(t *testing.T, s store.Store) {
	if s.Describe() == "" {
		t.Error("Describe() is empty")
	}
}
