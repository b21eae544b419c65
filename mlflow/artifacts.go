package mlflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/hashpipe"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

const artifactsAPI = "/api/2.0/mlflow-artifacts"

// artifactRoot is a resolved artifact root: the proxy's API base URL and
// the root's path below /artifacts/.
type artifactRoot struct {
	api  *url.URL // .../api/2.0/mlflow-artifacts
	path string   // slash-separated, no leading or trailing slash
}

// resolveRoot maps the root URI forms the proxy hands out (protocol §4.1):
// mlflow-artifacts:/<p>, mlflow-artifacts://host:port/<p> (scheme from the
// tracking URI) and http(s)://.../api/2.0/mlflow-artifacts/artifacts/<p>.
func (c *Client) resolveRoot(root string) (artifactRoot, error) {
	u, err := url.Parse(root)
	if err != nil {
		return artifactRoot{}, failure.Wrap(failure.InvalidURI, err, "artifact root %q", root)
	}
	api := *c.tracking
	api.RawQuery, api.Fragment = "", ""
	var p string
	switch u.Scheme {
	case "mlflow-artifacts":
		if u.Host != "" {
			api.Host = u.Host
			api.User = nil
		}
		api.Path = strings.TrimRight(c.tracking.Path, "/") + artifactsAPI
		p = u.Path
	case "http", "https":
		before, after, ok := strings.Cut(u.Path, artifactsAPI+"/artifacts")
		if !ok {
			return artifactRoot{}, failure.New(failure.InvalidURI, "artifact root %q is not an MLflow artifact proxy URL", redactURI(root))
		}
		api = url.URL{Scheme: u.Scheme, Host: u.Host, Path: before + artifactsAPI}
		p = after
	default:
		return artifactRoot{}, failure.New(failure.InvalidURI, "artifact root %q: only mlflow-artifacts: and http(s) proxy URIs are supported", redactURI(root))
	}
	// Collapse duplicate slashes as MLflow does, but never resolve "..":
	// CleanRelPath refuses it (path.Clean would silently climb).
	p = strings.Join(strings.FieldsFunc(p, func(r rune) bool { return r == '/' }), "/")
	if p != "" {
		if _, err := vocab.CleanRelPath(p, false); err != nil {
			return artifactRoot{}, err
		}
	}
	return artifactRoot{api: &api, path: p}, nil
}

// target validates relPath and resolves root, for every artifact call.
func (c *Client) target(root, relPath string, allowRoot bool) (artifactRoot, string, error) {
	rel, err := vocab.CleanRelPath(relPath, allowRoot)
	if err != nil {
		return artifactRoot{}, "", err
	}
	r, err := c.resolveRoot(root)
	return r, rel, err
}

// fileURL is the URL of relPath below the root, escaped per segment.
func (r artifactRoot) fileURL(kind, rel string) *url.URL {
	u := *r.api
	full := strings.Trim(r.path+"/"+rel, "/")
	segs := strings.Split(full, "/")
	esc := make([]string, len(segs))
	for i, s := range segs {
		esc[i] = url.PathEscape(s)
	}
	u.Path = r.api.Path + "/" + kind + "/" + full
	u.RawPath = r.api.EscapedPath() + "/" + kind + "/" + strings.Join(esc, "/")
	return &u
}

// PutArtifact uploads src to relPath below root. Large files try multipart
// first; the proxy's local destination answers 501 and we fall back to one
// streamed PUT.
func (c *Client) PutArtifact(ctx context.Context, root, relPath string, src store.Source) error {
	r, rel, err := c.target(root, relPath, false)
	if err != nil {
		return err
	}
	if src.Open == nil || src.Size < 0 {
		return failure.New(failure.InvalidArgument, "artifact %s: source has no Open or a negative size", rel)
	}
	if src.Size >= c.cfg.MultipartThreshold && !c.mpuUnsupported.Load() {
		done, err := c.putMultipart(ctx, r, rel, src)
		if done || err != nil {
			return err
		}
	}
	return c.putSingle(ctx, r, rel, src)
}

