package localstore

import (
	"context"
	"database/sql"

	"github.com/flavorflow/flavorflow/failure"
)

// schemaVersion is stored in the schema_version table. Bump it with a
// migration step when the tables change; a database from a newer flavorflow
// is refused rather than silently misread.
const schemaVersion = 1

// Rows are returned in rowid order where the contract asks for creation
// order, so no table needs a separate sequence column.
const schema = `
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS experiments (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	artifact_location TEXT NOT NULL,
	created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS experiment_tags (
	experiment_id INTEGER NOT NULL REFERENCES experiments(id),
	key TEXT NOT NULL, value TEXT NOT NULL,
	PRIMARY KEY (experiment_id, key)
);
CREATE TABLE IF NOT EXISTS runs (
	id TEXT PRIMARY KEY,
	experiment_id INTEGER NOT NULL REFERENCES experiments(id),
	name TEXT NOT NULL, status TEXT NOT NULL,
	start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,
	artifact_uri TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_experiment ON runs(experiment_id);
CREATE TABLE IF NOT EXISTS run_params (
	run_id TEXT NOT NULL REFERENCES runs(id),
	key TEXT NOT NULL, value TEXT NOT NULL,
	PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS run_tags (
	run_id TEXT NOT NULL REFERENCES runs(id),
	key TEXT NOT NULL, value TEXT NOT NULL,
	PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS run_metrics (
	run_id TEXT NOT NULL REFERENCES runs(id),
	key TEXT NOT NULL, value REAL NOT NULL,
	ts_ms INTEGER NOT NULL, step INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS run_metrics_run ON run_metrics(run_id, key);
CREATE TABLE IF NOT EXISTS run_outputs (
	run_id TEXT NOT NULL REFERENCES runs(id),
	model_id TEXT NOT NULL REFERENCES logged_models(id),
	PRIMARY KEY (run_id, model_id)
);
CREATE TABLE IF NOT EXISTS logged_models (
	id TEXT PRIMARY KEY,
	experiment_id INTEGER NOT NULL REFERENCES experiments(id),
	name TEXT NOT NULL, source_run_id TEXT NOT NULL, model_type TEXT NOT NULL,
	status TEXT NOT NULL, artifact_uri TEXT NOT NULL, created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS logged_models_experiment ON logged_models(experiment_id);
CREATE TABLE IF NOT EXISTS logged_model_params (
	model_id TEXT NOT NULL REFERENCES logged_models(id),
	key TEXT NOT NULL, value TEXT NOT NULL,
	PRIMARY KEY (model_id, key)
);
CREATE TABLE IF NOT EXISTS logged_model_tags (
	model_id TEXT NOT NULL REFERENCES logged_models(id),
	key TEXT NOT NULL, value TEXT NOT NULL,
	PRIMARY KEY (model_id, key)
);
-- Points logged with a model ID (MLflow 3's logged_model_metrics); the
-- run's copy of each point is in run_metrics. Added after schema 1 without
-- a version bump: a store written before it simply has none, and an older
-- flavorflow reading a newer store misses only these rows.
CREATE TABLE IF NOT EXISTS logged_model_metrics (
	model_id TEXT NOT NULL REFERENCES logged_models(id),
	key TEXT NOT NULL, value REAL NOT NULL,
	ts_ms INTEGER NOT NULL, step INTEGER NOT NULL,
	run_id TEXT NOT NULL REFERENCES runs(id),
	dataset_name TEXT NOT NULL, dataset_digest TEXT NOT NULL,
	PRIMARY KEY (model_id, key, ts_ms, step, run_id)
);
-- Datasets and run inputs (MLflow's datasets and inputs tables): a dataset
-- is (experiment, name, digest), first writer wins; an input is (run,
-- dataset), first tags win. Added after schema 1 without a version bump,
-- like logged_model_metrics: an older store has no inputs.
CREATE TABLE IF NOT EXISTS datasets (
	experiment_id INTEGER NOT NULL REFERENCES experiments(id),
	name TEXT NOT NULL, digest TEXT NOT NULL,
	source_type TEXT NOT NULL, source TEXT NOT NULL,
	schema TEXT NOT NULL, profile TEXT NOT NULL,
	PRIMARY KEY (experiment_id, name, digest)
);
CREATE TABLE IF NOT EXISTS run_inputs (
	run_id TEXT NOT NULL REFERENCES runs(id),
	experiment_id INTEGER NOT NULL,
	name TEXT NOT NULL, digest TEXT NOT NULL,
	tags TEXT NOT NULL, -- JSON object
	PRIMARY KEY (run_id, name, digest),
	FOREIGN KEY (experiment_id, name, digest) REFERENCES datasets(experiment_id, name, digest)
);
CREATE TABLE IF NOT EXISTS registered_models (
	name TEXT PRIMARY KEY,
	created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS registered_model_tags (
	name TEXT NOT NULL REFERENCES registered_models(name),
	key TEXT NOT NULL, value TEXT NOT NULL,
	PRIMARY KEY (name, key)
);
CREATE TABLE IF NOT EXISTS model_versions (
	name TEXT NOT NULL REFERENCES registered_models(name),
	version INTEGER NOT NULL,
	source TEXT NOT NULL, run_id TEXT NOT NULL, model_id TEXT NOT NULL,
	status TEXT NOT NULL, status_message TEXT NOT NULL,
	storage_location TEXT NOT NULL, created_ms INTEGER NOT NULL,
	PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS model_version_tags (
	name TEXT NOT NULL, version INTEGER NOT NULL,
	key TEXT NOT NULL, value TEXT NOT NULL,
	PRIMARY KEY (name, version, key),
	FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
);
CREATE TABLE IF NOT EXISTS model_aliases (
	name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
	PRIMARY KEY (name, alias),
	FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
);
`

// migrate creates the schema if needed. It runs in one immediate transaction,
// so two processes opening a fresh directory at once do it one after the other.
func (s *Store) migrate(ctx context.Context) error {
	return s.write(ctx, "create local store schema", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, schema); err != nil {
			return err
		}
		var v int
		err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
		switch {
		case err == sql.ErrNoRows:
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, schemaVersion); err != nil {
				return err
			}
		case err != nil:
			return err
		case v > schemaVersion:
			return failure.New(failure.InvalidConfig, "local store %s has schema version %d, newer than this flavorflow's %d", s.dir, v, schemaVersion)
		}
		// MLflow's Default experiment, present from the start.
		_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO experiments (id, name, artifact_location, created_ms) VALUES (0, 'Default', ?, ?)`,
			experimentLocation(0), nowMs())
		return err
	})
}
