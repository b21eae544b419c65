package mlflow

import (
	"strings"
	"testing"
)

func TestEndpointKey(t *testing.T) {
	for in, want := range map[string]string{
		"GET /api/2.0/mlflow/registered-models/get":                                             "GET mlflow/registered-models/get",
		"PATCH /api/2.0/mlflow/logged-models/m-0123456789abcdef0123456789abcdef/tags":           "PATCH mlflow/logged-models/{id}/tags",
		"PUT /api/2.0/mlflow-artifacts/artifacts/1/models/m-0123456789abcdef0123456789abcdef/a": "PUT mlflow-artifacts/artifacts/…",
		"GET /api/2.0/mlflow-artifacts/artifacts":                                               "GET mlflow-artifacts/artifacts",
		"POST /ajax-api/2.0/mlflow-artifacts/mpu/create/1/x/weights.bin":                        "POST mlflow-artifacts/mpu/create/…",
	} {
		m, p, _ := strings.Cut(in, " ")
		if got := EndpointKey(m, p); got != want {
			t.Errorf("EndpointKey(%s) = %q, want %q", in, got, want)
		}
	}
}
