package faults

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// TestTruncatedDownloadIsFetchedAgain: a download truncated once on the way
// (a consistent Content-Length, a short body) must not fail the pipeline
// with a non-retryable ChecksumMismatch; the verify step fetches the damaged
// file again and the pipeline completes. Then damage at rest: one byte of
// the verified version's weights.bin flipped makes promotion (through the
// alias keeper, the worker binary against MLflow) fail with
// ChecksumMismatch; the alias stays unset.
func TestTruncatedDownloadIsFetchedAgain(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.startWorker()
	model := r.prefix + "-m"
	r.px.SetRules(
		faultproxy.Rule{Method: http.MethodGet, Path: regexp.MustCompile(`/weights\.bin$`), Action: faultproxy.Truncate, Count: 1},
		faultproxy.Rule{Method: http.MethodGet, Path: regexp.MustCompile(`/flavorflow-manifest\.json$`), Action: faultproxy.Truncate, Count: 1},
	)
	p := r.start(r.prefix+"-0", request(model, "champion", 3, 1<<20))
	r.wait(3*time.Minute, p)
	if p.err != nil {
		t.Fatalf("pipeline with truncated downloads: %v", p.err)
	}
	truncated := r.px.Stats().Total()
	if truncated != 2 {
		t.Fatalf("the proxy truncated %d downloads, want 2", truncated)
	}
	r.px.SetRules()
	ctx := context.Background()
	mv, err := r.direct.GetModelVersionByAlias(ctx, model, "champion")
	if err != nil || mv.Version != p.res.Version || mv.Tags[vocab.TagVerified] != "true" {
		t.Fatalf("alias after truncated downloads: %+v %v, want verified version %d", mv, err, p.res.Version)
	}

	flipped := r.flipStoredByte(p.id, "weights.bin")
	pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	_, _, _, perr := workflows.ChangeAlias(pctx, r.tp.Client, r.queue, r.prefix+"-promote",
		workflows.AliasChangeRequest{ModelName: model, Alias: "canary", Version: p.res.Version, Requester: "test"})
	if perr == nil {
		t.Fatal("promote of a version damaged at rest succeeded, want ChecksumMismatch")
	}
	if got := errorType(perr); got != string(failure.ChecksumMismatch) {
		t.Fatalf("promote of a version damaged at rest: %v, want ChecksumMismatch", perr)
	}
	if mv, err := r.direct.GetModelVersionByAlias(ctx, model, "canary"); !failure.Has(err, failure.NotFound) {
		t.Fatalf("alias canary moved onto damaged bytes: %+v %v", mv, err)
	}
	var tb table
	tb.add("truncated download", "downloads truncated (weights.bin, manifest)", truncated)
	tb.add("truncated download", "pipeline", "completed, verified, promoted")
	tb.add("byte flipped at rest", "byte flipped in", strings.TrimPrefix(flipped, r.ml.ArtifactsDir+"/"))
	tb.add("byte flipped at rest", "promote error", errorType(perr))
	report(t, tb)
}
