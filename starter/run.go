package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/codes"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/config"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/internal/telemetry"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

const runUsage = `
starter run --model NAME (--data FILE | --pairs "x,y;x,y") [flags]

Starts a ModelLifecycle pipeline: train a FakeModel, save it in MLflow's format,
log and register it, verify the registered version, then move the alias.
The data is checked first with the worker's own limits (1,000,000 samples,
64 MiB): bad data is InvalidTrainingData, exit 2, and nothing starts. Any name
MLflow accepts works; the workflow ID holds it ASCII-escaped (~XX).

Exit codes: 0 completed, 1 the pipeline failed, 2 bad usage or input, 3 no
result: Temporal unreachable, or still running at --timeout. The pipeline goes
on without this command (a lost connection is retried until --timeout);
follow it with 'starter watch ID'.

Examples:
  starter run --model iris --pairs "1,4;2,5;3,6" --alias champion
  starter run --model iris --data ./train.csv --no-wait
  starter run --model big --pairs "1,4" --weights-size 536870912 --output json
  starter run --model prices --data ./rows.csv --trainer linear   # header a,b,...,y
`

type runResult struct {
	WorkflowID  string                     `json:"workflow_id"`
	RunID       string                     `json:"run_id"`
	Status      string                     `json:"status"`
	TemporalURL string                     `json:"temporal_ui_url,omitempty"`
	Result      *workflows.LifecycleResult `json:"result,omitempty"`
	Error       *errorOut                  `json:"error,omitempty"`
	Hint        string                     `json:"hint,omitempty"` // how to follow a pipeline that goes on
}

type errorOut struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// pipelineFlags describe a ModelLifecycle request; run and schedule create
// share them.
type pipelineFlags struct {
	model, dataFile, pairs, alias string
	weights                       int64
	policy                        policyFlags
	trainer, flavor               string
}

func (p *pipelineFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&p.model, "model", "", "registered model name (required)")
	fs.StringVar(&p.dataFile, "data", "", "training data file: CSV x,y or t,x,y lines, or a JSON array of {x,y[,t]} (t: RFC 3339 or unix seconds)")
	fs.StringVar(&p.pairs, "pairs", "", `inline training pairs "x,y;x,y"`)
	fs.StringVar(&p.alias, "alias", "", "alias to promote to after verification (default: pipeline.alias from the config; \"-\" for none)")
	fs.Int64Var(&p.weights, "weights-size", 0, "size in bytes of the model's weights payload (for large-model runs)")
	fs.StringVar(&p.trainer, "trainer", "", `trainer in the worker's registry (default fakemodel; the worker also has "linear": y on every other column of a CSV with a header or JSON records); sklearn-* and py-* run in the Python worker (pyworker/, queue <queue>-python), e.g. "sklearn-linear"`)
	fs.StringVar(&p.flavor, "flavor", "", "the model's flavor (default: the trainer's)")
	p.policy.register(fs)
}

