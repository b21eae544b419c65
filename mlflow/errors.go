package mlflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/flavorflow/flavorflow/failure"
)

// APIError is a non-2xx answer from the server. It is always wrapped in a
// *failure.Error whose code says what the caller can do about it.
type APIError struct {
	Status   int
	Code     string // MLflow error_code, "" when the body was not MLflow JSON
	Message  string
	Method   string
	Endpoint string // path without query, never with credentials
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s %s: HTTP %d %s: %s", e.Method, e.Endpoint, e.Status, code, e.Message)
}

// IsNotFound reports whether err means the thing does not exist.
func IsNotFound(err error) bool { return failure.Has(err, failure.NotFound) }

// errorBody is MLflow's error JSON; FastAPI routes answer {"detail": ...}.
type errorBody struct {
	ErrorCode string          `json:"error_code"`
	Message   string          `json:"message"`
	Detail    json.RawMessage `json:"detail"`
}

// newAPIError builds an APIError from a response body that was already read
// (bounded by the caller).
func newAPIError(method, endpoint string, status int, body []byte) *APIError {
	e := &APIError{Status: status, Method: method, Endpoint: endpoint}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && (eb.ErrorCode != "" || eb.Message != "" || eb.Detail != nil) {
		e.Code, e.Message = eb.ErrorCode, eb.Message
		if e.Message == "" && eb.Detail != nil {
			var s string
			if json.Unmarshal(eb.Detail, &s) != nil {
				s = string(eb.Detail)
			}
			e.Message = s
		}
		return e
	}
	e.Message = "non-JSON body: " + prefix(body)
	return e
}

// codeFor maps an API error to a failure code. MLflow signals duplicates
// with 400 RESOURCE_ALREADY_EXISTS (not 409) and a missing alias with 400
// INVALID_PARAMETER_VALUE, so error_code and message are checked before the
// status.
func codeFor(e *APIError) failure.Code {
	switch {
	case e.Status == http.StatusUnauthorized:
		return failure.Unauthorized
	case e.Status == http.StatusForbidden:
		return failure.PermissionDenied
	case e.Code == "RESOURCE_ALREADY_EXISTS" || e.Code == "ALREADY_EXISTS":
		return failure.AlreadyExists
	case e.Code == "RESOURCE_DOES_NOT_EXIST" || e.Status == http.StatusNotFound:
		return failure.NotFound
	case e.Status == http.StatusInternalServerError && isMissingObject(e.Message):
		return failure.NotFound
	case e.Status == http.StatusBadRequest && isAliasNotFound(e.Message):
		return failure.NotFound
	case e.Status == http.StatusBadRequest && isForeignKey(e.Message):
		// The write names a row that does not exist (log-batch with an
		// unknown model_id): no retry makes it exist.
		return failure.NotFound
	case e.Status == http.StatusBadRequest && isConstraintRace(e.Message):
		return failure.WriteConflict
	case e.Status == http.StatusNotImplemented:
		return failure.NotImplemented
	case retryableStatus(e.Status):
		return failure.ServerUnavailable
	case e.Status == http.StatusBadRequest:
		return failure.InvalidArgument
	case e.Status >= 400 && e.Status < 500:
		return failure.InvalidArgument
	default:
		return failure.BadResponse
	}
}

// isMissingObject matches the 500 MLflow's proxy answers when its object
// store (S3 through boto3) has no such object or multipart upload: "An error
// occurred (404) when calling the HeadObject operation: Not Found",
// "(NoSuchKey)", "(NoSuchUpload)". A local destination answers 404 instead;
// retrying cannot make the object appear.
func isMissingObject(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "an error occurred (404)") || strings.Contains(m, "(nosuchkey)") || strings.Contains(m, "(nosuchupload)")
}

// isAliasNotFound matches "Registered model alias X not found." (3.17.2).
func isAliasNotFound(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "alias") && strings.Contains(m, "not found")
}

// isForeignKey matches the database's foreign-key error (sqlite "FOREIGN
// KEY constraint failed", PostgreSQL "violates foreign key constraint",
// MySQL "a foreign key constraint fails"), also an IntegrityError but not a
// race.
func isForeignKey(msg string) bool {
	return strings.Contains(strings.ToLower(msg), "foreign key constraint")
}

// isConstraintRace matches the database's unique-constraint error that
// MLflow passes on as a 400 (INVALID_PARAMETER_VALUE or no code) when two
// writes of the same row race: its "look up, then insert" is not atomic, so
// two first-time sets of one alias both insert and the second fails. The
// request was valid; the retry finds the row and updates it. sqlite says
// "UNIQUE constraint failed" (wrapped as sqlite3.IntegrityError), PostgreSQL
// "duplicate key value violates unique constraint", MySQL "Duplicate entry"
// (IntegrityError).
func isConstraintRace(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "integrityerror") || strings.Contains(m, "unique constraint failed") ||
		strings.Contains(m, "duplicate key value violates unique constraint")
}

// wrapAPIError turns an APIError into the failure error callers see. For 401
// the message names the server (never the credentials) so an operator knows
// which variable to fix.
func (c *Client) wrapAPIError(e *APIError) error {
	code := codeFor(e)
	switch code {
	case failure.Unauthorized:
		return failure.Wrap(code, e, "%s rejected the credentials (check MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN)", c.Describe())
	case failure.PermissionDenied:
		return failure.Wrap(code, e, "%s denied the request", c.Describe())
	}
	return failure.Wrap(code, e, "")
}

// badResponse reports a body that is not the JSON shape we expected.
func badResponse(method, endpoint, want string, body []byte, err error) error {
	if err == nil {
		return failure.New(failure.BadResponse, "%s %s: expected %s, got %s", method, endpoint, want, prefix(body))
	}
	return failure.Wrap(failure.BadResponse, err, "%s %s: expected %s, got %s", method, endpoint, want, prefix(body))
}

// prefix returns a short printable prefix of body for messages.
func prefix(body []byte) string {
	const max = 120
	s := strings.ToValidUTF8(string(body), "?")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "..."
	}
	if s == "" {
		return "an empty body"
	}
	return fmt.Sprintf("%q", s)
}

var errTruncated = errors.New("response body is truncated")
