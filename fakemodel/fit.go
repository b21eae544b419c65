package fakemodel

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/vocab"
)

// Until keeps the samples observed at or before cutoff (untimestamped ones
// always). A zero cutoff keeps everything. When nothing is left the error
// is InvalidTrainingData naming the cutoff.
func Until(samples []vocab.Sample, cutoff time.Time) ([]vocab.Sample, error) {
	if cutoff.IsZero() {
		return samples, nil
	}
	out := make([]vocab.Sample, 0, len(samples))
	for _, s := range samples {
		if s.T.IsZero() || !s.T.After(cutoff) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, failure.New(failure.InvalidTrainingData, "no training samples at or before the cutoff %s (%d samples, all later)",
			cutoff.UTC().Format(time.RFC3339), len(samples))
	}
	return out, nil
}

// ParseTime reads a timestamp: RFC 3339 or unix seconds (integer or
// fractional). It is rows.ParseTime, the one parser of training times.
func ParseTime(s string) (time.Time, error) { return rows.ParseTime(s) }

// Training data limits: rows' (the one place they are defined), under the
// names this package has always used. ReadSamples and ReadFile check both,
// and the starter and the worker's Train read data only through them, so
// the starter refuses exactly what the worker would (InvalidTrainingData,
// exit 2) before a pipeline starts.
const (
	// MaxSamples bounds the records so a wrong file cannot exhaust memory.
	MaxSamples = rows.MaxRows
	// MaxDataBytes bounds the bytes read.
	MaxDataBytes = rows.MaxBytes
)

// tooLarge is the one error for data over MaxDataBytes (rows').
func tooLarge(size int64) error { return rows.TooLarge(size) }

// ReadFile reads a training data file with ReadSamples, refusing a missing
// file, a directory or one larger than MaxDataBytes before parsing it.
func ReadFile(path string) ([]vocab.Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, failure.New(failure.InvalidTrainingData, "training data file %s does not exist", path)
		}
		return nil, failure.New(failure.InvalidTrainingData, "cannot read training data %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, failure.Wrap(failure.InvalidTrainingData, err, "stat training data")
	}
	if st.IsDir() {
		return nil, failure.New(failure.InvalidTrainingData, "training data %s is a directory", path)
	}
	if st.Size() > MaxDataBytes {
		return nil, tooLarge(st.Size())
	}
	return ReadSamples(f)
}

// Stats describes a fit.
type Stats struct {
	N   int     `json:"n"`
	MSE float64 `json:"mse"` // mean squared error of the fitted model on the data
}

