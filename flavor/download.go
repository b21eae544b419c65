package flavor

// Resolving model URIs and downloading artifact trees, as MLflow's
// _download_artifact_from_uri does (protocol §4.3).

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/store"
)

// Limits on what a listing may make Download do: a model directory has a
// handful of files in one or two levels, so these only stop a broken or
// hostile server from walking us forever.
const (
	maxDownloadFiles = 10_000
	maxDownloadDepth = 32
)

// location is an artifact tree: a root URI and a directory below it.
type location struct {
	root string
	sub  string // "" for the root itself
}

func (l location) String() string {
	if l.sub == "" {
		return l.root
	}
	return l.root + "/" + l.sub
}

// Download resolves uri and copies the model directory it names into dst,
// which must not exist or be empty; it returns the directory holding the
// model. A local path or file:// URI is not copied: its own directory is
// returned and dst is left alone. Files are streamed, DefaultParallelism at a
// time, each written under a temporary name and renamed.
func Download(ctx context.Context, st store.Store, uri, dst string) (string, error) {
	dir, _, err := download(ctx, st, uri, dst)
	return dir, err
}

// download is Download; it also returns the size and sha256 of every file
// it wrote, computed while writing (nil for a local directory).
func download(ctx context.Context, st store.Store, uri, dst string) (string, map[string]ManifestEntry, error) {
	u, err := modeluri.Parse(uri)
	if err != nil {
		return "", nil, err
	}
	if u.Kind == modeluri.KindLocal {
		dir, err := localModelDir(u.Path)
		return dir, nil, err
	}
	if st == nil {
		return "", nil, failure.New(failure.InvalidArgument, "%q needs a store to resolve, and none was given", uri)
	}
	loc, err := resolve(ctx, st, u)
	if err != nil {
		return "", nil, err
	}
	if err := prepareTarget(dst); err != nil {
		return "", nil, err
	}
	hashed, err := downloadTree(ctx, st, loc, dst)
	if err != nil {
		return "", nil, err
	}
	return dst, hashed, nil
}

func localModelDir(p string) (string, error) {
	info, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", failure.New(failure.NotFound, "model directory %s does not exist", p)
	case err != nil:
		return "", failure.Wrap(failure.InvalidPath, err, "stat %s", p)
	case info.Mode()&fs.ModeSymlink != 0:
		return "", failure.New(failure.InvalidPath, "model directory %s is a symlink", p)
	case !info.IsDir():
		return "", failure.New(failure.InvalidPath, "%s is not a directory", p)
	}
	return p, nil
}

// resolve maps a store-backed model URI to an artifact location.
func resolve(ctx context.Context, st store.Store, u modeluri.URI) (location, error) {
	var root string
	switch u.Kind {
	case modeluri.KindVersion, modeluri.KindAlias, modeluri.KindLatest:
		version := u.Version
		switch u.Kind {
		case modeluri.KindAlias:
			mv, err := st.GetModelVersionByAlias(ctx, u.Name, u.Alias)
			if err != nil {
				return location{}, err
			}
			version = mv.Version
		case modeluri.KindLatest:
			// MLflow's get-latest-versions without stages: the highest number.
			vs, err := st.SearchModelVersions(ctx, u.Name, "", "")
			if err != nil {
				return location{}, err
			}
			for _, v := range vs {
				version = max(version, v.Version)
			}
			if version == 0 {
				return location{}, failure.New(failure.NotFound, "registered model %q has no versions", u.Name)
			}
		}
		r, err := st.GetModelVersionDownloadURI(ctx, u.Name, version)
		if err != nil {
			return location{}, err
		}
		root = r
	case modeluri.KindLoggedModel:
		lm, err := st.GetLoggedModel(ctx, u.ModelID)
		if err != nil {
			return location{}, err
		}
		root = lm.ArtifactURI
	case modeluri.KindRun:
		return resolveRun(ctx, st, u)
	default:
		return location{}, failure.New(failure.InvalidURI, "cannot resolve %q", u.Raw)
	}
	if root == "" {
		return location{}, failure.New(failure.NotFound, "%s has no artifact location", u.String())
	}
	return location{root: root, sub: u.Path}, nil
}

