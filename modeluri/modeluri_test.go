package modeluri

import (
	"testing"

	"github.com/flavorflow/flavorflow/failure"
)

func TestParseValid(t *testing.T) {
	cases := []struct {
		in   string
		want URI
	}{
		{"models:/iris/3", URI{Kind: KindVersion, Name: "iris", Version: 3}},
		{"models:/iris@champion", URI{Kind: KindAlias, Name: "iris", Alias: "champion"}},
		{"models:/iris/latest", URI{Kind: KindLatest, Name: "iris"}},
		{"models:/iris/LATEST", URI{Kind: KindLatest, Name: "iris"}},
		{"models:/m-0123abcd", URI{Kind: KindLoggedModel, ModelID: "m-0123abcd"}},
		{"models:/iris/2/MLmodel", URI{Kind: KindVersion, Name: "iris", Version: 2, Path: "MLmodel"}},
		{"models:/iris@prod/sub/file", URI{Kind: KindAlias, Name: "iris", Alias: "prod", Path: "sub/file"}},
		{"runs:/0123abc/model", URI{Kind: KindRun, RunID: "0123abc", Path: "model"}},
		{"runs:/0123abc/123model/MLmodel", URI{Kind: KindRun, RunID: "0123abc", Path: "123model/MLmodel"}},
		{"/tmp/model", URI{Kind: KindLocal, Path: "/tmp/model"}},
		{"file:///tmp/model/", URI{Kind: KindLocal, Path: "/tmp/model"}},
		{"./rel/model", URI{Kind: KindLocal, Path: "rel/model"}},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		got.Raw = ""
		if got != c.want {
			t.Errorf("Parse(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, in := range []string{
		"", "models:/", "models:", "models:/x@", "models:/@alias", "models:/iris/Production",
		"models:/iris/0", "models:/iris//1", "models:/a/b/../../etc", "models://profile@databricks/m/1",
		"models:/iris", "models:/iris@bad alias", "models:/bad:name/1",
		"runs:/", "runs:/abc", "runs:/abc/", "runs:/abc/../x", "runs:/a b/x",
		"s3://bucket/key", "hdfs:/x", "gopher:model",
	} {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", in)
			continue
		}
		if code := failure.CodeOf(err); code != failure.InvalidURI {
			t.Errorf("Parse(%q) code = %s (%v)", in, code, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, s := range []string{"models:/iris/3", "models:/iris@champion", "models:/m-abc", "runs:/abc/model", "models:/iris/latest"} {
		u, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if u.String() != s {
			t.Errorf("String() = %q, want %q", u.String(), s)
		}
	}
}
