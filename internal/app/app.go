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

// ClientOptions builds Temporal client options from the configuration,
// whose loader applied the precedence (flags > env > envconfig profile >
// temporal-dev.yml) to address and namespace and kept the profile's TLS, API
// key and headers.
func ClientOptions(cfg config.Config, logger *slog.Logger) (client.Options, error) {
	prof := cfg.ClientProfile()
	opts, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, failure.Wrap(failure.InvalidConfig, err, "temporal client profile")
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
