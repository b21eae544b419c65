package vocab

import (
	"strconv"
	"time"

	"github.com/flavorflow/flavorflow/failure"
)

// Holdout says which rows the evaluation step scores the challenger and
// the champion on. Rows held out of Data are kept out of training. At most
// one of Data, Fraction and Window is set; the zero value holds nothing out
// (no evaluation unless the policy needs one, which then fails validation).
type Holdout struct {
	// Data is a separate evaluation set; training uses all of the training
	// data.
	Data *TrainingData `json:"data,omitempty"`
	// Fraction in (0, 1) of the training rows is held out, each row chosen
	// by a hash of Seed and its position in the data, so Train and Evaluate
	// (and a re-run) pick the same rows.
	Fraction float64 `json:"fraction,omitempty"`
	Seed     int64   `json:"seed,omitempty"`
	// Window holds out the rows observed in the last Window before the
	// cutoff (the schedule's nominal time; without one, before the newest
	// timestamped row): train on the past, evaluate on the most recent.
	Window time.Duration `json:"window,omitempty"`
}

// IsZero reports whether nothing is held out.
func (h Holdout) IsZero() bool { return h.Data == nil && h.Fraction == 0 && h.Window == 0 }

// Validate rejects a holdout that can never select rows: more than one
// kind, a fraction outside (0, 1), a negative window (InvalidArgument), or
// evaluation data given as both pairs and a file, or over the inline limit
// (InvalidTrainingData). The zero value is valid (nothing held out). It
// reads no file: the workflow's validation and the starter call it, and
// Train and Evaluate check the rows themselves.
func (h Holdout) Validate() error {
	kinds := 0
	if h.Data != nil {
		kinds++
	}
	if h.Fraction != 0 {
		kinds++
	}
	if h.Window != 0 {
		kinds++
	}
	switch {
	case kinds > 1:
		return failure.New(failure.InvalidArgument, "held-out data: give one of an evaluation data set, a fraction or a window, not %d", kinds)
	case h.Fraction != 0 && !(h.Fraction > 0 && h.Fraction < 1):
		return failure.New(failure.InvalidArgument, "held-out fraction %v must be in (0, 1)", h.Fraction)
	case h.Window < 0:
		return failure.New(failure.InvalidArgument, "held-out window %s must be positive", h.Window)
	case h.Data != nil && len(h.Data.Pairs) > 0 && h.Data.Path != "":
		return failure.New(failure.InvalidTrainingData, "evaluation data: give pairs or a data file, not both")
	case h.Data != nil && len(h.Data.Pairs) == 0 && h.Data.Path == "":
		return failure.New(failure.InvalidTrainingData, "evaluation data: neither pairs nor a data file")
	case h.Data != nil:
		if err := h.Data.CheckInlineLimit(); err != nil {
			return failure.Wrap(failure.InvalidTrainingData, err, "evaluation data")
		}
	}
	return nil
}

// String says how the rows are chosen, for tags and messages.
func (h Holdout) String() string {
	switch {
	case h.Data != nil && h.Data.Path != "":
		return "evaluation data file " + h.Data.Path
	case h.Data != nil:
		return strconv.Itoa(len(h.Data.Pairs)) + " inline evaluation pairs"
	case h.Fraction != 0:
		return "fraction " + strconv.FormatFloat(h.Fraction, 'g', -1, 64) + " of the training rows, seed " + strconv.FormatInt(h.Seed, 10)
	case h.Window != 0:
		return "window " + h.Window.String() + " before the cutoff"
	}
	return "nothing held out"
}
