package mlflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

// Client is an MLflow REST client implementing store.Store. It is safe for
// concurrent use; its fields must not change after the first call.
type Client struct {
	cfg      Config
	tracking *url.URL
	registry *url.URL
	http     *http.Client
	log      *slog.Logger

	// CheckRetry and Backoff are the retry policy; New sets the defaults.
	CheckRetry CheckRetry
	Backoff    Backoff

	mpuUnsupported atomic.Bool // set after the first 501 from mpu/create
	// presignOff: downloads go through the proxy, because the server
	// cannot presign (its destination is not an object store) or this
	// worker cannot reach the store's URLs (presigned.go).
	presignOff atomic.Bool

	// Answers that save round trips (cache.go).
	locations   *lru[locationKey, string]
	experiments *lru[string, cachedExperiment]
	now         func() time.Time // the experiment cache's clock; tests move it
}

var _ store.Store = (*Client)(nil)

// New validates cfg and returns a client. It does not contact the server.
func New(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tracking, _ := url.Parse(strings.TrimRight(cfg.TrackingURI, "/"))
	registry, _ := url.Parse(strings.TrimRight(cfg.RegistryURI, "/"))
	rt := cfg.Transport
	if rt == nil {
		tr, err := NewTransport(cfg)
		if err != nil {
			return nil, err
		}
		rt = tr
	}
	c := &Client{
		cfg:        cfg,
		tracking:   tracking,
		registry:   registry,
		http:       &http.Client{Transport: rt},
		log:        cfg.Logger,
		CheckRetry: DefaultCheckRetry,
		Backoff:    ExponentialBackoff(cfg.BackoffFactor, cfg.BackoffJitter, cfg.BackoffMax),

		locations:   newLRU[locationKey, string](locationCacheSize),
		experiments: newLRU[string, cachedExperiment](experimentCacheSize),
		now:         time.Now,
	}
	if cfg.InsecureTLS {
		c.log.Warn("MLFLOW_TRACKING_INSECURE_TLS is set: server certificates are not verified", "server", c.Describe())
	}
	return c, nil
}

// Describe names the server without credentials.
func (c *Client) Describe() string { return "MLflow server " + safeURL(c.tracking) }

// UIURL links to a model version in the MLflow UI.
func (c *Client) UIURL(name string, version int) string {
	return safeURL(c.tracking) + "/#/models/" + url.PathEscape(name) + "/versions/" + strconv.Itoa(version)
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

func safeURL(u *url.URL) string {
	v := *u
	v.User, v.RawQuery, v.Fragment = nil, "", ""
	return v.String()
}

// request is one logical call; send may perform several attempts.
type request struct {
	method     string
	url        *url.URL
	body       func() (io.ReadCloser, error) // reopened for every attempt
	size       int64                         // Content-Length, -1 unknown
	header     http.Header
	idempotent bool
}

// endpoint is the path shown in errors and logs.
func (r *request) endpoint() string { return r.url.Path }

// send performs req with retries and returns a 2xx response whose body the
// caller must close. Non-2xx answers become failure errors wrapping an
// *APIError.
func (c *Client) send(ctx context.Context, req *request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := c.attempt(ctx, req)
		if err == nil && resp.StatusCode/100 == 2 {
			return resp, nil
		}
		var apiErr *APIError
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			apiErr = newAPIError(req.method, req.endpoint(), resp.StatusCode, body)
		}
		retry := attempt < c.cfg.MaxRetries && c.CheckRetry(ctx, req.idempotent, resp, err) &&
			(apiErr == nil || codeFor(apiErr) != failure.NotFound) // a 500 that says "no such object"

		if !retry {
			if resp != nil {
				resp.Body.Close()
			}
			return nil, c.finalError(ctx, req, apiErr, err)
		}
		wait := c.Backoff(attempt+1, resp)
		if resp != nil {
			resp.Body.Close()
		}
		c.log.DebugContext(ctx, "mlflow: retrying", "method", req.method, "endpoint", req.endpoint(),
			"attempt", attempt+1, "wait", wait, "status", statusOf(resp), "error", errString(err))
		if err := sleep(ctx, wait); err != nil {
			return nil, failure.Wrap(failure.ServerUnavailable, err, "%s %s: gave up waiting to retry", req.method, req.endpoint())
		}
	}
}