// resolveRun implements runs:/<run>/<path>: the run's own artifacts first,
// then (MLflow 3, protocol §3.4) the logged model named by the path's first
// segment whose source run is this run. MLflow searches the experiment's
// logged models by name; the store contract has no name search, so the run's
// outputs (runs/outputs, which LogModel always records) are searched instead.
func resolveRun(ctx context.Context, st store.Store, u modeluri.URI) (location, error) {
	run, err := st.GetRun(ctx, u.RunID)
	if err != nil {
		return location{}, err
	}
	if run.ArtifactURI != "" {
		loc := location{root: run.ArtifactURI, sub: u.Path}
		entries, err := st.ListArtifacts(ctx, loc.root, loc.sub)
		if err != nil {
			return location{}, err
		}
		if len(entries) > 0 {
			return loc, nil
		}
	}
	name, rest, _ := strings.Cut(u.Path, "/")
	for _, id := range run.OutputModels {
		lm, err := st.GetLoggedModel(ctx, id)
		if err != nil {
			if failure.Has(err, failure.NotFound) {
				continue
			}
			return location{}, err
		}
		if lm.Name == name && lm.SourceRunID == run.ID {
			return location{root: lm.ArtifactURI, sub: rest}, nil
		}
	}
	return location{}, failure.New(failure.NotFound, "%s: no artifacts at %q in run %s and no logged model %q from that run", u.Raw, u.Path, u.RunID, name)
}

type remoteFile struct {
	rootRel  string // path below the artifact root
	localRel string // path below dst
	size     int64
}

// listTree walks loc recursively. Every listed path is re-checked with
// store.CleanRelPath and must lie strictly inside the directory listed, so a
// listing can never place a file outside dst.
func listTree(ctx context.Context, st store.Store, loc location) ([]remoteFile, error) {
	var files []remoteFile
	var walk func(dir string, depth int) error
	walk = func(dir string, depth int) error {
		if depth > maxDownloadDepth {
			return failure.New(failure.InvalidPath, "%s: directories nest deeper than %d", loc, maxDownloadDepth)
		}
		entries, err := st.ListArtifacts(ctx, loc.root, dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p, err := store.CleanRelPath(e.Path, false)
			if err != nil {
				return failure.Wrap(failure.InvalidPath, err, "%s: listing of %q", loc.root, dir)
			}
			if dir != "" && !strings.HasPrefix(p, dir+"/") || p == dir {
				return failure.New(failure.InvalidPath, "%s: listing of %q returned %q, which is outside it", loc.root, dir, e.Path)
			}
			if e.IsDir {
				if err := walk(p, depth+1); err != nil {
					return err
				}
				continue
			}
			local := p
			if loc.sub != "" {
				local = strings.TrimPrefix(p, loc.sub+"/")
			}
			if len(files) >= maxDownloadFiles {
				return failure.New(failure.InvalidPath, "%s holds more than %d files", loc, maxDownloadFiles)
			}
			files = append(files, remoteFile{rootRel: p, localRel: local, size: e.Size})
		}
		return nil
	}
	if err := walk(loc.sub, 0); err != nil {
		return nil, err
	}
	if len(files) == 0 && loc.sub != "" {
		// MLflow's rule: a path whose listing is empty is a file.
		files = append(files, remoteFile{rootRel: loc.sub, localRel: path.Base(loc.sub), size: -1})
	}
	return files, nil
}

// downloadTree copies loc into dst and returns each file's size and sha256
// by its path below dst.
func downloadTree(ctx context.Context, st store.Store, loc location, dst string) (map[string]ManifestEntry, error) {
	files, err := listTree(ctx, st, loc)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, failure.New(failure.NotFound, "no artifacts at %s", loc)
	}
	entries := make([]ManifestEntry, len(files))
	err = forEach(ctx, len(files), DefaultParallelism, func(ctx context.Context, i int) error {
		f := files[i]
		rc, err := st.OpenArtifact(ctx, loc.root, f.rootRel)
		if err != nil {
			return err
		}
		defer rc.Close()
		e := &entries[i]
		err = writeFile(ctx, dst, f.localRel, func(w io.Writer) error {
			_, err := io.Copy(w, rc)
			return err
		}, e, false)
		if err != nil {
			return err
		}
		if f.size >= 0 && e.Size != f.size {
			return failure.New(failure.ChecksumMismatch, "%s/%s: downloaded %d bytes, the listing says %d", loc.root, f.rootRel, e.Size, f.size)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	hashed := make(map[string]ManifestEntry, len(entries))
	for _, e := range entries {
		hashed[e.Path] = e
	}
	return hashed, nil
}
