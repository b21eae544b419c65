package localstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

const artifactScheme = "mlflow-artifacts:/"

func experimentLocation(id int64) string { return artifactScheme + strconv.FormatInt(id, 10) }

// newHex is MLflow's uuid4().hex.
func newHex() string { return strings.ReplaceAll(uuid.NewString(), "-", "") }

// parseExperimentID turns an experiment id into its integer key; anything
// that is not a number cannot name an experiment here.
func parseExperimentID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		return 0, failure.New(failure.NotFound, "experiment %q does not exist", id)
	}
	return n, nil
}

// experimentArtifactLocation returns the artifact location of an experiment
// that must exist.
func experimentArtifactLocation(ctx context.Context, tx *sql.Tx, expID int64) (string, error) {
	var loc string
	err := tx.QueryRowContext(ctx, `SELECT artifact_location FROM experiments WHERE id = ?`, expID).Scan(&loc)
	if err == sql.ErrNoRows {
		return "", failure.New(failure.NotFound, "experiment %d does not exist", expID)
	}
	return loc, err
}

func validateKeys(what string, m store.Tags) error {
	for k := range m {
		if err := vocab.ValidateTagKey(k); err != nil {
			return failure.Wrap(failure.InvalidArgument, err, "%s", what)
		}
	}
	return nil
}

// upsertKV writes every key of m into table (owner columns, key, value).
func upsertKV(ctx context.Context, tx *sql.Tx, table string, owner []any, m store.Tags) error {
	cols := ownerCols[table]
	ph := strings.Repeat("?, ", len(owner))
	q := "INSERT INTO " + table + " (" + cols + ", key, value) VALUES (" + ph + "?, ?) ON CONFLICT DO UPDATE SET value = excluded.value"
	for k, v := range m {
		if _, err := tx.ExecContext(ctx, q, append(owner, k, v)...); err != nil {
			return err
		}
	}
	return nil
}

// loadKV reads the key/value rows of table that belong to owner.
func loadKV(ctx context.Context, tx *sql.Tx, table string, owner ...any) (store.Tags, error) {
	var where []string
	for _, c := range strings.Split(ownerCols[table], ", ") {
		where = append(where, c+" = ?")
	}
	rows, err := tx.QueryContext(ctx, "SELECT key, value FROM "+table+" WHERE "+strings.Join(where, " AND "), owner...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := store.Tags{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, rows.Err()
}

// ownerCols names the owning columns of each key/value table; table names
// are constants, never input.
var ownerCols = map[string]string{
	"experiment_tags":       "experiment_id",
	"run_params":            "run_id",
	"run_tags":              "run_id",
	"logged_model_params":   "model_id",
	"logged_model_tags":     "model_id",
	"registered_model_tags": "name",
	"model_version_tags":    "name, version",
}

// exists reports whether query returns a row.
func exists(ctx context.Context, tx *sql.Tx, query string, args ...any) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, query, args...).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}

// mustExist fails with NotFound when query returns no row.
func mustExist(ctx context.Context, tx *sql.Tx, query string, args []any, format string, fargs ...any) error {
	ok, err := exists(ctx, tx, query, args...)
	if err == nil && !ok {
		return failure.New(failure.NotFound, format, fargs...)
	}
	return err
}

// mustNotExist fails with AlreadyExists when query returns a row.
func mustNotExist(ctx context.Context, tx *sql.Tx, query string, args []any, format string, fargs ...any) error {
	ok, err := exists(ctx, tx, query, args...)
	if err == nil && ok {
		return failure.New(failure.AlreadyExists, format, fargs...)
	}
	return err
}

