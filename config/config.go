package config

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/flavorflow/flavorflow/failure"
)

// DefaultFile is the file name looked up when no path is given.
const DefaultFile = "temporal-dev.yml"

// Config is the whole configuration, one struct per section of
// temporal-dev.yml. Every leaf is a row of the settings table (settings.go),
// which names its key, variable and flag.
type Config struct {
	Temporal  Temporal  `yaml:"temporal"`
	DevServer DevServer `yaml:"dev_server"`
	Worker    Worker    `yaml:"worker"`
	Store     Store     `yaml:"store"`
	MLflow    MLflow    `yaml:"mlflow"`
	Pipeline  Pipeline  `yaml:"pipeline"`

	// Path is the file this was loaded from ("" for defaults only).
	Path string `yaml:"-"`

	// sources says where each setting (by key) came from; missing is the
	// default.
	sources map[string]Source
	// profile is the Temporal envconfig profile with TEMPORAL_* variables
	// applied (TLS, API key, headers); address and namespace are taken
	// from Temporal, which applied the precedence to them.
	profile envconfig.ClientConfigProfile
}

// Temporal is how clients reach Temporal.
type Temporal struct {
	Address   string `yaml:"address"`
	Namespace string `yaml:"namespace"`
	TaskQueue string `yaml:"task_queue"`
	UIURL     string `yaml:"ui_url"`
	// Profile names the envconfig profile (temporal.toml) to read; ""
	// is "default", which may be absent.
	Profile string `yaml:"profile"`
}

// DevServer describes `temporal server start-dev`.
type DevServer struct {
	IP               string            `yaml:"ip"`
	Port             int               `yaml:"port"`
	UIPort           int               `yaml:"ui_port"`
	DBFilename       string            `yaml:"db_filename"`
	LogLevel         string            `yaml:"log_level"`
	SearchAttributes map[string]string `yaml:"search_attributes"`
	DynamicConfig    map[string]any    `yaml:"dynamic_config"`
}

// Worker holds worker tuning.
type Worker struct {
	MaxConcurrentActivities    int           `yaml:"max_concurrent_activities"`
	MaxConcurrentWorkflowTasks int           `yaml:"max_concurrent_workflow_tasks"`
	StopTimeout                time.Duration `yaml:"stop_timeout"`
	WorkDir                    string        `yaml:"work_dir"`
	UploadParallelism          int           `yaml:"upload_parallelism"`
	HealthAddr                 string        `yaml:"health_addr"`
	// EagerActivities lets a worker run the next activity itself when it
	// completes a workflow task (the server must allow it too).
	EagerActivities bool `yaml:"eager_activities"`
	// MultipartPartSize and MultipartThreshold tune uploads to an MLflow
	// server whose artifact store supports multipart (S3, GCS, Azure).
	MultipartPartSize  int64 `yaml:"multipart_part_size"`
	MultipartThreshold int64 `yaml:"multipart_threshold"`
	// HTTPPoolSize is the MLflow client's idle connections per host.
	HTTPPoolSize int `yaml:"http_pool_size"`
	// The janitor sweeps WorkDir every SweepEvery (0: never): workflow
	// directories unchanged for WorkDirTTL (finished elsewhere or dead) and
	// temporary saves and verify-N directories unchanged for TempTTL (left by
	// killed attempts).
	SweepEvery time.Duration `yaml:"sweep_every"`
	WorkDirTTL time.Duration `yaml:"work_dir_ttl"`
	TempTTL    time.Duration `yaml:"temp_ttl"`
	// MinFreeBytes: /healthz says "degraded" when WorkDir's file system has
	// less free space (0: never).
	MinFreeBytes int64 `yaml:"min_free_bytes"`
}

// Store selects the model store.
type Store struct {
	TrackingURI string `yaml:"tracking_uri"`
	Experiment  string `yaml:"experiment"`
}

