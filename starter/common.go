package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"

	"go.temporal.io/sdk/client"

	"github.com/flavorflow/flavorflow/config"
	"github.com/flavorflow/flavorflow/internal/app"
	"github.com/flavorflow/flavorflow/internal/telemetry"
)

// commonFlags are shared by commands that talk to Temporal.
type commonFlags struct {
	config    string
	address   string
	namespace string
	profile   string
	output    string
	logLevel  string
	tel       *telemetry.Telemetry // telemetry: set by commands that trace; nil is off
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "config file (default: FLAVORFLOW_CONFIG or temporal-dev.yml here or above)")
	fs.StringVar(&c.address, "address", "", "Temporal frontend host:port (overrides TEMPORAL_ADDRESS)")
	fs.StringVar(&c.namespace, "namespace", "", "Temporal namespace (overrides TEMPORAL_NAMESPACE)")
	fs.StringVar(&c.profile, "profile", "", "Temporal envconfig profile (TEMPORAL_PROFILE)")
	fs.StringVar(&c.output, "output", "text", "output format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "warn", "client log level")
}

func (c *commonFlags) validate() error {
	if c.output != "text" && c.output != "json" {
		return usageError{fmt.Sprintf("--output %q: want text or json", c.output)}
	}
	return nil
}

func (c *commonFlags) load(e *env) (config.Config, error) {
	return config.Load(config.Find(c.config, e.getenv), e.getenv)
}

func (c *commonFlags) dial(ctx context.Context, e *env, cfg config.Config) (client.Client, client.Options, error) {
	logger, err := app.NewLogger(e.stderr, "text", c.logLevel)
	if err != nil {
		return nil, client.Options{}, err
	}
	opts, err := app.ClientOptions(cfg, app.ClientOverrides{Address: c.address, Namespace: c.namespace, Profile: c.profile}, logger)
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
