// Command fflinear fits and saves a linearmodel with flavorflow's Go flavor
// for the cross-language tests in tests/python:
//
//	fflinear -data rows.csv -target y -dir DIR [-tracking-uri URL -name M]
//	    fit target on the other columns, save into DIR; with a tracking URI,
//	    also log it to a new run of experiment "flavorflow-interop" and
//	    register it as a new version of M
//
// It prints one JSON object on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/testrig/interop"
	"github.com/flavorflow/flavorflow/linearmodel"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/rows"
)

func main() {
	data := flag.String("data", "", "training data (CSV with a header or JSON records)")
	target := flag.String("target", "y", "the column to predict")
	dir := flag.String("dir", "", "directory to save into (must not exist or be empty)")
	uri := flag.String("tracking-uri", "", "MLflow server URL: also log and register")
	name := flag.String("name", "", "registered model name (with -tracking-uri)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := run(ctx, *data, *target, *dir, *uri, *name)
	if err == nil {
		err = json.NewEncoder(os.Stdout).Encode(out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fflinear:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, data, target, dir, uri, name string) (map[string]any, error) {
	if data == "" || dir == "" {
		return nil, errors.New("-data and -dir are required")
	}
	t, err := rows.ReadFile(data, rows.ReadOptions{})
	if err != nil {
		return nil, err
	}
	m, mse, err := linearmodel.Fit(t, target)
	if err != nil {
		return nil, err
	}
	saved, err := flavor.Save(ctx, dir, linearmodel.Flavor{}, m, flavor.SaveOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]any{"dir": dir, "features": m.Features, "weights": m.Weights, "intercept": m.Intercept,
		"mse": mse, "manifest_sha256": saved.ManifestSHA256}
	if uri == "" {
		return out, nil
	}
	st, err := mlflow.New(mlflow.Config{TrackingURI: uri})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	reg, err := interop.LogAndRegister(ctx, st, dir, name, "fflinear", "")
	if err != nil {
		return nil, err
	}
	out["model_uri"], out["version"], out["logged_manifest_sha256"] = reg.Logged.ModelURI, reg.Version, reg.Logged.ManifestSHA256
	return out, nil
}