// GetExperimentByName implements store.Tracking.
func (s *Store) GetExperimentByName(ctx context.Context, name string) (*store.Experiment, error) {
	return getOne(ctx, s, "get experiment", true, func(tx *sql.Tx) (store.Experiment, error) {
		var e store.Experiment
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id, name, artifact_location FROM experiments WHERE name = ?`, name).Scan(&id, &e.Name, &e.ArtifactLocation)
		if err == sql.ErrNoRows {
			return e, failure.New(failure.NotFound, "Could not find experiment with name '%s'", name)
		}
		if err != nil {
			return e, err
		}
		e.ID = strconv.FormatInt(id, 10)
		e.Tags, err = loadKV(ctx, tx, "experiment_tags", id)
		return e, err
	})
}

// CreateExperiment implements store.Tracking.
func (s *Store) CreateExperiment(ctx context.Context, name string, tags store.Tags) (string, error) {
	if err := vocab.ValidateExperimentName(name); err != nil {
		return "", err
	}
	if err := validateKeys("experiment tag", tags); err != nil {
		return "", err
	}
	var id int64
	err := s.write(ctx, "create experiment", func(tx *sql.Tx) error {
		if err := mustNotExist(ctx, tx, `SELECT 1 FROM experiments WHERE name = ?`, []any{name},
			"Experiment(name=%s) already exists", name); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), -1) + 1 FROM experiments`).Scan(&id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO experiments (id, name, artifact_location, created_ms) VALUES (?, ?, ?, ?)`,
			id, name, experimentLocation(id), nowMs()); err != nil {
			return err
		}
		return upsertKV(ctx, tx, "experiment_tags", []any{id}, tags)
	})
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(id, 10), nil
}

// CreateRun implements store.Tracking.
func (s *Store) CreateRun(ctx context.Context, req store.CreateRunRequest) (*store.Run, error) {
	expID, err := parseExperimentID(req.ExperimentID)
	if err != nil {
		return nil, err
	}
	if err := validateKeys("run tag", req.Tags); err != nil {
		return nil, err
	}
	runID := newHex()
	name := req.Name
	if name == "" {
		name = "run-" + runID[:8]
	}
	start := req.StartTimeMs
	if start == 0 {
		start = nowMs()
	}
	tags := store.Tags{"mlflow.runName": name}
	for k, v := range req.Tags {
		tags[k] = v
	}
	err = s.write(ctx, "create run", func(tx *sql.Tx) error {
		loc, err := experimentArtifactLocation(ctx, tx, expID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO runs (id, experiment_id, name, status, start_ms, end_ms, artifact_uri) VALUES (?, ?, ?, ?, ?, 0, ?)`,
			runID, expID, name, store.RunRunning, start, loc+"/"+runID+"/artifacts"); err != nil {
			return err
		}
		return upsertKV(ctx, tx, "run_tags", []any{runID}, tags)
	})
	if err != nil {
		return nil, err
	}
	return s.GetRun(ctx, runID)
}

const runCols = `id, experiment_id, name, status, start_ms, end_ms, artifact_uri`

func scanRun(sc scanner) (store.Run, error) {
	var r store.Run
	var expID int64
	var status string
	err := sc.Scan(&r.ID, &expID, &r.Name, &status, &r.StartTimeMs, &r.EndTimeMs, &r.ArtifactURI)
	r.ExperimentID = strconv.FormatInt(expID, 10)
	r.Status = store.RunStatus(status)
	return r, err
}