// request validates the flags and builds the request. byPath sends a data
// file by path whatever its size (a schedule reads it afresh on every run).
func (p *pipelineFlags) request(cfg config.Config, byPath bool) (workflows.LifecycleRequest, error) {
	if p.model == "" {
		return workflows.LifecycleRequest{}, usageError{"--model is required"}
	}
	if err := vocab.ValidateModelName(p.model); err != nil {
		return workflows.LifecycleRequest{}, err
	}
	req := workflows.LifecycleRequest{ModelName: p.model, Alias: cfg.Pipeline.Alias, WeightsSize: p.weights, VerifyInputs: cfg.Pipeline.VerifyInputs}
	switch p.alias {
	case "":
	case "-":
		req.Alias = ""
	default:
		req.Alias = p.alias
	}
	if req.Alias != "" {
		if err := vocab.ValidateAlias(req.Alias); err != nil {
			return req, err
		}
	}
	req.Trainer, req.Flavor = p.trainer, p.flavor
	if workflows.NamesOtherFlavor(req) {
		return p.otherFlavorRequest(req, byPath)
	}
	var err error
	var model fakemodel.FakeModel
	if req.Data, model, err = trainingData(p.dataFile, p.pairs, byPath); err != nil {
		return req, err
	}
	// Verification predicts on these inputs; a prediction that overflows
	// cannot be recorded (JSON has no Inf) and would fail the pipeline after
	// registration, step by step retried.
	inputs := req.VerifyInputs
	if len(inputs) == 0 {
		inputs = workflows.DefaultVerifyInputs
	}
	for _, x := range inputs {
		if y := model.Predict(x); math.IsInf(y, 0) || math.IsNaN(y) {
			return req, failure.New(failure.InvalidTrainingData, "the fitted offset %g overflows on the verification input %g (pipeline.verify_inputs)", model.Offset, x)
		}
	}
	if p.weights < 0 || p.weights > fakemodel.MaxWeightsSize {
		return req, usageError{fmt.Sprintf("--weights-size %d is outside [0, %d]", p.weights, int64(fakemodel.MaxWeightsSize))}
	}
	if req.Policy, req.Holdout, err = p.policy.build(func(path string) (vocab.TrainingData, error) {
		d, _, err := trainingData(path, "", byPath)
		return d, err
	}); err != nil {
		return req, err
	}
	if err := p.policy.fits(req, byPath); err != nil {
		return req, err
	}
	return req, nil
}

// otherFlavorRequest finishes a request naming another trainer or flavor:
// the data is read as rows with the worker's readers and limits (the fit
// itself, and the names, are the worker's to check) and goes by absolute
// path, or inline as x,y pairs.
func (p *pipelineFlags) otherFlavorRequest(req workflows.LifecycleRequest, byPath bool) (workflows.LifecycleRequest, error) {
	req.WeightsSize = p.weights
	switch {
	case p.dataFile != "" && p.pairs != "":
		return req, usageError{"give --data or --pairs, not both"}
	case p.dataFile == "" && p.pairs == "":
		return req, usageError{"give training data with --data FILE or --pairs \"x,y;x,y\""}
	case p.pairs != "":
		s, err := fakemodel.ParsePairs(p.pairs)
		if err != nil {
			return req, err
		}
		req.Data.Pairs = s
		if err := req.Data.CheckInlineLimit(); err != nil {
			return req, err
		}
	default:
		abs, err := filepath.Abs(p.dataFile)
		if err != nil {
			return req, failure.Wrap(failure.InvalidTrainingData, err, "training data path")
		}
		if _, err := rows.ReadFile(abs, rows.ReadOptions{}); err != nil {
			return req, err
		}
		req.Data.Path = abs
	}
	var err error
	if req.Policy, req.Holdout, err = p.policy.build(func(path string) (vocab.TrainingData, error) {
		// Read as the worker will read it, and sent by absolute path.
		abs, err := filepath.Abs(path)
		if err != nil {
			return vocab.TrainingData{}, failure.Wrap(failure.InvalidTrainingData, err, "evaluation data path")
		}
		if _, err := rows.ReadFile(abs, rows.ReadOptions{}); err != nil {
			return vocab.TrainingData{}, failure.Wrap(failure.CodeOf(err), err, "evaluation data")
		}
		return vocab.TrainingData{Path: abs}, nil
	}); err != nil {
		return req, err
	}
	if err := workflows.ValidateFlavor(req); err != nil {
		return req, err
	}
	return req, p.policy.fitsTable(req, byPath)
}

