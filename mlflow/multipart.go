package mlflow

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

type mpuCredential struct {
	URL        string            `json:"url"`
	PartNumber int               `json:"part_number"`
	Headers    map[string]string `json:"headers"`
}

type mpuPart struct {
	PartNumber int    `json:"part_number"`
	ETag       string `json:"etag"`
	URL        string `json:"url"`
}

// putMultipart uploads through the proxy's multipart API. done=false with a
// nil error means the server does not support it (501 or its "not
// supported" message) and the caller should do a single PUT; the answer is
// remembered so later large files skip the probe.
func (c *Client) putMultipart(ctx context.Context, r artifactRoot, rel string, src store.Source) (done bool, err error) {
	dir, base := path.Split(rel)
	numParts := int((src.Size + c.cfg.MultipartPartSize - 1) / c.cfg.MultipartPartSize)
	var created struct {
		UploadID    string          `json:"upload_id"`
		Credentials []mpuCredential `json:"credentials"`
	}
	createIn := map[string]any{"path": base, "num_parts": numParts}
	err = c.mpuCall(ctx, r, "create", dir, createIn, &created)
	if failure.Has(err, failure.NotImplemented) || isMPUUnsupported(err) {
		c.mpuUnsupported.Store(true)
		c.log.DebugContext(ctx, "mlflow: multipart upload not supported, using a single PUT", "server", c.Describe())
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if created.UploadID == "" || len(created.Credentials) != numParts {
		return false, failure.New(failure.BadResponse, "mpu/create: expected an upload_id and %d credentials, got %d", numParts, len(created.Credentials))
	}
	parts, err := c.putParts(ctx, src, rel, created.Credentials)
	if err != nil {
		abortIn := map[string]any{"path": base, "upload_id": created.UploadID}
		if aerr := c.mpuCall(context.WithoutCancel(ctx), r, "abort", dir, abortIn, nil); aerr != nil {
			c.log.WarnContext(ctx, "mlflow: aborting multipart upload failed", "path", rel, "error", aerr)
		}
		return true, err
	}
	completeIn := map[string]any{"path": base, "upload_id": created.UploadID, "parts": parts}
	return true, c.mpuCall(ctx, r, "complete", dir, completeIn, nil)
}

func isMPUUnsupported(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Multipart upload is not supported")
}

// mpuCall posts to /mpu/<op>/<dir>. create is not idempotent (a second
// upload id would leak), complete and abort are.
func (c *Client) mpuCall(ctx context.Context, r artifactRoot, op, dir string, in, out any) error {
	u := r.fileURL("mpu/"+op, strings.TrimSuffix(dir, "/"))
	req, err := jsonRequest(http.MethodPost, u, in, op != "create")
	if err != nil {
		return err
	}
	return c.roundTripJSON(ctx, req, out)
}

// putParts uploads the parts in order. The running sha256 is snapshotted
// before each part so a retried part re-hashes exactly the bytes it resends.
func (c *Client) putParts(ctx context.Context, src store.Source, rel string, creds []mpuCredential) ([]mpuPart, error) {
	total := sha256.New()
	parts := make([]mpuPart, 0, len(creds))
	for i, cred := range creds {
		off := int64(i) * c.cfg.MultipartPartSize
		size := min(c.cfg.MultipartPartSize, src.Size-off)
		snap, err := total.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return nil, failure.Wrap(failure.Internal, err, "hash snapshot")
		}
		u, err := url.Parse(cred.URL)
		if err != nil {
			return nil, failure.Wrap(failure.BadResponse, err, "mpu/create: part %d url", cred.PartNumber)
		}
		hdr := http.Header{}
		for k, v := range cred.Headers {
			hdr.Set(k, v)
		}
		req := &request{method: http.MethodPut, url: u, size: size, idempotent: true, header: hdr,
			body: func() (io.ReadCloser, error) {
				if err := total.(encoding.BinaryUnmarshaler).UnmarshalBinary(snap); err != nil {
					return nil, err
				}
				return openAt(src, off, size, total)
			}}
		resp, err := c.send(ctx, req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		parts = append(parts, mpuPart{PartNumber: cred.PartNumber, ETag: resp.Header.Get("ETag"), URL: cred.URL})
	}
	if got := hex.EncodeToString(total.Sum(nil)); src.SHA256 != "" && got != strings.ToLower(src.SHA256) {
		return nil, failure.New(failure.ChecksumMismatch, "artifact %s: sent bytes have sha256 %s, expected %s", rel, got, src.SHA256)
	}
	return parts, nil
}

// openAt opens src, skips to off (seeking when the reader can) and returns
// a reader of size bytes that feeds h.
func openAt(src store.Source, off, size int64, h hash.Hash) (io.ReadCloser, error) {
	rc, err := src.Open()
	if err != nil {
		return nil, err
	}
	if s, ok := rc.(io.Seeker); ok {
		_, err = s.Seek(off, io.SeekStart)
	} else {
		_, err = io.CopyN(io.Discard, rc, off)
	}
	if err != nil {
		rc.Close()
		return nil, failure.Wrap(failure.ChecksumMismatch, err, "source is shorter than its declared size")
	}
	return struct {
		io.Reader
		io.Closer
	}{io.TeeReader(io.LimitReader(rc, size), h), rc}, nil
}
