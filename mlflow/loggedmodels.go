package mlflow

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

type loggedModelEnvelope struct {
	Model *wireLoggedModel `json:"model"`
}

func (e loggedModelEnvelope) get(endpoint string) (*store.LoggedModel, error) {
	return unwrap(endpoint, "a logged model", e.Model,
		func(w *wireLoggedModel) bool { return w.Info.ModelID != "" },
		func(w *wireLoggedModel) (*store.LoggedModel, error) { m := w.toStore(); return &m, nil })
}

// loggedModelPath escapes id into the URL path; ids are "m-<hex>" but a
// caller-supplied id must never add path segments.
func loggedModelPath(id string, rest ...string) (string, error) {
	if id == "" || strings.ContainsAny(id, "/\\?#%") || id == "." || id == ".." {
		return "", failure.New(failure.InvalidArgument, "logged model id %q is not valid", id)
	}
	return strings.Join(append([]string{"logged-models", url.PathEscape(id)}, rest...), "/"), nil
}

// CreateLoggedModel creates a PENDING logged model. Not retried after an
// ambiguous failure; callers tag it and search first.
func (c *Client) CreateLoggedModel(ctx context.Context, req store.CreateLoggedModelRequest) (*store.LoggedModel, error) {
	in := map[string]any{"experiment_id": req.ExperimentID}
	setIf(in, "name", req.Name)
	setIf(in, "source_run_id", req.SourceRunID)
	setIf(in, "model_type", req.ModelType)
	if len(req.Params) > 0 {
		in["params"] = toKVs(req.Params)
	}
	if len(req.Tags) > 0 {
		in["tags"] = toKVs(req.Tags)
	}
	var out loggedModelEnvelope
	if err := c.call(ctx, create, http.MethodPost, "logged-models", nil, in, &out); err != nil {
		return nil, c.staleExperiment(err, req.ExperimentID)
	}
	return out.get("logged-models create")
}

func setIf(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// GetLoggedModel returns NotFound for an unknown id.
func (c *Client) GetLoggedModel(ctx context.Context, modelID string) (*store.LoggedModel, error) {
	p, err := loggedModelPath(modelID)
	if err != nil {
		return nil, err
	}
	var out loggedModelEnvelope
	if err := c.call(ctx, read, http.MethodGet, p, nil, nil, &out); err != nil {
		return nil, err
	}
	return out.get("logged-models get")
}

// SearchLoggedModelsByTag pages through logged-models/search.
func (c *Client) SearchLoggedModelsByTag(ctx context.Context, experimentID, key, value string) ([]store.LoggedModel, error) {
	wire, exact, err := searchByTag[wireLoggedModel](ctx, c, "logged-models/search", "models", experimentID, key, value, 100)
	if err != nil {
		return nil, err
	}
	// Creation order, as the contract's look-up-before-create expects; the
	// server answers newest first.
	slices.Reverse(wire)
	sort.SliceStable(wire, func(i, j int) bool { return wire[i].Info.CreatedMs < wire[j].Info.CreatedMs })
	models := make([]store.LoggedModel, 0, len(wire))
	for _, m := range wire {
		if lm := m.toStore(); !exact || lm.Tags[key] == value {
			models = append(models, lm)
		}
	}
	return models, nil
}

// FinalizeLoggedModel sets READY or UPLOAD_FAILED. The server requires
// model_id in the body as well as in the path.
func (c *Client) FinalizeLoggedModel(ctx context.Context, modelID string, status store.LoggedModelStatus) (*store.LoggedModel, error) {
	p, err := loggedModelPath(modelID)
	if err != nil {
		return nil, err
	}
	var out loggedModelEnvelope
	in := map[string]any{"model_id": modelID, "status": string(status)}
	if err := c.call(ctx, read, http.MethodPatch, p, nil, in, &out); err != nil {
		return nil, err
	}
	return out.get("logged-models finalize")
}

// SetLoggedModelTags upserts tags; the server answers {}.
func (c *Client) SetLoggedModelTags(ctx context.Context, modelID string, tags store.Tags) error {
	p, err := loggedModelPath(modelID, "tags")
	if err != nil {
		return err
	}
	return c.call(ctx, read, http.MethodPatch, p, nil, map[string]any{"tags": toKVs(tags)}, nil)
}
