package faults

import (
	"context"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
)

// constraintRace is MLflow 3.17.2's answer when two first-time sets of one
// alias race on its sqlite backend (seen in a `make test` from a fresh
// clone). It is a 400, but the request was valid.
const constraintRace = `{"error_code": "INVALID_PARAMETER_VALUE", "message": "(sqlite3.IntegrityError) UNIQUE constraint failed: registered_model_aliases.name, registered_model_aliases.alias\n[SQL: INSERT INTO registered_model_aliases (alias, version, name) VALUES (?, ?, ?)]"}`

// TestPromoteRetriesConstraintRace: the alias set answers the database's
// unique-constraint error twice. That is a conflict to retry (WriteConflict),
// not bad input: the pipeline completes and the alias is on its version.
// Before the fix it was a non-retryable InvalidArgument and the pipeline
// failed with its version registered, verified and not promoted.
func TestPromoteRetriesConstraintRace(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.px.SetRules(faultproxy.Rule{
		Method: http.MethodPost, Path: regexp.MustCompile(`/registered-models/alias$`),
		Action: faultproxy.Reply, Status: http.StatusBadRequest, Body: constraintRace, Count: 2,
	})
	r.startWorker()
	model := r.prefix + "-race"
	p := r.start(r.prefix+"-p", request(model, "champion", 3, 0))
	r.wait(5*time.Minute, p)
	if p.err != nil {
		t.Fatalf("pipeline failed: %v (a constraint race must be retried)", p.err)
	}
	if got := r.px.Stats().Faults; got["POST /registered-models/alias$ reply"] != 2 {
		t.Fatalf("canned answers given: %v, want 2", got)
	}
	mv, err := r.direct.GetModelVersionByAlias(context.Background(), model, "champion")
	if err != nil || mv.Version != p.res.Version {
		t.Fatalf("alias: %v %v, want version %d", mv, err, p.res.Version)
	}
}
