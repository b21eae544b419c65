package mlflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

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

// mpuState is one parted upload: what complete needs, and what a later
// attempt needs to go on with it. MLflow's proxy has no ListParts, so the
// parts already sent and their ETags are known only to the client that sent
// them; with a journal (Config.MultipartJournalDir) this state outlives the
// process.
type mpuState struct {
	Key         string          `json:"key"`
	UploadID    string          `json:"upload_id"`
	PartSize    int64           `json:"part_size"`
	Credentials []mpuCredential `json:"credentials"`
	// Done[i] is part i+1: its ETag once S3 accepted it ("" before), and
	// the CRC-32C of the bytes sent, compared with the file when the
	// upload ends (a part sent by a dead attempt is not re-read then).
	Done []mpuDone `json:"done"`
}

type mpuDone struct {
	ETag string `json:"etag,omitempty"`
	CRC  uint32 `json:"crc32c,omitempty"`
}

// credentialMargin: a saved upload whose part URLs expire sooner than this
// is not resumed (the remaining parts could not finish in time); a new one
// is created.
const credentialMargin = 10 * time.Minute

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// putMultipart uploads through the proxy's multipart API, UploadParallelism
// parts at a time. done=false with a nil error means the server does not
// support it (501 or its "not supported" message) and the caller should do
// a single PUT; the answer is remembered so later large files skip the probe.
//
// With a journal, an attempt that fails retryably (or whose process dies)
// leaves the upload open and its journal behind: the next attempt for the
// same bytes sends only the parts missing. Without one, or on a
// non-retryable failure, the upload is aborted.
func (c *Client) putMultipart(ctx context.Context, r artifactRoot, rel string, src store.Source) (done bool, err error) {
	dir, base := path.Split(rel)
	partSize := c.cfg.MultipartPartSize
	numParts := int((src.Size + partSize - 1) / partSize)
	target := r.fileURL("artifacts", rel)
	var j *mpuJournal
	if src.SHA256 != "" { // only the same bytes may resume: the hash says they are
		key := target.String() + "|" + strconv.FormatInt(src.Size, 10) + "|" + strings.ToLower(src.SHA256) + "|" + strconv.FormatInt(partSize, 10)
		j = c.openJournal(ctx, key)
	}
	defer j.close()
	abort := func(st *mpuState) {
		in := map[string]any{"path": base, "upload_id": st.UploadID}
		if aerr := c.mpuCall(context.WithoutCancel(ctx), r, "abort", dir, in, nil); aerr != nil {
			c.log.WarnContext(ctx, "mlflow: aborting multipart upload failed", "path", rel, "error", aerr)
		}
	}
	st := j.load()
	if st != nil && !st.usable(numParts, partSize, time.Now()) {
		c.log.InfoContext(ctx, "mlflow: not resuming a multipart upload whose part URLs expire soon; starting a new one", "path", rel)
		abort(st)
		j.remove()
		st = nil
	}
	resumed, restarted := st != nil, false
	if resumed {
		c.log.InfoContext(ctx, "mlflow: resuming multipart upload", "path", rel, "parts", numParts, "parts_already_sent", st.sent())
	}
	for {
		if st == nil {
			var supported bool
			if st, supported, err = c.mpuCreate(ctx, r, dir, base, numParts, partSize); !supported || err != nil {
				return supported, err
			}
			st.Key = j.key()
			j.save(ctx, st)
		}
		err = c.sendParts(ctx, rel, src, st, j)
		if err != nil && !restarted && (failure.Has(err, failure.NotFound) || (resumed && failure.Has(err, failure.PermissionDenied))) {
			// The upload is gone (aborted, expired by a bucket lifecycle
			// rule, lost by the store) or a saved one's URLs no longer
			// sign: start over, once.
			c.log.InfoContext(ctx, "mlflow: the multipart upload can no longer be continued; starting a new one", "path", rel, "error", err)
			abort(st)
			j.remove()
			st, restarted = nil, true
			continue
		}
		if failure.Has(err, failure.NotFound) {
			abort(st)
			j.remove()
			return true, failure.Wrap(failure.Internal, err, "artifact %s: the multipart upload vanished twice; the next attempt starts over", rel)
		}
		break
	}
	if err != nil {
		if j == nil || !failure.Retryable(failure.CodeOf(err)) {
			abort(st)
			j.remove()
		}
		return true, err
	}
	parts := make([]mpuPart, len(st.Credentials))
	for i, cred := range st.Credentials {
		parts[i] = mpuPart{PartNumber: cred.PartNumber, ETag: st.Done[i].ETag, URL: cred.URL}
	}
	completeIn := map[string]any{"path": base, "upload_id": st.UploadID, "parts": parts}
	if err := c.mpuCall(ctx, r, "complete", dir, completeIn, nil); err != nil {
		if !failure.Has(err, failure.NotFound) {
			if !failure.Retryable(failure.CodeOf(err)) {
				abort(st)
				j.remove()
			}
			return true, err
		}
		// The upload id is gone. complete is retried, so an earlier try
		// may have gone through with its answer lost: then the object is
		// in place, whole (verification re-hashes it later anyway).
		// Otherwise the upload was aborted and the next attempt starts over.
		if !c.artifactHasSize(ctx, r, rel, src.Size) {
			j.remove()
			return true, failure.Wrap(failure.Internal, err, "artifact %s: the multipart upload vanished before it was completed; it starts over", rel)
		}
		c.log.InfoContext(ctx, "mlflow: multipart complete answered 'no such upload' but the object is in place", "path", rel)
	}
	j.remove()
	return true, nil
}

