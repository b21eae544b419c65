package mlflow

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// CheckRetry decides whether to retry an attempt. resp is nil when err is
// set. idempotent is false for creates: those must only be retried when the
// request provably never reached the server.
type CheckRetry func(ctx context.Context, idempotent bool, resp *http.Response, err error) bool

// Backoff returns how long to wait before retry number attempt (1-based).
// resp is the failed response, or nil after a transport error.
type Backoff func(attempt int, resp *http.Response) time.Duration

// DefaultCheckRetry retries 408, 429 and 5xx except 501, and transport
// errors, for idempotent requests. Non-idempotent requests are retried only
// after a dial error: a reset or timeout after the request was written might
// have created the resource, and MLflow has no idempotency keys.
func DefaultCheckRetry(ctx context.Context, idempotent bool, resp *http.Response, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		if tlsFailure(err) {
			return false // a certificate does not become trusted by retrying
		}
		if idempotent {
			return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
		}
		return notSent(err)
	}
	return idempotent && retryableStatus(resp.StatusCode)
}

// retryableStatus is the set of statuses MLflow's Python client retries,
// plus every other 5xx but 501 (which never gets better).
func retryableStatus(s int) bool {
	return s == http.StatusRequestTimeout || s == http.StatusTooManyRequests ||
		(s >= 500 && s != http.StatusNotImplemented)
}

// tlsFailure reports whether err is a TLS handshake failure that no retry
// can fix: an untrusted or mismatched certificate, or a server that does not
// speak TLS.
func tlsFailure(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &rh)
}

// notSent reports whether err proves the request never reached the server:
// the TCP connection could not be established.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// ExponentialBackoff returns MLflow's policy: factor*2^(attempt-1) plus
// rand*jitter, capped at max; a Retry-After header (seconds or HTTP date)
// wins when it is longer, also capped at max.
func ExponentialBackoff(factor, jitter, max time.Duration) Backoff {
	return func(attempt int, resp *http.Response) time.Duration {
		d := time.Duration(float64(factor) * math.Pow(2, float64(attempt-1)))
		if jitter > 0 {
			d += time.Duration(rand.Int64N(int64(jitter)))
		}
		if ra, ok := retryAfter(resp, timeNow()); ok && ra > d {
			d = ra
		}
		if d > max || d < 0 {
			d = max
		}
		return d
	}
}

// timeNow is a variable so tests can pin the clock for Retry-After dates.
var timeNow = time.Now

func retryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