// MLflow configures the REST client when the store is an MLflow server,
// with the MLFLOW_* variables MLflow's Python client reads. Secrets come
// from the environment only.
type MLflow struct {
	RegistryURI    string  `yaml:"registry_uri"`
	Username       string  `yaml:"-"`
	Password       string  `yaml:"-"`
	Token          string  `yaml:"-"`
	InsecureTLS    bool    `yaml:"insecure_tls"`
	ServerCertPath string  `yaml:"server_cert_path"`
	ClientCertPath string  `yaml:"client_cert_path"`
	MaxRetries     int     `yaml:"max_retries"` // 0: none
	Timeout        Seconds `yaml:"timeout"`
	BackoffFactor  Seconds `yaml:"backoff_factor"`
	BackoffJitter  Seconds `yaml:"backoff_jitter"`
}

// Pipeline holds starter defaults.
type Pipeline struct {
	Alias string `yaml:"alias"`
	// VerifyInputs are the verification inputs; empty means the pipeline's
	// own (workflows.DefaultVerifyInputs), which is their one home.
	VerifyInputs []float64 `yaml:"verify_inputs"`
}

// Defaults returns the built-in configuration.
func Defaults() Config {
	return Config{
		Temporal: Temporal{Address: "127.0.0.1:7233", Namespace: "default", TaskQueue: "flavorflow", UIURL: "http://127.0.0.1:8233"},
		DevServer: DevServer{
			IP: "127.0.0.1", Port: 7233, UIPort: 8233, LogLevel: "warn",
			SearchAttributes: map[string]string{"ModelName": "Keyword", "Stage": "Keyword", "ModelVersion": "Int"},
		},
		Worker: Worker{
			MaxConcurrentActivities: 16, MaxConcurrentWorkflowTasks: 16, StopTimeout: 30 * time.Second,
			WorkDir: ".data/work", UploadParallelism: 4, EagerActivities: true,
			MultipartPartSize: 10 << 20, MultipartThreshold: 500 << 20, HTTPPoolSize: 16,
			SweepEvery: 5 * time.Minute, WorkDirTTL: 24 * time.Hour, TempTTL: 30 * time.Minute, MinFreeBytes: 2 << 30,
		},
		Store: Store{TrackingURI: ".data/store", Experiment: "flavorflow"},
		// MLflow's Python client defaults (mlflow.environment_variables).
		MLflow:   MLflow{MaxRetries: 7, Timeout: Seconds(120 * time.Second), BackoffFactor: Seconds(2 * time.Second), BackoffJitter: Seconds(time.Second)},
		Pipeline: Pipeline{Alias: "champion"},
	}
}

