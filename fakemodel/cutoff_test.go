package fakemodel

import (
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/vocab"
)

func day(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }

func TestReadTimestampedSamples(t *testing.T) {
	want := []vocab.Sample{{X: 1, Y: 4, T: day(1)}, {X: 2, Y: 6, T: day(2)}}
	for name, in := range map[string]string{
		"csv rfc3339":  "t,x,y\n2026-01-01T00:00:00Z,1,4\n2026-01-02T00:00:00Z,2,6\n",
		"csv unix":     "1767225600,1,4\n1767312000,2,6\n",
		"csv offset":   "2026-01-01T01:00:00+01:00,1,4\n2026-01-02T00:00:00Z,2,6\n",
		"json rfc3339": `[{"t":"2026-01-01T00:00:00Z","x":1,"y":4},{"t":"2026-01-02T00:00:00Z","x":2,"y":6}]`,
		"json unix":    `[{"t":1767225600,"x":1,"y":4},{"t":1767312000,"x":2,"y":6}]`,
	} {
		s, err := ReadSamples(strings.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(s) != 2 || !s[0].T.Equal(want[0].T) || !s[1].T.Equal(want[1].T) || s[1].X != 2 || s[1].Y != 6 {
			t.Errorf("%s: got %+v", name, s)
		}
	}
	for _, in := range []string{"yesterday,1,4\n", `[{"t":"soon","x":1,"y":2}]`, "1,2,3,4\n", "NaN,1,2\n"} {
		if _, err := ReadSamples(strings.NewReader(in)); failure.CodeOf(err) != failure.InvalidTrainingData {
			t.Errorf("ReadSamples(%q) err = %v", in, err)
		}
	}
	s, err := ParsePairs("1767225600,1,4; 2,5")
	if err != nil || len(s) != 2 || !s[0].T.Equal(day(1)) || !s[1].T.IsZero() {
		t.Fatalf("ParsePairs: %+v %v", s, err)
	}
}

func TestUntilKeepsSamplesAtOrBeforeCutoff(t *testing.T) {
	s := []vocab.Sample{{X: 0, Y: 1, T: day(1)}, {X: 0, Y: 2, T: day(2)}, {X: 0, Y: 3, T: day(3)}, {X: 0, Y: 9}}
	all, err := Until(s, time.Time{})
	if err != nil || len(all) != 4 {
		t.Fatalf("no cutoff: %v %v", all, err)
	}
	got, err := Until(s, day(2))
	if err != nil || len(got) != 3 || got[0].Y != 1 || got[1].Y != 2 || got[2].Y != 9 {
		t.Fatalf("cutoff day 2: %+v %v", got, err)
	}
	_, err = Until(s[:3], day(1).Add(-time.Second))
	if failure.CodeOf(err) != failure.InvalidTrainingData || !strings.Contains(err.Error(), "2025-12-31T23:59:59Z") {
		t.Fatalf("nothing left: %v", err)
	}
}