// Fit learns the least-squares offset: argmin_o sum (y - (x + o))^2 = mean(y - x).
func Fit(samples []vocab.Sample) (FakeModel, Stats, error) {
	if len(samples) == 0 {
		return FakeModel{}, Stats{}, failure.New(failure.InvalidTrainingData, "training data is empty")
	}
	if len(samples) > MaxSamples {
		return FakeModel{}, Stats{}, failure.New(failure.InvalidTrainingData, "training data has %d samples, over the limit of %d", len(samples), MaxSamples)
	}
	// Kahan-free two-pass mean: the data are bounded and the mean of
	// differences is well conditioned.
	var sum float64
	for i, s := range samples {
		if !finite(s.X) || !finite(s.Y) {
			return FakeModel{}, Stats{}, failure.New(failure.InvalidTrainingData, "sample %d (%v, %v) is not finite", i+1, s.X, s.Y)
		}
		sum += s.Y - s.X
	}
	n := float64(len(samples))
	offset := sum / n
	if !finite(offset) {
		// The sum overflows before the mean does ((0, 1e308) twice):
		// average the scaled differences instead. Normal data keep the
		// plain sum, bit for bit.
		offset = 0
		for _, s := range samples {
			offset += (s.Y - s.X) / n
		}
	}
	if !finite(offset) {
		return FakeModel{}, Stats{}, failure.New(failure.InvalidTrainingData, "the fitted offset overflows (values too large)")
	}
	var sse float64
	for _, s := range samples {
		d := s.Y - (s.X + offset)
		sse += d * d
	}
	// An infinite error cannot be recorded (JSON has no Inf), and the
	// worker would fail on it after the pipeline started: refuse it here.
	mse := sse / n
	if !finite(mse) {
		return FakeModel{}, Stats{}, failure.New(failure.InvalidTrainingData, "the fit's mean squared error overflows (values too large)")
	}
	return FakeModel{Offset: offset}, Stats{N: len(samples), MSE: mse}, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// ParsePairs parses inline pairs "x,y;x,y" (or "t,x,y;…" with a timestamp;
// spaces allowed), as typed on the CLI.
func ParsePairs(s string) ([]vocab.Sample, error) {
	if strings.TrimSpace(s) == "" {
		return nil, failure.New(failure.InvalidTrainingData, "no training pairs given")
	}
	var out []vocab.Sample
	for i, p := range strings.Split(s, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		smp, err := parseRecord(p, i+1)
		if err != nil {
			return nil, err
		}
		out = append(out, smp)
	}
	if len(out) == 0 {
		return nil, failure.New(failure.InvalidTrainingData, "no training pairs given in %q", s)
	}
	return out, nil
}

// ReadSamples reads training data: a JSON array of {"x","y"} objects (with an
// optional "t": RFC 3339 string or unix seconds), or CSV lines "x,y" or
// "t,x,y" with an optional header line. At most MaxSamples records and
// MaxDataBytes bytes.
func ReadSamples(r io.Reader) ([]vocab.Sample, error) {
	cr := &rows.CapReader{R: r, Left: MaxDataBytes}
	s, err := readSamples(cr)
	if cr.Over {
		// Whatever the parser made of the cut, the answer is the limit.
		return nil, tooLarge(0)
	}
	return s, err
}

func readSamples(r io.Reader) ([]vocab.Sample, error) {
	br, first, err := rows.Begin(r)
	if err != nil {
		return nil, err
	}
	if first == '[' {
		return readJSONSamples(br)
	}
	return readCSVSamples(br)
}

func readJSONSamples(r io.Reader) ([]vocab.Sample, error) {
	dec := json.NewDecoder(r)
	if _, err := dec.Token(); err != nil {
		return nil, failure.Wrap(failure.InvalidTrainingData, err, "training data JSON")
	}
	var out []vocab.Sample
	for dec.More() {
		if len(out) >= MaxSamples {
			return nil, failure.New(failure.InvalidTrainingData, "training data has more than %d samples", MaxSamples)
		}
		var raw struct {
			X *float64        `json:"x"`
			Y *float64        `json:"y"`
			T json.RawMessage `json:"t"`
		}
		if err := dec.Decode(&raw); err != nil {
			return nil, failure.Wrap(failure.InvalidTrainingData, err, "training data JSON record %d", len(out)+1)
		}
		if raw.X == nil || raw.Y == nil {
			return nil, failure.New(failure.InvalidTrainingData, "training data JSON record %d lacks x or y", len(out)+1)
		}
		smp := vocab.Sample{X: *raw.X, Y: *raw.Y}
		if len(raw.T) > 0 && string(raw.T) != "null" {
			var err error
			if smp.T, err = ParseTime(strings.Trim(string(raw.T), `"`)); err != nil {
				return nil, failure.Wrap(failure.InvalidTrainingData, err, "training data JSON record %d", len(out)+1)
			}
		}
		out = append(out, smp)
	}
	if len(out) == 0 {
		return nil, failure.New(failure.InvalidTrainingData, "training data is empty")
	}
	if err := rows.EndOfJSONArray(dec); err != nil {
		return nil, err
	}
	return out, nil
}

func readCSVSamples(r *bufio.Reader) ([]vocab.Sample, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	var out []vocab.Sample
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if h := strings.ToLower(strings.ReplaceAll(text, " ", "")); line == 1 && (h == "x,y" || h == "t,x,y") {
			continue
		}
		if len(out) >= MaxSamples {
			return nil, failure.New(failure.InvalidTrainingData, "training data has more than %d samples", MaxSamples)
		}
		s, err := parseRecord(text, line)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, failure.Wrap(failure.InvalidTrainingData, err, "training data line %d", line+1)
	}
	if len(out) == 0 {
		return nil, failure.New(failure.InvalidTrainingData, "training data is empty")
	}
	return out, nil
}

func parseRecord(rec string, n int) (vocab.Sample, error) {
	fields := strings.Split(rec, ",")
	var ts time.Time
	if len(fields) == 3 {
		t, err := ParseTime(fields[0])
		if err != nil {
			return vocab.Sample{}, failure.New(failure.InvalidTrainingData, "record %d %q: %v", n, rec, err)
		}
		ts, fields = t, fields[1:]
	}
	if len(fields) != 2 {
		return vocab.Sample{}, failure.New(failure.InvalidTrainingData, "record %d %q: want two numbers x,y or t,x,y", n, rec)
	}
	var v [2]float64
	for i, f := range fields {
		x, err := rows.ParseNumber(f)
		if err != nil {
			return vocab.Sample{}, failure.New(failure.InvalidTrainingData, "record %d %q: %q is not a number", n, rec, strings.TrimSpace(f))
		}
		if !finite(x) {
			return vocab.Sample{}, failure.New(failure.InvalidTrainingData, "record %d %q: %q is not finite", n, rec, strings.TrimSpace(f))
		}
		v[i] = x
	}
	return vocab.Sample{X: v[0], Y: v[1], T: ts}, nil
}

// SamplesOf reads (x, y) pairs from columns x and y of t (other columns
// ignored), with each row's time: FakeModel's training data is the
// one-feature case of a table.
func SamplesOf(t rows.Table) ([]vocab.Sample, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	xi, yi := t.Index("x"), t.Index("y")
	if xi < 0 || yi < 0 {
		return nil, failure.New(failure.InvalidTrainingData, "fakemodel trains on columns x and y; the data has %v", t.Columns)
	}
	out := make([]vocab.Sample, len(t.Rows))
	for r, row := range t.Rows {
		out[r] = vocab.Sample{X: row[xi], Y: row[yi]}
		if t.Times != nil {
			out[r].T = t.Times[r]
		}
	}
	return out, nil
}
