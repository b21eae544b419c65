package app

import (
	"context"
	"log/slog"
	"testing"

	"github.com/flavorflow/flavorflow/config"
)

// The MLflow client takes its settings from the loaded configuration only:
// a variable of the process that the injected getenv did not pass on is
// not read behind its back (openMLflow used to call os.LookupEnv).
func TestOpenStoreReadsOnlyTheConfiguration(t *testing.T) {
	t.Setenv("MLFLOW_TRACKING_INSECURE_TLS", "maybe")
	t.Setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "99")
	st, err := OpenStore(context.Background(), "http://127.0.0.1:1", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("the process environment was read: %v", err)
	}
	st.Close()
	m := config.Defaults().MLflow
	m.MaxRetries = 11
	if _, err := OpenStore(context.Background(), "http://127.0.0.1:1", slog.New(slog.DiscardHandler), WithMLflow(m)); err == nil {
		t.Fatal("the mlflow section was not applied")
	}
}
