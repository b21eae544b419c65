package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/linearmodel"
)

// cliRun runs the starter in process with only the environment given: a
// config file whose Temporal is a closed port (a command that gets past its
// command line exits 3, unreachable) and no temporal.toml.
func cliRun(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return cliRunEnv(t, nil, args...)
}

// cliRunEnv is cliRun with more environment variables.
func cliRunEnv(t *testing.T, more map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	dir := t.TempDir()
	yml := filepath.Join(dir, "temporal-dev.yml")
	if err := os.WriteFile(yml, []byte("temporal:\n  address: 127.0.0.1:1\nstore:\n  tracking_uri: store\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"FLAVORFLOW_CONFIG": yml, "TEMPORAL_CONFIG_FILE": filepath.Join(dir, "absent.toml")}
	for k, v := range more {
		vars[k] = v
	}
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), &env{stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}, args)
	return out.String(), errb.String(), code
}

// --json and --output json go before or after the positional argument
// (the flag package stopped at the first positional: "status ID --json"
// was an unknown flag, and schedule commands reordered argv to cope).
func TestFlagsAndArgumentsInAnyOrder(t *testing.T) {
	for _, args := range [][]string{
		{"status", "--json", "wf-1"}, {"status", "wf-1", "--json"}, {"status", "wf-1", "--output", "json"}, {"status", "--output=json", "wf-1"},
		{"watch", "wf-1", "--timeout", "1s", "--json"}, {"schedule", "pause", "--note", "why", "s-1", "--json"},
		{"schedule", "backfill", "s-1", "--json", "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-02T00:00:00Z"},
	} {
		stdout, stderr, code := cliRun(t, args...)
		if code != exitUnreachable {
			t.Errorf("%v: exit %d, want 3 (unreachable)\n%s", args, code, stderr)
			continue
		}
		var doc struct {
			Error struct{ Type string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil || doc.Error.Type != "ServerUnavailable" {
			t.Errorf("%v: stdout is not the JSON error: %v\n%s", args, err, stdout)
		}
	}
}

// "starter help run" is run's help with its flags (it printed the list of
// commands); every command's --help too.
func TestHelpOfACommand(t *testing.T) {
	for _, args := range [][]string{{"help", "run"}, {"run", "--help"}, {"run", "-h"}} {
		stdout, stderr, code := cliRun(t, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		for _, want := range []string{"--model", "--pairs", "--no-wait", "--weights-size", "Examples:", "--json"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%v does not show %s:\n%s", args, want, stdout)
			}
		}
	}
	stdout, _, code := cliRun(t, "help", "schedule", "backfill")
	if code != exitOK || !strings.Contains(stdout, "--start") {
		t.Errorf("help schedule backfill: exit %d\n%s", code, stdout)
	}
	stdout, _, code = cliRun(t, "completion", "bash")
	if code != exitOK || !strings.Contains(stdout, "starter") {
		t.Errorf("completion bash: exit %d\n%.200s", code, stdout)
	}
}

// An unknown flag is exit 2 with a message naming it, wherever it is (after
// a positional it was taken for an argument: "input \"--frob\" is not a
// number", "unexpected arguments").
func TestUnknownFlagIsNamed(t *testing.T) {
	for _, args := range [][]string{
		{"predict", "models:/m/1", "4", "--frob"}, {"status", "wf-1", "extra", "--frob"}, {"status", "--frob", "wf-1"},
		{"schedule", "pause", "s-1", "--frob"}, {"--frob", "list"},
	} {
		_, stderr, code := cliRun(t, args...)
		if code != exitUsage || !strings.Contains(stderr, "unknown flag: --frob") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming --frob", args, code, stderr)
		}
	}
	for _, args := range [][]string{{"frobnicate"}, {"status"}, {"schedule", "nope"}, {"schedule"}, {"list", "--limit", "many"}, {"status", "a", "b"}} {
		if _, stderr, code := cliRun(t, args...); code != exitUsage || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 saying why", args, code, stderr)
		}
	}
}

// predict's inputs may be negative, before or after the flags.
func TestPredictNegativeInputs(t *testing.T) {
	saved, err := flavor.SaveModel(context.Background(), filepath.Join(t.TempDir(), "m"), fakemodel.FakeModel{Offset: 3}, flavor.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"predict", saved.Dir, "-1.5", "4"}, {"predict", "--json", saved.Dir, "-1.5", "4"}, {"predict", saved.Dir, "-1.5", "--output", "json", "4"},
		{"predict", saved.Dir, "--", "-1.5", "4"},
	} {
		stdout, stderr, code := cliRun(t, args...)
		if code != exitOK {
			t.Errorf("%v: exit %d\n%s", args, code, stderr)
			continue
		}
		if !strings.Contains(stdout, "1.5") || !strings.Contains(stdout, "7") {
			t.Errorf("%v: %s", args, stdout)
		}
	}
}

// predict of a model of another flavor (the linear one: named columns,
// not one number) says that predict takes fakemodel models and how to
// predict this one, instead of only that it has no fakemodel flavor.
func TestPredictOtherFlavorSaysHow(t *testing.T) {
	m := linearmodel.Model{Features: []string{"a", "b"}, Target: "y", Weights: []float64{2, -3}, Intercept: 1}
	saved, err := flavor.Save(context.Background(), filepath.Join(t.TempDir(), "m"), linearmodel.Flavor{}, m, flavor.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code := cliRun(t, "predict", saved.Dir, "4")
	if code != exitUsage {
		t.Errorf("exit %d, want %d\n%s", code, exitUsage, stderr)
	}
	for _, want := range []string{"FlavorNotFound", "fakemodel", "another flavor", "mlflow.pyfunc.load_model"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// A bad setting is exit 2 naming the setting and where its value came from
// (a value out of range said neither which variable nor which file).
func TestBadSettingNamesItsSource(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want []string
	}{
		{map[string]string{"FLAVORFLOW_UPLOAD_PARALLELISM": "0"}, []string{"config"}, []string{"worker.upload_parallelism", "env FLAVORFLOW_UPLOAD_PARALLELISM"}},
		{map[string]string{"FLAVORFLOW_TASK_QUEUE": " "}, []string{"status", "wf-1"}, []string{"temporal.task_queue", "env FLAVORFLOW_TASK_QUEUE"}},
		{map[string]string{"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "11"}, []string{"config"}, []string{"mlflow.max_retries", "MLFLOW_HTTP_REQUEST_MAX_RETRIES"}},
	} {
		_, stderr, code := cliRunEnv(t, tc.env, tc.args...)
		if code != exitUsage {
			t.Errorf("%v %v: exit %d, want 2\n%s", tc.env, tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v %v: %q does not say %q", tc.env, tc.args, stderr, w)
			}
		}
	}
}

// starter config says where each setting came from.
func TestShowConfigSources(t *testing.T) {
	stdout, _, code := cliRunEnv(t, map[string]string{"TEMPORAL_NAMESPACE": "env-ns"}, "config", "--json", "--address", "flag:7233")
	var doc configOut
	if err := json.Unmarshal([]byte(stdout), &doc); code != exitOK || err != nil {
		t.Fatalf("config --json: exit %d, %v\n%s", code, err, stdout)
	}
	from := map[string]string{}
	for _, s := range doc.Settings {
		from[s.Key] = s.Source
	}
	if from["temporal.address"] != "flag --address" || from["temporal.namespace"] != "env TEMPORAL_NAMESPACE" ||
		!strings.HasPrefix(from["store.tracking_uri"], "file ") || from["temporal.task_queue"] != "default" {
		t.Errorf("sources: %v", from)
	}
}
