package localstore

import (
	"context"
	"database/sql"
	"strings"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

func rmMustExist(ctx context.Context, tx *sql.Tx, name string) error {
	return mustExist(ctx, tx, `SELECT 1 FROM registered_models WHERE name = ?`, []any{name}, "Registered Model with name=%s not found", name)
}

func versionMustExist(ctx context.Context, tx *sql.Tx, name string, version int) error {
	return mustExist(ctx, tx, `SELECT 1 FROM model_versions WHERE name = ? AND version = ?`, []any{name, version},
		"Model Version (name=%s, version=%d) not found", name, version)
}

// CreateRegisteredModel implements store.Registry.
func (s *Store) CreateRegisteredModel(ctx context.Context, name string, tags store.Tags) (*store.RegisteredModel, error) {
	if err := vocab.ValidateModelName(name); err != nil {
		return nil, err
	}
	if err := validateKeys("registered model tag", tags); err != nil {
		return nil, err
	}
	err := s.write(ctx, "create registered model", func(tx *sql.Tx) error {
		if err := mustNotExist(ctx, tx, `SELECT 1 FROM registered_models WHERE name = ?`, []any{name},
			"Registered Model (name=%s) already exists", name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO registered_models (name, created_ms) VALUES (?, ?)`, name, nowMs()); err != nil {
			return err
		}
		return upsertKV(ctx, tx, "registered_model_tags", []any{name}, tags)
	})
	if err != nil {
		return nil, err
	}
	return s.GetRegisteredModel(ctx, name)
}

// DeleteRegisteredModel implements store.Registry: like MLflow it takes the
// versions, their tags and the aliases with it.
func (s *Store) DeleteRegisteredModel(ctx context.Context, name string) error {
	return s.write(ctx, "delete registered model", func(tx *sql.Tx) error {
		if err := rmMustExist(ctx, tx, name); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM model_aliases WHERE name = ?`,
			`DELETE FROM model_version_tags WHERE name = ?`,
			`DELETE FROM model_versions WHERE name = ?`,
			`DELETE FROM registered_model_tags WHERE name = ?`,
			`DELETE FROM registered_models WHERE name = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, name); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetRegisteredModel implements store.Registry.
func (s *Store) GetRegisteredModel(ctx context.Context, name string) (*store.RegisteredModel, error) {
	rm := store.RegisteredModel{Name: name, Aliases: map[string]int{}}
	err := s.read(ctx, "get registered model", func(tx *sql.Tx) error {
		if err := rmMustExist(ctx, tx, name); err != nil {
			return err
		}
		var err error
		if rm.Tags, err = loadKV(ctx, tx, "registered_model_tags", name); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT alias, version FROM model_aliases WHERE name = ?`, name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a string
			var v int
			if err := rows.Scan(&a, &v); err != nil {
				return err
			}
			rm.Aliases[a] = v
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return &rm, nil
}

// CreateModelVersion implements store.Registry. The version number is
// MAX+1 inside the immediate transaction that inserts it, so concurrent
// creators (goroutines or processes) queue on the write lock and each gets
// the next number.
func (s *Store) CreateModelVersion(ctx context.Context, req store.CreateModelVersionRequest) (*store.ModelVersion, error) {
	if err := vocab.ValidateModelName(req.Name); err != nil {
		return nil, err
	}
	if req.Source == "" {
		return nil, failure.New(failure.InvalidArgument, "model version source is empty")
	}
	if err := validateKeys("model version tag", req.Tags); err != nil {
		return nil, err
	}
	var version int
	err := s.write(ctx, "create model version", func(tx *sql.Tx) error {
		if err := rmMustExist(ctx, tx, req.Name); err != nil {
			return err
		}
		runID := req.RunID
		if req.ModelID != "" {
			lm, err := getLoggedModel(ctx, tx, req.ModelID)
			if err != nil {
				return err
			}
			if runID == "" {
				runID = lm.SourceRunID
			}
		}
		loc, err := storageLocation(ctx, tx, req.Source)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?`, req.Name).Scan(&version); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO model_versions (name, version, source, run_id, model_id, status, status_message, storage_location, created_ms)
			VALUES (?, ?, ?, ?, ?, ?, '', ?, ?)`,
			req.Name, version, req.Source, runID, req.ModelID, store.VersionReady, loc, nowMs()); err != nil {
			return err
		}
		return upsertKV(ctx, tx, "model_version_tags", []any{req.Name, version}, req.Tags)
	})
	if err != nil {
		return nil, err
	}
	return s.GetModelVersion(ctx, req.Name, version)
}

// storageLocation resolves a version's source the way MLflow's SQL registry
// does: models:/m-<id> is the logged model's artifact URI, a models:/ URI
// naming a registered version is that version's storage location, and any
// other source is stored as given.
func storageLocation(ctx context.Context, tx *sql.Tx, source string) (string, error) {
	if !strings.HasPrefix(source, "models:") {
		return source, nil
	}
	u, err := modeluri.Parse(source)
	if err != nil {
		return "", err
	}
	var loc string
	switch u.Kind {
	case modeluri.KindLoggedModel:
		lm, err := getLoggedModel(ctx, tx, u.ModelID)
		if err != nil {
			return "", err
		}
		loc = lm.ArtifactURI
	case modeluri.KindVersion, modeluri.KindAlias, modeluri.KindLatest:
		v, err := resolveVersion(ctx, tx, u)
		if err != nil {
			return "", err
		}
		err = tx.QueryRowContext(ctx, `SELECT storage_location FROM model_versions WHERE name = ? AND version = ?`, u.Name, v).Scan(&loc)
		if err != nil {
			return "", err
		}
	default:
		return "", failure.New(failure.InvalidURI, "model version source %q", source)
	}
	if u.Path != "" {
		loc += "/" + u.Path
	}
	return loc, nil
}

// resolveVersion turns a version, alias or latest reference into a number.
func resolveVersion(ctx context.Context, tx *sql.Tx, u modeluri.URI) (int, error) {
	var v int
	var err error
	switch u.Kind {
	case modeluri.KindVersion:
		v, err = u.Version, versionMustExist(ctx, tx, u.Name, u.Version)
	case modeluri.KindAlias:
		err = tx.QueryRowContext(ctx, `SELECT version FROM model_aliases WHERE name = ? AND alias = ?`, u.Name, u.Alias).Scan(&v)
	default:
		err = tx.QueryRowContext(ctx, `SELECT MAX(version) FROM model_versions WHERE name = ? HAVING COUNT(*) > 0`, u.Name).Scan(&v)
	}
	if err == sql.ErrNoRows {
		return 0, failure.New(failure.NotFound, "%s does not name a model version", u.Raw)
	}
	return v, err
}

const versionCols = `name, version, source, run_id, model_id, status, status_message, storage_location, created_ms`

func scanVersion(sc scanner) (store.ModelVersion, error) {
	var v store.ModelVersion
	var status string
	err := sc.Scan(&v.Name, &v.Version, &v.Source, &v.RunID, &v.ModelID, &status, &v.StatusMessage, &v.StorageLocation, &v.CreatedMs)
	v.Status = store.VersionStatus(status)
	return v, err
}

func fillVersion(ctx context.Context, tx *sql.Tx, v *store.ModelVersion) error {
	var err error
	if v.Tags, err = loadKV(ctx, tx, "model_version_tags", v.Name, v.Version); err != nil {
		return err
	}
	v.Aliases, err = column(ctx, tx, `SELECT alias FROM model_aliases WHERE name = ? AND version = ? ORDER BY alias`, v.Name, v.Version)
	return err
}

func getVersion(ctx context.Context, tx *sql.Tx, name string, version int) (store.ModelVersion, error) {
	v, err := scanVersion(tx.QueryRowContext(ctx, `SELECT `+versionCols+` FROM model_versions WHERE name = ? AND version = ?`, name, version))
	if err == sql.ErrNoRows {
		return v, failure.New(failure.NotFound, "Model Version (name=%s, version=%d) not found", name, version)
	}
	if err != nil {
		return v, err
	}
	return v, fillVersion(ctx, tx, &v)
}

// GetModelVersion implements store.Registry.
func (s *Store) GetModelVersion(ctx context.Context, name string, version int) (*store.ModelVersion, error) {
	return getOne(ctx, s, "get model version", true, func(tx *sql.Tx) (store.ModelVersion, error) {
		return getVersion(ctx, tx, name, version)
	})
}

// SearchModelVersions implements store.Registry.
func (s *Store) SearchModelVersions(ctx context.Context, name, tagKey, tagValue string) ([]store.ModelVersion, error) {
	return search(ctx, s, "search model versions", scanVersion, fillVersion, `SELECT `+versionCols+` FROM model_versions mv WHERE name = ?
		AND (? = '' OR EXISTS (SELECT 1 FROM model_version_tags t WHERE t.name = mv.name AND t.version = mv.version AND t.key = ? AND t.value = ?))
		ORDER BY version`, name, tagKey, tagKey, tagValue)
}

// GetModelVersionDownloadURI implements store.Registry.
func (s *Store) GetModelVersionDownloadURI(ctx context.Context, name string, version int) (string, error) {
	v, err := s.GetModelVersion(ctx, name, version)
	if err != nil {
		return "", err
	}
	return v.StorageLocation, nil
}

// SetModelVersionTag implements store.Registry.
func (s *Store) SetModelVersionTag(ctx context.Context, name string, version int, key, value string) error {
	if err := vocab.ValidateTagKey(key); err != nil {
		return err
	}
	return s.write(ctx, "set model version tag", func(tx *sql.Tx) error {
		if err := versionMustExist(ctx, tx, name, version); err != nil {
			return err
		}
		return upsertKV(ctx, tx, "model_version_tags", []any{name, version}, store.Tags{key: value})
	})
}

// SetAlias implements store.Registry: an unconditional upsert, as in MLflow.
func (s *Store) SetAlias(ctx context.Context, name, alias string, version int) error {
	if err := vocab.ValidateModelName(name); err != nil {
		return err
	}
	if err := vocab.ValidateAlias(alias); err != nil {
		return err
	}
	return s.write(ctx, "set alias", func(tx *sql.Tx) error {
		if err := rmMustExist(ctx, tx, name); err != nil {
			return err
		}
		if err := versionMustExist(ctx, tx, name, version); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO model_aliases (name, alias, version) VALUES (?, ?, ?)
			ON CONFLICT DO UPDATE SET version = excluded.version`, name, alias, version)
		return err
	})
}

// GetModelVersionByAlias implements store.Registry.
func (s *Store) GetModelVersionByAlias(ctx context.Context, name, alias string) (*store.ModelVersion, error) {
	return getOne(ctx, s, "get model version by alias", true, func(tx *sql.Tx) (store.ModelVersion, error) {
		if err := rmMustExist(ctx, tx, name); err != nil {
			return store.ModelVersion{}, err
		}
		var n int
		err := tx.QueryRowContext(ctx, `SELECT version FROM model_aliases WHERE name = ? AND alias = ?`, name, alias).Scan(&n)
		if err == sql.ErrNoRows {
			return store.ModelVersion{}, failure.New(failure.NotFound, "Registered model alias %s not found.", alias)
		}
		if err != nil {
			return store.ModelVersion{}, err
		}
		return getVersion(ctx, tx, name, n)
	})
}

// DeleteAlias implements store.Registry. Deleting an alias that is not set is
// not an error, as in MLflow; the registered model must exist.
func (s *Store) DeleteAlias(ctx context.Context, name, alias string) error {
	if err := vocab.ValidateAlias(alias); err != nil {
		return err
	}
	return s.write(ctx, "delete alias", func(tx *sql.Tx) error {
		if err := rmMustExist(ctx, tx, name); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM model_aliases WHERE name = ? AND alias = ?`, name, alias)
		return err
	})
}