// putSingle streams the file with a known Content-Length, hashing what is
// actually sent; every retry reopens the source and starts a new hash.
// The source is read ahead in large chunks and hashed on its own goroutine
// (hashpipe.Reader), so sha256 overlaps the socket writes instead of
// stopping them; the transport sends the very buffers that were hashed.
func (c *Client) putSingle(ctx context.Context, r artifactRoot, rel string, src store.Source) error {
	var (
		mu   sync.Mutex
		sent *hashpipe.Reader // the latest attempt's body
	)
	req := &request{
		method: http.MethodPut, url: r.fileURL("artifacts", rel), size: src.Size, idempotent: true,
		header: http.Header{"Content-Type": {"application/octet-stream"}},
		body: func() (io.ReadCloser, error) {
			rc, err := src.Open()
			if err != nil {
				return nil, err
			}
			mu.Lock()
			defer mu.Unlock()
			if sent != nil {
				// The transport closes a body when it is done with it,
				// maybe on its own goroutine; a retry must not wait for
				// that to stop the last attempt's read-ahead.
				sent.Close()
			}
			sent = hashpipe.NewReader(rc, sha256.New(), src.Size)
			return sent, nil
		},
	}
	resp, err := c.send(ctx, req)
	mu.Lock()
	last := sent
	mu.Unlock()
	if err != nil {
		if last != nil {
			last.Close() // Result waits for the read-ahead to stop
			if n, _, complete := last.Result(); complete && n < src.Size {
				return failure.Wrap(failure.ChecksumMismatch, err, "artifact %s: source gave %d bytes, expected %d", rel, n, src.Size)
			}
		}
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if src.Size == 0 {
		// No body was sent (the request closed it unread): an empty file
		// has one digest.
		if last != nil {
			last.Close()
		}
		if src.SHA256 != "" && strings.ToLower(src.SHA256) != emptySHA256 {
			return failure.New(failure.ChecksumMismatch, "artifact %s: sent no bytes (sha256 %s), expected %s", rel, emptySHA256, src.SHA256)
		}
		return nil
	}
	// The server has every byte, so the read-ahead has reached the end of
	// the source (or is about to): wait for it, then close in case the
	// transport has not yet.
	n, sum, complete := last.Result()
	last.Close()
	if !complete || n != src.Size {
		return failure.New(failure.ChecksumMismatch, "artifact %s: the source gave %d bytes (complete: %v), expected %d", rel, n, complete, src.Size)
	}
	if got := hex.EncodeToString(sum); src.SHA256 != "" && got != strings.ToLower(src.SHA256) {
		return failure.New(failure.ChecksumMismatch, "artifact %s: sent bytes have sha256 %s, expected %s", rel, got, src.SHA256)
	}
	return nil
}

// emptySHA256 is the sha256 of no bytes.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// OpenArtifact streams a file; the caller closes the reader. With an
// object store behind the proxy the bytes come straight from the store
// through a presigned URL (presigned.go); otherwise through the proxy.
func (c *Client) OpenArtifact(ctx context.Context, root, relPath string) (io.ReadCloser, error) {
	r, rel, err := c.target(root, relPath, false)
	if err != nil {
		return nil, err
	}
	if body, ok := c.openPresigned(ctx, r, rel); ok {
		return body, nil
	}
	if ctx.Err() != nil {
		return nil, failure.Wrap(failure.ServerUnavailable, ctx.Err(), "GET %s", r.fileURL("artifacts", rel).Path)
	}
	resp, err := c.send(ctx, &request{method: http.MethodGet, url: r.fileURL("artifacts", rel), idempotent: true})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ListArtifacts lists the direct children of relDir. The proxy answers
// basenames; we return paths relative to the root and refuse any name that
// could point elsewhere.
func (c *Client) ListArtifacts(ctx context.Context, root, relDir string) ([]store.FileInfo, error) {
	r, dir, err := c.target(root, relDir, true)
	if err != nil {
		return nil, err
	}
	return c.listDir(ctx, r, dir)
}

func (c *Client) listDir(ctx context.Context, r artifactRoot, dir string) ([]store.FileInfo, error) {
	u := *r.api
	u.Path, u.RawPath = r.api.Path+"/artifacts", ""
	if p := strings.Trim(r.path+"/"+dir, "/"); p != "" {
		u.RawQuery = url.Values{"path": {p}}.Encode()
	}
	var out struct {
		Files []struct {
			Path     string  `json:"path"`
			IsDir    bool    `json:"is_dir"`
			FileSize flexInt `json:"file_size"`
		} `json:"files"`
	}
	if err := c.roundTripJSON(ctx, &request{method: http.MethodGet, url: &u, idempotent: true}, &out); err != nil {
		return nil, err
	}
	infos := make([]store.FileInfo, 0, len(out.Files))
	for _, f := range out.Files {
		name := f.Path
		if dir != "" {
			name = strings.TrimPrefix(name, dir+"/") // tolerate servers that answer root-relative paths
		}
		clean, err := vocab.CleanRelPath(name, false)
		if err != nil || strings.Contains(clean, "/") {
			return nil, failure.New(failure.InvalidPath, "listing of %q returned the unsafe entry %q", dir, f.Path)
		}
		infos = append(infos, store.FileInfo{Path: path.Join(dir, clean), IsDir: f.IsDir, Size: int64(f.FileSize)})
	}
	return infos, nil
}
