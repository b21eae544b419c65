package mlflow

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
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

// validate checks what New needs; errors name the variable to fix (the
// configuration loader, config.LoadWith, reads them: MLFLOW_* as in
// MLflow's Python client).
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
