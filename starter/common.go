package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"

	"github.com/flavorflow/flavorflow/config"
	"github.com/flavorflow/flavorflow/internal/app"
	"github.com/flavorflow/flavorflow/internal/telemetry"
)

// commonFlags are the root's persistent flags, shared by every command.
type commonFlags struct {
	config   string
	output   string
	json     bool
	logLevel string
	settings config.Flags         // --address, --namespace, --profile, --tracking-uri: from the settings table
	tel      *telemetry.Telemetry // telemetry: set by commands that trace; nil is off
	ran      bool                 // a command's own code started (past the command-line parser)
}

// commonSettings are the settings every command takes as flags.
var commonSettings = []string{"temporal.address", "temporal.namespace", "temporal.profile", "store.tracking_uri"}

func (c *commonFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "config file (default: FLAVORFLOW_CONFIG or temporal-dev.yml here or above)")
	fs.StringVar(&c.output, "output", "text", "output format: text or json")
	fs.BoolVar(&c.json, "json", false, "same as --output json")
	fs.StringVar(&c.logLevel, "log-level", "warn", "client log level")
	c.settings.AddTo(fs, commonSettings...)
}

func (c *commonFlags) validate() error {
	if c.output != "text" && c.output != "json" {
		return usageError{fmt.Sprintf("--output %q: want text or json", c.output)}
	}
	if c.json {
		c.output = "json"
	}
	return nil
}

// load reads the configuration with the one loader: flags > environment >
// envconfig profile > temporal-dev.yml.
func (c *commonFlags) load(e *env) (config.Config, error) {
	return config.LoadWith(config.Options{Path: c.config, Getenv: e.getenv, Environ: e.environ, Flags: c.settings.Values()})
}

// session is a connected command: configuration, client and links.
type session struct {
	cfg  config.Config
	cl   client.Client
	opts client.Options
}

func (c *commonFlags) connect(ctx context.Context, e *env, cfg config.Config) (*session, error) {
	cl, opts, err := c.dial(ctx, e, cfg)
	if err != nil {
		return nil, err
	}
	return &session{cfg: cfg, cl: cl, opts: opts}, nil
}

// open is load then connect, for commands whose flags need no more checks.
func (c *commonFlags) open(ctx context.Context, e *env) (*session, error) {
	cfg, err := c.load(e)
	if err != nil {
		return nil, err
	}
	return c.connect(ctx, e, cfg)
}

func (s *session) Close() { s.cl.Close() }

func (s *session) workflowURL(id, runID string) string {
	return workflowURL(s.cfg.Temporal.UIURL, s.opts.Namespace, id, runID)
}

// scheduleURL links a schedule in the Temporal UI.
func (s *session) scheduleURL(id string) string {
	if s.cfg.Temporal.UIURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/namespaces/%s/schedules/%s", s.cfg.Temporal.UIURL, url.PathEscape(s.opts.Namespace), url.PathEscape(id))
}

// mlflowURL links a model version in the MLflow UI when the store is an
// MLflow server ("" for the embedded store). Credentials are never shown.
func mlflowURL(trackingURI, name string, version int) string {
	if config.IsLocalStore(trackingURI) || version < 1 {
		return ""
	}
	u, err := url.Parse(trackingURI)
	if err != nil {
		return ""
	}
	u.User = nil
	return strings.TrimRight(u.String(), "/") + "/#/models/" + url.PathEscape(name) + "/versions/" + strconv.Itoa(version)
}

// temporalError classifies an error from a Temporal call: an unknown ID is
// NotFound and a rejected argument InvalidArgument (exit 2), an unreachable
// server ServerUnavailable (exit 3).
func temporalError(err error, format string, args ...any) error {
	var (
		nf *serviceerror.NotFound
		ia *serviceerror.InvalidArgument
		ae *serviceerror.AlreadyExists
		ws *serviceerror.WorkflowExecutionAlreadyStarted
		fp *serviceerror.FailedPrecondition
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		return failure.New(failure.NotFound, "%s: %s", fmt.Sprintf(format, args...), nf.Message)
	case errors.As(err, &ia):
		return failure.New(failure.InvalidArgument, "%s: %s", fmt.Sprintf(format, args...), ia.Message)
	case errors.As(err, &fp):
		return failure.New(failure.InvalidArgument, "%s: %s", fmt.Sprintf(format, args...), fp.Message)
	case errors.As(err, &ae), errors.As(err, &ws), errors.Is(err, temporal.ErrScheduleAlreadyRunning):
		return failure.New(failure.AlreadyExists, "%s: already exists", fmt.Sprintf(format, args...))
	case errors.Is(err, context.Canceled):
		return failure.Wrap(failure.Internal, err, format, args...)
	}
	return failure.Wrap(failure.ServerUnavailable, err, format, args...)
}

// clientOptions applies the precedence flags > env > envconfig profile >
// temporal-dev.yml to the Temporal client options.
func (c *commonFlags) clientOptions(cfg config.Config, logger *slog.Logger) (client.Options, error) {
	return app.ClientOptions(cfg, logger)
}

func (c *commonFlags) dial(ctx context.Context, e *env, cfg config.Config) (client.Client, client.Options, error) {
	logger, err := app.NewLogger(e.stderr, "text", c.logLevel)
	if err != nil {
		return nil, client.Options{}, err
	}
	opts, err := c.clientOptions(cfg, logger)
	if err != nil {
		return nil, client.Options{}, err
	}
	c.tel.ConfigureClient(&opts) // telemetry: tracing interceptor, metrics handler
	cl, err := app.Dial(ctx, opts)
	return cl, opts, err
}

func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// workflowURL links a workflow run in the Temporal UI.
func workflowURL(uiBase, namespace, workflowID, runID string) string {
	if uiBase == "" {
		return ""
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", uiBase,
		url.PathEscape(namespace), url.PathEscape(workflowID), url.PathEscape(runID))
}
