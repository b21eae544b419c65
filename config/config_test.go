package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadRepoFile(t *testing.T) {
	cfg, err := Load("../temporal-dev.yml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Temporal.TaskQueue != "flavorflow" || cfg.DevServer.SearchAttributes["ModelVersion"] != "Int" {
		t.Fatalf("unexpected %+v", cfg)
	}
	if !filepath.IsAbs(cfg.Store.TrackingURI) || !filepath.IsAbs(cfg.Worker.WorkDir) {
		t.Fatalf("paths not resolved: %q %q", cfg.Store.TrackingURI, cfg.Worker.WorkDir)
	}
	args := strings.Join(cfg.DevServerArgs(), " ")
	for _, want := range []string{"--search-attribute ModelName=Keyword", "--search-attribute ModelVersion=Int", "--dynamic-config-value system.enableActivityEagerExecution=true", "--db-filename /"} {
		if !strings.Contains(args, want) {
			t.Errorf("dev server args lack %q: %s", want, args)
		}
	}
}

func TestEnvOverridesFile(t *testing.T) {
	cfg, err := Load("../temporal-dev.yml", env(map[string]string{
		"TEMPORAL_ADDRESS": "10.0.0.1:7233", "MLFLOW_TRACKING_URI": "http://mlflow:5000", "FLAVORFLOW_UPLOAD_PARALLELISM": "8",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Temporal.Address != "10.0.0.1:7233" || cfg.Store.TrackingURI != "http://mlflow:5000" || cfg.Worker.UploadParallelism != 8 {
		t.Fatalf("env not applied: %+v", cfg)
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown-key": "temporal:\n  adress: x\n",
		"bad-type":    "worker:\n  upload_parallelism: many\n",
		"bad-sa":      "dev_server:\n  search_attributes:\n    X: Blob\n",
		"zero-par":    "worker:\n  upload_parallelism: 0\n",
	} {
		p := filepath.Join(dir, name+".yml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p, env(nil)); failure.CodeOf(err) != failure.InvalidConfig {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := Load("", env(map[string]string{"FLAVORFLOW_UPLOAD_PARALLELISM": "x"})); failure.CodeOf(err) != failure.InvalidConfig {
		t.Errorf("bad env: %v", err)
	}
}

func TestTuningFromEnv(t *testing.T) {
	cfg, err := Load("../temporal-dev.yml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if d := Defaults().Worker; cfg.Worker.EagerActivities != d.EagerActivities || cfg.Worker.MultipartPartSize != d.MultipartPartSize ||
		cfg.Worker.MultipartThreshold != d.MultipartThreshold || cfg.Worker.HTTPPoolSize != d.HTTPPoolSize {
		t.Errorf("temporal-dev.yml tuning %+v differs from the defaults %+v", cfg.Worker, d)
	}
	cfg, err = Load("../temporal-dev.yml", env(map[string]string{
		"FLAVORFLOW_MAX_CONCURRENT_WORKFLOW_TASKS": "32", "FLAVORFLOW_EAGER_ACTIVITIES": "false",
		"MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": "67108864", "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": "1", "MLFLOW_HTTP_POOL_MAXSIZE": "64",
	}))
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Worker
	if w.MaxConcurrentWorkflowTasks != 32 || w.EagerActivities || w.MultipartPartSize != 64<<20 || w.MultipartThreshold != 1 || w.HTTPPoolSize != 64 {
		t.Fatalf("env not applied: %+v", w)
	}
	for k, v := range map[string]string{"FLAVORFLOW_EAGER_ACTIVITIES": "sometimes", "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": "1024", "MLFLOW_HTTP_POOL_MAXSIZE": "-1"} {
		if _, err := Load("../temporal-dev.yml", env(map[string]string{k: v})); failure.CodeOf(err) != failure.InvalidConfig {
			t.Errorf("%s=%s: err = %v", k, v, err)
		}
	}
}
