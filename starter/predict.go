package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/app"
)

const predictUsage = `
starter predict [--tracking-uri DIR|URL] MODEL_URI X [X...]

Loads a model the way LoadAndVerify does (download, check every hash, read
the MLmodel flavor) and prints its predictions. MODEL_URI is models:/name/1,
models:/name@alias, models:/name/latest, models:/m-<id>, runs:/<id>/model or
a local directory. A registered version (or logged model) must come with the
manifest whose hash it records: a different one, or none, is
ChecksumMismatch (exit 2). A file damaged on the way is fetched again.

Example:
  starter predict models:/iris@champion 4      # prints 7 for FakeModel(3)
`

func cmdPredict(ctx context.Context, e *env, args []string) error {
	var c commonFlags
	fs := newFlags(e, "predict", predictUsage)
	c.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		return usageError{"want MODEL_URI and at least one input"}
	}
	xs := make([]float64, 0, fs.NArg()-1)
	for _, a := range fs.Args()[1:] {
		x, err := strconv.ParseFloat(a, 64)
		if err != nil {
			return usageError{fmt.Sprintf("input %q is not a number", a)}
		}
		xs = append(xs, x)
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	st, err := app.OpenStore(ctx, cfg.Store.TrackingURI, quietLogger(e.stderr), app.WithMLflow(cfg.MLflow))
	if err != nil {
		return err
	}
	defer st.Close()
	dst, err := os.MkdirTemp("", "flavorflow-predict-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dst)
	loaded, err := flavor.LoadModel(ctx, st, fs.Arg(0), dst)
	if err != nil {
		return err
	}
	preds := loaded.Model.PredictAll(xs)
	if c.output == "json" {
		return printJSON(e.stdout, map[string]any{"model_uri": fs.Arg(0), "flavor": loaded.Flavor, "offset": loaded.Model.Offset,
			"manifest_sha256": loaded.ManifestSHA256, "inputs": xs, "predictions": preds})
	}
	for i, p := range preds {
		fmt.Fprintf(e.stdout, "predict(%g) = %g\n", xs[i], p)
	}
	return nil
}
