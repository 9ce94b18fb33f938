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
type Measurement struct {
	// Metric names what was measured: "error-rate", "latency-p95",
	// "business-rate", "critical-path/<probe>", "metric-source".
	Metric string `json:"metric"`
	// Unit is "rate" (a fraction, shown as a percentage) or "seconds".
	Unit string `json:"unit"`
	// Value is the new version's figure (a rate, or seconds for latency).
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
	// Failed reports whether Value crossed Threshold.
	Failed bool `json:"failed"`
}

// String formats the measurement for people: "error-rate 4.1% vs baseline 1.0% (limit 2.0%) over 5m0s".
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
	return fmt.Sprintf("%s %s vs baseline %s (limit %s) over %s, %.0f requests: %s",
		m.Metric, format(m.Value), format(m.Baseline), format(m.Threshold),
		m.End.Sub(m.Start).Round(time.Millisecond), m.Requests, verdict)
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
