package localstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// tmpPrefix marks files being written. Listings skip them, so a crash
// mid-write leaves nothing visible.
const tmpPrefix = ".tmp-"

// resolve maps an artifact root URI and a path below it to a slash path
// relative to <dir>/artifacts.
func resolve(root, rel string, allowRoot bool) (string, error) {
	p, ok := strings.CutPrefix(root, artifactScheme)
	if !ok || strings.HasPrefix(p, "/") {
		return "", failure.New(failure.InvalidURI, "artifact root %q is not an mlflow-artifacts:/<path> URI", root)
	}
	base, err := vocab.CleanRelPath(p, true)
	if err != nil {
		return "", failure.Wrap(failure.InvalidURI, err, "artifact root %q", root)
	}
	r, err := vocab.CleanRelPath(rel, allowRoot)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(path.Base(r), tmpPrefix) {
		return "", failure.New(failure.InvalidPath, "artifact path %q: names starting with %q are reserved for the local store's temporary files", rel, tmpPrefix)
	}
	switch {
	case base == "":
		return r, nil
	case r == "":
		return base, nil
	}
	return base + "/" + r, nil
}

// fsErr gives a file system error a failure code. A symlink on the way is
// reported as InvalidPath whatever os.Root said about it: the store never
// creates symlinks, so one is either planted or an escape attempt.
func (s *Store) fsErr(err error, p, what string) error {
	if err == nil {
		return nil
	}
	var fe *failure.Error
	if errors.As(err, &fe) {
		return err
	}
	if s.hasSymlink(p) {
		return failure.Wrap(failure.InvalidPath, err, "%s %s: the path goes through a symlink", what, p)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return failure.Wrap(failure.NotFound, err, "%s %s", what, p)
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR):
		return failure.Wrap(failure.InvalidPath, err, "%s %s: a file and a directory collide", what, p)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return failure.Wrap(failure.Internal, err, "%s %s", what, p)
	}
	return failure.Wrap(failure.Internal, err, "%s %s", what, p)
}

// hasSymlink reports whether any existing component of p is a symlink.
func (s *Store) hasSymlink(p string) bool {
	cur := ""
	for _, seg := range strings.Split(p, "/") {
		cur = path.Join(cur, seg)
		fi, err := s.root.Lstat(cur)
		if err != nil {
			return false
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return true
		}
	}
	return false
}

// ArtifactDir implements store.LocalDirs.
func (s *Store) ArtifactDir(root string) (string, error) {
	p, err := resolve(root, "", true)
	if err != nil {
		return "", err
	}
	rp := p
	if rp == "" {
		rp = "."
	}
	fi, err := s.root.Lstat(rp)
	switch {
	case err != nil:
		return "", s.fsErr(err, p, "artifact directory")
	case s.hasSymlink(p):
		return "", failure.New(failure.InvalidPath, "artifact directory %s: the path goes through a symlink", p)
	case !fi.IsDir():
		return "", failure.New(failure.InvalidPath, "artifact root %s is a file, not a directory", root)
	}
	return filepath.Join(s.dir, "artifacts", filepath.FromSlash(p)), nil
}

