package faults

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
	"github.com/flavorflow/flavorflow/vocab"
)

// TestConcurrentRegistrationsOfOneName: 8 pipelines register the same model
// name at once while a third of the registry's create answers are lost
// after commit. Each gets exactly one version and the versions are distinct.
func TestConcurrentRegistrationsOfOneName(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.px.SetRules(
		faultproxy.Rule{Method: http.MethodPost, Path: regexp.MustCompile(`/model-versions/create$`), Action: faultproxy.BadGateway, Probability: 0.33},
		faultproxy.Rule{Method: http.MethodPost, Path: regexp.MustCompile(`/registered-models/create$`), Action: faultproxy.Close, Probability: 0.33},
	)
	r.startWorker()
	rounds := pick(1, 3)
	var all []*pipeline
	for round := range rounds {
		model := fmt.Sprintf("%s-shared%d", r.prefix, round)
		var ps []*pipeline
		for i := range 8 {
			ps = append(ps, r.start(fmt.Sprintf("%s-r%d-%d", r.prefix, round, i), request(model, "", float64(i), 0)))
		}
		r.wait(5*time.Minute, ps...)
		all = append(all, ps...)
		seen := map[int]string{}
		for _, p := range ps {
			if p.err != nil {
				continue
			}
			if other, dup := seen[p.res.Version]; dup {
				t.Errorf("workflows %s and %s both report version %d", other, p.id, p.res.Version)
			}
			seen[p.res.Version] = p.id
		}
		mvs, err := r.direct.SearchModelVersions(context.Background(), model, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(mvs) != len(ps) {
			t.Errorf("model %s has %d versions for %d pipelines: %v", model, len(mvs), len(ps), versionNumbers(mvs))
		}
	}
	a := r.auditStore(all)
	a.requireClean(t)
	tb := a.rows("8 concurrent, one name")
	tb.add("8 concurrent, one name", "create answers lost after commit", r.px.Stats().Total())
	report(t, tb)
}

// TestConcurrentPromotions: rounds of 2-3 pipelines promote the same alias
// at once (two workers, so their promote steps really run in parallel; the
// alias's keeper workflow serializes them). After every round:
//   - the alias is on the highest version whose pipeline passed verification
//     (tagged verified), and that pipeline completed;
//   - no failed pipeline's version holds the alias;
//   - every failure is AliasConflict (an older version arriving after a
//     newer one), never another type.
//
// On MLflow the proxy also holds every alias set a moment, as a slow server
// would, and counts sets that arrive while another is held: serialized
// changes never overlap.
func TestConcurrentPromotions(t *testing.T) {
	for _, st := range []struct {
		name  string
		local bool
	}{{"mlflow", false}, {"local", true}} {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			concurrentPromotions(t, newRig(t, rigOptions{localStore: st.local}), st.name)
		})
	}
}

func concurrentPromotions(t *testing.T, r *rig, storeName string) {
	var mu sync.Mutex
	held, overlaps := 0, 0
	r.px.SetRules(faultproxy.Rule{Method: http.MethodPost, Path: regexp.MustCompile(`/registered-models/alias$`), Before: func(*http.Request) {
		mu.Lock()
		if held > 0 {
			overlaps++
		}
		held++
		mu.Unlock()
		time.Sleep(200 * time.Millisecond) // a slow server: widens the window a concurrent set would hit
		mu.Lock()
		held--
		mu.Unlock()
	}})
	r.startWorker()
	r.startWorker() // two workers: promotions really run in parallel
	model := r.prefix + "-champ"
	rounds := pick(3, 50)
	var all []*pipeline
	outcomes := map[string]int{}
	ctx := context.Background()
	start := time.Now()
	for round := range rounds {
		n := 2 + round%2
		var ps []*pipeline
		for i := range n {
			ps = append(ps, r.start(fmt.Sprintf("%s-r%d-%d", r.prefix, round, i), request(model, "champion", float64(round*10+i), 0)))
		}
		r.wait(5*time.Minute, ps...)
		all = append(all, ps...)
		versionOf := map[*pipeline]int{}
		for _, p := range ps {
			kind := "completed"
			if p.err != nil {
				kind = errorType(p.err)
			}
			outcomes[kind]++
			if p.err != nil && kind != string(failure.AliasConflict) {
				t.Errorf("round %d: %s failed with %v, want success or AliasConflict", round, p.id, p.err)
			}
			mvs, err := r.direct.SearchModelVersions(ctx, model, vocab.TagWorkflowID, p.id)
			if err != nil || len(mvs) != 1 {
				t.Fatalf("round %d: %s has versions %v (%v), want exactly one", round, p.id, versionNumbers(mvs), err)
			}
			versionOf[p] = mvs[0].Version
		}
		// The highest verified version of the model, over every round.
		mvs, err := r.direct.SearchModelVersions(ctx, model, "", "")
		if err != nil {
			t.Fatal(err)
		}
		highest := 0
		for _, mv := range mvs {
			if mv.Tags[vocab.TagVerified] == "true" && mv.Version > highest {
				highest = mv.Version
			}
		}
		got, err := r.direct.GetModelVersionByAlias(ctx, model, "champion")
		if err != nil {
			t.Fatalf("round %d: read alias: %v", round, err)
		}
		if got.Version != highest {
			t.Errorf("round %d: alias on version %d, want the highest verified version %d (a lost update)", round, got.Version, highest)
		}
		for _, p := range ps {
			if p.err != nil && versionOf[p] == got.Version {
				t.Errorf("round %d: %s failed (%v) but its version %d holds the alias", round, p.id, p.err, got.Version)
			}
			if versionOf[p] == highest && p.err != nil {
				t.Errorf("round %d: %s registered the highest verified version %d but failed: %v", round, p.id, highest, p.err)
			}
		}
	}
	wall := time.Since(start).Round(time.Second)
	mu.Lock()
	overlapping := overlaps
	mu.Unlock()
	if overlapping > 0 {
		t.Errorf("%d alias sets reached the server while another set of the same alias was in flight; changes of one alias must be serialized", overlapping)
	}
	a := r.auditStore(all)
	scenario := "concurrent promotions (" + storeName + ")"
	tb := a.rows(scenario)
	tb.add(scenario, "rounds (2-3 pipelines each)", rounds)
	tb.add(scenario, "outcomes", fmtCounts(outcomes))
	tb.add(scenario, "wall time of the rounds", wall)
	if storeName == "mlflow" {
		tb.add(scenario, "overlapping alias sets at the server", overlapping)
	}
	report(t, tb)
}
