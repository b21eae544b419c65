package mlflow

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

var (
	read   = callOpts{}
	create = callOpts{create: true}
)

// GetExperimentByName returns NotFound when there is no such experiment.
// An answer is reused for experimentTTL (cache.go): every pipeline looks
// its experiment up twice, and it is the same experiment for hours.
func (c *Client) GetExperimentByName(ctx context.Context, name string) (*store.Experiment, error) {
	if e, ok := c.experiments.get(name); ok && c.now().Sub(e.at) < experimentTTL {
		exp := e.exp
		exp.Tags = maps.Clone(e.exp.Tags)
		return &exp, nil
	}
	var out struct {
		Experiment *wireExperiment `json:"experiment"`
	}
	if err := c.call(ctx, read, http.MethodGet, "experiments/get-by-name", url.Values{"experiment_name": {name}}, nil, &out); err != nil {
		if IsNotFound(err) {
			c.experiments.removeIf(func(n string, _ cachedExperiment) bool { return n == name })
		}
		return nil, err
	}
	if out.Experiment == nil {
		return nil, failure.New(failure.BadResponse, "experiments/get-by-name: expected an experiment")
	}
	exp := out.Experiment.toStore()
	if exp.ID != "" && exp.Name == name {
		c.experiments.put(name, cachedExperiment{exp: *exp, at: c.now()})
	}
	return exp, nil
}

// staleExperiment turns the server's RESOURCE_DOES_NOT_EXIST for an
// experiment ID this client handed out from its cache into a retryable
// failure after dropping the entry: the experiment was deleted for good
// (and perhaps created again under its name) since it was looked up, and
// the retry looks the name up again instead of failing the step.
func (c *Client) staleExperiment(err error, experimentID string) error {
	if !IsNotFound(err) {
		return err
	}
	if !c.experiments.removeIf(func(_ string, e cachedExperiment) bool { return e.exp.ID == experimentID }) {
		return err
	}
	return failure.Wrap(failure.Internal, err, "experiment %s no longer exists; the retry looks its name up again", experimentID)
}

// CreateExperiment is not retried after an ambiguous failure; callers look
// the name up first and again after AlreadyExists.
func (c *Client) CreateExperiment(ctx context.Context, name string, tags store.Tags) (string, error) {
	in := map[string]any{"name": name, "tags": toKVs(tags)}
	var out struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := c.call(ctx, create, http.MethodPost, "experiments/create", nil, in, &out); err != nil {
		return "", err
	}
	if out.ExperimentID == "" {
		return "", failure.New(failure.BadResponse, "experiments/create: expected an experiment_id")
	}
	return out.ExperimentID, nil
}

type runEnvelope struct {
	Run *wireRun `json:"run"`
}

func (e runEnvelope) get(endpoint string) (*store.Run, error) {
	return unwrap(endpoint, "a run", e.Run,
		func(w *wireRun) bool { return w.Info.RunID != "" },
		func(w *wireRun) (*store.Run, error) { r := w.toStore(); return &r, nil })
}

// CreateRun starts a run (status RUNNING).
func (c *Client) CreateRun(ctx context.Context, req store.CreateRunRequest) (*store.Run, error) {
	in := map[string]any{"experiment_id": req.ExperimentID, "run_name": req.Name, "tags": toKVs(req.Tags)}
	if req.StartTimeMs != 0 {
		in["start_time"] = req.StartTimeMs
	}
	var out runEnvelope
	if err := c.call(ctx, create, http.MethodPost, "runs/create", nil, in, &out); err != nil {
		return nil, c.staleExperiment(err, req.ExperimentID)
	}
	return out.get("runs/create")
}

// GetRun returns the run with its latest metrics, params, tags and outputs.
func (c *Client) GetRun(ctx context.Context, runID string) (*store.Run, error) {
	var out runEnvelope
	if err := c.call(ctx, read, http.MethodGet, "runs/get", url.Values{"run_id": {runID}}, nil, &out); err != nil {
		return nil, err
	}
	return out.get("runs/get")
}

// SearchRunsByTag pages through runs/search with a tag filter.
func (c *Client) SearchRunsByTag(ctx context.Context, experimentID, key, value string) ([]store.Run, error) {
	// runs/search is a read even though it is a POST.
	wire, exact, err := searchByTag[wireRun](ctx, c, "runs/search", "runs", experimentID, key, value, 1000)
	if err != nil {
		return nil, err
	}
	runs := make([]store.Run, 0, len(wire))
	for _, r := range wire {
		if run := r.toStore(); !exact || run.Tags[key] == value {
			runs = append(runs, run)
		}
	}
	// Oldest first. The server sorts by start_time DESC and breaks ties by
	// run id, so runs with equal start times cannot be put in creation order.
	slices.Reverse(runs)
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].StartTimeMs < runs[j].StartTimeMs })
	return runs, nil
}

