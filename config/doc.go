// Package config is flavorflow's one configuration: the settings table
// (settings.go: every setting's key in temporal-dev.yml, variable, flag and
// help), one struct per section, and one loader, LoadWith, used by the
// worker, the starter and `make demo`.
//
// Precedence, highest first: flags > environment (TEMPORAL_*, MLFLOW_*,
// FLAVORFLOW_*) > Temporal envconfig profile (temporal.toml) >
// temporal-dev.yml > built-in defaults. Relative paths in the file are
// relative to the file. The loader records where each value came from
// (Config.SourceOf), and its errors name the setting and that source.
package config
