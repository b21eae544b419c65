package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flavorflow/flavorflow/mlflow"
)

// countingProxy is a reverse proxy in front of the MLflow server that
// counts every request by method and normalized path, so both sides of a
// comparison (flavorflow's workers, Python processes) are counted at the
// same place, the way the server sees them.
type countingProxy struct {
	URL string
	srv *http.Server
	mu  sync.Mutex
	n   map[string]int
}

func startCountingProxy(target string) (*countingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{URL: "http://" + l.Addr().String(), n: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{
		// MLflow's uvicorn closes a connection idle for 5 s: one kept
		// longer can be reused just as the server closes it, and a POST
		// lost that way is a 502 the client did not cause. Drop them first.
		Proxy: nil, MaxIdleConnsPerHost: 256, IdleConnTimeout: 4 * time.Second,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}
	rp.FlushInterval = -1 // stream bodies both ways, never buffer a file
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.count(r.Method, r.URL.Path)
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() {
		if err := p.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("counting proxy:", err)
		}
	}()
	return p, nil
}

func (p *countingProxy) count(method, path string) {
	k := mlflow.EndpointKey(method, path)
	p.mu.Lock()
	p.n[k]++
	p.mu.Unlock()
}

// snapshot copies the counts so far; a side's requests are the difference
// of the snapshots around it.
func (p *countingProxy) snapshot() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.n))
	for k, v := range p.n {
		out[k] = v
	}
	return out
}

func (p *countingProxy) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
}

// countingTransport counts the requests of an in-process client (P5).
type countingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	k := mlflow.EndpointKey(req.Method, req.URL.Path)
	t.mu.Lock()
	if t.n == nil {
		t.n = map[string]int{}
	}
	t.n[k]++
	t.mu.Unlock()
	return t.next.RoundTrip(req)
}

func (t *countingTransport) snapshot() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int, len(t.n))
	for k, v := range t.n {
		out[k] = v
	}
	return out
}

// requestCount is the requests of n pipelines, by request key.
type requestCount struct {
	n      int
	byPath map[string]int
}

func countSince(before, after map[string]int, n int) *requestCount {
	c := &requestCount{n: n, byPath: map[string]int{}}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			c.byPath[k] = d
		}
	}
	return c
}

func (c *requestCount) total() int {
	t := 0
	for _, v := range c.byPath {
		t += v
	}
	return t
}

// guaranteeRequests is how many of one flavorflow pipeline's requests buy a
// guarantee that Python's lifecycle (bench/py/lifecycle.py) does not give,
// by requestPurpose: the promotion's second read of every file, the
// manifest (its PUT and the verification's GET), the listings, the
// look-ups before each create, the alias reads beyond the one Python makes
// (other writers), and the verified and promoted-by tags.
func guaranteeRequests(c *requestCount) float64 {
	if c == nil || c.n == 0 {
		return 0
	}
	per := func(k string) float64 { return float64(c.byPath[k]) / float64(c.n) }
	g := per("POST mlflow/runs/search") + per("POST mlflow/logged-models/search") + per("GET mlflow/model-versions/search") +
		per("POST mlflow/model-versions/set-tag") + per("GET mlflow-artifacts/artifacts") +
		max(per("GET mlflow/registered-models/alias")-1, 0)
	// Every file is read twice, by the verification and by the
	// promotion's check: half the downloads are the check's.
	g += (per("GET mlflow-artifacts/presigned/…") + per("GET mlflow-artifacts/artifacts/…")) / 2
	if per("PUT mlflow-artifacts/artifacts/…") > 0 {
		g += 2 // the manifest's PUT and the verification's GET of it
	}
	return g
}

func (c *requestCount) perPipeline() float64 {
	if c.n == 0 {
		return 0
	}
	return float64(c.total()) / float64(c.n)
}

