package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flavorflow/flavorflow/failure"
)

// DefaultFile is the file name looked up when no path is given.
const DefaultFile = "temporal-dev.yml"

// Config is the whole development configuration.
type Config struct {
	Temporal  Temporal  `yaml:"temporal"`
	DevServer DevServer `yaml:"dev_server"`
	Worker    Worker    `yaml:"worker"`
	Store     Store     `yaml:"store"`
	Pipeline  Pipeline  `yaml:"pipeline"`

	// Path is the file this was loaded from ("" for defaults only).
	Path string `yaml:"-"`
}

// Temporal is how clients reach Temporal.
type Temporal struct {
	Address   string `yaml:"address"`
	Namespace string `yaml:"namespace"`
	TaskQueue string `yaml:"task_queue"`
	UIURL     string `yaml:"ui_url"`
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

// Pipeline holds starter defaults.
type Pipeline struct {
	Alias        string    `yaml:"alias"`
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
		Store:    Store{TrackingURI: ".data/store", Experiment: "flavorflow"},
		Pipeline: Pipeline{Alias: "champion", VerifyInputs: []float64{4, 0, -1.5, 1000}},
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

// Load reads the file at path (defaults only when path is ""), then applies
// environment overrides through getenv, and resolves relative paths.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Defaults()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, failure.Wrap(failure.InvalidConfig, err, "read config")
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return Config{}, failure.Wrap(failure.InvalidConfig, err, "parse %s", path)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return Config{}, failure.Wrap(failure.InvalidConfig, err, "config path")
		}
		cfg.Path = abs
	}
	if err := cfg.applyEnv(getenv); err != nil {
		return Config{}, err
	}
	cfg.resolvePaths()
	return cfg, cfg.Validate()
}

func (c *Config) applyEnv(getenv func(string) string) error {
	str := func(dst *string, key string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	num := func(dst *int, key string) error {
		if v := getenv(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return failure.New(failure.InvalidConfig, "%s=%q is not a non-negative integer", key, v)
			}
			*dst = n
		}
		return nil
	}
	str(&c.Temporal.Address, "TEMPORAL_ADDRESS")
	str(&c.Temporal.Namespace, "TEMPORAL_NAMESPACE")
	str(&c.Temporal.TaskQueue, "FLAVORFLOW_TASK_QUEUE")
	str(&c.Temporal.UIURL, "FLAVORFLOW_TEMPORAL_UI")
	str(&c.Store.TrackingURI, "MLFLOW_TRACKING_URI")
	str(&c.Store.Experiment, "FLAVORFLOW_EXPERIMENT")
	str(&c.Worker.WorkDir, "FLAVORFLOW_WORK_DIR")
	str(&c.Worker.HealthAddr, "FLAVORFLOW_HEALTH_ADDR")
	if err := num(&c.Worker.UploadParallelism, "FLAVORFLOW_UPLOAD_PARALLELISM"); err != nil {
		return err
	}
	if err := num(&c.Worker.MaxConcurrentActivities, "FLAVORFLOW_MAX_CONCURRENT_ACTIVITIES"); err != nil {
		return err
	}
	if err := num(&c.Worker.MaxConcurrentWorkflowTasks, "FLAVORFLOW_MAX_CONCURRENT_WORKFLOW_TASKS"); err != nil {
		return err
	}
	if err := num(&c.Worker.HTTPPoolSize, "MLFLOW_HTTP_POOL_MAXSIZE"); err != nil {
		return err
	}
	for _, n := range []struct {
		dst *int64
		key string
	}{{&c.Worker.MultipartPartSize, "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE"}, {&c.Worker.MultipartThreshold, "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"}, {&c.Worker.MinFreeBytes, "FLAVORFLOW_MIN_FREE_BYTES"}} {
		if v := getenv(n.key); v != "" {
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil || x < 0 {
				return failure.New(failure.InvalidConfig, "%s=%q is not a non-negative integer", n.key, v)
			}
			*n.dst = x
		}
	}
	if v := getenv("FLAVORFLOW_EAGER_ACTIVITIES"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return failure.New(failure.InvalidConfig, "FLAVORFLOW_EAGER_ACTIVITIES=%q is not a boolean", v)
		}
		c.Worker.EagerActivities = b
	}
	for _, d := range []struct {
		dst *time.Duration
		key string
	}{
		{&c.Worker.StopTimeout, "FLAVORFLOW_WORKER_STOP_TIMEOUT"},
		{&c.Worker.SweepEvery, "FLAVORFLOW_SWEEP_EVERY"},
		{&c.Worker.WorkDirTTL, "FLAVORFLOW_WORK_DIR_TTL"},
		{&c.Worker.TempTTL, "FLAVORFLOW_TEMP_TTL"},
	} {
		if v := getenv(d.key); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x < 0 {
				return failure.New(failure.InvalidConfig, "%s=%q is not a duration", d.key, v)
			}
			*d.dst = x
		}
	}
	return nil
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

// Validate checks values that would otherwise fail later and less clearly.
func (c Config) Validate() error {
	switch {
	case c.Temporal.TaskQueue == "":
		return failure.New(failure.InvalidConfig, "temporal.task_queue is empty")
	case c.Store.TrackingURI == "":
		return failure.New(failure.InvalidConfig, "store.tracking_uri is empty")
	case c.Store.Experiment == "":
		return failure.New(failure.InvalidConfig, "store.experiment is empty")
	case c.Worker.WorkDir == "":
		return failure.New(failure.InvalidConfig, "worker.work_dir is empty")
	case c.Worker.UploadParallelism < 1 || c.Worker.UploadParallelism > 64:
		return failure.New(failure.InvalidConfig, "worker.upload_parallelism %d is outside 1..64", c.Worker.UploadParallelism)
	case c.Worker.MultipartPartSize != 0 && (c.Worker.MultipartPartSize < 5<<20 || c.Worker.MultipartPartSize > 5<<30):
		return failure.New(failure.InvalidConfig, "worker.multipart_part_size %d is outside 5 MiB..5 GiB (S3's part limits)", c.Worker.MultipartPartSize)
	}
	for name, typ := range c.DevServer.SearchAttributes {
		switch strings.ToLower(typ) {
		case "text", "keyword", "int", "double", "bool", "datetime", "keywordlist":
		default:
			return failure.New(failure.InvalidConfig, "dev_server.search_attributes.%s has unknown type %q", name, typ)
		}
	}
	return nil
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