func (c *Client) finalError(ctx context.Context, req *request, apiErr *APIError, err error) error {
	if apiErr != nil {
		return c.wrapAPIError(apiErr)
	}
	var fe *failure.Error
	if errors.As(err, &fe) {
		return err // e.g. the body source failed to open
	}
	if ctx.Err() != nil {
		return failure.Wrap(failure.ServerUnavailable, ctx.Err(), "%s %s on %s", req.method, req.endpoint(), c.Describe())
	}
	if tlsFailure(err) {
		return failure.Wrap(failure.InvalidConfig, err, "TLS handshake with %s failed (set MLFLOW_TRACKING_SERVER_CERT_PATH to the CA bundle that signed its certificate)", c.Describe())
	}
	if !req.idempotent && !notSent(err) {
		return failure.Wrap(failure.ServerUnavailable, err, "%s %s on %s failed after the request may have reached the server; look it up before creating again", req.method, req.endpoint(), c.Describe())
	}
	return failure.Wrap(failure.ServerUnavailable, err, "%s %s on %s", req.method, req.endpoint(), c.Describe())
}

func (c *Client) attempt(ctx context.Context, req *request) (*http.Response, error) {
	var body io.ReadCloser
	if req.body != nil {
		b, err := req.body()
		if err != nil {
			return nil, failure.Wrap(failure.Internal, err, "opening request body for %s", req.endpoint())
		}
		body = b
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, req.url.String(), body)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return nil, failure.Wrap(failure.InvalidArgument, err, "building %s %s", req.method, req.endpoint())
	}
	if body != nil {
		hr.ContentLength = req.size
		if req.size == 0 {
			hr.Body = http.NoBody
			body.Close()
		}
	}
	for k, v := range req.header {
		hr.Header[k] = v
	}
	hr.Header.Set("User-Agent", "flavorflow-mlflow-go")
	c.authorize(hr)
	return c.http.Do(hr)
}

// authorize adds credentials, but only for the configured tracking and
// registry hosts: an artifact URI naming another host must not receive them.
func (c *Client) authorize(hr *http.Request) {
	if hr.URL.Host != c.tracking.Host && hr.URL.Host != c.registry.Host {
		return
	}
	switch {
	case c.cfg.Username != "" && c.cfg.Password != "":
		hr.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	case c.cfg.Token != "":
		hr.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// callOpts picks the base URL and retry class of a JSON call.
type callOpts struct {
	registry bool
	create   bool // non-idempotent: retried only when provably not sent
}

// call sends a JSON request to /api/2.0/mlflow/<path> and decodes the JSON
// answer into out (nil to ignore it). GET and DELETE-less queries go in q.
func (c *Client) call(ctx context.Context, o callOpts, method, path string, q url.Values, in, out any) error {
	base := c.tracking
	if o.registry {
		base = c.registry
	}
	u := *base
	u.Path = strings.TrimRight(base.Path, "/") + "/api/2.0/mlflow/" + path
	u.RawQuery = q.Encode()
	req, err := jsonRequest(method, &u, in, !o.create)
	if err != nil {
		return err
	}
	return c.roundTripJSON(ctx, req, out)
}

// jsonRequest builds a request whose body (when in is not nil) is JSON.
func jsonRequest(method string, u *url.URL, in any, idempotent bool) (*request, error) {
	req := &request{method: method, url: u, idempotent: idempotent, header: http.Header{}}
	if in == nil {
		return req, nil
	}
	data, err := json.Marshal(in)
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "encoding the body of %s", u.Path)
	}
	req.body = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	req.size = int64(len(data))
	req.header.Set("Content-Type", "application/json")
	return req, nil
}

// roundTripJSON sends req and decodes the body. A body cut short is a
// transient fault and, for idempotent requests, retried like a 5xx.
func (c *Client) roundTripJSON(ctx context.Context, req *request, out any) error {
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		resp.Body.Close()
		if err == nil {
			err = decodeJSON(req.method, req.endpoint(), body, out)
			if !errors.Is(err, errTruncated) {
				return err
			}
		}
		if !req.idempotent || attempt >= c.cfg.MaxRetries || ctx.Err() != nil {
			return failure.Wrap(failure.ServerUnavailable, err, "%s %s: reading the response", req.method, req.endpoint())
		}
		if err := sleep(ctx, c.Backoff(attempt+1, nil)); err != nil {
			return failure.Wrap(failure.ServerUnavailable, err, "%s %s", req.method, req.endpoint())
		}
	}
}

// decodeJSON accepts an empty body as {} (MLflow's FastAPI artifact PUT
// answers that way) and ignores unknown fields.
func decodeJSON(method, endpoint string, body []byte, out any) error {
	if out == nil || len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(out); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return errTruncated
		}
		return badResponse(method, endpoint, "a JSON object", body, err)
	}
	return nil
}
