package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/flavorflow/flavorflow/failure"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Each layer beats the next: flag > env > envconfig profile > file >
// default, and the source of each value is recorded.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	yml := write(t, dir, "temporal-dev.yml", "temporal:\n  address: file:7233\n  namespace: file-ns\n  task_queue: file-q\nworker:\n  upload_parallelism: 5\n")
	toml := write(t, dir, "temporal.toml", "[profile.default]\naddress = \"profile:7233\"\nnamespace = \"profile-ns\"\n")
	load := func(env map[string]string, flags map[string]string) Config {
		t.Helper()
		all := map[string]string{"TEMPORAL_CONFIG_FILE": toml}
		for k, v := range env {
			all[k] = v
		}
		cfg, err := LoadWith(Options{Path: yml, Getenv: func(k string) string { return all[k] }, Flags: flags})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	type got struct{ addr, addrFrom, queue, queueFrom, par, parFrom string }
	of := func(c Config) got {
		return got{c.Temporal.Address, c.SourceOf("temporal.address").Layer, c.Temporal.TaskQueue, c.SourceOf("temporal.task_queue").Layer,
			c.Value(mustLookup(t, "worker.upload_parallelism")), c.SourceOf("worker.upload_parallelism").Layer}
	}
	if g, want := of(load(map[string]string{"TEMPORAL_CONFIG_FILE": filepath.Join(dir, "absent.toml")}, nil)), (got{"file:7233", "file", "file-q", "file", "5", "file"}); g != want {
		t.Errorf("file over defaults: %+v, want %+v", g, want)
	}
	if g, want := of(load(nil, nil)), (got{"profile:7233", "profile", "file-q", "file", "5", "file"}); g != want {
		t.Errorf("profile over file: %+v, want %+v", g, want)
	}
	env := map[string]string{"TEMPORAL_ADDRESS": "env:7233", "FLAVORFLOW_TASK_QUEUE": "env-q", "FLAVORFLOW_UPLOAD_PARALLELISM": "6"}
	if g, want := of(load(env, nil)), (got{"env:7233", "env", "env-q", "env", "6", "env"}); g != want {
		t.Errorf("env over profile and file: %+v, want %+v", g, want)
	}
	flags := map[string]string{"temporal.address": "flag:7233", "temporal.task_queue": "flag-q", "worker.upload_parallelism": "7"}
	c := load(env, flags)
	if g, want := of(c), (got{"flag:7233", "flag", "flag-q", "flag", "7", "flag"}); g != want {
		t.Errorf("flag over env: %+v, want %+v", g, want)
	}
	if s := c.SourceOf("temporal.address").String(); s != "flag --address" {
		t.Errorf("source = %q", s)
	}
	if s := load(nil, nil).SourceOf("temporal.namespace").String(); !strings.Contains(s, "profile default in "+toml) {
		t.Errorf("profile source = %q", s)
	}
	if s := load(env, nil).SourceOf("worker.upload_parallelism").String(); s != "env FLAVORFLOW_UPLOAD_PARALLELISM" {
		t.Errorf("env source = %q", s)
	}
	if s := load(map[string]string{"TEMPORAL_CONFIG_FILE": filepath.Join(dir, "absent.toml")}, nil).SourceOf("temporal.address").String(); s != "file "+yml+":2" {
		t.Errorf("file source = %q", s)
	}
	// A flag made from the table is the same setting: --address beats TEMPORAL_ADDRESS.
	var f Flags
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	f.AddTo(fs, "temporal.address", "worker.eager_activities")
	if err := fs.Parse([]string{"--address", "pflag:7233", "--eager-activities=false"}); err != nil {
		t.Fatal(err)
	}
	c = load(env, f.Values())
	if c.Temporal.Address != "pflag:7233" || c.Worker.EagerActivities {
		t.Errorf("pflag values not applied: %q %v", c.Temporal.Address, c.Worker.EagerActivities)
	}
}

func mustLookup(t *testing.T, key string) Setting {
	t.Helper()
	s, ok := Lookup(key)
	if !ok {
		t.Fatalf("no setting %s", key)
	}
	return s
}

