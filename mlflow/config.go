package mlflow

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flavorflow/flavorflow/failure"
)

// Defaults, following MLflow's Python client where it has one.
const (
	DefaultMaxRetries         = 7
	MaxRetriesLimit           = 10
	DefaultTimeout            = 120 * time.Second
	DefaultBackoffFactor      = 2 * time.Second
	DefaultBackoffJitter      = 1 * time.Second
	DefaultBackoffMax         = 120 * time.Second
	DefaultUploadParallelism  = 4
	DefaultMultipartThreshold = 500 << 20
	DefaultMultipartPartSize  = 10 << 20
	DefaultVersionPoll        = 1 * time.Second
	DefaultVersionWait        = 5 * time.Minute
)

// Config configures a Client. Zero values take the defaults above.
type Config struct {
	TrackingURI string
	RegistryURI string // "" means TrackingURI

	Username, Password string // Basic auth when both are set
	Token              string // Bearer, used when Basic is not configured

	InsecureTLS    bool
	ServerCertPath string // CA bundle (PEM)
	ClientCertPath string // PEM holding client certificate and key

	MaxRetries    int           // retries after the first attempt: 0 means the default, <0 none; at most MaxRetriesLimit
	Timeout       time.Duration // per attempt: connect and response headers
	BackoffFactor time.Duration
	BackoffJitter time.Duration
	BackoffMax    time.Duration

	// Transport, when set, is used as is (the TLS settings above are then
	// the caller's business; NewTransport builds the default one to wrap).
	Transport http.RoundTripper
	Logger    *slog.Logger

	UploadParallelism  int   // expected concurrent uploads; sizes the idle pool
	HTTPPoolSize       int   // idle connections kept per host (0: max(16, 2×UploadParallelism))
	MultipartThreshold int64 // files at least this big try multipart upload first
	MultipartPartSize  int64
	// MultipartJournalDir, when set, keeps the state of each parted upload
	// (upload id, part URLs, the parts sent and their ETags) in a file
	// there, so an attempt after a killed process sends only the missing
	// parts. "" keeps it in memory: a failed upload is aborted.
	MultipartJournalDir string

	VersionPollInterval time.Duration // PENDING_REGISTRATION poll period
	VersionWaitTimeout  time.Duration // give up with VersionNotReady after this
}

// String describes the config without secrets.
func (c Config) String() string {
	auth := "none"
	switch {
	case c.Username != "" && c.Password != "":
		auth = "basic(" + c.Username + ", password redacted)"
	case c.Token != "":
		auth = "bearer(redacted)"
	}
	return fmt.Sprintf("mlflow.Config{tracking=%s registry=%s auth=%s insecureTLS=%t retries=%d timeout=%s}",
		redactURI(c.TrackingURI), redactURI(c.RegistryURI), auth, c.InsecureTLS, c.MaxRetries, c.Timeout)
}

