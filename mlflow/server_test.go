package mlflow

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/store"
)

// serverClient returns a client of the package's shared real server.
func serverClient(t *testing.T) *Client {
	t.Helper()
	srv := testenv.SharedMLflow(t, testenv.MLflowOptions{})
	c, err := New(Config{TrackingURI: srv.URL, BackoffFactor: 10 * time.Millisecond, BackoffJitter: time.Millisecond, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func unique(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func wantCode(t *testing.T, err error, code failure.Code) {
	t.Helper()
	if !failure.Has(err, code) {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}

func bytesSource(b []byte) store.Source {
	sum := sha256.Sum256(b)
	return store.Source{
		Open:   func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		Size:   int64(len(b)),
		SHA256: hex.EncodeToString(sum[:]),
	}
}

func TestServerLifecycle(t *testing.T) {
	ctx := context.Background()
	c := serverClient(t)

	expName := unique("exp")
	_, err := c.GetExperimentByName(ctx, expName)
	wantCode(t, err, failure.NotFound)
	expID := must[string](t)(c.CreateExperiment(ctx, expName, store.Tags{"team": "ml"}))
	_, err = c.CreateExperiment(ctx, expName, nil)
	wantCode(t, err, failure.AlreadyExists)
	exp := must[*store.Experiment](t)(c.GetExperimentByName(ctx, expName))
	if exp.ID != expID || exp.Tags["team"] != "ml" || !strings.HasPrefix(exp.ArtifactLocation, "mlflow-artifacts:/") {
		t.Fatalf("experiment = %+v", exp)
	}

	run := must[*store.Run](t)(c.CreateRun(ctx, store.CreateRunRequest{ExperimentID: expID, Name: "train", StartTimeMs: 1000, Tags: store.Tags{"idem": "k1"}}))
	if run.Status != store.RunRunning || run.Name != "train" {
		t.Fatalf("run = %+v", run)
	}
	params := store.Tags{}
	for i := range 150 { // over the 100-params limit: two requests
		params[unique("p")] = "v"
		_ = i
	}
	metrics := []store.Metric{{Key: "loss", Value: 0.5, TimestampMs: 5, Step: 1}}
	if err := c.LogBatch(ctx, run.ID, store.Batch{Params: params, Tags: store.Tags{"t": "x"}, Metrics: metrics}); err != nil {
		t.Fatal(err)
	}
	if err := c.LogBatch(ctx, run.ID, store.Batch{Params: params}); err != nil {
		t.Fatalf("re-logging the same params: %v", err)
	}
	for k := range params {
		err := c.LogBatch(ctx, run.ID, store.Batch{Params: store.Tags{k: "other"}})
		wantCode(t, err, failure.InvalidArgument)
		break
	}
	_, err = c.GetRun(ctx, strings.Repeat("0", 32))
	wantCode(t, err, failure.NotFound)
	runs := must[[]store.Run](t)(c.SearchRunsByTag(ctx, expID, "idem", "k1"))
	if len(runs) != 1 || runs[0].ID != run.ID {
		t.Fatalf("search runs = %+v", runs)
	}

	lm := must[*store.LoggedModel](t)(c.CreateLoggedModel(ctx, store.CreateLoggedModelRequest{
		ExperimentID: expID, Name: "model", SourceRunID: run.ID, ModelType: "fake",
		Params: store.Tags{"a": "1"}, Tags: store.Tags{"idem": "lm1"}}))
	if lm.Status != store.LoggedModelPending || !strings.HasSuffix(lm.ArtifactURI, "/models/"+lm.ID+"/artifacts") {
		t.Fatalf("logged model = %+v", lm)
	}
	found := must[[]store.LoggedModel](t)(c.SearchLoggedModelsByTag(ctx, expID, "idem", "lm1"))
	if len(found) != 1 || found[0].ID != lm.ID {
		t.Fatalf("search logged models = %+v", found)
	}
	if err := c.SetLoggedModelTags(ctx, lm.ID, store.Tags{"x": "y"}); err != nil {
		t.Fatal(err)
	}

	payload := []byte("hello artifact")
	if err := c.PutArtifact(ctx, lm.ArtifactURI, "MLmodel", bytesSource(payload)); err != nil {
		t.Fatal(err)
	}
	if err := c.PutArtifact(ctx, lm.ArtifactURI, "data/w.bin", bytesSource([]byte{1, 2, 3})); err != nil {
		t.Fatal(err)
	}
	list := must[[]store.FileInfo](t)(c.ListArtifacts(ctx, lm.ArtifactURI, ""))
	if len(list) != 2 || list[0] != (store.FileInfo{Path: "MLmodel", Size: int64(len(payload))}) || list[1] != (store.FileInfo{Path: "data", IsDir: true}) {
		t.Fatalf("root listing = %+v", list)
	}
	sub := must[[]store.FileInfo](t)(c.ListArtifacts(ctx, lm.ArtifactURI, "data"))
	if len(sub) != 1 || sub[0] != (store.FileInfo{Path: "data/w.bin", Size: 3}) {
		t.Fatalf("data listing = %+v", sub)
	}
	if empty := must[[]store.FileInfo](t)(c.ListArtifacts(ctx, lm.ArtifactURI, "nothing")); len(empty) != 0 {
		t.Fatalf("missing dir listing = %+v", empty)
	}
	rc := must[io.ReadCloser](t)(c.OpenArtifact(ctx, lm.ArtifactURI, "MLmodel"))
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, payload) {
		t.Fatalf("read back %q", got)
	}
	_, err = c.OpenArtifact(ctx, lm.ArtifactURI, "missing.txt")
	wantCode(t, err, failure.NotFound)
	bad := bytesSource(payload)
	bad.SHA256 = strings.Repeat("0", 64)
	wantCode(t, c.PutArtifact(ctx, lm.ArtifactURI, "bad.txt", bad), failure.ChecksumMismatch)

	lm = must[*store.LoggedModel](t)(c.FinalizeLoggedModel(ctx, lm.ID, store.LoggedModelReady))
	if lm.Status != store.LoggedModelReady || lm.Tags["x"] != "y" {
		t.Fatalf("finalized = %+v", lm)
	}
	if err := c.LogOutputs(ctx, run.ID, []string{lm.ID}); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateRun(ctx, run.ID, store.RunFinished, 2000); err != nil {
		t.Fatal(err)
	}
	run = must[*store.Run](t)(c.GetRun(ctx, run.ID))
	if run.Status != store.RunFinished || run.EndTimeMs != 2000 || len(run.Params) != 150 ||
		len(run.Metrics) != 1 || run.Metrics[0].Value != 0.5 || len(run.OutputModels) != 1 || run.OutputModels[0] != lm.ID {
		t.Fatalf("run after update = %+v", run)
	}

	name := unique("Model")
	must[*store.RegisteredModel](t)(c.CreateRegisteredModel(ctx, name, store.Tags{"owner": "me"}))
	_, err = c.CreateRegisteredModel(ctx, name, nil)
	wantCode(t, err, failure.AlreadyExists)
	mv := must[*store.ModelVersion](t)(c.CreateModelVersion(ctx, store.CreateModelVersionRequest{
		Name: name, Source: "models:/" + lm.ID, ModelID: lm.ID, Tags: store.Tags{"idem": "v1"}}))
	if mv.Version != 1 || mv.Status != store.VersionReady || mv.RunID != run.ID || mv.ModelID != lm.ID {
		t.Fatalf("version = %+v", mv)
	}
	mv2 := must[*store.ModelVersion](t)(c.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: name, Source: "models:/" + lm.ID, ModelID: lm.ID}))
	if mv2.Version != 2 {
		t.Fatalf("second version = %+v", mv2)
	}
	uri := must[string](t)(c.GetModelVersionDownloadURI(ctx, name, 1))
	if uri != lm.ArtifactURI {
		t.Fatalf("download uri = %q, want %q", uri, lm.ArtifactURI)
	}
	if err := c.SetModelVersionTag(ctx, name, 1, "sha", "abc"); err != nil {
		t.Fatal(err)
	}
	all := must[[]store.ModelVersion](t)(c.SearchModelVersions(ctx, name, "", ""))
	if len(all) != 2 || all[0].Version != 1 || all[1].Version != 2 {
		t.Fatalf("all versions = %+v", all)
	}
	tagged := must[[]store.ModelVersion](t)(c.SearchModelVersions(ctx, name, "idem", "v1"))
	if len(tagged) != 1 || tagged[0].Version != 1 || tagged[0].Tags["sha"] != "abc" {
		t.Fatalf("tagged versions = %+v", tagged)
	}
	_, err = c.GetModelVersion(ctx, name, 9)
	wantCode(t, err, failure.NotFound)

	_, err = c.GetModelVersionByAlias(ctx, name, "champion")
	wantCode(t, err, failure.NotFound)
	if err := c.SetAlias(ctx, name, "champion", 2); err != nil {
		t.Fatal(err)
	}
	byAlias := must[*store.ModelVersion](t)(c.GetModelVersionByAlias(ctx, name, "champion"))
	if byAlias.Version != 2 || len(byAlias.Aliases) != 1 {
		t.Fatalf("by alias = %+v", byAlias)
	}
	rm := must[*store.RegisteredModel](t)(c.GetRegisteredModel(ctx, name))
	if rm.Aliases["champion"] != 2 || rm.Tags["owner"] != "me" {
		t.Fatalf("registered model = %+v", rm)
	}
	if err := c.DeleteAlias(ctx, name, "champion"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetModelVersionByAlias(ctx, name, "champion")
	wantCode(t, err, failure.NotFound)
	_, err = c.GetRegisteredModel(ctx, unique("nope"))
	wantCode(t, err, failure.NotFound)

	// Quotes in names and tag values survive the search filter.
	quoted := unique("it's")
	must[*store.RegisteredModel](t)(c.CreateRegisteredModel(ctx, quoted, nil))
	must[*store.ModelVersion](t)(c.CreateModelVersion(ctx, store.CreateModelVersionRequest{
		Name: quoted, Source: "models:/" + lm.ID, ModelID: lm.ID, Tags: store.Tags{"q": "a'b"}}))
	if got := must[[]store.ModelVersion](t)(c.SearchModelVersions(ctx, quoted, "q", "a'b")); len(got) != 1 {
		t.Fatalf("search with quotes found %d versions", len(got))
	}
}
