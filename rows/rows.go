// Package rows is training and prediction data as rows of named numeric
// columns: the one shape every flavor's trainer fits and every loaded model
// predicts on. FakeModel's (x, y) pairs are its one-feature case.
//
// The limits on training data live here, once: every reader (this
// package's, and fakemodel's x,y reader) refuses more than MaxRows rows or
// MaxBytes bytes with InvalidTrainingData.
//
// rows imports nothing of flavorflow's but failure; tests/layout keeps it
// that way.
package rows

import (
	"math"
	"slices"
	"time"

	"github.com/flavorflow/flavorflow/failure"
)

// Training data limits, defined once for every reader.
const (
	// MaxRows bounds the records so a wrong file cannot exhaust memory.
	MaxRows = 1_000_000
	// MaxBytes bounds the bytes read (64 MiB is ~3M short CSV pairs; a
	// file of fewer, longer rows can hit it first).
	MaxBytes = 64 << 20
	// MaxColumns bounds the columns of a table, so a header of a million
	// commas cannot make a fit's normal equations a terabyte.
	MaxColumns = 1024
)

// Table is rows of named float64 columns. Times, when not nil, holds when
// each row was observed (the zero time: always), for schedule cutoffs.
type Table struct {
	Columns []string    `json:"columns"`
	Rows    [][]float64 `json:"rows"`
	Times   []time.Time `json:"times,omitempty"`
}

// Len is the number of rows.
func (t Table) Len() int { return len(t.Rows) }

// Index returns the position of column name, or -1.
func (t Table) Index(name string) int { return slices.Index(t.Columns, name) }

// Column returns a copy of column name's values, or InvalidTrainingData
// naming the columns there are.
func (t Table) Column(name string) ([]float64, error) {
	i := t.Index(name)
	if i < 0 {
		return nil, failure.New(failure.InvalidTrainingData, "no column %q (columns: %v)", name, t.Columns)
	}
	out := make([]float64, len(t.Rows))
	for r, row := range t.Rows {
		out[r] = row[i]
	}
	return out, nil
}

// Select returns a table of the named columns, in that order (times kept).
func (t Table) Select(names ...string) (Table, error) {
	idx := make([]int, len(names))
	for k, n := range names {
		if idx[k] = t.Index(n); idx[k] < 0 {
			return Table{}, failure.New(failure.InvalidTrainingData, "no column %q (columns: %v)", n, t.Columns)
		}
	}
	out := Table{Columns: slices.Clone(names), Rows: make([][]float64, len(t.Rows)), Times: t.Times}
	for r, row := range t.Rows {
		sel := make([]float64, len(idx))
		for k, i := range idx {
			sel[k] = row[i]
		}
		out.Rows[r] = sel
	}
	return out, nil
}

// Validate checks the shape: named, distinct columns (at most MaxColumns),
// every row as wide as the header and finite, at most MaxRows rows, and
// Times nil or one per row.
func (t Table) Validate() error {
	if len(t.Columns) == 0 {
		return failure.New(failure.InvalidTrainingData, "the table has no columns")
	}
	if len(t.Columns) > MaxColumns {
		return failure.New(failure.InvalidTrainingData, "the table has %d columns, over the limit of %d", len(t.Columns), MaxColumns)
	}
	seen := make(map[string]bool, len(t.Columns))
	for i, c := range t.Columns {
		if c == "" {
			return failure.New(failure.InvalidTrainingData, "column %d has no name", i+1)
		}
		if seen[c] {
			return failure.New(failure.InvalidTrainingData, "column %q appears twice", c)
		}
		seen[c] = true
	}
	if len(t.Rows) > MaxRows {
		return failure.New(failure.InvalidTrainingData, "training data has %d rows, over the limit of %d", len(t.Rows), MaxRows)
	}
	if t.Times != nil && len(t.Times) != len(t.Rows) {
		return failure.New(failure.InvalidTrainingData, "the table has %d rows but %d times", len(t.Rows), len(t.Times))
	}
	for r, row := range t.Rows {
		if len(row) != len(t.Columns) {
			return failure.New(failure.InvalidTrainingData, "row %d has %d values for %d columns", r+1, len(row), len(t.Columns))
		}
		for i, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return failure.New(failure.InvalidTrainingData, "row %d column %q is %v, not a finite number", r+1, t.Columns[i], v)
			}
		}
	}
	return nil
}

// Until keeps the rows observed at or before cutoff (rows without a time
// always). A zero cutoff keeps everything; nothing left is
// InvalidTrainingData naming the cutoff.
func (t Table) Until(cutoff time.Time) (Table, error) {
	if cutoff.IsZero() || t.Times == nil {
		return t, nil
	}
	out := Table{Columns: t.Columns, Times: []time.Time{}}
	for r, row := range t.Rows {
		if ts := t.Times[r]; ts.IsZero() || !ts.After(cutoff) {
			out.Rows = append(out.Rows, row)
			out.Times = append(out.Times, ts)
		}
	}
	if len(out.Rows) == 0 {
		return Table{}, failure.New(failure.InvalidTrainingData, "no training rows at or before the cutoff %s (%d rows, all later)",
			cutoff.UTC().Format(time.RFC3339), len(t.Rows))
	}
	return out, nil
}
