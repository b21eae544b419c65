package mlflow

// Downloads straight from the object store. With an S3 destination behind
// the proxy, MLflow's own Python client asks the server for a presigned URL
// per file (GET mlflow-artifacts/presigned/<path>, protocol §4.2) and reads
// the bytes from the store: the server signs, it does not stream. Streaming
// through the proxy costs the MLflow server's Python processes CPU for every
// byte, and with several pipelines verifying and promoting at once that CPU
// sets the pace. The request count is the same (one per file); the bytes
// are hashed by the caller either way, so integrity does not depend on the
// path they took.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
)

// presignedDownload is the server's answer: where the bytes are and the
// headers the signature covers.
type presignedDownload struct {
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// openPresigned opens rel below r from the object store, when the server
// presigns and the store answers. ok false means: use the proxy. A server
// that cannot presign (501: a local destination; 404 without an MLflow
// error code: a server older than the endpoint) and a store this worker
// cannot connect to turn the direct path off for the client's life, so each
// costs one request per worker, not one per file. Anything else (an expired
// URL, a 5xx from the store) falls back for this file only.
func (c *Client) openPresigned(ctx context.Context, r artifactRoot, rel string) (io.ReadCloser, bool) {
	if c.presignOff.Load() {
		return nil, false
	}
	var p presignedDownload
	if err := c.roundTripJSON(ctx, &request{method: http.MethodGet, url: r.fileURL("presigned", rel), idempotent: true}, &p); err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && (apiErr.Status == http.StatusNotImplemented || apiErr.Status == http.StatusNotFound && apiErr.Code == "") {
			c.presignOff.Store(true)
			c.log.DebugContext(ctx, "mlflow: the server does not presign downloads; they go through its proxy", "status", apiErr.Status)
		}
		return nil, false
	}
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.log.WarnContext(ctx, "mlflow: the server's presigned URL is not an http(s) URL; downloading through its proxy", "endpoint", r.fileURL("presigned", rel).Path)
		c.presignOff.Store(true)
		return nil, false
	}
	hdr := http.Header{}
	for k, v := range p.Headers {
		hdr.Set(k, v)
	}
	// One attempt: the proxied GET behind it has the retries.
	resp, err := c.attempt(ctx, &request{method: http.MethodGet, url: u, header: hdr, idempotent: true})
	switch {
	case err != nil:
		if ctx.Err() == nil && notSent(err) {
			c.presignOff.Store(true)
			c.log.WarnContext(ctx, "mlflow: cannot connect to the object store the server's presigned URLs name; downloading through the server's proxy from now on",
				"store", u.Host, "error", err)
		}
		return nil, false
	case resp.StatusCode != http.StatusOK:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		c.log.DebugContext(ctx, "mlflow: presigned download refused; this file goes through the proxy", "status", resp.StatusCode)
		return nil, false
	}
	return resp.Body, true
}
