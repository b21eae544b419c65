package config

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flavorflow/flavorflow/failure"
)

// Setting is one row of the settings table: where a value may be given and
// what it means. The file, the environment and the flags all go through
// the same row and the same parser, so they cannot disagree.
type Setting struct {
	Key  string // section.name in temporal-dev.yml
	Env  string // environment variable ("": none)
	Flag string // command-line flag ("": none)
	Help string
	// Secret values come from the environment only (never the file) and
	// are redacted when shown.
	Secret bool
	field  func(*Config) any // pointer to the value
}

// Seconds is a duration written as a number of seconds ("2.5"), as MLflow's
// MLFLOW_HTTP_REQUEST_* variables are.
type Seconds time.Duration

// settings is the table, in the order show-config prints it.
var settings = []Setting{
	{Key: "temporal.address", Env: "TEMPORAL_ADDRESS", Flag: "address", Help: "Temporal frontend host:port",
		field: func(c *Config) any { return &c.Temporal.Address }},
	{Key: "temporal.namespace", Env: "TEMPORAL_NAMESPACE", Flag: "namespace", Help: "Temporal namespace",
		field: func(c *Config) any { return &c.Temporal.Namespace }},
	{Key: "temporal.profile", Env: "TEMPORAL_PROFILE", Flag: "profile", Help: "Temporal envconfig profile in temporal.toml (TEMPORAL_CONFIG_FILE)",
		field: func(c *Config) any { return &c.Temporal.Profile }},
	{Key: "temporal.task_queue", Env: "FLAVORFLOW_TASK_QUEUE", Flag: "task-queue", Help: "task queue the worker polls and pipelines run on",
		field: func(c *Config) any { return &c.Temporal.TaskQueue }},
	{Key: "temporal.ui_url", Env: "FLAVORFLOW_TEMPORAL_UI", Help: "Temporal UI base URL for links (\"\": none)",
		field: func(c *Config) any { return &c.Temporal.UIURL }},

	{Key: "dev_server.ip", Help: "dev server listen address", field: func(c *Config) any { return &c.DevServer.IP }},
	{Key: "dev_server.port", Help: "dev server frontend port", field: func(c *Config) any { return &c.DevServer.Port }},
	{Key: "dev_server.ui_port", Help: "dev server UI port", field: func(c *Config) any { return &c.DevServer.UIPort }},
	{Key: "dev_server.db_filename", Help: "dev server database file (\"\": in memory)", field: func(c *Config) any { return &c.DevServer.DBFilename }},
	{Key: "dev_server.log_level", Help: "dev server log level", field: func(c *Config) any { return &c.DevServer.LogLevel }},
	{Key: "dev_server.search_attributes", Help: "search attributes to register (name: type)", field: func(c *Config) any { return &c.DevServer.SearchAttributes }},
	{Key: "dev_server.dynamic_config", Help: "dynamic config values", field: func(c *Config) any { return &c.DevServer.DynamicConfig }},

	{Key: "worker.max_concurrent_activities", Env: "FLAVORFLOW_MAX_CONCURRENT_ACTIVITIES", Flag: "max-concurrent-activities", Help: "activity slots",
		field: func(c *Config) any { return &c.Worker.MaxConcurrentActivities }},
	{Key: "worker.max_concurrent_workflow_tasks", Env: "FLAVORFLOW_MAX_CONCURRENT_WORKFLOW_TASKS", Flag: "max-concurrent-workflow-tasks", Help: "workflow task slots",
		field: func(c *Config) any { return &c.Worker.MaxConcurrentWorkflowTasks }},
	{Key: "worker.stop_timeout", Env: "FLAVORFLOW_WORKER_STOP_TIMEOUT", Help: "how long running activities get on SIGTERM",
		field: func(c *Config) any { return &c.Worker.StopTimeout }},
	{Key: "worker.work_dir", Env: "FLAVORFLOW_WORK_DIR", Flag: "work-dir", Help: "directory for model files between activities",
		field: func(c *Config) any { return &c.Worker.WorkDir }},
	{Key: "worker.upload_parallelism", Env: "FLAVORFLOW_UPLOAD_PARALLELISM", Flag: "upload-parallelism", Help: "files uploaded at once",
		field: func(c *Config) any { return &c.Worker.UploadParallelism }},
	{Key: "worker.health_addr", Env: "FLAVORFLOW_HEALTH_ADDR", Flag: "health-addr", Help: "address for /healthz (\"\": none)",
		field: func(c *Config) any { return &c.Worker.HealthAddr }},
	{Key: "worker.eager_activities", Env: "FLAVORFLOW_EAGER_ACTIVITIES", Flag: "eager-activities", Help: "run the next activity without a trip through matching",
		field: func(c *Config) any { return &c.Worker.EagerActivities }},
	{Key: "worker.multipart_part_size", Env: "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", Flag: "multipart-part-size", Help: "multipart upload part size in bytes",
		field: func(c *Config) any { return &c.Worker.MultipartPartSize }},
	{Key: "worker.multipart_threshold", Env: "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", Flag: "multipart-threshold", Help: "files this big try multipart first",
		field: func(c *Config) any { return &c.Worker.MultipartThreshold }},
	{Key: "worker.http_pool_size", Env: "MLFLOW_HTTP_POOL_MAXSIZE", Flag: "http-pool-size", Help: "MLflow client idle connections per host",
		field: func(c *Config) any { return &c.Worker.HTTPPoolSize }},
	{Key: "worker.sweep_every", Env: "FLAVORFLOW_SWEEP_EVERY", Help: "the janitor's interval (0: never)",
		field: func(c *Config) any { return &c.Worker.SweepEvery }},
	{Key: "worker.work_dir_ttl", Env: "FLAVORFLOW_WORK_DIR_TTL", Help: "a workflow directory unchanged this long is removed",
		field: func(c *Config) any { return &c.Worker.WorkDirTTL }},
	{Key: "worker.temp_ttl", Env: "FLAVORFLOW_TEMP_TTL", Help: "a killed attempt's temporary files unchanged this long are removed",
		field: func(c *Config) any { return &c.Worker.TempTTL }},
	{Key: "worker.min_free_bytes", Env: "FLAVORFLOW_MIN_FREE_BYTES", Help: "/healthz says degraded below this much free space in work_dir (0: never)",
		field: func(c *Config) any { return &c.Worker.MinFreeBytes }},

	{Key: "store.tracking_uri", Env: "MLFLOW_TRACKING_URI", Flag: "tracking-uri", Help: "model store: a directory (embedded store) or an MLflow server URL",
		field: func(c *Config) any { return &c.Store.TrackingURI }},
	{Key: "store.experiment", Env: "FLAVORFLOW_EXPERIMENT", Help: "MLflow experiment of the pipelines' runs",
		field: func(c *Config) any { return &c.Store.Experiment }},

	{Key: "mlflow.registry_uri", Env: "MLFLOW_REGISTRY_URI", Help: "model registry URL (\"\": the tracking URI)",
		field: func(c *Config) any { return &c.MLflow.RegistryURI }},
	{Key: "mlflow.username", Env: "MLFLOW_TRACKING_USERNAME", Secret: true, Help: "Basic auth user (with the password)",
		field: func(c *Config) any { return &c.MLflow.Username }},
	{Key: "mlflow.password", Env: "MLFLOW_TRACKING_PASSWORD", Secret: true, Help: "Basic auth password",
		field: func(c *Config) any { return &c.MLflow.Password }},
	{Key: "mlflow.token", Env: "MLFLOW_TRACKING_TOKEN", Secret: true, Help: "Bearer token (when Basic auth is not set)",
		field: func(c *Config) any { return &c.MLflow.Token }},
	{Key: "mlflow.insecure_tls", Env: "MLFLOW_TRACKING_INSECURE_TLS", Help: "skip TLS verification (testing only)",
		field: func(c *Config) any { return &c.MLflow.InsecureTLS }},
	{Key: "mlflow.server_cert_path", Env: "MLFLOW_TRACKING_SERVER_CERT_PATH", Help: "CA bundle (PEM) for the server's certificate",
		field: func(c *Config) any { return &c.MLflow.ServerCertPath }},
	{Key: "mlflow.client_cert_path", Env: "MLFLOW_TRACKING_CLIENT_CERT_PATH", Help: "PEM holding the client certificate and key",
		field: func(c *Config) any { return &c.MLflow.ClientCertPath }},
	{Key: "mlflow.max_retries", Env: "MLFLOW_HTTP_REQUEST_MAX_RETRIES", Help: "retries of a failed request (0: none; at most 10)",
		field: func(c *Config) any { return &c.MLflow.MaxRetries }},
	{Key: "mlflow.timeout", Env: "MLFLOW_HTTP_REQUEST_TIMEOUT", Help: "seconds per request attempt (connect and headers)",
		field: func(c *Config) any { return &c.MLflow.Timeout }},
	{Key: "mlflow.backoff_factor", Env: "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", Help: "seconds; retry backoff grows from this",
		field: func(c *Config) any { return &c.MLflow.BackoffFactor }},
	{Key: "mlflow.backoff_jitter", Env: "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", Help: "seconds of random jitter added to each backoff",
		field: func(c *Config) any { return &c.MLflow.BackoffJitter }},

	{Key: "pipeline.alias", Help: "alias a verified version moves to (\"\": none)",
		field: func(c *Config) any { return &c.Pipeline.Alias }},
	{Key: "pipeline.verify_inputs", Help: "verification inputs, e.g. 4,0,-1.5 (\"\": the pipeline's built-in ones)",
		field: func(c *Config) any { return &c.Pipeline.VerifyInputs }},
}

