package modeluri

import (
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
)

// FuzzParse: Parse never panics, fails only with the documented codes,
// every accepted URI round-trips through String(), and no accepted
// models:/ or runs:/ sub-path contains "..".
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"models:/iris/3", "models:/iris@champion", "models:/iris/latest", "models:/m-0123abcd",
		"models:/iris/2/MLmodel", "models:/iris@prod/sub/file", "runs:/0123abc/model", "runs:abc/x/",
		"/tmp/model", "file:///tmp/model/", "./rel/model", "./models:/x/1", "a/../s3:x",
		"models:/", "models:/x@", "models:/x", "runs:/", "runs:/id/../x", "s3://b/k", "hdfs:/x",
		"models:/a@b@c", "models:/x/0001", "models:/x/99999999999999999999", "models:/x/1/..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			switch failure.CodeOf(err) {
			case failure.InvalidURI, failure.InvalidModelName, failure.InvalidAlias:
			default:
				t.Fatalf("Parse(%q): unexpected code %s: %v", s, failure.CodeOf(err), err)
			}
			return
		}
		if u.Kind != KindLocal {
			for _, seg := range strings.Split(u.Path, "/") {
				if seg == ".." {
					t.Fatalf("Parse(%q) accepted sub-path %q", s, u.Path)
				}
			}
		}
		again, err := Parse(u.String())
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, u.String(), err)
		}
		again.Raw, u.Raw = "", ""
		if again != u {
			t.Fatalf("Parse(%q) = %+v; String() = %q parses as %+v", s, u, u.String(), again)
		}
	})
}