// LogValue keeps secrets out of slog output.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// redactURI drops userinfo, query and fragment.
func redactURI(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable URI>"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// ConfigFromEnv reads the MLFLOW_* variables the Python client reads.
// lookup is os.LookupEnv in production.
func ConfigFromEnv(lookup func(string) (string, bool)) (Config, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	c := Config{
		TrackingURI:    get("MLFLOW_TRACKING_URI"),
		RegistryURI:    get("MLFLOW_REGISTRY_URI"),
		Username:       get("MLFLOW_TRACKING_USERNAME"),
		Password:       get("MLFLOW_TRACKING_PASSWORD"),
		Token:          get("MLFLOW_TRACKING_TOKEN"),
		ServerCertPath: get("MLFLOW_TRACKING_SERVER_CERT_PATH"),
		ClientCertPath: get("MLFLOW_TRACKING_CLIENT_CERT_PATH"),
	}
	var err error
	if c.InsecureTLS, err = envBool(get, "MLFLOW_TRACKING_INSECURE_TLS"); err != nil {
		return Config{}, err
	}
	if c.MaxRetries, err = envInt(get, "MLFLOW_HTTP_REQUEST_MAX_RETRIES", DefaultMaxRetries); err != nil {
		return Config{}, err
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = -1 // an explicit 0 means no retries, not the default
	}
	if c.Timeout, err = envSeconds(get, "MLFLOW_HTTP_REQUEST_TIMEOUT", DefaultTimeout); err != nil {
		return Config{}, err
	}
	if c.BackoffFactor, err = envSeconds(get, "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", DefaultBackoffFactor); err != nil {
		return Config{}, err
	}
	if c.BackoffJitter, err = envSeconds(get, "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", DefaultBackoffJitter); err != nil {
		return Config{}, err
	}
	if c.TrackingURI == "" {
		return Config{}, failure.New(failure.InvalidConfig, "MLFLOW_TRACKING_URI is not set")
	}
	return c, c.validate()
}

// withDefaults fills zero values.
func (c Config) withDefaults() Config {
	if c.RegistryURI == "" {
		c.RegistryURI = c.TrackingURI
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	c.MaxRetries = max(c.MaxRetries, 0)
	setDefault(&c.Timeout, DefaultTimeout)
	setDefault(&c.BackoffFactor, DefaultBackoffFactor)
	setDefault(&c.BackoffMax, DefaultBackoffMax)
	setDefault(&c.UploadParallelism, DefaultUploadParallelism)
	setDefault(&c.HTTPPoolSize, max(16, 2*c.UploadParallelism))
	setDefault(&c.MultipartThreshold, DefaultMultipartThreshold)
	setDefault(&c.MultipartPartSize, DefaultMultipartPartSize)
	setDefault(&c.VersionPollInterval, DefaultVersionPoll)
	setDefault(&c.VersionWaitTimeout, DefaultVersionWait)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func setDefault[T int | int64 | time.Duration](p *T, def T) {
	if *p <= 0 {
		*p = def
	}
}

// validate checks what New needs; errors name the variable to fix.
func (c Config) validate() error {
	for _, u := range []struct{ name, val string }{{"MLFLOW_TRACKING_URI", c.TrackingURI}, {"MLFLOW_REGISTRY_URI", c.RegistryURI}} {
		if u.val == "" && u.name == "MLFLOW_REGISTRY_URI" {
			continue
		}
		p, err := url.Parse(u.val)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return failure.New(failure.InvalidConfig, "%s=%s is not an http(s) URL", u.name, redactURI(u.val))
		}
	}
	if c.InsecureTLS && c.ServerCertPath != "" {
		return failure.New(failure.InvalidConfig, "MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH cannot both be set")
	}
	if c.MaxRetries > MaxRetriesLimit {
		return failure.New(failure.InvalidConfig, "MLFLOW_HTTP_REQUEST_MAX_RETRIES=%d is over the limit of %d", c.MaxRetries, MaxRetriesLimit)
	}
	return nil
}

func envBool(get func(string) string, k string) (bool, error) {
	v := get(k)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(strings.ToLower(v))
	if err != nil {
		return false, failure.New(failure.InvalidConfig, "%s=%q is not a boolean", k, v)
	}
	return b, nil
}

func envInt(get func(string) string, k string, def int) (int, error) {
	v := get(k)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, failure.New(failure.InvalidConfig, "%s=%q is not a non-negative integer", k, v)
	}
	if n > MaxRetriesLimit && k == "MLFLOW_HTTP_REQUEST_MAX_RETRIES" {
		return 0, failure.New(failure.InvalidConfig, "%s=%d is over the limit of %d", k, n, MaxRetriesLimit)
	}
	return n, nil
}

func envSeconds(get func(string) string, k string, def time.Duration) (time.Duration, error) {
	v := get(k)
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0 && f <= 1e6) { // also refuses NaN
		return 0, failure.New(failure.InvalidConfig, "%s=%q is not a number of seconds", k, v)
	}
	return time.Duration(f * float64(time.Second)), nil
}
