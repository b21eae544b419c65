package vocab

import "strings"

// PythonQueueSuffix is appended to the Go worker's task queue to name the
// Python worker's (pyworker/): "<queue>-python".
const PythonQueueSuffix = "-python"

// Activity names the Python worker registers.
const (
	ActivityTrainPython  = "TrainPython"
	ActivityVerifyPython = "VerifyPython"
	// ActivityEvaluatePython scores challenger and champion on the
	// held-out rows for a pipeline with a promotion policy.
	ActivityEvaluatePython = "EvaluatePython"
)

// IsPythonTrainer reports whether trainer runs in the Python worker: by
// naming rule, names starting with "sklearn-" or "py-". A rule rather than a
// list, so a user adds a Python trainer in Python only; the Python worker
// refuses a name it does not have (UnknownTrainer).
func IsPythonTrainer(trainer string) bool {
	return strings.HasPrefix(trainer, "sklearn-") || strings.HasPrefix(trainer, "py-")
}
