package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// policyFlags are the promotion-policy flags of `run` and `schedule create`.
type policyFlags struct {
	mode, metric, approval, onTimeout string
	margin                            float64
	marginAbsolute                    bool
	threshold                         string // "" none; parsed as a float
	approvalTimeout                   time.Duration
	evalData                          string
	holdoutFraction                   float64
	holdoutSeed                       int64
	holdoutWindow                     time.Duration
}

// policyFlagHelp documents each flag once, for every command that has them.
var policyFlagHelp = map[string]string{
	"policy":           "promotion policy: always (default), beats-champion, threshold, never (register only)",
	"metric":           "metric the policy compares: mse (default), mae, r2",
	"margin":           "beats-champion: how much better than the champion, a fraction of its score (0.05 = 5%); 0 = any improvement",
	"margin-absolute":  "read --margin in the metric's units instead of as a fraction",
	"threshold":        "the challenger's metric must be at most this (mse, mae) or at least this (r2); required by --policy threshold",
	"approval":         "none (default) or required: wait for `starter approve`/`reject` before promoting",
	"approval-timeout": "how long to wait for approval (default 24h)",
	"on-timeout":       "when the approval wait runs out: reject (default) or promote (if the policy's evidence allows)",
	"eval-data":        "held-out evaluation data file (same formats as --data), scored by challenger and champion",
	"holdout-fraction": "hold out this fraction (0-1) of the training rows for evaluation, chosen by --holdout-seed (the same rows for every trainer, Go or Python)",
	"holdout-seed":     "seed of the --holdout-fraction row choice (same seed, same rows)",
	"holdout-window":   "hold out the rows of the last window before the cutoff (e.g. 24h): train on the past, evaluate on the most recent",
}

// register adds the flags to fs.
func (f *policyFlags) register(fs *pflag.FlagSet) {
	h := policyFlagHelp
	fs.StringVar(&f.mode, "policy", "", h["policy"])
	fs.StringVar(&f.metric, "metric", "", h["metric"])
	fs.Float64Var(&f.margin, "margin", 0, h["margin"])
	fs.BoolVar(&f.marginAbsolute, "margin-absolute", false, h["margin-absolute"])
	fs.StringVar(&f.threshold, "threshold", "", h["threshold"])
	fs.StringVar(&f.approval, "approval", "", h["approval"])
	fs.DurationVar(&f.approvalTimeout, "approval-timeout", 0, h["approval-timeout"])
	fs.StringVar(&f.onTimeout, "on-timeout", "", h["on-timeout"])
	fs.StringVar(&f.evalData, "eval-data", "", h["eval-data"])
	fs.Float64Var(&f.holdoutFraction, "holdout-fraction", 0, h["holdout-fraction"])
	fs.Int64Var(&f.holdoutSeed, "holdout-seed", 0, h["holdout-seed"])
	fs.DurationVar(&f.holdoutWindow, "holdout-window", 0, h["holdout-window"])
}

// fits refuses, before anything starts, a policy the request cannot carry
// out: one that needs an alias without one, and (for a run, whose data is
// fixed) held-out rows that leave nothing to train or to score on. A
// schedule's data and cutoff change from run to run, so its split is
// checked by each run's Train.
func (f *policyFlags) fits(req workflows.LifecycleRequest, byPath bool) error {
	if err := workflows.ValidatePolicy(req); err != nil {
		return err
	}
	if byPath || req.Holdout.IsZero() {
		return nil
	}
	_, err := fakemodel.SplitData(req.Data, req.Holdout, time.Time{})
	return err
}

// fitsTable is fits for a trainer of another flavor: the held-out rows are
// split from rows of named columns, as the worker's Train and Evaluate
// split them (fakemodel.SplitTable).
func (f *policyFlags) fitsTable(req workflows.LifecycleRequest, byPath bool) error {
	if err := workflows.ValidatePolicy(req); err != nil {
		return err
	}
	if byPath || req.Holdout.IsZero() {
		return nil
	}
	_, err := fakemodel.SplitTable(req.Data, req.Holdout, time.Time{})
	return err
}

// build returns the policy and held-out data the flags describe; evalData
// turns the --eval-data file into training data (inline or by path, as
// --data is).
func (f *policyFlags) build(evalData func(path string) (vocab.TrainingData, error)) (policy.Policy, vocab.Holdout, error) {
	p := policy.Policy{
		Mode: policy.Mode(f.mode), Metric: policy.Metric(f.metric), Margin: f.margin, MarginAbsolute: f.marginAbsolute,
		Approval: policy.Approval(f.approval), ApprovalTimeout: f.approvalTimeout, OnTimeout: policy.TimeoutAction(f.onTimeout),
	}
	if f.threshold != "" {
		var v float64
		if _, err := fmt.Sscan(f.threshold, &v); err != nil {
			return p, vocab.Holdout{}, usageError{fmt.Sprintf("--threshold %q is not a number", f.threshold)}
		}
		p.Threshold = &v
	}
	if err := p.Validate(); err != nil {
		return p, vocab.Holdout{}, err
	}
	h := vocab.Holdout{Fraction: f.holdoutFraction, Seed: f.holdoutSeed, Window: f.holdoutWindow}
	if f.evalData != "" {
		d, err := evalData(f.evalData)
		if err != nil {
			return p, h, err
		}
		h.Data = &d
	}
	if err := h.Validate(); err != nil {
		return p, h, err
	}
	if p.NeedsEvaluation() && h.IsZero() {
		return p, h, usageError{fmt.Sprintf("--policy %s compares scores on held-out data: give --eval-data, --holdout-fraction or --holdout-window", p.Normalized().Mode)}
	}
	return p, h, nil
}
