// Command ffmlflow drives flavorflow's Go flavor against a real MLflow server
// for the cross-language tests in tests/python:
//
//	ffmlflow register -tracking-uri URL -name M -alias A -offset 3 -work DIR
//	    save FakeModel(offset), log it to a new run of experiment "flavorflow-interop",
//	    register it as a new version of M and point alias A at it
//	ffmlflow load -tracking-uri URL -uri models:/M/1 -dst DIR
//	    resolve, download, verify and load a model (ours or the tutorial's my_flavor)
//
// Both print one JSON object on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/testrig/interop"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ffmlflow register|load [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	uri := fs.String("tracking-uri", "", "MLflow server URL")
	name := fs.String("name", "", "registered model name (register)")
	alias := fs.String("alias", "", "alias to set (register)")
	offset := fs.Float64("offset", 0, "model offset (register)")
	work := fs.String("work", "", "scratch directory (register)")
	modelURI := fs.String("uri", "", "model URI (load)")
	dst := fs.String("dst", "", "download directory (load)")
	_ = fs.Parse(os.Args[2:])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := mlflow.New(mlflow.Config{TrackingURI: *uri})
	if err == nil {
		defer st.Close()
		var out any
		switch os.Args[1] {
		case "register":
			out, err = register(ctx, st, *name, *alias, *offset, *work)
		case "load":
			out, err = load(ctx, st, *modelURI, *dst)
		default:
			err = fmt.Errorf("unknown command %q", os.Args[1])
		}
		if err == nil {
			err = json.NewEncoder(os.Stdout).Encode(out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ffmlflow:", err)
		os.Exit(1)
	}
}

func register(ctx context.Context, st store.Store, name, alias string, offset float64, work string) (any, error) {
	dir := filepath.Join(work, "model")
	if _, err := flavor.SaveModel(ctx, dir, fakemodel.New(offset), flavor.SaveOptions{}); err != nil {
		return nil, err
	}
	reg, err := interop.LogAndRegister(ctx, st, dir, name, "ffmlflow", alias)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_id": reg.Logged.ModelID, "model_uri": reg.Logged.ModelURI, "run_id": reg.RunID,
		"version": reg.Version, "manifest_sha256": reg.Logged.ManifestSHA256}, nil
}

func load(ctx context.Context, st store.Store, uri, dst string) (any, error) {
	if uri == "" || dst == "" {
		return nil, errors.New("-uri and -dst are required")
	}
	l, err := flavor.LoadModel(ctx, st, uri, dst)
	if err != nil {
		return nil, err
	}
	return map[string]any{"flavor": l.Flavor, "offset": l.Model.Offset, "predict_4": l.Model.Predict(4),
		"manifest_sha256": l.ManifestSHA256, "dir": l.Dir}, nil
}
