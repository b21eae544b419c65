// Package config loads temporal-dev.yml, the one development configuration
// read by `make demo`, the worker and the starter, and applies environment
// overrides on top. Command-line flags are applied by the mains after Load.
//
// Precedence, highest first: flags > environment (TEMPORAL_*, MLFLOW_*,
// FLAVORFLOW_*) > Temporal envconfig profile (temporal.toml) > temporal-dev.yml
// > built-in defaults. Relative paths in the file are relative to the file.
package config
