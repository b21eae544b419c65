package policy

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
)

func ptr(v float64) *float64 { return &v }

func TestScore(t *testing.T) {
	s, err := Score([]float64{1, 2, 5}, []float64{1, 3, 3})
	if err != nil {
		t.Fatal(err)
	}
	// errors 0, -1, 2: MSE 5/3, MAE 1; targets mean 7/3, SStot = 16/9+4/9+4/9 = 24/9
	if math.Abs(s.MSE-5.0/3) > 1e-12 || math.Abs(s.MAE-1) > 1e-12 || math.Abs(s.R2-(1-5/(24.0/9))) > 1e-12 || s.N != 3 {
		t.Fatalf("scores %+v", s)
	}
	// constant targets: R2 is 1 for a perfect fit, 0 otherwise (finite either way)
	if s, _ := Score([]float64{2, 2}, []float64{2, 2}); s.R2 != 1 {
		t.Fatalf("perfect fit on constant targets: R2 %v", s.R2)
	}
	if s, _ := Score([]float64{2, 3}, []float64{2, 2}); s.R2 != 0 {
		t.Fatalf("imperfect fit on constant targets: R2 %v", s.R2)
	}
	for _, c := range []struct{ p, y []float64 }{{nil, nil}, {[]float64{1}, []float64{1, 2}}, {[]float64{1e300, -1e300}, []float64{-1e300, 1e300}}} {
		if _, err := Score(c.p, c.y); failure.CodeOf(err) != failure.InvalidTrainingData {
			t.Errorf("Score(%v, %v) = %v, want InvalidTrainingData", c.p, c.y, err)
		}
	}
}

func TestDecide(t *testing.T) {
	ev := func(chal, champ float64) *Evidence {
		e := &Evidence{Challenger: 5, ChallengerScores: Scores{N: 10, MSE: chal, MAE: chal, R2: 1 - chal}}
		if champ >= 0 {
			e.Champion, e.ChampionScores = 4, &Scores{N: 10, MSE: champ, MAE: champ, R2: 1 - champ}
		}
		return e
	}
	cases := []struct {
		name    string
		p       Policy
		ev      *Evidence
		promote bool
		reason  string
	}{
		{"zero policy is always", Policy{}, nil, true, "always"},
		{"never", Policy{Mode: Never}, ev(0.1, 0.5), false, "never"},
		{"better challenger", Policy{Mode: BeatsChampion}, ev(0.1, 0.5), true, "beats champion v4"},
		{"worse challenger", Policy{Mode: BeatsChampion}, ev(0.5, 0.1), false, "does not beat champion v4"},
		{"tie keeps the champion", Policy{Mode: BeatsChampion}, ev(0.3, 0.3), false, "does not beat"},
		{"no champion", Policy{Mode: BeatsChampion}, ev(0.5, -1), true, "no champion"},
		{"relative margin missed", Policy{Mode: BeatsChampion, Margin: 0.5}, ev(0.4, 0.5), false, "less than the margin"},
		{"relative margin met", Policy{Mode: BeatsChampion, Margin: 0.5}, ev(0.25, 0.5), true, "beats"},
		{"absolute margin missed", Policy{Mode: BeatsChampion, Margin: 0.2, MarginAbsolute: true}, ev(0.4, 0.5), false, "less than the margin"},
		{"absolute margin met", Policy{Mode: BeatsChampion, Margin: 0.1, MarginAbsolute: true}, ev(0.25, 0.5), true, "beats"},
		{"r2 is higher-better", Policy{Mode: BeatsChampion, Metric: R2}, ev(0.1, 0.5), true, "beats"},
		{"r2 worse", Policy{Mode: BeatsChampion, Metric: R2}, ev(0.5, 0.1), false, "does not beat"},
		{"threshold met", Policy{Mode: Threshold, Threshold: ptr(0.2)}, ev(0.1, 0.05), true, "meets the threshold"},
		{"threshold missed", Policy{Mode: Threshold, Threshold: ptr(0.2)}, ev(0.3, -1), false, "does not meet the threshold"},
		{"r2 threshold is a floor", Policy{Mode: Threshold, Metric: R2, Threshold: ptr(0.8)}, ev(0.1, -1), true, "meets"},
		{"beats but misses the threshold", Policy{Mode: BeatsChampion, Threshold: ptr(0.05)}, ev(0.1, 0.5), false, "threshold"},
		{"no evidence", Policy{Mode: BeatsChampion}, nil, false, "needs held-out data"},
	}
	for _, c := range cases {
		d := Decide(c.p, c.ev)
		if d.Promote != c.promote || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("%s: got %+v, want promote=%v with %q", c.name, d, c.promote, c.reason)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := []Policy{{}, {Mode: BeatsChampion, Metric: R2, Margin: 0.1}, {Mode: Threshold, Threshold: ptr(1)},
		{Mode: Always, Approval: ApprovalRequired, ApprovalTimeout: time.Hour, OnTimeout: TimeoutPromote}}
	for _, p := range ok {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	bad := map[string]Policy{
		"unknown mode":         {Mode: "sometimes"},
		"unknown metric":       {Metric: "accuracy"},
		"margin":               {Margin: -1},
		"needs a threshold":    {Mode: Threshold},
		"threshold":            {Mode: Threshold, Threshold: ptr(math.NaN())},
		"unknown approval":     {Approval: "maybe"},
		"approval timeout":     {Approval: ApprovalRequired, ApprovalTimeout: -time.Second},
		"on-timeout":           {Approval: ApprovalRequired, OnTimeout: "shrug"},
		"nothing would be app": {Mode: Never, Approval: ApprovalRequired},
	}
	for want, p := range bad {
		err := p.Validate()
		if failure.CodeOf(err) != failure.InvalidArgument || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want InvalidArgument naming %q", p, err, want)
		}
	}
}
