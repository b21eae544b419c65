package flavor

// The sha256 manifest (flavorflow-manifest.json): what makes a model
// directory checkable after a copy, an upload or a download.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/vocab"
)

// ManifestVersion is the manifest format written by this package.
const ManifestVersion = 1

// Limits for reading a manifest: a model directory holds a handful of files,
// so these only stop garbage from exhausting memory.
const (
	maxManifestSize  = 4 << 20
	maxManifestFiles = 10_000
)

// encodeManifest renders m in its one stable form: entries sorted by path,
// two-space indented JSON, trailing newline. Equal manifests give equal
// bytes, so the manifest hash identifies the directory's content.
func encodeManifest(m Manifest) ([]byte, error) {
	m.Version = ManifestVersion
	files := append([]ManifestEntry(nil), m.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	if files == nil {
		files = []ManifestEntry{}
	}
	m.Files = files
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "encode manifest")
	}
	return append(data, '\n'), nil
}

// ParseManifest reads a manifest and checks every entry: a canonical
// relative path (no "..", no absolute path, no backslash), not the manifest
// itself, no duplicates, a size >= 0 and a lowercase hex sha256. Errors are
// InvalidManifest.
func ParseManifest(data []byte) (Manifest, error) {
	if len(data) > maxManifestSize {
		return Manifest{}, failure.New(failure.InvalidManifest, "%s is over %d bytes", ManifestFile, maxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, failure.Wrap(failure.InvalidManifest, err, "%s is not a valid manifest", ManifestFile)
	}
	if dec.More() {
		return Manifest{}, failure.New(failure.InvalidManifest, "%s has data after the manifest object", ManifestFile)
	}
	if m.Version != ManifestVersion {
		return Manifest{}, failure.New(failure.InvalidManifest, "%s version %d is not supported (want %d)", ManifestFile, m.Version, ManifestVersion)
	}
	if len(m.Files) > maxManifestFiles {
		return Manifest{}, failure.New(failure.InvalidManifest, "%s lists %d files, over the limit of %d", ManifestFile, len(m.Files), maxManifestFiles)
	}
	seen := make(map[string]bool, len(m.Files))
	for _, e := range m.Files {
		clean, err := vocab.CleanRelPath(e.Path, false)
		if err != nil {
			return Manifest{}, failure.Wrap(failure.InvalidManifest, err, "%s lists an unsafe path %q", ManifestFile, e.Path)
		}
		switch {
		case clean != e.Path:
			return Manifest{}, failure.New(failure.InvalidManifest, "%s lists %q, which is not in canonical form %q", ManifestFile, e.Path, clean)
		case e.Path == ManifestFile:
			return Manifest{}, failure.New(failure.InvalidManifest, "%s lists itself", ManifestFile)
		case seen[e.Path]:
			return Manifest{}, failure.New(failure.InvalidManifest, "%s lists %q twice", ManifestFile, e.Path)
		case e.Size < 0:
			return Manifest{}, failure.New(failure.InvalidManifest, "%s gives %q a negative size", ManifestFile, e.Path)
		case !isSHA256Hex(e.SHA256):
			return Manifest{}, failure.New(failure.InvalidManifest, "%s gives %q a malformed sha256 %q", ManifestFile, e.Path, e.SHA256)
		}
		seen[e.Path] = true
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	return m, nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// VerifyDir checks dir against its manifest: every listed file present with
// its size and sha256, and no other file (an extra file could be code that
// python_function imports). Each file is hashed as a stream, once. Symlinks
// and special files are refused (InvalidPath): a model directory is plain
// files, and following a link could read outside it. It returns the manifest
// and the sha256 of the manifest file's bytes, the directory's identity.
func VerifyDir(dir string) (Manifest, string, error) { return verifyDir(dir, nil) }

// verifyDir is VerifyDir; a file whose size and sha256 were computed while
// it was written (known, by relative path) is not read again, so a download
// is hashed in one pass. Its size on disk is still checked.
func verifyDir(dir string, known map[string]ManifestEntry) (Manifest, string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Manifest{}, "", failure.Wrap(failure.NotFound, err, "model directory %s does not exist", dir)
		}
		return Manifest{}, "", failure.Wrap(failure.InvalidPath, err, "open model directory %s", dir)
	}
	defer root.Close()
	data, err := readManifestFile(root, dir)
	if err != nil {
		return Manifest{}, "", err
	}
	m, err := ParseManifest(data)
	if err != nil {
		return Manifest{}, "", err
	}
	want := make(map[string]ManifestEntry, len(m.Files))
	for _, e := range m.Files {
		want[e.Path] = e
	}
	err = walkFiles(dir, func(rel string, info fs.FileInfo) error {
		if rel == ManifestFile {
			return nil
		}
		e, ok := want[rel]
		if !ok {
			return failure.New(failure.ChecksumMismatch, "%s: file %q is not in the manifest", dir, rel)
		}
		delete(want, rel)
		size, sum, err := knownOrHash(root, rel, info, known)
		if err != nil {
			return err
		}
		if size != e.Size {
			return failure.New(failure.ChecksumMismatch, "%s: file %q is %d bytes, the manifest says %d", dir, rel, size, e.Size)
		}
		if sum != e.SHA256 {
			return failure.New(failure.ChecksumMismatch, "%s: file %q has sha256 %s, the manifest says %s", dir, rel, sum, e.SHA256)
		}
		return nil
	})
	if err != nil {
		return Manifest{}, "", err
	}
	if len(want) > 0 {
		missing := make([]string, 0, len(want))
		for p := range want {
			missing = append(missing, p)
		}
		sort.Strings(missing)
		return Manifest{}, "", failure.New(failure.ChecksumMismatch, "%s: file %q listed in the manifest is missing", dir, missing[0])
	}
	return m, sha256Hex(data), nil
}

func readManifestFile(root *os.Root, dir string) ([]byte, error) {
	info, err := root.Lstat(ManifestFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, failure.New(failure.InvalidManifest, "no %s in %s", ManifestFile, dir)
		}
		return nil, failure.Wrap(failure.InvalidManifest, err, "stat %s in %s", ManifestFile, dir)
	}
	if !info.Mode().IsRegular() {
		return nil, failure.New(failure.InvalidPath, "%s in %s is not a regular file (%s)", ManifestFile, dir, info.Mode().Type())
	}
	f, err := root.Open(ManifestFile)
	if err != nil {
		return nil, failure.Wrap(failure.InvalidManifest, err, "open %s in %s", ManifestFile, dir)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, failure.Wrap(failure.InvalidManifest, err, "read %s in %s", ManifestFile, dir)
	}
	return data, nil
}