// PutArtifact implements store.Artifacts: stream into a locked temp file
// beside the target, verify size and sha256, fsync, rename, fsync the
// directory.
func (s *Store) PutArtifact(ctx context.Context, root, relPath string, src store.Source) error {
	p, err := resolve(root, relPath, false)
	if err != nil {
		return err
	}
	if src.Open == nil {
		return failure.New(failure.InvalidArgument, "artifact source for %s has no Open", p)
	}
	dir := path.Dir(p)
	// Everything below happens relative to the directory, opened once: an
	// os.Root operation opens every component of its path, so the same steps
	// on full paths cost several times the system calls (bench P6 counts
	// them). The directory root confines them as the artifact root does.
	// Most puts go into a directory an earlier put made: create it only
	// when it is not there (MkdirAll costs a mkdirat per component even
	// then).
	d, err := s.root.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := s.root.MkdirAll(dir, 0o755); err != nil {
			return s.fsErr(err, p, "create directory for artifact")
		}
		d, err = s.root.OpenRoot(dir)
	}
	if err != nil {
		return s.fsErr(err, p, "open artifact directory")
	}
	defer d.Close()
	name := path.Base(p)
	// Earlier attempts killed while writing into this directory (typically
	// the same file: a retried upload) left their temp files here; only
	// those whose writer is dead are removed (tmpfiles.go).
	sweepDir(d, ".")
	f, tmp, err := createTemp(d, ".")
	if err != nil {
		return s.fsErr(err, p, "create artifact")
	}
	if err := s.fill(ctx, f, p, src); err != nil {
		d.Remove(tmp)
		f.Close()
		return err
	}
	// Rename while the file is still open: closing drops the lock that keeps
	// sweepers away, and a sweep between close and rename would delete the
	// finished file. fill has fsynced it, so nothing is lost by closing late.
	if err := d.Rename(tmp, name); err != nil {
		d.Remove(tmp)
		f.Close()
		return s.fsErr(err, p, "rename artifact into place")
	}
	if err := f.Close(); err != nil {
		return s.fsErr(err, p, "close artifact")
	}
	// The rename is only durable once the directory entry is on disk.
	df, err := d.Open(".")
	if err != nil {
		return s.fsErr(err, p, "open artifact directory")
	}
	defer df.Close()
	return s.fsErr(df.Sync(), p, "sync artifact directory")
}

// fill copies src into f while hashing, checks size and digest, and syncs.
func (s *Store) fill(ctx context.Context, f *os.File, p string, src store.Source) error {
	rc, err := src.Open()
	if err != nil {
		return failure.Wrap(failure.CodeOf(err), err, "open source of artifact %s", p)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, rc})
	if err != nil {
		return failure.Wrap(failure.CodeOf(err), err, "write artifact %s", p)
	}
	if src.Size >= 0 && n != src.Size {
		return failure.New(failure.ChecksumMismatch, "artifact %s: read %d bytes, source said %d", p, n, src.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); src.SHA256 != "" && !strings.EqualFold(sum, src.SHA256) {
		return failure.New(failure.ChecksumMismatch, "artifact %s: sha256 %s, want %s", p, sum, src.SHA256)
	}
	return s.fsErr(f.Sync(), p, "sync artifact")
}

// ctxReader stops a long copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// OpenArtifact implements store.Artifacts.
func (s *Store) OpenArtifact(ctx context.Context, root, relPath string) (io.ReadCloser, error) {
	p, err := resolve(root, relPath, false)
	if err != nil {
		return nil, err
	}
	f, err := s.root.Open(p)
	if err != nil {
		return nil, s.fsErr(err, p, "open artifact")
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, cmpErr(s.fsErr(err, p, "open artifact"), failure.New(failure.NotFound, "artifact %s is not a file", p))
	}
	return f, nil
}

// ListArtifacts implements store.Artifacts. Paths are relative to root;
// temp files and symlinks are left out.
func (s *Store) ListArtifacts(ctx context.Context, root, relDir string) ([]store.FileInfo, error) {
	p, err := resolve(root, relDir, true)
	if err != nil {
		return nil, err
	}
	rel, _ := vocab.CleanRelPath(relDir, true)
	f, err := s.root.Open(p)
	if err != nil {
		if s.hasSymlink(p) || !errors.Is(err, fs.ErrNotExist) {
			return nil, s.fsErr(err, p, "list artifacts")
		}
		return []store.FileInfo{}, nil
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if errors.Is(err, syscall.ENOTDIR) {
		return []store.FileInfo{}, nil // a file has no children
	}
	if err != nil {
		return nil, s.fsErr(err, p, "list artifacts")
	}
	out := []store.FileInfo{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) || !(e.Type().IsDir() || e.Type().IsRegular()) {
			continue
		}
		fi := store.FileInfo{Path: path.Join(rel, e.Name()), IsDir: e.IsDir()}
		if !e.IsDir() {
			info, err := e.Info()
			if err != nil {
				continue // removed since ReadDir
			}
			fi.Size = info.Size()
		}
		out = append(out, fi)
	}
	// File.ReadDir returns directory order; sort for stable listings.
	slices.SortFunc(out, func(a, b store.FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}
