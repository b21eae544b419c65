// Package telemetrytest reads recorded OpenTelemetry data in tests.
package telemetrytest

import (
	"sort"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Flatten maps metric name -> "k=v,k=v" (sorted attributes) -> value for
// integer sums and data-point count for histograms, which is what tests
// assert on.
func Flatten(rm metricdata.ResourceMetrics) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	add := func(name string, set attribute.Set, v int64) {
		if out[name] == nil {
			out[name] = map[string]int64{}
		}
		out[name][key(set)] += v
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					add(m.Name, p.Attributes, p.Value)
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					add(m.Name, p.Attributes, int64(p.Value))
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					add(m.Name, p.Attributes, int64(p.Count))
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					add(m.Name, p.Attributes, int64(p.Count))
				}
			}
		}
	}
	return out
}

func key(set attribute.Set) string {
	parts := make([]string, 0, set.Len())
	for _, kv := range set.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
