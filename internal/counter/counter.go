// Package counter computes how much a Prometheus counter grew over a
// window from its raw samples, without extrapolation: the exact increase
// between two samples, with restarts handled.
package counter

import "time"

// A Sample is a counter's value at a time.
type Sample struct {
	T time.Time
	V float64
}

// Increase returns how much the counter sampled as s (in time order) grew
// over [start, end): from its last sample before start to its last sample
// before end. A decrease between samples is a restart from zero, so the
// value after it counts in full. A counter whose first sample is in the
// window did not exist before it, and counts from zero. ok is false when s
// has no sample before end.
func Increase(s []Sample, start, end time.Time) (inc float64, ok bool) {
	prev, have := 0.0, false
	for _, x := range s {
		if !x.T.Before(end) {
			break
		}
		switch {
		case x.T.Before(start):
			// Before the window: only sets where counting starts.
		case !have:
			inc += x.V // first seen inside the window: it started at zero
		case x.V < prev:
			inc += x.V // restarted
		default:
			inc += x.V - prev
		}
		prev, have = x.V, true
	}
	return inc, have
}
