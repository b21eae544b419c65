package app

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	tlog "go.temporal.io/sdk/log"

	"github.com/flavorflow/flavorflow/config"
	"github.com/flavorflow/flavorflow/failure"
)

// NewLogger returns a slog logger writing format ("json" or "text") at level.
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, failure.New(failure.InvalidConfig, "log level %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, failure.New(failure.InvalidConfig, "log format %q is not json or text", format)
}

// ClientOverrides are values from flags; empty ones are not applied.
type ClientOverrides struct {
	Address   string
	Namespace string
	Profile   string
}

// ClientOptions builds Temporal client options. temporal-dev.yml gives the
// base, a Temporal envconfig profile (temporal.toml, TEMPORAL_PROFILE) and
// TEMPORAL_* env vars override it, and flags override everything.
func ClientOptions(cfg config.Config, o ClientOverrides, logger *slog.Logger) (client.Options, error) {
	opts, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{ConfigFileProfile: o.Profile})
	if err != nil {
		return client.Options{}, failure.Wrap(failure.InvalidConfig, err, "temporal client profile")
	}
	if opts.HostPort == "" {
		opts.HostPort = cfg.Temporal.Address
	}
	if opts.Namespace == "" {
		opts.Namespace = cfg.Temporal.Namespace
	}
	if o.Address != "" {
		opts.HostPort = o.Address
	}
	if o.Namespace != "" {
		opts.Namespace = o.Namespace
	}
	opts.Logger = tlog.NewStructuredLogger(logger)
	return opts, nil
}

// Dial connects to Temporal; a server that does not answer is ServerUnavailable.
func Dial(ctx context.Context, opts client.Options) (client.Client, error) {
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, failure.Wrap(failure.ServerUnavailable, err, "connect to Temporal at %s", opts.HostPort)
	}
	return c, nil
}
