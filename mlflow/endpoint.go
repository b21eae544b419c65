package mlflow

import (
	"regexp"
	"strings"
)

var (
	endpointID         = regexp.MustCompile(`^(m-)?[0-9a-f]{32}$`)
	endpointAPIVersion = regexp.MustCompile(`^/(ajax-)?api/[0-9.]+/`)
)

// EndpointKey names a request to an MLflow server by method and endpoint:
// the path without its API prefix, with IDs and artifact paths folded, so
// that equal calls add up ("PUT mlflow-artifacts/artifacts/…",
// "PATCH mlflow/logged-models/{id}/tags"). The benchmarks' counting proxy
// and the round-trip budget test count requests by it, so their tables
// name the same endpoints.
func EndpointKey(method, path string) string {
	p := endpointAPIVersion.ReplaceAllString(path, "")
	segs := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case len(segs) > 3 && segs[0] == "mlflow-artifacts" && segs[1] == "mpu":
		segs = []string{"mlflow-artifacts", "mpu", segs[2], "…"} // mpu/<op>/<path>
	case len(segs) > 2 && segs[0] == "mlflow-artifacts":
		segs = []string{"mlflow-artifacts", segs[1], "…"} // artifacts/<path>, presigned/<path>
	}
	for i, s := range segs {
		if endpointID.MatchString(s) {
			segs[i] = "{id}"
		}
	}
	return method + " " + strings.Join(segs, "/")
}
