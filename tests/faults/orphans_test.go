package faults

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// TestNoOrphansAfterPermanentFailure: the MLflow server (through the proxy)
// keeps answering one call with something no retry fixes, or keeps failing
// uploads until an operator cancels the pipeline. Afterwards the store must
// hold no RUNNING run and no PENDING logged model of the pipeline, no empty
// registered model it created, and any version it registered is tagged
// failed. Then a re-run of the same workflow ID, with the server healthy,
// completes with exactly one version.
func TestNoOrphansAfterPermanentFailure(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.startWorker()
	cases := []struct {
		name   string
		rule   faultproxy.Rule
		cancel bool // the fault is retryable: the operator cancels
		// the registered model exists afterwards / versions tagged failed
		modelKept bool
		versions  int
	}{
		// The registered model is created, the answer is {}: RegisterModel
		// fails with BadResponse before any version exists.
		{name: "create-model-{}", rule: faultproxy.Rule{Method: http.MethodPost, Path: regexp.MustCompile(`/registered-models/create$`), Action: faultproxy.EmptyJSON}},
		// A malformed alias reply before verification: the version stays
		// unverified.
		{name: "read-alias-{}", rule: faultproxy.Rule{Method: http.MethodGet, Path: regexp.MustCompile(`/registered-models/alias$`), Action: faultproxy.EmptyJSON}, modelKept: true, versions: 1},
		// Every upload answered 502 (retryable, so the step would go on for
		// hours): the operator cancels.
		{name: "uploads-502-cancelled", rule: faultproxy.Rule{Method: http.MethodPut, Action: faultproxy.BadGateway}, cancel: true},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	exp := func() string {
		e, err := r.direct.GetExperimentByName(ctx, r.experiment)
		if err != nil {
			t.Fatalf("experiment: %v", err)
		}
		return e.ID
	}
	for i, c := range cases {
		id, model := fmt.Sprintf("%s-%d", r.prefix, i), fmt.Sprintf("%s-m%d", r.prefix, i)
		r.px.SetRules(c.rule)
		p := r.start(id, request(model, "champion", float64(i), 1<<20))
		if c.cancel {
			// Cancel once the logged model exists and uploads fail.
			if err := poll(2*time.Minute, func() (bool, error) {
				if r.px.Stats().Faults == nil || len(r.px.Stats().Faults) == 0 {
					return false, nil
				}
				e, err := r.direct.GetExperimentByName(ctx, r.experiment)
				if err != nil {
					return false, nil
				}
				lms, err := r.direct.SearchLoggedModelsByTag(ctx, e.ID, vocab.TagIdempotencyKey, id)
				return err == nil && len(lms) > 0, nil
			}); err != nil {
				t.Fatalf("%s: the upload never started failing: %v", c.name, err)
			}
			if err := r.tp.Client.CancelWorkflow(ctx, id, ""); err != nil {
				t.Fatal(err)
			}
		}
		r.wait(3*time.Minute, p)
		if p.err == nil {
			t.Fatalf("%s: the pipeline completed despite the fault", c.name)
		}
		if !c.cancel && errorType(p.err) != string(failure.BadResponse) {
			t.Errorf("%s: failed with %s, want BadResponse: %v", c.name, errorType(p.err), p.err)
		}
		r.px.SetRules()

		e := exp()
		runs, err := r.direct.SearchRunsByTag(ctx, e, vocab.TagWorkflowID, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, run := range runs {
			if run.Status == store.RunRunning {
				t.Errorf("%s: run %s of the failed pipeline is still RUNNING", c.name, run.ID)
			}
		}
		lms, err := r.direct.SearchLoggedModelsByTag(ctx, e, vocab.TagIdempotencyKey, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, lm := range lms {
			if lm.Status == store.LoggedModelPending {
				t.Errorf("%s: logged model %s of the failed pipeline is still PENDING", c.name, lm.ID)
			}
		}
		_, err = r.direct.GetRegisteredModel(ctx, model)
		switch {
		case c.modelKept && err != nil:
			t.Errorf("%s: registered model: %v", c.name, err)
		case !c.modelKept && !failure.Has(err, failure.NotFound):
			t.Errorf("%s: the registered model the failed pipeline created is still there (%v)", c.name, err)
		}
		if c.modelKept {
			mvs, err := r.direct.SearchModelVersions(ctx, model, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if len(mvs) != c.versions {
				t.Errorf("%s: %d versions, want %d", c.name, len(mvs), c.versions)
			}
			for _, mv := range mvs {
				if mv.Tags[vocab.TagPipelineStatus] != vocab.PipelineFailed || mv.Tags[vocab.TagPipelineError] != string(failure.BadResponse) {
					t.Errorf("%s: version %d of the failed pipeline is not tagged failed: %v", c.name, mv.Version, mv.Tags)
				}
			}
		}

		// The same workflow ID again, the server healthy.
		again := r.start(id, request(model, "champion", float64(i), 1<<20))
		r.wait(3*time.Minute, again)
		if again.err != nil {
			t.Errorf("%s: the re-run of %s failed: %v", c.name, id, again.err)
			continue
		}
		mvs, err := r.direct.SearchModelVersions(ctx, model, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(mvs) != 1 || again.res.Version != 1 {
			t.Errorf("%s: after the re-run %d versions (result version %d), want exactly 1", c.name, len(mvs), again.res.Version)
		}
		for _, mv := range mvs {
			if mv.Tags[vocab.TagVerified] != "true" || mv.Tags[vocab.TagPipelineStatus] == vocab.PipelineFailed {
				t.Errorf("%s: version %d after the re-run: %v", c.name, mv.Version, mv.Tags)
			}
		}
		runs, err = r.direct.SearchRunsByTag(ctx, e, vocab.TagWorkflowID, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].Status != store.RunFinished {
			t.Errorf("%s: after the re-run %d runs (%v), want one FINISHED", c.name, len(runs), runs)
		}
	}
}
