// Package counter computes how much a Prometheus counter grew, without
// extrapolation: the exact increase between samples, with restarts
// handled. Both Prometheus-format sources count with it, so that they
// count alike.
package counter

import (
	"math"
	"time"
)

// A Sample is a counter's value at a time.
type Sample struct {
	T time.Time
	V float64
}

// Valid reports whether v is a value a counter can hold: finite and not
// negative. Sources skip other samples (NaN marks a stale series in
// Prometheus; the rest are broken exporters), as if not taken.
func Valid(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }

// Step returns how much a counter grew from prev to v, its next sample: the
// difference, or all of v when v is lower — the process restarted from
// zero in between. Both must be Valid.
func Step(prev, v float64) float64 {
	if v < prev {
		return v
	}
	return v - prev
}

// Increase returns how much the counter sampled as s (in time order) grew
// over [start, end): from its last sample before start to its last sample
// before end, by Step. A counter whose first sample is in the window did
// not exist before it, and counts from zero. Samples that are not Valid
// are skipped. ok is false when s has no valid sample before end.
func Increase(s []Sample, start, end time.Time) (inc float64, ok bool) {
	prev, have := 0.0, false
	for _, x := range s {
		if !x.T.Before(end) {
			break
		}
		if !Valid(x.V) {
			continue
		}
		switch {
		case x.T.Before(start):
			// Before the window: only sets where counting starts.
		case !have:
			inc += x.V // first seen inside the window: it started at zero
		default:
			inc += Step(prev, x.V)
		}
		prev, have = x.V, true
	}
	return inc, have
}
