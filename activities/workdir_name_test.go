package activities

import (
	"strings"
	"testing"
)

// Work directory names: short clean IDs stay as they are; a long ID (the
// longest model name in a script outside ASCII makes a ~790-character
// workflow ID) fits a file name, and IDs that differ only in characters
// replaced by '_' do not share a directory.
func TestSanitizeWorkDirName(t *testing.T) {
	if got := sanitize("lifecycle-iris-1a2b3c4d"); got != "lifecycle-iris-1a2b3c4d" {
		t.Errorf("clean ID changed: %s", got)
	}
	long := "lifecycle-" + strings.Repeat("~E5~90~8D", 85) + "x-1a2b3c4d"
	if got := sanitize(long); len(got) > 255 || strings.ContainsAny(got, "/~") {
		t.Errorf("long ID gives %d bytes: %s", len(got), got)
	}
	seen := map[string]string{}
	for _, id := range []string{"a~b", "a_b", "a:b", long, long + "e", strings.Repeat("x", 300), strings.Repeat("x", 301)} {
		s := sanitize(id)
		if other, dup := seen[s]; dup {
			t.Errorf("%q and %q share work directory %s", id, other, s)
		}
		seen[s] = id
		if s == "" || strings.ContainsAny(s, `/\`) || s == "." || s == ".." || len(s) > maxDirSegment {
			t.Errorf("%q gives unsafe segment %q", id, s)
		}
	}
}
