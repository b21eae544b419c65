package vocab_test

import (
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/vocab"
)

func TestValidateModelName(t *testing.T) {
	for _, ok := range []string{"m", "My Model", "fraud-detector_v2", "a.b", strings.Repeat("x", 256), "модель", "名前-モデル", "می\u200cخواهم"} {
		if err := vocab.ValidateModelName(ok); err != nil {
			t.Errorf("ValidateModelName(%q) = %v, want ok", ok, err)
		}
	}
	for _, bad := range []string{"", " ", " lead-space", "trail-space ", "\u00a0nbsp", "zw\u200b", "\ufeffbom", "at@sign", "a/b", "a:b", "a%b", `a\b`, "a\x00b", "a\nb", ".", "..", "..a", strings.Repeat("x", 257), "\xff", "a\uFFFDb"} {
		if err := vocab.ValidateModelName(bad); failure.CodeOf(err) != failure.InvalidModelName {
			t.Errorf("ValidateModelName(%q) = %v, want InvalidModelName", bad, err)
		}
	}
}

func TestValidateAlias(t *testing.T) {
	for _, ok := range []string{"champion", "prod-1", "A_b", "v1x", "latest2", strings.Repeat("a", 255)} {
		if err := vocab.ValidateAlias(ok); err != nil {
			t.Errorf("ValidateAlias(%q) = %v, want ok", ok, err)
		}
	}
	for _, bad := range []string{"", "latest", "LATEST", "v1", "V22", "a b", "a.b", "a/b", "a@b", strings.Repeat("a", 256)} {
		if err := vocab.ValidateAlias(bad); failure.CodeOf(err) != failure.InvalidAlias {
			t.Errorf("ValidateAlias(%q) = %v, want InvalidAlias", bad, err)
		}
	}
}

func TestValidateTagKey(t *testing.T) {
	for _, ok := range []string{"k", "mlflow.runName", "a/b", "a b", "a:b", "a-b_c"} {
		if err := vocab.ValidateTagKey(ok); err != nil {
			t.Errorf("ValidateTagKey(%q) = %v, want ok", ok, err)
		}
	}
	for _, bad := range []string{"", "a/../b", "../a", "a//b", "a/", "a#b", "a\x00", strings.Repeat("k", 251)} {
		if err := vocab.ValidateTagKey(bad); failure.CodeOf(err) != failure.InvalidArgument {
			t.Errorf("ValidateTagKey(%q) = %v, want InvalidArgument", bad, err)
		}
	}
}

// MLflow's path_not_unique also rejects keys whose normpath is "." or starts
// with "/"; ValidateTagKey does not yet.
func TestValidateTagKeyMLflowPathRule(t *testing.T) {
	for _, bad := range []string{".", "/a"} {
		if err := vocab.ValidateTagKey(bad); failure.CodeOf(err) != failure.InvalidArgument {
			t.Errorf("ValidateTagKey(%q) = %v, want InvalidArgument", bad, err)
		}
	}
}

func TestCleanRelPath(t *testing.T) {
	for _, tc := range []struct {
		in, want  string
		allowRoot bool
	}{
		{"a", "a", false},
		{"a/b/c.txt", "a/b/c.txt", false},
		{"a/b/", "a/b", false},
		{"", "", true},
		{"with space/ü.bin", "with space/ü.bin", false},
	} {
		got, err := vocab.CleanRelPath(tc.in, tc.allowRoot)
		if err != nil || got != tc.want {
			t.Errorf("CleanRelPath(%q, %v) = %q, %v; want %q", tc.in, tc.allowRoot, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "/a", "C:/a", "..", "../a", "a/..", "a/../b", ".", "./a", "a//b", `a\b`, "a#b", "a\x00b", "a\tb", "\xff", "/"} {
		if got, err := vocab.CleanRelPath(bad, false); failure.CodeOf(err) != failure.InvalidPath {
			t.Errorf("CleanRelPath(%q) = %q, %v; want InvalidPath", bad, got, err)
		}
	}
}

func TestValidateExperimentAndLoggedModelName(t *testing.T) {
	for _, bad := range []string{"", "  ", strings.Repeat("e", vocab.MaxExperimentNameLen+1)} {
		if err := vocab.ValidateExperimentName(bad); failure.CodeOf(err) != failure.InvalidArgument {
			t.Errorf("ValidateExperimentName(%.20q) = %v, want InvalidArgument", bad, err)
		}
	}
	if err := vocab.ValidateExperimentName("flavorflow / iris"); err != nil {
		t.Errorf("ValidateExperimentName: %v", err)
	}
	for _, bad := range []string{"a/b", "a:b", "a.b", "a%b", `a"b`, "a'b"} {
		if err := vocab.ValidateLoggedModelName(bad); failure.CodeOf(err) != failure.InvalidArgument {
			t.Errorf("ValidateLoggedModelName(%q) = %v, want InvalidArgument", bad, err)
		}
	}
	if err := vocab.ValidateLoggedModelName("model"); err != nil {
		t.Errorf("ValidateLoggedModelName: %v", err)
	}
}