// list is a markdown list of the requests per pipeline, most frequent
// first; with purpose, each says what it buys (requestPurpose).
func (c *requestCount) list(purpose bool) string {
	keys := make([]string, 0, len(c.byPath))
	for k := range c.byPath {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c.byPath[keys[i]] != c.byPath[keys[j]] {
			return c.byPath[keys[i]] > c.byPath[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "- `%s` ×%s", k, perPipe(c.byPath[k], c.n))
		if purpose {
			why, ok := requestPurpose[k]
			if !ok {
				why = "not in the harness's table of purposes (bench/proxy.go): look it up"
			}
			fmt.Fprintf(&b, ": %s", why)
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func perPipe(count, n int) string {
	if n == 0 {
		return "n/a"
	}
	v := float64(count) / float64(n)
	if v == float64(int(v)) {
		return fmt.Sprintf("%d", int(v))
	}
	return fmt.Sprintf("%.2f", v)
}

// requestPurpose says what each request flavorflow makes per pipeline buys
// (BENCHMARKS.md lists them with this run's counts). No figures here: the
// counts come from the run.
var requestPurpose = map[string]string{
	"GET mlflow/experiments/get-by-name":         "the experiment's ID, for the save step's look-up of an earlier run's creation time and the log step's ensure-experiment: the client keeps it for a minute (and drops it when a create finds the ID gone), so each worker asks about once a minute",
	"POST mlflow/experiments/create":             "the experiment, when the log step's look-up found none",
	"POST mlflow/runs/search":                    "look-up-before-create of the workflow's run by its workflow-ID tag: a retried log step finds the run instead of making a second",
	"POST mlflow/runs/create":                    "the run that owns the logged model, with the workflow tags",
	"POST mlflow/runs/log-batch":                 "the training params and metrics, in one batch",
	"POST mlflow/runs/update":                    "the run marked finished",
	"GET mlflow/runs/get":                        "the run read back when a run output is refused as a repeat (the link committed before a lost answer); the log step hands LogModel the run it found or created instead of reading it",
	"POST mlflow/logged-models/search":           "look-up-before-create of the logged model by its idempotency key (exactly-once logging across retries), and the registration's check that the logged model is the run's",
	"POST mlflow/logged-models":                  "the logged model (its ID and artifact location)",
	"GET mlflow/logged-models/{id}":              "the logged model's state and artifact location",
	"PATCH mlflow/logged-models/{id}":            "the logged model finalized (READY) after its files are up",
	"PATCH mlflow/logged-models/{id}/tags":       "the manifest's sha256 as a tag: what verify-before-promote checks the download against",
	"POST mlflow/runs/outputs":                   "the logged model linked to its run as an output",
	"POST mlflow/runs/log-inputs":                "the training data as the run's dataset input (MLflow dedupes a repeat), so the UI shows which data trained the version",
	"PUT mlflow-artifacts/artifacts/…":           "the model's files, one PUT each, the manifest last (its presence says the files it lists are there)",
	"GET mlflow-artifacts/artifacts":             "directory listings: after the upload (every file the manifest names is on the server, with its size, before the model is finalized) and before the promotion's check (a file the manifest does not name is refused before the alias moves); the verification download takes its file list from the manifest and lists nothing",
	"GET mlflow-artifacts/artifacts/…":           "the model's files, downloaded by load-and-verify (hashed and parsed) and again by the promotion's check of the stored bytes just before the alias moves (a file changed after verification is never promoted); through the server only when it cannot presign",
	"GET mlflow-artifacts/presigned/…":           "the same downloads with an object store behind the proxy: the server signs a URL per file and the bytes come straight from the store, as MLflow's Python client reads them",
	"GET mlflow/registered-models/get":           "look-up of the registered model (exactly-once registration)",
	"POST mlflow/registered-models/create":       "the registered model, the first time its name is seen",
	"GET mlflow/model-versions/search":           "look-up-before-create of the version by the workflow-ID tag: a retried register finds its version instead of adding a duplicate",
	"POST mlflow/model-versions/create":          "the model version",
	"GET mlflow/model-versions/get":              "the version's status, source and tags (the manifest hash): read by load-and-verify and by the promotion, each just before its download, which resolves the version from that same answer",
	"GET mlflow/model-versions/get-download-uri": "where a version's files are, because this MLflow's version JSON omits the storage location: asked once per version (at registration); the answer travels with the version to the verify and promote steps, whichever worker runs them, and each client keeps it per name, version, source and creation time, so later answers about that version and its downloads reuse it, and a version recreated under the same number is asked again",
	"POST mlflow/model-versions/set-tag":         "tags on the version: verified (the promotion requires it) and the pipeline's record",
	"GET mlflow/registered-models/alias":         "the alias's current version: the previous champion read before verification (kept for rollback); then the keeper reads it before the stored-bytes check, again after it (a writer outside Temporal may have moved it meanwhile: MLflow has no compare-and-set) and once more after setting it (read-back)",
	"POST mlflow/registered-models/alias":        "the promotion itself: the alias set to the new version",
}