// fillRun loads a run's params, tags, latest metrics and outputs.
func fillRun(ctx context.Context, tx *sql.Tx, r *store.Run) error {
	var err error
	if r.Params, err = loadKV(ctx, tx, "run_params", r.ID); err != nil {
		return err
	}
	if r.Tags, err = loadKV(ctx, tx, "run_tags", r.ID); err != nil {
		return err
	}
	// MLflow's latest metric: highest step, then latest timestamp, then
	// largest value.
	rows, err := tx.QueryContext(ctx, `
		SELECT key, value, ts_ms, step FROM (
			SELECT key, value, ts_ms, step, ROW_NUMBER() OVER (
				PARTITION BY key ORDER BY step DESC, ts_ms DESC, value DESC) AS n
			FROM run_metrics WHERE run_id = ?)
		WHERE n = 1 ORDER BY key`, r.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	r.Metrics = nil
	for rows.Next() {
		var m store.Metric
		if err := rows.Scan(&m.Key, &m.Value, &m.TimestampMs, &m.Step); err != nil {
			return err
		}
		r.Metrics = append(r.Metrics, m)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if r.OutputModels, err = column(ctx, tx, `SELECT model_id FROM run_outputs WHERE run_id = ? ORDER BY rowid`, r.ID); err != nil {
		return err
	}
	r.Inputs, err = runInputs(ctx, tx, r.ID)
	return err
}

// runInputs loads a run's dataset inputs in the order they were logged.
func runInputs(ctx context.Context, tx *sql.Tx, runID string) ([]store.DatasetInput, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT d.name, d.digest, d.source_type, d.source, d.schema, d.profile, i.tags
		FROM run_inputs i JOIN datasets d
			ON d.experiment_id = i.experiment_id AND d.name = i.name AND d.digest = i.digest
		WHERE i.run_id = ? ORDER BY i.rowid`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.DatasetInput
	for rows.Next() {
		var in store.DatasetInput
		var tags string
		d := &in.Dataset
		if err := rows.Scan(&d.Name, &d.Digest, &d.SourceType, &d.Source, &d.Schema, &d.Profile, &tags); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(tags), &in.Tags); err != nil {
			return nil, failure.Wrap(failure.Internal, err, "run %s: input tags of dataset %q", runID, d.Name)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// column returns the single string column of query's rows.
func column(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// GetRun implements store.Tracking.
func (s *Store) GetRun(ctx context.Context, runID string) (*store.Run, error) {
	return getOne(ctx, s, "get run", true, func(tx *sql.Tx) (store.Run, error) {
		r, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runCols+` FROM runs WHERE id = ?`, runID))
		if err == sql.ErrNoRows {
			return r, failure.New(failure.NotFound, "Run '%s' not found", runID)
		}
		if err != nil {
			return r, err
		}
		return r, fillRun(ctx, tx, &r)
	})
}

// SearchRunsByTag implements store.Tracking. An empty key matches every run.
func (s *Store) SearchRunsByTag(ctx context.Context, experimentID, key, value string) ([]store.Run, error) {
	expID, err := parseExperimentID(experimentID)
	if err != nil {
		return nil, nil
	}
	return search(ctx, s, "search runs", scanRun, fillRun, `SELECT `+runCols+` FROM runs WHERE experiment_id = ?
		AND (? = '' OR EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = runs.id AND t.key = ? AND t.value = ?))
		ORDER BY rowid`, expID, key, key, value)
}

func runMustExist(ctx context.Context, tx *sql.Tx, runID string) error {
	return mustExist(ctx, tx, `SELECT 1 FROM runs WHERE id = ?`, []any{runID}, "Run '%s' not found", runID)
}

// LogBatch implements store.Tracking.
func (s *Store) LogBatch(ctx context.Context, runID string, b store.Batch) error {
	if err := validateKeys("param", b.Params); err != nil {
		return err
	}
	if err := validateKeys("run tag", b.Tags); err != nil {
		return err
	}
	for _, m := range b.Metrics {
		if err := store.ValidateMetric(m); err != nil {
			return err
		}
	}
	return s.write(ctx, "log batch", func(tx *sql.Tx) error {
		if err := runMustExist(ctx, tx, runID); err != nil {
			return err
		}
		for k, v := range b.Params {
			var old string
			err := tx.QueryRowContext(ctx, `SELECT value FROM run_params WHERE run_id = ? AND key = ?`, runID, k).Scan(&old)
			switch {
			case err == sql.ErrNoRows:
				if _, err := tx.ExecContext(ctx, `INSERT INTO run_params (run_id, key, value) VALUES (?, ?, ?)`, runID, k, v); err != nil {
					return err
				}
			case err != nil:
				return err
			case old != v:
				return failure.New(failure.InvalidArgument,
					"Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.",
					k, old, runID, v)
			}
		}
		if err := upsertKV(ctx, tx, "run_tags", []any{runID}, b.Tags); err != nil {
			return err
		}
		// An exact duplicate point (key, value, timestamp, step) is not
		// stored twice, as in MLflow: a retried LogBatch changes nothing.
		for _, m := range b.Metrics {
			if _, err := tx.ExecContext(ctx, `INSERT INTO run_metrics (run_id, key, value, ts_ms, step)
				SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM run_metrics
				WHERE run_id = ? AND key = ? AND value = ? AND ts_ms = ? AND step = ?)`,
				runID, m.Key, m.Value, m.TimestampMs, m.Step, runID, m.Key, m.Value, m.TimestampMs, m.Step); err != nil {
				return err
			}
			if m.ModelID == "" {
				continue
			}
			// MLflow refuses a model ID it does not know (a foreign key);
			// here the whole batch is refused, in one transaction.
			if err := loggedModelMustExist(ctx, tx, m.ModelID); err != nil {
				return err
			}
			// The key is MLflow's: a retried point is kept once.
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO logged_model_metrics
				(model_id, key, value, ts_ms, step, run_id, dataset_name, dataset_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				m.ModelID, m.Key, m.Value, m.TimestampMs, m.Step, runID, m.DatasetName, m.DatasetDigest); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpdateRun implements store.Tracking.
func (s *Store) UpdateRun(ctx context.Context, runID string, status store.RunStatus, endTimeMs int64) error {
	switch status {
	case store.RunRunning, store.RunFinished, store.RunFailed, store.RunKilled:
	default:
		return failure.New(failure.InvalidArgument, "unknown run status %q", status)
	}
	return s.write(ctx, "update run", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, end_ms = ? WHERE id = ?`, status, endTimeMs, runID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmpErr(err, failure.New(failure.NotFound, "Run '%s' not found", runID))
		}
		return nil
	})
}