func runCmd(e *env, c *commonFlags) *cobra.Command {
	var p pipelineFlags
	var id string
	var noWait bool
	var timeout time.Duration
	cmd := command(runUsage, "start a model lifecycle pipeline and follow it", func(cmd *cobra.Command, _ []string) error {
		return runPipeline(cmd.Context(), e, c, &p, id, noWait, timeout)
	})
	cmd.Args = args(0, 0, "")
	fs := cmd.Flags()
	p.register(fs)
	fs.StringVar(&id, "id", "", "workflow ID, printable ASCII (default: lifecycle-<model>-<random>, non-ASCII bytes of the name as ~XX); reusing one is idempotent")
	fs.BoolVar(&noWait, "no-wait", false, "start the pipeline and return without waiting")
	fs.DurationVar(&timeout, "timeout", 30*time.Minute, "how long to wait for the result")
	return cmd
}

func runPipeline(ctx context.Context, e *env, c *commonFlags, p *pipelineFlags, id string, noWait bool, timeout time.Duration) (retErr error) {
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	req, err := p.request(cfg, false)
	if err != nil {
		return err
	}
	if err := checkID("--id", id); err != nil {
		return err
	}
	model := &p.model

	// The root span of the pipeline's trace: the worker's spans join it
	// through the Temporal interceptor, MLflow's through traceparent.
	if c.tel, err = telemetry.Setup(ctx, "flavorflow-starter", telemetry.Options{Getenv: e.getenv, StdoutWriter: e.stderr, Logger: quietLogger(e.stderr)}); err != nil {
		return err
	}
	defer telemetry.ShutdownWithin(c.tel, 5*time.Second, quietLogger(e.stderr))
	ctx, span := c.tel.Tracer().Start(ctx, "starter run")
	defer func() {
		if retErr != nil {
			span.RecordError(retErr)
			span.SetStatus(codes.Error, retErr.Error())
		}
		span.End()
	}()
	cl, opts, err := c.dial(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	wfID := id
	if wfID == "" {
		// The ID is ASCII (gRPC headers carry it); the real name is in the
		// ModelName search attribute and the memo.
		wfID = workflows.LifecycleID(*model, uuid.NewString()[:8])
	}
	run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       wfID,
		TaskQueue:                cfg.Temporal.TaskQueue,
		TypedSearchAttributes:    temporal.NewSearchAttributes(workflows.ModelNameKey.ValueSet(*model)),
		Memo:                     map[string]any{workflows.MemoModelName: *model},
		StaticSummary:            fmt.Sprintf("Train, register and verify %s", *model),
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING, // the same --id attaches to the running pipeline
	}, workflows.WorkflowName, req)
	if err != nil {
		// The start may have reached the server before the connection
		// failed: name the ID, so the pipeline can be found, not started twice.
		return failure.Wrap(failure.ServerUnavailable, err, "start workflow %s on %s (if it started: starter watch %s; starter run --id %s attaches instead of starting another)",
			wfID, opts.HostPort, wfID, wfID)
	}
	out := runResult{WorkflowID: run.GetID(), RunID: run.GetRunID(), Status: "Running",
		TemporalURL: workflowURL(cfg.Temporal.UIURL, opts.Namespace, run.GetID(), run.GetRunID())}
	if noWait {
		return emitRun(e, c.output, out)
	}
	if c.output == "text" {
		fmt.Fprintf(e.stderr, "started %s (run %s)\n  %s\n", out.WorkflowID, out.RunID, out.TemporalURL)
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return finish(waitCtx, e, c.output, cl, run, out, timeout)
}

// checkID refuses a workflow or schedule ID the pipeline cannot carry,
// before anything starts: IDs travel in gRPC headers, which take printable
// ASCII only (anything else failed later as a misleading "unreachable",
// exit 3), and as a tag value in MLflow search filters, whose grammar has
// no escapes (a backslash failed the pipeline after training; quotes and
// spaces are kept out too, so an ID reads plainly in every filter and URL).
// Names are never pasted into IDs (workflows.IDPart); an ID the user gives
// must be one already.
func checkID(flagName, id string) error {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= 0x20 || c > 0x7e || c == '\\' || c == '\'' || c == '"' {
			return usageError{fmt.Sprintf("%s %q: an ID is printable ASCII without spaces, quotes or backslashes (the model's real name goes in --model)", flagName, id)}
		}
	}
	return nil
}

