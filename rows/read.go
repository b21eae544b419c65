package rows

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/flavorflow/flavorflow/failure"
)

// ReadOptions control Read.
type ReadOptions struct {
	// TimeColumn names the column holding each row's observation time
	// (RFC 3339 or unix seconds), kept out of Columns and put in Times.
	// Empty means "t" when the data has a column "t"; "-" means none.
	TimeColumn string
}

func (o ReadOptions) timeColumn() string {
	switch o.TimeColumn {
	case "":
		return "t"
	case "-":
		return ""
	}
	return o.TimeColumn
}

// ReadFile reads a table from a file with Read, refusing a missing file, a
// directory or one larger than MaxBytes before parsing it.
func ReadFile(path string, opts ReadOptions) (Table, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Table{}, failure.New(failure.InvalidTrainingData, "training data file %s does not exist", path)
		}
		return Table{}, failure.New(failure.InvalidTrainingData, "cannot read training data %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Table{}, failure.Wrap(failure.InvalidTrainingData, err, "stat training data")
	}
	if st.IsDir() {
		return Table{}, failure.New(failure.InvalidTrainingData, "training data %s is a directory", path)
	}
	if st.Size() > MaxBytes {
		return Table{}, TooLarge(st.Size())
	}
	return Read(f, opts)
}

// TooLarge is the one error for data over MaxBytes (size 0: unknown).
func TooLarge(size int64) error {
	if size > 0 {
		return failure.New(failure.InvalidTrainingData, "training data is %d bytes, over the limit of %d bytes (64 MiB)", size, MaxBytes)
	}
	return failure.New(failure.InvalidTrainingData, "training data is over the limit of %d bytes (64 MiB)", MaxBytes)
}

// Read reads a table: CSV with a header line naming the columns, or a JSON
// array of records ({"column": number, ...}, every record with the same
// keys; the first record's order is the columns' order). At most MaxRows
// rows, MaxColumns columns and MaxBytes bytes; every value a finite number
// except the time column's.
func Read(r io.Reader, opts ReadOptions) (Table, error) {
	cr := &CapReader{R: r, Left: MaxBytes}
	t, err := read(cr, opts)
	if cr.Over {
		// Whatever the parser made of the cut, the answer is the limit.
		return Table{}, TooLarge(0)
	}
	if err != nil {
		return Table{}, err
	}
	return t, t.Validate()
}

func read(r io.Reader, opts ReadOptions) (Table, error) {
	br, first, err := Begin(r)
	if err != nil {
		return Table{}, err
	}
	if first == '[' {
		return readJSON(br, opts)
	}
	return readCSV(br, opts)
}

// utf8BOM is the byte order mark spreadsheet programs put at the start of
// a CSV they save as UTF-8.
const utf8BOM = "\xef\xbb\xbf"

// Begin buffers a training data file past a UTF-8 byte order mark and
// leading white space, and returns its first byte: '[' for JSON. Without
// dropping the mark, the first column of a spreadsheet's CSV would be
// named "\ufeffa", unlike what anyone typed, and unlike the Python worker's
// reading (utf-8-sig), so their digests of the same rows would differ.
// An empty file is InvalidTrainingData.
func Begin(r io.Reader) (*bufio.Reader, byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if head, _ := br.Peek(len(utf8BOM)); string(head) == utf8BOM {
		_, _ = br.Discard(len(utf8BOM))
	}
	first, err := br.Peek(1)
	for err == nil && len(first) == 1 && strings.ContainsRune(" \t\r\n", rune(first[0])) {
		_, _ = br.ReadByte()
		first, err = br.Peek(1)
	}
	if err == io.EOF {
		return nil, 0, failure.New(failure.InvalidTrainingData, "training data is empty")
	}
	if err != nil {
		return nil, 0, failure.Wrap(failure.InvalidTrainingData, err, "read training data")
	}
	return br, first[0], nil
}

// builder turns records of named values into a Table.
type builder struct {
	t       Table
	timeIdx int // in the record, -1 when none
	tcol    string
}

