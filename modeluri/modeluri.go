package modeluri

import (
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/vocab"
)

// Kind says what a URI refers to.
type Kind int

const (
	KindLocal Kind = iota + 1
	KindVersion
	KindAlias
	KindLatest
	KindLoggedModel
	KindRun
)

// URI is a parsed model URI.
type URI struct {
	Kind    Kind
	Name    string // registered model name (Version, Alias, Latest)
	Version int    // KindVersion
	Alias   string // KindAlias
	ModelID string // KindLoggedModel
	RunID   string // KindRun
	Path    string // KindRun: path below the run; models:/ kinds: optional sub-path; KindLocal: directory
	Raw     string
}

// String renders the URI in canonical form.
func (u URI) String() string {
	sub := ""
	if u.Path != "" && u.Kind != KindLocal && u.Kind != KindRun {
		sub = "/" + u.Path
	}
	switch u.Kind {
	case KindVersion:
		return "models:/" + u.Name + "/" + strconv.Itoa(u.Version) + sub
	case KindAlias:
		return "models:/" + u.Name + "@" + u.Alias + sub
	case KindLatest:
		return "models:/" + u.Name + "/latest" + sub
	case KindLoggedModel:
		return "models:/" + u.ModelID + sub
	case KindRun:
		return "runs:/" + u.RunID + "/" + u.Path
	case KindLocal:
		// A relative path whose cleaned form looks like a scheme
		// ("./models:/x/1", "a/../s3:x") keeps a "./" so it parses back
		// as the same local path.
		if !strings.HasPrefix(u.Path, "/") && strings.Contains(u.Path, ":") {
			return "./" + u.Path
		}
		return u.Path
	}
	return u.Raw
}

// Version returns "models:/name/version".
func Version(name string, version int) string {
	return URI{Kind: KindVersion, Name: name, Version: version}.String()
}

// Alias returns "models:/name@alias".
func Alias(name, alias string) string {
	return URI{Kind: KindAlias, Name: name, Alias: alias}.String()
}

// LoggedModel returns "models:/<id>".
func LoggedModel(id string) string { return "models:/" + id }

// Parse parses s. Errors are InvalidURI, InvalidModelName or InvalidAlias.
func Parse(s string) (URI, error) {
	switch {
	case s == "":
		return URI{}, failure.New(failure.InvalidURI, "model URI is empty")
	case strings.HasPrefix(s, "models:"):
		return parseModels(s)
	case strings.HasPrefix(s, "runs:"):
		return parseRuns(s)
	case strings.HasPrefix(s, "file:"):
		u, err := url.Parse(s)
		if err != nil || (u.Host != "" && u.Host != "localhost") || u.Path == "" {
			return URI{}, failure.New(failure.InvalidURI, "file URI %q must be file:///absolute/path", s)
		}
		return URI{Kind: KindLocal, Path: filepath.Clean(u.Path), Raw: s}, nil
	}
	if i := strings.Index(s, ":"); i > 0 && !strings.ContainsAny(s[:i], "/\\.") {
		return URI{}, failure.New(failure.InvalidURI, "unknown URI scheme %q in %q (want models:/, runs:/, file:// or a path)", s[:i], s)
	}
	return URI{Kind: KindLocal, Path: filepath.Clean(s), Raw: s}, nil
}

func parseModels(s string) (URI, error) {
	rest := strings.TrimPrefix(s, "models:")
	if strings.HasPrefix(rest, "//") {
		return URI{}, failure.New(failure.InvalidURI, "%q: models:// with a host (Databricks profile) is not supported; use models:/name/version", s)
	}
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" {
		return URI{}, failure.New(failure.InvalidURI, "%q names no model (want models:/name/version, models:/name@alias or models:/m-<id>)", s)
	}
	segs := strings.Split(rest, "/")
	for _, seg := range segs {
		if seg == "" {
			return URI{}, failure.New(failure.InvalidURI, "%q has an empty path segment", s)
		}
	}
	u := URI{Raw: s}
	first := segs[0]
	var refLen int
	if at := strings.LastIndex(first, "@"); at >= 0 {
		u.Kind, u.Name, u.Alias = KindAlias, first[:at], first[at+1:]
		if err := vocab.ValidateModelName(u.Name); err != nil {
			return URI{}, failure.Wrap(failure.InvalidURI, err, "%q", s)
		}
		if u.Alias == "" {
			return URI{}, failure.New(failure.InvalidURI, "%q has an empty alias after '@'", s)
		}
		if err := vocab.ValidateAlias(u.Alias); err != nil && !strings.EqualFold(u.Alias, "latest") {
			return URI{}, failure.Wrap(failure.InvalidURI, err, "%q", s)
		}
		refLen = 1
	} else if len(segs) == 1 {
		u.Kind, u.ModelID = KindLoggedModel, first
		if !strings.HasPrefix(first, "m-") || len(first) < 3 {
			return URI{}, failure.New(failure.InvalidURI, "%q: a one-segment models:/ URI must be a logged model id m-<hex>; a registered model needs /<version>, /latest or @<alias>", s)
		}
		refLen = 1
	} else {
		u.Name = first
		if err := vocab.ValidateModelName(u.Name); err != nil {
			return URI{}, failure.Wrap(failure.InvalidURI, err, "%q", s)
		}
		ref := segs[1]
		switch {
		case strings.EqualFold(ref, "latest"):
			u.Kind = KindLatest
		case isDigits(ref):
			v, err := strconv.Atoi(ref)
			if err != nil || v < 1 {
				return URI{}, failure.New(failure.InvalidURI, "%q: version %q must be a positive integer", s, ref)
			}
			u.Kind, u.Version = KindVersion, v
		default:
			return URI{}, failure.New(failure.InvalidURI, "%q: %q is not a version number or 'latest' (stages are deprecated in MLflow 3; use models:/%s@<alias>)", s, ref, u.Name)
		}
		refLen = 2
	}
	if len(segs) > refLen {
		sub, err := vocab.CleanRelPath(strings.Join(segs[refLen:], "/"), false)
		if err != nil {
			return URI{}, failure.Wrap(failure.InvalidURI, err, "%q", s)
		}
		u.Path = sub
	}
	return u, nil
}

func parseRuns(s string) (URI, error) {
	rest := strings.TrimPrefix(strings.TrimPrefix(s, "runs:"), "/")
	runID, p, ok := strings.Cut(rest, "/")
	if runID == "" {
		return URI{}, failure.New(failure.InvalidURI, "%q names no run (want runs:/<run-id>/<path>)", s)
	}
	if !ok || p == "" {
		return URI{}, failure.New(failure.InvalidURI, "%q has no artifact path after the run id (want runs:/<run-id>/<path>)", s)
	}
	for _, r := range runID {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return URI{}, failure.New(failure.InvalidURI, "%q: run id %q has characters other than letters, digits, - and _", s, runID)
		}
	}
	clean, err := vocab.CleanRelPath(p, false)
	if err != nil {
		return URI{}, failure.Wrap(failure.InvalidURI, err, "%q", s)
	}
	return URI{Kind: KindRun, RunID: runID, Path: clean, Raw: s}, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
