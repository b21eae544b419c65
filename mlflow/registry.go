package mlflow

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

var (
	regRead   = callOpts{registry: true}
	regCreate = callOpts{registry: true, create: true}
)

// modelIDFromSource returns <id> for a "models:/m-<id>" source, else "".
func modelIDFromSource(src string) string {
	id, ok := strings.CutPrefix(src, "models:/")
	if !ok || !strings.HasPrefix(id, "m-") || strings.ContainsAny(id, "/@") {
		return ""
	}
	return id
}

type registeredModelEnvelope struct {
	RegisteredModel *wireRegisteredModel `json:"registered_model"`
}

func (e registeredModelEnvelope) get(endpoint string) (*store.RegisteredModel, error) {
	return unwrap(endpoint, "a registered_model", e.RegisteredModel,
		func(w *wireRegisteredModel) bool { return w.Name != "" }, (*wireRegisteredModel).toStore)
}

// CreateRegisteredModel answers AlreadyExists (HTTP 400 on the wire) for a
// duplicate name.
func (c *Client) CreateRegisteredModel(ctx context.Context, name string, tags store.Tags) (*store.RegisteredModel, error) {
	// MLflow accepts names of any length and with control characters;
	// the contract (and the local store) does not.
	if err := vocab.ValidateModelName(name); err != nil {
		return nil, err
	}
	in := map[string]any{"name": name}
	if len(tags) > 0 {
		in["tags"] = toKVs(tags)
	}
	var out registeredModelEnvelope
	if err := c.call(ctx, regCreate, http.MethodPost, "registered-models/create", nil, in, &out); err != nil {
		return nil, err
	}
	return out.get("registered-models/create")
}

// GetRegisteredModel returns the model with its tags and aliases.
func (c *Client) GetRegisteredModel(ctx context.Context, name string) (*store.RegisteredModel, error) {
	var out registeredModelEnvelope
	if err := c.call(ctx, regRead, http.MethodGet, "registered-models/get", url.Values{"name": {name}}, nil, &out); err != nil {
		return nil, err
	}
	return out.get("registered-models/get")
}

type versionEnvelope struct {
	ModelVersion *wireModelVersion `json:"model_version"`
}

func (e versionEnvelope) get(endpoint string) (*store.ModelVersion, error) {
	return unwrap(endpoint, "a model_version", e.ModelVersion,
		func(*wireModelVersion) bool { return true }, (*wireModelVersion).toStore)
}

// CreateModelVersion registers a version and waits while the registry says
// PENDING_REGISTRATION (the OSS stores answer READY at once; plugin
// registries may not).
func (c *Client) CreateModelVersion(ctx context.Context, req store.CreateModelVersionRequest) (*store.ModelVersion, error) {
	in := map[string]any{"name": req.Name, "source": req.Source}
	setIf(in, "run_id", req.RunID)
	setIf(in, "model_id", req.ModelID)
	if len(req.Tags) > 0 {
		in["tags"] = toKVs(req.Tags)
	}
	var out versionEnvelope
	if err := c.call(ctx, regCreate, http.MethodPost, "model-versions/create", nil, in, &out); err != nil {
		return nil, c.explainCreateVersionError(ctx, req.Name, err)
	}
	mv, err := out.get("model-versions/create")
	if err != nil {
		return nil, err
	}
	if mv.ModelID == "" {
		mv.ModelID = req.ModelID
	}
	if mv, err = c.awaitReady(ctx, mv); err != nil {
		return nil, err
	}
	return mv, c.fillStorageLocation(ctx, mv)
}

// explainCreateVersionError: MLflow validates the source before it looks
// the registered model up, so a missing model can come back as 400 about
// the source. One read tells the caller the real problem.
func (c *Client) explainCreateVersionError(ctx context.Context, name string, err error) error {
	if !failure.Has(err, failure.InvalidArgument) {
		return err
	}
	if _, gerr := c.GetRegisteredModel(ctx, name); IsNotFound(gerr) {
		return gerr
	}
	return err
}

