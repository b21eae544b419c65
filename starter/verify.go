package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/workflows"
)

const verifyUsage = `
starter verify --model NAME --version N [--inputs X,Y,...]

Makes a version registered outside flavorflow (by Python MLflow, say)
promotable, through Temporal (the VerifyVersion workflow): the worker
downloads the version, builds its sha256 manifest when it has none, uploads
it next to the model files (flavorflow-manifest.json) and records its hash on
the version, so every later load, promote and export checks the bytes. It
then loads the model with its flavor (model.pkl is never unpickled),
predicts on the inputs (default: the pipeline's verification inputs),
records the predictions and tags the version verified. A version that
already records a manifest hash is checked against it, never overwritten: a
mismatch is ChecksumMismatch. Running it again is safe.

Exit codes: 0 verified; 2 the version does not exist, does not load
(InvalidMLmodel, FlavorNotFound) or its bytes differ from its manifest
(ChecksumMismatch); 1 any other failure; 3 Temporal or the store unreachable.

Examples:
  starter verify --model iris --version 1
  starter verify --model iris --version 1 --inputs 4,0,-1.5 --output json
  starter verify --model iris --version 1 && starter promote --model iris --alias champion --version 1
`

type verifyOut struct {
	WorkflowID      string    `json:"workflow_id"`
	Model           string    `json:"model"`
	Version         int       `json:"version"`
	ModelURI        string    `json:"model_uri,omitempty"`
	Flavor          string    `json:"flavor,omitempty"`
	Offset          float64   `json:"offset"`
	ManifestSHA256  string    `json:"manifest_sha256,omitempty"`
	ManifestCreated bool      `json:"manifest_created"`
	Inputs          []float64 `json:"inputs,omitempty"`
	Predictions     []float64 `json:"predictions,omitempty"`
	MLflowURL       string    `json:"mlflow_ui_url,omitempty"`
	TemporalURL     string    `json:"temporal_ui_url"`
	Error           *errorOut `json:"error,omitempty"`
}

func verifyCmd(e *env, c *commonFlags) *cobra.Command {
	var f verifyFlags
	cmd := command(verifyUsage, "verify a version registered elsewhere (records its manifest) so it can be promoted", func(cmd *cobra.Command, _ []string) error {
		return verify(cmd.Context(), e, c, cmd, f)
	})
	cmd.Args = args(0, 0, "")
	fs := cmd.Flags()
	fs.StringVar(&f.model, "model", "", "registered model name (required)")
	fs.IntVar(&f.version, "version", 0, "version to verify (required)")
	fs.StringVar(&f.inputs, "inputs", "", "comma-separated verification inputs (default: pipeline.verify_inputs)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute, "how long to wait")
	return cmd
}

type verifyFlags struct {
	model, inputs string
	version       int
	timeout       time.Duration
}

func verify(ctx context.Context, e *env, c *commonFlags, cmd *cobra.Command, f verifyFlags) error {
	model, version, inputsFlag, timeout := &f.model, &f.version, &f.inputs, &f.timeout
	if err := requireFlags(cmd, "model", "version"); err != nil {
		return err
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	if err := store.ValidateModelName(*model); err != nil {
		return err
	}
	if *version < 1 {
		return usageError{fmt.Sprintf("--version %d: versions start at 1", *version)}
	}
	inputs, err := parseInputs(*inputsFlag)
	if err != nil {
		return err
	}
	if len(inputs) == 0 {
		inputs = cfg.Pipeline.VerifyInputs
	}
	s, err := c.connect(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	req := workflows.VerifyVersionRequest{ModelName: *model, Version: *version, Inputs: inputs}
	// One ID per version: repeating the command while it runs attaches to
	// it; afterwards it runs again (and finds the manifest recorded).
	id := fmt.Sprintf("verify-%s-v%d", workflows.IDPart(*model), *version)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	run, err := s.cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                cfg.Temporal.TaskQueue,
		TypedSearchAttributes:    temporal.NewSearchAttributes(workflows.ModelNameKey.ValueSet(*model)),
		StaticSummary:            fmt.Sprintf("verify %s version %d", *model, *version),
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, workflows.VerifyVersionName, req)
	if err != nil {
		return temporalError(err, "start %s on %s", workflows.VerifyVersionName, s.opts.HostPort)
	}
	out := verifyOut{WorkflowID: id, Model: *model, Version: *version, Inputs: inputs, TemporalURL: s.workflowURL(id, run.GetRunID())}
	var res workflows.VerifyVersionResult
	if err := run.Get(ctx, &res); err != nil {
		out.Error = errorOf(err)
		if c.output == "json" {
			_ = printJSON(e.stdout, out)
		}
		code := failure.Code(out.Error.Type)
		if ctx.Err() != nil {
			code = failure.ServerUnavailable
		}
		return failure.New(code, "verify %s version %d: %s\n  Temporal UI  %s", *model, *version, out.Error.Message, out.TemporalURL)
	}
	out.ModelURI, out.Flavor, out.Offset = res.ModelURI, res.Flavor, res.Offset
	out.ManifestSHA256, out.ManifestCreated = res.ManifestSHA256, res.ManifestCreated
	out.Inputs, out.Predictions = res.Inputs, res.Predictions
	out.MLflowURL = mlflowURL(cfg.Store.TrackingURI, *model, *version)
	if c.output == "json" {
		return printJSON(e.stdout, out)
	}
	w := e.stdout
	fmt.Fprintf(w, "Version %d of %s verified (flavor %s, offset %g)\n", *version, *model, res.Flavor, res.Offset)
	if res.ManifestCreated {
		fmt.Fprintf(w, "  manifest     sha256:%s (built and recorded now)\n", res.ManifestSHA256)
	} else {
		fmt.Fprintf(w, "  manifest     sha256:%s (matches the recorded hash)\n", res.ManifestSHA256)
	}
	for i, p := range res.Predictions {
		fmt.Fprintf(w, "  predict(%g) = %g\n", res.Inputs[i], p)
	}
	fmt.Fprintf(w, "  model URI    %s\n", res.ModelURI)
	if out.MLflowURL != "" {
		fmt.Fprintf(w, "  MLflow UI    %s\n", out.MLflowURL)
	}
	fmt.Fprintf(w, "  Temporal UI  %s\n", out.TemporalURL)
	return nil
}

// parseInputs reads "4,0,-1.5" ("" gives none).
func parseInputs(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var xs []float64
	for _, part := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, usageError{fmt.Sprintf("--inputs: %q is not a finite number", part)}
		}
		xs = append(xs, x)
	}
	return xs, nil
}