// cmpErr returns err if set, else notFound.
func cmpErr(err, notFound error) error {
	if err != nil {
		return err
	}
	return notFound
}

// LogInputs implements store.Tracking, with MLflow's dedupe: a dataset is
// (experiment, name, digest) and its first source, schema and profile stay;
// a run has a dataset as an input once, with the tags it was first logged
// with.
func (s *Store) LogInputs(ctx context.Context, runID string, inputs []store.DatasetInput) error {
	if err := store.ValidateDatasetInputs(inputs); err != nil {
		return err
	}
	return s.write(ctx, "log inputs", func(tx *sql.Tx) error {
		var expID int64
		err := tx.QueryRowContext(ctx, `SELECT experiment_id FROM runs WHERE id = ?`, runID).Scan(&expID)
		if err == sql.ErrNoRows {
			return failure.New(failure.NotFound, "Run '%s' not found", runID)
		}
		if err != nil {
			return err
		}
		for _, in := range inputs {
			d := in.Dataset
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO datasets (experiment_id, name, digest, source_type, source, schema, profile) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				expID, d.Name, d.Digest, d.SourceType, d.Source, d.Schema, d.Profile); err != nil {
				return err
			}
			tags := in.Tags
			if tags == nil {
				tags = store.Tags{}
			}
			doc, err := json.Marshal(tags) // sorted keys
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO run_inputs (run_id, experiment_id, name, digest, tags) VALUES (?, ?, ?, ?, ?)`,
				runID, expID, d.Name, d.Digest, string(doc)); err != nil {
				return err
			}
		}
		return nil
	})
}

// LogOutputs implements store.Tracking.
func (s *Store) LogOutputs(ctx context.Context, runID string, modelIDs []string) error {
	return s.write(ctx, "log outputs", func(tx *sql.Tx) error {
		if err := runMustExist(ctx, tx, runID); err != nil {
			return err
		}
		for _, id := range modelIDs {
			if err := loggedModelMustExist(ctx, tx, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO run_outputs (run_id, model_id) VALUES (?, ?)`, runID, id); err != nil {
				return err
			}
		}
		return nil
	})
}