// mpuCreate starts an upload. supported=false: the destination cannot do
// multipart.
func (c *Client) mpuCreate(ctx context.Context, r artifactRoot, dir, base string, numParts int, partSize int64) (*mpuState, bool, error) {
	var created struct {
		UploadID    string          `json:"upload_id"`
		Credentials []mpuCredential `json:"credentials"`
	}
	err := c.mpuCall(ctx, r, "create", dir, map[string]any{"path": base, "num_parts": numParts}, &created)
	if failure.Has(err, failure.NotImplemented) || isMPUUnsupported(err) {
		c.mpuUnsupported.Store(true)
		c.log.DebugContext(ctx, "mlflow: multipart upload not supported, using a single PUT", "server", c.Describe())
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	if created.UploadID == "" || len(created.Credentials) != numParts {
		return nil, true, failure.New(failure.BadResponse, "mpu/create: expected an upload_id and %d credentials, got %d", numParts, len(created.Credentials))
	}
	for i, cred := range created.Credentials {
		if cred.PartNumber != i+1 {
			return nil, true, failure.New(failure.BadResponse, "mpu/create: credential %d is for part %d", i, cred.PartNumber)
		}
	}
	return &mpuState{UploadID: created.UploadID, PartSize: partSize, Credentials: created.Credentials, Done: make([]mpuDone, numParts)}, true, nil
}

func (st *mpuState) sent() int {
	n := 0
	for _, d := range st.Done {
		if d.ETag != "" {
			n++
		}
	}
	return n
}

// usable reports whether a saved upload fits this file and its part URLs
// stay valid long enough.
func (st *mpuState) usable(numParts int, partSize int64, now time.Time) bool {
	if st.UploadID == "" || st.PartSize != partSize || len(st.Credentials) != numParts || len(st.Done) != numParts {
		return false
	}
	for _, cred := range st.Credentials {
		if exp, ok := presignedExpiry(cred.URL); ok && exp.Before(now.Add(credentialMargin)) {
			return false
		}
	}
	return true
}

// presignedExpiry reads when a presigned S3 URL stops working: SigV4
// (X-Amz-Date + X-Amz-Expires) or SigV2 (Expires, epoch seconds).
func presignedExpiry(raw string) (time.Time, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return time.Time{}, false
	}
	q := u.Query()
	if d, e := q.Get("X-Amz-Date"), q.Get("X-Amz-Expires"); d != "" && e != "" {
		t, err1 := time.Parse("20060102T150405Z", d)
		s, err2 := strconv.Atoi(e)
		if err1 == nil && err2 == nil {
			return t.Add(time.Duration(s) * time.Second), true
		}
	}
	if e := q.Get("Expires"); e != "" {
		if s, err := strconv.ParseInt(e, 10, 64); err == nil {
			return time.Unix(s, 0), true
		}
	}
	return time.Time{}, false
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

// artifactHasSize reports whether rel is listed with size bytes.
func (c *Client) artifactHasSize(ctx context.Context, r artifactRoot, rel string, size int64) bool {
	dir := path.Dir(rel)
	if dir == "." {
		dir = ""
	}
	files, err := c.listDir(ctx, r, dir)
	if err != nil {
		return false
	}
	for _, f := range files {
		if f.Path == rel && !f.IsDir && f.Size == size {
			return true
		}
	}
	return false
}

// sendParts sends the parts st does not have yet, UploadParallelism at a
// time, while one sequential pass over the source computes its sha256 and
// every part's CRC-32C. The upload is good when the sha256 is the expected
// one and every part's sent CRC equals the file's: the bytes on the wire are
// the bytes hashed, as in a single PUT, without holding parts in memory.
func (c *Client) sendParts(ctx context.Context, rel string, src store.Source, st *mpuState, j *mpuJournal) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	numParts := len(st.Credentials)
	type checked struct {
		sha  string
		crcs []uint32
		err  error
	}
	checkc := make(chan checked, 1)
	go func() {
		sha, crcs, err := hashSource(ctx, src, st.PartSize, numParts)
		checkc <- checked{sha, crcs, err}
	}()
	todo := make(chan int, numParts)
	for i, d := range st.Done {
		if d.ETag == "" {
			todo <- i
		}
	}
	close(todo)
	sentNow := make([]bool, numParts)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(c.cfg.UploadParallelism, numParts) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range todo {
				if ctx.Err() != nil {
					return
				}
				off := int64(i) * st.PartSize
				etag, crc, err := c.putPart(ctx, src, st.Credentials[i], off, min(st.PartSize, src.Size-off))
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
						cancel(err)
					}
					mu.Unlock()
					return
				}
				st.Done[i] = mpuDone{ETag: etag, CRC: crc}
				sentNow[i] = true
				j.save(ctx, st)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	res := <-checkc
	if res.err != nil {
		return res.err
	}
	if src.SHA256 != "" && res.sha != strings.ToLower(src.SHA256) {
		return failure.New(failure.ChecksumMismatch, "artifact %s: the file has sha256 %s, expected %s", rel, res.sha, src.SHA256)
	}
	for i, d := range st.Done {
		if d.CRC == res.crcs[i] {
			continue
		}
		if sentNow[i] {
			return failure.New(failure.ChecksumMismatch, "artifact %s: part %d was sent with crc32c %08x, the file reads %08x", rel, i+1, d.CRC, res.crcs[i])
		}
		// Sent by an earlier attempt from bytes that differ from the file
		// now (since re-saved): not this file's damage; start over.
		j.remove()
		return failure.New(failure.Internal, "artifact %s: part %d sent by an earlier attempt differs from the file; the upload starts over", rel, i+1)
	}
	return nil
}

