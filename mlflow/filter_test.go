package mlflow

import "testing"

// A value MLflow's filter grammar cannot spell (both quote kinds) is
// matched by the prefix before its first quote, and exact tells the caller
// to compare; a backslash is still refused.
func TestFilterCond(t *testing.T) {
	for v, want := range map[string]struct {
		cond  string
		exact bool
	}{
		"iris":                  {"name = 'iris'", false},
		"it's":                  {`name = "it's"`, false},
		`it's a "quoted" model`: {"name LIKE 'it%'", true},
		`"a" 'b'`:               {"name LIKE '%'", true},
		"名前-モデル":                {"name = '名前-モデル'", false},
	} {
		cond, exact, err := filterCond("name", v)
		if err != nil || cond != want.cond || exact != want.exact {
			t.Errorf("filterCond(%q) = %q, %v, %v; want %q, %v", v, cond, exact, err, want.cond, want.exact)
		}
	}
	if _, _, err := filterCond("name", `a\'b"`); err == nil {
		t.Error("a backslash is refused")
	}
}
