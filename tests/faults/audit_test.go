package faults

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// audit is what the store holds after a scenario, counted from the server
// directly (not through the proxy).
type audit struct {
	Workflows, Completed int
	Failed               map[string]int // by error type
	Runs                 map[int]int    // runs per workflow -> workflows
	LoggedReady          map[int]int    // READY logged models per workflow -> workflows
	Versions             map[int]int    // model versions per workflow -> workflows
	HashChecks, HashBad  int            // versions downloaded and checked against their manifest tag
	AliasChecks          int            // aliases read
	UnverifiedPromotions int            // aliases pointing at a version not tagged verified
}

// auditStore counts, for every pipeline, its runs, READY logged models and
// model versions (each must be exactly 1 for a completed pipeline), checks
// every version's bytes against its manifest hash, and every alias.
func (r *rig) auditStore(ps []*pipeline) audit {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	a := audit{Failed: map[string]int{}, Runs: map[int]int{}, LoggedReady: map[int]int{}, Versions: map[int]int{}}
	exp, err := r.direct.GetExperimentByName(ctx, r.experiment)
	if err != nil {
		r.t.Fatalf("experiment %s: %v", r.experiment, err)
	}
	aliases := map[[2]string]bool{}
	for _, p := range ps {
		a.Workflows++
		if p.err == nil {
			a.Completed++
		} else {
			a.Failed[errorType(p.err)]++
		}
		runs, err := r.direct.SearchRunsByTag(ctx, exp.ID, vocab.TagWorkflowID, p.id)
		if err != nil {
			r.t.Fatalf("runs of %s: %v", p.id, err)
		}
		a.Runs[len(runs)]++
		lms, err := r.direct.SearchLoggedModelsByTag(ctx, exp.ID, vocab.TagWorkflowID, p.id)
		if err != nil {
			r.t.Fatalf("logged models of %s: %v", p.id, err)
		}
		ready := 0
		for _, lm := range lms {
			if lm.Status == store.LoggedModelReady {
				ready++
			}
		}
		a.LoggedReady[ready]++
		mvs, err := r.direct.SearchModelVersions(ctx, p.model, vocab.TagWorkflowID, p.id)
		if err != nil && !failure.Has(err, failure.NotFound) {
			r.t.Fatalf("versions of %s: %v", p.id, err)
		}
		a.Versions[len(mvs)]++
		if p.err == nil && len(mvs) != 1 {
			r.t.Errorf("workflow %s completed with %d model versions, want exactly 1: %v", p.id, len(mvs), versionNumbers(mvs))
		}
		if p.err == nil && (len(runs) != 1 || ready != 1) {
			r.t.Errorf("workflow %s completed with %d runs and %d READY logged models, want 1 and 1", p.id, len(runs), ready)
		}
		if p.err == nil && len(runs) == 1 {
			// The training data is the run's input once, however often
			// LogModel ran (issue 11, part 3).
			run, err := r.direct.GetRun(ctx, runs[0].ID)
			if err != nil {
				r.t.Fatalf("run of %s: %v", p.id, err)
			}
			if len(run.Inputs) != 1 || run.Inputs[0].Tags[store.DatasetContextTag] != "training" {
				r.t.Errorf("workflow %s completed with run inputs %+v, want exactly one training dataset", p.id, run.Inputs)
			}
		}
		for _, mv := range mvs {
			a.HashChecks++
			if err := r.checkVersion(ctx, mv); err != nil {
				a.HashBad++
				r.t.Errorf("version %d of %s (workflow %s): %v", mv.Version, mv.Name, p.id, err)
			}
		}
		if p.alias != "" {
			aliases[[2]string{p.model, p.alias}] = true
		}
	}
	for k := range aliases {
		a.AliasChecks++
		mv, err := r.direct.GetModelVersionByAlias(ctx, k[0], k[1])
		if failure.Has(err, failure.NotFound) {
			continue
		}
		if err != nil {
			r.t.Fatalf("alias %s@%s: %v", k[0], k[1], err)
		}
		if mv.Tags[vocab.TagVerified] != "true" {
			a.UnverifiedPromotions++
			r.t.Errorf("alias %s@%s points at version %d, which is not tagged verified", k[0], k[1], mv.Version)
		}
	}
	return a
}