// putPart sends one part to its presigned URL and returns S3's ETag and the
// CRC-32C of the bytes sent.
func (c *Client) putPart(ctx context.Context, src store.Source, cred mpuCredential, off, size int64) (string, uint32, error) {
	u, err := url.Parse(cred.URL)
	if err != nil {
		return "", 0, failure.Wrap(failure.BadResponse, err, "mpu/create: part %d url", cred.PartNumber)
	}
	hdr := http.Header{}
	for k, v := range cred.Headers {
		hdr.Set(k, v)
	}
	var (
		mu  sync.Mutex
		cur *partReader
	)
	req := &request{method: http.MethodPut, url: u, size: size, idempotent: true, header: hdr,
		body: func() (io.ReadCloser, error) {
			mu.Lock()
			defer mu.Unlock()
			if cur != nil {
				cur.retire() // a retry sends the part again from its start
			}
			rc, err := openRange(src, off, size)
			if err != nil {
				return nil, err
			}
			cur = &partReader{rc: rc, crc: crc32.New(castagnoli), sent: src.Sent}
			return cur, nil
		}}
	resp, err := c.send(ctx, req)
	if err != nil {
		return "", 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	n, crc := cur.result()
	if n != size {
		return "", 0, failure.New(failure.ChecksumMismatch, "part %d: the source gave %d bytes, expected %d", cred.PartNumber, n, size)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		return "", 0, failure.New(failure.BadResponse, "part %d: the object store answered without an ETag", cred.PartNumber)
	}
	return etag, crc, nil
}

// partReader counts and checksums what the transport reads of one part.
type partReader struct {
	rc      io.ReadCloser
	mu      sync.Mutex
	crc     hash.Hash32
	n       int64
	retired bool
	sent    func(int64)
}

func (p *partReader) Read(b []byte) (int, error) {
	n, err := p.rc.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired {
		return 0, errors.New("part reader replaced by a retry")
	}
	p.crc.Write(b[:n])
	p.n += int64(n)
	if p.sent != nil && n > 0 {
		p.sent(int64(n))
	}
	return n, err
}

func (p *partReader) Close() error { return p.rc.Close() }

// retire takes back what this attempt reported as sent.
func (p *partReader) retire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sent != nil && !p.retired {
		p.sent(-p.n)
	}
	p.retired = true
}

