// Command ffmlmodel renders an MLmodel with flavorflow's Go writer, for the
// differential test in tests/python/test_mlmodel_yaml.py (Go's bytes must equal
// PyYAML's for the same document). It reads one JSON object from stdin with
// the keys of mlflow.models.Model (flavors, metadata, model_uuid,
// utc_time_created, mlflow_version, ...) and writes MLmodel.Marshal's output.
// JSON numbers with a '.' or an exponent are floats, others ints, as in
// Python's json module.
//
// With -parse it reads an MLmodel (any YAML style) from stdin instead, parses
// it with flavor.ParseMLmodel and writes it back with Marshal: the round trip
// must reproduce what PyYAML writes for the same data, which checks that the
// parser resolves scalars as PyYAML's safe_load does.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/flavor/pyyaml"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ffmlmodel:", err)
		os.Exit(1)
	}
}

func run() error {
	parse := flag.Bool("parse", false, "read an MLmodel, not JSON")
	flag.Parse()
	if *parse {
		m, err := flavor.ParseMLmodel(os.Stdin)
		if err != nil {
			return err
		}
		out, err := m.Marshal()
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(out)
		return err
	}
	dec := json.NewDecoder(os.Stdin)
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil {
		return err
	}
	in = pyyaml.FromJSON(in).(map[string]any)
	str := func(k string) string { s, _ := in[k].(string); return s }
	m := &flavor.MLmodel{
		ArtifactPath: str("artifact_path"), MLflowVersion: str("mlflow_version"), ModelID: str("model_id"),
		ModelUUID: str("model_uuid"), RunID: str("run_id"), UTCTimeCreated: str("utc_time_created"),
		Flavors: map[string]map[string]any{},
	}
	if fl, ok := in["flavors"].(map[string]any); ok {
		for k, v := range fl {
			cfg, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("flavor %q is not an object", k)
			}
			m.Flavors[k] = cfg
		}
	}
	if md, ok := in["metadata"].(map[string]any); ok {
		m.Metadata = md
	}
	out, err := m.Marshal()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}
