package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flavorflow/flavorflow/config"
	"github.com/flavorflow/flavorflow/workflows"
)

const configUsage = `
starter config [--output json]

Prints the settings the other commands would use, after applying the
precedence flags > environment (TEMPORAL_*, MLFLOW_*, FLAVORFLOW_*) >
Temporal envconfig profile (temporal.toml, TEMPORAL_CONFIG_FILE,
TEMPORAL_PROFILE) > temporal-dev.yml > built-in default, and where each
value came from. Secrets show as "(set)". Connects to nothing.

Examples:
  starter config
  TEMPORAL_PROFILE=staging starter config --output json
  starter config --address temporal.internal:7233 --tracking-uri http://mlflow:5000
`

type configOut struct {
	ConfigFile  string       `json:"config_file"`
	Address     string       `json:"address"`
	Namespace   string       `json:"namespace"`
	TaskQueue   string       `json:"task_queue"`
	TrackingURI string       `json:"tracking_uri"`
	TemporalUI  string       `json:"temporal_ui_url"`
	APIKey      bool         `json:"api_key_set"`
	TLS         bool         `json:"tls"`
	Settings    []settingOut `json:"settings"`
}

// settingOut is one setting: its value and where it came from.
type settingOut struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
	Env    string `json:"env,omitempty"`
	Flag   string `json:"flag,omitempty"`
}

func configCmd(e *env, c *commonFlags) *cobra.Command {
	cmd := command(configUsage, "print the effective settings and where each came from (flags > env > envconfig profile > temporal-dev.yml)",
		func(*cobra.Command, []string) error { return showConfig(e, c) })
	// The name the issue tracker and older notes use.
	cmd.Aliases = []string{"show-config"}
	cmd.Args = args(0, 0, "")
	return cmd
}

func showConfig(e *env, c *commonFlags) error {
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	logger := quietLogger(e.stderr)
	opts, err := c.clientOptions(cfg, logger)
	if err != nil {
		return err
	}
	o := configOut{ConfigFile: cfg.Path, Address: opts.HostPort, Namespace: opts.Namespace, TaskQueue: cfg.Temporal.TaskQueue,
		TrackingURI: cfg.Store.TrackingURI, TemporalUI: cfg.Temporal.UIURL, APIKey: opts.Credentials != nil, TLS: opts.ConnectionOptions.TLS != nil,
		Settings: settingsOf(cfg)}
	if c.output == "json" {
		return printJSON(e.stdout, o)
	}
	fmt.Fprintf(e.stdout, "config file   %s\naddress       %s\nnamespace     %s\ntask queue    %s\ntracking URI  %s\nTemporal UI   %s\n",
		o.ConfigFile, o.Address, o.Namespace, o.TaskQueue, o.TrackingURI, o.TemporalUI)
	fmt.Fprintf(e.stdout, "\n%-38s %-24s %s\n", "SETTING", "VALUE", "FROM")
	for _, s := range o.Settings {
		fmt.Fprintf(e.stdout, "%-38s %-24s %s\n", s.Key, s.Value, s.Source)
	}
	return nil
}

// settingsOf lists every setting with its value and source. Empty
// verification inputs are the pipeline's own, shown as such.
func settingsOf(cfg config.Config) []settingOut {
	var out []settingOut
	for _, s := range config.Settings() {
		o := settingOut{Key: s.Key, Value: cfg.Value(s), Source: cfg.SourceOf(s.Key).String(), Env: s.Env}
		if s.Flag != "" {
			o.Flag = "--" + s.Flag
		}
		if s.Key == "pipeline.verify_inputs" && o.Value == "" {
			parts := make([]string, len(workflows.DefaultVerifyInputs))
			for i, x := range workflows.DefaultVerifyInputs {
				parts[i] = strconv.FormatFloat(x, 'g', -1, 64)
			}
			o.Value, o.Source = strings.Join(parts, ","), o.Source+" (the pipeline's, workflows.DefaultVerifyInputs)"
		}
		out = append(out, o)
	}
	return out
}
