package rows

import (
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
)

func day(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }

func TestReadCSVAndJSONAlike(t *testing.T) {
	for name, in := range map[string]string{
		"csv":         "t, a, b, y\n2026-01-01T00:00:00Z,1,2,10\n# a comment\n\n1767312000,3,4,20\n",
		"json":        `[{"t":"2026-01-01T00:00:00Z","a":1,"b":2,"y":10},{"t":1767312000,"a":3,"b":4,"y":20}]`,
		"json string": `[{"t":"2026-01-01T00:00:00Z","a":"1","b":2,"y":10},{"y":20,"a":3,"b":4,"t":"1767312000"}]`,
	} {
		tb, err := Read(strings.NewReader(in), ReadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Join(tb.Columns, ",") != "a,b,y" || tb.Len() != 2 || tb.Rows[1][0] != 3 || tb.Rows[1][2] != 20 ||
			!tb.Times[0].Equal(day(1)) || !tb.Times[1].Equal(day(2)) {
			t.Errorf("%s: %+v", name, tb)
		}
		y, _ := tb.Column("y")
		if y[0] != 10 || y[1] != 20 {
			t.Errorf("%s: column y %v", name, y)
		}
		cut, err := tb.Until(day(1))
		if err != nil || cut.Len() != 1 || cut.Rows[0][2] != 10 {
			t.Errorf("%s: until: %+v %v", name, cut, err)
		}
	}
	// Without a t column there are no times; "-" keeps a t as a feature.
	tb, err := Read(strings.NewReader("x,y\n1,2\n"), ReadOptions{})
	if err != nil || tb.Times != nil || tb.Len() != 1 {
		t.Errorf("no times: %+v %v", tb, err)
	}
	tb, err = Read(strings.NewReader("t,y\n1,2\n"), ReadOptions{TimeColumn: "-"})
	if err != nil || tb.Times != nil || strings.Join(tb.Columns, ",") != "t,y" {
		t.Errorf("t as a feature: %+v %v", tb, err)
	}
	tb, err = Read(strings.NewReader("when,y\n2026-01-03T00:00:00Z,2\n"), ReadOptions{TimeColumn: "when"})
	if err != nil || !tb.Times[0].Equal(day(3)) {
		t.Errorf("named time column: %+v %v", tb, err)
	}
}

func TestReadRefuses(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "empty",
		"1,2\n3,4\n":                   "header",
		"a,b\n":                        "no rows",
		"a,b\n1\n":                     "record 1 has 1 fields, the header 2",
		"a,a\n1,2\n":                   "twice",
		"a,b\n1,x\n":                   `"x" is not a number`,
		"a,b\n1,NaN\n":                 "not finite",
		"t,a\nsoon,1\n":                "neither RFC 3339",
		`[{"a":1},{"b":2}]`:            "the first record",
		`[{"a":1},{"a":true}]`:         "not a number",
		`[{"a":1,"a":2}]`:              "twice",
		`[1]`:                          "not an object",
		`[]`:                           "empty",
		`[{"a":1},{"a":1,"b":2}]`:      "the first record",
		"a,b\n1,2\n" + `"unterminated`: "training data CSV",
		// What Python's float() and json.loads refuse, Go refuses too.
		"a,b\n1,0x1p-2\n":    `"0x1p-2" is not a number`,
		"t,a\n0x10,1\n":      "neither RFC 3339",
		`[{"a":"-0X1"}]`:     `"-0X1" is not a number`,
		`[{"a":1}] and more`: "more after the array",
		`[{"a":1}][{"a":2}]`: "more after the array",
		"a,y\r1,2\r3,4\r":    "carriage return (\\r) without a line feed: save it with \\n or \\r\\n line ends",
		"a,y\n1,2\r3,4\n":    "carriage return (\\r) without a line feed",
	} {
		_, err := Read(strings.NewReader(in), ReadOptions{})
		if failure.CodeOf(err) != failure.InvalidTrainingData || !strings.Contains(err.Error(), want) {
			t.Errorf("Read(%q) = %v, want InvalidTrainingData with %q", in, err, want)
		}
	}
	if _, err := Read(strings.NewReader("a,y\n1,2\n"), ReadOptions{TimeColumn: "when"}); failure.CodeOf(err) != failure.InvalidTrainingData {
		t.Errorf("missing named time column: %v", err)
	}
	// Rows of 100 columns reach MaxBytes before MaxRows.
	header := "c0"
	for i := 1; i < 100; i++ {
		header += ",c" + strings.Repeat("x", i)
	}
	big := header + "\n" + strings.Repeat(strings.Repeat("1,", 99)+"1\n", MaxBytes/200+1)
	if _, err := Read(strings.NewReader(big), ReadOptions{}); failure.CodeOf(err) != failure.InvalidTrainingData || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("over MaxBytes: %v", err)
	}
	wide := strings.Repeat("c,", MaxColumns) + "z\n"
	if _, err := Read(strings.NewReader(wide), ReadOptions{}); failure.CodeOf(err) != failure.InvalidTrainingData {
		t.Errorf("over MaxColumns: %v", err)
	}
}

func TestSelect(t *testing.T) {
	tb := Table{Columns: []string{"a", "b", "c"}, Rows: [][]float64{{1, 2, 3}}}
	s, err := tb.Select("c", "a")
	if err != nil || s.Rows[0][0] != 3 || s.Rows[0][1] != 1 {
		t.Errorf("select: %+v %v", s, err)
	}
	if _, err := tb.Select("d"); failure.CodeOf(err) != failure.InvalidTrainingData || !strings.Contains(err.Error(), `"d"`) {
		t.Errorf("select missing: %v", err)
	}
}

// A spreadsheet's "CSV UTF-8" starts with a byte order mark: the first
// column is still "a" (as pyworker's utf-8-sig reading has it), for CSV and
// JSON, with CRLF line ends.
func TestReadDropsAByteOrderMark(t *testing.T) {
	for name, in := range map[string]string{
		"csv":          "\ufeffa,y\r\n1,2\r\n3,4\r\n",
		"csv, spaced":  "\ufeff\r\n a ,y\r\n1,2\r\n3,4\r\n",
		"json":         "\ufeff[{\"a\":1,\"y\":2},{\"a\":3,\"y\":4}]",
		"no mark":      "a,y\n1,2\n3,4\n",
		"mark, spaced": "\ufeff  [{\"a\":1,\"y\":2},{\"a\":3,\"y\":4}]",
	} {
		tb, err := Read(strings.NewReader(in), ReadOptions{})
		if err != nil || strings.Join(tb.Columns, ",") != "a,y" || tb.Len() != 2 || tb.Rows[1][0] != 3 {
			t.Errorf("%s: %q %+v %v", name, tb.Columns, tb, err)
		}
	}
	if _, err := Read(strings.NewReader("\ufeff \n"), ReadOptions{}); failure.CodeOf(err) != failure.InvalidTrainingData || !strings.Contains(err.Error(), "empty") {
		t.Errorf("a mark alone: %v", err)
	}
}
