package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flavorflow/flavorflow/config"
	"github.com/flavorflow/flavorflow/export"
	"github.com/flavorflow/flavorflow/internal/app"
)

const exportUsage = `
starter export --model NAME --version N --to URL [--from DIR] [--alias A,B] [--experiment E]

Copies a model version from the embedded local store to an MLflow server: the
run with its params and metrics, the logged model linked to the run, the
artifacts (hash-checked on both sides), the model version and its aliases.
Running it again changes nothing. Credentials and TLS come from MLFLOW_*.

Examples:
  starter export --model iris --version 3 --to http://mlflow.internal:5000
  starter export --model iris --version 3 --to https://mlflow.example --alias champion --output json
`

func exportCmd(e *env, c *commonFlags) *cobra.Command {
	var f exportFlags
	cmd := command(exportUsage, "copy a model version from the embedded store to an MLflow server", func(cmd *cobra.Command, _ []string) error {
		return exportVersion(cmd.Context(), e, c, f)
	})
	cmd.Args = args(0, 0, "")
	fs := cmd.Flags()
	fs.StringVar(&f.model, "model", "", "registered model name (required)")
	fs.IntVar(&f.version, "version", 0, "version to export (required)")
	fs.StringVar(&f.to, "to", "", "destination MLflow server URL (required)")
	fs.StringVar(&f.from, "from", "", "source store (default: store.tracking_uri, the embedded store)")
	fs.StringVar(&f.aliases, "alias", "", "comma-separated aliases to set on the destination (default: the source version's aliases)")
	fs.StringVar(&f.experiment, "experiment", "", "destination experiment (default: store.experiment)")
	return cmd
}

type exportFlags struct {
	model, to, from, aliases, experiment string
	version                              int
}

func exportVersion(ctx context.Context, e *env, c *commonFlags, f exportFlags) error {
	model, version, to, from, aliases, experiment := &f.model, &f.version, &f.to, &f.from, &f.aliases, &f.experiment
	switch {
	case *model == "":
		return usageError{"--model is required"}
	case *version < 1:
		return usageError{"--version must be a positive version number"}
	case *to == "" || config.IsLocalStore(*to):
		return usageError{"--to must be an http(s):// MLflow server URL"}
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	if *from == "" {
		*from = cfg.Store.TrackingURI
	}
	if *experiment == "" {
		*experiment = cfg.Store.Experiment
	}
	logger := quietLogger(e.stderr)
	src, err := app.OpenStore(ctx, *from, logger, app.WithMLflow(cfg.MLflow))
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := app.OpenStore(ctx, *to, logger, app.WithMLflow(cfg.MLflow))
	if err != nil {
		return err
	}
	defer dst.Close()
	opts := export.Options{Experiment: *experiment}
	if *aliases != "" {
		opts.Aliases = strings.Split(*aliases, ",")
	}
	res, err := export.Version(ctx, src, dst, *model, *version, opts)
	if err != nil {
		return err
	}
	if c.output == "json" {
		return printJSON(e.stdout, res)
	}
	verb := "Exported"
	if !res.Created {
		verb = "Already exported"
	}
	fmt.Fprintf(e.stdout, "%s %s version %d from %s to %s\n", verb, *model, *version, src.Describe(), dst.Describe())
	fmt.Fprintf(e.stdout, "  model URI    %s\n  logged model %s (run %s)\n  manifest     sha256:%s\n",
		res.ModelURI, res.LoggedModelURI, res.RunID, res.ManifestSHA256)
	if len(res.Aliases) > 0 {
		fmt.Fprintf(e.stdout, "  aliases      %s\n", strings.Join(res.Aliases, ", "))
	}
	if res.UIURL != "" {
		fmt.Fprintf(e.stdout, "  MLflow UI    %s\n", res.UIURL)
	}
	return nil
}
