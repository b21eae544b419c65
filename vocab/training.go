package vocab

import (
	"time"

	"github.com/flavorflow/flavorflow/failure"
)

// Sample is one training pair, optionally timestamped (T is when it was
// observed; the zero time means "always").
type Sample struct {
	X float64   `json:"x"`
	Y float64   `json:"y"`
	T time.Time `json:"t,omitzero"`
}

// TrainingData is inline pairs or a file the worker can read (CSV "x,y" or a
// JSON array of {"x","y"}). It travels in workflow input, so its JSON form
// is part of every recorded history.
type TrainingData struct {
	Pairs []Sample `json:"pairs,omitempty"`
	Path  string   `json:"path,omitempty"`
}

// MaxInlinePairs bounds training pairs carried in workflow input; larger data
// goes in a file referenced by path so histories stay small.
const MaxInlinePairs = 10_000

// CheckInlineLimit rejects more inline pairs than MaxInlinePairs. The
// workflow runs it before any activity, and Train again for callers that
// bypass the workflow.
func (d TrainingData) CheckInlineLimit() error {
	if len(d.Pairs) > MaxInlinePairs {
		return failure.New(failure.InvalidTrainingData, "%d inline pairs is over the limit of %d; pass a data file", len(d.Pairs), MaxInlinePairs)
	}
	return nil
}
