package store

import (
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/vocab"
)

// ValidateMetric applies MLflow's rules to one metric point: the key rule,
// and dataset fields only on a point linked to a logged model, within the
// column sizes.
func ValidateMetric(m Metric) error {
	if err := vocab.ValidateTagKey(m.Key); err != nil {
		return failure.Wrap(failure.InvalidArgument, err, "metric")
	}
	switch {
	case m.ModelID == "" && (m.DatasetName != "" || m.DatasetDigest != ""):
		return failure.New(failure.InvalidArgument, "metric %q names a dataset but no logged model", m.Key)
	case m.DatasetDigest != "" && m.DatasetName == "":
		return failure.New(failure.InvalidArgument, "metric %q has a dataset digest but no dataset name", m.Key)
	case len(m.DatasetName) > vocab.MaxDatasetNameLen:
		return failure.New(failure.InvalidArgument, "metric %q: dataset name is over %d characters", m.Key, vocab.MaxDatasetNameLen)
	case len(m.DatasetDigest) > vocab.MaxDatasetDigestLen:
		return failure.New(failure.InvalidArgument, "metric %q: dataset digest %q is over %d characters", m.Key, m.DatasetDigest, vocab.MaxDatasetDigestLen)
	}
	return nil
}