func newBuilder(header []string, opts ReadOptions) (*builder, error) {
	b := &builder{timeIdx: -1, tcol: opts.timeColumn()}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == b.tcol && b.tcol != "" {
			b.timeIdx = i
			continue
		}
		b.t.Columns = append(b.t.Columns, h)
	}
	if opts.TimeColumn != "" && opts.TimeColumn != "-" && b.timeIdx < 0 {
		return nil, failure.New(failure.InvalidTrainingData, "no time column %q (columns: %v)", opts.TimeColumn, header)
	}
	if b.timeIdx >= 0 {
		b.t.Times = []time.Time{}
	}
	if err := (Table{Columns: b.t.Columns}).Validate(); err != nil {
		return nil, err
	}
	return b, nil
}

// add appends one record; get returns field i as text or number.
func (b *builder) add(n int, width int, get func(i int) (string, *float64)) error {
	if len(b.t.Rows) >= MaxRows {
		return failure.New(failure.InvalidTrainingData, "training data has more than %d rows", MaxRows)
	}
	row := make([]float64, 0, len(b.t.Columns))
	for i := range width {
		s, num := get(i)
		if i == b.timeIdx {
			ts, err := ParseTime(s)
			if err != nil {
				return failure.Wrap(failure.InvalidTrainingData, err, "record %d", n)
			}
			b.t.Times = append(b.t.Times, ts)
			continue
		}
		col := b.t.Columns[len(row)]
		v := 0.0
		if num != nil {
			v = *num
		} else {
			var err error
			if v, err = ParseNumber(s); err != nil {
				return failure.New(failure.InvalidTrainingData, "record %d column %q: %q is not a number", n, col, strings.TrimSpace(s))
			}
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return failure.New(failure.InvalidTrainingData, "record %d column %q: %v is not finite", n, col, v)
		}
		row = append(row, v)
	}
	b.t.Rows = append(b.t.Rows, row)
	return nil
}

func (b *builder) table() (Table, error) {
	if len(b.t.Rows) == 0 {
		return Table{}, failure.New(failure.InvalidTrainingData, "training data is empty (a header and no rows)")
	}
	return b.t, nil
}

func readCSV(r io.Reader, opts ReadOptions) (Table, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	// Widths are checked below, after a lone carriage return (which
	// makes a record of several lines) is named as the cause.
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return Table{}, failure.Wrap(failure.InvalidTrainingData, err, "training data CSV header")
	}
	header = append([]string(nil), header...)
	if err := loneCR(header); err != nil {
		return Table{}, err
	}
	for _, h := range header {
		if _, err := ParseNumber(h); err == nil {
			return Table{}, failure.New(failure.InvalidTrainingData, "training data CSV needs a header line naming the columns; the first line is %q", strings.Join(header, ","))
		}
	}
	b, err := newBuilder(header, opts)
	if err != nil {
		return Table{}, err
	}
	for n := 1; ; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Table{}, failure.Wrap(failure.InvalidTrainingData, err, "training data CSV")
		}
		if err := loneCR(rec); err != nil {
			return Table{}, err
		}
		if len(rec) != len(header) {
			// The Python worker's words.
			return Table{}, failure.New(failure.InvalidTrainingData, "training data CSV: record %d has %d fields, the header %d", n, len(rec), len(header))
		}
		if err := b.add(n, len(rec), func(i int) (string, *float64) { return rec[i], nil }); err != nil {
			return Table{}, err
		}
	}
	return b.table()
}

// msgLoneCR is the message for a CSV whose lines end with a carriage
// return alone (classic Mac OS): encoding/csv reads the whole file as one
// line, which would be reported as a missing header or a wrong number of
// fields. The Python worker says the same.
const msgLoneCR = "training data CSV has a carriage return (\\r) without a line feed: save it with \\n or \\r\\n line ends"

// loneCR refuses a record holding a carriage return: encoding/csv turns
// "\r\n" into "\n", so one left is alone (or inside a quoted value, which
// cannot be a number either).
func loneCR(rec []string) error {
	for _, f := range rec {
		if strings.ContainsRune(f, '\r') {
			return failure.New(failure.InvalidTrainingData, msgLoneCR)
		}
	}
	return nil
}

