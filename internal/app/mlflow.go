package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
)

// MultipartJournalDir is the directory below the work directory that keeps
// the state of parted uploads (mlflow.Config.MultipartJournalDir). The
// janitor removes it like a workflow directory once nothing in it changed
// for work_dir_ttl.
const MultipartJournalDir = ".mlflow-uploads"

// openMLflow builds the REST client from MLFLOW_* variables, with the
// tracking URI the configuration resolved (flag, env or temporal-dev.yml).
func openMLflow(_ context.Context, uri string, logger *slog.Logger, o storeOptions) (store.Store, error) {
	cfg, err := mlflow.ConfigFromEnv(func(k string) (string, bool) {
		if k == "MLFLOW_TRACKING_URI" {
			return uri, true
		}
		return os.LookupEnv(k)
	})
	if err != nil {
		return nil, err
	}
	cfg.Logger = logger
	t := o.tuning
	cfg.UploadParallelism, cfg.HTTPPoolSize = t.UploadParallelism, t.HTTPPoolSize
	cfg.MultipartPartSize, cfg.MultipartThreshold = t.MultipartPartSize, t.MultipartThreshold
	if t.WorkDir != "" {
		// Beside the workflow directories: an attempt after a killed worker
		// on this host resumes a parted upload from there.
		cfg.MultipartJournalDir = filepath.Join(t.WorkDir, MultipartJournalDir)
	}
	if o.wrapTransport != nil {
		tr, err := mlflow.NewTransport(cfg)
		if err != nil {
			return nil, err
		}
		cfg.Transport = o.wrapTransport(tr)
	}
	return mlflow.New(cfg)
}
