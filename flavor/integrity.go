package flavor

// Checking stored bytes against the hash recorded on a registered version
// (or logged model), and telling bytes damaged on the way from bytes damaged
// at rest.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"sort"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/hashpipe"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// maxTransitTries bounds how often one file is fetched when its bytes do not
// match what they should be. Two fetches that agree on the same wrong bytes
// mean the stored file is wrong (ChecksumMismatch); fetches that keep
// disagreeing mean the network or server damages them (ServerUnavailable,
// retried by the activity later).
const maxTransitTries = 3

// sinkFunc consumes one file's body and returns its size and sha256. A
// sink that keeps the body (a file written by a download) keeps it only if
// accept takes that size and sha256, so a damaged body leaves nothing.
type sinkFunc func(r io.Reader, accept func(ManifestEntry) error) (ManifestEntry, error)

// hashSink hashes a body without keeping it: flat memory for any size. The
// hash runs on its own goroutine beside the reads (hashpipe.Copy).
func hashSink(ctx context.Context) sinkFunc {
	return func(r io.Reader, _ func(ManifestEntry) error) (ManifestEntry, error) {
		h := sha256.New()
		n, err := hashpipe.Copy(ctx, nil, r, h, -1)
		if err != nil {
			if ctx.Err() != nil {
				return ManifestEntry{}, ctx.Err()
			}
			return ManifestEntry{}, failure.Wrap(failure.CodeOf(err), err, "read")
		}
		return ManifestEntry{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
	}
}

// fetchChecked fetches root/rel through sink until check accepts what was
// read, at most maxTransitTries times. A check failure repeated with the
// same size and sha256 is returned as is (the stored bytes are wrong); one
// that never repeats is ServerUnavailable (damaged in transit).
func fetchChecked(ctx context.Context, st store.Store, root, rel string, sink sinkFunc, check func(ManifestEntry) error) (ManifestEntry, error) {
	var seen []ManifestEntry
	var last error
	for try := 0; try < maxTransitTries; try++ {
		rc, err := st.OpenArtifact(ctx, root, rel)
		if err != nil {
			return ManifestEntry{}, err
		}
		got, err := sink(rc, check)
		_ = rc.Close()
		if err != nil {
			return ManifestEntry{}, err
		}
		last = check(got)
		if last == nil {
			return got, nil
		}
		for _, s := range seen {
			if s.Size == got.Size && s.SHA256 == got.SHA256 {
				return ManifestEntry{}, last
			}
		}
		seen = append(seen, got)
	}
	return ManifestEntry{}, failure.New(failure.ServerUnavailable, "%s/%s: damaged in transit: %d downloads gave %d different results, none right (last: %v)", root, rel, maxTransitTries, len(seen), last)
}

// checkEntry accepts a body with the size and sha256 of want.
func checkEntry(where string, want ManifestEntry) func(ManifestEntry) error {
	return func(got ManifestEntry) error {
		if got.Size != want.Size {
			return failure.New(failure.ChecksumMismatch, "%s: file %q is %d bytes, the manifest says %d", where, want.Path, got.Size, want.Size)
		}
		if got.SHA256 != want.SHA256 {
			return failure.New(failure.ChecksumMismatch, "%s: file %q has sha256 %s, the manifest says %s", where, want.Path, got.SHA256, want.SHA256)
		}
		return nil
	}
}

// checkListedSize accepts a body whose size is what the listing says (-1:
// unknown), for files no manifest describes.
func checkListedSize(where string, f remoteFile) func(ManifestEntry) error {
	return func(got ManifestEntry) error {
		if f.size >= 0 && got.Size != f.size {
			return failure.New(failure.ChecksumMismatch, "%s/%s: downloaded %d bytes, the listing says %d", where, f.rootRel, got.Size, f.size)
		}
		return nil
	}
}

// treeManifest is the manifest of a listed tree, fetched and checked.
type treeManifest struct {
	data   []byte
	sha256 string
	m      Manifest
	byPath map[string]ManifestEntry
}

// fetchManifest finds the manifest in files and reads it into memory. want
// is the hash recorded on the version or logged model ("" when none is): a
// tree whose recorder said it had a manifest but that lacks one is corrupt
// (ChecksumMismatch), not an unmanifested Python model. It returns nil when
// there is no manifest and none is wanted.
func fetchManifest(ctx context.Context, st store.Store, loc location, files []remoteFile) (*treeManifest, error) {
	var mf *remoteFile
	for i := range files {
		if files[i].localRel == ManifestFile {
			mf = &files[i]
		}
	}
	if mf == nil {
		if loc.want != "" {
			return nil, failure.New(failure.ChecksumMismatch, "%s has no %s, but %s records manifest hash %s", loc, ManifestFile, loc.wantFrom, loc.want)
		}
		return nil, nil
	}
	var data []byte
	sink := func(r io.Reader, _ func(ManifestEntry) error) (ManifestEntry, error) {
		b, err := io.ReadAll(io.LimitReader(ctxReader{ctx: ctx, r: r}, maxManifestSize+1))
		if err != nil {
			if ctx.Err() != nil {
				return ManifestEntry{}, ctx.Err()
			}
			return ManifestEntry{}, failure.Wrap(failure.CodeOf(err), err, "read %s/%s", loc.root, mf.rootRel)
		}
		data = b
		return ManifestEntry{Path: ManifestFile, Size: int64(len(b)), SHA256: sha256Hex(b)}, nil
	}
	check := checkListedSize(loc.root, *mf)
	if loc.want != "" {
		check = func(got ManifestEntry) error {
			if got.SHA256 != loc.want {
				return failure.New(failure.ChecksumMismatch, "%s: %s has sha256 %s, but %s records %s", loc, ManifestFile, got.SHA256, loc.wantFrom, loc.want)
			}
			return nil
		}
	}
	got, err := fetchChecked(ctx, st, loc.root, mf.rootRel, sink, check)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, err
	}
	tm := &treeManifest{data: data, sha256: got.SHA256, m: m, byPath: make(map[string]ManifestEntry, len(m.Files))}
	for _, e := range m.Files {
		tm.byPath[e.Path] = e
	}
	return tm, nil
}