func readJSON(r io.Reader, opts ReadOptions) (Table, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return Table{}, failure.Wrap(failure.InvalidTrainingData, err, "training data JSON")
	}
	var b *builder
	var keys []string
	for n := 1; dec.More(); n++ {
		rec, order, err := jsonRecord(dec)
		if err != nil {
			return Table{}, failure.Wrap(failure.InvalidTrainingData, err, "training data JSON record %d", n)
		}
		if b == nil {
			keys = order
			if b, err = newBuilder(keys, opts); err != nil {
				return Table{}, err
			}
		}
		same := len(rec) == len(keys)
		for _, k := range keys {
			if _, ok := rec[k]; !ok {
				same = false
			}
		}
		if !same {
			return Table{}, failure.New(failure.InvalidTrainingData, "training data JSON record %d has keys %v, the first record %v", n, order, keys)
		}
		err = b.add(n, len(keys), func(i int) (string, *float64) {
			v, ok := rec[keys[i]]
			switch x := v.(type) {
			case json.Number:
				if f, err := x.Float64(); err == nil {
					return x.String(), &f
				}
				return x.String(), nil
			case string:
				return x, nil
			case nil:
				if !ok {
					return "(missing)", nil
				}
				return "null", nil
			}
			return "(not a number)", nil
		})
		if err != nil {
			return Table{}, err
		}
	}
	if b == nil {
		return Table{}, failure.New(failure.InvalidTrainingData, "training data is empty")
	}
	if err := EndOfJSONArray(dec); err != nil {
		return Table{}, err
	}
	return b.table()
}

// EndOfJSONArray reads the array's closing bracket and requires nothing but
// white space after it: a file with more (two arrays written one after the
// other, a tool's trailer) is not one table, and the Python worker's
// json.loads refuses it too.
func EndOfJSONArray(dec *json.Decoder) error {
	if _, err := dec.Token(); err != nil {
		return failure.Wrap(failure.InvalidTrainingData, err, "training data JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return failure.New(failure.InvalidTrainingData, "training data JSON has more after the array's closing bracket")
	}
	return nil
}

// jsonRecord decodes one object, keeping its keys' order.
func jsonRecord(dec *json.Decoder) (map[string]any, []string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("not an object")
	}
	rec := map[string]any{}
	var order []string
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k := kt.(string)
		if _, dup := rec[k]; dup {
			return nil, nil, errors.New("key " + strconv.Quote(k) + " twice")
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		rec[k] = v
		order = append(order, k)
		if len(order) > MaxColumns+1 {
			return nil, nil, errors.New("too many keys")
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	return rec, order, nil
}

// ParseTime reads a timestamp: RFC 3339 or unix seconds (integer or
// fractional).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	f, err := ParseNumber(s)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e12 {
		return time.Time{}, failure.New(failure.InvalidTrainingData, "timestamp %q is neither RFC 3339 nor unix seconds", s)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// ParseNumber reads a value of a training data file: a decimal number,
// white space around it ignored, as the Python worker's float() reads it.
// strconv.ParseFloat alone would also take hexadecimal ("0x1p-2"), which
// Python refuses, so a file the starter accepted would fail in a Python
// trainer; the Python worker in turn refuses digits other than ASCII,
// which its float() would take. Infinities and NaN parse; callers refuse
// them as not finite.
func ParseNumber(s string) (float64, error) {
	s = strings.TrimSpace(s)
	digits := strings.TrimLeft(s, "+-")
	if len(digits) > 1 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') {
		return 0, fmt.Errorf("%q is hexadecimal", s)
	}
	return strconv.ParseFloat(s, 64)
}

// CapReader reads at most Left bytes and sets Over when the source has
// more, so a stream without a size gets the same limit as a file.
type CapReader struct {
	R    io.Reader
	Left int64
	Over bool
}

var errOverLimit = errors.New("training data over the size limit")

func (c *CapReader) Read(p []byte) (int, error) {
	if c.Left <= 0 {
		var b [1]byte
		n, err := c.R.Read(b[:])
		if n > 0 {
			c.Over = true
			return 0, errOverLimit
		}
		return 0, err
	}
	if int64(len(p)) > c.Left {
		p = p[:c.Left]
	}
	n, err := c.R.Read(p)
	c.Left -= int64(n)
	return n, err
}