// A bad value, wherever it is given, is InvalidConfig naming the setting
// and where it came from.
func TestErrorsNameSettingAndSource(t *testing.T) {
	dir := t.TempDir()
	noProfile := map[string]string{"TEMPORAL_CONFIG_FILE": filepath.Join(dir, "absent.toml")}
	getenv := func(m map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := m[k]; ok {
				return v
			}
			return noProfile[k]
		}
	}
	cases := []struct {
		name string
		opts Options
		want []string
	}{
		{"env parse", Options{Path: "-", Getenv: getenv(map[string]string{"FLAVORFLOW_UPLOAD_PARALLELISM": "many"})},
			[]string{"worker.upload_parallelism", "env FLAVORFLOW_UPLOAD_PARALLELISM", "non-negative integer"}},
		{"env range", Options{Path: "-", Getenv: getenv(map[string]string{"FLAVORFLOW_UPLOAD_PARALLELISM": "0"})},
			[]string{"worker.upload_parallelism", "env FLAVORFLOW_UPLOAD_PARALLELISM", "outside 1..64"}},
		{"env seconds", Options{Path: "-", Getenv: getenv(map[string]string{"MLFLOW_HTTP_REQUEST_TIMEOUT": "NaN"})},
			[]string{"mlflow.timeout", "env MLFLOW_HTTP_REQUEST_TIMEOUT", "seconds"}},
		{"env retries", Options{Path: "-", Getenv: getenv(map[string]string{"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "11"})},
			[]string{"mlflow.max_retries", "env MLFLOW_HTTP_REQUEST_MAX_RETRIES", "limit of 10"}},
		{"env bool", Options{Path: "-", Getenv: getenv(map[string]string{"MLFLOW_TRACKING_INSECURE_TLS": "maybe"})},
			[]string{"mlflow.insecure_tls", "env MLFLOW_TRACKING_INSECURE_TLS", "true or false"}},
		{"flag", Options{Path: "-", Getenv: getenv(nil), Flags: map[string]string{"worker.multipart_part_size": "1024"}},
			[]string{"worker.multipart_part_size", "flag --multipart-part-size", "5 MiB"}},
		{"file parse", Options{Path: write(t, dir, "a.yml", "worker:\n  stop_timeout: soon\n"), Getenv: getenv(nil)},
			[]string{"worker.stop_timeout", "file " + filepath.Join(dir, "a.yml") + ":2", "duration"}},
		{"file unknown", Options{Path: write(t, dir, "b.yml", "temporal:\n  adress: x\n"), Getenv: getenv(nil)},
			[]string{"b.yml:2", "unknown setting temporal.adress"}},
		{"file secret", Options{Path: write(t, dir, "c.yml", "mlflow:\n  password: hunter2\n"), Getenv: getenv(nil)},
			[]string{"c.yml:2", "mlflow.password", "MLFLOW_TRACKING_PASSWORD"}},
		{"profile", Options{Path: "-", Getenv: getenv(map[string]string{"TEMPORAL_PROFILE": "nope"})},
			[]string{"temporal.profile", "env TEMPORAL_PROFILE"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadWith(tc.opts)
			if failure.CodeOf(err) != failure.InvalidConfig {
				t.Fatalf("err = %v, want InvalidConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
	// A bad flag value is refused while the command line is parsed, naming the setting.
	var f Flags
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	f.AddTo(fs, "worker.upload_parallelism")
	if err := fs.Parse([]string{"--upload-parallelism", "x"}); err == nil || !strings.Contains(err.Error(), "upload-parallelism") || !strings.Contains(err.Error(), "worker.upload_parallelism") {
		t.Errorf("bad flag value: %v", err)
	}
}

// The table covers every leaf of Config, each under its yaml key, once; so
// a setting added to a struct and not to the table (or the reverse) fails
// here, not in a user's file.
func TestTableMatchesStruct(t *testing.T) {
	var c Config
	rows := map[string]bool{}
	for _, s := range settings {
		if rows[s.Key] {
			t.Errorf("%s twice", s.Key)
		}
		rows[s.Key] = true
	}
	cv := reflect.ValueOf(&c).Elem()
	seen := map[string]bool{}
	for i := 0; i < cv.NumField(); i++ {
		sf := cv.Type().Field(i)
		section := sf.Tag.Get("yaml")
		if section == "" || section == "-" {
			continue
		}
		sv := cv.Field(i)
		for j := 0; j < sv.NumField(); j++ {
			ff := sv.Type().Field(j)
			name := ff.Tag.Get("yaml")
			ptr := sv.Field(j).Addr().Interface()
			var found *Setting
			for k := range settings {
				if reflect.ValueOf(settings[k].field(&c)).Pointer() == reflect.ValueOf(ptr).Pointer() &&
					reflect.TypeOf(settings[k].field(&c)) == reflect.TypeOf(ptr) {
					found = &settings[k]
				}
			}
			if found == nil {
				t.Errorf("%s.%s (%s) has no row in the table", section, name, ff.Name)
				continue
			}
			seen[found.Key] = true
			if name == "-" {
				if !found.Secret || !strings.HasPrefix(found.Key, section+".") {
					t.Errorf("%s: a field kept out of the file must be a secret of section %s", found.Key, section)
				}
				continue
			}
			if found.Key != section+"."+name {
				t.Errorf("row %s points at %s.%s", found.Key, section, name)
			}
		}
	}
	for k := range rows {
		if !seen[k] {
			t.Errorf("row %s points at no field", k)
		}
	}
	// Every setting given in the environment parses its default back.
	d := Defaults()
	for _, s := range settings {
		if s.Env == "" {
			continue
		}
		text := formatValue(s.field(&d))
		var c2 Config
		c2.sources = map[string]Source{}
		if err := c2.set(s, text, Source{Layer: "test"}); err != nil && text != "" {
			t.Errorf("%s: default %q does not parse back: %v", s.Key, text, err)
		}
	}
}

// The verification inputs have one home (workflows.DefaultVerifyInputs):
// the configuration leaves them unset unless the user sets them.
func TestVerifyInputsDefaultToThePipelines(t *testing.T) {
	if d := Defaults().Pipeline.VerifyInputs; d != nil {
		t.Errorf("a second copy of the default verification inputs: %v", d)
	}
	cfg, err := Load("../temporal-dev.yml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Pipeline.VerifyInputs != nil {
		t.Errorf("temporal-dev.yml copies the verification inputs: %v", cfg.Pipeline.VerifyInputs)
	}
	cfg, err = LoadWith(Options{Path: write(t, t.TempDir(), "v.yml", "pipeline:\n  verify_inputs: [4, 0.5]\n")})
	if err != nil || !reflect.DeepEqual(cfg.Pipeline.VerifyInputs, []float64{4, 0.5}) {
		t.Errorf("verify_inputs from the file: %v, %v", cfg.Pipeline.VerifyInputs, err)
	}
}
