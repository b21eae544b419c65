package activities

import "context"

// Validate is replaced by the evaluation branch's implementation.
func (h Holdout) Validate() error { return nil }

// Evaluate is replaced by the evaluation branch's implementation.
func (a *Activities) Evaluate(ctx context.Context, in EvaluateInput) (EvaluateOutput, error) {
	return EvaluateOutput{}, nil
}
