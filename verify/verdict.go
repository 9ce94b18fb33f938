package verify

import (
	"fmt"
	"time"
)

// An Outcome is what a judge concluded.
type Outcome int

// The outcomes of a verdict.
const (
	// Continue means no decision yet: keep observing.
	Continue Outcome = iota
	// Pass means the new version held against its comparison for the window.
	Pass
	// Fail means the new version is worse than allowed: roll back.
	Fail
	// Inconclusive means the data could not support a decision: too little
	// traffic, gaps, a source that keeps failing. It is never a pass.
	Inconclusive
)

var outcomeNames = [...]string{"continue", "pass", "fail", "inconclusive"}

// String returns "continue", "pass", "fail" or "inconclusive".
func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
	return outcomeNames[o]
}

// MarshalText encodes the outcome as its String form.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// A Measurement is one number a judge compared: the new version's Value
// against its comparison's, Baseline, and the Threshold Value must not
// cross. A sequential judge adds the ratio of the two with its confidence
// interval and the evidence against the limit; it decides on the interval,
// not on Value and Threshold.
type Measurement struct {
	// Metric names what was measured: "error-rate", "latency-p95",
	// "business-rate", "critical-path/<probe>", "metric-source".
	Metric string `json:"metric"`
	// Unit is "rate" (a fraction, shown as a percentage) or "seconds".
	Unit string `json:"unit"`
	// Above is, for a latency metric, the bound in seconds: the rates count
	// requests slower than it.
	Above float64 `json:"above,omitempty"`
	// Against names the comparison: "control" (the old version serving at
	// the same time), "baseline" (the old version's rate before the
	// deployment), "control+baseline" (each in some intervals) or "floor"
	// (Policy.MinErrorRate, when the comparison's error rate was below it).
	// Empty means the baseline.
	Against string `json:"against,omitempty"`
	// Value is the new version's figure.
	Value float64 `json:"value"`
	// Baseline is the comparison's figure (see Against): the control's
	// rate, the baseline's, or the two weighed by the new version's
	// requests in the intervals judged against each.
	Baseline float64 `json:"baseline"`
	// Threshold is the figure the policy allows: the limit applied to
	// Baseline (Limit × Baseline for a sequential judge).
	Threshold float64 `json:"threshold"`
	// Requests is the new version's exposure behind Value.
	Requests float64 `json:"requests"`
	// Start and End bound the window the figures cover.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Failed reports whether the metric is beyond its limit: for a
	// threshold judge, whether Value crossed Threshold; for a sequential
	// judge, whether the interval lies beyond Limit (Lower ≥ Limit for an
	// increase, Upper ≤ Limit for a decrease), which is when Evidence
	// reaches EvidenceBar. Once failed, a sequential judge's metric stays
	// failed.
	Failed bool `json:"failed"`

	// Ratio is Value / Baseline. Lower and Upper bound the true ratio
	// with anytime-valid confidence, each end at the judge's level for the
	// metric, however often it is read; where the comparison was the
	// baseline, they allow for its own sampling error. The ends are
	// ratios the test weighs, 1/32 to 32: an end at 1/32 or 32 means
	// nothing beyond it was ruled out. Ratio, from the totals, can fall
	// outside the interval, which weighs each interval against its own
	// comparison, when the rates drift. Limit is the ratio the policy
	// allows.
	Ratio float64 `json:"ratio,omitempty"`
	Lower float64 `json:"lower,omitempty"`
	Upper float64 `json:"upper,omitempty"`
	Limit float64 `json:"limit,omitempty"`
	// Evidence is the e-value against "within the limit": how many times
	// more likely the data are if the limit is crossed. The judge fails the
	// metric when it reaches EvidenceBar (1/α for the metric's share α).
	Evidence    float64 `json:"evidence,omitempty"`
	EvidenceBar float64 `json:"evidence_bar,omitempty"`
}

// String formats the measurement so that a person can check it by hand:
// the ratio is the first rate over the second, the limit's rate is the
// second times the limit, and the verdict follows from where the interval
// lies. For a sequential judge:
//
//	error-rate 4.1% vs control 1%: ratio 4.1 in [2.3, 7.5], above the limit 2× (2%): evidence 210 of 111, 1200 requests over 5m0s: FAILED
//
// For a threshold judge, which compares the rates themselves:
//
//	error-rate 4.1% vs baseline 1% (limit 2%), 1200 requests over 5m0s: FAILED
func (m Measurement) String() string {
	verdict := "ok"
	if m.Failed {
		verdict = "FAILED"
	}
	format := func(v float64) string {
		if m.Unit == UnitSeconds {
			return time.Duration(v * float64(time.Second)).Round(time.Microsecond).String()
		}
		return fmt.Sprintf("%.3g%%", 100*v)
	}
	name := m.Metric
	if m.Above > 0 {
		name += fmt.Sprintf(" (share over %s)", time.Duration(m.Above*float64(time.Second)).Round(time.Microsecond))
	}
	against := m.Against
	if against == "" {
		against = "baseline"
	}
	s := fmt.Sprintf("%s %s vs %s %s", name, format(m.Value), against, format(m.Baseline))
	if m.EvidenceBar > 0 {
		// A limit below 1 bounds a decrease (business events).
		side, beyond := "above", m.Lower >= m.Limit
		if m.Limit < 1 {
			side, beyond = "below", m.Upper <= m.Limit
		}
		if !beyond {
			side = "not shown " + side
		}
		s += fmt.Sprintf(": ratio %.3g in [%.3g, %.3g], %s the limit %.3g× (%s): evidence %.3g of %.3g",
			m.Ratio, m.Lower, m.Upper, side, m.Limit, format(m.Threshold), m.Evidence, m.EvidenceBar)
	} else {
		s += fmt.Sprintf(" (limit %s)", format(m.Threshold))
	}
	return fmt.Sprintf("%s, %.0f requests over %s: %s", s, m.Requests, m.End.Sub(m.Start).Round(time.Millisecond), verdict)
}

// Units of a Measurement.
const (
	UnitRate    = "rate"
	UnitSeconds = "seconds"
)

// A Verdict is a judge's answer together with the numbers that produced it.
// A *Verdict is an error, so that a failed deployment's error can be
// inspected with errors.As.
type Verdict struct {
	Outcome Outcome `json:"outcome"`
	// Reason says in one line why, naming the deciding numbers.
	Reason string `json:"reason"`
	// Measurements are every comparison made for this verdict.
	Measurements []Measurement `json:"measurements,omitempty"`
	// Patterns are the new error patterns found in the new version's logs
	// so far in the deployment, when the plan has a log source (see
	// PatternPolicy.Apply for what they do to Outcome).
	Patterns []PatternFinding `json:"patterns,omitempty"`
}

// Error returns the outcome and the reason.
func (v *Verdict) Error() string { return "verification " + v.Outcome.String() + ": " + v.Reason }
