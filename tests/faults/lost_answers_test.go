package faults

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
)

// writeRules lose the answer of the first n requests to every endpoint that
// changes the store, after the server committed them, rotating through the
// three ways an answer gets lost.
func writeRules(n int) []faultproxy.Rule {
	endpoints := []struct{ method, path string }{
		{http.MethodPost, `/experiments/create$`},
		{http.MethodPost, `/runs/create$`},
		{http.MethodPost, `/runs/log-batch$`},
		{http.MethodPost, `/runs/outputs$`},
		{http.MethodPost, `/runs/log-inputs$`},
		{http.MethodPost, `/runs/update$`},
		{http.MethodPost, `/logged-models$`},
		{http.MethodPatch, `/logged-models/[^/]+$`},
		{http.MethodPatch, `/logged-models/[^/]+/tags$`},
		{http.MethodPut, `/mlflow-artifacts/artifacts/.*MLmodel$`},
		{http.MethodPut, `/mlflow-artifacts/artifacts/.*manifest[^/]*$`},
		{http.MethodPost, `/registered-models/create$`},
		{http.MethodPost, `/model-versions/create$`},
		{http.MethodPost, `/model-versions/set-tag$`},
		{http.MethodPost, `/registered-models/alias$`},
	}
	actions := []faultproxy.Action{faultproxy.Close, faultproxy.BadGateway, faultproxy.GatewayTimeout}
	rules := make([]faultproxy.Rule, len(endpoints))
	for i, e := range endpoints {
		rules[i] = faultproxy.Rule{Method: e.method, Path: regexp.MustCompile(e.path), Action: actions[i%len(actions)], Count: n}
	}
	return rules
}

// TestLostAnswersAfterCommit: every write's answer is lost after MLflow
// committed it (connection closed, 502, 504), the first n times. Each
// pipeline still ends with exactly one run, logged model and version.
func TestLostAnswersAfterCommit(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	n := pick(2, 6)
	r.px.SetRules(writeRules(n)...)
	r.startWorker()
	var ps []*pipeline
	for i := range n {
		ps = append(ps, r.start(fmt.Sprintf("%s-%d", r.prefix, i), request(fmt.Sprintf("%s-m%d", r.prefix, i), "champion", float64(i), 1<<20)))
	}
	r.wait(5*time.Minute, ps...)
	a := r.auditStore(ps)
	a.requireClean(t)
	st := r.px.Stats()
	if st.Total() == 0 {
		t.Fatal("no answer was lost: the scenario tested nothing")
	}
	tb := a.rows("lost answers")
	tb.add("lost answers", "answers lost after commit", fmt.Sprintf("%d (of %d requests)", st.Total(), st.Requests))
	report(t, tb)
}
