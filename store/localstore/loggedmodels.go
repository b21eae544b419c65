package localstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

func loggedModelMustExist(ctx context.Context, tx *sql.Tx, id string) error {
	return mustExist(ctx, tx, `SELECT 1 FROM logged_models WHERE id = ?`, []any{id}, "Logged model with ID '%s' not found", id)
}

// CreateLoggedModel implements store.Tracking.
func (s *Store) CreateLoggedModel(ctx context.Context, req store.CreateLoggedModelRequest) (*store.LoggedModel, error) {
	expID, err := parseExperimentID(req.ExperimentID)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(req.Name, "/:.%\"'") {
		return nil, failure.New(failure.InvalidArgument, "logged model name %q must not contain any of / : . %% \" '", req.Name)
	}
	if err := validateKeys("logged model param", req.Params); err != nil {
		return nil, err
	}
	if err := validateKeys("logged model tag", req.Tags); err != nil {
		return nil, err
	}
	id := "m-" + newHex()
	name := req.Name
	if name == "" { // MLflow generates a name when none is given.
		name = "model-" + id[2:10]
	}
	err = s.write(ctx, "create logged model", func(tx *sql.Tx) error {
		loc, err := experimentArtifactLocation(ctx, tx, expID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO logged_models (id, experiment_id, name, source_run_id, model_type, status, artifact_uri, created_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			id, expID, name, req.SourceRunID, req.ModelType, store.LoggedModelPending, loc+"/models/"+id+"/artifacts", nowMs()); err != nil {
			return err
		}
		if err := upsertKV(ctx, tx, "logged_model_params", []any{id}, req.Params); err != nil {
			return err
		}
		return upsertKV(ctx, tx, "logged_model_tags", []any{id}, req.Tags)
	})
	if err != nil {
		return nil, err
	}
	return s.GetLoggedModel(ctx, id)
}

const loggedModelCols = `id, experiment_id, name, source_run_id, model_type, status, artifact_uri`

func scanLoggedModel(sc scanner) (store.LoggedModel, error) {
	var m store.LoggedModel
	var expID int64
	var status string
	err := sc.Scan(&m.ID, &expID, &m.Name, &m.SourceRunID, &m.ModelType, &status, &m.ArtifactURI)
	m.ExperimentID = strconv.FormatInt(expID, 10)
	m.Status = store.LoggedModelStatus(status)
	return m, err
}

func fillLoggedModel(ctx context.Context, tx *sql.Tx, m *store.LoggedModel) error {
	var err error
	if m.Params, err = loadKV(ctx, tx, "logged_model_params", m.ID); err != nil {
		return err
	}
	if m.Tags, err = loadKV(ctx, tx, "logged_model_tags", m.ID); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT key, value, ts_ms, step, run_id, dataset_name, dataset_digest
		FROM logged_model_metrics WHERE model_id = ? ORDER BY rowid`, m.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	m.Metrics = nil
	for rows.Next() {
		mt := store.Metric{ModelID: m.ID}
		if err := rows.Scan(&mt.Key, &mt.Value, &mt.TimestampMs, &mt.Step, &mt.RunID, &mt.DatasetName, &mt.DatasetDigest); err != nil {
			return err
		}
		m.Metrics = append(m.Metrics, mt)
	}
	return rows.Err()
}

func getLoggedModel(ctx context.Context, tx *sql.Tx, id string) (store.LoggedModel, error) {
	m, err := scanLoggedModel(tx.QueryRowContext(ctx, `SELECT `+loggedModelCols+` FROM logged_models WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return m, failure.New(failure.NotFound, "Logged model with ID '%s' not found", id)
	}
	if err != nil {
		return m, err
	}
	return m, fillLoggedModel(ctx, tx, &m)
}

// GetLoggedModel implements store.Tracking.
func (s *Store) GetLoggedModel(ctx context.Context, modelID string) (*store.LoggedModel, error) {
	return getOne(ctx, s, "get logged model", true, func(tx *sql.Tx) (store.LoggedModel, error) {
		return getLoggedModel(ctx, tx, modelID)
	})
}

// SearchLoggedModelsByTag implements store.Tracking. An empty key matches
// every logged model of the experiment.
func (s *Store) SearchLoggedModelsByTag(ctx context.Context, experimentID, key, value string) ([]store.LoggedModel, error) {
	expID, err := parseExperimentID(experimentID)
	if err != nil {
		return nil, nil
	}
	return search(ctx, s, "search logged models", scanLoggedModel, fillLoggedModel, `SELECT `+loggedModelCols+` FROM logged_models WHERE experiment_id = ?
		AND (? = '' OR EXISTS (SELECT 1 FROM logged_model_tags t WHERE t.model_id = logged_models.id AND t.key = ? AND t.value = ?))
		ORDER BY rowid`, expID, key, key, value)
}

// FinalizeLoggedModel implements store.Tracking.
func (s *Store) FinalizeLoggedModel(ctx context.Context, modelID string, status store.LoggedModelStatus) (*store.LoggedModel, error) {
	if status != store.LoggedModelReady && status != store.LoggedModelUploadFailed {
		return nil, failure.New(failure.InvalidArgument, "a logged model is finalized as %s or %s, not %q",
			store.LoggedModelReady, store.LoggedModelUploadFailed, status)
	}
	m, err := getOne(ctx, s, "finalize logged model", false, func(tx *sql.Tx) (store.LoggedModel, error) {
		if _, err := tx.ExecContext(ctx, `UPDATE logged_models SET status = ? WHERE id = ?`, status, modelID); err != nil {
			return store.LoggedModel{}, err
		}
		return getLoggedModel(ctx, tx, modelID)
	})
	if err != nil {
		return nil, err
	}
	// A finalized model takes no more uploads, so temp files left in its
	// tree by attempts killed mid-upload would stay forever (each nearly
	// the size of the file it was to become). Remove them now. Temp files
	// of writers still alive (a zombie attempt) are left alone: see
	// tmpfiles.go for why deleting them would be unsafe.
	if dir, err := resolve(m.ArtifactURI, "", true); err == nil {
		s.sweepTree(dir)
	}
	return m, nil
}

// SetLoggedModelTags implements store.Tracking.
func (s *Store) SetLoggedModelTags(ctx context.Context, modelID string, tags store.Tags) error {
	if err := validateKeys("logged model tag", tags); err != nil {
		return err
	}
	return s.write(ctx, "set logged model tags", func(tx *sql.Tx) error {
		if err := loggedModelMustExist(ctx, tx, modelID); err != nil {
			return err
		}
		return upsertKV(ctx, tx, "logged_model_tags", []any{modelID}, tags)
	})
}
