package mlflow

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/store"
)

// requestCounter counts a client's requests under the keys keysOf gives
// each.
type requestCounter struct {
	next   http.RoundTripper
	keysOf func(*http.Request) []string
	mu     sync.Mutex
	n      map[string]int
}

func newRequestCounter(keysOf func(*http.Request) []string) *requestCounter {
	return &requestCounter{next: http.DefaultTransport, keysOf: keysOf, n: map[string]int{}}
}

func (p *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	p.mu.Lock()
	for _, k := range p.keysOf(r) {
		p.n[k]++
	}
	p.mu.Unlock()
	return p.next.RoundTrip(r)
}

func (p *requestCounter) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[key]
}

// byEndpoint keys a request by its URL path after /mlflow/ (the endpoint).
func byEndpoint(r *http.Request) []string {
	return []string{r.URL.Path[strings.LastIndex(r.URL.Path, "/mlflow/")+len("/mlflow/"):]}
}

// countingServerClient is serverClient with its requests counted.
func countingServerClient(t *testing.T) (*Client, *requestCounter) {
	t.Helper()
	srv := testenv.SharedMLflow(t, testenv.MLflowOptions{})
	pc := newRequestCounter(byEndpoint)
	c, err := New(Config{TrackingURI: srv.URL, BackoffFactor: 10 * time.Millisecond, BackoffJitter: time.Millisecond, MaxRetries: 2, Transport: pc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, pc
}

// loggedModelVersion creates a logged model in expID and registers it as
// the next version of name.
func loggedModelVersion(t *testing.T, c *Client, expID, name string) (*store.LoggedModel, *store.ModelVersion) {
	t.Helper()
	ctx := context.Background()
	lm := must[*store.LoggedModel](t)(c.CreateLoggedModel(ctx, store.CreateLoggedModelRequest{ExperimentID: expID, Name: "model"}))
	mv := must[*store.ModelVersion](t)(c.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: name, Source: "models:/" + lm.ID, ModelID: lm.ID}))
	return lm, mv
}

// A version's storage location is asked for once; but when the registered
// model is deleted and created again, its version 1 is another version
// (another logged model, another location), and the client must not answer
// the first one's location for it.
func TestVersionLocationCacheMissesARecreatedVersion(t *testing.T) {
	t.Parallel()
	c, pc := countingServerClient(t)
	ctx := context.Background()
	expID := must[string](t)(c.CreateExperiment(ctx, unique("loc"), nil))
	name := unique("loc-model")
	must[*store.RegisteredModel](t)(c.CreateRegisteredModel(ctx, name, nil))
	first, mv := loggedModelVersion(t, c, expID, name)
	if mv.StorageLocation != first.ArtifactURI {
		t.Fatalf("version 1 at %q, want %q", mv.StorageLocation, first.ArtifactURI)
	}
	asked := pc.count("model-versions/get-download-uri")
	for range 3 {
		got := must[*store.ModelVersion](t)(c.GetModelVersion(ctx, name, 1))
		if got.StorageLocation != first.ArtifactURI {
			t.Fatalf("version 1 at %q, want %q", got.StorageLocation, first.ArtifactURI)
		}
	}
	if n := pc.count("model-versions/get-download-uri") - asked; n != 0 {
		t.Fatalf("get-download-uri asked %d more times for a version whose location the client knew", n)
	}

	if err := c.DeleteRegisteredModel(ctx, name); err != nil {
		t.Fatal(err)
	}
	must[*store.RegisteredModel](t)(c.CreateRegisteredModel(ctx, name, nil))
	second, mv := loggedModelVersion(t, c, expID, name)
	if mv.Version != 1 {
		t.Fatalf("the recreated model's first version is %d, want 1", mv.Version)
	}
	for _, get := range []func() (*store.ModelVersion, error){
		func() (*store.ModelVersion, error) { return mv, nil },
		func() (*store.ModelVersion, error) { return c.GetModelVersion(ctx, name, 1) },
	} {
		got := must[*store.ModelVersion](t)(get())
		if got.StorageLocation != second.ArtifactURI {
			t.Fatalf("recreated version 1 at %q, want %q (the deleted version 1 was at %q)", got.StorageLocation, second.ArtifactURI, first.ArtifactURI)
		}
	}
}

// A client told a version's location by another worker's answer
// (HintStorageLocation, as the register step's answer reaches the verify
// and promote steps) reads the version without get-download-uri; the hint
// does not hold for a version recreated under the same number.
func TestHintedLocationIsNotAskedAgain(t *testing.T) {
	t.Parallel()
	registrar, _ := countingServerClient(t)
	reader, pc := countingServerClient(t)
	ctx := context.Background()
	expID := must[string](t)(registrar.CreateExperiment(ctx, unique("hint"), nil))
	name := unique("hint-model")
	must[*store.RegisteredModel](t)(registrar.CreateRegisteredModel(ctx, name, nil))
	first, mv := loggedModelVersion(t, registrar, expID, name)

	reader.HintStorageLocation(*mv)
	got := must[*store.ModelVersion](t)(reader.GetModelVersion(ctx, name, 1))
	if got.StorageLocation != first.ArtifactURI {
		t.Fatalf("hinted version 1 at %q, want %q", got.StorageLocation, first.ArtifactURI)
	}
	if n := pc.count("model-versions/get-download-uri"); n != 0 {
		t.Fatalf("a client hinted the location asked get-download-uri %d times", n)
	}

	if err := registrar.DeleteRegisteredModel(ctx, name); err != nil {
		t.Fatal(err)
	}
	must[*store.RegisteredModel](t)(registrar.CreateRegisteredModel(ctx, name, nil))
	second, _ := loggedModelVersion(t, registrar, expID, name)
	got = must[*store.ModelVersion](t)(reader.GetModelVersion(ctx, name, 1))
	if got.StorageLocation != second.ArtifactURI {
		t.Fatalf("recreated version 1 at %q, want %q (the hint was for %q)", got.StorageLocation, second.ArtifactURI, first.ArtifactURI)
	}
	if n := pc.count("model-versions/get-download-uri"); n != 1 {
		t.Fatalf("the recreated version: get-download-uri asked %d times, want 1", n)
	}
}

