package vocab

import (
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/flavorflow/flavorflow/failure"
)

// Limits from MLflow (mlflow/utils/validation.py and the SQL column sizes).
const (
	MaxModelNameLen      = 256
	MaxAliasLen          = 255
	MaxTagKeyLen         = 250
	MaxParamValueLen     = 6000
	MaxExperimentNameLen = 500
	// MaxDatasetNameLen and MaxDatasetDigestLen are MLflow's columns for a
	// model metric's dataset (logged_model_metrics: 500 and 36). sqlite
	// does not enforce them, other databases do: both stores refuse longer
	// values so a pipeline behaves the same on every backend.
	MaxDatasetNameLen   = 500
	MaxDatasetDigestLen = 36
)

// ValidateModelName applies MLflow's registered model name rules plus the
// file store's: non-blank, no leading or trailing whitespace, at most 256 bytes, no '/', ':', '%', no control
// characters, valid UTF-8, and equal to its own clean path.
func ValidateModelName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return failure.New(failure.InvalidModelName, "model name is empty")
	case strings.TrimFunc(name, invisible) != name:
		// MLflow keeps them, so " iris", "iris\u200b" and "iris" would be
		// models that read the same in every list: an operator's trap.
		return failure.New(failure.InvalidModelName, "model name %q has leading or trailing whitespace or an invisible character", name)
	case len(name) > MaxModelNameLen:
		return failure.New(failure.InvalidModelName, "model name is %d bytes, over MLflow's limit of %d", len(name), MaxModelNameLen)
	case !utf8.ValidString(name):
		return failure.New(failure.InvalidModelName, "model name %q is not valid UTF-8", name)
	case strings.ContainsRune(name, utf8.RuneError):
		// JSON payloads turn invalid UTF-8 into U+FFFD on the way to the
		// workflow; refusing it keeps a mangled name from being registered.
		return failure.New(failure.InvalidModelName, "model name %q contains U+FFFD (invalid UTF-8 replaced on the way)", name)
	case strings.ContainsAny(name, "/:%\\"):
		return failure.New(failure.InvalidModelName, "model name %q contains one of / : %% \\", name)
	case strings.Contains(name, "@"):
		// MLflow accepts it, but models:/a@b/1 reads as alias "b/1" of
		// model "a", so no URI could name the version (not MLflow's own
		// loader either): refused before anything is registered.
		return failure.New(failure.InvalidModelName, "model name %q contains '@', which models:/ URIs read as an alias", name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return failure.New(failure.InvalidModelName, "model name %q contains a control character", name)
	case name == "." || strings.HasPrefix(name, "..") || path.Clean(name) != name:
		return failure.New(failure.InvalidModelName, "model name %q is not a clean name", name)
	}
	return nil
}

// invisible reports characters that do not show at the ends of a name:
// white space and format characters such as U+200B ZERO WIDTH SPACE. Inside
// a name format characters stay allowed (U+200C/U+200D join letters in
// several scripts).
func invisible(r rune) bool { return unicode.IsSpace(r) || unicode.In(r, unicode.Cf) }

var aliasRe = regexp.MustCompile(`^[\w\-]+$`)
var reservedAliasRe = regexp.MustCompile(`^(?i:latest|v\d+)$`)

// ValidateAlias applies MLflow's alias rules.
func ValidateAlias(alias string) error {
	switch {
	case alias == "":
		return failure.New(failure.InvalidAlias, "alias is empty")
	case len(alias) > MaxAliasLen:
		return failure.New(failure.InvalidAlias, "alias is %d characters, over the limit of %d", len(alias), MaxAliasLen)
	case !aliasRe.MatchString(alias):
		return failure.New(failure.InvalidAlias, "alias %q may contain only letters, digits, _ and -", alias)
	case reservedAliasRe.MatchString(alias):
		return failure.New(failure.InvalidAlias, "alias %q is reserved by MLflow", alias)
	}
	return nil
}

// ValidateLoggedModelName applies MLflow's rule for a logged model's name
// (log_model(name=...)): none of / : . % " '.
func ValidateLoggedModelName(name string) error {
	if strings.ContainsAny(name, "/:.%\"'") {
		return failure.New(failure.InvalidArgument, "logged model name %q must not contain any of / : . %% \" ' (MLflow's rule)", name)
	}
	return nil
}

// ValidateExperimentName applies the embedded store's experiment name rule:
// not blank and at most MaxExperimentNameLen bytes (MLflow's column size).
func ValidateExperimentName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > MaxExperimentNameLen {
		return failure.New(failure.InvalidArgument, "experiment name must be 1 to %d characters", MaxExperimentNameLen)
	}
	return nil
}

var tagKeyRe = regexp.MustCompile(`^[/\w.\- :]+$`)

// ValidateTagKey applies MLflow's key rule for tags, params and metrics.
func ValidateTagKey(key string) error {
	switch {
	case key == "":
		return failure.New(failure.InvalidArgument, "tag key is empty")
	case len(key) > MaxTagKeyLen:
		return failure.New(failure.InvalidArgument, "tag key %q is over %d characters", key, MaxTagKeyLen)
	case !tagKeyRe.MatchString(key):
		return failure.New(failure.InvalidArgument, "tag key %q may contain only letters, digits, _ - . : / and space", key)
	case path.Clean(key) != key || key == "." || strings.HasPrefix(key, "..") || strings.HasPrefix(key, "/"):
		return failure.New(failure.InvalidArgument, "tag key %q is not a clean path", key)
	}
	return nil
}

// CleanRelPath checks an artifact path relative to a root and returns it in
// canonical form. "" (the root itself) is allowed only when allowRoot is set.
// Absolute paths, "..", ".", empty segments, backslashes, '#', NUL and other
// control characters are rejected with InvalidPath, so a listing or manifest
// can never make a caller read or write outside the root.
func CleanRelPath(p string, allowRoot bool) (string, error) {
	if p == "" {
		if allowRoot {
			return "", nil
		}
		return "", failure.New(failure.InvalidPath, "path is empty")
	}
	if !utf8.ValidString(p) || strings.ContainsAny(p, "\\#") || strings.IndexFunc(p, unicode.IsControl) >= 0 {
		return "", failure.New(failure.InvalidPath, "path %q contains a backslash, '#' or a control character", p)
	}
	if strings.HasPrefix(p, "/") || (len(p) >= 2 && p[1] == ':') {
		return "", failure.New(failure.InvalidPath, "path %q is absolute", p)
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		switch seg {
		case "":
			return "", failure.New(failure.InvalidPath, "path %q has an empty segment", p)
		case ".", "..":
			return "", failure.New(failure.InvalidPath, "path %q contains %q", p, seg)
		}
	}
	return strings.TrimSuffix(p, "/"), nil
}