// HintStorageLocation remembers v's storage location as if this client had
// asked for it (store.LocationHinter): v is an answer about the version, with
// its source, creation time and location, read by another worker.
func (c *Client) HintStorageLocation(v store.ModelVersion) {
	if key, ok := locationKeyOf(&v); ok && v.StorageLocation != "" {
		c.locations.put(key, v.StorageLocation)
	}
}

// locationKeyOf is the cache key of the version mv describes, and whether
// its location may be cached: a version still being registered may not
// have its location yet, and one without a creation time cannot be told
// from a version recreated under the same number.
func locationKeyOf(mv *store.ModelVersion) (locationKey, bool) {
	key := locationKey{name: mv.Name, version: mv.Version, source: mv.Source, createdMs: mv.CreatedMs}
	return key, mv.CreatedMs != 0 && mv.Status != store.VersionPending
}

// fillStorageLocation: 3.17.2 omits storage_location (and model_id) from
// model version JSON; get-download-uri answers it (storage location, else
// source). The server fixes a version's location when it creates the
// version, so the answer is remembered for the version as mv describes it
// (cache.go): a later answer about the same version costs no second GET,
// and one about a recreated version with the same number misses.
func (c *Client) fillStorageLocation(ctx context.Context, mv *store.ModelVersion) error {
	if mv.StorageLocation != "" {
		return nil
	}
	key, cacheable := locationKeyOf(mv)
	if uri, ok := c.locations.get(key); ok && cacheable {
		mv.StorageLocation = uri
		return nil
	}
	uri, err := c.GetModelVersionDownloadURI(ctx, mv.Name, mv.Version)
	if err != nil {
		return err
	}
	if cacheable {
		c.locations.put(key, uri)
	}
	mv.StorageLocation = uri
	return nil
}

func (c *Client) awaitReady(ctx context.Context, mv *store.ModelVersion) (*store.ModelVersion, error) {
	deadline := time.Now().Add(c.cfg.VersionWaitTimeout)
	for {
		switch mv.Status {
		case store.VersionFailed:
			return nil, failure.New(failure.RegistrationFailed, "model %q version %d: FAILED_REGISTRATION: %s", mv.Name, mv.Version, mv.StatusMessage)
		case store.VersionPending:
		default:
			return mv, nil
		}
		if !time.Now().Add(c.cfg.VersionPollInterval).Before(deadline) {
			return nil, failure.New(failure.VersionNotReady, "model %q version %d is still PENDING_REGISTRATION after %s", mv.Name, mv.Version, c.cfg.VersionWaitTimeout)
		}
		if err := sleep(ctx, c.cfg.VersionPollInterval); err != nil {
			return nil, failure.Wrap(failure.VersionNotReady, err, "model %q version %d: stopped waiting for READY", mv.Name, mv.Version)
		}
		next, err := c.getVersion(ctx, mv.Name, mv.Version)
		if err != nil {
			return nil, err
		}
		if next.ModelID == "" {
			next.ModelID = mv.ModelID
		}
		mv = next
	}
}

// GetModelVersion returns NotFound for an unknown name or version.
func (c *Client) GetModelVersion(ctx context.Context, name string, version int) (*store.ModelVersion, error) {
	mv, err := c.getVersion(ctx, name, version)
	if err != nil {
		return nil, err
	}
	return mv, c.fillStorageLocation(ctx, mv)
}

// getVersion is model-versions/get alone, for polling.
func (c *Client) getVersion(ctx context.Context, name string, version int) (*store.ModelVersion, error) {
	var out versionEnvelope
	q := url.Values{"name": {name}, "version": {strconv.Itoa(version)}}
	if err := c.call(ctx, regRead, http.MethodGet, "model-versions/get", q, nil, &out); err != nil {
		return nil, err
	}
	return out.get("model-versions/get")
}