// An experiment is looked up once per experimentTTL; a name that comes to
// name another experiment (renamed away, another created under it) is seen
// once the entry expires.
func TestExperimentCacheExpires(t *testing.T) {
	t.Parallel()
	c, pc := countingServerClient(t)
	ctx := context.Background()
	now := time.Now()
	c.now = func() time.Time { return now }
	name := unique("exp-cache")
	oldID := must[string](t)(c.CreateExperiment(ctx, name, nil))
	for range 3 {
		if e := must[*store.Experiment](t)(c.GetExperimentByName(ctx, name)); e.ID != oldID || e.Name != name {
			t.Fatalf("GetExperimentByName = %+v, want ID %s", e, oldID)
		}
	}
	if n := pc.count("experiments/get-by-name"); n != 1 {
		t.Fatalf("get-by-name sent %d times for one experiment, want 1", n)
	}

	in := map[string]any{"experiment_id": oldID, "new_name": name + "-renamed"}
	if err := c.call(ctx, read, http.MethodPost, "experiments/update", nil, in, nil); err != nil {
		t.Fatal(err)
	}
	newID := must[string](t)(c.CreateExperiment(ctx, name, nil))
	now = now.Add(experimentTTL + time.Second)
	if e := must[*store.Experiment](t)(c.GetExperimentByName(ctx, name)); e.ID != newID {
		t.Fatalf("after the TTL, %q is experiment %s, want the new %s", name, e.ID, newID)
	}
}

// An experiment deleted for good after the client looked it up: the
// server refuses creates in its ID with RESOURCE_DOES_NOT_EXIST. That must
// be a retryable failure that drops the entry, so the retry looks the name
// up again (and creates the experiment), not a NotFound that fails the
// step. Deleting an experiment for good takes `mlflow gc` (half a minute
// here), so the entry is made to point at an ID the server never had.
func TestExperimentCacheDropsADeletedExperiment(t *testing.T) {
	t.Parallel()
	c, pc := countingServerClient(t)
	ctx := context.Background()
	name := unique("exp-gone")
	id := must[string](t)(c.CreateExperiment(ctx, name, nil))
	must[*store.Experiment](t)(c.GetExperimentByName(ctx, name))
	gone := fmt.Sprintf("8%08s", id) // never created: the server has far fewer experiments
	for _, create := range []func(expID string) error{
		func(expID string) error {
			_, err := c.CreateRun(ctx, store.CreateRunRequest{ExperimentID: expID, Name: "r"})
			return err
		},
		func(expID string) error {
			_, err := c.CreateLoggedModel(ctx, store.CreateLoggedModelRequest{ExperimentID: expID, Name: "model"})
			return err
		},
	} {
		c.experiments.put(name, cachedExperiment{exp: store.Experiment{ID: gone, Name: name}, at: c.now()})
		e := must[*store.Experiment](t)(c.GetExperimentByName(ctx, name))
		if e.ID != gone {
			t.Fatalf("the seeded entry was not used: %s", e.ID)
		}
		err := create(gone)
		if err == nil || !failure.Retryable(failure.CodeOf(err)) {
			t.Fatalf("create in a cached experiment that is gone: %v (code %s), want a retryable failure", err, failure.CodeOf(err))
		}
		before := pc.count("experiments/get-by-name")
		if e := must[*store.Experiment](t)(c.GetExperimentByName(ctx, name)); e.ID != id {
			t.Fatalf("after the failure, %q is experiment %s, want %s", name, e.ID, id)
		}
		if pc.count("experiments/get-by-name") != before+1 {
			t.Fatal("the entry of the gone experiment was not dropped: no new look-up")
		}
		// An ID the client did not hand out from its cache keeps NotFound.
		if err := create(gone + "0"); !IsNotFound(err) {
			t.Fatalf("create in an unknown experiment: %v, want NotFound", err)
		}
	}
}

func TestLRUForgetsTheLeastRecentlyUsed(t *testing.T) {
	c := newLRU[int, string](2)
	c.put(1, "a")
	c.put(2, "b")
	if _, ok := c.get(1); !ok { // 1 is now the most recent
		t.Fatal("1 missing")
	}
	c.put(3, "c")
	if _, ok := c.get(2); ok {
		t.Fatal("2 was the least recently used and should be gone")
	}
	for k, want := range map[int]string{1: "a", 3: "c"} {
		if v, ok := c.get(k); !ok || v != want {
			t.Fatalf("get(%d) = %q, %v", k, v, ok)
		}
	}
	if c.len() != 2 {
		t.Fatalf("len = %d, want 2", c.len())
	}
	if !c.removeIf(func(k int, _ string) bool { return k == 1 }) || c.len() != 1 {
		t.Fatal("removeIf")
	}
}