// Settings returns the table.
func Settings() []Setting { return append([]Setting(nil), settings...) }

// Lookup returns the setting with key.
func Lookup(key string) (Setting, bool) {
	for _, s := range settings {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// Source says where a value came from.
type Source struct {
	Layer string // "default", "file", "profile", "env" or "flag"
	Name  string // the file, profile, variable or flag
}

func (s Source) String() string {
	if s.Name == "" {
		return s.Layer
	}
	return s.Layer + " " + s.Name
}

// SourceOf says where the setting key's value came from.
func (c Config) SourceOf(key string) Source {
	if s, ok := c.sources[key]; ok {
		return s
	}
	return Source{Layer: "default"}
}

// Value is the setting's value as text, the way the environment and flags
// give it ("(set)" for a secret that is set).
func (c Config) Value(s Setting) string {
	v := formatValue(s.field(&c))
	if s.Secret && v != "" {
		return "(set)"
	}
	return v
}

// set parses text into the setting and records its source.
func (c *Config) set(s Setting, text string, src Source) error {
	if err := parseValue(s.field(c), text); err != nil {
		return failure.New(failure.InvalidConfig, "%s=%q (from %s): %v", s.Key, text, src, err)
	}
	c.sources[s.Key] = src
	return nil
}

// parseValue sets *ptr from text; errors say what was wanted.
func parseValue(ptr any, text string) error {
	text = strings.TrimSpace(text)
	switch p := ptr.(type) {
	case *string:
		*p = text
	case *int:
		n, err := strconv.Atoi(text)
		if err != nil || n < 0 {
			return fmt.Errorf("want a non-negative integer")
		}
		*p = n
	case *int64:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("want a non-negative integer")
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(strings.ToLower(text))
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(text)
		if err != nil || d < 0 {
			return fmt.Errorf("want a duration such as 30s or 5m")
		}
		*p = d
	case *Seconds:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || !(f >= 0 && f <= 1e6) { // also refuses NaN
			return fmt.Errorf("want a number of seconds")
		}
		*p = Seconds(time.Duration(f * float64(time.Second)))
	case *[]float64:
		var xs []float64
		if text != "" {
			for _, part := range strings.Split(text, ",") {
				x, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
				if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
					return fmt.Errorf("%q is not a finite number", part)
				}
				xs = append(xs, x)
			}
		}
		*p = xs
	default:
		return fmt.Errorf("want a mapping, in the config file")
	}
	return nil
}

// formatValue is the inverse of parseValue.
func formatValue(ptr any) string {
	switch p := ptr.(type) {
	case *string:
		return *p
	case *int:
		return strconv.Itoa(*p)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *bool:
		return strconv.FormatBool(*p)
	case *time.Duration:
		return p.String()
	case *Seconds:
		return strconv.FormatFloat(time.Duration(*p).Seconds(), 'g', -1, 64)
	case *[]float64:
		parts := make([]string, len(*p))
		for i, x := range *p {
			parts[i] = strconv.FormatFloat(x, 'g', -1, 64)
		}
		return strings.Join(parts, ",")
	case *map[string]string:
		var parts []string
		for _, k := range sortedKeys(*p) {
			parts = append(parts, k+"="+(*p)[k])
		}
		return strings.Join(parts, ",")
	case *map[string]any:
		var parts []string
		for _, k := range sortedKeys(*p) {
			parts = append(parts, k+"="+jsonValue((*p)[k]))
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(ptr)
}

// readFile applies temporal-dev.yml: each leaf goes through its setting's
// parser as text (as if given in the environment); the maps of dev_server
// are decoded as they are. An unknown key is an error naming it.
func (c *Config) readFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return failure.Wrap(failure.InvalidConfig, err, "read config")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return failure.Wrap(failure.InvalidConfig, err, "config path")
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if err.Error() == "EOF" { // an empty file
			c.Path = abs
			return nil
		}
		return failure.Wrap(failure.InvalidConfig, err, "parse %s", path)
	}
	bad := func(n *yaml.Node, format string, args ...any) error {
		return failure.New(failure.InvalidConfig, "%s:%d: %s", path, n.Line, fmt.Sprintf(format, args...))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return bad(root, "want sections (temporal:, worker:, ...)")
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		section, body := root.Content[i], root.Content[i+1]
		if body.Kind == yaml.ScalarNode && body.Tag == "!!null" {
			continue // an empty section
		}
		if body.Kind != yaml.MappingNode {
			return bad(body, "%s: want a mapping of settings", section.Value)
		}
		for j := 0; j+1 < len(body.Content); j += 2 {
			k, v := body.Content[j], body.Content[j+1]
			key := section.Value + "." + k.Value
			s, ok := Lookup(key)
			switch {
			case !ok:
				return bad(k, "unknown setting %s", key)
			case s.Secret:
				return bad(k, "%s is a secret: set %s in the environment, not in a file", key, s.Env)
			}
			src := Source{Layer: "file", Name: fmt.Sprintf("%s:%d", abs, k.Line)}
			ptr := s.field(c)
			switch v.Kind {
			case yaml.ScalarNode:
				text := v.Value
				if v.Tag == "!!null" {
					text = ""
				}
				err = c.set(s, text, src)
			case yaml.SequenceNode:
				if _, isList := ptr.(*[]float64); !isList {
					return bad(v, "%s: want a single value, not a list", key)
				}
				parts := make([]string, 0, len(v.Content))
				for _, e := range v.Content {
					parts = append(parts, e.Value)
				}
				err = c.set(s, strings.Join(parts, ","), src)
			case yaml.MappingNode:
				switch ptr.(type) {
				case *map[string]string, *map[string]any:
				default:
					return bad(v, "%s: want a single value, not a mapping", key)
				}
				if derr := v.Decode(ptr); derr != nil {
					return bad(v, "%s: %v", key, derr)
				}
				c.sources[key] = src
			default:
				return bad(v, "%s: unsupported value", key)
			}
			if err != nil {
				return err
			}
		}
	}
	c.Path = abs
	return nil
}
