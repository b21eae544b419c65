package workflows

import (
	"testing"
	"unicode"
)

func TestIDPartIsPrintableASCIIAndInjective(t *testing.T) {
	names := []string{"iris", "fraud-v2", "名前-モデル", "a b", "a~20b", "a_b", "a.b", "~", "~7E", " lead", "emoji😀", "tab\tname"}
	seen := map[string]string{}
	for _, n := range names {
		id := IDPart(n)
		for _, r := range id {
			if r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' {
				t.Errorf("IDPart(%q) = %q holds %q, not printable ASCII", n, id, r)
			}
		}
		if other, dup := seen[id]; dup {
			t.Errorf("IDPart(%q) = IDPart(%q) = %q", n, other, id)
		}
		seen[id] = n
	}
	for _, plain := range []string{"iris", "fraud-v2", "a.b_c"} {
		if got := IDPart(plain); got != plain {
			t.Errorf("IDPart(%q) = %q; plain names must read as before", plain, got)
		}
	}
	if got, want := IDPart("名"), "~E5~90~8D"; got != want {
		t.Errorf("IDPart(名) = %q, want %q", got, want)
	}
}
