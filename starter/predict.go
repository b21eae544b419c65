package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/app"
)

const predictUsage = `
starter predict [--tracking-uri DIR|URL] MODEL_URI X [X...]

Loads a model with the checks verification and promotion make (download,
check every hash, refuse a file the manifest does not name, read the MLmodel
flavor) and prints its predictions. MODEL_URI is models:/name/1,
models:/name@alias, models:/name/latest, models:/m-<id>, runs:/<id>/model or
a local directory. A registered version (or logged model) must come with the
manifest whose hash it records: a different one, or none, is
ChecksumMismatch (exit 2). A file damaged on the way is fetched again.

Example:
  starter predict models:/iris@champion 4      # prints 7 for FakeModel(3)
`

func predictCmd(e *env, c *commonFlags) *cobra.Command {
	cmd := command(predictUsage, "load a model by URI and print predictions", func(cmd *cobra.Command, args []string) error {
		args, err := parseNumberArgs(cmd, args)
		if err != nil || args == nil {
			return err // nil, nil: --help was given and shown
		}
		return predict(cmd.Context(), e, c, args)
	})
	// The inputs may be negative (predict URI -1.5), which a flag parser
	// takes for a shorthand flag: this command separates numbers from
	// flags itself (parseNumberArgs), so flags still go anywhere.
	cmd.DisableFlagParsing = true
	return cmd
}

// parseNumberArgs parses cmd's flags from args, taking every argument that
// is a number (or follows "--") as a positional one. It returns nil
// arguments after printing the help.
func parseNumberArgs(cmd *cobra.Command, args []string) ([]string, error) {
	_ = cmd.InheritedFlags() // merges the root's persistent flags into cmd.Flags()
	fs := cmd.Flags()
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if _, err := strconv.ParseFloat(a, 64); err == nil || a == "-" || !strings.HasPrefix(a, "-") {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if !strings.HasPrefix(a, "--") && len(name) == 1 {
			f = fs.ShorthandLookup(name)
		}
		if f != nil && !hasValue && f.NoOptDefVal == "" && i+1 < len(args) {
			i++
			flags = append(flags, args[i]) // the flag's value, even if it is a number
		}
	}
	if err := fs.Parse(flags); err != nil {
		return nil, cmd.FlagErrorFunc()(cmd, err)
	}
	if help, _ := fs.GetBool("help"); help {
		return nil, cmd.Help()
	}
	return append(positional, fs.Args()...), nil
}

func predict(ctx context.Context, e *env, c *commonFlags, args []string) error {
	if err := c.validate(); err != nil {
		return err
	}
	if len(args) < 2 {
		return usageError{"want MODEL_URI and at least one input"}
	}
	xs := make([]float64, 0, len(args)-1)
	for _, a := range args[1:] {
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
	loaded, err := flavor.LoadModel(ctx, st, args[0], dst)
	if failure.Has(err, failure.FlavorNotFound) {
		// Its bytes were checked; what it lacks is FakeModel's one-number
		// input. Say so, and where such a model is predicted.
		return failure.Wrap(failure.FlavorNotFound, err,
			"starter predict feeds numbers to fakemodel models, and %s is another flavor; predict it on a table of its columns with Python MLflow: mlflow.pyfunc.load_model(%q).predict(df)",
			args[0], args[0])
	}
	if err != nil {
		return err
	}
	preds := loaded.Model.PredictAll(xs)
	if c.output == "json" {
		return printJSON(e.stdout, map[string]any{"model_uri": args[0], "flavor": loaded.Flavor, "offset": loaded.Model.Offset,
			"manifest_sha256": loaded.ManifestSHA256, "inputs": xs, "predictions": preds})
	}
	for i, p := range preds {
		fmt.Fprintf(e.stdout, "predict(%g) = %g\n", xs[i], p)
	}
	return nil
}
