package policy

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/flavorflow/flavorflow/failure"
)

// Mode is how a pipeline decides whether to promote.
type Mode string

// Modes.
const (
	// Always promotes every version that passed verification (the default,
	// and the behaviour of pipelines before policies existed).
	Always Mode = "always"
	// BeatsChampion promotes only a challenger that scores better than the
	// champion on the same held-out data, by at least the margin (and that
	// meets the threshold, when one is set). With no champion it promotes.
	BeatsChampion Mode = "beats-champion"
	// Threshold promotes only a challenger whose metric meets the threshold.
	Threshold Mode = "threshold"
	// Never registers and verifies but does not move the alias.
	Never Mode = "never"
)

// Metric names a score. MSE and MAE are better lower, R2 better higher.
type Metric string

// Metrics.
const (
	MSE Metric = "mse"
	MAE Metric = "mae"
	R2  Metric = "r2"
)

// Metrics lists every metric, in the order they are reported.
var Metrics = []Metric{MSE, MAE, R2}

// HigherIsBetter reports the metric's direction.
func (m Metric) HigherIsBetter() bool { return m == R2 }

// Approval says whether an operator must approve a promotion.
type Approval string

// Approval values.
const (
	ApprovalNone     Approval = "none"
	ApprovalRequired Approval = "required"
)

// TimeoutAction is what happens when an approval is not given in time.
type TimeoutAction string

// Timeout actions.
const (
	// TimeoutReject ends the wait as a rejection: the champion stays.
	TimeoutReject TimeoutAction = "reject"
	// TimeoutPromote promotes anyway when the policy's evidence allows it.
	TimeoutPromote TimeoutAction = "promote"
)

// DefaultApprovalTimeout is how long a pipeline waits for an operator
// when the policy does not say.
const DefaultApprovalTimeout = 24 * time.Hour

// Policy is a pipeline's or schedule's promotion policy. The zero value is
// Always without approval: what every pipeline did before policies.
type Policy struct {
	Mode   Mode   `json:"mode,omitempty"`
	Metric Metric `json:"metric,omitempty"` // default mse
	// Margin is how much better the challenger must be than the champion
	// (BeatsChampion): a fraction of the champion's score when
	// MarginAbsolute is false (0.05 = 5 % better), else in the metric's
	// units. 0: any improvement; ties keep the champion.
	Margin         float64 `json:"margin,omitempty"`
	MarginAbsolute bool    `json:"margin_absolute,omitempty"`
	// Threshold bounds the challenger's metric: at most it for MSE and MAE,
	// at least it for R2. Required by Threshold, optional for
	// BeatsChampion (both must then hold).
	Threshold *float64 `json:"threshold,omitempty"`
	// Approval required: after evaluation, the pipeline waits for an
	// operator's approve or reject, at most ApprovalTimeout (default 24 h),
	// then does OnTimeout (default reject).
	Approval        Approval      `json:"approval,omitempty"`
	ApprovalTimeout time.Duration `json:"approval_timeout,omitempty"`
	OnTimeout       TimeoutAction `json:"on_timeout,omitempty"`
}

// Normalized returns p with defaults filled in.
func (p Policy) Normalized() Policy {
	if p.Mode == "" {
		p.Mode = Always
	}
	if p.Metric == "" {
		p.Metric = MSE
	}
	if p.Approval == "" {
		p.Approval = ApprovalNone
	}
	if p.Approval == ApprovalRequired {
		if p.ApprovalTimeout == 0 {
			p.ApprovalTimeout = DefaultApprovalTimeout
		}
		if p.OnTimeout == "" {
			p.OnTimeout = TimeoutReject
		}
	}
	return p
}

// NeedsEvaluation reports whether deciding needs scores: every mode but
// Always and Never compares them. (Pipelines evaluate anyway when they are
// given held-out data, for the record.)
func (p Policy) NeedsEvaluation() bool {
	m := p.Normalized().Mode
	return m == BeatsChampion || m == Threshold
}

// Validate rejects a policy that can never be applied, naming the field.
func (p Policy) Validate() error {
	p = p.Normalized()
	bad := func(format string, args ...any) error {
		return failure.New(failure.InvalidArgument, "promotion policy: "+format, args...)
	}
	switch p.Mode {
	case Always, BeatsChampion, Threshold, Never:
	default:
		return bad("unknown mode %q (want %s)", p.Mode, joinModes())
	}
	switch p.Metric {
	case MSE, MAE, R2:
	default:
		return bad("unknown metric %q (want mse, mae or r2)", p.Metric)
	}
	if math.IsNaN(p.Margin) || math.IsInf(p.Margin, 0) || p.Margin < 0 {
		return bad("margin %v must be a finite number >= 0", p.Margin)
	}
	if p.Threshold != nil && (math.IsNaN(*p.Threshold) || math.IsInf(*p.Threshold, 0)) {
		return bad("threshold %v must be a finite number", *p.Threshold)
	}
	if p.Mode == Threshold && p.Threshold == nil {
		return bad("mode threshold needs a threshold")
	}
	switch p.Approval {
	case ApprovalNone, ApprovalRequired:
	default:
		return bad("unknown approval %q (want none or required)", p.Approval)
	}
	if p.ApprovalTimeout < 0 {
		return bad("approval timeout %s is negative", p.ApprovalTimeout)
	}
	switch p.OnTimeout {
	case "", TimeoutReject, TimeoutPromote:
	default:
		return bad("unknown on-timeout action %q (want reject or promote)", p.OnTimeout)
	}
	if p.Approval == ApprovalRequired && p.Mode == Never {
		return bad("approval required with mode never: nothing would be approved")
	}
	return nil
}

