package mlflow

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
)

// A unique-constraint error is what MLflow answers when two first-time sets
// of one alias race (its look-up-then-insert is not atomic). The request was
// valid, so it must come back as a retryable WriteConflict, never as
// InvalidArgument, which would fail a pipeline for good.
func TestConstraintRaceIsRetryableWriteConflict(t *testing.T) {
	for _, msg := range []string{
		`(sqlite3.IntegrityError) UNIQUE constraint failed: registered_model_aliases.name, registered_model_aliases.alias`,
		`(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "registered_model_alias_pk"`,
		`(pymysql.err.IntegrityError) (1062, "Duplicate entry 'm-champion' for key 'PRIMARY'")`,
	} {
		srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "INVALID_PARAMETER_VALUE", "message": msg})
		}))
		err := fastClient(t, srv.URL).SetAlias(context.Background(), "m", "champion", 1)
		if got := failure.CodeOf(err); got != failure.WriteConflict || !failure.Retryable(got) {
			t.Errorf("%s: code %s (retryable %v), want a retryable WriteConflict: %v", msg, got, failure.Retryable(got), err)
		}
	}
	// Any other 400 stays bad input.
	if got := codeFor(&APIError{Status: http.StatusBadRequest, Code: "INVALID_PARAMETER_VALUE", Message: "Invalid value 'x' for parameter 'version'"}); got != failure.InvalidArgument {
		t.Errorf("plain 400: %s, want InvalidArgument", got)
	}
}

// A foreign-key failure is also an IntegrityError, but no race: the write
// names a row that does not exist (log-batch with an unknown model_id), and
// retrying it as a WriteConflict only spent the step's time budget.
func TestForeignKeyFailureIsNotFound(t *testing.T) {
	for _, msg := range []string{
		`(sqlite3.IntegrityError) FOREIGN KEY constraint failed`,
		`(psycopg2.errors.ForeignKeyViolation) insert or update on table "logged_model_metrics" violates foreign key constraint "fk_logged_model_metrics_model_id"`,
		`(pymysql.err.IntegrityError) (1452, 'Cannot add or update a child row: a foreign key constraint fails')`,
	} {
		if got := codeFor(&APIError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: msg}); got != failure.NotFound {
			t.Errorf("%s: %s, want NotFound", msg, got)
		}
	}
}
