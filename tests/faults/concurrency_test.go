package faults

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/faultproxy"
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
// at once. After each round the alias is on the highest verified version of
// the model; every pipeline either completed or failed with AliasConflict;
// the one that registered the highest version always completed.
func TestConcurrentPromotions(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.startWorker()
	r.startWorker() // two workers: promotions really run in parallel
	model := r.prefix + "-champ"
	rounds := pick(3, 20)
	var all []*pipeline
	outcomes := map[string]int{}
	ctx := context.Background()
	for round := range rounds {
		n := 2 + round%2
		var ps []*pipeline
		for i := range n {
			ps = append(ps, r.start(fmt.Sprintf("%s-r%d-%d", r.prefix, round, i), request(model, "champion", float64(round*10+i), 0)))
		}
		r.wait(5*time.Minute, ps...)
		all = append(all, ps...)
		highest := 0
		var highestP *pipeline
		for _, p := range ps {
			kind := "completed"
			if p.err != nil {
				kind = errorType(p.err)
			}
			outcomes[kind]++
			if p.err != nil && kind != string(failure.AliasConflict) {
				t.Errorf("round %d: %s failed with %v, want success or AliasConflict", round, p.id, p.err)
				continue
			}
			mvs, err := r.direct.SearchModelVersions(ctx, model, activities.TagWorkflowID, p.id)
			if err != nil || len(mvs) != 1 {
				t.Fatalf("round %d: %s has versions %v (%v), want exactly one", round, p.id, versionNumbers(mvs), err)
			}
			if mvs[0].Version > highest {
				highest, highestP = mvs[0].Version, p
			}
		}
		if highestP.err != nil {
			t.Errorf("round %d: %s registered the highest version %d but failed: %v", round, highestP.id, highest, highestP.err)
		}
		got, err := r.direct.GetModelVersionByAlias(ctx, model, "champion")
		if err != nil {
			t.Fatalf("round %d: read alias: %v", round, err)
		}
		if got.Version != highest {
			t.Errorf("round %d: alias on version %d, want the highest verified version %d (a lost update)", round, got.Version, highest)
		}
	}
	a := r.auditStore(all)
	tb := a.rows("concurrent promotions")
	tb.add("concurrent promotions", "rounds (2-3 pipelines each)", rounds)
	tb.add("concurrent promotions", "outcomes", fmtCounts(outcomes))
	report(t, tb)
}
