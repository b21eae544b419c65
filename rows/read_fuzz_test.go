package rows

import (
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
)

// Read never panics, and what it accepts is a valid table; what it refuses
// is InvalidTrainingData.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n", "t,a\n2026-01-01T00:00:00Z,1\n", `[{"a":1,"t":2}]`, `[{"a":"1"},{"a":2}]`,
		"a\n\"1\n", "#c\na,b\n1,2\n", `[{"a":1},{"a":1,"b":2}]`, "t\n1\n", `[{}]`, "[", "a,b\n1,2,3\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tb, err := Read(strings.NewReader(in), ReadOptions{})
		if err != nil {
			if failure.CodeOf(err) != failure.InvalidTrainingData {
				t.Fatalf("Read(%q) = %v, want InvalidTrainingData", in, err)
			}
			return
		}
		if err := tb.Validate(); err != nil || tb.Len() == 0 {
			t.Fatalf("Read(%q) accepted %+v: %v", in, tb, err)
		}
	})
}