// walkFiles calls fn for every regular file below dir with its slash
// separated relative path, in lexical order. Symlinks and other non-regular
// files fail with InvalidPath.
func walkFiles(dir string, fn func(rel string, info fs.FileInfo) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return failure.Wrap(failure.Internal, err, "walk %s", dir)
		}
		if p == dir {
			if d.Type()&fs.ModeSymlink != 0 {
				return failure.New(failure.InvalidPath, "model directory %s is a symlink", dir)
			}
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return failure.Wrap(failure.Internal, err, "walk %s", dir)
		}
		rel = filepath.ToSlash(rel)
		switch t := d.Type(); {
		case t&fs.ModeSymlink != 0:
			return failure.New(failure.InvalidPath, "%s: %q is a symlink; model directories hold plain files only", dir, rel)
		case d.IsDir():
			return nil
		case !t.IsRegular():
			return failure.New(failure.InvalidPath, "%s: %q is not a regular file (%s)", dir, rel, t)
		}
		if _, err := vocab.CleanRelPath(rel, false); err != nil || strings.ContainsRune(rel, '\\') {
			return failure.Wrap(failure.InvalidPath, err, "%s: file name %q cannot be stored", dir, rel)
		}
		info, err := d.Info()
		if err != nil {
			return failure.Wrap(failure.Internal, err, "stat %s", p)
		}
		return fn(rel, info)
	})
}

// knownOrHash returns the size and sha256 recorded in known when the file
// on disk still has that size, and hashes the file otherwise.
func knownOrHash(root *os.Root, rel string, info fs.FileInfo, known map[string]ManifestEntry) (int64, string, error) {
	if k, ok := known[rel]; ok && k.Size == info.Size() {
		return k.Size, k.SHA256, nil
	}
	return hashFile(root, rel)
}

// hashFile streams rel (inside root) through sha256.
func hashFile(root *os.Root, rel string) (int64, string, error) {
	f, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		return 0, "", failure.Wrap(failure.InvalidPath, err, "open %q", rel)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", failure.Wrap(failure.Internal, err, "read %q", rel)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
