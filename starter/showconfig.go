package main

import (
	"context"
	"fmt"
)

const configUsage = `
starter config [--output json]

Prints the settings the other commands would use, after applying the
precedence flags > environment (TEMPORAL_*, MLFLOW_*, FLAVORFLOW_*) >
Temporal envconfig profile (temporal.toml, TEMPORAL_CONFIG_FILE,
TEMPORAL_PROFILE) > temporal-dev.yml. Connects to nothing.

Examples:
  starter config
  TEMPORAL_PROFILE=staging starter config --output json
  starter config --address temporal.internal:7233 --tracking-uri http://mlflow:5000
`

type configOut struct {
	ConfigFile  string `json:"config_file"`
	Address     string `json:"address"`
	Namespace   string `json:"namespace"`
	TaskQueue   string `json:"task_queue"`
	TrackingURI string `json:"tracking_uri"`
	TemporalUI  string `json:"temporal_ui_url"`
	APIKey      bool   `json:"api_key_set"`
	TLS         bool   `json:"tls"`
}

func cmdConfig(ctx context.Context, e *env, args []string) error {
	var c commonFlags
	fs := newFlags(e, "config", configUsage)
	cfg, err := c.setup(e, fs, args, 0, 0)
	if err != nil {
		return err
	}
	logger := quietLogger(e.stderr)
	opts, err := c.clientOptions(cfg, logger)
	if err != nil {
		return err
	}
	o := configOut{ConfigFile: cfg.Path, Address: opts.HostPort, Namespace: opts.Namespace, TaskQueue: cfg.Temporal.TaskQueue,
		TrackingURI: cfg.Store.TrackingURI, TemporalUI: cfg.Temporal.UIURL, APIKey: opts.Credentials != nil, TLS: opts.ConnectionOptions.TLS != nil}
	if c.output == "json" {
		return printJSON(e.stdout, o)
	}
	fmt.Fprintf(e.stdout, "config file   %s\naddress       %s\nnamespace     %s\ntask queue    %s\ntracking URI  %s\nTemporal UI   %s\n",
		o.ConfigFile, o.Address, o.Namespace, o.TaskQueue, o.TrackingURI, o.TemporalUI)
	return nil
}