// checkVersion downloads the version and checks every file against the
// manifest and the manifest against the version's tag.
func (r *rig) checkVersion(ctx context.Context, mv store.ModelVersion) error {
	dst, err := os.MkdirTemp(r.dir, "check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dst)
	loaded, err := flavor.LoadModel(ctx, r.direct, modeluri.Version(mv.Name, mv.Version), filepath.Join(dst, "m"))
	if err != nil {
		return err
	}
	if want := mv.Tags[vocab.TagManifestSHA256]; loaded.ManifestSHA256 != want {
		return fmt.Errorf("manifest %s, the version's tag says %s", loaded.ManifestSHA256, want)
	}
	return nil
}

func versionNumbers(mvs []store.ModelVersion) []int {
	out := make([]int, len(mvs))
	for i, mv := range mvs {
		out[i] = mv.Version
	}
	return out
}

func errorType(err error) string {
	if t := workflows.ErrorType(err); t != "" {
		return t
	}
	return err.Error()
}

// requireClean fails unless every pipeline completed with exactly one of
// everything and no check failed.
func (a audit) requireClean(t *testing.T) {
	t.Helper()
	if a.Completed != a.Workflows {
		t.Errorf("%d of %d workflows completed; failures by type: %v", a.Completed, a.Workflows, a.Failed)
	}
	for n, c := range a.Versions {
		if n != 1 {
			t.Errorf("%d workflows have %d model versions, want exactly 1 each", c, n)
		}
	}
	if a.HashBad != 0 || a.UnverifiedPromotions != 0 {
		t.Errorf("%d hash checks failed, %d unverified versions promoted; want 0 and 0", a.HashBad, a.UnverifiedPromotions)
	}
}

// table renders rows of (scenario, figure, value) for the summary.
type table [][3]string

func (tb *table) add(scenario, figure string, value any) {
	*tb = append(*tb, [3]string{scenario, figure, fmt.Sprint(value)})
}

func (a audit) rows(scenario string) table {
	var tb table
	tb.add(scenario, "workflows started", a.Workflows)
	tb.add(scenario, "workflows completed", a.Completed)
	if len(a.Failed) > 0 {
		tb.add(scenario, "workflows failed (by type)", fmtCounts(a.Failed))
	}
	tb.add(scenario, "model versions per workflow (n:workflows)", fmtHist(a.Versions, ":"))
	tb.add(scenario, "runs per workflow (n:workflows)", fmtHist(a.Runs, ":"))
	tb.add(scenario, "READY logged models per workflow (n:workflows)", fmtHist(a.LoggedReady, ":"))
	tb.add(scenario, "hash checks passed", fmt.Sprintf("%d/%d", a.HashChecks-a.HashBad, a.HashChecks))
	tb.add(scenario, "promotions of unverified versions", a.UnverifiedPromotions)
	return tb
}

// fmtHist renders counts by key in key order: "1:8 2:1" or "AliasConflict=3".
func fmtHist[K cmp.Ordered](h map[K]int, sep string) string {
	keys := slices.Sorted(maps.Keys(h))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%v%s%d", k, sep, h[k])
	}
	return strings.Join(parts, " ")
}

func fmtCounts(m map[string]int) string { return fmtHist(m, "=") }

// settle waits for the pipelines, audits the store, requires every
// guarantee, and reports the audit with the scenario's own figures.
func (r *rig) settle(scenario string, timeout time.Duration, ps []*pipeline, figures func(add func(figure string, value any))) {
	r.t.Helper()
	r.wait(timeout, ps...)
	a := r.auditStore(ps)
	a.requireClean(r.t)
	tb := a.rows(scenario)
	if figures != nil {
		figures(func(figure string, value any) { tb.add(scenario, figure, value) })
	}
	report(r.t, tb)
}

// report logs the table and appends it to FLAVORFLOW_FAULTS_REPORT (make
// faults prints that file at the end).
func report(t *testing.T, tb table) {
	t.Helper()
	var b strings.Builder
	for _, row := range tb {
		fmt.Fprintf(&b, "| %-22s | %-48s | %s |\n", row[0], row[1], row[2])
	}
	t.Logf("summary:\n%s", b.String())
	if path := os.Getenv("FLAVORFLOW_FAULTS_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Errorf("report: %v", err)
			return
		}
		defer f.Close()
		_, _ = f.WriteString(b.String())
	}
}
