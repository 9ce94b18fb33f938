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
// against the comparison's Baseline, and the Threshold Value must not cross.
// A sequential judge adds the ratio of the two with its confidence interval
// and the evidence against the limit.
type Measurement struct {
	// Metric names what was measured: "error-rate", "latency-p95",
	// "business-rate", "critical-path/<probe>", "metric-source".
	Metric string `json:"metric"`
	// Unit is "rate" (a fraction, shown as a percentage) or "seconds".
	Unit string `json:"unit"`
	// Above is, for a latency metric, the bound in seconds: the rates count
	// requests slower than it.
	Above float64 `json:"above,omitempty"`
	// Value is the new version's figure.
	Value float64 `json:"value"`
	// Baseline is the comparison's figure.
	Baseline float64 `json:"baseline"`
	// Threshold is the limit derived from Baseline and the policy.
	Threshold float64 `json:"threshold"`
	// Requests is the new version's exposure behind Value.
	Requests float64 `json:"requests"`
	// Start and End bound the window the figures cover.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Failed reports whether Value crossed Threshold (for a sequential
	// judge: whether Evidence reached EvidenceBar).
	Failed bool `json:"failed"`

	// Ratio estimates the new version's rate over the comparison's, with
	// an anytime-valid confidence interval [Lower, Upper] at the judge's
	// confidence. Limit is the ratio the policy allows.
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

// String formats the measurement for people: "error-rate 4.1% vs baseline
// 1.0% (limit 2.0%) over 5m0s, 1200 requests: FAILED", with the ratio, its
// interval and the evidence when a sequential judge measured it.
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
	s := fmt.Sprintf("%s %s vs baseline %s (limit %s)", name, format(m.Value), format(m.Baseline), format(m.Threshold))
	if m.EvidenceBar > 0 {
		s += fmt.Sprintf(", ratio %.3g [%.3g, %.3g] vs limit %.3g, evidence %.3g of %.3g", m.Ratio, m.Lower, m.Upper, m.Limit, m.Evidence, m.EvidenceBar)
	}
	return fmt.Sprintf("%s over %s, %.0f requests: %s", s, m.End.Sub(m.Start).Round(time.Millisecond), m.Requests, verdict)
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
}

// Error returns the outcome and the reason.
func (v *Verdict) Error() string { return "verification " + v.Outcome.String() + ": " + v.Reason }