// tagFilter builds `tags.`key` = 'value'` (see filterCond for exact).
func tagFilter(key, value string) (filter string, exact bool, err error) {
	if err := vocab.ValidateTagKey(key); err != nil {
		return "", false, err
	}
	return filterCond("tags.`"+key+"`", value)
}

// filterCond is `field = 'v'`. MLflow accepts names (and so export keys)
// with both quote kinds, which its filter grammar cannot spell: for those
// it is `field LIKE 'prefix%'` on the part before the first quote, and
// exact is true: the caller keeps only the items whose value equals v.
func filterCond(field, v string) (cond string, exact bool, err error) {
	q, err := quoteFilterValue(v)
	if err == nil {
		return field + " = " + q, false, nil
	}
	i := strings.IndexAny(v, `'"`)
	if i < 0 || strings.ContainsRune(v, '\\') {
		return "", false, err
	}
	return field + " LIKE '" + v[:i] + "%'", true, nil
}

// quoteFilterValue quotes a string for MLflow's search filter grammar,
// which has no escapes: 'v', or "v" when v holds a single quote (3.17.2
// matches it/s with name="it's"). A value with both quotes or a backslash
// cannot be expressed and is refused rather than sent as another filter.
func quoteFilterValue(v string) (string, error) {
	switch {
	case strings.ContainsRune(v, '\\') || (strings.ContainsRune(v, '\'') && strings.ContainsRune(v, '"')):
		return "", failure.New(failure.InvalidArgument, "%q cannot be written in an MLflow search filter (backslash, or both quote kinds)", v)
	case strings.ContainsRune(v, '\''):
		return `"` + v + `"`, nil
	}
	return "'" + v + "'", nil
}

// LogBatch writes params, tags and metrics in as many requests as MLflow's
// batch limits need. log-batch is safe to repeat, so it is retried.
func (c *Client) LogBatch(ctx context.Context, runID string, b store.Batch) error {
	// Checked here as the local store checks them: the server stores
	// longer dataset fields on sqlite only.
	for _, m := range b.Metrics {
		if err := store.ValidateMetric(m); err != nil {
			return err
		}
	}
	for _, chunk := range splitBatch(b) {
		in := map[string]any{"run_id": runID}
		// Empty lists are omitted rather than sent as null.
		if len(chunk.params) > 0 {
			in["params"] = chunk.params
		}
		if len(chunk.tags) > 0 {
			in["tags"] = chunk.tags
		}
		if len(chunk.metrics) > 0 {
			in["metrics"] = chunk.metrics
		}
		if err := c.call(ctx, read, http.MethodPost, "runs/log-batch", nil, in, nil); err != nil {
			return err
		}
	}
	return nil
}

// UpdateRun sets the status and end time; repeating it is harmless.
func (c *Client) UpdateRun(ctx context.Context, runID string, status store.RunStatus, endTimeMs int64) error {
	in := map[string]any{"run_id": runID, "status": string(status)}
	if endTimeMs != 0 {
		in["end_time"] = endTimeMs
	}
	return c.call(ctx, read, http.MethodPost, "runs/update", nil, in, nil)
}

// LogInputs logs datasets as inputs of the run (runs/log-inputs). The
// server dedupes by (experiment, name, digest) and (dataset, run), so a
// repeat after a lost answer logs nothing twice: it is retried like a read.
func (c *Client) LogInputs(ctx context.Context, runID string, inputs []store.DatasetInput) error {
	if err := store.ValidateDatasetInputs(inputs); err != nil {
		return err
	}
	datasets := make([]wireDatasetInput, 0, len(inputs))
	for _, in := range inputs {
		datasets = append(datasets, toWireDatasetInput(in))
	}
	return c.call(ctx, read, http.MethodPost, "runs/log-inputs", nil, map[string]any{"run_id": runID, "datasets": datasets}, nil)
}

// LogOutputs links logged models to the run (runs/outputs, MLflow 3).
func (c *Client) LogOutputs(ctx context.Context, runID string, modelIDs []string) error {
	models := make([]map[string]any, 0, len(modelIDs))
	for _, id := range modelIDs {
		models = append(models, map[string]any{"model_id": id, "step": 0})
	}
	err := c.call(ctx, read, http.MethodPost, "runs/outputs", nil, map[string]any{"run_id": runID, "models": models}, nil)
	if err == nil {
		return nil
	}
	// The server refuses to link a model twice (a UNIQUE constraint, 400),
	// so a retry after a lost answer fails although the first call
	// committed: read the run, and succeed when every model is linked.
	if run, gerr := c.GetRun(ctx, runID); gerr == nil && linked(run.OutputModels, modelIDs) {
		return nil
	}
	return err
}

func linked(outputs, modelIDs []string) bool {
	for _, id := range modelIDs {
		if !slices.Contains(outputs, id) {
			return false
		}
	}
	return true
}