func (p *partReader) result() (int64, uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, p.crc.Sum32()
}

// openRange opens size bytes of src at off: through OpenRange when the
// source has it, else Open and seek (or skip).
func openRange(src store.Source, off, size int64) (io.ReadCloser, error) {
	if src.OpenRange != nil {
		rc, err := src.OpenRange(off, size)
		if err != nil {
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{io.LimitReader(rc, size), rc}, nil
	}
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
	}{io.LimitReader(rc, size), rc}, nil
}

// hashSource reads src once, in order, and returns its sha256 and the
// CRC-32C of each part.
func hashSource(ctx context.Context, src store.Source, partSize int64, numParts int) (string, []uint32, error) {
	rc, err := openRange(src, 0, src.Size)
	if err != nil {
		return "", nil, err
	}
	defer rc.Close()
	sum := sha256.New()
	crcs := make([]uint32, numParts)
	r := &ctxReader{ctx: ctx, r: rc}
	buf := make([]byte, 1<<20)
	for i := range numParts {
		part := crc32.New(castagnoli)
		n := min(partSize, src.Size-int64(i)*partSize)
		got, err := io.CopyBuffer(io.MultiWriter(sum, part), io.LimitReader(r, n), buf)
		if ctx.Err() != nil {
			return "", nil, failure.Wrap(failure.ServerUnavailable, context.Cause(ctx), "upload stopped")
		}
		if err != nil {
			return "", nil, failure.Wrap(failure.Internal, err, "reading the source")
		}
		if got != n {
			return "", nil, failure.New(failure.ChecksumMismatch, "source gave %d bytes, expected %d", r.n, src.Size)
		}
		crcs[i] = part.Sum32()
	}
	return hex.EncodeToString(sum.Sum(nil)), crcs, nil
}

// ctxReader stops reading when ctx ends and counts what it read.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
}

func (c *ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}