// SearchModelVersions pages through model-versions/search and sorts by
// version (the server orders by last update).
func (c *Client) SearchModelVersions(ctx context.Context, name, tagKey, tagValue string) ([]store.ModelVersion, error) {
	// A name or tag value with both quote kinds matches by prefix (see
	// filterCond); the exact values are compared below.
	filter, exactName, err := filterCond("name", name)
	if err != nil {
		return nil, failure.Wrap(failure.InvalidModelName, err, "searching versions of %q", name)
	}
	exactTag := false
	if tagKey != "" {
		var tf string
		if tf, exactTag, err = tagFilter(tagKey, tagValue); err != nil {
			return nil, err
		}
		filter += " AND " + tf
	}
	var versions []store.ModelVersion
	token := ""
	for {
		q := url.Values{"filter": {filter}, "max_results": {"1000"}}
		if token != "" {
			q.Set("page_token", token)
		}
		var out struct {
			ModelVersions []wireModelVersion `json:"model_versions"`
			NextPageToken string             `json:"next_page_token"`
		}
		if err := c.call(ctx, regRead, http.MethodGet, "model-versions/search", q, nil, &out); err != nil {
			return nil, err
		}
		for _, w := range out.ModelVersions {
			mv, err := w.toStore()
			if err != nil {
				return nil, failure.Wrap(failure.BadResponse, err, "model-versions/search")
			}
			if exactName && mv.Name != name || exactTag && mv.Tags[tagKey] != tagValue {
				continue
			}
			if err := c.fillStorageLocation(ctx, mv); err != nil {
				return nil, err
			}
			versions = append(versions, *mv)
		}
		if token = out.NextPageToken; token == "" {
			break
		}
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i].Version < versions[j].Version })
	return versions, nil
}

// GetModelVersionDownloadURI returns the artifact URI of a version.
func (c *Client) GetModelVersionDownloadURI(ctx context.Context, name string, version int) (string, error) {
	var out struct {
		ArtifactURI string `json:"artifact_uri"`
	}
	q := url.Values{"name": {name}, "version": {strconv.Itoa(version)}}
	if err := c.call(ctx, regRead, http.MethodGet, "model-versions/get-download-uri", q, nil, &out); err != nil {
		return "", err
	}
	if out.ArtifactURI == "" {
		return "", failure.New(failure.BadResponse, "model-versions/get-download-uri: expected an artifact_uri")
	}
	return out.ArtifactURI, nil
}

// SetModelVersionTag upserts one tag.
func (c *Client) SetModelVersionTag(ctx context.Context, name string, version int, key, value string) error {
	in := map[string]any{"name": name, "version": strconv.Itoa(version), "key": key, "value": value}
	return c.call(ctx, regRead, http.MethodPost, "model-versions/set-tag", nil, in, nil)
}

// SetAlias points alias at version (an upsert on the server).
func (c *Client) SetAlias(ctx context.Context, name, alias string, version int) error {
	if err := vocab.ValidateAlias(alias); err != nil {
		return err
	}
	in := map[string]any{"name": name, "alias": alias, "version": strconv.Itoa(version)}
	return c.call(ctx, regRead, http.MethodPost, "registered-models/alias", nil, in, nil)
}

// GetModelVersionByAlias maps MLflow's 400 "alias ... not found" to NotFound.
func (c *Client) GetModelVersionByAlias(ctx context.Context, name, alias string) (*store.ModelVersion, error) {
	var out versionEnvelope
	if err := c.call(ctx, regRead, http.MethodGet, "registered-models/alias", url.Values{"name": {name}, "alias": {alias}}, nil, &out); err != nil {
		return nil, err
	}
	mv, err := out.get("registered-models/alias")
	if err != nil {
		return nil, err
	}
	return mv, c.fillStorageLocation(ctx, mv)
}

// DeleteAlias sends its arguments as a JSON body: the server ignores the
// query string of a DELETE. Deleting a missing alias succeeds (3.17.2).
func (c *Client) DeleteAlias(ctx context.Context, name, alias string) error {
	return c.call(ctx, regRead, http.MethodDelete, "registered-models/alias", nil, map[string]any{"name": name, "alias": alias}, nil)
}

// DeleteRegisteredModel deletes the model with its versions
// (registered-models/delete). A retry after a lost answer gets NotFound,
// which callers take as done.
func (c *Client) DeleteRegisteredModel(ctx context.Context, name string) error {
	return c.call(ctx, regRead, http.MethodDelete, "registered-models/delete", nil, map[string]any{"name": name}, nil)
}