func joinModes() string {
	return strings.Join([]string{string(Always), string(BeatsChampion), string(Threshold), string(Never)}, ", ")
}

// Scores are one version's metrics on one held-out set.
type Scores struct {
	N   int     `json:"n"` // held-out rows
	MSE float64 `json:"mse"`
	MAE float64 `json:"mae"`
	// R2 is the coefficient of determination. With constant targets it is
	// 1 for a perfect fit and 0 otherwise (scikit-learn's convention), so it
	// is always finite.
	R2 float64 `json:"r2"`
}

// Get returns the value of metric m.
func (s Scores) Get(m Metric) float64 {
	switch m {
	case MAE:
		return s.MAE
	case R2:
		return s.R2
	default:
		return s.MSE
	}
}

// Score computes the scores of predictions against targets (same length,
// at least one).
func Score(predictions, targets []float64) (Scores, error) {
	if len(predictions) != len(targets) || len(targets) == 0 {
		return Scores{}, failure.New(failure.InvalidTrainingData, "cannot score %d predictions against %d targets", len(predictions), len(targets))
	}
	n := float64(len(targets))
	var mean float64
	for _, y := range targets {
		mean += y / n
	}
	var se, ae, tot float64
	for i, y := range targets {
		d := predictions[i] - y
		se += d * d
		ae += math.Abs(d)
		tot += (y - mean) * (y - mean)
	}
	s := Scores{N: len(targets), MSE: se / n, MAE: ae / n}
	switch {
	case tot > 0:
		s.R2 = 1 - se/tot
	case se == 0:
		s.R2 = 1
	}
	if math.IsNaN(s.MSE) || math.IsInf(s.MSE, 0) || math.IsNaN(s.R2) || math.IsInf(s.R2, 0) {
		return Scores{}, failure.New(failure.InvalidTrainingData, "scores overflow float64 (MSE %v): the held-out data or predictions are too large", s.MSE)
	}
	return s, nil
}

// Evidence is what the evaluation step found.
type Evidence struct {
	Challenger        int     `json:"challenger"` // version
	ChallengerScores  Scores  `json:"challenger_scores"`
	Champion          int     `json:"champion,omitempty"` // 0: the alias was unset
	ChampionScores    *Scores `json:"champion_scores,omitempty"`
	HeldOut           string  `json:"held_out,omitempty"`             // how the held-out rows were chosen
	HeldOutDataSHA256 string  `json:"held_out_data_sha256,omitempty"` // of the held-out rows
}

// Decision is the policy's verdict.
type Decision struct {
	Promote bool   `json:"promote"`
	Reason  string `json:"reason"`
}

// Decide applies p to ev. Without scores (no evaluation ran) only Always
// and Never can decide; the others keep the champion, saying why.
func Decide(p Policy, ev *Evidence) Decision {
	p = p.Normalized()
	switch p.Mode {
	case Always:
		return Decision{true, "policy always: every verified version is promoted"}
	case Never:
		return Decision{false, "policy never: registered and verified only"}
	}
	if ev == nil {
		return Decision{false, fmt.Sprintf("policy %s needs held-out data to evaluate on; none was given", p.Mode)}
	}
	m := p.Metric
	c := ev.ChallengerScores.Get(m)
	if p.Threshold != nil && !meets(m, c, *p.Threshold) {
		return Decision{false, fmt.Sprintf("challenger v%d %s %s does not meet the threshold %s %s", ev.Challenger, m, num(c), thresholdOp(m), num(*p.Threshold))}
	}
	if p.Mode == Threshold {
		return Decision{true, fmt.Sprintf("challenger v%d %s %s meets the threshold %s %s", ev.Challenger, m, num(c), thresholdOp(m), num(*p.Threshold))}
	}
	if ev.Champion == 0 || ev.ChampionScores == nil {
		return Decision{true, fmt.Sprintf("no champion: challenger v%d (%s %s) takes the alias", ev.Challenger, m, num(c))}
	}
	if ev.Champion == ev.Challenger {
		return Decision{true, fmt.Sprintf("v%d is already the champion", ev.Challenger)}
	}
	h := ev.ChampionScores.Get(m)
	gain := h - c // how much better the challenger is, in the metric's units
	if m.HigherIsBetter() {
		gain = c - h
	}
	need, unit := p.Margin, ""
	if !p.MarginAbsolute {
		need, unit = p.Margin*math.Abs(h), fmt.Sprintf(" (%s%% of the champion's)", num(p.Margin*100))
	}
	if gain > 0 && gain >= need {
		return Decision{true, fmt.Sprintf("challenger v%d beats champion v%d on %s: %s vs %s", ev.Challenger, ev.Champion, m, num(c), num(h))}
	}
	if gain <= 0 {
		return Decision{false, fmt.Sprintf("challenger v%d does not beat champion v%d on %s: %s vs %s", ev.Challenger, ev.Champion, m, num(c), num(h))}
	}
	return Decision{false, fmt.Sprintf("challenger v%d beats champion v%d on %s by %s, less than the margin %s%s: %s vs %s",
		ev.Challenger, ev.Champion, m, num(gain), num(need), unit, num(c), num(h))}
}

func meets(m Metric, v, threshold float64) bool {
	if m.HigherIsBetter() {
		return v >= threshold
	}
	return v <= threshold
}

func thresholdOp(m Metric) string {
	if m.HigherIsBetter() {
		return ">="
	}
	return "<="
}

// num formats a score compactly and identically on every platform.
func num(v float64) string { return fmt.Sprintf("%.6g", v) }
