package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/flavorflow/flavorflow/config"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
)

// MultipartJournalDir is the directory below the work directory that keeps
// the state of parted uploads (mlflow.Config.MultipartJournalDir). The
// janitor removes it like a workflow directory once nothing in it changed
// for work_dir_ttl.
const MultipartJournalDir = ".mlflow-uploads"

// MLflowConfig is the REST client's configuration for the server at uri,
// from the mlflow section (MLFLOW_* variables, as the configuration loaded
// them) and the worker's upload and HTTP tuning (zero values keep the
// client's defaults).
func MLflowConfig(uri string, m config.MLflow, w config.Worker) mlflow.Config {
	retries := m.MaxRetries
	if retries == 0 {
		retries = -1 // the setting's 0 is "no retries"; the client's 0 is its default
	}
	return mlflow.Config{
		TrackingURI: uri, RegistryURI: m.RegistryURI,
		Username: m.Username, Password: m.Password, Token: m.Token,
		InsecureTLS: m.InsecureTLS, ServerCertPath: m.ServerCertPath, ClientCertPath: m.ClientCertPath,
		MaxRetries: retries, Timeout: time.Duration(m.Timeout),
		BackoffFactor: time.Duration(m.BackoffFactor), BackoffJitter: time.Duration(m.BackoffJitter),
		UploadParallelism: w.UploadParallelism, HTTPPoolSize: w.HTTPPoolSize,
		MultipartPartSize: w.MultipartPartSize, MultipartThreshold: w.MultipartThreshold,
		// Beside the workflow directories: an attempt after a killed worker
		// on this host resumes a parted upload from there.
		MultipartJournalDir: journalDir(w.WorkDir),
	}
}

func journalDir(workDir string) string {
	if workDir == "" {
		return ""
	}
	return filepath.Join(workDir, MultipartJournalDir)
}

// openMLflow builds the REST client for the tracking URI the configuration
// resolved (flag, env or temporal-dev.yml).
func openMLflow(_ context.Context, uri string, logger *slog.Logger, o storeOptions) (store.Store, error) {
	cfg := MLflowConfig(uri, o.mlflow, o.tuning)
	cfg.Logger = logger
	if o.wrapTransport != nil {
		tr, err := mlflow.NewTransport(cfg)
		if err != nil {
			return nil, err
		}
		cfg.Transport = o.wrapTransport(tr)
	}
	return mlflow.New(cfg)
}
