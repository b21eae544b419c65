package mlflow

import "github.com/flavorflow/flavorflow/store"

// MLflow's log-batch limits (mlflow/utils/validation.py).
const (
	maxBatchParams   = 100
	maxBatchTags     = 100
	maxBatchMetrics  = 1000
	maxBatchEntities = 1000
	maxBatchBytes    = 900 << 10 // under the 1 MB request limit, with room for JSON syntax
)

type wireBatch struct {
	params  []kv
	tags    []kv
	metrics []map[string]any
}

// splitBatch cuts b into requests that each respect the limits on counts
// and size. Order is deterministic so a retried LogBatch sends the same
// requests.
func splitBatch(b store.Batch) []wireBatch {
	var out []wireBatch
	cur, size := wireBatch{}, 0
	full := func(extra int) bool {
		n := len(cur.params) + len(cur.tags) + len(cur.metrics)
		return n >= maxBatchEntities || size+extra > maxBatchBytes
	}
	flush := func() {
		if len(cur.params)+len(cur.tags)+len(cur.metrics) > 0 {
			out = append(out, cur)
		}
		cur, size = wireBatch{}, 0
	}
	for _, p := range toKVs(b.Params) {
		n := len(p.Key) + len(p.Value) + 32
		if len(cur.params) >= maxBatchParams || full(n) {
			flush()
		}
		cur.params, size = append(cur.params, p), size+n
	}
	for _, t := range toKVs(b.Tags) {
		n := len(t.Key) + len(t.Value) + 32
		if len(cur.tags) >= maxBatchTags || full(n) {
			flush()
		}
		cur.tags, size = append(cur.tags, t), size+n
	}
	for _, m := range b.Metrics {
		n := len(m.Key) + 96
		if len(cur.metrics) >= maxBatchMetrics || full(n) {
			flush()
		}
		wm := map[string]any{"key": m.Key, "value": flexFloat(m.Value), "timestamp": m.TimestampMs, "step": m.Step}
		if m.ModelID != "" {
			// MLflow 3 also records the point on the logged model.
			wm["model_id"] = m.ModelID
			setIf(wm, "dataset_name", m.DatasetName)
			setIf(wm, "dataset_digest", m.DatasetDigest)
			n += len(m.ModelID) + len(m.DatasetName) + len(m.DatasetDigest) + 64
		}
		cur.metrics = append(cur.metrics, wm)
		size += n
	}
	flush()
	return out
}
