package mlflow

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/flavorflow/flavorflow/failure"
)

// IdleConnTimeout is how long the client keeps an unused connection: under
// the 5 s keep-alive of uvicorn (what `mlflow server` runs by default), so
// the client never reuses a connection the server is about to close. A
// create (POST) sent on one in that instant fails after it was written,
// and a create is never resent then (DefaultCheckRetry), so it would cost
// the activity a retry. Reconnecting on loopback or a LAN costs well under
// a millisecond, and a pipeline's requests follow each other far more
// closely than this.
const IdleConnTimeout = 4 * time.Second

// NewTransport builds the tuned *http.Transport New uses when
// Config.Transport is nil; callers that wrap it (otelhttp) start here.
// Timeout bounds connecting and waiting for response headers, not reading a
// streamed body: a 1 GiB download may take longer than 120 s.
func NewTransport(cfg Config) (*http.Transport, error) {
	cfg = cfg.withDefaults()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = cfg.Timeout
	tr.TLSHandshakeTimeout = min(cfg.Timeout, 30*time.Second)
	// Concurrent uploads each hold a connection; keep them for reuse.
	tr.MaxIdleConns = max(100, 2*cfg.HTTPPoolSize)
	tr.MaxIdleConnsPerHost = cfg.HTTPPoolSize
	tr.IdleConnTimeout = IdleConnTimeout
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	tr.TLSClientConfig = tlsCfg
	return tr, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.InsecureTLS {
		tc.InsecureSkipVerify = true // the operator asked for it; New logs a warning
	}
	if cfg.ServerCertPath != "" {
		pem, err := os.ReadFile(cfg.ServerCertPath)
		if err != nil {
			return nil, failure.Wrap(failure.InvalidConfig, err, "MLFLOW_TRACKING_SERVER_CERT_PATH")
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, failure.New(failure.InvalidConfig, "MLFLOW_TRACKING_SERVER_CERT_PATH=%s holds no PEM certificate", cfg.ServerCertPath)
		}
		tc.RootCAs = pool
	}
	if cfg.ClientCertPath != "" {
		pem, err := os.ReadFile(cfg.ClientCertPath)
		if err != nil {
			return nil, failure.Wrap(failure.InvalidConfig, err, "MLFLOW_TRACKING_CLIENT_CERT_PATH")
		}
		cert, err := tls.X509KeyPair(pem, pem)
		if err != nil {
			return nil, failure.Wrap(failure.InvalidConfig, err, "MLFLOW_TRACKING_CLIENT_CERT_PATH=%s must hold a PEM certificate and key", cfg.ClientCertPath)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
