package mlflow

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigFromEnv(t *testing.T) {
	cfg, err := ConfigFromEnv(envOf(map[string]string{
		"MLFLOW_TRACKING_URI":                "https://mlflow.example:8443/prefix",
		"MLFLOW_TRACKING_USERNAME":           "bob",
		"MLFLOW_TRACKING_PASSWORD":           "pa55word",
		"MLFLOW_HTTP_REQUEST_MAX_RETRIES":    "3",
		"MLFLOW_HTTP_REQUEST_TIMEOUT":        "2.5",
		"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.5",
		"MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxRetries != 3 || cfg.Timeout != 2500*time.Millisecond || cfg.BackoffFactor != 500*time.Millisecond || cfg.BackoffJitter != 0 {
		t.Errorf("cfg = %+v", cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.registry.String() != "https://mlflow.example:8443/prefix" {
		t.Errorf("registry defaults to tracking, got %s", c.registry)
	}
	if got := c.Describe(); got != "MLflow server https://mlflow.example:8443/prefix" {
		t.Errorf("Describe = %q", got)
	}
	if got := c.UIURL("my model", 3); got != "https://mlflow.example:8443/prefix/#/models/my%20model/versions/3" {
		t.Errorf("UIURL = %q", got)
	}
	for _, s := range []string{cfg.String(), c.Describe()} {
		if strings.Contains(s, "pa55word") {
			t.Errorf("%q leaks the password", s)
		}
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "config", cfg)
	if strings.Contains(logs.String(), "pa55word") {
		t.Errorf("slog output leaks the password: %s", logs.String())
	}

	defaults, err := ConfigFromEnv(envOf(map[string]string{"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}))
	if err != nil || defaults.MaxRetries != DefaultMaxRetries || defaults.Timeout != DefaultTimeout {
		t.Errorf("defaults = %+v, %v", defaults, err)
	}
	none, _ := ConfigFromEnv(envOf(map[string]string{"MLFLOW_TRACKING_URI": "http://h", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}))
	if none.withDefaults().MaxRetries != 0 {
		t.Errorf("MLFLOW_HTTP_REQUEST_MAX_RETRIES=0 must mean no retries, got %d", none.withDefaults().MaxRetries)
	}
}

func TestConfigFromEnvErrors(t *testing.T) {
	base := "http://127.0.0.1:5000"
	tests := map[string]map[string]string{
		"MLFLOW_TRACKING_URI":                {},
		"MLFLOW_TRACKING_URI=ftp":            {"MLFLOW_TRACKING_URI": "ftp://x"},
		"MLFLOW_REGISTRY_URI":                {"MLFLOW_TRACKING_URI": base, "MLFLOW_REGISTRY_URI": "databricks-uc"},
		"MLFLOW_HTTP_REQUEST_MAX_RETRIES":    {"MLFLOW_TRACKING_URI": base, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "11"},
		"MLFLOW_HTTP_REQUEST_MAX_RETRIES=x":  {"MLFLOW_TRACKING_URI": base, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "x"},
		"MLFLOW_HTTP_REQUEST_TIMEOUT":        {"MLFLOW_TRACKING_URI": base, "MLFLOW_HTTP_REQUEST_TIMEOUT": "-1"},
		"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": {"MLFLOW_TRACKING_URI": base, "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "fast"},
		"MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": {"MLFLOW_TRACKING_URI": base, "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "NaN"},
		"MLFLOW_TRACKING_INSECURE_TLS":       {"MLFLOW_TRACKING_URI": base, "MLFLOW_TRACKING_INSECURE_TLS": "maybe"},
		"MLFLOW_TRACKING_SERVER_CERT_PATH":   {"MLFLOW_TRACKING_URI": base, "MLFLOW_TRACKING_INSECURE_TLS": "true", "MLFLOW_TRACKING_SERVER_CERT_PATH": "/ca.pem"},
	}
	for want, env := range tests {
		t.Run(want, func(t *testing.T) {
			_, err := ConfigFromEnv(envOf(env))
			wantCode(t, err, failure.InvalidConfig)
			if name, _, _ := strings.Cut(want, "="); !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name %s", err, name)
			}
		})
	}
	_, err := New(Config{TrackingURI: "http://h", ServerCertPath: "/nonexistent/ca.pem"})
	wantCode(t, err, failure.InvalidConfig)
	_, err = New(Config{TrackingURI: "http://user:secret@h"})
	if err != nil {
		t.Fatal(err)
	}
}

func TestInsecureTLSWarns(t *testing.T) {
	var logs bytes.Buffer
	_, err := New(Config{TrackingURI: "https://h", InsecureTLS: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil || !strings.Contains(logs.String(), "INSECURE_TLS") {
		t.Errorf("err %v, logs %q; want a warning", err, logs.String())
	}
}

func TestDescribeHidesUserinfo(t *testing.T) {
	c, err := New(Config{TrackingURI: "http://user:secret@h:5000/"})
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Describe(); d != "MLflow server http://h:5000" {
		t.Errorf("Describe = %q", d)
	}
}

func TestQuoteFilterValue(t *testing.T) {
	for in, want := range map[string]string{"v": "'v'", "it's": `"it's"`, `say "hi"`: `'say "hi"'`, "": "''"} {
		if got, err := quoteFilterValue(in); err != nil || got != want {
			t.Errorf("quoteFilterValue(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`a\b`, `it's "x"`} {
		_, err := quoteFilterValue(bad)
		wantCode(t, err, failure.InvalidArgument)
	}
}
