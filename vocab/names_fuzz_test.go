package vocab_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/vocab"
)

// FuzzCleanRelPath checks that every accepted path stays under a root when
// joined to it, has no "..", "." or empty segments, and is already canonical.
func FuzzCleanRelPath(f *testing.F) {
	for _, s := range []string{"", "a", "a/b/c.txt", "a/", "../x", "a/../../b", "/etc/passwd", "C:x", `a\..\b`, "a//b", "./a", "a/.", "\x00", "…/…", "a#b"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	root := filepath.FromSlash("/srv/root")
	f.Fuzz(func(t *testing.T, p string, allowRoot bool) {
		clean, err := vocab.CleanRelPath(p, allowRoot)
		if err != nil {
			if c := failure.CodeOf(err); c != failure.InvalidPath {
				t.Fatalf("CleanRelPath(%q) failed with code %s, want InvalidPath", p, c)
			}
			return
		}
		if clean == "" {
			if !allowRoot {
				t.Fatalf("CleanRelPath(%q, false) accepted the root", p)
			}
			return
		}
		for _, seg := range strings.Split(clean, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("CleanRelPath(%q) = %q has segment %q", p, clean, seg)
			}
		}
		joined := filepath.Join(root, filepath.FromSlash(clean))
		rel, err := filepath.Rel(root, joined)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || rel == "." {
			t.Fatalf("CleanRelPath(%q) = %q escapes or is the root when joined: %q", p, clean, joined)
		}
		if filepath.ToSlash(rel) != clean {
			t.Fatalf("CleanRelPath(%q) = %q is not canonical (joins as %q)", p, clean, rel)
		}
		if again, err := vocab.CleanRelPath(clean, allowRoot); err != nil || again != clean {
			t.Fatalf("CleanRelPath is not idempotent on %q: %q, %v", clean, again, err)
		}
	})
}