// trainingData validates the data locally with the worker's own checks
// (fakemodel.FitData: the same limits, parsing and fit), so data the worker
// would refuse fails here with InvalidTrainingData (exit 2) before a
// pipeline starts. Small data goes inline (the worker may run elsewhere),
// large files by absolute path. It returns the model the data fits.
func trainingData(file, pairs string, byPath bool) (vocab.TrainingData, fakemodel.FakeModel, error) {
	var d vocab.TrainingData
	var none fakemodel.FakeModel
	switch {
	case file != "" && pairs != "":
		return d, none, usageError{"give --data or --pairs, not both"}
	case file == "" && pairs == "":
		return d, none, usageError{"give training data with --data FILE or --pairs \"x,y;x,y\""}
	case pairs != "":
		s, err := fakemodel.ParsePairs(pairs)
		if err != nil {
			return d, none, err
		}
		d.Pairs = s
	default:
		abs, err := filepath.Abs(file)
		if err != nil {
			return d, none, failure.Wrap(failure.InvalidTrainingData, err, "training data path")
		}
		d.Path = abs
	}
	samples, model, _, err := fakemodel.FitData(d, time.Time{})
	if err != nil {
		return vocab.TrainingData{}, none, err
	}
	if d.Path != "" && len(samples) <= vocab.MaxInlinePairs && !byPath {
		return vocab.TrainingData{Pairs: samples}, model, nil
	}
	return d, model, nil
}

func emitRun(e *env, output string, r runResult) error {
	if output == "json" {
		return printJSON(e.stdout, r)
	}
	w := e.stdout
	switch {
	case r.Result != nil:
		res := r.Result
		fmt.Fprintf(w, "Pipeline %s completed\n", r.WorkflowID)
		if res.Flavor != "" {
			fmt.Fprintf(w, "  model        %s version %d (flavor %s)\n", res.ModelName, res.Version, res.Flavor)
		} else {
			fmt.Fprintf(w, "  model        %s version %d (offset %g)\n", res.ModelName, res.Version, res.Offset)
		}
		fmt.Fprintf(w, "  model URI    %s\n", res.ModelURI)
		switch {
		case res.AliasURI != "" && res.PreviousAlias == 0:
			fmt.Fprintf(w, "  alias URI    %s (alias was unset)\n", res.AliasURI)
		case res.AliasURI != "":
			fmt.Fprintf(w, "  alias URI    %s (was version %d)\n", res.AliasURI, res.PreviousAlias)
		}
		printDecision(w, res.Outcome, res.Reason, res.Evidence, res.Approval)
		fmt.Fprintf(w, "  logged model %s (run %s)\n", res.LoggedModelURI, res.RunID)
		fmt.Fprintf(w, "  manifest     sha256:%s\n", res.ManifestSHA256)
		if res.UIURL != "" {
			fmt.Fprintf(w, "  MLflow UI    %s\n", res.UIURL)
		}
		fmt.Fprintf(w, "  Temporal UI  %s\n", r.TemporalURL)
	case r.Error != nil:
		fmt.Fprintf(e.stderr, "Pipeline %s %s: %s: %s\n  Temporal UI  %s\n", r.WorkflowID, strings.ToLower(r.Status), r.Error.Type, r.Error.Message, r.TemporalURL)
	default:
		fmt.Fprintf(w, "Started pipeline %s (run %s)\n  Temporal UI  %s\n", r.WorkflowID, r.RunID, r.TemporalURL)
	}
	return nil
}

// rootMessage is the innermost message of a workflow error chain, which is
// the activity's own words rather than Temporal's wrapping.
func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

func humanBytes(n int64) string {
	switch {
	case n <= 0:
		return ""
	case n < 1<<20:
		return fmt.Sprintf("%d B", n)
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}