// Find returns path if set, else FLAVORFLOW_CONFIG, else temporal-dev.yml in
// the working directory or its parents ("" when none exists).
func Find(path string, getenv func(string) string) string {
	if path != "" {
		return path
	}
	if p := getenv("FLAVORFLOW_CONFIG"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, DefaultFile)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Options are the inputs of LoadWith: every layer of the precedence.
type Options struct {
	// Path is the config file; "" finds one (Find: FLAVORFLOW_CONFIG,
	// temporal-dev.yml here or above); "-" reads none.
	Path string
	// Getenv reads the environment (os.Getenv in the mains only).
	Getenv func(string) string
	// Environ lists the environment for Temporal's TEMPORAL_GRPC_META_*
	// headers (os.Environ in the mains; nil: none).
	Environ func() []string
	// Flags are the command-line values given, by setting key (see
	// Flags.Values).
	Flags map[string]string
}

// Load reads the file at path (defaults only when path is ""), then the
// envconfig profile and environment through getenv. It is LoadWith without
// flags.
func Load(path string, getenv func(string) string) (Config, error) {
	if path == "" {
		path = "-"
	}
	return LoadWith(Options{Path: path, Getenv: getenv})
}

// LoadWith applies the precedence, lowest first: built-in defaults <
// temporal-dev.yml < Temporal envconfig profile (address and namespace) <
// environment < flags, recording where each value came from; then it
// resolves relative paths against the file and validates. Every layer is
// parsed by the same table, so a value means the same wherever it is given,
// and an error names the setting and its source.
func LoadWith(o Options) (Config, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	cfg := Defaults()
	cfg.sources = map[string]Source{}
	path := o.Path
	switch path {
	case "-":
		path = ""
	case "":
		path = Find("", getenv)
	}
	if path != "" {
		if err := cfg.readFile(path); err != nil {
			return Config{}, err
		}
	}
	for _, s := range settings {
		if s.Env == "" {
			continue
		}
		if v := getenv(s.Env); v != "" {
			if err := cfg.set(s, v, Source{Layer: "env", Name: s.Env}); err != nil {
				return Config{}, err
			}
		}
	}
	for _, s := range settings {
		v, ok := o.Flags[s.Key]
		if !ok {
			continue
		}
		if s.Flag == "" {
			return Config{}, failure.New(failure.InvalidConfig, "%s has no flag", s.Key)
		}
		if err := cfg.set(s, v, Source{Layer: "flag", Name: "--" + s.Flag}); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.applyProfile(getenv, o.Environ); err != nil {
		return Config{}, err
	}
	cfg.resolvePaths()
	return cfg, cfg.Validate()
}

// applyProfile reads the Temporal envconfig profile (temporal.toml): its
// address and namespace sit between the file and the environment; the rest
// (TLS, API key, headers), with the TEMPORAL_* variables applied, is kept for
// ClientProfile.
func (c *Config) applyProfile(getenv func(string) string, environ func() []string) error {
	lookup := envLookup{getenv: getenv, environ: environ}
	file := getenv("TEMPORAL_CONFIG_FILE")
	if file == "" {
		file = envconfig.DefaultConfigFilePath()
	}
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{
		ConfigFilePath: file, ConfigFileProfile: c.Temporal.Profile, DisableEnv: true, EnvLookup: lookup})
	if err != nil {
		return failure.Wrap(failure.InvalidConfig, err, "temporal.profile %q (from %s, file %s)", c.Temporal.Profile, c.SourceOf("temporal.profile"), file)
	}
	name := c.Temporal.Profile
	if name == "" {
		name = envconfig.DefaultConfigFileProfile
	}
	src := Source{Layer: "profile", Name: name + " in " + file}
	for _, p := range []struct {
		key, val string
		dst      *string
	}{{"temporal.address", prof.Address, &c.Temporal.Address}, {"temporal.namespace", prof.Namespace, &c.Temporal.Namespace}} {
		if l := c.SourceOf(p.key).Layer; p.val != "" && (l == "default" || l == "file") {
			*p.dst = p.val
			c.sources[p.key] = src
		}
	}
	if err := prof.ApplyEnvVars(lookup); err != nil {
		return failure.Wrap(failure.InvalidConfig, err, "TEMPORAL_* variables")
	}
	c.profile = prof
	return nil
}

// ClientProfile is the Temporal client profile to dial with: the envconfig
// profile and TEMPORAL_* variables, with address and namespace as resolved.
func (c Config) ClientProfile() envconfig.ClientConfigProfile {
	p := c.profile
	p.Address, p.Namespace = c.Temporal.Address, c.Temporal.Namespace
	return p
}

// envLookup gives envconfig the injected environment.
type envLookup struct {
	getenv  func(string) string
	environ func() []string
}

func (e envLookup) Environ() []string {
	if e.environ == nil {
		return nil
	}
	return e.environ()
}

func (e envLookup) LookupEnv(k string) (string, bool) {
	v := e.getenv(k)
	return v, v != ""
}

// resolvePaths makes file paths absolute relative to the config file.
func (c *Config) resolvePaths() {
	base := "."
	if c.Path != "" {
		base = filepath.Dir(c.Path)
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.Worker.WorkDir = abs(c.Worker.WorkDir)
	c.DevServer.DBFilename = abs(c.DevServer.DBFilename)
	if IsLocalStore(c.Store.TrackingURI) {
		c.Store.TrackingURI = abs(strings.TrimPrefix(c.Store.TrackingURI, "file://"))
	}
	if a, err := filepath.Abs(c.Worker.WorkDir); err == nil {
		c.Worker.WorkDir = a
	}
}

// IsLocalStore reports whether uri selects the embedded local store.
func IsLocalStore(uri string) bool {
	return !strings.HasPrefix(uri, "http://") && !strings.HasPrefix(uri, "https://")
}

// Validate checks values that would otherwise fail later and less clearly;
// an error names the setting and where its value came from.
func (c Config) Validate() error {
	switch {
	case c.Temporal.TaskQueue == "":
		return c.invalid("temporal.task_queue", "is empty")
	case c.Store.TrackingURI == "":
		return c.invalid("store.tracking_uri", "is empty")
	case c.Store.Experiment == "":
		return c.invalid("store.experiment", "is empty")
	case c.Worker.WorkDir == "":
		return c.invalid("worker.work_dir", "is empty")
	case c.Worker.UploadParallelism < 1 || c.Worker.UploadParallelism > 64:
		return c.invalid("worker.upload_parallelism", "%d is outside 1..64", c.Worker.UploadParallelism)
	case c.Worker.MultipartPartSize != 0 && (c.Worker.MultipartPartSize < 5<<20 || c.Worker.MultipartPartSize > 5<<30):
		return c.invalid("worker.multipart_part_size", "%d is outside 5 MiB..5 GiB (S3's part limits)", c.Worker.MultipartPartSize)
	case c.MLflow.MaxRetries > 10:
		// Python MLflow's own ceiling: more only delays a failure by hours.
		return c.invalid("mlflow.max_retries", "%d is over the limit of 10", c.MLflow.MaxRetries)
	case c.MLflow.InsecureTLS && c.MLflow.ServerCertPath != "":
		return c.invalid("mlflow.insecure_tls", "and mlflow.server_cert_path (from %s) cannot both be set", c.SourceOf("mlflow.server_cert_path"))
	}
	for _, name := range sortedKeys(c.DevServer.SearchAttributes) {
		switch typ := c.DevServer.SearchAttributes[name]; strings.ToLower(typ) {
		case "text", "keyword", "int", "double", "bool", "datetime", "keywordlist":
		default:
			return c.invalid("dev_server.search_attributes", "%s has unknown type %q", name, typ)
		}
	}
	return nil
}

// invalid is an InvalidConfig error naming the setting and its source.
func (c Config) invalid(key, format string, args ...any) error {
	return failure.New(failure.InvalidConfig, "%s %s (from %s)", key, fmt.Sprintf(format, args...), c.SourceOf(key))
}

// DevServerArgs returns the arguments after `temporal` that start the dev
// server described by the config, in a stable order.
func (c Config) DevServerArgs() []string {
	d := c.DevServer
	args := []string{"server", "start-dev", "--ip", d.IP, "--port", strconv.Itoa(d.Port),
		"--ui-port", strconv.Itoa(d.UIPort), "--namespace", c.Temporal.Namespace}
	if d.LogLevel != "" {
		args = append(args, "--log-level", d.LogLevel)
	}
	if d.DBFilename != "" {
		args = append(args, "--db-filename", d.DBFilename)
	}
	for _, k := range sortedKeys(d.SearchAttributes) {
		args = append(args, "--search-attribute", k+"="+d.SearchAttributes[k])
	}
	for _, k := range sortedKeys(d.DynamicConfig) {
		args = append(args, "--dynamic-config-value", k+"="+jsonValue(d.DynamicConfig[k]))
	}
	return args
}

func jsonValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	default:
		return fmt.Sprint(x)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
