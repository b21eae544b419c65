package flavor

// Writing downloaded files: the disk write and the sha256 each on their own
// goroutine beside the socket reads, and nothing renamed into place before
// its digest is accepted.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/hashpipe"
)

// fileSink streams a body into a temporary file next to dst/rel through
// hashpipe.Copy: the body is read in 1 MiB chunks, written by one goroutine
// and hashed by another, so neither the disk nor sha256 holds up the
// socket. The file is renamed into place only when accept takes its size
// and digest; otherwise (or on any error) the temporary file is removed and
// nothing is left at rel. sizeHint (the listed size, -1 when unknown) only
// sizes the buffers. Downloads are scratch copies checked against the
// manifest, so they are not fsynced (see writeFile).
func fileSink(ctx context.Context, dst, rel string, sizeHint int64) sinkFunc {
	return func(r io.Reader, accept func(ManifestEntry) error) (ManifestEntry, error) {
		if err := ctx.Err(); err != nil {
			return ManifestEntry{}, err
		}
		final := filepath.Join(dst, filepath.FromSlash(rel))
		parent := filepath.Dir(final)
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return ManifestEntry{}, failure.Wrap(failure.Internal, err, "create %s", parent)
		}
		tmp, err := os.CreateTemp(parent, ".tmp-"+filepath.Base(final)+"-*")
		if err != nil {
			return ManifestEntry{}, failure.Wrap(failure.Internal, err, "create temporary file in %s", parent)
		}
		kept := false
		defer func() {
			if !kept {
				_ = tmp.Close()
				_ = os.Remove(tmp.Name())
			}
		}()
		h := sha256.New()
		n, err := hashpipe.Copy(ctx, tmp, r, h, sizeHint)
		if err != nil {
			if ctx.Err() != nil {
				return ManifestEntry{}, ctx.Err()
			}
			return ManifestEntry{}, failure.Wrap(failure.CodeOf(err), err, "write %s", rel)
		}
		got := ManifestEntry{Path: rel, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
		if accept(got) != nil {
			return got, nil // the caller reports the mismatch; the defer drops the file
		}
		if err := tmp.Chmod(0o644); err != nil {
			return ManifestEntry{}, failure.Wrap(failure.Internal, err, "chmod %s", rel)
		}
		if err := tmp.Close(); err != nil {
			return ManifestEntry{}, failure.Wrap(failure.Internal, err, "close %s", rel)
		}
		if err := os.Rename(tmp.Name(), final); err != nil {
			_ = os.Remove(tmp.Name())
			kept = true // closed and removed: nothing for the defer to do
			return ManifestEntry{}, failure.Wrap(failure.Internal, err, "rename into %s", final)
		}
		kept = true
		return got, nil
	}
}
