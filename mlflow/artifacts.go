package mlflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/flavorflow/flavorflow/failure"
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
func (c *Client) putSingle(ctx context.Context, r artifactRoot, rel string, src store.Source) error {
	var sent *countingHasher
	req := &request{
		method: http.MethodPut, url: r.fileURL("artifacts", rel), size: src.Size, idempotent: true,
		header: http.Header{"Content-Type": {"application/octet-stream"}},
		body: func() (io.ReadCloser, error) {
			rc, err := src.Open()
			if err != nil {
				return nil, err
			}
			sent = newCountingHasher(rc)
			return sent, nil
		},
	}
	resp, err := c.send(ctx, req)
	if err != nil {
		if sent != nil && sent.short(src.Size) {
			return failure.Wrap(failure.ChecksumMismatch, err, "artifact %s: source gave %d bytes, expected %d", rel, sent.n, src.Size)
		}
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if src.SHA256 != "" && sent.sum() != strings.ToLower(src.SHA256) {
		return failure.New(failure.ChecksumMismatch, "artifact %s: sent bytes have sha256 %s, expected %s", rel, sent.sum(), src.SHA256)
	}
	return nil
}

// countingHasher hashes and counts bytes as the transport reads them.
type countingHasher struct {
	rc  io.ReadCloser
	h   hash.Hash
	n   int64
	eof bool
}

func newCountingHasher(rc io.ReadCloser) *countingHasher {
	return &countingHasher{rc: rc, h: sha256.New()}
}

func (c *countingHasher) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}

func (c *countingHasher) Close() error { return c.rc.Close() }
func (c *countingHasher) sum() string  { return hex.EncodeToString(c.h.Sum(nil)) }

// short reports a source that ended before its declared size.
func (c *countingHasher) short(size int64) bool { return c.eof && c.n < size }

// OpenArtifact streams a file; the caller closes the reader.
func (c *Client) OpenArtifact(ctx context.Context, root, relPath string) (io.ReadCloser, error) {
	r, rel, err := c.target(root, relPath, false)
	if err != nil {
		return nil, err
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