// transferTree fetches every file of files except the manifest through
// sinkFor, checking each against the manifest when there is one (against
// the listing otherwise), re-fetching damaged ones. A file the manifest
// does not list, or a listed one missing from the tree, is ChecksumMismatch.
// It returns what was read, by path below the tree.
func transferTree(ctx context.Context, st store.Store, loc location, files []remoteFile, tm *treeManifest, sinkFor func(ctx context.Context, f remoteFile) sinkFunc) (map[string]ManifestEntry, error) {
	var todo []remoteFile
	for _, f := range files {
		if f.localRel == ManifestFile {
			continue
		}
		if tm != nil {
			if _, ok := tm.byPath[f.localRel]; !ok {
				return nil, failure.New(failure.ChecksumMismatch, "%s: file %q is not in the manifest", loc, f.localRel)
			}
		}
		todo = append(todo, f)
	}
	if tm != nil {
		listed := make(map[string]bool, len(todo))
		for _, f := range todo {
			listed[f.localRel] = true
		}
		var missing []string
		for p := range tm.byPath {
			if !listed[p] {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return nil, failure.New(failure.ChecksumMismatch, "%s: file %q listed in the manifest is missing", loc, missing[0])
		}
	}
	entries := make([]ManifestEntry, len(todo))
	err := forEach(ctx, len(todo), DefaultParallelism, func(ctx context.Context, i int) error {
		f := todo[i]
		check := checkListedSize(loc.root, f)
		if tm != nil {
			// Both: the manifest vouches for the bytes, and a listing
			// that disagrees with them is a store that lies about sizes.
			listed, inManifest := check, checkEntry(loc.String(), tm.byPath[f.localRel])
			check = func(got ManifestEntry) error {
				if err := inManifest(got); err != nil {
					return err
				}
				return listed(got)
			}
		}
		got, err := fetchChecked(ctx, st, loc.root, f.rootRel, sinkFor(ctx, f), check)
		if tm != nil && failure.Has(err, failure.NotFound) {
			// Named by the manifest (and perhaps by a listing a moment
			// ago), gone now: the model is incomplete. A new error, not a
			// wrap: callers read NotFound as "no such version", and the
			// version is there.
			return failure.New(failure.ChecksumMismatch, "%s: file %q listed in the manifest is missing (%v)", loc, f.localRel, err)
		}
		if err != nil {
			return err
		}
		got.Path = f.localRel
		entries[i] = got
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]ManifestEntry, len(entries))
	for _, e := range entries {
		out[e.Path] = e
	}
	return out, nil
}

// CheckStored proves that the model a store-backed uri names still holds
// the bytes its manifest lists and that the manifest is the one recorded on
// the version (or logged model): every file is streamed and hashed, nothing
// is written to disk. A transfer that damages bytes is retried per file. It
// returns the manifest's sha256. A model without a recorded manifest hash
// cannot be checked: InvalidManifest, naming `starter verify`.
func CheckStored(ctx context.Context, st store.Store, uri string) (string, error) {
	u, err := modeluri.Parse(uri)
	if err != nil {
		return "", err
	}
	if u.Kind == modeluri.KindLocal {
		return "", failure.New(failure.InvalidURI, "%q is a local directory; CheckStored checks stored models", uri)
	}
	loc, err := resolve(ctx, st, u)
	if err != nil {
		return "", err
	}
	if loc.want == "" {
		return "", failure.New(failure.InvalidManifest, "%s records no manifest hash (%s); run `starter verify` to record one", u.String(), vocab.TagManifestSHA256)
	}
	files, err := listTree(ctx, st, loc)
	if err != nil {
		return "", err
	}
	tm, err := fetchManifest(ctx, st, loc, files)
	if err != nil {
		return "", err
	}
	if _, err := transferTree(ctx, st, loc, files, tm, func(ctx context.Context, _ remoteFile) sinkFunc { return hashSink(ctx) }); err != nil {
		return "", err
	}
	return tm.sha256, nil
}

// BuildManifest hashes every file of dir (the manifest itself excluded) and
// returns the manifest in its stable form with its sha256: what SaveModel
// writes, for a directory written by someone else.
func BuildManifest(dir string) ([]byte, string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, "", failure.Wrap(failure.InvalidPath, err, "open model directory %s", dir)
	}
	defer root.Close()
	var m Manifest
	err = walkFiles(dir, func(rel string, _ fs.FileInfo) error {
		if rel == ManifestFile {
			return nil
		}
		size, sum, err := hashFile(root, rel)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, ManifestEntry{Path: rel, Size: size, SHA256: sum})
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	data, err := encodeManifest(m)
	if err != nil {
		return nil, "", err
	}
	return data, sha256Hex(data), nil
}
