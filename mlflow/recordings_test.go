package mlflow

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

const nginx502 = `<html>
<head><title>502 Bad Gateway</title></head>
<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx/1.25.3</center></body>
</html>`

func TestRecordedBadInputs(t *testing.T) {
	ctx := context.Background()
	ready := loadRecording(t, "model_version_ready")
	getVersion := func(c *Client) error { _, err := c.GetModelVersion(ctx, "M1", 1); return err }
	tests := []struct {
		name     string
		h        http.Handler
		call     func(c *Client) error
		code     failure.Code
		attempts int32 // 0: don't check
		contains string
	}{
		{"html 502 page is retried, then ServerUnavailable",
			recording{Status: 502, ContentType: "text/html", Body: nginx502}, getVersion, failure.ServerUnavailable, 4, "502 Bad Gateway"},
		{"html on 200 is BadResponse",
			recording{Status: 200, ContentType: "text/html", Body: nginx502}, getVersion, failure.BadResponse, 1, "<html>"},
		{"truncated JSON body is ServerUnavailable after retries",
			recording{Status: 200, ContentType: "application/json", Body: ready.Body[:len(ready.Body)/2]}, getVersion, failure.ServerUnavailable, 4, ""},
		{"wrong shape JSON is BadResponse",
			recording{Status: 200, ContentType: "application/json", Body: `{"model_version": [1, 2]}`}, getVersion, failure.BadResponse, 1, "expected a JSON object"},
		{"search page token of the wrong type is BadResponse",
			recording{Status: 200, ContentType: "application/json", Body: `{"runs": [], "next_page_token": 7}`}, func(c *Client) error { _, err := c.SearchRunsByTag(ctx, "1", "k", "v"); return err }, failure.BadResponse, 1, "next_page_token"},
		{"search list of the wrong type is BadResponse",
			recording{Status: 200, ContentType: "application/json", Body: `{"models": {"a": 1}}`}, func(c *Client) error { _, err := c.SearchLoggedModelsByTag(ctx, "1", "k", "v"); return err }, failure.BadResponse, 1, "a list of models"},
		{"missing envelope is BadResponse",
			recording{Status: 200, ContentType: "application/json", Body: `{}`}, getVersion, failure.BadResponse, 1, "expected a model_version"},
		{"missing alias (400 INVALID_PARAMETER_VALUE) is NotFound",
			loadRecording(t, "alias_missing"), func(c *Client) error { _, err := c.GetModelVersionByAlias(ctx, "M1", "nope"); return err }, failure.NotFound, 1, "alias nope not found"},
		{"missing version is NotFound",
			loadRecording(t, "model_version_missing"), getVersion, failure.NotFound, 1, ""},
		{"duplicate registered model (HTTP 400) is AlreadyExists, not retried",
			loadRecording(t, "registered_model_exists"), func(c *Client) error { _, err := c.CreateRegisteredModel(ctx, "M1", nil); return err }, failure.AlreadyExists, 1, ""},
		{"version stuck in PENDING_REGISTRATION is VersionNotReady",
			ready.edit(`"READY"`, `"PENDING_REGISTRATION"`), createVersion, failure.VersionNotReady, 0, "PENDING_REGISTRATION"},
		{"FAILED_REGISTRATION is RegistrationFailed",
			ready.edit(`"status": "READY",`, `"status": "FAILED_REGISTRATION", "status_message": "copy failed",`), createVersion, failure.RegistrationFailed, 1, "copy failed"},
		{"listing with .. is InvalidPath",
			loadRecording(t, "list_artifacts").edit(`"MLmodel"`, `"../../etc"`), listRoot, failure.InvalidPath, 1, ".."},
		{"listing with an absolute name is InvalidPath",
			loadRecording(t, "list_artifacts").edit(`"MLmodel"`, `"/etc/passwd"`), listRoot, failure.InvalidPath, 1, ""},
		{"listing with a backslash is InvalidPath",
			loadRecording(t, "list_artifacts").edit(`"MLmodel"`, `"a\\\\..\\\\b"`), listRoot, failure.InvalidPath, 1, ""},
		{"listing with a control character is InvalidPath",
			loadRecording(t, "list_artifacts").edit(`"MLmodel"`, `"a\u0000b"`), listRoot, failure.InvalidPath, 1, ""},
		{"listing with a nested name is InvalidPath",
			loadRecording(t, "list_artifacts").edit(`"MLmodel"`, `"x/y"`), listRoot, failure.InvalidPath, 1, ""},
		{"501 from mpu create is NotImplemented",
			loadRecording(t, "mpu_create_local"), func(c *Client) error { return c.call(ctx, create, http.MethodPost, "x", nil, map[string]any{}, nil) }, failure.NotImplemented, 1, "not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := countingServer(t, tc.h)
			err := tc.call(fastClient(t, srv.URL))
			wantCode(t, err, tc.code)
			if tc.attempts != 0 && n.Load() != tc.attempts {
				t.Errorf("%d requests, want %d", n.Load(), tc.attempts)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}

func createVersion(c *Client) error {
	_, err := c.CreateModelVersion(context.Background(), store.CreateModelVersionRequest{Name: "M1", Source: "models:/m-1"})
	return err
}

func listRoot(c *Client) error {
	_, err := c.ListArtifacts(context.Background(), "mlflow-artifacts:/1/models/m-1/artifacts", "")
	return err
}

func TestRecordedGoodAnswers(t *testing.T) {
	ctx := context.Background()
	t.Run("unknown fields are ignored", func(t *testing.T) {
		rec := loadRecording(t, "model_version_ready").edit(`"run_link": ""`, `"run_link": "", "future_field": {"x": [1]}, "deployment_job_state": {}`)
		mux := http.NewServeMux()
		mux.Handle("/api/2.0/mlflow/model-versions/get", rec)
		mux.Handle("/api/2.0/mlflow/model-versions/get-download-uri", recording{Status: 200, ContentType: "application/json", Body: `{"artifact_uri": "mlflow-artifacts:/1/models/m-8f43a6f33f314d43b5c3ee5d71634fe2/artifacts", "extra": 1}`})
		srv, _ := countingServer(t, mux)
		mv, err := fastClient(t, srv.URL).GetModelVersion(ctx, "M1", 1)
		if err != nil {
			t.Fatal(err)
		}
		if mv.Version != 1 || mv.Status != store.VersionReady || mv.ModelID != "m-8f43a6f33f314d43b5c3ee5d71634fe2" ||
			mv.Tags["k2"] != "v2" || mv.StorageLocation != "mlflow-artifacts:/1/models/m-8f43a6f33f314d43b5c3ee5d71634fe2/artifacts" {
			t.Fatalf("version = %+v", mv)
		}
	})
	t.Run("run with outputs", func(t *testing.T) {
		srv, _ := countingServer(t, loadRecording(t, "run_get"))
		r, err := fastClient(t, srv.URL).GetRun(ctx, "b9226768deb743978a0d7b718825a328")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != store.RunFinished || r.Params["p"] != "1" || len(r.Metrics) != 1 || len(r.OutputModels) != 1 {
			t.Fatalf("run = %+v", r)
		}
	})
	t.Run("empty listing is {}", func(t *testing.T) {
		srv, _ := countingServer(t, loadRecording(t, "list_empty"))
		l, err := fastClient(t, srv.URL).ListArtifacts(ctx, "mlflow-artifacts:/1", "none")
		if err != nil || len(l) != 0 {
			t.Fatalf("listing = %v, %v", l, err)
		}
	})
	t.Run("pending then ready is polled", func(t *testing.T) {
		ready := loadRecording(t, "model_version_ready")
		mux := http.NewServeMux()
		mux.Handle("/api/2.0/mlflow/model-versions/create", ready.edit(`"READY"`, `"PENDING_REGISTRATION"`))
		mux.Handle("/api/2.0/mlflow/model-versions/get", ready)
		mux.Handle("/api/2.0/mlflow/model-versions/get-download-uri", recording{Status: 200, Body: `{"artifact_uri": "mlflow-artifacts:/x"}`})
		srv, _ := countingServer(t, mux)
		mv, err := fastClient(t, srv.URL).CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: "M1", Source: "models:/m-1"})
		if err != nil || mv.Status != store.VersionReady {
			t.Fatalf("version = %+v, %v", mv, err)
		}
	})
}

func TestUnauthorizedRecording(t *testing.T) {
	srv, n := countingServer(t, loadRecording(t, "unauthorized"))
	c := fastClient(t, srv.URL, func(c *Config) { c.Username, c.Password = "admin", "hunter2-secret" })
	_, err := c.GetExperimentByName(context.Background(), "Default")
	wantCode(t, err, failure.Unauthorized)
	if n.Load() != 1 {
		t.Errorf("401 was sent %d times, want 1 (no retry)", n.Load())
	}
	if msg := err.Error(); !strings.Contains(msg, srv.URL) || strings.Contains(msg, "hunter2") {
		t.Errorf("message %q must name %s and not the password", msg, srv.URL)
	}
}
