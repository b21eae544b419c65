package mlflow

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
)

// The MLFLOW_* variables are read by the configuration loader (config,
// where their parsing is tested); the client checks and describes what it
// is given.
func TestConfig(t *testing.T) {
	cfg := Config{TrackingURI: "https://mlflow.example:8443/prefix", Username: "bob", Password: "pa55word",
		MaxRetries: 3, Timeout: 2500 * time.Millisecond, BackoffFactor: 500 * time.Millisecond}
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
	if d := (Config{TrackingURI: "http://h"}).withDefaults(); d.MaxRetries != DefaultMaxRetries || d.Timeout != DefaultTimeout {
		t.Errorf("defaults = %+v", d)
	}
	if n := (Config{TrackingURI: "http://h", MaxRetries: -1}).withDefaults().MaxRetries; n != 0 {
		t.Errorf("MaxRetries -1 must mean no retries, got %d", n)
	}
}

func TestConfigErrors(t *testing.T) {
	base := "http://127.0.0.1:5000"
	tests := map[string]Config{
		"MLFLOW_TRACKING_URI":              {},
		"MLFLOW_TRACKING_URI=ftp":          {TrackingURI: "ftp://x"},
		"MLFLOW_REGISTRY_URI":              {TrackingURI: base, RegistryURI: "databricks-uc"},
		"MLFLOW_HTTP_REQUEST_MAX_RETRIES":  {TrackingURI: base, MaxRetries: 11},
		"MLFLOW_TRACKING_SERVER_CERT_PATH": {TrackingURI: base, InsecureTLS: true, ServerCertPath: "/ca.pem"},
	}
	for want, cfg := range tests {
		t.Run(want, func(t *testing.T) {
			_, err := New(cfg)
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
