package flavor

// Resolving model URIs and downloading artifact trees, as MLflow's
// _download_artifact_from_uri does (protocol §4.3).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
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
	// want is the manifest sha256 recorded on the registered version or
	// logged model the tree belongs to ("" when none is: a plain path, a
	// run's artifacts, a model registered without flavorflow); wantFrom
	// names where it was recorded, for messages.
	want     string
	wantFrom string
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
	f, err := download(ctx, st, uri, dst, LoadOptions{})
	return f.dir, err
}

// fetched is what download brought: the directory, the size and sha256 of
// every file it wrote, computed while writing (nil for a local directory),
// and the manifest hash recorded on the version or logged model ("" when
// none is).
type fetched struct {
	dir    string
	hashed map[string]ManifestEntry
	want   string
}

// download is Download, returning what LoadModel needs to check the result.
func download(ctx context.Context, st store.Store, uri, dst string, opts LoadOptions) (fetched, error) {
	u, err := modeluri.Parse(uri)
	if err != nil {
		return fetched{}, err
	}
	if u.Kind == modeluri.KindLocal {
		dir, err := localModelDir(u.Path)
		return fetched{dir: dir}, err
	}
	if st == nil {
		return fetched{}, failure.New(failure.InvalidArgument, "%q needs a store to resolve, and none was given", uri)
	}
	loc, err := resolve(ctx, st, u)
	if err != nil {
		return fetched{}, err
	}
	if opts.Local != nil && loc.sub == "" {
		// hashed stays nil: loadDir hashes every file where it is.
		dir, err := opts.Local.ArtifactDir(loc.root)
		return fetched{dir: dir, want: loc.want}, err
	}
	if err := prepareTarget(dst); err != nil {
		return fetched{}, err
	}
	hashed, err := downloadTree(ctx, st, loc, dst, opts.ManifestFiles)
	if err != nil {
		return fetched{}, err
	}
	return fetched{dir: dst, hashed: hashed, want: loc.want}, nil
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

// resolve maps a store-backed model URI to an artifact location, with the
// manifest hash recorded on the version or logged model when the URI names
// the whole model.
func resolve(ctx context.Context, st store.Store, u modeluri.URI) (location, error) {
	var loc location
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
		// The version itself, for its tags: whichever way it was named,
		// the hash recorded at registration is what its bytes must match.
		mv, err := st.GetModelVersion(ctx, u.Name, version)
		if err != nil {
			return location{}, err
		}
		// Every store fills the version's storage location (what
		// get-download-uri answers): ask only a store that did not.
		r := mv.StorageLocation
		if r == "" {
			if r, err = st.GetModelVersionDownloadURI(ctx, u.Name, version); err != nil {
				return location{}, err
			}
		}
		loc = location{root: r, want: mv.Tags[vocab.TagManifestSHA256], wantFrom: fmt.Sprintf("version %d of %s", version, u.Name)}
		if loc.want == "" && mv.ModelID != "" {
			// Registered without the tag (Python's register_model of a
			// model flavorflow logged): the logged model records the
			// hash, and it holds for the version when the version's
			// files are the logged model's.
			lm, err := st.GetLoggedModel(ctx, mv.ModelID)
			switch {
			case err == nil && lm.ArtifactURI == r && lm.Tags[vocab.TagManifestSHA256] != "":
				loc.want, loc.wantFrom = lm.Tags[vocab.TagManifestSHA256], fmt.Sprintf("logged model %s (the source of version %d of %s)", lm.ID, version, u.Name)
			case err != nil && !failure.Has(err, failure.NotFound):
				return location{}, err
			}
		}
	case modeluri.KindLoggedModel:
		lm, err := st.GetLoggedModel(ctx, u.ModelID)
		if err != nil {
			return location{}, err
		}
		loc = location{root: lm.ArtifactURI, want: lm.Tags[vocab.TagManifestSHA256], wantFrom: "logged model " + lm.ID}
	case modeluri.KindRun:
		return resolveRun(ctx, st, u)
	default:
		return location{}, failure.New(failure.InvalidURI, "cannot resolve %q", u.Raw)
	}
	if loc.root == "" {
		return location{}, failure.New(failure.NotFound, "%s has no artifact location", u.String())
	}
	loc.sub = u.Path
	if loc.sub != "" {
		// The recorded hash is of the whole model's manifest; a path
		// inside it is a part, with nothing recorded to check it against.
		loc.want, loc.wantFrom = "", ""
	}
	return loc, nil
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
			loc := location{root: lm.ArtifactURI, sub: rest}
			if rest == "" {
				loc.want, loc.wantFrom = lm.Tags[vocab.TagManifestSHA256], "logged model "+lm.ID
			}
			return loc, nil
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
// vocab.CleanRelPath and must lie strictly inside the directory listed, so a
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
			p, err := vocab.CleanRelPath(e.Path, false)
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
// by its path below dst. The manifest is fetched first and checked against
// the recorded hash; every other file is checked against it as it is
// written and fetched again when it arrived damaged (see fetchChecked). The
// manifest is written last, so a directory with one is complete.
func downloadTree(ctx context.Context, st store.Store, loc location, dst string, byManifest bool) (map[string]ManifestEntry, error) {
	var files []remoteFile
	var tm *treeManifest
	var err error
	if byManifest {
		if files, tm, err = manifestFiles(ctx, st, loc); err != nil {
			return nil, err
		}
	}
	if tm == nil {
		if files, err = listTree(ctx, st, loc); err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, failure.New(failure.NotFound, "no artifacts at %s", loc)
		}
		if tm, err = fetchManifest(ctx, st, loc, files); err != nil {
			return nil, err
		}
	}
	hashed, err := transferTree(ctx, st, loc, files, tm, func(ctx context.Context, f remoteFile) sinkFunc {
		return fileSink(ctx, dst, f.localRel, f.size)
	})
	if err != nil {
		return nil, err
	}
	if tm != nil {
		var e ManifestEntry
		if err := writeFile(ctx, dst, ManifestFile, writeBytes(tm.data), &e, false); err != nil {
			return nil, err
		}
		hashed[ManifestFile] = e
	}
	return hashed, nil
}

// manifestFiles is the file list of a model whose manifest hash is
// recorded (LoadOptions.ManifestFiles): the manifest, fetched by its name
// and checked against the hash, names every file of the model with its
// size, so no directory is listed (a listing per directory is a round trip
// each). A file in the tree that the manifest does not name is neither
// fetched nor refused. It returns a nil manifest when no hash is recorded,
// or when the manifest is not found: the caller lists the tree then, which
// tells an empty location (NotFound) from a model that lost its manifest
// (ChecksumMismatch).
func manifestFiles(ctx context.Context, st store.Store, loc location) ([]remoteFile, *treeManifest, error) {
	if loc.want == "" || loc.sub != "" {
		return nil, nil, nil
	}
	tm, err := fetchManifest(ctx, st, loc, []remoteFile{{rootRel: ManifestFile, localRel: ManifestFile, size: -1}})
	switch {
	case failure.Has(err, failure.NotFound):
		return nil, nil, nil
	case err != nil:
		return nil, nil, err
	}
	files := make([]remoteFile, len(tm.m.Files))
	for i, e := range tm.m.Files {
		files[i] = remoteFile{rootRel: e.Path, localRel: e.Path, size: e.Size}
	}
	return files, tm, nil
}
